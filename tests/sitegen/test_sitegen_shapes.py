"""The generator's issue-12 shapes: --odd-names, --upload-dir, --commented-versions (tools/sitegen/README.md).

Expected names, references and layouts are written out here by hand (from the README), never taken from the
generator's own code or from the collection's parsers; the DB side is read back from the TSV files the generator
loads with LOAD DATA (--db-mode sqlfile), unescaped here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_sitegen import NOW, SITEGEN, generate

SEED = "11"

# --odd-names, as the README lists them (basenames; folders are random per seed)
REGISTERED = {"photo with space.jpg", 'it\'s "quoted".jpg', "фото товара.jpg", "line\nbreak.pdf"}
ORPHANS = {
    "orphan with space.jpg",
    "orphan 'single' \"double\".png",
    "сирота.jpg",
    "new\nline orphan.jpg",
    "pic.jpg",
    "hero.jpg",
    "bg.jpg",
}
# file basename -> (how the reference is written, without the folder; where it is)
CONTENT = {
    "pic name.jpg": ('<img src="/{d}/pic name.jpg" alt="Pic">', "DETAIL_TEXT"),
    "hero-small.jpg": ('src="/{d}/hero-small.jpg"', "DETAIL_TEXT"),
    "hero-medium.jpg": ('srcset="/{d}/hero-medium.jpg 800w, ', "DETAIL_TEXT"),
    "hero large.jpg": (', /{d}/hero%20large.jpg 1600w"', "DETAIL_TEXT"),
    "price&list.pdf": ('href="/{d}/price&amp;list.pdf"', "DETAIL_TEXT"),
    "own-domain.jpg": ('src="https://localhost/{d}/own-domain.jpg"', "DETAIL_TEXT"),
    "кот.jpg": ("src='/{d}/кот.jpg'", "DETAIL_TEXT"),
    "скидка.png": ('src="/{d}/%D1%81%D0%BA%D0%B8%D0%B4%D0%BA%D0%B0.png"', "DETAIL_TEXT"),
    "bg image.jpg": ("url('/{d}/bg image.jpg')", "css"),
    "x y.png": ("url(/{d}/x%20y.png)", "css"),
    "promo banner.png": ('url("/{d}/promo banner.png")', "css"),
}
CSS = "local/templates/main/template_styles.css"


def unescape_tsv(field: str) -> str | None:
    """MariaDB's LOAD DATA escapes (ESCAPED BY '\\'): \\N is NULL, \\n, \\t, \\r, \\\\."""
    if field == "\\N":
        return None
    out, i = [], 0
    while i < len(field):
        c = field[i]
        if c == "\\" and i + 1 < len(field):
            out.append({"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "0": "\0"}.get(field[i + 1], field[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def tsv_rows(base: Path, table: str) -> list[list[str | None]]:
    text = (base / "db-sitemanager" / f"{table}.tsv").read_text(encoding="utf-8")
    return [[unescape_tsv(f) for f in line.split("\t")] for line in text.split("\n") if line]


def files_under(root: Path) -> set[str]:
    out = set()
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            out.add(str((Path(dirpath) / name).relative_to(root.parent)))
    return out


@pytest.fixture(scope="module")
def odd(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("odd")
    return base, generate(
        base, "--seed", SEED, "--odd-names", "--commented-versions", "--upload-dir", "files", docroot="site"
    )


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("plain")
    return base, generate(base, "--seed", SEED, docroot="site")


# --- --odd-names -----------------------------------------------------------------------------------------------


def test_odd_registered_names_are_on_disk_and_in_b_file(odd: tuple[Path, dict]) -> None:
    base, truth = odd
    root = base / "site"
    rows = tsv_rows(base, "b_file")
    by_name = {row[8]: row for row in rows}
    assert set(by_name) >= REGISTERED, sorted(REGISTERED - set(by_name))
    listed = truth["uploads"]["odd_names"]["registered"]
    assert sorted(Path(p).name for p in listed) == sorted(REGISTERED)
    for name in REGISTERED:
        row = by_name[name]
        rel = f"files/{row[7]}/{name}"
        assert rel in listed
        assert (root / rel).is_file(), rel
        assert row[11] is None, "not a cloud row"
        assert int(row[5] or 0) == (root / rel).stat().st_size
    newline_row = by_name["line\nbreak.pdf"]
    assert newline_row[9] == "line\nbreak.pdf"  # ORIGINAL_NAME kept too (save_original_file_name = Y)
    assert "('main', 'save_original_file_name', 'Y', NULL)" in (base / "sitemanager.sql").read_text()


def test_odd_content_references_are_written_as_editors_write_them(odd: tuple[Path, dict]) -> None:
    base, truth = odd
    root = base / "site"
    details = {int(row[0] or 0): row[11] or "" for row in tsv_rows(base, "b_iblock_element")}
    css = (root / CSS).read_text(encoding="utf-8")
    bfile = {f"files/{row[7]}/{row[8]}" for row in tsv_rows(base, "b_file")}
    listed = truth["uploads"]["odd_names"]["content_referenced"]
    assert sorted(Path(c["path"]).name for c in listed) == sorted(CONTENT)
    for entry in listed:
        path = entry["path"]
        written, where = CONTENT[Path(path).name]
        expected = written.format(d=str(Path(path).parent))
        assert (root / path).is_file(), path
        assert path not in bfile, f"{path} has a b_file row: it must be referenced only from content"
        assert path in truth["uploads"]["content_referenced"]
        assert path not in {o["path"] for o in truth["uploads"]["orphans"]}
        if where == "css":
            assert entry["where"] == {"file": CSS}
            assert expected in css, (expected, css)
        else:
            assert entry["where"]["table"] == "b_iblock_element" and entry["where"]["column"] == "DETAIL_TEXT"
            assert expected in details[entry["where"]["id"]], (expected, details[entry["where"]["id"]])
        assert entry["reference"] in (css if where == "css" else details[entry["where"]["id"]])
    # the srcset holds two URLs in one attribute
    srcset = next(d for d in details.values() if "srcset=" in d)
    assert re.search(r'srcset="[^"]+ 800w, [^"]+ 1600w"', srcset)


def test_odd_orphans_and_the_scope_add_up(odd: tuple[Path, dict]) -> None:
    base, truth = odd
    root = base / "site"
    up = truth["uploads"]
    odd_orphans = up["odd_names"]["orphans"]
    assert sorted(Path(p).name for p in odd_orphans) == sorted(ORPHANS)
    orphans = {o["path"]: o for o in up["orphans"]}
    for path in odd_orphans:
        assert path in orphans
        st = (root / path).stat()
        assert (st.st_size, int(st.st_mtime)) == (orphans[path]["size"], orphans[path]["mtime"])
        assert NOW - st.st_mtime > 2 * 86400, "old enough to be quarantined"
    # near misses sit next to the referenced file they resemble
    content = {Path(c["path"]).name: str(Path(c["path"]).parent) for c in up["odd_names"]["content_referenced"]}
    by_name = {Path(p).name: str(Path(p).parent) for p in odd_orphans}
    assert by_name["pic.jpg"] == content["pic name.jpg"]
    assert by_name["hero.jpg"] == content["hero large.jpg"]
    assert by_name["bg.jpg"] == content["bg image.jpg"]
    # every file in the scope is registered, content-referenced or an orphan, nothing else
    bfile = {f"files/{r[7]}/{r[8]}" for r in tsv_rows(base, "b_file") if r[11] is None}
    excluded = ("files/tmp/", "files/resize_cache/", "files/1c_catalog/", "files/1c_exchange/")
    on_disk = {p for p in files_under(root / "files") if not p.startswith(excluded) and Path(p).name != ".htaccess"}
    assert on_disk == bfile | set(up["content_referenced"]) | set(orphans)
    assert up["orphan_count"] == len(orphans) and up["registered_files"] == len(bfile)


def test_odd_names_leave_the_rest_of_the_site_as_it_was(odd: tuple[Path, dict], plain: tuple[Path, dict]) -> None:
    _b, o = odd
    _p, p = plain
    assert o["modules"] == p["modules"] and o["core"] == p["core"]

    def updates(t: dict) -> dict:
        return {k: v for k, v in t["updates"].items() if k != "packages_dir"}  # a path under each tmp dir

    assert updates(o) == updates(p)
    moved = {x["path"].replace("upload/", "files/", 1) for x in p["uploads"]["orphans"]}
    assert moved | set(o["uploads"]["odd_names"]["orphans"]) == {x["path"] for x in o["uploads"]["orphans"]}
    assert o["uploads"]["orphan_count"] == p["uploads"]["orphan_count"] + len(ORPHANS)
    assert o["uploads"]["registered_files"] == p["uploads"]["registered_files"] + len(REGISTERED)
    assert p["uploads"]["odd_names"] == {"registered": [], "content_referenced": [], "orphans": []}
    assert p["commented_versions"] == [] and p["upload_dir"] == "upload"


# --- --upload-dir ----------------------------------------------------------------------------------------------


def test_upload_dir_moves_folder_option_and_references(odd: tuple[Path, dict]) -> None:
    base, truth = odd
    root = base / "site"
    assert truth["upload_dir"] == truth["uploads"]["upload_dir"] == "files"
    assert truth["uploads"]["orphan_scope"]["root"] == "files"
    assert not (root / "upload").exists(), "the default folder must not be written"
    for sub in ("tmp", "resize_cache", "1c_catalog", "1c_exchange", "iblock", "medialibrary"):
        assert (root / "files" / sub).is_dir(), sub
    assert "files/tmp" in truth["disposable"] and "upload/tmp" not in truth["disposable"]
    assert all(p.startswith("files/tmp/") for p in truth["upload_tmp"]["expired"] + truth["upload_tmp"]["live"])
    sql = (base / "sitemanager.sql").read_text(encoding="utf-8")
    assert "('main', 'upload_dir', 'files', NULL)" in sql
    assert "'upload_dir', 'upload'" not in sql
    for row in tsv_rows(base, "b_file"):
        if row[11] is None:
            assert (root / "files" / str(row[7]) / str(row[8])).is_file(), row
    texts = [row[11] or "" for row in tsv_rows(base, "b_iblock_element")]
    texts += [(root / rel).read_text(encoding="utf-8") for rel in ("contacts/index.php", CSS, "robots.txt")]
    texts.append((root / "local/templates/main/header.php").read_text(encoding="utf-8"))
    joined = "\n".join(texts)
    assert "/upload/" not in joined
    assert joined.count("/files/medialibrary/") >= 10


@pytest.mark.parametrize("bad", ["../etc", "/etc", "bitrix/upload", "a/../b", ".hidden", "up load"])
def test_bad_upload_dir_refused_before_anything_is_written(tmp_path: Path, bad: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(SITEGEN), PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "bxsitegen", "--docroot", str(tmp_path / "www"), "--truth", str(tmp_path / "t.json")]
    cmd += ["--db-mode", "sqlfile", "--no-system-files", "--packages-dir", str(tmp_path / "u"), "--upload-dir", bad]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode != 0
    assert "--upload-dir" in proc.stderr and repr(bad) in proc.stderr, proc.stderr
    assert sorted(os.listdir(tmp_path)) == []


# --- --commented-versions --------------------------------------------------------------------------------------

COMMENT_START = ("//", "#", "/*")


def _uncommented_lines(text: str) -> list[str]:
    """Lines outside /* */ blocks that do not start with // or # (enough for the shapes the README lists)."""
    out, in_block = [], False
    for line in text.splitlines():
        s = line.strip()
        if in_block:
            in_block = "*/" not in s
            continue
        if s.startswith("/*"):
            in_block = "*/" not in s
            continue
        if not s.startswith(COMMENT_START):
            out.append(s)
    return out


def test_commented_versions_real_value_once_outside_comments(odd: tuple[Path, dict], plain: tuple[Path, dict]) -> None:
    base, truth = odd
    _p, plain_truth = plain
    root = base / "site"
    listed = {c["module"]: c for c in truth["commented_versions"]}
    assert sorted(listed) == ["acme.delivery", "iblock", "main"]
    assert listed["main"]["path"] == "bitrix/modules/main/classes/general/version.php"
    for module, entry in listed.items():
        real = entry["version"]
        # the real version is the one the same seed gives without the flag
        assert real == plain_truth["modules"][module]["version"] == truth["modules"][module]["version"]
        text = (root / entry["path"]).read_text(encoding="utf-8")
        live = _uncommented_lines(text)
        assert sum(real in line for line in live) == 1, live
        assert len(entry["commented"]) == 2
        newer = max(entry["commented"], key=lambda v: tuple(map(int, v.split("."))))
        assert tuple(map(int, newer.split("."))) > tuple(map(int, real.split(".")))
        for value in entry["commented"]:
            assert value != real and value in text
            assert not any(value in line for line in live), f"{value} outside a comment in {entry['path']}"
        # the commented-out value comes first in the file: a first-match reader gets it wrong
        assert text.index(newer) < text.rindex(real)

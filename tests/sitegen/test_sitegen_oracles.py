"""truth.json's oracles for the roles (issue 13): what cleanup removes and keeps, each permission deviation
and its fix, what a backup holds. Checked here against the generated disk with code of the test's own and
against values written by hand from the domain brief, never with the roles' code or defaults."""

from __future__ import annotations

import hashlib
import os
import stat
import time
from pathlib import Path

import pytest
from test_sitegen import NOW, generate

# Domain brief section 3, written out by hand: the core's backup leaves these out, BitrixVM also the last two.
BRIEF_DISPOSABLE = {
    "bitrix/cache", "bitrix/cache_image", "bitrix/managed_cache", "bitrix/managed_flags", "bitrix/stack_cache",
    "bitrix/html_pages", "bitrix/tmp", "bitrix/updates", "upload/tmp", "upload/resize_cache",
    "bitrix/local_cache", "bitrix/backup",
}
DAY = 86400


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("oracles")
    return base / "www", generate(base, "--seed", "11")


def _walk_files(root: Path, skip: tuple[str, ...]) -> list[tuple[str, str, int]]:
    out = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if rel.startswith(skip) or os.path.islink(full):
                continue
            with open(full, "rb") as handle:
                data = handle.read()
            out.append((rel, hashlib.sha256(data).hexdigest(), len(data)))
    return sorted(out)


def test_backup_contents_are_the_site_without_the_disposable_folders(site: tuple[Path, dict]) -> None:
    root, truth = site
    backup = truth["backup"]
    assert set(backup["exclude"]) == BRIEF_DISPOSABLE
    files = _walk_files(root, tuple(f"{d}/" for d in BRIEF_DISPOSABLE))
    digest = hashlib.sha256()
    for rel, sha, _size in files:
        digest.update(f"{rel}\0{sha}\n".encode("utf-8", "surrogateescape"))
    assert (backup["files"], backup["bytes"]) == (len(files), sum(size for _r, _s, size in files))
    assert backup["content_sha256"] == digest.hexdigest()
    assert "bitrix/.settings.php" in {rel for rel, _s, _n in files}
    assert {"b_file", "b_option", "b_module", "b_agent", "b_iblock_element"} <= set(backup["db_tables"])
    sql = (root.parent / "sitemanager.sql").read_text()
    assert sorted(t for t in backup["db_tables"] if f"CREATE TABLE {t} (" in sql) == backup["db_tables"]


def test_cleanup_fates_follow_the_documented_retention(site: tuple[Path, dict]) -> None:
    root, truth = site
    cats = truth["cleanup"]["categories"]
    for name, cat in cats.items():
        assert not set(cat["remove"]) & set(cat["keep"]), name
        for rel in cat["remove"] + cat["keep"]:
            path = Path(rel) if rel.startswith("/") else root / rel
            assert path.exists(), (name, rel)
    # backups: 7 sets planted at 1, 3, 8, 15, 31 (two parts), 62, 95 days; 3 newest kept, the rest after 30 days
    archives = sorted(cats["backups"]["remove"] + cats["backups"]["keep"], key=lambda r: (root / r).stat().st_mtime)
    ages = {rel: (NOW - (root / rel).stat().st_mtime) / DAY for rel in archives if ".tar.gz" in rel}
    assert sorted(int(a) for a in ages.values()) == [1, 3, 8, 15, 31, 31, 62, 95]
    assert sorted(int(ages[r]) for r in cats["backups"]["remove"]) == [31, 31, 62, 95]
    assert {r.rsplit("/", 1)[1] for r in cats["backups"]["keep"] if r not in ages} == {".htaccess", "index.php"}
    # logs: rotated ones (x.log.N, x.log.gz, x.log-DATE.gz) older than 14 days go; live ones never
    names = {rel.rsplit("/", 1)[1]: fate for fate in ("remove", "keep") for rel in cats["logs"][fate]}
    date = time.strftime("%Y%m%d", time.localtime(NOW - 3 * DAY))
    assert names == {
        "exchange.log": "keep", "exchange.log.1": "keep", "exchange.log.2": "remove", "exchange.log.3": "remove",
        "exchange.log.4": "remove", "import.log": "keep", "import.log.gz": "remove", f"import.log-{date}.gz": "keep",
    }
    assert (root / "local/logs/import.log.gz").read_bytes()[:2] == b"\x1f\x8b"  # a real gzip file
    # caches: every file planted in them goes; composite flags stay; bitrix/tmp's runtime files stay
    for name, folder in (("cache", "bitrix/cache"), ("managed_cache", "bitrix/managed_cache"),
                         ("cache_image", "bitrix/cache_image")):
        on_disk = sorted(str(p.relative_to(root)) for p in (root / folder).rglob("*") if p.is_file())
        assert cats[name]["remove"] == on_disk and on_disk, name
    assert cats["html_pages"]["keep"] == sorted(truth["composite"]["config_files"])
    assert len(cats["html_pages"]["remove"]) == truth["composite"]["cached_pages"]
    assert cats["bitrix_tmp"] == {"root": "bitrix/tmp", "remove": [],
                                  "keep": ["bitrix/tmp/cacert.pem", "bitrix/tmp/openssl.cnf"]}
    assert set(cats["upload_tmp"]["remove"]) == set(truth["upload_tmp"]["expired"] + truth["upload_tmp"]["old_other"])
    assert "resize_cache" not in truth["cleanup"]["policy"]["default_categories"]


def test_permission_deviations_are_on_disk_as_truth_says(site: tuple[Path, dict]) -> None:
    root, truth = site
    perms = truth["permissions"]
    by_path = {d["path"]: d for d in perms["deviations"]}
    # planted by the generator: a world-writable handler, .settings.php readable by others, and (as root)
    # the 1C catalog folder and its files owned by root and www-data
    assert by_path["local/ajax/handler.php"]["kinds"] == ["world_writable"]
    assert by_path["local/ajax/handler.php"]["after"]["mode"] == "0644"
    assert by_path["bitrix/.settings.php"]["kinds"] == ["secret"]
    assert by_path["bitrix/.settings.php"]["after"]["mode"] == "0600"
    for rel, dev in by_path.items():
        st = os.lstat(root / rel)
        before = dev["before"]
        assert (st.st_uid, st.st_gid, f"{stat.S_IMODE(st.st_mode):04o}") == (
            before["uid"], before["gid"], before["mode"]), rel
    counts = perms["counts"]
    assert counts["paths"] == len(by_path)
    # .settings.php (0644), dbconn.php and license_key.php (0640) are all closed to the secret mode 0600
    assert [d["path"] for d in perms["deviations"] if "secret" in d["kinds"]] == [
        "bitrix/.settings.php", "bitrix/license_key.php", "bitrix/php_interface/dbconn.php"]
    assert (counts["world_writable"], counts["secret"], counts["mode"]) == (1, 3, 0)

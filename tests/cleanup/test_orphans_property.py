"""Property test of bitrix_orphans over many random small sites (a SQLite stand-in for the DB):
no file referenced by b_file, a duplicate or content is ever reported or moved; service folders and
protected names never are; every quarantined file comes back byte-identical with owner, mode and mtime."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from urllib.parse import quote

from ansible_collections.bxops.bitrix.plugins.module_utils import bitrix_orphans as finder
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_docroot import Anchor
from ansible_collections.bxops.bitrix.plugins.modules import bitrix_orphans as orphans
from conftest import SqliteSource, make_db
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Names chosen to stress byte order ("a-b" < "a.b" < "a/..."), case, spaces, newlines and non-ASCII.
SEGMENT = st.text(alphabet="ab-._A é\n", min_size=1, max_size=3).filter(lambda s: s not in (".", "..")
                                                                      and s.strip() == s)
FOLDER = st.sampled_from(["iblock", "iblock-x", "iblock.y", "main", "medialibrary", "tmp", "resize_cache",
                          "1c_catalog", "1c_exchange", ""])
ROLE = st.sampled_from(["row", "row", "row_slashes", "duplicate", "cloud", "template", "db_content",
                        "json_content", "orphan", "orphan", "htaccess"])
FILE = st.tuples(FOLDER, st.lists(SEGMENT, min_size=1, max_size=3), ROLE, st.binary(max_size=64),
                 st.sampled_from([0o644, 0o600, 0o664]), st.integers(min_value=0, max_value=3 * 365 * 86400))

SERVICE = {"tmp", "resize_cache", "1c_catalog", "1c_exchange"}


def build_site(root: str, files: list) -> tuple[str, str, dict[str, dict]]:
    """Lay down docroot + DB; returns (docroot, db path, plan: upload-relative path -> facts)."""
    docroot = os.path.join(root, "www")
    os.makedirs(os.path.join(docroot, "upload"))
    os.makedirs(os.path.join(docroot, "local/templates/shop"))
    db_path = os.path.join(root, "site.db")
    conn = make_db(db_path)
    plan: dict[str, dict] = {}
    template = []
    now = int(time.time()) - 60
    next_id = 1
    for folder, segments, role, data, mode, age in files:
        parts = ([folder] if folder else []) + segments
        if role == "htaccess":
            parts = [*parts[:-1], ".htaccess"]
        rel = "/".join(parts)
        # a path can't be both a file and a folder
        if rel in plan or any(p.startswith(rel + "/") or rel.startswith(p + "/") for p in plan):
            continue
        path = os.path.join(docroot, "upload", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)
        os.chmod(path, mode)
        os.utime(path, (now - age, now - age))
        subdir, _, name = rel.rpartition("/")
        if role in ("row", "row_slashes"):
            sub = f"/{subdir}/" if role == "row_slashes" and subdir else subdir
            conn.execute("INSERT INTO b_file (ID, SUBDIR, FILE_NAME) VALUES (?, ?, ?)", (next_id, sub, name))
            next_id += 1
        elif role == "duplicate":
            conn.execute("INSERT INTO b_file (ID, SUBDIR, FILE_NAME) VALUES (?, ?, ?)",
                         (next_id, subdir, name))
            conn.execute("INSERT INTO b_file (ID, SUBDIR, FILE_NAME, HANDLER_ID) VALUES (?, ?, ?, '3')",
                         (next_id + 1, "elsewhere", name))
            conn.execute("INSERT INTO b_file_duplicate VALUES (?, ?, 1)", (next_id + 1, next_id))
            next_id += 2
        elif role == "cloud":  # only a cloud row names it: an orphan on disk
            conn.execute("INSERT INTO b_file (ID, SUBDIR, FILE_NAME, HANDLER_ID) VALUES (?, ?, ?, '1')",
                         (next_id, subdir, name))
            next_id += 1
        elif role == "template":
            template.append(f"<div style=\"background:url('/upload/{quote(rel)}')\"></div>")
        elif role == "db_content":
            conn.execute("INSERT INTO b_iblock_element (DETAIL_TEXT) VALUES (?)",
                         (f'<p><img src="/upload/{quote(rel)}" alt=""></p>',))
        elif role == "json_content":
            conn.execute("INSERT INTO b_iblock_element (PREVIEW_TEXT) VALUES (?)",
                         (json.dumps({"src": f"/upload/{quote(rel)}"}),))
        plan[rel] = {"role": role, "data": data, "mode": mode, "mtime": now - age,
                     "service": bool(folder in SERVICE)}
    conn.commit()
    conn.close()
    with open(os.path.join(docroot, "local/templates/shop/header.php"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(template))
    return docroot, db_path, plan


def expected_orphans(plan: dict[str, dict]) -> set[str]:
    return {f"upload/{rel}" for rel, f in plan.items()
            if f["role"] in ("orphan", "cloud") and not f["service"]}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(FILE, min_size=1, max_size=40), st.sampled_from(["auto", "python"]))
def test_orphans_quarantine_restore(files, walker):
    root = tempfile.mkdtemp(prefix="bxops-prop-")
    try:
        docroot, db_path, plan = build_site(root, files)
        qdir = os.path.join(root, "state", "quarantine")
        source = lambda: SqliteSource(db_path)  # noqa: E731
        base = {"docroot": docroot, "quarantine_dir": qdir, "min_age": 0, "sample_size": 1000, "disk_walker": walker,
                "content_columns": ["b_iblock_element.PREVIEW_TEXT", "b_iblock_element.DETAIL_TEXT"]}
        want = expected_orphans(plan)

        # the walk is in byte order, as the merge needs
        with Anchor(docroot) as anchor:
            walked = list(finder.walk_sorted(anchor, "upload", workdir=root))
        assert walked == sorted(walked)

        report = orphans.run(dict(base, mode="report"), source, check=False)
        assert report["orphans"]["count"] == len(want)
        # the report shows each path on one line: a newline as \x0a (the only control byte in SEGMENT)
        assert set(report["orphans"]["sample"]) == {path.replace("\n", "\\x0a") for path in want}
        assert report["changed"] is False

        check = orphans.run(dict(base, mode="quarantine"), source, check=True)
        assert check["quarantined"]["files"] == len(want)
        assert not os.path.exists(qdir) or not os.listdir(qdir)

        moved = orphans.run(dict(base, mode="quarantine"), source, check=False)
        assert moved["quarantined"]["files"] == len(want)
        for rel, facts in plan.items():
            path = os.path.join(docroot, "upload", rel)
            if f"upload/{rel}" in want:
                assert not os.path.exists(path), f"orphan {rel} still in place"
            else:
                with open(path, "rb") as handle:
                    assert handle.read() == facts["data"], f"{rel} ({facts['role']}) changed"

        again = orphans.run(dict(base, mode="quarantine"), source, check=False)
        assert again["changed"] is False and again["quarantined"]["files"] == 0

        back = orphans.run(dict(base, mode="restore"), source, check=False)
        assert back["restored"]["files"] == len(want) and back["restored"]["conflicts"] == []
        for rel, facts in plan.items():
            path = os.path.join(docroot, "upload", rel)
            st_ = os.lstat(path)
            with open(path, "rb") as handle:
                assert handle.read() == facts["data"]
            assert st_.st_mode & 0o7777 == facts["mode"], rel
            assert int(st_.st_mtime) == facts["mtime"], rel
            assert (st_.st_uid, st_.st_gid) == (os.getuid(), os.getgid())
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_restore_some_by_pattern_and_purge_retention(tmp_path):
    files = [("iblock", ["a", "x.jpg"], "orphan", b"1", 0o644, 5 * 86400),
             ("iblock", ["b", "y.jpg"], "orphan", b"2", 0o644, 5 * 86400),
             ("main", ["z.pdf"], "row", b"3", 0o644, 5 * 86400)]
    docroot, db_path, _plan = build_site(str(tmp_path), files)
    qdir = str(tmp_path / "q")
    base = {"docroot": docroot, "quarantine_dir": qdir, "min_age": 0, "content_scan": False}
    source = lambda: SqliteSource(db_path)  # noqa: E731
    orphans.run(dict(base, mode="quarantine"), source, check=False)
    part = orphans.run(dict(base, mode="restore", paths=["upload/iblock/a/*"]), source, check=False)
    assert part["restored"]["files"] == 1
    assert os.path.exists(os.path.join(docroot, "upload/iblock/a/x.jpg"))
    assert not os.path.exists(os.path.join(docroot, "upload/iblock/b/y.jpg"))
    kept = orphans.run(dict(base, mode="purge", retention_days=1), source, check=False)
    assert kept["purged"]["batches"] == [] and kept["purged"]["kept"] == 1
    (batch,) = os.listdir(qdir)
    meta_path = os.path.join(qdir, batch, "batch.json")
    with open(meta_path, encoding="utf-8") as handle:
        meta = json.load(handle)
    meta["created"] -= 2 * 86400
    with open(meta_path, "w", encoding="utf-8") as handle:
        json.dump(meta, handle)
    gone = orphans.run(dict(base, mode="purge", retention_days=1), source, check=True)
    assert gone["purged"]["batches"] == [batch] and os.path.isdir(os.path.join(qdir, batch))
    gone = orphans.run(dict(base, mode="purge", retention_days=1), source, check=False)
    assert gone["purged"]["files"] == 1 and not os.path.exists(os.path.join(qdir, batch))


def test_bad_input_refused_before_any_change(tmp_path):
    files = [("iblock", ["x.jpg"], "orphan", b"1", 0o644, 5 * 86400)]
    docroot, db_path, _plan = build_site(str(tmp_path), files)
    source = lambda: SqliteSource(db_path)  # noqa: E731
    inside = {"docroot": docroot, "quarantine_dir": os.path.join(docroot, "upload", "q"), "min_age": 0,
              "mode": "quarantine"}
    try:
        orphans.run(inside, source, check=False)
        raise AssertionError("a quarantine inside the docroot was accepted")
    except orphans.OrphansError as exc:
        assert "inside the docroot" in str(exc)
    zero = {"docroot": docroot, "quarantine_dir": str(tmp_path / "q"), "mode": "purge", "retention_days": 0}
    try:
        orphans.run(zero, source, check=False)
        raise AssertionError("retention 0 was accepted")
    except orphans.OrphansError as exc:
        assert "at least 1" in str(exc)
    assert os.path.exists(os.path.join(docroot, "upload/iblock/x.jpg"))


def test_a_file_named_with_leading_dots_referenced_from_content_is_no_orphan():
    # Found by the property test above: "/upload/..A" names a file, it does not climb out.
    regex = finder.reference_regex("upload")
    assert list(finder.extract_references(b'<img src="/upload/..A">', regex)) == [b"..A"]
    assert list(finder.extract_references(b'<img src="/upload/../etc/passwd">', regex)) == []

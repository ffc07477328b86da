"""Names are bytes (issue 12.2): a name may hold any byte but '/' and NUL. The finder reports such files,
quarantine moves them, the manifest keeps their exact bytes and restore brings them back; nothing is
skipped without a word."""
from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest
from ansible_collections.bxops.bitrix.plugins.module_utils import bitrix_orphans as finder
from ansible_collections.bxops.bitrix.plugins.modules import bitrix_orphans as orphans
from conftest import OrphanSite

# upload-relative names, bytes; the expected results below are written by hand, not computed
ORPHANS = [
    b"iblock/new\nline.jpg",
    b"iblock/tab\tname.jpg",
    b"iblock/back\\slash.jpg",
    b"iblock/\xff\xfe-latin1.jpg",  # not UTF-8
    b"iblock/quote\"s'.jpg",
    b"iblock/ leading space.jpg",
    b"iblock/dir\nwith newline/inside.jpg",
    b"iblock/carriage\rreturn.jpg",
]
REFERENCED = [
    b"iblock/ref\nline.jpg",
    b"iblock/caf\xc3\xa9 \xd1\x84\xd0\xbe\xd1\x82\xd0\xbe.jpg",  # "café фото.jpg"
    b"iblock/-dash.jpg",
]
# how the report shows them (one line each: control bytes and non-UTF-8 bytes as \xNN, "\" doubled)
SHOWN = {
    "upload/iblock/new\\x0aline.jpg",
    "upload/iblock/tab\\x09name.jpg",
    "upload/iblock/back\\\\slash.jpg",
    "upload/iblock/\\xff\\xfe-latin1.jpg",
    "upload/iblock/quote\"s'.jpg",
    "upload/iblock/ leading space.jpg",
    "upload/iblock/dir\\x0awith newline/inside.jpg",
    "upload/iblock/carriage\\x0dreturn.jpg",
}


def build(site: OrphanSite) -> dict[bytes, bytes]:
    data = {}
    for index, rel in enumerate(ORPHANS + REFERENCED):
        data[rel] = f"content {index}".encode()
        site.file(b"upload/" + rel, data[rel])
    for rel in REFERENCED:
        site.row(rel)
    site.file("upload/iblock/.htaccess", b"deny")
    return data


@pytest.mark.parametrize("walker", ["auto", "python"])
def test_any_name_is_found_quarantined_and_restored(orphan_site: OrphanSite, walker: str) -> None:
    site = orphan_site
    data = build(site)
    params = site.params(content_scan=False, disk_walker=walker)
    docroot = os.fsencode(site.docroot)

    report = orphans.run(dict(params, mode="report"), site.source, check=False)
    assert report["orphans"]["count"] == 8
    assert set(report["orphans"]["sample"]) == SHOWN
    assert report["referenced"]["skipped"] == 1  # the .htaccess, and nothing else
    assert report["orphans"]["unhandled_count"] == 0

    moved = orphans.run(dict(params, mode="quarantine"), site.source, check=False)
    assert moved["quarantined"]["files"] == 8 and moved["quarantined"]["refused"] == []
    for rel in ORPHANS:
        assert not os.path.lexists(os.path.join(docroot, b"upload/" + rel)), rel
    for rel in REFERENCED:
        with open(os.path.join(docroot, b"upload/" + rel), "rb") as handle:
            assert handle.read() == data[rel]

    (batch,) = os.listdir(site.quarantine)
    lines = [json.loads(line) for line in Path(site.quarantine, batch, "manifest.jsonl").read_text().splitlines()]
    assert {base64.b64decode(line["path_b64"]) for line in lines} == {b"upload/" + rel for rel in ORPHANS}
    by_bytes = {base64.b64decode(line["path_b64"]): line["path"] for line in lines}
    assert by_bytes[b"upload/iblock/new\nline.jpg"] == "upload/iblock/new\nline.jpg"  # exact when UTF-8
    assert by_bytes[b"upload/iblock/\xff\xfe-latin1.jpg"] == "upload/iblock/\\xff\\xfe-latin1.jpg"

    back = orphans.run(dict(params, mode="restore"), site.source, check=False)
    assert back["restored"]["files"] == 8 and back["restored"]["conflicts"] == []
    for rel, content in data.items():
        with open(os.path.join(docroot, b"upload/" + rel), "rb") as handle:
            assert handle.read() == content, rel


def test_restore_by_pattern_matches_names_with_newlines(orphan_site: OrphanSite) -> None:
    site = orphan_site
    build(site)
    orphans.run(site.params(mode="quarantine", content_scan=False), site.source, check=False)
    back = orphans.run(site.params(mode="restore", paths=["upload/iblock/new\nline.jpg"]), site.source, check=False)
    assert back["restored"]["files"] == 1
    assert (site.docroot / "upload/iblock/new\nline.jpg").exists()
    assert not (site.docroot / "upload/iblock/tab\tname.jpg").exists()


def test_a_manifest_written_before_names_were_bytes_still_restores(orphan_site: OrphanSite) -> None:
    """Old manifests have only "path" (text): they keep working."""
    site = orphan_site
    batch = Path(site.quarantine, "2026-01-01T000000Z")
    (batch / "files/upload/iblock").mkdir(parents=True)
    (batch / "files/upload/iblock/old name.jpg").write_bytes(b"old")
    (batch / "batch.json").write_text(json.dumps({"id": batch.name, "state": "complete", "created": 1}))
    (batch / "manifest.jsonl").write_text(json.dumps({
        "path": "upload/iblock/old name.jpg", "size": 3,
        "sha256": hashlib.sha256(b"old").hexdigest(),
        "uid": os.getuid(), "gid": os.getgid(), "owner": "root", "group": "root", "mode": "0640",
        "mtime": 1700000000, "mtime_ns": 1700000000 * 10**9}) + "\n")
    (site.docroot / "upload").mkdir()
    back = orphans.run(site.params(mode="restore"), site.source, check=False)
    assert back["restored"]["files"] == 1
    restored = site.docroot / "upload/iblock/old name.jpg"
    assert restored.read_bytes() == b"old"
    assert restored.stat().st_mode & 0o7777 == 0o640 and int(restored.stat().st_mtime) == 1700000000


def test_the_spill_format_keeps_any_byte(tmp_path: Path) -> None:
    items = [b"a\nb", b"a", b"a\0b", b"\n", b"a/b\n", b"\xff", b"a\nb", b"b", b"a\r\nb"]
    sink = finder.ExternalSortedSet(str(tmp_path), spill_at=2)
    for item in items:
        sink.add(item)
    assert list(sink) == [b"\n", b"a", b"a\0b", b"a\nb", b"a\r\nb", b"a/b\n", b"b", b"\xff"]
    assert len(sink.chunks) >= 3  # it did spill
    sink.close()

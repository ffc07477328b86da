"""Quarantine on another filesystem (issue 12.4): the docroot on one tmpfs, the quarantine on another
(a second disk, the usual place for it). Holes stay holes, hard-link groups stay one file, in quarantine
and after restore; a link group that cannot move whole is refused with a clear line."""
from __future__ import annotations

import json
import os
from pathlib import Path

from ansible_collections.bxops.bitrix.plugins.modules import bitrix_orphans as orphans
from conftest import OrphanSite

MIB = 1 << 20
SPARSE_SIZE = 16 * MIB


def sparse_file(path: Path) -> bytes:
    """16 MiB with 4 KiB of data at each end and a hole in between; returns its bytes."""
    head, tail = b"H" * 4096, b"T" * 4096
    with open(path, "wb") as handle:
        handle.write(head)
        handle.seek(SPARSE_SIZE - len(tail))
        handle.write(tail)
    return head + b"\0" * (SPARSE_SIZE - 8192) + tail


def allocated(path: Path) -> int:
    return path.lstat().st_blocks * 512


def make_site(disks: tuple[Path, Path]) -> tuple[OrphanSite, dict[str, bytes]]:
    disk1, disk2 = disks
    site = OrphanSite(disk1)
    site.quarantine = str(disk2 / "quarantine")
    upload = site.docroot / "upload/iblock"
    site.file("upload/iblock/sparse.bin", b"")
    content = {"upload/iblock/sparse.bin": sparse_file(upload / "sparse.bin")}
    # a hard-link group whose every name is an orphan
    site.file("upload/iblock/a/linked.jpg", b"one inode, two names")
    (upload / "b").mkdir()
    os.link(upload / "a/linked.jpg", upload / "b/linked-too.jpg")
    content["upload/iblock/a/linked.jpg"] = content["upload/iblock/b/linked-too.jpg"] = b"one inode, two names"
    # a hard-link group with one name still referenced
    site.file("upload/iblock/half.jpg", b"half referenced")
    os.link(upload / "half.jpg", upload / "kept.jpg")
    site.row("iblock/kept.jpg")
    os.utime(site.docroot / "upload/iblock/sparse.bin", (1_600_000_000, 1_600_000_000))
    return site, content


def test_the_two_folders_are_on_two_filesystems(two_filesystems: tuple[Path, Path]) -> None:
    disk1, disk2 = two_filesystems
    assert os.stat(disk1).st_dev != os.stat(disk2).st_dev


def test_holes_and_hard_links_survive_quarantine_and_restore(two_filesystems: tuple[Path, Path]) -> None:
    site, content = make_site(two_filesystems)
    assert allocated(site.docroot / "upload/iblock/sparse.bin") <= 64 * 1024  # the fixture is sparse

    moved = orphans.run(site.params(mode="quarantine", content_scan=False), site.source, check=False)
    files = Path(site.quarantine, moved["quarantined"]["batch"], "files")
    quarantined = files / "upload/iblock/sparse.bin"
    assert quarantined.read_bytes() == content["upload/iblock/sparse.bin"]
    assert allocated(quarantined) <= 64 * 1024, "the hole was filled in quarantine"
    assert moved["quarantined"]["files"] == 3
    one, two = files / "upload/iblock/a/linked.jpg", files / "upload/iblock/b/linked-too.jpg"
    assert one.stat().st_ino == two.stat().st_ino and one.stat().st_nlink == 2
    assert not (site.docroot / "upload/iblock/a/linked.jpg").exists()

    # the half-referenced group is refused, with a line, and left whole
    (refused,) = moved["quarantined"]["refused"]
    assert refused["path"] == "upload/iblock/half.jpg" and "hard-linked" in refused["why"]
    assert (site.docroot / "upload/iblock/half.jpg").stat().st_ino == (site.docroot / "upload/iblock/kept.jpg"
                                                                       ).stat().st_ino
    assert any("upload/iblock/half.jpg" in line for line in orphans.warnings_of(moved))

    lines = [json.loads(line) for line in (files.parent / "manifest.jsonl").read_text().splitlines()]
    groups = {line["path"]: line.get("link") for line in lines}
    assert groups["upload/iblock/a/linked.jpg"] == groups["upload/iblock/b/linked-too.jpg"] is not None
    assert groups["upload/iblock/sparse.bin"] is None

    back = orphans.run(site.params(mode="restore"), site.source, check=False)
    assert back["restored"]["files"] == 3 and back["restored"]["refused"] == []
    restored = site.docroot / "upload/iblock/sparse.bin"
    assert restored.read_bytes() == content["upload/iblock/sparse.bin"]
    assert allocated(restored) <= 64 * 1024, "the hole was filled by restore"
    assert int(restored.stat().st_mtime) == 1_600_000_000
    one, two = site.docroot / "upload/iblock/a/linked.jpg", site.docroot / "upload/iblock/b/linked-too.jpg"
    assert one.read_bytes() == content["upload/iblock/a/linked.jpg"]
    assert one.stat().st_ino == two.stat().st_ino and one.stat().st_nlink == 2


def test_a_killed_cross_filesystem_quarantine_is_reversed_whole(two_filesystems: tuple[Path, Path]) -> None:
    """Recovery of a batch left 'running' puts the link group back as one file, holes kept."""
    site, content = make_site(two_filesystems)
    moved = orphans.run(site.params(mode="quarantine", content_scan=False), site.source, check=False)
    batch = Path(site.quarantine, moved["quarantined"]["batch"])
    meta = json.loads((batch / "batch.json").read_text())
    meta.update(state="running", pid=None)
    (batch / "batch.json").write_text(json.dumps(meta))
    report = orphans.run(site.params(mode="report", content_scan=False), site.source, check=False)
    (recovered,) = report["recovered"]
    assert recovered["returned"] == 3 and recovered["lost"] == []
    for rel, data in content.items():
        assert (site.docroot / rel).read_bytes() == data
    one, two = site.docroot / "upload/iblock/a/linked.jpg", site.docroot / "upload/iblock/b/linked-too.jpg"
    assert one.stat().st_ino == two.stat().st_ino
    assert allocated(site.docroot / "upload/iblock/sparse.bin") <= 64 * 1024


def test_a_link_group_restored_one_name_at_a_time_is_one_file_again(two_filesystems: tuple[Path, Path]) -> None:
    site, content = make_site(two_filesystems)
    orphans.run(site.params(mode="quarantine", content_scan=False), site.source, check=False)
    first = orphans.run(site.params(mode="restore", paths=["upload/iblock/a/*"]), site.source, check=False)
    second = orphans.run(site.params(mode="restore", paths=["upload/iblock/b/*"]), site.source, check=False)
    assert first["restored"]["files"] == second["restored"]["files"] == 1
    one, two = site.docroot / "upload/iblock/a/linked.jpg", site.docroot / "upload/iblock/b/linked-too.jpg"
    assert two.read_bytes() == content["upload/iblock/b/linked-too.jpg"]
    assert one.stat().st_ino == two.stat().st_ino and two.stat().st_nlink == 2

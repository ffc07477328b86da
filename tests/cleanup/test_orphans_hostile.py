"""The site is untrusted (issue 11.4, 11.5, 11.7): the orphan finder, quarantine, restore and the recovery
of a killed run never follow a symlink the site planted and never take a path from the site that leaves
the docroot. Each test plants what a site user could, next to a sentinel folder standing for /etc, and
asserts the sentinel keeps every file, mode and byte."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_docroot import Anchor
from ansible_collections.bxops.bitrix.plugins.modules import bitrix_orphans as orphans
from conftest import OrphanSite


def snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        out[str(path.relative_to(root))] = (st.st_mode, st.st_uid,
                                            path.read_bytes() if stat.S_ISREG(st.st_mode) else b"")
    return out


@pytest.fixture
def sentinel(tmp_path: Path) -> Path:
    """Stands for /etc: files no orphan run may move, read into quarantine, or write to."""
    root = tmp_path / "etc"
    (root / "main").mkdir(parents=True)
    (root / "passwd").write_text("root:x:0:0\n")
    (root / "main" / "shadow").write_text("root:$6$secret\n")
    os.chmod(root / "main" / "shadow", 0o600)
    return root


def batches(site: OrphanSite) -> list[str]:
    return sorted(os.listdir(site.quarantine)) if os.path.isdir(site.quarantine) else []


def test_a_symlinked_upload_folder_is_refused_naming_it(orphan_site: OrphanSite, sentinel: Path) -> None:
    site = orphan_site
    os.symlink(sentinel, site.docroot / "upload")
    before = snapshot(sentinel)
    with pytest.raises(orphans.OrphansError) as caught:
        orphans.run(site.params(mode="quarantine", content_scan=False), site.source, check=False)
    message = str(caught.value)
    assert "\n" not in message
    assert str(site.docroot / "upload") in message and "symlink" in message
    assert snapshot(sentinel) == before
    assert batches(site) == []


def test_a_symlinked_parent_of_the_upload_folder_is_refused(tmp_path: Path, sentinel: Path) -> None:
    site = OrphanSite(tmp_path, upload_dir="files/main")
    os.symlink(sentinel, site.docroot / "files")  # files/main resolves to sentinel/main
    before = snapshot(sentinel)
    with pytest.raises(orphans.OrphansError) as caught:
        orphans.run(site.params(mode="quarantine", content_scan=False), site.source, check=False)
    assert str(site.docroot / "files") in str(caught.value) and "symlink" in str(caught.value)
    assert snapshot(sentinel) == before


def test_a_nested_upload_dir_option_is_followed(tmp_path: Path) -> None:
    """The positive case: a plain main.upload_dir other than upload/ is where orphans are looked for."""
    site = OrphanSite(tmp_path, upload_dir="/files/main/")
    site.file("files/main/iblock/kept.jpg")
    site.file("files/main/iblock/orphan.jpg")
    site.file("upload/iblock/not-the-upload-folder.jpg")
    site.row("iblock/kept.jpg")
    report = orphans.run(site.params(content_scan=False), site.source, check=False)
    assert report["upload_dir"] == "files/main"
    assert report["orphans"]["sample"] == ["files/main/iblock/orphan.jpg"]


@pytest.mark.parametrize("value", ["../outside", "upload/../../outside", "/../outside/", "up\nload"])
def test_an_upload_dir_option_leaving_the_docroot_is_refused(tmp_path: Path, value: str) -> None:
    site = OrphanSite(tmp_path, upload_dir=value)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.jpg").write_bytes(b"not the site's")
    site.file("upload/iblock/a.jpg")
    before = snapshot(outside)
    with pytest.raises(orphans.OrphansError) as caught:
        orphans.run(site.params(mode="quarantine", content_scan=False), site.source, check=False)
    assert "main.upload_dir" in str(caught.value) and "\n" not in str(caught.value)
    assert snapshot(outside) == before and batches(site) == []


def test_an_upload_dir_parameter_leaving_the_docroot_is_refused(orphan_site: OrphanSite, tmp_path: Path) -> None:
    site = orphan_site
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.jpg").write_bytes(b"x")
    with pytest.raises(orphans.OrphansError, match="upload_dir"):
        orphans.run(site.params(mode="quarantine", upload_dir="../outside", content_scan=False), site.source,
                    check=False)
    assert (tmp_path / "outside" / "x.jpg").read_bytes() == b"x"


@pytest.mark.parametrize("walker", ["auto", "python"])
def test_symlinks_inside_the_upload_folder_are_reported_and_left(orphan_site: OrphanSite, sentinel: Path,
                                                                 walker: str) -> None:
    site = orphan_site
    site.file("upload/iblock/orphan.jpg")
    site.file("upload/iblock/kept.jpg")
    site.row("iblock/kept.jpg")
    os.symlink(sentinel / "passwd", site.docroot / "upload/iblock/link.jpg")
    os.symlink(sentinel / "main", site.docroot / "upload/iblock/linkdir")
    before = snapshot(sentinel)
    params = site.params(content_scan=False, disk_walker=walker)
    report = orphans.run(dict(params, mode="report"), site.source, check=False)
    assert report["orphans"]["sample"] == ["upload/iblock/orphan.jpg"]
    assert report["orphans"]["symlinks"] == {"count": 2,
                                             "sample": ["upload/iblock/link.jpg", "upload/iblock/linkdir"]}
    assert any("symlink" in line and "upload/iblock/link.jpg" in line for line in orphans.warnings_of(report))
    moved = orphans.run(dict(params, mode="quarantine"), site.source, check=False)
    assert moved["quarantined"]["files"] == 1
    assert os.readlink(site.docroot / "upload/iblock/link.jpg") == str(sentinel / "passwd")
    assert os.readlink(site.docroot / "upload/iblock/linkdir") == str(sentinel / "main")
    assert snapshot(sentinel) == before


def _quarantine_two(site: OrphanSite) -> str:
    site.file("upload/iblock/a/x.jpg", b"x-bytes")
    site.file("upload/iblock/b/y.jpg", b"y-bytes")
    moved = orphans.run(site.params(mode="quarantine", content_scan=False), site.source, check=False)
    assert moved["quarantined"]["files"] == 2
    return str(moved["quarantined"]["batch"])


def _swap_for_symlink(folder: Path, target: Path) -> None:
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()
    os.symlink(target, folder)


def test_restore_refuses_a_folder_swapped_for_a_symlink_and_restores_the_rest(orphan_site: OrphanSite,
                                                                              sentinel: Path) -> None:
    site = orphan_site
    batch = _quarantine_two(site)
    _swap_for_symlink(site.docroot / "upload/iblock/a", sentinel / "main")
    before = snapshot(sentinel)
    back = orphans.run(site.params(mode="restore"), site.source, check=False)
    assert snapshot(sentinel) == before, "restore wrote through the symlink"
    assert back["restored"]["files"] == 1
    assert (site.docroot / "upload/iblock/b/y.jpg").read_bytes() == b"y-bytes"
    (refused,) = back["restored"]["refused"]
    assert refused["path"] == "upload/iblock/a/x.jpg"
    assert str(site.docroot / "upload/iblock/a") in refused["why"] and "symlink" in refused["why"]
    assert any(line.startswith("restore: left alone upload/iblock/a/x.jpg: refusing ")
               for line in orphans.warnings_of(back))
    # the refused file is still safe in quarantine, restorable once the folder is a folder again
    assert Path(site.quarantine, batch, "files/upload/iblock/a/x.jpg").read_bytes() == b"x-bytes"
    (site.docroot / "upload/iblock/a").unlink()
    again = orphans.run(site.params(mode="restore"), site.source, check=False)
    assert again["restored"]["files"] == 1 and again["restored"]["refused"] == []
    assert (site.docroot / "upload/iblock/a/x.jpg").read_bytes() == b"x-bytes"


def test_restore_refuses_a_missing_parent_under_a_symlinked_grandparent(orphan_site: OrphanSite,
                                                                        sentinel: Path) -> None:
    """restore creates missing parents: never below a symlink (old code: os.makedirs through it)."""
    site = orphan_site
    _quarantine_two(site)
    _swap_for_symlink(site.docroot / "upload/iblock/a", sentinel)
    (site.docroot / "upload/iblock/b").rmdir()
    os.rename(site.docroot / "upload/iblock", site.docroot / "upload/old")
    os.symlink(sentinel, site.docroot / "upload/iblock")
    before = snapshot(sentinel)
    back = orphans.run(site.params(mode="restore"), site.source, check=False)
    assert snapshot(sentinel) == before
    assert back["restored"]["files"] == 0 and len(back["restored"]["refused"]) == 2


def test_recovery_of_a_killed_run_refuses_a_swapped_folder(orphan_site: OrphanSite, sentinel: Path) -> None:
    site = orphan_site
    batch = _quarantine_two(site)
    meta_path = Path(site.quarantine, batch, "batch.json")
    meta = json.loads(meta_path.read_text())
    meta.update(state="running", pid=None)  # as a killed run leaves it
    meta_path.write_text(json.dumps(meta))
    _swap_for_symlink(site.docroot / "upload/iblock/a", sentinel / "main")
    before = snapshot(sentinel)
    with pytest.raises(orphans.OrphansError) as caught:
        orphans.run(site.params(mode="report", content_scan=False), site.source, check=False)
    assert "upload/iblock/a/x.jpg" in str(caught.value) and "symlink" in str(caught.value)
    assert snapshot(sentinel) == before
    assert (site.docroot / "upload/iblock/b/y.jpg").read_bytes() == b"y-bytes"
    assert Path(site.quarantine, batch, "files/upload/iblock/a/x.jpg").read_bytes() == b"x-bytes"


def test_restored_metadata_is_set_on_the_file_never_through_a_symlink(orphan_site: OrphanSite,
                                                                      sentinel: Path) -> None:
    """A symlink planted at the original name after quarantine is a conflict: never replaced, never
    chmod-ed or chown-ed through (the old code's chmod/utime followed it)."""
    site = orphan_site
    _quarantine_two(site)
    os.symlink(sentinel / "main" / "shadow", site.docroot / "upload/iblock/a/x.jpg")
    before = snapshot(sentinel)
    back = orphans.run(site.params(mode="restore"), site.source, check=False)
    assert snapshot(sentinel) == before
    assert [c["path"] for c in back["restored"]["conflicts"]] == ["upload/iblock/a/x.jpg"]
    assert os.path.islink(site.docroot / "upload/iblock/a/x.jpg")


@pytest.mark.parametrize("cross_device", [False, True])
def test_a_file_swapped_after_its_examination_is_never_read(tmp_path: Path, sentinel: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           request: pytest.FixtureRequest,
                                                           cross_device: bool) -> None:
    """11.7: between the lstat that decides a file is an orphan and the read of its bytes, the site swaps
    it for a symlink to a root-only file. The read goes through the descriptor checked against that
    lstat: refused with a line, the secret never copied into quarantine."""
    if cross_device:
        disk1, disk2 = request.getfixturevalue("two_filesystems")
        site = OrphanSite(disk1)
        site.quarantine = str(disk2 / "quarantine")
    else:
        site = OrphanSite(tmp_path / "site")
    site.file("upload/iblock/bait.jpg", b"bait")
    site.file("upload/iblock/plain.jpg", b"plain")
    target = os.path.join(str(site.docroot), "upload/iblock/bait.jpg")
    real_anchor_lstat, real_lstat = Anchor.lstat, os.lstat
    swapped: list[bool] = []
    seen: list[object] = []

    def swap() -> None:
        if not swapped:
            swapped.append(True)
            os.unlink(target)
            os.symlink(sentinel / "main" / "shadow", target)

    def anchor_lstat_then_swap(self: Anchor, rel: str) -> os.stat_result:
        st = real_anchor_lstat(self, rel)
        if rel == "upload/iblock/bait.jpg":
            swap()
        return st

    def lstat_then_swap(path: str | bytes | os.PathLike[str], *args: object, **kwargs: object) -> os.stat_result:
        st = real_lstat(path, *args, **kwargs)  # type: ignore[arg-type]
        if os.fsdecode(path) == target:  # the seam of a by-path implementation: the quarantine's lstat
            seen.append(path)
            if len(seen) == 2:  # (the first is the finder's)
                swap()
        return st

    monkeypatch.setattr(Anchor, "lstat", anchor_lstat_then_swap)
    monkeypatch.setattr(os, "lstat", lstat_then_swap)
    moved = orphans.run(site.params(mode="quarantine", content_scan=False), site.source, check=False)
    secret = (sentinel / "main" / "shadow").read_bytes()
    for path in Path(site.quarantine).rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert secret not in path.read_bytes(), f"{path} holds the root-only file"
    assert os.path.islink(target), "the root-only file was copied into the docroot"
    assert moved["quarantined"]["files"] == 1
    (refused,) = moved["quarantined"]["refused"]
    assert refused["path"] == "upload/iblock/bait.jpg"

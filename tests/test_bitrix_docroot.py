"""The docroot-anchored file layer: nothing reached through a symlink, nothing outside the anchor.

Every test plants what a site user could plant (symlinks to a sentinel folder standing for /etc,
swaps between a check and the use) and asserts the sentinel keeps every file, mode and owner.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_docroot import (
    Anchor,
    ChangedUnderfoot,
    UnsafePath,
    chmod_at,
    clean_rel,
    copy_sparse,
)


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, Path]:
    docroot = tmp_path / "www"
    (docroot / "bitrix" / "cache" / "s1").mkdir(parents=True)
    (docroot / "bitrix" / "cache" / "s1" / "a.php").write_text("cached")
    (docroot / "upload" / "iblock").mkdir(parents=True)
    (docroot / "upload" / "iblock" / "pic.jpg").write_bytes(b"jpg")
    sentinel = tmp_path / "etc"
    sentinel.mkdir()
    (sentinel / "passwd").write_text("root:x:0:0")
    os.chmod(sentinel / "passwd", 0o644)
    return docroot, sentinel


def snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        out[str(path.relative_to(root))] = (stat.S_IMODE(st.st_mode), st.st_uid,
                                            path.read_bytes() if path.is_file() else b"")
    return out


@pytest.mark.parametrize(
    ("value", "expected"),
    [("upload", "upload"), ("/upload/", "upload"), ("files/main", "files/main"), ("", "upload")],
)
def test_clean_rel_accepts_plain_relative_paths(value: str, expected: str) -> None:
    assert clean_rel(value, "main.upload_dir", default="upload") == expected


@pytest.mark.parametrize("value", ["../etc", "upload/../../etc", "a//b", "./upload", "up\nload", "up\0load", "/"])
def test_clean_rel_refuses_what_could_leave_the_docroot(value: str) -> None:
    with pytest.raises(UnsafePath, match=r"main\.upload_dir"):
        clean_rel(value, "main.upload_dir")


def test_symlinked_folder_is_refused_and_named(site: tuple[Path, Path]) -> None:
    docroot, sentinel = site
    (docroot / "upload" / "tmp").symlink_to(sentinel)
    with Anchor(str(docroot)) as anchor:
        with pytest.raises(UnsafePath) as caught:
            anchor.open_dir("upload/tmp")
        assert str(docroot / "upload" / "tmp") in str(caught.value)
        assert "symlink" in str(caught.value)
        with pytest.raises(UnsafePath):
            anchor.read_bytes("upload/tmp/passwd")
        with pytest.raises(UnsafePath):
            anchor.remove_tree("upload/tmp/x")


def test_walk_never_enters_a_symlinked_folder(site: tuple[Path, Path]) -> None:
    docroot, sentinel = site
    (docroot / "bitrix" / "cache" / "evil").symlink_to(sentinel)
    with Anchor(str(docroot)) as anchor:
        seen = {entry.rel: entry.is_symlink for entry in anchor.walk("bitrix")}
    assert seen == {
        "bitrix/cache": False,
        "bitrix/cache/evil": True,
        "bitrix/cache/s1": False,
        "bitrix/cache/s1/a.php": False,
    }


def test_remove_tree_removes_links_not_their_targets(site: tuple[Path, Path]) -> None:
    docroot, sentinel = site
    before = snapshot(sentinel)
    (docroot / "bitrix" / "cache" / "etc").symlink_to(sentinel)
    (docroot / "bitrix" / "cache" / "passwd").symlink_to(sentinel / "passwd")
    with Anchor(str(docroot)) as anchor:
        removed, freed = anchor.remove_tree("bitrix/cache")
    assert not (docroot / "bitrix" / "cache").exists()
    assert removed == 5  # s1/a.php, s1, the two links, and cache itself
    assert freed == len("cached")
    assert snapshot(sentinel) == before


def test_remove_tree_keeps_what_the_caller_keeps(site: tuple[Path, Path]) -> None:
    docroot, _ = site
    (docroot / "bitrix" / "cache" / "keep.txt").write_text("k")
    with Anchor(str(docroot)) as anchor:
        anchor.remove_tree("bitrix/cache", keep=lambda entry: entry.name == "keep.txt")
    assert sorted(p.name for p in (docroot / "bitrix" / "cache").iterdir()) == ["keep.txt"]


def test_open_file_refuses_a_file_swapped_after_its_lstat(site: tuple[Path, Path]) -> None:
    docroot, sentinel = site
    target = docroot / "upload" / "iblock" / "pic.jpg"
    with Anchor(str(docroot)) as anchor:
        examined = anchor.lstat("upload/iblock/pic.jpg")
        target.unlink()
        os.link(sentinel / "passwd", target)  # a hard link: no symlink for O_NOFOLLOW to catch
        with pytest.raises(ChangedUnderfoot):
            anchor.open_file("upload/iblock/pic.jpg", expect=examined)
        target.unlink()
        target.symlink_to(sentinel / "passwd")
        with pytest.raises(UnsafePath):
            anchor.open_file("upload/iblock/pic.jpg")


def test_makedirs_refuses_a_symlinked_component_and_changes_nothing(site: tuple[Path, Path]) -> None:
    docroot, sentinel = site
    before = snapshot(sentinel)
    (docroot / ".well-known").symlink_to(sentinel)
    with Anchor(str(docroot)) as anchor:
        with pytest.raises(UnsafePath, match=r"\.well-known"):
            anchor.makedirs(".well-known/acme-challenge", 0o755, os.getuid(), os.getgid())
        with pytest.raises(UnsafePath):
            anchor.chmod(".well-known", 0o777)
    assert snapshot(sentinel) == before
    assert stat.S_IMODE(sentinel.stat().st_mode) != 0o777


def test_makedirs_and_write_atomic(site: tuple[Path, Path]) -> None:
    docroot, _ = site
    with Anchor(str(docroot)) as anchor:
        created = anchor.makedirs("a/b/c", 0o750)
        anchor.write_atomic("a/b/c/token", b"abc", 0o640)
    assert created == ["a", "a/b", "a/b/c"]
    assert (docroot / "a/b/c/token").read_bytes() == b"abc"
    assert stat.S_IMODE((docroot / "a/b/c/token").stat().st_mode) == 0o640
    assert stat.S_IMODE((docroot / "a/b").stat().st_mode) == 0o750


def test_names_with_newlines_and_other_bytes_round_trip(site: tuple[Path, Path]) -> None:
    docroot, _ = site
    name = os.fsencode(str(docroot / "upload")) + b"/new\nline \xff\xd0\xb6.jpg"
    with open(name, "wb") as handle:
        handle.write(b"x")
    with Anchor(str(docroot)) as anchor:
        rels = [entry.rel for entry in anchor.walk("upload") if entry.is_file]
        assert os.fsencode(rels[1]) == b"upload/new\nline \xff\xd0\xb6.jpg"
        assert anchor.read_bytes(rels[1]) == b"x"


def test_copy_sparse_keeps_holes(tmp_path: Path) -> None:
    src = tmp_path / "sparse"
    with open(src, "wb") as handle:
        handle.seek(8 << 20)
        handle.write(b"end")
    dst = tmp_path / "copy"
    sfd = os.open(src, os.O_RDONLY)
    dfd = os.open(dst, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        copy_sparse(sfd, dfd)
    finally:
        os.close(sfd)
        os.close(dfd)
    assert dst.read_bytes() == src.read_bytes()
    assert dst.stat().st_blocks * 512 < (1 << 20)  # 8 MiB of hole, not 8 MiB of zeros


def refuse_nofollow_fchmodat(monkeypatch: pytest.MonkeyPatch) -> None:
    """os.chmod as Python behaves on a C library without fchmodat(AT_SYMLINK_NOFOLLOW) (glibc < 2.32:
    Debian 11, EL8): with dir_fd and follow_symlinks=False it raises ValueError for every entry."""
    real = os.chmod

    def chmod(path, mode, *, dir_fd=None, follow_symlinks=True):  # type: ignore[no-untyped-def]
        if dir_fd is not None and not follow_symlinks:
            raise ValueError("chmod: cannot use dir_fd and follow_symlinks together")
        return real(path, mode, dir_fd=dir_fd, follow_symlinks=follow_symlinks)

    monkeypatch.setattr(os, "chmod", chmod)


def test_chmod_works_where_the_c_library_has_no_nofollow_fchmodat(
    site: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    docroot, _sentinel = site
    refuse_nofollow_fchmodat(monkeypatch)
    os.chmod(docroot / "upload/iblock/pic.jpg", 0o666)
    with Anchor(str(docroot)) as anchor:
        anchor.chmod("upload/iblock/pic.jpg", 0o640)
        anchor.chmod("upload/iblock", 0o750)
    assert stat.S_IMODE((docroot / "upload/iblock/pic.jpg").stat().st_mode) == 0o640
    assert stat.S_IMODE((docroot / "upload/iblock").stat().st_mode) == 0o750


def test_chmod_fallback_never_follows_a_symlink(site: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    docroot, sentinel = site
    before = snapshot(sentinel)
    (docroot / "upload/passwd").symlink_to(sentinel / "passwd")
    refuse_nofollow_fchmodat(monkeypatch)
    with Anchor(str(docroot)) as anchor:
        with pytest.raises(UnsafePath):
            anchor.chmod("upload/passwd", 0o666)
        parent = os.open(docroot / "upload", os.O_RDONLY | os.O_DIRECTORY)
        try:
            with pytest.raises(ValueError, match="symlink"):
                chmod_at(parent, "passwd", 0o666)  # the entry swapped after the caller's check
        finally:
            os.close(parent)
    assert snapshot(sentinel) == before

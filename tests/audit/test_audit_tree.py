"""bitrix_audit's docroot walk and upload folder: nothing counted or walked through a symlink or `..`."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from ansible_collections.bxops.bitrix.plugins.modules import bitrix_audit as audit


def write(root: Path, rel: str, size: int) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    www = tmp_path / "www"
    write(www, "index.php", 10)
    write(www, "bitrix/cache/s1/a.php", 100)
    write(www, "upload/iblock/1/a.jpg", 1000)
    write(www, "upload/iblock/1/b.jpg", 2000)
    write(tmp_path, "etc/big.bin", 1 << 20)  # outside: must never be counted
    return www


def test_walk_counts_the_tree_and_never_goes_through_a_symlinked_folder(site: Path, tmp_path: Path) -> None:
    (site / "upload/iblock/linked").symlink_to(tmp_path / "etc")
    (site / "bitrix/cache/linked").symlink_to(tmp_path / "etc")
    (site / "bitrix/managed_cache").symlink_to(tmp_path / "etc")
    walk = audit.TreeWalk(str(site), "upload")
    walk.run()
    # by hand: index.php, a.php, a.jpg, b.jpg; folders bitrix, bitrix/cache, s1, upload, iblock, 1
    assert walk.total == {"files": 4, "dirs": 6, "bytes": 3110}
    assert walk.upload == {"files": 2, "bytes": 3000}
    assert walk.disposable["bitrix/cache"] == {"files": 1, "bytes": 100, "exists": True}
    assert walk.disposable["bitrix/managed_cache"] == {"files": 0, "bytes": 0, "exists": False}


def test_walk_without_an_upload_folder_counts_no_uploads(site: Path) -> None:
    walk = audit.TreeWalk(str(site), None)
    walk.run()
    assert walk.upload == {"files": 0, "bytes": 0} and walk.total["files"] == 4


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "upload"), ("", "upload"), ("/upload/", "upload"), ("files/up", "files/up")],
)
def test_upload_dir_plain_values_are_used(site: Path, value: str | None, expected: str) -> None:
    (site / "files/up").mkdir(parents=True)
    assert audit.upload_root(str(site), value) == (expected, None)


@pytest.mark.parametrize("value", ["../etc", "upload/../../etc", "up\nload", "upload/./x"])
def test_upload_dir_leaving_the_docroot_is_refused(site: Path, value: str) -> None:
    rel, problem = audit.upload_root(str(site), value)
    assert rel is None
    assert problem is not None and problem.startswith("main.upload_dir=") and "\n" not in problem


def test_symlinked_upload_root_is_refused_naming_it(site: Path, tmp_path: Path) -> None:
    os.rename(site / "upload", tmp_path / "real-upload")
    (site / "upload").symlink_to(tmp_path / "etc")
    rel, problem = audit.upload_root(str(site), "upload")
    assert rel is None
    assert problem == f"refusing upload root (main.upload_dir) {site}/upload: it is a symlink (-> {tmp_path}/etc)"
    (site / "files").symlink_to(tmp_path / "real-upload")
    rel, problem = audit.upload_root(str(site), "files/iblock")
    assert rel is None and f"{site}/files is a symlink" in (problem or "")

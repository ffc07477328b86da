"""bitrix_backup on a small tree without a database: archive + manifest, verify, restore, retention."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_site import DbCredentials
from ansible_collections.bxops.bitrix.plugins.modules import bitrix_backup as bb

EXCLUDE = ["bitrix/cache", "upload/tmp"]
pytestmark = pytest.mark.skipif(shutil.which("tar") is None, reason="needs GNU tar")


class Stub:
    """The part of AnsibleModule the action functions use."""

    def __init__(self, check_mode: bool = False, **params: object) -> None:
        self.check_mode = check_mode
        self.params = {
            "id": "", "include_db": False, "db": {},
            "compression": "gzip", "min_interval": 0, "keep_count": 7, "keep_days": 14, "protect": [],
            "quarantine_dir": None, "restore_files": True, "clear_cache": [], "run_id": "test",
        }
        self.params.update(params)


def write(root: Path, rel: str, data: bytes, mode: int = 0o644, mtime: float = 1_700_000_000.5) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    os.utime(path, (mtime, mtime))


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    www = tmp_path / "www"
    write(www, "bitrix/modules/main/classes/general/version.php", b'<?php define("SM_VERSION", "23.900.550");')
    write(www, "index.php", b"<?php echo 1;")
    write(www, "bitrix/.settings.php", b"<?php return [];", 0o640)
    write(www, "upload/iblock/a/b.jpg", os.urandom(5000))
    write(www, "bitrix/cache/s1/x.php", b"cached")
    write(www, "upload/tmp/BXTEMP/x.xml", b"<x/>")
    (www / "link.php").symlink_to("index.php")
    return www


def state(root: Path, exclude: list[str]) -> dict[str, tuple]:
    """Every entry outside the excluded folders' content: type, mode, owner, mtime, sha256."""
    result = {}
    for dirpath, dirs, files in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        for name in dirs + files:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            st = os.lstat(os.path.join(dirpath, name))
            digest = ""
            if os.path.isfile(os.path.join(dirpath, name)) and not os.path.islink(os.path.join(dirpath, name)):
                digest = hashlib.sha256(Path(dirpath, name).read_bytes()).hexdigest()
            mtime = st.st_mtime_ns if rel not in exclude and not os.path.islink(os.path.join(dirpath, name)) else 0
            result[rel] = (st.st_mode, st.st_uid, st.st_gid, mtime, digest)
        dirs[:] = [d for d in dirs if os.path.normpath(os.path.join(rel_dir, d)) not in exclude]
    return result


def create(site: Path, backups: Path, **params: object) -> dict:
    return bb.do_create(Stub(**params), str(site), str(backups), EXCLUDE)


def test_backup_leaves_disposable_content_out_and_verifies(site: Path, tmp_path: Path) -> None:
    result = create(site, tmp_path / "backups")
    backup = result["backup"]
    manifest = [json.loads(line) for line in Path(backup["manifest"]).read_text().splitlines()]
    paths = {entry["p"] for entry in manifest}
    assert {"index.php", "upload/iblock/a/b.jpg", "bitrix/cache", "upload/tmp", "link.php"} <= paths
    assert not any(p.startswith(("bitrix/cache/", "upload/tmp/")) for p in paths)
    assert oct(os.stat(backup["path"]).st_mode & 0o777) == "0o700"
    verified = bb.do_verify(Stub(), str(site), str(tmp_path / "backups"))
    assert verified["mismatches"] == [] and verified["entries"] == len(manifest)


def test_verify_names_a_file_whose_checksum_differs(site: Path, tmp_path: Path) -> None:
    backup = create(site, tmp_path / "backups")["backup"]
    manifest = Path(backup["manifest"])
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    for entry in lines:
        if entry["p"] == "index.php":
            entry["h"] = "0" * 64
    manifest.write_text("".join(json.dumps(e) + "\n" for e in lines))
    meta_path = Path(backup["path"]) / "backup.json"
    meta = json.loads(meta_path.read_text())
    meta["files"]["manifest_sha256"] = bb.sha256_file(str(manifest))
    meta_path.write_text(json.dumps(meta))
    verified = bb.do_verify(Stub(), str(site), str(tmp_path / "backups"))
    assert verified["failed"] and verified["mismatches"][0]["path"] == "index.php"
    assert "index.php" in verified["msg"]


def test_restore_brings_the_tree_back_exactly(site: Path, tmp_path: Path) -> None:
    before = state(site, EXCLUDE)
    create(site, tmp_path / "backups")
    (site / "index.php").write_bytes(b"<?php echo 2;")
    (site / "upload/iblock/a/b.jpg").unlink()
    (site / "bitrix/.settings.php").chmod(0o666)
    write(site, "added.php", b"new")
    write(site, "local/new/x.php", b"new")
    write(site, "upload/tmp/kept.txt", b"disposable")
    result = bb.do_restore(Stub(quarantine_dir=str(tmp_path / "q")), str(site), str(tmp_path / "backups"))
    after = state(site, EXCLUDE)
    assert {k: v for k, v in after.items() if not k.startswith("upload/tmp/")} == before
    assert (site / "upload/tmp/kept.txt").exists()
    assert result["restore"]["quarantined"] == 2
    quarantine = Path(result["restore"]["quarantine_dir"])
    assert (quarantine / "added.php").read_bytes() == b"new" and (quarantine / "local/new/x.php").exists()


def test_check_mode_writes_nothing(site: Path, tmp_path: Path) -> None:
    result = bb.do_create(Stub(check_mode=True), str(site), str(tmp_path / "backups"), EXCLUDE)
    assert result["changed"] and result["plan"]["files"] == 4
    assert not (tmp_path / "backups").exists()


def test_min_interval_reuses_a_recent_backup(site: Path, tmp_path: Path) -> None:
    first = create(site, tmp_path / "backups")["backup"]
    again = create(site, tmp_path / "backups", min_interval=3600)
    assert again["changed"] is False and again["backup"]["id"] == first["id"] and again["backup"]["reused"]


def plant(backups: Path, docroot: str, age_days: float, backup_id: str) -> None:
    path = backups / backup_id
    path.mkdir(parents=True)
    created = time.time() - age_days * 86400
    (path / "backup.json").write_text(json.dumps({
        "id": backup_id, "status": "complete", "docroot": docroot, "created_ts": created,
        "files": {"archive": "a", "manifest": "m"}, "db": {}}))


def test_retention_by_count_and_age_per_docroot(site: Path, tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    plant(backups, str(site), 1, "b1")
    plant(backups, str(site), 2, "b2")
    plant(backups, str(site), 30, "old")
    plant(backups, "/elsewhere", 60, "other")
    (backups / "foreign").mkdir()
    by_age = bb.do_prune(Stub(keep_count=5, keep_days=14), str(site), str(backups))
    assert [(p["id"], p["reason"].split()[0]) for p in by_age["pruned"]] == [("old", "older")]
    by_count = bb.do_prune(Stub(keep_count=1, keep_days=14), str(site), str(backups))
    assert [(p["id"], p["reason"].split()[0]) for p in by_count["pruned"]] == [("b2", "beyond")]
    assert sorted(os.listdir(backups)) == ["b1", "foreign", "other"]


def test_retention_never_deletes_the_protected_backup(site: Path, tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    plant(backups, str(site), -1, "future")
    plant(backups, str(site), 0, "just-made")
    result = bb.do_prune(Stub(keep_count=1, protect=["just-made"]), str(site), str(backups))
    assert result["pruned"] == [] and sorted(os.listdir(backups)) == ["future", "just-made"]


def test_the_password_stays_in_the_defaults_file(tmp_path: Path) -> None:
    creds = DbCredentials(host="localhost", database="db", user="u", password='p#"w\\d')
    db = bb.Db(creds)
    try:
        argv = db.argv("mysqldump")
        assert not any("p#" in arg for arg in argv)
        text = Path(db.client.defaults_file).read_text()
        assert 'password="p#\\"w\\\\d"' in text
        assert os.stat(db.client.defaults_file).st_mode & 0o777 == 0o600
    finally:
        db.close()


# --- the site is untrusted (issue 11.7): nothing read or written through a site-controlled symlink


@pytest.fixture()
def secret(tmp_path: Path) -> Path:
    """A root-only file outside the docroot (stands for /etc/shadow)."""
    path = tmp_path / "etc" / "shadow"
    path.parent.mkdir()
    path.write_bytes(b"root:$6$secret-hash:19000::::::")
    path.chmod(0o600)
    return path


def archived(backup: dict) -> dict[str, bytes]:
    """The regular files in a backup's archive, by path."""
    data = subprocess.run(["gzip", "-d", "-c", backup["files_archive"]], check=True, capture_output=True).stdout
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for info in tar:
            if info.isfile():
                member = tar.extractfile(info)
                assert member is not None
                out[info.name] = member.read()
    return out


@pytest.mark.parametrize("swap", ["symlink", "other_file"])
def test_a_file_swapped_during_the_walk_is_left_out_not_archived_as_something_else(
    site: Path, tmp_path: Path, secret: Path, monkeypatch: pytest.MonkeyPatch, swap: str
) -> None:
    walk = bb.Tree.entries

    def swapping(self):  # the site swaps index.php between the walk's lstat and the read
        for item in walk(self):
            if item[0] == "index.php":
                (site / "index.php").unlink()
                if swap == "symlink":
                    (site / "index.php").symlink_to(secret)
                else:
                    os.link(secret, site / "index.php")  # the very inode of the root-only file
            yield item

    monkeypatch.setattr(bb.Tree, "entries", swapping)
    result = create(site, tmp_path / "backups")
    content = archived(result["backup"])
    assert secret.read_bytes() not in content.values()
    assert "index.php" not in content and "bitrix/.settings.php" in content
    manifest = [json.loads(line) for line in Path(result["backup"]["manifest"]).read_text().splitlines()]
    assert "index.php" not in {entry["p"] for entry in manifest}
    assert result["plan"]["changed"] == 1 and result["plan"]["changed_sample"] == ["index.php"]
    assert "index.php" in result["warnings_"][0]
    verified = bb.do_verify(Stub(), str(site), str(tmp_path / "backups"))
    assert verified["mismatches"] == []


def test_backup_does_not_walk_into_a_symlinked_folder(site: Path, tmp_path: Path, secret: Path) -> None:
    (site / "upload/evil").symlink_to(secret.parent)
    result = create(site, tmp_path / "backups")
    content = archived(result["backup"])
    assert secret.read_bytes() not in content.values()
    lines = Path(result["backup"]["manifest"]).read_text().splitlines()
    manifest = {json.loads(line)["p"]: json.loads(line) for line in lines}
    assert manifest["upload/evil"]["t"] == "l" and manifest["upload/evil"]["l"] == str(secret.parent)
    assert not any(p.startswith("upload/evil/") for p in manifest)


def test_restore_refuses_a_folder_swapped_for_a_symlink_after_the_quarantine(
    site: Path, tmp_path: Path, secret: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(site, tmp_path / "backups")
    (site / "upload/iblock/a/b.jpg").write_bytes(b"changed")
    outside = tmp_path / "outside"
    (outside / "a").mkdir(parents=True)
    (outside / "a" / "b.jpg").write_bytes(b"root's own file")
    os.chown(outside / "a" / "b.jpg", 0, 0)
    before = {p: (p.read_bytes(), p.stat().st_mode, p.stat().st_uid) for p in outside.rglob("*") if p.is_file()}
    quarantine = bb.quarantine_extras

    def then_swap(*args, **kwargs):  # the site swaps upload/iblock for a symlink right after the quarantine
        moved = quarantine(*args, **kwargs)
        shutil.rmtree(site / "upload/iblock")
        (site / "upload/iblock").symlink_to(outside)
        return moved

    monkeypatch.setattr(bb, "quarantine_extras", then_swap)
    with pytest.raises(bb.BackupError, match=f"refusing {site}/upload/iblock.*: {site}/upload/iblock is a symlink"):
        bb.do_restore(Stub(quarantine_dir=str(tmp_path / "q")), str(site), str(tmp_path / "backups"))
    after = {p: (p.read_bytes(), p.stat().st_mode, p.stat().st_uid) for p in outside.rglob("*") if p.is_file()}
    assert after == before


def test_restore_moves_a_planted_symlink_away_and_restores_the_folder(
    site: Path, tmp_path: Path, secret: Path
) -> None:
    before = state(site, EXCLUDE)
    create(site, tmp_path / "backups")
    shutil.rmtree(site / "upload/iblock")
    (site / "upload/iblock").symlink_to(secret.parent)
    sentinel = {p.name: p.read_bytes() for p in secret.parent.iterdir()}
    result = bb.do_restore(Stub(quarantine_dir=str(tmp_path / "q")), str(site), str(tmp_path / "backups"))
    assert {p.name: p.read_bytes() for p in secret.parent.iterdir()} == sentinel
    assert state(site, EXCLUDE) == before
    quarantine = Path(result["restore"]["quarantine_dir"])
    assert (quarantine / "upload/iblock").is_symlink()


def test_clear_cache_refuses_a_symlinked_cache_folder(site: Path, tmp_path: Path, secret: Path) -> None:
    create(site, tmp_path / "backups")
    shutil.rmtree(site / "bitrix/cache")
    (site / "bitrix/cache").symlink_to(secret.parent)
    with pytest.raises(bb.BackupError, match=f"refusing clear_cache folder {site}/bitrix/cache: it is a symlink"):
        bb.clear_folders(str(site), ["bitrix/cache"])
    assert secret.exists()


def test_restore_refuses_a_symlinked_cache_folder_before_changing_anything(
    site: Path, tmp_path: Path, secret: Path
) -> None:
    """The refusal comes first: a restore that would end on a refused cache folder must not restore at all."""
    create(site, tmp_path / "backups")
    write(site, "index.php", b"<?php echo 2; // changed after the backup")
    shutil.rmtree(site / "bitrix/cache")
    (site / "bitrix/cache").symlink_to(secret.parent)
    stub = Stub(quarantine_dir=str(tmp_path / "q"), clear_cache=["bitrix/cache"])
    with pytest.raises(bb.BackupError, match=r"refusing clear_cache folder .*/bitrix/cache: it is a symlink"):
        bb.do_restore(stub, str(site), str(tmp_path / "backups"))
    assert (site / "index.php").read_bytes() == b"<?php echo 2; // changed after the backup"
    assert not (tmp_path / "q").exists()
    assert secret.exists()


@pytest.fixture()
def other_fs(tmp_path: Path):
    """A folder on another filesystem (a tmpfs), like a quarantine on a second disk."""
    mount = tmp_path / "other-fs"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_restore_quarantines_onto_another_filesystem_without_following_links(
    site: Path, tmp_path: Path, secret: Path, other_fs: Path
) -> None:
    before = state(site, EXCLUDE)
    create(site, tmp_path / "backups")
    write(site, "local/new/x.php", b"new", 0o640)
    os.chown(site / "local/new/x.php", 1234, 5678)
    (site / "local/new/to-secret").symlink_to(secret)
    (site / "upload/iblock/a/b.jpg").unlink()
    (site / "upload/iblock/a/b.jpg").symlink_to(secret)  # a file swapped for a link: moved away as a link
    assert os.stat(site).st_dev != os.stat(other_fs).st_dev
    result = bb.do_restore(Stub(quarantine_dir=str(other_fs / "q")), str(site), str(tmp_path / "backups"))
    assert state(site, EXCLUDE) == before
    quarantine = Path(result["restore"]["quarantine_dir"])
    assert sorted(result["restore"]["quarantined_sample"]) == ["local", "upload/iblock/a/b.jpg"]
    copied = quarantine / "local/new/x.php"
    assert copied.read_bytes() == b"new" and (copied.stat().st_uid, copied.stat().st_gid) == (1234, 5678)
    assert copied.stat().st_mode & 0o777 == 0o640
    assert os.readlink(quarantine / "local/new/to-secret") == str(secret)
    assert os.readlink(quarantine / "upload/iblock/a/b.jpg") == str(secret)
    assert secret.read_bytes() == b"root:$6$secret-hash:19000::::::"

"""The bitrix_permissions module's core on real temp trees, as root: owners, modes, world-writable
entries, secrets, symlinks, check mode, the journal, and bad input refused before any change."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible_collections.bxops.bitrix.plugins.modules import bitrix_permissions as bp
from permissions_helpers import COLLECTIONS, OTHER_UID, ROOT, SITE_UID, make_site, requires_root, snapshot

pytestmark = requires_root

DEFAULTS = yaml.safe_load((ROOT / "roles/permissions/defaults/main.yml").read_text())
MODULE = ROOT / "plugins/modules/bitrix_permissions.py"


def build(site: Path, **options) -> bp.Policy:
    """The role's default policy for SITE_UID, with overrides."""
    kwargs = dict(
        owner=str(SITE_UID),
        group=str(SITE_UID),
        secrets=DEFAULTS["permissions_secrets"],
        writable=DEFAULTS["permissions_writable"],
        secret_mode=DEFAULTS["permissions_secret_mode"],
    )
    kwargs.update(options)
    return bp.Policy.build(str(site), **kwargs)


def run(site: Path, check_mode: bool = False, journal: str | None = None, **options) -> dict:
    return bp.fix_tree(str(site), build(site, **options), check_mode=check_mode, journal=journal)


def plant(site: Path) -> dict[str, list[str]]:
    """Typical damage; returns the paths expected per kind of fix."""

    def own(rel: str, uid: int, gid: int) -> None:
        os.chown(site / rel, uid, gid)

    def mode(rel: str, value: int) -> None:
        os.chmod(site / rel, value)

    own(".", OTHER_UID, SITE_UID)  # the docroot itself
    own("bitrix/cache/s1/a.php", OTHER_UID, OTHER_UID)
    own("upload/1c_catalog", OTHER_UID, SITE_UID)  # the 1C exchange folder of another user
    own("upload/1c_catalog/import.xml", 0, 0)  # left by a root cron job ...
    mode("upload/1c_catalog/import.xml", 0o600)  # ... unreadable for the web server
    own("local/php_interface/init.php", SITE_UID, OTHER_UID)
    mode("index.php", 0o666)
    mode("upload/iblock", 0o777)
    mode("bitrix/license_key.php", 0o666)
    mode("upload/iblock/1ab/photo.jpg", 0o640)
    # bitrix/.settings.php and dbconn.php keep the make_site 0644: readable by others.
    return {
        "owner": [".", "bitrix/cache/s1/a.php", "upload/1c_catalog", "upload/1c_catalog/import.xml"],
        "group": ["bitrix/cache/s1/a.php", "upload/1c_catalog/import.xml", "local/php_interface/init.php"],
        "mode": ["upload/1c_catalog/import.xml", "upload/iblock/1ab/photo.jpg"],
        "world_writable": ["index.php", "upload/iblock", "bitrix/license_key.php"],
        "secret": ["bitrix/.settings.php", "bitrix/php_interface/dbconn.php"],
    }


def expected_mode(rel: str, is_dir: bool) -> int:
    if rel in ("bitrix/.settings.php", "bitrix/php_interface/dbconn.php", "bitrix/license_key.php"):
        return 0o600
    return 0o755 if is_dir else 0o644


def test_planted_deviations_are_fixed_and_counted_by_kind(site: Path) -> None:
    planted = plant(site)
    result = run(site)

    assert result["changed"] is True
    for kind, paths in planted.items():
        assert result["counts"][kind] == len(paths), kind
        assert sorted(result["samples"][kind]) == sorted(paths), kind
    assert result["counts"]["paths"] == len({p for paths in planted.values() for p in paths})
    assert result["error_count"] == 0
    for rel, (uid, gid, mode) in snapshot(site).items():
        is_dir = (site / rel).is_dir()
        assert (uid, gid) == (SITE_UID, SITE_UID), rel
        assert mode == expected_mode(rel, is_dir), f"{rel}: {mode:04o}"


def test_modes_are_fixed_where_the_c_library_has_no_nofollow_fchmodat(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Debian 11 (glibc 2.31): Python's os.chmod(dir_fd=..., follow_symlinks=False) raises ValueError for
    every entry; the walker must still fix the modes (it did not: "4 entries could not be changed")."""
    planted = plant(site)
    real = os.chmod

    def chmod(path, mode, *, dir_fd=None, follow_symlinks=True):  # type: ignore[no-untyped-def]
        if dir_fd is not None and not follow_symlinks:
            raise ValueError("chmod: cannot use dir_fd and follow_symlinks together")
        return real(path, mode, dir_fd=dir_fd, follow_symlinks=follow_symlinks)

    monkeypatch.setattr(os, "chmod", chmod)
    result = run(site)
    assert result["error_count"] == 0, result["errors"]
    assert result["counts"]["world_writable"] == len(planted["world_writable"])
    for rel, (_uid, _gid, mode) in snapshot(site).items():
        assert mode == expected_mode(rel, (site / rel).is_dir()), f"{rel}: {mode:04o}"


def test_second_run_changes_nothing(site: Path) -> None:
    plant(site)
    run(site)
    before = snapshot(site)
    again = run(site)
    assert again["changed"] is False
    assert again["counts"] == dict.fromkeys([*bp.KINDS, "paths"], 0)
    assert snapshot(site) == before


def test_check_mode_reports_the_same_fixes_and_touches_nothing(site: Path) -> None:
    plant(site)
    before = snapshot(site)
    checked = run(site, check_mode=True, journal=str(site.parent / "journal.jsonl"))
    assert snapshot(site) == before
    assert not (site.parent / "journal.jsonl").exists()
    real = run(site)
    assert checked["changed"] is True
    assert checked["counts"] == real["counts"]
    assert checked["samples"] == real["samples"]


def test_nothing_is_left_world_writable(site: Path) -> None:
    for rel in ("upload", "upload/iblock/1ab/photo.jpg", "bitrix/cache", "local/php_interface/init.php"):
        os.chmod(site / rel, 0o777 if (site / rel).is_dir() else 0o666)
    os.chmod(site / "upload/1c_exchange", 0o1777)  # sticky, world-writable: still wrong
    result = run(site)
    assert result["counts"]["world_writable"] == 5
    assert all(mode & 0o002 == 0 for _, _, mode in snapshot(site).values())


def test_modes_come_from_dbconn(tmp_path: Path) -> None:
    site = make_site(tmp_path, 'define("BX_FILE_PERMISSIONS", 0664);\ndefine("BX_DIR_PERMISSIONS", 0775);\n')
    result = run(site)
    assert result["modes"]["file_mode"] == "0664"
    assert result["modes"]["file_mode_source"] == "dbconn"
    assert os.stat(site / "index.php").st_mode & 0o777 == 0o664
    assert os.stat(site / "upload/iblock").st_mode & 0o777 == 0o775
    assert os.stat(site / "bitrix/.settings.php").st_mode & 0o777 == 0o600


def test_world_writable_modes_in_dbconn_are_not_applied(tmp_path: Path) -> None:
    site = make_site(tmp_path, 'define("BX_FILE_PERMISSIONS", 0666);\ndefine("BX_DIR_PERMISSIONS", 0777);\n')
    policy = build(site)
    assert len(policy.warnings) == 2
    bp.fix_tree(str(site), policy)
    assert os.stat(site / "index.php").st_mode & 0o777 == 0o664
    assert os.stat(site / "upload").st_mode & 0o777 == 0o775


def test_writable_folders_stay_writable_with_read_only_modes(site: Path) -> None:
    run(site, file_mode="0444", dir_mode="0555")
    assert os.stat(site / "index.php").st_mode & 0o777 == 0o444
    assert os.stat(site / "local/php_interface").st_mode & 0o777 == 0o555
    # The core and the 1C exchange write here.
    assert os.stat(site / "upload/1c_catalog").st_mode & 0o777 == 0o755
    assert os.stat(site / "upload/1c_catalog/import.xml").st_mode & 0o777 == 0o644
    assert os.stat(site / "bitrix/modules/main/include.php").st_mode & 0o777 == 0o644


def test_temporary_files_directory_from_dbconn_is_writable(tmp_path: Path) -> None:
    docroot = tmp_path / "www"
    site = make_site(tmp_path, f'define("BX_TEMPORARY_FILES_DIRECTORY", "{docroot}/local/tmp");\n')
    (site / "local/tmp").mkdir()
    run(site, file_mode="0444", dir_mode="0555")
    assert os.stat(site / "local/tmp").st_mode & 0o777 == 0o755
    assert os.stat(site / "local").st_mode & 0o777 == 0o555


def test_symlinks_are_never_followed(site: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "secret.txt").write_text("x")
    for path in (outside, outside / "dir", outside / "secret.txt"):
        os.chown(path, OTHER_UID, OTHER_UID)
        os.chmod(path, 0o777 if path.is_dir() else 0o666)
    os.symlink(outside / "secret.txt", site / "upload/link.txt")
    os.symlink(outside / "dir", site / "upload/linkdir")
    os.lchown(site / "upload/link.txt", OTHER_UID, OTHER_UID)
    before = snapshot(outside)

    result = run(site)

    assert snapshot(outside) == before
    assert result["scanned"]["symlinks"] == 2
    # The link itself gets the site's owner (nginx disable_symlinks if_not_owner relies on it).
    assert os.lstat(site / "upload/link.txt").st_uid == SITE_UID


def test_entry_swapped_for_a_symlink_during_the_walk_is_not_followed(site: Path, tmp_path: Path) -> None:
    target = tmp_path / "shadow"
    target.write_text("x")
    os.chmod(target, 0o600)
    folder = site / "upload/iblock/1ab"
    os.chmod(folder / "photo.jpg", 0o666)
    walker = bp.Walker(str(site), build(site))
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        st = os.stat("photo.jpg", dir_fd=fd, follow_symlinks=False)
        os.unlink(folder / "photo.jpg")  # the race: replaced by a link between lstat and chmod
        os.symlink(target, folder / "photo.jpg")
        walker._fix(fd, "photo.jpg", "upload/iblock/1ab/photo.jpg", st, 0o644, False)
    finally:
        os.close(fd)
    assert os.stat(target).st_mode & 0o777 == 0o600
    assert walker.error_count == 1


def test_excluded_entries_are_left_alone(site: Path) -> None:
    os.chown(site / ".git/HEAD", OTHER_UID, OTHER_UID)
    os.chmod(site / ".git/HEAD", 0o666)
    os.chown(site / "upload/1c_catalog/import.xml", 0, 0)
    os.chown(site / "index.php", OTHER_UID, OTHER_UID)
    before = snapshot(site)
    result = run(site, exclude=[".git", "upload/1c_*"])
    after = snapshot(site)
    assert after[".git/HEAD"] == before[".git/HEAD"]
    assert after["upload/1c_catalog/import.xml"] == before["upload/1c_catalog/import.xml"]
    assert after["index.php"][0] == SITE_UID  # everything else is still fixed
    assert result["scanned"]["excluded"] == 3  # .git, upload/1c_catalog, upload/1c_exchange


def test_hard_linked_file_of_another_user_is_left_alone(site: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "passwd-copy"
    elsewhere.write_text("root:x:0:0")
    os.chmod(elsewhere, 0o600)
    os.link(elsewhere, site / "upload/innocent.txt")
    result = run(site)
    st = os.stat(elsewhere)
    assert (st.st_uid, st.st_mode & 0o777) == (0, 0o600)
    assert result["skipped_count"] == 1
    assert result["skipped"][0]["path"] == "upload/innocent.txt"


def test_exec_bits_are_kept_only_when_asked(site: Path) -> None:
    script = site / "local/cron.sh"
    script.write_text("#!/bin/sh\n")
    os.chown(script, SITE_UID, SITE_UID)
    os.chmod(script, 0o775)
    run(site)
    assert os.stat(script).st_mode & 0o777 == 0o755
    run(site, preserve_exec=False)
    assert os.stat(script).st_mode & 0o777 == 0o644


def test_journal_restores_the_previous_state(site: Path, tmp_path: Path) -> None:
    plant(site)
    planted = snapshot(site)
    journal = tmp_path / "state" / "run1.jsonl"
    result = run(site, journal=str(journal))
    assert result["journal"] == str(journal)
    assert os.stat(journal).st_mode & 0o777 == 0o600
    assert snapshot(site) != planted

    restored = bp.restore_journal(str(site), str(journal))
    assert restored["error_count"] == 0
    assert restored["restored"] == result["counts"]["paths"]
    assert snapshot(site) == planted


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("file_mode", "0999"),
        ("file_mode", "777"),
        ("file_mode", "0666"),
        ("file_mode", "0755"),
        ("file_mode", "0244"),
        ("file_mode", "rw-r--r--"),
        ("file_mode", "04644"),
        ("dir_mode", "0777"),
        ("dir_mode", "0644"),
        ("secret_mode", "0644"),
        ("secret_mode", "0604"),
        ("owner", "no-such-user-bxops"),
        ("group", "no-such-group-bxops"),
        ("secrets", ["../etc/shadow"]),
        ("writable", ["/tmp"]),
        ("exclude", ["."]),
    ],
)
def test_bad_input_is_refused_naming_the_option(site: Path, option: str, value: object) -> None:
    with pytest.raises(bp.PolicyError) as err:
        build(site, **{option: value})
    assert option in str(err.value)


def _module(site: Path, check_mode: bool = False, **args: object) -> dict:
    """Run the module file as Ansible runs it on a host (args file, JSON on stdout)."""
    params = {"docroot": str(site), "owner": str(SITE_UID), "group": str(SITE_UID), **args}
    params["_ansible_check_mode"] = check_mode
    args_file = site.parent / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": params}))
    env = {**os.environ, "PYTHONPATH": str(COLLECTIONS)}
    proc = subprocess.run(
        [sys.executable, str(MODULE), str(args_file)], capture_output=True, text=True, env=env, check=False
    )
    return json.loads(proc.stdout)


def test_module_refuses_bad_input_before_any_change(site: Path) -> None:
    plant(site)
    before = snapshot(site)
    result = _module(site, file_mode="0666")
    assert result.get("failed") is True
    assert "file_mode" in result["msg"]
    assert snapshot(site) == before


def test_module_check_mode_then_real_run_then_no_change(site: Path) -> None:
    plant(site)
    before = snapshot(site)
    checked = _module(site, check_mode=True, secrets=DEFAULTS["permissions_secrets"])
    assert checked["changed"] is True
    assert snapshot(site) == before
    fixed = _module(site, secrets=DEFAULTS["permissions_secrets"])
    assert fixed["counts"] == checked["counts"]
    again = _module(site, secrets=DEFAULTS["permissions_secrets"])
    assert again["changed"] is False


def test_module_refuses_a_folder_that_is_not_a_bitrix_site(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = _module(tmp_path / "empty")
    assert result.get("failed") is True
    assert "not a 1C-Bitrix site" in result["msg"]


def test_folder_replaced_during_the_walk_is_not_entered(site: Path, tmp_path: Path, monkeypatch) -> None:
    """Between the scan of upload/ and the descent into upload/iblock, another folder (root's own, not a
    symlink) takes its place: the walker must see it is not the folder it scanned and stay out."""
    outside = tmp_path / "root-only"
    (outside / "keys").mkdir(parents=True)
    (outside / "keys/id").write_text("secret")
    os.chmod(outside / "keys/id", 0o600)
    before = snapshot(outside)
    real_open = os.open
    swapped = []

    def swap_then_open(path, flags, *args, **kwargs):  # the moment the walker descends into upload/iblock
        if path == "iblock" and flags & os.O_DIRECTORY and not swapped:
            swapped.append(True)
            os.rename(site / "upload/iblock", tmp_path / "iblock.away")
            os.rename(outside, site / "upload/iblock")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(bp.os, "open", swap_then_open)
    result = run(site)
    monkeypatch.undo()
    assert swapped
    os.rename(site / "upload/iblock", outside)
    assert snapshot(outside) == before
    assert [e["path"] for e in result["errors"]] == ["upload/iblock"]
    assert "replaced during the walk" in result["errors"][0]["error"]


def test_journal_restore_never_goes_through_a_symlinked_folder(site: Path, tmp_path: Path) -> None:
    plant(site)
    journal = tmp_path / "state" / "run1.jsonl"
    run(site, journal=str(journal))
    outside = tmp_path / "outside"
    (outside / "1ab").mkdir(parents=True)
    (outside / "1ab/photo.jpg").write_text("root's")
    os.chmod(outside / "1ab/photo.jpg", 0o600)
    before = snapshot(outside)
    os.rename(site / "upload/iblock", tmp_path / "iblock.away")
    os.symlink(outside, site / "upload/iblock")
    restored = bp.restore_journal(str(site), str(journal))
    assert snapshot(outside) == before
    assert sorted(e["path"] for e in restored["errors"]) == ["upload/iblock/1ab/photo.jpg"]
    assert f"{site}/upload/iblock is a symlink" in restored["errors"][0]["error"]

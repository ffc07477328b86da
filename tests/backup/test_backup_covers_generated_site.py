"""A files backup of a generated site holds exactly what the generator planted outside the disposable
folders: the archive's regular files (path and content) against truth.json's `backup` (count, bytes, digest),
which the generator wrote from its own planting, not from a walk of ours or the module's manifest."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from ansible_collections.bxops.bitrix.plugins.module_utils import bitrix_facts
from ansible_collections.bxops.bitrix.plugins.modules import bitrix_backup as bb

PROJECT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("tar") is None, reason="needs GNU tar")


class Stub:
    """The part of AnsibleModule do_create uses (the role's defaults for a files-only backup)."""

    def __init__(self) -> None:
        self.check_mode = False
        self.params = {
            "id": "", "include_db": False, "db": {}, "compression": "gzip", "min_interval": 0, "keep_count": 7,
            "keep_days": 14, "protect": [], "quarantine_dir": None, "restore_files": True, "clear_cache": [],
            "run_id": "test",
        }


def generate(base: Path, *args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(PROJECT / "tools/sitegen"), PYTHONDONTWRITEBYTECODE="1")
    subprocess.run(
        [sys.executable, "-m", "bxsitegen", "--docroot", str(base / "www"), "--truth", str(base / "truth.json"),
         "--db-mode", "none", "--no-system-files", "--packages-dir", str(base / "updates"),
         "--site-user", "root" if os.geteuid() == 0 else os.environ.get("USER", "nobody"),
         "--now", "1760000000", "--force", *args],
        check=True, env=env, capture_output=True,
    )
    return json.loads((base / "truth.json").read_text())


def archived_files(archive: str) -> list[tuple[str, str, int]]:
    data = subprocess.run(["gzip", "-d", "-c", archive], check=True, capture_output=True).stdout
    out = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for info in tar:
            if info.isfile():
                member = tar.extractfile(info)
                assert member is not None
                content = member.read()
                name = info.name[2:] if info.name.startswith("./") else info.name
                out.append((name, hashlib.sha256(content).hexdigest(), len(content)))
    return sorted(out)


def digest(files: list[tuple[str, str, int]]) -> str:
    h = hashlib.sha256()
    for path, sha, _size in files:
        h.update(f"{path}\0{sha}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


@pytest.mark.parametrize("args", [(), ("--odd-names",)], ids=["default", "odd-names"])
def test_the_backup_holds_the_generated_site_without_its_disposable_folders(tmp_path: Path, args: tuple) -> None:
    truth = generate(tmp_path, "--seed", "3", *args)
    expected = truth["backup"]
    assert expected["files"] > 1000
    # what the role passes by default: the collection's disposable folders for the site's upload folder
    exclude = bitrix_facts.disposable_folders(truth["upload_dir"])
    assert sorted(exclude) == sorted(expected["exclude"])
    backup = bb.do_create(Stub(), truth["docroot"], str(tmp_path / "backups"), exclude)["backup"]

    files = archived_files(backup["files_archive"])
    listed = sorted(p for p, _s, _n in files)
    assert (len(files), sum(n for _p, _s, n in files)) == (expected["files"], expected["bytes"])
    assert digest(files) == expected["content_sha256"], "same count and bytes, other paths or contents"
    assert len(set(listed)) == len(listed)
    # the disposable folders stay in the archive as folders, empty
    manifest = [json.loads(line) for line in Path(backup["manifest"]).read_text().splitlines()]
    kinds = {entry["p"]: entry["t"] for entry in manifest}
    for folder in expected["exclude"]:
        assert kinds.get(folder) == "d", folder
        assert not [p for p in kinds if p.startswith(folder + "/")], folder
    # the manifest's files are the archive's files with the same digests
    assert sorted((e["p"], e["h"], e["s"]) for e in manifest if e["t"] == "f") == files


SETTLE = """
- name: Settle the role's folders left out
  hosts: localhost
  connection: local
  gather_facts: false
  vars_files: ["{defaults}"]
  vars: {play_vars}
  tasks:
    - name: The role's own tasks (roles/backup/tasks/preflight.yml)
      ansible.builtin.include_tasks: settle.yml
    - name: Keep what the role would leave out
      ansible.builtin.copy:
        content: "{{{{ __backup_exclude | to_json }}}}"
        dest: "{out}"
        mode: "0600"
"""
SETTLE_TASKS = ("Refuse disposable folders", "List the folders left out")


def role_exclude(tmp_path: Path, site: dict, **role_vars: object) -> list[str]:
    """__backup_exclude as the backup role settles it from its defaults and the site check's result."""
    preflight = yaml.safe_load((PROJECT / "roles/backup/tasks/preflight.yml").read_text())
    tasks = [t for t in preflight if str(t["name"]).startswith(SETTLE_TASKS)]
    assert len(tasks) == len(SETTLE_TASKS)
    (tmp_path / "settle.yml").write_text(yaml.safe_dump(tasks))
    out = tmp_path / "exclude.json"
    playbook = tmp_path / "settle-play.yml"
    playbook.write_text(SETTLE.format(defaults=PROJECT / "roles/backup/defaults/main.yml",
                                      play_vars=json.dumps({"__common_site": site}), out=out))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"),
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}",
                           "-e", json.dumps(role_vars), str(playbook)], cwd=tmp_path, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    if proc.returncode != 0:
        raise AssertionError(proc.stdout[-3000:])
    return json.loads(out.read_text())


def test_the_role_leaves_out_the_disposable_folders_of_the_sites_own_upload_folder(tmp_path: Path) -> None:
    """Issue 14 fix: with main.upload_dir "files" the role's default list is files/tmp and files/resize_cache,
    not upload/...; the backup then holds exactly truth.json's backup (files/tmp's planted junk left out)."""
    truth = generate(tmp_path, "--seed", "5", "--upload-dir", "files")
    assert truth["upload_dir"] == "files"
    exclude = role_exclude(tmp_path, {"upload_dir": "files"})
    assert sorted(exclude) == sorted(truth["backup"]["exclude"])
    assert "files/resize_cache" in exclude and "upload/resize_cache" not in exclude  # written by hand
    backup = bb.do_create(Stub(), truth["docroot"], str(tmp_path / "backups"), exclude)["backup"]
    files = archived_files(backup["files_archive"])
    assert (len(files), sum(n for _p, _s, n in files)) == (truth["backup"]["files"], truth["backup"]["bytes"])
    assert digest(files) == truth["backup"]["content_sha256"]


def test_the_role_refuses_when_the_sites_upload_folder_is_unknown_unless_given(tmp_path: Path) -> None:
    site = {"upload_dir": None, "upload_dir_error": "cannot read option main.upload_dir: no DB"}
    with pytest.raises(AssertionError, match=r"cannot read option main\.upload_dir: no DB"):
        role_exclude(tmp_path, site)
    # a list given is taken as it is
    given = ["files/tmp", "bitrix/cache"]
    assert role_exclude(tmp_path, site, backup_disposable_paths=given) == given

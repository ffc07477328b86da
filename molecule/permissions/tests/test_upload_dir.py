"""Issue 12.1: the permissions role follows main.upload_dir. The site of bxops-permissions-files was generated
with --upload-dir files (truth.json upload_dir): its uploads, 1C exchange folders and b_option row say files/.
The role must keep files/, files/1c_catalog, ... writable, never look for upload/, and refuse an upload_dir
that leaves the docroot before changing anything."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from bxops_testlib import PROJECT, run_playbook, truth

HOSTNAME = "bxops-permissions-files"
testinfra_hosts = [HOSTNAME]
RECORDS = "/var/lib/bxops-molecule"
EXCHANGE = "http://localhost/bitrix/admin/1c_exchange.php?type=catalog"
SCENARIO = Path(__file__).resolve().parents[1]
# The role's upload/... writable entries (defaults/main.yml), written out by hand for upload_dir = files
WRITABLE_UPLOAD = ["files", "files/tmp", "files/resize_cache", "files/1c_catalog", "files/1c_exchange"]


@pytest.fixture(scope="module")
def planted() -> dict[str, Any]:
    return truth(HOSTNAME)


def _sql(host, planted: dict[str, Any], query: str) -> str:
    return host.check_output(f"mysql --batch --skip-column-names {planted['db']['name']} -e \"{query}\"")


def test_the_site_keeps_its_uploads_in_files(host, planted):
    docroot = planted["docroot"]
    assert planted["upload_dir"] == "files"
    assert host.file(f"{docroot}/files/1c_catalog").is_directory
    assert not host.file(f"{docroot}/upload").exists
    assert _sql(host, planted, "SELECT VALUE FROM b_option WHERE MODULE_ID='main' AND NAME='upload_dir'") == "files"


def test_the_site_facts_name_the_real_upload_folder(host, planted, tmp_path):
    report = tmp_path / "facts"
    proc = run_playbook(SCENARIO / "site_facts.yml", "bxops-permissions-staging,bxops-permissions-files",
                        {"bxops_env": "staging", "site_facts_report": str(report)})
    assert proc.returncode == 0, proc.stdout[-3000:]
    facts = {name: json.loads(Path(f"{report}.{name}.json").read_text())
             for name in ("bxops-permissions-staging", HOSTNAME)}
    assert facts[HOSTNAME]["upload_dir"] == "files"
    assert facts["bxops-permissions-staging"]["upload_dir"] == "upload"
    assert facts[HOSTNAME]["settings_unparsed"] == []


def test_converge_kept_the_real_upload_folder_writable(host, planted):
    fix = json.loads(host.file(f"{RECORDS}/fix.json").content_string)
    missing = fix["writable_missing"]
    assert not [rel for rel in missing if rel == "upload" or rel.startswith("upload/")], missing
    assert "files" not in missing and "files/1c_catalog" not in missing
    assert fix["counts"] == planted["permissions"]["counts"]  # exactly what was planted, found under files/
    owned = [d for d in planted["permissions"]["deviations"] if "owner" in d["kinds"]]
    assert owned and all(d["path"].startswith("files/") for d in owned)
    assert sorted(fix["samples"]["owner"]) == sorted(d["path"] for d in owned)
    for dev in owned:  # planted under files/, fixed there
        f = host.file(f"{planted['docroot']}/{dev['path']}")
        if f.exists:
            assert (f.user, f.group) == (dev["after"]["owner"], dev["after"]["group"]), dev["path"]


def test_read_only_modes_leave_the_real_upload_folder_writable(host, planted):
    docroot = planted["docroot"]
    hardened = {"bxops_env": "staging", "permissions_file_mode": "0444", "permissions_dir_mode": "0555"}
    try:
        proc = run_playbook(PROJECT / "playbooks/permissions.yml", HOSTNAME, hardened)
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert host.file(f"{docroot}/index.php").mode == 0o444  # the hardened modes were applied
        for rel in WRITABLE_UPLOAD:
            folder = host.file(f"{docroot}/{rel}")
            if folder.exists:
                assert folder.mode & 0o700 == 0o700, (rel, oct(folder.mode))
        uploaded = host.check_output(f"find {docroot}/files/1c_catalog -type f -print -quit")
        assert uploaded, "no file under files/1c_catalog to check"
        assert host.file(uploaded).mode & 0o600 == 0o600, uploaded
        assert not host.file(f"{docroot}/upload").exists
        # what the site's user sees: the 1C exchange (which follows main.upload_dir) can write its folder
        init = host.check_output(f"curl -sS '{EXCHANGE}&mode=init'")
        assert init.startswith("zip=no"), init
        body = "<КоммерческаяИнформация ВерсияСхемы='2.10'/>"
        answer = host.check_output(
            f"curl -sS -X POST --data-binary \"{body}\" '{EXCHANGE}&mode=file&filename=import.xml'")
        assert answer.strip() == "success", answer
        written = host.file(f"{docroot}/files/1c_catalog/import.xml")
        assert written.user == planted["site_user"] and written.content_string == body
    finally:
        restored = run_playbook(PROJECT / "playbooks/permissions.yml", HOSTNAME, {"bxops_env": "staging"})
        assert restored.returncode == 0, restored.stdout[-3000:]


def test_an_upload_dir_leaving_the_docroot_is_refused_before_any_change(host, planted):
    docroot = planted["docroot"]
    target = f"{docroot}/index.php"
    host.check_output(f"chmod 0664 {target}")  # a deviation the refused run must leave alone
    _sql(host, planted, "UPDATE b_option SET VALUE='../../etc' WHERE MODULE_ID='main' AND NAME='upload_dir'")
    try:
        proc = run_playbook(PROJECT / "playbooks/permissions.yml", HOSTNAME, {"bxops_env": "staging"})
        assert proc.returncode != 0
        out = " ".join(proc.stdout.split())
        # one clear line: the option, its value, and what to do (the callback may re-quote the value)
        assert "main.upload_dir=" in out and "../../etc" in out and "is refused" in out, proc.stdout[-3000:]
        assert "permissions_upload_dir" in out, proc.stdout[-3000:]
        assert host.file(target).mode == 0o664
    finally:
        _sql(host, planted, "UPDATE b_option SET VALUE='files' WHERE MODULE_ID='main' AND NAME='upload_dir'")
        host.check_output(f"chmod {planted['permissions']['file_mode']} {target}")

"""The permissions role on a generated site: what truth.json planted is fixed on the real host, the 1C
exchange can write again, check mode changes nothing, a second run changes nothing, bad input is refused."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from bxops_testlib import PROJECT, run_playbook, truth

HOSTNAME = "bxops-permissions-staging"
testinfra_hosts = [HOSTNAME]  # the scenario's other host (main.upload_dir = files) is test_upload_dir.py's
RECORDS = "/var/lib/bxops-molecule"
EXCHANGE = "http://localhost/bitrix/admin/1c_exchange.php?type=catalog"
SECRETS_MODES = (0o600, 0o640)
ROLE_SECRETS = yaml.safe_load((PROJECT / "roles/permissions/defaults/main.yml").read_text())["permissions_secrets"]


@pytest.fixture(scope="module")
def planted() -> dict[str, Any]:
    return truth(HOSTNAME)


def _record(host, name: str) -> dict[str, Any]:
    return json.loads(host.file(f"{RECORDS}/{name}").content_string)


def _find(host, docroot: str, expression: str) -> list[str]:
    out = host.check_output(f"find {docroot} {expression} -print")
    return [line for line in out.splitlines() if line]


def test_planted_deviations_have_their_fix(host, planted):
    """Each deviation truth.json lists is now in the state its `after` names (owner, group, mode)."""
    deviations = planted["permissions"]["deviations"]
    assert {kind for d in deviations for kind in d["kinds"]} >= {"owner", "group", "world_writable", "secret"}
    checked = 0
    for dev in deviations:
        f = host.file(f"{planted['docroot']}/{dev['path']}")
        if not f.exists:  # the 1C exchange test's mode=init empties upload/1c_catalog (verify re-runs)
            continue
        checked += 1
        after = dev["after"]
        assert (f.user, f.group, f.mode) == (after["owner"], after["group"], int(after["mode"], 8)), dev["path"]
    assert checked, "none of the planted entries is left to check"


def test_fix_reports_exactly_the_planted_deviations(host, planted):
    """The first real run fixed what the generator planted and nothing else: counts and paths per kind."""
    fix = _record(host, "fix.json")
    deviations = planted["permissions"]["deviations"]
    assert fix["counts"] == planted["permissions"]["counts"]
    for kind in ("owner", "group", "mode", "world_writable", "secret"):
        expected = sorted(d["path"] for d in deviations if kind in d["kinds"])
        assert sorted(fix["samples"][kind]) == expected, kind


def test_nothing_in_the_docroot_belongs_to_anyone_else(host, planted):
    user = planted["site_user"]
    assert _find(host, planted["docroot"], f"\\( ! -user {user} -o ! -group {user} \\)") == []


def test_nothing_is_world_writable(host, planted):
    assert planted["security"]["world_writable"], "the generator planted no world-writable file"
    assert _find(host, planted["docroot"], "! -type l -perm -o+w") == []


def test_secrets_are_not_readable_by_others(host, planted):
    readable = planted["security"]["readable_configs"]
    assert readable, "the generator planted no readable secret"
    for rel in set(readable) | {"bitrix/.settings.php", "bitrix/php_interface/dbconn.php"}:
        assert host.file(f"{planted['docroot']}/{rel}").mode in SECRETS_MODES, rel


def test_modes_are_the_sites_own(host, planted):
    docroot = planted["docroot"]
    file_mode = int(planted["permissions"]["file_mode"], 8)
    dir_mode = int(planted["permissions"]["dir_mode"], 8)
    assert _find(host, docroot, f"-type d ! -perm {dir_mode:o}") == []
    exec_mode = file_mode | ((file_mode & 0o444) >> 2)
    others = _find(host, docroot, f"-type f ! -perm {file_mode:o} ! -perm {exec_mode:o}")
    # Only the secrets differ, and they are not readable by others.
    assert set(others) <= {f"{docroot}/{rel}" for rel in ROLE_SECRETS}
    for path in others:
        assert host.file(path).mode in SECRETS_MODES, path


def test_1c_exchange_failed_before_and_writes_again(host, planted):
    before = _record(host, "exchange-before.json")
    assert before["init"].startswith("failure") or before["file"].startswith("failure"), before

    init = host.check_output(f"curl -sS '{EXCHANGE}&mode=init'")
    assert init.startswith("zip=no"), init
    body = "<КоммерческаяИнформация ВерсияСхемы='2.10'/>"
    answer = host.check_output(f"curl -sS -X POST --data-binary \"{body}\" '{EXCHANGE}&mode=file&filename=import.xml'")
    assert answer.strip() == "success", answer
    uploaded = host.file(f"{planted['docroot']}/upload/1c_catalog/import.xml")
    assert uploaded.user == planted["site_user"]
    assert uploaded.content_string == body


def test_check_mode_reported_the_fixes_and_changed_nothing(host, planted):
    check = _record(host, "check.json")
    fix = _record(host, "fix.json")
    assert check["result"]["changed"] is True
    assert check["result"]["counts"] == fix["counts"] == planted["permissions"]["counts"]
    wrong = {e["path"]: e for e in planted["security"]["wrong_owner"]}
    for entry in check["entries"]:
        rel = entry["path"][len(planted["docroot"]) + 1 :]
        if rel in wrong:  # still the planted owner after check mode
            assert entry["pw_name"] == wrong[rel]["owner"], rel
        if rel in planted["security"]["world_writable"]:
            assert int(entry["mode"], 8) & stat.S_IWOTH, rel
    assert set(wrong) <= set(check["result"]["samples"]["owner"])


def test_fix_reports_the_sites_modes_and_keeps_a_journal(host, planted):
    fix = _record(host, "fix.json")
    assert fix["modes"]["file_mode"] == planted["permissions"]["file_mode"].rjust(4, "0")
    assert fix["modes"]["dir_mode"] == planted["permissions"]["dir_mode"].rjust(4, "0")
    journal = host.file(fix["journal"])
    assert journal.exists and journal.mode == 0o600


def test_second_run_changed_nothing(host):
    second = _record(host, "second.json")
    assert second["changed"] is False
    assert second["counts"]["paths"] == 0


def test_playbook_check_run_reports_then_real_run_fixes_owner_and_mode(host, planted):
    user = planted["site_user"]
    owned = f"{planted['docroot']}/upload/1c_catalog"
    folder = f"{planted['docroot']}/upload/iblock"
    host.check_output(f"chown root:root {owned} && chmod 0700 {folder}")  # as a root `tar x` leaves them
    try:
        checked = run_playbook(PROJECT / "playbooks/permissions.yml", HOSTNAME, {"bxops_env": "staging"}, check=True)
        assert checked.returncode == 0, checked.stdout[-3000:]
        summary = " ".join(checked.stdout.split())  # the callback wraps long messages
        assert "would fix 2 of" in summary
        assert "(owner 1, group 1, mode 1, world-writable 0, secret 0)" in summary
        assert host.file(owned).user == "root"
        assert host.file(folder).mode == 0o700

        fixed = run_playbook(PROJECT / "playbooks/permissions.yml", HOSTNAME, {"bxops_env": "staging"})
        assert fixed.returncode == 0, fixed.stdout[-3000:]
        assert "fixed 2 of" in " ".join(fixed.stdout.split())
        assert (host.file(owned).user, host.file(owned).group) == (user, user)
        assert host.file(folder).mode == int(planted["permissions"]["dir_mode"], 8)
    finally:
        dir_mode = planted["permissions"]["dir_mode"]
        host.check_output(f"chown {user}:{user} {owned} && chmod {dir_mode} {folder}")


BAD_INPUT = {  # case in molecule/permissions/bad_input.yml -> the variable the refusal must name
    "invalid octal": "permissions_file_mode",
    "executable file mode": "permissions_file_mode",
    "world-writable folders": "permissions_dir_mode",
    "secrets readable by others": "permissions_secret_mode",
    "unquoted mode": "permissions_file_mode",
    "unknown owner": "permissions_owner",
}


def test_bad_input_is_refused_before_any_change(host, planted, tmp_path):
    target = f"{planted['docroot']}/index.php"
    host.check_output(f"chmod 0664 {target}")  # a deviation the refused runs must leave alone
    report = tmp_path / "bad_input.json"
    try:
        proc = run_playbook(
            Path(__file__).resolve().parents[1] / "bad_input.yml",
            HOSTNAME,
            {"bxops_env": "staging", "bad_input_report": str(report)},
        )
        assert proc.returncode == 0, proc.stdout[-3000:]
        messages = json.loads(report.read_text())
        assert set(messages) == set(BAD_INPUT)
        for case, variable in BAD_INPUT.items():
            assert messages[case] != "ACCEPTED", case
            assert variable in messages[case], (case, messages[case][-500:])
        assert host.file(target).mode == 0o664
    finally:
        host.check_output(f"chmod {planted['permissions']['file_mode']} {target}")

"""Why a run failed, on the console without -v: each failed host, task and message (secrets redacted);
the exact command after a refusal that waits for an operator's decision; a run refused by a pre-change
check recorded as `refused` and billed nothing (unless the contract says so), with the work type that
its playbook's roles gave it from the start."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bxops.accounted_run import refused_before_change

from .conftest import BASE_TERM, RUNNER, Workspace, base_contract

RUN_ID = "20261130T100000Z-abcd1234"


def run_failing(ws: Workspace, mode: str, *extra: str) -> tuple[int, str, str]:
    done = ws.cli("run", "t1", "staging", "failing", "-e", f"failing_mode={mode}", *extra, check=False)
    return done.returncode, done.stdout, done.stderr


def test_refused_by_a_check_names_it_and_bills_nothing(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    code, out, err = run_failing(ws, "assert", "-e", "failing_reason=disk-full")
    assert code != 0, out + err
    [entry] = ws.history()
    assert entry["status"] == "refused"
    assert entry["billed_seconds"] == 0 and entry["raw_seconds"] >= 0
    # The role named by the playbook (audit → maintenance) never ran: the work type is still known.
    assert entry["work_type"] == "maintenance"
    assert entry["options"]["work_type_source"] == "playbook-role:audit"
    assert "localhost: Check the site is ready failed:" in out
    assert "site not ready: disk-full" in out
    assert "not billed" in out
    [failure] = entry["failures"]
    assert failure["host"] == "localhost" and failure["task"] == "Check the site is ready"
    assert failure["message"] == "site not ready: disk-full"
    assert ws.balance()["used_billed_seconds"] == 0


def test_contract_may_bill_refused_runs(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    ws.write_contract(base_contract(bill_refused_runs=True))
    run_failing(ws, "assert")
    [entry] = ws.history()
    assert entry["status"] == "refused" and entry["billed_seconds"] == 15 * 60
    assert ws.balance()["used_billed_seconds"] == 15 * 60


def test_refusal_waiting_for_a_decision_prints_the_command_to_run(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    code, out, _err = run_failing(ws, "recover", "-e", f"failing_run_id={RUN_ID}", "--ticket", "BX-7")
    assert code != 0
    assert "Refuse to guess whether an interrupted run is dead" in out
    expected = (
        f"{RUNNER} run t1 staging failing --ticket BX-7 -e failing_mode=recover -e failing_run_id={RUN_ID} "
        f"-e update_recover_run={RUN_ID}"
    )
    lines = [line.strip() for line in out.splitlines()]
    assert expected in lines, out
    assert ws.history()[0]["status"] == "refused"
    # asked again after a wrong guess: the command carries the new value only
    _code, again, _err = run_failing(ws, "recover", "-e", f"failing_run_id={RUN_ID}", "-e", "update_recover_run=wrong")
    expected = (
        f"{RUNNER} run t1 staging failing -e failing_mode=recover -e failing_run_id={RUN_ID} "
        f"-e update_recover_run={RUN_ID}"
    )
    assert expected in [line.strip() for line in again.splitlines()], again


def test_failed_task_is_named_with_its_message_and_no_secret(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    code, out, err = run_failing(ws, "break", "-e", "failing_password=hunter2-pw")
    assert code != 0
    [entry] = ws.history()
    assert entry["status"] == "failed"  # something changed before the failure: a real failed run
    assert entry["billed_seconds"] == 15 * 60
    assert "localhost: Connect to the database failed:" in out
    assert "cannot connect to mysql://bx:***@db.example/site" in out
    assert "hunter2-pw" not in out + err
    [failure] = entry["failures"]
    assert failure["task"] == "Connect to the database"
    assert "mysql://bx:***@db.example/site" in failure["message"]
    ledger_bytes = b"".join(p.read_bytes() for p in Path(ws.ledger_url).parent.glob("ledger.sqlite*"))
    assert b"hunter2-pw" not in ledger_bytes
    assert json.dumps(entry).count("hunter2") == 0


def test_history_json_keeps_failures_for_later(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    ws.write_contract({"terms": [{**BASE_TERM, "playbooks": {"failing": "bugfix"}}]})
    run_failing(ws, "assert", "-e", "failing_reason=late")
    [entry] = ws.history("--status", "refused")
    assert entry["work_type"] == "bugfix" and entry["failures"][0]["message"] == "site not ready: late"


def failure(action: str, path: str, role: str = "update", **extra: object) -> dict[str, object]:
    return {"host": "www1", "task": "t", "role": role, "action": action, "path": path, "unreachable": False,
            "changed": False, "message": "m", **extra}


@pytest.mark.parametrize(
    ("failures", "changed", "refused"),
    [
        ([failure("ansible.builtin.assert", "/r/roles/update/tasks/inspect.yml:3")], [], True),
        ([failure("fail", "/r/roles/update/tasks/inspect.yml:22")], [], True),
        ([failure("bxops.bitrix.bitrix_php_facts", "/r/roles/php_upgrade/tasks/preflight.yml:9")], [], True),
        ([failure("bxops.bitrix.bitrix_site_info", "/r/roles/common/tasks/site.yml:15", role="common")], [], True),
        ([failure("bxops.bitrix.bitrix_site_lock", "/r/roles/common/tasks/lock.yml:7", role="common")], [], True),
        # a failure of real work is a failed run, and so is anything after a change or an unreachable host
        ([failure("bxops.bitrix.bitrix_updates", "/r/roles/update/tasks/apply.yml:5")], [], False),
        ([failure("bxops.bitrix.bitrix_site_info", "/r/roles/audit/tasks/site.yml:1", role="audit")], [], False),
        ([failure("ansible.builtin.assert", "/r/roles/update/tasks/verify.yml:1")], [{"host": "www1"}], False),
        ([failure("ansible.builtin.assert", "/r/x.yml:1", changed=True)], [], False),
        ([failure("ansible.builtin.assert", "/r/x.yml:1", unreachable=True)], [], False),
        ([], [], False),
    ],
)
def test_what_counts_as_refused_before_any_change(
    failures: list[dict[str, object]], changed: list[object], refused: bool
) -> None:
    assert refused_before_change(failures, changed, {"www1": {"changed": 0}}) is refused
    if refused:
        assert refused_before_change(failures, [], {"www1": {"changed": 1}}) is False  # a handler changed it

"""A real playbook through ansible-runner against localhost: durations against the wall clock,
work type from the role, per-host stats, set_stats audit data, and no secret in the ledger."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import pytest

from .conftest import BASE_TERM, Workspace, one_run_pool_contract

SLEEP = 3


def test_run_records_durations_against_the_wall_clock(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    before = time.time()
    done = ws.cli(
        "run",
        "t1",
        "staging",
        "tiny",
        "--ticket",
        "BX-123",
        "--note",
        "monthly audit",
        "-e",
        f"tiny_sleep={SLEEP}",
        "-e",
        "db_password=hunter2-secret",
    )
    wall = time.time() - before
    assert "succeeded" in done.stdout and "remaining" in done.stdout
    [entry] = ws.history()
    assert entry["status"] == "succeeded" and entry["return_code"] == 0
    assert entry["kind"] == "run" and entry["environment"] == "staging" and entry["playbook"] == "tiny"
    assert entry["ticket"] == "BX-123" and entry["note"] == "monthly audit" and entry["engineer"] == "tester"
    started = datetime.fromisoformat(entry["started_at"]).timestamp()
    ended = datetime.fromisoformat(entry["ended_at"]).timestamp()
    assert before <= started < ended <= before + wall
    assert SLEEP <= entry["raw_seconds"] <= wall + 1
    assert abs(entry["raw_seconds"] - (ended - started)) <= 1
    assert entry["billed_seconds"] == 15 * 60
    # roles and plays from the event stream
    assert entry["role_seconds"]["audit"] >= SLEEP
    assert entry["role_seconds"]["audit"] <= entry["raw_seconds"] + 1
    [play] = entry["play_seconds"]
    assert play["play"] == "Tiny audit" and SLEEP <= play["seconds"] <= entry["raw_seconds"] + 1
    assert entry["work_type"] == "maintenance" and entry["options"]["work_type_source"] == "role:audit"
    assert entry["hosts"] == ["localhost"]
    assert entry["host_stats"]["localhost"]["changed"] == 1 and entry["host_stats"]["localhost"]["ok"] >= 3
    assert entry["changed"] == [{"host": "localhost", "task": "Wait a known time", "role": "audit"}]
    assert entry["audit_data"] == {"disk_free_mb": 1234, "db_password": "***"}
    assert entry["options"]["extra_vars"]["db_password"] == "***"
    assert entry["options"]["limit"] == "staging"
    # artifacts kept; no secret and no event stdout in the ledger
    artifacts = Path(entry["artifacts_dir"])
    assert artifacts.parent == ws.artifacts / "t1" and (artifacts / "job_events").is_dir()
    assert json.loads((artifacts / "command").read_text())["env"]["BXOPS_LEDGER_URL"] == "***"
    ledger_bytes = b"".join(p.read_bytes() for p in Path(ws.ledger_url).parent.glob("ledger.sqlite*"))
    assert b"hunter2-secret" not in ledger_bytes
    assert b"should-never-reach-the-ledger" not in ledger_bytes


def test_estimate_refusal_and_recorded_override(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    ws.write_contract(one_run_pool_contract())
    ws.cli("run", "t1", "staging", "tiny", "-e", "tiny_sleep=0")
    refused = ws.cli("run", "t1", "staging", "tiny", check=False)
    assert refused.returncode == 3
    assert refused.stderr.startswith("bxops: error: run refused: estimated 0.25 h but 0.00 h remain")
    assert len(ws.history()) == 1
    ws.cli("run", "t1", "staging", "tiny", "-e", "tiny_sleep=0", "--allow-overage", "--work-type", "bugfix")
    latest = ws.history()[0]
    assert latest["overage_override"] is True and latest["estimate_seconds"] == 15 * 60
    assert latest["work_type"] == "bugfix" and latest["options"]["work_type_source"] == "flag"
    assert ws.balance()["overage_seconds"] == 15 * 60


def test_failed_run_and_check_mode(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    ws.write_contract({"terms": [{**BASE_TERM, "playbooks": {"tiny": "documentation"}}]})
    done = ws.cli("run", "t1", "staging", "tiny", "--check", "-e", "tiny_fail=true", check=False)
    entry = ws.history()[0]
    # a `fail` task before any change: refused, not billed (test_failures.py has the details)
    assert done.returncode != 0 and entry["status"] == "refused" and entry["return_code"] != 0
    assert entry["billed_seconds"] == 0
    assert entry["options"]["check"] is True
    assert entry["work_type"] == "documentation"  # the playbook map wins over the role
    assert entry["host_stats"]["localhost"]["failures"] == 1
    assert "localhost: Fail when asked to failed:" in done.stdout and "failing as asked (tiny_fail)" in done.stdout


@pytest.mark.parametrize("limit", ["localhost", "nonexistent"])
def test_limit_stays_inside_the_environment(sqlite_workspace: Workspace, limit: str) -> None:
    done = sqlite_workspace.cli("run", "t1", "production", "tiny", "--limit", limit, check=False)
    entry = sqlite_workspace.history()[0]
    assert entry["options"]["limit"] == f"production:&{limit}"
    assert entry["hosts"] == []  # localhost is in staging only: nothing ran
    assert done.returncode in (0, 1, 2, 4)
    assert json.dumps(entry)  # serialisable

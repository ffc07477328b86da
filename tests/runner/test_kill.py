"""Killing a real runner process: SIGKILL leaves a `running` entry that the next invocation marks
`interrupted` (timed to the last heartbeat); SIGINT stops Ansible and records `cancelled`."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

from .conftest import RUNNER, Workspace
from .processes import alive, descendants, reach_sleep_task, running_entry, wait_for_sleep_task

HEARTBEAT = "0.5"


def start_slow_run(workspace: Workspace) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(RUNNER), "run", "t1", "staging", "slow", "-e", "slow_sleep=300"],
        env=workspace.env(BXOPS_HEARTBEAT_SECONDS=HEARTBEAT),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_then_next_invocation_marks_interrupted(
    sqlite_workspace: Workspace, cleanup: list[int]
) -> None:
    ws = sqlite_workspace
    process = start_slow_run(ws)
    entry = reach_sleep_task(ws, process, cleanup)
    time.sleep(2.0)  # a few more heartbeats
    os.kill(process.pid, signal.SIGKILL)
    killed_at = datetime.now(UTC)
    process.communicate(timeout=30)
    for pid in cleanup[1:]:  # ansible-playbook lives on in its own session: stop it as a test tidy-up
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    still = running_entry(ws.ledger_url)
    assert still is not None and still.id == entry.id  # nothing closed it yet

    done = ws.cli("history", "--json")
    assert f"run #{entry.id}" in done.stderr and "interrupted" in done.stderr
    [recorded] = [e for e in ws.history() if e["id"] == entry.id]
    assert recorded["status"] == "interrupted"
    started = datetime.fromisoformat(recorded["started_at"])
    ended = datetime.fromisoformat(recorded["ended_at"])
    assert ended <= killed_at
    up_to_kill = (killed_at - started).total_seconds()
    assert up_to_kill - 2 * float(HEARTBEAT) - 1.5 <= recorded["raw_seconds"] <= up_to_kill + 1
    assert recorded["raw_seconds"] >= 2
    assert recorded["billed_seconds"] == 15 * 60
    # the work type decided at its start (slow.yml names the cleanup role: maintenance) is kept
    assert recorded["work_type"] == "maintenance"
    assert ws.balance()["by_work_type"][0]["work_type"] == "maintenance"
    assert ws.cli("history", "--json").stderr == ""  # recovered once only


def test_sigint_cancels_cleanly(sqlite_workspace: Workspace, cleanup: list[int]) -> None:
    ws = sqlite_workspace
    before = time.time()
    process = start_slow_run(ws)
    cleanup.append(process.pid)
    entry = wait_for_sleep_task(ws, process)
    children = descendants(process.pid)
    cleanup.extend(children)
    assert children, "ansible-playbook should be running under the runner"
    os.kill(process.pid, signal.SIGINT)
    _out, err = process.communicate(timeout=60)
    wall = time.time() - before
    assert process.returncode == 130, err
    assert "Traceback" not in err
    time.sleep(0.5)
    assert not [pid for pid in children if alive(pid)], "Ansible was left running"
    [recorded] = [e for e in ws.history() if e["id"] == entry.id]
    assert recorded["status"] == "cancelled"
    assert 1 <= recorded["raw_seconds"] <= wall + 1
    assert recorded["billed_seconds"] == 15 * 60
    assert recorded["role_seconds"].get("cleanup", 0) > 0
    assert recorded["hosts"] == ["localhost"]

"""`run` starts ansible-playbook before the ledger has the run, held before its first task: Ansible
changes nothing on a host until the entry is written as `running`; held Ansible exits by itself when the
runner dies; a run refused or failing a check afterwards leaves neither a process nor artifacts."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from .conftest import RUNNER, Workspace, base_contract, one_run_pool_contract
from .processes import alive, descendants


def marker_run(ws: Workspace, marker: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(RUNNER), "run", "t1", "staging", "marker", "-e", f"marker_path={marker}", *extra],
        env=ws.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextmanager
def ledger_write_lock(url: str) -> Iterator[None]:
    """Hold the SQLite ledger's write lock, as a second engineer's long transaction would."""
    connection = sqlite3.connect(url, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def entries(url: str) -> list[tuple[int, str]]:
    with sqlite3.connect(url) as connection:
        return list(connection.execute("SELECT id, status FROM entries ORDER BY id"))


def job_events(ws: Workspace) -> list[dict[str, object]]:
    events = []
    for path in sorted(ws.artifacts.glob("t1/*/job_events/*.json")):
        try:
            events.append(json.loads(path.read_text()))
        except ValueError:  # being written
            continue
    return events


def wait_until_held(ws: Workspace, process: subprocess.Popen[str], timeout: float = 120) -> None:
    """Until ansible-playbook has booted and reached the gate (its playbook_on_start event is out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if any(event.get("event") == "playbook_on_start" for event in job_events(ws)):
            return
        time.sleep(0.1)
    raise AssertionError("ansible-playbook never reached the gate")


def held_marker_run(ws: Workspace, marker: Path, leftovers: list[int]) -> subprocess.Popen[str]:
    """A runner whose ansible-playbook has booted and waits at the gate (the caller holds the ledger)."""
    process = marker_run(ws, marker)
    leftovers.append(process.pid)
    wait_until_held(ws, process)
    return process


def ansible_processes(playbook: str = "marker.yml") -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if playbook in cmdline.read_bytes().decode(errors="replace") and alive(int(cmdline.parent.name)):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


@pytest.fixture
def leftovers() -> Iterator[list[int]]:
    """Processes to kill after the test, should it fail half-way."""
    pids: list[int] = []
    yield pids
    for pid in [*pids, *ansible_processes()]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def ledger_ready(sqlite_workspace: Workspace) -> Workspace:
    sqlite_workspace.cli("history")  # creates and migrates the ledger (WAL)
    return sqlite_workspace


def test_ansible_waits_for_the_ledger_before_its_first_task(
    ledger_ready: Workspace, tmp_path: Path, leftovers: list[int]
) -> None:
    ws, marker = ledger_ready, tmp_path / "marker"
    with ledger_write_lock(ws.ledger_url):
        process = held_marker_run(ws, marker, leftovers)
        time.sleep(2.0)  # Ansible has booted and would have run its first task long ago
        assert process.poll() is None
        assert not marker.exists()
        assert entries(ws.ledger_url) == []
        assert [e["event"] for e in job_events(ws) if e.get("event") != "verbose"] == ["playbook_on_start"]
        released = datetime.now(UTC)
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert marker.read_text() == "ran\n"
    [entry] = ws.history()
    assert entry["status"] == "succeeded" and entry["playbook"] == "marker"
    started = datetime.fromisoformat(entry["started_at"])
    first_task = min(
        datetime.fromisoformat(str(e["created"])) for e in job_events(ws) if e["event"] == "playbook_on_task_start"
    )
    assert started < released < first_task  # the run counts from Ansible's start; tasks began after the entry
    assert entry["raw_seconds"] >= 2  # the wait for the ledger is part of the run, as it always was


def test_held_ansible_exits_when_the_runner_is_killed(
    ledger_ready: Workspace, tmp_path: Path, leftovers: list[int]
) -> None:
    ws, marker = ledger_ready, tmp_path / "marker"
    with ledger_write_lock(ws.ledger_url):
        process = held_marker_run(ws, marker, leftovers)
        held = descendants(process.pid)
        leftovers.extend(held)
        assert held, "ansible-playbook should be held under the runner"
        process.kill()
        process.communicate(timeout=30)
        deadline = time.monotonic() + 10
        while [pid for pid in held if alive(pid)] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in held if alive(pid)], "held ansible-playbook outlived its runner"
    assert not marker.exists()
    assert entries(ws.ledger_url) == []  # the runner died before writing the run: nothing to recover
    assert ws.cli("history").stderr == ""


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        ((), 3, "bxops: error: run refused: estimated 0.25 h but 0.00 h remain"),
        (("--work-type", "gardening"), 1, "bxops: error: unknown work type 'gardening' for t1"),
    ],
)
def test_refused_or_failing_run_leaves_no_process_and_no_artifacts(
    ledger_ready: Workspace, tmp_path: Path, extra: tuple[str, ...], code: int, message: str
) -> None:
    ws, marker = ledger_ready, tmp_path / "marker"
    ws.write_contract(one_run_pool_contract())
    ws.cli("run", "t1", "staging", "tiny", "-e", "tiny_sleep=0")  # uses up the month
    before = sorted(p.name for p in (ws.artifacts / "t1").iterdir())
    process = marker_run(ws, marker, *extra)
    _out, err = process.communicate(timeout=120)
    assert process.returncode == code and err.startswith(message), err
    assert not marker.exists()
    assert ansible_processes() == []
    assert sorted(p.name for p in (ws.artifacts / "t1").iterdir()) == before
    assert len(entries(ws.ledger_url)) == 1


def test_nothing_is_left_when_the_first_run_of_a_client_is_refused(ledger_ready: Workspace, tmp_path: Path) -> None:
    """No artifacts folder for the client appears for a run that never ran."""
    ws = ledger_ready
    ws.write_contract(base_contract(hours_per_month=0, billing_period="month", overage={"policy": "refuse"}))
    process = marker_run(ws, tmp_path / "marker")
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 3, err
    assert not (ws.artifacts / "t1").exists()


def test_the_gate_plugin_and_the_runner_agree_on_its_names() -> None:
    """Ansible loads the plugin on its own, so the runner repeats its names instead of importing it."""
    from bxops import ansible_job
    from bxops.ansible_callbacks import bxops_run_gate

    runner_side = (ansible_job.GATE_ENV, ansible_job.GATE_PID_ENV, ansible_job.OPEN_NAME)
    assert runner_side == (bxops_run_gate.GATE_ENV, bxops_run_gate.GATE_PID_ENV, bxops_run_gate.OPEN_NAME)
    assert (ansible_job.CALLBACK_PLUGINS_DIR / "bxops_run_gate.py").is_file()

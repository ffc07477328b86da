"""A paused runner (SIGSTOP: a suspended laptop, a stopped job) is alive: on its own machine a run lives
exactly as long as its runner process (pid and start time), whatever its heartbeat says. When a run
from another machine was taken for dead (stale heartbeat) and ends after all, its real outcome is
recorded as a correction that replaces the interrupted entry: counted once, and said on the console."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from sqlalchemy import update

from bxops.ledger.database import open_ledger
from bxops.ledger.models import Entry

from .conftest import RUNNER, Workspace
from .test_kill import cleanup, descendants, running_entry, wait_for_sleep_task

__all__ = ["cleanup"]  # the fixture, shared with test_kill

HEARTBEAT = 0.5
#: Longer than entries.STALE_HEARTBEATS * HEARTBEAT + STALE_GRACE_SECONDS (3 * 0.5 + 10)
STALE_AFTER = 13.0
SLEEP = 22


def start(ws: Workspace) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(RUNNER), "run", "t1", "staging", "slow", "-e", f"slow_sleep={SLEEP}"],
        env=ws.env(BXOPS_HEARTBEAT_SECONDS=str(HEARTBEAT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_paused_runner_is_not_marked_interrupted(sqlite_workspace: Workspace, cleanup: list[int]) -> None:
    ws = sqlite_workspace
    process = start(ws)
    cleanup.append(process.pid)
    entry = wait_for_sleep_task(ws, process)
    cleanup.extend(descendants(process.pid))
    os.kill(process.pid, signal.SIGSTOP)
    try:
        time.sleep(STALE_AFTER)  # its heartbeat is long overdue
        looked = ws.cli("history", "--json")  # opening the ledger recovers dead runs
        assert "interrupted" not in looked.stderr
        still = running_entry(ws.ledger_url)
        assert still is not None and still.id == entry.id
    finally:
        os.kill(process.pid, signal.SIGCONT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, out + err
    assert "correction" not in err
    entries = ws.history()
    assert [(e["id"], e["status"]) for e in entries] == [(entry.id, "succeeded")]
    assert entries[0]["raw_seconds"] >= SLEEP
    assert ws.balance()["used_billed_seconds"] == 15 * 60


def test_late_finish_after_interrupted_is_recorded_once_as_a_correction(
    sqlite_workspace: Workspace, cleanup: list[int]
) -> None:
    ws = sqlite_workspace
    process = start(ws)
    cleanup.append(process.pid)
    entry = wait_for_sleep_task(ws, process)
    cleanup.extend(descendants(process.pid))
    os.kill(process.pid, signal.SIGSTOP)
    try:
        # As if it ran on another machine: no process to look at there, only its heartbeat.
        ledger = open_ledger(ws.ledger_url)
        with ledger.transaction() as session:
            session.execute(update(Entry).where(Entry.id == entry.id).values(runner_host="another-machine"))
        ledger.dispose()
        time.sleep(STALE_AFTER)
        looked = ws.cli("history", "--json")
        assert f"run #{entry.id}" in looked.stderr and "interrupted" in looked.stderr
    finally:
        os.kill(process.pid, signal.SIGCONT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, out + err
    assert f"run #{entry.id} had been recorded as interrupted while it was still running" in err
    everything = {e["id"]: e for e in ws.history()}
    interrupted = everything[entry.id]
    [correction] = [e for e in everything.values() if e["corrects_id"] == entry.id]
    assert interrupted["status"] == "interrupted"
    assert correction["status"] == "succeeded" and correction["kind"] == "run"
    assert f"correction #{correction['id']}" in err
    assert correction["raw_seconds"] >= SLEEP > interrupted["raw_seconds"]
    assert correction["work_type"] == "maintenance" and correction["hosts"] == ["localhost"]
    # counted once: the correction replaces the interrupted entry in every sum
    in_force = ws.cli("history", "--json").stdout
    assert f'"id": {entry.id},' not in in_force
    balance = ws.balance()
    assert balance["used_billed_seconds"] == 15 * 60
    assert [(w["work_type"], w["entries"]) for w in balance["by_work_type"]] == [("maintenance", 1)]
    assert balance["used_raw_seconds"] == correction["raw_seconds"]

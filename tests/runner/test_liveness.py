"""A paused runner (SIGSTOP: a suspended laptop, a stopped job) is alive: on its own machine a run lives
exactly as long as its runner process (pid and start time), whatever its heartbeat says. When a run
from another machine was taken for dead (stale heartbeat) and ends after all, its real outcome is
recorded as a correction that replaces the interrupted entry: counted once, and said on the console."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import update

from bxops.ledger.database import open_ledger
from bxops.ledger.models import Entry

from .conftest import RUNNER, Workspace, make_workspace
from .processes import reach_sleep_task, running_entry

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


def pause_outside_a_write(process: subprocess.Popen[str], db_path: str) -> None:
    """SIGSTOP the runner at a moment it holds no write lock on its SQLite ledger. Its heartbeat writes
    every HEARTBEAT seconds: a runner stopped inside that write keeps the database locked for as long as
    it is stopped, and the test could not look at the ledger (a loaded machine makes that likely)."""
    for _ in range(200):
        os.kill(process.pid, signal.SIGSTOP)
        probe = sqlite3.connect(db_path, timeout=0.2)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.rollback()
            return
        except sqlite3.OperationalError:
            os.kill(process.pid, signal.SIGCONT)
            time.sleep(0.05)
        finally:
            probe.close()
    raise AssertionError("the runner held its ledger's write lock at every attempt to pause it")


@dataclass
class PausedRun:
    """A run paused (SIGSTOP) past the stale-heartbeat limit, then let go and finished."""

    ws: Workspace
    entry: Entry
    looked: subprocess.CompletedProcess[str]  # `history --json` while it was paused
    still: Entry | None  # the running entry as the ledger showed it then
    returncode: int
    out: str
    err: str


@pytest.fixture(scope="module")
def paused(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, PausedRun]]:
    """Both situations share one pause (they wait the same STALE_AFTER): `local` is a run on this
    machine; `remote` is one made to look as if it ran on another machine (no process to look at there,
    only its heartbeat). Each is in its own workspace; the tests assert on what happened to each."""
    pids: list[int] = []
    try:
        workspaces = {
            name: make_workspace(
                tmp_path_factory.mktemp(name), str(tmp_path_factory.getbasetemp() / f"{name}.sqlite")
            )
            for name in ("local", "remote")
        }
        processes = {name: start(ws) for name, ws in workspaces.items()}
        entries = {name: reach_sleep_task(workspaces[name], processes[name], pids) for name in processes}
        for name, process in processes.items():
            pause_outside_a_write(process, str(tmp_path_factory.getbasetemp() / f"{name}.sqlite"))
        looked: dict[str, subprocess.CompletedProcess[str]] = {}
        still: dict[str, Entry | None] = {}
        try:
            ledger = open_ledger(workspaces["remote"].ledger_url)
            with ledger.transaction() as session:
                session.execute(
                    update(Entry).where(Entry.id == entries["remote"].id).values(runner_host="another-machine")
                )
            ledger.dispose()
            time.sleep(STALE_AFTER)  # both heartbeats are long overdue
            for name, ws in workspaces.items():
                looked[name] = ws.cli("history", "--json")  # opening the ledger recovers dead runs
                still[name] = running_entry(ws.ledger_url)
        finally:
            for process in processes.values():
                os.kill(process.pid, signal.SIGCONT)
        done = {name: process.communicate(timeout=120) for name, process in processes.items()}
        yield {
            name: PausedRun(
                workspaces[name], entries[name], looked[name], still[name],
                processes[name].returncode, *done[name],
            )
            for name in processes
        }
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_paused_runner_is_not_marked_interrupted(paused: dict[str, PausedRun]) -> None:
    run = paused["local"]
    ws, entry = run.ws, run.entry
    assert "interrupted" not in run.looked.stderr
    assert run.still is not None and run.still.id == entry.id
    assert run.returncode == 0, run.out + run.err
    assert "correction" not in run.err
    entries = ws.history()
    assert [(e["id"], e["status"]) for e in entries] == [(entry.id, "succeeded")]
    assert entries[0]["raw_seconds"] >= SLEEP
    assert ws.balance()["used_billed_seconds"] == 15 * 60


def test_late_finish_after_interrupted_is_recorded_once_as_a_correction(paused: dict[str, PausedRun]) -> None:
    run = paused["remote"]
    ws, entry, err = run.ws, run.entry, run.err
    assert f"run #{entry.id}" in run.looked.stderr and "interrupted" in run.looked.stderr
    assert run.returncode == 0, run.out + err
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

"""Helpers for the tests that start real runner processes and stop, pause or kill them."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from bxops.ledger.database import open_ledger
from bxops.ledger.models import Entry

from .conftest import Workspace


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def running_entry(url: str) -> Entry | None:
    ledger = open_ledger(url)
    try:
        with ledger.sessions() as session:
            return session.query(Entry).filter(Entry.status == "running").one_or_none()
    finally:
        ledger.dispose()


def wait_for_sleep_task(workspace: Workspace, process: subprocess.Popen[str], timeout: float = 120) -> Entry:
    """Until Ansible has started the long task (seen in the run's artifacts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        entry = running_entry(workspace.ledger_url)
        if entry is not None and entry.artifacts_dir:
            events = Path(entry.artifacts_dir) / "job_events"
            if events.is_dir() and any("Sleep a long time" in p.read_text() for p in events.glob("*.json")):
                return entry
        time.sleep(0.3)
    raise AssertionError("the slow playbook never reached its long task")


def reach_sleep_task(workspace: Workspace, process: subprocess.Popen[str], cleanup: list[int]) -> Entry:
    """Until the run reaches its long task; the runner and everything under it go on `cleanup`."""
    cleanup.append(process.pid)
    entry = wait_for_sleep_task(workspace, process)
    cleanup.extend(descendants(process.pid))
    return entry

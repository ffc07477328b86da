"""Stopping Ansible and everything it started (Linux /proc), for a clean Ctrl-C.

ansible-runner cancels by SIGKILLing ansible-playbook's process group, which misses the workers' own
sessions (a local `command` task keeps running). So on cancel we first interrupt ansible-playbook
as a terminal's Ctrl-C would, then terminate what is left of the whole tree.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from bxops.liveness import is_alive


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="ascii", errors="replace").rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return children


def descendants(pid: int) -> list[int]:
    """Every process below pid, parents before children."""
    children = _children_map()
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(0), []):
            found.append(child)
            todo.append(child)
    return found


def _signal_all(pids: list[int], signum: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    left = [pid for pid in pids if is_alive(pid)]
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [pid for pid in left if is_alive(pid)]
    return left


def stop_children(grace_seconds: float = 5.0) -> None:
    """Interrupt our child processes (ansible-playbook), then terminate and kill what remains below us."""
    tree = descendants(os.getpid())
    if not tree:
        return
    direct = set(_children_map().get(os.getpid(), []))
    _signal_all([pid for pid in tree if pid in direct], signal.SIGINT)
    left = _wait_gone(tree, grace_seconds)
    left = [*left, *(pid for pid in descendants(os.getpid()) if pid not in left)]
    _signal_all(left, signal.SIGTERM)
    left = _wait_gone(left, 2.0)
    _signal_all(left, signal.SIGKILL)

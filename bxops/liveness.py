"""Is a process still the one we think it is? pid plus its start time (and the machine's boot), from /proc.

The runner's one answer (the ledger's running entries, ansible-runner's private data folders, the run
gate inside ansible-playbook, stopping Ansible's process tree). Standard library only: the run gate
(bxops/ansible_callbacks/bxops_run_gate.py) runs inside ansible-playbook, where bxops is not importable,
and loads this file by its path.

A pid alone is reused after its process dies; the start time (clock ticks since boot, field 22 of
/proc/<pid>/stat) together with the boot id tells the same process from a newcomer with its pid.
The host side reads /proc the same way in plugins/module_utils/bitrix_process.py (host modules are
stdlib-only and cannot import bxops): a holder recorded here is checked there; keep the two in step
(tests/test_bitrix_process.py compares them).
"""

from __future__ import annotations

import os
from pathlib import Path


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return "unknown-boot"


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (the state is [0]), read after the last `)`
    so that a command name holding `)` or spaces cannot shift them."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()
    return fields if len(fields) > 19 else None


def process_start(pid: int) -> str | None:
    """`<boot id> <start ticks>` of a living process; None when there is none (or only a zombie)."""
    if pid <= 0:
        return None
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return f"{boot_id()} {fields[19]}"


def is_same_process_alive(pid: int, start: str) -> bool:
    """True while the process that had `start` (from process_start) under `pid` lives."""
    return process_start(pid) == start


def is_alive(pid: int) -> bool:
    """Whether some process (not a zombie) has this pid now, whichever it is: for a pid recorded without
    its start time, or a child of ours. pid 0 and negative pids (process groups to os.kill) are none."""
    if pid <= 0:
        return False
    fields = _stat_fields(pid)
    if fields is not None:
        return fields[0] not in ("Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process whose /proc entry is hidden (hidepid)
    except OSError:
        return False
    return True


def identity(pid: int) -> str | None:
    """`<pid> <boot id> <start ticks>`: one string naming a living process, for a file to record."""
    start = process_start(pid)
    return None if start is None else f"{pid} {start}"


def is_identity_alive(record: str) -> bool:
    """True while the process that `identity()` described as `record` lives."""
    pid, _, start = record.strip().partition(" ")
    return pid.isdigit() and bool(start) and is_same_process_alive(int(pid), start)

"""Is a process still the one we think it is? pid plus its start time (and the machine's boot), from /proc.

A pid alone is reused after its process dies; the start time (clock ticks since boot, field 22 of
/proc/<pid>/stat) together with the boot id tells the same process from a newcomer with its pid.
The host side reads /proc the same way in plugins/module_utils/bitrix_process.py (host modules are
stdlib-only and cannot import bxops): a holder recorded here is checked there; keep the two in step
(tests/test_bitrix_process.py compares them).
"""

from __future__ import annotations

from pathlib import Path


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return "unknown-boot"


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()
    return fields if len(fields) > 19 else None


def process_start(pid: int) -> str | None:
    """`<boot id> <start ticks>` of a living process; None when there is none (or only a zombie)."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return f"{boot_id()} {fields[19]}"


def is_same_process_alive(pid: int, start: str) -> bool:
    """True while the process that had `start` (from process_start) under `pid` lives."""
    return process_start(pid) == start

# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is a process still the one we think it is? The collection's one answer on the managed host.

A process is identified by {host, pid, start}: `start` is `"<boot id> <start ticks>"`, the machine's boot id
(/proc/sys/kernel/random/boot_id) and the process's start time in clock ticks since boot (field 22 of
/proc/<pid>/stat, read after the last `)` so a command name holding `)` or spaces cannot shift the fields).
A pid alone is reused after its process dies; with the start time and the boot id a newcomer under the same
pid, or the same pid after a reboot, is told apart. A zombie counts as gone.

The runner (bxops/liveness.py, on the controller) reads /proc/<pid>/stat exactly the same way and writes the
same `start` string, so a lock holder recorded by the runner is checked here (bitrix_site_lock). Host modules
are stdlib-only and cannot import bxops: keep the two in step.

Used by the site lock (bitrix_site_lock), the updater's journal (bitrix_updates) and the orphans' quarantine
batches (bitrix_orphans).

The privilege drop is written here once too: root never runs the site's PHP, so a child that reads or runs
the site's code (the updater's console and steps, cron_events.php, php -l and the token scan of the PHP
compatibility check) is started as the site user with its own group only (`as_site_user`, subprocess
keyword arguments: user, group, and no supplementary groups).
"""
from __future__ import annotations

import os
import pwd
import socket
from typing import Any

ALIVE, DEAD, UNKNOWN = "alive", "dead", "unknown"


def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return "unknown-boot"


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (field 3, the state, is [0])."""
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[-1].split()
    except (OSError, ValueError):
        return None
    return fields if len(fields) > 19 else None


def process_start(pid: int) -> str | None:
    """`"<boot id> <start ticks>"` of a living process; None when there is none (or only a zombie)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return "%s %s" % (boot_id(), fields[19])


def identity_of(pid: int) -> dict[str, Any] | None:
    """{host, pid, start} of a living process on this machine; None when there is none."""
    start = process_start(pid)
    return None if start is None else {"host": socket.gethostname(), "pid": pid, "start": start}


def current_identity() -> dict[str, Any]:
    """{host, pid, start} of this process (what a journal, a batch or a lock records of its writer)."""
    identity = identity_of(os.getpid())
    assert identity is not None  # this process is alive
    return identity


def state(identity: Any) -> str:
    """ALIVE while the recorded process lives; DEAD when it is gone (or its pid is someone else's now);
    UNKNOWN when the record cannot be checked here (no pid or start recorded, or another machine's)."""
    if not isinstance(identity, dict):
        return UNKNOWN
    host = identity.get("host")
    if host and host != socket.gethostname():
        return UNKNOWN
    try:
        pid = int(identity.get("pid"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return UNKNOWN
    start = identity.get("start")
    if not start or pid <= 0:
        return UNKNOWN
    return ALIVE if process_start(pid) == str(start) else DEAD


def alive(identity: Any) -> bool:
    """True while the process recorded as {host, pid, start} lives; False when it is gone or cannot be checked."""
    return state(identity) == ALIVE


class NoSuchUser(ValueError):
    """The site user named in the inventory does not exist on this host."""


def site_user(name: str) -> pwd.struct_passwd:
    """The site user's passwd entry; NoSuchUser (one line naming it and bitrix_site_user) when there is none."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise NoSuchUser(f"the site user {name} does not exist on this host (bitrix_site_user)") from None


def as_site_user(name: str) -> dict[str, Any]:
    """subprocess keyword arguments that start a child as the site user, with its own group only and no
    supplementary groups (root's groups are not inherited), when we are root; {} when we are not (then the
    child already runs with no more rights than we have)."""
    entry = site_user(name)
    if os.geteuid() != 0:
        return {}
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def site_user_env(name: str, keep: tuple[str, ...] = ("LANG", "LC_", "PATH")) -> dict[str, str]:
    """The environment for a child run as the site user: ours filtered to the names starting with `keep`,
    with the site user's HOME, USER and LOGNAME (never root's HOME), and a PATH."""
    entry = site_user(name)
    env = {k: v for k, v in os.environ.items() if k.startswith(keep)}
    env.update(HOME=entry.pw_dir, USER=entry.pw_name, LOGNAME=entry.pw_name)
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    return env

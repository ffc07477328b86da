# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-site maintenance lock: where it lives and the rules to take and release it, in one place.

Used by the bitrix_site_lock module (what common's lock/unlock tasks run) and by the backup role's scheduled
runner on the host (roles/backup/files/bxops_backup_scheduled.py), so that a scheduled backup and a
maintenance run never disagree on the file or on who may take it.

- Path: ``<state_dir>/locks/<docroot with each run of non-alphanumerics as _>.lock``.
- Every taker and releaser first takes an exclusive flock on the lock's folder, so reading the lock,
  deciding and replacing it is one step; the new content is written to a temporary file and renamed over it.
- Taking a lock the same owner holds succeeds without change. Another owner's lock is refused unless that
  owner is gone: its holder process ran on this machine and is dead (taken over at once), or, when that
  cannot be checked here (another machine, or no holder recorded), the lock is older than ``stale_after``.
  A lock whose holder lives on this machine is never taken over, however old. An unreadable lock file
  counts as a lock of unknown holder, as old as the file.
- Releasing removes the lock only when the owner holds it.

Stdlib only, Python 3.9 (it runs on managed hosts).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
import tempfile
import time
from typing import Any

from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_process import UNKNOWN, state

#: Seconds after which a lock whose holder cannot be checked counts as abandoned (common's default).
DEFAULT_STALE_AFTER = 21600


def lock_path(state_dir: str, docroot: str) -> str:
    """The site's lock file: /var/lib/bxops + /home/bitrix/www -> /var/lib/bxops/locks/_home_bitrix_www.lock."""
    return "{}/locks/{}.lock".format(state_dir.rstrip("/") or "", re.sub(r"[^A-Za-z0-9]+", "_", docroot))


class Locked(Exception):
    """Another owner holds the lock and is not gone; ``holder`` is the lock's content."""

    def __init__(self, msg: str, holder: dict[str, Any]) -> None:
        super().__init__(msg)
        self.holder = holder


def read(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def current_lock(path: str) -> dict[str, Any]:
    """The lock's content; {} when there is none; an unreadable file counts as a lock of no known owner."""
    if not os.path.exists(path):
        return {}
    current = read(path)
    if not current:
        current = {"owner": None, "purpose": "unreadable lock file", "since": os.stat(path).st_mtime}
    return current


def holder_state(current: dict[str, Any]) -> str:
    """`alive`, `dead`, or `unknown` (no holder recorded, or it ran on another machine)."""
    holder = current.get("holder")
    if not isinstance(holder, dict) or holder.get("host") != socket.gethostname():
        return UNKNOWN
    return state(holder)


def age(current: dict[str, Any]) -> float:
    try:
        return time.time() - float(current.get("since", 0))
    except (TypeError, ValueError):
        return float("inf")


def since_text(current: dict[str, Any]) -> str:
    try:
        moment = float(current.get("since", 0))
    except (TypeError, ValueError):
        moment = 0.0
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(moment))


def write(path: str, content: dict[str, Any]) -> None:
    """Replace the lock file at once: a reader sees the old lock or the new one, never half of one."""
    write_json_atomically(path, content, 0o640)


def write_json_atomically(path: str, content: dict[str, Any], mode: int, pretty: bool = False) -> None:
    """Write ``content`` as JSON to ``path`` (outside any docroot: bxops' own state) by a synced temporary file
    renamed over it, so a reader sees the old file or the new one. Also the scheduled backup's status record."""
    folder = os.path.dirname(path)
    fd, temporary = tempfile.mkstemp(prefix=".bxops-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), mode)
            if pretty:
                json.dump(content, handle, indent=1, sort_keys=True)
            else:
                json.dump(content, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


class FolderLock:
    """An exclusive flock on the lock's folder for one read-decide-write step."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.fd = -1

    def __enter__(self) -> FolderLock:
        self.fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *_exc: object) -> None:
        os.close(self.fd)  # releases the flock


def take(path: str, owner: str, purpose: str, stale_after: int, holder: dict[str, Any] | None = None,
         check_mode: bool = False) -> tuple[bool, dict[str, Any], dict[str, Any] | None]:
    """Take the lock for `owner`: (changed, the lock's content after, the abandoned lock taken over or None).
    Raises Locked when another owner holds it and is not gone."""
    content: dict[str, Any] = {"owner": owner, "purpose": purpose, "since": int(time.time())}
    if holder is not None:
        content["holder"] = holder
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        if check_mode:
            return True, content, None
        os.makedirs(folder, mode=0o750, exist_ok=True)
    with FolderLock(folder):
        current = current_lock(path)
        if current.get("owner") == owner:
            return False, current, None
        taken_over = None
        if current:
            alive = holder_state(current)
            if alive == "alive" or (alive == UNKNOWN and age(current) < stale_after):
                raise Locked(
                    "site is locked by run %s (%s) since %s%s; wait for it or remove %s if that run is dead"
                    % (current.get("owner"), current.get("purpose"), since_text(current),
                       ", and its runner (pid %s) is alive" % current["holder"]["pid"] if alive == "alive" else "",
                       path),
                    current,
                )
            reason = "its holder process is gone" if alive == "dead" else "older than %ss" % stale_after
            taken_over = dict(current, reason=reason)
        if not check_mode:
            write(path, content)
    return True, content, taken_over


def release(path: str, owner: str, check_mode: bool = False) -> tuple[bool, dict[str, Any]]:
    """Release the lock when `owner` holds it: (changed, the lock's content after)."""
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        return False, {}
    with FolderLock(folder):
        current = current_lock(path)
        if current.get("owner") != owner:
            return False, current
        if not check_mode:
            os.unlink(path)
    return True, {}

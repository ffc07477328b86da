#!/usr/bin/python
# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: bitrix_site_lock
short_description: Take or release the per-site maintenance lock
author: bxops maintainers
description:
  - So that no two maintenance runs touch one site at once. The lock is a file holding the owner (a run
    id), the time, the purpose and, when given, the process that holds it for the run (O(holder)).
  - Every taker and releaser first takes an exclusive C(flock) on the lock's folder, so reading the lock,
    deciding and replacing it is one step; of two runs that find the same abandoned lock, exactly one
    takes it over. The new content is written to a temporary file and renamed over the lock.
  - Taking a lock the same owner already holds succeeds without change. A lock held by another owner
    fails with who holds it and since when, unless that owner is gone - its holder process ran on this
    machine and is dead (its pid is gone or now belongs to a process with another start time), taken
    over at once - or, when that cannot be checked here (the holder ran on another machine, or is not
    known), the lock is older than O(stale_after). A lock whose holder lives on this machine is never
    taken over, however old.
options:
  path:
    description: The lock file.
    type: path
    required: true
  owner:
    description: The run that takes or releases the lock.
    type: str
    required: true
  purpose:
    description: What the lock is taken for (shown to a refused run).
    type: str
    default: maintenance
  state:
    description: C(present) takes the lock, C(absent) releases it (only when O(owner) holds it).
    type: str
    choices: [present, absent]
    default: present
  stale_after:
    description: Seconds after which another owner's lock whose holder cannot be checked counts as
      abandoned and is taken over.
    type: int
    default: 21600
  holder:
    description:
      - The process that holds the lock for the run (bxops' runner passes its own), recorded in the lock
        and checked for liveness by a later taker on the same machine.
      - C(host) its machine's name, C(pid) its process id, C(start) its boot id and start time as
        C("<boot id> <start ticks>") (field 22 of C(/proc/<pid>/stat)), as module_utils/bitrix_process reads it.
    type: dict
    required: false
"""

EXAMPLES = r"""
- name: Lock the site
  bxops.bitrix.bitrix_site_lock:
    path: /var/lib/bxops/locks/home_bitrix_www.lock
    owner: "{{ __common_run_id }}"
    purpose: update
    holder: "{{ bxops_runner | default(omit) }}"
"""

RETURN = r"""
holder:
  description: The lock's content after the call (owner, purpose, since, and the holder process if known).
  type: dict
  returned: always
stale_taken_over:
  description: The abandoned lock that was taken over, and why (C(reason)).
  type: dict
  returned: when a lock was taken over
"""

import contextlib
import fcntl
import json
import os
import socket
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_process import UNKNOWN, state


def _read(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def holder_state(current: dict) -> str:
    """`alive`, `dead`, or `unknown` (no holder recorded, or it ran on another machine)."""
    holder = current.get("holder")
    if not isinstance(holder, dict) or holder.get("host") != socket.gethostname():
        return UNKNOWN
    return state(holder)


def _write(path: str, content: dict) -> None:
    """Replace the lock file at once: a reader sees the old lock or the new one, never half of one."""
    folder = os.path.dirname(path)
    fd, temporary = tempfile.mkstemp(prefix=".lock-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o640)
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


def _since(current: dict) -> str:
    try:
        moment = float(current.get("since", 0))
    except (TypeError, ValueError):
        moment = 0.0
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(moment))


def _age(current: dict) -> float:
    try:
        return time.time() - float(current.get("since", 0))
    except (TypeError, ValueError):
        return float("inf")


def _holder(module: AnsibleModule) -> dict | None:
    given = module.params["holder"]
    if not given:
        return None
    holder = {"host": str(given.get("host") or ""), "pid": given.get("pid"), "start": str(given.get("start") or "")}
    try:
        holder["pid"] = int(holder["pid"])
    except (TypeError, ValueError):
        module.fail_json(msg="holder.pid must be a process id, got %r" % (given.get("pid"),))
    if not holder["host"] or not holder["start"]:
        module.fail_json(msg="holder needs host, pid and start")
    return holder


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            owner=dict(type="str", required=True),
            purpose=dict(type="str", default="maintenance"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            stale_after=dict(type="int", default=21600),
            holder=dict(type="dict", required=False),
        ),
        supports_check_mode=True,
    )
    path, owner = module.params["path"], module.params["owner"]
    folder = os.path.dirname(path) or "."
    holder = _holder(module)

    if module.params["state"] == "absent":
        if not os.path.isdir(folder):
            module.exit_json(changed=False, holder={})
        with FolderLock(folder):
            current = _read(path) if os.path.exists(path) else {}
            if current.get("owner") != owner:
                module.exit_json(changed=False, holder=current)
            if not module.check_mode:
                os.unlink(path)
        module.exit_json(changed=True, holder={})

    content = {"owner": owner, "purpose": module.params["purpose"], "since": int(time.time())}
    if holder is not None:
        content["holder"] = holder
    if not os.path.isdir(folder):
        if module.check_mode:
            module.exit_json(changed=True, holder=content)
        os.makedirs(folder, mode=0o750, exist_ok=True)
    with FolderLock(folder):
        current = _read(path) if os.path.exists(path) else {}
        if os.path.exists(path) and not current:
            current = {"owner": None, "purpose": "unreadable lock file", "since": os.stat(path).st_mtime}
        if current.get("owner") == owner:
            module.exit_json(changed=False, holder=current)
        taken_over = None
        if current:
            state = holder_state(current)
            stale = _age(current) >= module.params["stale_after"]
            if state == "alive" or (state == "unknown" and not stale):
                module.fail_json(
                    msg="site is locked by run %s (%s) since %s%s; wait for it or remove %s if that run is dead"
                    % (
                        current.get("owner"),
                        current.get("purpose"),
                        _since(current),
                        ", and its runner (pid %s) is alive" % current["holder"]["pid"] if state == "alive" else "",
                        path,
                    ),
                    holder=current,
                )
            stale_after = module.params["stale_after"]
            reason = "its holder process is gone" if state == "dead" else "older than %ss" % stale_after
            taken_over = dict(current, reason=reason)
        if module.check_mode:
            module.exit_json(changed=True, holder=content, stale_taken_over=taken_over)
        _write(path, content)
    module.exit_json(changed=True, holder=content, stale_taken_over=taken_over)


if __name__ == "__main__":
    main()

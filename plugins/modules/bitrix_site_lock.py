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
    description:
      - The lock file. Give it, or O(docroot) and O(state_dir) (the collection's one rule, module_utils/bitrix_lock,
        C(<state_dir>/locks/<docroot with each run of other characters than letters and digits as _>.lock)).
    type: path
  docroot:
    description: The site's docroot, whose lock file under O(state_dir) is taken or released.
    type: str
  state_dir:
    description: bxops' state folder (C(bxops_state_dir)), with O(docroot).
    type: path
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
    docroot: "{{ bitrix_docroot }}"
    state_dir: "{{ bxops_state_dir }}"
    owner: "{{ __common_run_id }}"
    purpose: update
    holder: "{{ bxops_runner | default(omit) }}"
"""

RETURN = r"""
path:
  description: The lock file.
  type: str
  returned: always
holder:
  description: The lock's content after the call (owner, purpose, since, and the holder process if known).
  type: dict
  returned: always
stale_taken_over:
  description: The abandoned lock that was taken over, and why (C(reason)).
  type: dict
  returned: when a lock was taken over
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_lock import (
    DEFAULT_STALE_AFTER,
    Locked,
    lock_path,
    release,
    take,
)


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
            path=dict(type="path", required=False),
            state_dir=dict(type="path", required=False),
            docroot=dict(type="str", required=False),
            owner=dict(type="str", required=True),
            purpose=dict(type="str", default="maintenance"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            stale_after=dict(type="int", default=DEFAULT_STALE_AFTER),
            holder=dict(type="dict", required=False),
        ),
        required_one_of=[("path", "docroot")],
        mutually_exclusive=[("path", "docroot")],
        required_together=[("docroot", "state_dir")],
        supports_check_mode=True,
    )
    params = module.params
    path = params["path"] or lock_path(params["state_dir"], params["docroot"])
    owner = params["owner"]
    holder = _holder(module)

    if params["state"] == "absent":
        changed, current = release(path, owner, module.check_mode)
        module.exit_json(changed=changed, holder=current, path=path)
    try:
        changed, content, taken_over = take(path, owner, params["purpose"], params["stale_after"], holder,
                                            module.check_mode)
    except Locked as exc:
        module.fail_json(msg=str(exc), holder=exc.holder, path=path)
    if not changed:
        module.exit_json(changed=False, holder=content, path=path)
    module.exit_json(changed=True, holder=content, stale_taken_over=taken_over, path=path)


if __name__ == "__main__":
    main()

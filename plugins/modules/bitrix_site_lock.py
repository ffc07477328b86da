#!/usr/bin/python
# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: bitrix_site_lock
short_description: Take or release the per-site maintenance lock
description:
  - So that no two maintenance runs touch one site at once. The lock is a file created with
    O_EXCL, holding the owner (a run id), the time and the purpose.
  - Taking a lock the same owner already holds succeeds without change; a lock held by another
    owner fails with who holds it and since when, unless it is older than O(stale_after).
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
    description: Seconds after which another owner's lock counts as abandoned and is taken over.
    type: int
    default: 21600
author: bxops maintainers
"""

EXAMPLES = r"""
- name: Lock the site
  bxops.bitrix.bitrix_site_lock:
    path: /var/lib/bxops/locks/home_bitrix_www.lock
    owner: "{{ __common_run_id }}"
    purpose: update
"""

RETURN = r"""
holder:
  description: The lock's content after the call (owner, purpose, since).
  type: dict
  returned: always
"""

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule


def _read(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def _take(path: str, holder: dict) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(holder, handle)
        handle.flush()
        os.fsync(handle.fileno())
    return True


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            owner=dict(type="str", required=True),
            purpose=dict(type="str", default="maintenance"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            stale_after=dict(type="int", default=21600),
        ),
        supports_check_mode=True,
    )
    path, owner = module.params["path"], module.params["owner"]
    current = _read(path) if os.path.exists(path) else {}

    if module.params["state"] == "absent":
        if current.get("owner") != owner:
            module.exit_json(changed=False, holder=current)
        if not module.check_mode:
            os.unlink(path)
        module.exit_json(changed=True, holder={})

    if current.get("owner") == owner:
        module.exit_json(changed=False, holder=current)
    holder = {"owner": owner, "purpose": module.params["purpose"], "since": int(time.time())}
    if current and time.time() - float(current.get("since", 0)) < module.params["stale_after"]:
        module.fail_json(
            msg="site is locked by run %s (%s) since %s; wait for it or remove %s if that run is dead"
            % (current.get("owner"), current.get("purpose"),
               time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(current.get("since", 0)))), path),
            holder=current,
        )
    if module.check_mode:
        module.exit_json(changed=True, holder=holder)
    os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
    if current:
        os.unlink(path)  # stale: its run is gone
    if not _take(path, holder):
        module.fail_json(msg="site lock %s was taken by another run just now" % path, holder=_read(path))
    module.exit_json(changed=True, holder=holder, stale_taken_over=current or None)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: bitrix_updates_info
short_description: Read a 1C-Bitrix site's available updates, traces of an interrupted update, and the checks after one
author: bxops maintainers
extends_documentation_fragment:
  - bxops.bitrix.bitrix_site
  - bxops.bitrix.bitrix_db
description:
  - Read-only counterpart of C(bitrix_updates); runs in check mode too. What it reads is chosen with O(gather).
  - O(gather=updates) lists the available core updates through the site's own updater without installing
    anything (the console C(php bitrix/bitrix.php update:modules), asked interactively and told "no", main
    25.100.200 and later; else C(CUpdateClient)'s list, each step in a new PHP process), as the site user.
    Partner (Marketplace, dotted) modules are reported separately, since the core updater does not update
    them; their newer releases come from C(CUpdateClientPartner)'s list.
  - O(gather=state) reports traces of a half-finished update (leftover C(bitrix/updates/update_m*) folders,
    the O(journal) and whether its run is still alive, the holder of the site lock O(lock_path)), the current
    sizes of the error logs O(logs), and checks that the site's database can be read with its credentials.
  - O(gather=checks) runs the checks after an update besides the smoke URLs (those are C(bitrix_smoke_test)'s),
    new PHP fatal errors in O(logs) since O(log_offsets), the core versions on disk against O(plan), and with
    O(check_agents) that the agents due run, the way the site's cron runs them
    (C(bitrix/modules/main/tools/cron_events.php) as the site user; not in check mode). The checks are
    returned, never failed on.
options:
  gather:
    description: What to read.
    type: list
    elements: str
    choices: [updates, state, checks]
    default: [updates]
  site_user:
    description: The user the site's PHP runs as (never root).
    type: str
    default: bitrix
  php:
    description: The PHP CLI binary.
    type: str
    default: php
  method:
    description:
      - How O(gather=updates) reaches the updater. V(auto) uses the console where the core has one and it can
        run, else CUpdateClient's steps.
    type: str
    choices: [auto, console, steps]
    default: auto
  journal:
    description: The update journal (JSON) C(bitrix_updates) writes, for O(gather=state).
    type: path
  lock_path:
    description: For O(gather=state), the site lock file whose holder is reported.
    type: path
  logs:
    description:
      - Error logs whose size O(gather=state) reports and in which O(gather=checks) looks for new PHP fatal
        errors.
    type: list
    elements: path
    default: [/var/log/php/bitrix-fpm-error.log, /var/log/nginx/bitrix_error.log]
  log_offsets:
    description: For O(gather=checks), log path to the size it had before the update (from O(gather=state)).
    type: dict
    default: {}
  plan:
    description: For O(gather=checks), module id to the version that must be on disk.
    type: dict
    default: {}
  check_agents:
    description: For O(gather=checks), check that the agents due run (reads C(b_agent)).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: List the available updates
  bxops.bitrix.bitrix_updates_info:
    docroot: /home/bitrix/www
  register: __update_list

- name: Look for an interrupted update
  bxops.bitrix.bitrix_updates_info:
    gather: [state]
    docroot: /home/bitrix/www
    journal: /var/lib/bxops/update/journal.json
    lock_path: /var/lib/bxops/locks/_home_bitrix_www.lock
  register: __update_inspect

- name: Check the logs, the versions reached and the agents after the update
  bxops.bitrix.bitrix_updates_info:
    gather: [checks]
    docroot: /home/bitrix/www
    log_offsets: "{{ __update_inspect.log_offsets }}"
    plan: {main: "25.100.300"}
    check_agents: true
  register: __update_checks
"""

RETURN = r"""
available:
  description: Core module id to {from, to}.
  type: dict
  returned: gather contains updates
update_system_pending:
  description: The update system must upgrade itself before modules can be listed.
  type: bool
  returned: gather contains updates
installed:
  description: Core module id to the version on disk.
  type: dict
  returned: gather contains updates
marketplace:
  description: Partner (dotted) modules on disk with their versions; not updated by the core updater.
  type: dict
  returned: gather contains updates
marketplace_available:
  description:
    - Partner modules with a newer release, module id to {from, to}, from C(CUpdateClientPartner)'s list
      (they are updated from the Marketplace, not by C(bitrix_updates)).
  type: dict
  returned: gather contains updates
marketplace_problem:
  description: Why the partner list could not be read (empty when it was).
  type: str
  returned: gather contains updates
method:
  description: C(console) or C(steps) (CUpdateClient's steps, one PHP process each), as used.
  type: str
  returned: gather contains updates
error_code:
  description: The updater's error code(s) found in the output when listing failed (e.g. LICENSE, GNSU01).
  type: list
  returned: on failure
journal:
  description: The journal's content and whether its run is still alive (null without a journal).
  type: dict
  returned: gather contains state
lock_holder:
  description: The site lock's content (owner, purpose, since), empty when free.
  type: dict
  returned: gather contains state
leftovers:
  description: The updater's unpack folders and downloads in C(bitrix/updates).
  type: list
  returned: gather contains state
log_offsets:
  description: Log path to its current size.
  type: dict
  returned: gather contains state
checks:
  description: Each check (C(log), C(versions), C(agents)) with ok and detail, and path for a log.
  type: list
  elements: dict
  returned: gather contains checks
passed:
  description: Whether every check passed.
  type: bool
  returned: gather contains checks
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_db import DB_OPTION, MysqlClient
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_docroot import DOCROOT_OPTION
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_site import (
    NotABitrixSite,
    db_credentials,
    require_site,
    version_tuple,
)
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_update_console import (
    Console,
    after_update_checks,
    inspect_state,
    list_updates,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            gather=dict(type="list", elements="str", default=["updates"], choices=["updates", "state", "checks"]),
            docroot=DOCROOT_OPTION,
            site_user=dict(type="str", default="bitrix"),
            php=dict(type="str", default="php"),
            method=dict(type="str", default="auto", choices=["auto", "console", "steps"]),
            journal=dict(type="path"),
            lock_path=dict(type="path"),
            logs=dict(type="list", elements="path",
                      default=["/var/log/php/bitrix-fpm-error.log", "/var/log/nginx/bitrix_error.log"]),
            log_offsets=dict(type="dict", default={}),
            plan=dict(type="dict", default={}),
            check_agents=dict(type="bool", default=False),
            db=DB_OPTION,
        ),
        supports_check_mode=True,
    )
    p = module.params
    gather = set(p["gather"])
    try:
        require_site(p["docroot"])
    except NotABitrixSite as exc:
        module.fail_json(msg=f"{exc} (bitrix_docroot)")
    for name, version in p["plan"].items():
        try:
            version_tuple(str(version))
        except ValueError:
            module.fail_json(msg=f"plan: {name} has no valid version {version!r}")
    creds = None
    if "state" in gather or ("checks" in gather and p["check_agents"]):
        try:
            creds = db_credentials(p["docroot"], p["db"])
        except (RuntimeError, ValueError) as exc:
            module.fail_json(msg=f"no DB credentials (the db option from the vault, or .settings.php): {exc}")
    result: dict = {}
    if "updates" in gather:
        result.update(list_updates(module, Console(module, p["docroot"], p["site_user"], p["php"])))
    if "state" in gather:
        with MysqlClient(creds) as client:
            try:
                client.scalar("SELECT COUNT(*) FROM b_option")
            except RuntimeError as exc:
                module.fail_json(msg="the site's database cannot be read with its credentials (.settings.php or "
                                     f"update_db_credentials): {exc}")
        result.update(inspect_state(p["docroot"], p["journal"], p["lock_path"], p["logs"]))
    if "checks" in gather:
        if creds is not None:
            with MysqlClient(creds) as client:
                checks = after_update_checks(module, client)
        else:
            checks = after_update_checks(module, None)
        result.update(checks=checks, passed=all(check["ok"] for check in checks))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()

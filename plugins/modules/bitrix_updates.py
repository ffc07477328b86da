#!/usr/bin/python
# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: bitrix_updates
short_description: Apply 1C-Bitrix core and module updates through the site's own updater
author: bxops maintainers
extends_documentation_fragment:
  - bxops.bitrix.bitrix_site
  - bxops.bitrix.bitrix_db
description:
  - Drives the site's own update console (C(php bitrix/bitrix.php update:modules), main 25.100.200 and later)
    as the site user and turns its output into data; recognises the updater's error codes and explains them
    in plain words.
  - Cores without the console (or whose console cannot run because composer's symfony/console is missing)
    go through the same steps of C(CUpdateClient) (C(GetUpdatesList), C(UpdateUpdate),
    C(LoadModulesUpdates), C(UnGzipArchive), C(CheckUpdatability), C(UpdateStepModules)) after
    C(prolog_before.php) with C(NOT_CHECK_PERMISSIONS), each step in a new PHP process until nothing is
    left. That updater installs every pending version of a module, so an O(plan) it cannot meet exactly
    (the server now offers newer versions than planned) is refused before any change.
  - O(action=apply) installs the updates (C(-n)), repeating the command while the update system reports it
    upgraded itself, and records its progress (phase, own pid) in the O(journal) so that a later run can
    tell a run killed half-way from a live one.
  - O(action=begin) opens the update journal (O(journal), with O(journal_data)) before the first change,
    then closes the public part (C(b_option) main C(site_stopped=Y), as C(bitrix_site_stopped) with
    O(bxops.bitrix.bitrix_site_stopped#module:state=stopped)); the journal keeps the previous value.
  - O(action=cleanup) removes the updater's leftover unpack folders (C(bitrix/updates) is disposable).
  - The list of available updates, the traces of an interrupted run and the checks after an update are
    read by C(bitrix_updates_info); the smoke URLs are checked by C(bitrix_smoke_test).
options:
  action:
    description: What to do.
    type: str
    choices: [apply, begin, cleanup]
    required: true
  site_user:
    description: The user the console runs as (PHP maintenance never runs as root).
    type: str
    default: bitrix
  php:
    description: The PHP CLI binary.
    type: str
    default: php
  modules:
    description: Restrict O(action=apply) to these modules (C(-m)); dependencies are added by the updater.
    type: list
    elements: str
    default: []
  plan:
    description:
      - Module id to the exact version to reach. O(action=apply) installs exactly these (the console's
        expert import, C(-i)).
    type: dict
    default: {}
  method:
    description:
      - How O(action=apply) reaches the updater. V(auto) uses the console where the core has one and it can
        run, else CUpdateClient's steps.
    type: str
    choices: [auto, console, steps]
    default: auto
  max_rounds:
    description: How often O(action=apply) restarts the console (or re-lists) after the update system upgraded itself.
    type: int
    default: 4
  system_only:
    description: O(action=apply) only lets the update system upgrade itself (one console run, or C(UpdateUpdate)).
    type: bool
    default: false
  since:
    description:
      - For O(action=cleanup), epoch seconds; only unpack folders the updater made since then are removed
        (C(bitrix/updates/update_m<time>)), older leftovers are left to the cleanup role.
    type: int
    default: 0
  journal:
    description:
      - The update journal (JSON); O(action=begin) opens it, O(action=apply) records its phase and pid,
        C(bitrix_updates_info) reads it.
    type: path
  run_id:
    description: This run (written into the journal).
    type: str
    default: ""
  journal_data:
    description: For O(action=begin), what the journal records (run id, backup id, plan, ...).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Open the journal and close the public part
  bxops.bitrix.bitrix_updates:
    action: begin
    docroot: /home/bitrix/www
    journal: /var/lib/bxops/update/journal.json
    journal_data: {run_id: "{{ __common_run_id }}"}
  register: __update_maintenance

- name: Install exactly the planned versions
  bxops.bitrix.bitrix_updates:
    action: apply
    docroot: /home/bitrix/www
    plan: {main: "25.100.300", iblock: "25.100.100"}
    journal: /var/lib/bxops/update/journal.json
    run_id: "{{ __common_run_id }}"
"""

RETURN = r"""
versions_before:
  description: Module id to version before (O(action=apply)).
  type: dict
  returned: action=apply
versions_after:
  description: Module id to version after (O(action=apply)); on failure, what is on disk now.
  type: dict
  returned: action=apply
changes:
  description: List of {module, from, to} that moved (O(action=apply)).
  type: list
  returned: action=apply
rounds:
  description: How many times the console ran, or the updates were listed, during O(action=apply).
  type: int
  returned: action=apply
method:
  description: C(console) or C(steps) (CUpdateClient's steps, one PHP process each), as used.
  type: str
  returned: action=apply
error_code:
  description: The updater's error code(s) found in the output (e.g. CL04, UCDF04, LICENSE).
  type: list
  returned: on failure
problem:
  description: The failure in plain words, naming the folder or file for permission errors.
  type: str
  returned: on failure
previous:
  description: main C(site_stopped) before O(action=begin) closed the public part (C(Y) or C(N)).
  type: str
  returned: action=begin
started_epoch:
  description: When O(action=begin) opened the journal (epoch seconds; O(since) of a later cleanup).
  type: int
  returned: action=begin
removed:
  description: The updater's leftovers removed (O(action=cleanup)).
  type: list
  returned: action=cleanup
"""

import json
import os
import shutil
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_db import DB_OPTION, MysqlClient
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_docroot import DOCROOT_OPTION, UnsafePath
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_process import current_identity
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_site import (
    NotABitrixSite,
    db_credentials,
    require_site,
    version_tuple,
)
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_update_console import (
    NO_CONSOLE_MARK,
    RESTART_MARK,
    Console,
    Steps,
    core_versions,
    explain,
    leftovers,
    list_with_steps,
    read_journal,
    read_site_stopped,
    remove_leftovers,
    update_method,
    write_journal,
    write_site_stopped,
)
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_update_steps import describe

Applied = tuple[list[str], int, "tuple[int, str] | None", bool]


def apply_with_console(module: AnsibleModule, console: Console, args: list[str], mark) -> Applied | None:
    """(outputs, rounds, failure, update system upgraded); None when the console cannot run (nothing changed)."""
    outputs: list[str] = []
    rounds = 0
    max_rounds = 1 if module.params["system_only"] else module.params["max_rounds"]
    while True:
        rounds += 1
        rc, out = console.run(args, on_start=lambda pid: mark("applying", pid))
        if NO_CONSOLE_MARK in out and rounds == 1 and module.params["method"] == "auto":
            return None
        outputs.append(out)
        if rc != 0 or "[ERROR]" in out or NO_CONSOLE_MARK in out:
            return outputs, rounds, (rc or 1, out), False
        if RESTART_MARK not in out or module.params["system_only"]:
            break
        if rounds >= max_rounds:
            return outputs, rounds, (1, f"the update system asked to restart the command {rounds} times"), True
    return outputs, rounds, None, any(RESTART_MARK in out for out in outputs)


def apply_with_steps(module: AnsibleModule, steps: Steps, plan: dict, mark) -> Applied:
    """The update system first, then one module step after another, each step in a new PHP process."""
    outputs: list[str] = []
    rounds = 0
    upgraded = False

    def started(pid: int) -> None:
        mark("applying", pid)

    while True:
        rounds += 1
        latest, system_pending, _ = list_with_steps(module, steps, started)
        if not system_pending:
            break
        if rounds > module.params["max_rounds"]:
            return outputs, rounds, (1, f"the update system asked to be upgraded {rounds} times"), upgraded
        answer = steps.call("system", on_start=started)
        outputs.append(answer["said"])
        if answer.get("state") != "system_updated":
            return outputs, rounds, (1, str(answer.get("error"))), upgraded
        outputs.append("Update System upgraded successfully.")
        upgraded = True
        if module.params["system_only"]:
            return outputs, rounds, None, upgraded
    if module.params["system_only"]:
        return outputs, rounds, None, upgraded
    # This updater installs every pending version of a requested module: it cannot stop at a version.
    drift = {name: {"planned": ver, "offered": latest[name]} for name, ver in plan.items()
             if name in latest and version_tuple(latest[name]) > version_tuple(str(ver))}
    if drift:
        return outputs, rounds, (1, "[PLAN] this core has no update console, and CUpdateClient installs the newest "
                                    f"version the server offers, which is now newer than planned: {drift}; run the "
                                    "update on staging again so that it reaches (and records) these versions"), upgraded
    requested = sorted(plan) if plan else list(module.params["modules"])
    for _ in range(4 * (len(latest) + 2)):
        answer = steps.call("step", requested, on_start=started)
        if answer["said"]:
            outputs.append(answer["said"])
        state = answer.get("state")
        if state == "finished":
            return outputs, rounds, None, upgraded
        if state == "loaded":
            outputs.append(f"Downloaded {describe(answer.get('items') or {})}")
        elif state == "installed":
            outputs.append(f"Installing {describe(answer.get('items') or {})}... Done!")
        else:
            return outputs, rounds, (1, str(answer.get("error"))), upgraded
    return outputs, rounds, (1, "the updater still had steps left after too many rounds"), upgraded


def do_apply(module: AnsibleModule, console: Console) -> None:
    docroot, plan = module.params["docroot"], module.params["plan"]
    journal_path = module.params["journal"]
    before = core_versions(docroot)
    method = update_method(module)
    if module.check_mode:
        module.exit_json(changed=bool(plan), versions_before=before, versions_after=before, changes=[],
                         rounds=0, method=method)
    journal = read_journal(journal_path) or {}
    args = ["update:modules", "-n"]
    tmpdir = None
    if plan:
        tmpdir = tempfile.mkdtemp(prefix="bxops-update-")
        plan_file = os.path.join(tmpdir, "versions.json")
        with open(plan_file, "w", encoding="utf-8") as handle:
            json.dump(plan, handle)
        os.chmod(tmpdir, 0o755)
        os.chmod(plan_file, 0o644)
        args += ["-i", plan_file]
    elif module.params["modules"]:
        args += ["-m", ",".join(module.params["modules"])]

    def mark(phase: str, pid: int | None = None) -> None:
        if not journal_path:
            return
        journal.update(phase=phase, pid=os.getpid(), pid_start=current_identity()["start"],
                       console_pid=pid, updated=int(time.time()), method=method)
        write_journal(journal_path, journal)

    steps = None
    try:
        mark("applying")
        applied = apply_with_console(module, console, args, mark) if method == "console" else None
        if applied is None:
            method, steps = "steps", Steps(console)
            applied = apply_with_steps(module, steps, plan, mark)
        outputs, rounds, failed, system_upgraded = applied
        mark("failed" if failed else "applied")
    except BaseException:
        mark("failed")  # this run is alive and rolls back: no later run may take it for dead
        raise
    finally:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)
        if steps is not None:
            steps.close()
    after = core_versions(docroot)
    changes = [{"module": name, "from": before.get(name), "to": ver}
               for name, ver in sorted(after.items()) if before.get(name) != ver]
    result = dict(versions_before=before, versions_after=after, changes=changes, rounds=rounds, method=method,
                  output="\n".join(outputs)[-6000:])
    if failed:
        codes, problem, paths = explain(failed[1], module.params["site_user"])
        module.fail_json(msg=f"the update failed: {problem}", changed=True, error_code=codes,
                         problem=problem, paths=paths, rc=failed[0], **result)
    result["system_upgraded"] = system_upgraded
    missing = {name: {"planned": ver, "reached": after.get(name)} for name, ver in plan.items()
               if after.get(name) != ver}
    if missing:
        module.fail_json(msg=f"the updater finished but versions did not move as planned: {missing}",
                         changed=True, error_code=["PLAN"], problem="versions did not move as planned",
                         **result)
    module.exit_json(changed=bool(changes) or system_upgraded, **result)


def do_cleanup(module: AnsibleModule) -> None:
    found = leftovers(module.params["docroot"], module.params["since"])
    if found and not module.check_mode:
        try:
            remove_leftovers(module.params["docroot"], found)
        except (OSError, UnsafePath) as exc:
            module.fail_json(msg=f"cannot remove the updater's leftovers: {exc}")
    module.exit_json(changed=bool(found), removed=found)


def do_begin(module: AnsibleModule) -> None:
    """The journal first (a later run finds it even if the DB write below fails), then site_stopped=Y."""
    path = module.params["journal"]
    if not path:
        module.fail_json(msg="action=begin needs journal")
    started = int(time.time())
    try:
        creds = db_credentials(module.params["docroot"], module.params["db"])
    except (RuntimeError, ValueError) as exc:
        module.fail_json(msg=f"no DB credentials (the db option from the vault, or .settings.php): {exc}")
    if not module.check_mode:
        os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
        write_journal(path, dict(module.params["journal_data"], phase="prepared", started_epoch=started))
    with MysqlClient(creds) as client:
        exists, previous = read_site_stopped(client)
        if not module.check_mode:
            data = read_journal(path) or {}
            data.update(phase="maintenance", site_stopped_before=previous)
            write_journal(path, data)
            if previous != "Y":
                write_site_stopped(client, module.params["docroot"], "Y", exists)
    module.exit_json(changed=True, previous=previous, site_stopped="Y", started_epoch=started)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            action=dict(type="str", required=True, choices=["apply", "begin", "cleanup"]),
            docroot=DOCROOT_OPTION,
            site_user=dict(type="str", default="bitrix"),
            php=dict(type="str", default="php"),
            modules=dict(type="list", elements="str", default=[]),
            plan=dict(type="dict", default={}),
            max_rounds=dict(type="int", default=4),
            method=dict(type="str", default="auto", choices=["auto", "console", "steps"]),
            system_only=dict(type="bool", default=False),
            since=dict(type="int", default=0),
            journal=dict(type="path"),
            run_id=dict(type="str", default=""),
            journal_data=dict(type="dict", default={}),
            db=DB_OPTION,
        ),
        supports_check_mode=True,
    )
    action = module.params["action"]
    try:
        require_site(module.params["docroot"])
    except NotABitrixSite as exc:
        module.fail_json(msg=f"{exc} (bitrix_docroot)")
    for name, version in module.params["plan"].items():
        try:
            version_tuple(str(version))
        except ValueError:
            module.fail_json(msg=f"plan: {name} has no valid version {version!r}")
    if action == "apply":
        do_apply(module, Console(module, module.params["docroot"], module.params["site_user"],
                                 module.params["php"]))
    elif action == "cleanup":
        do_cleanup(module)
    else:
        do_begin(module)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: bitrix_updates
short_description: List, apply and check 1C-Bitrix core and module updates through the site's own updater
author: bxops maintainers
extends_documentation_fragment:
  - bxops.bitrix.bitrix_site
  - bxops.bitrix.bitrix_db
  - bxops.bitrix.bitrix_smoke
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
  - O(action=list) lists the available updates without installing anything (the console is asked
    interactively and told "no"); partner (Marketplace, dotted) modules are reported separately, since the
    core updater does not update them; their newer releases come from C(CUpdateClientPartner)'s list. Read-only.
  - O(action=apply) installs the updates (C(-n)), repeating the command while the update system reports it
    upgraded itself, and records its progress (phase, own pid) in the O(journal) so that a later run can
    tell a run killed half-way from a live one.
  - O(action=inspect) reports traces of a half-finished update (leftover C(bitrix/updates/update_m*)
    folders, the journal and whether its run is still alive) and the current sizes of the error logs.
  - O(action=cleanup) removes the updater's leftover unpack folders (C(bitrix/updates) is disposable).
  - O(action=maintenance) sets the public-part switch (C(b_option) main C(site_stopped)), as the admin
    page does, and clears the managed cache of C(b_option).
  - O(action=begin) opens the update journal (O(journal), with O(journal_data)) before the first change,
    then closes the public part like O(action=maintenance) with C(site_stopped=Y); the journal keeps the
    previous value.
  - O(action=smoke) checks URLs (O(urls), the collection's one smoke test, as C(bitrix_smoke_test)), new PHP
    fatal errors in the logs since given offsets, versions reached against the plan, and that agents still run.
options:
  action:
    description: What to do.
    type: str
    choices: [list, apply, inspect, cleanup, maintenance, begin, smoke]
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
        expert import, C(-i)); O(action=smoke) checks the versions on disk against it.
    type: dict
    default: {}
  method:
    description:
      - How O(action=list) and O(action=apply) reach the updater. V(auto) uses the console where the core
        has one and it can run, else CUpdateClient's steps.
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
  lock_path:
    description: For O(action=inspect), the site lock file whose holder is reported.
    type: path
  since:
    description:
      - For O(action=cleanup), epoch seconds; only unpack folders the updater made since then are removed
        (C(bitrix/updates/update_m<time>)), older leftovers are left to the cleanup role.
    type: int
    default: 0
  journal:
    description:
      - The update journal (JSON); O(action=apply) records its phase and pid, O(action=inspect) reads it.
    type: path
  run_id:
    description: This run (written into the journal).
    type: str
    default: ""
  journal_data:
    description: For O(action=begin), what the journal records (run id, backup id, plan, ...).
    type: dict
    default: {}
  site_stopped:
    description: For O(action=maintenance), the value of main C(site_stopped) to set (C(Y) closes it).
    type: str
    choices: ["Y", "N"]
  logs:
    description: Error logs to watch for new PHP fatal errors.
    type: list
    elements: path
    default: [/var/log/php/bitrix-fpm-error.log, /var/log/nginx/bitrix_error.log]
  log_offsets:
    description: For O(action=smoke), log path to the size it had before the update (from O(action=inspect)).
    type: dict
    default: {}
  check_agents:
    description:
      - For O(action=smoke), check that agents still run, the way the site runs them (on page hits, or
        C(bitrix/modules/main/tools/cron_events.php) as the site user in cron mode); agents due when the
        smoke test starts must have run by its end.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: List the available updates
  bxops.bitrix.bitrix_updates:
    action: list
    docroot: /home/bitrix/www
  register: __update_list

- name: Install exactly the planned versions
  bxops.bitrix.bitrix_updates:
    action: apply
    docroot: /home/bitrix/www
    plan: {main: "25.100.300", iblock: "25.100.100"}
    journal: /var/lib/bxops/update/journal.json
    run_id: "{{ __common_run_id }}"
"""

RETURN = r"""
available:
  description: Core module id to {from, to} (O(action=list)).
  type: dict
  returned: action=list
update_system_pending:
  description: The update system must upgrade itself before modules can be listed (O(action=list)).
  type: bool
  returned: action=list
marketplace:
  description: Partner (dotted) modules on disk with their versions; not updated by the core updater.
  type: dict
  returned: action=list
marketplace_available:
  description:
    - Partner modules with a newer release, module id to {from, to}, from C(CUpdateClientPartner)'s list
      (read-only; they are updated from the Marketplace, not by this module).
  type: dict
  returned: action=list
marketplace_problem:
  description: Why the partner list could not be read (empty when it was).
  type: str
  returned: action=list
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
  returned: action=list and action=apply
error_code:
  description: The updater's error code(s) found in the output (e.g. CL04, UCDF04, LICENSE).
  type: list
  returned: on failure
problem:
  description: The failure in plain words, naming the folder or file for permission errors.
  type: str
  returned: on failure
journal:
  description: The journal's content and whether its run is still alive (O(action=inspect)).
  type: dict
  returned: action=inspect
lock_holder:
  description: The site lock's content (owner, purpose, since), empty when free (O(action=inspect)).
  type: dict
  returned: action=inspect
log_offsets:
  description: Log path to its current size (O(action=inspect)).
  type: dict
  returned: action=inspect
checks:
  description: Each smoke check with ok and detail (O(action=smoke)).
  type: list
  returned: action=smoke
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_db import DB_OPTION
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_docroot import DOCROOT_OPTION, Anchor, UnsafePath
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_facts import CACHE_FOLDERS, UPDATES
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_process import (
    NoSuchUser,
    alive,
    as_site_user,
    current_identity,
    site_user_env,
)
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_site import (
    MysqlClient,
    NotABitrixSite,
    db_credentials,
    find_modules,
    require_site,
    version_tuple,
)
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_smoke import SMOKE_OPTIONS, check_all, specs_problem
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_update_steps import (
    STEP_PHP,
    describe,
    parse_answer,
    without_answers,
)

CONSOLE = "bitrix/bitrix.php"
RESTART_MARK = "Restart the command"
SYSTEM_PENDING_MARK = "Upgrade of the Update System is required"
LICENSE_MARK = "You must activate your license key"
NO_CONSOLE_MARK = "Symfony Console is not installed"
_CODE_RE = re.compile(r"\[([A-Z]{2,6}\d{2,4})\]")
_LIST_LINE_RE = re.compile(r"^([a-z0-9_]+(?:\.[a-z0-9_]+)?) \((\d+\.\d+\.\d+)\)$")
_FATAL_RE = re.compile(r"PHP (Fatal error|Parse error)|FastCGI sent in stderr: \"PHP (Fatal|Parse)")

# Plain words for the updater's error codes (docs: bitrix-maintenance section 2).
_EXPLAIN = {
    "CL02": "the updater could not extract the downloaded update archive (CL02): the download is damaged "
            "or the disk is full",
    "CL04": "a module update failed half-way (CL04): files may be partly copied and the DB step not run",
    "UCDF03": "the updater could not create a folder (UCDF03)",
    "UCDF04": "a folder is not writable by the site user (UCDF04)",
    "UCDF05": "a file is not writable by the site user (UCDF05)",
    "UCDF061": "a file was damaged while copying (UCDF061)",
    "UUD01": "a module's DB update script failed (UUD01)",
    "GNSU01": "the update server cannot be reached (GNSU01)",
    "CL03": "the updater's writability check failed (CL03)",
}
_PATH_AFTER = {
    "UCDF03": re.compile(r"\[UCDF03\] Cannot create folder (\S+?)\.?(?:\s|$)"),
    "UCDF04": re.compile(r"\[UCDF04\] Cannot write to folder (\S+?)\.?(?:\s|$)"),
    "UCDF05": re.compile(r"\[UCDF05\] Cannot write to file (\S+?)\.?(?:\s|$)"),
}


def explain(output: str, site_user: str) -> tuple[list[str], str, list[str]]:
    """(codes, plain-words problem, paths named) for a failed console run."""
    codes: list[str] = []
    for code in _CODE_RE.findall(output):
        if code not in codes:
            codes.append(code)
    parts: list[str] = []
    paths: list[str] = []
    if LICENSE_MARK in output:
        codes.append("LICENSE")
        parts.append("the site's licence key is not active (or missing): the update server refuses updates; "
                     "activate the key (Settings > Product settings > Licence key) and run again")
    if NO_CONSOLE_MARK in output:
        codes.append("NO_CONSOLE")
        parts.append("the site's console cannot run: symfony/console is not installed through composer "
                     "(.settings.php composer.config_path)")
    for code in codes:
        if code in _PATH_AFTER:
            found = [p.rstrip(".") for p in _PATH_AFTER[code].findall(output)]
            paths.extend(p for p in found if p not in paths)
            if found:
                kind = "folder" if code != "UCDF05" else "file"
                verb = "cannot be created" if code == "UCDF03" else "is not writable"
                parts.append("{} {} {} by the site user {} ({}): fix its owner/permissions (chown {}) "
                             "and run "
                             "again".format(kind, ", ".join(found), verb, site_user, code, site_user))
                continue
        if code in _EXPLAIN:
            parts.append(_EXPLAIN[code])
    if not parts:
        tail = [line.strip() for line in output.strip().splitlines() if line.strip()][-3:]
        parts.append("the updater failed" + (": " + " / ".join(tail) if tail else ""))
    return codes, "; ".join(parts), paths


def core_versions(docroot: str) -> dict[str, str]:
    return {name: str(info["version"]) for name, info in find_modules(docroot).items()
            if info.get("version") and not info.get("marketplace")}


def marketplace_versions(docroot: str) -> dict[str, str]:
    return {name: str(info["version"]) for name, info in find_modules(docroot).items()
            if info.get("marketplace")}


class Console:
    """Runs bitrix/bitrix.php as the site user from the docroot's bitrix/ folder."""

    def __init__(self, module: AnsibleModule, docroot: str, user: str, php: str) -> None:
        self.module = module
        self.docroot = docroot
        self.user = user
        try:
            self.drop = as_site_user(user)
        except NoSuchUser as exc:
            module.fail_json(msg=str(exc))
        self.php = php
        self.proc: subprocess.Popen | None = None

    def _env(self, interactive: bool) -> dict[str, str]:
        env = site_user_env(self.user)  # the locale and PATH only: nothing of ours reaches the site's PHP
        if interactive:
            env["SHELL_INTERACTIVE"] = "1"  # Symfony asks even though STDIN is a pipe
        return env

    def run(self, args: list[str], answer: str | None = None, on_start=None) -> tuple[int, str]:
        """The console (bitrix/bitrix.php) from the docroot's bitrix/ folder."""
        return self.run_php(["bitrix.php", *args], os.path.join(self.docroot, "bitrix"), answer, on_start)

    def run_php(self, args: list[str], cwd: str, answer: str | None = None, on_start=None,
                extra_env: dict[str, str] | None = None) -> tuple[int, str]:
        env = self._env(answer is not None)
        env.update(extra_env or {})
        self.proc = subprocess.Popen(
            [self.php, *args],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            **self.drop,
        )
        if on_start is not None:
            on_start(self.proc.pid)
        out, _ = self.proc.communicate((answer or "").encode())
        return self.proc.returncode, out.decode("utf-8", errors="replace")


class Steps:
    """CUpdateClient's steps for cores without the console: each call is a new PHP process (STEP_PHP)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.tmpdir = tempfile.mkdtemp(prefix="bxops-steps-")
        self.script = os.path.join(self.tmpdir, "bxops_update_step.php")
        with open(self.script, "w", encoding="utf-8") as handle:
            handle.write(STEP_PHP)
        os.chmod(self.tmpdir, 0o755)  # the site user reads it
        os.chmod(self.script, 0o644)

    def close(self) -> None:
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def call(self, action: str, modules: list[str] | None = None, on_start=None) -> dict:
        rc, out = self.console.run_php([self.script, action, ",".join(modules or [])], self.console.docroot,
                                       on_start=on_start, extra_env={"BXOPS_DOCROOT": self.console.docroot})
        answer = parse_answer(out)
        said = without_answers(out)
        if answer is None:
            tail = " / ".join(line.strip() for line in said.splitlines()[-3:] if line.strip())
            answer = {"state": "error", "error": f"the update step '{action}' ended without an answer (exit code "
                                                 f"{rc}){': ' + tail if tail else ''}"}
        if answer.get("licence"):
            answer["error"] = LICENSE_MARK + " before using the update system."
        answer["said"] = said
        return answer


def update_method(module: AnsibleModule) -> str:
    """console or steps: the console where the core has one (main 25.100.200+), else CUpdateClient's steps."""
    wanted = module.params["method"]
    has_console = os.path.isfile(os.path.join(module.params["docroot"], CONSOLE))
    if wanted == "console" and not has_console:
        module.fail_json(msg=f"{module.params['docroot']} has no update console ({CONSOLE}): this core predates "
                             "the console (main 25.100.200); use update_method=steps (or auto)",
                         error_code=["NO_CONSOLE"])
    if wanted == "auto":
        return "console" if has_console else "steps"
    return wanted


def parse_list(output: str) -> tuple[dict[str, str], bool]:
    """Module -> latest version from the 'Available updates' section; whether the update system is pending."""
    available: dict[str, str] = {}
    section = False
    for raw in output.splitlines():
        line = raw.strip()
        if line == "Available updates":
            section = True
            continue
        if section:
            if not line or set(line) == {"="}:
                if available:
                    section = False
                continue
            match = _LIST_LINE_RE.match(line)
            if match:
                available[match.group(1)] = match.group(2)
            else:
                section = False
    return available, SYSTEM_PENDING_MARK in output


def read_journal(path: str | None) -> dict | None:
    if not path or not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {"unreadable": True}
    return data if isinstance(data, dict) else {"unreadable": True}


def write_journal(path: str, data: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def journal_alive(journal: dict) -> bool:
    """Whether the process that last wrote the journal (an apply) is still running."""
    return alive({"pid": journal.get("pid"), "start": journal.get("pid_start")})


def db_client(module: AnsibleModule) -> MysqlClient:
    try:
        creds = db_credentials(module.params["docroot"], module.params["db"])
    except (RuntimeError, ValueError) as exc:
        module.fail_json(msg=f"no DB credentials (the db option from the vault, or .settings.php): {exc}")
    return MysqlClient(creds)


def clear_option_cache(docroot: str) -> None:
    """Options are cached in bitrix/managed_cache (disposable): a direct SQL edit must drop that cache.

    The cache belongs to the site user: removed through the anchored layer, never through a symlink."""
    with Anchor(docroot) as anchor:
        if not anchor.is_dir(CACHE_FOLDERS["managed_cache"]):
            return
        for folder in anchor.scandir(CACHE_FOLDERS["managed_cache"]):
            if not folder.is_dir:
                continue
            for entry in anchor.scandir(folder.rel):
                if not entry.name.startswith("b_option"):
                    continue
                if entry.is_dir:
                    anchor.remove_tree(entry.rel)
                else:
                    anchor.unlink(entry.rel)


def list_with_console(module: AnsibleModule, console: Console) -> tuple[dict[str, str], bool, str] | None:
    """(module -> latest version, update system pending, output); None when the console cannot run."""
    rc, out = console.run(["update:modules"], answer="no\nno\n")
    if NO_CONSOLE_MARK in out and module.params["method"] == "auto":
        return None
    latest, system_pending = parse_list(out)
    if not latest and not system_pending and "No updates found." not in out:
        codes, problem, paths = explain(out, module.params["site_user"])
        module.fail_json(msg=f"listing the updates failed: {problem}", error_code=codes, problem=problem,
                         paths=paths, output=out[-4000:], rc=rc)
    return latest, system_pending, out


def list_with_steps(module: AnsibleModule, steps: Steps, on_start=None) -> tuple[dict[str, str], bool, str]:
    listing = steps.call("list", on_start=on_start)
    if listing.get("state") != "listed":
        error = str(listing.get("error") or "")
        codes, problem, paths = explain(error, module.params["site_user"])
        module.fail_json(msg=f"listing the updates failed: {problem}", error_code=codes, problem=problem,
                         paths=paths, output=(listing["said"] + "\n" + error)[-4000:], method="steps")
    found = listing.get("modules") or {}
    latest = {name: str(versions[-1]) for name, versions in sorted(found.items()) if versions}
    lines = ["CUpdateClient::GetUpdatesList (no console on this core)"]
    lines += [f"{name} ({version})" for name, version in latest.items()] or ["No updates found."]
    if listing.get("system"):
        lines.append("Upgrade of the Update System is required.")
    return latest, bool(listing.get("system")), "\n".join(lines)


def marketplace_updates(steps: Steps, installed: dict[str, str]) -> tuple[dict[str, dict], str]:
    """Marketplace (partner) modules with a newer release, from CUpdateClientPartner's list (listed only:
    the core updater does not update them); and why the list is missing when it is."""
    listing = steps.call("list_partner")
    if listing.get("state") != "listed":
        return {}, str(listing.get("error") or "no answer")
    found = listing.get("modules") or {}
    return {name: {"from": installed.get(name), "to": str(versions[-1])}
            for name, versions in sorted(found.items()) if versions}, ""


def do_list(module: AnsibleModule, console: Console) -> None:
    docroot = module.params["docroot"]
    installed = core_versions(docroot)
    method = update_method(module)
    listed = list_with_console(module, console) if method == "console" else None
    steps = Steps(console)
    try:
        if listed is None:
            method = "steps"
            listed = list_with_steps(module, steps)
        partner_installed = marketplace_versions(docroot)
        partner_available, partner_problem = marketplace_updates(steps, partner_installed)
    finally:
        steps.close()
    latest, system_pending, out = listed
    available = {name: {"from": installed.get(name), "to": ver} for name, ver in sorted(latest.items())}
    module.exit_json(changed=False, available=available, update_system_pending=system_pending,
                     installed=installed, marketplace=partner_installed,
                     marketplace_available=partner_available, marketplace_problem=partner_problem,
                     method=method, output=out[-4000:])


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


def leftovers(docroot: str, since: int = 0) -> list[str]:
    """The updater's unpack folders (bitrix/updates/update_m<time>) and step downloads made since `since`.

    Older ones are not this run's business (the cleanup role handles disposable folders). A symlinked
    bitrix/updates holds nothing of ours."""
    found = []
    with Anchor(docroot) as anchor:
        if not anchor.is_dir(UPDATES):
            return []
        for entry in anchor.scandir(UPDATES):
            stamp = re.match(r"update_m(\d+)", entry.name)
            if stamp and int(stamp.group(1)) >= since:
                found.append(anchor.abspath(entry.rel))
            elif entry.name in ("update_archive.gz", "update_archive.gz.json") and entry.st.st_mtime >= since:
                found.append(anchor.abspath(entry.rel))  # a step's download, not yet unpacked
    return found


def remove_leftovers(docroot: str, found: list[str]) -> None:
    with Anchor(docroot) as anchor:
        for path in found:
            rel = os.path.relpath(path, anchor.path)
            try:
                if anchor.lstat(rel).st_mode & 0o170000 == 0o040000:
                    anchor.remove_tree(rel)
                else:
                    anchor.unlink(rel)
            except FileNotFoundError:
                continue


def do_inspect(module: AnsibleModule) -> None:
    docroot = module.params["docroot"]
    journal = read_journal(module.params["journal"])
    info = None
    if journal is not None:
        info = dict(journal, alive=journal_alive(journal))
    offsets = {}
    for path in module.params["logs"]:
        try:
            offsets[path] = os.path.getsize(path)
        except OSError:
            offsets[path] = 0
    holder = read_journal(module.params["lock_path"]) or {}
    with db_client(module) as client:
        try:
            client.scalar("SELECT COUNT(*) FROM b_option")
        except RuntimeError as exc:
            module.fail_json(msg="the site's database cannot be read with its credentials (.settings.php or "
                                 f"update_db_credentials): {exc}")
    module.exit_json(changed=False, journal=info, lock_holder=holder, leftovers=leftovers(docroot),
                     log_offsets=offsets, now=int(time.time()))


def do_cleanup(module: AnsibleModule) -> None:
    found = leftovers(module.params["docroot"], module.params["since"])
    if found and not module.check_mode:
        try:
            remove_leftovers(module.params["docroot"], found)
        except (OSError, UnsafePath) as exc:
            module.fail_json(msg=f"cannot remove the updater's leftovers: {exc}")
    module.exit_json(changed=bool(found), removed=found)


def do_begin(module: AnsibleModule) -> None:
    path = module.params["journal"]
    if not path:
        module.fail_json(msg="action=begin needs journal")
    if not module.check_mode:
        os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
        data = dict(module.params["journal_data"], phase="prepared", started_epoch=int(time.time()))
        write_journal(path, data)
    module.params["site_stopped"] = "Y"
    do_maintenance(module, journal=path, extra={"started_epoch": int(time.time())})


def do_maintenance(module: AnsibleModule, journal: str | None = None, extra: dict | None = None) -> None:
    wanted = module.params["site_stopped"]
    if wanted is None:
        module.fail_json(msg="action=maintenance needs site_stopped (Y or N)")
    with db_client(module) as client:
        row = client.rows("SELECT VALUE FROM b_option WHERE MODULE_ID='main' AND NAME='site_stopped' LIMIT 1")
        current = row[0][0] if row else None
        previous = current if current not in (None, "") else "N"
        if journal and not module.check_mode:
            data = read_journal(journal) or {}
            data.update(phase="maintenance", site_stopped_before=previous)
            write_journal(journal, data)
        if previous == wanted:
            module.exit_json(changed=bool(journal), previous=previous, site_stopped=wanted, **(extra or {}))
        if not module.check_mode:
            if row:
                client.rows(f"UPDATE b_option SET VALUE='{wanted}' "
                            "WHERE MODULE_ID='main' AND NAME='site_stopped'")
            else:
                client.rows("INSERT INTO b_option (MODULE_ID, NAME, VALUE) "
                            f"VALUES ('main', 'site_stopped', '{wanted}')")
            clear_option_cache(module.params["docroot"])
    module.exit_json(changed=True, previous=previous, site_stopped=wanted, **(extra or {}))


def new_fatals(path: str, offset: int) -> list[str]:
    try:
        size = os.path.getsize(path)
    except OSError:
        return []
    if size < offset:  # rotated
        offset = 0
    with open(path, "rb") as handle:
        handle.seek(offset)
        text = handle.read(8 << 20).decode("utf-8", errors="replace")
    return [line.strip()[:300] for line in text.splitlines() if _FATAL_RE.search(line)]


def run_cron_events(module: AnsibleModule) -> None:
    """Cron mode: run the agents the way the site's cron does, as the site user."""
    docroot = module.params["docroot"]
    script = os.path.join(docroot, "bitrix", "modules", "main", "tools", "cron_events.php")
    if not os.path.isfile(script):
        return
    console = Console(module, docroot, module.params["site_user"], module.params["php"])
    subprocess.run([module.params["php"], "-f", script], cwd=docroot, env=console._env(False),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300, check=False, **console.drop)


def do_smoke(module: AnsibleModule) -> None:
    p = module.params
    since = None
    if p["check_agents"]:
        with db_client(module) as client:
            since = int(client.scalar("SELECT UNIX_TIMESTAMP()") or 0)
            due = int(client.scalar(
                "SELECT COUNT(*) FROM b_agent WHERE ACTIVE='Y' AND NEXT_EXEC <= NOW()") or 0)
    checks = [dict(result, check="url", detail=result["reason"])
              for result in check_all(p["base_url"], p["host_header"], p["urls"], timeout=p["timeout"])]
    for path in p["logs"]:
        fatals = new_fatals(path, int(p["log_offsets"].get(path, 0)))
        checks.append({"check": "log", "path": path, "ok": not fatals,
                       "detail": f"{len(fatals)} new PHP fatal error(s): {fatals[:3]}" if fatals
                       else "no new PHP fatal errors"})
    if p["plan"]:
        on_disk = core_versions(p["docroot"])
        wrong = {m: {"planned": v, "on_disk": on_disk.get(m)}
                 for m, v in p["plan"].items() if on_disk.get(m) != v}
        checks.append({"check": "versions", "ok": not wrong,
                       "detail": f"not as planned: {wrong}" if wrong else f"all {len(p['plan'])} as planned"})
    if since is not None:
        run_cron_events(module)
        with db_client(module) as client:
            ran = int(client.scalar(
                "SELECT COUNT(*) FROM b_agent WHERE ACTIVE='Y' "
                f"AND LAST_EXEC >= FROM_UNIXTIME({since})") or 0)
        checks.append({"check": "agents", "ok": due == 0 or ran > 0,
                       "detail": f"{due} agent(s) were due, {ran} ran during the smoke test"})
    failed = [c for c in checks if not c["ok"]]
    if failed:
        module.fail_json(msg="smoke test failed: {}".format("; ".join(
            "{} {}: {}".format(c["check"], c.get("path", ""), c["detail"]) for c in failed)), checks=checks)
    module.exit_json(changed=False, checks=checks)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            action=dict(type="str", required=True,
                        choices=["list", "apply", "inspect", "cleanup", "maintenance", "begin", "smoke"]),
            docroot=DOCROOT_OPTION,
            site_user=dict(type="str", default="bitrix"),
            php=dict(type="str", default="php"),
            modules=dict(type="list", elements="str", default=[]),
            plan=dict(type="dict", default={}),
            max_rounds=dict(type="int", default=4),
            method=dict(type="str", default="auto", choices=["auto", "console", "steps"]),
            system_only=dict(type="bool", default=False),
            lock_path=dict(type="path"),
            check_agents=dict(type="bool", default=False),
            since=dict(type="int", default=0),
            journal=dict(type="path"),
            run_id=dict(type="str", default=""),
            journal_data=dict(type="dict", default={}),
            site_stopped=dict(type="str", choices=["Y", "N"]),
            **SMOKE_OPTIONS,
            logs=dict(type="list", elements="path",
                      default=["/var/log/php/bitrix-fpm-error.log", "/var/log/nginx/bitrix_error.log"]),
            log_offsets=dict(type="dict", default={}),
            db=DB_OPTION,
        ),
        supports_check_mode=True,
    )
    action = module.params["action"]
    try:
        require_site(module.params["docroot"])
    except NotABitrixSite as exc:
        module.fail_json(msg=f"{exc} (bitrix_docroot)")
    problem = specs_problem(module.params["urls"])
    if problem:
        module.fail_json(msg=problem + " (update_smoke_urls)")
    for name, version in module.params["plan"].items():
        try:
            version_tuple(str(version))
        except ValueError:
            module.fail_json(msg=f"plan: {name} has no valid version {version!r}")
    if action in ("list", "apply"):
        console = Console(module, module.params["docroot"], module.params["site_user"], module.params["php"])
        (do_list if action == "list" else do_apply)(module, console)
    elif action == "inspect":
        do_inspect(module)
    elif action == "cleanup":
        do_cleanup(module)
    elif action == "maintenance":
        do_maintenance(module)
    elif action == "begin":
        do_begin(module)
    else:
        do_smoke(module)


if __name__ == "__main__":
    main()

# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The site's own updater, driven from the host: the console (bitrix/bitrix.php update:modules) or
CUpdateClient's steps (bitrix_update_steps.STEP_PHP), both as the site user; the list of available updates
(core and Marketplace), the update journal, the updater's leftovers, the public-part switch (b_option main
site_stopped) and the checks after an update (new PHP fatal errors, versions on disk against the plan,
agents still running).

Used by bitrix_updates (apply, begin, cleanup), the read-only bitrix_updates_info (the list, traces of an
interrupted run, the checks after an update) and bitrix_site_stopped (the public-part switch)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_db import MysqlClient
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_docroot import Anchor
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_facts import CACHE_FOLDERS, UPDATES
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_process import (
    NoSuchUser,
    alive,
    as_site_user,
    site_user_env,
)
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_site import find_modules
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_update_steps import (
    STEP_PHP,
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




def list_updates(module: AnsibleModule, console: Console) -> dict[str, Any]:
    """The available core updates ({from, to}), whether the update system must upgrade itself first, and the
    Marketplace modules with their newer releases. Nothing is installed (the console is told "no")."""
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
    return dict(available=available, update_system_pending=system_pending, installed=installed,
                marketplace=partner_installed, marketplace_available=partner_available,
                marketplace_problem=partner_problem, method=method, output=out[-4000:])


def log_sizes(paths: list[str]) -> dict[str, int]:
    """Each log's current size (0 when missing): the offsets after which new fatal errors are looked for."""
    sizes = {}
    for path in paths:
        try:
            sizes[path] = os.path.getsize(path)
        except OSError:
            sizes[path] = 0
    return sizes


def inspect_state(docroot: str, journal_path: str | None, lock_path: str | None,
                  logs: list[str]) -> dict[str, Any]:
    """Traces of a half-finished update: the journal (and whether its run is alive), the site lock's holder,
    the updater's unpack folders; and the logs' current sizes."""
    journal = read_journal(journal_path)
    info = None if journal is None else dict(journal, alive=journal_alive(journal))
    return dict(journal=info, lock_holder=read_journal(lock_path) or {}, leftovers=leftovers(docroot),
                log_offsets=log_sizes(logs), now=int(time.time()))


def read_site_stopped(client: MysqlClient) -> tuple[bool, str]:
    """(whether b_option has the row, main site_stopped: Y or N; a missing or empty value is N)."""
    row = client.rows("SELECT VALUE FROM b_option WHERE MODULE_ID='main' AND NAME='site_stopped' LIMIT 1")
    current = row[0][0] if row else None
    return bool(row), current if current not in (None, "") else "N"


def write_site_stopped(client: MysqlClient, docroot: str, wanted: str, exists: bool) -> None:
    """Set main site_stopped (Y closes the public part) as the admin page does, and drop b_option's cache."""
    if wanted not in ("Y", "N"):
        raise ValueError(f"site_stopped must be Y or N, not {wanted!r}")
    if exists:
        client.rows(f"UPDATE b_option SET VALUE='{wanted}' WHERE MODULE_ID='main' AND NAME='site_stopped'")
    else:
        client.rows(f"INSERT INTO b_option (MODULE_ID, NAME, VALUE) VALUES ('main', 'site_stopped', '{wanted}')")
    clear_option_cache(docroot)


def agents_mark(client: MysqlClient) -> tuple[int, int]:
    """(the DB's clock now, how many active agents are due now)."""
    since = int(client.scalar("SELECT UNIX_TIMESTAMP()") or 0)
    due = int(client.scalar("SELECT COUNT(*) FROM b_agent WHERE ACTIVE='Y' AND NEXT_EXEC <= NOW()") or 0)
    return since, due


def agents_ran(client: MysqlClient, since: int) -> int:
    return int(client.scalar("SELECT COUNT(*) FROM b_agent WHERE ACTIVE='Y' "
                             f"AND LAST_EXEC >= FROM_UNIXTIME({int(since)})") or 0)


def after_update_checks(module: AnsibleModule, client: MysqlClient | None) -> list[dict[str, Any]]:
    """The checks after an update besides the smoke URLs (bitrix_smoke_test): new PHP fatal errors in the
    logs since the offsets taken before it, the core versions on disk against the plan, and, with a DB
    client, that the agents due now run (cron_events.php as the site user, as the site's cron runs them;
    not in check mode, where only the due count is reported)."""
    p = module.params
    checks: list[dict[str, Any]] = []
    mark = agents_mark(client) if client is not None else None
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
    if client is not None and mark is not None:
        since, due = mark
        if module.check_mode:
            checks.append({"check": "agents", "ok": True,
                           "detail": f"{due} agent(s) due; not run in check mode"})
        else:
            run_cron_events(module)
            ran = agents_ran(client, since)
            checks.append({"check": "agents", "ok": due == 0 or ran > 0,
                           "detail": f"{due} agent(s) were due, {ran} ran during the smoke test"})
    return checks

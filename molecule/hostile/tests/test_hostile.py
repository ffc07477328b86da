"""Issue 11's acceptance test: every role ran on a site that attacks the tool (molecule/hostile/files/plant.py).

Expected values never come from the roles: the trees outside the docroot are compared with the fingerprint
taken on the host when they were planted (files/sentinel.py); the canary and the plugin marker are files only
a successful attack creates; backups are searched for markers that exist only outside the docroot; refusals
are checked for the path the plant made hostile. The host is read once (files/observe.py).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

STATE = "/var/lib/bxops-hostile"
SENTINEL = "/srv/sentinel-etc"
SECRET = "/root/secret"
OTHER = "/home/bitrix/ext_www/other"
CANARY = "/root/bxops-canary"
PLUGIN = "/home/bitrix/www/upload/plug/evil.so"
PLUGIN_MARKER = "/tmp/bxops-evil-loaded"
SYMLINK = re.compile(r"symlink|symbolic link", re.IGNORECASE)
# What plant.py made hostile: a refusal must name (at least) one of these.
PLANTED = re.compile(
    r"bitrix/cache|bitrix/managed_cache|bitrix/html_pages|upload/tmp|\.well-known|leak-secret\.txt|upload_dir"
    r"|\bupload\b|\.settings(_extra)?\.php|dbconn\.php|DBPassword|sentinel-etc"
)
# converge.yml's role runs (p<phase>-<what>).
STEPS = [
    "p1-audit", "p1-backup", "p1-restore", "p1-update", "p1-cleanup", "p1-quarantine", "p1-quarantine-restore",
    "p1-permissions", "p1-certificates", "p1-php_upgrade-preflight",
    "p2-cleanup", "p2-permissions",
    "p3-backup", "p3-cleanup",
    "p4-backup",
]


@pytest.fixture(scope="module")
def obs(host: Any) -> dict[str, Any]:
    out = host.run("python3 %s/observe.py", STATE)
    assert out.rc == 0, out.stderr
    return json.loads(out.stdout)


def _outcome(obs: dict[str, Any], step: str) -> dict[str, Any]:
    outcome = obs["outcomes"].get(step)
    assert outcome is not None, f"converge did not record {step}"
    return outcome


def _diff(before: dict[str, Any], now: dict[str, Any], keep: Any) -> list[str]:
    out = []
    for path in sorted(set(before) | set(now)):
        if not keep(path):
            continue
        if path not in now:
            out.append(f"gone: {path} (was {before[path]})")
        elif path not in before:
            out.append(f"new: {path} {now[path]}")
        elif before[path] != now[path]:
            out.append(f"changed: {path} {before[path]} -> {now[path]}")
    return out


def test_every_role_ran(obs: dict[str, Any]) -> None:
    assert sorted(obs["outcomes"]) == sorted(STEPS)


def test_site_code_never_ran_as_root(obs: dict[str, Any]) -> None:
    assert not obs["exists"][CANARY], f"{CANARY} exists: {obs['canary']!r}"


@pytest.mark.parametrize("root", [SENTINEL, SECRET, OTHER])
def test_tree_outside_the_docroot_unchanged(obs: dict[str, Any], root: str) -> None:
    before, now = obs["sentinel_before"], obs["sentinel_now"]
    assert before[root]["type"] == "dir" and len([p for p in before if p.startswith(root + "/")]) >= 1
    diff = _diff(before, now, lambda p: p == root or p.startswith(root + "/"))
    assert diff == [], "\n".join(diff[:40])


def test_system_files_keep_owner_and_mode(obs: dict[str, Any]) -> None:
    diff = _diff(obs["sentinel_before"], obs["sentinel_now"],
                 lambda p: p in ("/etc", "/etc/passwd", "/etc/shadow", "/root"))
    assert diff == [], "\n".join(diff)


def test_no_client_plugin_loaded_from_the_docroot(obs: dict[str, Any]) -> None:
    assert obs["exists"][PLUGIN], "the attack was not armed: upload/plug/evil.so is missing"
    assert not obs["exists"][PLUGIN_MARKER], "a mysql client loaded upload/plug/evil.so (as root)"


def test_injected_password_refused_with_a_clear_message(obs: dict[str, Any]) -> None:
    backup = _outcome(obs, "p4-backup")
    assert backup["status"] == "failed", "the backup accepted a DB password holding newlines"
    msg = str(backup["msg"])
    assert "\n" not in msg.strip(), msg
    assert re.search(r"dbconn\.php|DBPassword", msg), msg
    assert re.search(r"control char|newline|line break", msg, re.IGNORECASE), msg


def test_backup_with_vault_credentials_holds_the_database(obs: dict[str, Any]) -> None:
    backup = _outcome(obs, "p1-backup")
    assert backup["status"] == "ok", f"{backup['task']}: {backup['msg']}"
    size = obs["dump_sizes"].get(backup["result"]["db_dump"])
    assert size is not None and size > 1000, f"{backup['result']['db_dump']}: {size}"


def test_no_backup_holds_what_lies_outside_the_docroot(obs: dict[str, Any]) -> None:
    assert obs["archives"], "no backup was made at all"
    leaks = {path: names for path, names in obs["archives"].items() if names}
    assert leaks == {}, f"content from outside the docroot in backups: {leaks}"


def test_cleanup_refuses_symlinked_category_roots(obs: dict[str, Any]) -> None:
    cleanup = _outcome(obs, "p1-cleanup")
    assert cleanup["status"] == "failed", "cleanup ran over symlinked bitrix/cache, managed_cache, html_pages"
    assert "bitrix/cache" in cleanup["msg"] and SYMLINK.search(cleanup["msg"]), cleanup["msg"]


def test_certificates_refuse_symlinked_well_known(obs: dict[str, Any]) -> None:
    certificates = _outcome(obs, "p1-certificates")
    assert certificates["status"] == "failed", "certificates used a .well-known that links outside the docroot"
    assert ".well-known" in certificates["msg"] and SYMLINK.search(certificates["msg"]), certificates["msg"]


@pytest.mark.parametrize("step", ["p2-cleanup", "p2-permissions"])
def test_upload_dir_outside_the_docroot_refused(obs: dict[str, Any], step: str) -> None:
    outcome = _outcome(obs, step)
    assert outcome["status"] == "failed", f"{step} accepted main.upload_dir = ../../../srv/sentinel-etc"
    assert "upload_dir" in outcome["msg"] and "../../../srv/sentinel-etc" in outcome["msg"], outcome["msg"]


def test_symlinked_upload_root_refused(obs: dict[str, Any]) -> None:
    cleanup = _outcome(obs, "p3-cleanup")
    assert cleanup["status"] == "failed", "cleanup walked a symlinked upload/"
    assert re.search(r"\bupload\b", cleanup["msg"]) and SYMLINK.search(cleanup["msg"]), cleanup["msg"]


def test_quarantine_restore_never_writes_through_a_swapped_folder(obs: dict[str, Any]) -> None:
    quarantine = _outcome(obs, "p1-quarantine")
    assert quarantine["status"] == "ok", quarantine["msg"]
    swapped = obs["swapped"]
    assert swapped and swapped["swapped"], "the quarantine moved no file out of a folder upload/<a>/<b>/"
    name = swapped["file"].rsplit("/", 1)[1]
    assert f"{SENTINEL}/{name}" not in obs["sentinel_now"], f"restore wrote {name} into the sentinel"
    assert f"{swapped['batch']}/{swapped['file']}" in obs["quarantined"], \
        f"{swapped['file']} was neither restored nor kept in quarantine"
    restore = _outcome(obs, "p1-quarantine-restore")
    said = restore["msg"] if restore["status"] == "failed" else json.dumps(restore["result"])
    assert swapped["swapped"] in said and SYMLINK.search(said), f"the restore does not name {swapped['swapped']}"


def test_every_refusal_names_the_offending_path_in_one_line(obs: dict[str, Any]) -> None:
    bad = []
    for step, outcome in sorted(obs["outcomes"].items()):
        if outcome["status"] != "failed":
            continue
        msg = str(outcome["msg"]).strip()
        if not msg or "\n" in msg or not PLANTED.search(msg):
            bad.append(f"{step} ({outcome['role']}, task {outcome['task']!r}): {msg[:400]!r}")
    assert bad == [], "\n".join(bad)

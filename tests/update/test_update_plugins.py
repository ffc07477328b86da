"""The update role's controller-side filters (plan, staging gate, smoke checks) and the updater's driver
(module_utils/bitrix_update_console, shared by bitrix_updates, bitrix_updates_info and bitrix_site_stopped):
parsing of the console's output and error codes, the journal, the leftovers."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / ".collections") not in sys.path:
    sys.path.insert(0, str(ROOT / ".collections"))

from ansible_collections.bxops.bitrix.plugins.filter import staging_gate as sg  # noqa: E402
from ansible_collections.bxops.bitrix.plugins.filter import update_gate as ug  # noqa: E402
from ansible_collections.bxops.bitrix.plugins.module_utils import bitrix_process  # noqa: E402
from ansible_collections.bxops.bitrix.plugins.module_utils import bitrix_update_console as bu  # noqa: E402
from ansible_collections.bxops.bitrix.plugins.modules import (  # noqa: E402
    bitrix_site_stopped,
    bitrix_updates,
    bitrix_updates_info,
)

AVAILABLE = {
    "main": {"from": "25.100.200", "to": "25.100.400"},
    "iblock": {"from": "25.100.100", "to": "25.100.300"},
}


def test_plan_takes_latest_for_all_modules() -> None:
    assert ug.update_plan(AVAILABLE) == {"main": "25.100.400", "iblock": "25.100.300"}


def test_plan_restricts_to_named_modules_and_honours_pins() -> None:
    assert ug.update_plan(AVAILABLE, ["main"]) == {"main": "25.100.400"}
    pinned = ug.update_plan(AVAILABLE, [], {"main": "25.100.300"})
    assert pinned == {"main": "25.100.300", "iblock": "25.100.300"}


def test_plan_drops_pins_at_or_below_installed_and_caps_at_latest() -> None:
    assert ug.update_plan(AVAILABLE, [], {"main": "25.100.200"}) == {"iblock": "25.100.300"}
    assert ug.update_plan(AVAILABLE, [], {"main": "26.0.0"})["main"] == "25.100.400"


def test_version_lower_names_the_module() -> None:
    installed = {"main": {"version": "25.100.200"}}
    assert ug.version_lower({"main": "23.0.0"}, installed) == ["main 23.0.0 < installed 25.100.200"]
    assert ug.version_lower({"main": "25.100.300"}, installed) == []
    assert ug.not_versions({"main": "latest", "iblock": "1.2.3"}) == ["main"]


def test_plans_that_cupdateclient_steps_cannot_stop_at_are_named() -> None:
    pinned = ug.update_plan(AVAILABLE, [], {"main": "25.100.300"})
    assert ug.short_of_newest(pinned, AVAILABLE) == ["main 25.100.300 (the server offers 25.100.400)"]
    assert ug.short_of_newest(ug.update_plan(AVAILABLE), AVAILABLE) == []


def test_step_answers_are_read_from_the_last_marker_line() -> None:
    from ansible_collections.bxops.bitrix.plugins.module_utils import bitrix_update_steps as steps

    out = 'Notice: init.php says hello\n\nBXOPS-STEP {"state": "installed", "items": {"main": "25.100.400"}}\n'
    assert steps.parse_answer(out) == {"state": "installed", "items": {"main": "25.100.400"}}
    assert steps.without_answers(out) == "Notice: init.php says hello"
    assert steps.parse_answer("PHP Fatal error: Class 'CUpdateClient' not found") is None
    assert steps.describe({"main": "25.100.400", "iblock": "25.100.300"}) == "iblock (25.100.300), main (25.100.400)"


def record(tmp_path: Path, name: str = "s1", age_days: float = 0.5, smoke: bool = True,
           **versions: str) -> str:
    path = tmp_path / f"update-staging.{name}.md"
    path.write_text("# Staging promotion record\n\n```json\n" + json.dumps({
        "host": name, "run_id": "r-" + name, "finished_at": "x", "smoke_passed": smoke,
        "finished_epoch": time.time() - age_days * 86400, "versions": versions,
    }, indent=2) + "\n```\n")
    return str(path)


PLAN = {"main": "25.100.400"}


def test_gate_refuses_without_record_and_says_what_to_run() -> None:
    command = "ansible-playbook playbooks/update.yml -e bxops_env=staging"
    gate = sg.staging_gate([], PLAN, 14, time.time(), command)
    assert not gate["ok"]
    assert "no staging promotion record" in gate["reason"]
    assert "-e bxops_env=staging" in gate["reason"]


def test_gate_passes_a_fresh_passing_matching_record(tmp_path: Path) -> None:
    gate = sg.staging_gate([record(tmp_path, main="25.100.400")], PLAN, 14, time.time())
    assert gate["ok"] and gate["record"]["run_id"] == "r-s1"


@pytest.mark.parametrize(("kwargs", "why"), [
    ({"main": "25.100.300"}, "reached other versions"),
    ({"main": "25.100.400", "age_days": 20}, "older than update_promotion_max_age_days=14"),
    ({"main": "25.100.400", "smoke": False}, "smoke test did not pass"),
])
def test_gate_refuses_other_versions_old_or_failed_records(tmp_path: Path, kwargs: dict, why: str) -> None:
    gate = sg.staging_gate([record(tmp_path, **kwargs)], PLAN, 14, time.time(),
                           max_age_variable="update_promotion_max_age_days")
    assert not gate["ok"]
    assert why in gate["reason"]


def test_gate_with_nothing_planned_passes_and_unknown_plan_needs_any_record(tmp_path: Path) -> None:
    assert sg.staging_gate([], {}, 14, time.time())["ok"]
    assert not sg.staging_gate([], None, 14, time.time())["ok"]
    assert sg.staging_gate([record(tmp_path, main="1.0.0")], None, 14, time.time())["ok"]


LIST_OUTPUT = """
Client information
==================

Name: Demo
Product: Business

Available updates
=================

iblock (25.100.300)
main (25.100.400)
 Install updates? (yes/no) [yes]:
 >
"""


def test_parse_list_reads_the_available_section() -> None:
    assert bu.parse_list(LIST_OUTPUT) == ({"iblock": "25.100.300", "main": "25.100.400"}, False)
    assert bu.parse_list("\n [INFO] Upgrade of the Update System is required.\n")[1] is True
    assert bu.parse_list("\n [INFO] No updates found.\n") == ({}, False)


def test_explain_names_the_folder_that_is_not_writable() -> None:
    out = ("Installing main (25.100.400)... \n [ERROR] [UCDF04] Cannot write to folder "
           "/home/bitrix/www/bitrix/modules/main/lib. [CL04] Module update failed.\n")
    codes, problem, paths = bu.explain(out, "bitrix")
    assert codes == ["UCDF04", "CL04"]
    assert paths == ["/home/bitrix/www/bitrix/modules/main/lib"]
    folder = "/home/bitrix/www/bitrix/modules/main/lib"
    assert f"folder {folder} is not writable by the site user bitrix" in problem
    assert "half-way" in problem


def test_explain_licence_and_extract_errors() -> None:
    codes, problem, _ = bu.explain(" [ERROR] You must activate your license key before using the update "
                                   "system.\n", "bitrix")
    assert codes == ["LICENSE"] and "licence key is not active" in problem
    codes, problem, _ = bu.explain(" [ERROR] [CL02] Cannot extract files from archive.\n", "bitrix")
    assert codes == ["CL02"] and "could not extract" in problem


def test_journal_tells_a_live_apply_from_a_dead_one(tmp_path: Path) -> None:
    import os
    import subprocess

    alive = {"pid": os.getpid(), "pid_start": bitrix_process.process_start(os.getpid())}
    assert bu.journal_alive(alive)
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert not bu.journal_alive({"pid": dead.pid, "pid_start": "1"})
    # a reused pid has another start time
    assert not bu.journal_alive({"pid": os.getpid(), "pid_start": "0"})
    path = tmp_path / "journal.json"
    bu.write_journal(str(path), {"run_id": "r1", "phase": "applying"})
    assert bu.read_journal(str(path)) == {"run_id": "r1", "phase": "applying"}
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_explain_a_missing_console() -> None:
    codes, problem, _ = bu.explain("\n\tSymfony Console is not installed.\n", "bitrix")
    assert codes == ["NO_CONSOLE"] and "symfony/console" in problem


def test_cleanup_takes_only_this_runs_unpack_folders(tmp_path: Path) -> None:
    updates = tmp_path / "bitrix" / "updates"
    for name in ("update_m100", "update_m300"):
        (updates / name / "iblock").mkdir(parents=True)
    (updates / "update_archive.gz").write_bytes(b"step download")  # mtime now: after `since`
    (updates / "notes.txt").write_text("not the updater's")
    found = bu.leftovers(str(tmp_path), since=200)
    assert sorted(found) == sorted([str(updates / "update_m300"), str(updates / "update_archive.gz")])


def test_update_cleanup_never_reaches_through_the_sites_symlinks(tmp_path: Path) -> None:
    """bitrix/updates and bitrix/managed_cache belong to the site user: a symlink there points anywhere."""
    docroot, outside = tmp_path / "www", tmp_path / "outside"
    (outside / "update_m900" / "keep").mkdir(parents=True)
    (outside / "s1" / "b_option").mkdir(parents=True)
    (outside / "s1" / "b_option" / "x.php").write_text("keep")
    (docroot / "bitrix").mkdir(parents=True)
    (docroot / "bitrix" / "updates").symlink_to(outside)
    (docroot / "bitrix" / "managed_cache").symlink_to(outside)
    assert bu.leftovers(str(docroot), since=0) == []
    bu.clear_option_cache(str(docroot))
    assert (outside / "s1" / "b_option" / "x.php").read_text() == "keep"
    # a real managed cache: the option cache goes, the rest stays; a link inside it is removed as a link
    (docroot / "bitrix" / "managed_cache").unlink()
    cache = docroot / "bitrix" / "managed_cache" / "MYSQL"
    (cache / "b_option").mkdir(parents=True)
    (cache / "b_option" / "a.php").write_text("x")
    (cache / "b_option_link").symlink_to(outside / "s1")
    (cache / "b_iblock").mkdir()
    bu.clear_option_cache(str(docroot))
    assert sorted(p.name for p in cache.iterdir()) == ["b_iblock"]
    assert (outside / "s1" / "b_option" / "x.php").read_text() == "keep"


@pytest.mark.parametrize("module", [bitrix_updates, bitrix_updates_info, bitrix_site_stopped],
                         ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_module_documentation_parses_and_lists_every_option(module) -> None:
    import re

    import yaml

    doc = yaml.safe_load(module.DOCUMENTATION)
    yaml.safe_load(module.EXAMPLES)
    yaml.safe_load(module.RETURN)
    source = Path(module.__file__).read_text()
    spec = set(re.findall(r"^            (\w+)=dict\(", source, re.M))
    # docroot and db come from the doc fragments (bitrix_site, bitrix_db), named in the spec by constant
    assert spec == set(doc["options"])


def test_gate_reads_the_shared_record_format_and_prefers_the_newest_pass(tmp_path: Path) -> None:
    now = time.time()
    for host, php, age in (("old", "8.2", 3), ("new", "8.1", 1)):
        (tmp_path / f"php_upgrade-staging.{host}.md").write_text(
            "# Staging promotion record\n\n```json\n" + json.dumps({
                "kind": "php_upgrade", "host": host, "run_id": host, "smoke_passed": True,
                "finished_epoch": now - age * 86400, "reached": {"php": php}}) + "\n```\n")
    paths = sorted(str(p) for p in tmp_path.iterdir())
    assert [r["host"] for r in sg.promotion_records(paths)] == ["new", "old"]
    gate = sg.staging_gate(paths, {"php": "8.2"}, 30, now)
    assert gate["ok"] and gate["record"]["host"] == "old"
    refused = sg.staging_gate(paths, {"php": "8.3"}, 30, now, "ansible-playbook playbooks/php_upgrade.yml")
    assert not refused["ok"]
    assert "php 8.1 on staging vs 8.3 planned here" in refused["reason"]
    assert "Run it on staging first: ansible-playbook playbooks/php_upgrade.yml." in refused["reason"]


# What only the test stand-ins (tools/sitegen: the generator and its update server) know: fault files, the pause
# flag, environment switches, the server folder, truth.json. Written here from tools/sitegen/README.md.
STAND_IN_KNOWLEDGE = [".bxops_paused", "bxops-update-stand-in", "PAUSE_BEFORE_DB", "FAIL_HALFWAY", "CORRUPT",
                      "LICENSE_INACTIVE", "BXOPS_UPDATE_FAIL", "BXOPS_UPDATE_PAUSE", "BX_UPDATE_SERVER_DIR",
                      "bxops-update-server", "truth.json", "bxsitegen"]


def test_production_code_knows_nothing_of_the_stand_in() -> None:
    production = sorted((ROOT / "plugins").rglob("*.py")) + sorted((ROOT / "roles").rglob("*.yml"))
    found = [f"{path.relative_to(ROOT)}: {word}"
             for path in production if "molecule" not in path.relative_to(ROOT).parts  # roles/*/molecule: links
             for word in STAND_IN_KNOWLEDGE if word in path.read_text(encoding="utf-8")]
    assert found == []


def test_the_sites_php_gets_the_locale_and_path_but_none_of_our_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Our environment is not the site's business: no fault switch or server folder reaches the updater."""
    for name, value in (("BXOPS_UPDATE_FAIL", "main:3"), ("BX_UPDATE_SERVER_DIR", "/elsewhere"),
                        ("BXOPS_SECRET", "x"), ("LANG", "C.UTF-8"), ("PATH", "/usr/bin:/bin")):
        monkeypatch.setenv(name, value)

    class Module:
        def fail_json(self, **kwargs):
            raise AssertionError(kwargs["msg"])

    user = bitrix_process.site_user("nobody").pw_name if os.geteuid() == 0 else os.environ.get("USER", "root")
    console = bu.Console(Module(), str(tmp_path), user, "/bin/sh")  # type: ignore[arg-type]
    rc, out = console.run_php(["-c", "env"], "/")
    names = {line.split("=", 1)[0] for line in out.splitlines() if "=" in line}
    assert rc == 0
    assert {"LANG", "PATH", "HOME", "USER", "LOGNAME"} <= names
    assert not {"BXOPS_UPDATE_FAIL", "BX_UPDATE_SERVER_DIR", "BXOPS_SECRET"} & names

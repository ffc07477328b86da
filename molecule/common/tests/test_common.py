"""The shared pieces every role stands on: site facts, the lock, bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from bxops_testlib import run_playbook, truth

HOSTNAME = "bxops-common-host"
SCENARIO = Path(__file__).resolve().parents[1]
LOCK = "/var/lib/bxops/locks/_home_bitrix_www.lock"


def test_site_facts_match_what_was_planted(host):
    facts = json.loads(host.file("/var/lib/bxops/site-info.json").content_string)
    planted = truth(HOSTNAME)
    assert facts["core"]["version"] == planted["core"]["version"]
    assert facts["modules"]["vote"]["version"] == planted["modules"]["vote"]["version"]
    assert (facts["file_mode"], facts["dir_mode"]) == (planted["permissions"]["file_mode"],
                                                       planted["permissions"]["dir_mode"])
    assert "password" not in json.dumps(facts["db"])


def test_a_second_run_is_refused_while_the_first_holds_the_lock(host):
    assert json.loads(host.file(LOCK).content_string)["owner"] == "run-a"
    proc = run_playbook(SCENARIO / "lock_as.yml", HOSTNAME, {"bxops_run_id": "run-b"})
    assert proc.returncode != 0
    assert "site is locked by run run-a" in proc.stdout
    assert json.loads(host.file(LOCK).content_string)["owner"] == "run-a"


def test_another_run_cannot_release_the_lock_but_its_owner_can(host):
    run_playbook(SCENARIO / "lock_as.yml", HOSTNAME, {"bxops_run_id": "run-b", "lock_state": "absent"})
    assert host.file(LOCK).exists
    proc = run_playbook(SCENARIO / "lock_as.yml", HOSTNAME, {"bxops_run_id": "run-a", "lock_state": "absent"})
    assert proc.returncode == 0, proc.stdout
    assert not host.file(LOCK).exists
    # Leave it as converge did, for idempotence of later steps.
    assert run_playbook(SCENARIO / "lock_as.yml", HOSTNAME, {"bxops_run_id": "run-a"}).returncode == 0


def test_a_lock_left_by_a_dead_run_is_taken_over_after_it_goes_stale(host):
    proc = run_playbook(SCENARIO / "lock_as.yml", HOSTNAME,
                        {"bxops_run_id": "run-c", "bxops_lock_stale_after": 0})
    assert proc.returncode == 0, proc.stdout
    assert json.loads(host.file(LOCK).content_string)["owner"] == "run-c"
    run_playbook(SCENARIO / "lock_as.yml", HOSTNAME, {"bxops_run_id": "run-c", "lock_state": "absent"})
    run_playbook(SCENARIO / "lock_as.yml", HOSTNAME, {"bxops_run_id": "run-a"})


def test_a_state_dir_inside_the_docroot_is_refused_before_anything_changes(host):
    proc = run_playbook(SCENARIO / "converge.yml", HOSTNAME,
                        {"bxops_state_dir": "/home/bitrix/www/upload/bxops"})
    assert proc.returncode != 0
    assert "bxops_state_dir must lie outside the docroot" in " ".join(proc.stdout.split())
    assert not host.file("/home/bitrix/www/upload/bxops").exists


def test_a_docroot_that_is_not_a_bitrix_site_gets_a_clear_message():
    proc = run_playbook(SCENARIO / "converge.yml", HOSTNAME, {"bitrix_docroot": "/var/www"})
    assert proc.returncode != 0
    assert "/var/www is not a 1C-Bitrix site" in proc.stdout or "/var/www does not exist" in proc.stdout

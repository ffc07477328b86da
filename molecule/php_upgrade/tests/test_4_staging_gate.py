"""Production's staging gate, on the clean host (already on 8.2 after converge's staging run). The verdicts
are checked through the role's staging_gate entry point (what main's preflight runs); one full production run
shows that a target staging passed goes through, and changes nothing on a site already on it."""
from __future__ import annotations

import json

import pytest
from _phplib import CLEAN, RUN_ROLE, connect, run_playbook


@pytest.fixture(scope="module")
def host():
    return connect(CLEAN)


def _gate(tmp_path, **extra):
    return run_playbook(RUN_ROLE, CLEAN, {"bxops_env": "production", "php_upgrade_test_entry": "staging_gate",
                                          "php_upgrade_promotions_dir": str(tmp_path), **extra})


def test_production_refuses_a_target_staging_has_not_passed(tmp_path):
    proc = _gate(tmp_path)
    assert proc.returncode != 0
    text = " ".join(proc.stdout.split())
    assert "no staging promotion record exists in this inventory, so php 8.2 never passed staging" in text, \
        proc.stdout[-3000:]
    assert "-e bxops_env=staging -e php_upgrade_target=8.2" in text
    assert "-e php_upgrade_skip_staging_gate=true" in text


def test_production_refuses_a_stale_or_other_target_pass(tmp_path):
    record = tmp_path / "php_upgrade-staging.somehost.md"
    record.write_text(json.dumps({"reached": {"php": "8.2"}, "smoke_passed": True, "finished_epoch": 1000,
                                  "run_id": "old"}))
    stale = _gate(tmp_path)
    assert stale.returncode != 0
    assert "older than php_upgrade_staging_max_age_days=30" in " ".join(stale.stdout.split())
    record.write_text(json.dumps({"reached": {"php": "8.1"}, "smoke_passed": True,
                                  "finished_epoch": 4102444800, "run_id": "x"}))
    other = _gate(tmp_path)
    assert other.returncode != 0
    assert "php 8.1 on staging vs 8.2 planned here" in " ".join(other.stdout.split())


def test_override_goes_through_and_is_reported(tmp_path):
    proc = _gate(tmp_path, php_upgrade_skip_staging_gate=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "staging gate verdict: skipped" in proc.stdout


def test_production_with_staging_pass_goes_through_and_changes_nothing():
    # converge (staging) wrote the pass into the inventory's promotions folder
    proc = run_playbook(RUN_ROLE, CLEAN, {"bxops_env": "production"})
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "changed=0" in proc.stdout
    assert "staging_gate: passed" in " ".join(proc.stdout.split())

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
    assert "php_upgrade_target 8.2 has not passed staging" in text, proc.stdout[-3000:]


def test_production_refuses_a_stale_or_other_target_pass(tmp_path):
    record = tmp_path / "php_upgrade-staging.json"
    record.write_text(json.dumps({"target": "8.2", "smoke": "passed", "epoch": 1000, "run_id": "old"}))
    assert _gate(tmp_path).returncode != 0
    record.write_text(json.dumps({"target": "8.1", "smoke": "passed", "epoch": 4102444800, "run_id": "x"}))
    assert _gate(tmp_path).returncode != 0


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

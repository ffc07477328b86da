"""Production's staging gate, on the clean host (already on 8.2 after converge's staging run)."""
from __future__ import annotations

import json

from _phplib import CLEAN, RUN_ROLE, run_playbook

testinfra_hosts = [f"ansible://{CLEAN}"]


def test_production_refuses_a_target_staging_has_not_passed(tmp_path):
    proc = run_playbook(RUN_ROLE, CLEAN, {"bxops_env": "production",
                                          "php_upgrade_promotions_dir": str(tmp_path)})
    assert proc.returncode != 0
    text = " ".join(proc.stdout.split())
    assert "php_upgrade_target 8.2 has not passed staging" in text, proc.stdout[-3000:]


def test_production_refuses_a_stale_staging_pass(tmp_path):
    record = {"target": "8.2", "smoke": "passed", "epoch": 1000, "run_id": "old"}
    (tmp_path / "php_upgrade-staging.json").write_text(json.dumps(record))
    proc = run_playbook(RUN_ROLE, CLEAN, {"bxops_env": "production",
                                          "php_upgrade_promotions_dir": str(tmp_path)})
    assert proc.returncode != 0
    assert "has not passed staging" in proc.stdout


def test_production_passes_with_staging_pass_and_override_is_reported(tmp_path):
    # converge (staging) wrote the pass into the inventory's promotions folder: production goes through
    proc = run_playbook(RUN_ROLE, CLEAN, {"bxops_env": "production"})
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "changed=0" in proc.stdout  # already on 8.2: a repeated run changes nothing
    # the override lets production through without a pass, and says so in the run's stats
    env_extra = {"bxops_env": "production", "php_upgrade_promotions_dir": str(tmp_path),
                 "php_upgrade_skip_staging_gate": True}
    proc = run_playbook(RUN_ROLE, CLEAN, env_extra)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert '"staging_gate": "skipped"' in proc.stdout

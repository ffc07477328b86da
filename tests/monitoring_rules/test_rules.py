"""The monitoring_server role's alert and recording rules under `promtool test rules` (issue 14).

The rule template is rendered with the role's defaults exactly as its template task does; the expected
alerts, labels, summaries and recorded values in bxops_rules_test.yml are worked out by hand."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from render import render_rules

HERE = Path(__file__).resolve().parent
UNIT_TESTS = HERE / "bxops_rules_test.yml"
PRIORITIES = {"critical", "high", "medium", "low"}


def promtool() -> str:
    """promtool from scripts/bootstrap.sh (unpacked from Debian's prometheus package) or PATH."""
    for candidate in (os.environ.get("BXOPS_PROMTOOL"), "/var/cache/bxops/promtool/usr/bin/promtool",
                      shutil.which("promtool")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("promtool not found: run `. scripts/bootstrap.sh` (it unpacks it into /var/cache/bxops/promtool)")


def run_promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def rules_of(text: str) -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(text)["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("rules")
    (folder / "bxops.rules.yml").write_text(render_rules())
    shutil.copy(UNIT_TESTS, folder / UNIT_TESTS.name)
    return folder


def test_rules_are_valid_prometheus_rules(rendered: Path) -> None:
    proc = run_promtool("check", "rules", "bxops.rules.yml", cwd=rendered)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 26 rules found" in proc.stdout  # 8 recording + 18 alerting rules


def test_promtool_unit_tests_pass(rendered: Path) -> None:
    proc = run_promtool("test", "rules", UNIT_TESTS.name, cwd=rendered)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_every_rule_has_a_unit_test_that_sees_it_fire_or_record(rendered: Path) -> None:
    rules = rules_of((rendered / "bxops.rules.yml").read_text())
    tests = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    fired = {case["alertname"] for test in tests for case in test.get("alert_rule_test", []) if case["exp_alerts"]}
    quiet = {case["alertname"] for test in tests for case in test.get("alert_rule_test", []) if not case["exp_alerts"]}
    recorded = {case["expr"] for test in tests for case in test.get("promql_expr_test", []) if case["exp_samples"]}
    alerts = {rule["alert"] for rule in rules if "alert" in rule}
    records = {rule["record"] for rule in rules if "record" in rule}
    assert len(alerts) == 18 and len(records) == 8
    assert alerts - fired == set(), "alerts never seen firing in a unit test"
    assert alerts - quiet == set(), "alerts never seen staying quiet in a unit test"
    assert records - recorded == set(), "recording rules without a unit test"


def test_every_alert_has_an_offer_priority_and_a_summary_naming_client_and_site(rendered: Path) -> None:
    for rule in rules_of((rendered / "bxops.rules.yml").read_text()):
        if "alert" not in rule:
            continue
        assert rule["labels"]["priority"] in PRIORITIES, rule["alert"]
        summary = rule["annotations"]["summary"]
        assert "{{ $labels.client }}" in summary and "{{ $labels.site }}" in summary, rule["alert"]
    tests = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    for test in tests:
        for case in test.get("alert_rule_test", []):
            for alert in case["exp_alerts"]:
                assert {"priority", "client", "environment", "site"} <= set(alert["exp_labels"]), case["alertname"]


def test_priorities_follow_the_offer() -> None:
    """The offer's table: Critical site down / payment failing; High a critical feature; Medium a
    non-critical error; Low improvements (issue 14's mapping)."""
    expected = {
        "BitrixSiteDown": "critical", "BitrixCheckoutFailing": "critical",
        "BitrixHigh5xxRatio": "high", "BitrixPhpFpmDown": "high", "BitrixApacheDown": "high",
        "BitrixMariaDBDown": "high",
        "BitrixDiskFull": "high", "BitrixCertificateExpiresVerySoon": "high",
        "BitrixDiskFilling": "medium", "BitrixCertificateExpiresSoon": "medium", "BitrixAgentsOverdue": "medium",
        "Bitrix1cExchangeStale": "medium",
        "BitrixApacheWorkersNearLimit": "medium", "BitrixCollectorStale": "medium", "BitrixSlowResponse": "medium",
        "BitrixMonitoringTargetDown": "medium",
        "BitrixUpdatesPending": "low", "BitrixBackupOld": "low",
    }
    got = {rule["alert"]: rule["labels"]["priority"] for rule in rules_of(render_rules()) if "alert" in rule}
    assert {name: got.get(name) for name in expected} == expected




def test_thresholds_are_the_role_variables(tmp_path: Path) -> None:
    """A low disk threshold and a short `for` (as the molecule scenario sets them) change what fires."""
    (tmp_path / "bxops.rules.yml").write_text(
        render_rules(monitoring_server_disk_high_percent=50, monitoring_server_disk_for="0s",
                     monitoring_server_site_down_for="30s"))
    shutil.copy(HERE / "threshold_test.yml", tmp_path / "threshold_test.yml")
    proc = run_promtool("test", "rules", "threshold_test.yml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # and with the defaults, 60 % is no disk alert at all
    (tmp_path / "bxops.rules.yml").write_text(render_rules())
    proc = run_promtool("test", "rules", "threshold_test.yml", cwd=tmp_path)
    assert proc.returncode == 1 and "alertname: BitrixDiskFull" in proc.stderr


def test_alerts_read_recorded_series_of_the_same_evaluation() -> None:
    """Groups are evaluated concurrently, rules in a group in order: an alert built on a recorded series
    must follow it in its own group, or it sees the previous evaluation's value (promtool found this as a
    flaky 18 % instead of 27 %)."""
    for group in yaml.safe_load(render_rules())["groups"]:
        recorded_before: set[str] = set()
        for rule in group["rules"]:
            if "record" in rule:
                recorded_before.add(rule["record"])
                continue
            for other in yaml.safe_load(render_rules())["groups"]:
                for record in (r["record"] for r in other["rules"] if "record" in r):
                    if record in rule["expr"]:
                        assert record in recorded_before, (rule["alert"], record, group["name"])


def test_apache_busy_limit_is_the_role_variable(tmp_path: Path) -> None:
    """140 of 150 workers (93 %) fires at the default 0.9; with 0.95 the same series stay quiet."""
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    (tmp_path / "bxops.rules.yml").write_text(render_rules(monitoring_server_apache_busy_ratio=0.95))
    proc = run_promtool("test", "rules", UNIT_TESTS.name, cwd=tmp_path)
    assert proc.returncode == 1
    assert "alertname: BitrixApacheWorkersNearLimit" in proc.stderr
    assert "alertname: BitrixApacheDown" not in proc.stderr

"""The audit report must say what the generator planted (truth.json) and what the host really is."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from bxops_testlib import PROJECT, ephemeral, run_playbook, truth

HOSTNAME = "bxops-audit-staging"
SCHEMA = PROJECT / "roles" / "audit" / "files" / "audit-report.schema.json"


@pytest.fixture(scope="module")
def planted() -> dict[str, Any]:
    return truth(HOSTNAME)


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return json.loads((ephemeral() / "reports" / HOSTNAME / "audit-latest.json").read_text())


def test_report_follows_its_published_schema(report):
    jsonschema.validate(report, json.loads(SCHEMA.read_text()))
    assert report["schema"] == "bxops.audit/2"


def test_core_version_and_date(report, planted):
    assert report["core"]["version"] == planted["core"]["version"]
    assert report["core"]["date"] == planted["core"]["date"]


def test_every_module_version_location_and_kind(report, planted):
    assert set(report["modules"]) == set(planted["modules"])
    for module_id, expected in planted["modules"].items():
        got = report["modules"][module_id]
        assert got["version"] == expected["version"], module_id
        assert got["location"] == expected["location"], module_id
        assert got["marketplace"] == expected["marketplace"], module_id
        assert got["installed"] == expected["installed"], module_id


def test_vulnerable_vote_module_is_a_critical_finding(report, planted):
    cves = {f["id"] for f in report["security"]["findings"] if f["severity"] == "critical"}
    for vulnerable in planted["vulnerable_modules"]:
        assert vulnerable["cve"] in cves


def test_disposable_folder_sizes(report, planted):
    for rel, expected in planted["disposable"].items():
        got = report["disposable"][rel]
        assert (got["files"], got["bytes"]) == (expected["files"], expected["bytes"]), rel


def test_orphan_estimate_equals_the_planted_orphans(report, planted):
    estimate = report["uploads"]["orphan_estimate"]
    assert estimate["files"] == planted["uploads"]["orphan_count"]
    assert estimate["bytes"] == planted["uploads"]["orphan_bytes"]
    orphan_paths = {o["path"] for o in planted["uploads"]["orphans"]}
    assert estimate["sample"] and set(estimate["sample"]) <= orphan_paths


def test_security_findings_name_the_planted_problems(report, planted):
    by_id = {f["id"]: f for f in report["security"]["findings"]}
    security = planted["security"]
    assert by_id["leftover-installer-files"]["paths"] == sorted(security["leftover_files"])
    assert set(security["world_writable"]) <= set(by_id["world-writable-code"]["paths"])
    assert by_id["config-readable-by-others"]["paths"] == sorted(security["readable_configs"])
    assert ("exposed-git" in by_id) == bool(security["exposed_git"])


def test_php_serving_version_and_end_of_life(host, report):
    assert report["php"]["serving"]["version"] == "7.4"
    assert "7.4" in report["php"]["installed"]
    assert report["php"]["serving"]["user"] == "bitrix"
    assert "php-end-of-life" in {f["id"] for f in report["security"]["findings"]}


def test_php_setting_checks_match_the_host(host, report):
    checks = {c["name"]: c for c in report["php"]["settings"]["checks"]}
    scan = "PHP_INI_SCAN_DIR=/etc/php/7.4/fpm/conf.d"
    max_input_vars = int(host.check_output(
        f"{scan} php7.4 -c /etc/php/7.4/fpm/php.ini -r 'echo ini_get(\"max_input_vars\");'"))
    assert checks["max_input_vars"]["passed"] == (max_input_vars >= 10000)
    assert checks["extension mysqli"]["passed"] is True


def test_home_page_answers(report):
    assert report["home_page"]["status"] == 200
    assert report["home_page"]["response_ms"] > 0


def test_db_size_is_real_and_no_password_leaks(host, report):
    size = int(host.check_output(
        "mysql -N -e \"SELECT SUM(DATA_LENGTH+INDEX_LENGTH) FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA='{}'\"".format(report["db"]["database"])))
    assert report["db"]["bytes"] == size
    password = host.check_output(
        "php -r '$s = include \"/home/bitrix/www/bitrix/.settings.php\"; "
        "echo $s[\"connections\"][\"value\"][\"default\"][\"password\"];'")
    assert password and password not in json.dumps(report)


def test_not_a_bitrix_site_is_refused_clearly():
    proc = run_playbook(
        Path(__file__).resolve().parents[1] / "converge.yml", HOSTNAME, {"bitrix_docroot": "/srv"}
    )
    assert proc.returncode != 0
    assert "/srv is not a 1C-Bitrix site" in proc.stdout


def test_wrong_variable_type_is_refused_naming_it():
    proc = run_playbook(
        Path(__file__).resolve().parents[1] / "converge.yml", HOSTNAME, {"audit_tls_port": "https"}
    )
    assert proc.returncode != 0
    assert "audit_tls_port" in proc.stdout


# ---- schema 2: what the site is wired to and its own code (issue 16's project docs), against truth.json `docs`
INTEGRATION_LISTS = ["payment_systems", "delivery_services", "rest_apps", "webhooks_in", "webhooks_out",
                     "marketplace_modules", "cloud_buckets", "agents", "cron_jobs"]


@pytest.mark.parametrize("section", INTEGRATION_LISTS)
def test_integrations_are_exactly_the_planted_ones(report, planted, section):
    assert report["integrations"][section] == planted["docs"]["integrations"][section]


def test_1c_exchange_and_smtp(report, planted):
    got, expected = report["integrations"], planted["docs"]["integrations"]
    assert got["exchange_1c"]["url"] == expected["exchange_1c"]["url"]
    assert got["exchange_1c"]["options"] == expected["exchange_1c"]["options"]
    assert got["smtp"]["enabled"] is True and got["smtp"]["senders"] == expected["smtp"]["senders"]
    assert got["errors"] == []


@pytest.mark.parametrize("kind", ["modules", "components", "templates", "overrides"])
def test_own_code_with_sizes_and_last_change(report, planted, kind):
    expected = [{k: v for k, v in e.items() if k != "id"} for e in planted["docs"]["components"][kind]]
    assert report["components"][kind] == expected


def test_no_planted_secret_reaches_the_report(report, planted):
    text = json.dumps(report, ensure_ascii=False)
    assert planted["docs"]["secrets"] and [s for s in planted["docs"]["secrets"] if s in text] == []


def test_os_and_db_server_version(host, report):
    assert report["os"]["name"] == host.check_output(". /etc/os-release && echo \"$PRETTY_NAME\"")
    assert report["db"]["server_version"] == host.check_output("mysql -N -e 'SELECT VERSION()'")

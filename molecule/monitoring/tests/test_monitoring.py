"""The monitor sees the client as a user of the agency would check it: through Prometheus's and
Alertmanager's APIs, the receivers' mailbox and webhook sink. Expected values come from the scenario's
settings (molecule.yml) and the generator's truth.json, never from the roles."""

from __future__ import annotations

import json
import re
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from bxops_testlib import PROJECT, run_playbook, truth

CLIENT = "bxops-monitoring-client"
MONITOR = "bxops-monitoring-monitor"
SITE_DOWN_FOR = 15  # molecule.yml: monitoring_server_site_down_for
SCRAPE = 5          # monitoring_server_scrape_interval (probes run at this pace)
EVALUATION = 5      # monitoring_server_evaluation_interval
PLAYBOOK = PROJECT / "playbooks" / "monitoring.yml"
testinfra_hosts = [MONITOR]


def host_of(name: str) -> Any:
    return testinfra.get_host(f"podman://{name}")


@pytest.fixture(scope="module")
def monitor() -> Any:
    return host_of(MONITOR)


@pytest.fixture(scope="module")
def client() -> Any:
    return host_of(CLIENT)


def get(monitor: Any, url: str) -> Any:
    return json.loads(monitor.check_output("curl -sf %s", url))


def query(monitor: Any, promql: str) -> list[dict[str, Any]]:
    data = get(monitor, "http://127.0.0.1:9090/api/v1/query?query=" + urllib.parse.quote(promql))
    result: list[dict[str, Any]] = data["data"]["result"]
    return result


def active_alerts(monitor: Any, name: str) -> list[dict[str, Any]]:
    flt = urllib.parse.quote(f'alertname="{name}"')
    alerts: list[dict[str, Any]] = get(monitor, f"http://127.0.0.1:9093/api/v2/alerts?filter={flt}")
    return [a for a in alerts if a["status"]["state"] == "active"]


def wait_for(what: str, check: Any, timeout: float, pause: float = 1.0) -> float:
    """Poll check() until it is truthy; return the seconds it took."""
    start = time.monotonic()
    while True:
        if check():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            pytest.fail(f"{what}: not seen within {timeout} s")
        time.sleep(pause)


def test_every_target_is_up(monitor):
    expected = {
        ("node", f"{CLIENT}:9100"), ("mysqld", f"{CLIENT}:9104"), ("nginx", f"{CLIENT}:9113"),
        ("blackbox", "http://www.mon.bxops.test/"), ("blackbox", "http://www.mon.bxops.test/contacts/"),
        ("blackbox", "http://www.mon.bxops.test/catalog/"),
    }

    def targets() -> list[dict[str, Any]]:
        active: list[dict[str, Any]] = get(monitor, "http://127.0.0.1:9090/api/v1/targets")["data"]["activeTargets"]
        return active

    wait_for("every target up", lambda: all(t["health"] == "up" for t in targets()) and len(targets()) == 6,
             timeout=60)
    seen = {(t["labels"]["job"], t["labels"]["instance"]) for t in targets()}
    assert seen == expected
    for target in targets():
        assert target["labels"]["client"] == "mon"
        assert target["labels"]["environment"] == "staging"
        assert target["labels"]["site"] == CLIENT
    kinds = {t["labels"]["instance"]: t["labels"].get("kind") for t in targets() if t["labels"]["job"] == "blackbox"}
    assert kinds == {"http://www.mon.bxops.test/": "home", "http://www.mon.bxops.test/contacts/": "smoke",
                     "http://www.mon.bxops.test/catalog/": "critical"}


def test_the_collectors_metrics_as_prometheus_sees_them_equal_the_generators_truth(monitor):
    planted = truth(CLIENT)
    wait_for("collector metrics", lambda: query(monitor, 'bitrix_agents_overdue{client="mon"}'), timeout=60)

    def value(promql: str) -> float:
        result = query(monitor, promql)
        assert len(result) == 1, (promql, result)
        return float(result[0]["value"][1])

    # cron is stopped: the planted overdue agents stay overdue, and short-interval agents join them as
    # their NEXT_EXEC passes; the oldest stays the planted one
    assert value('bitrix_agents_overdue{client="mon"}') >= planted["monitoring"]["agents_overdue"]
    assert value('bitrix_mail_events_unsent{client="mon"}') == planted["monitoring"]["mail_unsent"]
    assert value('bitrix_updates_pending{client="mon"}') == len(planted["updates"]["available"])
    exchange = planted["monitoring"]["exchange_1c"]
    assert value('bitrix_exchange_1c_last_success_timestamp_seconds{client="mon"}') == exchange["last_success"]
    assert value('bitrix_exchange_1c_errors{client="mon"}') == exchange["errors"]
    # the oldest overdue agent was planted agents_oldest_overdue_s before the generator's now
    oldest = value('bitrix_agents_overdue_oldest_age_seconds{client="mon"}')
    ran = value('bitrix_collector_last_run_timestamp_seconds{client="mon",part="site"}')
    late = planted["monitoring"]["agents_oldest_overdue_s"] + (ran - planted["generator"]["now"])
    assert abs(oldest - late) <= 2
    for folder in ("bitrix/managed_cache", "bitrix/stack_cache", "upload/resize_cache"):
        got = value(f'bitrix_disposable_bytes{{client="mon",folder="{folder}"}}')
        assert got == planted["disposable"][folder]["bytes"], folder
    assert value('bitrix_site:db_size_bytes{client="mon"}') > 0


def test_the_disk_alert_fires_with_the_threshold_set_low(monitor):
    # molecule.yml sets the high disk threshold to 1 %: any real root filesystem is fuller than that
    wait_for("BitrixDiskFull in Alertmanager", lambda: active_alerts(monitor, "BitrixDiskFull"), timeout=60)
    alert = active_alerts(monitor, "BitrixDiskFull")[0]
    assert alert["labels"]["priority"] == "high"
    assert (alert["labels"]["client"], alert["labels"]["site"]) == ("mon", CLIENT)
    assert "% full (limit 1 %)" in alert["annotations"]["summary"]
    # its medium twin (0.5 %) fires in Prometheus but is inhibited in Alertmanager
    flt = urllib.parse.quote('alertname="BitrixDiskFilling"')
    filling = get(monitor, f"http://127.0.0.1:9093/api/v2/alerts?filter={flt}")
    assert filling and all(a["status"]["state"] == "suppressed" for a in filling)


def test_stopping_php_fpm_fires_site_down_within_for_plus_scrape_and_starting_resolves(monitor, client):
    assert not active_alerts(monitor, "BitrixSiteDown")
    client.check_output("systemctl stop php7.4-fpm")
    try:
        took = wait_for("BitrixSiteDown in Alertmanager", lambda: active_alerts(monitor, "BitrixSiteDown"),
                        timeout=SITE_DOWN_FOR + SCRAPE + EVALUATION + 30)
        # for + one scrape (the probe that sees it) + one rule evaluation; 3 s for the API and polling
        assert took <= SITE_DOWN_FOR + SCRAPE + EVALUATION + 3, took
        alert = active_alerts(monitor, "BitrixSiteDown")[0]
        assert {k: alert["labels"][k] for k in ("priority", "client", "environment", "site", "instance")} == {
            "priority": "critical", "client": "mon", "environment": "staging", "site": CLIENT,
            "instance": "http://www.mon.bxops.test/"}
        assert alert["annotations"]["summary"].startswith(f"The site {CLIENT} of mon (staging) is down")
        wait_for("BitrixPhpFpmDown in Alertmanager", lambda: active_alerts(monitor, "BitrixPhpFpmDown"), timeout=30)
    finally:
        client.check_output("systemctl start php7.4-fpm")
    took = wait_for("BitrixSiteDown resolved", lambda: not active_alerts(monitor, "BitrixSiteDown"),
                    timeout=SCRAPE + EVALUATION + 30)
    assert took <= SCRAPE + EVALUATION + 3, took


def test_the_receivers_got_the_alert_and_its_resolution(monitor):
    def mails() -> list[str]:
        out = monitor.check_output(
            "for f in /var/lib/bxops-sink/mail/new/*; do [ -f \"$f\" ] && grep -h -i -E '^(subject|to):' \"$f\"; "
            "echo ===; done")
        return [m for m in out.split("===") if m.strip()]

    wait_for("a resolved mail", lambda: any("[RESOLVED" in m and "BitrixSiteDown" in m for m in mails()), timeout=30)
    firing = [m for m in mails() if "[FIRING" in m and "BitrixSiteDown" in m]
    assert firing
    # the client's route: the agency's on-call address and the client's own
    assert "oncall@agency.bxops.test" in firing[0] and "client@mon.bxops.test" in firing[0]

    def hooks() -> list[dict[str, Any]]:
        out = monitor.check_output(
            'for f in /var/lib/bxops-sink/webhook/*.json; do [ -f "$f" ] && cat "$f" && echo; done')
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    wait_for("a resolved webhook", lambda: any(
        h["payload"]["status"] == "resolved" and h["payload"]["commonLabels"].get("alertname") == "BitrixSiteDown"
        for h in hooks()), timeout=30)
    site_down = [h for h in hooks() if h["payload"]["commonLabels"].get("alertname") == "BitrixSiteDown"]
    first = site_down[0]
    assert first["authorization"] == "Bearer webhook-secret-for-tests"
    assert first["payload"]["version"] == "4" and first["payload"]["status"] == "firing"
    labels = first["payload"]["alerts"][0]["labels"]
    assert (labels["priority"], labels["client"], labels["site"]) == ("critical", "mon", CLIENT)
    assert first["payload"]["alerts"][0]["annotations"]["summary"].startswith(f"The site {CLIENT}")


def fingerprint(monitor: Any) -> str:
    return str(monitor.check_output(
        "sha256sum /etc/prometheus/prometheus.yml /etc/prometheus/alertmanager.yml /etc/prometheus/blackbox.yml "
        "/etc/prometheus/rules/bxops.rules.yml /etc/default/prometheus*"))


@pytest.mark.parametrize(("extra", "message"), [
    ({"monitoring_server_clients": [{"name": "other", "email_to": ["a@b.test"]}]},
     "bxops_client of host bxops-monitoring-client is 'mon', a client monitoring_server_clients does not list"),
    ({"monitoring_server_disk_high_percent": "lots"}, "monitoring_server_disk_high_percent"),
    ({"monitoring_agent_basic_auth_password": ""}, "monitoring_server_clients[mon].scrape_password is missing"),
    ({"monitoring_server_smtp_auth_username": "bxops"}, "monitoring_server_smtp_auth_password is missing"),
])
def test_bad_input_is_refused_before_any_change(monitor, extra, message):
    before = fingerprint(monitor)
    proc = run_playbook(PLAYBOOK, limit="monitor", extra_vars={"bxops_env": "staging", **extra})
    assert proc.returncode != 0
    flat = " ".join(proc.stdout.replace("''", "'").split())  # the YAML callback folds and quotes messages
    assert message in flat, proc.stdout[-3000:]
    assert "scrape-secret-for-tests" not in proc.stdout
    assert fingerprint(monitor) == before


def test_check_mode_changes_nothing(monitor):
    before = fingerprint(monitor)
    proc = run_playbook(PLAYBOOK, limit="monitor", check=True,
                        extra_vars={"bxops_env": "staging", "monitoring_server_disk_high_percent": 2,
                                    "monitoring_server_retention": "30d"})
    assert proc.returncode == 0, proc.stdout[-3000:]
    recap = re.search(rf"{MONITOR}\s*:\s*ok=\d+\s+changed=(\d+)", proc.stdout)
    assert recap and int(recap.group(1)) >= 2, proc.stdout[-3000:]  # the rules and the command line would change
    assert fingerprint(monitor) == before
    assert "webhook-secret-for-tests" not in proc.stdout and "scrape-secret-for-tests" not in proc.stdout

"""Monitoring on the BitrixVM stack (nginx -> Apache prefork + mod_php): monitoring_agent finds the stack from
the host, serves mod_status (ExtendedStatus) on a loopback-only vhost, runs apache_exporter behind basic auth,
skips the PHP-FPM status (mod_php has no pool) and keeps nginx's stub_status; /server-status is no longer
readable through the nginx front. Expected values are written by hand from images/bitrixvm-host (prefork with
MaxRequestWorkers 150, Apache on 127.0.0.1:8888) and the role's documented defaults (ports 9100, 9104, 9113,
9117; status vhost 127.0.0.1:8089), not read from the code under test."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from bxops_testlib import run_playbook

# The scenario's host (a copy of the scenario may rename its platform).
HOSTNAME = os.environ.get("BXOPS_BITRIXVM_HOST", "bxops-bitrixvm-host")
testinfra_hosts = [f"podman://{HOSTNAME}"]
PLAYBOOK = Path(__file__).resolve().parents[1] / "monitoring.yml"
AUTH = "prometheus:scrape-secret-for-tests"
DOMAINS = ["vm.bxops.test", "shop.bxops.test"]


def _code(host, url: str, *args: str) -> str:
    return host.check_output(f"curl -s -o /dev/null -w '%{{http_code}}' {' '.join(args)} {url}")


def _metrics(host, port: int) -> str:
    return host.check_output(f"curl -sf -u {AUTH} http://127.0.0.1:{port}/metrics")


def _value(text: str, series: str) -> float:
    match = re.search(rf"(?m)^{re.escape(series)} (\S+)$", text)
    assert match, f"{series} not exported"
    return float(match.group(1))


@pytest.fixture(scope="module")
def runs(host):
    first = run_playbook(PLAYBOOK, HOSTNAME)
    second = run_playbook(PLAYBOOK, HOSTNAME)
    check = run_playbook(PLAYBOOK, HOSTNAME, check=True)
    return {"first": first, "second": second, "check": check}


def test_the_role_runs_and_says_why_there_is_no_fpm_status(runs) -> None:
    out = runs["first"].stdout
    assert runs["first"].returncode == 0, out[-4000:]
    words = " ".join(out.split())  # the callback wraps long messages (and doubles ' in quoted ones)
    assert "web stack nginx+apache_mod_php" in words
    # php8.2 after this scenario's converge (php7.4 before an upgrade)
    assert re.search(r"PHP-FPM status skipped: Apache'{1,2}s PHP module \(php[78]\.\d\) serves the site"
                     r" and mod_php has no FPM pool", words)
    announced = json.loads(re.search(r"BXOPS-EXPORTERS (\{[^}]*\})", out.replace('\\"', '"')).group(1))
    assert announced == {"node": 9100, "mysqld": 9104, "nginx": 9113, "apache": 9117}


def test_a_second_run_changes_nothing_and_check_mode_too(runs) -> None:
    for name in ("second", "check"):
        proc = runs[name]
        assert proc.returncode == 0, (name, proc.stdout[-4000:])
        recap = re.search(rf"{re.escape(HOSTNAME)}\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0",
                          proc.stdout)
        changed = [task for task in re.split(r"(?m)^TASK ", proc.stdout) if re.search(r"(?m)^changed:", task)]
        assert recap and recap.group(1) == "0", (name, [task[:300] for task in changed])


def test_server_status_is_denied_through_the_front(host, runs) -> None:
    # Debian's status.conf answers "Require local", and nginx proxies every visitor from 127.0.0.1: only the
    # role's deny stops it. On the generated site Bitrix's .htaccess rewrite turned it into a 404 before (a
    # site without that rewrite showed the status); Apache's deny answers first, with 403.
    for domain in DOMAINS:
        assert _code(host, "http://127.0.0.1/server-status", f"-H 'Host: {domain}'") == "403"
        assert _code(host, "http://127.0.0.1/server-status?auto", f"-H 'Host: {domain}'") == "403"
        # Apache's own listener (the one nginx proxies to) refuses it too
        assert _code(host, "http://127.0.0.1:8888/server-status", f"-H 'Host: {domain}'") == "403"


def test_mod_status_with_extended_status_on_loopback_only(host, runs) -> None:
    status = host.check_output("curl -sf 'http://127.0.0.1:8089/server-status?auto'")
    assert "Total Accesses:" in status  # only with ExtendedStatus On
    assert re.search(r"(?m)^BusyWorkers: [1-9]", status)
    listeners = host.check_output("ss -ltnH 'sport = :8089'").split()
    assert "127.0.0.1:8089" in listeners and "0.0.0.0:8089" not in listeners and "*:8089" not in listeners


def test_apache_exporter_answers_with_apache_up_and_workers(host, runs) -> None:
    assert _code(host, "http://127.0.0.1:9117/metrics") == "401"  # basic auth
    text = _metrics(host, 9117)
    assert _value(text, "apache_up") == 1
    busy = _value(text, 'apache_workers{state="busy"}')
    idle = _value(text, 'apache_workers{state="idle"}')
    assert busy >= 1  # the worker answering this scrape
    assert 1 <= busy + idle <= 150
    assert host.service("prometheus-apache-exporter").is_enabled


def test_the_other_exporters_are_up(host, runs) -> None:
    node = _metrics(host, 9100)
    assert _value(node, 'bxops_apache_max_request_workers{mpm="prefork"}') == 150  # images/bitrixvm-host
    assert re.search(r'(?m)^node_systemd_unit_state\{name="apache2\.service",state="active"[^}]*\} 1$', node)
    assert _value(_metrics(host, 9104), "mysql_up") == 1
    assert _value(host.check_output("curl -sf http://127.0.0.1:9113/metrics"), "nginx_up") == 1
    assert host.check_output("curl -sf http://127.0.0.1:8088/stub_status").startswith("Active connections:")


def test_no_php_fpm_status_on_the_apache_stack(host, runs) -> None:
    conf = host.file("/etc/nginx/conf.d/bxops-status.conf").content_string
    assert "stub_status" in conf
    assert "fastcgi_pass" not in conf and "bxops-fpm" not in conf
    assert host.run("ls -d /etc/php/*/fpm/pool.d").rc != 0  # no FPM pool touched or created
    assert _code(host, "http://127.0.0.1:8088/bxops-fpm-status") == "404"

"""Monitoring on the Apache/mod_php stack (issue 17) and the monitor's OS-family data.

monitoring_agent: the loopback-only mod_status vhost, apache_exporter's command line per OS family, nginx's
status server without the FPM location, MaxRequestWorkers read from Apache's configuration, the new ports
refused by name. monitoring_server: the apache job only for hosts whose agent announced it, the OS family's
names instead of Debian's literals. Expected texts are written by hand (Apache's, apache_exporter 0.12's and
the prometheus-rpm packages' documented names), not read from the files under test."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2]
AGENT = PROJECT / "roles" / "monitoring_agent"
SERVER = PROJECT / "roles" / "monitoring_server"


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _render(template: str, **values: Any) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, keep_trailing_newline=True)
    env.filters["to_json"] = json.dumps
    base = {"ansible_managed": "Managed by bxops", **_yaml(AGENT / "defaults" / "main.yml"),
            "__monitoring_agent_listen": "127.0.0.1"}
    return env.from_string((AGENT / "templates" / template).read_text()).render(**{**base, **values})


def _playbook(tmp_path: Path, play: list[dict[str, Any]], inventory: dict[str, Any] | None = None,
              ) -> subprocess.CompletedProcess[str]:
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump(inventory or {"all": {"hosts": {"localhost": {}}}}))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"),
               ANSIBLE_ROLES_PATH=str(PROJECT / "roles"), ANSIBLE_STDOUT_CALLBACK="default",
               ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    return subprocess.run(["ansible-playbook", "-i", str(inv), "-c", "local", "-e",
                           f"ansible_python_interpreter={sys.executable}", str(tmp_path / "play.yml")],
                          cwd=PROJECT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=300)


# ---- monitoring_agent: templates ------------------------------------------------------------------------


def test_status_vhost_listens_on_loopback_and_denies_the_status_everywhere_else() -> None:
    conf = _render("apache-status.conf.j2")
    lines = [line.strip() for line in conf.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert "ExtendedStatus On" in lines
    assert "Listen 127.0.0.1:8089" in lines
    vhost = lines.index("<VirtualHost 127.0.0.1:8089>")
    # the deny is at server level, before the vhost (a vhost's sections are merged after the server's)
    deny = lines.index("Require all denied")
    assert lines[deny - 1] == '<Location "/server-status">' and deny < vhost
    inside = lines[vhost:lines.index("</VirtualHost>")]
    assert inside[inside.index('<Location "/server-status">') + 1:][:2] == ["SetHandler server-status",
                                                                               "Require ip 127.0.0.1"]
    assert "Require local" not in lines  # nginx proxies from 127.0.0.1: "local" is every visitor
    assert "SetHandler server-status" not in "\n".join(lines[:vhost])


@pytest.mark.parametrize(("family", "expected"), [
    ("Debian", 'ARGS="--telemetry.address=127.0.0.1:9117 --web.config=/etc/prometheus/bxops-web-config.yml'
               ' --scrape_uri=http://127.0.0.1:8089/server-status?auto"'),
    ("RedHat", 'APACHE_EXPORTER_OPTS="--telemetry.address=127.0.0.1:9117'
               ' --web.config=/etc/prometheus/bxops-web-config.yml'
               ' --scrape_uri=http://127.0.0.1:8089/server-status?auto"'),
])
def test_apache_exporter_command_line_per_os_family(family: str, expected: str) -> None:
    data = _yaml(AGENT / "vars" / f"{family}.yml")
    text = _render("prometheus-apache-exporter.default.j2", **data)
    assert [line for line in text.splitlines() if not line.startswith("#")] == [expected]


def test_nginx_status_server_has_the_fpm_location_only_on_the_fpm_stack() -> None:
    fpm = _render("nginx-status.conf.j2", __monitoring_agent_apache=False)
    apache = _render("nginx-status.conf.j2", __monitoring_agent_apache=True)
    assert "fastcgi_pass bx_php;" in fpm and "bxops-fpm-(status|ping)" in fpm
    assert "fastcgi_pass" not in apache and "bxops-fpm" not in apache
    for text in (fpm, apache):
        assert "listen 127.0.0.1:8088;" in text and "stub_status;" in text and "deny all;" in text


def test_apache_data_in_both_families() -> None:
    deb, el = (_yaml(AGENT / "vars" / f"{f}.yml") for f in ("Debian", "RedHat"))
    assert deb["__monitoring_agent_os_apache_service"] == "apache2"
    assert el["__monitoring_agent_os_apache_service"] == "httpd"
    assert deb["__monitoring_agent_os_apache_exporter_package"] == "prometheus-apache-exporter"
    assert deb["__monitoring_agent_os_apache_status_conf"] == "/etc/apache2/conf-available/bxops-status.conf"
    assert el["__monitoring_agent_os_apache_status_conf"] == "/etc/httpd/conf.d/bxops-status.conf"
    assert el["__monitoring_agent_os_apache_status_enable"] == []  # httpd includes conf.d/*.conf itself
    assert "apache2" in deb["__monitoring_agent_os_systemd_units"]
    assert "httpd" in el["__monitoring_agent_os_systemd_units"]


# ---- monitoring_agent: MaxRequestWorkers and ports -------------------------------------------------------


@pytest.mark.parametrize(("grep_output", "expected"), [
    ("MaxRequestWorkers       150", 150),                          # Debian's mpm_prefork.conf
    ("MaxRequestWorkers 150\n\tMaxRequestWorkers   400", 400),     # the last one wins, as in Apache
    ("MaxClients 64", 64),                                          # Apache 2.2's name, still accepted
    ("", 256),                                                      # prefork's compiled default
])
def test_max_request_workers_from_apache_configuration(tmp_path: Path, grep_output: str, expected: int) -> None:
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"ansible.builtin.include_vars": {"file": str(AGENT / "vars" / "main.yml")}},
        {"ansible.builtin.debug": {"msg": "BXOPS-MRW {{ __monitoring_agent_max_request_workers }}"},
         "vars": {"__monitoring_agent_apache_limits": {"stdout": grep_output}}}]}]
    proc = _playbook(tmp_path, play)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert re.search(rf"BXOPS-MRW {expected}\b", proc.stdout), proc.stdout[-2000:]


def _run_agent(tmp_path: Path, **role_vars: object) -> subprocess.CompletedProcess[str]:
    role_vars = {"monitoring_agent_basic_auth_password": "s3cret-scrape",
                 "monitoring_agent_mysqld_exporter_password": "s3cret-db", **role_vars}
    play = [{"hosts": "localhost", "gather_facts": False,
             "roles": [{"role": "bxops.bitrix.monitoring_agent", "vars": role_vars}]}]
    return _playbook(tmp_path, play)


@pytest.mark.parametrize(("override", "named"), [
    ({"monitoring_agent_apache_exporter_port": 9100}, "monitoring_agent_status_port=8088: the exporters' ports"),
    ({"monitoring_agent_apache_status_port": 8088}, "monitoring_agent_status_port=8088: the exporters' ports"),
    ({"monitoring_agent_apache_status_port": 70000}, "monitoring_agent_apache_status_port=70000: must be a TCP port"),
    ({"monitoring_agent_apache_exporter_port": 0}, "monitoring_agent_apache_exporter_port=0: must be a TCP port"),
])
def test_apache_ports_refused_by_name_before_any_change(tmp_path: Path, override: dict[str, object],
                                                       named: str) -> None:
    proc = _run_agent(tmp_path, **override)
    assert proc.returncode != 0
    assert named in proc.stdout, proc.stdout[-3000:]
    assert "Install node_exporter" not in proc.stdout and "Find the web stack" not in proc.stdout


# ---- monitoring_server -----------------------------------------------------------------------------------


def test_prometheus_scrapes_apache_only_where_the_agent_announced_it(tmp_path: Path) -> None:
    out = tmp_path / "prometheus.yml"
    inventory = {"all": {"hosts": {"localhost": {}}, "children": {"staging": {"hosts": {
        "vm1": {"bxops_client": "acme", "ansible_host": "10.0.0.5", "bitrix_domains": ["vm.acme.test"],
                "monitoring_agent_exporters": {"node": 9100, "mysqld": 9104, "nginx": 9113, "apache": 9117}},
        "fpm1": {"bxops_client": "acme", "ansible_host": "10.0.0.6", "bitrix_domains": ["www.acme.test"]},
    }}}}}
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"ansible.builtin.include_role": {"name": "bxops.bitrix.monitoring_server", "tasks_from": "targets",
                                          "public": True},
         "vars": {"monitoring_server_clients": [{"name": "acme"}]}},
        {"ansible.builtin.template": {"src": str(SERVER / "templates" / "prometheus.yml.j2"), "dest": str(out),
                                      "mode": "0600"},
         "vars": {"monitoring_server_clients": [{"name": "acme"}]}}]}]
    proc = _playbook(tmp_path, play, inventory)
    assert proc.returncode == 0, proc.stdout[-3000:]
    jobs = {job["job_name"]: job for job in yaml.safe_load(out.read_text())["scrape_configs"]}
    targets = {name: sorted(t for c in job["static_configs"] for t in c["targets"]) for name, job in jobs.items()}
    assert targets == {
        "node/acme": ["10.0.0.5:9100", "10.0.0.6:9100"],
        "mysqld/acme": ["10.0.0.5:9104", "10.0.0.6:9104"],
        "nginx/acme": ["10.0.0.5:9113", "10.0.0.6:9113"],
        "apache/acme": ["10.0.0.5:9117"],
        "blackbox": ["https://vm.acme.test/", "https://www.acme.test/"],
    }
    assert jobs["apache/acme"]["basic_auth"] == {"username": "prometheus",
                                                 "password_file": "/etc/prometheus/bxops-secrets/acme.scrape"}
    assert jobs["apache/acme"]["relabel_configs"] == [{"target_label": "job", "replacement": "apache"}]
    assert "basic_auth" not in jobs["nginx/acme"]


# Written by hand: Debian's packages and the upstream prometheus-rpm packages for EL.
SERVER_DATA = {
    "Debian": {"packages": ["prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter"],
               "units": ["prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter"],
               "args_files": ["/etc/default/prometheus", "/etc/default/prometheus-alertmanager",
                              "/etc/default/prometheus-blackbox-exporter"]},
    "RedHat": {"packages": ["prometheus2", "alertmanager", "blackbox_exporter"],
               "units": ["prometheus", "alertmanager", "blackbox_exporter"],
               "args_files": ["/etc/default/prometheus", "/etc/default/alertmanager",
                              "/etc/default/blackbox_exporter"]},
}


@pytest.mark.parametrize("family", sorted(SERVER_DATA))
def test_monitor_os_family_data(family: str) -> None:
    data = _yaml(SERVER / "vars" / f"{family}.yml")
    services = [data["__monitoring_server_os_services"][k] for k in ("prometheus", "alertmanager", "blackbox")]
    assert data["__monitoring_server_os_packages"] == SERVER_DATA[family]["packages"]
    assert [s["name"] for s in services] == SERVER_DATA[family]["units"]
    assert [s["args_file"] for s in services] == SERVER_DATA[family]["args_files"]
    if family == "Debian":  # what the Debian 12 scenario has always written: ARGS, nothing else kept
        assert {(s["args_var"], s["base_args"]) for s in services} == {("ARGS", "")}
    else:  # the RPMs' units read <NAME>_OPTS and need their config path kept
        assert services[0]["args_var"] == "PROMETHEUS_OPTS"
        assert "--config.file=/etc/prometheus/prometheus.yml" in services[0]["base_args"]
        assert "--config.file=/etc/prometheus/alertmanager.yml" in services[1]["base_args"]


def test_monitor_tasks_name_no_debian_package_or_unit() -> None:
    for path in [*SERVER.glob("tasks/*.yml"), *SERVER.glob("handlers/*.yml")]:
        text = path.read_text()
        for literal in ("prometheus-alertmanager", "prometheus-blackbox-exporter", "/etc/default/"):
            # a handler's title may say it; a unit, package or file the task acts on may not
            acted_on = rf"(?m)^\s*(name|dest|validate|- ):?\s*\S*{re.escape(literal)}"
            assert not re.search(acted_on, text), (path.name, literal)
        assert not re.search(r"(?m)^\s*loop: \[prometheus", text), path.name

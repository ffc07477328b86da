"""The runner against a podman test host (the project's image), through the podman connection."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import yaml

from .conftest import REPO, Workspace

IMAGE = "localhost/bxops-bitrix-host:current"
pytestmark = pytest.mark.testhost


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CONTAINERS_CONF=str(REPO / "images" / "containers.conf"))
    return subprocess.run(
        ["podman", *args], env=env, capture_output=True, text=True, check=check, timeout=300
    )


@pytest.fixture
def test_host(bitrix_test_host: str) -> str:
    """The session's test host (tests/conftest.py): the tiny playbook changes nothing the audit looks at,
    and the audit test generates its site anew (--force)."""
    return bitrix_test_host


def test_run_against_a_podman_test_host(sqlite_workspace: Workspace, test_host: str) -> None:
    ws = sqlite_workspace
    host = {
        "ansible_connection": "containers.podman.podman",
        "ansible_python_interpreter": "/usr/bin/python3",
    }
    inventory = {"all": {"children": {"staging": {"hosts": {test_host: host}}, "production": {"hosts": {}}}}}
    (ws.client_dir / "hosts.yml").write_text(yaml.safe_dump(inventory))
    before = time.time()
    ws.cli(
        "run",
        "t1",
        "staging",
        "tiny",
        "-e",
        "tiny_sleep=2",
        "--ticket",
        "BX-1",
        CONTAINERS_CONF=str(REPO / "images" / "containers.conf"),
    )
    wall = time.time() - before
    [entry] = ws.history()
    assert entry["status"] == "succeeded" and entry["hosts"] == [test_host]
    assert entry["work_type"] == "maintenance" and entry["role_seconds"]["audit"] >= 2
    started = datetime.fromisoformat(entry["started_at"]).timestamp()
    assert before <= started and 2 <= entry["raw_seconds"] <= wall + 1
    assert entry["host_stats"][test_host]["changed"] == 1
    assert entry["audit_data"]["disk_free_mb"] == 1234


def _wait_for_systemd(name: str) -> None:
    """The site generator needs the host's MariaDB: wait until systemd has started the services."""
    deadline = time.monotonic() + 120
    while True:
        state = podman("exec", name, "systemctl", "is-system-running", check=False).stdout.strip()
        if state in ("running", "degraded"):
            return
        assert time.monotonic() < deadline, f"the test host's systemd never finished booting ({state})"
        time.sleep(0.5)


def test_the_real_audit_playbook_through_the_runner(sqlite_workspace: Workspace, test_host: str) -> None:
    """runner.py runs the collection's own playbooks/audit.yml on a test host holding a generated site: the
    ledger gets the run as the demo contract bills it, and the audit report lands next to the client's
    inventory, naming the core version the generator installed (its truth.json)."""
    ws = sqlite_workspace
    containers_conf = str(REPO / "images" / "containers.conf")
    _wait_for_systemd(test_host)
    generated = subprocess.run(
        [str(REPO / "scripts" / "sitegen-into.sh"), test_host, "--seed", "42", "--size", "small", "--force"],
        env=dict(os.environ, CONTAINERS_CONF=containers_conf),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    truth = json.loads(podman("exec", test_host, "cat", "/var/lib/bxops-sitegen/truth.json").stdout)

    # A throwaway client shaped like inventories/demo: its contract and group_vars as they are, hosts.yml
    # pointing at the test host.
    client = ws.inventories / "demo"
    shutil.copytree(REPO / "inventories" / "demo", client)
    host = {"ansible_connection": "containers.podman.podman", "ansible_python_interpreter": "/usr/bin/python3"}
    inventory = {"all": {"children": {"staging": {"hosts": {test_host: host}}, "production": {"hosts": {}}}}}
    (client / "hosts.yml").write_text(yaml.safe_dump(inventory))

    before = time.time()
    ws.cli(
        "run",
        "demo",
        "staging",
        "audit",
        BXOPS_PLAYBOOKS_DIR=str(REPO / "playbooks"),
        CONTAINERS_CONF=containers_conf,
    )
    wall = time.time() - before

    [entry] = ws.history("demo")
    assert entry["status"] == "succeeded" and entry["playbook"] == "audit"
    assert entry["hosts"] == [test_host] and entry["host_stats"][test_host].get("failures", 0) == 0
    # inventories/demo/contract.yml: roles: {audit: maintenance}
    assert entry["work_type"] == "maintenance"
    assert 0 < entry["raw_seconds"] <= wall + 1
    # The demo contract bills runs per work type and month, 15-minute steps rounded up, at least 15
    # minutes: the month's only run, shorter than 15 minutes, carries the whole first step.
    assert entry["raw_seconds"] < 900
    assert entry["billed_seconds"] == 900
    # Months are the client's (contract.yml: timezone Europe/Moscow), not UTC's.
    month = datetime.fromisoformat(entry["started_at"]).astimezone(ZoneInfo("Europe/Moscow")).strftime("%Y-%m")
    assert entry["billing"]["group"] == f"month:{month}:maintenance|up/900/900"

    # The stored audit data: the report the role wrote next to the client's inventory, and the same report
    # handed to the ledger (set_stats per host).
    report_path = client / "reports" / test_host / "audit-latest.json"
    report = json.loads(report_path.read_text())
    assert report["schema"] == "bxops.audit/2"
    assert report["core"]["version"] == truth["core"]["version"]
    dated = client / "reports" / test_host / f"audit-{datetime.fromtimestamp(before, UTC):%Y-%m-%d}.json"
    assert json.loads(dated.read_text()) == report
    stored = entry["audit_data"]["per_host"][test_host]["audit"]
    assert stored["schema"] == "bxops.audit/2" and stored["core"] == report["core"]
    assert stored["core"]["version"] == truth["core"]["version"]

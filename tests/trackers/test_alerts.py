"""Alertmanager's webhook opens a ticket at the mapped priority and starts the incident's clocks when the
alert fired; a repeated notification opens nothing new (issue 15)."""

from __future__ import annotations

import copy
import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import CLIENT, Setup, make, workspace_for

# Alertmanager's webhook body (version 4), as its documentation describes it
PAYLOAD: dict[str, Any] = {
    "version": "4",
    "groupKey": '{}/{severity="critical"}:{alertname="ProbeFailure"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "bxops",
    "groupLabels": {"alertname": "ProbeFailure"},
    "commonLabels": {"alertname": "ProbeFailure", "severity": "critical"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager.example:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "ProbeFailure", "instance": "https://shop.example", "severity": "critical"},
            "annotations": {
                "summary": "Site down: https://shop.example",
                "description": "https://shop.example has failed its probe for 2 minutes",
            },
            "startsAt": "2026-11-30T20:31:45.828123456Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example:9090/graph?g0.expr=probe_success+%3D%3D+0",
            "fingerprint": "1a30ba71cca2921f",
        },
        {
            "status": "firing",
            "labels": {"alertname": "Chatty", "severity": "info"},
            "annotations": {},
            "startsAt": "2026-11-30T20:30:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": "00000000000000ff",
        },
    ],
}


def _with_project(setup: Setup, project: str) -> None:
    setup.terms = setup.terms.model_copy(update={"project": project})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.parametrize(
    ("kind", "project", "their"), [("jira", "OPS", "Highest"), ("youtrack", "0-1", "Show-stopper")]
)
def test_receiver_opens_one_ticket_and_starts_the_critical_clock(
    tmp_path: Path, kind: str, project: str, their: str
) -> None:
    setup = make(kind)
    _with_project(setup, project)
    receiver = None
    try:
        ws = workspace_for(tmp_path, setup)
        port = _free_port()
        receiver = subprocess.Popen(
            ws.command("alert-receiver", "--listen", f"127.0.0.1:{port}"),
            env=ws.env(**setup.env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        url = f"http://127.0.0.1:{port}/alertmanager/{CLIENT}"
        deadline = time.monotonic() + 60
        while True:
            try:
                first = httpx.post(url, json=PAYLOAD, timeout=30)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and receiver.poll() is None
                time.sleep(0.2)
        assert first.status_code == 200
        (created,) = setup.fake.issues.values()
        assert (created.title, created.priority) == ("Site down: https://shop.example", their)
        lines = first.json()["done"]
        assert lines[0] == f"1a30ba71cca2921f: opened {created.key} (critical)"
        assert lines[1] == "Chatty (00000000000000ff): severity 'info' is not in tracker.alert_priorities, no ticket"
        again = httpx.post(url, json=PAYLOAD, timeout=30)  # Alertmanager repeats the notification
        assert again.status_code == 200 and len(setup.fake.issues) == 1
        assert again.json()["done"][0].startswith(f"ProbeFailure (1a30ba71cca2921f): already ticket {created.key}")
        # the clock started when the alert fired: one hour later the 30-minute response is breached
        report = json.loads(
            ws.cli("sla", CLIENT, "--month", "2026-11", "--json", "--as-of", "2026-11-30T21:31:45.828123+00:00").stdout
        )
        (incident,) = report["incidents"]
        assert (incident["ticket"], incident["priority"]) == (created.key, "critical")
        assert incident["opened_at"] == "2026-11-30T20:31:45.828123+00:00"
        assert (incident["response"]["elapsed_seconds"], incident["response"]["state"]) == (3600, "breached")
        bad = httpx.post(f"http://127.0.0.1:{port}/alertmanager/{CLIENT}", content=b"{not json", timeout=30)
        assert bad.status_code == 400
    finally:
        if receiver is not None:
            receiver.terminate()
            receiver.wait(timeout=30)
        setup.fake.stop()


def test_alert_command_on_bitrix24(tmp_path: Path) -> None:
    setup = make("bitrix24")
    try:
        ws = workspace_for(tmp_path, setup)
        payload = tmp_path / "payload.json"
        payload.write_text(json.dumps(PAYLOAD))
        shown = ws.cli("alert", CLIENT, "--file", str(payload)).stdout
        (created,) = setup.fake.issues.values()
        assert created.priority == "high"  # Bitrix24 PRIORITY 2, the tracker's name for our critical
        assert f"opened {created.key} (critical)" in shown
        resolved = copy.deepcopy(PAYLOAD)
        resolved["alerts"][0]["status"] = "resolved"
        resolved["alerts"][0]["fingerprint"] = "2b2b2b2b2b2b2b2b"
        payload.write_text(json.dumps(resolved))
        shown = ws.cli("alert", CLIENT, "--file", str(payload)).stdout
        assert "ProbeFailure (2b2b2b2b2b2b2b2b): resolved, no ticket" in shown
        assert len(setup.fake.issues) == 1
    finally:
        setup.fake.stop()


def test_not_a_payload_is_one_line(tmp_path: Path) -> None:
    setup = make("jira")
    try:
        ws = workspace_for(tmp_path, setup)
        payload = tmp_path / "payload.json"
        payload.write_text(json.dumps({"hello": 1}))
        done = ws.cli("alert", CLIENT, "--file", str(payload), check=False)
        assert done.returncode == 1
        assert (
            done.stderr.strip()
            == "bxops: error: not an Alertmanager webhook payload: expected a JSON object with 'alerts'"
        )
        assert setup.fake.log == []
    finally:
        setup.fake.stop()

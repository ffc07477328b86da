"""The runner against a podman test host (the project's image), through the podman connection."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest
import yaml

from .conftest import REPO, Workspace, have_podman_image

IMAGE = "localhost/bxops-bitrix-host:current"
pytestmark = pytest.mark.testhost


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CONTAINERS_CONF=str(REPO / "images" / "containers.conf"))
    return subprocess.run(
        ["podman", *args], env=env, capture_output=True, text=True, check=check, timeout=300
    )


@pytest.fixture
def test_host() -> Iterator[str]:
    if not have_podman_image(IMAGE):
        message = f"podman image {IMAGE} is missing (scripts/build-image.sh builds it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    name = f"bxrun-{uuid.uuid4().hex[:8]}"
    podman("run", "-d", "--name", name, "--systemd=always", IMAGE, "/sbin/init")
    try:
        deadline = time.monotonic() + 120
        while podman("exec", name, "true", check=False).returncode != 0:
            assert time.monotonic() < deadline, "the test host never came up"
            time.sleep(0.5)
        yield name
    finally:
        podman("rm", "-f", "-t", "0", name, check=False)


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

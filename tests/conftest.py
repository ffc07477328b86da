"""Shared pytest set-up: the collection importable as ansible_collections.bxops.bitrix; one booted test host
for the session (`bitrix_test_host`). Shared functions live in helpers.py (importable as `helpers`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / ".collections"))
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", str(PROJECT / ".collections"))
os.environ.setdefault("CONTAINERS_CONF", str(PROJECT / "images" / "containers.conf"))


# --- one booted test host for the session -----------------------------------------------------------------

TEST_IMAGE = os.environ.get("BXOPS_TEST_IMAGE", "localhost/bxops-bitrix-host:current")


def _podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, timeout=300)


@pytest.fixture(scope="session")
def bitrix_test_host() -> Iterator[str]:
    """A booted test host of the project's image (systemd up, PHP's short_open_tag on as BitrixVM sets
    it), one for the whole session: booting one took longer than most tests that use it. Its users
    (tests/sitegen, tests/monitoring, tests/runner/test_testhost.py) generate their site first with the
    generator's --force (it wipes the docroot and creates the database anew) and check only what they
    generated or wrote themselves."""
    if _podman("image", "exists", TEST_IMAGE, check=False).returncode != 0:
        message = f"podman image {TEST_IMAGE} is missing (scripts/build-image.sh builds it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    name = f"bxtest-{uuid.uuid4().hex[:8]}"
    _podman("run", "-d", "--name", name, "--systemd=always", TEST_IMAGE, "/sbin/init")
    try:
        deadline = time.monotonic() + 120
        while True:
            state = _podman("exec", name, "systemctl", "is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                break
            assert time.monotonic() < deadline, f"the test host's systemd never finished booting ({state})"
            time.sleep(0.5)
        # Bitrix needs short_open_tag (BitrixVM sets it); only add it when the image lacks it
        tag = _podman("exec", name, "php", "-r", "echo ini_get('short_open_tag');").stdout.strip()
        if tag not in ("1", "On"):
            _podman(
                "exec",
                name,
                "sh",
                "-c",
                "for s in cli fpm; do echo 'short_open_tag = On' "
                "> /etc/php/7.4/$s/conf.d/90-bitrixenv.ini; done; systemctl restart php7.4-fpm",
            )
        yield name
    finally:
        _podman("rm", "-f", "-t", "0", name, check=False)

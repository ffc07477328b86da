"""Fixtures for the balance page: a client folder with a contract written here, a ledger (SQLite, or the
PostgreSQL of scripts/start-postgres.sh), tokens made with `runner.py serve-token`, and `runner.py serve`
started on a free loopback port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from helpers import REPO, RUNNER, own_pg_database, pg_url_or_skip, run_in_process, runner_env

# Two clients on one simple term: 10 hours a month, no carry-over, manual entries rounded up to 15
# minutes each (at least 15). The test's expected figures are computed by hand from these numbers.
HOURS_PER_MONTH = 10


def contract(client: str) -> dict[str, Any]:
    demo = yaml.safe_load((REPO / "inventories" / "demo" / "contract.yml").read_text(encoding="utf-8"))
    return {
        "client": client,
        "timezone": "UTC",
        "sla": demo["sla"],
        "terms": [
            {
                "effective_from": "2026-01-01",
                "hours_per_month": HOURS_PER_MONTH,
                "billing_period": "month",
                "carry_over": {"mode": "none"},
                "rounding": {
                    "increment_minutes": 15,
                    "mode": "up",
                    "minimum_minutes": 15,
                    "scope": {"runs": "month", "manual": "entry"},
                },
                "overage": {"policy": "warn"},
                "work_types": {"maintenance": "Monitoring and server maintenance", "bugfix": "Bug fixes"},
                "roles": {"audit": "maintenance"},
            }
        ],
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ServeSpace:
    root: Path
    ledger_url: str
    tokens: dict[str, str] = field(default_factory=dict)
    base_url: str = ""

    @property
    def inventories(self) -> Path:
        return self.root / "inventories"

    def env(self) -> dict[str, str]:
        env = runner_env(self.root, self.inventories, self.ledger_url, config=self.root / "bxops.toml")
        env.pop("BXOPS_SERVE_TOKENS", None)
        return env

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """runner.py's command in this process (helpers.run_in_process: the same code path, without a
        process start per token and entry); the server is a process of its own."""
        done = run_in_process(list(args), self.env())
        assert done.returncode == 0, done.stderr
        return done

    def log(self, client: str, minutes: int, work_type: str, note: str) -> None:
        today = datetime.now(UTC).date().isoformat()
        self.cli("log", client, "--duration", f"{minutes}m", "--work-type", work_type, "--note", note, "--date", today)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "ledger.sqlite")
    # a database of these tests' own on the shared server (other suites reset theirs)
    return own_pg_database(pg_url_or_skip(), "bxops_serve_test")


@pytest.fixture
def space(tmp_path: Path, ledger_url: str) -> Iterator[ServeSpace]:
    """Clients alpha and beta, one token each and a staff token, and the server running."""
    made = ServeSpace(tmp_path, ledger_url)
    for client in ("alpha", "beta"):
        (made.inventories / client).mkdir(parents=True)
        (made.inventories / client / "contract.yml").write_text(yaml.safe_dump(contract(client)), encoding="utf-8")
    (made.root / "bxops.toml").write_text(f'serve_tokens_file = "{made.root / "tokens.toml"}"\n', encoding="utf-8")
    for client in ("alpha", "beta"):
        made.tokens[client] = made.cli("serve-token", client).stdout.strip()
    made.tokens["staff"] = made.cli("serve-token", "--staff", "boss").stdout.strip()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(RUNNER), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=made.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    made.base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(made.base_url + "/", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"runner.py serve did not start: {server.communicate()[1]}")
            time.sleep(0.2)
        yield made
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

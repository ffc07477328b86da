"""Fixtures for the runner's tests: a client workspace, ledgers on SQLite and PostgreSQL, CLI helpers."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import REPO, TEST_PLAYBOOKS, pg_url_or_skip, reset_postgres, run_runner, runner_env
from helpers import RUNNER as RUNNER  # the tests here import it from this conftest

from bxops.ledger.entries import NewRun

PLAYBOOKS = TEST_PLAYBOOKS
CLIENT = "t1"

BASE_TERM: dict[str, Any] = {
    "effective_from": "2026-01-01",
    "hours_per_month": 20,
    "billing_period": "quarter",
    "carry_over": {"mode": "within_period"},
    "rounding": {"increment_minutes": 15, "mode": "up", "minimum_minutes": 15},
    "overage": {"policy": "warn"},
    "work_types": {
        "updates": "Core and module updates",
        "maintenance": "Monitoring and server maintenance",
        "bugfix": "Bug fixes",
        "enhancements": "Minor enhancements",
        "documentation": "Documentation",
    },
    "roles": {"audit": "maintenance", "cleanup": "maintenance", "update": "updates"},
}


def base_contract(**term_changes: Any) -> dict[str, Any]:
    term = copy.deepcopy(BASE_TERM)
    term.update(term_changes)
    return {"client": CLIENT, "terms": [term]}


def one_run_pool_contract() -> dict[str, Any]:
    """15 minutes a month, overage refused: one run at the 15-minute minimum fits, no second one."""
    return base_contract(
        hours_per_month=0.25, billing_period="month", carry_over={"mode": "none"}, overage={"policy": "refuse"}
    )


def new_run(
    client: str = CLIENT,
    *,
    estimate: int | None = None,
    started_at: datetime | None = None,
    heartbeat_interval: float = 5.0,
) -> NewRun:
    """A run of the `tiny` playbook on staging, as the runner would start it (artifacts nowhere)."""
    return NewRun(
        client=client,
        environment="staging",
        playbook="tiny",
        engineer="tester",
        ticket=None,
        note=None,
        work_type=None,
        options={},
        artifacts_dir="/nonexistent",
        estimate_seconds=estimate,
        overage_override=False,
        heartbeat_interval=heartbeat_interval,
        **({} if started_at is None else {"started_at": started_at}),
    )


def localhost_inventory() -> dict[str, Any]:
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    return {"all": {"children": {"staging": {"hosts": {"localhost": host}}, "production": {"hosts": {}}}}}


@dataclass
class Workspace:
    root: Path
    inventories: Path
    artifacts: Path
    ledger_url: str

    @property
    def client_dir(self) -> Path:
        return self.inventories / CLIENT

    def write_contract(self, data: object, client: str = CLIENT) -> Path:
        path = self.inventories / client / "contract.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data, sort_keys=False) if not isinstance(data, str) else data)
        return path

    def env(self, **extra: str) -> dict[str, str]:
        return runner_env(
            self.root, self.inventories, self.ledger_url, artifacts=self.artifacts, playbooks=PLAYBOOKS, **extra
        )

    def cli(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        done = run_runner(list(args), self.env(**env))
        if check and done.returncode != 0:
            raise AssertionError(f"runner.py {' '.join(args)} → {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done

    def history(self, *args: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = json.loads(self.cli("history", "--json", "--all", *args).stdout)
        return entries

    def balance(self, *args: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.cli("balance", CLIENT, "--json", *args).stdout)
        return data


@pytest.fixture
def pg_url() -> Iterator[str]:
    url = pg_url_or_skip()
    reset_postgres(url)
    yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "ledger.sqlite")
    else:
        url = pg_url_or_skip()
        reset_postgres(url)
        yield url


def make_workspace(tmp_path: Path, ledger_url: str) -> Workspace:
    inventories = tmp_path / "inventories"
    (inventories / CLIENT).mkdir(parents=True)
    (inventories / CLIENT / "hosts.yml").write_text(yaml.safe_dump(localhost_inventory()))
    workspace = Workspace(tmp_path, inventories, tmp_path / "artifacts", ledger_url)
    workspace.write_contract(base_contract())
    return workspace


@pytest.fixture
def workspace(tmp_path: Path, ledger_url: str) -> Workspace:
    return make_workspace(tmp_path, ledger_url)


@pytest.fixture
def sqlite_workspace(tmp_path: Path) -> Workspace:
    return make_workspace(tmp_path, str(tmp_path / "ledger.sqlite"))


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, sqlite_workspace: Workspace) -> Workspace:
    """Point the in-process CLI (bxops.cli.main) at the workspace."""
    for key, value in sqlite_workspace.env().items():
        if key.startswith("BXOPS_") or key == "COLUMNS":
            monkeypatch.setenv(key, value)
    return sqlite_workspace


def have_podman_image(image: str) -> bool:
    if shutil.which("podman") is None:
        return False
    env = dict(os.environ, CONTAINERS_CONF=str(REPO / "images" / "containers.conf"))
    done = subprocess.run(["podman", "image", "exists", image], env=env, check=False, capture_output=True)
    return done.returncode == 0


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class InProcessCli:
    """Runs bxops.cli.main in this process (fast) with the workspace's environment."""

    def __init__(self, workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
        self.workspace = workspace
        self._capsys = capsys

    def __call__(self, *args: str, expect: int | None = 0) -> Outcome:
        from bxops.cli import main

        self._capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as done:
            code = int(done.code or 0)
        captured = self._capsys.readouterr()
        outcome = Outcome(code, captured.out, captured.err)
        if expect is not None:
            assert code == expect, f"{args} → {code}\n{captured.out}\n{captured.err}"
        return outcome


@pytest.fixture
def cli(workspace: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> InProcessCli:
    for key, value in workspace.env().items():
        if key.startswith("BXOPS_") or key == "COLUMNS":
            monkeypatch.setenv(key, value)
    return InProcessCli(workspace, capsys)


@pytest.fixture
def cleanup() -> Iterator[list[int]]:
    """Processes to SIGKILL after the test (runners and what they started), should it fail half-way."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

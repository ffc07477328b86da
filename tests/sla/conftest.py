"""Fixtures for the SLA and time-zone tests: a client folder with a contract, a SQLite ledger, the CLI."""

from __future__ import annotations

import copy
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import run_in_process, run_runner, runner_env

CLIENT = "acme"

TERM: dict[str, Any] = {
    "effective_from": "2026-01-01",
    "hours_per_month": 20,
    "billing_period": "month",
    "carry_over": {"mode": "none"},
    "rounding": {"increment_minutes": 15, "mode": "up", "minimum_minutes": 15},
    "overage": {"policy": "warn"},
    "work_types": {"bugfix": "Bug fixes", "maintenance": "Maintenance"},
}


def contract(**top: Any) -> dict[str, Any]:
    return {"client": CLIENT, "terms": [copy.deepcopy(TERM)], **top}


@dataclass
class Workspace:
    root: Path
    ledger_url: str | None = None  # default: a SQLite file in root

    @property
    def ledger(self) -> Path:
        return self.root / "ledger.sqlite"

    def write_contract(self, data: dict[str, Any]) -> Path:
        path = self.root / "inventories" / CLIENT / "contract.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def env(self, **extra: str) -> dict[str, str]:
        return runner_env(
            self.root, self.root / "inventories", self.ledger_url or str(self.ledger), drop=("BXOPS_",), **extra
        )

    def cli(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        """runner.py in this process (helpers.run_in_process); `subprocess=True` in the env runs it as a
        real process."""
        if env.pop("subprocess", "") == "True":
            done = run_runner(list(args), self.env(**env))
        else:
            done = run_in_process(list(args), self.env(**env))
        if check and done.returncode != 0:
            raise AssertionError(f"runner.py {' '.join(args)} → {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done

    def json(self, *args: str, **env: str) -> Any:
        return json.loads(self.cli(*args, "--json", **env).stdout)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)

"""Fixtures for the SLA and time-zone tests: a client folder with a contract, a SQLite ledger, the CLI."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path[:1]:
    sys.path.insert(0, str(REPO))

import pytest  # noqa: E402
import yaml  # noqa: E402

RUNNER = REPO / "runner.py"
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
        env = {k: v for k, v in os.environ.items() if not k.startswith("BXOPS_")}
        env.update(
            BXOPS_ROOT=str(REPO),
            BXOPS_INVENTORIES_DIR=str(self.root / "inventories"),
            BXOPS_ARTIFACTS_DIR=str(self.root / "artifacts"),
            BXOPS_LEDGER_URL=self.ledger_url or str(self.ledger),
            BXOPS_ENGINEER="tester",
            BXOPS_CONFIG=str(self.root / "no-config.toml"),
            COLUMNS="200",
            PYTHONPATH=str(REPO),
        )
        env.update(extra)
        return env

    def cli(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        """runner.py in this process (bxops.cli.main, as the console script calls it): the same code
        path as a subprocess without a second of start-up per call; `subprocess=True` in the env runs
        it as a real process."""
        if env.pop("subprocess", "") == "True":
            done = subprocess.run(
                [sys.executable, str(RUNNER), *args],
                env=self.env(**env),
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
        else:
            done = _in_process(list(args), self.env(**env))
        if check and done.returncode != 0:
            raise AssertionError(f"runner.py {' '.join(args)} → {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done

    def json(self, *args: str, **env: str) -> Any:
        return json.loads(self.cli(*args, "--json", **env).stdout)


def _in_process(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    from bxops.cli import main

    saved = dict(os.environ)
    stdout, stderr = io.StringIO(), io.StringIO()
    code = 0
    os.environ.clear()
    os.environ.update(env)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                main(args)
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(args, code, stdout.getvalue(), stderr.getvalue())


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)

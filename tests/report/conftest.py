"""Fixtures for the monthly report's tests: a client folder with the demo contract and a filled ledger."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import REPO as REPO  # test_work_split imports it from here
from helpers import run_runner, runner_env

from bxops.periods import Month

from .demo_data import fill

MONTH = Month(2026, 11)


@dataclass
class ReportSpace:
    root: Path
    inventories: Path
    ledger_url: str

    @property
    def client_dir(self) -> Path:
        return self.inventories / "demo"

    def env(self) -> dict[str, str]:
        return runner_env(self.root, self.inventories, self.ledger_url)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_runner(list(args), self.env())


def empty_space(tmp_path: Path) -> ReportSpace:
    inventories = tmp_path / "inventories"
    (inventories / "demo").mkdir(parents=True)
    for name in ("contract.yml", "hosts.yml"):
        shutil.copy(REPO / "inventories" / "demo" / name, inventories / "demo" / name)
    return ReportSpace(tmp_path, inventories, str(tmp_path / "ledger.sqlite"))


@pytest.fixture
def space(tmp_path: Path) -> ReportSpace:
    """The demo contract, a month of work in the ledger, audit reports and a changelog (demo_data)."""
    made = empty_space(tmp_path)
    fill(made.ledger_url, made.client_dir, MONTH)
    return made


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> ReportSpace:
    """The report written once in html, pdf, md and json, Russian and English."""
    made = empty_space(tmp_path_factory.mktemp("rendered"))
    fill(made.ledger_url, made.client_dir, MONTH)
    for lang in ("ru", "en"):
        done = made.cli("report", "demo", "--month", str(MONTH), "--format", "html,pdf,md,json", "--lang", lang)
        assert done.returncode == 0, done.stderr
    return made

"""Fixtures for the monthly report's tests: a client folder with the demo contract and a filled ledger."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path[:1]:
    sys.path.insert(0, str(REPO))

import pytest  # noqa: E402

from bxops.periods import Month  # noqa: E402

from .demo_data import fill  # noqa: E402

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
        env = dict(os.environ)
        env.update(
            BXOPS_ROOT=str(REPO),
            BXOPS_INVENTORIES_DIR=str(self.inventories),
            BXOPS_LEDGER_URL=self.ledger_url,
            BXOPS_ARTIFACTS_DIR=str(self.root / "artifacts"),
            BXOPS_CONFIG=str(self.root / "no-config.toml"),
            BXOPS_ENGINEER="tester",
            COLUMNS="200",
        )
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        return env

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(REPO / "runner.py"), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


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

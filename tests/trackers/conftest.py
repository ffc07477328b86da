"""Fixtures: each tracker's fake server started on loopback, and the contract terms that point at it."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import RUNNER, TEST_PLAYBOOKS, run_in_process, run_runner, runner_env

from bxops.sla.terms import TrackerTerms

from .fakes import Bitrix24Fake, FakeTracker, JiraFake, YouTrackFake

KINDS = ("jira", "jira_cloud", "youtrack", "bitrix24")

#: each tracker's priority names → ours
PRIORITY_MAPS = {
    "jira": {"Highest": "critical", "High": "high", "Medium": "medium", "Low": "low"},
    "jira_cloud": {"Highest": "critical", "High": "high", "Medium": "medium", "Low": "low"},
    "youtrack": {"Show-stopper": "critical", "Critical": "high", "Major": "medium", "Normal": "low", "Minor": "low"},
    # Bitrix24 has three: high, medium, low; "critical" comes from a tag-less mapping of high
    "bitrix24": {"high": "critical", "medium": "medium", "low": "low", "high-business": "high"},
}


@dataclass
class Setup:
    kind: str
    fake: FakeTracker
    token: str
    terms: TrackerTerms
    ticket: str

    @property
    def env(self) -> dict[str, str]:
        return {"ACME_TRACKER_TOKEN": self.token}

    def tracker_section(self) -> dict[str, Any]:
        return self.terms.model_dump(mode="json", exclude_none=True)


def make(kind: str) -> Setup:
    fake: FakeTracker
    if kind == "jira":
        fake, token, ticket = JiraFake(), "jira-pat-123", "OPS-1"
    elif kind == "jira_cloud":
        fake, token, ticket = (
            JiraFake(cloud=True, token="cloud-api-token"),
            "ops@agency.example:cloud-api-token",
            "OPS-1",
        )
    elif kind == "youtrack":
        fake, token, ticket = YouTrackFake(), "perm:yt-token", "SUP-1"
    else:
        fake, token, ticket = Bitrix24Fake(), "w3bh00ks3cret", "101"
    fake.start()
    terms = TrackerTerms(
        type=kind,  # type: ignore[arg-type]
        url=fake.url,
        token_env="ACME_TRACKER_TOKEN",
        priorities=PRIORITY_MAPS[kind],
        statuses={"Waiting for customer": "waiting", "Done": "resolved", "In Progress": "in_progress"},
        staff=["ops@agency.example"],
        user="7" if kind == "bitrix24" else None,
        estimate_before_run=True,
    )
    return Setup(kind, fake, token, terms, ticket)


@pytest.fixture(params=KINDS)
def tracker_setup(request: pytest.FixtureRequest) -> Iterator[Setup]:
    setup = make(str(request.param))
    try:
        yield setup
    finally:
        setup.fake.stop()


# --- a client workspace for the CLI -------------------------------------------------------------------

CLIENT = "acme"
TERM: dict[str, Any] = {
    "effective_from": "2026-01-01",
    "hours_per_month": 20,
    "billing_period": "month",
    "carry_over": {"mode": "none"},
    "rounding": {"increment_minutes": 15, "mode": "up", "minimum_minutes": 15},
    "overage": {"policy": "warn"},
    "work_types": {"bugfix": "Bug fixes", "maintenance": "Maintenance"},
    "roles": {"audit": "maintenance"},
}


@dataclass
class Workspace:
    root: Path
    setup: Setup

    @property
    def ledger(self) -> Path:
        return self.root / "ledger.sqlite"

    def write_contract(self, **top: Any) -> None:
        folder = self.root / "inventories" / CLIENT
        folder.mkdir(parents=True, exist_ok=True)
        data = {"client": CLIENT, "timezone": "Europe/Moscow", "terms": [copy.deepcopy(TERM)], **top}
        (folder / "contract.yml").write_text(yaml.safe_dump(data, sort_keys=False))
        host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        inventory = {"all": {"children": {"staging": {"hosts": {"localhost": host}}, "production": {"hosts": {}}}}}
        (folder / "hosts.yml").write_text(yaml.safe_dump(inventory))

    def env(self, **extra: str) -> dict[str, str]:
        return runner_env(
            self.root,
            self.root / "inventories",
            str(self.ledger),
            playbooks=TEST_PLAYBOOKS,
            drop=("BXOPS_", "ACME_"),
            **extra,
        )

    def command(self, *args: str) -> list[str]:
        return [sys.executable, str(RUNNER), *args]

    def cli(
        self, *args: str, check: bool = True, token: bool = True, process: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """runner.py in this process (bxops.cli.main, as the console script calls it), or with `process`
        as a process of its own (runs that start Ansible, refusals whose exit and stderr matter)."""
        env = self.env(**(self.setup.env if token else {}))
        done = run_runner(list(args), env, timeout=600) if process else run_in_process(list(args), env)
        if check and done.returncode != 0:
            raise AssertionError(f"runner.py {' '.join(args)} → {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done

    def sync(self, *args: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.cli("sync", CLIENT, "--json", *args).stdout)
        return result

    def sla_report(self) -> dict[str, Any]:
        """`sla --json` for November 2026, judged at the start of December."""
        done = self.cli("sla", CLIENT, "--month", "2026-11", "--json", "--as-of", "2026-12-01T00:00")
        result: dict[str, Any] = json.loads(done.stdout)
        return result


def workspace_for(tmp_path: Path, setup: Setup) -> Workspace:
    ws = Workspace(tmp_path, setup)
    ws.write_contract(tracker=setup.tracker_section())
    return ws

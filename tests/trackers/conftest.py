"""Fixtures: each tracker's fake server started on loopback, and the contract terms that point at it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path[:1]:
    sys.path.insert(0, str(REPO))

import pytest  # noqa: E402

from bxops.sla.terms import TrackerTerms  # noqa: E402

from .fakes import Bitrix24Fake, FakeTracker, JiraFake, YouTrackFake  # noqa: E402

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
        fake, token, ticket = JiraFake(cloud=True, token="cloud-api-token"), "ops@agency.example:cloud-api-token", "OPS-1"
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

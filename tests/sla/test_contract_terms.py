"""The contract's `timezone`, `sla` and `tracker`: defaults from the offer, and bad input refused in one
line before anything is written (issue 15)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bxops.contract import parse_contract
from bxops.errors import ContractError

from .conftest import CLIENT, Workspace, contract

TRACKER: dict[str, Any] = {
    "type": "jira",
    "url": "https://jira.example.com",
    "token_env": "ACME_JIRA_TOKEN",
    "priorities": {"Highest": "critical", "High": "high", "Medium": "medium", "Low": "low"},
    "statuses": {"Waiting for customer": "waiting", "Done": "resolved"},
}


def _parse(**top: Any) -> Any:
    return parse_contract(CLIENT, Path("contract.yml"), contract(**top))


def test_default_sla_is_the_offers_table() -> None:
    """Critical 30 min / 2 h, High 2 h / 8 h, Medium 4 h / 1 business day, Low 1 business day / by agreement;
    a business day of 09:00-18:00 is 9 hours."""
    found = _parse(sla={})
    priorities = found.service.sla.priorities
    calendar = found.service.calendar()
    got = {
        name: (terms.response.in_seconds(calendar), terms.resolution.in_seconds(calendar))
        for name, terms in priorities.items()
    }
    assert got == {
        "critical": (1800, 7200),
        "high": (7200, 28800),
        "medium": (14400, 32400),
        "low": (32400, None),
    }


def test_custom_terms_parse() -> None:
    found = _parse(
        timezone="Europe/Moscow",
        sla={
            "calendar": {"hours": "10:00-19:00", "country": "RU", "extra_days_off": ["2026-12-31"]},
            "priorities": {"urgent": {"response": "15m", "resolution": "by agreement", "clock": "24x7"}},
        },
        tracker={**TRACKER, "priorities": {"Blocker": "urgent"}},
    )
    urgent = found.service.sla.priorities["urgent"]
    assert (urgent.response.seconds, urgent.resolution.seconds, urgent.clock.value) == (900, None, "24x7")
    assert found.service.calendar().day_seconds == 9 * 3600


@pytest.mark.parametrize(
    ("top", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone: unknown time zone 'Mars/Olympus'"),
        ({"timezone": "../../etc/passwd"}, "timezone: invalid time zone '../../etc/passwd'"),
        ({"tracker": {**TRACKER, "type": "redmine"}}, "tracker.type: Input should be 'jira', 'jira_cloud'"),
        (
            {"tracker": {**TRACKER, "priorities": {"Highest": "critical", "High": "high", "Medium": "medium"}}},
            "tracker.priorities: no tracker priority maps to low",
        ),
        (
            {"tracker": {**TRACKER, "priorities": {**TRACKER["priorities"], "Trivial": "minor"}}},
            "tracker.priorities.Trivial: maps to 'minor', which is no SLA priority",
        ),
        ({"sla": {"calendar": {"country": "XX"}}}, "sla.calendar.country: the holidays library knows no country"),
        ({"sla": {"calendar": {"hours": "18:00-09:00"}}}, "sla.calendar.hours: working hours must run forward"),
        ({"sla": {"priorities": {"high": {"response": "soon", "resolution": "2h"}}}}, "invalid target 'soon'"),
        ({"tracker": {**TRACKER, "token": "s3cret"}}, "tracker.token: Extra inputs are not permitted"),
        (
            {"tracker": {**TRACKER, "alert_priorities": {"critical": "sev1"}}},
            "tracker.alert_priorities.critical: maps to 'sev1', which is no SLA priority",
        ),
    ],
)
def test_bad_terms_are_one_clear_line(top: dict[str, Any], message: str) -> None:
    with pytest.raises(ContractError) as caught:
        _parse(**top)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "top",
    [
        {"timezone": "Nowhere/City"},
        {"tracker": {**TRACKER, "type": "redmine"}},
        {"tracker": {**TRACKER, "priorities": {"Highest": "critical"}}},
    ],
)
def test_cli_refuses_a_bad_contract_and_writes_nothing(ws: Workspace, top: dict[str, Any]) -> None:
    ws.write_contract(contract(**top))
    done = ws.cli(
        "log", CLIENT, "--duration", "1h", "--work-type", "bugfix", "--note", "x", check=False, subprocess="True"
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bxops: error: ") and "contract.yml" in lines[0]
    assert not ws.ledger.exists()


def test_contract_command_shows_zone_and_sla(ws: Workspace) -> None:
    ws.write_contract(contract(timezone="Europe/Berlin", sla={}, tracker=TRACKER))
    shown = ws.cli("contract", CLIENT).stdout
    assert "time zone: Europe/Berlin" in shown
    assert "SLA medium: response 4 h, resolution 1 business day, business hours" in shown
    assert "SLA critical: response 30 min, resolution 2 h, around the clock" in shown
    assert "tracker: jira at https://jira.example.com (token in $ACME_JIRA_TOKEN)" in shown


def test_demo_contract_has_a_zone_and_the_offers_sla() -> None:
    from datetime import date

    from helpers import REPO

    from bxops.contract import load_contract

    demo = load_contract("demo", REPO / "inventories" / "demo" / "contract.yml")
    assert demo.service.timezone == "Europe/Moscow"
    calendar = demo.service.calendar()
    assert calendar.is_working_day(date(2027, 2, 20))  # a transferred Saturday
    assert not calendar.is_working_day(date(2026, 11, 4))  # Unity Day
    assert not calendar.is_working_day(date(2026, 12, 31))  # moved from 4 January by the library
    got = {
        name: (terms.response.in_seconds(calendar), terms.resolution.in_seconds(calendar), terms.clock.value)
        for name, terms in demo.service.sla.priorities.items()  # type: ignore[union-attr]
    }
    assert got == {
        "critical": (1800, 7200, "24x7"),
        "high": (7200, 28800, "business"),
        "medium": (14400, 32400, "business"),
        "low": (32400, None, "business"),
    }

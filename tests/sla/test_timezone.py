"""The client's time zone draws month (and day) boundaries; entries keep their UTC instants (issue 15)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bxops.bookkeeping import bill
from bxops.contract import parse_contract
from bxops.periods import Month

from .conftest import CLIENT, Workspace, contract


def _contract(zone: str, **term: object) -> object:
    data = contract(timezone=zone)
    data["terms"][0].update(term)
    return parse_contract(CLIENT, Path("contract.yml"), data)


@pytest.mark.parametrize(
    ("zone", "instant", "month"),
    [
        # UTC+10 (Vladivostok, no DST): 23:30 UTC on 30 Nov is 09:30 on 1 Dec there
        ("Asia/Vladivostok", datetime(2026, 11, 30, 23, 30, tzinfo=UTC), Month(2026, 12)),
        ("Asia/Vladivostok", datetime(2026, 11, 30, 13, 59, tzinfo=UTC), Month(2026, 11)),  # 23:59 local
        ("Asia/Vladivostok", datetime(2026, 11, 30, 14, 0, tzinfo=UTC), Month(2026, 12)),  # local midnight
        # UTC-5 (Bogota, no DST): 03:00 UTC on 1 Dec is 22:00 on 30 Nov there
        ("America/Bogota", datetime(2026, 12, 1, 3, 0, tzinfo=UTC), Month(2026, 11)),
        ("America/Bogota", datetime(2026, 12, 1, 4, 59, tzinfo=UTC), Month(2026, 11)),  # 23:59 local
        ("America/Bogota", datetime(2026, 12, 1, 5, 0, tzinfo=UTC), Month(2026, 12)),  # local midnight
        ("UTC", datetime(2026, 11, 30, 23, 30, tzinfo=UTC), Month(2026, 11)),
    ],
)
def test_month_of_an_instant_is_drawn_in_the_client_zone(zone: str, instant: datetime, month: Month) -> None:
    assert _contract(zone).month_of(instant) == month  # type: ignore[attr-defined]


def test_day_rounding_groups_are_local_days() -> None:
    """Two entries at 22:00 and 23:30 local on 30 Nov in Bogota (03:00 and 04:30 UTC on 1 Dec) share one
    day group dated 2026-11-30; the same instants in UTC are the 1st."""
    local = _contract("America/Bogota", rounding={"increment_minutes": 15, "mode": "up", "scope": "day"})
    utc = _contract("UTC", rounding={"increment_minutes": 15, "mode": "up", "scope": "day"})
    first, second = datetime(2026, 12, 1, 3, 0, tzinfo=UTC), datetime(2026, 12, 1, 4, 30, tzinfo=UTC)
    assert bill(local, first, 60, work_type="bugfix").group == "day:2026-11-30:bugfix|up/900/0"  # type: ignore[arg-type]
    assert bill(local, second, 60, work_type="bugfix").group == "day:2026-11-30:bugfix|up/900/0"  # type: ignore[arg-type]
    assert bill(utc, first, 60, work_type="bugfix").group == "day:2026-12-01:bugfix|up/900/0"  # type: ignore[arg-type]


def test_log_date_is_a_local_day_and_counts_in_the_local_month(ws: Workspace) -> None:
    """`log --date 2026-12-01` in Vladivostok: 09:00 there is 23:00 UTC on 30 Nov, and the hour counts
    in December's pool, not November's."""
    ws.write_contract(contract(timezone="Asia/Vladivostok"))
    entry = ws.json("log", CLIENT, "--duration", "1h", "--work-type", "bugfix", "--note", "x", "--date", "2026-12-01")
    assert entry["started_at"] == "2026-11-30T23:00:00+00:00"
    assert entry["month"] == "2026-12"
    december = ws.json("balance", CLIENT, "--month", "2026-12")
    november = ws.json("balance", CLIENT, "--month", "2026-11")
    assert december["used_billed_seconds"] == 3600
    assert november["used_billed_seconds"] == 0


def test_log_date_in_a_zone_behind_utc(ws: Workspace) -> None:
    """UTC-5: `--date 2026-11-30` is 09:00 local = 14:00 UTC; it stays in November."""
    ws.write_contract(contract(timezone="America/Bogota"))
    entry = ws.json("log", CLIENT, "--duration", "30m", "--work-type", "bugfix", "--note", "x", "--date", "2026-11-30")
    assert entry["started_at"] == "2026-11-30T14:00:00+00:00"
    assert entry["month"] == "2026-11"


def test_adjustment_of_a_past_month_lands_in_that_local_month(ws: Workspace) -> None:
    ws.write_contract(contract(timezone="Asia/Vladivostok"))
    ws.cli("adjust", CLIENT, "--hours", "2", "--reason", "credit", "--month", "2026-10")
    assert ws.json("balance", CLIENT, "--month", "2026-10")["used_billed_seconds"] == 7200
    assert ws.json("balance", CLIENT, "--month", "2026-09")["used_billed_seconds"] == 0


def test_without_a_zone_everything_stays_utc(ws: Workspace) -> None:
    ws.write_contract(contract())
    entry = ws.json("log", CLIENT, "--duration", "1h", "--work-type", "bugfix", "--note", "x", "--date", "2026-12-01")
    assert entry["started_at"] == "2026-12-01T09:00:00+00:00"
    assert entry["month"] == "2026-12"

"""Manual incidents and the monthly SLA report, figures computed by hand on Moscow's calendar (issue 15).

Calendar: Mon-Fri 09:00-18:00 Europe/Moscow, Russia's holidays (Wednesday 4 Nov 2026 is Unity Day), the
offer's table: critical 30 min / 2 h around the clock, high 2 h / 8 h, medium 4 h / 1 business day (9 h),
low 1 business day / by agreement, in business hours.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import CLIENT, Workspace, contract

SLA = {"calendar": {"country": "RU"}}


@pytest.fixture
def moscow(ws: Workspace) -> Workspace:
    ws.write_contract(contract(timezone="Europe/Moscow", sla=SLA))
    return ws


def _open(ws: Workspace, priority: str, at: str, ticket: str | None = None) -> int:
    args = ["incident", "open", CLIENT, "--priority", priority, "--title", f"{priority} at {at}", "--at", at]
    if ticket:
        args += ["--ticket", ticket]
    shown = ws.cli(*args).stdout
    assert shown.startswith("incident #")
    return int(shown.split()[1].lstrip("#"))


def _do(ws: Workspace, verb: str, incident: int, at: str) -> None:
    ws.cli("incident", verb, str(incident), "--at", at)


def _november(ws: Workspace) -> dict[str, int]:
    ids = {}
    ids["critical"] = _open(ws, "critical", "2026-11-02T10:00")
    _do(ws, "respond", ids["critical"], "2026-11-02T10:20")
    _do(ws, "resolve", ids["critical"], "2026-11-02T11:50")
    # high: opened Monday 17:00; responded Tuesday 09:30 (1 h + 30 min); waiting 11:00-15:00; resolved 18:00
    ids["high"] = _open(ws, "high", "2026-11-02T17:00")
    _do(ws, "respond", ids["high"], "2026-11-03T09:30")
    _do(ws, "wait", ids["high"], "2026-11-03T11:00")
    _do(ws, "resume", ids["high"], "2026-11-03T15:00")
    _do(ws, "resolve", ids["high"], "2026-11-03T18:00")
    # medium: opened Tuesday 16:00; Wednesday is a holiday; responded Thursday 10:00 (2 h + 1 h);
    # resolved Friday 12:00 (2 h + 9 h + 3 h = 14 h > 9 h)
    ids["medium"] = _open(ws, "medium", "2026-11-03T16:00")
    _do(ws, "respond", ids["medium"], "2026-11-05T10:00")
    _do(ws, "resolve", ids["medium"], "2026-11-06T12:00")
    # low: opened Friday 27 Nov 17:00, no response yet
    ids["low"] = _open(ws, "low", "2026-11-27T17:00")
    # critical at 23:30 on 30 Nov in Moscow (20:30 UTC): November; another at 00:10 on 1 Dec: December
    ids["late"] = _open(ws, "critical", "2026-11-30T23:30", ticket="MAIL-7")
    ids["december"] = _open(ws, "critical", "2026-12-01T00:10")
    return ids


def test_month_report_per_priority_and_breaches(moscow: Workspace) -> None:
    ids = _november(moscow)
    report = moscow.json("sla", CLIENT, "--month", "2026-11", "--as-of", "2026-12-01T00:30+03:00")
    rows = {row["priority"]: row for row in report["priorities"]}
    pick = ("count", "met", "breached", "at_risk", "open")
    assert {name: tuple(row[key] for key in pick) for name, row in rows.items()} == {
        "critical": (2, 1, 1, 0, 1),
        "high": (1, 1, 0, 0, 0),
        "medium": (1, 0, 1, 0, 0),
        "low": (1, 0, 1, 0, 1),
    }
    assert (rows["critical"]["response_median"], rows["critical"]["resolution_worst"]) == (1200, 6600)
    assert (rows["high"]["response_worst"], rows["high"]["resolution_worst"]) == (5400, 6 * 3600)
    assert (rows["medium"]["response_worst"], rows["medium"]["resolution_worst"]) == (3 * 3600, 14 * 3600)
    assert rows["low"]["response_median"] is None
    got = {
        (b["incident"], b["clock"], b["elapsed_seconds"], b["target_seconds"], b["stopped"]) for b in report["breaches"]
    }
    assert got == {
        (ids["medium"], "resolution", 14 * 3600, 9 * 3600, True),
        (ids["low"], "response", 10 * 3600, 9 * 3600, False),  # Friday 1 h + Monday 9 h
        (ids["late"], "response", 3600, 1800, False),
    }
    assert ids["december"] not in {item["id"] for item in report["incidents"]}
    december = moscow.json("sla", CLIENT, "--month", "2026-12", "--as-of", "2026-12-01T00:30+03:00")
    assert [item["id"] for item in december["incidents"]] == [ids["december"]]


@pytest.mark.parametrize(("as_of", "state"), [("2026-11-30T15:00", "on_track"), ("2026-11-30T16:00", "at_risk")])
def test_at_risk_past_eighty_percent(moscow: Workspace, as_of: str, state: str) -> None:
    """Low, 9 h response: at 15:00 Monday 7 h ran (< 7.2 h), at 16:00 8 h (≥ 7.2 h)."""
    incident = _open(moscow, "low", "2026-11-27T17:00")
    report = moscow.json("sla", CLIENT, "--month", "2026-11", "--as-of", as_of)
    (item,) = report["incidents"]
    assert item["id"] == incident
    assert item["response"]["state"] == state
    assert item["response"]["due_at"] == "2026-11-30T14:00:00+00:00"  # 17:00 Moscow: 1 h + 8 h
    assert item["resolution"]["state"] == "no_target"


def test_table_output_lists_breaches(moscow: Workspace) -> None:
    _november(moscow)
    shown = moscow.cli("sla", CLIENT, "--month", "2026-11", "--as-of", "2026-12-01T00:30+03:00").stdout
    assert "acme SLA 2026-11 (Europe/Moscow)" in shown
    assert "(medium) resolution took 14:00:00, target 9:00:00" in shown
    assert "MAIL-7 (critical) response took 1:00:00, target 0:30:00 (still running)" in shown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--priority", "urgent"], "unknown priority 'urgent' for acme (known: critical, high, medium, low)"),
        (["--priority", "high", "--at", "yesterday"], "invalid time 'yesterday'"),
    ],
)
def test_bad_incident_input_writes_nothing(moscow: Workspace, args: list[str], message: str) -> None:
    done = moscow.cli("incident", "open", CLIENT, "--title", "x", *args, check=False)
    assert done.returncode == 1
    assert done.stderr.strip() == f"bxops: error: {message}" or message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not moscow.ledger.exists()


def test_changes_out_of_order_are_refused(moscow: Workspace) -> None:
    incident = _open(moscow, "high", "2026-11-02T10:00")
    before = moscow.cli("incident", "respond", str(incident), "--at", "2026-11-02T09:00", check=False)
    assert before.returncode == 1 and "cannot come before" in before.stderr
    _do(moscow, "resolve", incident, "2026-11-02T11:00")
    again = moscow.cli("incident", "respond", str(incident), "--at", "2026-11-02T12:00", check=False)
    assert again.returncode == 1 and "was resolved" in again.stderr
    missing = moscow.cli("incident", "resolve", "999", check=False)
    assert missing.returncode == 1 and "no incident #999" in missing.stderr


def test_resolution_without_response_stops_both_clocks(moscow: Workspace) -> None:
    incident = _open(moscow, "critical", "2026-11-02T10:00")
    _do(moscow, "resolve", incident, "2026-11-02T10:25")
    report: dict[str, Any] = moscow.json("sla", CLIENT, "--month", "2026-11", "--as-of", "2026-11-30T00:00")
    (item,) = report["incidents"]
    assert (item["response"]["elapsed_seconds"], item["response"]["state"]) == (1500, "met")
    assert (item["resolution"]["elapsed_seconds"], item["resolution"]["state"]) == (1500, "met")


@pytest.mark.parametrize(
    ("zone", "opened", "month"),
    [
        # UTC-5: 03:00 UTC on 1 Dec is 22:00 on 30 Nov in Bogota
        ("America/Bogota", "2026-12-01T03:00+00:00", "2026-11"),
        ("America/Bogota", "2026-12-01T05:00+00:00", "2026-12"),
        # UTC+10: 14:30 UTC on 30 Nov is 00:30 on 1 Dec in Vladivostok
        ("Asia/Vladivostok", "2026-11-30T14:30+00:00", "2026-12"),
        ("Asia/Vladivostok", "2026-11-30T13:30+00:00", "2026-11"),
    ],
)
def test_incidents_count_in_the_local_month(ws: Workspace, zone: str, opened: str, month: str) -> None:
    ws.write_contract(contract(timezone=zone, sla={}))
    incident = _open(ws, "critical", opened)
    other = "2026-12" if month == "2026-11" else "2026-11"
    assert [i["id"] for i in ws.json("sla", CLIENT, "--month", month, "--as-of", "2026-12-02T00:00")["incidents"]] == [
        incident
    ]
    assert ws.json("sla", CLIENT, "--month", other, "--as-of", "2026-12-02T00:00")["incidents"] == []

"""`runner.py incident pull`: a tracker's ticket becomes an incident (priority mapped, first staff comment
as the response, waiting status as a pause, resolution) and the SLA report measures it (issue 15)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from .conftest import CLIENT, make, workspace_for


@pytest.mark.parametrize(("kind", "ticket", "priority"), [("jira", "OPS-9", "High"), ("youtrack", "SUP-9", "Critical")])
def test_pulled_ticket_is_measured(tmp_path: Path, kind: str, ticket: str, priority: str) -> None:
    """Opened Monday 2 Nov 2026 10:00 Moscow; a client's comment 10:10, staff's 10:20 (response: 20 min);
    waiting for the customer 11:00-14:00; done 16:00 → resolution 1 h + 2 h = 3 h of business time."""
    setup = make(kind)
    try:
        ws = workspace_for(tmp_path, setup)
        setup.fake.add_issue(
            ticket,
            priority=priority,
            created=datetime(2026, 11, 2, 7, 0, tzinfo=UTC),
            comments=[
                (datetime(2026, 11, 2, 7, 10, tzinfo=UTC), "client@shop.example"),
                (datetime(2026, 11, 2, 7, 20, tzinfo=UTC), "ops@agency.example"),
            ],
            statuses=[
                (datetime(2026, 11, 2, 8, 0, tzinfo=UTC), "Waiting for customer"),
                (datetime(2026, 11, 2, 11, 0, tzinfo=UTC), "In Progress"),
                (datetime(2026, 11, 2, 13, 0, tzinfo=UTC), "Done"),
            ],
        )
        shown = ws.cli("incident", "pull", CLIENT, ticket).stdout
        assert f"{ticket} (high, resolved)" in shown
        ws.cli("incident", "pull", CLIENT, ticket)  # again: brought up to date, not duplicated
        report = ws.sla_report()
        (item,) = report["incidents"]
        assert (item["ticket"], item["priority"]) == (ticket, "high")
        assert (item["response"]["elapsed_seconds"], item["response"]["state"]) == (1200, "met")
        assert (item["resolution"]["elapsed_seconds"], item["resolution"]["state"]) == (3 * 3600, "met")
    finally:
        setup.fake.stop()


def test_unmapped_priority_is_refused_before_writing(tmp_path: Path) -> None:
    setup = make("jira")
    try:
        ws = workspace_for(tmp_path, setup)
        setup.fake.add_issue("OPS-10", priority="Trivial")
        done = ws.cli("incident", "pull", CLIENT, "OPS-10", check=False)
        assert done.returncode == 1
        assert done.stderr.strip().splitlines() == [
            "bxops: error: acme: ticket OPS-10 has priority 'Trivial', which the contract's tracker.priorities "
            "does not map (mapped: Highest, High, Medium, Low)"
        ]
        assert not ws.ledger.exists()
    finally:
        setup.fake.stop()

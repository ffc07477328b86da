"""The incidents and the SLA report on PostgreSQL (the team's shared ledger), as on SQLite (issue 15)."""

from __future__ import annotations

import pytest
from helpers import pg_url_or_skip, reset_postgres

from .conftest import CLIENT, Workspace, contract
from .test_incidents import SLA, _november

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_ws(ws: Workspace) -> Workspace:
    url = pg_url_or_skip()
    reset_postgres(url)
    ws.ledger_url = url
    ws.write_contract(contract(timezone="Europe/Moscow", sla=SLA))
    return ws


def test_month_report_on_postgres(pg_ws: Workspace) -> None:
    ids = _november(pg_ws)
    report = pg_ws.json("sla", CLIENT, "--month", "2026-11", "--as-of", "2026-12-01T00:30+03:00")
    rows = {row["priority"]: (row["count"], row["met"], row["breached"]) for row in report["priorities"]}
    assert rows == {"critical": (2, 1, 1), "high": (1, 1, 0), "medium": (1, 0, 1), "low": (1, 0, 1)}
    assert ids["december"] not in {item["id"] for item in report["incidents"]}

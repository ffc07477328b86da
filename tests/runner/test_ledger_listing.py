"""The balance page's reads are served by indexes (migration 0006), on SQLite and PostgreSQL:

- the month's latest entries come from `ix_entries_listing` in its order (no sort of the whole month);
- a client's corrections are read from `ix_entries_corrections` alone, and a client without any costs the
  balance no second pass over its entries;
- with corrections, the balance still counts each replaced entry's correction and not the entry.

The expected figures are worked out by hand below; the plans are the database's own EXPLAIN.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import event, inspect, text

from bxops.ledger.database import MIGRATIONS_DIR, Ledger, make_engine, normalise_url, open_ledger
from bxops.ledger.entries import (
    Correction,
    HistoryFilter,
    ManualWork,
    add_correction,
    add_manual,
    history,
    monthly_usage,
)
from bxops.periods import Month

NOVEMBER = Month(2026, 11)


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    opened = open_ledger(ledger_url)
    try:
        yield opened
    finally:
        opened.dispose()


def _log(ledger: Ledger, client: str, day: int, minutes: int, work_type: str = "bugfix") -> int:
    started = datetime(2026, 11, day, 9, tzinfo=UTC) + timedelta(minutes=minutes)
    entry = add_manual(
        ledger,
        ManualWork(
            client=client,
            engineer="e",
            work_type=work_type,
            started_at=started,
            raw_seconds=minutes * 60,
            billed_seconds=minutes * 60,
            contract_term="2026-01-01",
            note=f"{client} day {day}",
        ),
    )
    return entry.id


def _statements(ledger: Ledger) -> tuple[list[tuple[str, Any]], Any]:
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(ledger.engine, "before_cursor_execute", record)
    return seen, record


def _plan(ledger: Ledger, statement: str, parameters: Any) -> str:
    postgres = ledger.url.get_backend_name() == "postgresql"
    with ledger.engine.connect() as connection:
        if postgres:
            # no sort the index could spare, no whole-table scan where an index can serve
            connection.exec_driver_sql("SET enable_sort = off")
            connection.exec_driver_sql("SET enable_seqscan = off")
            rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters)
        else:
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, tuple(parameters))
        return "\n".join(str(row[-1]) for row in rows)


def test_migration_0006_adds_the_listing_and_corrections_indexes(tmp_path: Path) -> None:
    url = str(tmp_path / "ledger.sqlite")
    open_ledger(url).dispose()
    engine = make_engine(normalise_url(url))
    indexes = {index["name"]: index["column_names"] for index in inspect(engine).get_indexes("entries")}
    assert indexes["ix_entries_listing"] == ["client", "month", "started_at", "id"]
    assert indexes["ix_entries_corrections"] == ["client", "corrects_id"]
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
    indexes = {index["name"] for index in inspect(engine).get_indexes("entries")}
    engine.dispose()
    assert "ix_entries_listing" not in indexes and "ix_entries_corrections" not in indexes


def test_month_listing_reads_the_index_in_order(ledger: Ledger) -> None:
    for day in range(1, 6):
        for minutes in (10, 20, 30):
            _log(ledger, "t1", day, minutes)
            _log(ledger, "t2", day, minutes)
    seen, record = _statements(ledger)
    latest = history(ledger, HistoryFilter(client="t1", month=NOVEMBER, limit=4, brief=True))
    event.remove(ledger.engine, "before_cursor_execute", record)
    # newest first: day 5 at 9:30, 9:20, 9:10, then day 4 at 9:30
    assert [(e.started_at.day, e.started_at.minute) for e in latest] == [(5, 30), (5, 20), (5, 10), (4, 30)]
    assert {e.note for e in latest} == {"t1 day 5", "t1 day 4"}
    (statement, parameters) = next((s, p) for s, p in seen if "ORDER BY" in s)
    plan = _plan(ledger, statement, parameters)
    assert "ix_entries_listing" in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


def test_a_brief_listing_leaves_audit_data_unread(ledger: Ledger) -> None:
    _log(ledger, "t1", 2, 10)
    (entry,) = history(ledger, HistoryFilter(client="t1", month=NOVEMBER, brief=True))
    assert entry.raw_seconds == 600
    with pytest.raises(Exception, match="audit_data"):
        _ = entry.audit_data


def test_balance_without_corrections_makes_no_second_pass(ledger: Ledger) -> None:
    _log(ledger, "t1", 2, 10)
    _log(ledger, "t1", 3, 20)
    seen, record = _statements(ledger)
    usage = monthly_usage(ledger, "t1", NOVEMBER)
    event.remove(ledger.engine, "before_cursor_execute", record)
    assert usage[NOVEMBER]["bugfix"].raw_seconds == 30 * 60
    check = next(s for s, _ in seen if "corrects_id IS NOT NULL" in s and "sum(" not in s)
    plan = _plan(ledger, check, next(p for s, p in seen if s == check))
    assert "ix_entries_corrections" in plan, plan
    # the sums: once for the entries in force (plain and grouped), none taking replaced entries out
    assert sum("sum(" in s for s, _ in seen) == 2


def test_balance_takes_corrected_entries_out(ledger: Ledger) -> None:
    first = _log(ledger, "t1", 2, 10)
    _log(ledger, "t1", 3, 20)
    other = _log(ledger, "t2", 3, 40)
    add_correction(ledger, first, Correction(reason="was longer", engineer="e", raw_seconds=45 * 60))
    add_correction(ledger, other, Correction(reason="maintenance", engineer="e", work_type="maintenance"))
    usage = monthly_usage(ledger, "t1", NOVEMBER)
    # 20 min + the correction's 45 min (its billed figure stays the original's 10 min: raw only changed)
    assert usage[NOVEMBER]["bugfix"].raw_seconds == 65 * 60
    assert usage[NOVEMBER]["bugfix"].billed_seconds == 30 * 60
    assert usage[NOVEMBER]["bugfix"].entries == 2
    other_usage = monthly_usage(ledger, "t2", NOVEMBER)
    assert set(other_usage[NOVEMBER]) == {"maintenance"}
    assert other_usage[NOVEMBER]["maintenance"].raw_seconds == 40 * 60


def test_corrections_index_is_partial(ledger: Ledger) -> None:
    """Only corrections are in it: its size does not grow with the ledger."""
    _log(ledger, "t1", 2, 10)
    if ledger.url.get_backend_name() == "postgresql":
        query = "SELECT pg_get_indexdef('ix_entries_corrections'::regclass)"
    else:
        query = "SELECT sql FROM sqlite_master WHERE name = 'ix_entries_corrections'"
    with ledger.engine.connect() as connection:
        definition = str(connection.execute(text(query)).scalar_one())
    assert "corrects_id IS NOT NULL" in definition.replace("(", "").replace(")", "")

"""A ledger written before migration 0002 (runner identity, failures) opens, upgrades and keeps its
entries, on SQLite and on PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from bxops.ledger.database import (
    MIGRATIONS_DIR,
    SCHEMA_HEAD,
    _current_revision,
    make_engine,
    normalise_url,
    open_ledger,
)
from bxops.ledger.entries import get_entry


def test_a_0001_ledger_upgrades_and_keeps_its_entries(ledger_url: str) -> None:
    engine = make_engine(normalise_url(ledger_url))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(
            text(
                "INSERT INTO entries (run_id, kind, status, client, hosts, engineer, work_type, month, started_at,"
                " raw_seconds, billed_seconds, host_stats, play_seconds, role_seconds, changed, audit_data, options,"
                " overage_override, runner_pid, created_at) VALUES ('r-1', 'run', 'succeeded', 't1', '[]', 'e',"
                " 'updates', 202611, '2026-11-02 10:00:00', 600, 900, '{}', '[]', '{}', '[]', '{}', '{}', false, 42,"
                " '2026-11-02 10:10:00')"
            )
        )
    assert _current_revision(engine) == "0001"
    engine.dispose()

    ledger = open_ledger(ledger_url)
    try:
        assert _current_revision(ledger.engine) == SCHEMA_HEAD == "0006"
        with ledger.sessions() as session:
            entry_id = session.execute(text("SELECT id FROM entries WHERE run_id = 'r-1'")).scalar_one()
        entry = get_entry(ledger, entry_id)
        kept = (entry.status, entry.work_type, entry.billed_seconds, entry.runner_pid)
        assert kept == ("succeeded", "updates", 900, 42)
        assert entry.runner_start is None and entry.failures is None
        # written before rounding scopes: billed on its own, as it was (0003 keeps its figure)
        assert entry.billing_group is None
    finally:
        ledger.dispose()

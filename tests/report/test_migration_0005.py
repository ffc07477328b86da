"""Migration 0005 (the work-type split): a 0004 ledger upgrades and keeps its entries (no split), the
balance's covering index carries `split_parts`, and the downgrade gives the 0004 schema back."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

from bxops.ledger.database import (
    MIGRATIONS_DIR,
    SCHEMA_HEAD,
    _current_revision,
    make_engine,
    normalise_url,
    open_ledger,
)
from bxops.ledger.entries import get_entry


def _config(connection: object) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def test_a_0004_ledger_upgrades_to_0005_and_back(tmp_path: Path) -> None:
    url = str(tmp_path / "ledger.sqlite")
    engine = make_engine(normalise_url(url))
    with engine.begin() as connection:
        command.upgrade(_config(connection), "0004")
        connection.execute(
            text(
                "INSERT INTO entries (run_id, kind, status, client, hosts, engineer, work_type, month, started_at,"
                " raw_seconds, billed_seconds, host_stats, play_seconds, role_seconds, changed, audit_data, options,"
                " overage_override, created_at) VALUES ('r-1', 'run', 'succeeded', 't1', '[]', 'e', 'updates', 202611,"
                " '2026-11-02 10:00:00', 600, 900, '{}', '[]', '{\"update\": 500, \"audit\": 100}', '[]', '{}', '{}',"
                " false, '2026-11-02 10:10:00')"
            )
        )
    engine.dispose()

    ledger = open_ledger(url)
    try:
        assert _current_revision(ledger.engine) == SCHEMA_HEAD  # 0005 and every later one
        with ledger.sessions() as session:
            entry_id = session.execute(text("SELECT id FROM entries WHERE run_id = 'r-1'")).scalar_one()
        entry = get_entry(ledger, entry_id)
        # written before the split: one work type, as billed then
        assert (entry.work_type, entry.billed_seconds, entry.work_split, entry.split_parts) == (
            "updates",
            900,
            None,
            None,
        )
        indexes = {index["name"]: index["column_names"] for index in inspect(ledger.engine).get_indexes("entries")}
        assert indexes["ix_entries_balance"][-1] == "split_parts"
        assert indexes["ix_entries_split"] == ["client", "split_parts"]
    finally:
        ledger.dispose()

    engine = make_engine(normalise_url(url))
    with engine.begin() as connection:
        command.downgrade(_config(connection), "0004")
    columns = {column["name"] for column in inspect(engine).get_columns("entries")}
    indexes = {index["name"]: index["column_names"] for index in inspect(engine).get_indexes("entries")}
    engine.dispose()
    assert "work_split" not in columns and "split_parts" not in columns
    assert indexes["ix_entries_balance"][-1] == "billed_seconds" and "ix_entries_split" not in indexes

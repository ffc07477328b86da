"""The ledger on SQLite and PostgreSQL: manual entries, adjustments, corrections, history, balance,
recovery of dead runs, migrations; bad input leaves nothing half-written."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bxops.bookkeeping import open_and_recover
from bxops.ledger.database import MIGRATIONS_DIR, SCHEMA_HEAD, open_ledger
from bxops.ledger.entries import start_run
from bxops.ledger.models import Entry
from bxops.settings import load_settings

from .conftest import BASE_TERM, InProcessCli, Workspace, new_run

H = 3600
pytestmark = pytest.mark.usefixtures("cli")


def count_entries(url: str) -> int:
    ledger = open_ledger(url)
    try:
        with ledger.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(Entry)) or 0)
    finally:
        ledger.dispose()


def test_migrations_head_matches_the_code() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD


def test_manual_entry_rounding_and_balance(cli: InProcessCli) -> None:
    entry = cli(
        "log",
        "t1",
        "-d",
        "50m",
        "-w",
        "bugfix",
        "-n",
        "1C exchange lock",
        "--ticket",
        "BX-9",
        "--date",
        "2026-02-10",
        "--json",
    ).json()
    assert entry["kind"] == "manual" and entry["status"] == "recorded"
    assert (entry["raw_seconds"], entry["billed_seconds"]) == (50 * 60, H)  # 15-min steps up
    assert entry["month"] == "2026-02" and entry["contract_term"] == "2026-01-01"
    cli("log", "t1", "-d", "5m", "-w", "documentation", "-n", "README", "--date", "2026-02-11")
    balance = cli("balance", "t1", "--month", "2026-02", "--json").json()
    assert balance["carried_in_seconds"] == 20 * H  # January unused, same quarter
    assert balance["used_raw_seconds"] == 55 * 60
    assert balance["used_billed_seconds"] == H + 15 * 60
    assert balance["remaining_seconds"] == 40 * H - H - 15 * 60
    by_type = {item["work_type"]: item for item in balance["by_work_type"]}
    assert by_type["bugfix"]["label"] == "Bug fixes"
    assert by_type["documentation"]["billed_seconds"] == 15 * 60  # the minimum


def test_adjustment_and_correction(cli: InProcessCli) -> None:
    first = cli(
        "log", "t1", "-d", "2h", "-w", "enhancements", "-n", "new field", "--date", "2026-03-02", "--json"
    ).json()
    cli("adjust", "t1", "--hours", "-1.5", "--reason", "goodwill", "--month", "2026-03")
    out = cli("correct", str(first["id"]), "--reason", "was bug fixing", "-w", "bugfix", "-d", "3h").out
    assert f"corrects #{first['id']}" in out
    again = cli("correct", str(first["id"]), "--reason", "again", "-w", "bugfix", expect=1)
    assert "already corrected by" in again.err
    balance = cli("balance", "t1", "--month", "2026-03", "--json").json()
    by_type = {item["work_type"]: item["billed_seconds"] for item in balance["by_work_type"]}
    assert by_type == {"bugfix": 3 * H, None: round(-1.5 * H)}
    current = cli("history", "t1", "--json").json()
    everything = cli("history", "t1", "--json", "--all").json()
    assert len(current) == 2 and len(everything) == 3  # nothing deleted; the original still there
    original = next(e for e in everything if e["id"] == first["id"])
    assert original["work_type"] == "enhancements" and original["raw_seconds"] == 2 * H
    correction = next(e for e in everything if e["corrects_id"] == first["id"])
    assert correction["reason"] == "was bug fixing" and correction["month"] == "2026-03"


def test_run_raw_time_cannot_be_corrected(cli: InProcessCli, workspace: Workspace) -> None:
    ledger = open_ledger(workspace.ledger_url)
    entry = start_run(ledger, new_run(started_at=datetime(2026, 3, 3, 10, tzinfo=UTC), heartbeat_interval=1.0))
    ledger.dispose()
    refused = cli("correct", str(entry.id), "--reason", "x", "-d", "1h", expect=1)
    assert "the raw time of a run or adjustment never changes" in refused.err
    refused = cli("correct", str(entry.id), "--reason", "x", "--billed", "1h", expect=1)
    assert "still running" in refused.err


def test_dead_run_becomes_interrupted_up_to_its_heartbeat(workspace: Workspace) -> None:
    # a process that has exited: its pid is dead on this host
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    ledger = open_ledger(workspace.ledger_url)
    started = datetime.now(UTC) - timedelta(minutes=40)
    entry = start_run(ledger, new_run(started_at=started, heartbeat_interval=1.0))
    with ledger.transaction() as session:
        row = session.get(Entry, entry.id)
        assert row is not None
        row.runner_pid = int(dead.stdout)
        row.heartbeat_at = started + timedelta(minutes=20, seconds=7)
    ledger.dispose()
    settings = load_settings()
    ledger, recovered = open_and_recover(settings)
    ledger.dispose()
    assert [e.id for e in recovered] == [entry.id]
    assert recovered[0].raw_seconds == 20 * 60 + 7
    assert recovered[0].billed_seconds == 30 * 60
    ledger, again = open_and_recover(settings)
    ledger.dispose()
    assert again == []


def test_stale_heartbeat_from_another_host_becomes_interrupted(workspace: Workspace) -> None:
    ledger = open_ledger(workspace.ledger_url)
    started = datetime.now(UTC) - timedelta(hours=1)
    fresh = start_run(ledger, new_run(started_at=datetime.now(UTC), heartbeat_interval=1.0))
    stale = start_run(ledger, new_run(started_at=started, heartbeat_interval=1.0))
    with ledger.transaction() as session:
        for entry_id in (fresh.id, stale.id):
            row = session.get(Entry, entry_id)
            assert row is not None
            row.runner_host = "another-machine"
        row = session.get(Entry, stale.id)
        assert row is not None
        row.heartbeat_at = started + timedelta(seconds=90)
    ledger.dispose()
    ledger, recovered = open_and_recover(load_settings())
    ledger.dispose()
    assert [e.id for e in recovered] == [stale.id]  # the live one on another host is left alone
    assert recovered[0].raw_seconds == 90


def test_history_filters(cli: InProcessCli) -> None:
    cli("log", "t1", "-d", "1h", "-w", "bugfix", "-n", "a", "--ticket", "BX-1", "--date", "2026-01-05")
    cli("log", "t1", "-d", "1h", "-w", "documentation", "-n", "b", "--date", "2026-02-05")
    cli("adjust", "t1", "--hours", "2", "--reason", "r", "--month", "2026-02")
    assert [e["note"] for e in cli("history", "t1", "--json", "--month", "2026-01").json()] == ["a"]
    assert len(cli("history", "--json", "--ticket", "BX-1").json()) == 1
    assert len(cli("history", "--json", "--kind", "adjustment").json()) == 1
    assert len(cli("history", "--json", "-w", "documentation").json()) == 1
    assert len(cli("history", "--json", "--since", "2026-02-01").json()) == 2
    assert len(cli("history", "--json", "--limit", "1").json()) == 1
    table = cli("history", "t1").out
    assert "BX-1" in table and "adjustment" in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["log", "nobody", "-d", "1h", "-w", "bugfix", "-n", "x"], "unknown client 'nobody'"),
        (["log", "t1", "-d", "1h", "-w", "gardening", "-n", "x"], "unknown work type 'gardening'"),
        (["log", "t1", "-d", "soon", "-w", "bugfix", "-n", "x"], "invalid duration 'soon'"),
        (["log", "t1", "-d", "-1h", "-w", "bugfix", "-n", "x"], "must not be negative"),
        (["log", "t1", "-d", "1h", "-w", "bugfix", "-n", "x", "--date", "2025-12-31"], "no contract term"),
        (["log", "t1", "-d", "1h", "-w", "bugfix", "-n", "x", "--env", "qa"], "staging or production"),
        (["adjust", "t1", "--hours", "1", "--reason", " "], "needs a reason"),
        (["balance", "t1", "--month", "2026-13"], "invalid month '2026-13'"),
        (["run", "t1", "qa", "tiny"], "environment must be staging or production, got 'qa'"),
        (["run", "t1", "staging", "nosuch"], "unknown playbook 'nosuch'"),
        (["run", "t1", "staging", "../etc/passwd"], "invalid playbook name"),
        (["run", "nobody", "staging", "tiny"], "unknown client 'nobody'"),
        (["run", "t1", "staging", "tiny", "--work-type", "gardening"], "unknown work type 'gardening'"),
        (["run", "t1", "staging", "tiny", "-e", "bxops_env=production"], "comes from the ENV argument"),
        (["run", "t1", "staging", "tiny", "--vault-password-file", "/nope"], "vault password file not found"),
        (["correct", "999", "--reason", "x", "-w", "bugfix"], "no ledger entry #999"),
        (["history", "--status", "lost"], "unknown value 'lost'"),
    ],
)
def test_bad_input_one_line_nothing_written(cli: InProcessCli, args: list[str], message: str) -> None:
    before = count_entries(cli.workspace.ledger_url)
    outcome = cli(*args, expect=None)
    assert outcome.code != 0
    assert message in outcome.err
    assert outcome.err.count("\n") == 1 and outcome.err.startswith("bxops: error: ")
    assert count_entries(cli.workspace.ledger_url) == before


def test_invalid_contract_blocks_a_run(cli: InProcessCli) -> None:
    cli.workspace.write_contract({"terms": [{**BASE_TERM, "hours_per_month": -5}]})
    outcome = cli("run", "t1", "staging", "tiny", expect=1)
    assert "hours_per_month" in outcome.err
    assert count_entries(cli.workspace.ledger_url) == 0


def test_unreachable_database(cli: InProcessCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BXOPS_LEDGER_URL", "postgresql://nobody:secret@127.0.0.1:9/none")
    outcome = cli("balance", "t1", expect=1)
    assert outcome.err.startswith(
        "bxops: error: ledger postgresql+psycopg://nobody:***@127.0.0.1:9/none unreachable"
    )
    assert "secret" not in outcome.err and outcome.err.count("\n") == 1
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("BXOPS_LEDGER_URL", str(tmp_path / "a-file" / "ledger.sqlite"))
    outcome = cli("balance", "t1", expect=1)
    assert outcome.err.startswith("bxops: error: ledger") and outcome.err.count("\n") == 1


def test_contract_change_keeps_history_as_billed(cli: InProcessCli) -> None:
    cli("log", "t1", "-d", "20m", "-w", "bugfix", "-n", "old", "--date", "2026-03-10")
    cli.workspace.write_contract(
        {
            "terms": [
                BASE_TERM,
                {
                    "effective_from": "2026-04-01",
                    "hours_per_month": 30,
                    "rounding": {"increment_minutes": 6, "mode": "nearest"},
                },
            ]
        }
    )
    cli("log", "t1", "-d", "20m", "-w", "bugfix", "-n", "new", "--date", "2026-04-10")
    entries = {e["note"]: e for e in cli("history", "t1", "--json").json()}
    assert entries["old"]["billed_seconds"] == 30 * 60 and entries["old"]["contract_term"] == "2026-01-01"
    assert entries["new"]["billed_seconds"] == 18 * 60 and entries["new"]["contract_term"] == "2026-04-01"
    assert cli("balance", "t1", "--month", "2026-03", "--json").json()["allotment_seconds"] == 20 * H
    assert cli("balance", "t1", "--month", "2026-04", "--json").json()["allotment_seconds"] == 30 * H

"""Engineers writing at the same moment, to one SQLite file or one PostgreSQL database, lose nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from bxops.ledger.database import open_ledger
from bxops.ledger.models import Entry

from .conftest import Workspace

WRITERS = 4
PER_WRITER = 25


def test_parallel_writers_lose_no_entry(workspace: Workspace) -> None:
    start_at = time.time() + 2.0  # every writer opens the (fresh) ledger at the same moment
    env = workspace.env()
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("ledger_writer.py")),
                workspace.ledger_url,
                f"engineer{n}",
                str(PER_WRITER),
                str(start_at),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(WRITERS)
    ]
    cli_logs = [
        subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).parents[2] / "runner.py"),
                "log",
                "t1",
                "-d",
                "30m",
                "-w",
                "documentation",
                "-n",
                f"cli-{n}",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    written: list[int] = []
    for process in writers + cli_logs:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        if process in writers:
            written += json.loads(out)
    expected = WRITERS * PER_WRITER * 2
    assert len(written) == len(set(written)) == expected

    ledger = open_ledger(workspace.ledger_url)
    with ledger.sessions() as session:
        rows = list(session.execute(select(Entry.id, Entry.status, Entry.note)))
        assert session.scalar(select(func.count()).select_from(Entry)) == expected + 3
    ledger.dispose()
    assert set(written) <= {row.id for row in rows}
    assert not [row for row in rows if row.status == "running"]
    notes = {row.note for row in rows}
    assert {f"engineer{w}-{n}" for w in range(WRITERS) for n in range(PER_WRITER)} <= notes
    assert {"cli-0", "cli-1", "cli-2"} <= notes
    balance = workspace.balance()
    assert balance["used_billed_seconds"] == expected * 900 + 3 * 1800

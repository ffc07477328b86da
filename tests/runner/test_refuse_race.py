"""The `refuse` overage policy holds when runs start together: the check and the insert happen under one
per-client lock, and the runs in progress count against the pool, on SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from sqlalchemy.orm import Session

from bxops.ledger.database import open_ledger
from bxops.ledger.entries import reserved_seconds, start_run
from bxops.periods import Month

from .conftest import CLIENT, RUNNER, Workspace, new_run, one_run_pool_contract

STARTS = 4


def test_concurrent_starts_only_one_fits_the_pool(workspace: Workspace) -> None:
    ws = workspace
    # 15 minutes a month; every run is estimated at the 15-minute minimum: one run fits, no more.
    ws.write_contract(one_run_pool_contract())
    ws.cli("history")  # the ledger exists (the migrations are not what races here)
    processes = [
        subprocess.Popen(
            [sys.executable, str(RUNNER), "run", "t1", "staging", "tiny", "-e", "tiny_sleep=10"],
            env=ws.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(STARTS)
    ]
    results = [(p, *p.communicate(timeout=300)) for p in processes]
    codes = sorted(p.returncode for p, _out, _err in results)
    # a string, not a list: pytest prints it whole, so a traceback shows where it came from
    assert codes == [0] + [3] * (STARTS - 1), "\n".join(f"exit {p.returncode}:\n{err}" for p, _o, err in results)
    for process, _out, err in results:
        if process.returncode == 3:
            assert err.startswith("bxops: error: run refused: estimated 0.25 h but 0.25 h remain in "), err
            assert "reserved by 1 run(s) in progress" in err
    [entry] = ws.history()
    assert entry["status"] == "succeeded"
    balance = ws.balance()
    assert balance["used_billed_seconds"] == 15 * 60 and balance["overage_seconds"] == 0


def test_a_check_holds_the_client_until_its_entry_is_written(ledger_url: str) -> None:
    """The second start's check waits for the first start's check and insert, and then sees its entry:
    the per-client lock (an advisory lock on PostgreSQL, the IMMEDIATE write lock on SQLite)."""
    ledger = open_ledger(ledger_url)
    month = Month.current()
    first_checking = threading.Event()
    seen: list[tuple[str, tuple[int, int], float]] = []
    started = time.monotonic()

    def slow_first(session: Session) -> None:
        seen.append(("first", reserved_seconds(session, CLIENT, month), time.monotonic() - started))
        first_checking.set()
        time.sleep(1.5)  # a slow check: nobody else may check this client meanwhile

    def second(session: Session) -> None:
        seen.append(("second", reserved_seconds(session, CLIENT, month), time.monotonic() - started))

    try:
        first = threading.Thread(
            target=start_run, args=(ledger, new_run(CLIENT, estimate=900)), kwargs={"check": slow_first}
        )
        first.start()
        assert first_checking.wait(30)
        start_run(ledger, new_run(CLIENT, estimate=900), check=second)
        first.join(30)
    finally:
        ledger.dispose()
    assert [(who, reserved) for who, reserved, _at in seen] == [("first", (0, 0)), ("second", (900, 1))]
    assert seen[1][2] >= 1.5  # it waited for the first to be written

"""A process that writes ledger entries as fast as it can (used by the concurrency test).

python ledger_writer.py URL NAME COUNT START_AT: waits until START_AT (epoch seconds), opens the
ledger (racing the others through the migrations of a fresh database), writes COUNT manual entries
and COUNT runs (start, heartbeat, finish), and prints the ids it wrote as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime

from ledger_records import run_outcome  # this folder: the script's own

from bxops.ledger.database import open_ledger
from bxops.ledger.entries import ManualWork, NewRun, add_manual, beat, finish_run, start_run


def main() -> None:
    url, name, count, start_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    time.sleep(max(0.0, start_at - time.time()))
    ledger = open_ledger(url)
    ids: list[int] = []
    for number in range(count):
        now = datetime.now(UTC)
        manual = add_manual(
            ledger,
            ManualWork(
                client="t1",
                engineer=name,
                work_type="bugfix",
                started_at=now,
                raw_seconds=60,
                billed_seconds=900,
                contract_term="2026-01-01",
                note=f"{name}-{number}",
            ),
        )
        ids.append(manual.id)
        run = start_run(
            ledger,
            NewRun(
                client="t1",
                environment="staging",
                playbook="tiny",
                engineer=name,
                ticket=None,
                note=f"{name}-run-{number}",
                work_type="maintenance",
                options={},
                artifacts_dir="-",
                estimate_seconds=None,
                overage_override=False,
                heartbeat_interval=1.0,
            ),
        )
        beat(ledger, run.id)
        finish_run(
            ledger,
            run.id,
            run_outcome(datetime.now(UTC), raw_seconds=1, billed_seconds=900, work_type="maintenance"),
        )
        ids.append(run.id)
    ledger.dispose()
    print(json.dumps(ids))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Sync of N ledger entries (default 1,000, over 20 tasks) to the Bitrix24 fake with Bitrix24's rate
limit (2 requests a second, 50 at once; the client spaces its own requests at 2 a second): requests made
and wall time of the first sync, of a second one that finds nothing new (it checks every pushed worklog
is still there), and of a third after 10 corrections.

    python bench/tracker_sync.py [--entries 1000] [--tasks 20]

Issue 15 asks for these figures on the issue.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bxops.ledger.database import open_ledger  # noqa: E402
from bxops.ledger.entries import Correction, ManualWork, add_correction, add_manual  # noqa: E402
from bxops.periods import Month  # noqa: E402
from bxops.sla.terms import TrackerTerms  # noqa: E402
from bxops.trackers.base import connect  # noqa: E402
from bxops.trackers.sync import sync  # noqa: E402
from tests.trackers.fakes import Bitrix24Fake  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=20)
    args = parser.parse_args()
    fake = Bitrix24Fake(per_second=2.0, burst=50).start()
    for task in range(args.tasks):
        fake.add_issue(str(100 + task))
    terms = TrackerTerms(
        type="bitrix24",  # type: ignore[arg-type]
        url=fake.url,
        token_env="BENCH_TOKEN",
        priorities={"high": "critical", "medium": "medium", "low": "low", "x": "high"},
        user="7",
    )
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        ledger = open_ledger(str(Path(folder) / "ledger.sqlite"))
        start = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
        ids = []
        for number in range(args.entries):
            started = start + timedelta(minutes=20 * number)
            ids.append(
                add_manual(
                    ledger,
                    ManualWork(
                        client="bench", engineer="bench", work_type="bugfix", started_at=started,
                        raw_seconds=300 + 60 * (number % 30), billed_seconds=900, contract_term="2026-01-01",
                        ticket=str(100 + number % args.tasks), note=f"task {number}", month=Month.of(started),
                    ),
                ).id
            )
        for label in ("first", "second", "after 10 corrections"):
            if label == "after 10 corrections":
                for entry_id in ids[:10]:
                    add_correction(ledger, entry_id, Correction(reason="bench", engineer="bench", raw_seconds=1800))
            tracker = connect("bench", terms, {"BENCH_TOKEN": fake.secret})
            before = len(fake.log)
            began = time.monotonic()
            report = sync(ledger, "bench", tracker, None)
            took = time.monotonic() - began
            results[label] = {
                "requests": len(fake.log) - before,
                "wall_seconds": round(took, 1),
                "pushed": len(report.pushed),
                "updated": len(report.updated),
                "unchanged": report.unchanged,
                "refused_by_rate_limit": fake.refused,
                "errors": len(report.errors),
            }
            tracker.http.close()
        ledger.dispose()
    remote = sum(len(issue.worklogs) for issue in fake.issues.values())
    fake.stop()
    summary = {"entries": args.entries, "tasks": args.tasks, "worklogs_on_tracker": remote, **results}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Balance over a large ledger: fills a ledger with N entries (default 100,000) for one client over
two years, then times the balance of the last month (query + carry-over walk) and the whole CLI call.

Goal (issue 3): under 200 ms for 100,000 entries.

    python bench/runner_balance.py [--entries 100000] [--url postgresql://...] [--repeat 15] [--scope month]

`--scope month` (the default, the demo contract's setting for runs) writes the runs as members of
their month's rounding group per work type (issue 18), `--scope entry` each billed on its own.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import delete, insert  # noqa: E402

from bxops.bookkeeping import client_balance  # noqa: E402
from bxops.contract import load_contract  # noqa: E402
from bxops.ledger.database import open_ledger  # noqa: E402
from bxops.ledger.models import Entry  # noqa: E402
from bxops.periods import Month  # noqa: E402

WORK_TYPES = ["updates", "maintenance", "bugfix", "enhancements", "documentation", None]


def fill(url: str, count: int, scope: str = "month") -> None:
    ledger = open_ledger(url)
    rng = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    now = datetime.now(UTC)
    with ledger.transaction() as session:
        session.execute(delete(Entry).where(Entry.client == "bench"))
    rows = []
    for number in range(count):
        started = start + timedelta(seconds=rng.randrange(0, 700 * 24 * 3600))
        raw = rng.randrange(60, 3 * 3600)
        work_type = rng.choice(WORK_TYPES)
        grouped = scope == "month"
        group = f"month:{Month.of(started)}:{work_type or ''}|up/900/900" if grouped else None
        rows.append(
            {
                "run_id": f"bench-{number}",
                "kind": "run",
                "status": "succeeded",
                "client": "bench",
                "environment": "production",
                "playbook": "maintenance",
                "hosts": ["h"],
                "engineer": "bench",
                "work_type": work_type,
                "month": Month.of(started).key,
                "started_at": started,
                "ended_at": started + timedelta(seconds=raw),
                "raw_seconds": raw,
                "billed_seconds": None if grouped else -(-raw // 900) * 900,
                "billing_group": group,
                "host_stats": {},
                "play_seconds": [],
                "role_seconds": {},
                "changed": [],
                "audit_data": {},
                "options": {},
                "overage_override": False,
                "created_at": now,
            }
        )
        if len(rows) == 10_000:
            with ledger.transaction() as session:
                session.execute(insert(Entry), rows)
            rows = []
    if rows:
        with ledger.transaction() as session:
            session.execute(insert(Entry), rows)
    with ledger.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # what autovacuum does to a table in steady state (PostgreSQL: index-only scans need it)
        connection.exec_driver_sql(
            "VACUUM ANALYZE entries" if ledger.url.get_backend_name() == "postgresql" else "ANALYZE"
        )
    ledger.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--url", help="ledger URL (default: a temporary SQLite file)")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--scope", choices=["month", "entry"], default="month")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bxops-bench-") as tmp:
        url = args.url or str(Path(tmp) / "ledger.sqlite")
        inventories = Path(tmp) / "inventories"
        (inventories / "bench").mkdir(parents=True)
        contract_text = (REPO / "inventories" / "demo" / "contract.yml").read_text()
        (inventories / "bench" / "contract.yml").write_text(
            contract_text.replace("client: demo", "client: bench")
        )
        contract = load_contract("bench", inventories / "bench" / "contract.yml")
        t0 = time.perf_counter()
        fill(url, args.entries, args.scope)
        fill_seconds = time.perf_counter() - t0
        ledger = open_ledger(url)
        month = Month(2027, 11)
        timings = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            balance = client_balance(ledger, contract, month)
            timings.append(time.perf_counter() - t0)
        ledger.dispose()
        env = dict(
            os.environ, BXOPS_LEDGER_URL=url, BXOPS_INVENTORIES_DIR=str(inventories), PYTHONPATH=str(REPO)
        )
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, str(REPO / "runner.py"), "balance", "bench", "--month", str(month), "--json"],
            env=env,
            check=True,
            capture_output=True,
        )
        cli_seconds = time.perf_counter() - t0
    result = {
        "entries": args.entries,
        "scope": args.scope,
        "backend": "sqlite" if not args.url else args.url.split(":", 1)[0],
        "fill_s": round(fill_seconds, 2),
        "balance_median_ms": round(1000 * statistics.median(timings), 1),
        "balance_min_ms": round(1000 * min(timings), 1),
        "balance_max_ms": round(1000 * max(timings), 1),
        "goal_met": statistics.median(timings) < 0.2,
        "cli_balance_command_s": round(cli_seconds, 2),
        "used_billed_hours_in_month": round(balance.used_billed_seconds / 3600, 2),
        "load_average": os.getloadavg(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""A month of a client's work written apart from the report code: ledger entries (runs split across work
types, a single-type run, manual entries, a dry run), dated audit reports per host and a changelog.

`python tests/report/demo_data.py LEDGER_URL CLIENT_DIR [YYYY-MM]` fills a ledger and a client folder
(the client folder must hold its contract.yml). The figures the tests expect are in `TRUTH`, written by
hand here, not computed by bxops.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path[:1]:
    sys.path.insert(0, str(REPO))

from bxops.bookkeeping import bill  # noqa: E402
from bxops.contract import load_contract  # noqa: E402
from bxops.ledger.database import open_ledger  # noqa: E402
from bxops.ledger.entries import ManualWork, NewRun, RunOutcome, add_manual, finish_run, start_run  # noqa: E402
from bxops.ledger.models import EntryKind, EntryStatus  # noqa: E402
from bxops.periods import Month  # noqa: E402
from bxops.worksplit import role_split  # noqa: E402

GIB = 1024**3

#: (day, raw seconds, role seconds, extra set_stats per host) of the month's maintenance runs (production)
RUNS: list[tuple[int, int, dict[str, float], dict[str, Any]]] = [
    # 3600 s: update 2400 (updates), audit 300 + backup 600 + cleanup 300 = 1200 (maintenance)
    (
        3,
        3600,
        {"update": 2400.0, "audit": 300.0, "backup": 600.0, "cleanup": 300.0},
        {
            "backup": {"id": "20261103T0300", "size_bytes": 2 * GIB},
            "cleanup": {"reclaimed": {"files": 900, "bytes": 3 * GIB}, "quarantined": {"files": 12, "bytes": 1000}},
            "permissions": {"changed": True, "check_mode": False, "counts": {"paths": 7}},
            "certificates": {"renewed": [{"domain": "shop.example.ru"}]},
        },
    ),
    # 1000 s: audit 400 + permissions 400 = 800 (maintenance), update 200 (updates)
    (
        17,
        1000,
        {"audit": 400.0, "permissions": 400.0, "update": 200.0},
        {"backup": {"id": "20261117T0300", "size_bytes": 2 * GIB}},
    ),
    # 600 s of php_upgrade alone (updates): no split
    (25, 600, {"php_upgrade": 600.0}, {"php_upgrade": {"result": "upgraded", "from": "7.4", "target": "8.2"}}),
]
#: (day, raw seconds, work type, ticket, note)
MANUAL = [
    (10, 5400, "enhancements", "BX-101", "Новый фильтр каталога"),
    (20, 1200, "bugfix", "BX-102", "checkout fix"),
]

# Hand-computed truth for the demo contract (15-minute steps up, at least 15 min; runs rounded once per
# work type and month, manual entries one by one):
#   run 1 split: updates 2400, maintenance 1200; run 2 split: maintenance 800, updates 200
#   run 3: updates 600
#   updates raw 3200 → billed 3600; maintenance raw 2000 → billed 2700
#   enhancements 5400 → 5400; bugfix 1200 → 1800
TRUTH = {
    "raw": {"updates": 3200, "maintenance": 2000, "enhancements": 5400, "bugfix": 1200},
    "billed": {"updates": 3600, "maintenance": 2700, "enhancements": 5400, "bugfix": 1800},
    "billed_total": 13500,
    # 2026-11 under the demo contract: October's 20 h carried in (quarterly pool), nothing used in October
    "carried_in_2026_11": 20 * 3600,
    "remaining_2026_11": 40 * 3600 - 13500,
    "cleaned_bytes": 3 * GIB,
    "permissions_fixed": 7,
    "backups": 2,
    "certificates": ["shop.example.ru"],
    "php_upgrades": [{"from": "7.4", "to": "8.2"}],
}


def audit(
    day: str, db_bytes: int, used: int, findings: list[str], status: int = 200, ms: float = 300.0
) -> dict[str, Any]:
    return {
        "schema": "bxops.audit/1",
        "generated_at": f"{day}T03:00:00Z",
        "core": {"version": "23.0.0"},
        "modules": {"main": {"version": "23.0.0"}, "vote": {"version": "21.0.100"}},
        "php": {"serving": {"version": "7.4.33"}},
        "db": {"reachable": True, "bytes": db_bytes},
        "disk": {"bytes_total": 100 * GIB, "bytes_used": used, "bytes_free": 100 * GIB - used},
        "home_page": {"url": "http://127.0.0.1/", "status": status, "response_ms": ms},
        "security": {
            "findings": [
                {"id": f, "severity": "high", "title": f"title {f}", "detail": "", "paths": []} for f in findings
            ],
            "counts": {},
        },
    }


def fill(ledger_url: str, client_dir: Path, month: Month) -> None:
    contract = load_contract(client_dir.name, client_dir / "contract.yml")
    term = contract.term_for(month)
    ledger = open_ledger(ledger_url)
    try:
        for day, raw, roles, stats in RUNS:
            started = datetime(month.year, month.month, day, 9, 0, tzinfo=UTC)
            entry = start_run(
                ledger,
                NewRun(
                    client=contract.client,
                    environment="production",
                    playbook="maintenance",
                    engineer="demo",
                    ticket=None,
                    note=None,
                    work_type="updates",
                    options={},
                    artifacts_dir="-",
                    estimate_seconds=None,
                    overage_override=False,
                    heartbeat_interval=5.0,
                    started_at=started,
                    month=contract.month_of(started),
                ),
            )
            billing = bill(contract, started, raw, kind=EntryKind.RUN.value, work_type="updates")
            finish_run(
                ledger,
                entry.id,
                RunOutcome(
                    status=EntryStatus.SUCCEEDED,
                    ended_at=started.replace(hour=10),
                    raw_seconds=raw,
                    billed_seconds=billing.billed_seconds,
                    billing_group=billing.group,
                    contract_term=billing.contract_term,
                    return_code=0,
                    work_type="updates",
                    hosts=["bxops-demo-production"],
                    host_stats={},
                    play_seconds=[],
                    role_seconds=roles,
                    changed=[],
                    audit_data={"per_host": {"bxops-demo-production": stats}},
                    work_split=role_split(term, "maintenance", None, roles, raw),
                ),
            )
        for day, raw, work_type, ticket, note in MANUAL:
            started = datetime(month.year, month.month, day, 9, 0, tzinfo=UTC)
            billing = bill(contract, started, raw, work_type=work_type, ticket=ticket)
            add_manual(
                ledger,
                ManualWork(
                    client=contract.client,
                    engineer="demo",
                    work_type=work_type,
                    started_at=started,
                    raw_seconds=raw,
                    billed_seconds=billing.billed_seconds,
                    billing_group=billing.group,
                    contract_term=billing.contract_term,
                    ticket=ticket,
                    note=note,
                    month=contract.month_of(started),
                ),
            )
    finally:
        ledger.dispose()
    key = f"{month.year:04d}-{month.month:02d}"
    before = month.plus(-1)
    previous = f"{before.year:04d}-{before.month:02d}"
    for host, used0 in (("bxops-demo-production", 40 * GIB), ("bxops-demo-staging", 20 * GIB)):
        folder = client_dir / "reports" / host
        folder.mkdir(parents=True, exist_ok=True)
        documents = {
            f"{previous}-28": audit(f"{previous}-28", 1 * GIB, used0, ["CVE-2022-27228", "exposed-git"]),
            f"{key}-01": audit(f"{key}-01", 1 * GIB, used0, ["CVE-2022-27228", "exposed-git"], ms=200.0),
            f"{key}-11": audit(
                f"{key}-11", int(1.1 * GIB), used0 + 5 * GIB, ["exposed-git", "world-writable-code"], ms=400.0
            ),
            f"{key}-21": audit(f"{key}-21", int(1.2 * GIB), used0 + 10 * GIB, ["exposed-git"], status=503, ms=900.0),
        }
        if host == "bxops-demo-staging":
            for document in documents.values():
                document["modules"]["main"]["version"] = "24.0.0"
        for day, document in documents.items():
            (folder / f"audit-{day}.json").write_text(json.dumps(document), encoding="utf-8")
    (client_dir / "CHANGELOG.md").write_text(
        "# Changelog of demo\n\n"
        "| date (UTC) | environment | host | module | version from → to | run |\n|---|---|---|---|---|---|\n"
        f"| {previous}-15 09:00 | production | bxops-demo-production | main | 22.0.0 → 23.0.0 | r0 |\n"
        f"| {key}-03 09:10 | production | bxops-demo-production | vote | 21.0.0 → 21.0.100 | r1 |\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    fill(sys.argv[1], Path(sys.argv[2]), Month.parse(sys.argv[3]) if len(sys.argv) > 3 else Month(2026, 11))

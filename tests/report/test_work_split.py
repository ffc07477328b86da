"""A run's time split across work types by the time of its roles (issue 16), against hand-computed
figures: the split adds up to the raw and billed totals under every rounding scope."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from bxops.bookkeeping import bill, client_balance
from bxops.contract import load_contract
from bxops.ledger.database import open_ledger
from bxops.ledger.entries import (
    Correction,
    ManualWork,
    NewRun,
    RunOutcome,
    add_correction,
    add_manual,
    finish_run,
    start_run,
)
from bxops.ledger.models import EntryKind, EntryStatus
from bxops.periods import Month
from bxops.worksplit import role_split, share_out

from .conftest import REPO

ROLES = {"update": 2400.0, "audit": 300.0, "backup": 600.0, "cleanup": 300.0}  # updates 2400, maintenance 1200


def contract_with(tmp_path: Path, scope: Any) -> Any:
    data = yaml.safe_load((REPO / "inventories/demo/contract.yml").read_text())
    data["terms"][0]["rounding"]["scope"] = scope
    folder = tmp_path / "demo"
    folder.mkdir(exist_ok=True)
    (folder / "contract.yml").write_text(yaml.safe_dump(data))
    return load_contract("demo", folder / "contract.yml")


def write_run(
    ledger: Any, contract: Any, day: int, raw: int, roles: dict[str, float], ticket: str | None = None
) -> int:
    started = datetime(2026, 11, day, 9, 0, tzinfo=UTC)
    entry = start_run(
        ledger,
        NewRun(
            client="demo",
            environment="production",
            playbook="maintenance",
            engineer="t",
            ticket=ticket,
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
    billing = bill(contract, started, raw, kind=EntryKind.RUN.value, work_type="updates", ticket=ticket)
    term = contract.term_for(Month(2026, 11))
    finish_run(
        ledger,
        entry.id,
        RunOutcome(
            status=EntryStatus.SUCCEEDED,
            ended_at=started.replace(hour=11),
            raw_seconds=raw,
            billed_seconds=billing.billed_seconds,
            billing_group=billing.group,
            contract_term=billing.contract_term,
            return_code=0,
            work_type="updates",
            hosts=["h"],
            host_stats={},
            play_seconds=[],
            role_seconds=roles,
            changed=[],
            audit_data={},
            work_split=role_split(term, "maintenance", None, roles, raw),
        ),
    )
    return entry.id


def by_type(balance: Any) -> dict[str | None, tuple[int, int]]:
    return {key: (u.raw_seconds, u.billed_seconds) for key, u in balance.usage_by_work_type.items()}


def test_share_out_adds_up_by_largest_remainder() -> None:
    # 1000 over 2:1 → 666.67 / 333.33: the larger remainder (0.67) gets the spare second
    assert share_out(1000, {"a": 2, "b": 1}) == {"a": 667, "b": 333}
    assert share_out(900, {"a": 1, "b": 1, "c": 1}) == {"a": 300, "b": 300, "c": 300}
    assert share_out(10, {"a": 1, "b": 1, "c": 1}) == {"a": 4, "b": 3, "c": 3}  # tie: by name
    assert share_out(-10, {"a": 1, "b": 1}) == {"a": -5, "b": -5}


def test_role_split_follows_the_contracts_map(tmp_path: Path) -> None:
    term = contract_with(tmp_path, {"runs": "month", "manual": "entry"}).term_for(Month(2026, 11))
    # 3700 raw, roles 2400 updates : 1200 maintenance (time outside roles shared in proportion)
    assert role_split(term, "maintenance", None, ROLES, 3700) == {"updates": 2467, "maintenance": 1233}
    assert role_split(term, "maintenance", "bugfix", ROLES, 3700) is None  # --work-type: one type
    assert role_split(term, "maintenance", None, {"audit": 10.0, "backup": 5.0}, 60) is None  # one type
    assert role_split(term, "maintenance", None, {}, 60) is None


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        # each run rounded on its own, then its billed figure shared by the raw parts:
        #   run 1: 3600 → 3600 (u 2400, m 1200); run 2: 1000 → 1800, parts m 800 / u 200 → 1440 / 360
        #   updates 2400 + 360 = 2760, maintenance 1200 + 1440 = 2640
        ("entry", {"updates": (2600, 2760), "maintenance": (2000, 2640)}),
        # once per work type and month: updates 2600 → 2700, maintenance 2000 → 2700
        ("month", {"updates": (2600, 2700), "maintenance": (2000, 2700)}),
        # per day and work type: day 3 u 2400 → 2700, m 1200 → 1800; day 17 m 800 → 900, u 200 → 900
        ("day", {"updates": (2600, 3600), "maintenance": (2000, 2700)}),
    ],
)
def test_split_runs_bill_by_work_type(tmp_path: Path, scope: str, expected: dict[str, tuple[int, int]]) -> None:
    contract = contract_with(tmp_path, {"runs": scope, "manual": "entry"})
    ledger = open_ledger(str(tmp_path / "l.sqlite"))
    try:
        write_run(ledger, contract, 3, 3600, ROLES)
        write_run(ledger, contract, 17, 1000, {"audit": 400.0, "permissions": 400.0, "update": 200.0})
        balance = client_balance(ledger, contract, Month(2026, 11))
    finally:
        ledger.dispose()
    assert by_type(balance) == expected
    assert balance.used_billed_seconds == sum(billed for _raw, billed in expected.values())


def test_ticket_scope_shares_the_tickets_total_across_types(tmp_path: Path) -> None:
    contract = contract_with(tmp_path, "ticket")
    ledger = open_ledger(str(tmp_path / "l.sqlite"))
    try:
        # one ticket: run 3600 (u 2400, m 1200) + manual bugfix 100 → 3700 → rounded once: 4500
        write_run(ledger, contract, 3, 3600, ROLES, ticket="BX-1")
        started = datetime(2026, 11, 4, 9, tzinfo=UTC)
        billing = bill(contract, started, 100, work_type="bugfix", ticket="BX-1")
        add_manual(
            ledger,
            ManualWork(
                "demo",
                "t",
                "bugfix",
                started,
                100,
                billing.billed_seconds,
                billing.contract_term,
                ticket="BX-1",
                billing_group=billing.group,
            ),
        )
        balance = client_balance(ledger, contract, Month(2026, 11))
    finally:
        ledger.dispose()
    # in order of start: maintenance part 1200 → 1800, updates part (3600 raw) → 3600, bugfix (3700) → 4500
    assert by_type(balance) == {"maintenance": (1200, 1800), "updates": (2400, 1800), "bugfix": (100, 900)}
    assert balance.used_billed_seconds == 4500


def test_manual_entry_and_corrections_keep_one_type(tmp_path: Path) -> None:
    contract = contract_with(tmp_path, {"runs": "month", "manual": "entry"})
    ledger = open_ledger(str(tmp_path / "l.sqlite"))
    try:
        run_id = write_run(ledger, contract, 3, 3600, ROLES)
        started = datetime(2026, 11, 5, 9, tzinfo=UTC)
        add_manual(ledger, ManualWork("demo", "t", "bugfix", started, 600, 900, "2026-01-01"))
        # the engineer says the whole run was maintenance: the split goes, the run is one type
        fixed = add_correction(
            ledger, run_id, Correction(reason="all maintenance", engineer="t", work_type="maintenance")
        )
        assert fixed.work_split is None
        balance = client_balance(ledger, contract, Month(2026, 11))
    finally:
        ledger.dispose()
    # the corrected run keeps its group (updates in 2026-11): 3600 → 3600, now under maintenance
    assert by_type(balance) == {"maintenance": (3600, 3600), "bugfix": (600, 900)}


def test_tracker_worklog_and_history_name_the_split(tmp_path: Path) -> None:
    from bxops.ledger.entries import get_entry
    from bxops.reports import entry_to_dict
    from bxops.trackers.sync import comment_for

    contract = contract_with(tmp_path, {"runs": "month", "manual": "entry"})
    ledger = open_ledger(str(tmp_path / "l.sqlite"))
    try:
        entry = get_entry(ledger, write_run(ledger, contract, 3, 3600, ROLES, ticket="BX-9"))
    finally:
        ledger.dispose()
    assert comment_for(entry) == f"maintenance on production (maintenance 0:20:00, updates 0:40:00) [bxops #{entry.id}]"
    assert entry_to_dict(entry)["work_split"] == {"updates": 2400, "maintenance": 1200}


def test_estimate_sees_the_parts_in_a_work_types_group(tmp_path: Path) -> None:
    from bxops.ledger.entries import group_state

    contract = contract_with(tmp_path, {"runs": "month", "manual": "entry"})
    ledger = open_ledger(str(tmp_path / "l.sqlite"))
    try:
        write_run(ledger, contract, 3, 3600, ROLES)  # maintenance 1200
        write_run(ledger, contract, 17, 1000, {"audit": 400.0, "permissions": 400.0, "update": 200.0})  # m 800
        with ledger.sessions() as session:
            maintenance = group_state(session, "demo", "month:2026-11:maintenance|up/900/900")
            updates = group_state(session, "demo", "month:2026-11:updates|up/900/900")
    finally:
        ledger.dispose()
    assert maintenance == (2000, 2) and updates == (2600, 2)

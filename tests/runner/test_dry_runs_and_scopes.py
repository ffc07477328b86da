"""Through the command line, with real runs of the test playbooks against localhost: a `--check` run is
recorded as `dry_run` and billed nothing unless the contract says so, shown apart in the balance; under
`month` scope the estimate is what a run adds to the month's rounded total (so it is not refused for a
whole minimum), and balance and history JSON agree entry by entry (issue 18)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bxops.contract import load_contract

from .conftest import BASE_TERM, REPO, Workspace, base_contract

MIN = 60
STEP = 15 * MIN


def up_to_step(raw: int) -> int:
    """15-minute steps, rounded up, at least 15 minutes (the test contract's rounding), by hand."""
    return max(-(-raw // STEP) * STEP, STEP)


def test_check_run_is_a_dry_run_billed_nothing_and_shown_apart(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    done = ws.cli("run", "t1", "staging", "tiny", "--check", "-e", "tiny_sleep=0")
    assert "not billed" in done.stdout
    [entry] = ws.history()
    assert entry["status"] == "dry_run" and entry["return_code"] == 0
    assert entry["options"]["check"] is True
    assert entry["billed_seconds"] == 0 and entry["estimate_seconds"] == 0
    balance = ws.balance()
    assert balance["used_billed_seconds"] == 0 and balance["used_raw_seconds"] == 0
    assert balance["dry_runs"] == {
        "entries": 1,
        "raw_seconds": entry["raw_seconds"],
        "billed_seconds": 0,
        "billed_by_contract": False,
    }
    table = ws.cli("balance", "t1").stdout
    assert "dry runs (--check, not billed)" in table
    assert "dry_run" in ws.cli("history", "t1").stdout
    # filterable by its status
    assert [e["id"] for e in ws.history("--status", "dry_run")] == [entry["id"]]


def test_contract_may_bill_dry_runs(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    ws.write_contract(base_contract(bill_dry_runs=True))
    done = ws.cli("run", "t1", "staging", "tiny", "--check", "-e", "tiny_sleep=0")
    assert "billed as the contract says (bill_dry_runs)" in done.stdout
    [entry] = ws.history()
    assert entry["status"] == "dry_run" and entry["billed_seconds"] == STEP  # the contract's minimum
    balance = ws.balance()
    assert balance["dry_runs"]["entries"] == 1 and balance["dry_runs"]["billed_seconds"] == STEP
    assert balance["used_billed_seconds"] == STEP  # billed: it takes from the pool
    available = balance["allotment_seconds"] + balance["carried_in_seconds"]
    assert balance["remaining_seconds"] == available - STEP


def _scoped_contract() -> dict[str, Any]:
    term = copy.deepcopy(BASE_TERM)
    term.update(
        hours_per_month=0.25,
        billing_period="month",
        carry_over={"mode": "none"},
        overage={"policy": "refuse"},
        rounding={**term["rounding"], "scope": {"runs": "month", "manual": "ticket"}},
    )
    return {"client": "t1", "terms": [term]}


def test_month_scope_estimate_balance_and_history_agree(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    ws.write_contract(_scoped_contract())
    ws.cli("run", "t1", "staging", "tiny", "-e", "tiny_sleep=0")
    # 0.25 h a month, all used by the first run's minimum: per entry the next run would be refused
    # (estimate 0.25 h, see test_run_integration); per month it adds nothing to the month's 15 minutes.
    second = ws.cli("run", "t1", "staging", "tiny", "-e", "tiny_sleep=0")
    assert "rounded per maintenance in" in second.stdout
    runs = sorted(ws.history("--kind", "run"), key=lambda e: e["id"])
    assert [r["estimate_seconds"] for r in runs] == [STEP, 0]
    assert [r["billed_seconds"] for r in runs] == [STEP, 0]
    raw_runs = sum(r["raw_seconds"] for r in runs)
    for run in runs:
        assert run["billing"]["scope"] == "month" and run["billing"]["group_entries"] == 2
        assert run["billing"]["group_raw_seconds"] == raw_runs
        assert run["billing"]["group_billed_seconds"] == up_to_step(raw_runs)
    ws.cli("run", "t1", "staging", "tiny", "--check", "-e", "tiny_sleep=0")

    # manual entries per ticket: BX-1's two 5-minute fixes are one quarter hour, not two
    ws.cli("log", "t1", "-d", "5m", "-w", "bugfix", "-n", "form", "--ticket", "BX-1")
    ws.cli("log", "t1", "-d", "5m", "-w", "bugfix", "-n", "form again", "--ticket", "BX-1")
    ws.cli("log", "t1", "-d", "7m", "-w", "documentation", "-n", "no ticket")
    expected = up_to_step(raw_runs) + up_to_step(10 * MIN) + up_to_step(7 * MIN)
    balance = ws.balance()
    entries = ws.history()
    assert balance["used_billed_seconds"] == expected == 3 * STEP
    assert sum(e["billed_seconds"] for e in entries) == expected
    by_type = {item["work_type"]: item["billed_seconds"] for item in balance["by_work_type"]}
    for work_type, billed in by_type.items():
        assert billed == sum(e["billed_seconds"] for e in entries if e["work_type"] == work_type)
    assert balance["dry_runs"]["entries"] == 1 and balance["rounding_scope"] == {"runs": "month", "manual": "ticket"}
    ticket = [e for e in entries if e["ticket"] == "BX-1"]
    assert {e["billing"]["group_billed_seconds"] for e in ticket} == {STEP}
    [loose] = [e for e in entries if e["note"] == "no ticket"]
    assert loose["billing"] is None and loose["billed_seconds"] == STEP  # no ticket: rounded on its own

    # a correction within the ticket's group: 5 + 20 minutes are rounded once to 30 minutes
    first_fix = min(ticket, key=lambda e: e["id"])
    ws.cli("correct", str(first_fix["id"]), "--reason", "was longer", "--duration", "20m")
    after = ws.balance()
    current = json.loads(ws.cli("history", "t1", "--json").stdout)  # without --all: the entries in force
    assert after["used_billed_seconds"] == up_to_step(raw_runs) + up_to_step(25 * MIN) + STEP
    assert sum(e["billed_seconds"] for e in current) == after["used_billed_seconds"]
    replaced = next(e for e in ws.history() if e["id"] == first_fix["id"])
    assert replaced["billing"]["in_force"] is False and replaced["billed_seconds"] is None


def test_entry_scope_is_still_the_default(sqlite_workspace: Workspace) -> None:
    """Contracts without `scope` bill every run on its own, as before."""
    ws = sqlite_workspace
    ws.cli("run", "t1", "staging", "tiny", "-e", "tiny_sleep=0")
    ws.cli("run", "t1", "staging", "tiny", "-e", "tiny_sleep=0")
    entries = ws.history()
    assert [e["billed_seconds"] for e in entries] == [STEP, STEP]
    assert all(e["billing"] is None for e in entries)
    assert ws.balance()["used_billed_seconds"] == 2 * STEP


@pytest.mark.parametrize("client", ["demo", "template"])
def test_shipped_contracts_bill_runs_per_month_and_manual_work_per_entry(client: str) -> None:
    contract = load_contract(client, REPO / "inventories" / client / "contract.yml")
    rounding = contract.terms[-1].rounding
    assert (rounding.scope_for("run").value, rounding.scope_for("manual").value) == ("month", "entry")
    assert contract.terms[-1].bill_dry_runs is False
    assert "scope:" in Path(contract.path).read_text()

"""The ledger together with the contracts: billing under the term in force, recovery, balances."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bxops.clients import find_client
from bxops.contract import Contract
from bxops.errors import BxopsError
from bxops.ledger.database import Ledger, open_ledger
from bxops.ledger.entries import Billed, Biller, monthly_usage, recover_interrupted
from bxops.ledger.models import Entry, EntryKind
from bxops.periods import Month
from bxops.pool import MonthBalance, compute_balance
from bxops.rounding import GroupKey, group_key
from bxops.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def bill(
    contract: Contract,
    started_at: datetime,
    raw_seconds: int,
    *,
    kind: str = EntryKind.MANUAL.value,
    work_type: str | None = None,
    ticket: str | None = None,
    dry_run: bool = False,
    refused: bool = False,
) -> Billed:
    """How an entry is billed under the term in force when the work started: on its own (rounded now) or
    in its rounding group (the rounding scope of its kind: runs or manual entries). A dry run or a run
    refused before any change is billed nothing unless the term says to bill it (then like any run)."""
    term = contract.term_for(contract.month_of(started_at))
    term_date = term.effective_from.isoformat()
    if (dry_run and not term.bill_dry_runs) or (refused and not term.bill_refused_runs):
        return Billed(0, None, term_date)
    policy = term.rounding.policy()
    key = group_key(term.rounding.scope_for(kind), policy, started_at, work_type, ticket, contract.zone)
    if key is None:
        return Billed(policy.billed_seconds(raw_seconds), None, term_date)
    return Billed(None, str(key), term_date)


def rebill(contract: Contract, entry: Entry, raw_seconds: int, work_type: str | None, ticket: str | None) -> Billed:
    """How a correction of `entry` is billed: in the group's scope and policy the entry was billed under
    (kept on it; never the contract's later terms), moved to the group its corrected work type or ticket
    belongs to; an entry billed on its own is rounded again under its term."""
    if entry.billing_group is None:
        term = contract.term_for(Month.from_key(entry.month))
        return Billed(term.rounding.policy().billed_seconds(raw_seconds), None, term.effective_from.isoformat())
    key = GroupKey.parse(entry.billing_group)
    moved = key.moved(work_type, ticket)
    if moved is None:
        return Billed(key.policy.billed_seconds(raw_seconds), None, entry.contract_term)
    return Billed(None, str(moved), entry.contract_term)


def make_biller(settings: Settings) -> Biller:
    def biller(entry: Entry, raw_seconds: int) -> Billed | None:
        try:
            contract = find_client(settings.inventories_dir, entry.client).contract()
            return bill(
                contract,
                entry.started_at,
                raw_seconds,
                kind=entry.kind,
                work_type=entry.work_type,
                ticket=entry.ticket,
                dry_run=bool((entry.options or {}).get("check")),
            )
        except BxopsError:
            return None  # the client or its contract is gone: bill the raw time

    return biller


def open_and_recover(settings: Settings) -> tuple[Ledger, list[Entry]]:
    """Open the ledger and mark runs whose runner died as interrupted."""
    ledger = open_ledger(settings.ledger_url)
    try:
        recovered = recover_interrupted(ledger, make_biller(settings))
    except BaseException:
        ledger.dispose()
        raise
    return ledger, recovered


def client_balance(ledger: Ledger, contract: Contract, month: Month, session: Session | None = None) -> MonthBalance:
    """The month's balance; with `session`, read inside that transaction."""
    return compute_balance(contract, month, monthly_usage(ledger, contract.client, month, session))

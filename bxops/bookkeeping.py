"""The ledger together with the contracts: billing under the term in force, recovery, balances."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bxops.clients import find_client
from bxops.contract import Contract
from bxops.errors import BxopsError
from bxops.ledger.database import Ledger, open_ledger
from bxops.ledger.entries import Biller, monthly_usage, recover_interrupted
from bxops.ledger.models import Entry
from bxops.periods import Month
from bxops.pool import MonthBalance, compute_balance
from bxops.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def bill(contract: Contract, started_at: datetime, raw_seconds: int) -> tuple[int, str]:
    """Billed seconds under the term in force when the work started, and that term's date."""
    term = contract.term_for(Month.of(started_at))
    return term.rounding.policy().billed_seconds(raw_seconds), term.effective_from.isoformat()


def make_biller(settings: Settings) -> Biller:
    def biller(client: str, started_at: datetime, raw_seconds: int) -> tuple[int, str] | None:
        try:
            contract = find_client(settings.inventories_dir, client).contract()
            return bill(contract, started_at, raw_seconds)
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

"""The hour pool: allotments, carry-over, expiry and overage, month by month.

Pure computation over monthly usage figures; the ledger supplies the figures. Each month's allotment
becomes a lot that expires as the contract's carry-over rule says; usage consumes the lots that
expire first; what no lot covers is overage (billed separately, never carried).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bxops.contract import CarryOverMode, Contract, OveragePolicy, Term
from bxops.periods import Month, months_between


@dataclass(frozen=True)
class Usage:
    """Billed and raw seconds recorded in one month under one work type (None: unclassified); dry runs
    (`run … --check`) apart: not in the first three figures."""

    raw_seconds: int = 0
    billed_seconds: int = 0
    entries: int = 0
    dry_runs: int = 0
    dry_run_raw_seconds: int = 0
    dry_run_billed_seconds: int = 0  # 0 unless the contract bills dry runs (bill_dry_runs)

    @property
    def all_billed_seconds(self) -> int:
        """What the pool pays: the work type's billed time and its billed dry runs."""
        return self.billed_seconds + self.dry_run_billed_seconds


@dataclass
class Lot:
    origin: Month
    seconds: int
    expires_after: Month | None  # last month the hours can be used; None: no time limit


@dataclass(frozen=True)
class CarriedLot:
    origin: Month
    seconds: int
    expires_after: Month | None


@dataclass(frozen=True)
class MonthBalance:
    client: str
    month: Month
    term: Term
    allotment_seconds: int
    carried_in: tuple[CarriedLot, ...]
    usage_by_work_type: Mapping[str | None, Usage]
    remaining_seconds: int
    overage_seconds: int
    expiring_at_month_end_seconds: int
    remaining_lots: tuple[CarriedLot, ...] = field(default=())

    @property
    def carried_in_seconds(self) -> int:
        return sum(lot.seconds for lot in self.carried_in)

    @property
    def available_seconds(self) -> int:
        return self.allotment_seconds + self.carried_in_seconds

    @property
    def used_raw_seconds(self) -> int:
        return sum(u.raw_seconds for u in self.usage_by_work_type.values())

    @property
    def used_billed_seconds(self) -> int:
        """Everything billed in the month (billed dry runs included; by default they bill nothing)."""
        return sum(u.all_billed_seconds for u in self.usage_by_work_type.values())

    @property
    def dry_runs(self) -> Usage:
        """The month's dry runs: how many, their raw time and what they were billed."""
        return Usage(
            dry_runs=sum(u.dry_runs for u in self.usage_by_work_type.values()),
            dry_run_raw_seconds=sum(u.dry_run_raw_seconds for u in self.usage_by_work_type.values()),
            dry_run_billed_seconds=sum(u.dry_run_billed_seconds for u in self.usage_by_work_type.values()),
        )

    @property
    def overage_limit_seconds(self) -> int | None:
        return self.term.overage_limit_seconds

    def headroom_seconds(self) -> int | None:
        """Seconds that can still be billed this month before the overage policy objects.

        None: no limit (policy 'warn').
        """
        policy = self.term.overage.policy
        if policy is OveragePolicy.WARN:
            return None
        limit = self.overage_limit_seconds or 0
        return self.remaining_seconds + max(0, limit - self.overage_seconds)


def lot_expiry(term: Term, month: Month) -> Month | None:
    mode = term.carry_over.mode
    if mode is CarryOverMode.NONE:
        return month
    if mode is CarryOverMode.WITHIN_PERIOD:
        return month.period_end(term.billing_period)
    if mode is CarryOverMode.EXPIRING:
        return month.plus(term.carry_over.months or 0)
    return None  # capped: limited by amount, not by time


def _sort_key(lot: Lot) -> tuple[int, int]:
    expiry = lot.expires_after.index if lot.expires_after is not None else 1 << 40
    return (expiry, lot.origin.index)


def _consume(lots: list[Lot], seconds: int) -> int:
    """Take seconds from the lots that expire first; return what no lot covered."""
    for lot in sorted(lots, key=_sort_key):
        if seconds <= 0:
            break
        taken = min(lot.seconds, seconds)
        lot.seconds -= taken
        seconds -= taken
    return seconds


def _apply_cap(lots: list[Lot], cap_seconds: int) -> list[Lot]:
    """Keep at most cap_seconds of carried hours, dropping the oldest first."""
    kept: list[Lot] = []
    budget = cap_seconds
    for lot in sorted(lots, key=lambda lot: lot.origin.index, reverse=True):
        keep = min(lot.seconds, budget)
        if keep > 0:
            kept.append(Lot(lot.origin, keep, lot.expires_after))
        budget -= keep
    kept.reverse()
    return kept


def _carry_into(lots: list[Lot], month: Month, term: Term) -> list[Lot]:
    """The lots still usable at the start of `month` under the term in force then."""
    mode = term.carry_over.mode
    if mode is CarryOverMode.NONE:
        return []
    kept = [
        Lot(lot.origin, lot.seconds, lot.expires_after)
        for lot in lots
        if lot.seconds > 0 and (lot.expires_after is None or lot.expires_after >= month)
    ]
    if mode is CarryOverMode.WITHIN_PERIOD:
        start = month.period_start(term.billing_period)
        kept = [lot for lot in kept if lot.origin >= start]
    elif mode is CarryOverMode.CAPPED:
        kept = _apply_cap(kept, round((term.carry_over.cap_hours or 0) * 3600))
    return kept


def _frozen(lots: list[Lot]) -> tuple[CarriedLot, ...]:
    return tuple(CarriedLot(lot.origin, lot.seconds, lot.expires_after) for lot in lots if lot.seconds > 0)


def compute_balance(
    contract: Contract,
    month: Month,
    usage: Mapping[Month, Mapping[str | None, Usage]],
) -> MonthBalance:
    """The balance of `month`, walking every month from the contract's first term."""
    term = contract.term_for(month)  # raises when month precedes the contract
    lots: list[Lot] = []
    carried: tuple[CarriedLot, ...] = ()
    overage = 0
    for current in months_between(contract.first_month, month):
        current_term = contract.term_for(current)
        lots = _carry_into(lots, current, current_term)
        carried = _frozen(lots)
        own = Lot(current, current_term.allotment_seconds, lot_expiry(current_term, current))
        net_billed = sum(u.all_billed_seconds for u in usage.get(current, {}).values())
        if net_billed < 0:  # credits beyond the month's usage return to the month's own lot
            own.seconds -= net_billed
        lots.append(own)
        overage = _consume(lots, max(0, net_billed))
    remaining = _frozen(lots)
    remaining_seconds = sum(lot.seconds for lot in remaining)
    next_month = month.next()
    carried_out = sum(lot.seconds for lot in _carry_into(lots, next_month, contract.term_for(next_month)))
    return MonthBalance(
        client=contract.client,
        month=month,
        term=term,
        allotment_seconds=term.allotment_seconds,
        carried_in=carried,
        usage_by_work_type=dict(usage.get(month, {})),
        remaining_seconds=remaining_seconds,
        overage_seconds=overage,
        expiring_at_month_end_seconds=remaining_seconds - carried_out,
        remaining_lots=remaining,
    )

"""The hour pool: carry-over and expiry across month and quarter boundaries, overage, contract changes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bxops.contract import Contract, parse_contract
from bxops.periods import BillingPeriod, Month, months_between
from bxops.pool import Usage, compute_balance

from .conftest import BASE_TERM

H = 3600
START = Month(2026, 1)


def contract(*terms: dict[str, Any]) -> Contract:
    first = copy.deepcopy(BASE_TERM)
    first.update(terms[0] if terms else {})
    return parse_contract("t1", Path("contract.yml"), {"terms": [first, *terms[1:]]})


def usage_of(hours_by_month: dict[Month, float]) -> dict[Month, dict[str | None, Usage]]:
    return {
        month: {"maintenance": Usage(raw_seconds=round(h * H), billed_seconds=round(h * H), entries=1)}
        for month, h in hours_by_month.items()
    }


# --- periods -------------------------------------------------------------------------------------
@given(st.integers(1990, 2100), st.integers(1, 12), st.integers(-500, 500))
def test_month_arithmetic(year: int, month: int, shift: int) -> None:
    start = Month(year, month)
    moved = start.plus(shift)
    assert moved.index - start.index == shift
    assert Month.from_key(moved.key) == moved
    quarter_start = moved.period_start(BillingPeriod.QUARTER)
    assert quarter_start.month in (1, 4, 7, 10)
    assert quarter_start <= moved <= moved.period_end(BillingPeriod.QUARTER)
    assert moved.period_end(BillingPeriod.QUARTER).index - quarter_start.index == 2


def test_year_boundary() -> None:
    assert Month(2026, 12).next() == Month(2027, 1)
    assert Month(2027, 1).period_start(BillingPeriod.QUARTER) == Month(2027, 1)
    assert Month(2026, 12).period_label(BillingPeriod.QUARTER) == "2026-Q4"


# --- examples ------------------------------------------------------------------------------------
def test_within_quarter_carries_then_expires_at_quarter_end() -> None:
    c = contract()  # 20 h, quarter, within_period
    usage = usage_of({Month(2026, 1): 5, Month(2026, 2): 10})
    jan = compute_balance(c, Month(2026, 1), usage)
    assert (jan.remaining_seconds, jan.carried_in_seconds, jan.expiring_at_month_end_seconds) == (
        15 * H,
        0,
        0,
    )
    feb = compute_balance(c, Month(2026, 2), usage)
    assert feb.carried_in_seconds == 15 * H
    assert feb.remaining_seconds == 25 * H
    mar = compute_balance(c, Month(2026, 3), usage)
    assert mar.remaining_seconds == 45 * H
    assert mar.expiring_at_month_end_seconds == 45 * H  # the quarter ends
    assert [str(lot.expires_after) for lot in mar.carried_in] == ["2026-03", "2026-03"]
    apr = compute_balance(c, Month(2026, 4), usage)
    assert apr.carried_in_seconds == 0 and apr.remaining_seconds == 20 * H


def test_monthly_billing_within_period_means_no_carry() -> None:
    c = contract({"billing_period": "month"})
    feb = compute_balance(c, Month(2026, 2), usage_of({Month(2026, 1): 1}))
    assert feb.carried_in_seconds == 0
    assert compute_balance(c, Month(2026, 1), usage_of({})).expiring_at_month_end_seconds == 20 * H


def test_overage_is_not_carried_and_not_taken_from_next_month() -> None:
    c = contract({"billing_period": "month", "carry_over": {"mode": "none"}})
    usage = usage_of({Month(2026, 1): 26})
    jan = compute_balance(c, Month(2026, 1), usage)
    assert (jan.remaining_seconds, jan.overage_seconds) == (0, 6 * H)
    assert compute_balance(c, Month(2026, 2), usage).remaining_seconds == 20 * H


def test_capped_carry_over() -> None:
    c = contract({"billing_period": "month", "carry_over": {"mode": "capped", "cap_hours": 8}})
    usage = usage_of({Month(2026, 1): 2, Month(2026, 2): 0})
    feb = compute_balance(c, Month(2026, 2), usage)
    assert feb.carried_in_seconds == 8 * H
    jan = compute_balance(c, Month(2026, 1), usage)
    assert jan.expiring_at_month_end_seconds == 10 * H  # 18 left, 8 carry


def test_expiring_after_two_months_uses_oldest_hours_first() -> None:
    c = contract({"billing_period": "month", "carry_over": {"mode": "expiring", "months": 2}})
    usage = usage_of({Month(2026, 1): 0, Month(2026, 2): 0, Month(2026, 3): 25, Month(2026, 4): 0})
    mar = compute_balance(c, Month(2026, 3), usage)
    # 60 h available: January's 20 h are used first (they expire at the end of March) then February's
    assert mar.remaining_seconds == 35 * H
    assert mar.expiring_at_month_end_seconds == 0
    apr = compute_balance(c, Month(2026, 4), usage)
    assert {str(lot.origin): lot.seconds for lot in apr.carried_in} == {"2026-02": 15 * H, "2026-03": 20 * H}
    assert apr.expiring_at_month_end_seconds == 15 * H


def test_credit_adjustment_returns_hours() -> None:
    c = contract({"billing_period": "month", "carry_over": {"mode": "none"}})
    usage = {Month(2026, 1): {None: Usage(0, -2 * H, 1), "bugfix": Usage(H, H, 1)}}
    jan = compute_balance(c, Month(2026, 1), usage)
    assert jan.remaining_seconds == 21 * H
    assert jan.used_billed_seconds == -H


def test_changed_contract_applies_from_its_date() -> None:
    c = contract({}, {"effective_from": "2026-04-01", "hours_per_month": 30})
    assert compute_balance(c, Month(2026, 3), {}).allotment_seconds == 20 * H
    april = compute_balance(c, Month(2026, 4), {})
    assert april.allotment_seconds == 30 * H
    assert april.term.rounding.increment_minutes == 15  # inherited from the first term


def test_month_before_contract_is_an_error() -> None:
    from bxops.errors import ContractError

    with pytest.raises(ContractError, match="no contract term in force in 2025-12"):
        compute_balance(contract(), Month(2025, 12), {})


# --- properties ----------------------------------------------------------------------------------
monthly_hours = st.lists(st.integers(0, 45), min_size=1, max_size=15)


@settings(max_examples=150, deadline=None)
@given(monthly_hours, st.sampled_from(["month", "quarter"]))
def test_within_period_matches_a_simple_model(hours_list: list[int], period: str) -> None:
    c = contract({"billing_period": period})
    months = [START.plus(i) for i in range(len(hours_list))]
    usage = usage_of(dict(zip(months, hours_list, strict=True)))
    carry = 0
    for month, used in zip(months, hours_list, strict=True):
        if month == month.period_start(BillingPeriod(period)):
            carry = 0
        available = carry + 20 * H
        balance = compute_balance(c, month, usage)
        assert balance.carried_in_seconds == carry
        assert balance.remaining_seconds == max(0, available - used * H)
        assert balance.overage_seconds == max(0, used * H - available)
        carry = balance.remaining_seconds


@settings(max_examples=150, deadline=None)
@given(monthly_hours, st.integers(1, 4))
def test_expiring_hours_never_outlive_their_months(hours_list: list[int], keep: int) -> None:
    c = contract({"billing_period": "month", "carry_over": {"mode": "expiring", "months": keep}})
    months = [START.plus(i) for i in range(len(hours_list))]
    usage = usage_of(dict(zip(months, hours_list, strict=True)))
    total_used_from_pool = 0
    for index, month in enumerate(months):
        balance = compute_balance(c, month, usage)
        assert balance.remaining_seconds >= 0 and balance.overage_seconds >= 0
        assert balance.overage_seconds == 0 or balance.remaining_seconds == 0
        window = len(months_between(month.plus(-keep), month)) if index >= keep else index + 1
        assert balance.remaining_seconds <= window * 20 * H
        for lot in balance.remaining_lots:
            assert lot.expires_after is not None and lot.expires_after >= month
            assert lot.expires_after.index - lot.origin.index == keep
        total_used_from_pool += hours_list[index] * H - balance.overage_seconds
        assert total_used_from_pool <= (index + 1) * 20 * H


@settings(max_examples=100, deadline=None)
@given(monthly_hours, st.integers(1, 30))
def test_capped_never_carries_more_than_the_cap(hours_list: list[int], cap: int) -> None:
    c = contract({"billing_period": "month", "carry_over": {"mode": "capped", "cap_hours": cap}})
    months = [START.plus(i) for i in range(len(hours_list))]
    usage = usage_of(dict(zip(months, hours_list, strict=True)))
    for month in months:
        balance = compute_balance(c, month, usage)
        assert balance.carried_in_seconds <= cap * H
        assert balance.remaining_seconds <= cap * H + 20 * H

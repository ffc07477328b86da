"""Before a run: what it will probably cost, and whether the pool and the overage policy allow it."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bxops.contract import OveragePolicy
from bxops.durations import hours
from bxops.pool import MonthBalance
from bxops.rounding import RoundingPolicy


@dataclass(frozen=True)
class Estimate:
    billed_seconds: int
    earlier_runs: int  # how many earlier runs it is based on (0: the contract's minimum)


def estimate_cost(earlier_raw_seconds: Sequence[int], rounding: RoundingPolicy) -> Estimate:
    """The median of the earlier runs' raw time, billed under the rounding policy."""
    if not earlier_raw_seconds:
        return Estimate(rounding.billed_seconds(0), 0)
    median = round(statistics.median(earlier_raw_seconds))
    return Estimate(rounding.billed_seconds(median), len(earlier_raw_seconds))


@dataclass(frozen=True)
class OverageDecision:
    expected_overage_seconds: int
    refused: bool
    message: str | None  # a warning or the reason for refusal


def decide_overage(
    balance: MonthBalance, estimate: Estimate, reserved_seconds: int = 0, running: int = 0
) -> OverageDecision:
    """Whether the contract lets a run start. `reserved_seconds`: the estimates of the client's `running`
    runs still in progress this month, which the balance does not count yet but will."""
    available = balance.remaining_seconds - reserved_seconds
    overage_now = balance.overage_seconds + max(0, -available)
    shortfall = max(0, estimate.billed_seconds - max(0, available))
    if shortfall == 0:
        return OverageDecision(0, False, None)
    policy = balance.term.overage.policy
    in_progress = (
        f", {hours(reserved_seconds)} of that reserved by {running} run(s) in progress" if reserved_seconds else ""
    )
    summary = (
        f"estimated {hours(estimate.billed_seconds)} but {hours(balance.remaining_seconds)} "
        f"remain in {balance.month}{in_progress}"
    )
    if policy is OveragePolicy.WARN:
        return OverageDecision(shortfall, False, f"{summary}: {hours(shortfall)} will be overage")
    if policy is OveragePolicy.REFUSE:
        return OverageDecision(shortfall, True, f"{summary} and the contract refuses overage")
    limit = balance.overage_limit_seconds or 0
    if overage_now + shortfall > limit:
        return OverageDecision(
            shortfall,
            True,
            f"{summary}; overage would reach {hours(overage_now + shortfall)}, over the contract's {hours(limit)}",
        )
    return OverageDecision(shortfall, False, f"{summary}: {hours(shortfall)} of allowed overage")

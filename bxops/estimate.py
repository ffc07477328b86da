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
    raw_seconds: int = 0  # the raw time expected (the median of the earlier runs)


def estimate_cost(
    earlier_raw_seconds: Sequence[int],
    rounding: RoundingPolicy,
    group: tuple[int, int] | None = None,
    billed: bool = True,
) -> Estimate:
    """The median of the earlier runs' raw time, billed as the run will be: on its own under the rounding
    policy, or, with `group` (the raw seconds and entries of the rounding group the run will join), as
    what it adds to the group's rounded total (RoundingPolicy.marginal, the same rule that shares a
    group's total out to its entries). `billed=False` (a dry run the contract does not bill): nothing."""
    median = round(statistics.median(earlier_raw_seconds)) if earlier_raw_seconds else 0
    if not billed:
        cost = 0
    elif group is None:
        cost = rounding.billed_seconds(median)
    else:
        cost = rounding.marginal(group[0], group[1], median)
    return Estimate(cost, len(earlier_raw_seconds), median)


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

"""Billed time from raw time under a contract's rounding policy, and over which unit it is rounded.

A contract rounds either each ledger entry on its own (scope `entry`) or a group of entries once
(`ticket`: the entries of one ticket in a month; `day`/`month`: the entries of one work type in a day or
a month). A group's billed total is its summed raw time rounded once; that total is shared out to its
entries in order (start, then id): each entry's share is what it added to the group's rounded total, so
the shares always sum to the total and an entry's share never changes when later entries join.

Everything here is pure; `bxops.ledger.entries` reads the groups and `allocate` prices them: balance,
history, run summaries and estimates all take their billed figures from this one module.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, tzinfo
from enum import StrEnum


class RoundingMode(StrEnum):
    UP = "up"
    NEAREST = "nearest"
    DOWN = "down"


class RoundingScope(StrEnum):
    ENTRY = "entry"  # each entry rounded on its own (the default; how every contract billed before)
    TICKET = "ticket"  # the entries of one ticket in a month, rounded once (entries without one: per entry)
    DAY = "day"  # the entries of one work type in one day (UTC), rounded once
    MONTH = "month"  # the entries of one work type in one month (UTC), rounded once


@dataclass(frozen=True)
class RoundingPolicy:
    increment_seconds: int
    mode: RoundingMode
    minimum_seconds: int

    def __post_init__(self) -> None:
        if self.increment_seconds <= 0:
            raise ValueError("increment must be positive")
        if self.minimum_seconds < 0:
            raise ValueError("minimum must not be negative")

    def billed_seconds(self, raw_seconds: int) -> int:
        """Round raw seconds to the increment, then lift to the minimum billable time."""
        if raw_seconds < 0:
            raise ValueError("raw seconds must not be negative")
        step = self.increment_seconds
        whole, rest = divmod(raw_seconds, step)
        if self.mode is RoundingMode.UP:
            rounded = (whole + (1 if rest else 0)) * step
        elif self.mode is RoundingMode.DOWN:
            rounded = whole * step
        else:  # nearest, halves go up
            rounded = (whole + (1 if rest * 2 >= step else 0)) * step
        return max(rounded, self.minimum_seconds)

    def group_total(self, raw_seconds: int, entries: int) -> int:
        """The billed total of a group of `entries` entries holding `raw_seconds`: nothing for none."""
        return self.billed_seconds(raw_seconds) if entries > 0 else 0

    def marginal(self, group_raw_seconds: int, group_entries: int, added_raw_seconds: int) -> int:
        """What an entry of `added_raw_seconds` adds to a group's billed total (its share, the estimate)."""
        return self.group_total(group_raw_seconds + added_raw_seconds, group_entries + 1) - self.group_total(
            group_raw_seconds, group_entries
        )

    def text(self) -> str:
        """Compact form kept in the ledger: `up/900/900` (mode, increment, minimum in seconds)."""
        return f"{self.mode.value}/{self.increment_seconds}/{self.minimum_seconds}"

    @classmethod
    def parse(cls, text: str) -> RoundingPolicy:
        mode, increment, minimum = text.split("/")
        return cls(int(increment), RoundingMode(mode), int(minimum))


def billing_period(scope: RoundingScope, moment: datetime, zone: tzinfo = UTC) -> str:
    """The day (`2026-11-03`) or month (`2026-11`) an entry's group belongs to. The one place that draws
    day and month boundaries for rounding: in the client's time zone (the contract's `timezone`)."""
    local = moment.astimezone(zone) if moment.tzinfo is not None else moment
    day: date = local.date()
    return day.isoformat() if scope is RoundingScope.DAY else f"{day.year:04d}-{day.month:02d}"


@dataclass(frozen=True)
class GroupKey:
    """Which group an entry is billed in, and how: kept on the entry (`billing_group`) as
    `scope:period:what|mode/increment/minimum`, e.g. `month:2026-11:maintenance|up/900/900`, so that a
    later contract term (or an edited contract file) never changes how past entries were billed."""

    scope: RoundingScope
    period: str
    what: str  # the work type (day, month; '' when unclassified) or the ticket (ticket)
    policy: RoundingPolicy

    def __str__(self) -> str:
        return f"{self.scope.value}:{self.period}:{self.what}|{self.policy.text()}"

    @classmethod
    def parse(cls, text: str) -> GroupKey:
        head, _, policy = text.rpartition("|")
        scope, period, what = head.split(":", 2)
        return cls(RoundingScope(scope), period, what, RoundingPolicy.parse(policy))

    def moved(self, work_type: str | None, ticket: str | None) -> GroupKey | None:
        """The same scope, period and policy for an entry whose work type or ticket was corrected;
        None when it no longer belongs to a group (a ticket scope entry left without a ticket)."""
        if self.scope is RoundingScope.TICKET:
            return replace(self, what=ticket) if ticket else None
        return replace(self, what=work_type or "")

    def label(self) -> str:
        """For people: `maintenance in 2026-11`, `ticket BX-12 in 2026-11`."""
        if self.scope is RoundingScope.TICKET:
            return f"ticket {self.what} in {self.period}"
        return f"{self.what or 'unclassified'} in {self.period}"


def group_key(
    scope: RoundingScope,
    policy: RoundingPolicy,
    started_at: datetime,
    work_type: str | None,
    ticket: str | None,
    zone: tzinfo = UTC,
) -> GroupKey | None:
    """The group of an entry under `scope`; None: the entry is rounded on its own."""
    if scope is RoundingScope.ENTRY:
        return None
    if scope is RoundingScope.TICKET:
        if not ticket:
            return None  # no ticket to sum over: rounded per entry
        return GroupKey(scope, billing_period(scope, started_at, zone), ticket, policy)
    return GroupKey(scope, billing_period(scope, started_at, zone), work_type or "", policy)


@dataclass(frozen=True)
class Member:
    """An entry of a group: its id, its place (start time, id) and its raw seconds."""

    id: Hashable
    started_at: datetime
    order: int
    raw_seconds: int


@dataclass(frozen=True)
class Share:
    """An entry's share of its group's billed total, and the group's figures."""

    billed_seconds: int
    group: GroupKey
    group_raw_seconds: int
    group_billed_seconds: int
    group_entries: int


def allocate(key: GroupKey, members: Iterable[Member]) -> dict[Hashable, Share]:
    """Each member's share of the group's rounded total: what it added to the total, in order of start
    (then id). The shares sum to `key.policy.group_total(sum of raw, count)` exactly."""
    ordered = sorted(members, key=lambda member: (member.started_at, member.order))
    total_raw = sum(max(0, member.raw_seconds) for member in ordered)
    total = key.policy.group_total(total_raw, len(ordered))
    shares: dict[Hashable, Share] = {}
    raw_so_far = 0
    billed_so_far = 0
    for count, member in enumerate(ordered, start=1):
        raw_so_far += max(0, member.raw_seconds)
        billed_now = key.policy.group_total(raw_so_far, count)
        shares[member.id] = Share(billed_now - billed_so_far, key, total_raw, total, len(ordered))
        billed_so_far = billed_now
    return shares

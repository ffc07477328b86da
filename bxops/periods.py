"""Calendar months and the billing periods (month or quarter) they belong to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

from bxops.errors import BxopsError

_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


class BillingPeriod(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month; ordered, hashable, and convertible to a compact integer key (yyyymm)."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"month out of range: {self.month}")

    @classmethod
    def parse(cls, text: str) -> Month:
        match = _MONTH_RE.match(text.strip())
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise BxopsError(f"invalid month {text!r}: expected YYYY-MM, e.g. 2026-11")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, moment: date | datetime) -> Month:
        if isinstance(moment, datetime) and moment.tzinfo is not None:
            moment = moment.astimezone(UTC)
        return cls(moment.year, moment.month)

    @classmethod
    def from_key(cls, key: int) -> Month:
        return cls(key // 100, key % 100)

    @classmethod
    def current(cls) -> Month:
        return cls.of(datetime.now(UTC))

    @property
    def key(self) -> int:
        return self.year * 100 + self.month

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def index(self) -> int:
        """Months since year 0; differences of indexes count months."""
        return self.year * 12 + self.month - 1

    def plus(self, months: int) -> Month:
        index = self.index + months
        return Month(index // 12, index % 12 + 1)

    def next(self) -> Month:
        return self.plus(1)

    @property
    def quarter(self) -> int:
        return (self.month - 1) // 3 + 1

    def period_start(self, period: BillingPeriod) -> Month:
        if period is BillingPeriod.MONTH:
            return self
        return Month(self.year, (self.quarter - 1) * 3 + 1)

    def period_end(self, period: BillingPeriod) -> Month:
        return self.period_start(period).plus(0 if period is BillingPeriod.MONTH else 2)

    def period_label(self, period: BillingPeriod) -> str:
        return str(self) if period is BillingPeriod.MONTH else f"{self.year}-Q{self.quarter}"

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def months_between(first: Month, last: Month) -> list[Month]:
    """Every month from first to last, both included (empty when last < first)."""
    return [first.plus(i) for i in range(last.index - first.index + 1)]

"""Billed time from raw time under a contract's rounding policy."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RoundingMode(StrEnum):
    UP = "up"
    NEAREST = "nearest"
    DOWN = "down"


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

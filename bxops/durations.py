"""Reading and writing durations: `90m`, `1.5h`, `1h30m`, `45` (minutes); hours shown with two decimals."""

from __future__ import annotations

import re

from bxops.errors import BxopsError

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([hms])", re.IGNORECASE)
_UNIT = {"h": 3600, "m": 60, "s": 1}


def parse_duration(text: str, *, signed: bool = False) -> int:
    """Seconds in a duration; a bare number means minutes. Negative only when `signed`."""
    raw = text.strip()
    sign = 1
    if raw.startswith(("-", "+")):
        if not signed:
            raise BxopsError(f"duration must not be negative: {text!r}")
        sign = -1 if raw[0] == "-" else 1
        raw = raw[1:].strip()
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        seconds = float(raw) * 60
    else:
        parts = _PART.findall(raw)
        if not parts or _PART.sub("", raw).strip():
            raise BxopsError(f"invalid duration {text!r}: use e.g. 90m, 1.5h, 1h30m or 45 (minutes)")
        seconds = sum(float(number) * _UNIT[unit.lower()] for number, unit in parts)
    if seconds > 31 * 24 * 3600:
        raise BxopsError(f"duration too long: {text!r}")
    return sign * round(seconds)


def hours(seconds: int | float | None) -> str:
    """Decimal hours, e.g. `1.25 h`."""
    if seconds is None:
        return "—"
    return f"{seconds / 3600:.2f} h"


def clock(seconds: int | float | None) -> str:
    """`h:mm:ss`, signed."""
    if seconds is None:
        return "—"
    sign = "-" if seconds < 0 else ""
    whole = abs(round(seconds))
    return f"{sign}{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"

"""Business time in a client's time zone: working days and hours, public holidays, transferred days.

A minute is business time when its wall-clock time in the client's zone falls within the working hours
of a working day. A working day is a day of the week the calendar names, unless it is a public holiday
(the `holidays` library, by country) or an extra day off; a transferred working day (a Saturday that
Russia's calendar makes a working day) is one whatever its weekday. Working hours are drawn in local
wall time, so a DST change moves them in UTC and a 00:00-24:00 day lasts 23 or 25 hours.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

Interval = tuple[datetime, datetime]


@cache
def _public_holidays(country: str, year: int) -> frozenset[date]:
    import holidays

    return frozenset(holidays.country_holidays(country, years=year).keys())


def country_known(country: str) -> bool:
    import holidays

    return country.upper() in holidays.list_supported_countries()


@dataclass(frozen=True)
class BusinessCalendar:
    zone: ZoneInfo
    weekdays: frozenset[int] = frozenset(range(5))  # Monday = 0
    start: time = time(9, 0)
    #: End of the working day; None: midnight at the day's end (24:00).
    end: time | None = time(18, 0)
    country: str | None = None
    extra_days_off: frozenset[date] = field(default_factory=frozenset)
    extra_working_days: frozenset[date] = field(default_factory=frozenset)

    @property
    def day_seconds(self) -> int:
        """The length of a working day on the wall clock: what "1 business day" means."""
        end = 24 * 3600 if self.end is None else self.end.hour * 3600 + self.end.minute * 60
        return end - (self.start.hour * 3600 + self.start.minute * 60)

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_working_days:
            return True
        if day.weekday() not in self.weekdays or day in self.extra_days_off:
            return False
        return self.country is None or day not in _public_holidays(self.country, day.year)

    def is_business_minute(self, moment: datetime) -> bool:
        """The reference definition (minute by minute): is this instant within working hours?"""
        local = moment.astimezone(self.zone)
        if not self.is_working_day(local.date()):
            return False
        wall = local.time().replace(tzinfo=None)
        return self.start <= wall and (self.end is None or wall < self.end)

    def _day_interval(self, day: date) -> Interval:
        opens = datetime.combine(day, self.start, tzinfo=self.zone).astimezone(UTC)
        if self.end is None:
            closes = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone).astimezone(UTC)
        else:
            closes = datetime.combine(day, self.end, tzinfo=self.zone).astimezone(UTC)
        return opens, closes

    def intervals(self, start: datetime) -> Iterator[Interval]:
        """Working intervals (UTC) from `start` on, the first one clipped to it; endless."""
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        while True:
            if self.is_working_day(day):
                opens, closes = self._day_interval(day)
                if closes > start:
                    yield max(opens, start), closes
            day += timedelta(days=1)


@dataclass(frozen=True)
class Clock:
    """Measures an incident's time: on the business calendar, or around the clock (calendar None)."""

    calendar: BusinessCalendar | None

    def _spans(self, start: datetime) -> Iterator[Interval]:
        if self.calendar is None:
            yield start, datetime.max.replace(tzinfo=UTC)
        else:
            yield from self.calendar.intervals(start)

    def _running(self, start: datetime, pauses: Iterable[Interval]) -> Iterator[Interval]:
        """The clock's running intervals from `start`: its spans less the pauses."""
        cuts = sorted((a, b) for a, b in pauses if b > a)
        for opens, closes in self._spans(start):
            pieces = [(opens, closes)]
            for a, b in cuts:
                if b <= opens or a >= closes:
                    continue
                nxt: list[Interval] = []
                for x, y in pieces:
                    if b <= x or a >= y:
                        nxt.append((x, y))
                        continue
                    if a > x:
                        nxt.append((x, a))
                    if b < y:
                        nxt.append((b, y))
                pieces = nxt
            yield from pieces

    def elapsed(self, start: datetime, end: datetime, pauses: Iterable[Interval] = ()) -> int:
        """Seconds the clock ran between start and end."""
        total = 0.0
        if end <= start:
            return 0
        for a, b in self._running(start, pauses):
            if a >= end:
                break
            total += (min(b, end) - a).total_seconds()
        return round(total)

    def deadline(self, start: datetime, seconds: int, pauses: Iterable[Interval] = ()) -> datetime:
        """When the clock started at `start` reaches `seconds` (pauses known so far taken out)."""
        left = timedelta(seconds=seconds)
        for a, b in self._running(start, pauses):
            if b - a >= left:
                return a + left
            left -= b - a
        raise AssertionError("unreachable: the calendar has no end")  # pragma: no cover

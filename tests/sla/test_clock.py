"""Business-time clocks against a minute-by-minute reference (hypothesis) and hand-computed cases:
weekends, public holidays, transferred working days, DST in a European zone, opened outside hours,
pauses (issue 15)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bxops.sla.calendar import BusinessCalendar, Clock, Interval

MINUTE = timedelta(minutes=1)
MOSCOW = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")


def reference_elapsed(calendar: BusinessCalendar | None, start: datetime, end: datetime, pauses: list[Interval]) -> int:
    """Count the minutes one by one: a minute counts when it is business time and not paused."""
    count = 0
    moment = start
    while moment < end:
        paused = any(a <= moment < b for a, b in pauses)
        if not paused and (calendar is None or calendar.is_business_minute(moment)):
            count += 1
        moment += MINUTE
    return count * 60


def reference_deadline(
    calendar: BusinessCalendar | None, start: datetime, seconds: int, pauses: list[Interval]
) -> datetime:
    left = seconds // 60
    moment = start
    while True:
        paused = any(a <= moment < b for a, b in pauses)
        if not paused and (calendar is None or calendar.is_business_minute(moment)):
            left -= 1
            if left == 0:
                return moment + MINUTE
        moment += MINUTE


# Hours that start and end outside 01:00-04:00, where European and American DST changes happen:
# working hours are drawn on the wall clock, and none begins inside an hour that is skipped or repeated.
_BOUNDS = [0, 4, 5, 6, 7, 8, 9, 10, 12, 14, 17, 18, 20, 22, 23, 24]


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    zone = draw(st.sampled_from(["Europe/Berlin", "Europe/Moscow", "America/New_York", "Asia/Vladivostok", "UTC"]))
    weekdays = draw(st.sets(st.integers(0, 6), min_size=1))
    first = draw(st.sampled_from(_BOUNDS[:-1]))
    last = draw(st.sampled_from([bound for bound in _BOUNDS if bound > first]))
    country = draw(st.sampled_from([None, "DE", "RU", "US"]))
    days = st.dates(date(2026, 3, 20), date(2026, 4, 12)) | st.dates(date(2026, 10, 20), date(2026, 11, 12))
    return BusinessCalendar(
        zone=ZoneInfo(zone),
        weekdays=frozenset(weekdays),
        start=time(first),
        end=None if last == 24 else time(last),
        country=country,
        extra_days_off=frozenset(draw(st.sets(days, max_size=3))),
        extra_working_days=frozenset(draw(st.sets(days, max_size=3))),
    )


# Spans around the EU DST changes of 2026 (29 March, 25 October) and the US ones (8 March, 1 November),
# Easter (DE: 3 and 6 April) and Russia's Unity Day (4 November), in whole minutes.
_ORIGINS = [datetime(2026, 3, 26, tzinfo=UTC), datetime(2026, 10, 22, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC)]


@st.composite
def spans(draw: st.DrawFn) -> tuple[datetime, datetime, list[Interval]]:
    origin = draw(st.sampled_from(_ORIGINS))
    start = origin + draw(st.integers(0, 6 * 24 * 60)) * MINUTE
    end = start + draw(st.integers(0, 5 * 24 * 60)) * MINUTE
    pauses: list[Interval] = []
    for _ in range(draw(st.integers(0, 3))):
        a = start + draw(st.integers(-600, 5 * 24 * 60)) * MINUTE
        pauses.append((a, a + draw(st.integers(1, 2 * 24 * 60)) * MINUTE))
    return start, end, pauses


@settings(max_examples=150, deadline=None)
@given(calendar=st.none() | calendars(), span=spans())
def test_elapsed_matches_the_minute_by_minute_reference(
    calendar: BusinessCalendar | None, span: tuple[datetime, datetime, list[Interval]]
) -> None:
    start, end, pauses = span
    assert Clock(calendar).elapsed(start, end, pauses) == reference_elapsed(calendar, start, end, pauses)


@settings(max_examples=100, deadline=None)
@given(calendar=st.none() | calendars(), span=spans(), target_minutes=st.integers(1, 3 * 9 * 60))
def test_deadline_matches_the_minute_by_minute_reference(
    calendar: BusinessCalendar | None, span: tuple[datetime, datetime, list[Interval]], target_minutes: int
) -> None:
    start, _end, pauses = span
    expected = reference_deadline(calendar, start, target_minutes * 60, pauses)
    assert Clock(calendar).deadline(start, target_minutes * 60, pauses) == expected


def _local(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone).astimezone(UTC)  # type: ignore[misc]


OFFICE_RU = BusinessCalendar(zone=MOSCOW, country="RU")  # Mon-Fri 09:00-18:00, Russia's holidays


def test_opened_friday_afternoon_runs_on_monday() -> None:
    """4 h from Friday 27 Nov 2026 17:00 Moscow: 1 h on Friday, 3 h on Monday → Monday 12:00."""
    clock = Clock(OFFICE_RU)
    assert clock.deadline(_local(MOSCOW, 2026, 11, 27, 17, 0), 4 * 3600) == _local(MOSCOW, 2026, 11, 30, 12, 0)


def test_opened_on_saturday_starts_on_monday_morning() -> None:
    clock = Clock(OFFICE_RU)
    opened = _local(MOSCOW, 2026, 11, 28, 10, 0)
    assert clock.deadline(opened, 4 * 3600) == _local(MOSCOW, 2026, 11, 30, 13, 0)
    assert clock.elapsed(opened, _local(MOSCOW, 2026, 11, 30, 9, 30)) == 1800


def test_public_holiday_is_skipped() -> None:
    """1 business day (9 h) from Tuesday 3 Nov 2026 16:00: 2 h Tuesday, Wednesday 4 Nov is Unity Day,
    7 h Thursday → Thursday 16:00."""
    clock = Clock(OFFICE_RU)
    assert clock.deadline(_local(MOSCOW, 2026, 11, 3, 16, 0), 9 * 3600) == _local(MOSCOW, 2026, 11, 5, 16, 0)


def test_transferred_working_saturday_counts() -> None:
    """Russia 2027: Saturday 20 Feb is worked, Monday 22 Feb is off, Tuesday 23 Feb is a holiday. 4 h
    from Friday 19 Feb 17:00: 1 h Friday + 3 h Saturday → Saturday 12:00; without the transfer,
    Wednesday 24 Feb 12:00."""
    worked = BusinessCalendar(zone=MOSCOW, country="RU", extra_working_days=frozenset({date(2027, 2, 20)}))
    opened = _local(MOSCOW, 2027, 2, 19, 17, 0)
    assert Clock(worked).deadline(opened, 4 * 3600) == _local(MOSCOW, 2027, 2, 20, 12, 0)
    assert Clock(OFFICE_RU).deadline(opened, 4 * 3600) == _local(MOSCOW, 2027, 2, 24, 12, 0)


def test_extra_day_off() -> None:
    off = BusinessCalendar(zone=MOSCOW, extra_days_off=frozenset({date(2026, 11, 30)}))
    opened = _local(MOSCOW, 2026, 11, 27, 17, 0)
    assert Clock(off).deadline(opened, 4 * 3600) == _local(MOSCOW, 2026, 12, 1, 12, 0)


def test_wall_clock_across_the_spring_dst_change_in_berlin() -> None:
    """Around the clock, 2 h from 01:30 CET on 29 Mar 2026 (00:30 UTC) end at 02:30 UTC, which is 04:30
    CEST on the wall: the hour 02:00-03:00 does not exist that night."""
    opened = _local(BERLIN, 2026, 3, 29, 1, 30)
    assert opened == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    deadline = Clock(None).deadline(opened, 7200)
    assert deadline.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 3, 29, 4, 30)


def test_a_whole_day_calendar_has_23_and_25_hour_days_in_berlin() -> None:
    every_day = BusinessCalendar(zone=BERLIN, weekdays=frozenset(range(7)), start=time(0), end=None)
    spring = every_day._day_interval(date(2026, 3, 29))
    autumn = every_day._day_interval(date(2026, 10, 25))
    assert spring[1] - spring[0] == timedelta(hours=23)
    assert autumn[1] - autumn[0] == timedelta(hours=25)


def test_business_hours_follow_the_wall_clock_across_dst() -> None:
    """09:00 Berlin is 08:00 UTC on Friday 27 Mar 2026 (CET) and 07:00 UTC on Monday 30 Mar (CEST)."""
    clock = Clock(BusinessCalendar(zone=BERLIN))
    opened = datetime(2026, 3, 27, 16, 0, tzinfo=UTC)  # 17:00 CET Friday: one hour left that day
    assert clock.deadline(opened, 2 * 3600) == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # 10:00 CEST Monday


def test_pause_stops_the_clock() -> None:
    """High, 2 h: opened Monday 10:00, waiting for the client 11:00-14:00 → due 15:00; elapsed at 16:00
    is 3 h."""
    clock = Clock(OFFICE_RU)
    pauses = [(_local(MOSCOW, 2026, 11, 30, 11, 0), _local(MOSCOW, 2026, 11, 30, 14, 0))]
    opened = _local(MOSCOW, 2026, 11, 30, 10, 0)
    assert clock.deadline(opened, 7200, pauses) == _local(MOSCOW, 2026, 11, 30, 15, 0)
    assert clock.elapsed(opened, _local(MOSCOW, 2026, 11, 30, 16, 0), pauses) == 3 * 3600

"""The contract's `timezone`, `sla` and `tracker` sections, validated.

```yaml
timezone: Europe/Moscow            # IANA name; months, `log --date` and business hours are in it
sla:
  calendar:                        # business hours (default: Mon-Fri 09:00-18:00, no holidays)
    working_days: [mon, tue, wed, thu, fri]
    hours: "09:00-18:00"           # or "00:00-24:00"
    country: RU                    # public holidays from the `holidays` library
    extra_days_off: [2026-12-31]
    extra_working_days: [2026-11-01]   # transferred working days
  at_risk: 0.8                     # share of a target after which a running clock is "at risk"
  pause_statuses: [waiting]        # our statuses that stop the clocks
  priorities:                      # default: the offer's table
    critical: {response: 30m, resolution: 2h, clock: 24x7}
    low: {response: 1 business day, resolution: by agreement}
tracker:
  type: jira                       # jira (Server/DC, REST v2) | jira_cloud (v3) | youtrack | bitrix24
  url: https://tracker.example.com
  token_env: BXOPS_TRACKER_TOKEN_ACME
  priorities: {Highest: critical, High: high, Medium: medium, Low: low}
  statuses: {Open: open, In Progress: in_progress, Waiting for customer: waiting, Done: resolved}
  staff: [alice@agency.example]    # whose comments are a response
  estimate_before_run: true
```
"""

from __future__ import annotations

import re
from datetime import date, time
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bxops.durations import parse_duration
from bxops.errors import BxopsError
from bxops.sla.calendar import BusinessCalendar, Clock, country_known

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PRIORITIES = ("critical", "high", "medium", "low")
_BY_AGREEMENT = {"by agreement", "none", "by_agreement"}
_BUSINESS_DAYS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*business\s+days?\s*$", re.IGNORECASE)
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def zone_of(name: str) -> ZoneInfo:
    """The IANA zone `name`; BxopsError (one line) when there is none."""
    if not isinstance(name, str) or not name or name.startswith(("/", ".")) or ".." in name:
        raise BxopsError(f"invalid time zone {name!r}: give an IANA name such as Europe/Moscow")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BxopsError(f"unknown time zone {name!r}: give an IANA name such as Europe/Moscow") from None


class ClockKind(StrEnum):
    BUSINESS = "business"
    ALWAYS = "24x7"


class OurStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    WAITING = "waiting"
    RESOLVED = "resolved"


class TrackerType(StrEnum):
    JIRA = "jira"
    JIRA_CLOUD = "jira_cloud"
    YOUTRACK = "youtrack"
    BITRIX24 = "bitrix24"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Target(_Strict):
    """A target: seconds, or business days (counted in the calendar's day length); None: by agreement."""

    seconds: int | None = None
    business_days: float | None = None

    @classmethod
    def parse(cls, value: object) -> Target:
        if value is None:
            return cls()
        if isinstance(value, int | float) and not isinstance(value, bool):
            return cls(seconds=round(value * 60))  # a bare number: minutes, as everywhere
        text = str(value).strip()
        if text.lower() in _BY_AGREEMENT:
            return cls()
        days = _BUSINESS_DAYS.match(text)
        if days:
            return cls(business_days=float(days.group(1)))
        try:
            return cls(seconds=parse_duration(text))
        except BxopsError:
            raise ValueError(f"invalid target {text!r}: use e.g. 30m, 2h, '1 business day' or 'by agreement'") from None

    def in_seconds(self, calendar: BusinessCalendar) -> int | None:
        if self.business_days is not None:
            return round(self.business_days * calendar.day_seconds)
        return self.seconds

    def describe(self) -> str:
        if self.business_days is not None:
            return f"{self.business_days:g} business day" + ("" if self.business_days == 1 else "s")
        if self.seconds is None:
            return "by agreement"
        minutes = self.seconds // 60
        return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


class PriorityTerms(_Strict):
    response: Target
    resolution: Target
    clock: ClockKind = ClockKind.BUSINESS

    @field_validator("response", "resolution", mode="before")
    @classmethod
    def _target(cls, value: object) -> object:
        return value if isinstance(value, Target | dict) else Target.parse(value)


#: The offer's table: Critical 30 min / 2 h, High 2 h / 8 h, Medium 4 h / 1 business day,
#: Low 1 business day / by agreement. Critical runs around the clock (a site down at night is down).
DEFAULT_PRIORITIES: dict[str, PriorityTerms] = {
    "critical": PriorityTerms(response=Target(seconds=1800), resolution=Target(seconds=7200), clock=ClockKind.ALWAYS),
    "high": PriorityTerms(response=Target(seconds=7200), resolution=Target(seconds=8 * 3600)),
    "medium": PriorityTerms(response=Target(seconds=4 * 3600), resolution=Target(business_days=1)),
    "low": PriorityTerms(response=Target(business_days=1), resolution=Target()),
}


class CalendarTerms(_Strict):
    working_days: Annotated[list[str], Field(min_length=1)] = Field(default_factory=lambda: list(WEEKDAYS[:5]))
    hours: str = "09:00-18:00"
    country: str | None = None
    extra_days_off: list[date] = Field(default_factory=list)
    extra_working_days: list[date] = Field(default_factory=list)

    @field_validator("working_days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        for day in value:
            if day not in WEEKDAYS:
                raise ValueError(f"unknown day {day!r} (use {', '.join(WEEKDAYS)})")
        return value

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        match = _HOURS.match(value)
        if not match:
            raise ValueError(f"expected HH:MM-HH:MM, got {value!r}")
        h1, m1, h2, m2 = (int(part) for part in match.groups())
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2) or (h1, m1) >= (h2, m2):
            raise ValueError(f"working hours must run forward within one day, got {value!r}")
        return value

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is not None and not country_known(value):
            raise ValueError(f"the holidays library knows no country {value!r} (ISO 3166 code, e.g. RU)")
        return value.upper() if value is not None else None

    def build(self, zone: ZoneInfo) -> BusinessCalendar:
        match = _HOURS.match(self.hours)
        assert match is not None
        h1, m1, h2, m2 = (int(part) for part in match.groups())
        return BusinessCalendar(
            zone=zone,
            weekdays=frozenset(WEEKDAYS.index(day) for day in self.working_days),
            start=time(h1, m1),
            end=None if h2 == 24 else time(h2, m2),
            country=self.country,
            extra_days_off=frozenset(self.extra_days_off),
            extra_working_days=frozenset(self.extra_working_days),
        )


class SlaTerms(_Strict):
    calendar: CalendarTerms = Field(default_factory=CalendarTerms)
    priorities: dict[str, PriorityTerms] = Field(default_factory=lambda: dict(DEFAULT_PRIORITIES))
    pause_statuses: list[OurStatus] = Field(default_factory=lambda: [OurStatus.WAITING])
    at_risk: Annotated[float, Field(gt=0, lt=1)] = 0.8

    @field_validator("priorities")
    @classmethod
    def _names(cls, value: dict[str, PriorityTerms]) -> dict[str, PriorityTerms]:
        if not value:
            raise ValueError("at least one priority is needed")
        for name in value:
            if not re.match(r"^[a-z][a-z0-9_-]*$", name):
                raise ValueError(f"priority {name!r} must be lowercase letters, digits, '_' or '-'")
        return value


class TrackerTerms(_Strict):
    type: TrackerType
    url: Annotated[str, Field(pattern=r"^https?://[^\s/]+(/\S*)?$")]
    #: Environment variable that holds the token (Jira: a personal access token, or `email:api-token`
    #: on Cloud; YouTrack: a permanent token; Bitrix24: the webhook's secret). Never the token itself.
    token_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")]
    priorities: Annotated[dict[str, str], Field(min_length=1)]
    statuses: dict[str, OurStatus] = Field(default_factory=dict)
    staff: list[str] = Field(default_factory=list)
    estimate_before_run: bool = False
    #: `run … --ticket KEY` pushes its entry as a worklog when it ends (else `sync` does, later)
    sync_after_run: bool = False
    #: The user (Bitrix24: numeric id) whose name the worklogs are written under, where the tracker asks.
    user: str | None = None
    #: Where alerts open tickets: Jira's project key, YouTrack's project id (Bitrix24: the webhook's user's tasks).
    project: str | None = None
    #: Alertmanager's `severity` label → our priority, for tickets opened by alerts.
    alert_priorities: dict[str, str] = Field(default_factory=lambda: {"critical": "critical", "warning": "high"})

    def their_priority(self, ours: str) -> str:
        """The tracker's name for one of our priorities (the first one the contract maps to it)."""
        return next(theirs for theirs, mapped in self.priorities.items() if mapped == ours)


class ServiceTerms(_Strict):
    """What the contract file says beside its terms: zone, SLA, tracker."""

    timezone: str = "UTC"
    sla: SlaTerms | None = None
    tracker: TrackerTerms | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zone_of(value)
        except BxopsError as error:
            raise ValueError(str(error)) from None
        return value

    @model_validator(mode="after")
    def _mapping(self) -> ServiceTerms:
        if self.tracker is None:
            return self
        ours = (self.sla or SlaTerms()).priorities
        for theirs, mapped in self.tracker.priorities.items():
            if mapped not in ours:
                raise ValueError(
                    f"tracker.priorities.{theirs}: maps to {mapped!r}, which is no SLA priority "
                    f"(known: {', '.join(ours)})"
                )
        unmapped = [name for name in ours if name not in self.tracker.priorities.values()]
        if unmapped:
            raise ValueError(f"tracker.priorities: no tracker priority maps to {', '.join(unmapped)}")
        given = "alert_priorities" in self.tracker.model_fields_set  # the default names the offer's priorities
        for severity, mapped in self.tracker.alert_priorities.items() if given else ():
            if mapped not in ours:
                raise ValueError(
                    f"tracker.alert_priorities.{severity}: maps to {mapped!r}, which is no SLA priority "
                    f"(known: {', '.join(ours)})"
                )
        return self

    @property
    def zone(self) -> ZoneInfo:
        return zone_of(self.timezone)

    def calendar(self) -> BusinessCalendar:
        return (self.sla or SlaTerms()).calendar.build(self.zone)

    def clock_for(self, priority: str) -> Clock:
        terms = (self.sla or SlaTerms()).priorities[priority]
        return Clock(self.calendar() if terms.clock is ClockKind.BUSINESS else None)

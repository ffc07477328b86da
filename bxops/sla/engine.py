"""The SLA engine: each incident's response and resolution clocks, and the month's report per priority.

Response runs from opening to the first response by agency staff, resolution from opening to
resolution; both run in business or wall time as the priority's terms say and stop while the incident
sits in a pause status (waiting for the client). A stopped clock is met or breached; a running one is
breached once past its target, at risk past `at_risk` of it, else on track. "By agreement": no target.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from bxops.sla.calendar import Clock, Interval
from bxops.sla.terms import ServiceTerms, SlaTerms


class ClockState(StrEnum):
    MET = "met"
    BREACHED = "breached"
    AT_RISK = "at_risk"
    ON_TRACK = "on_track"
    NO_TARGET = "no_target"


@dataclass(frozen=True)
class IncidentFacts:
    id: int
    ticket: str | None
    title: str
    priority: str
    opened_at: datetime
    responded_at: datetime | None
    resolved_at: datetime | None
    #: (when, our status) in order, the first at opening
    history: tuple[tuple[datetime, str], ...] = ()


@dataclass(frozen=True)
class ClockResult:
    target_seconds: int | None
    elapsed_seconds: int
    stopped: bool
    state: ClockState
    due_at: datetime | None  # when a running clock reaches its target (pauses so far taken out)


@dataclass(frozen=True)
class Evaluated:
    incident: IncidentFacts
    response: ClockResult
    resolution: ClockResult

    @property
    def breached(self) -> bool:
        return ClockState.BREACHED in (self.response.state, self.resolution.state)

    @property
    def at_risk(self) -> bool:
        return not self.breached and ClockState.AT_RISK in (self.response.state, self.resolution.state)

    @property
    def met(self) -> bool:
        """Every clock with a target stopped within it (an open incident is not yet met)."""
        return (
            all(
                clock.state in (ClockState.MET, ClockState.NO_TARGET)
                and (clock.stopped or clock.target_seconds is None)
                for clock in (self.response, self.resolution)
            )
            and self.resolution.stopped
        )


def pauses(history: Sequence[tuple[datetime, str]], pause_statuses: Iterable[str], until: datetime) -> list[Interval]:
    """The intervals spent in a pause status, the last one open until `until`."""
    paused = set(pause_statuses)
    result: list[Interval] = []
    began: datetime | None = None
    for at, status in sorted(history, key=lambda item: item[0]):
        if status in paused and began is None:
            began = at
        elif status not in paused and began is not None:
            result.append((began, at))
            began = None
    if began is not None and until > began:
        result.append((began, until))
    return result


def _clock(
    clock: Clock,
    sla: SlaTerms,
    opened: datetime,
    stop: datetime | None,
    target: int | None,
    now: datetime,
    paused: list[Interval],
) -> ClockResult:
    end = stop if stop is not None else now
    elapsed = clock.elapsed(opened, end, paused)
    if target is None:
        return ClockResult(None, elapsed, stop is not None, ClockState.NO_TARGET, None)
    if stop is not None:
        state = ClockState.MET if elapsed <= target else ClockState.BREACHED
        return ClockResult(target, elapsed, True, state, None)
    due = clock.deadline(opened, target, paused)
    if elapsed > target:
        state = ClockState.BREACHED
    elif elapsed >= sla.at_risk * target:
        state = ClockState.AT_RISK
    else:
        state = ClockState.ON_TRACK
    return ClockResult(target, elapsed, False, state, due)


def evaluate(incident: IncidentFacts, service: ServiceTerms, now: datetime) -> Evaluated:
    sla = service.sla or SlaTerms()
    terms = sla.priorities.get(incident.priority)
    if terms is None:
        raise KeyError(incident.priority)
    calendar = service.calendar()
    clock = service.clock_for(incident.priority)
    last = incident.resolved_at or now
    paused = pauses(incident.history, [status.value for status in sla.pause_statuses], last)
    # a response given after resolution (or none at all) is the resolution itself
    stops = [moment for moment in (incident.responded_at, incident.resolved_at) if moment is not None]
    responded = min(stops) if stops else None
    return Evaluated(
        incident,
        _clock(clock, sla, incident.opened_at, responded, terms.response.in_seconds(calendar), now, paused),
        _clock(
            clock, sla, incident.opened_at, incident.resolved_at, terms.resolution.in_seconds(calendar), now, paused
        ),
    )


@dataclass(frozen=True)
class PriorityRow:
    priority: str
    count: int
    met: int
    breached: int
    at_risk: int
    open: int
    response_median: float | None
    response_worst: int | None
    resolution_median: float | None
    resolution_worst: int | None


def _median(values: list[int]) -> float | None:
    return statistics.median(values) if values else None


def report(evaluated: Sequence[Evaluated], priorities: Sequence[str]) -> list[PriorityRow]:
    """One row per priority (the contract's order): count, met, breached, at risk, open; median and worst
    response and resolution times of the clocks that stopped."""
    rows = []
    for priority in priorities:
        mine = [item for item in evaluated if item.incident.priority == priority]
        responses = [item.response.elapsed_seconds for item in mine if item.response.stopped]
        resolutions = [item.resolution.elapsed_seconds for item in mine if item.resolution.stopped]
        rows.append(
            PriorityRow(
                priority=priority,
                count=len(mine),
                met=sum(item.met for item in mine),
                breached=sum(item.breached for item in mine),
                at_risk=sum(item.at_risk for item in mine),
                open=sum(not item.resolution.stopped for item in mine),
                response_median=_median(responses),
                response_worst=max(responses) if responses else None,
                resolution_median=_median(resolutions),
                resolution_worst=max(resolutions) if resolutions else None,
            )
        )
    return rows


def breaches(evaluated: Sequence[Evaluated]) -> list[dict[str, Any]]:
    found = []
    for item in evaluated:
        for name, result in (("response", item.response), ("resolution", item.resolution)):
            if result.state is ClockState.BREACHED:
                found.append(
                    {
                        "incident": item.incident.id,
                        "ticket": item.incident.ticket,
                        "title": item.incident.title,
                        "priority": item.incident.priority,
                        "clock": name,
                        "target_seconds": result.target_seconds,
                        "elapsed_seconds": result.elapsed_seconds,
                        "over_seconds": result.elapsed_seconds - (result.target_seconds or 0),
                        "stopped": result.stopped,
                    }
                )
    return found

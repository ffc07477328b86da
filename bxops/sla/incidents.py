"""The incidents table: manual incidents (`runner.py incident …`) and tickets pulled from trackers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from bxops.errors import BxopsError
from bxops.ledger.database import Ledger
from bxops.ledger.ids import utcnow
from bxops.ledger.models import Incident
from bxops.sla.engine import IncidentFacts
from bxops.sla.terms import OurStatus, TrackerTerms
from bxops.trackers.base import TicketInfo


def facts(row: Incident) -> IncidentFacts:
    return IncidentFacts(
        id=row.id,
        ticket=row.ticket,
        title=row.title,
        priority=row.priority,
        opened_at=row.opened_at,
        responded_at=row.responded_at,
        resolved_at=row.resolved_at,
        history=tuple(
            (datetime.fromisoformat(item["at"]).astimezone(UTC), str(item["status"])) for item in row.history
        ),
    )


def _stamp(at: datetime, status: OurStatus | str) -> dict[str, str]:
    return {"at": at.astimezone(UTC).isoformat(), "status": str(status)}


def open_incident(
    ledger: Ledger,
    client: str,
    priority: str,
    title: str,
    opened_at: datetime,
    engineer: str,
    ticket: str | None = None,
) -> Incident:
    now = utcnow()
    with ledger.transaction() as session:
        if ticket is not None:
            same = session.scalars(
                select(Incident).where(
                    Incident.client == client, Incident.source == "manual", Incident.ticket == ticket
                )
            ).first()
            if same is not None:
                raise BxopsError(f"{client}: ticket {ticket} already has incident #{same.id}")
        row = Incident(
            client=client,
            source="manual",
            ticket=ticket,
            title=title,
            priority=priority,
            opened_at=opened_at,
            status=OurStatus.OPEN.value,
            history=[_stamp(opened_at, OurStatus.OPEN)],
            engineer=engineer,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
    return row


@dataclass(frozen=True)
class Change:
    """What `incident respond|wait|resume|resolve` does to an incident."""

    verb: str
    status: OurStatus | None
    sets_response: bool = False
    sets_resolution: bool = False


CHANGES = {
    "respond": Change("respond", OurStatus.IN_PROGRESS, sets_response=True),
    "wait": Change("wait", OurStatus.WAITING),
    "resume": Change("resume", OurStatus.IN_PROGRESS),
    "resolve": Change("resolve", OurStatus.RESOLVED, sets_resolution=True),
}


def change_incident(ledger: Ledger, incident_id: int, verb: str, at: datetime) -> Incident:
    change = CHANGES[verb]
    with ledger.transaction() as session:
        row = session.get(Incident, incident_id, with_for_update=True)
        if row is None:
            raise BxopsError(f"no incident #{incident_id}")
        if row.resolved_at is not None:
            raise BxopsError(f"incident #{incident_id} was resolved at {row.resolved_at.isoformat()}")
        if at < row.opened_at:
            raise BxopsError(
                f"incident #{incident_id} was opened at {row.opened_at.isoformat()}: {verb} cannot come before"
            )
        last = datetime.fromisoformat(row.history[-1]["at"]) if row.history else row.opened_at
        if at < last:
            raise BxopsError(f"incident #{incident_id} last changed at {last.isoformat()}: {verb} cannot come before")
        if change.sets_response:
            if row.responded_at is not None:
                raise BxopsError(f"incident #{incident_id} was already responded to at {row.responded_at.isoformat()}")
            row.responded_at = at
        if verb == "wait" and row.status == OurStatus.WAITING.value:
            raise BxopsError(f"incident #{incident_id} is already waiting")
        if verb == "resume" and row.status != OurStatus.WAITING.value:
            raise BxopsError(f"incident #{incident_id} is not waiting")
        if change.sets_resolution:
            row.resolved_at = at
        if change.status is not None and change.status.value != row.status:
            row.status = change.status.value
            row.history = [*row.history, _stamp(at, change.status)]
        row.updated_at = utcnow()
    return row


def incidents_opened_in(ledger: Ledger, client: str, zone_start: datetime, zone_end: datetime) -> Sequence[Incident]:
    """The client's incidents opened within [zone_start, zone_end): the month's bounds in its zone."""
    with ledger.sessions() as session:
        return list(
            session.scalars(
                select(Incident)
                .where(Incident.client == client, Incident.opened_at >= zone_start, Incident.opened_at < zone_end)
                .order_by(Incident.opened_at, Incident.id)
            )
        )


def from_ticket(
    client: str, info: TicketInfo, terms: TrackerTerms
) -> tuple[str, list[dict[str, str]], datetime | None, datetime | None]:
    """Priority, status history, first response and resolution of a tracker's ticket, in our terms.

    The first response is the first comment by agency staff (`tracker.staff`); a status the contract does
    not map counts as `open` (the clocks run); the ticket is resolved when its last status maps to
    `resolved`, at the moment it got there."""
    priority = terms.priorities.get(info.priority)
    if priority is None:
        raise BxopsError(
            f"{client}: ticket {info.key} has priority {info.priority!r}, which the contract's tracker.priorities "
            f"does not map (mapped: {', '.join(terms.priorities)})"
        )
    history = [_stamp(info.created, OurStatus.OPEN)]
    for at, name in info.statuses:
        history.append(_stamp(at, terms.statuses.get(name, OurStatus.OPEN)))
    staff = {who.lower() for who in terms.staff}
    responses = [at for at, who in info.comments if who.lower() in staff and at >= info.created]
    responded = min(responses) if responses else None
    resolved = None
    if len(history) > 1 and history[-1]["status"] == OurStatus.RESOLVED.value:
        resolved = datetime.fromisoformat(history[-1]["at"])
    return priority, history, responded, resolved


def upsert_ticket(ledger: Ledger, client: str, source: str, info: TicketInfo, terms: TrackerTerms) -> Incident:
    """The ticket's incident, created or brought up to date (one row per client, tracker and ticket)."""
    priority, history, responded, resolved = from_ticket(client, info, terms)
    now = utcnow()
    with ledger.transaction() as session:
        row = session.scalars(
            select(Incident).where(Incident.client == client, Incident.source == source, Incident.ticket == info.key)
        ).first()
        if row is None:
            row = Incident(client=client, source=source, ticket=info.key, created_at=now, engineer=None)
            session.add(row)
        row.title = info.title or info.key
        row.priority = priority
        row.opened_at = info.created
        row.responded_at = responded
        row.resolved_at = resolved
        row.history = history
        row.status = history[-1]["status"]
        row.updated_at = now
    return row

"""Alertmanager's webhook → a ticket in the client's tracker at the mapped priority, and an incident
whose clocks start when the alert fired (a site-down alert starts the Critical clock by itself).

The payload is Alertmanager's documented webhook body (`version` "4": `status`, `alerts[]` with `status`,
`labels`, `annotations`, `startsAt`, `fingerprint`, …). Each firing alert opens one ticket; a repeated
notification of the same alert (same fingerprint, incident not resolved) opens nothing new. Resolved
alerts open nothing (the engineer resolves the ticket). The alert's `severity` label is mapped through
the contract's `tracker.alert_priorities` (default: critical → critical, warning → high).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bxops.contract import Contract
from bxops.errors import BxopsError
from bxops.ledger.database import Ledger
from bxops.ledger.ids import utcnow
from bxops.ledger.models import Incident
from bxops.sla.terms import OurStatus
from bxops.trackers.base import Tracker

_FRACTION = re.compile(r"(\.\d{6})\d+")


@dataclass
class AlertOutcome:
    opened: list[tuple[str, str, str]] = field(default_factory=list)  # (fingerprint, ticket, priority)
    repeated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # why, one line each


def _instant(text: str) -> datetime:
    """RFC 3339 with up to nanoseconds, as Alertmanager writes it."""
    moment = datetime.fromisoformat(_FRACTION.sub(r"\1", text.replace("Z", "+00:00")))
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_payload(data: object) -> list[dict[str, Any]]:
    if not isinstance(data, dict) or not isinstance(data.get("alerts"), list):
        raise BxopsError("not an Alertmanager webhook payload: expected a JSON object with 'alerts'")
    if str(data.get("version", "4")) != "4":
        raise BxopsError(f"Alertmanager webhook payload version {data.get('version')!r}: only version 4 is known")
    return [alert for alert in data["alerts"] if isinstance(alert, dict)]


def _fingerprint(alert: dict[str, Any]) -> str:
    given = alert.get("fingerprint")
    if given:
        return str(given)[:64]
    labels = alert.get("labels") or {}
    return hashlib.sha256(repr(sorted(labels.items())).encode()).hexdigest()[:16]


def _describe(alert: dict[str, Any]) -> tuple[str, str]:
    labels: dict[str, str] = alert.get("labels") or {}
    annotations: dict[str, str] = alert.get("annotations") or {}
    title = annotations.get("summary") or " ".join(
        part for part in (labels.get("alertname"), labels.get("instance")) if part
    )
    lines = [annotations.get("description") or "", ""]
    lines += [f"{name}: {value}" for name, value in sorted(labels.items())]
    if alert.get("generatorURL"):
        lines.append(f"source: {alert['generatorURL']}")
    lines.append(f"fingerprint: {_fingerprint(alert)} (opened by bxops from Alertmanager)")
    return (title or "alert")[:250], "\n".join(lines).strip()


def open_from_alerts(ledger: Ledger, contract: Contract, tracker: Tracker, payload: object) -> AlertOutcome:
    terms = contract.service.tracker
    if terms is None:
        raise BxopsError(f"client {contract.client!r} has no tracker in its contract (section 'tracker')")
    outcome = AlertOutcome()
    for alert in parse_payload(payload):
        fingerprint = _fingerprint(alert)
        name = (alert.get("labels") or {}).get("alertname", "alert")
        if alert.get("status") != "firing":
            outcome.skipped.append(f"{name} ({fingerprint}): {alert.get('status')}, no ticket")
            continue
        severity = str((alert.get("labels") or {}).get("severity") or "")
        ours = terms.alert_priorities.get(severity)
        if ours is None or ours not in terms.priorities.values():
            outcome.skipped.append(
                f"{name} ({fingerprint}): severity {severity!r} is not in tracker.alert_priorities, no ticket"
            )
            continue
        with ledger.sessions() as session:
            known = session.scalars(
                select(Incident).where(
                    Incident.client == contract.client,
                    Incident.alert_fingerprint == fingerprint,
                    Incident.resolved_at.is_(None),
                )
            ).first()
        if known is not None:
            outcome.repeated.append(f"{name} ({fingerprint}): already ticket {known.ticket} (incident #{known.id})")
            continue
        title, description = _describe(alert)
        key = tracker.create_ticket(title, description, terms.their_priority(ours))
        opened = _instant(str(alert.get("startsAt") or utcnow().isoformat()))
        now = utcnow()
        with ledger.transaction() as session:
            session.add(
                Incident(
                    client=contract.client,
                    source=terms.type.value,
                    ticket=key,
                    title=title,
                    priority=ours,
                    opened_at=opened,
                    status=OurStatus.OPEN.value,
                    history=[{"at": opened.isoformat(), "status": OurStatus.OPEN.value}],
                    engineer=None,
                    alert_fingerprint=fingerprint,
                    created_at=now,
                    updated_at=now,
                )
            )
        outcome.opened.append((fingerprint, key, ours))
    return outcome

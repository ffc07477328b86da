"""The interface every tracker connector implements, and `connect()` that builds one from the contract."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bxops.errors import BxopsError
from bxops.sla.terms import TrackerTerms, TrackerType
from bxops.trackers.http import TrackerError, TrackerHttp


@dataclass(frozen=True)
class RemoteWorklog:
    id: str
    seconds: int
    comment: str


@dataclass(frozen=True)
class NewWorklog:
    ticket: str
    started: datetime
    seconds: int
    comment: str


@dataclass(frozen=True)
class TicketInfo:
    key: str
    title: str
    priority: str  # the tracker's own name (TrackerTerms.priorities maps it)
    created: datetime
    #: (when, the tracker's status name), oldest first; the first one the status at creation if known
    statuses: tuple[tuple[datetime, str], ...] = ()
    #: (when, author login / e-mail / id), oldest first
    comments: tuple[tuple[datetime, str], ...] = ()
    status: str | None = None


class Tracker(Protocol):
    kind: str
    http: TrackerHttp

    def add_worklog(self, item: NewWorklog) -> str: ...

    def update_worklog(self, remote_id: str, item: NewWorklog) -> None: ...

    def delete_worklog(self, ticket: str, remote_id: str) -> None: ...

    def worklogs(self, ticket: str) -> list[RemoteWorklog]: ...

    def set_estimate(self, ticket: str, seconds: int) -> None: ...

    def ticket(self, ticket: str) -> TicketInfo: ...

    def create_ticket(self, title: str, description: str, priority: str) -> str:
        """A new ticket at the tracker's `priority` (its own name); returns its key."""
        ...


@dataclass
class BatchResult:
    ids: list[str | None] = field(default_factory=list)
    errors: list[TrackerError | None] = field(default_factory=list)


def add_many(tracker: Tracker, items: Sequence[NewWorklog]) -> BatchResult:
    """Add worklogs: in one batch where the tracker has one (Bitrix24), else one by one."""
    batch = getattr(tracker, "add_worklogs", None)
    if batch is not None:
        result: BatchResult = batch(items)
        return result
    result = BatchResult()
    for item in items:
        try:
            result.ids.append(tracker.add_worklog(item))
            result.errors.append(None)
        except TrackerError as error:
            result.ids.append(None)
            result.errors.append(error)
    return result


def token_for(client: str, terms: TrackerTerms, environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    token = env.get(terms.token_env, "").strip()
    if not token:
        raise BxopsError(
            f"client {client!r}: no token for its {terms.type.value} tracker: set ${terms.token_env} "
            "(from the vault or the environment; it is never stored in the contract or the ledger)"
        )
    return token


def connect(client: str, terms: TrackerTerms, environ: Mapping[str, str] | None = None, **http: Any) -> Tracker:
    """A connector for the client's tracker; BxopsError before any request when the token is missing."""
    token = token_for(client, terms, environ)
    if terms.type in (TrackerType.JIRA, TrackerType.JIRA_CLOUD):
        from bxops.trackers.jira import Jira

        return Jira(client, terms, token, **http)
    if terms.type is TrackerType.YOUTRACK:
        from bxops.trackers.youtrack import YouTrack

        return YouTrack(client, terms, token, **http)
    from bxops.trackers.bitrix24 import Bitrix24

    return Bitrix24(client, terms, token, **http)

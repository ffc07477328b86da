"""The interface every tracker connector implements, and `connect()` that builds one from the contract."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx

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


def minutes_up(seconds: int) -> int:
    """Whole minutes, rounded up, at least one: what trackers that count in minutes are sent."""
    return max(1, -(-seconds // 60))


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The answer's body as a JSON object; {} when it is none (HTML error pages, empty bodies)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def error_and_description(response: httpx.Response) -> str:
    """The `{"error": …, "error_description": …}` body of an answer refused (YouTrack, Bitrix24)."""
    body = json_object(response)
    return ": ".join(str(body[key]) for key in ("error", "error_description") if body.get(key))


class Connector:
    """What every connector shares: its kind, its HTTP client (retries, rate limit, secrets kept out of
    messages), the reader of its error bodies, and the project it opens tickets in."""

    kind: str
    http: TrackerHttp
    project: str | None = None
    #: How the tracker explains a refused request (read into the TrackerError's message).
    describe: Callable[[httpx.Response], str] = staticmethod(error_and_description)

    def request(
        self,
        method: str,
        path: str,
        ticket: str | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """One call to the tracker about `ticket` (named in errors), explained by the tracker's own words."""
        return self.http.request(method, path, ticket=ticket, json=json, params=params, describe=self.describe)

    def project_for_tickets(self, what: str) -> str:
        """The contract's `tracker.project` (`what` says which value the tracker wants there)."""
        if not self.project:
            raise TrackerError(f"{self.http.what}: tracker.project ({what}) is needed to open tickets")
        return self.project


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

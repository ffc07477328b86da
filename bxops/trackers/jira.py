"""Jira Server / Data Center (REST v2, personal access token) and Jira Cloud (REST v3, e-mail and API
token, comments in Atlassian Document Format): worklogs, the original estimate, issues with their
changelog and comments."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from bxops.sla.terms import TrackerTerms, TrackerType
from bxops.trackers.base import Connector, NewWorklog, RemoteWorklog, TicketInfo, json_object, minutes_up
from bxops.trackers.http import TrackerError, TrackerHttp

PAGE = 100


def jira_time(moment: datetime) -> str:
    """Jira's `started`: `2026-11-30T10:00:00.000+0000`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def parse_jira_time(text: str) -> datetime:
    for pattern in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(text, pattern).astimezone(UTC)
        except ValueError:
            continue
    return datetime.fromisoformat(text).astimezone(UTC)


def _errors(response: httpx.Response) -> str:
    """Jira's error collection: `{"errorMessages": [...], "errors": {field: message}}`."""
    body = json_object(response)
    parts = [str(message) for message in body.get("errorMessages") or []]
    parts += [f"{name}: {message}" for name, message in (body.get("errors") or {}).items()]
    return "; ".join(parts)


def _adf(text: str) -> dict[str, Any]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


def _plain(comment: object) -> str:
    if isinstance(comment, str):
        return comment
    if isinstance(comment, dict):
        return "".join(_plain(part) for part in comment.get("content") or []) + str(comment.get("text") or "")
    return ""


def _who(author: dict[str, Any] | None) -> str:
    author = author or {}
    return str(author.get("emailAddress") or author.get("name") or author.get("accountId") or "")


class Jira(Connector):
    describe = staticmethod(_errors)

    def __init__(self, client: str, terms: TrackerTerms, token: str, **http: Any) -> None:
        self.kind = terms.type.value
        self.cloud = terms.type is TrackerType.JIRA_CLOUD
        self.api = "/rest/api/3" if self.cloud else "/rest/api/2"
        self.project = terms.project
        if self.cloud:
            email, _, api_token = token.partition(":")
            if not api_token:
                raise TrackerError(f"{client} jira_cloud: the token must be 'e-mail:api-token'")
            auth: tuple[str, str] | None = (email, api_token)
            headers = {}
            secrets: tuple[str, ...] = (api_token,)
        else:
            auth, headers, secrets = None, {"Authorization": f"Bearer {token}"}, (token,)
        self.http = TrackerHttp(
            terms.url.rstrip("/"), f"{client} {self.kind}", headers=headers, auth=auth, secrets=secrets, **http
        )

    def _body(self, item: NewWorklog) -> dict[str, Any]:
        return {
            "started": jira_time(item.started),
            "timeSpentSeconds": max(60, item.seconds),
            "comment": _adf(item.comment) if self.cloud else item.comment,
        }

    def add_worklog(self, item: NewWorklog) -> str:
        response = self.request(
            "POST",
            f"{self.api}/issue/{item.ticket}/worklog",
            ticket=item.ticket,
            params={"adjustEstimate": "auto"},
            json=self._body(item),
        )
        return str(response.json()["id"])

    def update_worklog(self, remote_id: str, item: NewWorklog) -> None:
        self.request(
            "PUT",
            f"{self.api}/issue/{item.ticket}/worklog/{remote_id}",
            ticket=item.ticket,
            params={"adjustEstimate": "auto"},
            json=self._body(item),
        )

    def delete_worklog(self, ticket: str, remote_id: str) -> None:
        self.request(
            "DELETE",
            f"{self.api}/issue/{ticket}/worklog/{remote_id}",
            ticket=ticket,
            params={"adjustEstimate": "auto"},
        )

    def worklogs(self, ticket: str) -> list[RemoteWorklog]:
        found: list[RemoteWorklog] = []
        start = 0
        while True:
            page = self.request(
                "GET",
                f"{self.api}/issue/{ticket}/worklog",
                ticket=ticket,
                params={"startAt": start, "maxResults": PAGE},
            ).json()
            items = page.get("worklogs") or []
            found += [
                RemoteWorklog(str(item["id"]), int(item.get("timeSpentSeconds") or 0), _plain(item.get("comment")))
                for item in items
            ]
            start += len(items)
            if not items or start >= int(page.get("total") or 0):
                return found

    def set_estimate(self, ticket: str, seconds: int) -> None:
        minutes = minutes_up(seconds)
        self.request(
            "PUT",
            f"{self.api}/issue/{ticket}",
            ticket=ticket,
            json={"fields": {"timetracking": {"originalEstimate": f"{minutes}m"}}},
        )

    def create_ticket(self, title: str, description: str, priority: str) -> str:
        project = self.project_for_tickets("the project key")
        response = self.request(
            "POST",
            f"{self.api}/issue",
            json={
                "fields": {
                    "project": {"key": project},
                    "issuetype": {"name": "Task"},
                    "summary": title[:255],
                    "description": _adf(description) if self.cloud else description,
                    "priority": {"name": priority},
                }
            },
        )
        return str(response.json()["key"])

    def ticket(self, ticket: str) -> TicketInfo:
        issue = self.request(
            "GET",
            f"{self.api}/issue/{ticket}",
            ticket=ticket,
            params={"fields": "summary,priority,created,status,comment", "expand": "changelog"},
        ).json()
        fields = issue.get("fields") or {}
        statuses = []
        for history in (issue.get("changelog") or {}).get("histories") or []:
            for item in history.get("items") or []:
                if item.get("field") == "status":
                    statuses.append((parse_jira_time(history["created"]), str(item.get("toString") or "")))
        comments = [
            (parse_jira_time(comment["created"]), _who(comment.get("author")))
            for comment in (fields.get("comment") or {}).get("comments") or []
        ]
        return TicketInfo(
            key=str(issue.get("key") or ticket),
            title=str(fields.get("summary") or ""),
            priority=str((fields.get("priority") or {}).get("name") or ""),
            created=parse_jira_time(fields["created"]),
            statuses=tuple(sorted(statuses)),
            comments=tuple(sorted(comments)),
            status=str((fields.get("status") or {}).get("name") or "") or None,
        )

"""YouTrack (REST, permanent token): work items under `timeTracking/workItems` (minutes, date, text), the
`Estimation` field, and issue activities for state changes and comments."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from bxops.sla.terms import TrackerTerms
from bxops.trackers.base import NewWorklog, RemoteWorklog, TicketInfo
from bxops.trackers.http import TrackerError, TrackerHttp

PAGE = 100
ESTIMATION_FIELD = "Estimation"


def _errors(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    return ": ".join(str(body[key]) for key in ("error", "error_description") if body.get(key))


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _from_ms(value: object) -> datetime:
    return datetime.fromtimestamp(int(str(value)) / 1000, tz=UTC)


class YouTrack:
    def __init__(self, client: str, terms: TrackerTerms, token: str, **http: Any) -> None:
        self.kind = terms.type.value
        self.page = PAGE
        self.project = terms.project
        self.http = TrackerHttp(
            terms.url.rstrip("/"),
            f"{client} youtrack",
            headers={"Authorization": f"Bearer {token}"},
            secrets=(token,),
            **http,
        )

    @staticmethod
    def _body(item: NewWorklog) -> dict[str, Any]:
        return {
            "duration": {"minutes": max(1, -(-item.seconds // 60))},
            "date": _ms(item.started),
            "text": item.comment,
        }

    def add_worklog(self, item: NewWorklog) -> str:
        response = self.http.request(
            "POST",
            f"/api/issues/{item.ticket}/timeTracking/workItems",
            ticket=item.ticket,
            params={"fields": "id"},
            json=self._body(item),
            describe=_errors,
        )
        return str(response.json()["id"])

    def update_worklog(self, remote_id: str, item: NewWorklog) -> None:
        self.http.request(
            "POST",
            f"/api/issues/{item.ticket}/timeTracking/workItems/{remote_id}",
            ticket=item.ticket,
            params={"fields": "id"},
            json=self._body(item),
            describe=_errors,
        )

    def delete_worklog(self, ticket: str, remote_id: str) -> None:
        self.http.request(
            "DELETE", f"/api/issues/{ticket}/timeTracking/workItems/{remote_id}", ticket=ticket, describe=_errors
        )

    def worklogs(self, ticket: str) -> list[RemoteWorklog]:
        found: list[RemoteWorklog] = []
        skip = 0
        while True:
            items = self.http.request(
                "GET",
                f"/api/issues/{ticket}/timeTracking/workItems",
                ticket=ticket,
                params={"fields": "id,duration(minutes),date,text", "$skip": skip, "$top": self.page},
                describe=_errors,
            ).json()
            found += [
                RemoteWorklog(
                    str(i["id"]), int((i.get("duration") or {}).get("minutes") or 0) * 60, str(i.get("text") or "")
                )
                for i in items
            ]
            skip += len(items)
            if len(items) < self.page:
                return found

    def set_estimate(self, ticket: str, seconds: int) -> None:
        self.http.request(
            "POST",
            f"/api/issues/{ticket}",
            ticket=ticket,
            params={"fields": "id"},
            json={
                "customFields": [
                    {
                        "name": ESTIMATION_FIELD,
                        "$type": "PeriodIssueCustomField",
                        "value": {"$type": "PeriodValue", "minutes": max(1, -(-seconds // 60))},
                    }
                ]
            },
            describe=_errors,
        )

    def create_ticket(self, title: str, description: str, priority: str) -> str:
        if not self.project:
            raise TrackerError(f"{self.http.what}: tracker.project (the project's id) is needed to open tickets")
        response = self.http.request(
            "POST",
            "/api/issues",
            params={"fields": "idReadable"},
            json={
                "project": {"id": self.project},
                "summary": title,
                "description": description,
                "customFields": [
                    {"name": "Priority", "$type": "SingleEnumIssueCustomField", "value": {"name": priority}}
                ],
            },
            describe=_errors,
        )
        return str(response.json()["idReadable"])

    def ticket(self, ticket: str) -> TicketInfo:
        issue = self.http.request(
            "GET",
            f"/api/issues/{ticket}",
            ticket=ticket,
            params={"fields": "idReadable,summary,created,customFields(name,value(name))"},
            describe=_errors,
        ).json()
        fields = {field.get("name"): field.get("value") for field in issue.get("customFields") or []}
        activities = self.http.request(
            "GET",
            f"/api/issues/{ticket}/activities",
            ticket=ticket,
            params={
                "categories": "CustomFieldCategory,CommentsCategory",
                "fields": "timestamp,author(login),field(name),added(name),category(id)",
            },
            describe=_errors,
        ).json()
        statuses, comments = [], []
        for activity in activities:
            at = _from_ms(activity["timestamp"])
            if (activity.get("category") or {}).get("id") == "CommentsCategory":
                comments.append((at, str((activity.get("author") or {}).get("login") or "")))
            elif (activity.get("field") or {}).get("name") == "State":
                added = activity.get("added") or []
                name = added[0].get("name") if isinstance(added, list) and added else (added or {}).get("name")
                statuses.append((at, str(name or "")))
        priority = fields.get("Priority") or {}
        state = fields.get("State") or {}
        return TicketInfo(
            key=str(issue.get("idReadable") or ticket),
            title=str(issue.get("summary") or ""),
            priority=str(priority.get("name") if isinstance(priority, dict) else priority or ""),
            created=_from_ms(issue["created"]),
            statuses=tuple(sorted(statuses)),
            comments=tuple(sorted(comments)),
            status=str(state.get("name")) if isinstance(state, dict) and state.get("name") else None,
        )

"""YouTrack (REST, permanent token): work items under `timeTracking/workItems` (minutes, date, text), the
`Estimation` field, and issue activities for state changes and comments."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bxops.sla.terms import TrackerTerms
from bxops.trackers.base import Connector, NewWorklog, RemoteWorklog, TicketInfo, minutes_up
from bxops.trackers.http import TrackerHttp

PAGE = 100
ESTIMATION_FIELD = "Estimation"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _from_ms(value: object) -> datetime:
    return datetime.fromtimestamp(int(str(value)) / 1000, tz=UTC)


class YouTrack(Connector):
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
            "duration": {"minutes": minutes_up(item.seconds)},
            "date": _ms(item.started),
            "text": item.comment,
        }

    def add_worklog(self, item: NewWorklog) -> str:
        response = self.request(
            "POST",
            f"/api/issues/{item.ticket}/timeTracking/workItems",
            ticket=item.ticket,
            params={"fields": "id"},
            json=self._body(item),
        )
        return str(response.json()["id"])

    def update_worklog(self, remote_id: str, item: NewWorklog) -> None:
        self.request(
            "POST",
            f"/api/issues/{item.ticket}/timeTracking/workItems/{remote_id}",
            ticket=item.ticket,
            params={"fields": "id"},
            json=self._body(item),
        )

    def delete_worklog(self, ticket: str, remote_id: str) -> None:
        self.request("DELETE", f"/api/issues/{ticket}/timeTracking/workItems/{remote_id}", ticket=ticket)

    def worklogs(self, ticket: str) -> list[RemoteWorklog]:
        found: list[RemoteWorklog] = []
        skip = 0
        while True:
            items = self.request(
                "GET",
                f"/api/issues/{ticket}/timeTracking/workItems",
                ticket=ticket,
                params={"fields": "id,duration(minutes),date,text", "$skip": skip, "$top": self.page},
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
        self.request(
            "POST",
            f"/api/issues/{ticket}",
            ticket=ticket,
            params={"fields": "id"},
            json={
                "customFields": [
                    {
                        "name": ESTIMATION_FIELD,
                        "$type": "PeriodIssueCustomField",
                        "value": {"$type": "PeriodValue", "minutes": minutes_up(seconds)},
                    }
                ]
            },
        )

    def create_ticket(self, title: str, description: str, priority: str) -> str:
        project = self.project_for_tickets("the project's id")
        response = self.request(
            "POST",
            "/api/issues",
            params={"fields": "idReadable"},
            json={
                "project": {"id": project},
                "summary": title,
                "description": description,
                "customFields": [
                    {"name": "Priority", "$type": "SingleEnumIssueCustomField", "value": {"name": priority}}
                ],
            },
        )
        return str(response.json()["idReadable"])

    def ticket(self, ticket: str) -> TicketInfo:
        issue = self.request(
            "GET",
            f"/api/issues/{ticket}",
            ticket=ticket,
            params={"fields": "idReadable,summary,created,customFields(name,value(name))"},
        ).json()
        fields = {field.get("name"): field.get("value") for field in issue.get("customFields") or []}
        activities = self.request(
            "GET",
            f"/api/issues/{ticket}/activities",
            ticket=ticket,
            params={
                "categories": "CustomFieldCategory,CommentsCategory",
                "fields": "timestamp,author(login),field(name),added(name),category(id)",
            },
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

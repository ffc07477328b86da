"""Bitrix24 through an incoming webhook (`https://portal/rest/<user>/<secret>/<method>.json`): elapsed
time items (`task.elapseditem.*`), the task's `TIME_ESTIMATE`, task, history and comments; at most about
2 requests a second per portal, and `batch` (up to 50 calls in one request) for adding many items.

The contract's `url` is the portal (`https://acme.bitrix24.ru`), `user` the webhook's user id, and the
token (from the environment) the webhook's secret: it sits in the URL path, so errors never show a URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from bxops.sla.terms import TrackerTerms
from bxops.trackers.base import BatchResult, Connector, NewWorklog, RemoteWorklog, TicketInfo
from bxops.trackers.http import NotFound, RateLimit, TrackerError, TrackerHttp

BATCH_SIZE = 50
PAGE = 50
_NOT_FOUND_CODES = ("0x000001", "TASK_NOT_FOUND", "ERROR_TASK_NOT_FOUND", "NOT_FOUND")

#: Bitrix24's task priorities and statuses, as `tasks.task.get` returns them
PRIORITIES = {"0": "low", "1": "medium", "2": "high"}
STATUSES = {
    "1": "new",
    "2": "pending",
    "3": "in_progress",
    "4": "supposedly_completed",
    "5": "completed",
    "6": "deferred",
    "7": "declined",
}


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


class Bitrix24(Connector):
    def __init__(self, client: str, terms: TrackerTerms, token: str, rate: float = 2.0, **http: Any) -> None:
        self.kind = terms.type.value
        self.client = client
        user = terms.user or "1"
        self.user = user
        self.http = TrackerHttp(
            f"{terms.url.rstrip('/')}/rest/{user}/{token}/",
            f"{client} bitrix24",
            rate=RateLimit(rate) if rate > 0 else None,
            secrets=(token,),
            **http,
        )

    def call(self, method: str, params: dict[str, Any], ticket: str | None = None) -> Any:
        try:
            response = self.request("POST", f"{method}.json", ticket=ticket, json=params)
        except TrackerError as error:
            if error.status == 400 and any(code in str(error) for code in _NOT_FOUND_CODES):
                raise NotFound(str(error), 404) from None
            raise
        return response.json().get("result")

    @staticmethod
    def _fields(item: NewWorklog) -> dict[str, Any]:
        return {"SECONDS": max(60, item.seconds), "COMMENT_TEXT": item.comment}

    def add_worklog(self, item: NewWorklog) -> str:
        result = self.call("task.elapseditem.add", {"TASKID": item.ticket, "ARFIELDS": self._fields(item)}, item.ticket)
        return str(result)

    def add_worklogs(self, items: Sequence[NewWorklog]) -> BatchResult:
        """Up to 50 additions a request through `batch` (halt=0: each call succeeds or fails alone)."""
        result = BatchResult()
        for first in range(0, len(items), BATCH_SIZE):
            chunk = items[first : first + BATCH_SIZE]
            commands = {
                f"c{number}": "task.elapseditem.add?"
                + urlencode(
                    {
                        "TASKID": item.ticket,
                        "ARFIELDS[SECONDS]": max(60, item.seconds),
                        "ARFIELDS[COMMENT_TEXT]": item.comment,
                    }
                )
                for number, item in enumerate(chunk)
            }
            answer = self.call("batch", {"halt": 0, "cmd": commands}) or {}
            done = answer.get("result") or {}
            failed = answer.get("result_error") or {}
            for number, item in enumerate(chunk):
                key = f"c{number}"
                if isinstance(done, dict) and key in done:
                    result.ids.append(str(done[key]))
                    result.errors.append(None)
                else:
                    problem = failed.get(key, {}) if isinstance(failed, dict) else {}
                    text = ": ".join(str(problem.get(k)) for k in ("error", "error_description") if problem.get(k))
                    result.ids.append(None)
                    cls = NotFound if any(code in text for code in _NOT_FOUND_CODES) else TrackerError
                    result.errors.append(cls(f"{self.http.what} ticket {item.ticket}: {text or 'failed in batch'}"))
        return result

    def update_worklog(self, remote_id: str, item: NewWorklog) -> None:
        self.call(
            "task.elapseditem.update",
            {"TASKID": item.ticket, "ITEMID": remote_id, "ARFIELDS": self._fields(item)},
            item.ticket,
        )

    def delete_worklog(self, ticket: str, remote_id: str) -> None:
        self.call("task.elapseditem.delete", {"TASKID": ticket, "ITEMID": remote_id}, ticket)

    def worklogs(self, ticket: str) -> list[RemoteWorklog]:
        """Every elapsed item of the task: the first page on its own (it tells the total), the other
        pages 50 at a time through `batch`."""

        def params(page: int) -> dict[str, Any]:
            return {
                "TASKID": ticket,
                "ORDER": {"ID": "asc"},
                "FILTER": {},
                "SELECT": ["ID", "SECONDS", "COMMENT_TEXT"],
                "PARAMS": {"NAV_PARAMS": {"nPageSize": PAGE, "iNumPage": page}},
            }

        def rows(items: list[dict[str, Any]]) -> list[RemoteWorklog]:
            return [
                RemoteWorklog(str(i["ID"]), int(i.get("SECONDS") or 0), str(i.get("COMMENT_TEXT") or "")) for i in items
            ]

        first = self.request("POST", "task.elapseditem.getlist.json", ticket=ticket, json=params(1)).json()
        found = rows(first.get("result") or [])
        pages = -(-int(first.get("total") or 0) // PAGE)
        rest = list(range(2, pages + 1))
        for chunk_start in range(0, len(rest), BATCH_SIZE):
            chunk = rest[chunk_start : chunk_start + BATCH_SIZE]
            commands = {
                f"p{page}": "task.elapseditem.getlist?"
                + urlencode(
                    {
                        "TASKID": ticket,
                        "ORDER[ID]": "asc",
                        "SELECT[0]": "ID",
                        "SELECT[1]": "SECONDS",
                        "SELECT[2]": "COMMENT_TEXT",
                        "PARAMS[NAV_PARAMS][nPageSize]": PAGE,
                        "PARAMS[NAV_PARAMS][iNumPage]": page,
                    }
                )
                for page in chunk
            }
            answer = self.call("batch", {"halt": 0, "cmd": commands}, ticket) or {}
            failed = answer.get("result_error") or {}
            if failed:
                problem = next(iter(failed.values())) if isinstance(failed, dict) else {}
                raise TrackerError(f"{self.http.what} ticket {ticket}: listing failed: {problem}")
            done = answer.get("result") or {}
            for page in chunk:
                found += rows(done.get(f"p{page}") or [])
        return found

    def set_estimate(self, ticket: str, seconds: int) -> None:
        self.call("tasks.task.update", {"taskId": ticket, "fields": {"TIME_ESTIMATE": seconds}}, ticket)

    def create_ticket(self, title: str, description: str, priority: str) -> str:
        codes = {name: code for code, name in PRIORITIES.items()}
        if priority not in codes:
            raise TrackerError(f"{self.http.what}: Bitrix24 has no priority {priority!r} (it has low, medium, high)")
        result = self.call(
            "tasks.task.add",
            {
                "fields": {
                    "TITLE": title,
                    "DESCRIPTION": description,
                    "PRIORITY": codes[priority],
                    "RESPONSIBLE_ID": self.user,
                }
            },
        )
        return str(((result or {}).get("task") or {}).get("id"))

    def ticket(self, ticket: str) -> TicketInfo:
        task = (
            self.call(
                "tasks.task.get",
                {"taskId": ticket, "select": ["ID", "TITLE", "PRIORITY", "CREATED_DATE", "STATUS"]},
                ticket,
            )
            or {}
        ).get("task") or {}
        history = (self.call("tasks.task.history.list", {"taskId": ticket}, ticket) or {}).get("list") or []
        comments = self.call("task.commentitem.getlist", {"TASKID": ticket}, ticket) or []
        statuses = [
            (
                _time(item["createdDate"]),
                STATUSES.get(str((item.get("value") or {}).get("to")), str((item.get("value") or {}).get("to"))),
            )
            for item in history
            if str(item.get("field")).upper() == "STATUS"
        ]
        return TicketInfo(
            key=str(task.get("id") or ticket),
            title=str(task.get("title") or ""),
            priority=PRIORITIES.get(str(task.get("priority")), str(task.get("priority"))),
            created=_time(task["createdDate"]),
            statuses=tuple(sorted(statuses)),
            comments=tuple(sorted((_time(c["POST_DATE"]), str(c.get("AUTHOR_ID") or "")) for c in comments)),
            status=STATUSES.get(str(task.get("status")), str(task.get("status"))),
        )

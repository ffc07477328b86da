"""Local stand-ins for Jira, YouTrack and Bitrix24: real HTTP on loopback, the endpoints bxops uses, with
the vendors' documented request fields, status codes, error bodies, pagination and rate limits.

Sources: Jira Cloud/Server REST v2/v3 "Issue worklogs" and "Issues" (Worklog: `started`
`yyyy-MM-dd'T'HH:mm:ss.SSSZ`, `timeSpentSeconds`, `comment` a string in v2 and an Atlassian Document in
v3; errors `{"errorMessages": [...], "errors": {...}}`); YouTrack REST `issues/{id}/timeTracking/workItems`
(`duration.minutes`, `date` in ms, `text`; errors `{"error", "error_description"}`; `$skip`/`$top`);
Bitrix24 REST docs (bitrix-tools/b24-rest-docs: `task.elapseditem.*` with `TASKID`, `ITEMID`,
`ARFIELDS.SECONDS` and `COMMENT_TEXT` required, pages of at most 50 via `NAV_PARAMS`, `batch` of at most
50 commands with `result`/`result_error`, `503 QUERY_LIMIT_EXCEEDED` past the request-rate limit,
`401 NO_AUTH_FOUND` for a wrong webhook)."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, Any, dict[str, str]]


@dataclass
class Logged:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int


@dataclass
class Issue:
    key: str
    title: str = "Checkout broken"
    priority: str = "High"
    created: datetime = field(default_factory=lambda: datetime(2026, 11, 2, 7, 0, tzinfo=UTC))
    status: str = "Open"
    statuses: list[tuple[datetime, str]] = field(default_factory=list)
    comments: list[tuple[datetime, str]] = field(default_factory=list)
    worklogs: dict[str, dict[str, Any]] = field(default_factory=dict)
    estimate_seconds: int | None = None
    description: Any = None


class FakeTracker:
    """The server and the shared state: issues, a request log, injected failures."""

    def __init__(self) -> None:
        self.issues: dict[str, Issue] = {}
        self.log: list[Logged] = []
        self.lock = threading.Lock()
        self.injected: list[Answer] = []
        self.next_id = 10000
        self.delay = 0.0  # seconds each request takes (kill tests)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = "<invalid json>"
                if outer.delay:
                    time.sleep(outer.delay)
                with outer.lock:
                    if outer.injected:
                        status, payload, headers = outer.injected.pop(0)
                    else:
                        status, payload, headers = outer.handle(
                            self.command, parts.path, parse_qs(parts.query), body, self.headers
                        )
                    outer.log.append(Logged(self.command, parts.path, parse_qs(parts.query), body, status))
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if data:
                    self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeTracker:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def inject(self, status: int, payload: Any = None, headers: dict[str, str] | None = None, times: int = 1) -> None:
        with self.lock:
            self.injected += [(status, payload, headers or {})] * times

    def new_id(self) -> str:
        self.next_id += 1
        return str(self.next_id)

    def add_issue(self, key: str, **fields: Any) -> Issue:
        issue = Issue(key, **fields)
        self.issues[key] = issue
        return issue

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any, headers: Any) -> Answer:
        raise NotImplementedError


# --- Jira ---------------------------------------------------------------------------------------------

_JIRA_STARTED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}$")
_WORKLOG_FIELDS = {
    "author", "comment", "created", "id", "issueId", "properties", "self", "started", "timeSpent",
    "timeSpentSeconds", "updateAuthor", "updated", "visibility",
}  # fmt: skip


def _jira_error(status: int, messages: list[str], errors: dict[str, str] | None = None) -> Answer:
    return status, {"errorMessages": messages, "errors": errors or {}}, {}


class JiraFake(FakeTracker):
    def __init__(self, token: str = "jira-pat-123", cloud: bool = False, email: str = "ops@agency.example") -> None:
        super().__init__()
        self.token, self.cloud, self.email = token, cloud, email
        self.version = "3" if cloud else "2"
        self.page_cap = 3  # the server may return fewer than maxResults: clients must follow `total`

    def _authorised(self, headers: Any) -> bool:
        given = headers.get("Authorization") or ""
        if self.cloud:
            expected = base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
            return given == f"Basic {expected}"
        return given == f"Bearer {self.token}"

    def _check_worklog(self, body: Any, creating: bool) -> dict[str, str]:
        if not isinstance(body, dict):
            return {"body": "Invalid request payload. Refer to the REST API documentation and try again."}
        errors: dict[str, str] = {}
        unknown = set(body) - _WORKLOG_FIELDS
        if unknown:
            errors[sorted(unknown)[0]] = "Unrecognized field"
        if creating and "started" not in body:
            errors["started"] = "Started date is required."
        if "started" in body and not (isinstance(body["started"], str) and _JIRA_STARTED.match(body["started"])):
            errors["started"] = (
                "Invalid date format. Please enter the date in the format \"yyyy-MM-dd'T'HH:mm:ss.SSSZ\"."
            )
        seconds = body.get("timeSpentSeconds")
        if creating and seconds is None and "timeSpent" not in body:
            errors["timeLogged"] = "You must indicate the time spent working."
        if seconds is not None and (not isinstance(seconds, int) or seconds <= 0):
            errors["timeLogged"] = "Time Spent must be greater than 0."
        comment = body.get("comment")
        if comment is not None:
            if self.cloud and not (
                isinstance(comment, dict) and comment.get("type") == "doc" and comment.get("version") == 1
            ):
                errors["comment"] = "Comment must be an Atlassian Document Format document."
            if not self.cloud and not isinstance(comment, str):
                errors["comment"] = "Comment must be a string."
        return errors

    def _comment_text(self, comment: Any) -> str:
        if isinstance(comment, str):
            return comment
        return "".join(part.get("text", "") for para in comment.get("content", []) for part in para.get("content", []))

    def _worklog_json(self, issue: Issue, wid: str) -> dict[str, Any]:
        item = issue.worklogs[wid]
        comment: Any = item["comment"]
        if self.cloud:
            comment = {
                "type": "doc",
                "version": 1,
                "content": [{"type": "paragraph", "content": [{"type": "text", "text": comment}]}],
            }
        return {
            "self": f"{self.url}/rest/api/{self.version}/issue/{issue.key}/worklog/{wid}",
            "id": wid,
            "issueId": issue.key,
            "started": item["started"],
            "timeSpentSeconds": item["seconds"],
            "comment": comment,
        }

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any, headers: Any) -> Answer:
        if not self._authorised(headers):
            return (
                401,
                {
                    "errorMessages": ["You are not authenticated. Authentication required to perform this operation."],
                    "errors": {},
                },
                {},
            )
        if path == f"/rest/api/{self.version}/issue" and method == "POST":
            return self._create(body)
        match = re.match(rf"^/rest/api/{self.version}/issue/([^/]+)(/worklog(?:/([^/]+))?)?$", path)
        if match is None:
            return _jira_error(404, ["null for uri: " + path])
        key, worklog_part, wid = match.groups()
        issue = self.issues.get(key)
        if issue is None:
            return _jira_error(404, ["Issue does not exist or you do not have permission to see it."])
        if worklog_part is None:
            if method == "GET":
                return 200, self._issue_json(issue), {}
            if method == "PUT":
                timetracking = ((body or {}).get("fields") or {}).get("timetracking") or {}
                estimate = timetracking.get("originalEstimate")
                found = re.fullmatch(r"(\d+)m", str(estimate or ""))
                if not found:
                    return _jira_error(400, [], {"timetracking": "The original estimate specified is not valid."})
                issue.estimate_seconds = int(found.group(1)) * 60
                return 204, None, {}
            return 405, None, {}
        if wid is None and method == "GET":
            start = int((query.get("startAt") or ["0"])[0])
            size = min(int((query.get("maxResults") or ["5000"])[0]), self.page_cap)
            ids = sorted(issue.worklogs, key=int)
            page = [self._worklog_json(issue, w) for w in ids[start : start + size]]
            return 200, {"startAt": start, "maxResults": size, "total": len(ids), "worklogs": page}, {}
        if wid is None and method == "POST":
            errors = self._check_worklog(body, creating=True)
            if errors:
                return _jira_error(400, [], errors)
            new = self.new_id()
            issue.worklogs[new] = {
                "started": body["started"],
                "seconds": body["timeSpentSeconds"],
                "comment": self._comment_text(body.get("comment") or ""),
            }
            return 201, self._worklog_json(issue, new), {}
        if wid is not None and wid not in issue.worklogs:
            return _jira_error(404, [f"Cannot find worklog with id: '{wid}'."])
        if wid is not None and method == "PUT":
            errors = self._check_worklog(body, creating=False)
            if errors:
                return _jira_error(400, [], errors)
            item = issue.worklogs[wid]
            item.update(
                {
                    k: v
                    for k, v in (("started", body.get("started")), ("seconds", body.get("timeSpentSeconds")))
                    if v is not None
                }
            )
            if "comment" in body:
                item["comment"] = self._comment_text(body["comment"])
            return 200, self._worklog_json(issue, wid), {}
        if wid is not None and method == "DELETE":
            del issue.worklogs[wid]
            return 204, None, {}
        return 405, None, {}

    def _create(self, body: Any) -> Answer:
        fields = (body or {}).get("fields") or {}
        errors = {}
        if (fields.get("project") or {}).get("key") != "OPS":
            errors["project"] = "valid project is required"
        if not fields.get("summary"):
            errors["summary"] = "You must specify a summary of the issue."
        if (fields.get("issuetype") or {}).get("name") not in ("Task", "Bug"):
            errors["issuetype"] = "valid issue type is required"
        priority = (fields.get("priority") or {}).get("name")
        if priority not in ("Highest", "High", "Medium", "Low", "Lowest"):
            errors["priority"] = f"Priority name '{priority}' is not valid"
        description = fields.get("description")
        if self.cloud and not (isinstance(description, dict) and description.get("type") == "doc"):
            errors["description"] = "Operation value must be an Atlassian Document"
        if errors:
            return _jira_error(400, [], errors)
        key = f"OPS-{len(self.issues) + 100}"
        issue = self.add_issue(key, title=fields["summary"], priority=priority, created=datetime.now(UTC))
        issue.description = description
        return (
            201,
            {
                "id": str(10000 + len(self.issues)),
                "key": key,
                "self": f"{self.url}/rest/api/{self.version}/issue/{key}",
            },
            {},
        )

    def _issue_json(self, issue: Issue) -> dict[str, Any]:
        def stamp(moment: datetime) -> str:
            return moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000")

        return {
            "key": issue.key,
            "fields": {
                "summary": issue.title,
                "priority": {"name": issue.priority},
                "created": stamp(issue.created),
                "status": {"name": issue.status},
                "comment": {
                    "comments": [
                        {"author": {"name": who, "emailAddress": who}, "created": stamp(at)}
                        for at, who in issue.comments
                    ],
                    "total": len(issue.comments),
                },
            },
            "changelog": {
                "histories": [
                    {"created": stamp(at), "items": [{"field": "status", "toString": name}]}
                    for at, name in issue.statuses
                ]
            },
        }


# --- YouTrack -----------------------------------------------------------------------------------------


def _yt_error(status: int, error: str, description: str) -> Answer:
    return status, {"error": error, "error_description": description}, {}


class YouTrackFake(FakeTracker):
    def __init__(self, token: str = "perm:yt-token") -> None:
        super().__init__()
        self.token = token

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any, headers: Any) -> Answer:
        if headers.get("Authorization") != f"Bearer {self.token}":
            return _yt_error(401, "Unauthorized", "You are not logged in.")
        if path == "/api/issues" and method == "POST":
            body = body or {}
            if (body.get("project") or {}).get("id") != "0-1":
                return _yt_error(400, "Bad Request", "Project not found")
            fields = {f.get("name"): f for f in body.get("customFields") or []}
            prio = fields.get("Priority") or {}
            if prio.get("$type") != "SingleEnumIssueCustomField" or not (prio.get("value") or {}).get("name"):
                return _yt_error(400, "Bad Request", "Priority is required")
            key = f"SUP-{len(self.issues) + 100}"
            issue = self.add_issue(
                key, title=body.get("summary") or "", priority=prio["value"]["name"], created=datetime.now(UTC)
            )
            issue.description = body.get("description")
            return 200, {"idReadable": key, "$type": "Issue"}, {}
        match = re.match(r"^/api/issues/([^/]+)(/timeTracking/workItems(?:/([^/]+))?|/activities)?$", path)
        if match is None:
            return _yt_error(404, "Not Found", f"Entity with path {path} not found")
        key, sub, wid = match.groups()
        issue = self.issues.get(key)
        if issue is None:
            return _yt_error(404, "Not Found", f"Entity with id {key} not found")
        if sub is None and method == "POST":
            fields = (body or {}).get("customFields") or []
            for item in fields:
                if item.get("name") == "Estimation" and item.get("$type") == "PeriodIssueCustomField":
                    issue.estimate_seconds = int(item["value"]["minutes"]) * 60
                    return 200, {"id": "2-1", "$type": "Issue"}, {}
            return _yt_error(400, "Bad Request", "Unknown custom field")
        if sub is None and method == "GET":
            return (
                200,
                {
                    "idReadable": issue.key,
                    "summary": issue.title,
                    "created": int(issue.created.timestamp() * 1000),
                    "customFields": [
                        {"name": "Priority", "value": {"name": issue.priority}},
                        {"name": "State", "value": {"name": issue.status}},
                    ],
                },
                {},
            )
        if sub == "/activities":
            items = [
                {
                    "timestamp": int(at.timestamp() * 1000),
                    "field": {"name": "State"},
                    "added": [{"name": name}],
                    "category": {"id": "CustomFieldCategory"},
                    "author": {"login": "x"},
                }
                for at, name in issue.statuses
            ] + [
                {
                    "timestamp": int(at.timestamp() * 1000),
                    "author": {"login": who},
                    "category": {"id": "CommentsCategory"},
                    "field": None,
                    "added": [],
                }
                for at, who in issue.comments
            ]
            return 200, items, {}
        if wid is None and method == "GET":
            skip = int((query.get("$skip") or ["0"])[0])
            top = int((query.get("$top") or ["42"])[0])
            ids = sorted(issue.worklogs, key=int)
            page = [
                {
                    "id": w,
                    "duration": {"minutes": issue.worklogs[w]["minutes"]},
                    "date": issue.worklogs[w]["date"],
                    "text": issue.worklogs[w]["text"],
                    "$type": "IssueWorkItem",
                }
                for w in ids[skip : skip + top]
            ]
            return 200, page, {}
        if method == "POST":
            if (
                not isinstance(body, dict)
                or not isinstance((body.get("duration") or {}).get("minutes"), int)
                or not isinstance(body.get("date"), int)
            ):
                return _yt_error(400, "Bad Request", "duration.minutes and date (ms) are required")
            if wid is None:
                wid = self.new_id()
            elif wid not in issue.worklogs:
                return _yt_error(404, "Not Found", f"Entity with id {wid} not found")
            issue.worklogs[wid] = {
                "minutes": body["duration"]["minutes"],
                "date": body["date"],
                "text": body.get("text") or "",
            }
            return 200, {"id": wid, "$type": "IssueWorkItem"}, {}
        if method == "DELETE":
            if wid not in issue.worklogs:
                return _yt_error(404, "Not Found", f"Entity with id {wid} not found")
            del issue.worklogs[wid]
            return 200, None, {}
        return 405, None, {}


# --- Bitrix24 -----------------------------------------------------------------------------------------


def _nested(flat: dict[str, list[str]]) -> dict[str, Any]:
    """`ARFIELDS[SECONDS]=60` → {"ARFIELDS": {"SECONDS": "60"}} (PHP's query-string arrays)."""
    result: dict[str, Any] = {}
    for name, values in flat.items():
        keys = re.findall(r"[^\[\]]+", name)
        target = result
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = values[-1]
    return result


class Bitrix24Fake(FakeTracker):
    """Webhook `/rest/<user>/<secret>/<method>.json`; a leaky bucket of `burst` requests drained at
    `per_second` (Bitrix24's standard plan: 2 a second, 50 at once); past it, 503 QUERY_LIMIT_EXCEEDED."""

    def __init__(
        self, secret: str = "w3bh00ks3cret", user: str = "7", per_second: float = 2.0, burst: int = 50
    ) -> None:
        super().__init__()
        self.secret, self.user = secret, user
        self.per_second, self.burst = per_second, burst
        self.bucket = 0.0
        self.drained_at = time.monotonic()
        self.refused = 0

    def _over_limit(self) -> bool:
        now = time.monotonic()
        self.bucket = max(0.0, self.bucket - (now - self.drained_at) * self.per_second)
        self.drained_at = now
        if self.bucket + 1 > self.burst:
            self.refused += 1
            return True
        self.bucket += 1
        return False

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any, headers: Any) -> Answer:
        match = re.match(r"^/rest/([^/]+)/([^/]+)/([a-z0-9_.]+?)(?:\.json)?$", path)
        if match is None or match.group(1) != self.user or match.group(2) != self.secret:
            return 401, {"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"}, {}
        if self._over_limit():
            return 503, {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}, {}
        name = match.group(3)
        if name == "batch":
            return self._batch(body or {})
        ok, result, extra = self.call(name, body or {})
        if not ok:
            return 400, result, {}
        return 200, {"result": result, **extra, "time": {"start": time.time()}}, {}

    def _batch(self, body: dict[str, Any]) -> Answer:
        commands = body.get("cmd") or {}
        if len(commands) > 50:
            return 400, {"error": "ERROR_BATCH_LENGTH_EXCEEDED", "error_description": "Max batch length exceeded"}, {}
        done: dict[str, Any] = {}
        failed: dict[str, Any] = {}
        for key, command in commands.items():
            name, _, query = str(command).partition("?")
            ok, result, _extra = self.call(name, _nested(parse_qs(query)))
            if ok:
                done[key] = result
            else:
                failed[key] = result
        return (
            200,
            {
                "result": {
                    "result": done,
                    "result_error": failed,
                    "result_total": [],
                    "result_next": [],
                    "result_time": {},
                }
            },
            {},
        )

    def _task(self, params: dict[str, Any], *names: str) -> Issue | None:
        for name in names:
            if name in params:
                return self.issues.get(str(params[name]))
        return None

    def call(self, name: str, params: dict[str, Any]) -> tuple[bool, Any, dict[str, Any]]:
        not_found = {"error": "0x000001", "error_description": "Task not found"}
        bad = {"error": "0x000100", "error_description": "Invalid method parameters"}
        if name.startswith("task.elapseditem."):
            issue = self._task(params, "TASKID")
            if issue is None:
                return False, not_found, {}
            verb = name.rsplit(".", 1)[1]
            fields = params.get("ARFIELDS") or {}
            if verb in ("add", "update"):
                try:
                    seconds = int(fields["SECONDS"])
                    comment = str(fields["COMMENT_TEXT"])
                except (KeyError, ValueError, TypeError):
                    return False, bad, {}
                if verb == "add":
                    new = self.new_id()
                    issue.worklogs[new] = {"seconds": seconds, "comment": comment}
                    return True, int(new), {}
                item = str(params.get("ITEMID"))
                if item not in issue.worklogs:
                    return False, {"error": "0x000004", "error_description": "Action not allowed"}, {}
                issue.worklogs[item] = {"seconds": seconds, "comment": comment}
                return True, None, {}
            if verb == "delete":
                item = str(params.get("ITEMID"))
                if item not in issue.worklogs:
                    return False, {"error": "0x000004", "error_description": "Action not allowed"}, {}
                del issue.worklogs[item]
                return True, None, {}
            if verb == "getlist":
                nav = ((params.get("PARAMS") or {}).get("NAV_PARAMS")) or {}
                size = min(int(nav.get("nPageSize") or 50), 50)
                page = int(nav.get("iNumPage") or 1)
                ids = sorted(issue.worklogs, key=int)
                chosen = ids[(page - 1) * size : page * size]
                rows = [
                    {
                        "ID": w,
                        "TASK_ID": issue.key,
                        "SECONDS": str(issue.worklogs[w]["seconds"]),
                        "MINUTES": str(issue.worklogs[w]["seconds"] // 60),
                        "COMMENT_TEXT": issue.worklogs[w]["comment"],
                    }
                    for w in chosen
                ]
                return True, rows, {"total": len(ids)}
        if name == "tasks.task.add":
            fields = params.get("fields") or {}
            if not fields.get("TITLE") or not fields.get("RESPONSIBLE_ID"):
                return False, {"error": "ERROR_CORE", "error_description": "TITLE and RESPONSIBLE_ID are required"}, {}
            names = {"0": "low", "1": "medium", "2": "high"}
            key = str(200 + len(self.issues))
            issue = self.add_issue(
                key,
                title=fields["TITLE"],
                priority=names.get(str(fields.get("PRIORITY")), "medium"),
                created=datetime.now(UTC),
            )
            issue.description = fields.get("DESCRIPTION")
            return True, {"task": {"id": key, "title": fields["TITLE"], "priority": str(fields.get("PRIORITY"))}}, {}
        if name == "tasks.task.update":
            issue = self._task(params, "taskId")
            if issue is None:
                return False, not_found, {}
            estimate = (params.get("fields") or {}).get("TIME_ESTIMATE")
            if estimate is None:
                return False, bad, {}
            issue.estimate_seconds = int(estimate)
            return True, {"task": {"id": issue.key, "timeEstimate": str(estimate)}}, {}
        if name == "tasks.task.get":
            issue = self._task(params, "taskId")
            if issue is None:
                return False, not_found, {}
            codes = {"low": "0", "medium": "1", "high": "2"}
            return (
                True,
                {
                    "task": {
                        "id": issue.key,
                        "title": issue.title,
                        "priority": codes.get(issue.priority, issue.priority),
                        "createdDate": issue.created.isoformat(),
                        "status": issue.status,
                    }
                },
                {},
            )
        if name == "tasks.task.history.list":
            issue = self._task(params, "taskId")
            if issue is None:
                return False, not_found, {}
            return (
                True,
                {
                    "list": [
                        {"createdDate": at.isoformat(), "field": "STATUS", "value": {"from": "2", "to": status}}
                        for at, status in issue.statuses
                    ]
                },
                {},
            )
        if name == "task.commentitem.getlist":
            issue = self._task(params, "TASKID")
            if issue is None:
                return False, not_found, {}
            return True, [{"AUTHOR_ID": who, "POST_DATE": at.isoformat()} for at, who in issue.comments], {}
        return False, {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}, {}

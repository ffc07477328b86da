"""Facts computed from ansible-runner's event stream: timings per play and role, per-host stats,
what changed, the current task of each host, and the data handed over with `set_stats`."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bxops.redaction import redact_text

COLLECTION_PREFIX = "bxops.bitrix."
NO_ROLE = "(playbook)"
_RESULT_COUNTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
}


#: At most this many characters of a failure's message are kept (the artifacts hold the whole result).
MESSAGE_LIMIT = 2000
#: The fact common's each_site loop sets with each site's outcome (roles/common/tasks/each_site.yml).
SITES_FACT = "common_sites_result"
HIDDEN = "the output has been hidden due to the fact that 'no_log: true' was specified for this result"


def failure_message(result: object) -> str:
    """What a failed task result says, in one short text: its `msg`, the failed loop item's, or the
    end of a command's stderr; secrets in URLs redacted. A no_log result says only that it is hidden."""
    if not isinstance(result, dict):
        return str(result or "")[:MESSAGE_LIMIT]
    if result.get("censored"):
        return str(result["censored"])
    parts: list[str] = []
    message = result.get("msg") or result.get("message")
    if message:
        parts.append(str(message))
    items = result.get("results")
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and item.get("failed"):
                inner = failure_message(item)
                if inner and inner not in parts:
                    parts.append(inner)
                break
    for key in ("stderr", "module_stderr", "stdout"):
        value = result.get(key)
        if value and isinstance(value, str) and (not parts or key != "stdout"):
            tail = "\n".join(value.strip().splitlines()[-5:])
            if tail and tail not in parts:
                parts.append(tail)
            break
    text = "\n".join(parts).strip() or "failed (no message)"
    text = redact_text(text)
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def short_role(name: str) -> str:
    """`bxops.bitrix.update` → `update`; a plain role name stays as it is."""
    return name.removeprefix(COLLECTION_PREFIX)


def _timestamp(event: dict[str, Any]) -> datetime | None:
    created = event.get("created")
    if not isinstance(created, str):
        return None
    try:
        return datetime.fromisoformat(created)
    except ValueError:
        return None


@dataclass
class HostProgress:
    current_task: str = ""
    counts: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class ProgressSnapshot:
    play: str
    task: str
    hosts: dict[str, tuple[str, dict[str, int]]]


@dataclass
class _Span:
    name: str
    started: datetime


class EventRecorder:
    """Consumes events (from ansible-runner's thread) and answers questions (from any thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hosts: dict[str, HostProgress] = {}
        self._play: _Span | None = None
        self._task_role: _Span | None = None
        self._plays: list[dict[str, Any]] = []
        self._role_seconds: dict[str, float] = {}
        self._changed: list[dict[str, str]] = []
        self._failures: list[dict[str, Any]] = []
        self._final_stats: dict[str, Any] | None = None
        self._set_stats: dict[str, Any] = {}
        self._sites: dict[str, list[dict[str, str]]] = {}
        self._current_task = ""
        self._last_time: datetime | None = None
        self.events_seen = 0

    # event side ------------------------------------------------------------------------------
    def handle(self, event: dict[str, Any]) -> bool:
        """ansible-runner's event_handler; returning True keeps the event in the artifacts."""
        with self._lock:
            self.events_seen += 1
            self._handle(event)
        return True

    def _close_task(self, moment: datetime) -> None:
        if self._task_role is not None:
            seconds = (moment - self._task_role.started).total_seconds()
            name = self._task_role.name
            self._role_seconds[name] = self._role_seconds.get(name, 0.0) + max(0.0, seconds)
            self._task_role = None

    def _close_play(self, moment: datetime) -> None:
        self._close_task(moment)
        if self._play is not None:
            seconds = (moment - self._play.started).total_seconds()
            self._plays.append({"play": self._play.name, "seconds": round(max(0.0, seconds), 3)})
            self._play = None

    def _handle(self, event: dict[str, Any]) -> None:
        kind = str(event.get("event", ""))
        data = event.get("event_data") or {}
        moment = _timestamp(event)
        if moment is not None:
            self._last_time = moment
        if kind == "playbook_on_play_start" and moment is not None:
            self._close_play(moment)
            self._play = _Span(str(data.get("play") or data.get("name") or "play"), moment)
        elif kind in ("playbook_on_task_start", "playbook_on_handler_task_start") and moment is not None:
            self._close_task(moment)
            role = short_role(str(data["role"])) if data.get("role") else NO_ROLE
            self._task_role = _Span(role, moment)
            self._current_task = str(data.get("task") or "")
        elif kind == "runner_on_start":
            host = str(data.get("host") or "")
            if host:
                self._hosts.setdefault(host, HostProgress()).current_task = str(data.get("task") or "")
        elif kind in _RESULT_COUNTS:
            host = str(data.get("host") or "")
            if host:
                progress = self._hosts.setdefault(host, HostProgress())
                progress.counts[_RESULT_COUNTS[kind]] += 1
                result = data.get("res")
                if kind in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
                    self._failures.append(
                        {
                            "host": host,
                            "task": str(data.get("task") or ""),
                            "role": short_role(str(data["role"])) if data.get("role") else NO_ROLE,
                            "action": str(data.get("task_action") or ""),
                            "path": str(data.get("task_path") or ""),
                            "unreachable": kind == "runner_on_unreachable",
                            "changed": isinstance(result, dict) and bool(result.get("changed")),
                            "message": failure_message(result),
                        }
                    )
                if kind == "runner_on_ok" and isinstance(result, dict):
                    self._record_sites(host, result)
                if kind == "runner_on_ok" and isinstance(result, dict) and result.get("changed"):
                    progress.counts["changed"] += 1
                    self._changed.append(
                        {
                            "host": host,
                            "task": str(data.get("task") or ""),
                            "role": short_role(str(data["role"])) if data.get("role") else NO_ROLE,
                        }
                    )
        elif kind == "playbook_on_stats":
            if moment is not None:
                self._close_play(moment)
            self._final_stats = {
                key: dict(data.get(key) or {})
                for key in ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored", "processed")
            }
            artifact_data = data.get("artifact_data")
            if isinstance(artifact_data, dict):
                self._set_stats = dict(artifact_data)

    def _record_sites(self, host: str, result: dict[str, Any]) -> None:
        """common's each_site loop sets common_sites_result ([{name, docroot, status, message}]): the last
        one a host reports is its per-site outcome."""
        facts = result.get("ansible_facts")
        sites = facts.get(SITES_FACT) if isinstance(facts, dict) else None
        if not isinstance(sites, list):
            return
        self._sites[host] = [
            {
                "name": str(site.get("name", "")),
                "docroot": str(site.get("docroot", "")),
                "status": "ok" if site.get("status") == "ok" else "failed",
                "message": failure_message({"msg": site.get("message")}) if site.get("message") else "",
            }
            for site in sites
            if isinstance(site, dict)
        ]

    # question side ---------------------------------------------------------------------------
    def finish(self, moment: datetime) -> None:
        """Close what is still open (a cancelled or killed run never sends its stats)."""
        with self._lock:
            self._close_play(self._last_time or moment)

    def snapshot(self) -> ProgressSnapshot:
        with self._lock:
            return ProgressSnapshot(
                play=self._play.name if self._play else "",
                task=self._current_task,
                hosts={
                    host: (progress.current_task, dict(progress.counts))
                    for host, progress in sorted(self._hosts.items())
                },
            )

    def hosts(self) -> list[str]:
        with self._lock:
            names = set(self._hosts)
            if self._final_stats:
                for per_host in self._final_stats.values():
                    names.update(per_host)
            return sorted(names)

    def host_stats(self) -> dict[str, dict[str, int]]:
        """Per host: ok, changed, failures, unreachable, skipped, rescued, ignored."""
        with self._lock:
            if self._final_stats is not None:
                names = {"dark": "unreachable"}
                stats: dict[str, dict[str, int]] = {}
                for key, per_host in self._final_stats.items():
                    if key == "processed":
                        continue
                    for host, count in per_host.items():
                        stats.setdefault(host, {})[names.get(key, key)] = int(count)
                for host in self._final_stats.get("processed", {}):
                    stats.setdefault(host, {})
                return stats
            return {host: dict(progress.counts) for host, progress in self._hosts.items()}

    def role_seconds(self) -> dict[str, float]:
        with self._lock:
            return {
                role: round(seconds, 3)
                for role, seconds in sorted(self._role_seconds.items(), key=lambda item: -item[1])
            }

    def play_seconds(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._plays)

    def changed(self) -> list[dict[str, str]]:
        with self._lock:
            return list(self._changed)

    def failures(self) -> list[dict[str, Any]]:
        """Each failed task result (not ignored): host, task, role, action, path, message (redacted)."""
        with self._lock:
            return [dict(item) for item in self._failures]

    def sites(self) -> dict[str, list[dict[str, str]]]:
        """Per host, each site's outcome from common's each_site loop: name, docroot, status (ok or
        failed), message (redacted); hosts that ran no loop are absent."""
        with self._lock:
            return {host: [dict(site) for site in sites] for host, sites in self._sites.items()}

    def set_stats(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._set_stats)

    def failed(self) -> bool:
        with self._lock:
            stats = self._final_stats or {}
            return bool(stats.get("failures") or stats.get("dark"))

"""Infrastructure status of a month: where it comes from is pluggable (`SOURCES`); the audit reports
(`inventories/<client>/reports/<host>/audit-YYYY-MM-DD.json`, schema bxops.audit/1) always work."""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from bxops.periods import Month

_AUDIT_FILE = re.compile(r"^audit-(\d{4}-\d{2}-\d{2})\.json$")


@dataclass
class HostStatus:
    host: str
    checks: int
    up_checks: int
    response_ms: list[tuple[str, float]] = field(default_factory=list)  # (day, ms)
    db_bytes: list[tuple[str, int]] = field(default_factory=list)
    disk_used: list[tuple[str, int]] = field(default_factory=list)
    disk_free: int | None = None
    disk_total: int | None = None

    @property
    def uptime_percent(self) -> float | None:
        return round(100.0 * self.up_checks / self.checks, 2) if self.checks else None

    def response(self, quantile: float) -> float | None:
        values = sorted(ms for _day, ms in self.response_ms)
        if not values:
            return None
        if quantile == 0.5:
            return float(statistics.median(values))
        rank = max(0, min(len(values) - 1, round(quantile * len(values) + 0.5) - 1))  # nearest rank
        return float(values[rank])


@dataclass
class Infrastructure:
    source: str  # "audit" or "prometheus"
    detail: str
    hosts: list[HostStatus]
    samples: int = 0  # audit reports read, or samples queried


class InfrastructureSource(Protocol):
    name: str

    def available(self, client_dir: Path) -> bool: ...

    def collect(self, client_dir: Path, month: Month) -> Infrastructure: ...


def audit_reports(
    client_dir: Path, since: date | None = None, until: date | None = None
) -> dict[str, list[tuple[date, dict[str, Any]]]]:
    """Every host's dated audit reports (oldest first), between `since` and `until` (inclusive)."""
    found: dict[str, list[tuple[date, dict[str, Any]]]] = {}
    root = client_dir / "reports"
    if not root.is_dir():
        return found
    for host_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()):
        for path in sorted(host_dir.iterdir()):
            match = _AUDIT_FILE.match(path.name)
            if match is None or path.is_symlink():
                continue
            day = date.fromisoformat(match.group(1))
            if (since is not None and day < since) or (until is not None and day > until):
                continue
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(document, dict) and str(document.get("schema", "")).startswith("bxops.audit/"):
                found.setdefault(host_dir.name, []).append((day, document))
    return found


def month_days(month: Month) -> tuple[date, date]:
    first = date(month.year, month.month, 1)
    following = month.next()
    last = date.fromordinal(date(following.year, following.month, 1).toordinal() - 1)
    return first, last


class AuditSource:
    """The month's audit reports: one check per report (home page up when it answered 2xx/3xx)."""

    name = "audit"

    def available(self, client_dir: Path) -> bool:
        return True

    def collect(self, client_dir: Path, month: Month) -> Infrastructure:
        first, last = month_days(month)
        hosts: list[HostStatus] = []
        reports = audit_reports(client_dir, first, last)
        for host, documents in reports.items():
            status = HostStatus(host=host, checks=0, up_checks=0)
            for day, document in documents:
                page = document.get("home_page") or {}
                code = page.get("status")
                status.checks += 1
                if isinstance(code, int) and 200 <= code < 400:
                    status.up_checks += 1
                if isinstance(page.get("response_ms"), int | float):
                    status.response_ms.append((day.isoformat(), float(page["response_ms"])))
                db = document.get("db") or {}
                if isinstance(db.get("bytes"), int):
                    status.db_bytes.append((day.isoformat(), int(db["bytes"])))
                disk = document.get("disk") or {}
                if isinstance(disk.get("bytes_used"), int):
                    status.disk_used.append((day.isoformat(), int(disk["bytes_used"])))
                    status.disk_free = int(disk.get("bytes_free", 0))
                    status.disk_total = int(disk.get("bytes_total", 0))
            hosts.append(status)
        count = sum(len(documents) for documents in reports.values())
        return Infrastructure("audit", f"{count} audit reports", hosts, count)


#: Sources in order of preference; the first available one is used. The Prometheus source (the client's
#: monitoring, issue 14) plugs in here with `available()` true when the client has monitoring.
SOURCES: list[InfrastructureSource] = [AuditSource()]


def infrastructure(client_dir: Path, month: Month) -> Infrastructure:
    for source in SOURCES:
        if source.available(client_dir):
            return source.collect(client_dir, month)
    return AuditSource().collect(client_dir, month)

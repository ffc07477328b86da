"""Infrastructure status of a month: where it comes from is pluggable (`SOURCES`); the audit reports
(`inventories/<client>/reports/<host>/audit-YYYY-MM-DD.json`, schema bxops.audit/1 or /2; a host with several
sites: `reports/<host>/sites/<site>/audit-YYYY-MM-DD.json`) always work."""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
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
    #: figures a source measured itself (Prometheus: over the whole month) instead of the checks'
    measured_uptime: float | None = None
    measured_response: dict[float, float] = field(default_factory=dict)

    @property
    def uptime_percent(self) -> float | None:
        if self.measured_uptime is not None:
            return round(self.measured_uptime, 2)
        return round(100.0 * self.up_checks / self.checks, 2) if self.checks else None

    def response(self, quantile: float) -> float | None:
        if quantile in self.measured_response:
            return round(self.measured_response[quantile], 1)
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
    fallback_from: list[str] = field(default_factory=list)  # sources tried first that could not be read


class InfrastructureSource(Protocol):
    name: str

    def available(self, client_dir: Path) -> bool: ...

    def collect(self, client_dir: Path, month: Month) -> Infrastructure: ...


#: a report folder's key: the host, and the site for a host with several sites (None: the host's one site)
AuditKey = tuple[str, str | None]
SITES_FOLDER = "sites"
#: what the audit role accepts as a site's folder name (the sites filter's rule)
_SITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def _dated_reports(folder: Path, since: date | None, until: date | None) -> list[tuple[date, dict[str, Any]]]:
    found: list[tuple[date, dict[str, Any]]] = []
    for path in sorted(folder.iterdir()):
        match = _AUDIT_FILE.match(path.name)
        if match is None or path.is_symlink() or not path.is_file():
            continue
        day = date.fromisoformat(match.group(1))
        if (since is not None and day < since) or (until is not None and day > until):
            continue
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(document, dict) and str(document.get("schema", "")).startswith("bxops.audit/"):
            found.append((day, document))
    return found


def site_audit_reports(
    client_dir: Path, since: date | None = None, until: date | None = None
) -> dict[AuditKey, list[tuple[date, dict[str, Any]]]]:
    """Every dated audit report between `since` and `until` (inclusive), oldest first, by (host, site):
    `reports/<host>/` is (host, None), a one-site host's (or a host's before it had several sites);
    `reports/<host>/sites/<site>/` is (host, site). Symlinks and odd folder names are passed over."""
    found: dict[AuditKey, list[tuple[date, dict[str, Any]]]] = {}
    root = client_dir / "reports"
    if not root.is_dir() or root.is_symlink():
        return found
    for host_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()):
        own = _dated_reports(host_dir, since, until)
        if own:
            found[(host_dir.name, None)] = own
        sites_dir = host_dir / SITES_FOLDER
        if not sites_dir.is_dir() or sites_dir.is_symlink():
            continue
        for site_dir in sorted(p for p in sites_dir.iterdir() if p.is_dir() and not p.is_symlink()):
            if not _SITE_NAME.match(site_dir.name):
                continue
            reports = _dated_reports(site_dir, since, until)
            if reports:
                found[(host_dir.name, site_dir.name)] = reports
    return found


def audit_reports(
    client_dir: Path, since: date | None = None, until: date | None = None
) -> dict[str, list[tuple[date, dict[str, Any]]]]:
    """Every host's dated audit reports (oldest first), between `since` and `until` (inclusive); a host with
    several sites: all its sites' reports, by day (see `site_audit_reports` for them one site at a time)."""
    found: dict[str, list[tuple[date, dict[str, Any]]]] = {}
    for (host, _site), reports in site_audit_reports(client_dir, since, until).items():
        found.setdefault(host, []).extend(reports)
    for reports in found.values():
        reports.sort(key=lambda item: item[0])  # stable: a day's reports stay in site order
    return found


def month_days(month: Month) -> tuple[date, date]:
    first = date(month.year, month.month, 1)
    following = month.next()
    last = date.fromordinal(date(following.year, following.month, 1).toordinal() - 1)
    return first, last


class AuditSource:
    """The month's audit reports: one check per report (home page up when it answered 2xx/3xx). A host with
    several sites: every site's report is a check of its home page; the database figure of a day is the sum of
    the sites' databases that day; the disk is the host's."""

    name = "audit"

    def available(self, client_dir: Path) -> bool:
        return True

    def collect(self, client_dir: Path, month: Month) -> Infrastructure:
        first, last = month_days(month)
        hosts: list[HostStatus] = []
        reports = audit_reports(client_dir, first, last)
        for host, documents in reports.items():
            status = HostStatus(host=host, checks=0, up_checks=0)
            db_by_day: dict[str, int] = {}
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
                    db_by_day[day.isoformat()] = db_by_day.get(day.isoformat(), 0) + int(db["bytes"])
                disk = document.get("disk") or {}
                if isinstance(disk.get("bytes_used"), int):
                    if status.disk_used and status.disk_used[-1][0] == day.isoformat():
                        status.disk_used.pop()  # another site's report of the same day: the same disk
                    status.disk_used.append((day.isoformat(), int(disk["bytes_used"])))
                    status.disk_free = int(disk.get("bytes_free", 0))
                    status.disk_total = int(disk.get("bytes_total", 0))
            status.db_bytes = sorted(db_by_day.items())
            hosts.append(status)
        count = sum(len(documents) for documents in reports.values())
        return Infrastructure("audit", f"{count} audit reports", hosts, count)


MONITORING_FILE = "monitoring.yml"
#: PromQL per figure; `{sel}` is the client's label selector, `{range}` the month (e.g. `2592000s`),
#: `{by}` the label that names a host. The defaults read blackbox_exporter's home-page probes (kind="home",
#: as roles/monitoring_server labels them) and node_exporter's
#: root filesystem (issue 14's monitoring) and the Bitrix collector's DB size; `monitoring.yml` may
#: override any of them under `prometheus.queries`.
DEFAULT_QUERIES = {
    "uptime": "100 * avg by ({by}) (avg_over_time(probe_success{{{sel},kind='home'}}[{range}]))",
    "response_p50": (
        "1000 * max by ({by}) (quantile_over_time(0.5, probe_duration_seconds{{{sel},kind='home'}}[{range}]))"
    ),
    "response_p95": (
        "1000 * max by ({by}) (quantile_over_time(0.95, probe_duration_seconds{{{sel},kind='home'}}[{range}]))"
    ),
    "response_series": "1000 * avg by ({by}) (probe_duration_seconds{{{sel},kind='home'}})",
    "db_series": "sum by ({by}) (bitrix_db_size_bytes{{{sel}}})",
    "disk_used_series": (
        'sum by ({by}) (node_filesystem_size_bytes{{{sel},mountpoint="/"}}'
        ' - node_filesystem_avail_bytes{{{sel},mountpoint="/"}})'
    ),
    "disk_free": 'sum by ({by}) (node_filesystem_avail_bytes{{{sel},mountpoint="/"}})',
    "disk_total": 'sum by ({by}) (node_filesystem_size_bytes{{{sel},mountpoint="/"}})',
}


class PrometheusSource:
    """The client's monitoring through Prometheus's HTTP API (`/api/v1/query`, `/api/v1/query_range`),
    when `inventories/<client>/monitoring.yml` names it:

    ```yaml
    prometheus:
      url: http://monitor.agency.example:9090
      host_label: site            # the label that names a host (default site, as monitoring_server labels)
      selector: 'client="acme"'   # default: client="<client folder>"
    ```
    """

    name = "prometheus"

    def __init__(self, timeout: float = 20.0) -> None:
        self.timeout = timeout

    def settings(self, client_dir: Path) -> dict[str, Any] | None:
        path = client_dir / MONITORING_FILE
        if not path.is_file():
            return None
        import yaml

        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        prometheus = data.get("prometheus") if isinstance(data, dict) else None
        if not isinstance(prometheus, dict) or not prometheus.get("url"):
            return None
        return prometheus

    def available(self, client_dir: Path) -> bool:
        return self.settings(client_dir) is not None

    def collect(self, client_dir: Path, month: Month) -> Infrastructure:
        import httpx

        config = self.settings(client_dir) or {}
        url = str(config["url"]).rstrip("/")
        by = str(config.get("host_label", "site"))
        selector = str(config.get("selector", f'client="{client_dir.name}"'))
        queries = {**DEFAULT_QUERIES, **(config.get("queries") or {})}
        first, last = month_days(month)
        start = datetime.combine(first, time(0), UTC)
        end = min(datetime.combine(last, time(23, 59, 59), UTC), datetime.now(UTC))
        span = f"{max(60, int((end - start).total_seconds()))}s"
        hosts: dict[str, HostStatus] = {}
        samples = 0

        def host(labels: dict[str, str]) -> HostStatus:
            name = labels.get(by, "?")
            return hosts.setdefault(name, HostStatus(host=name, checks=0, up_checks=0))

        with httpx.Client(timeout=self.timeout) as client:

            def query(kind: str, range_query: bool) -> list[dict[str, Any]]:
                promql = queries[kind].format(sel=selector, range=span, by=by)
                if range_query:
                    params = {"query": promql, "start": start.timestamp(), "end": end.timestamp(), "step": "86400"}
                    answer = client.get(f"{url}/api/v1/query_range", params=params)
                else:
                    answer = client.get(f"{url}/api/v1/query", params={"query": promql, "time": end.timestamp()})
                answer.raise_for_status()
                body = answer.json()
                if body.get("status") != "success":
                    raise ValueError(f"{kind}: {body.get('error', 'query failed')}")
                return list(body["data"]["result"])

            for item in query("uptime", False):
                host(item["metric"]).measured_uptime = float(item["value"][1])
            for kind, quantile in (("response_p50", 0.5), ("response_p95", 0.95)):
                for item in query(kind, False):
                    host(item["metric"]).measured_response[quantile] = float(item["value"][1])
            for kind, attribute in (("disk_free", "disk_free"), ("disk_total", "disk_total")):
                for item in query(kind, False):
                    setattr(host(item["metric"]), attribute, int(float(item["value"][1])))
            for kind, attribute in (
                ("response_series", "response_ms"),
                ("db_series", "db_bytes"),
                ("disk_used_series", "disk_used"),
            ):
                for item in query(kind, True):
                    points = [
                        (datetime.fromtimestamp(float(at), UTC).date().isoformat(), float(value))
                        for at, value in item["values"]
                    ]
                    samples += len(points)
                    converted = points if attribute == "response_ms" else [(d, int(v)) for d, v in points]
                    setattr(host(item["metric"]), attribute, converted)
        return Infrastructure(
            "prometheus", f"Prometheus at {url}", sorted(hosts.values(), key=lambda h: h.host), samples
        )


#: Sources in order of preference; the first available one is used (Prometheus when the client has
#: monitoring), the audit reports otherwise, or when the monitoring cannot be read (the report says so).
SOURCES: list[InfrastructureSource] = [PrometheusSource(), AuditSource()]


def infrastructure(client_dir: Path, month: Month) -> Infrastructure:
    import httpx

    problems: list[str] = []
    for source in SOURCES:
        if not source.available(client_dir):
            continue
        try:
            found = source.collect(client_dir, month)
        except (httpx.HTTPError, OSError, ValueError, KeyError, TypeError, IndexError) as error:
            problems.append(f"{source.name} unavailable ({type(error).__name__})")  # fall back, and say why
            continue
        found.fallback_from = problems
        return found
    return AuditSource().collect(client_dir, month)

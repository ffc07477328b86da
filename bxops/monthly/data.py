"""The facts of a client's month, as one JSON-able document: every figure of the hours section comes from
`bookkeeping.client_balance` (the one code path `balance` prints), the work done from the ledger's entries
of the month (their stored run data) and the changelog, infrastructure and security from the audits."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

from bxops.bookkeeping import client_balance
from bxops.contract import Contract
from bxops.ledger.database import Ledger
from bxops.ledger.entries import HistoryFilter, history
from bxops.ledger.models import Entry, EntryKind, EntryStatus
from bxops.monthly.sources import AuditKey, infrastructure, month_days, site_audit_reports
from bxops.periods import Month
from bxops.reports import balance_to_dict

#: PHP branches' end of security support (php.net/supported-versions).
PHP_END_OF_LIFE = {
    "7.4": date(2022, 11, 28),
    "8.0": date(2023, 11, 26),
    "8.1": date(2025, 12, 31),
    "8.2": date(2026, 12, 31),
    "8.3": date(2027, 12, 31),
    "8.4": date(2028, 12, 31),
}
_CHANGELOG_ROW = re.compile(
    r"^\|\s*(\d{4}-\d{2}-\d{2})[^|]*\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|\s*(.+?)\s*→\s*(.+?)\s*\|"
)


def _stats(entry: Entry, key: str) -> list[dict[str, Any]]:
    """What the run's roles handed over under `key` (set_stats), per host and in the aggregate."""
    data = entry.audit_data or {}
    found = [data[key]] if isinstance(data.get(key), dict) else []
    for per_host in (data.get("per_host") or {}).values():
        if isinstance(per_host, dict) and isinstance(per_host.get(key), dict):
            found.append(per_host[key])
    return found


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _count(value: Any) -> int:
    if isinstance(value, dict):
        return _int(value.get("files", value.get("count", 0)))
    if isinstance(value, list):
        return len(value)
    return _int(value)


def changelog_updates(client_dir: Path, month: Month) -> list[dict[str, str]]:
    path = client_dir / "CHANGELOG.md"
    if not path.is_file():
        return []
    first, last = month_days(month)
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _CHANGELOG_ROW.match(line)
        if match and first <= date.fromisoformat(match.group(1)) <= last:
            day, environment, host, module, before, after = match.groups()
            rows.append(
                {"date": day, "environment": environment, "host": host, "module": module, "from": before, "to": after}
            )
    return rows


def work_done(entries: list[Entry], client_dir: Path, month: Month) -> dict[str, Any]:
    runs = [e for e in entries if e.kind == EntryKind.RUN.value and e.status == EntryStatus.SUCCEEDED.value]
    cleaned_bytes = orphans_quarantined = orphans_purged = permissions_fixed = 0
    certificates: list[str] = []
    backups: list[dict[str, Any]] = []
    php: list[dict[str, Any]] = []
    restore_drills = 0
    for entry in runs:
        for cleanup in _stats(entry, "cleanup"):
            cleaned_bytes += _int((cleanup.get("reclaimed") or {}).get("bytes"))
            orphans_quarantined += _count(cleanup.get("quarantined"))
            orphans_purged += _count(cleanup.get("purged"))
        for permissions in _stats(entry, "permissions"):
            if not permissions.get("check_mode"):
                permissions_fixed += _int((permissions.get("counts") or {}).get("paths"))
        for certs in _stats(entry, "certificates"):
            for item in certs.get("renewed") or []:
                domain = item.get("domain") if isinstance(item, dict) else item
                if domain:
                    certificates.append(str(domain))
        for backup in _stats(entry, "backup"):
            if backup.get("id"):
                backups.append({"id": backup["id"], "size_bytes": _int(backup.get("size_bytes"))})
            if backup.get("restore_verified") or backup.get("verified"):
                restore_drills += 1
        for upgrade in _stats(entry, "php_upgrade"):
            if upgrade.get("result") == "upgraded":
                php.append({"from": upgrade.get("from"), "to": upgrade.get("target") or upgrade.get("to")})
        if entry.playbook in ("restore", "backup_restore", "restore_drill"):
            restore_drills += 1
    manual = [
        {
            "date": e.started_at.date().isoformat(),
            "work_type": e.work_type,
            "ticket": e.ticket,
            "note": e.note,
            "raw_seconds": e.raw_seconds,
        }
        for e in sorted(entries, key=lambda e: (e.started_at, e.id))
        if e.kind == EntryKind.MANUAL.value
    ]
    return {
        "updates": changelog_updates(client_dir, month),
        "php_upgrades": php,
        "cleaned_bytes": cleaned_bytes,
        "orphans_quarantined": orphans_quarantined,
        "orphans_purged": orphans_purged,
        "permissions_fixed": permissions_fixed,
        "certificates_renewed": sorted(set(certificates)),
        "backups": backups,
        "restore_drills": restore_drills,
        "runs": len(runs),
        "manual": manual,
    }


def _where(key: AuditKey) -> dict[str, Any]:
    """The host of a finding or a step, and its site on a host with several sites (a one-site host's entries
    keep the shape they always had: no `site`)."""
    return {"host": key[0]} if key[1] is None else {"host": key[0], "site": key[1]}


#: every audit report up to the month's end, by (host, site): read once per report (site_audit_reports)
Reports = dict[AuditKey, list[tuple[date, dict[str, Any]]]]


def _before_and_during(reports: Reports, month: Month) -> tuple[Reports, Reports]:
    """The reports before the month and those of the month, per (host, site)."""
    first, _last = month_days(month)
    before: Reports = {}
    during: Reports = {}
    for key, documents in reports.items():
        earlier = [item for item in documents if item[0] < first]
        this_month = [item for item in documents if item[0] >= first]
        if earlier:
            before[key] = earlier
        if this_month:
            during[key] = this_month
    return before, during


def security(reports: Reports, month: Month) -> dict[str, Any]:
    """Findings opened, closed and still open over the month, per host and, on a host with several sites, per
    site (each site's reports are compared with that site's own)."""
    before, during = _before_and_during(reports, month)
    opened: list[dict[str, Any]] = []
    closed: list[dict[str, Any]] = []
    still: list[dict[str, Any]] = []
    for key, documents in during.items():
        where = _where(key)
        baseline_doc = before[key][-1][1] if before.get(key) else documents[0][1]
        baseline = {f["id"]: f for f in (baseline_doc.get("security") or {}).get("findings", [])}
        seen: dict[str, dict[str, Any]] = {}
        for _day, document in documents:
            for finding in (document.get("security") or {}).get("findings", []):
                seen.setdefault(finding["id"], finding)
        final = {f["id"]: f for f in (documents[-1][1].get("security") or {}).get("findings", [])}
        for ident, finding in seen.items():
            if ident not in baseline:
                opened.append({**where, **_finding(finding)})
        for ident, finding in {**baseline, **seen}.items():
            if ident not in final:
                closed.append({**where, **_finding(finding)})
        still.extend({**where, **_finding(f)} for f in final.values())
    return {"opened": opened, "closed": closed, "open": still, "audited": bool(during)}


def _finding(finding: dict[str, Any]) -> dict[str, Any]:
    return {"id": finding.get("id"), "severity": finding.get("severity"), "title": finding.get("title")}


def _versions(document: dict[str, Any]) -> dict[str, str]:
    """Core and module versions of a report: {"main": "24.0.0", ...}."""
    found = {str(m): str((v or {}).get("version")) for m, v in (document.get("modules") or {}).items()
             if isinstance(v, dict) and v.get("version")}
    core = (document.get("core") or {}).get("version")
    if core and "main" not in found:
        found["main"] = str(core)
    return found


def _soonest_certificate(document: dict[str, Any]) -> dict[str, Any] | None:
    """The served certificate that expires first (the one to watch), or the first domain whose certificate
    could not be read."""
    certificates = [c for c in document.get("certificates") or [] if isinstance(c, dict)]
    dated = [c for c in certificates if isinstance(c.get("days_left"), int)]
    if dated:
        pick = min(dated, key=lambda c: c["days_left"])
        return {"domain": pick.get("domain"), "not_after": pick.get("not_after"), "days_left": pick["days_left"]}
    if certificates:
        pick = certificates[0]
        return {"domain": pick.get("domain"), "not_after": None, "days_left": None}
    return None


def site_rows(reports: Reports, month: Month, sec: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per host with several sites (reports under `reports/<host>/sites/`), one row per site from its newest
    report of the month: core version, PHP, open findings, the updates its reports show over the month
    (versions at the end against the last report before the month, or its first of the month), the
    certificate that expires first, and the site's home page checks. One-site hosts have none."""
    before, during = _before_and_during(reports, month)
    rows: dict[str, list[dict[str, Any]]] = {}
    for (host, site), documents in during.items():
        if site is None:
            continue
        day, latest = documents[-1]
        baseline = before[(host, site)][-1][1] if before.get((host, site)) else documents[0][1]
        old, new = _versions(baseline), _versions(latest)
        updates = [{"module": m, "from": old[m], "to": v} for m, v in sorted(new.items()) if m in old and old[m] != v]
        findings = [f for f in sec["open"] if f["host"] == host and f.get("site") == site]
        counts: dict[str, int] = {}
        for finding in findings:
            counts[str(finding.get("severity"))] = counts.get(str(finding.get("severity")), 0) + 1
        checks = [(d.get("home_page") or {}).get("status") for _d, d in documents]
        up = sum(1 for code in checks if isinstance(code, int) and 200 <= code < 400)
        rows.setdefault(host, []).append({
            "site": site,
            "audit_day": day.isoformat(),
            "docroot": latest.get("docroot"),
            "core": (latest.get("core") or {}).get("version"),
            "php": ((latest.get("php") or {}).get("serving") or {}).get("version"),
            "findings": findings,
            "findings_by_severity": counts,
            "updates": updates,
            "certificate": _soonest_certificate(latest),
            "checks": len(checks),
            "uptime_percent": round(100.0 * up / len(checks), 2) if checks else None,
            "db_bytes": (latest.get("db") or {}).get("bytes") if isinstance((latest.get("db") or {}).get("bytes"),
                                                                            int) else None,
        })
    return rows


def site_runs(entries: list[Entry]) -> list[dict[str, Any]]:
    """Each run of the month over a host with several sites, and what each site's run came to (common's
    each_site loop, stored in the ledger entry's audit_data["sites"]): which site failed in which run."""
    found: list[dict[str, Any]] = []
    for entry in sorted(entries, key=lambda e: (e.started_at, e.id)):
        if entry.kind != EntryKind.RUN.value:
            continue
        sites = (entry.audit_data or {}).get("sites")
        if not isinstance(sites, dict):
            continue
        for host, host_sites in sites.items():
            if not isinstance(host_sites, list):
                continue
            listed = [s for s in host_sites if isinstance(s, dict)]
            if len(listed) < 2 and all(s.get("status") == "ok" for s in listed):
                continue  # a one-site host's run that went well: the run list says enough
            found.append({
                "run": entry.id,
                "date": entry.started_at.date().isoformat(),
                "playbook": entry.playbook,
                "environment": entry.environment,
                "status": entry.status,
                "host": str(host),
                "sites": [{"site": str(s.get("name", "?")), "status": "ok" if s.get("status") == "ok" else "failed",
                           "message": str(s.get("message") or "")} for s in listed],
                "failed": [str(s.get("name", "?")) for s in listed if s.get("status") != "ok"],
            })
    return found


def next_steps(client_dir: Path, month: Month, infra_hosts: list[Any],
               reports: Reports | None = None) -> dict[str, Any]:
    """Updates staging ran that production lacks (site by site: a staging site is compared with the production
    site of the same name), PHP branches near or past their end of life (per site), the disk forecast.
    `reports`: the reports up to the month's end when the caller has read them already."""
    _first, last = month_days(month)
    if reports is None:
        reports = site_audit_reports(client_dir, None, last)
    latest = {key: docs[-1][1] for key, docs in reports.items() if docs}
    pending: list[dict[str, Any]] = []
    staging = {k: d for k, d in latest.items() if "staging" in k[0]}
    production = {k: d for k, d in latest.items() if "staging" not in k[0]}
    for s_key, s_doc in staging.items():
        s_modules = {m: (v or {}).get("version") for m, v in (s_doc.get("modules") or {}).items()}
        for p_key, p_doc in production.items():
            if p_key[1] != s_key[1]:
                continue
            for module, version in sorted(s_modules.items()):
                p_version = ((p_doc.get("modules") or {}).get(module) or {}).get("version")
                if version and p_version and version != p_version:
                    pending.append({**_where(p_key), "module": module, "from": p_version, "to": version})
    php_eol: list[dict[str, Any]] = []
    for key, document in sorted(latest.items(), key=lambda item: (item[0][0], item[0][1] or "")):
        version = str(((document.get("php") or {}).get("serving") or {}).get("version") or "")
        branch = ".".join(version.split(".")[:2])
        if branch in PHP_END_OF_LIFE:
            end = PHP_END_OF_LIFE[branch]
            php_eol.append({**_where(key), "php": branch, "end_of_life": end.isoformat(), "ended": end <= last})
    forecast: list[dict[str, Any]] = []
    for status in infra_hosts:
        points = status.disk_used
        if len(points) >= 2 and status.disk_free is not None:
            (d0, u0), (d1, u1) = points[0], points[-1]
            days = (date.fromisoformat(d1) - date.fromisoformat(d0)).days
            per_day = (u1 - u0) / days if days else 0.0
            full_in = int(status.disk_free / per_day) if per_day > 0 else None
            forecast.append({"host": status.host, "bytes_per_day": round(per_day), "days_until_full": full_in})
    return {"pending_updates": pending, "php_end_of_life": php_eol, "disk_forecast": forecast}


def collect(ledger: Ledger, contract: Contract, client_dir: Path, month: Month) -> dict[str, Any]:
    """The report's document. The hours are balance's own figures (balance_to_dict of client_balance)."""
    balance = client_balance(ledger, contract, month)
    hours = balance_to_dict(balance)
    term = balance.term
    hours["expected_hours"] = dict(term.expected_hours)
    hours["work_type_labels"] = dict(term.work_types)
    entries = history(ledger, HistoryFilter(client=contract.client, month=month))
    for item in hours["by_work_type"]:
        item.setdefault("label", item["work_type"])
    infra = infrastructure(client_dir, month)
    reports = site_audit_reports(client_dir, None, month_days(month)[1])
    sec = security(reports, month)
    sites = site_rows(reports, month, sec)
    work = work_done(entries, client_dir, month)
    work["site_runs"] = site_runs(entries)
    document: dict[str, Any] = {
        "client": contract.client,
        "month": str(month),
        "timezone": contract.service.timezone,
        "hours": hours,
        "work": work,
        "infrastructure": {
            "source": infra.source,
            "detail": infra.detail,
            "samples": infra.samples,
            "fallback_from": infra.fallback_from,
            "hosts": [
                {
                    "host": h.host,
                    "checks": h.checks,
                    "uptime_percent": h.uptime_percent,
                    "response_median_ms": h.response(0.5),
                    "response_p95_ms": h.response(0.95),
                    "db_bytes": h.db_bytes[-1][1] if h.db_bytes else None,
                    "db_trend_bytes": (h.db_bytes[-1][1] - h.db_bytes[0][1]) if len(h.db_bytes) > 1 else None,
                    "disk_used_bytes": h.disk_used[-1][1] if h.disk_used else None,
                    "disk_free_bytes": h.disk_free,
                    "series": {"response_ms": h.response_ms, "db_bytes": h.db_bytes, "disk_used": h.disk_used},
                    "sites": sites.get(h.host, []),
                }
                for h in infra.hosts
            ],
        },
        "security": sec,
        "next_steps": next_steps(client_dir, month, infra.hosts, reports),
    }
    if contract.service.sla is not None:
        document["sla"] = sla_section(ledger, contract, month)
    return document


def sla_section(ledger: Ledger, contract: Contract, month: Month) -> dict[str, Any]:
    from bxops.ledger.ids import utcnow
    from bxops.sla.cli import month_bounds
    from bxops.sla.engine import breaches, evaluate, report
    from bxops.sla.incidents import facts, incidents_opened_in

    sla = contract.service.sla
    assert sla is not None
    start, end = month_bounds(month, contract.zone)
    now = min(utcnow(), end)
    evaluated = [
        evaluate(facts(row), contract.service, now)
        for row in incidents_opened_in(ledger, contract.client, start, end)
        if row.priority in sla.priorities
    ]
    return {
        "priorities": [dict(line.__dict__) for line in report(evaluated, list(sla.priorities))],
        "breaches": breaches(evaluated),
    }

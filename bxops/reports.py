"""What the CLI shows: balances, history and run summaries as rich tables or as JSON."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from bxops.durations import clock, hours
from bxops.ledger.models import Entry
from bxops.pool import MonthBalance
from bxops.rounding import GroupKey, Share


def _label(balance: MonthBalance, work_type: str | None) -> str:
    if work_type is None:
        return "(unclassified / adjustments)"
    return balance.term.work_types.get(work_type, work_type)


def balance_to_dict(balance: MonthBalance) -> dict[str, Any]:
    term = balance.term
    return {
        "client": balance.client,
        "month": str(balance.month),
        "billing_period": balance.month.period_label(term.billing_period),
        "contract_term": term.effective_from.isoformat(),
        "allotment_seconds": balance.allotment_seconds,
        "carried_in_seconds": balance.carried_in_seconds,
        "carried_in": [
            {
                "from_month": str(lot.origin),
                "seconds": lot.seconds,
                "expires_after": str(lot.expires_after) if lot.expires_after else None,
            }
            for lot in balance.carried_in
        ],
        "used_raw_seconds": balance.used_raw_seconds,
        "used_billed_seconds": balance.used_billed_seconds,
        "rounding_scope": {"runs": term.rounding.scope.runs.value, "manual": term.rounding.scope.manual.value},
        "by_work_type": [
            {
                "work_type": work_type,
                "label": _label(balance, work_type),
                "raw_seconds": usage.raw_seconds,
                "billed_seconds": usage.billed_seconds,
                "entries": usage.entries,
                "dry_runs": usage.dry_runs,
            }
            for work_type, usage in sorted(balance.usage_by_work_type.items(), key=lambda i: i[0] or "~")
        ],
        "dry_runs": {
            "entries": balance.dry_runs.dry_runs,
            "raw_seconds": balance.dry_runs.dry_run_raw_seconds,
            "billed_seconds": balance.dry_runs.dry_run_billed_seconds,
            "billed_by_contract": term.bill_dry_runs,
        },
        "remaining_seconds": balance.remaining_seconds,
        "overage_seconds": balance.overage_seconds,
        "overage_policy": term.overage.policy.value,
        "overage_limit_seconds": balance.overage_limit_seconds,
        "expiring_at_month_end_seconds": balance.expiring_at_month_end_seconds,
        "carry_over": term.carry_over.mode.value,
    }


def print_balance(console: Console, balance: MonthBalance) -> None:
    term = balance.term
    period = balance.month.period_label(term.billing_period)
    title = f"{balance.client} — {balance.month} (billing period {period}, contract from {term.effective_from})"
    table = Table(title=title, title_justify="left", show_header=True)
    table.add_column("")
    table.add_column("raw", justify="right")
    table.add_column("billed", justify="right")
    table.add_column("entries", justify="right")
    table.add_row("allotment", "", hours(balance.allotment_seconds), "")
    for lot in balance.carried_in:
        until = f"usable to end of {lot.expires_after}" if lot.expires_after else "no expiry"
        table.add_row(f"carried in from {lot.origin} ({until})", "", hours(lot.seconds), "")
    table.add_section()
    for item in balance_to_dict(balance)["by_work_type"]:
        if not item["entries"]:
            continue  # only dry runs: shown apart below
        table.add_row(
            f"used: {item['label']}",
            hours(item["raw_seconds"]),
            hours(item["billed_seconds"]),
            str(item["entries"]),
        )
    dry = balance.dry_runs
    if dry.dry_runs:
        billed_note = "billed" if term.bill_dry_runs else "not billed"
        table.add_row(
            f"dry runs (--check, {billed_note})",
            hours(dry.dry_run_raw_seconds),
            hours(dry.dry_run_billed_seconds),
            str(dry.dry_runs),
        )
    table.add_row(
        "used in total", hours(balance.used_raw_seconds), hours(balance.used_billed_seconds), "", style="bold"
    )
    table.add_section()
    table.add_row("remaining", "", hours(balance.remaining_seconds), "", style="bold green")
    overage_note = term.overage.policy.value
    if balance.overage_limit_seconds is not None:
        overage_note += f" up to {hours(balance.overage_limit_seconds)}"
    style = "bold red" if balance.overage_seconds else ""
    table.add_row(f"overage (policy: {overage_note})", "", hours(balance.overage_seconds), "", style=style)
    if balance.expiring_at_month_end_seconds:
        table.add_row(f"expires at the end of {balance.month}", "", hours(balance.expiring_at_month_end_seconds), "")
    console.print(table)


def billing_to_dict(entry: Entry, share: Share | None) -> dict[str, Any] | None:
    """How the entry's billed figure was computed: None for an entry billed on its own."""
    if entry.billing_group is None:
        return None
    key = GroupKey.parse(entry.billing_group)
    return {
        "scope": key.scope.value,
        "group": entry.billing_group,
        "label": key.label(),
        "policy": {
            "mode": key.policy.mode.value,
            "increment_seconds": key.policy.increment_seconds,
            "minimum_seconds": key.policy.minimum_seconds,
        },
        "in_force": share is not None,  # False: replaced by a correction, no share any more
        "group_raw_seconds": share.group_raw_seconds if share else None,
        "group_billed_seconds": share.group_billed_seconds if share else None,
        "group_entries": share.group_entries if share else None,
    }


def billed_of(entry: Entry, share: Share | None) -> int | None:
    """The entry's billed seconds: its own figure, or its share of its rounding group."""
    if entry.billing_group is None:
        return entry.billed_seconds
    return share.billed_seconds if share is not None else None


def entry_to_dict(entry: Entry, share: Share | None = None) -> dict[str, Any]:
    """`share`: the entry's share of its rounding group (ledger.entries.billing_shares), if it has one."""
    return {
        "id": entry.id,
        "run_id": entry.run_id,
        "kind": entry.kind,
        "status": entry.status,
        "client": entry.client,
        "environment": entry.environment,
        "playbook": entry.playbook,
        "hosts": entry.hosts,
        "engineer": entry.engineer,
        "ticket": entry.ticket,
        "note": entry.note,
        "reason": entry.reason,
        "work_type": entry.work_type,
        "month": f"{entry.month // 100:04d}-{entry.month % 100:02d}",
        "started_at": entry.started_at.isoformat(),
        "ended_at": entry.ended_at.isoformat() if entry.ended_at else None,
        "raw_seconds": entry.raw_seconds,
        "billed_seconds": billed_of(entry, share),
        "billing": billing_to_dict(entry, share),
        "contract_term": entry.contract_term,
        "return_code": entry.return_code,
        "host_stats": entry.host_stats,
        "play_seconds": entry.play_seconds,
        "role_seconds": entry.role_seconds,
        "work_split": entry.work_split,
        "changed": entry.changed,
        "audit_data": entry.audit_data,
        "options": entry.options,
        "artifacts_dir": entry.artifacts_dir,
        "estimate_seconds": entry.estimate_seconds,
        "overage_override": entry.overage_override,
        "corrects_id": entry.corrects_id,
        "failures": entry.failures or [],
        "created_at": entry.created_at.isoformat(),
    }


def to_json(data: object) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False)


_STATUS_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "cancelled": "yellow",
    "interrupted": "magenta",
    "refused": "yellow",
    "dry_run": "blue",
    "running": "cyan",
}


def _billed_text(entry: Entry, share: Share | None) -> str:
    billed = billed_of(entry, share)
    if entry.billing_group is None:
        return hours(billed)
    if share is None:
        return "replaced"
    if entry.work_split:  # its parts are shares of several groups (one per work type)
        return hours(billed)
    return f"{hours(billed)} of {hours(share.group_billed_seconds)}"


def site_outcomes(audit_data: dict[str, Any] | None) -> list[str]:
    """'host site: status' for each site a run's each_site loop recorded (audit_data['sites']), in run order."""
    sites = (audit_data or {}).get("sites")
    if not isinstance(sites, dict):
        return []
    return [
        f"{host} {site.get('name', '?')}: {site.get('status', '?')}"
        for host, host_sites in sites.items()
        if isinstance(host_sites, list)
        for site in host_sites
        if isinstance(site, dict)
    ]


def print_history(console: Console, entries: list[Entry], shares: dict[int, Share] | None = None) -> None:
    shares = shares or {}
    table = Table(show_header=True, header_style="bold")
    for column, justify in (
        ("#", "right"),
        ("started (UTC)", "left"),
        ("client", "left"),
        ("kind", "left"),
        ("what", "left"),
        ("work type", "left"),
        ("status", "left"),
        ("raw", "right"),
        ("billed", "right"),
        ("billed per", "left"),
        ("ticket", "left"),
        ("engineer", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for entry in entries:
        what = entry.playbook or entry.note or entry.reason or ""
        if entry.environment:
            what = f"{what} @{entry.environment}"
        if entry.corrects_id is not None:
            what = f"{what} (corrects #{entry.corrects_id})"
        sites = site_outcomes(entry.audit_data)
        if len(sites) > 1:
            what = f"{what} [{'; '.join(sites)}]"
        table.add_row(
            str(entry.id),
            f"{entry.started_at:%Y-%m-%d %H:%M}",
            entry.client,
            entry.kind,
            what,
            (entry.work_type or "—")
            if not entry.work_split
            else ", ".join(f"{key} {clock(value)}" for key, value in sorted(entry.work_split.items())),
            f"[{_STATUS_STYLE.get(entry.status, '')}]{entry.status}[/]"
            if entry.status in _STATUS_STYLE
            else entry.status,
            clock(entry.raw_seconds),
            _billed_text(entry, shares.get(entry.id)),
            GroupKey.parse(entry.billing_group).label() if entry.billing_group else "entry",
            entry.ticket or "",
            entry.engineer,
        )
    if not entries:
        console.print("no entries")
        return
    console.print(table)


def print_run_summary(console: Console, entry: Entry, share: Share | None = None) -> None:
    corrects = f" (corrects #{entry.corrects_id})" if entry.corrects_id is not None else ""
    console.print(
        f"[bold]run #{entry.id}[/]{corrects} {entry.client} {entry.playbook} @{entry.environment}: "
        f"[{_STATUS_STYLE.get(entry.status, '')}]{entry.status}[/] "
        f"in {clock(entry.raw_seconds)}, billed {hours(billed_of(entry, share))} "
        f"as {entry.work_type or 'unclassified'}"
    )
    if entry.billing_group is not None and share is not None:
        console.print(
            f"rounded per {GroupKey.parse(entry.billing_group).label()}: {share.group_entries} entries, "
            f"{clock(share.group_raw_seconds)} raw, {hours(share.group_billed_seconds)} billed in all"
        )
    if entry.host_stats:
        hosts = Table(box=None, show_header=True, header_style="bold")
        hosts.add_column("host")
        keys = ("ok", "changed", "failures", "unreachable", "skipped", "rescued", "ignored")
        for key in keys:
            hosts.add_column(key, justify="right")
        for host, stats in sorted(entry.host_stats.items()):
            hosts.add_row(host, *(str(stats.get(key, 0)) for key in keys))
        console.print(hosts)
    if entry.role_seconds:
        roles = ", ".join(f"{role} {clock(seconds)}" for role, seconds in entry.role_seconds.items())
        console.print(f"roles: {roles}")
    if entry.play_seconds:
        plays = ", ".join(f"{play['play']} {clock(play['seconds'])}" for play in entry.play_seconds)
        console.print(f"plays: {plays}")
    if entry.changed:
        console.print(f"changed: {len(entry.changed)} task result(s)")
        for item in entry.changed[:20]:
            console.print(f"  {item['host']}: {item['task']} ({item['role']})")
    if entry.failures:
        print_failures(console, entry.failures, rescued=entry.status == "succeeded")
    sites = (entry.audit_data or {}).get("sites")
    if isinstance(sites, dict) and sites:
        console.print("sites:")
        for host, host_sites in sites.items():
            for site in host_sites if isinstance(host_sites, list) else []:
                message = f" - {site['message']}" if site.get("message") else ""
                console.print(f"  {host} {site.get('name')} ({site.get('docroot')}): {site.get('status')}{message}")
    if entry.audit_data:
        console.print(f"audit data: {', '.join(sorted(entry.audit_data))}")
    if entry.artifacts_dir:
        console.print(f"artifacts: {entry.artifacts_dir}")


#: A failed run names at most this many failed task results (the artifacts hold them all).
FAILURES_SHOWN = 20


def print_failures(console: Console, failures: list[Any], rescued: bool = False) -> None:
    """Why the run failed: each failed host, task (and role) and the task's message (already redacted).
    `rescued`: the run succeeded all the same (a block's rescue handled these)."""
    if rescued:
        console.print(f"[yellow]failed, then rescued:[/] {len(failures)} task result(s)")
    else:
        console.print(f"[red]failed:[/] {len(failures)} task result(s)")
    for item in failures[:FAILURES_SHOWN]:
        role = item.get("role")
        where = f"{item.get('host')}: {item.get('task')}" + (f" ({role})" if role and role != "(playbook)" else "")
        kind = "unreachable" if item.get("unreachable") else "failed"
        console.print(f"  {where} {kind}:", markup=False, highlight=False, soft_wrap=True)
        for line in str(item.get("message") or "").splitlines() or [""]:
            console.print(f"    {line}", markup=False, highlight=False, soft_wrap=True)
    if len(failures) > FAILURES_SHOWN:
        console.print(f"  … and {len(failures) - FAILURES_SHOWN} more (see the artifacts)")

"""`runner.py sync CLIENT [--month M] [--dry-run]`: the ledger's entries with a ticket to the tracker."""

from __future__ import annotations

from typing import Annotated

import typer

from bxops.cli import app, err, opened_ledger, out
from bxops.clients import find_client
from bxops.errors import BxopsError
from bxops.periods import Month
from bxops.settings import load_settings


@app.command("sync")
def sync_command(
    client: Annotated[str, typer.Argument(help="Client: a folder under inventories/.")],
    month: Annotated[str | None, typer.Option("--month", "-m", help="Only entries of this month, YYYY-MM.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be pushed; send and write nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Push every ledger entry that has a ticket to the client's tracker as a worklog, exactly once."""
    from bxops.reports import to_json
    from bxops.trackers.base import connect
    from bxops.trackers.sync import sync

    settings = load_settings()
    contract = find_client(settings.inventories_dir, client).contract()
    terms = contract.service.tracker
    if terms is None:
        raise BxopsError(f"client {client!r} has no tracker in its contract (section 'tracker')")
    wanted = Month.parse(month) if month else None
    tracker = None if dry_run else connect(client, terms)  # a missing token: refused before the ledger opens
    try:
        with opened_ledger(settings) as ledger:
            report = sync(
                ledger, client, tracker, wanted, dry_run, progress=lambda line: err.print(line, highlight=False)
            )
    finally:
        if tracker is not None:
            tracker.http.close()
    if as_json:
        out.print_json(
            to_json(
                {
                    "client": client,
                    "tracker": terms.type.value,
                    "dry_run": dry_run,
                    "pushed": report.pushed,
                    "adopted": report.adopted,
                    "updated": report.updated,
                    "deleted": report.deleted,
                    "gone": [{"entry": e, "ticket": t, "remote_id": r} for e, t, r in report.gone],
                    "unchanged": report.unchanged,
                    "errors": report.errors,
                    "requests": tracker.http.stats.requests if tracker is not None else 0,
                }
            )
        )
    else:
        verb = "would push" if dry_run else "pushed"
        out.print(
            f"{client} → {terms.type.value}: {verb} {len(report.pushed)}, updated {len(report.updated)}, "
            f"deleted {len(report.deleted)}, adopted {len(report.adopted)}, unchanged {report.unchanged}",
            highlight=False,
        )
        for entry_id, ticket, remote_id in report.gone:
            out.print(
                f"deleted on the tracker: entry #{entry_id}'s worklog {remote_id} on {ticket} (not re-created)",
                highlight=False,
            )
        for problem in report.errors:
            err.print(f"error: {problem}", highlight=False, markup=False)
    if report.errors:
        raise typer.Exit(1)

"""What `runner.py run … --ticket KEY` does with the client's tracker: the estimate before work begins."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console

from bxops.contract import Contract
from bxops.ledger.database import Ledger
from bxops.trackers.base import connect, token_for
from bxops.trackers.http import TrackerError


def sync_run(ledger: Ledger, contract: Contract, entry_id: int, err: Console, **http: Any) -> None:
    """Push the run's entry to the ticket now (a dry run, a refused or unbilled run is not pushed)."""
    from bxops.trackers.sync import sync

    terms = contract.service.tracker
    assert terms is not None
    tracker = connect(contract.client, terms, **http)
    try:
        report = sync(ledger, contract.client, tracker, only={entry_id})
    finally:
        tracker.http.close()
    for problem in report.errors:
        err.print(f"[yellow]warning:[/] worklog not pushed: {problem} (runner.py sync {contract.client} tries again)")
    if report.pushed:
        err.print(f"worklog of run #{entry_id} pushed to the {terms.type.value} ticket", highlight=False)


def wants_estimate(contract: Contract, ticket: str | None, check: bool) -> bool:
    tracker = contract.service.tracker
    return tracker is not None and tracker.estimate_before_run and ticket is not None and not check


def check_token(contract: Contract, ticket: str | None, check: bool, environ: Mapping[str, str] | None = None) -> None:
    """Before anything is written: the token the estimate will need is there (BxopsError otherwise)."""
    if wants_estimate(contract, ticket, check) and contract.service.tracker is not None:
        token_for(contract.client, contract.service.tracker, environ)


def push_estimate(contract: Contract, ticket: str, seconds: int, err: Console, **http: Any) -> bool:
    """Put the run's estimate on the ticket (the offer: "an effort estimate before work begins"). A tracker
    that refuses is reported and the run goes on: the work itself does not depend on the tracker."""
    terms = contract.service.tracker
    assert terms is not None
    tracker = connect(contract.client, terms, **http)
    try:
        tracker.set_estimate(ticket, seconds)
    except TrackerError as error:
        err.print(f"[yellow]warning:[/] estimate not set on the ticket: {error}", highlight=False)
        return False
    finally:
        tracker.http.close()
    minutes = -(-seconds // 60)
    err.print(f"estimate {minutes} min set on {terms.type.value} ticket {ticket}", highlight=False)
    return True

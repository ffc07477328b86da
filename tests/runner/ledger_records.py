"""Ledger records the runner's tests write directly (no runner process): imported by the tests and by
ledger_writer.py, which runs as a script of its own (so this module imports nothing from the tests)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bxops.ledger.entries import RunOutcome
from bxops.ledger.models import EntryStatus


def run_outcome(
    ended_at: datetime,
    raw_seconds: int,
    billed_seconds: int,
    work_type: str,
    *,
    status: EntryStatus = EntryStatus.SUCCEEDED,
    contract_term: str = "2026-01-01",
    **more: Any,
) -> RunOutcome:
    """A run that finished on host `h` with return code 0 and nothing more to say (no stats, no changes)."""
    return RunOutcome(
        status=status,
        ended_at=ended_at,
        raw_seconds=raw_seconds,
        billed_seconds=billed_seconds,
        contract_term=contract_term,
        return_code=0,
        work_type=work_type,
        hosts=["h"],
        host_stats={},
        play_seconds=[],
        role_seconds={},
        changed=[],
        audit_data={},
        **more,
    )

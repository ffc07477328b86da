"""Run ids and the ledger's clock: no database needed, so `run` can name a run before the ledger opens."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_run_id(moment: datetime | None = None) -> str:
    moment = moment or utcnow()
    return f"{moment:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def elapsed_seconds(start: datetime, end: datetime) -> int:
    return max(0, round((end - start).total_seconds()))

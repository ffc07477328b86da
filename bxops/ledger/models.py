"""ORM model of the ledger. Entries are only ever added; a correction is a new entry pointing at the old."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class EntryKind(StrEnum):
    RUN = "run"
    MANUAL = "manual"
    ADJUSTMENT = "adjustment"


class EntryStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    REFUSED = "refused"  # a pre-change check (preflight, assert) stopped the run: nothing was changed
    RECORDED = "recorded"  # manual entries and adjustments
    DRY_RUN = "dry_run"  # `run … --check`: Ansible's check mode ran to its end, nothing was changed


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the ledger")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Entry(Base):
    __tablename__ = "entries"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    client: Mapped[str] = mapped_column(String(128))
    environment: Mapped[str | None] = mapped_column(String(16))
    playbook: Mapped[str | None] = mapped_column(String(255))
    hosts: Mapped[list[str]] = mapped_column(JSON, default=list)
    engineer: Mapped[str] = mapped_column(String(128))
    ticket: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    work_type: Mapped[str | None] = mapped_column(String(64))
    month: Mapped[int] = mapped_column(Integer)  # yyyymm (UTC) the entry counts in
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_interval: Mapped[float | None]
    raw_seconds: Mapped[int] = mapped_column(Integer, default=0)
    #: The billed figure of an entry billed on its own; None while running and for an entry billed in a
    #: rounding group (`billing_group`), whose share is computed from the group (bxops.rounding.allocate).
    billed_seconds: Mapped[int | None] = mapped_column(Integer)
    #: The rounding group and policy (`scope:period:what|mode/increment/minimum`); None: billed on its own.
    billing_group: Mapped[str | None] = mapped_column(String(255))
    contract_term: Mapped[str | None] = mapped_column(String(10))  # effective_from of the billing term
    return_code: Mapped[int | None] = mapped_column(Integer)
    host_stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    play_seconds: Mapped[list[Any]] = mapped_column(JSON, default=list)
    role_seconds: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: A run's raw seconds per work type by the time of its roles (bxops.worksplit); None: one work type.
    work_split: Mapped[dict[str, int] | None] = mapped_column(JSON(none_as_null=True), default=None)
    #: How many work types `work_split` has (None: no split): a plain column the indexes can carry, so that
    #: the balance still reads its covering index alone.
    split_parts: Mapped[int | None] = mapped_column(Integer, default=None)
    changed: Mapped[list[Any]] = mapped_column(JSON, default=list)
    audit_data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    artifacts_dir: Mapped[str | None] = mapped_column(Text)
    estimate_seconds: Mapped[int | None] = mapped_column(Integer)
    overage_override: Mapped[bool] = mapped_column(Boolean, default=False)
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("entries.id"))
    runner_host: Mapped[str | None] = mapped_column(String(255))
    runner_pid: Mapped[int | None] = mapped_column(Integer)
    runner_start: Mapped[str | None] = mapped_column(String(64))  # "<boot id> <start ticks>" of runner_pid
    failures: Mapped[list[Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        # covers the balance query: it reads the index only
        Index(
            "ix_entries_balance",
            "client",
            "month",
            "work_type",
            "status",
            "billing_group",
            "raw_seconds",
            "billed_seconds",
            "split_parts",
        ),
        # a month's entries newest first (the balance page, `history --month`): read in index order
        Index("ix_entries_listing", "client", "month", "started_at", "id"),
        Index("ix_entries_billing_group", "client", "billing_group"),
        Index("ix_entries_split", "client", "split_parts"),
        Index("ix_entries_client_playbook", "client", "playbook", "status"),
        Index("ix_entries_status", "status"),
        Index("ix_entries_corrects_id", "corrects_id", unique=True),
        # a client's corrections only (few): whether, and which, of its entries were replaced
        Index(
            "ix_entries_corrections",
            "client",
            "corrects_id",
            sqlite_where=text("corrects_id IS NOT NULL"),
            postgresql_where=text("corrects_id IS NOT NULL"),
        ),
    )


class Incident(Base):
    """A ticket under the SLA: opened manually (`incident open`) or pulled from the client's tracker.

    `history` lists the status changes in order, `[{"at": ISO-8601 UTC, "status": our status}, …]`
    (bxops.sla.terms.OurStatus), from which the clocks' pauses are drawn.
    """

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    client: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(16))  # manual, jira, jira_cloud, youtrack, bitrix24
    ticket: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(32))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    history: Mapped[list[Any]] = mapped_column(JSON, default=list)
    engineer: Mapped[str | None] = mapped_column(String(128))
    #: the Alertmanager alert that opened it (its fingerprint): a repeated notification opens nothing new
    alert_fingerprint: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_incidents_client_opened", "client", "opened_at"),
        Index("ix_incidents_ticket", "client", "source", "ticket", unique=True),
        Index("ix_incidents_alert", "client", "alert_fingerprint"),
    )


class Worklog(Base):
    """A ledger entry pushed to the client's tracker as a worklog: one row per entry, written before the
    push (`pending`) and completed with the remote id after it, so that a sync killed in between finds
    the row and looks the worklog up on the tracker (by the entry's marker) instead of adding another."""

    __tablename__ = "worklogs"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id"), unique=True)
    client: Mapped[str] = mapped_column(String(128))
    tracker: Mapped[str] = mapped_column(String(16))
    ticket: Mapped[str] = mapped_column(String(64))
    remote_id: Mapped[str | None] = mapped_column(String(64))
    #: pending (push started), pushed, deleted (the entry was corrected away: removed on the tracker),
    #: gone (deleted on the tracker side: reported, never re-created)
    state: Mapped[str] = mapped_column(String(16))
    seconds: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    comment: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_worklogs_client_state", "client", "state"),)

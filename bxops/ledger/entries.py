"""Writing and reading ledger entries. Every write is one short transaction; nothing is deleted."""

from __future__ import annotations

import os
import socket
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, select, text, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, defer

from bxops.errors import BxopsError
from bxops.ledger.database import Ledger
from bxops.ledger.ids import elapsed_seconds as elapsed_seconds
from bxops.ledger.ids import new_run_id as new_run_id
from bxops.ledger.ids import utcnow as utcnow  # these three lived here: re-exported
from bxops.ledger.models import Entry, EntryKind, EntryStatus
from bxops.liveness import is_alive, is_same_process_alive, process_start
from bxops.periods import Month
from bxops.pool import Usage
from bxops.rounding import GroupKey, Member, Share, allocate
from bxops.worksplit import share_out, split_figures

#: A finished run older than this many missed heartbeats is taken for dead, wherever it ran.
STALE_HEARTBEATS = 3
STALE_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class Billed:
    """How an entry is billed: on its own (`billed_seconds`, no group) or as a share of a rounding group
    (`group`, `billed_seconds` None: computed from the group), under the contract term of `contract_term`."""

    billed_seconds: int | None
    group: str | None
    contract_term: str | None


#: Bills an entry that ended with this many raw seconds (None: no contract to bill it under).
Biller = Callable[[Entry, int], Billed | None]
#: First key of the per-client advisory lock on PostgreSQL (the second is the client's CRC-32).
_PG_CLIENT_LOCK = 0x62786F70  # "bxop"


@dataclass
class NewRun:
    client: str
    environment: str
    playbook: str
    engineer: str
    ticket: str | None
    note: str | None
    work_type: str | None
    options: dict[str, Any]
    artifacts_dir: str
    estimate_seconds: int | None
    overage_override: bool
    heartbeat_interval: float
    run_id: str = field(default_factory=new_run_id)
    started_at: datetime = field(default_factory=utcnow)
    #: The month it counts in, in the client's time zone (Contract.month_of); None: the UTC month.
    month: Month | None = None


@dataclass
class RunOutcome:
    status: EntryStatus
    ended_at: datetime
    raw_seconds: int
    billed_seconds: int | None
    contract_term: str | None
    return_code: int | None
    work_type: str | None
    hosts: list[str]
    host_stats: dict[str, Any]
    play_seconds: list[Any]
    role_seconds: dict[str, Any]
    changed: list[Any]
    audit_data: dict[str, Any]
    options: dict[str, Any] | None = None
    failures: list[Any] | None = None
    billing_group: str | None = None
    #: raw seconds per work type by the time of its roles (bxops.worksplit.role_split); None: one type
    work_split: dict[str, int] | None = None


def lock_client(session: Session, client: str) -> None:
    """Serialise, until the end of `session`'s transaction, the writers that must see each other's
    work for a client (the overage check and the insert of a run). SQLite: every transaction begins
    IMMEDIATE (see database.py), which already holds the database's one write lock from its first
    statement; PostgreSQL: a transaction-scoped advisory lock on the client."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        key = zlib.crc32(client.encode("utf-8"))
        session.execute(
            text("SELECT pg_advisory_xact_lock(:space, :key)"),
            {"space": _PG_CLIENT_LOCK, "key": key - (1 << 32) if key >= 1 << 31 else key},
        )
    else:
        session.execute(select(1))  # starts the IMMEDIATE transaction: the write lock is ours from here


def start_run(ledger: Ledger, run: NewRun, check: Callable[[Session], None] | None = None) -> Entry:
    """Write the run as `running` before Ansible runs anything.

    `check(session)` runs first in the same transaction, under the client's lock (see lock_client): what
    it reads (the balance, the runs in progress) cannot change before the entry is written, so two runs
    started together cannot both pass a check that only one of them fits. It raises to refuse the run.

    The first heartbeat is now, not the run's start: Ansible may have been started (held before its
    first task) while the ledger was being opened, and the runner is alive now.
    """
    pid = os.getpid()
    with ledger.transaction() as session:
        lock_client(session, run.client)
        if check is not None:
            check(session)  # may complete `run` (its estimate) from what it read
        now = utcnow()
        entry = _new_run_entry(run, now, pid)
        session.add(entry)
    return entry


def _new_run_entry(run: NewRun, now: datetime, pid: int) -> Entry:
    return Entry(
        run_id=run.run_id,
        kind=EntryKind.RUN.value,
        status=EntryStatus.RUNNING.value,
        client=run.client,
        environment=run.environment,
        playbook=run.playbook,
        hosts=[],
        engineer=run.engineer,
        ticket=run.ticket,
        note=run.note,
        work_type=run.work_type,
        month=(run.month or Month.of(run.started_at)).key,
        started_at=run.started_at,
        heartbeat_at=max(run.started_at, now),
        heartbeat_interval=run.heartbeat_interval,
        raw_seconds=0,
        host_stats={},
        play_seconds=[],
        role_seconds={},
        changed=[],
        audit_data={},
        options=run.options,
        artifacts_dir=run.artifacts_dir,
        estimate_seconds=run.estimate_seconds,
        overage_override=run.overage_override,
        runner_host=socket.gethostname(),
        runner_pid=pid,
        runner_start=process_start(pid),
        created_at=now,
    )


def reserved_seconds(session: Session, client: str, month: Month) -> tuple[int, int]:
    """Estimated billed seconds of the client's runs still in progress in a month, and how many."""
    row = session.execute(
        select(func.coalesce(func.sum(Entry.estimate_seconds), 0), func.count()).where(
            Entry.client == client, Entry.month == month.key, Entry.status == EntryStatus.RUNNING.value
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


def beat(
    ledger: Ledger, entry_id: int, moment: datetime | None = None, work_type: tuple[str | None, str] | None = None
) -> None:
    """The run is alive; `work_type`: (work type, source) as decided from what ran so far, kept should the
    run be killed."""
    values: dict[str, Any] = {"heartbeat_at": moment or utcnow()}
    if work_type is not None and work_type[0] is not None:
        values["work_type"] = work_type[0]
    with ledger.transaction() as session:
        session.execute(
            update(Entry).where(Entry.id == entry_id, Entry.status == EntryStatus.RUNNING.value).values(**values)
        )


def finish_run(ledger: Ledger, entry_id: int, outcome: RunOutcome) -> bool:
    """Close a running entry; False when another process already closed it (as interrupted)."""
    with ledger.transaction() as session:
        result = session.execute(
            update(Entry)
            .where(Entry.id == entry_id, Entry.status == EntryStatus.RUNNING.value)
            .values(
                status=outcome.status.value,
                ended_at=outcome.ended_at,
                heartbeat_at=outcome.ended_at,
                raw_seconds=outcome.raw_seconds,
                billed_seconds=outcome.billed_seconds,
                billing_group=outcome.billing_group,
                contract_term=outcome.contract_term,
                return_code=outcome.return_code,
                work_type=outcome.work_type,
                hosts=outcome.hosts,
                host_stats=outcome.host_stats,
                play_seconds=outcome.play_seconds,
                role_seconds=outcome.role_seconds,
                work_split=outcome.work_split,
                split_parts=len(outcome.work_split) if outcome.work_split else None,
                changed=outcome.changed,
                audit_data=outcome.audit_data,
                failures=outcome.failures,
                **({"options": outcome.options} if outcome.options is not None else {}),
            )
        )
        return bool(getattr(result, "rowcount", 0))


def record_late_outcome(ledger: Ledger, entry_id: int, outcome: RunOutcome, reason: str) -> Entry:
    """A run that another process closed (as interrupted) while it was in fact still running, now ended:
    its real outcome becomes a correction of that entry (of the newest correction of it, if someone
    corrected it meanwhile), so that every sum counts the real outcome once and the interrupted guess
    not at all. The interrupted entry stays as it was."""
    now = utcnow()
    for _attempt in range(3):
        try:
            with ledger.transaction() as session:
                latest = session.get(Entry, entry_id)
                if latest is None:
                    raise BxopsError(f"no ledger entry #{entry_id}")
                while True:
                    later = session.scalar(select(Entry).where(Entry.corrects_id == latest.id))
                    if later is None:
                        break
                    latest = later
                entry = Entry(
                    **{
                        column: getattr(latest, column)
                        for column in Entry.__table__.columns.keys()  # noqa: SIM118 - ColumnCollection
                        if column not in ("id", "run_id", "created_at", "corrects_id", "reason")
                    },
                )
                entry.run_id = new_run_id(now)
                entry.created_at = now
                entry.corrects_id = latest.id
                entry.reason = reason
                entry.status = outcome.status.value
                entry.ended_at = outcome.ended_at
                entry.heartbeat_at = outcome.ended_at
                entry.raw_seconds = outcome.raw_seconds
                entry.billed_seconds = outcome.billed_seconds
                entry.billing_group = outcome.billing_group
                entry.contract_term = outcome.contract_term
                entry.return_code = outcome.return_code
                entry.work_type = outcome.work_type
                entry.hosts = outcome.hosts
                entry.host_stats = outcome.host_stats
                entry.play_seconds = outcome.play_seconds
                entry.role_seconds = outcome.role_seconds
                entry.work_split = outcome.work_split
                entry.split_parts = len(outcome.work_split) if outcome.work_split else None
                entry.changed = outcome.changed
                entry.audit_data = outcome.audit_data
                entry.failures = outcome.failures
                if outcome.options is not None:
                    entry.options = outcome.options
                session.add(entry)
            return entry
        except IntegrityError:
            continue  # someone corrected the same entry at this moment: correct theirs
    raise BxopsError(f"entry #{entry_id} keeps being corrected by someone else; record the outcome by hand")


def _is_dead(entry: Entry, now: datetime) -> bool:
    """On the runner's own machine a run lives exactly as long as its runner process (pid and start
    time): a paused runner (SIGSTOP, a suspended laptop) is alive whatever its heartbeat says. A run
    from another machine, where no process can be looked at, is dead once its heartbeat is stale."""
    if entry.runner_host == socket.gethostname() and entry.runner_pid is not None:
        if entry.runner_start:
            return not is_same_process_alive(entry.runner_pid, entry.runner_start)
        if entry.runner_pid == os.getpid():
            return False
        if not is_alive(entry.runner_pid):
            return True
    last = entry.heartbeat_at or entry.started_at
    interval = entry.heartbeat_interval or 5.0
    return (now - last).total_seconds() > STALE_HEARTBEATS * interval + STALE_GRACE_SECONDS


def recover_interrupted(ledger: Ledger, bill: Biller) -> list[Entry]:
    """Mark runs whose runner died as `interrupted`, timed up to their last heartbeat."""
    now = utcnow()
    with ledger.sessions() as session:
        running = list(session.scalars(select(Entry).where(Entry.status == EntryStatus.RUNNING.value)))
    recovered: list[Entry] = []
    for entry in running:
        if not _is_dead(entry, now):
            continue
        ended = entry.heartbeat_at or entry.started_at
        raw = elapsed_seconds(entry.started_at, ended)
        billing = bill(entry, raw)
        billed, group, term = (
            (billing.billed_seconds, billing.group, billing.contract_term) if billing is not None else (raw, None, None)
        )
        with ledger.transaction() as session:
            result = session.execute(
                update(Entry)
                .where(Entry.id == entry.id, Entry.status == EntryStatus.RUNNING.value)
                .values(
                    status=EntryStatus.INTERRUPTED.value,
                    ended_at=ended,
                    raw_seconds=raw,
                    billed_seconds=billed,
                    billing_group=group,
                    contract_term=term,
                )
            )
        if getattr(result, "rowcount", 0):
            entry.status, entry.ended_at, entry.raw_seconds, entry.billed_seconds, entry.billing_group = (
                EntryStatus.INTERRUPTED.value,
                ended,
                raw,
                billed,
                group,
            )
            recovered.append(entry)
    return recovered


@dataclass
class ManualWork:
    client: str
    engineer: str
    work_type: str | None
    started_at: datetime
    raw_seconds: int
    billed_seconds: int | None
    contract_term: str | None
    ticket: str | None = None
    note: str | None = None
    environment: str | None = None
    reason: str | None = None
    kind: EntryKind = EntryKind.MANUAL
    hosts: list[str] = field(default_factory=list)
    billing_group: str | None = None
    #: The month it counts in, in the client's time zone (Contract.month_of); None: the UTC month.
    month: Month | None = None


def add_manual(ledger: Ledger, work: ManualWork) -> Entry:
    """A manual entry (work no playbook did) or, with kind ADJUSTMENT, a signed adjustment."""
    now = utcnow()
    entry = Entry(
        run_id=new_run_id(now),
        kind=work.kind.value,
        status=EntryStatus.RECORDED.value,
        client=work.client,
        environment=work.environment,
        playbook=None,
        hosts=work.hosts,
        engineer=work.engineer,
        ticket=work.ticket,
        note=work.note,
        reason=work.reason,
        work_type=work.work_type,
        month=(work.month or Month.of(work.started_at)).key,
        started_at=work.started_at,
        ended_at=work.started_at + timedelta(seconds=max(0, work.raw_seconds)),
        raw_seconds=work.raw_seconds,
        billed_seconds=work.billed_seconds,
        billing_group=work.billing_group,
        contract_term=work.contract_term,
        host_stats={},
        play_seconds=[],
        role_seconds={},
        changed=[],
        audit_data={},
        options={},
        overage_override=False,
        created_at=now,
    )
    with ledger.transaction() as session:
        session.add(entry)
    return entry


def get_entry(ledger: Ledger, entry_id: int) -> Entry:
    with ledger.sessions() as session:
        entry = session.get(Entry, entry_id)
    if entry is None:
        raise BxopsError(f"no ledger entry #{entry_id}")
    return entry


@dataclass
class Correction:
    reason: str
    engineer: str
    work_type: str | None = None
    ticket: str | None = None
    note: str | None = None
    raw_seconds: int | None = None
    billed_seconds: int | None = None
    #: How the correction is billed anew (its own figure, or its group): wins over `billed_seconds`.
    billing: Billed | None = None


def add_correction(ledger: Ledger, original_id: int, correction: Correction) -> Entry:
    """A new entry that replaces `original_id` in every sum; the original stays as it was."""
    now = utcnow()
    try:
        with ledger.transaction() as session:
            original = session.get(Entry, original_id)
            if original is None:
                raise BxopsError(f"no ledger entry #{original_id}")
            if original.status == EntryStatus.RUNNING.value:
                raise BxopsError(f"entry #{original_id} is still running; correct it once it has ended")
            later = session.scalar(select(Entry.id).where(Entry.corrects_id == original_id))
            if later is not None:
                raise BxopsError(f"entry #{original_id} was already corrected by #{later}; correct #{later}")
            raw = original.raw_seconds if correction.raw_seconds is None else correction.raw_seconds
            entry = Entry(
                **{
                    column: getattr(original, column)
                    for column in Entry.__table__.columns.keys()  # noqa: SIM118 - ColumnCollection
                    if column not in ("id", "run_id", "created_at", "corrects_id", "reason", "engineer")
                },
            )
            entry.run_id = new_run_id(now)
            entry.created_at = now
            entry.corrects_id = original.id
            entry.reason = correction.reason
            entry.engineer = correction.engineer
            entry.raw_seconds = raw
            if correction.billing is not None:
                entry.billed_seconds = correction.billing.billed_seconds
                entry.billing_group = correction.billing.group
            elif correction.billed_seconds is not None:
                entry.billed_seconds = correction.billed_seconds
                entry.billing_group = None  # a figure given by hand is billed as given
            if correction.work_type is not None:
                entry.work_type = correction.work_type
                entry.work_split = None  # a work type given by hand: the whole entry is of that type
                entry.split_parts = None
            elif entry.work_split and correction.raw_seconds is not None:
                entry.work_split = share_out(raw, entry.work_split) or None
                entry.split_parts = len(entry.work_split) if entry.work_split else None
            if correction.ticket is not None:
                entry.ticket = correction.ticket
            if correction.note is not None:
                entry.note = correction.note
            if correction.raw_seconds is not None and original.ended_at is not None:
                entry.ended_at = original.started_at + timedelta(seconds=max(0, raw))
            session.add(entry)
    except IntegrityError:
        raise BxopsError(f"entry #{original_id} was corrected at the same moment by someone else") from None
    return entry


def _not_corrected() -> ColumnElement[bool]:
    later = aliased(Entry)
    return ~exists().where(later.corrects_id == Entry.id)


def _corrections(client: str) -> Select[Any]:
    """The ids a client's corrections replaced: read from ix_entries_corrections (the corrections only)."""
    later = aliased(Entry)
    return select(later.corrects_id).where(later.client == client, later.corrects_id.is_not(None))


def _corrected(client: str) -> ColumnElement[bool]:
    """The entry (of `client`: a correction keeps its entry's client) was replaced by a correction. Read
    from the corrections' side: a join from the entries' side probes, or hashes, every entry of the client
    on every balance."""
    return Entry.id.in_(_corrections(client))


@dataclass(frozen=True)
class _Part:
    """A member of a rounding group: an entry, or one work type's part of a split entry (bxops.worksplit),
    which belongs to the group of its work type (day, month scopes) or to the entry's ticket group."""

    entry_id: int
    month: int
    work_type: str | None
    status: str
    key: str
    started_at: datetime
    raw_seconds: int
    order: int


def _split_parts(row: Any) -> list[_Part]:
    """The parts of a grouped entry: itself, or one per work type of its split (raw shared out exactly)."""
    raw = int(row.raw_seconds or 0)
    if not row.work_split:
        return [
            _Part(
                int(row.id),
                int(row.month),
                row.work_type,
                row.status,
                row.billing_group,
                row.started_at,
                raw,
                int(row.id) * 64,
            )
        ]
    group = GroupKey.parse(row.billing_group)
    raws = share_out(raw, row.work_split) if sum(row.work_split.values()) != raw else dict(row.work_split)
    parts = []
    for index, work_type in enumerate(sorted(row.work_split)):
        moved = group.moved(work_type, row.ticket)
        key = str(moved) if moved is not None else row.billing_group
        parts.append(
            _Part(
                int(row.id),
                int(row.month),
                work_type,
                row.status,
                key,
                row.started_at,
                raws.get(work_type, 0),
                int(row.id) * 64 + index,
            )
        )
    return parts


def _group_members(session: Session, client: str, keys: Sequence[str]) -> list[_Part]:
    """The members in force (finished, not replaced by a correction) of the client's rounding groups `keys`:
    their entries, and the parts of split entries that fall in them."""
    columns = (
        Entry.id,
        Entry.month,
        Entry.work_type,
        Entry.status,
        Entry.billing_group,
        Entry.started_at,
        Entry.raw_seconds,
        Entry.work_split,
        Entry.ticket,
    )
    base = (
        Entry.client == client,
        Entry.billing_group.is_not(None),
        Entry.status != EntryStatus.RUNNING.value,
        _not_corrected(),
    )
    wanted = set(keys)
    members: list[_Part] = []
    plain = select(*columns).where(*base, Entry.split_parts.is_(None), Entry.billing_group.in_(sorted(wanted)))
    for row in session.execute(plain):
        members.extend(_split_parts(row))
    for row in session.execute(select(*columns).where(*base, Entry.split_parts.is_not(None))):
        members.extend(part for part in _split_parts(row) if part.key in wanted)
    return members


def _allocate_parts(members: Iterable[_Part]) -> dict[tuple[int, str | None], Share]:
    """Each member's share of its group (bxops.rounding.allocate): THE way a grouped figure is computed."""
    groups: dict[str, list[Member]] = {}
    for part in members:
        groups.setdefault(part.key, []).append(
            Member((part.entry_id, part.work_type), part.started_at, part.order, part.raw_seconds)
        )
    shares: dict[tuple[int, str | None], Share] = {}
    for key, group in groups.items():
        for member_id, share in allocate(GroupKey.parse(key), group).items():
            shares[member_id] = share  # type: ignore[index]
    return shares


def _allocate_rows(members: Sequence[_Part]) -> dict[int, Share]:
    """Each entry's share of its group; a split entry's is the sum of its parts' shares (with the group
    figures of its first part's group)."""
    shares: dict[int, Share] = {}
    for (entry_id, _work_type), share in _allocate_parts(members).items():
        if entry_id in shares:
            share = replace(shares[entry_id], billed_seconds=shares[entry_id].billed_seconds + share.billed_seconds)
        shares[entry_id] = share
    return shares


def monthly_usage(
    ledger: Ledger, client: str, through: Month, session: Session | None = None
) -> dict[Month, dict[str | None, Usage]]:
    """Raw and billed seconds per month and work type, of the entries in force (corrections applied);
    dry runs apart.

    Entries billed on their own are summed from the covering index alone (every finished entry, minus the
    few that a later correction replaced); entries billed in a rounding group get their share of it.
    """

    def summed(in_groups: bool, replaced: bool) -> Any:
        """Sums per month, work type and status (and rounding group, `in_groups`) of the client's finished
        entries not split across work types (those are added part by part below): of those billed on their
        own (raw, billed, count) or in a group (raw, count); `replaced`: only the entries a correction
        replaced. In the order of ix_entries_balance after client: its index-only scan comes grouped."""
        keys = (Entry.month, Entry.work_type, Entry.status, *((Entry.billing_group,) if in_groups else ()))
        figures: tuple[Any, ...] = (func.coalesce(func.sum(Entry.raw_seconds), 0),)
        if not in_groups:
            figures += (func.coalesce(func.sum(Entry.billed_seconds), 0),)
        statement = select(*keys, *figures, func.count()).where(
            Entry.client == client,
            Entry.month <= through.key,
            Entry.status != EntryStatus.RUNNING.value,
            Entry.billing_group.is_not(None) if in_groups else Entry.billing_group.is_(None),
            Entry.split_parts.is_(None),
        )
        if replaced:
            statement = statement.where(_corrected(client))
        return statement.group_by(*keys)

    # per (month, work type): raw, billed, entries, then the same of dry runs
    totals: dict[tuple[int, str | None], list[int]] = {}

    def add(month_key: int, work_type: str | None, status: str, raw: int, billed: int, count: int) -> None:
        item = totals.setdefault((month_key, work_type), [0, 0, 0, 0, 0, 0])
        base = 3 if status == EntryStatus.DRY_RUN.value else 0
        item[base] += raw
        item[base + 1] += billed
        item[base + 2] += count

    def add_up(session: Session) -> None:
        # every finished entry counts (+1), then those a correction replaced are taken out again (-1):
        # a second pass only when the client has any correction at all
        any_corrected = session.scalar(_corrections(client).limit(1))
        passes = ((1, False), (-1, True)) if any_corrected is not None else ((1, False),)
        for sign, join in passes:
            for month_key, work_type, status, raw, billed, count in session.execute(summed(False, join)):
                add(int(month_key), work_type, status, sign * int(raw or 0), sign * int(billed or 0), sign * int(count))
        # rounding groups: (month, work type, dry run?) → [raw, entries] of the entries in force, per group
        parts: dict[str, dict[tuple[int, str | None, bool], list[int]]] = {}
        for sign, join in passes:
            for month_key, work_type, status, key, raw, count in session.execute(summed(True, join)):
                dry = status == EntryStatus.DRY_RUN.value
                part = parts.setdefault(key, {}).setdefault((int(month_key), work_type, dry), [0, 0])
                part[0] += sign * int(raw or 0)
                part[1] += sign * int(count)
        # entries split across work types (bxops.worksplit): billed on their own (their figure shared out
        # by the raw parts), or each part a member of its work type's group (of the ticket's group)
        split_groups: set[str] = set()
        for row in session.execute(
            select(
                Entry.id,
                Entry.month,
                Entry.work_type,
                Entry.status,
                Entry.started_at,
                Entry.raw_seconds,
                Entry.billed_seconds,
                Entry.billing_group,
                Entry.work_split,
                Entry.ticket,
            ).where(
                # (client, split_parts) picks ix_entries_split: the few split runs, not the client's months
                Entry.client == client,
                Entry.split_parts.is_not(None),
                Entry.status != EntryStatus.RUNNING.value,
                _not_corrected(),
            )
        ):
            if int(row.month) > through.key:
                continue
            if row.billing_group is not None:
                split_groups.update(part.key for part in _split_parts(row))
                continue
            figures = split_figures(
                row.work_type, row.work_split, int(row.raw_seconds or 0), int(row.billed_seconds or 0)
            )
            for work_type, (raw, billed) in figures.items():
                add(int(row.month), work_type, row.status, raw, billed, 1)
        mixed: list[str] = sorted(split_groups - set(parts))
        for key, by_part in parts.items():
            present = {part: figures for part, figures in by_part.items() if figures[1] > 0}
            if len(present) > 1 or key in split_groups:
                # a ticket's group over several work types, a group with parts of split entries: each
                # member's share counts
                mixed.append(key)
                continue
            for (month_key, work_type, dry), (raw, count) in present.items():
                # the group's total, which is what its entries' shares sum to (bxops.rounding.allocate)
                total = GroupKey.parse(key).policy.group_total(raw, count)
                add(month_key, work_type, EntryStatus.DRY_RUN.value if dry else "", raw, total, count)
        if mixed:
            members = _group_members(session, client, mixed)
            shares = _allocate_parts(members)
            for member in members:
                billed = shares[(member.entry_id, member.work_type)].billed_seconds
                add(member.month, member.work_type, member.status, member.raw_seconds, billed, 1)

    if session is not None:
        add_up(session)
    else:
        with ledger.sessions() as own:
            add_up(own)
    usage: dict[Month, dict[str | None, Usage]] = {}
    for (month_key, work_type), (raw, billed, count, dry_raw, dry_billed, dry) in totals.items():
        if count or dry:
            usage.setdefault(Month.from_key(month_key), {})[work_type] = Usage(
                raw, billed, count, dry_runs=dry, dry_run_raw_seconds=dry_raw, dry_run_billed_seconds=dry_billed
            )
    return usage


def billing_shares(
    ledger: Ledger, client: str, entries: Iterable[Entry], session: Session | None = None
) -> dict[int, Share]:
    """The share of each grouped entry among `entries` (all of one client), from its whole group: the same
    figures the balance counts. Entries billed on their own, and replaced ones, have none."""
    keys = sorted({part.key for entry in entries if entry.billing_group is not None for part in _split_parts(entry)})
    if not keys:
        return {}

    def read(session: Session) -> dict[int, Share]:
        return _allocate_rows(_group_members(session, client, keys))

    if session is not None:
        return read(session)
    with ledger.sessions() as own:
        return read(own)


def all_billing_shares(ledger: Ledger, entries: Sequence[Entry]) -> dict[int, Share]:
    """billing_shares for entries of any clients."""
    shares: dict[int, Share] = {}
    with ledger.sessions() as session:
        for client in sorted({entry.client for entry in entries if entry.billing_group is not None}):
            shares.update(billing_shares(ledger, client, [e for e in entries if e.client == client], session))
    return shares


def group_state(session: Session, client: str, key: str) -> tuple[int, int]:
    """Raw seconds and number of the members in force of a rounding group (for an estimate): its entries
    and the parts of split entries that fall in it."""
    members = _group_members(session, client, [key])
    return sum(member.raw_seconds for member in members), len(members)


def running_entries(ledger: Ledger, client: str) -> list[Entry]:
    with ledger.sessions() as session:
        return list(
            session.scalars(select(Entry).where(Entry.client == client, Entry.status == EntryStatus.RUNNING.value))
        )


@dataclass
class HistoryFilter:
    client: str | None = None
    month: Month | None = None
    since: datetime | None = None
    until: datetime | None = None
    work_type: str | None = None
    statuses: Sequence[str] = ()
    kinds: Sequence[str] = ()
    playbook: str | None = None
    environment: str | None = None
    ticket: str | None = None
    engineer: str | None = None
    include_corrected: bool = False
    limit: int | None = None
    #: Leave the bulky JSON columns (audit data, host stats, plays, roles, changes, options, failures)
    #: unread: for listings that show what, when, how long. Reading one of them afterwards raises.
    brief: bool = False


#: What a brief history (HistoryFilter.brief) leaves unread.
_BULKY = (
    Entry.host_stats,
    Entry.play_seconds,
    Entry.role_seconds,
    Entry.changed,
    Entry.audit_data,
    Entry.options,
    Entry.failures,
)


def history(ledger: Ledger, wanted: HistoryFilter) -> list[Entry]:
    conditions: list[ColumnElement[bool]] = []
    pairs: Iterable[tuple[Any, Any]] = (
        (Entry.client, wanted.client),
        (Entry.work_type, wanted.work_type),
        (Entry.playbook, wanted.playbook),
        (Entry.environment, wanted.environment),
        (Entry.ticket, wanted.ticket),
        (Entry.engineer, wanted.engineer),
    )
    for column, value in pairs:
        if value is not None:
            conditions.append(column == value)
    if wanted.month is not None:
        conditions.append(Entry.month == wanted.month.key)
    if wanted.since is not None:
        conditions.append(Entry.started_at >= wanted.since)
    if wanted.until is not None:
        conditions.append(Entry.started_at < wanted.until)
    if wanted.statuses:
        conditions.append(Entry.status.in_(list(wanted.statuses)))
    if wanted.kinds:
        conditions.append(Entry.kind.in_(list(wanted.kinds)))
    if not wanted.include_corrected:
        conditions.append(_not_corrected())
    # with client and month given, ix_entries_listing serves this order: a limit reads only that many
    statement = select(Entry).where(and_(*conditions)).order_by(Entry.started_at.desc(), Entry.id.desc())
    if wanted.limit is not None:
        statement = statement.limit(wanted.limit)
    if wanted.brief:
        statement = statement.options(*(defer(column, raiseload=True) for column in _BULKY))
    with ledger.sessions() as session:
        return list(session.scalars(statement))


def earlier_run_seconds(
    ledger: Ledger,
    client: str,
    playbook: str,
    environment: str,
    limit: int = 10,
    session: Session | None = None,
) -> list[int]:
    """Raw seconds of the latest finished runs of a playbook: this client first, then any client."""
    finished = [EntryStatus.SUCCEEDED.value, EntryStatus.FAILED.value]
    base = select(Entry.raw_seconds).where(
        Entry.kind == EntryKind.RUN.value, Entry.playbook == playbook, Entry.status.in_(finished)
    )

    def latest(session: Session) -> list[int]:
        for condition in (
            and_(Entry.client == client, Entry.environment == environment),
            Entry.client == client,
            true(),
        ):
            rows = list(session.scalars(base.where(condition).order_by(Entry.started_at.desc()).limit(limit)))
            if rows:
                return [int(r or 0) for r in rows]
        return []

    if session is not None:
        return latest(session)
    with ledger.sessions() as own:
        return latest(own)

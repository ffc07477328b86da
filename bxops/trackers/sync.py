"""`runner.py sync`: every ledger entry that has a ticket becomes one worklog on the client's tracker.

Exactly once: a `worklogs` row is written (`pending`) and committed before the push, and completed
with the remote id after it. A sync killed in between leaves `pending` rows; the next sync looks for
the entry's marker (`[bxops #<entry id>]`, in every worklog's comment) among the ticket's worklogs and
adopts the one it finds instead of adding another. A corrected entry updates its worklog (same ticket)
or deletes it (ticket changed or removed; the correction is then pushed as a new one). A worklog deleted
on the tracker is reported and marked `gone`, never re-created. The time pushed is the entry's raw time
(what was spent), at least one minute.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import select

from bxops.durations import clock
from bxops.ledger.database import Ledger
from bxops.ledger.entries import HistoryFilter, history
from bxops.ledger.ids import utcnow
from bxops.ledger.models import Entry, EntryKind, EntryStatus, Worklog
from bxops.periods import Month
from bxops.trackers.base import NewWorklog, Tracker, add_many
from bxops.trackers.http import NotFound, TrackerError

PUSHED_STATUSES = (
    EntryStatus.SUCCEEDED.value,
    EntryStatus.FAILED.value,
    EntryStatus.INTERRUPTED.value,
    EntryStatus.CANCELLED.value,
    EntryStatus.RECORDED.value,
)
CHUNK = 50
_MARKER = re.compile(r"\[bxops #(\d+)\]")


class State:
    PENDING = "pending"
    PUSHED = "pushed"
    DELETED = "deleted"
    GONE = "gone"


def marker(entry_id: int) -> str:
    return f"[bxops #{entry_id}]"


def comment_for(entry: Entry) -> str:
    what = (
        entry.note
        or (f"{entry.playbook} on {entry.environment}" if entry.playbook else "")
        or entry.work_type
        or "work"
    )
    if entry.work_split:  # a run split across work types (bxops.worksplit): its raw time per type
        what += " (" + ", ".join(f"{key} {clock(value)}" for key, value in sorted(entry.work_split.items())) + ")"
    return f"{what} {marker(entry.id)}"


def worklog_for(entry: Entry) -> NewWorklog:
    assert entry.ticket is not None
    return NewWorklog(entry.ticket, entry.started_at, max(60, entry.raw_seconds), comment_for(entry))


@dataclass
class SyncReport:
    pushed: list[int] = field(default_factory=list)  # entry ids
    adopted: list[int] = field(default_factory=list)  # pending rows found on the tracker after a killed sync
    updated: list[int] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    gone: list[tuple[int, str, str]] = field(default_factory=list)  # (entry id, ticket, remote id)
    errors: list[str] = field(default_factory=list)
    unchanged: int = 0
    dry_run: bool = False


def _eligible(entry: Entry) -> bool:
    return (
        entry.ticket is not None
        and entry.kind in (EntryKind.RUN.value, EntryKind.MANUAL.value)
        and entry.status in PUSHED_STATUSES
        and entry.raw_seconds > 0
    )


def _successor(ledger: Ledger, entry_id: int) -> Entry | None:
    """The entry in force that replaced `entry_id` through corrections, if any."""
    with ledger.sessions() as session:
        current: Entry | None = None
        seen = entry_id
        while True:
            nxt = session.scalars(select(Entry).where(Entry.corrects_id == seen)).first()
            if nxt is None:
                return current
            current, seen = nxt, nxt.id


def _rows(ledger: Ledger, client: str) -> list[Worklog]:
    with ledger.sessions() as session:
        return list(session.scalars(select(Worklog).where(Worklog.client == client).order_by(Worklog.id)))


def _save(ledger: Ledger, row_id: int, **changes: object) -> None:
    with ledger.transaction() as session:
        row = session.get(Worklog, row_id)
        assert row is not None
        for name, value in changes.items():
            setattr(row, name, value)
        row.updated_at = utcnow()


def sync(
    ledger: Ledger,
    client: str,
    tracker: Tracker | None,
    month: Month | None = None,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
    only: set[int] | None = None,
) -> SyncReport:
    """Push the client's entries (of `month`, or all) to its tracker. With `dry_run` nothing is sent or
    written (and `tracker` may be None): the report says what would be done."""
    report = SyncReport(dry_run=dry_run)
    entries = [
        entry
        for entry in history(ledger, HistoryFilter(client=client, month=month))
        if _eligible(entry) and (only is None or entry.id in only)
    ]
    entries.sort(key=lambda entry: entry.id)
    rows = _rows(ledger, client)
    by_entry = {row.entry_id: row for row in rows}
    in_force = {entry.id: entry for entry in entries}
    month_key = month.key if month is not None else None

    def in_scope(row: Worklog) -> bool:
        if only is not None:
            return row.entry_id in only
        if month_key is None:
            return True
        with ledger.sessions() as session:
            entry = session.get(Entry, row.entry_id)
            return entry is not None and entry.month == month_key

    live = [row for row in rows if row.state in (State.PENDING, State.PUSHED) and in_scope(row)]
    # 1. what the tracker has, per ticket, for the rows that need checking: pushed ones (deleted on the
    #    tracker?) and pending ones (pushed before a kill?)
    remote: dict[str, dict[str, str]] = {}
    if not dry_run and tracker is not None:
        for ticket in sorted({row.ticket for row in live}):
            try:
                remote[ticket] = {item.id: item.comment for item in tracker.worklogs(ticket)}
            except TrackerError as error:
                report.errors.append(str(error))
    for row in live:
        if dry_run or tracker is None or row.ticket not in remote:
            continue
        found = remote[row.ticket]
        if row.state == State.PENDING:
            adopted = [rid for rid, text in found.items() if marker(row.entry_id) in text]
            if adopted:
                _save(ledger, row.id, state=State.PUSHED, remote_id=adopted[0])
                row.state, row.remote_id = State.PUSHED, adopted[0]
                report.adopted.append(row.entry_id)
            else:
                with ledger.transaction() as session:
                    stale = session.get(Worklog, row.id)
                    if stale is not None:
                        session.delete(stale)  # never reached the tracker: pushed again below
                by_entry.pop(row.entry_id, None)
        elif row.remote_id not in found:
            _save(ledger, row.id, state=State.GONE)
            row.state = State.GONE
            report.gone.append((row.entry_id, row.ticket, row.remote_id or ""))
    # 2. corrections: a pushed worklog whose entry was replaced
    for row in [row for row in live if row.state == State.PUSHED and row.entry_id not in in_force]:
        successor = _successor(ledger, row.entry_id)
        keep = successor is not None and successor.id in in_force and successor.ticket == row.ticket
        if keep and successor is not None and successor.id not in by_entry:
            if not dry_run and tracker is not None:
                item = worklog_for(successor)
                try:
                    tracker.update_worklog(row.remote_id or "", item)
                except NotFound:
                    _save(ledger, row.id, state=State.GONE)
                    report.gone.append((row.entry_id, row.ticket, row.remote_id or ""))
                    continue
                except TrackerError as error:
                    report.errors.append(str(error))
                    continue
                _save(
                    ledger,
                    row.id,
                    entry_id=successor.id,
                    seconds=item.seconds,
                    comment=item.comment,
                    started_at=item.started,
                )
            by_entry[successor.id] = row
            by_entry.pop(row.entry_id, None)
            report.updated.append(successor.id)
        else:
            if not dry_run and tracker is not None:
                try:
                    tracker.delete_worklog(row.ticket, row.remote_id or "")
                except NotFound:
                    pass  # already gone there: nothing to delete
                except TrackerError as error:
                    report.errors.append(str(error))
                    continue
                _save(ledger, row.id, state=State.DELETED)
            report.deleted.append(row.entry_id)
    # 3. new entries
    fresh = [entry for entry in entries if entry.id not in by_entry]
    report.unchanged = len(entries) - len(fresh) - len(report.updated) - len(report.adopted)
    if dry_run or tracker is None:
        report.pushed = [entry.id for entry in fresh]
        return report
    for first in range(0, len(fresh), CHUNK):
        chunk = fresh[first : first + CHUNK]
        items = [worklog_for(entry) for entry in chunk]
        ids = _begin(ledger, client, tracker.kind, chunk, items)
        result = add_many(tracker, items)
        _finish(ledger, ids, result.ids)
        for entry, remote_id, problem in zip(chunk, result.ids, result.errors, strict=True):
            if remote_id is not None:
                report.pushed.append(entry.id)
            elif problem is not None:
                report.errors.append(str(problem))
        if progress is not None:
            progress(f"{min(first + CHUNK, len(fresh))}/{len(fresh)} pushed")
    return report


def _begin(ledger: Ledger, client: str, kind: str, chunk: Iterable[Entry], items: Iterable[NewWorklog]) -> list[int]:
    """Write the chunk's rows as pending, committed before anything is sent."""
    now = utcnow()
    with ledger.transaction() as session:
        rows = [
            Worklog(
                entry_id=entry.id,
                client=client,
                tracker=kind,
                ticket=item.ticket,
                state=State.PENDING,
                seconds=item.seconds,
                started_at=item.started,
                comment=item.comment,
                updated_at=now,
            )
            for entry, item in zip(chunk, items, strict=True)
        ]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def _finish(ledger: Ledger, row_ids: list[int], remote_ids: list[str | None]) -> None:
    now = utcnow()
    with ledger.transaction() as session:
        for row_id, remote_id in zip(row_ids, remote_ids, strict=True):
            row = session.get(Worklog, row_id)
            if row is None:
                continue
            if remote_id is None:
                session.delete(row)  # refused by the tracker: reported; tried again next time
            else:
                row.state, row.remote_id, row.updated_at = State.PUSHED, remote_id, now

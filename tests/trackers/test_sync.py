"""`runner.py sync` against the fake trackers: exactly once, corrections, remote deletions, dry run, a
missing token, kill -9 half-way (issue 15)."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bxops.ledger.database import open_ledger
from bxops.ledger.entries import ManualWork, add_manual
from bxops.ledger.models import EntryKind
from bxops.periods import Month

from .conftest import CLIENT, Setup, Workspace, make, workspace_for

MARK = re.compile(r"\[bxops #(\d+)\]")
NOV = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["jira", "youtrack", "bitrix24", "jira_cloud"])
def ws(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    setup = make(str(request.param))
    try:
        yield workspace_for(tmp_path, setup)
    finally:
        setup.fake.stop()


def _tickets(setup: Setup) -> tuple[str, str]:
    first, second = (
        (("OPS-1", "OPS-2") if setup.kind.startswith("jira") else ("SUP-1", "SUP-2"))
        if setup.kind != "bitrix24"
        else ("101", "102")
    )
    setup.fake.add_issue(first)
    setup.fake.add_issue(second)
    return first, second


def _entries(ws: Workspace, specs: list[tuple[str | None, int, EntryKind]], start: datetime = NOV) -> list[int]:
    """Manual entries (ticket, seconds, kind) written straight into the ledger, a minute apart."""
    ledger = open_ledger(str(ws.ledger))
    ids = []
    try:
        for number, (ticket, seconds, kind) in enumerate(specs):
            started = start + timedelta(minutes=number)
            entry = add_manual(
                ledger,
                ManualWork(
                    client=CLIENT,
                    engineer="tester",
                    work_type="bugfix",
                    started_at=started,
                    raw_seconds=seconds,
                    billed_seconds=seconds,
                    contract_term="2026-01-01",
                    ticket=ticket,
                    note=f"fix {number}",
                    kind=kind,
                    reason="credit" if kind is EntryKind.ADJUSTMENT else None,
                    month=Month.of(started),
                ),
            )
            ids.append(entry.id)
    finally:
        ledger.dispose()
    return ids


def _remote(setup: Setup, ticket: str) -> dict[int, int]:
    """Entry id (from the marker) → seconds, of the ticket's worklogs on the fake."""
    found: dict[int, int] = {}
    for item in setup.fake.issues[ticket].worklogs.values():
        text = item.get("comment", item.get("text", ""))
        (entry_id,) = MARK.findall(text)
        assert int(entry_id) not in found, f"two worklogs for entry {entry_id}"
        found[int(entry_id)] = item["minutes"] * 60 if "minutes" in item else item["seconds"]
    return found


def test_sync_twice_pushes_each_entry_once(ws: Workspace) -> None:
    first, second = _tickets(ws.setup)
    a, b, _no_ticket, c, _adjustment = _entries(
        ws,
        [
            (first, 5400, EntryKind.MANUAL),
            (first, 600, EntryKind.MANUAL),
            (None, 900, EntryKind.MANUAL),
            (second, 90, EntryKind.MANUAL),
            (second, 3600, EntryKind.ADJUSTMENT),
        ],
    )
    report = ws.sync()
    assert sorted(report["pushed"]) == [a, b, c]
    assert _remote(ws.setup, first) == {a: 5400, b: 600}
    assert _remote(ws.setup, second) == {c: 120 if ws.setup.kind == "youtrack" else 90}  # YouTrack counts minutes
    again = ws.sync()
    assert (again["pushed"], again["unchanged"]) == ([], 3)
    assert _remote(ws.setup, first) == {a: 5400, b: 600}


def test_correction_updates_the_remote_worklog(ws: Workspace) -> None:
    first, second = _tickets(ws.setup)
    a, b = _entries(ws, [(first, 5400, EntryKind.MANUAL), (first, 600, EntryKind.MANUAL)])
    ws.sync()
    remote_ids = set(ws.setup.fake.issues[first].worklogs)
    shown = ws.cli("correct", str(a), "--duration", "45m", "--reason", "typo").stdout
    corrected = int(re.search(r"entry #(\d+) corrects", shown).group(1))  # type: ignore[union-attr]
    report = ws.sync()
    assert (report["updated"], report["pushed"]) == ([corrected], [])
    assert _remote(ws.setup, first) == {corrected: 2700, b: 600}
    assert set(ws.setup.fake.issues[first].worklogs) == remote_ids  # the same worklog, changed
    # the ticket corrected: the worklog leaves the old ticket and a new one is added on the new ticket
    shown = ws.cli("correct", str(b), "--ticket", second, "--reason", "wrong ticket").stdout
    moved = int(re.search(r"entry #(\d+) corrects", shown).group(1))  # type: ignore[union-attr]
    report = ws.sync()
    assert (report["deleted"], report["pushed"]) == ([b], [moved])
    assert _remote(ws.setup, first) == {corrected: 2700}
    assert _remote(ws.setup, second) == {moved: 600}


def test_worklog_deleted_on_the_tracker_is_reported_not_recreated(ws: Workspace) -> None:
    first, _second = _tickets(ws.setup)
    a, b = _entries(ws, [(first, 1200, EntryKind.MANUAL), (first, 600, EntryKind.MANUAL)])
    ws.sync()
    worklogs = ws.setup.fake.issues[first].worklogs
    removed = next(rid for rid, item in worklogs.items() if f"#{a}]" in item.get("comment", item.get("text", "")))
    del worklogs[removed]
    done = ws.cli("sync", CLIENT)
    assert f"deleted on the tracker: entry #{a}'s worklog {removed} on {first} (not re-created)" in done.stdout
    assert _remote(ws.setup, first) == {b: 600}
    assert ws.sync()["pushed"] == []
    assert _remote(ws.setup, first) == {b: 600}


def test_dry_run_sends_and_writes_nothing(ws: Workspace) -> None:
    first, _second = _tickets(ws.setup)
    _entries(ws, [(first, 1200, EntryKind.MANUAL), (first, 600, EntryKind.MANUAL)])
    done = ws.cli("sync", CLIENT, "--dry-run", token=False)
    assert f"{CLIENT} → {ws.setup.kind}: would push 2, updated 0" in done.stdout
    assert ws.setup.fake.log == []
    assert ws.sync()["pushed"] != []  # nothing was recorded as pushed by the dry run


def test_month_limits_the_sync(ws: Workspace) -> None:
    first, _second = _tickets(ws.setup)
    (october,) = _entries(ws, [(first, 600, EntryKind.MANUAL)], start=datetime(2026, 10, 5, 8, tzinfo=UTC))
    (november,) = _entries(ws, [(first, 900, EntryKind.MANUAL)])
    assert ws.sync("--month", "2026-11")["pushed"] == [november]
    assert ws.sync("--month", "2026-10")["pushed"] == [october]


def test_missing_token_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    setup = make("jira")
    try:
        ws = workspace_for(tmp_path, setup)
        done = ws.cli("sync", CLIENT, check=False, token=False, process=True)
        assert done.returncode == 1
        assert done.stderr.strip() == (
            "bxops: error: client 'acme': no token for its jira tracker: set $ACME_TRACKER_TOKEN (from the vault "
            "or the environment; it is never stored in the contract or the ledger)"
        )
        assert not ws.ledger.exists() and setup.fake.log == []
    finally:
        setup.fake.stop()


@pytest.mark.parametrize("kind", ["jira", "bitrix24"])
def test_kill_mid_sync_then_sync_again(tmp_path: Path, kind: str) -> None:
    """kill -9 while worklogs are being added; the second sync leaves exactly one worklog per entry."""
    setup = make(kind)
    try:
        ws = workspace_for(tmp_path, setup)
        first, _second = _tickets(setup)
        count = 120
        ids = _entries(ws, [(first, 60 * (n % 7 + 1), EntryKind.MANUAL) for n in range(count)])
        setup.fake.delay = 0.02 if kind == "jira" else 0.6  # Bitrix24: batches of 50, each a slow request
        process = subprocess.Popen(
            ws.command("sync", CLIENT), env=ws.env(**setup.env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 120
        while len(setup.fake.issues[first].worklogs) < (10 if kind == "jira" else 50):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
        at_kill = len(setup.fake.issues[first].worklogs)
        assert 0 < at_kill < count
        setup.fake.delay = 0
        report = ws.sync()
        remote = _remote(setup, first)
        assert sorted(remote) == ids  # nothing missing, nothing twice (_remote refuses duplicates)
        assert all(remote[i] == 60 * (n % 7 + 1) for n, i in enumerate(ids))
        assert len(report["adopted"]) + len(report["pushed"]) + report["unchanged"] == count
        assert ws.sync()["pushed"] == []
    finally:
        setup.fake.stop()

"""Each connector against its vendor's fake server (real HTTP on loopback): worklogs added, listed across
pages, updated and deleted; the estimate; the ticket with its status changes and comments; errors that
name the client and ticket and never the token; 429/503 with Retry-After waited out (issue 15)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bxops.errors import BxopsError
from bxops.trackers.base import NewWorklog, add_many, connect
from bxops.trackers.http import NotFound, TrackerError

from .conftest import Setup, make
from .fakes import Bitrix24Fake, Issue

STARTED = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)


def _connect(setup: Setup, **http: Any) -> Any:
    tracker = connect("acme", setup.terms, setup.env, **http)
    if setup.kind == "youtrack":
        tracker.page = 3  # exercise $skip/$top paging with a few items
    return tracker


def _issue(setup: Setup) -> Issue:
    return setup.fake.add_issue(setup.ticket)


def test_worklog_lifecycle(tracker_setup: Setup) -> None:
    issue = _issue(tracker_setup)
    tracker = _connect(tracker_setup)
    remote = tracker.add_worklog(NewWorklog(tracker_setup.ticket, STARTED, 5400, "checkout fix [bxops #1]"))
    stored = issue.worklogs[remote]
    if tracker_setup.kind.startswith("jira"):
        assert stored == {
            "started": "2026-11-30T09:15:00.000+0000",
            "seconds": 5400,
            "comment": "checkout fix [bxops #1]",
        }
    elif tracker_setup.kind == "youtrack":
        # calendar.timegm((2026, 11, 30, 9, 15, 0)) * 1000
        assert stored == {"minutes": 90, "date": 1796030100000, "text": "checkout fix [bxops #1]"}
    else:
        assert stored == {"seconds": 5400, "comment": "checkout fix [bxops #1]"}
    listed = tracker.worklogs(tracker_setup.ticket)
    assert [(w.id, w.seconds, w.comment) for w in listed] == [(remote, 5400, "checkout fix [bxops #1]")]

    tracker.update_worklog(remote, NewWorklog(tracker_setup.ticket, STARTED, 1800, "corrected [bxops #2]"))
    assert [(w.seconds, w.comment) for w in tracker.worklogs(tracker_setup.ticket)] == [(1800, "corrected [bxops #2]")]

    tracker.delete_worklog(tracker_setup.ticket, remote)
    assert tracker.worklogs(tracker_setup.ticket) == []
    assert issue.worklogs == {}


def test_listing_follows_pages(tracker_setup: Setup) -> None:
    _issue(tracker_setup)
    tracker = _connect(tracker_setup)
    # Bitrix24 pages hold at most 50; the Jira fake answers 3 a page whatever maxResults says; YouTrack asks for 3
    count = 53 if isinstance(tracker_setup.fake, Bitrix24Fake) else 7
    items = [NewWorklog(tracker_setup.ticket, STARTED, 60 * (n + 1), f"w{n}") for n in range(count)]
    result = add_many(tracker, items)
    assert all(error is None for error in result.errors)
    listed = tracker.worklogs(tracker_setup.ticket)
    assert sorted(w.comment for w in listed) == sorted(f"w{n}" for n in range(count))


def test_estimate(tracker_setup: Setup) -> None:
    issue = _issue(tracker_setup)
    _connect(tracker_setup).set_estimate(tracker_setup.ticket, 5400)
    assert issue.estimate_seconds == 5400


def test_ticket_with_status_changes_and_comments(tracker_setup: Setup) -> None:
    waiting = "Waiting for customer" if tracker_setup.kind != "bitrix24" else "6"
    priority = {"bitrix24": "high", "youtrack": "Critical"}.get(tracker_setup.kind, "High")
    tracker_setup.fake.add_issue(
        tracker_setup.ticket,
        priority=priority,
        created=datetime(2026, 11, 2, 7, 0, tzinfo=UTC),
        statuses=[(datetime(2026, 11, 2, 8, 0, tzinfo=UTC), waiting)],
        comments=[(datetime(2026, 11, 2, 7, 20, tzinfo=UTC), "ops@agency.example")],
    )
    info = _connect(tracker_setup).ticket(tracker_setup.ticket)
    assert info.created == datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
    assert info.priority == priority
    expected_status = "deferred" if tracker_setup.kind == "bitrix24" else "Waiting for customer"
    assert info.statuses == ((datetime(2026, 11, 2, 8, 0, tzinfo=UTC), expected_status),)
    assert info.comments == ((datetime(2026, 11, 2, 7, 20, tzinfo=UTC), "ops@agency.example"),)


def test_unknown_ticket_names_client_and_ticket(tracker_setup: Setup) -> None:
    tracker = _connect(tracker_setup)
    missing = (
        "OPS-404"
        if tracker_setup.kind.startswith("jira")
        else ("SUP-404" if tracker_setup.kind == "youtrack" else "404")
    )
    with pytest.raises(NotFound) as caught:
        tracker.add_worklog(NewWorklog(missing, STARTED, 60, "x"))
    assert f"acme {tracker_setup.kind} ticket {missing}" in str(caught.value)


def test_wrong_token_is_named_and_not_shown(tracker_setup: Setup) -> None:
    _issue(tracker_setup)
    wrong = "ops@agency.example:WRONG-token-xyz" if tracker_setup.kind == "jira_cloud" else "WRONG-token-xyz"
    tracker = connect("acme", tracker_setup.terms, {"ACME_TRACKER_TOKEN": wrong})
    with pytest.raises(TrackerError) as caught:
        tracker.worklogs(tracker_setup.ticket)
    message = str(caught.value)
    assert "wrong or expired token (HTTP 401)" in message
    assert message.startswith(f"acme {tracker_setup.kind}")
    assert "WRONG-token-xyz" not in message


def test_missing_token_refused_before_any_request(tracker_setup: Setup) -> None:
    with pytest.raises(BxopsError) as caught:
        connect("acme", tracker_setup.terms, {})
    assert str(caught.value).startswith("client 'acme': no token for its")
    assert "$ACME_TRACKER_TOKEN" in str(caught.value)
    assert tracker_setup.fake.log == []


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_waited_out(tracker_setup: Setup, status: int) -> None:
    _issue(tracker_setup)
    slept: list[float] = []
    tracker = _connect(tracker_setup, sleep=slept.append)
    tracker_setup.fake.inject(status, {"error": "QUERY_LIMIT_EXCEEDED"}, {"Retry-After": "7"}, times=2)
    remote = tracker.add_worklog(NewWorklog(tracker_setup.ticket, STARTED, 600, "after a wait"))
    assert remote in tracker_setup.fake.issues[tracker_setup.ticket].worklogs
    assert [s for s in slept if s >= 1] == [7.0, 7.0]
    assert [entry.status for entry in tracker_setup.fake.log] == [
        status,
        status,
        200 if tracker_setup.kind in ("youtrack", "bitrix24") else 201,
    ]


def test_gives_up_after_attempts() -> None:
    setup = make("jira")
    try:
        setup.fake.add_issue(setup.ticket)
        tracker = connect("acme", setup.terms, setup.env, sleep=lambda _s: None, attempts=3)
        setup.fake.inject(503, None, {}, times=5)
        with pytest.raises(TrackerError) as caught:
            tracker.worklogs(setup.ticket)
        assert str(caught.value) == "acme jira ticket OPS-1: gave up after 3 attempts (HTTP 503)"
    finally:
        setup.fake.stop()


def test_bitrix24_rate_limit_is_respected() -> None:
    """A portal that refuses past 3 requests at once, drained at 2 a second: the client's own spacing
    (2 a second) never trips it, and 9 calls take at least 4 s."""
    setup = make("bitrix24")
    fake = setup.fake
    assert isinstance(fake, Bitrix24Fake)
    fake.burst = 3
    try:
        fake.add_issue(setup.ticket)
        tracker = connect("acme", setup.terms, setup.env)
        began = datetime.now(UTC)
        for n in range(9):
            tracker.add_worklog(NewWorklog(setup.ticket, STARTED, 60, f"n{n}"))
        took = (datetime.now(UTC) - began).total_seconds()
        assert fake.refused == 0
        assert took >= 3.9
        assert len(fake.issues[setup.ticket].worklogs) == 9
    finally:
        fake.stop()


def test_bitrix24_unthrottled_client_is_refused_then_retries() -> None:
    setup = make("bitrix24")
    fake = setup.fake
    assert isinstance(fake, Bitrix24Fake)
    fake.burst = 2
    try:
        fake.add_issue(setup.ticket)
        tracker = connect("acme", setup.terms, setup.env, rate=0, backoff=0.6)
        for n in range(4):
            tracker.add_worklog(NewWorklog(setup.ticket, STARTED, 60, f"n{n}"))
        assert fake.refused >= 1  # 503 QUERY_LIMIT_EXCEEDED seen ...
        assert len(fake.issues[setup.ticket].worklogs) == 4  # ... and waited out
        assert tracker.http.stats.retries == fake.refused
    finally:
        fake.stop()


def test_bitrix24_batch_adds_fifty_a_request() -> None:
    setup = make("bitrix24")
    try:
        setup.fake.add_issue(setup.ticket)
        tracker = connect("acme", setup.terms, setup.env, rate=0)
        items = [NewWorklog(setup.ticket if n != 5 else "999", STARTED, 60, f"b{n}") for n in range(120)]
        result = add_many(tracker, items)
        assert [entry.path.rsplit("/", 1)[1] for entry in setup.fake.log] == ["batch.json"] * 3
        assert sum(i is not None for i in result.ids) == 119
        assert isinstance(result.errors[5], NotFound) and "ticket 999" in str(result.errors[5])
    finally:
        setup.fake.stop()

"""Rounding over the right unit (issue 18): `rounding.scope` per entry, ticket, day or month, apart for
runs and manual entries; the balance, history and the estimate take their billed figures from one place;
a later term's scope applies from its date only and past months stay as billed.

The expected figures here are computed by hand (`reference_*`), never with bxops' own rounding.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import pg_url_or_skip, reset_postgres
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bxops.bookkeeping import bill, client_balance
from bxops.contract import parse_contract
from bxops.errors import ContractError
from bxops.ledger.database import Ledger, open_ledger
from bxops.ledger.entries import (
    HistoryFilter,
    ManualWork,
    NewRun,
    add_manual,
    billing_shares,
    finish_run,
    history,
    start_run,
)
from bxops.ledger.models import EntryStatus
from bxops.periods import Month
from bxops.rounding import GroupKey, Member, RoundingMode, RoundingPolicy, RoundingScope, allocate

from .conftest import BASE_TERM
from .ledger_records import run_outcome

SCOPES = ["entry", "ticket", "day", "month"]
WORK_TYPES = ["maintenance", "updates", "bugfix"]
MONTHS = [Month(2026, 1), Month(2026, 2), Month(2026, 3)]
_clients = itertools.count()


# ---- the hand-written reference ------------------------------------------------------------------
def reference_round(raw: int, increment: int, mode: str, minimum: int) -> int:
    """15-minute steps etc., written out without bxops.rounding."""
    if mode == "up":
        steps = raw // increment + (1 if raw % increment else 0)
    elif mode == "down":
        steps = raw // increment
    else:
        steps = raw // increment + (1 if 2 * (raw % increment) >= increment else 0)
    return max(steps * increment, minimum)


@dataclass(frozen=True)
class Work:
    kind: str  # run | manual
    started_at: datetime
    raw: int
    work_type: str
    ticket: str | None
    dry_run: bool = False


def reference_month_totals(works: list[Work], terms: list[dict[str, Any]]) -> dict[tuple[Month, str], int]:
    """Billed seconds per (month, work type), every group rounded once under the term in force in its
    month (meaningful where no group spans work types, i.e. without ticket scope)."""
    return _reference_groups(works, terms, by_work_type=True)


def reference_month_total(works: list[Work], terms: list[dict[str, Any]], month: Month) -> int:
    return sum(v for (m, _w), v in _reference_groups(works, terms, by_work_type=False).items() if m == month)


def _term_of(terms: list[dict[str, Any]], month: Month) -> dict[str, Any]:
    chosen: dict[str, Any] = {}
    for term in terms:
        start = datetime.fromisoformat(str(term["effective_from"])).date()
        if (start.year, start.month) <= (month.year, month.month):
            chosen = {**chosen, **term}
    return chosen


@dataclass
class _Group:
    raws: list[int]
    policy: tuple[int, str, int]
    out_key: tuple[Month, str]


def _reference_groups(works: list[Work], terms: list[dict[str, Any]], by_work_type: bool) -> dict[Any, int]:
    groups: dict[Any, _Group] = {}
    for number, work in enumerate(works):
        month = Month(work.started_at.year, work.started_at.month)
        term = _term_of(terms, month)
        if work.dry_run and not term.get("bill_dry_runs", False):
            continue  # not billed at all
        rounding = term["rounding"]
        policy = (rounding["increment_minutes"] * 60, rounding["mode"], rounding.get("minimum_minutes", 0) * 60)
        setting = rounding.get("scope", "entry")
        kind = "runs" if work.kind == "run" else "manual"
        scope = setting if isinstance(setting, str) else setting.get(kind, "entry")
        if scope == "ticket" and work.ticket:
            key: Any = ("ticket", month, work.ticket)
        elif scope == "day":
            key = ("day", work.started_at.date(), work.work_type)
        elif scope == "month":
            key = ("month", month, work.work_type)
        else:
            key = ("entry", number)
        out_key = (month, work.work_type if by_work_type else "")
        groups.setdefault(key, _Group([], policy, out_key)).raws.append(work.raw)
    result: dict[Any, int] = {}
    for group in groups.values():
        increment, mode, minimum = group.policy
        billed = reference_round(sum(group.raws), increment, mode, minimum)
        result[group.out_key] = result.get(group.out_key, 0) + billed
    return result


# ---- writing the random ledger through the ledger's own API --------------------------------------
def write(ledger: Ledger, client: str, contract_terms: list[dict[str, Any]], works: list[Work]) -> None:
    contract = parse_contract(client, Path("contract.yml"), {"terms": contract_terms})
    for work in works:
        billing = bill(
            contract,
            work.started_at,
            work.raw,
            kind=work.kind,
            work_type=work.work_type,
            ticket=work.ticket,
            dry_run=work.dry_run,
        )
        if work.kind == "manual":
            add_manual(
                ledger,
                ManualWork(
                    client=client,
                    engineer="e",
                    work_type=work.work_type,
                    started_at=work.started_at,
                    raw_seconds=work.raw,
                    billed_seconds=billing.billed_seconds,
                    billing_group=billing.group,
                    contract_term=billing.contract_term,
                    ticket=work.ticket,
                ),
            )
            continue
        entry = start_run(
            ledger,
            NewRun(
                client=client,
                environment="staging",
                playbook="tiny",
                engineer="e",
                ticket=work.ticket,
                note=None,
                work_type=work.work_type,
                options={"check": work.dry_run},
                artifacts_dir="-",
                estimate_seconds=None,
                overage_override=False,
                heartbeat_interval=5.0,
                started_at=work.started_at,
            ),
        )
        finish_run(
            ledger,
            entry.id,
            run_outcome(
                work.started_at + timedelta(seconds=work.raw),
                work.raw,
                billing.billed_seconds,
                work.work_type,
                status=EntryStatus.DRY_RUN if work.dry_run else EntryStatus.SUCCEEDED,
                contract_term=billing.contract_term,
                billing_group=billing.group,
            ),
        )


scope_values = st.one_of(
    st.sampled_from(SCOPES),
    st.fixed_dictionaries({"runs": st.sampled_from(SCOPES), "manual": st.sampled_from(SCOPES)}),
)
roundings = st.fixed_dictionaries(
    {
        "increment_minutes": st.sampled_from([1, 6, 15, 30]),
        "mode": st.sampled_from(["up", "nearest", "down"]),
        "minimum_minutes": st.sampled_from([0, 15, 60]),
        "scope": scope_values,
    }
)
works = st.lists(
    st.builds(
        Work,
        kind=st.sampled_from(["run", "manual"]),
        started_at=st.builds(
            lambda month, day, second: datetime(month.year, month.month, day, tzinfo=UTC) + timedelta(seconds=second),
            st.sampled_from(MONTHS),
            st.integers(1, 4),  # few days: day groups with several entries
            st.integers(0, 24 * 3600 - 1),
        ),
        raw=st.one_of(st.integers(0, 120), st.integers(0, 4 * 3600)),
        work_type=st.sampled_from(WORK_TYPES),
        ticket=st.sampled_from([None, "BX-1", "BX-2"]),
        dry_run=st.booleans(),
    ),
    max_size=14,
).map(lambda items: [w if w.kind == "run" else Work(w.kind, w.started_at, w.raw, w.work_type, w.ticket) for w in items])


def contract_terms(first: dict[str, Any], second: dict[str, Any] | None, bill_dry: bool) -> list[dict[str, Any]]:
    base = copy.deepcopy(BASE_TERM)
    base.update(billing_period="month", rounding=first, bill_dry_runs=bill_dry)
    terms = [base]
    if second is not None:
        terms.append({"effective_from": "2026-02-01", "rounding": second})
    return terms


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_ledger(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One ledger per database for all examples (each example is a client of its own)."""
    if request.param == "sqlite":
        url = str(tmp_path_factory.mktemp("scope") / "ledger.sqlite")
    else:
        url = pg_url_or_skip()
        reset_postgres(url)
    ledger = open_ledger(url)
    yield ledger
    ledger.dispose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=roundings, second=st.one_of(st.none(), roundings), bill_dry=st.booleans(), items=works)
def test_each_scope_bills_the_month_as_the_reference(
    shared_ledger: Ledger, first: dict[str, Any], second: dict[str, Any] | None, bill_dry: bool, items: list[Work]
) -> None:
    client = f"p{next(_clients)}"
    terms = contract_terms(first, second, bill_dry)
    write(shared_ledger, client, terms, items)
    contract = parse_contract(client, Path("contract.yml"), {"terms": terms})
    by_type = reference_month_totals(items, terms)
    for month in MONTHS:
        balance = client_balance(shared_ledger, contract, month)
        assert balance.used_billed_seconds == reference_month_total(items, terms, month)
        scopes = _term_of(terms, month)["rounding"]["scope"]
        if "ticket" not in (scopes if isinstance(scopes, str) else scopes.values()):
            for work_type in WORK_TYPES:  # per work type (a ticket's group may span several)
                usage = balance.usage_by_work_type.get(work_type)
                billed = usage.all_billed_seconds if usage else 0
                assert billed == by_type.get((month, work_type), 0)
        in_month = [w for w in items if Month.of(w.started_at) == month]
        dry = [w for w in in_month if w.dry_run]
        assert balance.dry_runs.dry_runs == len(dry)
        assert balance.dry_runs.dry_run_raw_seconds == sum(w.raw for w in dry)
        assert balance.used_raw_seconds == sum(w.raw for w in in_month if not w.dry_run)
        # history's per-entry shares add up to the same month total
        entries = history(shared_ledger, HistoryFilter(client=client, month=month))
        shares = billing_shares(shared_ledger, client, entries)
        per_entry = [
            shares[e.id].billed_seconds if e.billing_group is not None else (e.billed_seconds or 0) for e in entries
        ]
        assert sum(per_entry) == balance.used_billed_seconds
        assert all(value >= 0 for value in per_entry)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=roundings, second=roundings, items=works)
def test_a_later_term_or_an_edited_contract_never_rebills_earlier_months(
    shared_ledger: Ledger, first: dict[str, Any], second: dict[str, Any], items: list[Work]
) -> None:
    """A term from February with another scope: January stays as the first term bills it; and editing
    the contract file afterwards (any other rounding) changes no month already written."""
    client = f"q{next(_clients)}"
    terms = contract_terms(first, second, False)
    write(shared_ledger, client, terms, items)
    contract = parse_contract(client, Path("contract.yml"), {"terms": terms})
    january_alone = [w for w in items if Month.of(w.started_at) == MONTHS[0]]
    expected_january = reference_month_total(january_alone, contract_terms(first, None, False), MONTHS[0])
    before = [client_balance(shared_ledger, contract, month).used_billed_seconds for month in MONTHS]
    assert before[0] == expected_january
    edited_terms = contract_terms(
        {"increment_minutes": 60, "mode": "up", "minimum_minutes": 60, "scope": "entry"},
        {"increment_minutes": 1, "mode": "down", "minimum_minutes": 0, "scope": "month"},
        True,
    )
    edited = parse_contract(client, Path("contract.yml"), {"terms": edited_terms})
    after = [client_balance(shared_ledger, edited, month).used_billed_seconds for month in MONTHS]
    assert after == before


# ---- the allocation and the contract field -----------------------------------------------------------
@given(
    raws=st.lists(st.integers(0, 5000), max_size=12),
    increment=st.sampled_from([60, 900]),
    minimum=st.sampled_from([0, 900]),
    mode=st.sampled_from(list(RoundingMode)),
)
def test_shares_sum_to_the_group_total_and_never_move_when_entries_join(
    raws: list[int], increment: int, minimum: int, mode: RoundingMode
) -> None:
    key = GroupKey(RoundingScope.MONTH, "2026-11", "maintenance", RoundingPolicy(increment, mode, minimum))
    start = datetime(2026, 11, 1, tzinfo=UTC)
    members = [Member(i, start + timedelta(minutes=i), i, raw) for i, raw in enumerate(raws)]
    shares = allocate(key, members)
    expected = reference_round(sum(raws), increment, mode.value, minimum) if raws else 0
    assert sum(share.billed_seconds for share in shares.values()) == expected
    assert all(share.billed_seconds >= 0 for share in shares.values())
    for cut in range(len(members)):  # earlier entries keep their share as later ones join
        partial = allocate(key, members[:cut])
        assert all(partial[i].billed_seconds == shares[i].billed_seconds for i in partial)


def test_group_key_keeps_how_it_was_billed() -> None:
    key = GroupKey.parse("ticket:2026-11:BX:7|x|up/900/300")
    assert (key.scope, key.period, key.what) == (RoundingScope.TICKET, "2026-11", "BX:7|x")
    assert key.policy == RoundingPolicy(900, RoundingMode.UP, 300)
    assert str(key) == "ticket:2026-11:BX:7|x|up/900/300"


def _rounding_contract(scope: object) -> dict[str, Any]:
    term = copy.deepcopy(BASE_TERM)
    term["rounding"] = {**term["rounding"], "scope": scope}
    return {"terms": [term]}


@pytest.mark.parametrize(
    ("scope", "runs", "manual"),
    [
        ("month", "month", "month"),
        ({"runs": "month", "manual": "entry"}, "month", "entry"),
        ({"runs": "day"}, "day", "entry"),
    ],
)
def test_scope_for_both_kinds_or_each(scope: object, runs: str, manual: str) -> None:
    rounding = parse_contract("t1", Path("c.yml"), _rounding_contract(scope)).terms[0].rounding
    assert (rounding.scope_for("run").value, rounding.scope_for("manual").value) == (runs, manual)


def test_default_scope_is_per_entry_as_before() -> None:
    term = parse_contract("t1", Path("c.yml"), {"terms": [copy.deepcopy(BASE_TERM)]}).terms[0]
    assert term.rounding.scope_for("run") is RoundingScope.ENTRY
    assert term.rounding.scope_for("manual") is RoundingScope.ENTRY
    assert term.bill_dry_runs is False


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        (
            "weekly",
            "c.yml: terms[0].rounding.scope: must be one of entry, ticket, day, month, "
            "or a mapping {runs: …, manual: …} (got 'weekly')",
        ),
        (
            {"runs": "week"},
            "c.yml: terms[0].rounding.scope.runs: Input should be 'entry', 'ticket', 'day' or 'month' (got 'week')",
        ),
        ({"automated": "month"}, "c.yml: terms[0].rounding.scope.automated: Extra inputs are not permitted"),
    ],
)
def test_bad_scope_is_one_clear_line(scope: object, message: str) -> None:
    with pytest.raises(ContractError) as error:
        parse_contract("t1", Path("c.yml"), _rounding_contract(scope))
    assert str(error.value) == message

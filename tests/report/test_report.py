"""`runner.py report` (issue 16): the figures equal the ledger's, the PDF holds them in Russian with
Cyrillic headings, the HTML has no broken image, bad input writes nothing."""

from __future__ import annotations

import base64
import json
import subprocess
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bxops.bookkeeping import bill
from bxops.contract import load_contract
from bxops.ledger.database import open_ledger
from bxops.ledger.entries import ManualWork, add_manual
from bxops.monthly.data import collect
from bxops.periods import Month

from .conftest import MONTH, ReportSpace, empty_space
from .demo_data import TRUTH


def folder(space: ReportSpace) -> Path:
    return space.client_dir / "monthly-reports" / str(MONTH)


def test_report_hours_are_the_ledgers(rendered: ReportSpace) -> None:
    document = json.loads((folder(rendered) / "report-ru.json").read_text(encoding="utf-8"))
    hours = document["hours"]
    assert {i["work_type"]: i["raw_seconds"] for i in hours["by_work_type"]} == TRUTH["raw"]
    assert {i["work_type"]: i["billed_seconds"] for i in hours["by_work_type"]} == TRUTH["billed"]
    assert hours["used_billed_seconds"] == TRUTH["billed_total"]
    assert hours["carried_in_seconds"] == TRUTH["carried_in_2026_11"]
    assert hours["remaining_seconds"] == TRUTH["remaining_2026_11"]
    assert hours["expected_hours"] == {"maintenance": 8, "enhancements": 12}
    # and the same as `balance` prints
    balance = json.loads(rendered.cli("balance", "demo", "--month", str(MONTH), "--json").stdout)
    for key in (
        "used_raw_seconds",
        "used_billed_seconds",
        "remaining_seconds",
        "overage_seconds",
        "carried_in_seconds",
    ):
        assert hours[key] == balance[key]
    work = document["work"]
    assert work["cleaned_bytes"] == TRUTH["cleaned_bytes"]
    assert work["permissions_fixed"] == TRUTH["permissions_fixed"]
    assert len(work["backups"]) == TRUTH["backups"]
    assert work["certificates_renewed"] == TRUTH["certificates"]
    assert work["php_upgrades"] == TRUTH["php_upgrades"]
    assert work["runs"] == 3
    assert [(u["module"], u["from"], u["to"]) for u in work["updates"]] == [("vote", "21.0.0", "21.0.100")]
    assert [(m["ticket"], m["note"]) for m in work["manual"]] == [
        ("BX-101", "Новый фильтр каталога"),
        ("BX-102", "checkout fix"),
    ]
    infra = {h["host"]: h for h in document["infrastructure"]["hosts"]}
    assert document["infrastructure"]["source"] == "audit"
    production = infra["bxops-demo-production"]
    assert production["checks"] == 3 and production["uptime_percent"] == pytest.approx(66.67)  # one 503 of 3
    assert production["response_median_ms"] == 400.0 and production["response_p95_ms"] == 900.0
    assert production["db_trend_bytes"] == int(1.2 * 1024**3) - 1024**3
    security = document["security"]
    # baseline (last audit before the month): CVE + exposed-git; during: + world-writable; at the end: exposed-git
    assert sorted(f["id"] for f in security["opened"] if f["host"] == "bxops-demo-production") == [
        "world-writable-code"
    ]
    assert sorted(f["id"] for f in security["closed"] if f["host"] == "bxops-demo-production") == [
        "CVE-2022-27228",
        "world-writable-code",
    ]
    steps = document["next_steps"]
    assert {"host": "bxops-demo-production", "module": "main", "from": "23.0.0", "to": "24.0.0"} in steps[
        "pending_updates"
    ]
    assert all(p["ended"] for p in steps["php_end_of_life"])  # PHP 7.4
    # production: 40 GB → 50 GB used from the 1st to the 21st: 0.5 GB a day, 50 GB free → 100 days
    forecast = {f["host"]: f for f in steps["disk_forecast"]}
    assert forecast["bxops-demo-production"]["days_until_full"] == 100
    assert "sla" in document  # the demo contract has SLA terms


def test_pdf_holds_totals_and_cyrillic_headings(rendered: ReportSpace, tmp_path: Path) -> None:
    pdf = folder(rendered) / "report-ru.pdf"
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True, timeout=120)
    pages = sorted(tmp_path.glob("page*.png"))
    assert pages and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000 for p in pages)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    for heading in (
        "Ежемесячный отчёт",
        "Часы",
        "Выполненные работы",
        "Состояние инфраструктуры",
        "Безопасность",
        "Уровень сервиса (SLA)",
        "Дальнейшие шаги",
    ):
        assert heading in text
    assert "3:45:00" in text  # billed in the month: 13,500 s
    assert "36:15:00" in text  # remaining: 40 h - 3.75 h
    assert "PHP обновлён с 7.4 до 8.2" in text  # noqa: RUF001 (a Russian word)
    assert "Новый фильтр каталога" in text
    english = subprocess.run(
        ["pdftotext", str(folder(rendered) / "report-en.pdf"), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "Monthly report" in english and "Work done" in english and "Часы" not in english


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources.append(dict(attrs).get("src") or "")


def test_html_has_no_broken_images(rendered: ReportSpace) -> None:
    page = folder(rendered) / "report-ru.html"
    parser = _Images()
    parser.feed(page.read_text(encoding="utf-8"))
    assert len(parser.sources) == 3  # the hours chart and one per host
    for source in parser.sources:
        if source.startswith("data:image/png;base64,"):
            assert base64.b64decode(source.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            assert (page.parent / source).is_file(), source


def test_md_has_the_figures(rendered: ReportSpace) -> None:
    text = (folder(rendered) / "report-en.md").read_text(encoding="utf-8")
    assert "| Used, billed | 3:45:00 |" in text and "## Security" in text


def test_no_sla_terms_no_sla_section(tmp_path: Path) -> None:
    space = empty_space(tmp_path)
    contract = yaml.safe_load((space.client_dir / "contract.yml").read_text())
    del contract["sla"]
    (space.client_dir / "contract.yml").write_text(yaml.safe_dump(contract, allow_unicode=True))
    done = space.cli("report", "demo", "--month", "2026-11", "--format", "json,html", "--lang", "ru")
    assert done.returncode == 0, done.stderr
    document = json.loads((folder(space) / "report-ru.json").read_text())
    assert "sla" not in document
    assert "SLA" not in (folder(space) / "report-ru.html").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "nobody", "--month", "2026-11"], "nobody"),
        (["report", "demo", "--month", "2026-13"], "invalid month"),
        (["report", "demo", "--month", "2025-12"], "no contract term"),
        (["report", "demo", "--month", "2026-11", "--format", "html,docx"], "unknown report format 'docx'"),
        (["report", "demo", "--month", "2026-11", "--lang", "de"], "unknown language 'de'"),
    ],
)
def test_bad_input_one_line_nothing_written(tmp_path: Path, args: list[str], message: str) -> None:
    space = empty_space(tmp_path)
    done = space.cli(*args)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert not (space.client_dir / "monthly-reports").exists()


# ---- property: report totals are the ledger's sums, computed here apart ---------------------------
def reference_round(raw: int, increment: int, mode: str, minimum: int) -> int:
    steps = raw // increment + (1 if mode == "up" and raw % increment else 0)
    if mode == "nearest":
        steps = raw // increment + (1 if 2 * (raw % increment) >= increment else 0)
    return max(steps * increment, minimum)


WORK_TYPES = ["updates", "maintenance", "bugfix", "enhancements"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    hours_per_month=st.integers(0, 30),
    increment=st.sampled_from([1, 5, 15, 30]),
    mode=st.sampled_from(["up", "down", "nearest"]),
    minimum=st.sampled_from([0, 15]),
    entries=st.lists(st.tuples(st.sampled_from(WORK_TYPES), st.integers(0, 4 * 3600), st.integers(1, 28)), max_size=12),
)
def test_report_totals_equal_ledger_sums(
    tmp_path_factory: pytest.TempPathFactory,
    hours_per_month: int,
    increment: int,
    mode: str,
    minimum: int,
    entries: list[tuple[str, int, int]],
) -> None:
    space = empty_space(tmp_path_factory.mktemp("prop"))
    data = yaml.safe_load((space.client_dir / "contract.yml").read_text())
    term = data["terms"][0]
    term.update(hours_per_month=hours_per_month, billing_period="month", carry_over={"mode": "none"})
    term["rounding"] = {"increment_minutes": increment, "mode": mode, "minimum_minutes": minimum, "scope": "entry"}
    (space.client_dir / "contract.yml").write_text(yaml.safe_dump(data, allow_unicode=True))
    contract = load_contract("demo", space.client_dir / "contract.yml")
    month = Month(2026, 3)
    ledger = open_ledger(space.ledger_url)
    try:
        from datetime import UTC, datetime

        for work_type, raw, day in entries:
            started = datetime(2026, 3, day, 9, tzinfo=UTC)
            billing = bill(contract, started, raw, work_type=work_type)
            add_manual(
                ledger,
                ManualWork(
                    "demo",
                    "t",
                    work_type,
                    started,
                    raw,
                    billing.billed_seconds,
                    billing.contract_term,
                    month=contract.month_of(started),
                ),
            )
        document: dict[str, Any] = collect(ledger, contract, space.client_dir, month)
    finally:
        ledger.dispose()
    billed = {
        wt: sum(reference_round(r, increment * 60, mode, minimum * 60) for w, r, _d in entries if w == wt)
        for wt in {w for w, _r, _d in entries}
    }
    raw = {wt: sum(r for w, r, _d in entries if w == wt) for wt in billed}
    hours = document["hours"]
    assert {i["work_type"]: i["billed_seconds"] for i in hours["by_work_type"]} == billed
    assert {i["work_type"]: i["raw_seconds"] for i in hours["by_work_type"]} == raw
    total = sum(billed.values())
    allotment = hours_per_month * 3600
    assert hours["used_billed_seconds"] == total
    assert hours["remaining_seconds"] == max(0, allotment - total)
    assert hours["overage_seconds"] == max(0, total - allotment)
    assert Fraction(hours["allotment_seconds"], 3600) == hours_per_month


def test_every_message_has_a_russian_translation() -> None:
    import re

    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parents[2] / "bxops" / "monthly"
    with (root / "locale/ru/LC_MESSAGES/messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="ru")
    used: set[str] = set()
    for path in [*root.glob("templates/*.j2"), root / "render.py"]:
        used |= set(re.findall(r'(?:\b_|gettext)\("((?:[^"\\]|\\.)*)"', path.read_text(encoding="utf-8")))
    assert len(used) > 50
    missing = sorted(m for m in used if catalog.get(m) is None or not catalog.get(m).string)
    assert missing == []


def reference_split(raw: int, weights: dict[str, int]) -> dict[str, int]:
    """Largest remainder in exact fractions: floor of each exact share, then one second each to the largest
    remainders (ties: larger weight, then name)."""
    total = sum(weights.values())
    exact = {key: Fraction(raw * weight, total) for key, weight in weights.items()}
    floors = {key: int(value) for key, value in exact.items()}
    order = sorted(weights, key=lambda key: (-(exact[key] - floors[key]), -weights[key], key))
    for key in order[: raw - sum(floors.values())]:
        floors[key] += 1
    return floors


ROLE_TYPES = {"update": "updates", "audit": "maintenance", "backup": "maintenance", "cleanup": "maintenance"}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    increment=st.sampled_from([1, 15, 30]),
    mode=st.sampled_from(["up", "down", "nearest"]),
    runs=st.lists(
        st.tuples(
            st.integers(0, 3 * 3600),
            st.fixed_dictionaries({role: st.integers(0, 900) for role in ROLE_TYPES}),
            st.integers(1, 28),
        ),
        max_size=6,
    ),
    manual=st.lists(st.tuples(st.sampled_from(WORK_TYPES), st.integers(0, 3 * 3600), st.integers(1, 28)), max_size=5),
)
def test_split_runs_in_the_report_equal_independent_sums(
    tmp_path_factory: pytest.TempPathFactory,
    increment: int,
    mode: str,
    runs: list[tuple[int, dict[str, int], int]],
    manual: list[tuple[str, int, int]],
) -> None:
    from datetime import UTC, datetime

    from bxops.ledger.entries import NewRun, RunOutcome, finish_run, start_run
    from bxops.ledger.models import EntryKind, EntryStatus
    from bxops.worksplit import role_split

    space = empty_space(tmp_path_factory.mktemp("split"))
    data = yaml.safe_load((space.client_dir / "contract.yml").read_text())
    term = data["terms"][0]
    term.update(billing_period="month", carry_over={"mode": "none"})
    term["rounding"] = {"increment_minutes": increment, "mode": mode, "minimum_minutes": 0, "scope": {"runs": "month"}}
    (space.client_dir / "contract.yml").write_text(yaml.safe_dump(data, allow_unicode=True))
    contract = load_contract("demo", space.client_dir / "contract.yml")
    month = Month(2026, 3)
    ledger = open_ledger(space.ledger_url)
    try:
        for raw, roles, day in runs:
            started = datetime(2026, 3, day, 9, tzinfo=UTC)
            entry = start_run(
                ledger,
                NewRun(
                    "demo",
                    "production",
                    "maintenance",
                    "t",
                    None,
                    None,
                    "updates",
                    {},
                    "-",
                    None,
                    False,
                    5.0,
                    started_at=started,
                    month=contract.month_of(started),
                ),
            )
            billing = bill(contract, started, raw, kind=EntryKind.RUN.value, work_type="updates")
            split = role_split(
                contract.term_for(month), "maintenance", None, {k: float(v) for k, v in roles.items()}, raw
            )
            finish_run(
                ledger,
                entry.id,
                RunOutcome(
                    EntryStatus.SUCCEEDED,
                    started,
                    raw,
                    billing.billed_seconds,
                    billing.contract_term,
                    0,
                    "updates",
                    [],
                    {},
                    [],
                    {k: float(v) for k, v in roles.items()},
                    [],
                    {},
                    billing_group=billing.group,
                    work_split=split,
                ),
            )
        for work_type, raw, day in manual:
            started = datetime(2026, 3, day, 9, tzinfo=UTC)
            billing = bill(contract, started, raw, work_type=work_type)
            add_manual(
                ledger,
                ManualWork(
                    "demo",
                    "t",
                    work_type,
                    started,
                    raw,
                    billing.billed_seconds,
                    billing.contract_term,
                    month=contract.month_of(started),
                ),
            )
        document: dict[str, Any] = collect(ledger, contract, space.client_dir, month)
    finally:
        ledger.dispose()
    step = increment * 60
    run_raw: dict[str, int] = {}
    for raw, roles, _day in runs:
        weights: dict[str, int] = {}
        for role, seconds in roles.items():
            if seconds > 0:
                weights[ROLE_TYPES[role]] = weights.get(ROLE_TYPES[role], 0) + seconds
        # one work type or none: no split, billed under the work type it was recorded with
        parts = reference_split(raw, weights) if len(weights) > 1 else {"updates": raw}
        for key, value in parts.items():
            run_raw[key] = run_raw.get(key, 0) + value
    expected_raw = dict(run_raw)
    expected_billed = {key: reference_round(value, step, mode, 0) for key, value in run_raw.items()}
    for work_type, raw, _day in manual:
        expected_raw[work_type] = expected_raw.get(work_type, 0) + raw
        expected_billed[work_type] = expected_billed.get(work_type, 0) + reference_round(raw, step, mode, 0)
    hours = document["hours"]
    assert {i["work_type"]: i["raw_seconds"] for i in hours["by_work_type"]} == expected_raw
    assert {i["work_type"]: i["billed_seconds"] for i in hours["by_work_type"]} == expected_billed
    assert hours["used_billed_seconds"] == sum(expected_billed.values())
    assert hours["used_raw_seconds"] == sum(r for r, _w, _d in runs) + sum(r for _t, r, _d in manual)


def test_expected_hours_must_name_the_contracts_work_types(tmp_path: Path) -> None:
    from bxops.contract import parse_contract
    from bxops.errors import ContractError

    data = yaml.safe_load((Path(__file__).resolve().parents[2] / "inventories/demo/contract.yml").read_text())
    assert parse_contract("demo", tmp_path, data).terms[0].expected_hours == {"maintenance": 8, "enhancements": 12}
    data["terms"][0]["expected_hours"] = {"maintenance": 8, "seo": 4}
    with pytest.raises(ContractError) as caught:
        parse_contract("demo", tmp_path / "contract.yml", data)
    assert str(caught.value) == (f"{tmp_path / 'contract.yml'}: terms[0]: expected_hours.seo: unknown work type 'seo'")

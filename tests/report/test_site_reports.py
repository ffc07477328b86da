"""The monthly report for a host with several sites (issue 17): the hand-written client in fixtures/twosites
(web1 runs sites main and shop, reports in reports/web1/sites/<site>/; web2 is a one-site host in the old
layout) and two runs over web1's sites recorded in the ledger, one of them with shop failed. Every expected
value below is worked out by hand from those files, not by bxops."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from bxops.bookkeeping import bill
from bxops.contract import load_contract
from bxops.ledger.database import open_ledger
from bxops.ledger.entries import NewRun, RunOutcome, finish_run, start_run
from bxops.ledger.models import EntryKind, EntryStatus
from bxops.monthly.sources import audit_reports, site_audit_reports

from .conftest import MONTH, ReportSpace, empty_space

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "twosites"
SHOP_FAILURE = "smoke test failed: status / : 500"
#: (day, playbook, status, audit_data["sites"]) of the month's runs over the sites
RUNS: list[tuple[int, str, EntryStatus, dict[str, list[dict[str, str]]]]] = [
    (12, "update", EntryStatus.FAILED, {
        "web1": [{"name": "main", "docroot": "/home/bitrix/www", "status": "ok", "message": ""},
                 {"name": "shop", "docroot": "/home/bitrix/ext_www/shop.example.ru", "status": "failed",
                  "message": SHOP_FAILURE}],
        "web2": [{"name": "default", "docroot": "/home/bitrix/www", "status": "ok", "message": ""}],
    }),
    (20, "audit", EntryStatus.SUCCEEDED, {
        "web1": [{"name": "main", "docroot": "/home/bitrix/www", "status": "ok", "message": ""},
                 {"name": "shop", "docroot": "/home/bitrix/ext_www/shop.example.ru", "status": "ok", "message": ""}],
    }),
]


def record_runs(space: ReportSpace) -> None:
    contract = load_contract("demo", space.client_dir / "contract.yml")
    ledger = open_ledger(space.ledger_url)
    try:
        for day, playbook, status, sites in RUNS:
            started = datetime(2026, 11, day, 9, 0, tzinfo=UTC)
            entry = start_run(ledger, NewRun(
                client="demo", environment="production", playbook=playbook, engineer="t", ticket=None, note=None,
                work_type="updates", options={}, artifacts_dir="-", estimate_seconds=None, overage_override=False,
                heartbeat_interval=5.0, started_at=started, month=contract.month_of(started)))
            billing = bill(contract, started, 900, kind=EntryKind.RUN.value, work_type="updates")
            finish_run(ledger, entry.id, RunOutcome(
                status=status, ended_at=started.replace(minute=15), raw_seconds=900,
                billed_seconds=billing.billed_seconds, billing_group=billing.group,
                contract_term=billing.contract_term, return_code=0 if status == EntryStatus.SUCCEEDED else 2,
                work_type="updates", hosts=list(sites), host_stats={}, play_seconds=[], role_seconds={},
                changed=[], audit_data={"sites": sites}))
    finally:
        ledger.dispose()


def two_site_space(root: Path) -> ReportSpace:
    space = empty_space(root)
    shutil.copy(FIXTURE / "hosts.yml", space.client_dir / "hosts.yml")
    shutil.copytree(FIXTURE / "reports", space.client_dir / "reports")
    record_runs(space)
    return space


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The month's report of the two-site client: JSON, HTML and Markdown in English, HTML and PDF in Russian."""
    space = two_site_space(tmp_path_factory.mktemp("twosites"))
    for lang, formats in (("en", "json,html,md"), ("ru", "html,pdf")):
        done = space.cli("report", "demo", "--month", str(MONTH), "--format", formats, "--lang", lang)
        assert done.returncode == 0, done.stderr
    return space.client_dir / "monthly-reports" / str(MONTH)


def document(report: Path) -> dict[str, Any]:
    return json.loads((report / "report-en.json").read_text(encoding="utf-8"))


def test_each_site_has_its_own_row_with_its_own_values(report: Path) -> None:
    hosts = {h["host"]: h for h in document(report)["infrastructure"]["hosts"]}
    assert sorted(hosts) == ["web1", "web2"]
    main, shop = hosts["web1"]["sites"]
    assert (main["site"], main["core"], main["php"], main["docroot"]) == (
        "main", "24.0.0", "8.2.20", "/home/bitrix/www")
    assert (shop["site"], shop["core"], shop["php"], shop["docroot"]) == (
        "shop", "23.0.0", "7.4.33", "/home/bitrix/ext_www/shop.example.ru")
    assert main["audit_day"] == shop["audit_day"] == "2026-11-25"
    # main: the 10-30 report (before the month) had main 23.500.0; shop: its first report of the month had sale 23.0.0
    assert main["updates"] == [{"module": "main", "from": "23.500.0", "to": "24.0.0"}]
    assert shop["updates"] == [{"module": "sale", "from": "23.0.0", "to": "23.100.0"}]
    assert main["findings"] == []  # exposed-git of 11-05 was gone by 11-25
    assert [(f["id"], f["severity"]) for f in shop["findings"]] == [
        ("CVE-2022-27228", "critical"), ("config-readable-by-others", "medium")]
    assert shop["findings_by_severity"] == {"critical": 1, "medium": 1}
    # the certificate that expires first: www.main (12 days) over main.example.ru (45)
    assert main["certificate"] == {
        "domain": "www.main.example.ru", "not_after": "2026-12-07T00:00:00Z", "days_left": 12}
    assert shop["certificate"] == {"domain": "shop.example.ru", "not_after": "2026-11-30T00:00:00Z", "days_left": 5}
    assert (main["checks"], main["uptime_percent"], main["db_bytes"]) == (2, 100.0, 1_100_000_000)
    assert (shop["checks"], shop["uptime_percent"], shop["db_bytes"]) == (2, 50.0, 3_500_000_000)  # 503 on 11-25


def test_host_facts_once_over_its_sites(report: Path) -> None:
    hosts = {h["host"]: h for h in document(report)["infrastructure"]["hosts"]}
    web1 = hosts["web1"]
    # four checks (two per site), one 503; responses 120, 180, 300, 900 ms
    assert (web1["checks"], web1["uptime_percent"]) == (4, 75.0)
    assert (web1["response_median_ms"], web1["response_p95_ms"]) == (240.0, 900.0)
    # the databases of a day summed: 11-05 1.0 + 3.0 GB, 11-25 1.1 + 3.5 GB; the disk is the host's, once
    assert web1["series"]["db_bytes"] == [["2026-11-05", 4_000_000_000], ["2026-11-25", 4_600_000_000]]
    assert (web1["db_bytes"], web1["db_trend_bytes"]) == (4_600_000_000, 600_000_000)
    assert web1["series"]["disk_used"] == [["2026-11-05", 40_000_000_000], ["2026-11-25", 42_000_000_000]]
    assert (web1["disk_used_bytes"], web1["disk_free_bytes"]) == (42_000_000_000, 58_000_000_000)
    # the one-site host in the old layout is read as before, with no site rows
    web2 = hosts["web2"]
    assert (web2["checks"], web2["uptime_percent"], web2["db_bytes"], web2["sites"]) == (1, 100.0, 500_000_000, [])
    forecast = {f["host"]: f for f in document(report)["next_steps"]["disk_forecast"]}
    assert forecast["web1"]["days_until_full"] == 580  # 2 GB in 20 days = 0.1 GB a day, 58 GB free


def test_security_and_next_steps_name_the_site(report: Path) -> None:
    doc = document(report)
    security = doc["security"]
    assert [(f["host"], f["site"], f["id"]) for f in security["opened"]] == [
        ("web1", "main", "exposed-git"), ("web1", "shop", "CVE-2022-27228")]
    assert [(f["host"], f["site"], f["id"]) for f in security["closed"]] == [("web1", "main", "exposed-git")]
    assert sorted((f["host"], f.get("site"), f["id"]) for f in security["open"]) == [
        ("web1", "shop", "CVE-2022-27228"), ("web1", "shop", "config-readable-by-others")]
    eol = [(p["host"], p.get("site"), p["php"], p["ended"]) for p in doc["next_steps"]["php_end_of_life"]]
    assert eol == [("web1", "main", "8.2", False), ("web1", "shop", "7.4", True), ("web2", None, "8.1", True)]


def test_the_month_says_which_site_failed_in_which_run(report: Path) -> None:
    runs = document(report)["work"]["site_runs"]
    assert [(r["date"], r["playbook"], r["host"], r["failed"]) for r in runs] == [
        ("2026-11-12", "update", "web1", ["shop"]), ("2026-11-20", "audit", "web1", [])]
    assert [(s["site"], s["status"], s["message"]) for s in runs[0]["sites"]] == [
        ("main", "ok", ""), ("shop", "failed", SHOP_FAILURE)]
    assert runs[0]["status"] == "failed"  # web2's one site went well: not listed


class _Tables(HTMLParser):
    """The text of each row of each table with the given class."""

    def __init__(self, css: str) -> None:
        super().__init__()
        self.css = css
        self.rows: list[list[str]] = []
        self._in = False
        self._row_cells: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._in = dict(attrs).get("class") == self.css
        elif tag == "tr" and self._in:
            self._row_cells = []
        elif tag in ("td", "th") and self._row_cells is not None:
            self._row_cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._row_cells is not None:
            self.rows.append([c.strip() for c in self._row_cells])
            self._row_cells = None
        elif tag == "table":
            self._in = False

    def handle_data(self, data: str) -> None:
        if self._row_cells:
            self._row_cells[-1] += data


def rows(html: str, css: str) -> list[list[str]]:
    parser = _Tables(css)
    parser.feed(html)
    return parser.rows


def test_html_has_a_row_per_site_and_the_failed_site(report: Path) -> None:
    html = (report / "report-en.html").read_text(encoding="utf-8")
    sites = rows(html, "sites")
    assert sites[0][:4] == ["Site", "1C-Bitrix core", "PHP", "Open findings"]
    assert [r[:3] for r in sites[1:]] == [["main", "24.0.0", "8.2.20"], ["shop", "23.0.0", "7.4.33"]]
    assert sites[1][3] == "none" and sites[2][3] == "[critical] vote module below 21.0.100; " \
        "[medium] Settings readable by other users"
    assert sites[1][4] == "main 23.500.0 → 24.0.0" and sites[2][4] == "sale 23.0.0 → 23.100.0"
    assert sites[1][5] == "www.main.example.ru: 12 days left" and sites[2][5] == "shop.example.ru: 5 days left"
    runs = rows(html, "site-runs")
    assert runs[1:] == [
        ["2026-11-12", "update (production)", "web1", "main", "succeeded"],
        ["2026-11-12", "update (production)", "web1", "shop", f"failed: {SHOP_FAILURE}"],
        ["2026-11-20", "audit (production)", "web1", "main", "succeeded"],
        ["2026-11-20", "audit (production)", "web1", "shop", "succeeded"],
    ]
    assert "web1 / shop: [critical] vote module below 21.0.100" in html


def test_markdown_and_russian_pdf_name_each_site(report: Path) -> None:
    md = (report / "report-en.md").read_text(encoding="utf-8")
    assert "  - Site main: 1C-Bitrix core 24.0.0, PHP 8.2.20, Open findings 0" in md
    assert "| 2026-11-12 | update (production) | web1 | shop | **failed** |" in md
    text = subprocess.run(["pdftotext", str(report / "report-ru.pdf"), "-"], check=True,
                          capture_output=True, text=True, timeout=120).stdout
    assert "Сайты на web1" in text and "Запуски на серверах с несколькими сайтами" in text  # noqa: RUF001
    assert "с ошибкой" in text  # noqa: RUF001 (shop's failed run)
    cells = "".join(text.split())  # the site table's narrow cells wrap values over lines
    for value in ("24.0.0", "23.0.0", "8.2.20", "7.4.33", "www.main.example.ru", "shop.example.ru"):
        assert value in cells


def test_site_folders_next_to_the_old_layout(tmp_path: Path) -> None:
    """A host that had one site and now has several: both layouts read, each under its own key; a symlinked
    or oddly named site folder is passed over."""
    root = tmp_path / "client"
    shutil.copytree(FIXTURE / "reports", root / "reports")
    shutil.copy(FIXTURE / "reports/web2/audit-2026-11-25.json", root / "reports/web1/audit-2026-10-01.json")
    (root / "reports/web1/sites/evil").symlink_to(root / "reports/web2")
    (root / "reports/web1/sites/.hidden").mkdir()
    shutil.copy(FIXTURE / "reports/web2/audit-2026-11-25.json", root / "reports/web1/sites/.hidden")
    found = site_audit_reports(root)
    assert {key: [day.isoformat() for day, _doc in docs] for key, docs in found.items()} == {
        ("web1", None): ["2026-10-01"],
        ("web1", "main"): ["2026-10-30", "2026-11-05", "2026-11-25"],
        ("web1", "shop"): ["2026-11-05", "2026-11-25"],
        ("web2", None): ["2026-11-25"],
    }
    by_host = audit_reports(root, since=datetime(2026, 11, 1).date())
    assert [(day.isoformat(), doc["docroot"]) for day, doc in by_host["web1"]] == [
        ("2026-11-05", "/home/bitrix/www"), ("2026-11-05", "/home/bitrix/ext_www/shop.example.ru"),
        ("2026-11-25", "/home/bitrix/www"), ("2026-11-25", "/home/bitrix/ext_www/shop.example.ru")]


def test_pending_updates_compare_a_staging_site_with_the_production_site_of_its_name(tmp_path: Path) -> None:
    """web1-staging runs the same two sites; its shop has sale 23.200.0 (production shop: 23.100.0), its main has
    main 24.0.0 like production main. Production shop's main 23.0.0 is not compared with staging main's 24.0.0."""
    from bxops.monthly.data import next_steps

    root = tmp_path / "client"
    shutil.copytree(FIXTURE / "reports", root / "reports")
    for site, modules in (("main", {"main": {"version": "24.0.0"}}),
                          ("shop", {"main": {"version": "23.0.0"}, "sale": {"version": "23.200.0"}})):
        folder = root / "reports/web1-staging/sites" / site
        folder.mkdir(parents=True)
        (folder / "audit-2026-11-26.json").write_text(json.dumps(
            {"schema": "bxops.audit/2", "modules": modules, "php": {"serving": {"version": "8.3.1"}}}))
    steps = next_steps(root, MONTH, [])
    assert steps["pending_updates"] == [
        {"host": "web1", "site": "shop", "module": "sale", "from": "23.100.0", "to": "23.200.0"}]

"""Over real HTTP: each client sees only its own page; no token, a wrong token or another client's token
is refused with no figure and no client name in the body; the security headers are on every answer."""

from __future__ import annotations

import httpx
import pytest
import yaml

from .conftest import ServeSpace, contract

# 50 min → 1.00 h billed (15-minute steps, up); 10 h - 1 h = 9.00 h. Beta: 95 min → 1.75 h; 8.25 h left.
ALPHA_REMAINING = "9.00 h"
BETA_REMAINING = "8.25 h"


@pytest.fixture
def filled(space: ServeSpace) -> ServeSpace:
    space.log("alpha", 50, "maintenance", "alpha-secret-note")
    space.log("beta", 95, "bugfix", "beta-secret-note")
    return space


def _get(space: ServeSpace, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.get(space.base_url + path, headers=headers, timeout=30, follow_redirects=False)


def _no_data(response: httpx.Response) -> None:
    for leak in ("alpha", "beta", "secret-note", " h<", ALPHA_REMAINING, BETA_REMAINING):
        assert leak not in response.text, f"{leak!r} in a refused answer"


def test_own_token_opens_own_page(filled: ServeSpace) -> None:
    page = _get(filled, "/c/alpha/", filled.tokens["alpha"])
    assert page.status_code == 200
    assert ALPHA_REMAINING in page.text and "alpha-secret-note" in page.text
    assert "beta" not in page.text


def test_other_clients_token_refused(filled: ServeSpace) -> None:
    for path in ("/c/beta/", "/c/beta/reports/2026-11/report.ru.html"):
        answer = _get(filled, path, filled.tokens["alpha"])
        assert answer.status_code == 404
        _no_data(answer)
    answer = httpx.get(f"{filled.base_url}/c/beta/?token={filled.tokens['alpha']}", timeout=30)
    assert answer.status_code == 404
    _no_data(answer)
    assert "set-cookie" not in answer.headers


def test_client_token_refused_on_staff_view(filled: ServeSpace) -> None:
    answer = _get(filled, "/staff/", filled.tokens["alpha"])
    assert answer.status_code == 404
    _no_data(answer)


def test_missing_and_wrong_tokens_refused(filled: ServeSpace) -> None:
    for path in ("/c/alpha/", "/staff/"):
        missing = _get(filled, path)
        assert missing.status_code == 401
        _no_data(missing)
        wrong = _get(filled, path, "not-a-token")
        assert wrong.status_code == 404
        _no_data(wrong)
    # a client without a folder or token, and a name that is no client name at all
    assert _get(filled, "/c/gamma/", filled.tokens["alpha"]).status_code == 404
    assert _get(filled, "/c/..%2f..%2fetc/", filled.tokens["alpha"]).status_code == 404


def test_staff_sees_every_client(filled: ServeSpace) -> None:
    page = _get(filled, "/staff/", filled.tokens["staff"])
    assert page.status_code == 200
    assert "alpha" in page.text and "beta" in page.text
    assert ALPHA_REMAINING in page.text and BETA_REMAINING in page.text


def test_token_link_sets_cookie_and_leaves_the_address(filled: ServeSpace) -> None:
    with httpx.Client(base_url=filled.base_url, timeout=30) as browser:
        first = browser.get(f"/c/alpha/?token={filled.tokens['alpha']}")
        assert first.status_code == 303 and first.headers["location"] == "/c/alpha/"
        cookie = first.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/c/alpha/" in cookie
        again = browser.get("/c/alpha/")
        assert again.status_code == 200 and ALPHA_REMAINING in again.text


def test_security_headers_on_every_answer(filled: ServeSpace) -> None:
    for answer in (
        _get(filled, "/c/alpha/", filled.tokens["alpha"]),
        _get(filled, "/c/alpha/"),
        _get(filled, "/staff/", "wrong"),
    ):
        csp = answer.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert "no-store" in answer.headers["cache-control"]


def test_reports_served_only_from_the_clients_folder(filled: ServeSpace) -> None:
    month = filled.inventories / "alpha" / "monthly-reports" / "2026-10"
    month.mkdir(parents=True)
    (month / "report.en.html").write_text("<html><body>October report of alpha</body></html>", encoding="utf-8")
    (month / "report.en.pdf").write_bytes(b"%PDF-1.4 fake but served as is\n")
    (month / "notes.txt").write_text("not a report", encoding="utf-8")
    (month / "link.html").symlink_to(filled.root / "bxops.toml")
    token = filled.tokens["alpha"]
    page = _get(filled, "/c/alpha/", token)
    assert 'href="reports/2026-10/report.en.html"' in page.text
    assert 'href="reports/2026-10/report.en.pdf"' in page.text
    assert "notes.txt" not in page.text and "link.html" not in page.text
    html = _get(filled, "/c/alpha/reports/2026-10/report.en.html", token)
    assert html.status_code == 200 and "October report of alpha" in html.text
    pdf = _get(filled, "/c/alpha/reports/2026-10/report.en.pdf", token)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    for refused in ("notes.txt", "link.html", "..%2f..%2fcontract.yml"):
        assert _get(filled, f"/c/alpha/reports/2026-10/{refused}", token).status_code == 404
    assert _get(filled, "/c/beta/reports/2026-10/report.en.html", token).status_code == 404


def test_long_month_lists_the_latest_entries_and_counts_all(space: ServeSpace) -> None:
    """105 entries of 15 minutes (each billed 0.25 h): 10 h - 26.25 h → 0.00 h left, 16.25 h overage; the
    page lists the latest 100 and says so; ?all=1 lists every one."""
    from datetime import UTC, datetime, timedelta

    from bxops.ledger.database import open_ledger
    from bxops.ledger.entries import ManualWork, add_manual
    from bxops.periods import Month

    ledger = open_ledger(space.ledger_url)
    start = datetime.now(UTC).replace(hour=0, minute=1, second=0, microsecond=0)
    try:
        for number in range(105):
            add_manual(
                ledger,
                ManualWork(
                    client="alpha",
                    engineer="tester",
                    work_type="bugfix",
                    started_at=start + timedelta(seconds=number),
                    raw_seconds=900,
                    billed_seconds=900,
                    contract_term="2026-01-01",
                    note=f"task number {number}",
                    month=Month.of(start),
                ),
            )
    finally:
        ledger.dispose()
    token = space.tokens["alpha"]
    page = _get(space, "/c/alpha/", token)
    assert page.status_code == 200
    assert 'id="remaining" class="big" data-seconds="0">0.00 h' in page.text
    assert "16.25 h" in page.text
    assert page.text.count('class="entry"') == 100
    assert "task number 104" in page.text and "task number 4<" not in page.text
    assert 'id="more"' in page.text
    every = httpx.get(space.base_url + "/c/alpha/?all=1", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert every.text.count('class="entry"') == 105 and "task number 0<" in every.text
    assert 'id="more"' not in every.text


def test_an_edited_contract_shows_on_reload(filled: ServeSpace) -> None:
    """The server keeps each parsed contract until its file changes: 10 h → 12 h a month shows at once,
    no restart. Alpha: 50 min billed 1.00 h → 11.00 h left; beta untouched."""
    path = filled.inventories / "alpha" / "contract.yml"
    assert ALPHA_REMAINING in _get(filled, "/c/alpha/", filled.tokens["alpha"]).text
    edited = contract("alpha")
    edited["terms"][0]["hours_per_month"] = 12
    path.write_text(yaml.safe_dump(edited), encoding="utf-8")
    page = _get(filled, "/c/alpha/", filled.tokens["alpha"])
    assert 'data-seconds="39600">11.00 h' in page.text
    assert BETA_REMAINING in _get(filled, "/c/beta/", filled.tokens["beta"]).text

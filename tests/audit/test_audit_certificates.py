"""bitrix_audit's certificate section from the served certificates the role reads with community.crypto's
get_certificate (roles/common/tasks/served_certificates.yml). Dates and days left are worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime

from ansible_collections.bxops.bitrix.plugins.modules import bitrix_audit as audit

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
SERVED = [
    # 2026-11-30 12:00 -> 2027-03-01 00:00: 0.5 + 31 (Dec) + 31 (Jan) + 28 (Feb) = 90.5 days
    {"domain": "shop.example.test", "served": True, "serial": 17, "not_after": "20270301000000Z", "error": None},
    # ten days ahead
    {"domain": "www.shop.example.test", "served": True, "serial": 18, "not_after": "20261210120000Z", "error": None},
    # 2026-11-01 00:00: 29.5 days ago
    {"domain": "old.example.test", "served": True, "serial": 19, "not_after": "20261101000000Z", "error": None},
    {"domain": "plain.example.test", "served": False, "serial": None, "not_after": None,
     "error": "Error while connecting to 127.0.0.1:443: [Errno 111] Connection refused"},
]


def test_days_left_per_domain_and_what_was_not_served() -> None:
    assert audit._certificates(SERVED, NOW) == [
        {"domain": "shop.example.test", "served": True, "not_after": "2027-03-01T00:00:00Z", "days_left": 90.5},
        {"domain": "www.shop.example.test", "served": True, "not_after": "2026-12-10T12:00:00Z", "days_left": 10.0},
        {"domain": "old.example.test", "served": True, "not_after": "2026-11-01T00:00:00Z", "days_left": -29.5},
        {"domain": "plain.example.test", "served": False, "not_after": None, "days_left": None,
         "error": "Error while connecting to 127.0.0.1:443: [Errno 111] Connection refused"},
    ]


def test_an_expired_or_soon_expiring_certificate_is_a_finding() -> None:
    findings = audit._certificate_findings(audit._certificates(SERVED, NOW))
    assert [(f["id"], f["severity"], f["detail"]) for f in findings] == [
        ("certificate-expires-soon", "high", "www.shop.example.test: expires on 2026-12-10T12:00:00Z, in 10.0 days"),
        ("certificate-expired", "critical", "old.example.test: expired on 2026-11-01T00:00:00Z"),
    ]


def test_an_unreadable_expiry_is_reported_not_guessed() -> None:
    [entry] = audit._certificates([{"domain": "x.test", "served": True, "not_after": "Dec 10 2026"}], NOW)
    assert entry == {"domain": "x.test", "served": False, "not_after": None, "days_left": None,
                     "error": "unreadable expiry 'Dec 10 2026'"}

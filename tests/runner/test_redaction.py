"""Redaction: secret-looking names (pw, pwd, dsn among them) and credentials inside URLs, in any string
value the ledger or the console gets."""

from __future__ import annotations

import pytest

from bxops.redaction import looks_secret, redact, redact_text


@pytest.mark.parametrize(
    "name",
    ["pw", "db_pw", "DB_PWD", "pwd", "mysqlPwd", "dsn", "DATABASE_DSN", "sentry-dsn", "db_pass", "dbPass", "passwd"],
)
def test_short_secret_names(name: str) -> None:
    assert looks_secret(name)
    assert redact({name: "hunter2"}) == {name: "***"}


@pytest.mark.parametrize(
    "name", ["cwd", "pwm_fan", "dsnap_version", "bitrix_docroot", "update_recover_run", "passed", "bypass_cache"]
)
def test_ordinary_names_stay(name: str) -> None:
    assert not looks_secret(name)
    assert redact({name: "value"}) == {name: "value"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql+psycopg://bx:s3cr3t@db.example:5432/ledger", "postgresql+psycopg://bx:***@db.example:5432/ledger"),
        ("mysql://root:p@ss@10.0.0.5/site", "mysql://root:***@10.0.0.5/site"),
        ("redis://:t0ken@cache:6379/0", "redis://:***@cache:6379/0"),
        ("ftp://u:a/b@files.example/x", "ftp://u:***@files.example/x"),
        (
            "mirror https://deploy:gh-pat-123@git.example/repo.git failed, see https://docs.example/x",
            "mirror https://deploy:***@git.example/repo.git failed, see https://docs.example/x",
        ),
        ("https://user@host/path", "https://user@host/path"),
        ("no url here: user:pass@host", "no url here: user:pass@host"),
    ],
)
def test_credentials_in_urls(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_nested_values_are_redacted_everywhere() -> None:
    data = {
        "site": {"url": "https://admin:adm1n@site.example/bitrix/", "mirrors": ["sftp://b:x9@m1/", "plain"]},
        "db_pwd": "x",
        "count": 3,
    }
    assert redact(data) == {
        "site": {"url": "https://admin:***@site.example/bitrix/", "mirrors": ["sftp://b:***@m1/", "plain"]},
        "db_pwd": "***",
        "count": 3,
    }

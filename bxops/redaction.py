"""Keeping secrets out of the ledger and the console: names that look secret have their values
replaced, and credentials written into URLs (`scheme://user:password@host`) are blanked in any text."""

from __future__ import annotations

import re
from typing import Any

REDACTED = "***"
_SECRET_NAME = re.compile(
    r"pass(word|wd|phrase)|secret|token|api[_-]?key|private|credential|auth|vault|(^|_)key($|_)|salt|cookie",
    re.IGNORECASE,
)
#: Short names that are secret only as a whole word of the name: `pw`, `db_pwd`, `mysqlDsn`, `DSN`,
#: `db_pass` (but not `pwm_fan`, `dsnap`, or the audit's `passed` and `bypass`).
_SECRET_WORDS = frozenset({"pw", "pwd", "dsn", "pass"})
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
#: `scheme://user:password@`: the password runs to the last `@` before the host's path (a password may
#: hold an unencoded `@`); a user alone (`https://user@host`) is no secret.
_URL_CREDENTIALS = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*):(?P<password>[^\s/]*)@")
#: Then a password holding `/` (no `@` before it): up to the first `@` of the word.
_URL_CREDENTIALS_SLASH = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*):(?P<password>\S*?)@")


def looks_secret(name: str) -> bool:
    if _SECRET_NAME.search(name):
        return True
    return any(word.lower() in _SECRET_WORDS for word in _WORD.findall(name))


def redact_text(text: str) -> str:
    """text with the password of every `scheme://user:password@host` replaced by ***."""
    if "://" not in text:
        return text
    text = _URL_CREDENTIALS.sub(rf"\g<head>:{REDACTED}@", text)
    return _URL_CREDENTIALS_SLASH.sub(
        lambda found: found.group(0) if found.group("password") == REDACTED else f"{found.group('head')}:{REDACTED}@",
        text,
    )


def redact(value: Any) -> Any:
    """A copy of value where every mapping entry with a secret-looking key is replaced, and every string
    has the credentials of the URLs it holds replaced."""
    if isinstance(value, dict):
        return {str(key): REDACTED if looks_secret(str(key)) else redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value

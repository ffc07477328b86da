"""Keeping secrets out of the ledger: names that look secret have their values replaced."""

from __future__ import annotations

import re
from typing import Any

REDACTED = "***"
_SECRET_NAME = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[_-]?key|private|credential|auth|vault|(^|_)key($|_)|salt|cookie",
    re.IGNORECASE,
)


def looks_secret(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def redact(value: Any) -> Any:
    """A copy of value where every mapping entry with a secret-looking key is replaced."""
    if isinstance(value, dict):
        return {str(key): REDACTED if looks_secret(str(key)) else redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value

"""`runner.py serve-token`: the token is printed once, only its SHA-256 is stored, in a 0600 file."""

from __future__ import annotations

import hashlib
import stat
import tomllib
from pathlib import Path

from bxops.serve.tokens import TokenStore, is_staff, matches


def test_store_keeps_only_the_digest(tmp_path: Path) -> None:
    path = tmp_path / "tokens.toml"
    store = TokenStore()
    token = store.issue("alpha")
    staff = store.issue("boss", staff=True)
    store.save(path)
    text = path.read_text(encoding="utf-8")
    assert token not in text and staff not in text
    data = tomllib.loads(text)
    assert data["clients"]["alpha"] == "sha256:" + hashlib.sha256(token.encode()).hexdigest()
    assert data["staff"]["boss"] == "sha256:" + hashlib.sha256(staff.encode()).hexdigest()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = TokenStore.load(path)
    assert matches(loaded.clients["alpha"], token)
    assert not matches(loaded.clients["alpha"], staff)
    assert not matches(loaded.clients.get("beta"), token)
    assert not matches(loaded.clients["alpha"], "")
    assert is_staff(loaded, staff) and not is_staff(loaded, token)


def test_new_token_replaces_the_old(tmp_path: Path) -> None:
    store = TokenStore()
    first = store.issue("alpha")
    second = store.issue("alpha")
    assert first != second and len(second) >= 40
    assert matches(store.clients["alpha"], second) and not matches(store.clients["alpha"], first)

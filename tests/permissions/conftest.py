"""Fixtures for the bitrix_permissions tests (helpers live in permissions_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from permissions_helpers import make_site, need_root


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return make_site(tmp_path)


@pytest.fixture
def as_root() -> None:
    """requires_root: skip when not root, fail instead under CI (CI=true)."""
    need_root()

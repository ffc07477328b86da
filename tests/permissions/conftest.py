"""Fixtures for the bitrix_permissions tests (helpers live in permissions_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from permissions_helpers import make_site


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return make_site(tmp_path)

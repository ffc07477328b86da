"""Shared pytest set-up: the collection importable as ansible_collections.bxops.bitrix."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / ".collections"))
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", str(PROJECT / ".collections"))
os.environ.setdefault("CONTAINERS_CONF", str(PROJECT / "images" / "containers.conf"))

"""Every module of the collection documents itself for `ansible-doc` (users read it there)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
MODULES = sorted(p.stem for p in (PROJECT / "plugins" / "modules").glob("*.py"))


@pytest.mark.parametrize("module", MODULES)
def test_module_documentation_parses_and_names_its_options(module: str) -> None:
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"))
    proc = subprocess.run(["ansible-doc", "--json", f"bxops.bitrix.{module}"], env=env, text=True,
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)[f"bxops.bitrix.{module}"]["doc"]
    assert doc["short_description"]
    assert doc.get("options"), f"{module} documents no options"

"""The collection as ansible-galaxy builds it: what users install must hold the roles and plugins, and
none of the working copy's local state (ledger, run artifacts, test logs, client reports, caches)."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_built_collection_ships_the_roles_and_no_local_state(tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(ROOT, work, symlinks=True, ignore=shutil.ignore_patterns(".git", ".venv", ".collections"))
    # local state a working copy accumulates
    (work / "var" / "artifacts").mkdir(parents=True, exist_ok=True)
    (work / "var" / "ledger.sqlite").write_text("ledger")
    (work / "inventories" / "demo" / "reports").mkdir(exist_ok=True)
    (work / "inventories" / "demo" / "reports" / "audit.json").write_text("{}")
    (work / ".pytest_cache").mkdir(exist_ok=True)
    out = tmp_path / "out"
    subprocess.run(["ansible-galaxy", "collection", "build", "--output-path", str(out), str(work)],
                   check=True, capture_output=True, text=True)
    [archive] = out.glob("bxops-bitrix-*.tar.gz")
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    tops = {name.split("/", 1)[0] for name in names}
    # The collection and nothing else: no runner, client inventories, scripts, tooling or local state.
    assert tops == {"roles", "plugins", "playbooks", "meta", "docs", "README.md", "MANIFEST.json", "FILES.json"}
    for role in ("audit", "backup", "update", "common"):
        assert f"roles/{role}/meta/argument_specs.yml" in names
    assert "plugins/modules/bitrix_updates.py" in names
    assert not tops & {"var", ".pytest_cache", ".hypothesis", ".ruff_cache", ".mypy_cache", "molecule", "tests"}
    assert not [n for n in names if "/reports/" in n or "/molecule/" in n or n.endswith(".sqlite")]

"""The runner writes the client's project docs after a successful audit or maintenance run (not after a dry
run, not after another playbook): a real playbook through runner.py, against localhost."""
from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT / "tests"))
from runner.conftest import PLAYBOOKS, Workspace, make_workspace  # type: ignore[import-not-found]  # noqa: E402


@pytest.fixture()
def ws(tmp_path: Path) -> tuple[Workspace, str]:
    workspace = make_workspace(tmp_path, str(tmp_path / "ledger.sqlite"))
    playbooks = tmp_path / "playbooks"
    shutil.copytree(PLAYBOOKS, playbooks)
    shutil.copy(PLAYBOOKS / "tiny.yml", playbooks / "audit.yml")  # the runner's test playbook, named audit
    # an audit report as the audit role stores it, so the docs have a host to describe
    report = workspace.client_dir / "reports" / "localhost" / "audit-2026-11-28.json"
    report.parent.mkdir(parents=True)
    report.write_text('{"schema": "bxops.audit/2", "core": {"version": "24.0.0"}, "docroot": "/srv/www"}')
    return workspace, str(playbooks)


def test_a_successful_audit_run_writes_the_docs_and_a_second_one_changes_nothing(ws) -> None:
    workspace, playbooks = ws
    docs = workspace.client_dir / "docs"
    done = workspace.cli("run", "t1", "staging", "audit", BXOPS_PLAYBOOKS_DIR=playbooks)
    assert (f"project docs written to {docs}: README.md, integrations.md, components.md changed, "
            f"diff appended to {workspace.client_dir}/CHANGELOG.md") in " ".join(done.stderr.split())
    assert "| localhost | — | — | — | — | 24.0.0 | — | — |" in (docs / "README.md").read_text()
    again = workspace.cli("run", "t1", "staging", "audit", BXOPS_PLAYBOOKS_DIR=playbooks)
    assert f"project docs unchanged in {docs}" in " ".join(again.stderr.split())


def test_dry_runs_and_other_playbooks_leave_the_docs_alone(ws) -> None:
    workspace, playbooks = ws
    workspace.cli("run", "t1", "staging", "audit", "--check", BXOPS_PLAYBOOKS_DIR=playbooks)
    workspace.cli("run", "t1", "staging", "tiny", BXOPS_PLAYBOOKS_DIR=playbooks)
    assert not (workspace.client_dir / "docs").exists()


def test_docs_that_cannot_be_written_only_warn(tmp_path: Path) -> None:
    from io import StringIO

    from rich.console import Console

    from bxops.accounted_run import _regenerate_docs
    from bxops.settings import load_settings

    client = tmp_path / "inventories" / "t1"
    client.mkdir(parents=True)
    (client / "hosts.yml").write_text("all:\n  children:\n    staging:\n      hosts:\n        h1: {}\n")
    (client / "docs").symlink_to(tmp_path)  # a symlinked docs folder is refused, nothing written through it
    settings = load_settings()
    settings = dataclasses.replace(settings, inventories_dir=tmp_path / "inventories")
    buffer = StringIO()
    _regenerate_docs(settings, "t1", Console(file=buffer, width=300))
    assert buffer.getvalue().strip() == f"warning: project docs not written: refusing {client}/docs: it is a symlink"
    assert not (tmp_path / "README.md").exists() and not (client / "CHANGELOG.md").exists()

"""What a user sees from the playbooks before anything touches a host."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
PLAYBOOKS = sorted(p.name for p in (PROJECT / "playbooks").glob("*.yml") if p.name != "demo_up.yml")


def ansible_playbook(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"))
    return subprocess.run(["ansible-playbook", *args], cwd=PROJECT, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_maintenance_playbooks_refuse_to_run_without_an_environment(playbook: str) -> None:
    proc = ansible_playbook("-i", "inventories/demo", f"playbooks/{playbook}")
    assert proc.returncode != 0
    assert "bxops_env must be given explicitly as staging or production" in proc.stdout


def test_an_unknown_environment_is_refused() -> None:
    proc = ansible_playbook("-i", "inventories/demo", "playbooks/audit.yml", "-e", "bxops_env=qa")
    assert proc.returncode != 0
    assert "got qa" in proc.stdout


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_playbooks_resolve_the_collection_from_a_plain_checkout(playbook: str) -> None:
    proc = ansible_playbook("--syntax-check", "-i", "inventories/demo", f"playbooks/{playbook}",
                            "-e", "bxops_env=staging")
    assert proc.returncode == 0, proc.stdout

"""Helpers for the scenarios' testinfra tests: truth.json, reports, and running playbooks the way
a user does (ansible-playbook against the scenario's inventory) to test refusals and re-runs."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[2]


def ephemeral() -> Path:
    return Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])


def truth(inventory_hostname: str) -> dict[str, Any]:
    """What the generator planted on this host (fetched by molecule/shared/prepare.yml)."""
    return json.loads((ephemeral() / "truth" / f"{inventory_hostname}.json").read_text())


def run_playbook(
    playbook: str | Path,
    limit: str,
    extra_vars: dict[str, Any] | None = None,
    check: bool = False,
    timeout: int = 600,
) -> subprocess.CompletedProcess[str]:
    """ansible-playbook against this scenario's inventory; returns rc and combined output."""
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"),
        ANSIBLE_ROLES_PATH=str(PROJECT / "roles"),
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
        CONTAINERS_CONF=str(PROJECT / "images" / "containers.conf"),
    )
    argv = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "--limit", limit, str(playbook)]
    if extra_vars:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(extra_vars, handle)
        argv += ["-e", f"@{handle.name}"]
    if check:
        argv.append("--check")
    proc = subprocess.run(
        argv, cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
    )
    return proc

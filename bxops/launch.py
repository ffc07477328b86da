"""The first step of `run`, kept light (no SQLAlchemy, no pydantic): find what Ansible needs and start
it, held at a gate before its first task, so that it boots while the ledger is being opened.

Importing the ledger's and the contracts' libraries, opening the ledger and writing the entry take
about as long as ansible-playbook's own start-up (configuration, inventory, playbook). One after the
other, that time was the runner's overhead on every run; side by side, on a second core, most of it
disappears. Crash safety holds: the gate opens only once the ledger has the entry as `running`;
ansible-playbook held at the gate exits by itself when the runner dies; a run that a later check
refuses is killed while still held, before any task, and its artifacts are removed.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bxops.ansible_job import AnsibleJob, JobSpec
from bxops.clients import Client, find_client, find_playbook, parse_environment, playbook_name
from bxops.errors import BxopsError
from bxops.extra_vars import parse_extra_vars
from bxops.ledger.ids import new_run_id, utcnow
from bxops.liveness import process_start
from bxops.playbook_events import EventRecorder
from bxops.settings import Settings


@dataclass
class RunRequest:
    client: str
    environment: str
    playbook: str
    engineer: str
    tags: str | None = None
    skip_tags: str | None = None
    limit: str | None = None
    check: bool = False
    diff: bool = False
    extra_vars: list[str] = field(default_factory=list)
    vault_password_file: Path | None = None
    ticket: str | None = None
    note: str | None = None
    work_type: str | None = None
    allow_overage: bool = False
    verbosity: int = 0


@dataclass(frozen=True)
class Target:
    """Where a run goes and what Ansible gets: all known before the contract or the ledger is read."""

    client: Client
    environment: str
    playbook_path: Path
    playbook: str
    extravars: dict[str, Any]
    limit: str


def check_vault_password_file(request: RunRequest) -> None:
    if request.vault_password_file is not None and not request.vault_password_file.is_file():
        raise BxopsError(f"vault password file not found: {request.vault_password_file}")


def limit_for(environment: str, limit: str | None) -> str:
    """A run never leaves its environment: `--limit X` becomes `ENV:&X`."""
    return environment if not limit else f"{environment}:&{limit}"


def locate(settings: Settings, request: RunRequest) -> Target:
    """The run's checks that need neither the contract nor the ledger; raises BxopsError."""
    environment = parse_environment(request.environment)
    client = find_client(settings.inventories_dir, request.client)
    playbook_path = find_playbook(settings.playbooks_dir, request.playbook)
    client.check_environment_group(environment)
    check_vault_password_file(request)
    extravars = parse_extra_vars(request.extra_vars)
    return Target(
        client=client,
        environment=environment.value,
        playbook_path=playbook_path,
        playbook=playbook_name(playbook_path),
        extravars={**extravars, "bxops_env": environment.value},
        limit=limit_for(environment.value, request.limit),
    )


def runner_identity() -> dict[str, Any] | None:
    """This runner process as the site lock records its holder: a later taker on this machine checks
    whether it still lives (pid and start time) instead of going by the lock's age."""
    pid = os.getpid()
    start = process_start(pid)
    return {"host": socket.gethostname(), "pid": pid, "start": start} if start else None


def job_spec(settings: Settings, request: RunRequest, target: Target, run_id: str) -> JobSpec:
    identity = runner_identity()
    return JobSpec(
        project_dir=settings.root,
        playbook=target.playbook_path,
        inventory=target.client.inventory(),
        # The ledger's run id reaches the roles: locks, promotion records and the changelog name it; the
        # runner's identity lets the site lock tell a live holder from a dead one.
        extravars={
            "bxops_run_id": run_id,
            **({"bxops_runner": identity} if identity else {}),
            **target.extravars,
        },
        limit=target.limit,
        artifacts_root=settings.artifacts_dir / target.client.name,
        ident=run_id,
        tags=request.tags,
        skip_tags=request.skip_tags,
        check=request.check,
        diff=request.diff,
        vault_password_file=request.vault_password_file,
        ansible_cfg=settings.ansible_cfg,
        verbosity=request.verbosity,
        client_folder=target.client.folder,
    )


@dataclass
class EarlyStart:
    """Ansible started ahead of the ledger, held before its first task until `job.release()`."""

    target: Target
    run_id: str
    started_at: datetime  # the run's start in the ledger: when Ansible was started
    recorder: EventRecorder
    job: AnsibleJob


def start_early(settings: Settings, request: RunRequest) -> EarlyStart | None:
    """Start ansible-playbook held at its gate; None when a check fails or ansible-runner cannot start.

    Then nothing is running and `run` goes on as without an early start: `prepare` reports the first
    problem in its usual order, and a failing ansible-runner is reported (and recorded) as always.
    The caller must `job.discard()` the early start if it does not release it.
    """
    try:
        target = locate(settings, request)
    except BxopsError:
        return None
    started_at = utcnow()
    run_id = new_run_id(started_at)
    recorder = EventRecorder()
    try:
        job = AnsibleJob(job_spec(settings, request, target, run_id), recorder)
        job.start(gated=True)
    except BxopsError:
        return None
    return EarlyStart(target=target, run_id=run_id, started_at=started_at, recorder=recorder, job=job)

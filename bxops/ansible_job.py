"""One playbook run through ansible-runner's Python API (never a shell-out to ansible-playbook)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ansible_runner  # type: ignore[import-untyped]  # the package ships no type hints

from bxops.errors import BxopsError
from bxops.playbook_events import EventRecorder
from bxops.redaction import REDACTED, looks_secret

#: How often ansible-runner's loop looks at the cancel callback (and returns after the process ends).
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class JobSpec:
    project_dir: Path
    playbook: Path
    inventory: Path
    extravars: dict[str, Any]
    limit: str
    artifacts_root: Path
    ident: str
    tags: str | None = None
    skip_tags: str | None = None
    check: bool = False
    diff: bool = False
    vault_password_file: Path | None = None
    ansible_cfg: Path | None = None
    verbosity: int = 0


@dataclass(frozen=True)
class JobResult:
    status: str  # ansible-runner's: successful, failed, canceled, timeout
    rc: int | None
    artifacts_dir: Path


def _cmdline(spec: JobSpec) -> str | None:
    args: list[str] = []
    if spec.check:
        args.append("--check")
    if spec.diff:
        args.append("--diff")
    if spec.vault_password_file is not None:
        args += ["--vault-password-file", str(spec.vault_password_file)]
    return " ".join(shlex.quote(arg) for arg in args) or None


def _environment(spec: JobSpec) -> dict[str, str]:
    envvars = {"ANSIBLE_CONFIG": str(spec.ansible_cfg)} if spec.ansible_cfg else {}
    if shutil.which("ansible-playbook") is None:
        # Run from a virtualenv that is not on PATH: ansible-playbook sits next to our interpreter.
        envvars["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return envvars


def redact_command_artifact(artifacts_dir: Path) -> None:
    """ansible-runner keeps the whole environment in `command`: blank what may be secret (a ledger
    URL with its password, tokens, passwords)."""
    path = artifacts_dir / "command"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    env = data.get("env")
    if isinstance(env, dict):
        data["env"] = {
            key: REDACTED if looks_secret(key) or key.endswith("_URL") else value
            for key, value in env.items()
        }
        path.write_text(json.dumps(data), encoding="utf-8")


def run_job(
    spec: JobSpec,
    recorder: EventRecorder,
    *,
    should_cancel: Callable[[], bool],
    on_tick: Callable[[], None],
    tick_seconds: float = 0.1,
) -> JobResult:
    """Run the playbook; call on_tick from this thread while it runs; stop it when should_cancel()."""
    private_data_dir = Path(tempfile.mkdtemp(prefix="bxops-run-"))  # holds extravars; removed after
    envvars = _environment(spec)
    spec.artifacts_root.mkdir(parents=True, exist_ok=True)
    try:
        try:
            thread, runner = ansible_runner.run_async(
                private_data_dir=str(private_data_dir),
                project_dir=str(spec.project_dir),
                playbook=str(spec.playbook),
                inventory=str(spec.inventory),
                extravars=spec.extravars,
                limit=spec.limit,
                tags=spec.tags,
                skip_tags=spec.skip_tags,
                cmdline=_cmdline(spec),
                envvars=envvars,
                artifact_dir=str(spec.artifacts_root),
                ident=spec.ident,
                rotate_artifacts=0,
                verbosity=spec.verbosity or None,
                quiet=True,
                event_handler=recorder.handle,
                cancel_callback=should_cancel,
                settings={"pexpect_timeout": POLL_SECONDS, "suppress_ansible_output": True},
            )
        except Exception as error:  # ansible-runner's ConfigurationError and the like
            raise BxopsError(f"ansible-runner could not start: {error}") from None
        while thread.is_alive():
            thread.join(tick_seconds)
            on_tick()
        artifacts = spec.artifacts_root / spec.ident
        redact_command_artifact(artifacts)
        return JobResult(status=str(runner.status), rc=runner.rc, artifacts_dir=artifacts)
    finally:
        shutil.rmtree(private_data_dir, ignore_errors=True)

"""One playbook run through ansible-runner's Python API (never a shell-out to ansible-playbook)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner  # type: ignore[import-untyped]  # the package ships no type hints
import pexpect  # type: ignore[import-untyped]

from bxops.errors import BxopsError
from bxops.hostkeys import ssh_environment
from bxops.liveness import identity, is_identity_alive, process_start
from bxops.playbook_events import EventRecorder
from bxops.redaction import REDACTED, looks_secret, redact_text

#: How often ansible-runner's loop looks at the cancel callback (and returns after the process ends).
POLL_SECONDS = 0.1
#: The gate that holds a job before its first task: see bxops/ansible_callbacks/bxops_run_gate.py (which
#: Ansible loads on its own, so the names are repeated there, not imported: importing it imports Ansible).
CALLBACK_PLUGINS_DIR = Path(__file__).with_name("ansible_callbacks")
GATE_ENV = "BXOPS_RUN_GATE"
GATE_PID_ENV = "BXOPS_RUN_GATE_PID"
OPEN_NAME = "open"
#: Secret environment values reach ansible-playbook through this 0600 file, never through the environment
#: that ansible-runner writes into the run's `command` artifact: see bxops_secret_env.py.
SECRET_ENV_FILE_ENV = "BXOPS_SECRET_ENV_FILE"
SECRET_ENV_NAME = "secret-env.json"
#: The data a playbook handed over with set_stats per host, which ansible-runner's events leave out:
#: written by bxops_host_stats.py into the run's private folder, read after ansible-playbook ends.
HOST_STATS_FILE_ENV = "BXOPS_HOST_STATS_FILE"
HOST_STATS_NAME = "host-stats.json"


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
    #: The client's folder: its known_hosts is the only one ssh trusts during the run.
    client_folder: Path | None = None


@dataclass(frozen=True)
class JobResult:
    status: str  # ansible-runner's: successful, failed, canceled, timeout
    rc: int | None
    artifacts_dir: Path
    #: set_stats data handed over per host: {host: {key: value}} (empty when there was none)
    per_host_stats: dict[str, Any] = field(default_factory=dict)


def _cmdline(spec: JobSpec) -> str | None:
    args: list[str] = []
    if spec.check:
        args.append("--check")
    if spec.diff:
        args.append("--diff")
    if spec.vault_password_file is not None:
        args += ["--vault-password-file", str(spec.vault_password_file)]
    return " ".join(shlex.quote(arg) for arg in args) or None


def is_secret_variable(name: str, value: str) -> bool:
    """An environment variable whose value must not be written anywhere: a secret-looking name (tokens,
    passwords, DSNs, URLs that may carry credentials) or credentials inside a URL. A value that names an
    existing file (SSH_AUTH_SOCK, *_PASSWORD_FILE) is a path, not a secret; Ansible's own ANSIBLE_*
    settings are read before any plugin loads and stay, unless they hold a URL's credentials."""
    if redact_text(value) != value:
        return True
    if not value or name.startswith("ANSIBLE_") or name in (SECRET_ENV_FILE_ENV, GATE_ENV):
        return False
    if (looks_secret(name) or name.endswith("_URL")) and value != REDACTED:
        return not (value.startswith("/") and os.path.exists(value))
    return False


def split_secret_environment(environ: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(placeholders, secrets): every secret variable of environ, once with the value `***` (what the
    environment ansible-runner writes gets) and once with its real value (what ansible-playbook gets back
    from the 0600 file)."""
    secrets = {name: value for name, value in environ.items() if is_secret_variable(name, value)}
    return dict.fromkeys(secrets, REDACTED), secrets


def _environment(spec: JobSpec) -> dict[str, str]:
    envvars = {"ANSIBLE_CONFIG": str(spec.ansible_cfg)} if spec.ansible_cfg else {}
    if spec.client_folder is not None:
        envvars.update(ssh_environment(spec.client_folder))
    if shutil.which("ansible-playbook") is None:
        # Run from a virtualenv that is not on PATH: ansible-playbook sits next to our interpreter.
        envvars["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    # bxops' callbacks (the run gate, the secret environment) load from this checkout's package.
    plugin_path = [os.environ.get("ANSIBLE_CALLBACK_PLUGINS"), str(CALLBACK_PLUGINS_DIR)]
    envvars["ANSIBLE_CALLBACK_PLUGINS"] = os.pathsep.join(filter(None, plugin_path))
    return envvars


def write_secret_environment(private_data_dir: Path, secrets: dict[str, str]) -> Path:
    """The secret values for ansible-playbook, in a file only this user can read, in the run's private
    folder (mode 0700, removed after the run and by the next run after a kill); the callback that
    reads it deletes it at once."""
    path = private_data_dir / SECRET_ENV_NAME
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(secrets, handle)
    return path


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


#: ansible-runner's private data folders (extravars, which may hold what an engineer passed with -e):
#: mode 0700, removed at the end of a run; OWNER_FILE names the runner process that made it
#: (bxops.liveness.identity: pid, boot id, start time).
PRIVATE_PREFIX = "bxops-run-"
OWNER_FILE = "bxops-runner"
#: What runners before the boot id wrote: `<pid> <start ticks>`, under another name, so that such a runner
#: (another checkout on this machine) skips our folders as still being set up instead of removing them.
LEGACY_OWNER_FILE = "bxops-owner"


def _owner_alive(path: Path) -> bool | None:
    """Whether the runner that made the private folder `path` lives; None when no whole owner record is
    there yet (a folder being set up) or it cannot be read (another user's)."""
    try:
        record = (path / OWNER_FILE).read_text()
    except FileNotFoundError:
        record = None
    except OSError:
        return None
    if record is not None:
        # Only a whole record is judged: an empty or cut one is being written (record_owner writes at once;
        # a runner of another checkout may not), and removing the folder would break that starting run.
        return is_identity_alive(record) if len(record.split()) == 3 else None
    try:
        pid, _, ticks = (path / LEGACY_OWNER_FILE).read_text().strip().partition(" ")
    except OSError:
        return None
    if not (pid.isdigit() and ticks.isdigit()):
        return None  # being written by an older runner, which wrote it in two steps
    start = process_start(int(pid))
    return start is not None and start.rsplit(" ", 1)[-1] == ticks


def remove_stale_private_dirs(tmp: Path | None = None) -> list[Path]:
    """Private data folders whose runner is gone (killed with SIGKILL, power loss): removed, so that the
    extra vars they hold do not outlive the run. Others' folders (unreadable, or a live owner) stay."""
    removed = []
    for path in Path(tmp or tempfile.gettempdir()).glob(PRIVATE_PREFIX + "*"):
        if _owner_alive(path) is not False:
            continue  # another user's, one still being set up, or its runner lives
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def record_owner(private_data_dir: Path) -> None:
    """Record this runner as the folder's owner in one step: another runner cleaning up at the same moment
    sees no owner yet (a folder being set up) or the whole record, never an empty file it would judge dead."""
    partial = private_data_dir / f".{OWNER_FILE}.partial"
    partial.write_text(identity(os.getpid()) or "")
    os.replace(partial, private_data_dir / OWNER_FILE)


def _missing_dirs(path: Path) -> list[Path]:
    """path and those of its parents that do not exist yet, deepest first."""
    missing: list[Path] = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


class AnsibleJob:
    """One playbook run through ansible-runner (never a shell-out to ansible-playbook).

    Started `gated`, ansible-playbook boots (configuration, inventory, playbook) and then waits before
    its first task until `release()`; `discard()` kills a job still held that way and removes what
    ansible-runner wrote, since it never ran a task (see bxops/ansible_callbacks/bxops_run_gate.py).
    """

    def __init__(self, spec: JobSpec, recorder: EventRecorder) -> None:
        self.spec = spec
        self._recorder = recorder
        self._private_data_dir: Path | None = None
        self._gate: Path | None = None
        self._thread: Any = None
        self._runner: Any = None
        self._created: list[Path] = []
        self._discarded = threading.Event()
        self._released = False
        self._should_cancel: Callable[[], bool] = lambda: False

    def start(self, *, gated: bool = False) -> None:
        remove_stale_private_dirs()
        _no_close_delay()
        try:
            envvars = self._prepare_private_data(gated)
        except OSError as error:  # /tmp full or not writable, the artifacts folder not creatable
            self._remove_private_data()
            raise BxopsError(f"ansible-runner could not start: {error}") from None
        spec = self.spec
        try:
            self._thread, self._runner = ansible_runner.run_async(
                private_data_dir=str(self._private_data_dir),
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
                event_handler=self._recorder.handle,
                cancel_callback=self._cancel_requested,
                settings={"pexpect_timeout": POLL_SECONDS, "suppress_ansible_output": True},
            )
        except Exception as error:  # ansible-runner's ConfigurationError and the like
            self._remove_private_data()
            raise BxopsError(f"ansible-runner could not start: {error}") from None

    def _prepare_private_data(self, gated: bool) -> dict[str, str]:
        """ansible-runner's private data folder, owned by this runner; the environment of the job."""
        private_data_dir = Path(tempfile.mkdtemp(prefix=PRIVATE_PREFIX))  # holds extravars; removed after
        self._private_data_dir = private_data_dir
        record_owner(private_data_dir)
        envvars = _environment(self.spec)
        envvars[HOST_STATS_FILE_ENV] = str(private_data_dir / HOST_STATS_NAME)
        # ansible-runner writes the whole environment into the artifacts at once (`command`): secret values
        # there would outlive a killed runner. It gets placeholders; ansible-playbook the real values.
        placeholders, secrets = split_secret_environment({**os.environ, **envvars})
        envvars.update(placeholders)
        if secrets:
            envvars[SECRET_ENV_FILE_ENV] = str(write_secret_environment(private_data_dir, secrets))
        if gated:
            self._gate = private_data_dir / "gate"
            self._gate.mkdir()
            envvars.update(_gate_environment(self._gate))
        self._created = _missing_dirs(self.spec.artifacts_root)
        self.spec.artifacts_root.mkdir(parents=True, exist_ok=True)
        return envvars

    def _cancel_requested(self) -> bool:
        """ansible-runner's cancel_callback (its thread): True kills ansible-playbook's process group."""
        return self._discarded.is_set() or self._should_cancel()

    def release(self) -> None:
        """Let a gated job run its tasks (call once the ledger has the run)."""
        if self._gate is not None:
            os.close(os.open(self._gate / OPEN_NAME, os.O_CREAT | os.O_WRONLY, 0o600))
        self._released = True  # only now: if opening the gate failed, discard() still stops the job

    def discard(self) -> None:
        """Kill a job that was never released and remove its artifacts; a released job is left alone."""
        if self._released or self._thread is None:
            return
        self._discarded.set()  # first: from now on ansible-runner kills the held ansible-playbook
        self._thread.join()
        shutil.rmtree(self.spec.artifacts_root / self.spec.ident, ignore_errors=True)
        for folder in self._created:  # the folders start() made for it, if still empty
            try:
                folder.rmdir()
            except OSError:
                break
        self._remove_private_data()

    def wait(
        self, *, should_cancel: Callable[[], bool], on_tick: Callable[[], None], tick_seconds: float = 0.1
    ) -> JobResult:
        """Until the run ends: call on_tick from this thread meanwhile; stop it when should_cancel()."""
        self._should_cancel = should_cancel
        try:
            while self._thread.is_alive():
                self._thread.join(tick_seconds)
                on_tick()
            artifacts = self.spec.artifacts_root / self.spec.ident
            redact_command_artifact(artifacts)
            return JobResult(
                status=str(self._runner.status),
                rc=self._runner.rc,
                artifacts_dir=artifacts,
                per_host_stats=self._read_host_stats(),
            )
        finally:
            self._remove_private_data()

    def _read_host_stats(self) -> dict[str, Any]:
        if self._private_data_dir is None:
            return {}
        try:
            data = json.loads((self._private_data_dir / HOST_STATS_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # no per-host data, or a run that never reached its end
        return data if isinstance(data, dict) else {}

    def _remove_private_data(self) -> None:
        if self._private_data_dir is not None:
            shutil.rmtree(self._private_data_dir, ignore_errors=True)
            self._private_data_dir = None


def _gate_environment(gate: Path) -> dict[str, str]:
    return {GATE_ENV: str(gate), GATE_PID_ENV: str(os.getpid())}


def _no_close_delay() -> None:
    """Drop the 0.1 s that ptyprocess sleeps when pexpect closes a child, at the end of every run.

    ansible-runner closes its pexpect child only after its loop saw the child exit and read the last
    output, so there is no process state left to wait for: the sleep (`delayafterclose`, a documented
    attribute that ansible-runner gives no way to set) only delays the end of the run. Applies to this
    process's pexpect children (ansible-runner's only); when pexpect's internals differ, nothing changes.
    """
    spawn = getattr(pexpect, "spawn", None)
    original = getattr(spawn, "_spawnpty", None)
    if original is None or getattr(original, "_bxops_no_close_delay", False):
        return

    def spawnpty(self: Any, args: Any, **kwargs: Any) -> Any:
        process = original(self, args, **kwargs)
        process.delayafterclose = 0.0
        return process

    spawnpty._bxops_no_close_delay = True  # type: ignore[attr-defined]
    spawn._spawnpty = spawnpty  # type: ignore[union-attr]

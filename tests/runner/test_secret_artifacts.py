"""A runner killed with SIGKILL cannot blank its artifacts afterwards: the secret environment values must
never reach them (ansible-runner writes the whole environment into `command` when the job starts),
yet the playbook still gets them."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .conftest import RUNNER, Workspace
from .processes import descendants, running_entry

SECRETS = {
    "BXOPS_TEST_API_TOKEN": "tok-5a1f-never-in-artifacts",
    "DB_PWD": "pwd-77c2-never-in-artifacts",
    "SITE_DSN": "mysql://bx:dsn-91e0-never-in-artifacts@db.example/site",
}
NEEDLES = ["tok-5a1f", "pwd-77c2", "dsn-91e0", "pg-44d1"]


def test_killed_run_leaves_no_secret_in_its_artifacts(sqlite_workspace: Workspace, cleanup: list[int]) -> None:
    ws = sqlite_workspace
    probe = ws.root / "probe"
    env = ws.env(**SECRETS, BXOPS_HEARTBEAT_SECONDS="0.5", PGPASSWORD="pg-44d1-never-in-artifacts")
    process = subprocess.Popen(
        [sys.executable, str(RUNNER), "run", "t1", "staging", "secret_env", "-e", f"probe_path={probe}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    cleanup.append(process.pid)
    deadline = time.monotonic() + 120
    while not probe.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the playbook never wrote its probe"
        time.sleep(0.2)
    entry = running_entry(ws.ledger_url)
    assert entry is not None and entry.artifacts_dir
    children = descendants(process.pid)
    cleanup.extend(children)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    expected = "|".join(SECRETS[name] for name in ("BXOPS_TEST_API_TOKEN", "DB_PWD", "SITE_DSN"))
    assert probe.read_text() == hashlib.sha256(expected.encode()).hexdigest()  # Ansible had the real values

    artifacts = Path(entry.artifacts_dir)
    assert (artifacts / "command").is_file()
    files = [path for path in artifacts.rglob("*") if path.is_file()]
    assert files
    for path in files:
        content = path.read_bytes()
        for needle in NEEDLES:
            assert needle.encode() not in content, f"{needle} in {path}"
    # ... and nowhere else the runner writes: the ledger and what is left of the private folder
    for path in [*Path(ws.ledger_url).parent.glob("ledger.sqlite*")]:
        assert not any(needle.encode() in path.read_bytes() for needle in NEEDLES)

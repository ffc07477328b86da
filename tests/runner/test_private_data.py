"""ansible-runner's private data folder holds the run's extra vars: a runner killed with SIGKILL cannot
remove it, so the next run removes the folders whose runner is gone, and only those."""

from __future__ import annotations

import os
from pathlib import Path

from bxops.ansible_job import OWNER_FILE, PRIVATE_PREFIX, _process_identity, remove_stale_private_dirs


def private_dir(tmp: Path, name: str, owner: str | None) -> Path:
    path = tmp / (PRIVATE_PREFIX + name)
    (path / "env").mkdir(parents=True)
    (path / "env" / "extravars").write_text('{"bitrix_db_password": "s3cret"}')
    if owner is not None:
        (path / OWNER_FILE).write_text(owner)
    return path


def test_only_folders_of_dead_runners_are_removed(tmp_path: Path) -> None:
    me = _process_identity(os.getpid())
    assert me is not None
    live = private_dir(tmp_path, "live", me)
    dead = private_dir(tmp_path, "dead", "999999999 12345")  # no such process
    reused = private_dir(tmp_path, "reused", f"{os.getpid()} 1")  # our pid, another process's start time
    being_made = private_dir(tmp_path, "new", None)  # mkdtemp done, owner not written yet
    other = tmp_path / "unrelated"
    other.mkdir()

    removed = remove_stale_private_dirs(tmp_path)

    assert sorted(removed) == sorted([dead, reused])
    assert not dead.exists() and not reused.exists()
    assert live.exists() and being_made.exists() and other.exists()

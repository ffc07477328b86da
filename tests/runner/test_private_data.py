"""ansible-runner's private data folder holds the run's extra vars: a runner killed with SIGKILL cannot
remove it, so the next run removes the folders whose runner is gone, and only those."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from bxops.ansible_job import (
    LEGACY_OWNER_FILE,
    OWNER_FILE,
    PRIVATE_PREFIX,
    record_owner,
    remove_stale_private_dirs,
)
from bxops.liveness import identity


def private_dir(tmp: Path, name: str, owner: str | None, owner_file: str = OWNER_FILE) -> Path:
    path = tmp / (PRIVATE_PREFIX + name)
    (path / "env").mkdir(parents=True)
    (path / "env" / "extravars").write_text('{"bitrix_db_password": "s3cret"}')
    if owner is not None:
        (path / owner_file).write_text(owner)
    return path


def my_ticks() -> str:
    """Field 22 of /proc/self/stat (start time in clock ticks), read here apart from bxops.liveness."""
    return Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()[19]


def test_only_folders_of_dead_runners_are_removed(tmp_path: Path) -> None:
    me = identity(os.getpid())
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert me == f"{os.getpid()} {boot} {my_ticks()}"
    live = private_dir(tmp_path, "live", me)
    dead = private_dir(tmp_path, "dead", f"999999999 {boot} 12345")  # no such process
    reused = private_dir(tmp_path, "reused", f"{os.getpid()} {boot} 1")  # our pid, another process's start
    rebooted = private_dir(tmp_path, "rebooted", f"{os.getpid()} another-boot {my_ticks()}")  # before a reboot
    being_made = private_dir(tmp_path, "new", None)  # mkdtemp done, owner not written yet
    # An owner file caught while written in two steps (open, then write): an older runner's way. Judged
    # dead, its folder was removed under a starting runner, which then failed with a traceback.
    being_written = private_dir(tmp_path, "writing", "")
    half_written = private_dir(tmp_path, "half", f"{os.getpid()} {boot[:8]}")
    other = tmp_path / "unrelated"
    other.mkdir()

    removed = remove_stale_private_dirs(tmp_path)

    assert sorted(removed) == sorted([dead, reused, rebooted])
    assert not dead.exists() and not reused.exists() and not rebooted.exists()
    assert live.exists() and being_made.exists() and other.exists()
    assert being_written.exists() and half_written.exists()


def test_folders_of_runners_before_the_boot_id_are_judged_by_pid_and_start_time(tmp_path: Path) -> None:
    """An older runner (another checkout on this machine) wrote `<pid> <ticks>` into bxops-owner: its
    folder stays while it lives and goes once it is gone."""
    live = private_dir(tmp_path, "old-live", f"{os.getpid()} {my_ticks()}", LEGACY_OWNER_FILE)
    reused = private_dir(tmp_path, "old-reused", f"{os.getpid()} 1", LEGACY_OWNER_FILE)
    dead = private_dir(tmp_path, "old-dead", "999999999 12345", LEGACY_OWNER_FILE)
    being_written = private_dir(tmp_path, "old-writing", "", LEGACY_OWNER_FILE)

    removed = remove_stale_private_dirs(tmp_path)

    assert sorted(removed) == sorted([reused, dead])
    assert live.exists() and being_written.exists()


def test_a_starting_runner_records_its_owner_in_one_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While start() writes the owner record, a runner cleaning up at that moment sees the whole record
    or none: the file appears by rename, never empty."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seen: list[str | None] = []
    real_write_text = Path.write_text

    def write_text_and_look(self: Path, data: str, *args: Any, **kwargs: Any) -> int:
        written = real_write_text(self, data, *args, **kwargs)
        owner = self.parent / OWNER_FILE
        seen.append(owner.read_text() if owner.exists() else None)  # what a cleaner would read now
        return written

    monkeypatch.setattr(Path, "write_text", write_text_and_look)
    folder = Path(tempfile.mkdtemp(prefix=PRIVATE_PREFIX))
    record_owner(folder)
    monkeypatch.undo()
    assert seen == [None]
    assert (folder / OWNER_FILE).read_text() == identity(os.getpid())
    assert remove_stale_private_dirs(tmp_path) == [] and folder.exists()

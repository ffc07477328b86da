"""Process identity on the managed host (module_utils/bitrix_process.py): pid + start time + boot id."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ansible_collections.bxops.bitrix.plugins.module_utils import bitrix_process as bp

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
from bxops import liveness  # noqa: E402  (the runner's reader, the other side of the lock's holder record)


def boot() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


@pytest.fixture()
def oddly_named(tmp_path: Path):
    """A sleeping process whose command name holds ') Z 1 2 3' (what a naive split of /proc/<pid>/stat
    would read as the state Z, a zombie, and shifted fields)."""
    link = tmp_path / "x) Z 1 2 3"
    link.symlink_to("/bin/sleep")
    child = subprocess.Popen([str(link), "30"])
    time.sleep(0.1)
    yield child
    child.kill()
    child.wait()


def test_the_identity_of_a_living_process(oddly_named: subprocess.Popen[bytes]) -> None:
    identity = bp.identity_of(oddly_named.pid)
    assert identity is not None
    assert identity["host"] == socket.gethostname() and identity["pid"] == oddly_named.pid
    boot_id, ticks = identity["start"].split(" ")
    assert boot_id == boot() and ticks.isdigit()
    # the same string the runner records for a holder (bxops/liveness.py reads /proc the same way)
    assert identity["start"] == liveness.process_start(oddly_named.pid)
    assert bp.alive(identity) and bp.state(identity) == bp.ALIVE
    assert bp.current_identity() == {"host": socket.gethostname(), "pid": os.getpid(),
                                     "start": liveness.process_start(os.getpid())}


def test_a_dead_process_a_reused_pid_and_a_reboot_are_dead(oddly_named: subprocess.Popen[bytes]) -> None:
    identity = bp.identity_of(oddly_named.pid)
    assert identity is not None
    _, ticks = identity["start"].split(" ")
    assert bp.state(dict(identity, start="another-boot " + ticks)) == bp.DEAD  # same pid and ticks, rebooted
    assert bp.state(dict(identity, start=f"{boot()} {int(ticks) + 1}")) == bp.DEAD  # pid reused later
    os.kill(oddly_named.pid, signal.SIGKILL)
    deadline = time.time() + 10
    while bp.process_start(oddly_named.pid) is not None and time.time() < deadline:  # a zombie is gone too
        time.sleep(0.01)
    assert bp.process_start(oddly_named.pid) is None
    assert bp.state(identity) == bp.DEAD and not bp.alive(identity)
    oddly_named.wait()
    assert bp.state(identity) == bp.DEAD


@pytest.mark.parametrize("record", [
    None, {}, {"pid": os.getpid()}, {"pid": "x", "start": "b 1"}, {"pid": 0, "start": "b 1"},
    {"host": "elsewhere.example", "pid": os.getpid(), "start": "b 1"},
])
def test_what_cannot_be_checked_here_is_unknown(record: object) -> None:
    assert bp.state(record) == bp.UNKNOWN
    assert not bp.alive(record)


class Batches:
    """The part of the orphans' Quarantine that recover() uses: batches and their reversal."""

    def __init__(self, meta: dict) -> None:
        self.meta = meta
        self.reversed: list[str] = []

    def batches(self):
        return [("2026-01-01T000000Z", self.meta)]

    def reverse(self, name: str, meta: dict, dir_mode: int) -> dict:
        self.reversed.append(name)
        return {"batch": name, "lost": []}


def test_a_quarantine_batch_is_reversed_only_when_its_writer_is_gone(oddly_named) -> None:
    from ansible_collections.bxops.bitrix.plugins.modules import bitrix_orphans as orphans

    writer = bp.identity_of(oddly_named.pid)
    live = Batches({"state": "running", "pid": oddly_named.pid, "process": writer})
    with pytest.raises(orphans.OrphansError, match=f"being written by a live process {oddly_named.pid}"):
        orphans.recover(live, check=False)
    assert live.reversed == []
    # the same pid with another start time: a newcomer under a reused pid is not the writer
    reused = Batches({"state": "running", "pid": oddly_named.pid, "process": dict(writer, start=f"{boot()} 1")})
    assert orphans.recover(reused, check=True) == [{"batch": "2026-01-01T000000Z", "would_reverse": True}]
    oddly_named.kill()
    oddly_named.wait()
    assert orphans.recover(live, check=False) == [{"batch": "2026-01-01T000000Z", "lost": []}]


# The privilege drop, written once (bitrix_process.as_site_user) and used by the updater's console and the PHP
# compatibility check. Expected ids: Debian's fixed "nobody" entry (uid 65534, gid 65534, home /nonexistent).
NOBODY = (65534, 65534, "/nonexistent")


def _passwd_line(name: str) -> tuple:
    """(uid, gid, home) from /etc/passwd, read here apart from the code under test."""
    for line in Path("/etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2]), int(fields[3]), fields[5]
    return ()



ID_SCRIPT = "id -u; id -g; id -G; echo $HOME; echo $USER"
needs_root_and_nobody = pytest.mark.skipif(
    os.geteuid() != 0 or _passwd_line("nobody")[:3] != NOBODY, reason="needs root and Debian's nobody (65534)")


class _FailingModule:
    def fail_json(self, **kwargs):
        raise AssertionError(kwargs["msg"])


@needs_root_and_nobody
def test_a_child_runs_as_the_site_user_with_its_own_group_only() -> None:
    out = subprocess.run(["sh", "-c", ID_SCRIPT], capture_output=True, text=True, check=True,
                         env=bp.site_user_env("nobody"), **bp.as_site_user("nobody")).stdout.split()
    # uid, gid, the only group (root's 0 is not inherited), the site user's HOME and USER
    assert out == ["65534", "65534", "65534", "/nonexistent", "nobody"]


@needs_root_and_nobody
def test_the_updaters_console_and_the_compat_check_drop_the_same_way(tmp_path) -> None:
    from ansible_collections.bxops.bitrix.plugins.module_utils import bitrix_update_console as updates
    from ansible_collections.bxops.bitrix.plugins.modules import bitrix_php_compat as compat

    console = updates.Console(_FailingModule(), str(tmp_path), "nobody", "/bin/sh")  # type: ignore[arg-type]
    rc, out = console.run_php(["-c", ID_SCRIPT], "/")
    assert (rc, out.split()) == (0, ["65534", "65534", "65534", "/nonexistent", "nobody"])
    rc, out, _err = compat.run_as_site_user(["sh", "-c", ID_SCRIPT], "nobody")
    assert (rc, out.split()) == (0, ["65534", "65534", "65534", "/nonexistent", "nobody"])


def test_an_unknown_site_user_is_refused_naming_the_variable() -> None:
    with pytest.raises(bp.NoSuchUser, match=r"^the site user no-such-user-bx does not exist on this host "
                                            r"\(bitrix_site_user\)$"):
        bp.as_site_user("no-such-user-bx")

"""The per-site maintenance lock (plugins/modules/bitrix_site_lock.py) run as Ansible runs it: real
processes racing for an abandoned lock (exactly one wins), and takeover by the holder's liveness on
this machine (pid and start time), by age only when the holder cannot be checked."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .conftest import REPO

MODULE = REPO / "plugins" / "modules" / "bitrix_site_lock.py"
RACERS = 8
ROUNDS = 3
#: The abandoned lock carries this much JSON whitespace: reading it takes a few milliseconds instead of
#: microseconds, so that the racers' read-decide-replace steps overlap on a machine with few cores.
PADDING = 20_000_000
DAY = 86400
#: The module imports the collection's module_utils, as Ansible ships them with it (AnsiballZ).
MODULE_ENV = dict(os.environ, PYTHONPATH=str(REPO / ".collections"))

RACER = """
import runpy, sys, time
args_path, module_path, start_at = sys.argv[1], sys.argv[2], float(sys.argv[3])
import ansible.module_utils.basic  # the slow import happens before the start line
time.sleep(max(0.0, start_at - time.time()))
sys.argv = [module_path, args_path]
runpy.run_path(module_path, run_name="__main__")
"""


def identity(pid: int) -> str:
    """What a holder's `start` is: boot id and start ticks, read here from /proc by hand."""
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    ticks = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    return f"{boot} {ticks}"


def args_file(folder: Path, name: str, **params: Any) -> Path:
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": params}))
    return path


def take(lock: Path, owner: str, **extra: Any) -> dict[str, Any]:
    args = args_file(lock.parent.parent, owner, path=str(lock), owner=owner, purpose="update", **extra)
    done = subprocess.run([sys.executable, str(MODULE), str(args)], capture_output=True, text=True, check=False,
                          env=MODULE_ENV)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def plant(lock: Path, owner: str, since: float, holder: dict[str, Any] | None = None, padding: int = 0) -> None:
    lock.parent.mkdir(parents=True, exist_ok=True)
    content: dict[str, Any] = {"owner": owner, "purpose": "update", "since": int(since)}
    if holder is not None:
        content["holder"] = holder
    lock.write_text(json.dumps(content) + " " * padding)


def outcome(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=120)
    try:
        result: dict[str, Any] = json.loads(out)
    except ValueError:
        return {"failed": True, "crashed": True, "msg": err[-500:]}
    return result


def test_racers_for_an_abandoned_lock_exactly_one_wins(tmp_path: Path) -> None:
    racer = tmp_path / "racer.py"
    racer.write_text(RACER)
    for round_ in range(ROUNDS):
        lock = tmp_path / f"round{round_}" / "locks" / "site.lock"
        plant(lock, "dead-run", time.time() - 10 * DAY, padding=PADDING)  # far older than stale_after
        start_at = time.time() + 3.0
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(racer),
                    str(args_file(tmp_path, f"r{round_}-{n}", path=str(lock), owner=f"run-{n}", purpose="update")),
                    str(MODULE),
                    str(start_at),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=MODULE_ENV,
            )
            for n in range(RACERS)
        ]
        results = [outcome(p) for p in processes]
        assert not [r for r in results if r.get("crashed")], results
        winners = [n for n, result in enumerate(results) if not result.get("failed")]
        assert len(winners) == 1, f"round {round_}: winners {winners}"
        [winner] = winners
        assert results[winner]["changed"] is True
        assert results[winner]["stale_taken_over"]["owner"] == "dead-run"
        assert json.loads(lock.read_text())["owner"] == f"run-{winner}"
        for n, result in enumerate(results):
            if n != winner:
                assert result["msg"].startswith(f"site is locked by run run-{winner} (update) since "), result
        assert sorted(p.name for p in lock.parent.iterdir()) == ["site.lock"]  # no temporary file left


def test_live_holder_on_this_machine_is_never_taken_over(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "site.lock"
    me = {"host": socket.gethostname(), "pid": os.getpid(), "start": identity(os.getpid())}
    plant(lock, "long-run", time.time() - 10 * DAY, me)  # very old, but its runner lives
    result = take(lock, "new-run")
    assert result.get("failed") is True
    assert result["msg"].startswith("site is locked by run long-run (update) since ")
    assert f"its runner (pid {os.getpid()}) is alive" in result["msg"]
    assert json.loads(lock.read_text())["owner"] == "long-run"


def test_dead_holder_on_this_machine_is_taken_over_at_once(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "site.lock"
    child = subprocess.Popen(["sleep", "30"])
    gone = {"host": socket.gethostname(), "pid": child.pid, "start": identity(child.pid)}
    child.kill()
    child.wait()
    plant(lock, "killed-run", time.time() - 5, gone)  # young, but its runner is dead
    result = take(lock, "new-run")
    assert result.get("failed") is not True, result
    assert result["stale_taken_over"]["owner"] == "killed-run"
    assert result["stale_taken_over"]["reason"] == "its holder process is gone"
    assert json.loads(lock.read_text())["owner"] == "new-run"


def test_reused_pid_is_not_the_holder(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "site.lock"
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    impostor = {"host": socket.gethostname(), "pid": os.getpid(), "start": f"{boot} 1"}  # our pid, not our start
    plant(lock, "old-run", time.time() - 5, impostor)
    result = take(lock, "new-run")
    assert result.get("failed") is not True, result
    assert json.loads(lock.read_text())["owner"] == "new-run"


def test_holder_elsewhere_falls_back_to_age(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "site.lock"
    elsewhere = {"host": "another-machine", "pid": 1, "start": "x 1"}
    plant(lock, "remote-run", time.time() - 60, elsewhere)
    refused = take(lock, "new-run")
    assert refused.get("failed") is True and "remote-run" in refused["msg"]
    plant(lock, "remote-run", time.time() - 7 * 3600, elsewhere)  # older than the default 6 h
    taken = take(lock, "new-run")
    assert taken.get("failed") is not True and taken["stale_taken_over"]["reason"] == "older than 21600s"


def test_taker_records_its_holder_and_only_the_owner_releases(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "site.lock"
    me = {"host": socket.gethostname(), "pid": os.getpid(), "start": identity(os.getpid())}
    taken = take(lock, "run-a", holder=me)
    assert taken["changed"] is True
    assert json.loads(lock.read_text())["holder"] == me
    again = take(lock, "run-a", holder=me)
    assert again["changed"] is False
    other = take(lock, "run-b", state="absent")
    assert other["changed"] is False and lock.exists()
    released = take(lock, "run-a", state="absent")
    assert released["changed"] is True and not lock.exists()

#!/usr/bin/env python3
"""Runners starting together must not remove each other's private data folder.

Every run first removes the private data folders (`/tmp/bxops-run-*`) of runners that are gone, then
makes its own and records itself as its owner. Several processes here do exactly that, many times,
in one scratch folder, and count the starts whose folder vanished before ansible-runner got it (the
defect behind a traceback in `test_refuse_race`: an owner file caught empty was judged dead). Run
from the project root after `. scripts/bootstrap.sh`:

    python bench/private_data_race.py [--processes 4] [--starts 3000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bxops.ansible_job import PRIVATE_PREFIX, record_owner, remove_stale_private_dirs


def starts(scratch: str, count: int) -> int:
    """`count` starts as AnsibleJob.start makes them; how many lost their folder to another's cleanup."""
    lost = 0
    for _ in range(count):
        remove_stale_private_dirs(Path(scratch))
        folder = Path(tempfile.mkdtemp(prefix=PRIVATE_PREFIX, dir=scratch))
        record_owner(folder)
        try:
            (folder / "gate").mkdir()  # what start() does next
        except FileNotFoundError:
            lost += 1
        shutil.rmtree(folder, ignore_errors=True)  # the run ended: its runner removes its folder
    return lost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--starts", type=int, default=3000, help="starts per process")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, multiprocessing.Pool(args.processes) as pool:
        lost = sum(pool.starmap(starts, [(scratch, args.starts)] * args.processes))
    total = args.processes * args.starts
    print(f"{total} starts by {args.processes} processes at once: {lost} lost their private data folder")
    raise SystemExit(1 if lost else 0)


if __name__ == "__main__":
    main()

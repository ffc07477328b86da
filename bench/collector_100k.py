#!/usr/bin/env python3
"""CPU seconds of one Bitrix metrics collector run on a ~100k-file site (issue 14: a few seconds of CPU).

Two modes; run from the project root after `. scripts/bootstrap.sh`:

- local (default): generates a `--size medium` site (100k upload files, plus caches and the core) on this
  machine's file system with `--db-mode sqlfile`, then runs the collector's `site` part as a separate
  process `--runs` times and prints wall time and CPU (user + sys, the process and its children). There is
  no MariaDB here, so the DB checks fail fast and are reported as errors: this measures the file walk, the
  part that grows with the site.
- `--testhost`: the same in a test host against the real MariaDB (the generator needs minutes there), so
  the figure includes the `mysql` client processes the DB checks start.

    python bench/collector_100k.py [--runs 3] [--testhost] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
UTILS = ("bitrix_db", "bitrix_docroot", "bitrix_facts", "bitrix_site", "bitrix_metrics")
MODULE = "ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_metrics"
CONTAINER = "bxops-bench-collector"
IMAGE = "localhost/bxops-bitrix-host:current"
# Runs the collector in this process and prints {"wall", "cpu"} with the children's CPU included.
MEASURE = (
    "import json, resource, sys, time\n"
    f"from {MODULE} import main\n"
    "t0 = time.monotonic()\n"
    "rc = main(sys.argv[1:])\n"
    "wall = time.monotonic() - t0\n"
    "s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "cpu = s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime\n"
    "print(json.dumps({'rc': rc, 'wall': round(wall, 2), 'cpu': round(cpu, 2)}))\n"
)


def install_utils(lib: Path) -> None:
    dest = lib / "ansible_collections/bxops/bitrix/plugins/module_utils"
    dest.mkdir(parents=True, exist_ok=True)
    for name in UTILS:
        shutil.copy(PROJECT / "plugins/module_utils" / f"{name}.py", dest / f"{name}.py")


def local(runs: int) -> int:
    base = Path(tempfile.mkdtemp(prefix="bench-collector-"))
    try:
        t0 = time.monotonic()
        env = dict(os.environ, PYTHONPATH=str(PROJECT / "tools/sitegen"), PYTHONDONTWRITEBYTECODE="1")
        subprocess.run(
            [sys.executable, "-m", "bxsitegen", "--docroot", str(base / "www"), "--truth", str(base / "truth.json"),
             "--db-mode", "sqlfile", "--no-system-files", "--packages-dir", str(base / "updates"), "--site-user",
             pwd.getpwuid(os.getuid()).pw_name, "--seed", "42", "--size", "medium"],
            check=True, env=env, stdout=subprocess.DEVNULL)
        print(f"generated in {time.monotonic() - t0:.0f} s")
        files = sum(len(names) for _, _, names in os.walk(base / "www"))
        print(f"site: {files} files in the docroot")
        install_utils(base / "lib")
        (base / "tf").mkdir()
        config = {"textfile_dir": str(base / "tf"),
                  "sites": [{"name": "bench", "docroot": str(base / "www"),
                             "db": {"host": "127.0.0.1:1", "database": "x", "user": "x", "password": "x"}}]}
        (base / "config.json").write_text(json.dumps(config))
        for i in range(runs):
            out = subprocess.run([sys.executable, "-c", MEASURE, "--config", str(base / "config.json")],
                                 env=dict(os.environ, PYTHONPATH=str(base / "lib")), capture_output=True,
                                 text=True, check=False)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"run {i + 1}: wall {result['wall']:.2f} s, CPU {result['cpu']:.2f} s (DB checks fail: no server)")
        sample = (base / "tf" / "bitrix-site-bench.prom").read_text()
        print("\n".join(line for line in sample.splitlines() if line.startswith("bitrix_upload")))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


def testhost(runs: int, keep: bool) -> int:
    env = dict(os.environ, CONTAINERS_CONF=str(PROJECT / "images" / "containers.conf"))
    subprocess.run(["podman", "rm", "-f", CONTAINER], env=env, capture_output=True)
    subprocess.run(["podman", "run", "-d", "--name", CONTAINER, "--systemd=always", IMAGE, "/sbin/init"], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    try:
        for _ in range(120):
            state = subprocess.run(["podman", "exec", CONTAINER, "systemctl", "is-system-running"], env=env,
                                   capture_output=True, text=True).stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(1)
        t0 = time.monotonic()
        subprocess.run([str(PROJECT / "scripts/sitegen-into.sh"), CONTAINER, "--seed", "42", "--size", "medium",
                        "--monitoring-shapes"], env=env, check=True, stdout=subprocess.DEVNULL)
        print(f"generated in {time.monotonic() - t0:.0f} s")
        with tempfile.TemporaryDirectory() as tmp:
            install_utils(Path(tmp) / "lib")
            subprocess.run(["podman", "cp", f"{tmp}/lib", f"{CONTAINER}:/opt/bench-lib"], env=env, check=True)
        config = {"textfile_dir": "/tmp", "sites": [{"name": "bench", "docroot": "/home/bitrix/www"}]}
        subprocess.run(["podman", "exec", "-i", CONTAINER, "sh", "-c", "cat > /opt/bench.json"],
                       input=json.dumps(config), text=True, env=env, check=True)
        for i in range(runs):
            out = subprocess.run(["podman", "exec", "-e", "PYTHONPATH=/opt/bench-lib", CONTAINER, "python3", "-c",
                                  MEASURE, "--config", "/opt/bench.json"], env=env, capture_output=True, text=True,
                                 check=False)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"run {i + 1}: wall {result['wall']:.2f} s, CPU {result['cpu']:.2f} s, rc {result['rc']}")
    finally:
        if not keep:
            subprocess.run(["podman", "rm", "-f", CONTAINER], env=env, capture_output=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--testhost", action="store_true", help="run in a test host with the real MariaDB")
    parser.add_argument("--keep", action="store_true", help="leave the test host running (with --testhost)")
    args = parser.parse_args()
    resource.getrusage(resource.RUSAGE_SELF)
    return testhost(args.runs, args.keep) if args.testhost else local(args.runs)


if __name__ == "__main__":
    sys.exit(main())

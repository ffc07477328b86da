#!/usr/bin/env python3
"""Audit time on a generated site with ~100k upload files (issue 2: goal under 30 s).

Starts a test host, generates a `--size medium` site in it (100k upload files, 90k b_file rows,
plus the core, caches and the rest), then runs the audit role through ansible-playbook three times
and prints each wall time and the module's own duration. Run from the project root after
`. scripts/bootstrap.sh`:  python bench/audit_100k.py [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
CONTAINER = "bxops-bench-audit"
IMAGE = "localhost/bxops-bitrix-host:current"


def sh(*argv: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=True, text=True, **kw)  # type: ignore[call-overload]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the test host running")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    env = dict(
        os.environ,
        CONTAINERS_CONF=str(PROJECT / "images" / "containers.conf"),
        ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"),
        ANSIBLE_NOCOLOR="1",
    )

    subprocess.run(["podman", "rm", "-f", CONTAINER], env=env, capture_output=True)
    sh(
        "podman",
        "run",
        "-d",
        "--name",
        CONTAINER,
        "--systemd=always",
        IMAGE,
        "/sbin/init",
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(120):
            state = subprocess.run(
                ["podman", "exec", CONTAINER, "systemctl", "is-system-running"],
                env=env,
                capture_output=True,
                text=True,
            ).stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(1)
        t0 = time.monotonic()
        sh(
            str(PROJECT / "scripts" / "sitegen-into.sh"),
            CONTAINER,
            "--seed",
            "42",
            "--size",
            "medium",
            env=env,
            stdout=subprocess.DEVNULL,
        )
        generated = time.monotonic() - t0
        files = sh(
            "podman",
            "exec",
            CONTAINER,
            "bash",
            "-c",
            "find /home/bitrix/www -type f | wc -l",
            env=env,
            capture_output=True,
        ).stdout.strip()
        print(f"generated a site of {files} files in {generated:.0f} s")

        with tempfile.TemporaryDirectory() as tmp:
            inventory = Path(tmp) / "hosts.yml"
            inventory.write_text(
                json.dumps(
                    {"staging": {"hosts": {CONTAINER: {"ansible_connection": "containers.podman.podman"}}}}
                )
            )
            playbook = Path(tmp) / "audit.yml"
            playbook.write_text(
                json.dumps(
                    [
                        {
                            "name": "Audit",
                            "hosts": "staging",
                            "gather_facts": False,
                            "roles": [{"role": "bxops.bitrix.audit", "audit_report_dir": tmp + "/reports"}],
                        }
                    ]
                )
            )
            for run in range(1, args.runs + 1):
                t0 = time.monotonic()
                sh(
                    "ansible-playbook",
                    "-i",
                    str(inventory),
                    str(playbook),
                    env=env,
                    cwd=PROJECT,
                    stdout=subprocess.DEVNULL,
                )
                wall = time.monotonic() - t0
                report = json.loads((Path(tmp) / "reports" / CONTAINER / "audit-latest.json").read_text())
                print(
                    f"run {run}: audit role {wall:.1f} s wall (module {report['duration_s']:.1f} s) over "
                    f"{report['tree']['files']} files, {report['uploads']['files']} in upload/"
                )
    finally:
        if not args.keep:
            subprocess.run(["podman", "rm", "-f", CONTAINER], env=env, capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

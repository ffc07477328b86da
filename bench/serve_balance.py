#!/usr/bin/env python3
"""The balance page over a large ledger: fills a ledger with N entries (default 100,000) for one client
(bench/runner_balance.py's generator), starts `runner.py serve` on a loopback port, and times the client's
page over HTTP (median and worst of --repeat requests, after one warm-up).

Goal (issue 16): under 200 ms for 100,000 entries.

    python bench/serve_balance.py [--entries 100000] [--url postgresql://...] [--repeat 15]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import httpx  # noqa: E402
from runner_balance import fill  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--url", help="ledger URL (default: a SQLite file in a temporary folder)")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        url = args.url or str(root / "ledger.sqlite")
        started = time.perf_counter()
        fill(url, args.entries)
        print(f"filled {args.entries} entries in {time.perf_counter() - started:.1f} s")
        inventories = root / "inventories" / "bench"
        inventories.mkdir(parents=True)
        contract = (REPO / "inventories" / "demo" / "contract.yml").read_text(encoding="utf-8")
        (inventories / "contract.yml").write_text(contract.replace("client: demo", "client: bench"), encoding="utf-8")
        env = dict(os.environ)
        env.update(
            BXOPS_ROOT=str(REPO),
            BXOPS_INVENTORIES_DIR=str(root / "inventories"),
            BXOPS_LEDGER_URL=url,
            BXOPS_CONFIG=str(root / "bxops.toml"),
            BXOPS_SERVE_TOKENS=str(root / "tokens.toml"),
            PYTHONPATH=str(REPO),
        )
        runner = [sys.executable, str(REPO / "runner.py")]
        token = subprocess.run(
            [*runner, "serve-token", "bench"], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = subprocess.Popen([*runner, "serve", "--port", str(port)], env=env, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
                for _ in range(300):
                    try:
                        client.get("/")
                        break
                    except httpx.TransportError:
                        time.sleep(0.1)
                assert client.get("/c/bench/").status_code == 200  # warm-up
                times = []
                for _ in range(args.repeat):
                    began = time.perf_counter()
                    answer = client.get("/c/bench/")
                    times.append((time.perf_counter() - began) * 1000)
                    assert answer.status_code == 200 and 'id="remaining"' in answer.text
        finally:
            server.terminate()
            server.wait(timeout=10)
    median = statistics.median(times)
    print(
        f"balance page, {args.entries} entries: median {median:.1f} ms, worst {max(times):.1f} ms "
        f"over {args.repeat} requests (goal < 200 ms: {'met' if median < 200 else 'NOT met'}); "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()

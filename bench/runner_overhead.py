#!/usr/bin/env python3
"""The runner's overhead: the same small playbook through `runner.py run` and through plain
`ansible-playbook`, one process per run, alternating (which goes first swaps every round, so drifting
machine load hits both alike); prints the wall-clock medians, the overhead in seconds (the median of
each round's difference, and the difference of the medians), the ratio, and the same for CPU seconds
(each process with its children: Ansible's forks, the runner's ansible-playbook).

Goal (issue 3): overhead under 5 % of the run, or under 0.5 s.

    python bench/runner_overhead.py [--rounds 7] [--sleep 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLAYBOOKS = REPO / "tests" / "runner" / "playbooks"


def workspace(root: Path) -> dict[str, str]:
    client = root / "inventories" / "bench"
    client.mkdir(parents=True)
    interpreter = sys.executable
    (client / "hosts.yml").write_text(
        "all:\n  children:\n    staging:\n      hosts:\n        localhost:\n"
        f"          ansible_connection: local\n          ansible_python_interpreter: {interpreter}\n"
        "    production:\n      hosts: {}\n"
    )
    contract = (
        (REPO / "inventories" / "demo" / "contract.yml").read_text().replace("client: demo", "client: bench")
    )
    (client / "contract.yml").write_text(contract)
    env = dict(os.environ)
    env.update(
        BXOPS_INVENTORIES_DIR=str(root / "inventories"),
        BXOPS_PLAYBOOKS_DIR=str(PLAYBOOKS),
        BXOPS_ARTIFACTS_DIR=str(root / "artifacts"),
        BXOPS_LEDGER_URL=str(root / "ledger.sqlite"),
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        PYTHONPATH=str(REPO),
    )
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


CPU: dict[str, list[float]] = {"runner": [], "plain": []}


def timed(command: list[str], env: dict[str, str], kind: str | None = None) -> float:
    """Wall seconds of one process run; its CPU seconds (with its children) go to CPU[kind]."""
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    if kind is not None:
        CPU[kind].append(_children_cpu() - cpu)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--sleep", type=int, default=5, help="seconds the playbook's role sleeps")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bxops-bench-") as tmp:
        root = Path(tmp)
        env = workspace(root)
        extra = ["-e", f"tiny_sleep={args.sleep}"]
        runner = [sys.executable, str(REPO / "runner.py"), "run", "bench", "staging", "tiny", *extra]
        plain = [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(root / "inventories" / "bench" / "hosts.yml"),
            "--limit",
            "staging",
            "-e",
            "bxops_env=staging",
            *extra,
            str(PLAYBOOKS / "tiny.yml"),
        ]
        load_before = os.getloadavg()
        timed(runner, env)  # warm-up: creates the ledger, fills caches
        timed(plain, env)
        runner_times, plain_times = [], []
        for round_number in range(args.rounds):
            if round_number % 2 == 0:
                runner_times.append(timed(runner, env, "runner"))
                plain_times.append(timed(plain, env, "plain"))
            else:
                plain_times.append(timed(plain, env, "plain"))
                runner_times.append(timed(runner, env, "runner"))
    runner_median, plain_median = statistics.median(runner_times), statistics.median(plain_times)
    # each round's pair ran back to back: the median of the pairs' differences resists load swings
    overhead = statistics.median(r - p for r, p in zip(runner_times, plain_times, strict=True))
    cpu_runner, cpu_plain = statistics.median(CPU["runner"]), statistics.median(CPU["plain"])
    result = {
        "rounds": args.rounds,
        "playbook_sleep_seconds": args.sleep,
        "runner_median_s": round(runner_median, 3),
        "ansible_playbook_median_s": round(plain_median, 3),
        "overhead_s (median of paired differences)": round(overhead, 3),
        "overhead_of_medians_s": round(runner_median - plain_median, 3),
        "ratio": round(runner_median / plain_median, 4),
        "overhead_percent": round(100 * overhead / plain_median, 2),
        "goal_met": overhead < 0.5 or overhead / plain_median < 0.05,
        "cpu_runner_median_s": round(cpu_runner, 3),
        "cpu_ansible_playbook_median_s": round(cpu_plain, 3),
        "cpu_overhead_s": round(cpu_runner - cpu_plain, 3),
        "cpu_overhead_s (median of paired differences)": round(
            statistics.median(r - p for r, p in zip(CPU["runner"], CPU["plain"], strict=True)), 3
        ),
        "runner_s": [round(t, 3) for t in runner_times],
        "ansible_playbook_s": [round(t, 3) for t in plain_times],
        "cpu_runner_s": [round(t, 3) for t in CPU["runner"]],
        "cpu_ansible_playbook_s": [round(t, 3) for t in CPU["plain"]],
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Benchmark of bxops.bitrix.bitrix_permissions (issue 6): wall time against the shell baseline.

Builds a Bitrix-shaped tree of N files (default 1,000,000; empty files: only metadata matters here) owned by
the site user, plants a share of deviations (wrong owner, wrong group, wrong mode, world-writable, a readable
secret), then times, alternating and restoring the same deviations before every run:

  module     the module, run the way Ansible runs it on a host (python3 <module> <args file>)
  baseline   find ... -exec chown/chmod ... + making the same fixes (one find per kind of fix)
  module, no change     the module again on the already fixed tree
  baseline, no change   the same finds on the already fixed tree (nothing to exec)

and, on a second tree of --ansible-files files (default 100,000), ansible.builtin.file with recurse: true
(owner, group, mode u=rwX,g=rX,o=rX + the secret) against the module, both through ansible-playbook.

Run as root (it changes owners), on a quiet machine, once:
    /tmp/probe-venv/bin/python bench/permissions.py            # full run (about 10 minutes)
    /tmp/probe-venv/bin/python bench/permissions.py --files 100000 --ansible-files 10000 --rounds 1   # smoke
Prints the figures; --json FILE also writes them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
MODULE = PROJECT / "plugins" / "modules" / "bitrix_permissions.py"
COLLECTIONS = PROJECT / ".collections"
DEFAULTS = PROJECT / "roles" / "permissions" / "defaults" / "main.yml"
SECRET = "bitrix/.settings.php"


def role_lists() -> tuple[list[str], list[str]]:
    """The role's default secrets and writable folders (so the module does what the role does)."""
    import yaml

    data = yaml.safe_load(DEFAULTS.read_text())
    return data["permissions_secrets"], data["permissions_writable"]


def generate(root: Path, files: int, uid: int, seed: int) -> list[str]:
    """A tree of `files` empty files under bitrix/, upload/, local/ owned by uid:uid; returns its paths."""
    rng = random.Random(seed)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    os.chown(root, uid, uid)
    paths: list[str] = []
    os.setegid(uid)
    os.seteuid(uid)
    old_umask = os.umask(0o022)
    try:
        for rel in (
            "bitrix/modules/main/classes/general",
            "bitrix/php_interface",
            "upload/1c_catalog",
            "local",
        ):
            (root / rel).mkdir(parents=True, exist_ok=True)
        (root / "bitrix/modules/main/classes/general/version.php").write_text(
            '<?php define("SM_VERSION", "23.900.550");\n'
        )
        (root / SECRET).write_text("<?php return array();\n")
        os.chmod(root / SECRET, 0o600)
        # Areas weighted like a real site: core modules, uploads (hashed folders), caches, custom code.
        areas = [("bitrix/modules", 0.45), ("upload/iblock", 0.35), ("bitrix/cache", 0.12), ("local", 0.08)]
        made = 0
        for area, share in areas:
            quota = int(files * share) if area != "local" else files - made
            per_dir = 40
            n_dirs = max(1, quota // per_dir)
            for d in range(n_dirs):
                folder = f"{area}/{d // 1000:02x}/{d % 1000:03x}"
                os.makedirs(root / folder, exist_ok=True)
                count = per_dir if d < n_dirs - 1 else quota - per_dir * (n_dirs - 1)
                base = str(root / folder)
                for i in range(count):
                    name = f"{folder}/f{i:03d}_{rng.getrandbits(24):06x}.php"
                    os.close(os.open(base + name[len(folder) :], os.O_CREAT | os.O_WRONLY, 0o644))
                    paths.append(name)
            made += quota
    finally:
        os.umask(old_umask)
        os.seteuid(0)
        os.setegid(0)
    return paths


def all_dirs(root: Path) -> list[str]:
    out = []
    for dirpath, _dirs, _files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if rel != ".":
            out.append(rel)
    return out


def plan_deviations(files: list[str], dirs: list[str], share: float, seed: int) -> list[tuple[str, str]]:
    """(path, kind) for `share` of all entries; kinds in realistic proportions."""
    rng = random.Random(seed + 1)
    kinds_file = ["owner"] * 40 + ["group"] * 10 + ["mode"] * 30 + ["world_writable"] * 20
    kinds_dir = ["owner"] * 50 + ["mode"] * 30 + ["world_writable"] * 20
    plan = [(p, rng.choice(kinds_file)) for p in rng.sample(files, int(len(files) * share))]
    plan += [(p, "d_" + rng.choice(kinds_dir)) for p in rng.sample(dirs, max(1, int(len(dirs) * share)))]
    plan.append((SECRET, "secret"))
    return plan


def apply_deviations(root: Path, plan: list[tuple[str, str]]) -> None:
    for rel, kind in plan:
        path = os.path.join(root, rel)
        if kind in ("owner", "d_owner"):
            os.lchown(path, 0, 0)
        elif kind == "group":
            os.lchown(path, -1, 33)
        elif kind == "mode":
            os.chmod(path, 0o600)
        elif kind == "world_writable":
            os.chmod(path, 0o666)
        elif kind == "d_mode":
            os.chmod(path, 0o700)
        elif kind == "d_world_writable":
            os.chmod(path, 0o777)
        elif kind == "secret":
            os.chmod(path, 0o644)


def baseline_commands(root: Path, uid: int) -> list[str]:
    """What an admin would run: one find per kind of fix, exec'ing only on deviating entries."""
    r = str(root)
    return [
        f"find {r} \\( ! -user {uid} -o ! -group {uid} \\) -exec chown -h {uid}:{uid} {{}} +",
        f"find {r} -type d ! -perm 755 -exec chmod 755 {{}} +",
        f"find {r} -type f ! -perm 644 ! -path {r}/{SECRET} -exec chmod 644 {{}} +",
        f"chmod 600 {r}/{SECRET}",
    ]


def run_baseline(root: Path, uid: int) -> float:
    start = time.perf_counter()
    for command in baseline_commands(root, uid):
        subprocess.run(command, shell=True, check=True)
    return time.perf_counter() - start


def module_args(root: Path, uid: int, secrets: list[str], writable: list[str], workdir: Path) -> Path:
    args = {
        "ANSIBLE_MODULE_ARGS": {
            "docroot": str(root),
            "owner": str(uid),
            "group": str(uid),
            "secrets": secrets,
            "writable": writable,
            "journal": str(workdir / "journal.jsonl"),
        }
    }
    path = workdir / "args.json"
    path.write_text(json.dumps(args))
    return path


def run_module(args_file: Path, workdir: Path) -> tuple[float, dict]:
    journal = workdir / "journal.jsonl"
    if journal.exists():
        journal.unlink()
    env = {**os.environ, "PYTHONPATH": str(COLLECTIONS)}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(MODULE), str(args_file)], env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    result = json.loads(proc.stdout)
    if result.get("failed"):
        raise SystemExit(f"module failed: {result.get('msg')}")
    return elapsed, result


def check_fixed(root: Path, uid: int) -> int:
    """Entries still deviating after a run (must be 0)."""
    bad = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames, ""]:
            path = os.path.join(dirpath, name) if name else dirpath
            st = os.lstat(path)
            want = 0o755 if name in dirnames or not name else (0o600 if path.endswith(SECRET) else 0o644)
            bad += st.st_uid != uid or st.st_gid != uid or (st.st_mode & 0o7777) != want
    return bad


def ansible_playbook(playbook: str, workdir: Path) -> float:
    pb = workdir / "bench.yml"
    pb.write_text(playbook)
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_NOCOLOR": "1",
    }
    start = time.perf_counter()
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", "-c", "local", str(pb)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"ansible-playbook failed:\n{proc.stdout[-2000:]}")
    return elapsed


def file_recurse_playbook(root: Path, uid: int) -> str:
    return f"""---
- name: ansible.builtin.file recurse
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Owner, group and modes of everything
      ansible.builtin.file:
        path: {root}
        state: directory
        recurse: true
        owner: "{uid}"
        group: "{uid}"
        mode: u=rwX,g=rX,o=rX
    - name: The secret
      ansible.builtin.file:
        path: {root}/{SECRET}
        mode: "0600"
"""


def module_playbook(root: Path, uid: int, secrets: list[str], writable: list[str]) -> str:
    return f"""---
- name: bitrix_permissions
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Walk and fix
      bxops.bitrix.bitrix_permissions:
        docroot: {root}
        owner: "{uid}"
        group: "{uid}"
        secrets: {json.dumps(secrets)}
        writable: {json.dumps(writable)}
"""


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--ansible-files", type=int, default=100_000)
    parser.add_argument("--share", type=float, default=0.03, help="share of entries planted wrong (0.03 = 3%%)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--uid", type=int, default=600, help="the site user's uid/gid (need not exist)")
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp/bxops-bench-permissions"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the trees afterwards")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    opts = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root: the benchmark changes owners", file=sys.stderr)
        return 2
    secrets, writable = role_lists()
    opts.workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=opts.workdir))
    os.chmod(work, 0o755)  # the site uid creates the trees inside
    figures: dict[str, object] = {"files": opts.files, "share": opts.share, "rounds": opts.rounds}
    try:
        # --- 1M: module vs find ----------------------------------------------------------------------
        root = work / "www"
        t0 = time.perf_counter()
        files = generate(root, opts.files, opts.uid, opts.seed)
        dirs = all_dirs(root)
        plan = plan_deviations(files, dirs, opts.share, opts.seed)
        print(
            f"tree: {len(files):,} files, {len(dirs):,} folders, {len(plan):,} deviations "
            f"({len(plan) / (len(files) + len(dirs)):.1%}); generated in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        del files
        args_file = module_args(root, opts.uid, secrets, writable, work)
        times: dict[str, list[float]] = {
            "module": [],
            "baseline": [],
            "module_nochange": [],
            "baseline_nochange": [],
        }
        counts = None
        for rnd in range(opts.rounds):
            order = ["module", "baseline"] if rnd % 2 == 0 else ["baseline", "module"]
            for method in order:
                apply_deviations(root, plan)
                if method == "module":
                    elapsed, result = run_module(args_file, work)
                    counts = result["counts"]
                else:
                    elapsed = run_baseline(root, opts.uid)
                times[method].append(elapsed)
                if rnd == 0:
                    left = check_fixed(root, opts.uid)
                    if left:
                        raise SystemExit(f"{method} left {left} entries deviating")
                print(f"  round {rnd + 1} {method:<9} {elapsed:7.2f} s", flush=True)
            for method in (
                ["module_nochange", "baseline_nochange"] if rnd % 2 == 0 else ["baseline_nochange", "module_nochange"]
            ):
                if method == "module_nochange":
                    elapsed, result = run_module(args_file, work)
                    if result["changed"]:
                        raise SystemExit("the no-change run changed something")
                else:
                    elapsed = run_baseline(root, opts.uid)
                times[method].append(elapsed)
                print(f"  round {rnd + 1} {method:<17} {elapsed:7.2f} s", flush=True)
        med = {k: median(v) for k, v in times.items()}
        figures["times_s"] = times
        figures["median_s"] = med
        figures["module_counts"] = counts
        figures["ratio_module_vs_find"] = med["module"] / med["baseline"]
        figures["ratio_module_nochange_vs_find"] = med["module_nochange"] / med["baseline"]
        figures["ratio_module_nochange_vs_find_nochange"] = med["module_nochange"] / med["baseline_nochange"]
        shutil.rmtree(root) if not opts.keep else None

        # --- 100k: module vs ansible.builtin.file recurse (both through ansible-playbook) -------------
        small = work / "www-small"
        files = generate(small, opts.ansible_files, opts.uid, opts.seed)
        dirs = all_dirs(small)
        plan = plan_deviations(files, dirs, opts.share, opts.seed)
        del files
        ans: dict[str, list[float]] = {"module_playbook": [], "file_recurse": []}
        for rnd in range(opts.rounds):
            order = ["module_playbook", "file_recurse"] if rnd % 2 == 0 else ["file_recurse", "module_playbook"]
            for method in order:
                apply_deviations(small, plan)
                book = (
                    module_playbook(small, opts.uid, secrets, writable)
                    if method == "module_playbook"
                    else file_recurse_playbook(small, opts.uid)
                )
                elapsed = ansible_playbook(book, work)
                ans[method].append(elapsed)
                if rnd == 0:
                    left = check_fixed(small, opts.uid)
                    if left:
                        raise SystemExit(f"{method} left {left} entries deviating")
                print(
                    f"  round {rnd + 1} {method:<15} {elapsed:7.2f} s ({opts.ansible_files:,} files)",
                    flush=True,
                )
        figures["ansible_files"] = opts.ansible_files
        figures["ansible_times_s"] = ans
        figures["ratio_file_recurse_vs_module"] = median(ans["file_recurse"]) / median(ans["module_playbook"])
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"{opts.files:,} files, {opts.share:.0%} deviating, median of {opts.rounds} alternating rounds:")
    print(f"  module                 {med['module']:7.2f} s")
    print(f"  find -exec baseline    {med['baseline']:7.2f} s")
    print(f"  module, no change      {med['module_nochange']:7.2f} s")
    print(f"  find, no change        {med['baseline_nochange']:7.2f} s")
    print(f"  ratio module / find                     {figures['ratio_module_vs_find']:.2f}x  (goal <= 1.2x)")
    print(f"  ratio module no-change / find (fixing)  {figures['ratio_module_nochange_vs_find']:.2f}x  (goal < 1)")
    print(f"  ratio module no-change / find no-change {figures['ratio_module_nochange_vs_find_nochange']:.2f}x")
    print(
        f"{opts.ansible_files:,} files through ansible-playbook: file recurse "
        f"{median(ans['file_recurse']):.2f} s, module {median(ans['module_playbook']):.2f} s, "
        f"ratio file/module {figures['ratio_file_recurse_vs_module']:.1f}x"
    )
    if opts.json:
        opts.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

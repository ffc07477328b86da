#!/usr/bin/env python3
"""Benchmark: the orphan report of bxops.bitrix.bitrix_orphans against a shell baseline doing the same
comparison (find + a sorted DB export + comm) on a generated site with 1,000,000 upload files and
1,000,000 b_file rows, in a podman test host.

    CONTAINERS_CONF=images/containers.conf python3 bench/orphans.py [--files N --rows M --rounds R --keep]

It starts (or reuses) the test host `bxops-bench-orphans`, generates the site with tools/sitegen unless
one of that size is already there, then alternates baseline and module runs (same warm caches for both)
and prints the wall times, the ratio (goal <= 1.5) and the module's peak RSS (goal < 200 MB). The
module's logic runs with the host's python3 (as Ansible would run it, minus the AnsiballZ wrapper);
`mysql` child processes are measured separately.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "localhost/bxops-bitrix-host:current"

BASELINE = r"""
set -euo pipefail
cd /home/bitrix/www/upload
work=$(mktemp -d)
find . \( -path ./tmp -o -path ./resize_cache -o -path ./1c_catalog -o -path ./1c_exchange \) -prune \
     -o -type f ! -name .htaccess -printf '%P\n' | LC_ALL=C sort > "$work/disk"
mysql -uroot -N -B sitemanager -e "SELECT
  CONCAT_WS('/', NULLIF(TRIM(BOTH '/' FROM IFNULL(SUBDIR, '')), ''), FILE_NAME)
  FROM b_file WHERE HANDLER_ID IS NULL OR HANDLER_ID = ''" | LC_ALL=C sort -u > "$work/db"
LC_ALL=C comm -23 "$work/disk" "$work/db" | wc -l
rm -rf "$work"
"""

DRIVER = r"""
import json, resource, sys, time
sys.path.insert(0, "/opt/bxops-bench")
from ansible_collections.bxops.bitrix.plugins.modules import bitrix_orphans as o
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_site import MysqlClient, db_credentials
t0 = time.monotonic()
clients = []
def source():
    c = MysqlClient(db_credentials("/home/bitrix/www")); clients.append(c); return o.MysqlSource(c)
res = o.run({"docroot": "/home/bitrix/www", "quarantine_dir": "/var/lib/bxops/quarantine", "mode": "report",
             "min_age": 0}, source, check=True)
for c in clients: c.close()
print(json.dumps({"wall": time.monotonic() - t0, "count": res["orphans"]["count"],
                  "bytes": res["orphans"]["bytes"], "referenced": res["referenced"],
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "children_maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def sh(*argv: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=check, text=True, capture_output=True, **kw)


def in_host(name: str, script: str, *, stdin: str | None = None, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess:
    argv = ["podman", "exec", "-i"]
    for key, value in (env or {}).items():
        argv += ["-e", f"{key}={value}"]
    argv += [name, "bash", "-c", script]
    return subprocess.run(argv, input=stdin, text=True, capture_output=True, check=False)


def ensure_host(name: str) -> None:
    state = sh("podman", "container", "inspect", "-f", "{{.State.Running}}", name, check=False)
    if state.returncode != 0:
        sh("podman", "run", "-d", "--name", name, "--systemd=always", IMAGE, "/sbin/init")
    elif state.stdout.strip() != "true":
        sh("podman", "start", name)
    for _ in range(120):
        out = in_host(name, "systemctl is-system-running").stdout.strip()
        if out in ("running", "degraded"):
            return
        time.sleep(1)
    raise SystemExit(f"{name}: systemd did not come up")


def ensure_site(name: str, files: int, rows: int) -> dict:
    truth = in_host(name, "cat /var/lib/bxops-sitegen/truth.json 2>/dev/null")
    if truth.returncode == 0:
        data = json.loads(truth.stdout)
        gen = data.get("generator", {})
        if gen.get("upload_files") == files and gen.get("bfile_rows") == rows:
            print(f"reusing the generated site in {name}", file=sys.stderr)
            return data
    in_host(name, "rm -rf /opt/bxsitegen && mkdir -p /opt/bxsitegen")
    sh("podman", "cp", str(ROOT / "tools/sitegen/bxsitegen"), f"{name}:/opt/bxsitegen/")
    print(f"generating {files} files / {rows} b_file rows in {name} (minutes)...", file=sys.stderr)
    t0 = time.monotonic()
    gen = in_host(name, f"python3 -m bxsitegen --seed 1 --upload-files {files} --bfile-rows {rows} --force",
                  env={"PYTHONPATH": "/opt/bxsitegen"})
    if gen.returncode != 0:
        raise SystemExit("generator failed: " + gen.stderr[-2000:])
    print(f"generated in {time.monotonic() - t0:.0f}s", file=sys.stderr)
    return json.loads(in_host(name, "cat /var/lib/bxops-sitegen/truth.json").stdout)


def install_module(name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp, "bxops-bench")
        plugins = base / "ansible_collections/bxops/bitrix/plugins"
        (plugins / "modules").mkdir(parents=True)
        (plugins / "module_utils").mkdir(parents=True)
        (plugins / "modules/bitrix_orphans.py").write_bytes(
            (ROOT / "plugins/modules/bitrix_orphans.py").read_bytes())
        for util in sorted((ROOT / "plugins/module_utils").glob("*.py")):  # bitrix_orphans and what it imports
            (plugins / "module_utils" / util.name).write_bytes(util.read_bytes())
        stub = base / "ansible/module_utils"
        stub.mkdir(parents=True)
        (stub / "basic.py").write_text("class AnsibleModule:  # bench stand-in\n    pass\n")
        in_host(name, "rm -rf /opt/bxops-bench")
        sh("podman", "cp", str(base), f"{name}:/opt/")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--container", default="bxops-bench-orphans")
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="leave the test host running (to reuse the site)")
    args = parser.parse_args()
    os.environ.setdefault("CONTAINERS_CONF", str(ROOT / "images/containers.conf"))

    ensure_host(args.container)
    try:
        truth = ensure_site(args.container, args.files, args.rows)
        install_module(args.container)
        base_times, mod_times, runs = [], [], []
        base_count = None
        for i in range(args.rounds):
            t0 = time.monotonic()
            out = in_host(args.container, BASELINE)
            base_times.append(time.monotonic() - t0)
            if out.returncode != 0:
                raise SystemExit("baseline failed: " + out.stderr[-2000:])
            base_count = int(out.stdout.strip())
            t0 = time.monotonic()
            out = in_host(args.container, f"python3 -c '{DRIVER}'")
            mod_times.append(time.monotonic() - t0)
            if out.returncode != 0:
                raise SystemExit("module run failed: " + out.stderr[-3000:])
            runs.append(json.loads(out.stdout))
            print(f"round {i + 1}: baseline {base_times[-1]:.1f}s, module {mod_times[-1]:.1f}s "
                  f"(peak RSS {runs[-1]['maxrss_kb'] / 1024:.0f} MB)", file=sys.stderr)
        up = truth["uploads"]
        last = runs[-1]
        ratio = statistics.median(mod_times) / statistics.median(base_times)
        peak_mb = max(r["maxrss_kb"] for r in runs) / 1024
        print(json.dumps({
            "files_walked": last["referenced"]["disk_files"],
            "b_file_rows_read": last["referenced"]["db_rows"],
            "baseline_s": [round(t, 2) for t in base_times], "module_s": [round(t, 2) for t in mod_times],
            "ratio": round(ratio, 2), "module_peak_rss_mb": round(peak_mb, 1),
            "mysql_child_peak_rss_mb": round(max(r["children_maxrss_kb"] for r in runs) / 1024, 1),
            "orphans_module": last["count"], "orphans_truth": up["orphan_count"],
            "orphans_baseline": base_count, "content_only_refs": len(up["content_referenced"]),
        }, indent=1))
        print(f"ratio module/baseline = {ratio:.2f} (goal <= 1.5); module peak RSS = {peak_mb:.0f} MB "
              f"(goal < 200); orphans: module {last['count']}, truth {up['orphan_count']}, baseline "
              f"{base_count} (the baseline also counts the {len(up['content_referenced'])} files referenced "
              "only from content)")
        ok = last["count"] == up["orphan_count"] and ratio <= 1.5 and peak_mb < 200
        return 0 if ok else 1
    finally:
        if not args.keep:
            sh("podman", "rm", "-f", args.container, check=False)


if __name__ == "__main__":
    sys.exit(main())

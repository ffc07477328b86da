#!/usr/bin/env python3
"""Backup and restore wall times of the backup role on a generated 100k-file site against a plain baseline
(issues 4 and 14).

Starts a throw-away test host from the local image, generates a site with tools/sitegen
(`--size medium` = 100k upload files unless --upload-files says otherwise), then times, each through
ansible-playbook like a real run: the backup (role entry point main), verify, and the restore after a
small mutation (files changed, added, deleted; DB rows changed), and prints the figures.
The baseline on the same host and site, run with the same compressor: `mysqldump --single-transaction |
zstd` plus `tar -c` of the same file set (the disposable folders' content left out) `| zstd` for the backup;
`zstd -d | tar -x --numeric-owner -p` over the docroot plus `zstd -d | mysql` for the restore. The ratios
compare the module's own time (backup.json duration_s; the restore's duration_s) with the baseline, and the
role's wall time (Ansible, preflight and lock included) with it. Issue 14's aim: at most 1.2x each.

    export PATH=/tmp/probe-venv/bin:$PATH
    python3 bench/backup_restore.py                      # 100k files
    python3 bench/backup_restore.py --upload-files 20000 --keep

Needs podman and localhost/bxops-bitrix-host:current (scripts/build-image.sh). Do not run it in
parallel with other heavy jobs: the machine's cores are shared.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = "localhost/bxops-bitrix-host:current"
NAME = "bxops-bench-backup"


def run(argv: list[str], env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=check, capture_output=True, text=True, env=env)


def podman_exec(*argv: str) -> str:
    return run(["podman", "exec", NAME, *argv]).stdout


def playbook(workdir: str, name: str, body: str, env: dict) -> float:
    path = os.path.join(workdir, name + ".yml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(body)
    started = time.monotonic()
    proc = run(["ansible-playbook", "-i", os.path.join(workdir, "inventory.yml"), path], env=env, check=False)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-6000:] + proc.stderr[-2000:])
        raise SystemExit(f"{name} failed")
    return elapsed


def play(tasks_from: str, extra: str = "") -> str:
    return (
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        f"    - name: Run the backup role ({tasks_from})\n      ansible.builtin.include_role:\n"
        f"        name: bxops.bitrix.backup\n        tasks_from: {tasks_from}\n{extra}"
    )


def baseline(db: str, exclude: list[str], compression: str) -> tuple[float, float]:
    """The plain tools on the same host and file set: (backup seconds, restore seconds)."""
    comp, dec = ("zstd -q -T0 -3 -c", "zstd -q -d -c") if compression == "zstd" else ("gzip -1 -c", "gzip -d -c")
    excludes = " ".join(f"--exclude='./{rel}/*'" for rel in exclude)
    podman_exec("sh", "-c", "rm -rf /var/tmp/base && mkdir -p /var/tmp/base && sync")
    started = time.monotonic()
    podman_exec(
        "bash", "-c",
        "set -eo pipefail; "
        f"mysqldump --single-transaction --routines --triggers --quick --hex-blob --no-tablespaces {db} "
        f"| {comp} > /var/tmp/base/db.sql.zst; "
        f"tar -C /home/bitrix/www -c --numeric-owner --format=posix {excludes} . "
        f"| {comp} > /var/tmp/base/files.tar.zst",
    )
    backup = time.monotonic() - started
    started = time.monotonic()
    podman_exec(
        "bash", "-c",
        "set -eo pipefail; "
        f"{dec} /var/tmp/base/files.tar.zst | tar -x -C /home/bitrix/www --numeric-owner -p; "
        f"{dec} /var/tmp/base/db.sql.zst | mysql {db}",
    )
    restore = time.monotonic() - started
    podman_exec("rm", "-rf", "/var/tmp/base")
    return backup, restore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="medium", choices=["small", "medium", "large"])
    parser.add_argument("--upload-files", type=int, help="overrides --size for the number of upload files")
    parser.add_argument("--compression", default="auto", choices=["auto", "zstd", "gzip"])
    parser.add_argument("--keep", action="store_true", help="leave the test host running")
    args = parser.parse_args()

    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", os.path.join(ROOT, "images", "containers.conf"))
    env.update(
        ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"),
        ANSIBLE_ROLES_PATH=os.path.join(ROOT, "roles"),
        ANSIBLE_PYTHON_INTERPRETER="auto_silent",
        ANSIBLE_HOST_KEY_CHECKING="false",
    )
    os.environ["CONTAINERS_CONF"] = env["CONTAINERS_CONF"]
    run(["podman", "rm", "-f", NAME], check=False)
    run(["podman", "run", "-d", "--name", NAME, "--systemd=always", IMAGE, "/sbin/init"])
    try:
        for _ in range(120):
            state = run(["podman", "exec", NAME, "systemctl", "is-system-running"], check=False)
            if state.stdout.strip() in ("running", "degraded"):
                break
            time.sleep(1)
        # the image caches zstd for an offline install; a Bitrix host without it gets gzip -1 (both compared alike)
        if args.compression != "gzip":
            run(["podman", "exec", NAME, "apt-get", "install", "-y", "-q", "--no-install-recommends", "zstd"],
                check=False)
        run(["podman", "cp", os.path.join(ROOT, "tools", "sitegen", "bxsitegen"), NAME + ":/opt/bxsitegen"])
        gen = [
            "env",
            "PYTHONPATH=/opt",
            "python3",
            "-m",
            "bxsitegen",
            "--seed",
            "42",
            "--size",
            args.size,
            "--no-system-files",
        ]
        if args.upload_files:
            gen += ["--upload-files", str(args.upload_files)]
        started = time.monotonic()
        podman_exec(*gen)
        generate_s = time.monotonic() - started
        truth = json.loads(podman_exec("cat", "/var/lib/bxops-sitegen/truth.json"))
        db = truth["db"]["name"]

        with tempfile.TemporaryDirectory(prefix="bxops-bench-") as workdir:
            with open(os.path.join(workdir, "inventory.yml"), "w", encoding="utf-8") as handle:
                handle.write(
                    "all:\n  hosts:\n    bench:\n      ansible_connection: containers.podman.podman\n"
                    f"      ansible_host: {NAME}\n  vars:\n    backup_compression: {args.compression}\n"
                )
            podman_exec("sync")
            backup_s = playbook(workdir, "backup", play("main"), env)
            meta_path = podman_exec("sh", "-c", "ls -d /var/lib/bxops/backups/*/backup.json | tail -n 1")
            meta_path = meta_path.strip()
            meta = json.loads(podman_exec("cat", meta_path))
            manifest = meta_path.replace("backup.json", "manifest.jsonl")
            manifest_bytes = int(podman_exec("stat", "-c", "%s", manifest))
            verify_s = playbook(workdir, "verify", play("verify"), env)
            podman_exec(
                "sh",
                "-c",
                "D=/home/bitrix/www; echo changed >> $D/index.php; "
                "find $D/upload -type f | head -n 100 | xargs rm -f; "
                "mkdir -p $D/local/bench && echo x > $D/local/bench/added.php; "
                f"mysql {db} -e \"UPDATE b_option SET VALUE = CONCAT(VALUE, 'x') LIMIT 10\"",
            )
            restore_s = playbook(workdir, "restore", play("restore"), env)
            base_backup_s, base_restore_s = baseline(db, meta["exclude"], meta.get("compression", "zstd"))

        files = meta["files"]
        dbm = meta.get("db") or {}
        load = os.getloadavg()[0]
        mb = 1e6
        print(f"backup_restore bench (bxops.bitrix.backup): {os.cpu_count()} cores, load now {load:.1f}")
        print(
            f"  site: {files['files']} files, {files['dirs']} folders, {files['content_bytes'] / mb:.1f} MB"
            f" (disposable left out), {len(dbm.get('tables', []))} tables; generated in {generate_s:.0f} s"
        )
        print(
            f"  compression {meta['compression']}: archive {files['bytes'] / mb:.1f} MB, "
            f"dump {dbm.get('bytes', 0) / mb:.1f} MB, manifest {manifest_bytes / mb:.1f} MB"
        )
        print(f"  backup  wall {backup_s:6.1f} s  (role main; module {meta['duration_s']:.1f} s)")
        print(f"  verify  wall {verify_s:6.1f} s  (role verify: sha256 of every file against the manifest)")
        print(f"  restore wall {restore_s:6.1f} s  (role restore: files + DB + home page check)")
        comp = meta["compression"]
        print(f"  baseline backup  {base_backup_s:6.1f} s  (mysqldump | {comp}, tar | {comp})")
        print(f"  baseline restore {base_restore_s:6.1f} s  (decompress | tar -x over the docroot, decompress | mysql)")
        print(
            f"  ratio backup:  module {meta['duration_s'] / base_backup_s:.2f}x,"
            f" role wall {backup_s / base_backup_s:.2f}x"
        )
        print(f"  ratio restore: role wall {restore_s / base_restore_s:.2f}x")
    finally:
        if not args.keep:
            run(["podman", "rm", "-f", NAME], check=False)


if __name__ == "__main__":
    main()

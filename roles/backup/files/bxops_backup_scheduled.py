#!/usr/bin/python3
# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup role's scheduled run on the host (systemd timer -> bxops-backup-<site>.service).

    bxops_backup_scheduled.py CONFIG.json [--offsite-only]

One run: take the site's maintenance lock (the format and rules of the bitrix_site_lock module: a run
that holds it is never disturbed, the scheduled run is skipped and says so), make a backup and apply
retention with the collection's own bitrix_backup module code (run() on the same parameters the role
passes), copy the new backup to the restic repository (encrypted; password from a 0600 file, never in
the environment of the unit or on a command line), forget off-site snapshots beyond the retention, and
write the status record the monitoring collector reads (README: "The status record").
--offsite-only copies the newest local backup without making a new one (after a repository outage).
Stdlib only, Python 3.9: it runs with the host's python3 next to the deployed module files.
"""
from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

from ansible_collections.bxops.bitrix.plugins.module_utils import bitrix_lock
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_db import DbError
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_process import current_identity
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_site import NotABitrixSite
from ansible_collections.bxops.bitrix.plugins.modules import bitrix_backup

SCHEMA = "bxops.backup-status/1"


class Skipped(Exception):
    """The run did not start (the site is locked by another run)."""


class HostModule:
    """What bitrix_backup.run() uses of AnsibleModule: validated params, check_mode and warn."""

    def __init__(self, params: dict[str, Any]) -> None:
        full: dict[str, Any] = {}
        for name, spec in bitrix_backup.ARGUMENT_SPEC.items():
            full[name] = spec.get("default")
        full["db"] = {"host": "", "database": "", "user": "", "password": ""}
        full.update(params)
        self.params = full
        self.check_mode = False
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def iso(moment: float) -> str:
    # timezone.utc, not datetime.UTC: this runs on the host's python3 (3.9 or newer)
    utc = datetime.timezone.utc  # noqa: UP017
    return datetime.datetime.fromtimestamp(moment, utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_json(path: str, content: dict, mode: int) -> None:
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    bitrix_lock.write_json_atomically(path, content, mode, pretty=True)


@contextlib.contextmanager
def site_lock(lock: dict, owner: str):  # type: ignore[no-untyped-def]
    """Hold the site's maintenance lock for the run, by the collection's rules (module_utils/bitrix_lock, as
    the bitrix_site_lock module common's lock tasks run): the path from the state folder and the docroot, a
    live or recent holder makes the scheduled run skip; released when done (only when still this run's)."""
    path = bitrix_lock.lock_path(lock["state_dir"], lock["docroot"])
    try:
        bitrix_lock.take(path, owner, "backup (scheduled)", int(lock["stale_after"]), current_identity())
    except bitrix_lock.Locked as exc:
        raise Skipped(str(exc)) from None
    try:
        yield
    finally:
        bitrix_lock.release(path, owner)


def restic(config: dict, args: list[str]) -> str:
    offsite = config["offsite"]
    env = dict(os.environ, RESTIC_PASSWORD_FILE=offsite["password_file"], RESTIC_REPOSITORY=offsite["repository"])
    env.pop("RESTIC_PASSWORD", None)
    argv = ["restic", "--cache-dir", offsite.get("cache_dir") or "/var/cache/bxops-restic", *args]
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise bitrix_backup.BackupError(
            "restic {} failed ({}): {}".format(args[0], done.returncode, err[-1] if err else "no message")
        )
    return done.stdout.decode("utf-8", "replace")


def offsite_copy(config: dict, backup: dict) -> dict:
    offsite = config["offsite"]
    tags = ",".join(offsite["tags"])
    out = restic(config, ["backup", "--json", "--host", offsite["host"], "--tag", tags, backup["path"]])
    snapshot = ""
    for line in out.splitlines():
        with contextlib.suppress(ValueError):
            message = json.loads(line)
            if isinstance(message, dict) and message.get("message_type") == "summary":
                snapshot = str(message.get("snapshot_id", ""))
    if not snapshot:
        raise bitrix_backup.BackupError("restic backup reported no snapshot id")
    forget = ["forget", "--host", offsite["host"], "--tag", tags, "--group-by", "host,tags",
              "--keep-last", str(offsite["keep_last"])]
    if int(offsite["keep_days"]) > 0:
        forget += ["--keep-within", "{}d".format(int(offsite["keep_days"]))]
    restic(config, [*forget, "--prune"])
    return {"snapshot": snapshot, "repository": offsite["repository_shown"]}


def backup_once(config: dict, offsite_only: bool) -> dict:
    base = {
        "docroot": config["docroot"],
        "backup_dir": config["backup_dir"],
        "exclude": config["exclude"],
        "compression": config["compression"],
        "include_db": config["include_db"],
        "run_id": "scheduled",
    }
    if config.get("db"):
        base["db"] = config["db"]
    result: dict[str, Any] = {}
    if offsite_only:
        newest = bitrix_backup.list_backups(os.path.normpath(config["backup_dir"]), config["docroot"])
        if not newest:
            raise bitrix_backup.BackupError("no complete backup of {} to copy".format(config["docroot"]))
        backup = bitrix_backup.result_of(os.path.normpath(config["backup_dir"]), newest[0])
    else:
        module = HostModule(dict(base, action="create"))
        made = bitrix_backup.run(module)
        backup = made["backup"]
        result["warnings"] = made.get("warnings_", [])
        pruned = bitrix_backup.run(HostModule(dict(
            base, action="prune", keep_count=config["keep_count"], keep_days=config["keep_days"],
            protect=[backup["id"]],
        )))
        result["pruned"] = [p["id"] for p in pruned["pruned"]]
    result["backup"] = backup
    if config.get("offsite"):
        result["offsite"] = offsite_copy(config, backup)
    return result


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1].startswith("-"):
        print("usage: bxops_backup_scheduled.py CONFIG.json [--offsite-only]", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    offsite_only = "--offsite-only" in argv[2:]
    status_path = config["status_path"]
    record = bitrix_lock.read(status_path)  # a JSON object, {} when missing or unreadable
    started = time.time()
    record.update(schema=SCHEMA, docroot=config["docroot"], host=socket.gethostname())
    outcome: dict[str, Any] = {"started": iso(started)}
    code = 0
    try:
        with site_lock(config["lock"], "scheduled-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))):
            done = backup_once(config, offsite_only)
        backup = done["backup"]
        outcome.update(result="ok", msg="backup {} ({} bytes){}".format(
            backup["id"], backup["size_bytes"],
            ", off-site snapshot {}".format(done["offsite"]["snapshot"]) if done.get("offsite") else ""))
        record["last_good"] = {
            "id": backup["id"],
            "created": backup["created"],
            "finished": iso(time.time()),
            "finished_ts": int(time.time()),
            "size_bytes": int(backup["size_bytes"]),
            "duration_s": round(time.time() - started, 2),
            "path": backup["path"],
            "offsite": done.get("offsite"),
        }
        for warning in done.get("warnings", []):
            print("WARNING: " + warning, file=sys.stderr)
        print(outcome["msg"])
    except Skipped as exc:
        outcome.update(result="skipped", msg=str(exc))
        print("skipped: " + str(exc), file=sys.stderr)
        code = 75  # EX_TEMPFAIL: the unit shows it, the next run tries again
    except (bitrix_backup.BackupError, DbError, NotABitrixSite, OSError) as exc:
        outcome.update(result="failed", msg=str(exc))
        print("backup failed: " + str(exc), file=sys.stderr)
        code = 1
    outcome["finished"] = iso(time.time())
    outcome["duration_s"] = round(time.time() - started, 2)
    record["last_run"] = outcome
    write_json(status_path, record, 0o644)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))

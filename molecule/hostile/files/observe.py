"""Runs on the test host as root, for the verifier: everything tests/test_hostile.py looks at, read in one
call (each testinfra call through the podman connection costs seconds). It only gathers facts; the tests
decide. Prints one JSON document.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

STATE = "/var/lib/bxops-hostile"
BACKUPS = "/var/lib/bxops/backups"
QUARANTINE = "/var/lib/bxops/quarantine"
WATCHED = ["/root/bxops-canary", "/tmp/bxops-evil-loaded", "/home/bitrix/www/upload/plug/evil.so"]


def load(path: str) -> object:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None


def decompressed(path: str) -> bytes:
    if path.endswith(".zst"):
        argv = ["zstd", "-dcq", path]
    elif path.endswith(".gz"):
        argv = ["gzip", "-dc", path]
    else:
        argv = ["cat", path]
    return subprocess.run(argv, capture_output=True, check=False).stdout


def main() -> None:
    markers: dict[str, str] = load(STATE + "/markers.json") or {}  # type: ignore[assignment]
    archives = sorted(glob.glob(BACKUPS + "/*/files.tar*") + glob.glob(BACKUPS + "/*/db.sql*"))
    found = {}
    for path in archives:
        data = decompressed(path)
        found[path] = sorted(name for name, marker in markers.items() if marker.encode() in data)
    before = load(STATE + "/sentinel-before.json")
    now = subprocess.run(["python3", STATE + "/sentinel.py", "now", STATE + "/sentinel-before.json"],
                         capture_output=True, check=True, text=True).stdout
    quarantined = []
    for batch_files in glob.glob(QUARANTINE + "/*/files"):
        for dirpath, _dirs, names in os.walk(batch_files):
            batch = os.path.basename(os.path.dirname(batch_files))
            quarantined += [batch + "/" + os.path.relpath(os.path.join(dirpath, n), batch_files) for n in names]
    sizes = {}
    for outcome_path in glob.glob(STATE + "/outcomes/*.json"):
        result = (load(outcome_path) or {}).get("result")  # type: ignore[union-attr]
        if isinstance(result, dict) and result.get("db_dump"):
            dump = result["db_dump"]
            sizes[dump] = os.path.getsize(dump) if os.path.isfile(dump) else None
    canary = None
    if os.path.isfile(WATCHED[0]):
        with open(WATCHED[0], encoding="utf-8", errors="replace") as handle:
            canary = handle.read(200)
    json.dump({
        "outcomes": {os.path.basename(p)[:-5]: load(p) for p in glob.glob(STATE + "/outcomes/*.json")},
        "swapped": load(STATE + "/swapped.json"),
        "archives": found,
        "sentinel_before": before["entries"] if isinstance(before, dict) else None,
        "sentinel_now": json.loads(now)["entries"],
        "exists": {path: os.path.lexists(path) for path in WATCHED},
        "canary": canary,
        "quarantined": sorted(quarantined),
        "dump_sizes": sizes,
    }, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()

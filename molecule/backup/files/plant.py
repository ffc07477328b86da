#!/usr/bin/env python3
"""Test helper: plant backups for the retention test.

Usage: plant.py BACKUP_DIR DOCROOT age|future
age:    this site's backups 2 and 20 days old, a 30-day-old backup of another site, a folder that is no backup
future: a backup of this site dated one day ahead (a clock set back): the backup just made then ranks
        second, so keep_count 1 would delete it unless it is protected
"""
import json
import os
import sys
import time


def plant(backup_dir: str, docroot: str, age_days: float, name_hint: str) -> str:
    created = time.time() - age_days * 86400
    backup_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(created))
    path = os.path.join(backup_dir, backup_id)
    os.makedirs(path, mode=0o700)
    for name in ("files.tar.gz", "manifest.jsonl"):
        with open(os.path.join(path, name), "w", encoding="utf-8") as handle:
            handle.write(name_hint + "\n")
    meta = {
        "format": 1, "id": backup_id, "status": "complete", "docroot": docroot,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)), "created_ts": created,
        "files": {"archive": "files.tar.gz", "manifest": "manifest.jsonl"}, "db": {},
        "size_bytes": 10, "duration_s": 0.1, "include_db": True, "note": name_hint,
    }
    with open(os.path.join(path, "backup.json"), "w", encoding="utf-8") as handle:
        json.dump(meta, handle)
    return backup_id


def main() -> None:
    backup_dir, docroot, mode = sys.argv[1:4]
    planted = {}
    if mode == "age":
        planted["two_days"] = plant(backup_dir, docroot, 2, "two days old")
        planted["twenty_days"] = plant(backup_dir, docroot, 20, "twenty days old")
        planted["other_site"] = plant(backup_dir, "/home/bitrix/ext_www/other", 30, "another site")
        os.makedirs(os.path.join(backup_dir, "not-a-backup"), exist_ok=True)
        with open(os.path.join(backup_dir, "not-a-backup", "README"), "w", encoding="utf-8") as handle:
            handle.write("someone's folder\n")
        planted["not_a_backup"] = "not-a-backup"
    else:
        planted["future"] = plant(backup_dir, docroot, -1, "dated one day ahead")
    print(json.dumps(planted))


if __name__ == "__main__":
    main()

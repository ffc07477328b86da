# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup role's records, read in one place: ``<backup_dir>/<id>/backup.json`` of each complete backup.

Written by the ``bitrix_backup`` module; read by it (pick, prune, reuse), by the scheduled runner and by the
monitoring collector (age and size of the last good backup). Stdlib only: this runs on the managed host.
"""
from __future__ import annotations

import json
import os

#: The record inside each backup's folder.
META = "backup.json"


def load_meta(path: str) -> dict | None:
    """The record of the backup folder ``path`` when it is a complete backup named as its folder, else None."""
    try:
        with open(os.path.join(path, META), encoding="utf-8") as handle:
            meta = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("status") != "complete":
        return None
    if meta.get("id") != os.path.basename(path):
        return None
    return meta


def list_backups(backup_dir: str, docroot: str) -> list[dict]:
    """Complete backups of this docroot, newest first (links and unfinished ``.partial`` folders skipped)."""
    found = []
    try:
        names = os.listdir(backup_dir)
    except OSError:
        return []
    for name in names:
        path = os.path.join(backup_dir, name)
        if name.endswith(".partial") or not os.path.isdir(path) or os.path.islink(path):
            continue
        meta = load_meta(path)
        if meta and meta.get("docroot") == docroot:
            found.append(meta)
    found.sort(key=lambda m: (float(m.get("created_ts", 0)), m["id"]), reverse=True)
    return found

#!/usr/bin/python
# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: bitrix_cleanup
short_description: Remove a 1C-Bitrix site's disposable data, category by category, and say what it reclaimed
description:
  - Categories (O(categories)); an unknown one is refused before anything is touched.
  - C(cache), C(managed_cache), C(stack_cache), C(managed_flags), C(cache_image) empty the folder of that
    name under C(bitrix/) (the folder itself stays).
  - C(bitrix_tmp) empties C(bitrix/tmp) except what is in use. The runtime files the core regenerates
    (O(tmp_keep), C(cacert.pem) and C(openssl.cnf)) count as in use while a process holds them open or
    they were read or written within O(tmp_keep_idle) seconds (atime or mtime; with C(relatime) the atime
    moves at least once a day while the file is read); any other entry is in use while a process holds a
    file of it open or something in it was modified within O(fresh_age) seconds.
  - C(html_pages) removes only the cached C(*.html) pages of the composite cache C(bitrix/html_pages) (and
    the folders they leave empty); C(.enabled), C(.config.php) and C(.size) are never touched.
  - C(upload_tmp) removes C(<upload>/tmp/BXTEMP-YYYY-MM-DD/HH) folders whose encoded expiry (host local
    time) plus O(bxtemp_grace) has passed, and other entries older than O(upload_tmp_max_age); never one
    in use (open file, or modified within O(fresh_age)).
  - C(resize_cache) empties C(<upload>/resize_cache) (regenerable thumbnails; opt-in, not in the defaults).
  - C(backups) prunes backup archive sets (multi-part C(.tar.gz), C(.tar.gz.1) ... count as one) in
    O(backup_dirs); a set goes only when it is not among the O(backup_keep) newest AND older than
    O(backup_max_age_days).
  - C(logs) removes rotated logs (C(x.log.1), C(x.log.2.gz), C(x.log-20240101.gz) ...) in O(log_dirs) older
    than O(log_max_age_days); live C(*.log) files are never touched.
  - Returns files, bytes and folders reclaimed per category (what would be, in check mode).
options:
  docroot:
    description: The site's document root.
    type: path
    required: true
  categories:
    description: The categories to clean.
    type: list
    elements: str
    default: [cache, managed_cache, stack_cache, managed_flags, cache_image, bitrix_tmp, html_pages,
              upload_tmp, backups, logs]
  upload_dir:
    description:
      - The upload folder relative to the docroot.
      - Empty reads option C(main.upload_dir) (default C(upload)).
    type: str
    default: ""
  db:
    description: DB credentials overriding C(bitrix/.settings.php) (only used to read C(main.upload_dir)).
    type: dict
    default: {}
  fresh_age:
    description: Seconds; an entry modified more recently is in use and kept.
    type: int
    default: 3600
  tmp_keep:
    description: Names in C(bitrix/tmp) the core regenerates, kept while in use.
    type: list
    elements: str
    default: [cacert.pem, openssl.cnf]
  tmp_keep_idle:
    description: Seconds since the last read or write after which a O(tmp_keep) file is no longer in use.
    type: int
    default: 604800
  bxtemp_grace:
    description: Seconds added to a C(BXTEMP) folder's encoded expiry before it is removed.
    type: int
    default: 3600
  upload_tmp_max_age:
    description: Seconds; other entries of C(<upload>/tmp) older than this are removed.
    type: int
    default: 86400
  backup_dirs:
    description: Folders holding backup archives (absolute, or relative to the docroot).
    type: list
    elements: str
    default: [bitrix/backup]
  backup_keep:
    description: How many newest backup sets are always kept.
    type: int
    default: 3
  backup_max_age_days:
    description: Backup sets younger than this are always kept.
    type: int
    default: 30
  log_dirs:
    description: Folders holding rotated logs (absolute, or relative to the docroot).
    type: list
    elements: str
    default: [/var/log/nginx, /var/log/php]
  log_max_age_days:
    description: Rotated logs older than this are removed.
    type: int
    default: 14
author: bxops maintainers
"""

EXAMPLES = r"""
- name: Clean caches and temporary files
  bxops.bitrix.bitrix_cleanup:
    docroot: /home/bitrix/www
    categories: [cache, managed_cache, html_pages, upload_tmp]
  register: __cleanup_disposable
"""

RETURN = r"""
categories:
  description: Per category, files, bytes and dirs removed (would be, in check mode), kept_in_use, and notes.
  type: dict
  returned: success
  sample: {"cache": {"files": 120, "bytes": 4096000, "dirs": 12, "kept_in_use": 0}}
total:
  description: files and bytes over all categories.
  type: dict
  returned: success
upload_dir:
  description: The upload folder used.
  type: str
  returned: success
"""

import os
import re
import stat
import time
from collections.abc import Iterable
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_site import (
    MysqlClient,
    NotABitrixSite,
    db_credentials,
    option_value,
    require_site,
)

CACHE_CATEGORIES = {
    "cache": "bitrix/cache",
    "managed_cache": "bitrix/managed_cache",
    "stack_cache": "bitrix/stack_cache",
    "managed_flags": "bitrix/managed_flags",
    "cache_image": "bitrix/cache_image",
}
KNOWN = [*CACHE_CATEGORIES, "bitrix_tmp", "html_pages", "upload_tmp", "resize_cache", "backups", "logs"]
DEFAULT_CATEGORIES = [c for c in KNOWN if c != "resize_cache"]
HTML_PAGES_KEEP = {".enabled", ".config.php", ".size"}
BXTEMP_RE = re.compile(r"^BXTEMP-(\d{4})-(\d{2})-(\d{2})$")
HOUR_RE = re.compile(r"^(\d{2})$")
BACKUP_RE = re.compile(r"^(?P<set>.+?\.(?:tar\.gz|tar|enc\.gz|enc|zip|sql\.gz|sql))(?:\.\d+)?$")
ROTATED_RE = re.compile(
    r"^.+\.log(?:\.\d+|[-_.]\d{8}\d*)(?:\.(?:gz|bz2|xz|zst))?$|^.+\.log\.(?:gz|bz2|xz|zst)$"
)


class CleanupError(Exception):
    pass


def open_files() -> set[tuple[int, int]]:
    """(st_dev, st_ino) of every file any process holds open (what /proc lets us see)."""
    held: set[tuple[int, int]] = set()
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return held
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                st = os.stat(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                held.add((st.st_dev, st.st_ino))
    return held


class Cleaner:
    def __init__(self, check: bool, now: float | None = None,
                 held: set[tuple[int, int]] | None = None) -> None:
        self.check = check
        self.now = now if now is not None else time.time()
        self._held = held

    @property
    def held(self) -> set[tuple[int, int]]:
        if self._held is None:
            self._held = open_files()
        return self._held

    @staticmethod
    def new_report() -> dict[str, Any]:
        return {"files": 0, "bytes": 0, "dirs": 0, "kept_in_use": 0}

    # -- helpers
    def tree_state(self, path: str) -> tuple[float, bool]:
        """Newest mtime of the files in a tree and whether a process holds one of them open.

        Folder mtimes are left out (they move whenever anything, this cleanup included, adds or removes an
        entry); an entry without files is judged by its own mtime.
        """
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            return st.st_mtime, (st.st_dev, st.st_ino) in self.held
        newest: float | None = None
        held = False
        for dirpath, _dirnames, filenames in os.walk(path):
            for name in filenames:
                try:
                    sub = os.lstat(os.path.join(dirpath, name))
                except OSError:
                    continue
                newest = sub.st_mtime if newest is None else max(newest, sub.st_mtime)
                if stat.S_ISREG(sub.st_mode) and (sub.st_dev, sub.st_ino) in self.held:
                    held = True
        return (st.st_mtime if newest is None else newest), held

    def in_use(self, path: str, fresh_age: int) -> bool:
        newest, held = self.tree_state(path)
        return held or self.now - newest < fresh_age

    def remove(self, path: str, report: dict[str, Any]) -> None:
        """Remove a file or a whole tree (symlinks are removed, never followed), counting what goes."""
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            report["files"] += 1
            report["bytes"] += st.st_size if stat.S_ISREG(st.st_mode) else 0
            if not self.check:
                os.unlink(path)
            return
        for dirpath, dirnames, filenames in os.walk(path, topdown=False):
            for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                full = os.path.join(dirpath, name)
                try:
                    sub = os.lstat(full)
                except FileNotFoundError:
                    continue
                report["files"] += 1
                report["bytes"] += sub.st_size if stat.S_ISREG(sub.st_mode) else 0
                if not self.check:
                    os.unlink(full)
            report["dirs"] += 1
            if not self.check:
                os.rmdir(dirpath)

    def empty_folder(self, root: str, report: dict[str, Any], keep: Iterable[str] = ()) -> None:
        keep = set(keep)
        if not os.path.isdir(root):
            report["note"] = "absent"
            return
        for name in sorted(os.listdir(root)):
            if name in keep:
                continue
            self.remove(os.path.join(root, name), report)

    # -- categories
    def cache(self, root: str) -> dict[str, Any]:
        report = self.new_report()
        self.empty_folder(root, report)
        return report

    def bitrix_tmp(self, root: str, keep: list[str], keep_idle: int, fresh_age: int) -> dict[str, Any]:
        report = self.new_report()
        if not os.path.isdir(root):
            report["note"] = "absent"
            return report
        for name in sorted(os.listdir(root)):
            path = os.path.join(root, name)
            if name in keep:
                st = os.lstat(path)
                recent = self.now - max(st.st_atime, st.st_mtime) < keep_idle
                if recent or (st.st_dev, st.st_ino) in self.held:
                    report["kept_in_use"] += 1
                    continue
            elif self.in_use(path, fresh_age):
                report["kept_in_use"] += 1
                continue
            self.remove(path, report)
        return report

    def html_pages(self, root: str) -> dict[str, Any]:
        report = self.new_report()
        if not os.path.isdir(root):
            report["note"] = "absent"
            return report
        for dirpath, _dirnames, filenames in os.walk(root, topdown=False):
            top = os.path.samefile(dirpath, root)
            for name in filenames:
                if not name.endswith(".html") or (top and name in HTML_PAGES_KEEP):
                    continue
                full = os.path.join(dirpath, name)
                st = os.lstat(full)
                if not stat.S_ISREG(st.st_mode):
                    continue
                report["files"] += 1
                report["bytes"] += st.st_size
                if not self.check:
                    os.unlink(full)
            if top:
                continue
            # a folder only cached pages lived in goes too
            if self.check:
                if _only_html(dirpath):
                    report["dirs"] += 1
            elif not os.listdir(dirpath):
                os.rmdir(dirpath)
                report["dirs"] += 1
        return report

    def upload_tmp(self, root: str, bxtemp_grace: int, max_age: int, fresh_age: int) -> dict[str, Any]:
        report = self.new_report()
        report.update(bxtemp_removed=0, bxtemp_kept=0)
        if not os.path.isdir(root):
            report["note"] = "absent"
            return report
        for name in sorted(os.listdir(root)):
            path = os.path.join(root, name)
            match = BXTEMP_RE.match(name)
            if match and os.path.isdir(path) and not os.path.islink(path):
                self._bxtemp(path, match, bxtemp_grace, max_age, fresh_age, report)
                continue
            newest, held = self.tree_state(path)
            if held or self.now - newest < fresh_age:
                report["kept_in_use"] += 1
            elif self.now - newest >= max_age:
                self.remove(path, report)
        return report

    def _bxtemp(self, path: str, match: re.Match[str], grace: int, max_age: int, fresh_age: int,
                report: dict[str, Any]) -> None:
        year, month, day = (int(g) for g in match.groups())
        left = 0
        for hour_name in sorted(os.listdir(path)):
            hour_path = os.path.join(path, hour_name)
            hour = HOUR_RE.match(hour_name)
            try:
                expiry = time.mktime((year, month, day, int(hour.group(1)), 0, 0, 0, 0, -1)) if hour else None
            except (OverflowError, ValueError):
                expiry = None
            newest, held = self.tree_state(hour_path)
            if held or self.now - newest < fresh_age:
                report["kept_in_use"] += 1
                report["bxtemp_kept"] += 1
                left += 1
                continue
            if expiry is not None and self.now >= expiry + grace:
                self.remove(hour_path, report)
                report["bxtemp_removed"] += 1
            elif expiry is None and self.now - newest >= max_age:
                self.remove(hour_path, report)
            else:
                report["bxtemp_kept"] += 1
                left += 1
        if left == 0:
            report["dirs"] += 1
            if not self.check:
                os.rmdir(path)

    def backups(self, dirs: list[str], keep: int, max_age_days: int) -> dict[str, Any]:
        report = self.new_report()
        report["sets_removed"] = []
        limit = self.now - max_age_days * 86400
        for root in dirs:
            if not os.path.isdir(root):
                continue
            sets: dict[str, list[tuple[str, os.stat_result]]] = {}
            for name in os.listdir(root):
                match = BACKUP_RE.match(name)
                full = os.path.join(root, name)
                st = os.lstat(full)
                if match and stat.S_ISREG(st.st_mode):
                    sets.setdefault(match.group("set"), []).append((full, st))
            ordered = sorted(sets.items(), key=lambda kv: max(s.st_mtime for _, s in kv[1]), reverse=True)
            for set_name, parts in ordered[keep:]:
                if max(s.st_mtime for _, s in parts) >= limit:
                    continue
                if any((s.st_dev, s.st_ino) in self.held for _, s in parts):
                    report["kept_in_use"] += 1
                    continue
                report["sets_removed"].append(os.path.join(root, set_name))
                for full, _st in parts:
                    self.remove(full, report)
        return report

    def logs(self, dirs: list[str], max_age_days: int) -> dict[str, Any]:
        report = self.new_report()
        limit = self.now - max_age_days * 86400
        for root in dirs:
            if not os.path.isdir(root):
                continue
            for name in sorted(os.listdir(root)):
                if not ROTATED_RE.match(name):
                    continue
                full = os.path.join(root, name)
                st = os.lstat(full)
                if not stat.S_ISREG(st.st_mode) or st.st_mtime >= limit:
                    continue
                if (st.st_dev, st.st_ino) in self.held:
                    report["kept_in_use"] += 1
                    continue
                self.remove(full, report)
        return report


def _only_html(path: str) -> bool:
    return all(name.endswith(".html") for _dirpath, _dirnames, names in os.walk(path) for name in names)


def run(params: dict[str, Any], upload_dir: str, check: bool, now: float | None = None,
        held: set[tuple[int, int]] | None = None) -> dict[str, Any]:
    """Clean the categories asked for; tests call this without Ansible."""
    categories = list(params.get("categories") or DEFAULT_CATEGORIES)
    unknown = sorted(set(categories) - set(KNOWN))
    if unknown:
        raise CleanupError(f"unknown cleanup categories: {', '.join(unknown)}; known: {', '.join(KNOWN)}")
    docroot = os.path.normpath(params["docroot"])
    cleaner = Cleaner(check, now, held)
    fresh_age = int(params.get("fresh_age", 3600))
    out: dict[str, dict[str, Any]] = {}

    def in_docroot(rel: str) -> str:
        return rel if os.path.isabs(rel) else os.path.join(docroot, rel)

    for category in categories:
        if category in CACHE_CATEGORIES:
            out[category] = cleaner.cache(os.path.join(docroot, CACHE_CATEGORIES[category]))
        elif category == "bitrix_tmp":
            out[category] = cleaner.bitrix_tmp(
                os.path.join(docroot, "bitrix/tmp"),
                list(params.get("tmp_keep", ["cacert.pem", "openssl.cnf"])),
                int(params.get("tmp_keep_idle", 604800)), fresh_age)
        elif category == "html_pages":
            out[category] = cleaner.html_pages(os.path.join(docroot, "bitrix/html_pages"))
        elif category == "upload_tmp":
            out[category] = cleaner.upload_tmp(
                os.path.join(docroot, upload_dir, "tmp"), int(params.get("bxtemp_grace", 3600)),
                int(params.get("upload_tmp_max_age", 86400)), fresh_age)
        elif category == "resize_cache":
            out[category] = cleaner.cache(os.path.join(docroot, upload_dir, "resize_cache"))
        elif category == "backups":
            out[category] = cleaner.backups(
                [in_docroot(d) for d in params.get("backup_dirs", ["bitrix/backup"])],
                int(params.get("backup_keep", 3)), int(params.get("backup_max_age_days", 30)))
        elif category == "logs":
            out[category] = cleaner.logs(
                [in_docroot(d) for d in params.get("log_dirs", [])], int(params.get("log_max_age_days", 14)))
    total = {"files": sum(r["files"] for r in out.values()), "bytes": sum(r["bytes"] for r in out.values())}
    changed = any(r["files"] or r["dirs"] for r in out.values())
    return {"changed": changed, "categories": out, "total": total, "upload_dir": upload_dir}


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            docroot=dict(type="path", required=True),
            categories=dict(type="list", elements="str", default=DEFAULT_CATEGORIES),
            upload_dir=dict(type="str", default=""),
            db=dict(type="dict", default={}, no_log=True),
            fresh_age=dict(type="int", default=3600),
            tmp_keep=dict(type="list", elements="str", default=["cacert.pem", "openssl.cnf"]),
            tmp_keep_idle=dict(type="int", default=604800),
            bxtemp_grace=dict(type="int", default=3600),
            upload_tmp_max_age=dict(type="int", default=86400),
            backup_dirs=dict(type="list", elements="str", default=["bitrix/backup"]),
            backup_keep=dict(type="int", default=3),
            backup_max_age_days=dict(type="int", default=30),
            log_dirs=dict(type="list", elements="str", default=["/var/log/nginx", "/var/log/php"]),
            log_max_age_days=dict(type="int", default=14),
        ),
        supports_check_mode=True,
    )
    params = module.params
    unknown = sorted(set(params["categories"]) - set(KNOWN))
    if unknown:
        module.fail_json(msg=f"unknown cleanup categories: {', '.join(unknown)}; known: {', '.join(KNOWN)}")
    try:
        require_site(params["docroot"])
    except NotABitrixSite as exc:
        module.fail_json(msg=str(exc))
    upload_dir = params["upload_dir"].strip("/")
    warnings = []
    if not upload_dir:
        try:
            with MysqlClient(db_credentials(params["docroot"], params["db"])) as client:
                upload_dir = option_value(client, "main", "upload_dir", "upload").strip("/") or "upload"
        except (RuntimeError, OSError) as exc:
            upload_dir = "upload"
            warnings.append(f"cannot read main.upload_dir ({exc}); using 'upload'")
    try:
        result = run(params, upload_dir, module.check_mode)
    except (CleanupError, OSError) as exc:
        module.fail_json(msg=str(exc))
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: bitrix_cleanup
short_description: Remove a 1C-Bitrix site's disposable data, category by category, and say what it reclaimed
author: bxops maintainers
extends_documentation_fragment:
  - bxops.bitrix.bitrix_site
  - bxops.bitrix.bitrix_site.upload_dir
  - bxops.bitrix.bitrix_db
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
  - The site is untrusted. Every category works from a descriptor of the docroot, component by component,
    never following a symlink; a symlink met inside a category is removed as a link. A category whose
    root, or any folder above it (C(bitrix/), the upload folder), is a symlink or not a folder is
    refused with one line naming the path; so is an upload folder (O(upload_dir) or C(main.upload_dir))
    that is not a plain relative path inside the docroot (C(..), control characters). The other
    categories still run; the module then fails listing every refusal (RV(refused)), so the engineer
    sees it.
  - Absolute folders in O(backup_dirs) and O(log_dirs) outside the docroot are the engineer's
    configuration and reached at their own path; inside the docroot they are site ground like any other.
  - The categories that keep files in use (C(bitrix_tmp), C(upload_tmp), C(backups), C(logs)) read every
    process's C(/proc/<pid>/fd). When that of a live process cannot be read (root without
    C(CAP_SYS_PTRACE), as in a container), whether a file is in use cannot be told, so with
    O(in_use_check=strict) those categories are refused (the message says C(cannot read /proc/<pid>/fd)
    and to run as root with C(CAP_SYS_PTRACE)); the others still run.
options:
  categories:
    description: The categories to clean.
    type: list
    elements: str
    default: [cache, managed_cache, stack_cache, managed_flags, cache_image, bitrix_tmp, html_pages,
              upload_tmp, backups, logs]
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
  in_use_check:
    description:
      - C(strict) refuses the categories that keep files in use when the open files of some live process
        cannot be read.
      - C(best_effort) goes on with the open files that can be read and warns, naming the processes it
        could not see; a file only they hold open may be removed (files modified within O(fresh_age)
        are still kept).
    type: str
    choices: [strict, best_effort]
    default: strict
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
  description: The upload folder used (as validated; shown escaped when refused).
  type: str
  returned: always
refused:
  description:
    - One line per refused category (the category, the path and the reason); the module fails when
      this is not empty, after the other categories ran. The category's own entry has C(refused) too.
  type: list
  elements: str
  returned: always
in_use_unreadable:
  description: With O(in_use_check=best_effort), the C(/proc/<pid>/fd) folders that could not be read.
  type: list
  elements: str
  returned: when some could not be read
"""

import contextlib
import errno
import os
import re
import stat
import time
from collections.abc import Iterable
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_db import DB_OPTION
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_docroot import (
    DOCROOT_OPTION,
    UPLOAD_DIR_OPTION,
    Anchor,
    UnsafePath,
    clean_rel,
    describe,
)
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_facts import (
    BITRIX_TMP,
    CACHE_FOLDERS,
    COMPOSITE_CACHE,
    COMPOSITE_KEEP,
    CORE_BACKUPS,
    UPLOAD_RESIZE_CACHE,
    UPLOAD_TMP,
)
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_site import (
    MysqlClient,
    NotABitrixSite,
    db_credentials,
    option_value,
    require_site,
    resolve_upload_dir,
)

CACHE_CATEGORIES = dict(CACHE_FOLDERS)
KNOWN = [*CACHE_CATEGORIES, "bitrix_tmp", "html_pages", "upload_tmp", "resize_cache", "backups", "logs"]
DEFAULT_CATEGORIES = [c for c in KNOWN if c != "resize_cache"]
UPLOAD_CATEGORIES = {"upload_tmp", "resize_cache"}
IN_USE_CHECKS = ["strict", "best_effort"]
HTML_PAGES_KEEP = set(COMPOSITE_KEEP)
BXTEMP_RE = re.compile(r"^BXTEMP-(\d{4})-(\d{2})-(\d{2})$")
HOUR_RE = re.compile(r"^(\d{2})$")
BACKUP_RE = re.compile(r"^(?P<set>.+?\.(?:tar\.gz|tar|enc\.gz|enc|zip|sql\.gz|sql))(?:\.\d+)?$")
ROTATED_RE = re.compile(
    r"^.+\.log(?:\.\d+|[-_.]\d{8}\d*)(?:\.(?:gz|bz2|xz|zst))?$|^.+\.log\.(?:gz|bz2|xz|zst)$"
)


class CleanupError(Exception):
    pass


class InUseUnknown(UnsafePath):
    """Whether a file is in use cannot be told: some process's open files cannot be read."""


def open_files(proc_root: str = "/proc", strict: bool = True) -> tuple[set[tuple[int, int]], list[str]]:
    """(st_dev, st_ino) of every regular file any process holds open, and the fd folders not readable.

    A process that exited meanwhile (ENOENT/ESRCH) is no loss. A live process whose ``fd`` folder cannot be
    read (root without CAP_SYS_PTRACE reading another user's process) means the answer is incomplete:
    with ``strict`` that raises InUseUnknown, else the folder is listed in the second value.
    """
    held: set[tuple[int, int]] = set()
    unreadable: list[str] = []

    def blind(path: str, exc: OSError) -> None:
        if strict:
            raise InUseUnknown(
                f"cannot read {path} ({exc.strerror}): cannot tell which files are in use; "
                "run as root with CAP_SYS_PTRACE (or set in_use_check=best_effort)"
            ) from exc
        unreadable.append(path)

    try:
        pids = sorted((p for p in os.listdir(proc_root) if p.isdigit()), key=int)
    except OSError as exc:
        blind(proc_root, exc)
        return held, unreadable
    gone = (errno.ENOENT, errno.ESRCH)
    for pid in pids:
        fd_dir = os.path.join(proc_root, pid, "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError as exc:
            if exc.errno not in gone:
                blind(fd_dir, exc)
            continue
        for fd in fds:
            try:
                st = os.stat(os.path.join(fd_dir, fd))
            except OSError as exc:
                if exc.errno in (errno.EACCES, errno.EPERM):
                    blind(fd_dir, exc)
                    break
                continue  # closed meanwhile, or a descriptor without a file to stat
            if stat.S_ISREG(st.st_mode):
                held.add((st.st_dev, st.st_ino))
    return held, unreadable


class Cleaner:
    """The categories' work, all of it through an :class:`Anchor` (nothing followed through a symlink)."""

    def __init__(self, check: bool, now: float | None = None,
                 held: set[tuple[int, int]] | None = None, proc_root: str = "/proc",
                 in_use_check: str = "strict") -> None:
        self.check = check
        self.now = now if now is not None else time.time()
        self._held = held
        self._held_error: InUseUnknown | None = None
        self.proc_root = proc_root
        self.in_use_check = in_use_check
        self.unreadable: list[str] = []

    @property
    def held(self) -> set[tuple[int, int]]:
        """Files held open; InUseUnknown (every time it is asked) when that cannot be told."""
        if self._held_error is not None:
            raise self._held_error
        if self._held is None:
            try:
                self._held, self.unreadable = open_files(self.proc_root, self.in_use_check == "strict")
            except InUseUnknown as exc:
                self._held_error = exc
                raise
        return self._held

    @staticmethod
    def new_report() -> dict[str, Any]:
        return {"files": 0, "bytes": 0, "dirs": 0, "kept_in_use": 0}

    # -- helpers
    def tree_state(self, anchor: Anchor, rel: str) -> tuple[float, bool]:
        """Newest mtime of the files in a tree and whether a process holds one of them open.

        Folder mtimes are left out (they move whenever anything, this cleanup included, adds or removes an
        entry); an entry without files is judged by its own mtime. Symlinks are looked at, never followed.
        """
        held_set = self.held
        st = anchor.lstat(rel)
        if not stat.S_ISDIR(st.st_mode):
            return st.st_mtime, stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) in held_set
        newest: float | None = None
        held = False
        for entry in anchor.walk(rel):
            if entry.is_dir:
                continue
            newest = entry.st.st_mtime if newest is None else max(newest, entry.st.st_mtime)
            if entry.is_file and (entry.st.st_dev, entry.st.st_ino) in held_set:
                held = True
        return (st.st_mtime if newest is None else newest), held

    def in_use(self, anchor: Anchor, rel: str, fresh_age: int) -> bool:
        newest, held = self.tree_state(anchor, rel)
        return held or self.now - newest < fresh_age

    def remove(self, anchor: Anchor, rel: str, report: dict[str, Any]) -> None:
        """Remove a file or a whole tree (a symlink is removed as a link, never followed), counting what goes."""
        st = anchor.lstat(rel)
        if not stat.S_ISDIR(st.st_mode):
            report["files"] += 1
            report["bytes"] += st.st_size if stat.S_ISREG(st.st_mode) else 0
            if not self.check:
                with contextlib.suppress(FileNotFoundError):
                    anchor.unlink(rel)
            return
        for entry in anchor.walk(rel, topdown=False):
            try:
                if entry.is_dir:
                    report["dirs"] += 1
                    if not self.check:
                        os.rmdir(entry.name, dir_fd=entry.dir_fd)
                else:
                    report["files"] += 1
                    report["bytes"] += entry.st.st_size if entry.is_file else 0
                    if not self.check:
                        os.unlink(entry.name, dir_fd=entry.dir_fd)
            except FileNotFoundError:
                continue
        report["dirs"] += 1
        if not self.check:
            with contextlib.suppress(FileNotFoundError):
                anchor.rmdir(rel)

    def empty_folder(self, anchor: Anchor, root: str, what: str, report: dict[str, Any],
                     keep: Iterable[str] = ()) -> None:
        keep = set(keep)
        if not anchor.require_dir(root, what):
            report["note"] = "absent"
            return
        for entry in anchor.scandir(root):
            if entry.name in keep:
                continue
            self.remove(anchor, entry.rel, report)

    # -- categories
    def cache(self, anchor: Anchor, root: str, what: str) -> dict[str, Any]:
        report = self.new_report()
        self.empty_folder(anchor, root, what, report)
        return report

    def bitrix_tmp(self, anchor: Anchor, root: str, keep: list[str], keep_idle: int,
                   fresh_age: int) -> dict[str, Any]:
        report = self.new_report()
        if not anchor.require_dir(root, "cleanup category bitrix_tmp"):
            report["note"] = "absent"
            return report
        held = self.held  # before anything goes: a category that cannot tell is refused whole
        for entry in anchor.scandir(root):
            if entry.name in keep:
                st = entry.st
                recent = self.now - max(st.st_atime, st.st_mtime) < keep_idle
                if recent or (st.st_dev, st.st_ino) in held:
                    report["kept_in_use"] += 1
                    continue
            elif self.in_use(anchor, entry.rel, fresh_age):
                report["kept_in_use"] += 1
                continue
            self.remove(anchor, entry.rel, report)
        return report

    def html_pages(self, anchor: Anchor, root: str) -> dict[str, Any]:
        report = self.new_report()
        if not anchor.require_dir(root, "cleanup category html_pages"):
            report["note"] = "absent"
            return report
        kept: set[str] = set()  # folders holding something that stays
        for entry in anchor.walk(root, topdown=False):
            parent = entry.rel.rsplit("/", 1)[0]
            if entry.is_dir:
                if entry.rel in kept:
                    kept.add(parent)
                    continue
                # a folder only cached pages lived in goes too
                report["dirs"] += 1
                if not self.check:
                    try:
                        os.rmdir(entry.name, dir_fd=entry.dir_fd)
                    except OSError as exc:
                        if exc.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST):
                            raise
                continue
            top = parent == root
            if not entry.name.endswith(".html") or (top and entry.name in HTML_PAGES_KEEP) or not entry.is_file:
                kept.add(parent)
                continue
            report["files"] += 1
            report["bytes"] += entry.st.st_size
            if not self.check:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.name, dir_fd=entry.dir_fd)
        return report

    def upload_tmp(self, anchor: Anchor, root: str, bxtemp_grace: int, max_age: int,
                   fresh_age: int) -> dict[str, Any]:
        report = self.new_report()
        report.update(bxtemp_removed=0, bxtemp_kept=0)
        if not anchor.require_dir(root, "cleanup category upload_tmp"):
            report["note"] = "absent"
            return report
        self.held  # noqa: B018 - refuse the whole category before anything goes when in use cannot be told
        for entry in anchor.scandir(root):
            match = BXTEMP_RE.match(entry.name)
            if match and entry.is_dir:
                self._bxtemp(anchor, entry.rel, match, bxtemp_grace, max_age, fresh_age, report)
                continue
            newest, held = self.tree_state(anchor, entry.rel)
            if held or self.now - newest < fresh_age:
                report["kept_in_use"] += 1
            elif self.now - newest >= max_age:
                self.remove(anchor, entry.rel, report)
        return report

    def _bxtemp(self, anchor: Anchor, rel: str, match: re.Match[str], grace: int, max_age: int,
                fresh_age: int, report: dict[str, Any]) -> None:
        year, month, day = (int(g) for g in match.groups())
        left = 0
        for entry in anchor.scandir(rel):
            hour = HOUR_RE.match(entry.name)
            try:
                expiry = time.mktime((year, month, day, int(hour.group(1)), 0, 0, 0, 0, -1)) if hour else None
            except (OverflowError, ValueError):
                expiry = None
            newest, held = self.tree_state(anchor, entry.rel)
            if held or self.now - newest < fresh_age:
                report["kept_in_use"] += 1
                report["bxtemp_kept"] += 1
                left += 1
                continue
            if expiry is not None and self.now >= expiry + grace:
                self.remove(anchor, entry.rel, report)
                report["bxtemp_removed"] += 1
            elif expiry is None and self.now - newest >= max_age:
                self.remove(anchor, entry.rel, report)
            else:
                report["bxtemp_kept"] += 1
                left += 1
        if left == 0:
            report["dirs"] += 1
            if not self.check:
                with contextlib.suppress(FileNotFoundError):
                    anchor.rmdir(rel)

    def backups(self, roots: list[tuple[Anchor, str]], keep: int, max_age_days: int) -> dict[str, Any]:
        report = self.new_report()
        report["sets_removed"] = []
        limit = self.now - max_age_days * 86400
        for anchor, root in roots:
            if not anchor.require_dir(root, "cleanup backup folder"):
                continue
            held = self.held
            sets: dict[str, list[tuple[str, os.stat_result]]] = {}
            for entry in anchor.scandir(root):
                match = BACKUP_RE.match(entry.name)
                if match and entry.is_file:
                    sets.setdefault(match.group("set"), []).append((entry.rel, entry.st))
            ordered = sorted(sets.items(), key=lambda kv: max(s.st_mtime for _, s in kv[1]), reverse=True)
            for set_name, parts in ordered[keep:]:
                if max(s.st_mtime for _, s in parts) >= limit:
                    continue
                if any((s.st_dev, s.st_ino) in held for _, s in parts):
                    report["kept_in_use"] += 1
                    continue
                report["sets_removed"].append(os.path.join(anchor.abspath(root), set_name))
                for rel, _st in parts:
                    self.remove(anchor, rel, report)
        return report

    def logs(self, roots: list[tuple[Anchor, str]], max_age_days: int) -> dict[str, Any]:
        report = self.new_report()
        limit = self.now - max_age_days * 86400
        for anchor, root in roots:
            if not anchor.require_dir(root, "cleanup log folder"):
                continue
            held = self.held
            for entry in anchor.scandir(root):
                if not ROTATED_RE.match(entry.name):
                    continue
                if not entry.is_file or entry.st.st_mtime >= limit:
                    continue
                if (entry.st.st_dev, entry.st.st_ino) in held:
                    report["kept_in_use"] += 1
                    continue
                self.remove(anchor, entry.rel, report)
        return report


def _folder_roots(docroot: Anchor, folders: list[str], what: str, opened: list[Anchor]) -> list[tuple[Anchor, str]]:
    """Where each configured folder is reached from.

    A relative folder (or an absolute one inside the docroot) is site ground: reached from the docroot
    anchor, component by component. An absolute folder elsewhere is the engineer's configuration and
    trusted: anchored at its own path (symlinks in that path are the engineer's); a missing one is skipped.
    """
    roots: list[tuple[Anchor, str]] = []
    for folder in folders:
        if os.path.isabs(folder):
            path = os.path.normpath(folder)
            if path == docroot.path or path.startswith(docroot.path.rstrip("/") + "/"):
                roots.append((docroot, clean_rel(os.path.relpath(path, docroot.path), what)))
                continue
            if not os.path.isdir(path):
                continue
            anchor = Anchor(path)
            opened.append(anchor)
            roots.append((anchor, ""))
        else:
            roots.append((docroot, clean_rel(folder, what)))
    return roots


def run(params: dict[str, Any], upload_dir: str | bytes | None, check: bool, now: float | None = None,
        held: set[tuple[int, int]] | None = None, upload_source: str = "main.upload_dir",
        proc_root: str = "/proc") -> dict[str, Any]:
    """Clean the categories asked for; tests call this without Ansible.

    A category that meets a symlinked root (or parent), a site value that is not a plain relative path, or
    open files it cannot see is refused: reported under ``refused`` and in its own entry, while the other
    categories still run. The module then fails, naming each refusal.
    """
    categories = list(params.get("categories") or DEFAULT_CATEGORIES)
    unknown = sorted(set(categories) - set(KNOWN))
    if unknown:
        raise CleanupError(f"unknown cleanup categories: {', '.join(unknown)}; known: {', '.join(KNOWN)}")
    in_use_check = str(params.get("in_use_check") or "strict")
    if in_use_check not in IN_USE_CHECKS:
        raise CleanupError(f"in_use_check={in_use_check}: one of {', '.join(IN_USE_CHECKS)}")
    cleaner = Cleaner(check, now, held, proc_root, in_use_check)
    fresh_age = int(params.get("fresh_age", 3600))
    out: dict[str, dict[str, Any]] = {}
    refused: list[str] = []
    upload: str | None = None
    upload_error: str | None = None
    try:
        if upload_source == "main.upload_dir":  # the site's value: the one place that resolves it
            upload = resolve_upload_dir(os.fsdecode(upload_dir) if upload_dir is not None else None)
        else:
            upload = clean_rel(upload_dir, upload_source, default="upload")
    except UnsafePath as exc:
        upload_error = str(exc)
    opened: list[Anchor] = []
    try:
        docroot = Anchor(params["docroot"])
    except UnsafePath as exc:
        raise CleanupError(str(exc)) from exc
    try:
        for category in categories:
            try:
                if category in UPLOAD_CATEGORIES:
                    if upload is None:
                        raise UnsafePath(f"refusing {category}: {upload_error}")
                    if not docroot.require_dir(upload, f"upload root ({upload_source})"):
                        out[category] = {**cleaner.new_report(), "note": "absent"}
                        continue
                if category in CACHE_CATEGORIES:
                    out[category] = cleaner.cache(docroot, CACHE_CATEGORIES[category],
                                                  f"cleanup category {category}")
                elif category == "bitrix_tmp":
                    out[category] = cleaner.bitrix_tmp(
                        docroot, BITRIX_TMP, list(params.get("tmp_keep", ["cacert.pem", "openssl.cnf"])),
                        int(params.get("tmp_keep_idle", 604800)), fresh_age)
                elif category == "html_pages":
                    out[category] = cleaner.html_pages(docroot, COMPOSITE_CACHE)
                elif category == "upload_tmp":
                    out[category] = cleaner.upload_tmp(
                        docroot, f"{upload}/{UPLOAD_TMP}", int(params.get("bxtemp_grace", 3600)),
                        int(params.get("upload_tmp_max_age", 86400)), fresh_age)
                elif category == "resize_cache":
                    out[category] = cleaner.cache(docroot, f"{upload}/{UPLOAD_RESIZE_CACHE}",
                                                  "cleanup category resize_cache")
                elif category == "backups":
                    out[category] = cleaner.backups(
                        _folder_roots(docroot, list(params.get("backup_dirs", [CORE_BACKUPS])),
                                      "backup_dirs", opened),
                        int(params.get("backup_keep", 3)), int(params.get("backup_max_age_days", 30)))
                elif category == "logs":
                    out[category] = cleaner.logs(
                        _folder_roots(docroot, list(params.get("log_dirs", [])), "log_dirs", opened),
                        int(params.get("log_max_age_days", 14)))
            except UnsafePath as exc:
                message = f"{category}: {exc}"
                refused.append(message)
                out[category] = {**cleaner.new_report(), "refused": str(exc)}
    finally:
        docroot.close()
        for anchor in opened:
            anchor.close()
    total = {"files": sum(r["files"] for r in out.values()), "bytes": sum(r["bytes"] for r in out.values())}
    changed = any(r["files"] or r["dirs"] for r in out.values())
    result: dict[str, Any] = {"changed": changed, "categories": out, "total": total,
                              "upload_dir": upload if upload is not None else describe(os.fsdecode(upload_dir or "")),
                              "refused": refused}
    if cleaner.unreadable:
        result["in_use_unreadable"] = cleaner.unreadable[:20]
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            docroot=DOCROOT_OPTION,
            categories=dict(type="list", elements="str", default=DEFAULT_CATEGORIES),
            upload_dir=UPLOAD_DIR_OPTION,
            db=DB_OPTION,
            fresh_age=dict(type="int", default=3600),
            tmp_keep=dict(type="list", elements="str", default=["cacert.pem", "openssl.cnf"]),
            tmp_keep_idle=dict(type="int", default=604800),
            bxtemp_grace=dict(type="int", default=3600),
            upload_tmp_max_age=dict(type="int", default=86400),
            backup_dirs=dict(type="list", elements="str", default=[CORE_BACKUPS]),
            backup_keep=dict(type="int", default=3),
            backup_max_age_days=dict(type="int", default=30),
            log_dirs=dict(type="list", elements="str", default=["/var/log/nginx", "/var/log/php"]),
            log_max_age_days=dict(type="int", default=14),
            in_use_check=dict(type="str", default="strict", choices=IN_USE_CHECKS),
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
    upload_dir: str = params["upload_dir"]
    upload_source = "upload_dir"
    warnings = []
    if not upload_dir.strip("/") and UPLOAD_CATEGORIES & set(params["categories"]):
        upload_source = "main.upload_dir"
        try:
            with MysqlClient(db_credentials(params["docroot"], params["db"])) as client:
                upload_dir = option_value(client, "main", "upload_dir", "upload")
        except (RuntimeError, OSError, ValueError) as exc:
            upload_dir = "upload"
            warnings.append(f"cannot read main.upload_dir ({exc}); using 'upload'")
    try:
        result = run(params, upload_dir, module.check_mode, upload_source=upload_source)
    except (CleanupError, OSError) as exc:
        module.fail_json(msg=str(exc))
    for warning in warnings:
        module.warn(warning)
    if result.get("in_use_unreadable"):
        module.warn("in_use_check=best_effort: the open files of some processes could not be read ("
                    + ", ".join(result["in_use_unreadable"][:5]) + "); a file only they hold may have been removed")
    if result["refused"]:
        module.fail_json(msg="cleanup refused " + "; ".join(result["refused"]), **result)
    module.exit_json(**result)

if __name__ == "__main__":
    main()

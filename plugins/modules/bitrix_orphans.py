#!/usr/bin/python
# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: bitrix_orphans
short_description: Find orphaned uploads of a 1C-Bitrix site; report, quarantine, restore or purge them
author: bxops maintainers
extends_documentation_fragment:
  - bxops.bitrix.bitrix_site
  - bxops.bitrix.bitrix_db
  - bxops.bitrix.bitrix_site.upload_dir
description:
  - Builds the set of referenced files from B(every) C(b_file) row (C(SUBDIR/FILE_NAME), all modules; rows
    with a C(HANDLER_ID) live in cloud storage and are skipped), the originals of C(b_file_duplicate) rows,
    and every C(/upload/...) path referenced from page files, templates and DB content columns. A regular
    file under the upload folder that none of these name is an orphan.
  - References are recognised in the forms Bitrix and editors write them - quoted attribute values with
    spaces, C(url(...)) with or without quotes, percent-encoding, HTML entities, JSON escapes, absolute and
    protocol-relative URLs (any host), C(srcset) lists; where a reference ends is ambiguous (unquoted text
    with spaces), every reading counts. When in doubt, a file counts as referenced.
  - Nothing under the docroot is reached through a symlink (the C(bitrix_docroot) layer). The upload folder
    (O(upload_dir) or C(main.upload_dir), a site value) must be a plain relative path and a real folder; a
    value with C(..) or a symlinked upload folder or parent is refused naming it. Symlinks inside it are
    reported (RV(orphans.symlinks)) and never moved.
  - Names are bytes - any byte but C(/) and NUL, newlines included, is found, moved and restored; the
    manifest keeps each name exactly (C(path_b64)).
  - Both sides are streamed in byte order and merged, so memory stays flat with millions of files and rows.
    The DB rows (hex-encoded) and the disk listing (C(find -P) run inside the upload folder opened through
    the docroot's descriptor, NUL-separated) go through C(LC_ALL=C sort) started at once, in parallel;
    without C(find) and C(sort) the DB sorts (C(ORDER BY) on a binary cast) and the disk is walked with the
    layer and external-sorted. Content references are external-sorted in length-prefixed chunks. A stream
    out of order makes the module fail.
  - Service folders (O(service_folders), by default C(tmp), C(resize_cache), C(1c_catalog), C(1c_exchange))
    and symbolic links are never candidates, nor are C(.htaccess) / C(.access.php) files.
  - C(report) (the default) changes nothing. C(quarantine) moves orphans older than O(min_age) out of the
    docroot into O(quarantine_dir)/<UTC date-time>/files/<docroot-relative path>, writing and fsyncing a
    manifest line (original path, its exact bytes, size, sha256, owner, group, mode, mtime, device, inode,
    link count) BEFORE each move. C(restore) moves them back with their bytes, owner, mode and mtime,
    creating missing folders as the file's owner; a file whose folder is now a symlink is refused with a
    line (the others continue), a path now taken is a conflict, nothing is ever replaced. C(purge) deletes
    only batches older than O(retention_days). Nothing is deleted in one step.
  - A quarantine on another filesystem keeps holes (sparse copy) and hard links (a link group moves whole,
    linked again in quarantine and on restore); a hard-linked orphan with a name that is not an orphan is
    refused with a line, since moving it would split the link.
  - A batch whose run died half-way (its C(batch.json) still says C(running)) is reversed by the next run of
    any mode (files go back to where they were, the batch is marked C(reversed)); in check mode it is only
    reported.
options:
  mode:
    description: What to do with the orphans.
    type: str
    choices: [report, quarantine, restore, purge]
    default: report
  quarantine_dir:
    description: Where quarantine batches live; must lie outside the docroot.
    type: path
    required: true
  site_domains:
    description:
      - The site's own domains. References written as absolute URLs on any host count as referenced; those
        on other hosts are counted and listed in RV(referenced.other_hosts).
    type: list
    elements: str
    default: []
  service_folders:
    description: Top-level folders of the upload folder that are never candidates.
    type: list
    elements: str
    default: [tmp, resize_cache, 1c_catalog, 1c_exchange]
  content_scan:
    description: Also protect C(/upload/...) paths referenced from page files, templates and DB content.
    type: bool
    default: true
  content_exclude:
    description:
      - Docroot-relative folders not scanned for references.
      - Caches, core code and backups by default; the upload folder is never scanned.
    type: list
    elements: str
    default: [bitrix/modules, bitrix/cache, bitrix/cache_image, bitrix/managed_cache, bitrix/managed_flags,
              bitrix/stack_cache, bitrix/html_pages, bitrix/tmp, bitrix/updates, bitrix/local_cache,
              bitrix/backup]
  content_extensions:
    description: File name endings scanned for references.
    type: list
    elements: str
    default: [.php, .html, .htm, .js, .css, .tpl, .twig, .json, .xml, .txt, .inc]
  content_columns:
    description: C(table.column) pairs holding HTML content; tables or columns that do not exist are skipped.
    type: list
    elements: str
    default: [b_iblock_element.PREVIEW_TEXT, b_iblock_element.DETAIL_TEXT, b_iblock_section.DESCRIPTION,
              b_iblock_element_property.VALUE, b_blog_post.DETAIL_TEXT, b_forum_message.POST_MESSAGE,
              b_landing_block.CONTENT, b_sender_message_field.VALUE, b_option.VALUE]
  min_age:
    description:
      - Seconds; younger orphans are reported but never quarantined.
      - Protects an upload whose C(b_file) row is not written yet.
    type: int
    default: 86400
  sample_size:
    description: How many orphan paths the report lists.
    type: int
    default: 20
  batches:
    description: For C(restore), the batch ids to restore; empty means all.
    type: list
    elements: str
    default: []
  paths:
    description: For C(restore), docroot-relative paths or shell patterns to restore; empty means all.
    type: list
    elements: str
    default: []
  retention_days:
    description: For C(purge), batches older than this many days are deleted; 0 is refused.
    type: int
    default: 30
"""

EXAMPLES = r"""
- name: Report orphaned uploads
  bxops.bitrix.bitrix_orphans:
    docroot: /home/bitrix/www
    quarantine_dir: /var/lib/bxops/quarantine
  register: __cleanup_orphans

- name: Move them to quarantine
  bxops.bitrix.bitrix_orphans:
    docroot: /home/bitrix/www
    quarantine_dir: /var/lib/bxops/quarantine
    mode: quarantine

- name: Bring some back
  bxops.bitrix.bitrix_orphans:
    docroot: /home/bitrix/www
    quarantine_dir: /var/lib/bxops/quarantine
    mode: restore
    paths: ["upload/iblock/1a2/*"]
"""

RETURN = r"""
orphans:
  description: Orphans found (report and quarantine modes)
    count, bytes, by_folder (top-level folder under the upload folder to count and bytes),
    by_age (bucket to count and bytes), young (younger than min_age, never quarantined), sample (paths,
    control and non-UTF-8 bytes shown as \\xNN), symlinks (count and sample, left alone), special (sockets,
    FIFOs, devices), unhandled / unhandled_count (files that could not be examined, each with why).
  type: dict
  returned: mode is report or quarantine
referenced:
  description: db_rows (distinct paths b_file and duplicate rows name), content_refs (distinct content
    references), content_errors (unreadable page files or folders), other_host_refs / other_hosts
    (absolute URLs on hosts not in site_domains), disk_files (files walked), skipped (protected names),
    symlinks, special, disk_errors (unreadable folders).
  type: dict
  returned: mode is report or quarantine
quarantined:
  description: batch id, path, files and bytes moved (or that would be moved in check mode), refused
    (files left in place, each with why) and refused_count.
  type: dict
  returned: mode is quarantine
restored:
  description: files and bytes restored, conflicts (original path occupied by different content), refused
    (a folder on the way is now a symlink; left in quarantine) and refused_count.
  type: dict
  returned: mode is restore
purged:
  description: batches, files and bytes deleted.
  type: dict
  returned: mode is purge
recovered:
  description: Batches left half-way by a killed run and reversed by this one.
  type: list
  returned: always
"""

import base64
import contextlib
import errno
import fnmatch
import grp
import hashlib
import json
import os
import pwd
import stat
import time
from collections.abc import Callable, Iterator
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_db import DB_OPTION
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_docroot import (
    DOCROOT_OPTION,
    UPLOAD_DIR_OPTION,
    Anchor,
    UnsafePath,
    copy_sparse,
    describe,
    same_file,
)
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_orphans import (
    CONTENT_COLUMNS,
    CONTENT_EXCLUDE,
    CONTENT_EXTENSIONS,
    LIST_LIMIT,
    SERVICE_FOLDERS,
    MysqlSource,
    OrphansError,
    find_orphans,
    open_upload_root,
)
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_process import alive, current_identity
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_site import (
    MysqlClient,
    NotABitrixSite,
    db_credentials,
    permission_defaults,
    require_site,
)

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_part_counter = 0


def _sha256_fd(fd: int) -> str:
    digest = hashlib.sha256()
    offset = 0
    while True:
        block = os.pread(fd, 1 << 20, offset)
        if not block:
            return digest.hexdigest()
        digest.update(block)
        offset += len(block)


def _name(getter: Callable[[int], Any], ident: int) -> str | None:
    try:
        return str(getter(ident)[0])
    except KeyError:
        return None


def _line(problems: list[dict[str, str]], rel: str, why: str, **extra: str) -> None:
    """One refused file: a line for the operator (bounded list; the count is exact elsewhere)."""
    if len(problems) < LIST_LIMIT:
        problems.append({"path": describe(rel), "why": why, **extra})


def _temp_name() -> str:
    global _part_counter
    _part_counter += 1
    return f".bxops-part-{os.getpid()}-{_part_counter}"


def _apply_meta_fd(fd: int, uid: int, gid: int, mode: int, mtime_ns: int) -> None:
    """Owner, mode and mtime set on the open file itself: nothing is resolved by path."""
    os.fchown(fd, uid, gid)
    os.fchmod(fd, mode)
    os.utime(fd, ns=(mtime_ns, mtime_ns))


def _link(src: Anchor, src_rel: str, dst: Anchor, dst_rel: str) -> None:
    """A hard link dst_rel -> src_rel's file, both parents reached without symlinks, never replacing
    anything (EEXIST) and never following a symlink at src_rel. (The layer has no link operation.)"""
    src_parent, src_name = src.open_parent(src_rel)
    try:
        dst_parent, dst_name = dst.open_parent(dst_rel)
        try:
            os.link(src_name, dst_name, src_dir_fd=src_parent, dst_dir_fd=dst_parent, follow_symlinks=False)
        finally:
            os.close(dst_parent)
    finally:
        os.close(src_parent)


def _copy_into(src_fd: int, dst: Anchor, dst_rel: str, expect_sha: str | None,
               meta: tuple[int, int, int, int]) -> os.stat_result:
    """Copy an open file to dst_rel (holes kept): a temporary file in the destination's folder, fsync,
    checksum, owner/mode/mtime on the descriptor, then a hard link to the final name (never replacing
    what is there: EEXIST). Returns the new file's stat."""
    parent, name = dst.open_parent(dst_rel)
    temp = _temp_name()
    try:
        out = os.open(temp, (_CREATE & ~os.O_WRONLY) | os.O_RDWR, 0o600, dir_fd=parent)
        try:
            copy_sparse(src_fd, out)
            os.fsync(out)
            if expect_sha is not None and _sha256_fd(out) != expect_sha:
                raise OrphansError(f"the copy of {describe(dst_rel)} does not match its checksum; left alone")
            _apply_meta_fd(out, *meta)
            os.link(temp, name, src_dir_fd=parent, dst_dir_fd=parent, follow_symlinks=False)
            os.fsync(parent)
            return os.fstat(out)
        finally:
            os.close(out)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp, dir_fd=parent)
    finally:
        os.close(parent)


def _entry_rel(entry: dict[str, Any]) -> str:
    """The docroot-relative path of a manifest line: ``path_b64`` (exact bytes) when present, else the
    ``path`` of manifests written before names were stored as bytes."""
    if "path_b64" in entry:
        return os.fsdecode(base64.b64decode(entry["path_b64"]))
    return str(entry["path"])


def _meta_of(entry: dict[str, Any]) -> tuple[int, int, int, int]:
    return int(entry["uid"]), int(entry["gid"]), int(entry["mode"], 8), int(entry["mtime_ns"])


def remember(linked: dict[str, tuple[str, int]], group: str, doc: Anchor, rel: str) -> None:
    """Note the first member of a hard-link group that is back in place (path and inode), so the other
    members are linked to it rather than copied."""
    if group not in linked:
        with contextlib.suppress(OSError, UnsafePath):
            linked[group] = (rel, doc.lstat(rel).st_ino)


class Quarantine:
    """Batches in quarantine_dir: <id>/batch.json (state), <id>/manifest.jsonl, <id>/files/<docroot path>.

    The quarantine folder is root's (configuration) and reached through its own Anchor; the docroot
    side only through the docroot's Anchor: no path under either is resolved through a symlink.
    """

    def __init__(self, root: str, docroot: str, doc: Anchor | None = None) -> None:
        self.root = root
        self.docroot = docroot
        self.doc = doc if doc is not None else Anchor(docroot)
        self._qa: Anchor | None = None

    def qa(self, create: bool = False) -> Anchor | None:
        if self._qa is None:
            if create:
                os.makedirs(self.root, mode=0o700, exist_ok=True)
            elif not os.path.isdir(self.root):
                return None
            self._qa = Anchor(self.root)
        return self._qa

    def _q(self) -> Anchor:
        anchor = self.qa(create=True)
        assert anchor is not None
        return anchor

    def close(self) -> None:
        if self._qa is not None:
            self._qa.close()
            self._qa = None

    # -- listing
    def batches(self) -> list[tuple[str, dict[str, Any]]]:
        qa = self.qa()
        if qa is None:
            return []
        out = []
        for entry in qa.scandir(""):
            if not entry.is_dir or not qa.exists(f"{entry.name}/batch.json"):
                continue
            try:
                data = json.loads(qa.read_bytes(f"{entry.name}/batch.json", 1 << 20))
                out.append((entry.name, data if isinstance(data, dict) else {"state": "unreadable"}))
            except (OSError, ValueError, UnsafePath):
                out.append((entry.name, {"state": "unreadable"}))
        return out

    def manifest(self, batch: str) -> Iterator[dict[str, Any]]:
        qa = self.qa()
        if qa is None or not qa.exists(f"{batch}/manifest.jsonl"):
            return
        fd = qa.open_file(f"{batch}/manifest.jsonl")
        with os.fdopen(fd, encoding="utf-8") as handle:
            for line in handle:
                if not line.endswith("\n"):
                    break  # a line torn by a crash is never followed by its move
                yield json.loads(line)

    def write_meta(self, batch: str, meta: dict[str, Any]) -> None:
        self._q().write_atomic(f"{batch}/batch.json", json.dumps(meta, sort_keys=True).encode(), 0o600)

    @staticmethod
    def qrel(batch: str, rel: str) -> str:
        return f"{batch}/files/{rel}"

    # -- quarantine
    def open_batch(self, upload_dir: str) -> Batch:
        qa = self._q()
        stamp = time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime())
        name, n = stamp, 1
        while qa.exists(name):
            n += 1
            name = f"{stamp}.{n}"
        qa.makedirs(f"{name}/files", 0o700)
        self.write_meta(name, {
            "id": name, "state": "running", "created": int(time.time()), "docroot": self.docroot,
            "upload_dir": upload_dir, "pid": os.getpid(), "process": current_identity(),
        })
        os.fsync(qa.fd)
        return Batch(self, name)

    # -- back where it was (restore and the reversal of a killed run)
    def put_back(self, batch: str, entry: dict[str, Any], rel: str, dir_mode: int,
                 linked: dict[str, tuple[str, int]]) -> None:
        """Move a quarantined file back to rel: parents created owned by the file's owner, every step
        through the anchors (UnsafePath when a folder on the way is now a symlink: nothing written),
        owner/mode/mtime set on the descriptor, never replacing what is at rel (FileExistsError), hard-link
        groups re-linked (``linked``: link group -> a member already back)."""
        qa, doc = self._q(), self.doc
        qrel = self.qrel(batch, rel)
        uid, gid, mode, mtime_ns = _meta_of(entry)
        parent = rel.rpartition("/")[0]
        if parent:
            doc.makedirs(parent, dir_mode, uid, gid)
        group = entry.get("link")
        qfd = qa.open_file(qrel)
        try:
            _apply_meta_fd(qfd, uid, gid, mode, mtime_ns)
            done = False
            if group and group in linked:
                member, ino = linked[group]
                try:
                    st = doc.lstat(member)
                    if stat.S_ISREG(st.st_mode) and st.st_ino == ino:
                        _link(doc, member, doc, rel)
                        done = True
                except (OSError, UnsafePath) as exc:
                    if isinstance(exc, FileExistsError):
                        raise
                # else the member already back is gone or swapped: this one comes back on its own
            if not done:
                try:
                    _link(qa, qrel, doc, rel)  # same filesystem: the very inode comes back
                except OSError as exc:
                    if exc.errno != errno.EXDEV:
                        raise
                    _copy_into(qfd, doc, rel, entry.get("sha256"), (uid, gid, mode, mtime_ns))
        finally:
            os.close(qfd)
        if group:
            remember(linked, group, doc, rel)
        qa.unlink(qrel)

    def in_place(self, entry: dict[str, Any], rel: str) -> bool | None:
        """True when rel holds the entry's content, False when it holds something else, None when empty.
        UnsafePath when a folder on the way is a symlink."""
        doc = self.doc
        try:
            st = doc.lstat(rel)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return False
        fd = doc.open_file(rel, expect=st)
        try:
            return _sha256_fd(fd) == entry["sha256"]
        finally:
            os.close(fd)

    # -- recovery of a batch whose run died
    def reverse(self, batch: str, meta: dict[str, Any], dir_mode: int = 0o755) -> dict[str, Any]:
        result: dict[str, Any] = {"batch": batch, "returned": 0, "already_in_place": 0, "lost": []}
        qa = self._q()
        # copies a killed run left half-made: old-style "<name>.part", new-style ".bxops-part-*"
        for item in list(qa.walk(f"{batch}/files")):
            if item.is_file and (item.name.startswith(".bxops-part-") or item.name.endswith(".part")):
                qa.unlink(item.rel)
        linked: dict[str, tuple[str, int]] = {}
        for entry in self.manifest(batch):
            if entry.get("reverted"):
                continue
            rel = _entry_rel(entry)
            qrel = self.qrel(batch, rel)
            try:
                there = self.in_place(entry, rel)
                if qa.exists(qrel):
                    if there is None:
                        self.put_back(batch, entry, rel, dir_mode, linked)
                        result["returned"] += 1
                    elif there:
                        # copied across file systems and killed before the original was unlinked
                        qa.unlink(qrel)
                        result["already_in_place"] += 1
                        if entry.get("link"):
                            remember(linked, entry["link"], self.doc, rel)
                    else:
                        _line(result["lost"], rel, "original path holds other content")
                elif there is not None:
                    result["already_in_place"] += 1
                    if there and entry.get("link"):
                        remember(linked, entry["link"], self.doc, rel)
                else:
                    _line(result["lost"], rel, "neither in place nor in quarantine")
            except (UnsafePath, FileExistsError) as exc:
                why = str(exc) if isinstance(exc, UnsafePath) else "original path was taken meanwhile"
                _line(result["lost"], rel, why)
        meta = dict(meta, state="reversed", reversed_at=int(time.time()))
        self.write_meta(batch, meta)
        return result


class Batch:
    def __init__(self, quarantine: Quarantine, name: str) -> None:
        self.q = quarantine
        self.qa = quarantine._q()
        self.doc = quarantine.doc
        self.name = name
        self.path = os.path.join(quarantine.root, name)
        self.files = 0
        self.bytes = 0
        self.skipped_changed = 0
        self.refused: list[dict[str, str]] = []
        self.refused_count = 0
        fd = self.qa.open_file(f"{name}/manifest.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.manifest = os.fdopen(fd, "a", encoding="utf-8")
        self.made_dirs: set[str] = set()
        self.hook: Callable[[int], None] | None = None
        self.q_dev = os.fstat(self.qa.fd).st_dev
        # cross-filesystem hard-link groups, moved together at close: (dev, ino) -> [(rel, lstat)]
        self.groups: dict[tuple[int, int], list[tuple[str, os.stat_result]]] = {}

    def _line(self, data: dict[str, Any]) -> None:
        self.manifest.write(json.dumps(data, sort_keys=True) + "\n")
        self.manifest.flush()
        os.fsync(self.manifest.fileno())

    def _refuse(self, rel: str, why: str) -> None:
        self.refused_count += 1
        _line(self.refused, rel, why)

    def _entry(self, rel: str, st: os.stat_result, digest: str) -> dict[str, Any]:
        raw = os.fsencode(rel)
        entry = {
            # path: readable (exact when the name is UTF-8); path_b64: the exact bytes, what restore uses
            "path": rel if raw == rel.encode("utf-8", "surrogatepass") else describe(rel),
            "path_b64": base64.b64encode(raw).decode("ascii"),
            "size": st.st_size, "sha256": digest, "uid": st.st_uid, "gid": st.st_gid,
            "owner": _name(pwd.getpwuid, st.st_uid), "group": _name(grp.getgrgid, st.st_gid),
            "mode": f"{stat.S_IMODE(st.st_mode):04o}", "mtime": int(st.st_mtime), "mtime_ns": st.st_mtime_ns,
            "dev": st.st_dev, "ino": st.st_ino, "nlink": st.st_nlink,
        }
        if st.st_nlink > 1:
            entry["link"] = f"{st.st_dev}:{st.st_ino}"
        return entry

    def _examine(self, rel: str) -> tuple[os.stat_result, int] | None:
        try:
            st = self.doc.lstat(rel)
        except FileNotFoundError:
            return None
        except UnsafePath as exc:
            self._refuse(rel, str(exc))
            return None
        if not stat.S_ISREG(st.st_mode):
            self._refuse(rel, "no longer a regular file; left alone")
            return None
        try:
            fd = self.doc.open_file(rel, expect=st)
        except FileNotFoundError:
            return None
        except UnsafePath as exc:
            self._refuse(rel, str(exc))
            return None
        return st, fd

    def _qdirs(self, rel: str) -> str:
        qrel = Quarantine.qrel(self.name, rel)
        parent = qrel.rpartition("/")[0]
        if parent not in self.made_dirs:
            self.qa.makedirs(parent, 0o700)
            self.made_dirs.add(parent)
        return qrel

    def add(self, rel: str) -> bool:
        """Quarantine one docroot-relative file: manifest line fsynced first, then the move."""
        found = self._examine(rel)
        if found is None:
            return False
        st, fd = found
        try:
            if st.st_dev != self.q_dev and st.st_nlink > 1:
                # across filesystems a hard link can only be kept if every name moves together
                self.groups.setdefault((st.st_dev, st.st_ino), []).append((rel, st))
                return False
            digest = _sha256_fd(fd)
            self._line(self._entry(rel, st, digest))
            if self.hook is not None:
                self.hook(self.files)
            qrel = self._qdirs(rel)
            if st.st_dev == self.q_dev:
                self.doc.rename(rel, self.qa, qrel)
                moved = self.qa.lstat(qrel)
                unchanged = same_file(moved, st) and (moved.st_size, moved.st_mtime_ns) == (st.st_size, st.st_mtime_ns)
                if not unchanged:
                    # written to (or swapped) while we hashed it: in use, put it back and say so
                    self.qa.rename(qrel, self.doc, rel)
                    return self._reverted(rel)
            elif not self._copy_out(fd, rel, st, digest, qrel):
                return self._reverted(rel)
        finally:
            os.close(fd)
        self.files += 1
        self.bytes += st.st_size
        return True

    def _reverted(self, rel: str) -> bool:
        self._line({"path": describe(rel), "path_b64": base64.b64encode(os.fsencode(rel)).decode("ascii"),
                    "reverted": True, "why": "changed while being quarantined"})
        self.skipped_changed += 1
        return False

    def _copy_out(self, fd: int, rel: str, st: os.stat_result, digest: str, qrel: str) -> bool:
        """Across filesystems: copy (holes kept, checksum verified) from the descriptor examined, then
        unlink the original if it is still that file, unchanged. False (copy removed) if it changed."""
        meta = (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), st.st_mtime_ns)
        try:
            _copy_into(fd, self.qa, qrel, digest, meta)
        except OrphansError:
            return False
        now = self.doc.lstat(rel)
        if not (same_file(now, st) and (now.st_size, now.st_mtime_ns) == (st.st_size, st.st_mtime_ns)):
            self.qa.unlink(qrel)
            return False
        self.doc.unlink(rel)
        return True

    def _move_groups(self) -> None:
        """Hard-link groups on another filesystem: moved only when every name of the file is an orphan
        in this batch (one copy, the other names linked to it in quarantine); else refused."""
        for (_dev, _ino), members in sorted(self.groups.items()):
            nlink = members[0][1].st_nlink
            if len(members) != nlink:
                for rel, _st in members:
                    self._refuse(rel, f"hard-linked with {nlink - len(members)} name(s) that are not orphans; "
                                      "moving it to the quarantine on another filesystem would split the link: "
                                      "left in place")
                continue
            opened: list[tuple[str, os.stat_result, int]] = []
            try:
                for rel, _st in members:
                    found = self._examine(rel)
                    if found is None:
                        break
                    opened.append((rel, *found))
                if len(opened) != len(members) or any(not same_file(s, members[0][1]) for _r, s, _f in opened):
                    for rel, _st in members:
                        self._refuse(rel, "its hard-link group changed during the run; left in place")
                    continue
                rel0, st0, fd0 = opened[0]
                digest = _sha256_fd(fd0)
                for rel, st, _fd in opened:
                    self._line(self._entry(rel, st, digest))
                    if self.hook is not None:
                        self.hook(self.files)
                first_q = self._qdirs(rel0)
                meta = (st0.st_uid, st0.st_gid, stat.S_IMODE(st0.st_mode), st0.st_mtime_ns)
                try:
                    _copy_into(fd0, self.qa, first_q, digest, meta)
                except OrphansError:
                    for rel, _st, _fd in opened:
                        self._reverted(rel)
                    continue
                for rel, _st, _fd in opened[1:]:
                    _link(self.qa, first_q, self.qa, self._qdirs(rel))
                for rel, st, _fd in opened:
                    now = self.doc.lstat(rel)
                    if same_file(now, st) and (now.st_size, now.st_mtime_ns) == (st.st_size, st.st_mtime_ns):
                        self.doc.unlink(rel)
                        self.files += 1
                        self.bytes += st.st_size
                    else:
                        self.qa.unlink(Quarantine.qrel(self.name, rel))
                        self._reverted(rel)
            finally:
                for _rel, _st, fd in opened:
                    os.close(fd)
        self.groups = {}

    def close(self) -> None:
        try:
            self._move_groups()
        finally:
            self.manifest.close()
            meta_rel = f"{self.name}/batch.json"
            meta = json.loads(self.qa.read_bytes(meta_rel, 1 << 20))
            meta.update(state="complete", files=self.files, bytes=self.bytes, completed=int(time.time()))
            self.q.write_meta(self.name, meta)


def _members_back(quarantine: Quarantine, batch: str) -> dict[str, tuple[str, int]]:
    """Hard-link group members of a batch restored by an earlier run (their quarantine copy is gone and
    their original path holds their content): what later members are linked to."""
    linked: dict[str, tuple[str, int]] = {}
    qa = quarantine.qa()
    if qa is None:
        return linked
    for entry in quarantine.manifest(batch):
        group = entry.get("link")
        if not group or entry.get("reverted") or group in linked:
            continue
        rel = _entry_rel(entry)
        if qa.exists(Quarantine.qrel(batch, rel)):
            continue
        with contextlib.suppress(OSError, UnsafePath):
            if quarantine.in_place(entry, rel):
                remember(linked, group, quarantine.doc, rel)
    return linked


def restore(quarantine: Quarantine, batches: list[str], patterns: list[str], dir_mode: int,
            check: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"files": 0, "bytes": 0, "conflicts": [], "batches": [], "refused": [],
                              "refused_count": 0}
    known = dict(quarantine.batches())
    unknown = [b for b in batches if b not in known]
    if unknown:
        raise OrphansError(f"no such quarantine batch: {', '.join(unknown)} (known: {', '.join(known)})")
    qa = quarantine.qa()
    for name, meta in sorted(known.items()):
        if (batches and name not in batches) or meta.get("state") != "complete" or qa is None:
            continue
        touched = False
        linked = _members_back(quarantine, name)
        for entry in quarantine.manifest(name):
            if entry.get("reverted"):
                continue
            rel = _entry_rel(entry)
            if patterns and not any(rel == p or fnmatch.fnmatchcase(rel, p) for p in patterns):
                continue
            qrel = Quarantine.qrel(name, rel)
            if not qa.exists(qrel):
                continue  # restored before
            try:
                there = quarantine.in_place(entry, rel)
                if there is not None:
                    if there:
                        if not check:
                            qa.unlink(qrel)
                        if entry.get("link"):
                            remember(linked, entry["link"], quarantine.doc, rel)
                        continue
                    _line(result["conflicts"], rel, "original path holds other content", batch=name)
                    continue
                if not check:
                    quarantine.put_back(name, entry, rel, dir_mode, linked)
            except UnsafePath as exc:
                result["refused_count"] += 1
                _line(result["refused"], rel, str(exc), batch=name)
                continue
            except FileExistsError:
                _line(result["conflicts"], rel, "original path was taken meanwhile", batch=name)
                continue
            touched = True
            result["files"] += 1
            result["bytes"] += int(entry["size"])
        if touched:
            result["batches"].append(name)
    return result


def purge(quarantine: Quarantine, retention_days: int, check: bool, now: float | None = None
          ) -> dict[str, Any]:
    if retention_days <= 0:
        raise OrphansError(
            f"retention_days must be at least 1 (got {retention_days}): purge never deletes fresh quarantine")
    limit = (now if now is not None else time.time()) - retention_days * 86400
    result: dict[str, Any] = {"batches": [], "files": 0, "bytes": 0, "kept": 0}
    qa = quarantine.qa()
    for name, meta in quarantine.batches():
        if meta.get("state") == "running":
            result["kept"] += 1
            continue
        if float(meta.get("created", now or time.time())) > limit:
            result["kept"] += 1
            continue
        assert qa is not None
        seen: set[tuple[int, int]] = set()
        for item in qa.walk(f"{name}/files"):
            if item.is_dir:
                continue
            result["files"] += 1
            if (item.st.st_dev, item.st.st_ino) not in seen:
                seen.add((item.st.st_dev, item.st.st_ino))
                result["bytes"] += item.st.st_size
        result["batches"].append(name)
        if not check:
            qa.remove_tree(name)
    return result


# ---------------------------------------------------------------- the run


def recover(quarantine: Quarantine, check: bool, dir_mode: int = 0o755) -> list[dict[str, Any]]:
    """Reverse batches left 'running' by a killed run (check mode: only list them)."""
    out = []
    for name, meta in quarantine.batches():
        if meta.get("state") != "running":
            continue
        writer = meta.get("process")
        if isinstance(writer, dict) and writer.get("pid") != os.getpid() and alive(writer):
            raise OrphansError(f"quarantine batch {name} is being written by a live process {writer['pid']}")
        if check:
            out.append({"batch": name, "would_reverse": True})
        else:
            out.append(quarantine.reverse(name, meta, dir_mode))
    return out


def check_locations(docroot: str, quarantine_dir: str) -> None:
    real_doc = os.path.realpath(docroot)
    real_q = os.path.realpath(quarantine_dir)
    if real_q == real_doc or real_q.startswith(real_doc.rstrip("/") + "/"):
        raise OrphansError(
            f"quarantine_dir {quarantine_dir} lies inside the docroot {docroot}: quarantined files would "
            "still be served and walked; choose a folder outside it (e.g. /var/lib/bxops/quarantine)")
    if real_doc.startswith(real_q.rstrip("/") + "/"):
        raise OrphansError(f"the docroot {docroot} lies inside quarantine_dir {quarantine_dir}")


def run(params: dict[str, Any], source_factory: Callable[[], Any], check: bool,
        hook: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Everything but Ansible: tests call this with a fake row source."""
    docroot = os.path.normpath(params["docroot"])
    mode = params.get("mode", "report")
    quarantine_dir = os.path.normpath(params["quarantine_dir"])
    check_locations(docroot, quarantine_dir)
    if mode == "purge" and int(params.get("retention_days", 30)) <= 0:
        raise OrphansError(f"retention_days must be at least 1 (got {params.get('retention_days')}): "
                           "purge never deletes fresh quarantine")
    if mode not in ("report", "quarantine", "restore", "purge"):
        raise OrphansError(f"unknown mode {mode!r}")
    dir_mode = int(params.get("dir_mode", 0o755))
    try:
        doc = Anchor(docroot)
    except UnsafePath as exc:
        raise OrphansError(str(exc)) from exc
    quarantine = Quarantine(quarantine_dir, docroot, doc)
    try:
        return _run(params, source_factory, check, hook, quarantine, mode, dir_mode)
    except UnsafePath as exc:
        raise OrphansError(str(exc)) from exc
    finally:
        quarantine.close()
        doc.close()


def _run(params: dict[str, Any], source_factory: Callable[[], Any], check: bool,
         hook: Callable[[int], None] | None, quarantine: Quarantine, mode: str, dir_mode: int) -> dict[str, Any]:
    result: dict[str, Any] = {"changed": False, "mode": mode}
    source = None
    upload_dir = ""
    if mode in ("report", "quarantine"):
        # the upload folder is a site value: checked (one line naming it) before anything changes
        source = source_factory()
        given = params.get("upload_dir") or ""
        upload_dir = open_upload_root(quarantine.doc, given or source.upload_dir(),
                                      "upload_dir" if given else "main.upload_dir")
    result["recovered"] = recover(quarantine, check, dir_mode)
    if any(r.get("returned") for r in result["recovered"]):
        result["changed"] = True
    lost = [item for r in result["recovered"] for item in r.get("lost", [])]
    if lost:
        raise OrphansError(f"recovery of an interrupted quarantine found files it cannot place: {lost[:10]}")

    if mode in ("report", "quarantine"):
        result["upload_dir"] = upload_dir
        batch: Batch | None = None
        would = {"files": 0, "bytes": 0}

        def on_orphan(path: str, st: os.stat_result) -> None:
            nonlocal batch
            if mode != "quarantine":
                return
            if check:
                would["files"] += 1
                would["bytes"] += st.st_size
                return
            if batch is None:
                batch = quarantine.open_batch(upload_dir)
                batch.hook = hook
            batch.add(path)

        try:
            result.update(find_orphans(quarantine.docroot, upload_dir, source, params, on_orphan,
                                       anchor=quarantine.doc))
        finally:
            if batch is not None:
                batch.close()
        if mode == "quarantine":
            if batch is not None:
                result["quarantined"] = {"batch": batch.name, "path": batch.path, "files": batch.files,
                                         "bytes": batch.bytes, "skipped_changed": batch.skipped_changed,
                                         "refused": batch.refused, "refused_count": batch.refused_count}
                result["changed"] = result["changed"] or batch.files > 0
            else:
                result["quarantined"] = {"batch": None, "path": None, **would, "refused": [], "refused_count": 0}
                result["changed"] = result["changed"] or would["files"] > 0
    elif mode == "restore":
        result["restored"] = restore(quarantine, list(params.get("batches") or []),
                                     list(params.get("paths") or []), dir_mode, check)
        result["changed"] = result["changed"] or result["restored"]["files"] > 0
    else:
        result["purged"] = purge(quarantine, int(params["retention_days"]), check)
        result["changed"] = result["changed"] or bool(result["purged"]["batches"])
    return result


def warnings_of(result: dict[str, Any]) -> list[str]:
    """One line per file the run refused or could not handle (shown as Ansible warnings)."""
    lines = []
    for key, label in (("quarantined", "quarantine"), ("restored", "restore")):
        for item in (result.get(key) or {}).get("refused", []):
            lines.append(f"{label}: left alone {item['path']}: {item['why']}")
    for item in (result.get("orphans") or {}).get("unhandled", []):
        lines.append(f"orphans: could not handle {item['path']}: {item['why']}")
    symlinks = (result.get("orphans") or {}).get("symlinks") or {}
    if symlinks.get("count"):
        lines.append(f"orphans: {symlinks['count']} symlink(s) in the upload folder left alone, e.g. "
                     f"{', '.join(symlinks.get('sample', [])[:5])}")
    return lines


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            docroot=DOCROOT_OPTION,
            mode=dict(type="str", choices=["report", "quarantine", "restore", "purge"], default="report"),
            quarantine_dir=dict(type="path", required=True),
            upload_dir=UPLOAD_DIR_OPTION,
            site_domains=dict(type="list", elements="str", default=[]),
            db=DB_OPTION,
            service_folders=dict(type="list", elements="str", default=SERVICE_FOLDERS),
            content_scan=dict(type="bool", default=True),
            content_exclude=dict(type="list", elements="str", default=CONTENT_EXCLUDE),
            content_extensions=dict(type="list", elements="str", default=CONTENT_EXTENSIONS),
            content_columns=dict(type="list", elements="str", default=CONTENT_COLUMNS),
            min_age=dict(type="int", default=86400),
            sample_size=dict(type="int", default=20),
            batches=dict(type="list", elements="str", default=[]),
            paths=dict(type="list", elements="str", default=[]),
            retention_days=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    params = dict(module.params)
    try:
        require_site(params["docroot"])
    except NotABitrixSite as exc:
        module.fail_json(msg=str(exc))
    params["dir_mode"] = permission_defaults(params["docroot"])[1]
    clients: list[Any] = []

    def source_factory() -> MysqlSource:
        creds = db_credentials(params["docroot"], params["db"])
        client = MysqlClient(creds)
        clients.append(client)
        return MysqlSource(client)

    try:
        result = run(params, source_factory, module.check_mode)
    except (OrphansError, UnsafePath, RuntimeError, OSError) as exc:
        module.fail_json(msg=str(exc))
    finally:
        for client in clients:
            client.close()
    for line in warnings_of(result):
        module.warn(line)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

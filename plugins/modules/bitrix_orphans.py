#!/usr/bin/python
# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: bitrix_orphans
short_description: Find orphaned uploads of a 1C-Bitrix site; report, quarantine, restore or purge them
description:
  - Builds the set of referenced files from B(every) C(b_file) row (C(SUBDIR/FILE_NAME), all modules; rows
    with a C(HANDLER_ID) live in cloud storage and are skipped), the originals of C(b_file_duplicate) rows,
    and every C(/upload/...) path referenced from page files, templates and DB content columns. A regular
    file under the upload folder that none of these name is an orphan.
  - Both sides are streamed in byte order and merged, so memory stays flat with millions of files and rows.
    The DB rows and the disk listing (C(find -printf '%P\\0')) go through C(LC_ALL=C sort) started at
    once, in parallel; without C(sort) the DB sorts (C(ORDER BY) on a binary cast) and the disk is walked in
    Python with each folder's entries sorted so the walk order is the byte order of the paths. Content
    references are external-sorted in chunks. A stream out of order makes the module fail.
  - Service folders (O(service_folders), by default C(tmp), C(resize_cache), C(1c_catalog), C(1c_exchange))
    and symbolic links are never candidates, nor are C(.htaccess) / C(.access.php) files.
  - C(report) (the default) changes nothing. C(quarantine) moves orphans older than O(min_age) out of the
    docroot into O(quarantine_dir)/<UTC date-time>/files/<docroot-relative path>, writing and fsyncing a
    manifest line (original path, size, sha256, owner, group, mode, mtime) BEFORE each move. C(restore)
    moves them back with their bytes, owner, mode and mtime. C(purge) deletes only batches older than
    O(retention_days). Nothing is deleted in one step.
  - A batch whose run died half-way (its C(batch.json) still says C(running)) is reversed by the next run of
    any mode (files go back to where they were, the batch is marked C(reversed)); in check mode it is only
    reported.
options:
  docroot:
    description: The site's document root.
    type: path
    required: true
  mode:
    description: What to do with the orphans.
    type: str
    choices: [report, quarantine, restore, purge]
    default: report
  quarantine_dir:
    description: Where quarantine batches live; must lie outside the docroot.
    type: path
    required: true
  upload_dir:
    description:
      - The upload folder relative to the docroot.
      - Empty reads option C(main.upload_dir) (default C(upload)).
    type: str
    default: ""
  db:
    description: DB credentials (host, database, user, password) overriding C(bitrix/.settings.php).
    type: dict
    default: {}
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
    default: [bitrix/modules, bitrix/cache, bitrix/managed_cache, bitrix/stack_cache,
              bitrix/managed_flags, bitrix/cache_image, bitrix/html_pages, bitrix/tmp, bitrix/updates,
              bitrix/backup, bitrix/local_cache]
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
author: bxops maintainers
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
    by_age (bucket to count and bytes), young (younger than min_age, never quarantined), sample (paths).
  type: dict
  returned: mode is report or quarantine
referenced:
  description: db_rows (distinct paths b_file and duplicate rows name), content_refs (distinct content
    references), disk_files (files walked), skipped (protected names), disk_errors (unreadable folders).
  type: dict
  returned: mode is report or quarantine
quarantined:
  description: batch id, path, files and bytes moved (or that would be moved in check mode).
  type: dict
  returned: mode is quarantine
restored:
  description: files and bytes restored, conflicts (original path occupied by different content).
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

import contextlib
import errno
import fnmatch
import grp
import hashlib
import heapq
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import unquote_to_bytes

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_site import (
    MysqlClient,
    NotABitrixSite,
    db_credentials,
    permission_defaults,
    require_site,
)

SERVICE_FOLDERS = ["tmp", "resize_cache", "1c_catalog", "1c_exchange"]
PROTECTED_NAMES = {b".htaccess", b".access.php"}
CONTENT_EXCLUDE = [
    "bitrix/modules", "bitrix/cache", "bitrix/managed_cache", "bitrix/stack_cache", "bitrix/managed_flags",
    "bitrix/cache_image", "bitrix/html_pages", "bitrix/tmp", "bitrix/updates", "bitrix/backup",
    "bitrix/local_cache",
]
CONTENT_EXTENSIONS = [
    ".php", ".html", ".htm", ".js", ".css", ".tpl", ".twig", ".json", ".xml", ".txt", ".inc",
]
CONTENT_COLUMNS = [
    "b_iblock_element.PREVIEW_TEXT", "b_iblock_element.DETAIL_TEXT", "b_iblock_section.DESCRIPTION",
    "b_iblock_element_property.VALUE", "b_blog_post.DETAIL_TEXT", "b_forum_message.POST_MESSAGE",
    "b_landing_block.CONTENT", "b_sender_message_field.VALUE", "b_option.VALUE",
]
AGE_BUCKETS = [(86400, "<1d"), (7 * 86400, "1-7d"), (30 * 86400, "7-30d"), (365 * 86400, "30-365d")]
CONTENT_FILE_LIMIT = 32 * 1024 * 1024
SPILL_AT = 200_000
_IDENT_RE = re.compile(r"^[A-Za-z0-9_]+$")


class OrphansError(Exception):
    """Refused or failed, with a message for the operator."""


# ---------------------------------------------------------------- sorted streams


def walk_sorted(root: bytes, skip_top: Iterable[bytes] = (), stats: dict[str, int] | None = None
                ) -> Iterator[bytes]:
    """Yield the paths (relative to root, bytes) of regular files below root in byte order.

    Each folder's entries are sorted by name, with "/" appended to folder names: "a-b" < "a.b" < "a/x"
    is then exactly the byte order of the full relative paths. Symbolic links are never followed nor
    yielded; the top-level names in skip_top are left out.
    """
    skip = set(skip_top)
    counters = stats if stats is not None else {}
    counters.setdefault("disk_files", 0)
    counters.setdefault("skipped", 0)

    def entries(path: bytes) -> list[tuple[bytes, bool, bool]]:
        out = []
        try:
            with os.scandir(path) as it:
                for entry in it:
                    try:
                        is_dir = entry.is_dir(follow_symlinks=False)
                        is_file = entry.is_file(follow_symlinks=False)
                    except OSError:
                        continue
                    out.append((entry.name + b"/" if is_dir else entry.name, is_dir, is_file))
        except FileNotFoundError:
            return []
        out.sort()
        return out

    def walk(path: bytes, prefix: bytes, top: bool) -> Iterator[bytes]:
        for key, is_dir, is_file in entries(path):
            if is_dir:
                name = key[:-1]
                if top and name in skip:
                    counters["skipped"] += 1
                    continue
                yield from walk(path + b"/" + name, prefix + name + b"/", False)
            elif is_file:
                counters["disk_files"] += 1
                if key in PROTECTED_NAMES or b"\n" in key or (top and key in skip):
                    counters["skipped"] += 1
                    continue
                yield prefix + key
            else:
                counters["skipped"] += 1  # symlinks, sockets, fifos

    return walk(root, b"", True)


def _glob_escape(name: bytes) -> bytes:
    return re.sub(rb"([\\*?\[\]])", rb"\\\1", name)


def find_sorted(root: bytes, skip_top: Iterable[bytes], stats: dict[str, Any], workdir: str
                ) -> Iterator[bytes]:
    """Regular files below root in byte order, through `find -printf '%P\\0' | LC_ALL=C sort -z`.

    Started at once, so both run while the caller does other work; NUL-separated, so any name is safe.
    Same output as walk_sorted (symlinks and skip_top left out); the protected names are dropped here.
    """
    prune: list[bytes] = []
    for name in skip_top:
        prune += [b"-o"] if prune else []
        prune += [b"-path", b"./" + _glob_escape(name)]
    argv = [b"find", b".", *([b"(", *prune, b")", b"-prune", b"-o"] if prune else []),
            b"-type", b"f", b"-printf", b"%P\\0"]
    env = dict(os.environ, LC_ALL="C")
    finder = subprocess.Popen(argv, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    sorter = subprocess.Popen(["sort", "-z", "-S", "64M", "-T", workdir], stdin=finder.stdout,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert finder.stdout is not None and sorter.stdout is not None
    finder.stdout.close()  # sort holds it now
    stats.setdefault("disk_files", 0)
    stats.setdefault("skipped", 0)

    def records() -> Iterator[bytes]:
        rest = b""
        out = sorter.stdout
        assert out is not None
        try:
            while True:
                block = out.read(1 << 20)
                if not block:
                    break
                parts = (rest + block).split(b"\0")
                rest = parts.pop()
                for rel in parts:
                    stats["disk_files"] += 1
                    if rel.rpartition(b"/")[2] in PROTECTED_NAMES or b"\n" in rel:
                        stats["skipped"] += 1
                        continue
                    yield rel
        finally:
            out.close()
            sort_err = sorter.stderr.read().decode("utf-8", "replace") if sorter.stderr else ""
            find_err = finder.stderr.read().decode("utf-8", "replace") if finder.stderr else ""
            if sorter.wait() != 0:
                raise OrphansError(f"sort failed: {sort_err.strip()[-300:]}")
            if finder.wait() != 0:
                # unreadable folders: their files are not seen, so never reported; say so
                stats["disk_errors"] = find_err.strip().splitlines()[-5:]
        if rest:
            raise OrphansError("find output ended in the middle of a name")

    return records()


def checked_sorted(stream: Iterable[bytes], what: str) -> Iterator[bytes]:
    """Pass a stream through, failing if it is not in byte order (a wrong order would invent orphans)."""
    prev = None
    for item in stream:
        if prev is not None and item < prev:
            raise OrphansError(f"{what} is not in byte order ({item!r} after {prev!r}): refusing to guess")
        prev = item
        yield item


def unique(stream: Iterable[bytes]) -> Iterator[bytes]:
    prev = None
    for item in stream:
        if item != prev:
            yield item
            prev = item


def merge_orphans(disk: Iterable[bytes], referenced: Iterable[bytes]) -> Iterator[bytes]:
    """Paths in disk (sorted) that are not in referenced (sorted): a sorted merge, O(1) memory."""
    refs = iter(referenced)
    ref = next(refs, None)
    for path in disk:
        while ref is not None and ref < path:
            ref = next(refs, None)
        if ref is not None and ref == path:
            continue
        yield path


class ExternalSortedSet:
    """A set of byte strings without newlines, spilled to sorted chunk files past SPILL_AT entries."""

    def __init__(self, workdir: str, spill_at: int = SPILL_AT) -> None:
        self.workdir = workdir
        self.spill_at = spill_at
        self.items: set[bytes] = set()
        self.chunks: list[str] = []

    def add(self, item: bytes) -> None:
        if b"\n" in item:
            return
        self.items.add(item)
        if len(self.items) >= self.spill_at:
            self._spill()

    def _spill(self) -> None:
        fd, path = tempfile.mkstemp(prefix="bxops-refs-", dir=self.workdir)
        with os.fdopen(fd, "wb") as handle:
            for item in sorted(self.items):
                handle.write(item + b"\n")
        self.chunks.append(path)
        self.items = set()

    def __iter__(self) -> Iterator[bytes]:
        def read(path: str) -> Iterator[bytes]:
            with open(path, "rb") as handle:
                for line in handle:
                    yield line[:-1]

        streams: list[Iterable[bytes]] = [read(p) for p in self.chunks] + [sorted(self.items)]
        return unique(heapq.merge(*streams))

    def __len__(self) -> int:  # an upper bound once spilled
        return len(self.items) + sum(os.path.getsize(p) > 0 for p in self.chunks) * self.spill_at

    def close(self) -> None:
        for path in self.chunks:
            with contextlib.suppress(OSError):
                os.unlink(path)


# ---------------------------------------------------------------- content references


def reference_regex(upload_dir: str) -> re.Pattern[bytes]:
    """`/upload/<path>` (or `upload/<path>`, or inside a full URL) not preceded by a name character."""
    return re.compile(
        rb"(?<![A-Za-z0-9_.\-])/?" + re.escape(upload_dir.encode()) + rb"/([^\s\"'<>()\\?#,;|*`{}\[\]]+)"
    )


def extract_references(text: bytes, regex: re.Pattern[bytes]) -> Iterator[bytes]:
    """Upload-relative paths referenced in a text; JSON-escaped slashes and %-encoding are undone."""
    if b"\\/" in text:
        text = text.replace(b"\\/", b"/")
    for match in regex.finditer(text):
        raw = match.group(1)
        forms = {raw, raw.rstrip(b".:!")}
        if b"%" in raw:
            forms |= {unquote_to_bytes(f) for f in list(forms)}
        if b"&amp;" in raw:
            forms |= {f.replace(b"&amp;", b"&") for f in list(forms)}
        for form in forms:
            norm = os.path.normpath(form)
            if norm.startswith(b"..") or norm.startswith(b"/") or norm in (b".", b""):
                continue
            yield norm


def scan_content_files(docroot: bytes, upload_dir: str, exclude: Iterable[str], extensions: Iterable[str],
                       regex: re.Pattern[bytes], sink: ExternalSortedSet) -> int:
    """Add references from page files and templates; returns how many files were read."""
    excluded = {os.path.normpath(os.path.join(docroot, e.strip("/").encode())) for e in exclude}
    excluded.add(os.path.normpath(os.path.join(docroot, upload_dir.encode())))
    exts = tuple(e.lower().encode() for e in extensions)
    scanned = 0
    for dirpath, dirnames, filenames in os.walk(docroot):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in excluded]
        for name in filenames:
            if not name.lower().endswith(exts):
                continue
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
                if not stat.S_ISREG(st.st_mode) or st.st_size > CONTENT_FILE_LIMIT:
                    continue
                with open(path, "rb") as handle:
                    text = handle.read()
            except OSError:
                continue
            scanned += 1
            for ref in extract_references(text, regex):
                sink.add(ref)
    return scanned


# ---------------------------------------------------------------- the DB side


def _row_path_sql(alias: str) -> str:
    return (
        f"CAST(CONCAT_WS('/', NULLIF(TRIM(BOTH '/' FROM IFNULL({alias}.SUBDIR, '')), ''), "
        f"{alias}.FILE_NAME) AS BINARY)"
    )


def referenced_query(with_duplicates: bool, ordered: bool = True) -> str:
    """Every local b_file row's path, plus the originals of duplicates, sorted bytewise by the server."""
    parts = [
        f"SELECT {_row_path_sql('f')} AS p FROM b_file f "
        "WHERE (f.HANDLER_ID IS NULL OR f.HANDLER_ID = '') AND f.FILE_NAME <> ''"
    ]
    if with_duplicates:
        parts.append(
            "SELECT {} AS p FROM b_file_duplicate d JOIN b_file o ON o.ID = d.ORIGINAL_ID "
            "WHERE o.FILE_NAME <> ''".format(_row_path_sql("o"))
        )
    if ordered:
        return f"SELECT p FROM ({' UNION ALL '.join(parts)}) t ORDER BY p"
    # for an external sort: no cast, and only the duplicates' originals the first part left out (cloud rows)
    return (
        "SELECT CONCAT_WS('/', NULLIF(TRIM(BOTH '/' FROM IFNULL(f.SUBDIR, '')), ''), f.FILE_NAME) FROM b_file f "
        "WHERE (f.HANDLER_ID IS NULL OR f.HANDLER_ID = '') AND f.FILE_NAME <> ''"
        + (" UNION ALL SELECT CONCAT_WS('/', NULLIF(TRIM(BOTH '/' FROM IFNULL(o.SUBDIR, '')), ''), o.FILE_NAME) "
           "FROM b_file_duplicate d JOIN b_file o ON o.ID = d.ORIGINAL_ID "
           "WHERE o.HANDLER_ID IS NOT NULL AND o.HANDLER_ID <> '' AND o.FILE_NAME <> ''" if with_duplicates else "")
    )




_UNESCAPE_RE = re.compile(rb"\\[tn\\0]")
_UNESCAPES = {b"\\t": b"\t", b"\\n": b"\n", b"\\\\": b"\\", b"\\0": b"\0"}


class MysqlSource:
    """The DB side through the `mysql` client (bitrix_site.MysqlClient's defaults file), as raw bytes."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.rows_read = 0

    def _start(self, query: str, raw: bool = False) -> subprocess.Popen[bytes]:
        argv = [
            self.client.binary, f"--defaults-extra-file={self.client.defaults_file}", "--batch",
            "--skip-column-names", "--quick", "--default-character-set=utf8mb4",
            f"--database={self.client.creds.database}", *(["--raw"] if raw else []), f"--execute={query}",
        ]
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=1 << 20)

    def _lines(self, query: str) -> Iterator[bytes]:
        return self._read(self._start(query))

    @staticmethod
    def _read(proc: subprocess.Popen[bytes], unescape: bool = True) -> Iterator[bytes]:
        assert proc.stdout is not None
        try:
            for raw in proc.stdout:
                line = raw[:-1] if raw.endswith(b"\n") else raw
                if unescape and b"\\" in line:
                    line = _UNESCAPE_RE.sub(lambda m: _UNESCAPES[m.group(0)], line)
                yield line
        finally:
            proc.stdout.close()
            err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
            if proc.wait() != 0:
                last = (err.strip().splitlines()[-1:] or ["?"])[0]
                raise OrphansError(f"mysql query failed: {last}")

    def tables(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for line in self._lines(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()"
        ):
            table, _, column = line.decode("utf-8", "replace").partition("\t")
            found.setdefault(table, set()).add(column.upper())
        return found

    def upload_dir(self) -> str:
        for line in self._lines(
            "SELECT VALUE FROM b_option WHERE MODULE_ID='main' AND NAME='upload_dir' LIMIT 1"
        ):
            value = line.decode("utf-8", "replace").strip().strip("/")
            if value and value != "NULL":
                return value
        return "upload"

    def referenced(self, with_duplicates: bool, workdir: str | None = None) -> Iterator[bytes]:
        """Starts at once (sorting runs while the caller scans content); rows come lazily, in byte order.

        The rows go through `LC_ALL=C sort -u` (much faster than the server's ORDER BY on a computed
        binary key); without `sort` the server sorts.
        """
        upstream: subprocess.Popen[bytes] | None = None
        if workdir is None or not shutil.which("sort"):
            proc = self._start(referenced_query(with_duplicates))
        else:
            # --raw: no escaping, so the external sort sees the real bytes (a name with a newline would
            # split into two harmless extra references; the disk side never offers such names)
            upstream = self._start(referenced_query(with_duplicates, ordered=False), raw=True)
            proc = subprocess.Popen(["sort", "-u", "-S", "64M", "-T", workdir], stdin=upstream.stdout,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=1 << 20,
                                    env=dict(os.environ, LC_ALL="C"))
            assert upstream.stdout is not None
            upstream.stdout.close()

        def rows() -> Iterator[bytes]:
            for line in self._read(proc, unescape=upstream is None):
                self.rows_read += 1
                yield line
            if upstream is not None:
                err = upstream.stderr.read().decode("utf-8", "replace") if upstream.stderr else ""
                if upstream.wait() != 0:
                    raise OrphansError(f"mysql query failed: {err.strip()[-300:]}")

        return rows()

    def content(self, table: str, column: str) -> Iterator[bytes]:
        yield from self._lines(f"SELECT `{column}` FROM `{table}` WHERE `{column}` LIKE '%/%'")


# ---------------------------------------------------------------- quarantine, restore, purge


def _fsync_dir(path: str | bytes) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json_atomic(path: str, data: dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(os.path.dirname(path))


def _read_json(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    return data if isinstance(data, dict) else {}


def sha256_of(path: bytes | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _name(getter: Callable[[int], Any], ident: int) -> str | None:
    try:
        return str(getter(ident)[0])
    except KeyError:
        return None


def _move(src: bytes, dst: bytes, expect_sha: str | None = None) -> None:
    """rename(); across file systems copy to dst.part, fsync, verify, rename, then unlink src."""
    try:
        os.rename(src, dst)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    part = dst + b".part"
    shutil.copyfile(src, part)
    st = os.lstat(src)
    fd = os.open(part, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if expect_sha is not None and sha256_of(part) != expect_sha:
        os.unlink(part)
        raise OrphansError(f"copy of {os.fsdecode(src)} does not match its checksum")
    os.chown(part, st.st_uid, st.st_gid)
    os.chmod(part, stat.S_IMODE(st.st_mode))
    os.utime(part, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.rename(part, dst)
    os.unlink(src)


class Quarantine:
    """Batches in quarantine_dir: <id>/batch.json (state), <id>/manifest.jsonl, <id>/files/<docroot path>."""

    def __init__(self, root: str, docroot: str) -> None:
        self.root = root
        self.docroot = docroot

    # -- listing
    def batches(self) -> list[tuple[str, dict[str, Any]]]:
        out = []
        try:
            names = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []
        for name in names:
            meta_path = os.path.join(self.root, name, "batch.json")
            if os.path.isfile(meta_path):
                try:
                    out.append((name, _read_json(meta_path)))
                except (OSError, ValueError):
                    out.append((name, {"state": "unreadable"}))
        return out

    def manifest(self, batch: str) -> Iterator[dict[str, Any]]:
        path = os.path.join(self.root, batch, "manifest.jsonl")
        if not os.path.exists(path):
            return
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if not line.endswith("\n"):
                    break  # a line torn by a crash is never followed by its move
                yield json.loads(line)

    def qpath(self, batch: str, rel: str) -> bytes:
        return os.fsencode(os.path.join(self.root, batch, "files", rel))

    def opath(self, rel: str) -> bytes:
        return os.fsencode(os.path.join(self.docroot, rel))

    # -- quarantine
    def open_batch(self, upload_dir: str) -> Batch:
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        stamp = time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime())
        name, n = stamp, 1
        while os.path.exists(os.path.join(self.root, name)):
            n += 1
            name = f"{stamp}.{n}"
        path = os.path.join(self.root, name)
        os.mkdir(path, 0o700)
        os.mkdir(os.path.join(path, "files"), 0o700)
        _write_json_atomic(os.path.join(path, "batch.json"), {
            "id": name, "state": "running", "created": int(time.time()), "docroot": self.docroot,
            "upload_dir": upload_dir, "pid": os.getpid(),
        })
        _fsync_dir(self.root)
        return Batch(self, name)

    # -- recovery of a batch whose run died
    def reverse(self, batch: str, meta: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {"batch": batch, "returned": 0, "already_in_place": 0, "lost": []}
        for entry in self.manifest(batch):
            if entry.get("reverted"):
                continue
            rel = entry["path"]
            q, o = self.qpath(batch, rel), self.opath(rel)
            part = q + b".part"
            if os.path.lexists(part):
                os.unlink(part)  # an interrupted cross-device copy; the original was not unlinked yet
            if os.path.lexists(q):
                if os.path.lexists(o):
                    # copied across file systems and killed before the original was unlinked
                    if sha256_of(o) == entry["sha256"]:
                        os.unlink(q)
                        result["already_in_place"] += 1
                    else:
                        result["lost"].append({"path": rel, "why": "original path holds other content"})
                    continue
                os.makedirs(os.path.dirname(o), exist_ok=True)
                _move(q, o, entry["sha256"])
                _apply_meta(o, entry)
                result["returned"] += 1
            elif os.path.lexists(o):
                result["already_in_place"] += 1
            else:
                result["lost"].append({"path": rel, "why": "neither in place nor in quarantine"})
        meta = dict(meta, state="reversed", reversed_at=int(time.time()))
        _write_json_atomic(os.path.join(self.root, batch, "batch.json"), meta)
        return result


def _apply_meta(path: bytes, entry: dict[str, Any]) -> None:
    os.chown(path, int(entry["uid"]), int(entry["gid"]), follow_symlinks=False)
    os.chmod(path, int(entry["mode"], 8))
    mtime_ns = int(entry["mtime_ns"])
    os.utime(path, ns=(mtime_ns, mtime_ns))


class Batch:
    def __init__(self, quarantine: Quarantine, name: str) -> None:
        self.q = quarantine
        self.name = name
        self.path = os.path.join(quarantine.root, name)
        self.files = 0
        self.bytes = 0
        self.skipped_changed = 0
        self.manifest = open(os.path.join(self.path, "manifest.jsonl"), "a", encoding="utf-8")  # noqa: SIM115
        self.made_dirs: set[bytes] = set()
        self.hook: Callable[[int], None] | None = None

    def _line(self, data: dict[str, Any]) -> None:
        self.manifest.write(json.dumps(data, sort_keys=True) + "\n")
        self.manifest.flush()
        os.fsync(self.manifest.fileno())

    def add(self, rel: str) -> bool:
        """Quarantine one docroot-relative file: manifest line fsynced first, then the move."""
        src = self.q.opath(rel)
        try:
            st = os.lstat(src)
        except FileNotFoundError:
            return False
        if not stat.S_ISREG(st.st_mode):
            return False
        digest = sha256_of(src)
        entry = {
            "path": rel, "size": st.st_size, "sha256": digest, "uid": st.st_uid, "gid": st.st_gid,
            "owner": _name(pwd.getpwuid, st.st_uid), "group": _name(grp.getgrgid, st.st_gid),
            "mode": f"{stat.S_IMODE(st.st_mode):04o}", "mtime": int(st.st_mtime), "mtime_ns": st.st_mtime_ns,
        }
        self._line(entry)
        if self.hook is not None:
            self.hook(self.files)
        dst = self.q.qpath(self.name, rel)
        parent = os.path.dirname(dst)
        if parent not in self.made_dirs:
            os.makedirs(parent, mode=0o700, exist_ok=True)
            self.made_dirs.add(parent)
        _move(src, dst, digest)
        after = os.lstat(dst)
        if (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
            # written to while we hashed it: it is in use, put it back and say so in the manifest
            _move(dst, src)
            self._line({"path": rel, "reverted": True, "why": "changed while being quarantined"})
            self.skipped_changed += 1
            return False
        self.files += 1
        self.bytes += st.st_size
        return True

    def close(self) -> None:
        self.manifest.close()
        meta_path = os.path.join(self.path, "batch.json")
        meta = _read_json(meta_path)
        meta.update(state="complete", files=self.files, bytes=self.bytes, completed=int(time.time()))
        _write_json_atomic(meta_path, meta)


def restore(quarantine: Quarantine, batches: list[str], patterns: list[str], dir_mode: int,
            check: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"files": 0, "bytes": 0, "conflicts": [], "batches": []}
    known = dict(quarantine.batches())
    unknown = [b for b in batches if b not in known]
    if unknown:
        raise OrphansError(f"no such quarantine batch: {', '.join(unknown)} (known: {', '.join(known)})")
    for name, meta in sorted(known.items()):
        if (batches and name not in batches) or meta.get("state") != "complete":
            continue
        touched = False
        for entry in quarantine.manifest(name):
            if entry.get("reverted"):
                continue
            rel = entry["path"]
            if patterns and not any(rel == p or fnmatch.fnmatchcase(rel, p) for p in patterns):
                continue
            q, o = quarantine.qpath(name, rel), quarantine.opath(rel)
            if not os.path.lexists(q):
                continue  # restored before
            if os.path.lexists(o):
                if sha256_of(o) == entry["sha256"]:
                    if not check:
                        os.unlink(q)
                    continue
                result["conflicts"].append(
                    {"path": rel, "batch": name, "why": "original path holds other content"})
                continue
            touched = True
            result["files"] += 1
            result["bytes"] += int(entry["size"])
            if check:
                continue
            _makedirs_owned(os.path.dirname(o), int(entry["uid"]), int(entry["gid"]), dir_mode)
            _move(q, o, entry["sha256"])
            _apply_meta(o, entry)
        if touched:
            result["batches"].append(name)
    return result


def _makedirs_owned(path: bytes, uid: int, gid: int, mode: int) -> None:
    if os.path.isdir(path):
        return
    _makedirs_owned(os.path.dirname(path), uid, gid, mode)
    os.mkdir(path, mode)
    os.chmod(path, mode)
    os.chown(path, uid, gid)


def purge(quarantine: Quarantine, retention_days: int, check: bool, now: float | None = None
          ) -> dict[str, Any]:
    if retention_days <= 0:
        raise OrphansError(
            f"retention_days must be at least 1 (got {retention_days}): purge never deletes fresh quarantine")
    limit = (now if now is not None else time.time()) - retention_days * 86400
    result: dict[str, Any] = {"batches": [], "files": 0, "bytes": 0, "kept": 0}
    for name, meta in quarantine.batches():
        if meta.get("state") == "running":
            result["kept"] += 1
            continue
        if float(meta.get("created", now or time.time())) > limit:
            result["kept"] += 1
            continue
        files_root = os.path.join(quarantine.root, name, "files")
        for dirpath, _dirs, names in os.walk(files_root):
            for fname in names:
                try:
                    result["bytes"] += os.lstat(os.path.join(dirpath, fname)).st_size
                    result["files"] += 1
                except OSError:
                    pass
        result["batches"].append(name)
        if not check:
            shutil.rmtree(os.path.join(quarantine.root, name))
    return result


# ---------------------------------------------------------------- the run


def age_bucket(age: float) -> str:
    for limit, name in AGE_BUCKETS:
        if age < limit:
            return name
    return ">1y"


def collect_references(source: Any, docroot: str, upload_dir: str, params: dict[str, Any],
                       workdir: str) -> tuple[Iterator[bytes], dict[str, Any], ExternalSortedSet]:
    """The sorted, de-duplicated stream of referenced upload-relative paths."""
    info: dict[str, Any] = {"content_files": 0, "content_columns": []}
    content = ExternalSortedSet(workdir)
    tables = source.tables()
    if "b_file" not in tables:
        raise OrphansError("table b_file not found: refusing to call every upload an orphan")
    db = checked_sorted(source.referenced("b_file_duplicate" in tables, workdir), "the b_file rows")
    if params.get("content_scan", True):
        regex = reference_regex(upload_dir)
        info["content_files"] = scan_content_files(
            os.fsencode(docroot), upload_dir, params.get("content_exclude", CONTENT_EXCLUDE),
            params.get("content_extensions", CONTENT_EXTENSIONS), regex, content,
        )
        for spec in params.get("content_columns", CONTENT_COLUMNS):
            table, _, column = spec.partition(".")
            if not (_IDENT_RE.match(table) and _IDENT_RE.match(column)):
                raise OrphansError(f"content_columns entry {spec!r} is not table.column")
            if column.upper() not in tables.get(table, set()):
                continue
            info["content_columns"].append(spec)
            for text in source.content(table, column):
                for ref in extract_references(text, regex):
                    content.add(ref)
    info["content_refs"] = 0

    def counted(stream: Iterable[bytes]) -> Iterator[bytes]:
        for item in stream:
            info["content_refs"] += 1
            yield item

    merged = unique(heapq.merge(db, checked_sorted(counted(content), "the content references")))
    return merged, info, content


def find_orphans(docroot: str, upload_dir: str, source: Any, params: dict[str, Any],
                 on_orphan: Callable[[str, os.stat_result], None] | None = None) -> dict[str, Any]:
    """Stream the comparison; on_orphan(docroot-relative path, lstat) is called for each orphan, in order."""
    upload_root = os.path.join(docroot, upload_dir)
    if not os.path.isdir(upload_root):
        raise OrphansError(f"upload folder {upload_root} does not exist")
    now = time.time()
    min_age = int(params.get("min_age", 86400))
    sample_size = int(params.get("sample_size", 20))
    stats: dict[str, int] = {}
    report: dict[str, Any] = {"count": 0, "bytes": 0, "by_folder": {}, "by_age": {}, "young": 0, "sample": []}
    workdir = tempfile.mkdtemp(prefix="bxops-orphans-")
    try:
        skip = [s.strip("/").encode() for s in params.get("service_folders", SERVICE_FOLDERS)]
        if params.get("disk_walker", "auto") == "auto" and shutil.which("find") and shutil.which("sort"):
            disk = find_sorted(os.fsencode(upload_root), skip, stats, workdir)  # runs while content is scanned
        else:
            disk = walk_sorted(os.fsencode(upload_root), skip, stats)
        disk = checked_sorted(disk, "the upload folder walk")
        refs, info, content = collect_references(source, docroot, upload_dir, params, workdir)
        prefix = upload_dir.encode() + b"/"
        for rel in merge_orphans(disk, refs):
            path = os.fsdecode(prefix + rel)
            try:
                st = os.lstat(os.path.join(os.fsencode(docroot), prefix + rel))
            except FileNotFoundError:
                continue
            age = now - st.st_mtime
            report["count"] += 1
            report["bytes"] += st.st_size
            top = os.fsdecode(rel.split(b"/", 1)[0]) if b"/" in rel else "."
            folder = report["by_folder"].setdefault(top, {"count": 0, "bytes": 0})
            folder["count"] += 1
            folder["bytes"] += st.st_size
            bucket = report["by_age"].setdefault(age_bucket(age), {"count": 0, "bytes": 0})
            bucket["count"] += 1
            bucket["bytes"] += st.st_size
            if len(report["sample"]) < sample_size:
                report["sample"].append(path)
            if age < min_age:
                report["young"] += 1
                continue
            if on_orphan is not None:
                on_orphan(path, st)
        content.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    referenced = {
        "db_rows": getattr(source, "rows_read", 0),
        "content_refs": info["content_refs"],
        "content_files": info["content_files"],
        "content_columns": info["content_columns"],
        "disk_files": stats.get("disk_files", 0),
        "disk_errors": stats.get("disk_errors", []),
        "skipped": stats.get("skipped", 0),
    }
    return {"orphans": report, "referenced": referenced}


def recover(quarantine: Quarantine, check: bool) -> list[dict[str, Any]]:
    """Reverse batches left 'running' by a killed run (check mode: only list them)."""
    out = []
    for name, meta in quarantine.batches():
        if meta.get("state") != "running":
            continue
        pid = meta.get("pid")
        if isinstance(pid, int) and pid != os.getpid() and _alive(pid) and _is_us(pid):
            raise OrphansError(f"quarantine batch {name} is being written by a live process {pid}")
        if check:
            out.append({"batch": name, "would_reverse": True})
        else:
            out.append(quarantine.reverse(name, meta))
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_us(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"orphans" in handle.read()
    except OSError:
        return False


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
    quarantine = Quarantine(os.path.normpath(params["quarantine_dir"]), docroot)
    check_locations(docroot, quarantine.root)
    if mode == "purge" and int(params.get("retention_days", 30)) <= 0:
        raise OrphansError(f"retention_days must be at least 1 (got {params.get('retention_days')}): "
                           "purge never deletes fresh quarantine")
    result: dict[str, Any] = {"changed": False, "mode": mode}
    result["recovered"] = recover(quarantine, check)
    if any(r.get("returned") for r in result["recovered"]):
        result["changed"] = True
    lost = [item for r in result["recovered"] for item in r.get("lost", [])]
    if lost:
        raise OrphansError(f"recovery of an interrupted quarantine found files it cannot place: {lost[:10]}")

    if mode in ("report", "quarantine"):
        source = source_factory()
        upload_dir = (params.get("upload_dir") or "").strip("/") or source.upload_dir()
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
            result.update(find_orphans(docroot, upload_dir, source, params, on_orphan))
        finally:
            if batch is not None:
                batch.close()
        if mode == "quarantine":
            if batch is not None:
                result["quarantined"] = {"batch": batch.name, "path": batch.path, "files": batch.files,
                                         "bytes": batch.bytes, "skipped_changed": batch.skipped_changed}
                result["changed"] = result["changed"] or batch.files > 0
            else:
                result["quarantined"] = {"batch": None, "path": None, **would}
                result["changed"] = result["changed"] or would["files"] > 0
    elif mode == "restore":
        dir_mode = int(params.get("dir_mode", 0o755))
        result["restored"] = restore(quarantine, list(params.get("batches") or []),
                                     list(params.get("paths") or []), dir_mode, check)
        result["changed"] = result["changed"] or result["restored"]["files"] > 0
    elif mode == "purge":
        result["purged"] = purge(quarantine, int(params["retention_days"]), check)
        result["changed"] = result["changed"] or bool(result["purged"]["batches"])
    else:
        raise OrphansError(f"unknown mode {mode!r}")
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            docroot=dict(type="path", required=True),
            mode=dict(type="str", choices=["report", "quarantine", "restore", "purge"], default="report"),
            quarantine_dir=dict(type="path", required=True),
            upload_dir=dict(type="str", default=""),
            db=dict(type="dict", default={}, no_log=True),
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
    except (OrphansError, RuntimeError, OSError) as exc:
        module.fail_json(msg=str(exc))
    finally:
        for client in clients:
            client.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()

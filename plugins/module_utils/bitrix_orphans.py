# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Finding orphaned uploads, shared by the orphans module (report, quarantine) and the audit (estimate).

Both sides are streamed in byte order and merged: the upload folder (walked, or `find | sort`) and the
referenced set (every b_file row as SUBDIR/FILE_NAME, duplicates through b_file_duplicate, cloud rows
skipped, plus /upload/ paths referenced from pages, templates and content columns). Nothing is held
in memory beyond a bounded buffer that spills to sorted files.
"""
from __future__ import annotations

import contextlib
import heapq
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import unquote_to_bytes

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
            # a path that climbs out of the upload folder is no upload; "..name" is a file name
            if norm == b".." or norm.startswith(b"../") or norm.startswith(b"/") or norm in (b".", b""):
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

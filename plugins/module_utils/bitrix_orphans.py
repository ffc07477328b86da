# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Finding orphaned uploads, shared by the orphans module (report, quarantine) and the audit (estimate).

Both sides are streamed in byte order and merged: the upload folder (`find` run inside the anchored
upload folder, or the layer's walk, then sorted) and the referenced set (every b_file row as
SUBDIR/FILE_NAME, duplicates through b_file_duplicate, cloud rows skipped, plus upload paths referenced
from pages, templates and content columns). Nothing is held in memory beyond a bounded buffer that
spills to sorted files.

Names are bytes: any byte but '/' and NUL is a name (newlines included). Every stream is NUL-separated,
length-prefixed or hex-encoded, never newline-separated. The upload folder is reached through the
docroot's :class:`Anchor` (``bitrix_docroot``): a symlinked upload folder or parent is refused, a symlink
inside it is reported and never a candidate.
"""
from __future__ import annotations

import binascii
import contextlib
import heapq
import html
import os
import re
import shutil
import stat
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar
from urllib.parse import unquote_to_bytes

from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_db import DbError, MysqlClient
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_docroot import (
    Anchor,
    Entry,
    UnsafePath,
    clean_rel,
    describe,
)
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_facts import (
    DISPOSABLE_BITRIX,
    MODULES,
    UPLOAD_SERVICE_FOLDERS,
)

SERVICE_FOLDERS = list(UPLOAD_SERVICE_FOLDERS)
PROTECTED_NAMES = {b".htaccess", b".access.php"}
CONTENT_EXCLUDE = [MODULES, *DISPOSABLE_BITRIX]  # code and disposable copies are not where content links live
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
LIST_LIMIT = 100  # entries kept in the report's lists (symlinks, unhandled, other hosts); counts are exact
_IDENT_RE = re.compile(r"^[A-Za-z0-9_]+$")
_LEN = struct.Struct(">I")


_T = TypeVar("_T")


class OrphansError(Exception):
    """Refused or failed, with a message for the operator."""


# ---------------------------------------------------------------- sorted streams


def _disk_stats(stats: dict[str, Any] | None) -> dict[str, Any]:
    counters = stats if stats is not None else {}
    for key in ("disk_files", "skipped", "symlinks", "special"):
        counters.setdefault(key, 0)
    counters.setdefault("symlink_sample", [])
    counters.setdefault("disk_errors", [])
    return counters


def _note_symlink(counters: dict[str, Any], rel: str) -> None:
    counters["symlinks"] += 1
    if len(counters["symlink_sample"]) < LIST_LIMIT:
        counters["symlink_sample"].append(describe(rel))


def _is_top(sub: str) -> bool:
    return "/" not in sub


def walk_sorted(anchor: Anchor, upload_dir: str, skip_top: Iterable[bytes] = (),
                stats: dict[str, Any] | None = None, workdir: str | None = None) -> Iterator[bytes]:
    """The upload-relative paths (bytes) of the regular files below ``upload_dir`` in byte order.

    Walked with the layer (:meth:`Anchor.walk`: never through a symlink), then sorted through an
    :class:`ExternalSortedSet` (bounded memory). Symlinks are counted and sampled in ``stats``, never
    yielded; sockets, FIFOs and devices are counted as ``special``; the top-level names in ``skip_top``
    and the protected names are left out (the latter counted as ``skipped``).
    """
    skip = {os.fsdecode(name) for name in skip_top}
    counters = _disk_stats(stats)
    prefix = upload_dir + "/"

    def prune(entry: Entry) -> bool:
        return entry.name in skip and _is_top(entry.rel[len(prefix):])

    def on_error(rel: str, exc: OSError) -> None:
        counters["disk_errors"].append(f"{describe(anchor.abspath(rel))}: {exc.strerror or exc}")

    sink = ExternalSortedSet(workdir or tempfile.gettempdir())
    try:
        for entry in anchor.walk(upload_dir, prune=prune, on_error=on_error):
            sub = entry.rel[len(prefix):]
            if entry.is_dir or (entry.name in skip and _is_top(sub)):
                continue
            if entry.is_file:
                counters["disk_files"] += 1
                if os.fsencode(entry.name) in PROTECTED_NAMES:
                    counters["skipped"] += 1
                    continue
                sink.add(os.fsencode(sub))
            elif entry.is_symlink:
                _note_symlink(counters, entry.rel)
            else:
                counters["special"] += 1
        yield from sink
    finally:
        sink.close()


def _glob_escape(name: bytes) -> bytes:
    return re.sub(rb"([\\*?\[\]])", rb"\\\1", name)


def _read_nul_records(path: str) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        rest = b""
        for block in iter(lambda: handle.read(1 << 20), b""):
            parts = (rest + block).split(b"\0")
            rest = parts.pop()
            yield from parts


def find_sorted(anchor: Anchor, upload_dir: str, skip_top: Iterable[bytes], stats: dict[str, Any],
                workdir: str) -> Iterator[bytes]:
    """Same output as :func:`walk_sorted`, through `find -P . -printf '%P\\0' | LC_ALL=C sort -z`.

    `find` runs inside the upload folder opened through the anchor (it changes into that descriptor
    before it starts: the folder is the one checked, never a path resolved again) and never follows a
    symlink (``-P``). Started at once, so both run while the caller scans content. NUL-separated, so
    any name is safe. Symlinks and special files go to side files in ``workdir`` and are counted.
    """
    prune: list[bytes] = []
    for name in skip_top:
        prune += [b"-o"] if prune else []
        prune += [b"-path", b"./" + _glob_escape(name)]
    links = os.path.join(workdir, "symlinks")
    special = os.path.join(workdir, "special")
    argv = [b"find", b"-P", b".", *([b"(", *prune, b")", b"-prune", b"-o"] if prune else []),
            b"-type", b"f", b"-printf", b"%P\\0",
            b"-o", b"-type", b"l", b"-fprintf", os.fsencode(links), b"%P\\0",
            b"-o", b"!", b"-type", b"d", b"-fprintf", os.fsencode(special), b"%P\\0"]
    env = dict(os.environ, LC_ALL="C")
    upload_fd = anchor.open_dir(upload_dir)  # UnsafePath when the folder or a parent is a symlink
    try:
        finder = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                  preexec_fn=lambda: os.fchdir(upload_fd))
    finally:
        os.close(upload_fd)  # the child changed into it before exec; the descriptor is close-on-exec
    sorter = subprocess.Popen(["sort", "-z", "-S", "64M", "-T", workdir], stdin=finder.stdout,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert finder.stdout is not None and sorter.stdout is not None
    finder.stdout.close()  # sort holds it now
    counters = _disk_stats(stats)
    prefix = os.fsencode(upload_dir) + b"/"

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
                    counters["disk_files"] += 1
                    if rel.rpartition(b"/")[2] in PROTECTED_NAMES:
                        counters["skipped"] += 1
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
                counters["disk_errors"].extend(find_err.strip().splitlines()[-5:])
            with contextlib.suppress(FileNotFoundError):
                for link in _read_nul_records(links):
                    _note_symlink(counters, os.fsdecode(prefix + link))
            with contextlib.suppress(FileNotFoundError):
                counters["special"] += sum(1 for _ in _read_nul_records(special))
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
    """A set of byte strings (any bytes: newlines and NULs included), spilled past ``spill_at`` entries
    to sorted chunk files of length-prefixed records, so no byte ever acts as a separator."""

    def __init__(self, workdir: str, spill_at: int = SPILL_AT) -> None:
        self.workdir = workdir
        self.spill_at = spill_at
        self.items: set[bytes] = set()
        self.chunks: list[str] = []

    def add(self, item: bytes) -> None:
        self.items.add(item)
        if len(self.items) >= self.spill_at:
            self._spill()

    def _spill(self) -> None:
        fd, path = tempfile.mkstemp(prefix="bxops-refs-", dir=self.workdir)
        with os.fdopen(fd, "wb", buffering=1 << 20) as handle:
            pack = _LEN.pack
            for item in sorted(self.items):
                handle.write(pack(len(item)))
                handle.write(item)
        self.chunks.append(path)
        self.items = set()

    @staticmethod
    def _read(path: str) -> Iterator[bytes]:
        size = _LEN.size
        with open(path, "rb", buffering=1 << 20) as handle:
            while True:
                head = handle.read(size)
                if not head:
                    return
                item = handle.read(_LEN.unpack(head)[0]) if len(head) == size else b""
                if len(head) != size or len(item) != _LEN.unpack(head)[0]:
                    raise OrphansError(f"spill file {path} is torn: refusing to guess")
                yield item

    def __iter__(self) -> Iterator[bytes]:
        streams: list[Iterable[bytes]] = [self._read(p) for p in self.chunks] + [sorted(self.items)]
        return unique(heapq.merge(*streams))

    def __len__(self) -> int:  # an upper bound once spilled
        return len(self.items) + sum(os.path.getsize(p) > 0 for p in self.chunks) * self.spill_at

    def close(self) -> None:
        for path in self.chunks:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self.chunks = []


# ---------------------------------------------------------------- content references
#
# A reference is found wherever "<upload_dir>/" appears after a non-name character (so "/upload/x",
# "upload/x", "https://host/upload/x" and "//host/upload/x" all count). What follows it is read up to a
# hard delimiter chosen by what stands before the URL: the same quote for a quoted value (spaces and the
# other quote allowed inside), ")" for an unquoted url(...), else any quote, "<", ">" or a line end.
# Every prefix of that run ending before a space, quote, bracket, comma, "?", "#" or "&" is also a
# candidate (srcset lists, query strings, "a reference that ends at a space, or not"), each with trailing
# punctuation stripped, percent-decoding and HTML entities undone. An extra candidate can only protect a
# file, never expose one: when in doubt, a file counts as referenced.

_MAX_RUN = 2048
_MAX_CUTS = 16
_URL_PREFIX_TAIL = re.compile(rb"(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//([^/\s\"'<>()\\]*)/?\Z")
_RUN = {
    b'"': re.compile(rb'[^"<>\n\r\0]*'),
    b"'": re.compile(rb"[^'<>\n\r\0]*"),
    b"(": re.compile(rb"[^)\"'<>\n\r\0]*"),
    b"": re.compile(rb"[^\"'<>\n\r\0`]*"),
}
_CUT = re.compile(rb"[\s\"'(),;?#&|*{}\[\]\\]")
_JSON_U = re.compile(rb"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|\\u([0-9a-fA-F]{4})")
_QUOTE_ENTITIES = (b"&quot;", b"&#34;", b"&#39;", b"&apos;", b"&#x", b"&lt;", b"&gt;", b"&sol;", b"&#47;")
_PERCENT_SLASH = re.compile(rb"%2[fF]")


def reference_regex(upload_dir: str) -> re.Pattern[bytes]:
    """Where a reference starts: ``/upload/`` (or ``upload/`` right after a "/" or a non-name character)."""
    return re.compile(rb"(?<![A-Za-z0-9_.\-%])/?" + re.escape(upload_dir.encode()) + rb"/")


def _entities(data: bytes) -> bytes:
    return html.unescape(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")


def _json_unescape(data: bytes) -> bytes:
    def one(match: re.Match[bytes]) -> bytes:
        if match.group(3) is not None:
            return chr(int(match.group(3), 16)).encode("utf-8", "surrogatepass")
        high, low = int(match.group(1), 16), int(match.group(2), 16)
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)).encode("utf-8")

    return _JSON_U.sub(one, data)


def _text_variants(text: bytes) -> list[bytes]:
    """The text, plus decoded copies when references may hide behind an encoding."""
    if b"\\/" in text:
        text = text.replace(b"\\/", b"/")
    variants = [text]
    if b"\\u" in text:
        variants.append(_json_unescape(text))
    if b"&" in text and any(entity in text for entity in _QUOTE_ENTITIES):
        variants.append(_entities(text))
    if _PERCENT_SLASH.search(text):
        variants.append(unquote_to_bytes(text))
    return variants


def _forms(candidate: bytes) -> set[bytes]:
    stripped = candidate.rstrip(b".:!,;")
    if b"%" not in candidate and b"&" not in candidate:
        return {candidate, stripped} if stripped != candidate else {candidate}
    forms = {candidate, stripped}
    for form in list(forms):
        if b"%" in form:
            forms.add(unquote_to_bytes(form))
    for form in list(forms):
        if b"&" in form:
            forms.add(_entities(form))
    for form in list(forms):
        if b"%" in form:
            forms.add(unquote_to_bytes(form))
    return forms


def _normal(form: bytes) -> bytes | None:
    """The form as an upload-relative path, or None when it is none (empty, climbing out, absolute)."""
    if b"//" in form or b"/." in form or form.startswith(b".") or form.endswith(b"/"):
        form = os.path.normpath(form)
    # a path that climbs out of the upload folder is no upload; "..name" is a file name
    if not form or form in (b".", b"..") or form.startswith((b"../", b"/")) or b"\0" in form:
        return None
    return form


def extract_references(text: bytes, regex: re.Pattern[bytes],
                       on_host: Callable[[bytes], None] | None = None) -> Iterator[bytes]:
    """Upload-relative paths a text may reference (see the comment above); each distinct path once.

    ``on_host(host)`` is called for each reference written as an absolute URL (``//host/upload/...``).
    """
    seen: set[bytes] = set()
    cut_search, cut_iter, default_run = _CUT.search, _CUT.finditer, _RUN[b""]
    for variant in _text_variants(text):
        rfind = variant.rfind
        for match in regex.finditer(variant):
            start, end = match.span()
            before = start
            slashes = rfind(b"//", start - 300 if start > 300 else 0, start)
            if slashes >= 0:  # an absolute or protocol-relative URL: look at what stands before it
                window = variant[slashes - 64 if slashes > 64 else 0:start]
                url = _URL_PREFIX_TAIL.search(window)
                if url is not None:
                    before = start - (len(window) - url.start())
                    if on_host is not None:
                        on_host(url.group(1))
            run_re = _RUN.get(variant[before - 1:before] if before else b"", default_run)
            run = run_re.match(variant, end, end + _MAX_RUN).group(0)  # type: ignore[union-attr]
            if not run:
                continue
            if cut_search(run) is None:
                candidates = [run]
            else:
                candidates = [run]
                for count, cut in enumerate(cut_iter(run)):
                    if count >= _MAX_CUTS:
                        break
                    if cut.start():
                        candidates.append(run[:cut.start()])
            for candidate in candidates:
                for form in _forms(candidate):
                    if form in seen:
                        continue
                    norm = _normal(form)
                    if norm is not None and norm not in seen:
                        seen.add(norm)
                        yield norm


def _host_key(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and "]" in host:  # [v6]:port
        return host[: host.index("]") + 1]
    host = host.rpartition("@")[2].partition(":")[0]
    return host[4:] if host.startswith("www.") else host


class ReferenceScanner:
    """Extracts references for one site: its upload folder and its own domains.

    A reference written as an absolute URL counts as referenced whatever its host (conservative: a CDN
    or an old domain may still serve it); those on a host that is not one of ``domains`` are counted and
    listed in ``other_hosts`` so an engineer sees them.
    """

    def __init__(self, upload_dir: str, domains: Iterable[str] = ()) -> None:
        self.regex = reference_regex(upload_dir)
        self.domains = {_host_key(domain) for domain in domains if domain and domain.strip()}
        self.other_host_refs = 0
        self.other_hosts: dict[str, int] = {}

    def _on_host(self, raw: bytes) -> None:
        host = _host_key(raw.decode("utf-8", "replace"))
        if not host or host in self.domains:
            return
        self.other_host_refs += 1
        if host in self.other_hosts or len(self.other_hosts) < LIST_LIMIT:
            self.other_hosts[host] = self.other_hosts.get(host, 0) + 1

    def extract(self, text: bytes) -> Iterator[bytes]:
        return extract_references(text, self.regex, self._on_host)


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        block = os.read(fd, 1 << 20)
        if not block:
            return b"".join(chunks)
        chunks.append(block)


def scan_content_files(anchor: Anchor, upload_dir: str, exclude: Iterable[str], extensions: Iterable[str],
                       scanner: ReferenceScanner, sink: ExternalSortedSet, errors: list[str] | None = None) -> int:
    """Add references from page files and templates (walked with the layer: never through a symlink,
    each file opened as the entry the walk examined); returns how many files were read. Folders and
    files that could not be read are listed in ``errors`` (their references are unknown)."""
    excluded = {"/".join(part for part in item.split("/") if part not in ("", ".")) for item in exclude}
    excluded.add(upload_dir)
    exts = tuple(ext.lower() for ext in extensions)
    scanned = 0

    def prune(entry: Entry) -> bool:
        return entry.rel in excluded

    problems = errors if errors is not None else []

    def on_error(rel: str, exc: OSError) -> None:
        if len(problems) < LIST_LIMIT:
            problems.append(f"{describe(anchor.abspath(rel))}: {exc.strerror or exc}")

    for entry in anchor.walk("", prune=prune, on_error=on_error):
        if not entry.is_file or entry.st.st_size > CONTENT_FILE_LIMIT or not entry.name.lower().endswith(exts):
            continue
        try:
            fd = anchor.open_file(entry.rel, expect=entry.st)
        except FileNotFoundError:
            continue
        except UnsafePath as exc:  # swapped since the walk examined it
            if len(problems) < LIST_LIMIT:
                problems.append(str(exc))
            continue
        except OSError as exc:
            on_error(entry.rel, exc)
            continue
        try:
            text = _read_all(fd)
        except OSError as exc:
            on_error(entry.rel, exc)
            continue
        finally:
            os.close(fd)
        scanned += 1
        for ref in scanner.extract(text):
            sink.add(ref)
    return scanned


# ---------------------------------------------------------------- the DB side


def _row_path_sql(alias: str) -> str:
    return (
        f"CAST(CONCAT_WS('/', NULLIF(TRIM(BOTH '/' FROM IFNULL({alias}.SUBDIR, '')), ''), "
        f"{alias}.FILE_NAME) AS BINARY)"
    )


def referenced_query(with_duplicates: bool, ordered: bool = True) -> str:
    """Every local b_file row's path, plus the originals of duplicates, as HEX() of its bytes.

    Hex keeps any byte (a newline in a name cannot split a row) and sorts exactly as the bytes do, so
    `LC_ALL=C sort` or the server's ORDER BY on the binary value gives byte order either way.
    """
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
        return f"SELECT HEX(p) FROM ({' UNION ALL '.join(parts)}) t ORDER BY p"
    # for an external sort: no cast, and only the duplicates' originals the first part left out (cloud rows)
    return (
        "SELECT HEX(CONCAT_WS('/', NULLIF(TRIM(BOTH '/' FROM IFNULL(f.SUBDIR, '')), ''), f.FILE_NAME)) "
        "FROM b_file f WHERE (f.HANDLER_ID IS NULL OR f.HANDLER_ID = '') AND f.FILE_NAME <> ''"
        + (" UNION ALL SELECT HEX(CONCAT_WS('/', NULLIF(TRIM(BOTH '/' FROM IFNULL(o.SUBDIR, '')), ''), "
           "o.FILE_NAME)) FROM b_file_duplicate d JOIN b_file o ON o.ID = d.ORIGINAL_ID "
           "WHERE o.HANDLER_ID IS NOT NULL AND o.HANDLER_ID <> '' AND o.FILE_NAME <> ''" if with_duplicates else "")
    )


def _orphans_errors(rows: Iterator[_T]) -> Iterator[_T]:
    """A query's rows, its failure reported as OrphansError (what the modules report in one line)."""
    try:
        yield from rows
    except DbError as exc:
        raise OrphansError(str(exc)) from exc


class MysqlSource:
    """The DB side as raw bytes, through the collection's one client (bitrix_db.MysqlClient)."""

    def __init__(self, client: MysqlClient) -> None:
        self.client = client
        self.rows_read = 0

    def _lines(self, query: str) -> Iterator[bytes]:
        """The first column of each row, unescaped; NULL left out."""
        def first() -> Iterator[bytes]:
            for row in self.client.stream_bytes(query):
                if row[0] is not None:
                    yield row[0]
        return _orphans_errors(first())

    def tables(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for table, column in _orphans_errors(self.client.stream(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()"
        )):
            found.setdefault(table or "", set()).add((column or "").upper())
        return found

    def upload_dir(self) -> str:
        for line in self._lines(
            "SELECT VALUE FROM b_option WHERE MODULE_ID='main' AND NAME='upload_dir' LIMIT 1"
        ):
            value = os.fsdecode(line)
            if value.strip():
                return value  # validated by the caller (clean_rel): a site value, never trusted as a path
        return "upload"

    def referenced(self, with_duplicates: bool, workdir: str | None = None) -> Iterator[bytes]:
        """Starts at once (sorting runs while the caller scans content); rows come lazily, in byte order.

        The rows (hex-encoded, see referenced_query) go through `LC_ALL=C sort -u` (much faster than the
        server's ORDER BY on a computed binary key); without `sort` the server sorts.
        """
        upstream: subprocess.Popen[bytes] | None = None
        if workdir is None or not shutil.which("sort"):
            proc = self.client.popen(referenced_query(with_duplicates))
        else:
            upstream = self.client.popen(referenced_query(with_duplicates, ordered=False))
            proc = subprocess.Popen(["sort", "-u", "-S", "64M", "-T", workdir], stdin=upstream.stdout,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=1 << 20,
                                    env=dict(os.environ, LC_ALL="C"))
            assert upstream.stdout is not None
            upstream.stdout.close()

        def rows() -> Iterator[bytes]:
            for line in _orphans_errors(self.client.lines(proc)):
                if not line or line == b"NULL":
                    continue
                try:
                    path = binascii.unhexlify(line)
                except (binascii.Error, ValueError) as exc:
                    raise OrphansError(f"unexpected b_file row from mysql: {line[:80]!r}") from exc
                self.rows_read += 1
                yield path
            if upstream is not None:
                err = upstream.stderr.read().decode("utf-8", "replace") if upstream.stderr else ""
                if upstream.wait() != 0:
                    raise OrphansError(f"mysql query failed: {err.strip()[-300:]}")

        return rows()

    def content(self, table: str, column: str) -> Iterator[bytes]:
        yield from self._lines(f"SELECT `{column}` FROM `{table}` WHERE `{column}` LIKE '%/%'")


# ---------------------------------------------------------------- the comparison


def age_bucket(age: float) -> str:
    for limit, name in AGE_BUCKETS:
        if age < limit:
            return name
    return ">1y"


def collect_references(source: Any, anchor: Anchor, upload_dir: str, params: dict[str, Any],
                       workdir: str) -> tuple[Iterator[bytes], dict[str, Any], ExternalSortedSet]:
    """The sorted, de-duplicated stream of referenced upload-relative paths."""
    info: dict[str, Any] = {"content_files": 0, "content_columns": [], "content_errors": []}
    content = ExternalSortedSet(workdir)
    tables = source.tables()
    if "b_file" not in tables:
        raise OrphansError("table b_file not found: refusing to call every upload an orphan")
    db = checked_sorted(source.referenced("b_file_duplicate" in tables, workdir), "the b_file rows")
    scanner = ReferenceScanner(upload_dir, params.get("site_domains") or ())
    if params.get("content_scan", True):
        info["content_files"] = scan_content_files(
            anchor, upload_dir, params.get("content_exclude", CONTENT_EXCLUDE),
            params.get("content_extensions", CONTENT_EXTENSIONS), scanner, content, info["content_errors"],
        )
        for spec in params.get("content_columns", CONTENT_COLUMNS):
            table, _, column = spec.partition(".")
            if not (_IDENT_RE.match(table) and _IDENT_RE.match(column)):
                raise OrphansError(f"content_columns entry {spec!r} is not table.column")
            if column.upper() not in tables.get(table, set()):
                continue
            info["content_columns"].append(spec)
            for text in source.content(table, column):
                for ref in scanner.extract(text):
                    content.add(ref)
    info["content_refs"] = 0
    info["other_host_refs"] = scanner.other_host_refs
    info["other_hosts"] = dict(sorted(scanner.other_hosts.items()))

    def counted(stream: Iterable[bytes]) -> Iterator[bytes]:
        for item in stream:
            info["content_refs"] += 1
            yield item

    merged = unique(heapq.merge(db, checked_sorted(counted(content), "the content references")))
    return merged, info, content


class _OrphanStat:
    """lstat of the orphans (they come in path order) through the anchor, one parent folder open at a time."""

    def __init__(self, anchor: Anchor) -> None:
        self.anchor = anchor
        self.parent: str | None = None
        self.fd = -1

    def __call__(self, rel: str) -> os.stat_result:
        parent, _, name = rel.rpartition("/")
        if parent != self.parent:
            self.close()
            self.fd = self.anchor.open_dir(parent)
            self.parent = parent
        return os.stat(name, dir_fd=self.fd, follow_symlinks=False)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
        self.fd, self.parent = -1, None


def note_unhandled(report: dict[str, Any], path: str, why: str) -> None:
    """A file the run could not handle: counted and listed (up to LIST_LIMIT), never skipped silently."""
    report["unhandled_count"] = report.get("unhandled_count", 0) + 1
    listed = report.setdefault("unhandled", [])
    if len(listed) < LIST_LIMIT:
        listed.append({"path": describe(path), "why": why})


def open_upload_root(anchor: Anchor, upload_dir: str | None, what: str = "main.upload_dir") -> str:
    """The validated upload folder (relative to the docroot): a plain relative path, a real folder
    reached without symlinks. OrphansError (one line naming the value or the path) otherwise."""
    try:
        rel = clean_rel(upload_dir, what, default="upload")
        if not anchor.require_dir(rel, "the upload folder"):
            raise OrphansError(f"upload folder {describe(anchor.abspath(rel))} does not exist")
    except UnsafePath as exc:
        raise OrphansError(str(exc)) from exc
    return rel


def find_orphans(docroot: str, upload_dir: str, source: Any, params: dict[str, Any],
                 on_orphan: Callable[[str, os.stat_result], None] | None = None,
                 anchor: Anchor | None = None) -> dict[str, Any]:
    """Stream the comparison; on_orphan(docroot-relative path, lstat) is called for each orphan, in order.

    ``upload_dir`` is a site value (option main.upload_dir): validated here. Paths given to on_orphan
    are ``str`` with surrogate escapes for bytes that are not UTF-8 (``os.fsencode`` gives them back).
    """
    own = anchor is None
    doc = anchor if anchor is not None else _open_anchor(docroot)
    try:
        upload_dir = open_upload_root(doc, upload_dir)
        try:
            return _find_orphans(doc, upload_dir, source, params, on_orphan)
        except UnsafePath as exc:
            raise OrphansError(str(exc)) from exc
    finally:
        if own:
            doc.close()


def _open_anchor(docroot: str) -> Anchor:
    try:
        return Anchor(docroot)
    except UnsafePath as exc:
        raise OrphansError(str(exc)) from exc


def _find_orphans(doc: Anchor, upload_dir: str, source: Any, params: dict[str, Any],
                  on_orphan: Callable[[str, os.stat_result], None] | None) -> dict[str, Any]:
    now = time.time()
    min_age = int(params.get("min_age", 86400))
    sample_size = int(params.get("sample_size", 20))
    stats: dict[str, Any] = _disk_stats(None)
    report: dict[str, Any] = {"count": 0, "bytes": 0, "by_folder": {}, "by_age": {}, "young": 0, "sample": [],
                              "unhandled": [], "unhandled_count": 0}
    workdir = tempfile.mkdtemp(prefix="bxops-orphans-")
    lstat_orphan = _OrphanStat(doc)
    try:
        skip = [s.strip("/").encode() for s in params.get("service_folders", SERVICE_FOLDERS)]
        walker = params.get("disk_walker", "auto")
        if walker == "find" or (walker == "auto" and shutil.which("find") and shutil.which("sort")):
            disk = find_sorted(doc, upload_dir, skip, stats, workdir)  # runs while content is scanned
        else:
            disk = walk_sorted(doc, upload_dir, skip, stats, workdir)
        disk = checked_sorted(disk, "the upload folder walk")
        refs, info, content = collect_references(source, doc, upload_dir, params, workdir)
        prefix = os.fsencode(upload_dir) + b"/"
        for rel in merge_orphans(disk, refs):
            path = os.fsdecode(prefix + rel)
            try:
                st = lstat_orphan(path)
            except FileNotFoundError:
                continue
            except (OSError, UnsafePath) as exc:
                note_unhandled(report, path, str(exc) if isinstance(exc, UnsafePath) else
                               f"cannot examine it ({exc.strerror or exc})")
                continue
            if not stat.S_ISREG(st.st_mode):  # swapped for a symlink or a folder since the walk
                note_unhandled(report, path, "no longer a regular file; left alone")
                continue
            age = now - st.st_mtime
            report["count"] += 1
            report["bytes"] += st.st_size
            top = os.fsdecode(rel.split(b"/", 1)[0]) if b"/" in rel else "."
            folder = report["by_folder"].setdefault(describe(top), {"count": 0, "bytes": 0})
            folder["count"] += 1
            folder["bytes"] += st.st_size
            bucket = report["by_age"].setdefault(age_bucket(age), {"count": 0, "bytes": 0})
            bucket["count"] += 1
            bucket["bytes"] += st.st_size
            if len(report["sample"]) < sample_size:
                report["sample"].append(describe(path))
            if age < min_age:
                report["young"] += 1
                continue
            if on_orphan is not None:
                on_orphan(path, st)
        content.close()
    finally:
        lstat_orphan.close()
        shutil.rmtree(workdir, ignore_errors=True)
    report["symlinks"] = {"count": stats["symlinks"], "sample": sorted(stats["symlink_sample"])}
    report["special"] = stats["special"]
    referenced = {
        "db_rows": getattr(source, "rows_read", 0),
        "content_refs": info["content_refs"],
        "content_files": info["content_files"],
        "content_columns": info["content_columns"],
        "content_errors": info["content_errors"],
        "other_host_refs": info["other_host_refs"],
        "other_hosts": info["other_hosts"],
        "disk_files": stats["disk_files"],
        "disk_errors": stats["disk_errors"],
        "skipped": stats["skipped"],
        "symlinks": stats["symlinks"],
        "special": stats["special"],
    }
    return {"orphans": report, "referenced": referenced}

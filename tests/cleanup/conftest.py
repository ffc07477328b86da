"""Shared helpers for the cleanup tests: import path for the collection's modules and a SQLite stand-in
for the site's DB (same tables and columns as the generator's MariaDB schema)."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / ".collections") not in sys.path:
    sys.path.insert(0, str(ROOT / ".collections"))

SCHEMA = """
CREATE TABLE b_option (MODULE_ID TEXT, NAME TEXT, VALUE TEXT);
CREATE TABLE b_file (ID INTEGER PRIMARY KEY, MODULE_ID TEXT, SUBDIR TEXT, FILE_NAME TEXT NOT NULL,
                     HANDLER_ID TEXT, EXTERNAL_ID TEXT);
CREATE TABLE b_file_duplicate (DUPLICATE_ID INTEGER, ORIGINAL_ID INTEGER, COUNTER INTEGER);
CREATE TABLE b_iblock_element (ID INTEGER PRIMARY KEY, PREVIEW_TEXT TEXT, DETAIL_TEXT TEXT);
"""


def _path_expr(alias: str) -> str:
    return (f"CAST(CASE WHEN TRIM(IFNULL({alias}.SUBDIR, ''), '/') = '' THEN {alias}.FILE_NAME "
            f"ELSE TRIM({alias}.SUBDIR, '/') || '/' || {alias}.FILE_NAME END AS BLOB)")


class SqliteSource:
    """The interface bitrix_orphans.MysqlSource offers, over SQLite; ORDER BY on a BLOB is memcmp order,
    as ORDER BY on a BINARY cast is in MariaDB."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.rows_read = 0

    def _conn(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path)

    def tables(self) -> dict[str, set[str]]:
        with self._conn() as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            return {n: {r[1].upper() for r in conn.execute(f"PRAGMA table_info({n})")} for n in names}

    def upload_dir(self) -> str:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT VALUE FROM b_option WHERE MODULE_ID='main' AND NAME='upload_dir'").fetchone()
        return (row[0] if row and row[0] else "upload").strip("/")

    def referenced(self, with_duplicates: bool, workdir: str | None = None) -> Iterator[bytes]:
        parts = [f"SELECT {_path_expr('f')} AS p FROM b_file f "
                 "WHERE (f.HANDLER_ID IS NULL OR f.HANDLER_ID = '') AND f.FILE_NAME <> ''"]
        if with_duplicates:
            parts.append(f"SELECT {_path_expr('o')} AS p "
                         "FROM b_file_duplicate d JOIN b_file o ON o.ID = d.ORIGINAL_ID")
        conn = self._conn()
        try:
            for (p,) in conn.execute(f"SELECT p FROM ({' UNION ALL '.join(parts)}) ORDER BY p"):
                self.rows_read += 1
                yield bytes(p)
        finally:
            conn.close()

    def content(self, table: str, column: str) -> Iterator[bytes]:
        conn = self._conn()
        try:
            for (text,) in conn.execute(f"SELECT {column} FROM {table}"):
                if text:
                    yield text.encode("utf-8")
        finally:
            conn.close()


def make_db(path: str, upload_dir: str = "upload") -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    conn.execute("INSERT INTO b_option VALUES ('main', 'upload_dir', ?)", (upload_dir,))
    return conn


def _mount_tmpfs(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs", str(path)], check=True,
                   capture_output=True)


@pytest.fixture
def two_filesystems(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """Two fresh tmpfs mounts (a docroot's disk and a quarantine's second disk), unmounted afterwards.

    Skipped with the reason when this machine does not let the test mount (not root, no CAP_SYS_ADMIN)."""
    first, second = tmp_path / "disk1", tmp_path / "disk2"
    try:
        if os.geteuid() != 0:
            raise PermissionError("not root")
        _mount_tmpfs(first)
    except (PermissionError, subprocess.CalledProcessError, FileNotFoundError) as exc:
        detail = getattr(exc, "stderr", b"") or str(exc).encode()
        pytest.skip(f"cannot mount tmpfs here, so no second filesystem: {detail.decode(errors='replace').strip()}")
    try:
        _mount_tmpfs(second)
        try:
            yield first, second
        finally:
            subprocess.run(["umount", "-l", str(second)], check=False)
    finally:
        subprocess.run(["umount", "-l", str(first)], check=False)


class OrphanSite:
    """A small hand-laid site for the orphan tests: files (docroot-relative, str or bytes) aged a week,
    b_file rows, content rows and a template, a SQLite stand-in for its DB."""

    def __init__(self, root: Path, upload_dir: str = "upload") -> None:
        self.root = root
        self.docroot = root / "www"
        self.docroot.mkdir(parents=True, exist_ok=True)
        (self.docroot / "bitrix").mkdir(exist_ok=True)
        self.db = str(root / "site.db")
        self.conn = make_db(self.db, upload_dir)
        self.conn.commit()
        self.quarantine = str(root / "state" / "quarantine")

    def file(self, rel: str | bytes, data: bytes = b"data", age: int = 7 * 86400) -> bytes:
        path = os.path.join(os.fsencode(self.docroot), os.fsencode(rel))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)
        os.utime(path, (time.time() - age, time.time() - age))
        return path

    def row(self, upload_rel: str | bytes) -> None:
        """A b_file row naming an upload-relative path (bytes stored as a BLOB, as MariaDB keeps them)."""
        raw = upload_rel if isinstance(upload_rel, bytes) else upload_rel.encode()
        subdir, _, name = raw.rpartition(b"/")
        self.conn.execute("INSERT INTO b_file (SUBDIR, FILE_NAME) VALUES (?, ?)",
                          (bytes(subdir), bytes(name)))
        self.conn.commit()

    def content(self, html: str) -> None:
        self.conn.execute("INSERT INTO b_iblock_element (DETAIL_TEXT) VALUES (?)", (html,))
        self.conn.commit()

    def source(self) -> SqliteSource:
        return SqliteSource(self.db)

    def params(self, **extra: object) -> dict[str, object]:
        base: dict[str, object] = {"docroot": str(self.docroot), "quarantine_dir": self.quarantine, "min_age": 0,
                                   "sample_size": 1000, "content_columns": ["b_iblock_element.DETAIL_TEXT"]}
        base.update(extra)
        return base


@pytest.fixture
def orphan_site(tmp_path: Path) -> OrphanSite:
    return OrphanSite(tmp_path)

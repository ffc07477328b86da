"""Shared helpers for the cleanup tests: import path for the collection's modules and a SQLite stand-in
for the site's DB (same tables and columns as the generator's MariaDB schema)."""
from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

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

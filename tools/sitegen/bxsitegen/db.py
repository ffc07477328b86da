"""The site's MariaDB schema (the real column sets of the tables the roles read) and loading it.

Small tables go in as INSERTs; the big ones (b_file, b_file_duplicate, b_iblock_element) are written as
tab-separated files and loaded with LOAD DATA LOCAL INFILE, so a million rows take seconds.
In --db-mode sqlfile everything is written to one .sql file instead (for runs without a server)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

Row = Sequence[object]

DDL = """
CREATE TABLE b_module (
  ID varchar(50) NOT NULL,
  DATE_ACTIVE timestamp NOT NULL DEFAULT current_timestamp(),
  PRIMARY KEY (ID)
);
CREATE TABLE b_option (
  MODULE_ID varchar(50) NOT NULL,
  NAME varchar(100) NOT NULL,
  VALUE mediumtext DEFAULT NULL,
  DESCRIPTION varchar(255) DEFAULT NULL,
  PRIMARY KEY (MODULE_ID, NAME)
);
CREATE TABLE b_option_site (
  MODULE_ID varchar(50) NOT NULL,
  NAME varchar(100) NOT NULL,
  SITE_ID char(2) NOT NULL,
  VALUE mediumtext DEFAULT NULL,
  PRIMARY KEY (MODULE_ID, NAME, SITE_ID),
  KEY ix_option_site_module_site (MODULE_ID, SITE_ID)
);
CREATE TABLE b_agent (
  ID int(11) NOT NULL AUTO_INCREMENT,
  MODULE_ID varchar(50) DEFAULT NULL,
  SORT int(11) NOT NULL DEFAULT 100,
  NAME text DEFAULT NULL,
  ACTIVE char(1) NOT NULL DEFAULT 'Y',
  LAST_EXEC datetime DEFAULT NULL,
  NEXT_EXEC datetime NOT NULL,
  DATE_CHECK datetime DEFAULT NULL,
  AGENT_INTERVAL int(11) DEFAULT 86400,
  IS_PERIOD char(1) DEFAULT 'Y',
  USER_ID int(11) DEFAULT NULL,
  RUNNING char(1) NOT NULL DEFAULT 'N',
  RETRY_COUNT int(11) DEFAULT NULL,
  PRIMARY KEY (ID),
  KEY ix_act_next_exec (ACTIVE, NEXT_EXEC),
  KEY ix_agent_user_id (USER_ID)
);
CREATE TABLE b_file (
  ID int(11) NOT NULL AUTO_INCREMENT,
  TIMESTAMP_X timestamp NOT NULL DEFAULT current_timestamp() ON UPDATE current_timestamp(),
  MODULE_ID varchar(50) DEFAULT NULL,
  HEIGHT int(11) DEFAULT NULL,
  WIDTH int(11) DEFAULT NULL,
  FILE_SIZE bigint(20) DEFAULT NULL,
  CONTENT_TYPE varchar(255) DEFAULT 'IMAGE',
  SUBDIR varchar(255) DEFAULT NULL,
  FILE_NAME varchar(255) NOT NULL,
  ORIGINAL_NAME varchar(255) DEFAULT NULL,
  DESCRIPTION varchar(255) DEFAULT NULL,
  HANDLER_ID varchar(50) DEFAULT NULL,
  EXTERNAL_ID varchar(50) DEFAULT NULL,
  PRIMARY KEY (ID),
  KEY IX_B_FILE_EXTERNAL_ID (EXTERNAL_ID)
);
CREATE TABLE b_file_duplicate (
  DUPLICATE_ID int(11) NOT NULL,
  ORIGINAL_ID int(11) NOT NULL,
  COUNTER int(11) NOT NULL DEFAULT 1,
  ORIGINAL_DELETED char(1) NOT NULL DEFAULT 'N',
  PRIMARY KEY (DUPLICATE_ID, ORIGINAL_ID),
  KEY ix_file_duplicate_original (ORIGINAL_ID)
);
CREATE TABLE b_iblock_element (
  ID int(11) NOT NULL AUTO_INCREMENT,
  TIMESTAMP_X datetime DEFAULT NULL,
  IBLOCK_ID int(11) NOT NULL DEFAULT 0,
  IBLOCK_SECTION_ID int(11) DEFAULT NULL,
  ACTIVE char(1) NOT NULL DEFAULT 'Y',
  SORT int(11) NOT NULL DEFAULT 500,
  NAME varchar(255) NOT NULL,
  PREVIEW_PICTURE int(18) DEFAULT NULL,
  PREVIEW_TEXT text DEFAULT NULL,
  PREVIEW_TEXT_TYPE varchar(4) NOT NULL DEFAULT 'text',
  DETAIL_PICTURE int(18) DEFAULT NULL,
  DETAIL_TEXT longtext DEFAULT NULL,
  DETAIL_TEXT_TYPE varchar(4) NOT NULL DEFAULT 'text',
  XML_ID varchar(255) DEFAULT NULL,
  CODE varchar(255) DEFAULT NULL,
  PRIMARY KEY (ID),
  KEY ix_iblock_element_1 (IBLOCK_ID, IBLOCK_SECTION_ID)
);
CREATE TABLE b_clouds_file_bucket (
  ID int(11) NOT NULL AUTO_INCREMENT,
  ACTIVE char(1) DEFAULT 'Y',
  SORT int(11) DEFAULT 500,
  READ_ONLY char(1) DEFAULT 'N',
  SERVICE_ID varchar(50) DEFAULT NULL,
  BUCKET varchar(63) DEFAULT NULL,
  LOCATION varchar(50) DEFAULT NULL,
  CNAME varchar(100) DEFAULT NULL,
  FILE_COUNT int(11) DEFAULT 0,
  FILE_SIZE double DEFAULT 0,
  PRIMARY KEY (ID)
);
"""

BIG_TABLES = {
    "b_file": [
        "ID",
        "TIMESTAMP_X",
        "MODULE_ID",
        "HEIGHT",
        "WIDTH",
        "FILE_SIZE",
        "CONTENT_TYPE",
        "SUBDIR",
        "FILE_NAME",
        "ORIGINAL_NAME",
        "DESCRIPTION",
        "HANDLER_ID",
        "EXTERNAL_ID",
    ],
    "b_file_duplicate": ["DUPLICATE_ID", "ORIGINAL_ID", "COUNTER", "ORIGINAL_DELETED"],
    "b_iblock_element": [
        "ID",
        "TIMESTAMP_X",
        "IBLOCK_ID",
        "IBLOCK_SECTION_ID",
        "ACTIVE",
        "SORT",
        "NAME",
        "PREVIEW_PICTURE",
        "PREVIEW_TEXT",
        "PREVIEW_TEXT_TYPE",
        "DETAIL_PICTURE",
        "DETAIL_TEXT",
        "DETAIL_TEXT_TYPE",
        "XML_ID",
        "CODE",
    ],
}


def sql_literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "'Y'" if value else "'N'"
    if isinstance(value, int):
        return str(value)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{text}'"


def tsv_field(value: object) -> str:
    if value is None:
        return "\\N"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def inserts(table: str, columns: Sequence[str], rows: Iterable[Row], batch: int = 1000) -> Iterable[str]:
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES\n"
    chunk: list[str] = []
    for row in rows:
        chunk.append("(" + ", ".join(sql_literal(v) for v in row) + ")")
        if len(chunk) >= batch:
            yield head + ",\n".join(chunk) + ";\n"
            chunk = []
    if chunk:
        yield head + ",\n".join(chunk) + ";\n"


class DbLoader:
    """Creates the database and its user and loads rows, through the mysql client as root (unix socket)."""

    def __init__(self, mode: str, name: str, user: str, password: str, workdir: Path, sqlfile: Path | None):
        self.mode = mode
        self.name = name
        self.user = user
        self.password = password
        self.workdir = workdir
        self.sqlfile = sqlfile
        self.statements: list[str] = []
        self.big: dict[str, Path] = {}
        self.row_counts: dict[str, int] = {}

    def add(self, sql: str) -> None:
        self.statements.append(sql)

    def add_rows(self, table: str, columns: Sequence[str], rows: Iterable[Row]) -> None:
        for stmt in inserts(table, columns, self._count(rows, table)):
            self.statements.append(stmt)

    def _count(self, rows: Iterable[Row], table: str) -> Iterable[Row]:
        for row in rows:
            self.row_counts[table] = self.row_counts.get(table, 0) + 1
            yield row

    def add_big(self, table: str, rows: Iterable[Row]) -> None:
        """Rows of a big table go to a TSV file loaded with LOAD DATA LOCAL INFILE."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / f"{table}.tsv"
        n = 0
        with path.open("w", encoding="utf-8", newline="\n") as fh:
            buf: list[str] = []
            for row in rows:
                buf.append("\t".join(tsv_field(v) for v in row))
                n += 1
                if len(buf) >= 20000:
                    fh.write("\n".join(buf) + "\n")
                    buf = []
            if buf:
                fh.write("\n".join(buf) + "\n")
        self.big[table] = path
        self.row_counts[table] = self.row_counts.get(table, 0) + n

    def _create_sql(self) -> str:
        pw = sql_literal(self.password)
        return (
            f"DROP DATABASE IF EXISTS `{self.name}`;\n"
            f"CREATE DATABASE `{self.name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n"
            f"DROP USER IF EXISTS '{self.user}'@'localhost';\n"
            f"CREATE USER '{self.user}'@'localhost' IDENTIFIED BY {pw};\n"
            f"GRANT ALL PRIVILEGES ON `{self.name}`.* TO '{self.user}'@'localhost';\n"
            "FLUSH PRIVILEGES;\n"
            f"USE `{self.name}`;\n"
        )

    def _load_sql(self) -> str:
        return "".join(self._load_sql_one(table, path) for table, path in self.big.items())

    def run(self) -> None:
        if self.mode == "none":
            return
        if self.mode == "sqlfile":
            assert self.sqlfile is not None
            self.sqlfile.parent.mkdir(parents=True, exist_ok=True)
            with self.sqlfile.open("w", encoding="utf-8") as fh:
                fh.write(self._create_sql())
                fh.write(DDL)
                for stmt in self.statements:
                    fh.write(stmt)
                for table, path in self.big.items():
                    fh.write(f"-- {table}: rows in {path.name}\n")
                    fh.write(self._load_sql_one(table, path))
            return
        script = (
            self._create_sql() + DDL + "".join(self.statements) + "SET unique_checks=0;\n" + self._load_sql()
        )
        env = dict(os.environ)
        proc = subprocess.run(
            ["mysql", "--local-infile=1", "--default-character-set=utf8mb4", "-uroot"],
            input=script.encode("utf-8"),
            capture_output=True,
            env=env,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError("mysql failed: " + proc.stderr.decode("utf-8", "replace")[-2000:])
        # Fresh statistics now, as a site that has lived a while has them: InnoDB otherwise recalculates them in
        # the background after the bulk load, and the sizes information_schema reports change under a reader.
        proc = subprocess.run(["mysqlcheck", "-uroot", "--analyze", "--silent", "--databases", self.name],
                              capture_output=True, env=env, check=False)
        if proc.returncode != 0:
            raise RuntimeError("mysqlcheck --analyze failed: " + proc.stderr.decode("utf-8", "replace")[-2000:])
        for path in self.big.values():
            path.unlink()
        if self.workdir.is_dir() and not any(self.workdir.iterdir()):
            self.workdir.rmdir()

    def _load_sql_one(self, table: str, path: Path) -> str:
        cols = ", ".join(BIG_TABLES[table])
        return (
            f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE {table} CHARACTER SET utf8mb4 "
            f"FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({cols});\n"
        )

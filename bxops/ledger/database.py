"""Opening the ledger: engine set-up for SQLite (WAL, busy timeout) and PostgreSQL, migrations on open."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bxops.errors import LedgerUnavailable

#: The newest migration; `open_ledger` upgrades any database that is not at it.
SCHEMA_HEAD = "0006"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 60_000
_PG_MIGRATION_LOCK = 0x62786F7073  # "bxops"


def normalise_url(raw: str) -> URL:
    """Parse a ledger URL; a bare path means a SQLite file; postgres URLs use psycopg 3."""
    if "://" not in raw:
        return URL.create("sqlite", database=str(Path(raw).expanduser().resolve()))
    try:
        url = make_url(raw)
    except ArgumentError:
        raise LedgerUnavailable(f"ledger URL is not valid: {raw!r}") from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise LedgerUnavailable(f"ledger URL must be sqlite or postgresql, got {url.drivername!r}")
    return url


def describe(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _enable_wal(cursor: sqlite3.Cursor) -> None:
    """Switch to WAL, waiting while other processes open the same fresh file.

    Changing the journal mode needs the file to itself and SQLite answers "database is locked" at
    once instead of calling the busy handler; the mode is persistent, so once any process has set
    it the others find it set.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _setup_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front, so a transaction never fails half-way with
        # SQLITE_BUSY when a second engineer writes at the same moment; the busy timeout waits.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: URL) -> Engine:
    try:
        if url.get_backend_name() == "sqlite":
            database = url.database or ""
            if database and database != ":memory:":
                parent = Path(database).parent
                if not parent.is_dir():
                    parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
            _setup_sqlite(engine)
            return engine
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    except NoSuchModuleError:
        raise LedgerUnavailable(f"no database driver for {url.drivername!r}") from None
    except OSError as error:
        raise LedgerUnavailable(f"ledger {describe(url)}: {error.strerror or error}") from None


def _current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
        return None if row is None else str(row[0])


def _upgrade(engine: Engine) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # Two processes opening a fresh database at once: one migrates, the other waits.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _short_reason(error: DBAPIError) -> str:
    reason = str(error.orig) if error.orig is not None else str(error)
    return reason.strip().splitlines()[0] if reason.strip() else type(error).__name__


@dataclass
class Ledger:
    engine: Engine
    url: URL
    sessions: sessionmaker[Session]

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One short transaction: committed on success, rolled back whole on any error."""
        with self.sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def open_ledger(raw_url: str) -> Ledger:
    """Connect, bring the schema to the newest migration, and return the ledger."""
    url = normalise_url(raw_url)
    engine = make_engine(url)
    try:
        if _current_revision(engine) != SCHEMA_HEAD:
            _upgrade(engine)
    except OperationalError as error:
        engine.dispose()
        raise LedgerUnavailable(f"ledger {describe(url)} unreachable: {_short_reason(error)}") from None
    except DBAPIError as error:
        engine.dispose()
        raise LedgerUnavailable(f"ledger {describe(url)}: {_short_reason(error)}") from None
    return Ledger(engine=engine, url=url, sessions=sessionmaker(engine, expire_on_commit=False))

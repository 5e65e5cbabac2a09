"""Engines configured the same way for the library, the CLI and Alembic's ``env.py``.

SQLite gets WAL, ``synchronous=NORMAL``, a busy timeout and foreign keys, and real
transactions: the driver's implicit ones are switched off and ``BEGIN`` (or
``BEGIN IMMEDIATE`` for writes, see :data:`WRITE`) is emitted explicitly, so that a
read-modify-write never has to upgrade a read lock, which SQLite would refuse at once.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from alembic.util.exc import CommandError
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from sessionstore.errors import InvalidArgumentError, SessionStoreError, StoreUnavailableError

__all__ = [
    "BUSY_TIMEOUT_MS",
    "WRITE",
    "create_sql_engine",
    "database_errors",
    "ensure_sqlite_file",
    "mask_url",
    "sqlite_file",
    "sqlite_pragmas",
]

#: How long SQLite waits for another writer before reporting "database is locked".
BUSY_TIMEOUT_MS = 10_000
#: Execution options for a connection that will write: ``BEGIN IMMEDIATE`` on SQLite.
WRITE = {"sqlite_begin": "BEGIN IMMEDIATE"}


def sqlite_file(url: str | URL) -> Path | None:
    """The file behind a SQLite URL; ``None`` for other databases and in-memory ones."""
    parsed = make_url(url) if isinstance(url, str) else url
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return Path(database)


def ensure_sqlite_file(url: str | URL) -> None:
    """Create a SQLite file's directory (0700) and the file (0600) if they are missing,
    so that the database is private from its first byte."""
    path = sqlite_file(url)
    if path is None or path.exists():
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def mask_url(url: str | URL) -> str:
    """The URL with any password replaced by ``***``, safe for messages and logs.

    >>> mask_url("postgresql+psycopg://bob:secret@db/app")
    'postgresql+psycopg://bob:***@db/app'
    """
    parsed = _parse(url)
    return "<unparsable URL>" if parsed is None else parsed.render_as_string(hide_password=True)


def _parse(url: str | URL) -> URL | None:
    try:
        return make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return None


@contextmanager
def database_errors(url: str | URL, action: str) -> Iterator[None]:
    """The one place where database, driver and Alembic errors become ours.

    Unreachable servers and locked files become :class:`StoreUnavailableError`, the
    rest :class:`SessionStoreError`; the message names the action and the masked URL
    and never contains the password.
    """
    try:
        yield
    except SessionStoreError:
        raise
    except (SQLAlchemyError, CommandError, OSError, sqlite3.Error) as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        parsed = _parse(url)
        password = parsed.password if parsed is not None else None
        if password:
            detail = detail.replace(str(password), "***")
        message = f"{action} failed on {mask_url(url)}: {detail}"
        unreachable = isinstance(
            exc, OperationalError | InterfaceError | OSError | sqlite3.OperationalError
        )
        raise (StoreUnavailableError if unreachable else SessionStoreError)(message) from exc


def _json_dumps(value: Any) -> str:
    # bytes are JSON encoded already (see JSONDocument)
    return value.decode() if isinstance(value, bytes) else orjson.dumps(value).decode()


def create_sql_engine(url: str | URL, **options: Any) -> Engine:
    """An engine for ``url`` with this library's connection settings."""
    parsed = _parse(url)
    if parsed is None:
        # not echoed: an unparsable URL may still hold a password
        raise InvalidArgumentError("not a database URL (expected dialect+driver://...)")
    options.setdefault("json_serializer", _json_dumps)
    options.setdefault("json_deserializer", orjson.loads)
    if parsed.get_backend_name() == "sqlite":
        memory = parsed.database in (None, "", ":memory:")
        if memory:
            options.setdefault("poolclass", StaticPool)
        connect_args = options.setdefault("connect_args", {})
        connect_args.setdefault("check_same_thread", False)
        connect_args.setdefault("timeout", BUSY_TIMEOUT_MS / 1000)
        engine = create_engine(parsed, **options)
        _configure_sqlite(engine, wal=not memory)
        return engine
    options.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **options)


def sqlite_pragmas(dbapi_connection: Any, *, wal: bool) -> None:
    """This library's settings on a sqlite3 connection (shared with the read path that
    uses the driver directly)."""
    # Let the caller, not the driver, decide where transactions begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    if wal:
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    # LIKE compares case-sensitively on the other databases; make SQLite agree.
    cursor.execute("PRAGMA case_sensitive_like=ON")
    cursor.close()


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        sqlite_pragmas(dbapi_connection, wal=wal)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        statement = conn.get_execution_options().get("sqlite_begin", "BEGIN")
        conn.exec_driver_sql(statement)

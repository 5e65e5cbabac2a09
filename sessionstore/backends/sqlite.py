"""The embedded default: one agent's sessions in a SQLite file, through ``sqlite3``.

Statements are SQLAlchemy's (:mod:`sessionstore.sql.statements`), compiled once to
SQLite text per process; every call then goes straight to the driver, which costs a
fraction of SQLAlchemy's per-statement work. Each thread has its own connection, with
WAL, ``synchronous=NORMAL`` and a busy timeout. A read is one ``SELECT`` in autocommit
mode (one consistent snapshot); a write is one ``BEGIN IMMEDIATE`` transaction, so a
read-modify-write never has to upgrade a read lock.

The schema is still Alembic's: opening a file at the head revision costs one query;
anything else goes through :mod:`sessionstore.sql.upgrade`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

from sessionstore.entry import MAX_ENTRY_BYTES
from sessionstore.errors import SessionStoreError, StoreUnavailableError
from sessionstore.sql import upgrade as schema
from sessionstore.sql.engine import (
    BUSY_TIMEOUT_MS,
    create_sql_engine,
    ensure_sqlite_file,
    sqlite_file,
    sqlite_pragmas,
)
from sessionstore.sql.rowstore import Params, Row, RowStore, Transaction
from sessionstore.sql.schema import VERSION_TABLE
from sessionstore.sql.statements import BLOB_BODY, DELETE, DELETE_IF_OLDER, key_params

__all__ = ["SqliteStore"]

# Compiled SQL per statement object, shared by every store of the process:
# (text, parameter names in order, parameters with a fixed value such as OFFSET 0).
_Compiled = tuple[str, tuple[str, ...], dict[str, Any]]
_COMPILED: dict[Any, _Compiled] = {}
_DIALECT = SQLiteDialect_pysqlite()
_VERSION_QUERY = f"SELECT version_num FROM {VERSION_TABLE}"
# "database is locked" after the busy timeout, or SQLITE_BUSY_SNAPSHOT: a retry helps.
_TRANSIENT = ("database is locked", "database is busy")


def _compiled(stmt: Any) -> _Compiled:
    found = _COMPILED.get(stmt)
    if found is None:
        compiled = stmt.compile(dialect=_DIALECT)
        found = (str(compiled), tuple(compiled.positiontup or ()), dict(compiled.params))
        _COMPILED[stmt] = found
    return found


def _bound(compiled: _Compiled, params: Params) -> list[Any]:
    """Positional values; encoded JSON (bytes) goes in as TEXT, as SQLAlchemy stores it."""
    _sql, names, fixed = compiled
    values = {**fixed, **params} if fixed else params
    return [v.decode() if isinstance(v := values[name], bytes) else v for name in names]


def _rows(conn: sqlite3.Connection, stmt: Any, params: Params) -> list[Row]:
    compiled = _compiled(stmt)
    return conn.execute(compiled[0], _bound(compiled, params)).fetchall()


class _DriverTransaction:
    """A :class:`~sessionstore.sql.rowstore.Transaction` on one sqlite3 connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def rows(self, stmt: Any, params: Params) -> list[Row]:
        return _rows(self._conn, stmt, params)

    def run(self, stmt: Any, params: Params | Sequence[Params]) -> int:
        compiled = _compiled(stmt)
        if isinstance(params, Mapping):
            return self._conn.execute(compiled[0], _bound(compiled, params)).rowcount
        rows = [_bound(compiled, p) for p in params]
        return self._conn.executemany(compiled[0], rows).rowcount


class SqliteStore(RowStore):
    """:class:`~sessionstore.contract.SessionStore` in a SQLite file.

    >>> import tempfile, os
    >>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "sessions.db")
    >>> with SqliteStore(url, auto_upgrade=True) as store:
    ...     store.put("agent:main:main", {"sessionId": "s1", "updatedAt": 1})
    1
    """

    def __init__(
        self,
        url: str,
        *,
        agent_id: str = "main",
        auto_upgrade: bool = False,
        max_entry_bytes: int = MAX_ENTRY_BYTES,
    ) -> None:
        super().__init__(agent_id=agent_id, max_entry_bytes=max_entry_bytes, dialect="sqlite")
        path = sqlite_file(url)
        if path is None:
            raise SessionStoreError(
                f"{url} is not a SQLite file: open it through SQLAlchemy (sqlite+pysqlite://)"
            )
        self._path = path
        self._url = url
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._trace: Callable[[str], None] | None = None
        try:
            self._open_schema(auto_upgrade)
        except BaseException:
            self.close()
            raise

    @property
    def url(self) -> str:
        """The database URL."""
        return self._url

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    # -- connections -------------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (for tools and tests; the store owns it)."""
        return self._connection()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():  # not across a fork
            conn = sqlite3.connect(
                self._path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
            sqlite_pragmas(conn, wal=True)
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._lock:
                conn.set_trace_callback(self._trace)
                self._opened.append(conn)
        return conn

    def _open_schema(self, auto_upgrade: bool) -> None:
        """Refuse or upgrade a schema behind the head revision (Alembic only then)."""
        with self._errors("open"):
            if not self._path.exists():
                if not auto_upgrade:
                    schema.require_head(None, self._url)  # refuse before creating anything
                ensure_sqlite_file(self._url)
            elif self._at_head():
                return  # the common case: one query
            engine = create_sql_engine(self._url)
            try:
                current = schema.current_revision(engine)
                if (
                    current != schema.head_revision()
                    and auto_upgrade
                    and schema.is_known_revision(current)
                ):
                    schema.upgrade(engine)
                    current = schema.current_revision(engine)
            finally:
                engine.dispose()
        schema.require_head(current, self._url)

    def _at_head(self) -> bool:
        try:
            rows = self._connection().execute(_VERSION_QUERY).fetchall()
        except sqlite3.OperationalError:
            return False  # no version table yet: the full check says what to do
        return [row[0] for row in rows] == [schema.head_revision()]

    # -- the I/O edge ------------------------------------------------------------------

    def _read(self, stmt: Any, params: Params) -> list[Row]:
        return _rows(self._connection(), stmt, params)

    def _read_blob_bodies(self, digests: list[str]) -> list[Row]:
        # A handful of digests per read, most of them cached: point look-ups by key.
        return [row for digest in digests for row in self._read(BLOB_BODY, {"digest": digest})]

    def _delete_keys(self, tx: Transaction, keys: list[str], before: int | None) -> int:
        # One executemany of the one-row DELETE: no IN list to compile per length.
        stmt = DELETE if before is None else DELETE_IF_OLDER
        rows = [{**key_params(self._agent_id, key), "before": before} for key in keys]
        return tx.run(stmt, rows)

    @contextmanager
    def _transaction(self) -> Iterator[Transaction]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield _DriverTransaction(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """The one place where driver and file errors become this library's."""
        try:
            yield
        except SessionStoreError:
            raise
        except (sqlite3.OperationalError, OSError) as exc:
            raise StoreUnavailableError(f"{action} failed on {self._url}: {exc}") from exc
        except sqlite3.Error as exc:
            raise SessionStoreError(f"{action} failed on {self._url}: {exc}") from exc

    def _is_transient(self, exc: Exception) -> bool:
        if isinstance(exc, sqlite3.IntegrityError):
            return True  # two writers inserted the same new key: the loser retries
        return isinstance(exc, sqlite3.OperationalError) and any(
            text in str(exc).lower() for text in _TRANSIENT
        )

    # -- SQLite only -------------------------------------------------------------------

    def trace(self, callback: Callable[[str, Any], None] | None) -> None:
        """Call ``callback(sql, ())`` for every statement this store sends (values
        inlined by SQLite), for tests and debugging; ``None`` stops."""
        hook = None if callback is None else (lambda sql: callback(sql, ()))
        with self._lock:
            self._trace = hook
            for conn in self._opened:
                conn.set_trace_callback(hook)

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"SqliteStore({self._url!r}, agent_id={self._agent_id!r})"

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
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.sql.compiler import SQLCompiler

from sessionstore.contract import TranscriptTier
from sessionstore.entry import MAX_ENTRY_BYTES
from sessionstore.errors import InvalidArgumentError, SessionStoreError, StoreUnavailableError
from sessionstore.sql import upgrade as schema
from sessionstore.sql.engine import (
    BUSY_TIMEOUT_MS,
    create_sql_engine,
    ensure_sqlite_file,
    read_only_storage,
    sqlite_file,
    sqlite_pragmas,
    sqlite_read_only,
)
from sessionstore.sql.rowstore import Params, Row, RowStore, Transaction
from sessionstore.sql.schema import VERSION_TABLE

__all__ = ["SqliteStore"]

_DIALECT = SQLiteDialect_pysqlite()
_VERSION_QUERY = f"SELECT version_num FROM {VERSION_TABLE}"
# The page cache of a bulk load, in KiB (a negative cache_size): 64 MiB at most, taken
# only as the load needs it.
_BULK_CACHE_SIZE = -65_536
# "database is locked" after the busy timeout, or SQLITE_BUSY_SNAPSHOT: a retry helps.
_TRANSIENT = ("database is locked", "database is busy")


@dataclass(frozen=True, slots=True)
class _Sql:
    """A statement's SQLite text and where the value of each placeholder comes from."""

    text: str
    #: the parameter of each placeholder, in order
    names: tuple[str, ...]
    #: parameters with a value of their own, such as the OFFSET 0 of a bound LIMIT
    fixed: dict[str, Any]
    #: for a list parameter (``IN (...)``), which element each placeholder takes
    elements: tuple[int | None, ...] | None = None
    #: the values of ``names`` from a mapping, at C speed (for executemany's rows)
    pick: Callable[[Params], Any] = field(init=False)

    def __post_init__(self) -> None:
        names = self.names
        pick = itemgetter(*names) if len(names) > 1 else (lambda p: tuple(p[n] for n in names))
        object.__setattr__(self, "pick", pick)

    def values(self, params: Params) -> list[Any]:
        """Positional values. Encoded JSON (bytes) goes in as TEXT, as SQLAlchemy
        stores it."""
        given = {**self.fixed, **params} if self.fixed else params
        if self.elements is None:
            chosen = self.pick(given)
        else:
            chosen = [
                given[name] if i is None else given[name][i]
                for name, i in zip(self.names, self.elements, strict=True)
            ]
        return [v.decode() if isinstance(v, bytes) else v for v in chosen]


# Every store of the process shares the compiled statements, by statement (statements
# are built once per shape, see statements.py), and for a statement with list
# parameters by statement and the lengths of its lists. Both caches drop the least
# recently used beyond their size, so a long-running process never grows them.
_COMPILED_MAX = 512


@dataclass(frozen=True, slots=True)
class _WithLists:
    """A statement with list parameters, compiled once; expanded per list lengths."""

    compiled: SQLCompiler
    #: the names of its list parameters, sorted
    lists: tuple[str, ...]


@lru_cache(maxsize=_COMPILED_MAX)
def _compiled(stmt: Any) -> _Sql | _WithLists:
    compiled = stmt.compile(dialect=_DIALECT)
    lists = tuple(sorted(b.key for b in compiled.post_compile_params))
    if lists:
        return _WithLists(compiled, lists)
    return _Sql(str(compiled), tuple(compiled.positiontup or ()), dict(compiled.params))


@lru_cache(maxsize=_COMPILED_MAX)
def _expanded(stmt: Any, lengths: tuple[int, ...]) -> _Sql:
    found = _compiled(stmt)
    assert isinstance(found, _WithLists)
    compiled, lists = found.compiled, found.lists
    placeholders = dict(zip(lists, ([None] * n for n in lengths), strict=True))
    state = compiled.construct_expanded_state({**compiled.params, **placeholders})
    names, elements = [], []
    for name in state.positiontup or ():  # a list's placeholders are <list>_1, <list>_2 ...
        base, _, number = name.rpartition("_")
        listed = base in lists and number.isdigit()
        names.append(base if listed else name)
        elements.append(int(number) - 1 if listed else None)
    fixed = {k: v for k, v in compiled.params.items() if k not in lists}
    return _Sql(state.statement, tuple(names), fixed, tuple(elements))


def _sql(stmt: Any, params: Params) -> _Sql:
    """``stmt`` compiled for SQLite once (once per list length for ``IN`` lists)."""
    found = _compiled(stmt)
    if isinstance(found, _Sql):
        return found
    return _expanded(stmt, tuple(len(params[name]) for name in found.lists))


def _rows(conn: sqlite3.Connection, stmt: Any, params: Params) -> list[Row]:
    sql = _sql(stmt, params)
    return conn.execute(sql.text, sql.values(params)).fetchall()


class _DriverTransaction:
    """A :class:`~sessionstore.sql.rowstore.Transaction` on one sqlite3 connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def rows(self, stmt: Any, params: Params) -> list[Row]:
        return _rows(self._conn, stmt, params)

    def run(self, stmt: Any, params: Params | Sequence[Params]) -> int:
        if isinstance(params, Mapping):
            sql = _sql(stmt, params)
            return self._conn.execute(sql.text, sql.values(params)).rowcount
        if not params:
            return 0
        sql = _sql(stmt, params[0])  # an executemany has no list parameters
        return self._conn.executemany(sql.text, [sql.values(p) for p in params]).rowcount


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
        read_only: bool = False,
        max_entry_bytes: int = MAX_ENTRY_BYTES,
        transcripts: TranscriptTier | None = None,
        transcripts_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(
            agent_id=agent_id,
            max_entry_bytes=max_entry_bytes,
            dialect="sqlite",
            transcripts=transcripts,
            transcripts_dir=transcripts_dir,
        )
        path = sqlite_file(url)
        if path is None:
            raise SessionStoreError(
                f"{url} is not a SQLite file: open it through SQLAlchemy (sqlite+pysqlite://)"
            )
        if read_only and auto_upgrade:
            raise InvalidArgumentError("a store opened read_only cannot auto_upgrade")
        self._path = path
        self._url = url
        self._read_only = read_only
        self._local = threading.local()
        # every connection opened, with the thread and process it serves
        self._opened: list[tuple[threading.Thread, int, sqlite3.Connection]] = []
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
    def read_only(self) -> bool:
        """Whether the store was opened ``read_only``: it reads, writes nothing, and
        leaves the file as it found it."""
        return self._read_only

    # -- connections -------------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (the store owns it)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():  # not across a fork
            conn = self._connect()
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._lock:
                conn.set_trace_callback(self._trace)
                # Threads come and go in a long-running process: the connections of
                # those that ended are closed here, not kept until close(). After a
                # fork the parent's threads look ended, but their connections are the
                # parent's: they are let go without being closed.
                pid = os.getpid()
                ended = [c for t, p, c in self._opened if p == pid and not t.is_alive()]
                self._opened = [(t, p, c) for t, p, c in self._opened if t.is_alive()]
                self._opened.append((threading.current_thread(), pid, conn))
            for old in ended:
                old.close()
        return conn

    def _connect(self) -> sqlite3.Connection:
        """A connection with this library's settings: read-only when the store is, or
        when nothing can be written where the file is."""
        if self._read_only or read_only_storage(self._path):
            return sqlite_read_only(self._path)
        conn = sqlite3.connect(self._path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
        sqlite_pragmas(conn, wal=True)
        return conn

    def _open_schema(self, auto_upgrade: bool) -> None:
        """Refuse or upgrade a schema behind the head revision (Alembic only then)."""
        with self._errors("open"):
            if not self._path.exists():
                if self._read_only:
                    raise StoreUnavailableError(
                        f"open failed on {self._url}: no database file (opened read-only)"
                    )
                if not auto_upgrade:
                    schema.require_head(None, self._url)  # refuse before creating anything
                ensure_sqlite_file(self._url)
            else:
                stored = self._revisions()
                if stored == [schema.head_revision()]:
                    return  # the common case: one query
                if self._read_only:
                    schema.require_head(stored[0] if stored else None, self._url)
                    return
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

    def _revisions(self) -> list[str]:
        """The revisions the version table holds (none: no table yet)."""
        try:
            rows = self.connection().execute(_VERSION_QUERY).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        return [str(row[0]) for row in rows]

    # -- the I/O edge ------------------------------------------------------------------

    def _read(self, stmt: Any, params: Params) -> list[Row]:
        return _rows(self.connection(), stmt, params)

    @contextmanager
    def _transaction(self) -> Iterator[Transaction]:
        if self._read_only:
            raise StoreUnavailableError(f"{self._url} is open read-only: it takes no writes")
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield _DriverTransaction(conn)
            conn.execute("COMMIT")
        except BaseException:
            self._roll_back(conn)
            raise

    @contextmanager
    def _large_write(self, large: bool) -> Iterator[None]:
        """A page cache large enough that a bulk load does not write pages out before
        its commit (and then again), restored afterwards."""
        if not large or self._read_only:
            yield
            return
        conn = self.connection()
        with self._errors("put_many"):
            before = conn.execute("PRAGMA cache_size").fetchone()[0]
            conn.execute(f"PRAGMA cache_size={_BULK_CACHE_SIZE}")
        try:
            yield
        finally:
            with suppress(sqlite3.Error):
                conn.execute(f"PRAGMA cache_size={int(before)}")

    def _roll_back(self, conn: sqlite3.Connection) -> None:
        """Undo the open transaction, never hiding the error that got here. After some
        errors (a full disk, an I/O error) SQLite has rolled back already; a connection
        whose ROLLBACK fails is not used again."""
        if not conn.in_transaction:
            return
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            with self._lock:
                self._opened = [(t, p, c) for t, p, c in self._opened if c is not conn]
            self._local.conn = None
            with suppress(sqlite3.Error):
                conn.close()

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

    def _sqlite_connection(self) -> AbstractContextManager[sqlite3.Connection | None]:
        return nullcontext(None if self._read_only else self.connection())

    # -- SQLite only -------------------------------------------------------------------

    def trace(self, callback: Callable[[str, Any], None] | None) -> None:
        """Call ``callback(sql, ())`` for every statement this store sends (values
        inlined by SQLite), for tests and debugging; ``None`` stops."""
        hook = None if callback is None else (lambda sql: callback(sql, ()))
        with self._lock:
            self._trace = hook
            for _, _, conn in self._opened:
                conn.set_trace_callback(hook)

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for _, _, conn in opened:
            conn.close()
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"SqliteStore({self._url!r}, agent_id={self._agent_id!r})"

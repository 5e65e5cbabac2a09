"""The SQL backend: one agent's sessions in the ``sessions`` table of any SQLAlchemy URL.

Hot paths are single indexed statements through SQLAlchemy Core (cached compiled
SQL, no ORM identity map): ``get`` reads one row, ``put`` is one upsert that writes
``entry_json`` and its projected columns together, ``list`` reads index columns only.
Read-modify-write operations lock the row (``SELECT ... FOR UPDATE`` on the servers,
``BEGIN IMMEDIATE`` on SQLite) and are retried on transient conflicts.
"""

from __future__ import annotations

import builtins
import dataclasses
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar, Unpack

import orjson
from pydantic import TypeAdapter
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Engine,
    Text,
    and_,
    any_,
    bindparam,
    delete,
    event,
    func,
    insert,
    literal_column,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from sessionstore import lifecycle
from sessionstore.entry import (
    MAX_ENTRY_BYTES,
    SessionEntry,
    SessionPage,
    SessionSummary,
    as_entry,
    check_size,
    validate_agent_id,
    validate_key,
)
from sessionstore.errors import InvalidArgumentError, StaleEntryError
from sessionstore.lifecycle import CleanupOptions, CleanupReport
from sessionstore.openclaw.merge import merge_entry
from sessionstore.openclaw.merge import now_ms as current_time_ms
from sessionstore.openclaw.transcripts import Transcripts
from sessionstore.projection import INDEX_COLUMNS, project
from sessionstore.sql import upgrade as schema
from sessionstore.sql.blobs import BLOB_COLUMNS, Blob, join, split
from sessionstore.sql.engine import (
    BUSY_TIMEOUT_MS,
    WRITE,
    create_sql_engine,
    database_errors,
    ensure_sqlite_file,
    mask_url,
    sqlite_file,
    sqlite_pragmas,
)
from sessionstore.sql.schema import blobs as blob_table
from sessionstore.sql.schema import imports
from sessionstore.sql.schema import sessions as t
from sessionstore.store import (
    DEFAULT_PAGE_SIZE,
    FilterArgs,
    Filters,
    Order,
    Updater,
    batched,
    check_limit,
    check_order,
    decode_cursor,
    encode_cursor,
)

__all__ = ["ImportRecord", "SqlStore"]

T = TypeVar("T")

#: Attempts for a write that meets a transient conflict (busy, deadlock, race).
MAX_ATTEMPTS = 8
# Keys per DELETE ... IN (...): well inside every database's limit on parameters.
_DELETE_BATCH = 500

# The columns that hold the entry itself (the rest are projections of it).
_CONTENT = ("entry_json", *BLOB_COLUMNS)
# Statements by shape (which filters are set, the order, a cursor) and their SQLite
# text: both depend on no store, so every store of the process shares them.
_SHAPED: dict[tuple[Any, ...], Any] = {}
_SQLITE_SQL: dict[Any, tuple[str, tuple[str, ...], dict[str, Any]]] = {}
_VERSION_QUERY = "SELECT version_num FROM sessionstore_version"
# A page of summaries validated in one call rather than one model at a time.
_SUMMARIES = TypeAdapter(builtins.list[SessionSummary])
#: A writer refreshes a blob's last_used_at at most this often ...
BLOB_TOUCH_MS = 3_600_000
#: ... and collection spares blobs used within this grace: far longer, so a writer that
#: skipped the refresh never references a blob being collected.
BLOB_GRACE_MS = 24 * BLOB_TOUCH_MS
_BLOB_CACHE_BYTES = 16 * 1024 * 1024

# An inline literal: PyMySQL's executemany cannot bind parameters after VALUES (...).
_BUMP = t.c.version + literal_column("1")
# Key parameters are not named after the columns: INSERT/UPDATE reserve those names.
_KEY = and_(t.c.agent_id == bindparam("k_agent"), t.c.session_key == bindparam("k_key"))
# An entry is its row's entry_json plus the blobs its digests name.
_STORED = (t.c.entry_json, *(t.c[column] for column in BLOB_COLUMNS))
_GET = select(*_STORED).where(_KEY)
_GET_VERSION = select(t.c.version).where(_KEY)
_GET_WITH_VERSION = select(t.c.version, *_STORED).where(_KEY)
_LOCK_ROW = select(t.c.version, *_STORED).where(_KEY).with_for_update()
_BLOB_BODIES = select(blob_table.c.digest, blob_table.c.body).where(
    blob_table.c.digest.in_(bindparam("digests", expanding=True))
)
_DELETE = delete(t).where(_KEY)
_UPDATE_ROW = (
    update(t)
    .where(_KEY)
    .values(
        {
            **{name: bindparam(f"new_{name}") for name in (*INDEX_COLUMNS, *_CONTENT)},
            "version": _BUMP,
        }
    )
)
_INSERT_ROW = insert(t)
_SUMMARY_COLUMNS = (t.c.session_key, *(t.c[name] for name in INDEX_COLUMNS))
_WRITTEN = ("session_id", *INDEX_COLUMNS[1:], *_CONTENT)


def _blob_upsert(dialect: str) -> Any:
    """Insert a blob, or refresh its ``last_used_at`` when that is older than
    :data:`BLOB_TOUCH_MS`; the body of an existing digest never changes. (The interval
    is a literal: PyMySQL's executemany cannot bind parameters after VALUES.)"""
    touch: ColumnElement[int] = literal_column(str(BLOB_TOUCH_MS))
    if dialect in ("mysql", "mariadb"):
        my = mysql.insert(blob_table)
        new = my.inserted.last_used_at
        stale = blob_table.c.last_used_at < new - touch
        return my.on_duplicate_key_update(
            last_used_at=func.if_(stale, new, blob_table.c.last_used_at)
        )
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(blob_table)
    return stmt.on_conflict_do_update(
        index_elements=[blob_table.c.digest],
        set_={"last_used_at": stmt.excluded.last_used_at},
        where=blob_table.c.last_used_at < stmt.excluded.last_used_at - touch,
    )


class _BlobCache:
    """Blob bodies by digest (immutable, so safe to reuse), and when this process last
    made sure each digest is stored; bounded by bytes."""

    def __init__(self, limit: int = _BLOB_CACHE_BYTES) -> None:
        self._bodies: dict[str, bytes] = {}
        self._ensured: dict[str, int] = {}
        self._size = 0
        self._limit = limit
        self._lock = threading.Lock()

    def bodies(self, digests: Iterable[str]) -> dict[str, bytes]:
        with self._lock:
            return {d: self._bodies[d] for d in digests if d in self._bodies}

    def add(self, digest: str, body: bytes) -> None:
        with self._lock:
            if digest in self._bodies or len(body) > self._limit:
                return
            while self._size + len(body) > self._limit:
                oldest = next(iter(self._bodies))
                self._size -= len(self._bodies.pop(oldest))
            self._bodies[digest] = body
            self._size += len(body)

    def needs_write(self, digest: str, now: int) -> bool:
        with self._lock:
            return now - self._ensured.get(digest, -BLOB_TOUCH_MS) >= BLOB_TOUCH_MS

    def written(self, digests: Iterable[str], now: int) -> None:
        with self._lock:
            if len(self._ensured) > 65_536:
                self._ensured.clear()
            self._ensured.update(dict.fromkeys(digests, now))


class _SqliteReader:
    """Reads on a SQLite file through the ``sqlite3`` driver itself, one connection per
    thread, with the engine's settings.

    A single ``SELECT`` in autocommit mode reads one consistent snapshot, so the hot
    reads (get, list, count) need neither a transaction nor SQLAlchemy's per-call
    machinery, which costs ten times the query. Writes stay on the engine.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._local = threading.local()
        self._opened: builtins.list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._trace: Callable[[str], None] | None = None

    def trace(self, callback: Callable[[str], None] | None) -> None:
        """Report each statement's SQL (values inlined) to ``callback``."""
        with self._lock:
            self._trace = callback
            for conn in self._opened:
                conn.set_trace_callback(callback)

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():  # not across a fork
            conn = sqlite3.connect(
                self._path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
            sqlite_pragmas(conn, wal=True)
            conn.row_factory = sqlite3.Row
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._lock:
                conn.set_trace_callback(self._trace)
                self._opened.append(conn)
        return conn

    def rows(self, sql: str, params: Sequence[Any], *, plain: bool = False) -> builtins.list[Any]:
        """The result rows: mappings by column name, or with ``plain`` bare tuples
        (much cheaper to read by position)."""
        cursor = self.connection().cursor()
        if plain:
            cursor.row_factory = None
        return cursor.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()
        self._local = threading.local()


class _DirectResult:
    """The part of SQLAlchemy's result API the hot writes use, over sqlite3 rows."""

    def __init__(self, rows: builtins.list[Any], rowcount: int) -> None:
        self._rows, self.rowcount = rows, rowcount

    def mappings(self) -> _DirectResult:
        return self  # sqlite3.Row is a mapping already

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def scalar_one(self) -> Any:
        return self._rows[0][0]


class _DirectWrite:
    """A write transaction on SQLite through the driver itself, for the hot writes
    (put, patch, update): SQLAlchemy's per-statement work costs more than the write.
    Statements are SQLAlchemy's, compiled once; errors are raised as SQLAlchemy's, so
    retries and translation work as on the engine."""

    def __init__(self, conn: sqlite3.Connection, store: SqlStore) -> None:
        self._conn, self._store = conn, store
        self.info: dict[str, Any] = {}

    def execute(self, stmt: Any, params: Any) -> _DirectResult:
        sql, names, defaults = self._store._sqlite_sql(stmt)
        many = isinstance(params, builtins.list)
        rows = [self._values(names, defaults, p) for p in (params if many else [params])]
        try:
            if many:
                cursor = self._conn.executemany(sql, rows)
                return _DirectResult([], cursor.rowcount)
            cursor = self._conn.execute(sql, rows[0])
            return _DirectResult(cursor.fetchall(), cursor.rowcount)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, rows, exc, sqlite3.Error) from exc

    @staticmethod
    def _values(names: Sequence[str], defaults: Mapping[str, Any], params: Any) -> Any:
        values = {**defaults, **params}
        # entry_json arrives encoded; SQLite keeps JSON as TEXT, not as a BLOB
        return [v.decode() if isinstance(v := values[n], bytes) else v for n in names]


def archived_shape(filters: Mapping[str, Any]) -> object:
    """The part of a listing's shape that is not a parameter: archived true/false/any."""
    return filters.get("archived")


def _upsert(dialect: str) -> Any:
    """``INSERT ... ON CONFLICT/DUPLICATE KEY UPDATE`` that bumps the version."""
    if dialect in ("mysql", "mariadb"):
        my = mysql.insert(t)
        return my.on_duplicate_key_update(
            {**{name: my.inserted[name] for name in _WRITTEN}, "version": _BUMP}
        )
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(t)
    return stmt.on_conflict_do_update(
        index_elements=[t.c.agent_id, t.c.session_key],
        set_={**{name: stmt.excluded[name] for name in _WRITTEN}, "version": _BUMP},
    )


def _is_transient(exc: DBAPIError) -> bool:
    """Conflicts that a retry of the whole transaction resolves."""
    if isinstance(exc, IntegrityError):
        return True  # two writers inserted the same new key; the loser retries as an update
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code in ("40001", "40P01"):  # serialization failure, deadlock (PostgreSQL)
        return True
    args = getattr(orig, "args", ())
    if args and args[0] in (1205, 1213):  # lock wait timeout, deadlock (MySQL)
        return True
    text = str(orig).lower()
    return "database is locked" in text or "database is busy" in text


@dataclasses.dataclass(frozen=True)
class ImportRecord:
    """A verified import of one agent's ``sessions.json`` (``sessionstore_imports``)."""

    agent_id: str
    source: str
    entries: int
    checksum: str
    imported_at: int


class SqlStore:
    """:class:`~sessionstore.store.SessionStore` on a SQL database.

    >>> import tempfile, os
    >>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "sessions.db")
    >>> with SqlStore(url, auto_upgrade=True) as store:
    ...     store.put("agent:main:main", SessionEntry(session_id="s1", updated_at=1))
    1
    """

    def __init__(
        self,
        url: str,
        *,
        agent_id: str = "main",
        auto_upgrade: bool = False,
        engine_options: Mapping[str, Any] | None = None,
        max_entry_bytes: int = MAX_ENTRY_BYTES,
    ) -> None:
        self._agent_id = validate_agent_id(agent_id)
        self._max_entry_bytes = max_entry_bytes
        self._url = url
        self._masked_url = mask_url(url)
        with self._errors("open"):
            path = sqlite_file(url)
            if path is not None and not path.exists():
                if not auto_upgrade:
                    schema.require_head(None, url)  # refuse before creating anything
                ensure_sqlite_file(url)
            self._engine: Engine = create_sql_engine(url, **dict(engine_options or {}))
            self._reader = _SqliteReader(path) if path is not None else None
        try:
            self._check_schema(auto_upgrade)
        except BaseException:
            self.close()
            raise
        self._dialect = self._engine.dialect.name
        self._upsert = _upsert(self._dialect)
        self._blob_upsert = _blob_upsert(self._dialect)
        self._blob_cache = _BlobCache()
        self._tracer: Callable[..., None] | None = None
        self._returning = self._dialect in ("sqlite", "postgresql")
        self._upsert_returning = (
            self._upsert.returning(t.c.version) if self._returning else self._upsert
        )

    # -- plumbing -------------------------------------------------------------------

    @property
    def agent_id(self) -> str:
        return self._agent_id

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return self._masked_url

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tools and tests; the store owns it)."""
        return self._engine

    def _check_schema(self, auto_upgrade: bool) -> None:
        if self._reader is not None and self._at_head():
            return  # the common case, without Alembic's set-up
        with self._errors("open"):
            current = schema.current_revision(self._engine)
            if (
                current != schema.head_revision()
                and auto_upgrade
                and schema.is_known_revision(current)
            ):
                schema.upgrade(self._engine)
                current = schema.current_revision(self._engine)
        schema.require_head(current, self._url)

    def _at_head(self) -> bool:
        """Whether the SQLite file is at the head revision, read in one query."""
        assert self._reader is not None
        try:
            rows = self._reader.rows(_VERSION_QUERY, ())
        except sqlite3.Error:
            return False  # no version table yet: the full check says what to do
        return [row[0] for row in rows] == [schema.head_revision()]

    def _errors(self, action: str) -> AbstractContextManager[None]:
        return database_errors(self._url, action)

    def _key(self, key: str) -> dict[str, str]:
        return {"k_agent": self._agent_id, "k_key": key}

    def _params(
        self, key: str, entry: SessionEntry, blobs: list[Blob], prefix: str = ""
    ) -> dict[str, Any]:
        """Statement parameters: the projected columns and the row's content, encoded
        once; the entry's large values are appended to ``blobs`` (written first)."""
        data = entry.to_dict()
        stored, moved = split(data)
        encoded = orjson.dumps(stored)
        # each moved value's JSON replaced a 4-byte null: this is the entry's JSON size
        check_size(
            len(encoded) + sum(len(b.body) - 4 for b in moved.values()), self._max_entry_bytes
        )
        columns = project(data)
        columns["entry_json"] = encoded
        for column in BLOB_COLUMNS:
            blob = moved.get(column)
            columns[column] = None if blob is None else blob.digest
        blobs.extend(moved.values())
        params = {f"{prefix}{name}": value for name, value in columns.items()}
        params["agent_id"] = self._agent_id
        params["session_key"] = key
        return params

    def _write_blobs(self, conn: Connection, blobs: list[Blob]) -> None:
        """Make sure the blobs are stored, in the caller's transaction."""
        now = current_time_ms()
        todo = {b.digest: b for b in blobs if self._blob_cache.needs_write(b.digest, now)}
        if not todo:
            return
        rows = [
            {
                "digest": b.digest,
                "body": b.body.decode(),
                "bytes": len(b.body),
                "last_used_at": now,
            }
            for b in todo.values()
        ]
        conn.execute(self._blob_upsert, rows)
        # remembered only once the transaction commits (see _write)
        conn.info.setdefault("ensured_blobs", []).extend(todo)

    def _query(
        self, action: str, stmt: Any, params: Mapping[str, Any], *, plain: bool = False
    ) -> builtins.list[Any]:
        """Run a read; rows are mappings of column name to value, or with ``plain``
        sequences in the order of the statement's columns."""
        with self._errors(action):
            if self._reader is not None:
                sql, names, defaults = self._sqlite_sql(stmt)
                values = {**defaults, **params}
                return self._reader.rows(sql, [values[name] for name in names], plain=plain)
            # One statement is one consistent read: no BEGIN and ROLLBACK round trips.
            with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                result = conn.execute(stmt, params)
                return builtins.list(result) if plain else [row._mapping for row in result]

    def _sqlite_sql(self, stmt: Any) -> tuple[str, tuple[str, ...], dict[str, Any]]:
        """A statement's SQLite text, parameter order and parameters with a fixed value
        (such as the ``OFFSET 0`` that goes with a bound ``LIMIT``), compiled once."""
        found = _SQLITE_SQL.get(stmt)
        if found is None:
            compiled = stmt.compile(dialect=self._engine.dialect)
            found = (str(compiled), tuple(compiled.positiontup or ()), dict(compiled.params))
            _SQLITE_SQL[stmt] = found
        return found

    def _blob_bodies(self, digests: set[str]) -> dict[str, bytes]:
        bodies = self._blob_cache.bodies(digests)
        missing = sorted(digests - bodies.keys())
        if missing:
            if self._reader is not None:
                marks = ", ".join("?" * len(missing))
                sql = f"SELECT digest, body FROM session_blobs WHERE digest IN ({marks})"
                with self._errors("read blobs"):
                    found = self._reader.rows(sql, missing)
            else:
                found = self._query("read blobs", _BLOB_BODIES, {"digests": missing})
            for row in found:
                body = str(row["body"]).encode()
                bodies[row["digest"]] = body
                self._blob_cache.add(row["digest"], body)
        return bodies

    def _entries(self, rows: Sequence[Mapping[str, Any]]) -> builtins.list[SessionEntry]:
        """The entries of rows read with their blob digests."""
        refs = [{c: d for c in BLOB_COLUMNS if (d := row[c]) is not None} for row in rows]
        bodies = self._blob_bodies({digest for found in refs for digest in found.values()})
        entries = []
        for row, found in zip(rows, refs, strict=True):
            data = row["entry_json"]
            if isinstance(data, str | bytes):  # read through the driver itself
                data = orjson.loads(data)
            if found:
                data = join(data, {c: bodies[d] for c, d in found.items()})
            entries.append(SessionEntry._from_stored(data))
        return entries

    def _retry(self, action: str, attempt: Callable[[], T]) -> T:
        """Run one write transaction, retrying transient conflicts with backoff."""
        with self._errors(action):
            for n in range(1, MAX_ATTEMPTS + 1):
                try:
                    return attempt()
                except DBAPIError as exc:
                    if n == MAX_ATTEMPTS or not _is_transient(exc):
                        raise
                    time.sleep(random.uniform(0, 0.005 * 2**n))
        raise AssertionError("unreachable")

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction; blobs it stored are remembered once it commits."""
        with self._engine.connect().execution_options(**WRITE) as conn:
            conn.info.pop("ensured_blobs", None)
            with conn.begin():
                yield conn
            self._blob_cache.written(conn.info.pop("ensured_blobs", ()), current_time_ms())

    @contextmanager
    def _hot_write(self) -> Iterator[Any]:
        """The write transaction of put, put_many, patch and update: straight through the driver
        on SQLite (see _DirectWrite), on the engine elsewhere."""
        if self._reader is None:
            with self._write() as conn:
                yield conn
            return
        raw = self._reader.connection()
        try:
            raw.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise DBAPIError.instance("BEGIN IMMEDIATE", (), exc, sqlite3.Error) from exc
        direct = _DirectWrite(raw, self)
        try:
            yield direct
        except BaseException:
            raw.execute("ROLLBACK")
            raise
        try:
            raw.execute("COMMIT")
        except sqlite3.Error as exc:
            raw.execute("ROLLBACK")
            raise DBAPIError.instance("COMMIT", (), exc, sqlite3.Error) from exc
        self._blob_cache.written(direct.info.get("ensured_blobs", ()), current_time_ms())

    def _read_modify_write(
        self,
        action: str,
        key: str,
        change: Callable[[dict[str, Any] | None, int], SessionEntry | None],
    ) -> int:
        """Lock ``key``, call ``change(current JSON, version)``, write the entry it
        returns (``None``: write nothing); returns the version stored afterwards."""
        validate_key(key)
        base = self._key(key)

        def attempt() -> int:
            with self._hot_write() as conn:
                row = conn.execute(_LOCK_ROW, base).mappings().first()
                current = self._entries([row])[0].to_dict() if row else None
                version = row["version"] if row else 0
                new = change(current, version)
                if new is None:
                    return int(version)
                blobs: list[Blob] = []
                if row is None:
                    params = {**self._params(key, new, blobs), "version": 1}
                    self._write_blobs(conn, blobs)
                    conn.execute(_INSERT_ROW, params)
                    return 1
                params = {**base, **self._params(key, new, blobs, "new_")}
                self._write_blobs(conn, blobs)
                conn.execute(_UPDATE_ROW, params)
                return int(version) + 1

        return self._retry(action, attempt)

    # -- the contract ---------------------------------------------------------------

    def get(self, key: str) -> SessionEntry | None:
        validate_key(key)
        rows = self._query("get", _GET, self._key(key))
        return self._entries(rows)[0] if rows else None

    def get_with_version(self, key: str) -> tuple[SessionEntry | None, int]:
        validate_key(key)
        rows = self._query("get", _GET_WITH_VERSION, self._key(key))
        return (self._entries(rows)[0], int(rows[0]["version"])) if rows else (None, 0)

    def version(self, key: str) -> int:
        validate_key(key)
        rows = self._query("version", _GET_VERSION, self._key(key))
        return int(rows[0]["version"]) if rows else 0

    def put(
        self,
        key: str,
        entry: SessionEntry | Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> int:
        validate_key(key)
        new = as_entry(entry)
        if expected_version is not None:

            def compare(current: Mapping[str, Any] | None, version: int) -> SessionEntry:
                if version != expected_version:
                    raise StaleEntryError(key, expected_version, version)
                return new

            return self._read_modify_write("put", key, compare)

        blobs: list[Blob] = []
        params = {**self._params(key, new, blobs), "version": 1}

        def attempt() -> int:
            with self._hot_write() as conn:
                self._write_blobs(conn, blobs)
                if self._returning:
                    return int(conn.execute(self._upsert_returning, params).scalar_one())
                conn.execute(self._upsert, params)
                return int(conn.execute(_GET_VERSION, self._key(key)).scalar_one())

        return self._retry("put", attempt)

    def patch(
        self,
        key: str,
        changes: Mapping[str, Any],
        *,
        preserve_activity: bool = False,
        now_ms: int | None = None,
    ) -> SessionEntry:
        result: list[SessionEntry] = []

        def merge(current: Mapping[str, Any] | None, _version: int) -> SessionEntry:
            merged = merge_entry(
                current,
                changes,
                preserve_activity=preserve_activity,
                now_ms=current_time_ms() if now_ms is None else now_ms,
            )
            result[:] = [SessionEntry.from_dict(merged)]
            return result[0]

        self._read_modify_write("patch", key, merge)
        return result[0]

    def update(self, key: str, fn: Updater) -> SessionEntry | None:
        result: list[SessionEntry | None] = [None]

        def apply(current: Mapping[str, Any] | None, _version: int) -> SessionEntry | None:
            before = None if current is None else SessionEntry._from_stored(current)
            returned = fn(before)
            after = None if returned is None else as_entry(returned)
            result[0] = before if after is None else after
            return after

        self._read_modify_write("update", key, apply)
        return result[0]

    def delete(self, key: str) -> bool:
        validate_key(key)
        params = self._key(key)

        def attempt() -> bool:
            with self._write() as conn:
                return bool(conn.execute(_DELETE, params).rowcount)

        return self._retry("delete", attempt)

    def delete_many(self, keys: Iterable[str], *, updated_before: int | None = None) -> int:
        wanted = builtins.list(dict.fromkeys(validate_key(key) for key in keys))
        clauses, params = self._where(Filters(updated_before=updated_before))
        if self._dialect == "postgresql":  # one array parameter instead of one per key
            chosen = t.c.session_key == any_(bindparam("keys", type_=postgresql.ARRAY(Text)))
        else:
            chosen = t.c.session_key.in_(bindparam("keys", expanding=True))
        stmt = delete(t).where(*clauses, chosen)

        def attempt() -> int:
            removed = 0
            with self._write() as conn:
                for chunk in batched(wanted, _DELETE_BATCH):
                    removed += conn.execute(stmt, {**params, "keys": chunk}).rowcount
            return removed

        return self._retry("delete_many", attempt)

    def _where(self, filters: Filters) -> tuple[builtins.list[ColumnElement[bool]], dict[str, Any]]:
        """Clauses with named parameters, and their values. The clauses depend only on
        which filters are set, so statements built from them are reused (see _shaped)."""
        clauses: builtins.list[ColumnElement[bool]] = [t.c.agent_id == bindparam("f_agent")]
        params: dict[str, Any] = {"f_agent": self._agent_id}
        for name in ("channel", "status", "chat_type", "spawned_by", "session_id"):
            value = getattr(filters, name)
            if value is not None:
                clauses.append(t.c[name] == bindparam(f"f_{name}"))
                params[f"f_{name}"] = value
        if filters.archived is not None:
            clauses.append(t.c.archived == true() if filters.archived else t.c.archived != true())
        if filters.label_prefix is not None:
            escaped = (
                filters.label_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            )
            clauses.append(t.c.label.like(bindparam("f_label"), escape="\\"))
            params["f_label"] = escaped + "%"
        if filters.updated_after is not None:
            clauses.append(t.c.updated_at > bindparam("f_after"))
            params["f_after"] = filters.updated_after
        if filters.updated_before is not None:
            clauses.append(t.c.updated_at < bindparam("f_before"))
            params["f_before"] = filters.updated_before
        return clauses, params

    def _shaped(self, shape: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        """The statement for ``shape``, built once: compiled SQL is then reused."""
        stmt = _SHAPED.get(shape)
        if stmt is None:
            stmt = _SHAPED[shape] = build()
        return stmt

    def list(
        self,
        *,
        order: Order = "desc",
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        **filters: Unpack[FilterArgs],
    ) -> SessionPage:
        check_limit(limit)
        descending = check_order(order)
        clauses, params = self._where(Filters(**filters))
        if cursor is not None:
            params["c_at"], params["c_key"] = decode_cursor(cursor)
        params["f_limit"] = limit + 1
        shape = ("list", descending, cursor is not None, archived_shape(filters), *sorted(params))

        def build() -> Any:
            where = builtins.list(clauses)
            if cursor is not None:
                at: Any = bindparam("c_at")
                key: Any = bindparam("c_key")
                same = t.c.updated_at == at
                if descending:
                    after = or_(t.c.updated_at < at, and_(same, t.c.session_key < key))
                else:
                    after = or_(t.c.updated_at > at, and_(same, t.c.session_key > key))
                where.append(after)
            ordering = (
                (t.c.updated_at.desc(), t.c.session_key.desc())
                if descending
                else (t.c.updated_at.asc(), t.c.session_key.asc())
            )
            return (
                select(*_SUMMARY_COLUMNS)
                .where(*where)
                .order_by(*ordering)
                .limit(bindparam("f_limit", type_=BigInteger))
            )

        rows = self._query("list", self._shaped(shape, build), params, plain=True)
        items = _SUMMARIES.validate_python(
            [
                {"key": row[0], **dict(zip(INDEX_COLUMNS, row[1:], strict=True))}
                for row in rows[:limit]
            ]
        )
        next_cursor = (
            encode_cursor(items[-1].updated_at, items[-1].key) if len(rows) > limit else None
        )
        return SessionPage(items=items, next_cursor=next_cursor)

    def count(self, **filters: Unpack[FilterArgs]) -> int:
        clauses, params = self._where(Filters(**filters))
        shape = ("count", archived_shape(filters), *sorted(params))
        stmt = self._shaped(
            shape, lambda: select(func.count().label("n")).select_from(t).where(*clauses)
        )
        return int(self._query("count", stmt, params)[0]["n"])

    def iter_entries(self, *, batch_size: int = 500) -> Iterator[tuple[str, SessionEntry]]:
        check_limit(batch_size, "batch_size")
        stmt = (
            select(t.c.session_key, *_STORED)
            .where(t.c.agent_id == bindparam("agent_id"), t.c.session_key > bindparam("after"))
            .order_by(t.c.session_key)
            .limit(batch_size)
        )
        after = ""
        while True:
            # One short read per batch: no transaction stays open while the caller works.
            rows = self._query("iter_entries", stmt, {"agent_id": self._agent_id, "after": after})
            yield from zip((row["session_key"] for row in rows), self._entries(rows), strict=True)
            if len(rows) < batch_size:
                return
            after = rows[-1]["session_key"]

    def put_many(
        self,
        items: Iterable[tuple[str, SessionEntry | Mapping[str, Any]]],
        *,
        batch_size: int = 500,
    ) -> int:
        """Upsert every item in one transaction: all are written or none.

        Items are sent ``batch_size`` at a time, so an iterator is streamed. A transient
        conflict is retried when ``items`` is a sequence; an iterator cannot be replayed,
        so then the error is raised (and nothing was written).
        """
        check_limit(batch_size, "batch_size")
        replayable = isinstance(items, Sequence)

        def attempt() -> int:
            written = 0
            with self._hot_write() as conn:
                for chunk in batched(items, batch_size):
                    blobs: list[Blob] = []
                    rows = [
                        {**self._params(validate_key(key), as_entry(entry), blobs), "version": 1}
                        for key, entry in chunk
                    ]
                    self._write_blobs(conn, blobs)
                    conn.execute(self._upsert, rows)
                    written += len(chunk)
            return written

        if replayable:
            return self._retry("put_many", attempt)
        with self._errors("put_many"):
            return attempt()

    # -- SQL only -------------------------------------------------------------------

    def trace(self, callback: Callable[[str, Any], None] | None) -> None:
        """Call ``callback(sql, parameters)`` for every statement this store sends, for
        tests and debugging; ``None`` stops. Reads that SQLite serves through its
        driver directly report their SQL with the values inlined and no parameters."""
        if self._tracer is not None:
            event.remove(self._engine, "before_cursor_execute", self._tracer)
            self._tracer = None
        if self._reader is not None:
            self._reader.trace(None if callback is None else lambda sql: callback(sql, ()))
        if callback is not None:

            def tracer(_c: Any, _cur: Any, sql: str, params: Any, *_rest: Any) -> None:
                callback(sql, params)

            event.listen(self._engine, "before_cursor_execute", tracer)
            self._tracer = tracer

    def agent_ids(self) -> builtins.list[str]:
        """Every agent with sessions in this database, sorted."""
        query = select(t.c.agent_id).distinct().order_by(t.c.agent_id)
        with self._errors("list agents"), self._engine.connect() as conn:
            return [str(agent) for agent in conn.scalars(query)]

    def collect_blobs(self, *, grace_ms: int = BLOB_GRACE_MS) -> int:
        """Delete stored blobs that no session of any agent references and that no
        writer used within ``grace_ms``; returns how many went.

        Safe while others write: a writer refreshes a blob it uses when the blob was
        last used over :data:`BLOB_TOUCH_MS` ago, so a blob in use always looks recent.
        """
        if grace_ms <= BLOB_TOUCH_MS:
            raise InvalidArgumentError(f"grace_ms must exceed {BLOB_TOUCH_MS} ms")
        unused = and_(
            blob_table.c.last_used_at < current_time_ms() - grace_ms,
            *(
                blob_table.c.digest.not_in(select(t.c[c]).where(t.c[c].is_not(None)))
                for c in BLOB_COLUMNS
            ),
        )

        def attempt() -> int:
            with self._write() as conn:
                return int(conn.execute(delete(blob_table).where(unused)).rowcount)

        return self._retry("collect blobs", attempt)

    def last_import(self) -> ImportRecord | None:
        """This agent's last verified import from a ``sessions.json``, if any."""
        query = select(imports).where(imports.c.agent_id == self._agent_id)
        with self._errors("read import record"), self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else ImportRecord(**row._asdict())

    def record_import(self, record: ImportRecord) -> None:
        """Remember a verified import of this agent (replacing the previous record)."""
        values = dataclasses.asdict(record)

        def attempt() -> None:
            with self._write() as conn:
                conn.execute(delete(imports).where(imports.c.agent_id == self._agent_id))
                conn.execute(insert(imports), {**values, "agent_id": self._agent_id})

        self._retry("record import", attempt)

    def cleanup(self, **options: Unpack[CleanupOptions]) -> CleanupReport:
        report = lifecycle.cleanup(self, **options)
        if report.applied:
            self.collect_blobs()
        return report

    def reset(
        self, key: str, *, transcripts: Transcripts | None = None, now_ms: int | None = None
    ) -> SessionEntry:
        return lifecycle.reset(self, key, transcripts=transcripts, now_ms=now_ms)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqlStore({self._masked_url!r}, agent_id={self._agent_id!r})"

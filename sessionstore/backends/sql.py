"""The SQL backend: one agent's sessions in the ``sessions`` table of any SQLAlchemy URL
(PostgreSQL, MySQL/MariaDB, or SQLite asked for as ``sqlite+pysqlite://``).

Hot paths are single indexed statements through SQLAlchemy Core (cached compiled SQL,
no ORM identity map): ``get`` reads one row, ``put`` is one upsert that writes
``entry_json`` and its projected columns together, ``list`` reads index columns only.
Reads on the servers run in autocommit mode (one statement is one consistent read, so
no BEGIN/ROLLBACK round trips); writes lock what they change.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.util import await_only

from sessionstore.contract import TranscriptTier
from sessionstore.entry import MAX_ENTRY_BYTES
from sessionstore.sql import upgrade as schema
from sessionstore.sql.engine import (
    WRITE,
    create_sql_engine,
    database_errors,
    ensure_sqlite_file,
    mask_url,
    sqlite_file,
)
from sessionstore.sql.rowstore import Params, Row, RowStore, Transaction, transcript_options

__all__ = ["SqlStore"]


class _CoreTransaction:
    """A :class:`~sessionstore.sql.rowstore.Transaction` on a SQLAlchemy connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def rows(self, stmt: Any, params: Params) -> list[Row]:
        return list(self._conn.execute(stmt, params))

    def run(self, stmt: Any, params: Params | Sequence[Params]) -> int:
        many = params if isinstance(params, Mapping) else list(params)
        return int(self._conn.execute(stmt, many).rowcount)


class SqlStore(RowStore):
    """:class:`~sessionstore.contract.SessionStore` on any SQLAlchemy database.

    >>> import tempfile, os
    >>> url = "sqlite+pysqlite:///" + os.path.join(tempfile.mkdtemp(), "sessions.db")
    >>> with SqlStore(url, auto_upgrade=True) as store:
    ...     store.put("agent:main:main", {"sessionId": "s1", "updatedAt": 1})
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
        transcripts: TranscriptTier | None = None,
        transcripts_dir: str | os.PathLike[str] | None = None,
        engine: Engine | None = None,
    ) -> None:
        """``engine``, instead of one made from ``url`` and ``engine_options``: the
        ``sync_engine`` of an asyncio engine on ``url`` (the async API's; the store is
        then used inside its greenlets, and owns the engine)."""
        transcript_options(transcripts, transcripts_dir)  # refused before connecting
        self._url = url
        self._masked_url = mask_url(url)
        with database_errors(url, "open"):
            path = sqlite_file(url)
            if path is not None and not path.exists():
                if not auto_upgrade:
                    schema.require_head(None, url)  # refuse before creating anything
                ensure_sqlite_file(url)
            self._engine: Engine = engine or create_sql_engine(url, **dict(engine_options or {}))
        super().__init__(
            agent_id=agent_id,
            max_entry_bytes=max_entry_bytes,
            dialect=self._engine.dialect.name,
            transcripts=transcripts,
            transcripts_dir=transcripts_dir,
        )
        self._tracer: Callable[..., None] | None = None
        # One statement is one consistent read; SQLite's connections begin explicitly.
        self._read_options = {} if self._dialect == "sqlite" else {"isolation_level": "AUTOCOMMIT"}
        try:
            self._check_schema(auto_upgrade)
        except BaseException:
            self.close()
            raise

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return self._masked_url

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tools and tests; the store owns it)."""
        return self._engine

    def _check_schema(self, auto_upgrade: bool) -> None:
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

    # -- the I/O edge ------------------------------------------------------------------

    def _read(self, stmt: Any, params: Params) -> list[Row]:
        with self._engine.connect().execution_options(**self._read_options) as conn:
            return list(conn.execute(stmt, params))

    @contextmanager
    def _transaction(self) -> Iterator[Transaction]:
        with self._engine.connect().execution_options(**WRITE) as conn, conn.begin():
            yield _CoreTransaction(conn)

    def _errors(self, action: str) -> AbstractContextManager[None]:
        return database_errors(self._url, action)

    def _pause(self, seconds: float) -> None:
        if self._engine.dialect.is_async:  # inside a greenlet on the loop: never block it
            await_only(asyncio.sleep(seconds))
        else:
            time.sleep(seconds)

    def _is_transient(self, exc: Exception) -> bool:
        """Conflicts that a retry of the whole transaction resolves."""
        if not isinstance(exc, DBAPIError):
            return False
        if isinstance(exc, IntegrityError):
            return True  # two writers inserted the same new key; the loser retries as an update
        orig = exc.orig
        code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if code in ("40001", "40P01"):  # serialization failure, deadlock (PostgreSQL)
            return True
        args = getattr(orig, "args", ())
        if args and args[0] == 1213:  # deadlock (MySQL)
            return True
        # Not a lock wait timeout (MySQL 1205, PostgreSQL 55P03): the lock is held for
        # longer than the timeout, and another try would wait as long again.
        text = str(orig).lower()
        return "database is locked" in text or "database is busy" in text

    @contextmanager
    def _sqlite_connection(self) -> Iterator[Any]:
        if self._dialect != "sqlite" or self._engine.dialect.is_async:
            yield None
            return
        proxied = self._engine.raw_connection()  # back to the pool afterwards
        try:
            yield proxied.driver_connection
        finally:
            proxied.close()

    # -- SQL only ----------------------------------------------------------------------

    def trace(self, callback: Callable[[str, Any], None] | None) -> None:
        """Call ``callback(sql, parameters)`` for every statement this store sends, for
        tests and debugging; ``None`` stops."""
        if self._tracer is not None:
            event.remove(self._engine, "before_cursor_execute", self._tracer)
            self._tracer = None
        if callback is not None:

            def tracer(_c: Any, _cur: Any, sql: str, params: Any, *_rest: Any) -> None:
                callback(sql, params)

            event.listen(self._engine, "before_cursor_execute", tracer)
            self._tracer = tracer

    def close(self) -> None:
        self._engine.dispose()

    def __repr__(self) -> str:
        return f"SqlStore({self._masked_url!r}, agent_id={self._agent_id!r})"

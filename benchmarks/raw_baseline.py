"""The raw-driver baseline of ``benchmarks/suite.py``: the library's own table driven with
the bare driver (``sqlite3`` or ``psycopg``) and orjson, returning plain dicts.

It reads and writes the rows the library reads and writes, in the same format: the
table is created by ``sessionstore.upgrade``, the index columns come from
``sessionstore.projection.project``, and large values go out of line with the split
and join of ``sessionstore.sql.blobs`` when that module exists. What it leaves out is
everything above the driver: SQLAlchemy, pydantic, the connection pool, retries, and
the blob cache. A read is one statement (the blobs joined in), a write one
transaction, a listing one statement returning dicts: the practical limit.
"""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import make_url

from sessionstore.projection import INDEX_COLUMNS, project
from sessionstore.sql.blobs import BLOB_COLUMNS, join, split

__all__ = ["PAGE_SIZE", "RawStore", "open_raw"]

PAGE_SIZE = 50
# The same pragmas as sessionstore.sql.engine sets on every SQLite connection.
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA case_sensitive_like=ON",
)
_BLOBS = tuple(BLOB_COLUMNS)
_WRITTEN = (*INDEX_COLUMNS, *_BLOBS, "entry_json")
_SUMMARY = ("session_key", *INDEX_COLUMNS)


class RawStore:
    """get / put / update / delete / list / count of one agent with the bare driver."""

    def __init__(self, url: str, agent_id: str = "main") -> None:
        self.agent_id = agent_id
        self.sqlite = make_url(url).get_backend_name() == "sqlite"
        self.conn: Any = _connect(url)
        mark = "?" if self.sqlite else "%s"
        json_mark = mark if self.sqlite else "%s::jsonb"
        joins = "".join(
            f" LEFT JOIN session_blobs b{i} ON b{i}.digest = s.{column}"
            for i, column in enumerate(_BLOBS)
        )
        bodies = "".join(f", b{i}.body" for i in range(len(_BLOBS)))
        where_key = f"s.agent_id = {mark} AND s.session_key = {mark}"
        self._get = f"SELECT s.entry_json{bodies} FROM sessions s{joins} WHERE {where_key}"
        self._lock = self._get if self.sqlite else self._get + " FOR UPDATE OF s"
        values = ", ".join([mark] * (len(_WRITTEN) + 2) + [json_mark])
        columns = ", ".join(("agent_id", "session_key", *_WRITTEN[:-1], "version", "entry_json"))
        updates = ", ".join(f"{c} = excluded.{c}" for c in _WRITTEN)
        self._put = (
            f"INSERT INTO sessions ({columns}) VALUES ({values}) "
            f"ON CONFLICT (agent_id, session_key) DO UPDATE SET {updates}, "
            "version = sessions.version + 1 RETURNING version"
        )
        sets = ", ".join(f"{c} = {mark}" for c in _WRITTEN[:-1])
        self._update = (
            f"UPDATE sessions SET {sets}, entry_json = {json_mark}, version = version + 1 "
            f"WHERE agent_id = {mark} AND session_key = {mark}"
        )
        self._blob = (
            "INSERT INTO session_blobs (digest, body, bytes, last_used_at) "
            f"VALUES ({mark}, {mark}, {mark}, {mark}) ON CONFLICT (digest) DO NOTHING"
        )
        self._delete = f"DELETE FROM sessions WHERE agent_id = {mark} AND session_key = {mark}"
        self._count = f"SELECT count(*) FROM sessions WHERE agent_id = {mark}"
        order = f"ORDER BY updated_at DESC, session_key DESC LIMIT {PAGE_SIZE + 1}"
        summary = f"SELECT {', '.join(_SUMMARY)} FROM sessions WHERE agent_id = {mark}"
        self._page = f"{summary} {order}"
        self._page_channel = f"{summary} AND channel = {mark} {order}"

    # -- reads ------------------------------------------------------------------------

    def _entry(self, row: Any) -> dict[str, Any]:
        stored = orjson.loads(row[0]) if isinstance(row[0], str) else row[0]
        bodies = {c: b for c, b in zip(_BLOBS, row[1:], strict=True) if b is not None}
        return join(stored, bodies) if bodies else stored

    def get(self, key: str) -> dict[str, Any] | None:
        row = self.conn.execute(self._get, (self.agent_id, key)).fetchone()
        return None if row is None else self._entry(row)

    def list(self, channel: str | None = None) -> list[dict[str, Any]]:
        """One page of summaries (newest first) as dicts; a 51st row tells if more follow."""
        if channel is None:
            rows = self.conn.execute(self._page, (self.agent_id,)).fetchall()
        else:
            rows = self.conn.execute(self._page_channel, (self.agent_id, channel)).fetchall()
        return [dict(zip(_SUMMARY, row, strict=True)) for row in rows[:PAGE_SIZE]]

    def count(self) -> int:
        return int(self.conn.execute(self._count, (self.agent_id,)).fetchone()[0])

    # -- writes -----------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        if not self.sqlite:
            with self.conn.transaction():
                yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def _encode(self, entry: Mapping[str, Any]) -> builtins.list[Any]:
        """The written columns (as _WRITTEN); writes the blobs the entry needs."""
        stored, blobs = split(entry)
        if blobs:
            self.conn.cursor().executemany(
                self._blob, [(b.digest, b.body.decode(), len(b.body), 0) for b in blobs.values()]
            )
        columns = project(entry)
        digests = [blobs[c].digest if c in blobs else None for c in _BLOBS]
        return [*(columns[c] for c in INDEX_COLUMNS), *digests, orjson.dumps(stored).decode()]

    def put(self, key: str, entry: Mapping[str, Any]) -> int:
        with self._transaction():
            values = self._encode(entry)
            row = self.conn.execute(self._put, (self.agent_id, key, *values[:-1], 1, values[-1]))
            return int(row.fetchone()[0])

    def put_many(self, items: Iterable[tuple[str, Mapping[str, Any]]]) -> int:
        """Upsert all items in one transaction, the rows sent with one executemany."""
        with self._transaction():
            rows = [
                (self.agent_id, key, *values[:-1], 1, values[-1])
                for key, entry in items
                for values in (self._encode(entry),)
            ]
            self.conn.cursor().executemany(self._put.removesuffix(" RETURNING version"), rows)
        return len(rows)

    def update(
        self, key: str, fn: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any] | None:
        """Lock the row (BEGIN IMMEDIATE / FOR UPDATE), read, change, write."""
        with self._transaction():
            row = self.conn.execute(self._lock, (self.agent_id, key)).fetchone()
            if row is None:
                return None
            entry = fn(self._entry(row))
            self.conn.execute(self._update, (*self._encode(entry), self.agent_id, key))
            return entry

    def delete(self, key: str) -> bool:
        return bool(self.conn.execute(self._delete, (self.agent_id, key)).rowcount)

    def close(self) -> None:
        self.conn.close()


def _connect(url: str) -> Any:
    """An autocommit connection with the library's settings (SQLite pragmas, orjson)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        lite = sqlite3.connect(str(parsed.database), isolation_level=None, timeout=10)
        for pragma in SQLITE_PRAGMAS:
            lite.execute(pragma)
        return lite
    import psycopg
    from psycopg.types.json import set_json_loads

    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = psycopg.connect(dsn, autocommit=True)
    set_json_loads(orjson.loads, conn)
    return conn


def open_raw(url: str, agent_id: str = "main") -> list[dict[str, Any]]:
    """Connect, read the first page, disconnect: the raw "open + first page"."""
    raw = RawStore(url, agent_id)
    try:
        return raw.list()
    finally:
        raw.close()

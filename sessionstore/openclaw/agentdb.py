"""Reading one agent's OpenClaw 2026.9 database: ``agents/<id>/agent/openclaw-agent.sqlite``.

From 2026.9 OpenClaw keeps each agent's sessions in a SQLite database instead of
``sessions.json`` and ``.jsonl`` files. Two tables hold what a migration needs:

- ``session_nodes``: one row per session key; ``entry_json`` is the canonical entry. It
  comes in two shapes: entries imported by ``openclaw doctor --session-sqlite import``
  fold the delivery fields (``channel``, ``lastTo``, ``deliveryContext``, ``route``,
  ``origin``, …) into ``delivery: {kind, route, context, origin}``; entries written
  through the plugin API keep the flat fields. Both are read as stored.
- ``transcript_events``: one row per former ``.jsonl`` line, in ``seq`` order (0 is the
  session header). A line is ``event_json``, or, when OpenClaw compressed it,
  ``event_zstd`` (a zstd frame of the line's UTF-8 bytes, ``event_utf8_bytes`` long);
  ``navigation_json`` beside it is a derived index, not part of the line.

The database is opened read-only (``mode=ro``: never written, checkpointed or switched
to another journal mode) and read in one transaction, so a gateway writing at the same
time is not disturbed and every read sees the same snapshot. SQLite may create the
``-wal`` and ``-shm`` companion files when they are missing, as any reader of a WAL
database does; the database file and its WAL are never written. The schema version is
checked first: a version this module does not know is refused.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import orjson
import zstandard

from sessionstore.errors import CorruptStoreError, SessionStoreError, StoreUnavailableError

__all__ = [
    "DATABASE_NAME",
    "SUPPORTED_SCHEMA_VERSIONS",
    "AgentDatabase",
    "UnsupportedSchemaError",
    "database_path",
]

DATABASE_NAME = "openclaw-agent.sqlite"
#: The schema versions whose tables this module reads (OpenClaw 2026.9.6 writes 23).
SUPPORTED_SCHEMA_VERSIONS = (23,)
#: OpenClaw's bound on one event, compressed or not.
_MAX_EVENT_BYTES = 4 * 1024 * 1024


class UnsupportedSchemaError(SessionStoreError):
    """The agent database has a schema version this release cannot read."""


def database_path(state_dir: str | os.PathLike[str], agent_id: str) -> Path:
    """``<state>/agents/<agent_id>/agent/openclaw-agent.sqlite``.

    >>> database_path("/srv/openclaw", "main").as_posix()
    '/srv/openclaw/agents/main/agent/openclaw-agent.sqlite'
    """
    return Path(state_dir).expanduser() / "agents" / agent_id / "agent" / DATABASE_NAME


class AgentDatabase:
    """One agent database, open read-only inside one read transaction until closed."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        uri = f"file:{quote(str(self.path.absolute()))}?mode=ro"
        try:
            self._db = sqlite3.connect(uri, uri=True, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"cannot open {self.path}: {exc}") from exc
        try:
            # A WAL writer gets no SQLITE_BUSY from a reader; wait for a writer of a
            # rollback-journal database rather than fail at once.
            self._db.execute("PRAGMA busy_timeout = 10000")
            self._db.execute("BEGIN")  # the snapshot starts with the first read below
            self.schema_version = self._schema_version()
        except BaseException:
            self._db.close()
            raise
        self._decompressor = zstandard.ZstdDecompressor()

    def _query(self, sql: str, *args: Any) -> list[Any]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise CorruptStoreError(f"{self.path} cannot be read: {exc}") from exc

    def _schema_version(self) -> int:
        """``schema_meta.schema_version`` (its ``primary`` row), else ``user_version``."""
        try:
            rows = self._db.execute(
                "SELECT schema_version FROM schema_meta WHERE meta_key = 'primary'"
            ).fetchall()
        except sqlite3.Error:
            rows = []  # no such table: not a database of a known OpenClaw
        version = rows[0][0] if rows else self._query("PRAGMA user_version")[0][0]
        if version not in SUPPORTED_SCHEMA_VERSIONS:
            known = ", ".join(str(v) for v in SUPPORTED_SCHEMA_VERSIONS)
            raise UnsupportedSchemaError(
                f"{self.path} has OpenClaw schema version {version}; this release reads "
                f"schema version {known} (OpenClaw 2026.9.6). It was left untouched"
            )
        return int(version)

    def entries(self) -> list[tuple[str, Any]]:
        """Every ``(session key, entry)`` as stored, in key order; an entry that is not
        valid JSON comes back as its text (the caller rejects it)."""
        rows = self._query("SELECT session_key, entry_json FROM session_nodes ORDER BY session_key")
        result: list[tuple[str, Any]] = []
        for key, text in rows:
            try:
                result.append((key, orjson.loads(text)))
            except orjson.JSONDecodeError:
                result.append((key, text))
        return result

    def session_ids(self) -> set[str]:
        """The sessions that have a transcript."""
        return {row[0] for row in self._query("SELECT DISTINCT session_id FROM transcript_events")}

    def event_count(self) -> int:
        """The rows of every transcript (headers included)."""
        return int(self._query("SELECT count(*) FROM transcript_events")[0][0])

    def lines(self, session_id: str) -> Iterator[bytes]:
        """The transcript of ``session_id`` line by line in ``seq`` order, each line the
        UTF-8 JSON text OpenClaw reads back (a compressed event decompressed)."""
        try:
            rows = self._db.execute(
                "SELECT seq, event_json, event_zstd, event_utf8_bytes FROM transcript_events "
                "WHERE session_id = ? ORDER BY seq",
                (session_id,),
            )
            while batch := rows.fetchmany(256):  # a long transcript is not held at once
                for seq, text, compressed, size in batch:
                    if text is not None:
                        yield text.encode("utf-8", "surrogatepass")
                    else:
                        yield self._decompress(session_id, seq, compressed, size)
        except sqlite3.Error as exc:
            raise CorruptStoreError(f"{self.path} cannot be read: {exc}") from exc

    def _decompress(self, session_id: str, seq: int, data: Any, size: Any) -> bytes:
        where = f"{self.path}: event {seq} of session {session_id}"
        if not isinstance(data, bytes) or not isinstance(size, int):
            raise CorruptStoreError(f"{where} has neither event_json nor event_zstd")
        if not 1 <= size <= _MAX_EVENT_BYTES:
            raise CorruptStoreError(f"{where} records {size} bytes, out of bounds")
        try:
            line = self._decompressor.decompress(data, max_output_size=size)
        except zstandard.ZstdError as exc:
            raise CorruptStoreError(f"{where} does not decompress: {exc}") from exc
        if len(line) != size:
            raise CorruptStoreError(f"{where} decompresses to {len(line)} bytes, not {size}")
        return line

    def close(self) -> None:
        """End the read transaction and close the database."""
        with contextlib.suppress(sqlite3.Error):  # nothing begun, or already ended
            self._db.execute("ROLLBACK")
        self._db.close()

    def __enter__(self) -> AgentDatabase:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

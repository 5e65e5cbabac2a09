"""Space and integrity of a database: freed pages returned in bounded steps, the
one-time compaction of an existing SQLite file, integrity checks and their record, and
what ``sessionstore info`` reports about space (SQLite's free pages, PostgreSQL's dead
tuples).

SQLite never gives a freed page back to the file system by itself. A database this
library creates uses ``auto_vacuum=INCREMENTAL`` (:mod:`sessionstore.sql.engine`), so
:func:`reclaim` can return the free pages with ``PRAGMA incremental_vacuum(N)``, each
step its own short write transaction, so that writers wait at most one step. An
existing file without it is converted once by :func:`compact` (``VACUUM``).

>>> import os, tempfile
>>> from sessionstore import open_store
>>> path = os.path.join(tempfile.mkdtemp(), "sessions.db")
>>> open_store("sqlite:///" + path, auto_upgrade=True).close()
>>> sqlite_space(Path(path))["autoVacuum"]
'incremental'
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, make_url, text

from sessionstore.contract import Reclaimed
from sessionstore.errors import InvalidArgumentError, StoreUnavailableError
from sessionstore.files import fsync_directory
from sessionstore.sql.blobs import BLOB_COLUMNS
from sessionstore.sql.engine import (
    BUSY_TIMEOUT_MS,
    create_sql_engine,
    database_errors,
    sqlite_busy,
    sqlite_read_only,
)
from sessionstore.sql.schema import (
    CHECK_TABLE,
    blobs,
    metadata,
    sessions,
    transcript_events,
    transcripts,
)

__all__ = [
    "RECLAIM_MAX_SECONDS",
    "RECLAIM_STEP_PAGES",
    "Compacted",
    "IntegrityResult",
    "compact",
    "integrity_check",
    "last_check",
    "postgres_bloat",
    "reclaim",
    "recovery",
    "server_bloat",
    "sqlite_space",
]

#: Pages one step of :func:`reclaim` returns (see ``benchmarks/space.py`` for what a
#: step costs a writer).
RECLAIM_STEP_PAGES = 64
# The shortest pause between two steps of a reclaim, for the writers waiting.
_MIN_PAUSE_S = 0.002
#: The longest a reclaim runs; free pages left then are returned by the next one.
RECLAIM_MAX_SECONDS = 120.0
#: How long ``db compact`` waits for another process's write lock before it refuses.
COMPACT_WAIT_MS = 200


def recovery(url: str) -> str:
    """What to do when a check of the database at ``url`` fails: the ways to the data
    that is still readable."""
    return (
        f"restore a backup, or save what is readable: `sessionstore export --from {url} "
        "--out sessions.json --no-transcripts` (the entries as OpenClaw's sessions.json), "
        f"or `sessionstore copy --from {url} --to sqlite:///fresh.db` (the entries, and "
        "the transcripts that can be read, into a fresh database)"
    )


_AUTO_VACUUM = {0: "none", 1: "full", 2: "incremental"}
_INCREMENTAL = 2
# The tables whose rows a compacted copy must hold alike (those the copy counts).
_COUNTED = tuple(table.name for table in (sessions, blobs, transcripts, transcript_events))
# What the checksum of the entries covers: the key, the version, the JSON and the digests
_FINGERPRINTED = ", ".join(("agent_id", "session_key", "version", "entry_json", *BLOB_COLUMNS))


def _one(conn: sqlite3.Connection, sql: str) -> Any:
    return conn.execute(sql).fetchone()[0]


def _held(exc: sqlite3.OperationalError) -> bool:
    """Whether another connection holds the database (every busy code, or locked)."""
    return sqlite_busy(exc) or exc.sqlite_errorname.startswith("SQLITE_LOCKED")


def reclaim(
    conn: sqlite3.Connection,
    *,
    step_pages: int = RECLAIM_STEP_PAGES,
    max_seconds: float = RECLAIM_MAX_SECONDS,
    pause: Callable[[float], None] = time.sleep,
) -> Reclaimed:
    """Return the free pages of a SQLite database with ``auto_vacuum=INCREMENTAL`` in
    steps of ``step_pages``, each in its own ``BEGIN IMMEDIATE`` transaction, for at most
    ``max_seconds``.

    Safe while other processes write: each step takes the write lock like any writer
    (waiting at most the busy timeout), and a step that cannot have it ends the reclaim
    without an error. Between two steps it checkpoints the WAL itself (passive: it
    never waits, and a writer's commit then does not find a long WAL to copy) and
    sleeps (``pause``) at least as long as the step took: a writer that waited for the step
    polls again within that time (SQLite's busy handler sleeps in growing steps), so it
    is not starved by the next step. A database without incremental auto-vacuum
    returns nothing (``sessionstore db compact`` converts it). The file shrinks once no
    reader holds the old pages.
    """
    if step_pages < 1:
        raise InvalidArgumentError(f"step_pages must be 1 or more, got {step_pages!r}")
    free = int(_one(conn, "PRAGMA freelist_count"))
    if free == 0 or _one(conn, "PRAGMA auto_vacuum") != _INCREMENTAL:
        return Reclaimed(remaining=free)
    pages = steps = 0
    longest = 0.0
    stopped = None
    deadline = time.monotonic() + max_seconds
    while free > 0:
        if time.monotonic() >= deadline:
            stopped = f"the time bound of {max_seconds:g} s"
            break
        start = time.perf_counter()
        try:
            # executescript steps the pragma to its end (execute() would free one page)
            conn.executescript(f"BEGIN IMMEDIATE; PRAGMA incremental_vacuum({step_pages}); COMMIT;")
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if not _held(exc):
                raise
            stopped = f"another writer held the database ({exc})"
            break
        took = time.perf_counter() - start
        longest = max(longest, took * 1000)
        steps += 1
        left = int(_one(conn, "PRAGMA freelist_count"))
        pages += free - left
        free = left
        with suppress(sqlite3.OperationalError):
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        pause(max(took, _MIN_PAUSE_S))
    return Reclaimed(pages, steps, free, longest, stopped)


@contextmanager
def _sqlite_errors(action: str, path: Path) -> Iterator[None]:
    """Driver errors as this library's, one line naming the action and the file."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreUnavailableError(f"{action} failed on {path}: {exc}") from exc


def sqlite_space(path: Path) -> dict[str, Any]:
    """The space of a SQLite file: page size and count, free pages and the
    auto-vacuum mode."""
    with _sqlite_errors("reading the free space", path), closing(sqlite_read_only(path)) as conn:
        page_size = int(_one(conn, "PRAGMA page_size"))
        return {
            "pageSize": page_size,
            "pageCount": int(_one(conn, "PRAGMA page_count")),
            "freePages": int(_one(conn, "PRAGMA freelist_count")),
            "autoVacuum": _AUTO_VACUUM.get(int(_one(conn, "PRAGMA auto_vacuum")), "unknown"),
        }


def server_bloat(url: str) -> list[dict[str, Any]] | None:
    """:func:`postgres_bloat` of the database at ``url``; ``None`` on other databases."""
    if make_url(url).get_backend_name() != "postgresql":
        return None
    with database_errors(url, "reading table statistics"):
        engine = create_sql_engine(url)
        try:
            with engine.connect() as connection:
                return postgres_bloat(connection)
        finally:
            engine.dispose()


def postgres_bloat(connection: Connection) -> list[dict[str, Any]]:
    """Live and dead tuples of this library's tables in the current schema, with when
    (auto)vacuum last ran (``pg_stat_user_tables``; the statistics lag by a moment)."""
    rows = connection.execute(
        text(
            "SELECT relname, n_live_tup, n_dead_tup, last_vacuum, last_autovacuum "
            "FROM pg_stat_user_tables WHERE schemaname = current_schema() "
            "AND relname = ANY(:tables) ORDER BY relname"
        ),
        {"tables": sorted(metadata.tables)},
    )
    return [
        {
            "table": str(name),
            "liveTuples": int(live),
            "deadTuples": int(dead),
            "lastVacuum": None if vacuum is None else vacuum.isoformat(),
            "lastAutovacuum": None if auto is None else auto.isoformat(),
        }
        for name, live, dead, vacuum, auto in rows
    ]


# -- integrity -------------------------------------------------------------------------


@dataclass(frozen=True)
class IntegrityResult:
    """One integrity check of a SQLite file."""

    ok: bool
    #: ``integrity_check`` (``full``) or ``quick_check``
    full: bool
    duration_ms: float
    #: epoch ms
    checked_at: int
    #: what SQLite reported wrong (at most 100 lines), empty when ok
    problems: list[str] = field(default_factory=list)
    #: whether the result was stored for ``info`` (not on a file that refuses writes)
    recorded: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "ok": self.ok,
            "check": "integrity_check" if self.full else "quick_check",
            "durationMs": round(self.duration_ms, 1),
            "checkedAt": self.checked_at,
            "problems": self.problems,
            "recorded": self.recorded,
        }


def integrity_check(path: Path, *, full: bool = False) -> IntegrityResult:
    """Run ``PRAGMA quick_check`` (or ``integrity_check`` with ``full``) on the SQLite
    file ``path``, timed, and record the result in ``sessionstore_checks`` when the
    schema has it. Only this runs a check: opening a store never does.

    A file too damaged to open or read reports that as its problem; the check itself
    never raises for damage.
    """
    if not path.exists():
        raise StoreUnavailableError(f"no database file at {path}")
    pragma = "integrity_check(100)" if full else "quick_check(100)"
    checked_at = time.time_ns() // 1_000_000
    start = time.perf_counter()
    try:
        with closing(sqlite_read_only(path)) as conn:
            rows = conn.execute(f"PRAGMA {pragma}").fetchall()
        problems = [line for row in rows for line in str(row[0]).splitlines()]
    except sqlite3.DatabaseError as exc:
        problems = [str(exc)]
    duration = (time.perf_counter() - start) * 1000
    if problems == ["ok"]:
        problems = []
    result = IntegrityResult(not problems, full, duration, checked_at, problems)
    return IntegrityResult(**{**result.__dict__, "recorded": _record(path, result)})


def _record(path: Path, result: IntegrityResult) -> bool:
    """Store ``result`` as the last check; False when it cannot be (no such table yet,
    read-only storage, a file too damaged to write)."""
    try:
        with _connected(path, BUSY_TIMEOUT_MS) as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(f"DELETE FROM {CHECK_TABLE} WHERE name = 'integrity'")
            conn.execute(
                f"INSERT INTO {CHECK_TABLE} (name, checked_at, ok, full_check, duration_ms, "
                "detail) VALUES ('integrity', ?, ?, ?, ?, ?)",
                (
                    result.checked_at,
                    result.ok,
                    result.full,
                    round(result.duration_ms),
                    "\n".join(result.problems) or None,
                ),
            )
            conn.execute("COMMIT")
            return True
    except sqlite3.Error:
        return False


def last_check(path: Path) -> dict[str, Any] | None:
    """The last recorded integrity check of the SQLite file ``path``, or ``None``."""
    try:
        with closing(sqlite_read_only(path)) as conn:
            row = conn.execute(
                f"SELECT checked_at, ok, full_check, duration_ms, detail FROM {CHECK_TABLE} "
                "WHERE name = 'integrity'"
            ).fetchone()
    except sqlite3.Error:  # before revision 0008, or unreadable: no record to show
        return None
    if row is None:
        return None
    checked_at, ok, full, duration, detail = row
    return {
        "ok": bool(ok),
        "check": "integrity_check" if full else "quick_check",
        "checkedAt": int(checked_at),
        "durationMs": int(duration),
        "problems": str(detail).splitlines() if detail else [],
    }


# -- compaction ------------------------------------------------------------------------


@dataclass(frozen=True)
class Compacted:
    """What :func:`compact` did."""

    #: the file written: the database itself, or the ``into`` copy
    path: Path
    bytes_before: int
    bytes_after: int
    #: rows per table of the copy, equal to the source's (``into`` only)
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "path": str(self.path),
            "bytesBefore": self.bytes_before,
            "bytesAfter": self.bytes_after,
            "counts": self.counts,
        }


def _bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


@contextmanager
def _connected(path: Path, wait_ms: int) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(path, timeout=wait_ms / 1000, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout={wait_ms}")
        yield conn
    finally:
        conn.close()


def compact(path: Path, *, into: Path | None = None, attempts: int = 3) -> Compacted:
    """Compact the SQLite file ``path`` once and switch it to ``auto_vacuum=INCREMENTAL``.

    Without ``into``: ``VACUUM`` in place, which holds the write lock until it ends, so
    it is refused (one error) when another process holds it for writing. With ``into``:
    ``VACUUM INTO`` a new file, which readers and writers of ``path`` do not notice;
    the copy is verified (``integrity_check``, the same rows per table and the same
    checksum of the entries as the source at the copy's moment) before it takes the
    name ``into``; the source is never changed. A source written to during every one of
    ``attempts`` copies is refused.
    """
    if not path.exists():
        raise StoreUnavailableError(f"no database file at {path}")
    with _sqlite_errors("compact", path):
        return _compact(path, into, attempts)


def _compact(path: Path, into: Path | None, attempts: int) -> Compacted:
    before = _bytes(path)
    if into is None:
        with _connected(path, COMPACT_WAIT_MS) as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")  # a writer's lock: refuse at once
                conn.execute("ROLLBACK")
                conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
                conn.execute("VACUUM")
            except sqlite3.OperationalError as exc:
                if not _held(exc):
                    raise
                raise StoreUnavailableError(
                    f"{path} is held for writing by another process: stop it and run "
                    "again, or write a compacted copy with --into FILE"
                ) from exc
            with suppress(sqlite3.OperationalError):
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return Compacted(path, before, _bytes(path))
    if into.exists() or into.is_symlink():
        raise InvalidArgumentError(f"{into} exists: name a new file")
    partial = into.with_name(f".{into.name}.partial")
    for _ in range(attempts):
        partial.unlink(missing_ok=True)
        with _connected(path, BUSY_TIMEOUT_MS) as conn:
            changes = _one(conn, "PRAGMA data_version")
            conn.execute("BEGIN")
            source = _fingerprint(conn)
            conn.execute("COMMIT")
            conn.execute("VACUUM INTO ?", (str(partial),))
            # data_version moves when another connection commits: then the copy is of
            # a later moment than the fingerprint and is made again
            if _one(conn, "PRAGMA data_version") != changes:
                continue
        try:
            with _connected(partial, BUSY_TIMEOUT_MS) as copy:  # nobody else has it yet
                if _one(copy, "PRAGMA auto_vacuum") != _INCREMENTAL:
                    copy.execute("PRAGMA auto_vacuum=INCREMENTAL")
                    copy.execute("VACUUM")
            _verify(partial, source)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, into)
        fsync_directory(into.parent)
        return Compacted(into, before, _bytes(into), source[0])
    partial.unlink(missing_ok=True)
    raise StoreUnavailableError(
        f"{path} changed during each of {attempts} copies: run again when it is quieter"
    )


def _fingerprint(conn: sqlite3.Connection) -> tuple[dict[str, int], str]:
    """Rows per table of this library, and a sha256 over every entry (key, version, JSON
    and blob digests), in one read."""
    tables = {
        str(row[0]) for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
    }
    counts = {
        name: int(_one(conn, f'SELECT count(*) FROM "{name}"'))
        for name in _COUNTED
        if name in tables
    }
    digest = hashlib.sha256()
    if sessions.name in tables:
        for row in conn.execute(
            f"SELECT {_FINGERPRINTED} FROM {sessions.name} ORDER BY agent_id, session_key"
        ):
            digest.update(repr(row).encode())
    return counts, digest.hexdigest()


def _verify(copy: Path, source: tuple[dict[str, int], str]) -> None:
    with closing(sqlite_read_only(copy)) as conn:
        problems = [str(row[0]) for row in conn.execute("PRAGMA integrity_check(10)")]
        if problems != ["ok"]:
            raise StoreUnavailableError(f"the compacted copy failed integrity_check: {problems[0]}")
        conn.execute("BEGIN")
        found = _fingerprint(conn)
        conn.execute("COMMIT")
    if found != source:
        raise StoreUnavailableError(
            f"the compacted copy differs from the source ({found[0]} rows, source {source[0]})"
        )

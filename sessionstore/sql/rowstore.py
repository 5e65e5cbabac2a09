"""The contract on the ``sessions`` table, written once for every SQL backend.

:class:`RowStore` implements :class:`~sessionstore.contract.SessionStore` with the
statements of :mod:`sessionstore.sql.statements` and the row codec of
:mod:`sessionstore.sql.rows`. A backend supplies only its I/O edge: a consistent read
(:meth:`RowStore._read`), a write transaction (:meth:`RowStore._transaction`), its
error translation and which of its errors are transient. So ``SqliteStore`` (the
``sqlite3`` driver) and ``SqlStore`` (SQLAlchemy Core) share every rule: projection,
blobs, merge, compare-and-set, retries and validation.

Read-modify-write operations lock the row (``SELECT ... FOR UPDATE`` on the servers,
``BEGIN IMMEDIATE`` on SQLite) and are retried with backoff on transient conflicts.

Versions never repeat for a key: a row counts its writes, a new row starts above the
floor of ``session_version_floor``, and every delete raises that floor to the versions
it removes (see :data:`sessionstore.sql.statements.FLOOR`).
"""

from __future__ import annotations

import builtins
import os
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar, Unpack

from sessionstore.contract import (
    DEFAULT_PAGE_SIZE,
    FilterArgs,
    Filters,
    ImportRecord,
    Order,
    Reclaimed,
    TranscriptStore,
    Updater,
    batched,
    check_expected_versions,
    check_limit,
    check_order,
    decode_cursor,
)
from sessionstore.entry import (
    SessionEntry,
    SessionPage,
    as_entry,
    json_names,
    validate_agent_id,
    validate_key,
)
from sessionstore.errors import InvalidArgumentError, StaleEntryError
from sessionstore.openclaw.merge import merge_entry
from sessionstore.openclaw.merge import now_ms as current_time_ms
from sessionstore.openclaw.transcripts import FileTranscripts
from sessionstore.sql import space
from sessionstore.sql import statements as q
from sessionstore.sql.blobs import Blob
from sessionstore.sql.rows import (
    BLOB_GRACE_MS,
    BLOB_TOUCH_MS,
    BlobCache,
    blob_rows,
    decode_entry,
    decode_json,
    digests_of,
    page_of,
    row_params,
)
from sessionstore.sql.transcripts import SqlTranscripts

__all__ = ["BULK_ROWS", "MAX_ATTEMPTS", "RowStore", "Transaction", "transcript_options"]

T = TypeVar("T")
#: Attempts for a write that meets a transient conflict (busy, deadlock, race).
MAX_ATTEMPTS = 8
# Keys per statement of a set of keys (IN (...), = ANY(...)): well inside every
# database's limit on parameters.
KEY_BATCH = 500
#: A put_many of at least this many items (a sequence) is a bulk load: into an empty
#: table it builds the secondary indexes after the rows (see ``statements.rebuilds_indexes``).
BULK_ROWS = 1000
Row = Sequence[Any]
Params = Mapping[str, Any]
# Where each statement's content columns begin: GET (entry_json, *digests) ...
_GET_CONTENT = 0
# ... GET_WITH_VERSION / LOCK_ROW (version, entry_json, *digests) ...
_AFTER_FIRST = 1
# ... and iter_batch (session_key, version, entry_json, *digests)
_AFTER_KEY_VERSION = 2


class Transaction(Protocol):
    """One open write transaction of a backend."""

    def rows(self, stmt: Any, params: Params) -> list[Row]:
        """Run a statement that returns rows; rows are read by position."""
        ...

    def run(self, stmt: Any, params: Params | Sequence[Params]) -> int:
        """Run a statement once, or once per parameter set; returns the rows affected."""
        ...


class _Undone(Exception):  # noqa: N818 - not an error: a dry run's rollback
    """Raised out of a dry run's transaction to roll it back, carrying its result."""

    def __init__(self, result: Any) -> None:
        super().__init__("dry run")
        self.result = result


@dataclass
class _Write:
    """A transaction and the blob digests it stored (remembered once it commits)."""

    tx: Transaction
    stored_blobs: list[str] = field(default_factory=list)


def _versions_by_key(
    keys: Iterable[str], read: Callable[[list[str]], Sequence[Row]]
) -> dict[str, int]:
    """The ``(key, version)`` rows that ``read`` returns for each batch of ``keys``, as
    ``{key: version}``."""
    found: dict[str, int] = {}
    for chunk in batched(keys, KEY_BATCH):
        found.update((str(key), int(version)) for key, version in read(chunk))
    return found


def _require_versions(expected: Mapping[str, int], current: Mapping[str, int]) -> None:
    """Raise :class:`StaleEntryError` for the first key of ``expected`` that is not at
    its expected version in ``current`` (``0``: absent)."""
    for key, version in expected.items():
        if current.get(key, 0) != version:
            raise StaleEntryError(key, version, current.get(key, 0))


def transcript_options(
    transcripts: str | None, transcripts_dir: str | os.PathLike[str] | None
) -> tuple[str, str | os.PathLike[str] | None]:
    """The transcript tier a SQL store was asked for (``None``: ``sql``, the same
    database) and the directory of the ``files`` tier, checked together."""
    tier = "sql" if transcripts is None else transcripts
    if tier not in ("sql", "files"):
        raise InvalidArgumentError(f"transcripts must be 'files' or 'sql', got {transcripts!r}")
    if tier == "files" and transcripts_dir is None:
        raise InvalidArgumentError("transcripts='files' needs transcripts_dir, their directory")
    if tier == "sql" and transcripts_dir is not None:
        raise InvalidArgumentError(
            "transcripts_dir is for transcripts='files'; the SQL tier keeps them in the database"
        )
    return tier, transcripts_dir


class RowStore(ABC):
    """:class:`~sessionstore.contract.SessionStore` over a backend's I/O edge."""

    def __init__(
        self,
        *,
        agent_id: str,
        max_entry_bytes: int,
        dialect: str,
        transcripts: str | None = None,
        transcripts_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self._transcript_tier, self._transcripts_dir = transcript_options(
            transcripts, transcripts_dir
        )
        self._transcripts: TranscriptStore | None = None
        self._agent_id = validate_agent_id(agent_id)
        self._max_entry_bytes = max_entry_bytes
        self._dialect = dialect
        self._blob_cache = BlobCache()
        # put_many's: the new rows' version is a parameter (PyMySQL sends rows in one go)
        self._upsert = q.upsert(dialect, returning=False)
        # put's, one statement: SQLite and PostgreSQL return the new version; MySQL cannot.
        self._returning = q.has_returning(dialect)
        self._put_upsert = q.upsert(dialect, returning=self._returning, floor_inline=True)
        self._blob_upsert = q.blob_upsert(dialect, BLOB_TOUCH_MS)

    # -- the I/O edge, one per backend -------------------------------------------------

    @abstractmethod
    def _read(self, stmt: Any, params: Params) -> list[Row]:
        """Run one read statement as one consistent read, outside any transaction."""

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Transaction]:
        """A write transaction that takes the write lock (SQLite) at its start."""

    @abstractmethod
    def _errors(self, action: str) -> AbstractContextManager[None]:
        """Translate the backend's errors into this library's, naming ``action``."""

    @abstractmethod
    def _is_transient(self, exc: Exception) -> bool:
        """Whether a retry of the whole transaction may resolve ``exc``."""

    def _large_write(self, large: bool) -> AbstractContextManager[None]:
        """Around a write transaction of a bulk load (``large``): settings for many
        rows at once, restored afterwards. None by default."""
        return nullcontext()

    # -- plumbing ------------------------------------------------------------------

    @property
    def agent_id(self) -> str:
        return self._agent_id

    @property
    def transcripts(self) -> TranscriptStore:
        """The conversations of this store's sessions: in the same database (``sql``,
        the default) or as ``.jsonl`` files in ``transcripts_dir`` (``files``)."""
        if self._transcripts is None:
            if self._transcripts_dir is not None:
                self._transcripts = FileTranscripts(self, self._transcripts_dir)
            else:
                self._transcripts = SqlTranscripts(self)
        return self._transcripts

    @property
    def dialect(self) -> str:
        """The database's SQLAlchemy dialect name: ``sqlite``, ``postgresql``, ``mysql``."""
        return self._dialect

    def _query(self, action: str, stmt: Any, params: Params) -> builtins.list[Row]:
        with self._errors(action):
            return self._read(stmt, params)

    def _key(self, key: str) -> dict[str, str]:
        return q.key_params(self._agent_id, key)

    def _params(
        self, key: str, entry: SessionEntry, blobs: builtins.list[Blob], prefix: str = ""
    ) -> dict[str, Any]:
        return row_params(self._agent_id, key, entry, self._max_entry_bytes, blobs, prefix)

    def _retry(self, action: str, attempt: Callable[[], T]) -> T:
        """Run one write transaction, retrying transient conflicts with backoff."""
        with self._errors(action):
            for n in range(1, MAX_ATTEMPTS + 1):
                try:
                    return attempt()
                except Exception as exc:
                    if n == MAX_ATTEMPTS or not self._is_transient(exc):
                        raise
                    self._pause(random.uniform(0, 0.005 * 2**n))
        raise AssertionError("unreachable")

    def _pause(self, seconds: float) -> None:
        """The backoff between two tries of a write."""
        time.sleep(seconds)

    @contextmanager
    def _write(self) -> Iterator[_Write]:
        """A write transaction; the blobs it stored are remembered once it commits."""
        with self._transaction() as tx:
            write = _Write(tx)
            yield write
        self._blob_cache.written(write.stored_blobs, current_time_ms())

    def _write_blobs(self, write: _Write, blobs: builtins.list[Blob]) -> None:
        """Make sure the blobs are stored, in the caller's transaction."""
        now = current_time_ms()
        todo = self._blob_cache.to_write(blobs, now)
        if todo:
            write.tx.run(self._blob_upsert, blob_rows(todo, now))
            write.stored_blobs.extend(b.digest for b in todo)

    def _blob_values(self, digests: set[str]) -> dict[str, Any]:
        """The values of the blobs named, from the cache or else the database."""
        values = self._blob_cache.values(digests)
        missing = sorted(digests - values.keys())
        if missing:
            with self._errors("read blobs"):
                found = self._read(q.BLOB_BODIES, {"digests": missing})
            for digest, body in found:
                values[digest] = self._blob_cache.add(digest, str(body).encode())
        return values

    def _floor(self, write: _Write) -> int:
        """The version floor, locked for sharing: a new row's version is one more."""
        return int(write.tx.rows(q.FLOOR, {})[0][0])

    def _delete_rows(
        self, write: _Write, keys: Sequence[str], updated_before: int | None = None
    ) -> dict[str, int]:
        """Delete ``keys`` (those still older than ``updated_before``) and raise the
        floor to their versions; returns the version of each row deleted, by key."""
        stmt, lock, params = q.delete_many(self._dialect, self._agent_id, updated_before)

        def delete_chunk(chunk: builtins.list[str]) -> builtins.list[Row]:
            chosen = {**params, "keys": chunk}
            if lock is None:  # DELETE ... RETURNING
                return write.tx.rows(stmt, chosen)
            rows = write.tx.rows(lock, chosen)
            write.tx.run(stmt, chosen)
            return rows

        deleted = _versions_by_key(keys, delete_chunk)
        if deleted:
            write.tx.run(q.RAISE_FLOOR, {"deleted": max(deleted.values())})
        return deleted

    def _unit(self, action: str, body: Callable[[_Write], T], *, dry_run: bool = False) -> T:
        """``body`` in one write transaction, retried on transient conflicts; with
        ``dry_run`` the transaction is rolled back and ``body``'s result returned."""

        def attempt() -> T:
            with self._write() as write:
                result = body(write)
                if dry_run:
                    raise _Undone(result)
            return result

        try:
            return self._retry(action, attempt)
        except _Undone as undone:
            return undone.result  # type: ignore[no-any-return]

    def _lock_entries(self, write: _Write, keys: Iterable[str]) -> dict[str, Row]:
        """Lock the rows of ``keys`` that exist, a batch per statement; returns their
        ``(session_key, session_id, *blob digests)``, by key."""
        stmt = q.lock_entries(self._dialect)
        found: dict[str, Row] = {}
        for chunk in batched(keys, KEY_BATCH):
            rows = write.tx.rows(stmt, {"agent_id": self._agent_id, "keys": chunk})
            found.update((str(row[0]), row) for row in rows)
        return found

    def _erase_entries(
        self, write: _Write, keys: Sequence[str], locked: Mapping[str, Row]
    ) -> tuple[builtins.list[str], int]:
        """Delete ``keys`` and the blobs only they referenced (past the grace that
        keeps concurrent writers safe, as :meth:`collect_blobs`), in ``write``'s
        transaction, their rows ``locked`` already (:meth:`_lock_entries`); returns the
        keys deleted and how many blobs went."""
        digests = {d for row in locked.values() for d in digests_of(row, 2).values()}
        deleted = sorted(self._delete_rows(write, keys))
        if not digests:
            return deleted, 0
        params = {"digests": sorted(digests), "used_before": current_time_ms() - BLOB_GRACE_MS}
        return deleted, write.tx.run(q.ERASE_BLOBS, params)

    def _lock_versions(self, write: _Write, keys: Iterable[str]) -> dict[str, int]:
        """Lock the rows of ``keys`` that exist; returns their versions, by key."""
        stmt = q.lock_versions(self._dialect)
        return _versions_by_key(
            keys, lambda chunk: write.tx.rows(stmt, {"agent_id": self._agent_id, "keys": chunk})
        )

    def _entries(self, rows: Sequence[Row], start: int) -> builtins.list[SessionEntry]:
        """The entries of rows whose ``entry_json`` is at position ``start``, followed
        by the blob digests."""
        refs = [digests_of(row, start + 1) for row in rows]
        wanted = {digest for found in refs for digest in found.values()}
        values = self._blob_values(wanted) if wanted else {}
        return [
            decode_entry(row[start], found, values) for row, found in zip(rows, refs, strict=True)
        ]

    def _json_objects(self, rows: Sequence[Row], start: int) -> builtins.list[dict[str, Any]]:
        """As :meth:`_entries`, the entries' JSON objects (not validated again)."""
        refs = [digests_of(row, start + 1) for row in rows]
        wanted = {digest for found in refs for digest in found.values()}
        values = self._blob_values(wanted) if wanted else {}
        return [
            decode_json(row[start], found, values) for row, found in zip(rows, refs, strict=True)
        ]

    def _drop_indexes(self, write: _Write) -> builtins.list[str]:
        """Before a bulk load: drop the table's secondary indexes if the table is empty
        and the database rebuilds them (``statements.rebuilds_indexes``); returns the
        statements that create them again, in this transaction."""
        if not q.rebuilds_indexes(self._dialect) or write.tx.rows(q.ANY_ROW, {}):
            return []
        found = write.tx.rows(q.secondary_indexes(self._dialect), {})
        for name, _ in found:
            write.tx.run(q.drop_index(str(name)), {})
        return [str(create) for _, create in found]

    def _read_modify_write(
        self,
        action: str,
        key: str,
        change: Callable[[SessionEntry | None, int], SessionEntry | None],
    ) -> int:
        """Lock ``key``, call ``change(current entry, version)``, write the entry it
        returns (``None``: write nothing); returns the version stored afterwards."""
        validate_key(key)
        base = self._key(key)

        def attempt() -> int:
            with self._write() as write:
                found = write.tx.rows(q.LOCK_ROW, base)
                row = found[0] if found else None
                current = self._entries([row], _AFTER_FIRST)[0] if row else None
                version = int(row[0]) if row else 0
                new = change(current, version)
                if new is None:
                    return version
                blobs: builtins.list[Blob] = []
                if row is None:
                    created = self._floor(write) + 1
                    params = {**self._params(key, new, blobs), "version": created}
                    self._write_blobs(write, blobs)
                    write.tx.run(q.INSERT_ROW, params)
                    return created
                params = {**base, **self._params(key, new, blobs, "new_")}
                self._write_blobs(write, blobs)
                write.tx.run(q.UPDATE_ROW, params)
                return version + 1

        return self._retry(action, attempt)

    # -- the contract ----------------------------------------------------------------

    def get(self, key: str) -> SessionEntry | None:
        validate_key(key)
        rows = self._query("get", q.GET, self._key(key))
        return self._entries(rows, _GET_CONTENT)[0] if rows else None

    def get_with_version(self, key: str) -> tuple[SessionEntry | None, int]:
        validate_key(key)
        rows = self._query("get", q.GET_WITH_VERSION, self._key(key))
        return (self._entries(rows, _AFTER_FIRST)[0], int(rows[0][0])) if rows else (None, 0)

    def get_many(self, keys: Iterable[str]) -> dict[str, SessionEntry]:
        return {key: entry for key, (entry, _) in self.get_many_with_versions(keys).items()}

    def get_many_with_versions(self, keys: Iterable[str]) -> dict[str, tuple[SessionEntry, int]]:
        wanted = builtins.list(dict.fromkeys(validate_key(key) for key in keys))
        stmt = q.get_many(self._dialect)
        found: dict[str, tuple[SessionEntry, int]] = {}
        for chunk in batched(wanted, KEY_BATCH):
            rows = self._query("get", stmt, {"agent_id": self._agent_id, "keys": chunk})
            entries = self._entries(rows, _AFTER_KEY_VERSION)
            found.update(
                (str(row[0]), (entry, int(row[1])))
                for row, entry in zip(rows, entries, strict=True)
            )
        return {key: found[key] for key in wanted if key in found}  # in the order asked

    def version(self, key: str) -> int:
        validate_key(key)
        rows = self._query("version", q.GET_VERSION, self._key(key))
        return int(rows[0][0]) if rows else 0

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

            def compare(current: SessionEntry | None, version: int) -> SessionEntry:
                if version != expected_version:
                    raise StaleEntryError(key, expected_version, version)
                return new

            return self._read_modify_write("put", key, compare)

        blobs: builtins.list[Blob] = []
        params = self._params(key, new, blobs)

        def attempt() -> int:
            with self._write() as write:
                self._write_blobs(write, blobs)
                if self._returning:
                    return int(write.tx.rows(self._put_upsert, params)[0][0])
                write.tx.run(self._put_upsert, params)
                return int(write.tx.rows(q.GET_VERSION, self._key(key))[0][0])

        return self._retry("put", attempt)

    def patch(
        self,
        key: str,
        changes: Mapping[str, Any],
        *,
        preserve_activity: bool = False,
        now_ms: int | None = None,
    ) -> SessionEntry:
        result: builtins.list[SessionEntry] = []

        def merge(current: SessionEntry | None, _version: int) -> SessionEntry:
            merged = merge_entry(
                None if current is None else current.to_dict(),
                changes,
                preserve_activity=preserve_activity,
                now_ms=current_time_ms() if now_ms is None else now_ms,
            )
            if current is None:
                result[:] = [SessionEntry.from_dict(merged)]
            else:
                result[:] = [current._revised(merged, json_names(changes))]
            return result[0]

        self._read_modify_write("patch", key, merge)
        return result[0]

    def update(self, key: str, fn: Updater) -> SessionEntry | None:
        result: builtins.list[SessionEntry | None] = [None]

        def apply(current: SessionEntry | None, _version: int) -> SessionEntry | None:
            returned = fn(current)
            after = None if returned is None else as_entry(returned)
            result[0] = current if after is None else after
            return after

        self._read_modify_write("update", key, apply)
        return result[0]

    def delete(self, key: str) -> bool:
        keys = [validate_key(key)]

        def attempt() -> bool:
            with self._write() as write:
                return bool(self._delete_rows(write, keys))

        return self._retry("delete", attempt)

    def delete_many(self, keys: Iterable[str], *, updated_before: int | None = None) -> int:
        wanted = builtins.list(dict.fromkeys(validate_key(key) for key in keys))
        Filters(updated_before=updated_before)  # validates it

        def attempt() -> int:
            with self._write() as write:
                return len(self._delete_rows(write, wanted, updated_before))

        return self._retry("delete_many", attempt) if wanted else 0

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
        after = decode_cursor(cursor) if cursor is not None else None
        stmt, params = q.listing(
            self._agent_id, Filters(**filters), descending=descending, after=after, limit=limit
        )
        return page_of(self._query("list", stmt, params), limit)

    def count(self, **filters: Unpack[FilterArgs]) -> int:
        stmt, params = q.count(self._agent_id, Filters(**filters))
        return int(self._query("count", stmt, params)[0][0])

    def _batches(self, batch_size: int) -> Iterator[builtins.list[Row]]:
        """The agent's rows in key order, ``batch_size`` per read."""
        check_limit(batch_size, "batch_size")
        stmt = q.iter_batch(batch_size)
        after = ""
        while True:
            # One short read per batch: no transaction stays open while the caller works.
            rows = self._query("iter_entries", stmt, {"agent_id": self._agent_id, "after": after})
            yield rows
            if len(rows) < batch_size:
                return
            after = str(rows[-1][0])

    def iter_entries(self, *, batch_size: int = 500) -> Iterator[tuple[str, SessionEntry]]:
        for key, entry, _version in self.iter_entries_with_versions(batch_size=batch_size):
            yield key, entry

    def iter_entries_with_versions(
        self, *, batch_size: int = 500
    ) -> Iterator[tuple[str, SessionEntry, int]]:
        for rows in self._batches(batch_size):
            entries = self._entries(rows, _AFTER_KEY_VERSION)
            for row, entry in zip(rows, entries, strict=True):
                yield str(row[0]), entry, int(row[1])

    def iter_json_with_versions(
        self, *, batch_size: int = 500
    ) -> Iterator[tuple[str, dict[str, Any], int]]:
        """As :meth:`iter_entries_with_versions`, each entry as its JSON object, not
        validated again (``SupportsStoredJson``)."""
        for rows in self._batches(batch_size):
            objects = self._json_objects(rows, _AFTER_KEY_VERSION)
            for row, data in zip(rows, objects, strict=True):
                yield str(row[0]), data, int(row[1])

    def put_many(
        self,
        items: Iterable[tuple[str, SessionEntry | Mapping[str, Any]]],
        *,
        batch_size: int = 500,
        delete: Iterable[str] = (),
        expected_versions: Mapping[str, int] | None = None,
    ) -> int:
        """Upsert every item and delete the keys of ``delete`` in one transaction: all
        are written or none.

        Items are sent ``batch_size`` at a time, so an iterator is streamed. A transient
        conflict is retried when ``items`` is a sequence; an iterator cannot be replayed,
        so then the error is raised (and nothing was written). With
        ``expected_versions`` the keys it names are locked first (those to delete by
        their DELETE, which returns their versions), and an item expected absent is a
        plain INSERT: a writer that creates it meanwhile makes the insert fail, and the
        retry sees the new version (an iterator is read into a list).
        """
        check_limit(batch_size, "batch_size")
        doomed = builtins.list(dict.fromkeys(validate_key(key) for key in delete))
        doomed_keys = set(doomed)
        expected = None if expected_versions is None else check_expected_versions(expected_versions)
        if expected is not None and not isinstance(items, Sequence):
            items = builtins.list(items)
        bulk = isinstance(items, Sequence) and len(items) >= BULK_ROWS

        def attempt() -> int:
            written = 0
            with self._large_write(bulk), self._write() as write:
                kept = [key for key in expected or () if key not in doomed_keys]
                locked = self._lock_versions(write, kept) if kept else {}
                deleted = self._delete_rows(write, doomed) if doomed else {}
                if expected:
                    _require_versions(expected, {**locked, **deleted})
                new_version = self._floor(write) + 1  # after the deletes raised it
                # Into an empty table the indexes are built once, after the rows; an
                # error rolls the drop back with the rest.
                indexes = self._drop_indexes(write) if bulk else []
                inserted: set[str] = set()
                for chunk in batched(items, batch_size):
                    blobs: builtins.list[Blob] = []
                    inserts, upserts = [], []
                    for key, entry in chunk:
                        if validate_key(key) in doomed_keys:
                            raise InvalidArgumentError(f"{key!r} is both written and deleted")
                        row = self._params(key, as_entry(entry), blobs)
                        row["version"] = new_version
                        must_be_new = expected is not None and expected.get(key) == 0
                        if must_be_new and key not in inserted:
                            inserted.add(key)
                            inserts.append(row)
                        else:
                            upserts.append(row)
                    self._write_blobs(write, blobs)
                    if inserts:  # first: a later item of the same key updates it
                        write.tx.run(q.INSERT_ROW, inserts)
                    if upserts:
                        write.tx.run(self._upsert, upserts)
                    written += len(chunk)
                for create in indexes:
                    write.tx.run(q.ddl(create), {})
                analyze = q.analyze_after_bulk(self._dialect) if bulk else None
                if analyze is not None:
                    write.tx.run(analyze, {})
            return written

        if isinstance(items, Sequence):
            return self._retry("put_many", attempt)
        with self._errors("put_many"):
            return attempt()

    # -- beyond the contract: SupportsAgents, SupportsMaintenance, SupportsImportRecords

    def agent_ids(self) -> builtins.list[str]:
        """Every agent with sessions in this database, sorted."""
        return [str(row[0]) for row in self._query("list agents", q.AGENT_IDS, {})]

    def collect_blobs(self, *, grace_ms: int = BLOB_GRACE_MS) -> int:
        """Delete stored blobs that no session of any agent references and that no
        writer used within ``grace_ms``; returns how many went.

        Safe while others write: a writer refreshes a blob it uses when the blob was
        last used over :data:`~sessionstore.sql.rows.BLOB_TOUCH_MS` ago, so a blob in
        use always looks recent.
        """
        if grace_ms <= BLOB_TOUCH_MS:
            raise InvalidArgumentError(f"grace_ms must exceed {BLOB_TOUCH_MS} ms")
        params = {"used_before": current_time_ms() - grace_ms}

        def attempt() -> int:
            with self._write() as write:
                return write.tx.run(q.COLLECT_BLOBS, params)

        return self._retry("collect blobs", attempt)

    def erase_entries(self, keys: Iterable[str], *, dry_run: bool = False) -> tuple[int, int]:
        """Remove ``keys`` and the blobs only they used, in one transaction (see
        :class:`~sessionstore.contract.SupportsErasure`); returns ``(entries, blobs)``."""
        wanted = builtins.list(dict.fromkeys(validate_key(key) for key in keys))
        if not wanted:
            return 0, 0

        def body(write: _Write) -> tuple[int, int]:
            deleted, blobs = self._erase_entries(write, wanted, self._lock_entries(write, wanted))
            return len(deleted), blobs

        return self._unit("erase", body, dry_run=dry_run)

    def collect_transcripts(self, *, now_ms: int | None = None) -> builtins.list[str]:
        """Archive as ``deleted`` the SQL transcripts of this agent whose session id no
        entry has (its entry was deleted, or reset, without archiving them), so that
        the archive retention of :func:`~sessionstore.lifecycle.cleanup` expires them;
        returns the archive names. Nothing is deleted here."""
        return SqlTranscripts(self).archive_orphans(now_ms=now_ms)

    def reclaim_space(
        self,
        *,
        step_pages: int = space.RECLAIM_STEP_PAGES,
        max_seconds: float = space.RECLAIM_MAX_SECONDS,
    ) -> Reclaimed:
        """Return SQLite's free pages to the file system, ``step_pages`` per short write
        transaction, for at most ``max_seconds`` (see :func:`sessionstore.sql.space.reclaim`);
        nothing to do on the servers (their autovacuum makes dead rows' space reusable)."""
        with self._errors("reclaim space"), self._sqlite_connection() as conn:
            if conn is None:
                return Reclaimed()
            return space.reclaim(conn, step_pages=step_pages, max_seconds=max_seconds)

    def _sqlite_connection(self) -> AbstractContextManager[Any]:
        """A writable ``sqlite3`` connection to the database, or ``None`` (a server, an
        asyncio driver, a store opened read-only)."""
        return nullcontext(None)

    def last_import(self) -> ImportRecord | None:
        """This agent's last verified import from a ``sessions.json``, if any."""
        rows = self._query("read import record", q.LAST_IMPORT, {"agent_id": self._agent_id})
        return ImportRecord(*rows[0]) if rows else None

    def record_import(self, record: ImportRecord) -> None:
        """Remember a verified import of this agent (replacing the previous record)."""
        values = {
            "agent_id": self._agent_id,
            "source": record.source,
            "entries": record.entries,
            "checksum": record.checksum,
            "imported_at": record.imported_at,
        }

        def attempt() -> None:
            with self._write() as write:
                write.tx.run(q.DELETE_IMPORT, {"agent_id": self._agent_id})
                write.tx.run(q.INSERT_IMPORT, values)

        self._retry("record import", attempt)

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

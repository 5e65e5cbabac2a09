"""The JSON twin: the same contract on OpenClaw's own ``sessions.json``.

The file stays in OpenClaw's exact format: one object keyed by session key, 2-space
indent, mode 0600. Every mutation takes a cross-process OS lock on
``sessions.json.lock``, re-reads the file, changes the map and writes it back
atomically (temp file, fsync, ``os.replace``, fsync of the directory); a write that
would not change a byte is skipped. Reads reuse the parsed file while its inode,
size and mtime are unchanged.

This is the legacy design: every write costs O(size of the store). It exists so that
a user can switch to and from a database by changing a URL, and as the baseline the
benchmarks compare with.

A file that cannot be parsed is reported with :class:`CorruptStoreError` and never
written to. Entries inside a readable file that fail validation are left in the file
untouched but are not returned (OpenClaw drops them on load); a warning names them.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self, Unpack

import orjson
from filelock import FileLock, Timeout

from sessionstore.contract import (
    DEFAULT_PAGE_SIZE,
    FilterArgs,
    Filters,
    Order,
    Updater,
    check_limit,
    check_order,
    decode_cursor,
    encode_cursor,
)
from sessionstore.entry import (
    MAX_ENTRY_BYTES,
    SessionEntry,
    SessionPage,
    as_entry,
    encode_entry,
    validate_agent_id,
    validate_key,
)
from sessionstore.errors import (
    CorruptStoreError,
    InvalidEntryError,
    StaleEntryError,
    StoreLockedError,
    StoreUnavailableError,
)
from sessionstore.openclaw.merge import merge_entry
from sessionstore.openclaw.merge import now_ms as current_time_ms
from sessionstore.openclaw.storefile import parse_store_text, serialise_store
from sessionstore.projection import project, summary_from_columns

__all__ = ["LOCK_TIMEOUT_S", "JsonFileStore", "content_version"]

log = logging.getLogger(__name__)

#: How long a writer waits for another process's lock, as OpenClaw does.
LOCK_TIMEOUT_S = 10.0


def content_version(raw: Any) -> int:
    """The JSON twin's version of an entry: a 63-bit digest of its JSON.

    A file has nowhere to keep counters without leaving OpenClaw's format, so the
    version is derived from the content: it changes whenever the entry does, also
    when another program edits the file.
    """
    digest = hashlib.blake2b(orjson.dumps(raw), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1 or 1


@dataclass
class _Snapshot:
    """One parsed state of the file."""

    signature: tuple[int, int, int] | None  # (inode, size, mtime_ns); None: no file
    text: bytes
    raw: dict[str, Any]
    entries: dict[str, SessionEntry] = field(default_factory=dict)
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    return True


def _signature(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class JsonFileStore:
    """:class:`~sessionstore.contract.SessionStore` on one agent's ``sessions.json``.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "sessions.json")
    >>> with JsonFileStore(path) as store:
    ...     _ = store.put("agent:main:main", SessionEntry(session_id="s1", updated_at=1))
    ...     print(Path(path).read_text())
    {
      "agent:main:main": {
        "sessionId": "s1",
        "updatedAt": 1
      }
    }
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        agent_id: str = "main",
        lock_timeout: float = LOCK_TIMEOUT_S,
        max_entry_bytes: int = MAX_ENTRY_BYTES,
    ) -> None:
        self._agent_id = validate_agent_id(agent_id)
        self._max_entry_bytes = max_entry_bytes
        self._path = Path(path).absolute()
        # An OS lock (flock) on sessions.json.lock: the kernel releases it when its holder
        # dies, however it dies, so a crash can never leave the store locked. Polled
        # often: writes are short.
        self._lock = FileLock(
            f"{self._path}.lock", timeout=lock_timeout, mode=0o600, poll_interval=0.005
        )
        self._mutex = threading.RLock()
        self._snapshot: _Snapshot | None = None
        self._swept = False

    @property
    def agent_id(self) -> str:
        return self._agent_id

    @property
    def path(self) -> Path:
        """The ``sessions.json`` this store reads and writes."""
        return self._path

    # -- file handling --------------------------------------------------------------

    def _parse(self, text: bytes, signature: tuple[int, int, int] | None) -> _Snapshot:
        try:
            raw = parse_store_text(text)
        except ValueError as exc:
            raise CorruptStoreError(
                f"{self._path} is not valid JSON ({exc}); it was left untouched: "
                "repair it (for example from a backup) or move it aside"
            ) from exc
        if not isinstance(raw, dict):
            raise CorruptStoreError(
                f"{self._path} holds a JSON {type(raw).__name__}, not an object of sessions; "
                "it was left untouched"
            )
        snapshot = _Snapshot(signature, text, raw)
        rejected = []
        for key, value in raw.items():
            try:
                validate_key(key)
                entry = SessionEntry.from_dict(value)
            except InvalidEntryError as exc:
                rejected.append(f"{key!r} ({exc})")
                continue
            snapshot.entries[key] = entry
            snapshot.columns[key] = project(value)
        if rejected:
            log.warning("%s: skipping invalid entries: %s", self._path, "; ".join(rejected))
        return snapshot

    def _read(self, *, fresh: bool) -> _Snapshot:
        """The file's current state; ``fresh`` compares bytes, otherwise the stat."""
        try:
            with open(self._path, "rb") as fh:
                st = os.fstat(fh.fileno())
                cached = self._snapshot
                if not fresh and cached is not None and cached.signature == _signature(st):
                    return cached
                text = fh.read()
        except FileNotFoundError:
            self._snapshot = _Snapshot(None, b"", {})
            return self._snapshot
        except OSError as exc:
            raise StoreUnavailableError(f"cannot read {self._path}: {exc.strerror}") from exc
        cached = self._snapshot
        if cached is not None and cached.text == text:
            cached.signature = _signature(st)
            return cached
        self._snapshot = self._parse(text, _signature(st))
        return self._snapshot

    def _sweep_dead_writers_temp_files(self) -> None:
        """Remove temp files left by writers killed before their rename (once per store).

        Named ``sessions.json.<pid>.<hex>.tmp``, as OpenClaw's; only files whose writer
        process is gone are removed, so a live writer's file is never touched.
        """
        self._swept = True
        for tmp in self._path.parent.glob(f"{glob.escape(self._path.name)}.*.tmp"):
            pid = tmp.name.removeprefix(f"{self._path.name}.").split(".")[0]
            if pid.isdigit() and not _process_alive(int(pid)):
                tmp.unlink(missing_ok=True)

    def _write(self, snapshot: _Snapshot) -> None:
        """Write the map atomically, unless it serialises to the bytes already there."""
        text = serialise_store(snapshot.raw)
        if text == snapshot.text and snapshot.signature is not None:
            return
        if not self._swept:
            self._sweep_dead_writers_temp_files()
        directory = self._path.parent
        tmp = directory / f"{self._path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(text)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self._path)
            finally:
                tmp.unlink(missing_ok=True)
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
            snapshot.text = text
            snapshot.signature = _signature(os.stat(self._path))
        except OSError as exc:
            self._snapshot = None  # the map in memory may be ahead of the file
            raise StoreUnavailableError(f"cannot write {self._path}: {exc.strerror}") from exc

    @contextmanager
    def _locked(self) -> Iterator[_Snapshot]:
        """Hold the lock file with a freshly read file; the caller mutates and writes."""
        with self._mutex:
            try:
                self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                with self._lock:
                    yield self._read(fresh=True)
            except Timeout as exc:
                raise StoreLockedError(
                    f"timed out after {self._lock.timeout:g}s waiting for the lock "
                    f"{self._lock.lock_file}, held by another process"
                ) from exc
            except OSError as exc:
                raise StoreUnavailableError(
                    f"cannot lock {self._path}: {exc.strerror or exc}"
                ) from exc

    def _current(self) -> _Snapshot:
        with self._mutex:
            return self._read(fresh=False)

    def _prepare(self, entry: SessionEntry | Mapping[str, Any]) -> tuple[SessionEntry, Any]:
        """Validate an entry to be written: its type and size; returns it and its JSON."""
        valid = as_entry(entry)
        return valid, encode_entry(valid, self._max_entry_bytes)[0]

    @staticmethod
    def _store(snapshot: _Snapshot, key: str, entry: SessionEntry, data: Any) -> None:
        snapshot.raw[key] = data
        snapshot.entries[key] = entry
        snapshot.columns[key] = project(data)

    def _version_in(self, snapshot: _Snapshot, key: str) -> int:
        return content_version(snapshot.raw[key]) if key in snapshot.entries else 0

    # -- the contract ---------------------------------------------------------------

    def get(self, key: str) -> SessionEntry | None:
        validate_key(key)
        return self._current().entries.get(key)

    def version(self, key: str) -> int:
        validate_key(key)
        return self._version_in(self._current(), key)

    def get_with_version(self, key: str) -> tuple[SessionEntry | None, int]:
        validate_key(key)
        snapshot = self._current()
        return snapshot.entries.get(key), self._version_in(snapshot, key)

    def put(
        self,
        key: str,
        entry: SessionEntry | Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> int:
        validate_key(key)
        new, data = self._prepare(entry)
        with self._locked() as snapshot:
            current = self._version_in(snapshot, key)
            if expected_version is not None and expected_version != current:
                raise StaleEntryError(key, expected_version, current)
            self._store(snapshot, key, new, data)
            self._write(snapshot)
            return self._version_in(snapshot, key)

    def patch(
        self,
        key: str,
        changes: Mapping[str, Any],
        *,
        preserve_activity: bool = False,
        now_ms: int | None = None,
    ) -> SessionEntry:
        validate_key(key)
        with self._locked() as snapshot:
            current = snapshot.raw.get(key) if key in snapshot.entries else None
            merged = merge_entry(
                current,
                changes,
                preserve_activity=preserve_activity,
                now_ms=current_time_ms() if now_ms is None else now_ms,
            )
            entry, data = self._prepare(merged)
            self._store(snapshot, key, entry, data)
            self._write(snapshot)
            return entry

    def update(self, key: str, fn: Updater) -> SessionEntry | None:
        validate_key(key)
        with self._locked() as snapshot:
            before = snapshot.entries.get(key)
            returned = fn(before)
            if returned is None:
                return before
            after, data = self._prepare(returned)
            self._store(snapshot, key, after, data)
            self._write(snapshot)
            return after

    def delete(self, key: str) -> bool:
        validate_key(key)
        with self._locked() as snapshot:
            if key not in snapshot.entries:
                return False
            del snapshot.raw[key], snapshot.entries[key], snapshot.columns[key]
            self._write(snapshot)
            return True

    def delete_many(self, keys: Iterable[str], *, updated_before: int | None = None) -> int:
        wanted = {validate_key(key) for key in keys}
        still = Filters(updated_before=updated_before)
        with self._locked() as snapshot:
            present = [
                key
                for key in wanted
                if key in snapshot.entries and still.matches(snapshot.columns[key])
            ]
            for key in present:
                del snapshot.raw[key], snapshot.entries[key], snapshot.columns[key]
            self._write(snapshot)  # skipped when nothing changed
            return len(present)

    def _matching(self, filters: Filters) -> Iterator[tuple[str, dict[str, Any]]]:
        for key, columns in self._current().columns.items():
            if filters.matches(columns):
                yield key, columns

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
        rows = [((c["updated_at"], key), key, c) for key, c in self._matching(Filters(**filters))]
        if cursor is not None:
            position = decode_cursor(cursor)
            rows = [r for r in rows if (r[0] < position if descending else r[0] > position)]
        rows.sort(key=lambda r: r[0], reverse=descending)
        items = [summary_from_columns(key, columns) for _, key, columns in rows[:limit]]
        next_cursor = (
            encode_cursor(items[-1].updated_at, items[-1].key) if len(rows) > limit else None
        )
        return SessionPage(items=items, next_cursor=next_cursor)

    def count(self, **filters: Unpack[FilterArgs]) -> int:
        return sum(1 for _ in self._matching(Filters(**filters)))

    def iter_entries(self, *, batch_size: int = 500) -> Iterator[tuple[str, SessionEntry]]:
        check_limit(batch_size, "batch_size")
        entries = self._current().entries
        for key in sorted(entries):
            yield key, entries[key]

    def put_many(
        self,
        items: Iterable[tuple[str, SessionEntry | Mapping[str, Any]]],
        *,
        batch_size: int = 500,
    ) -> int:
        check_limit(batch_size, "batch_size")
        pending = [(validate_key(key), *self._prepare(entry)) for key, entry in items]
        # One rewrite of the file for the whole lot: batching buys nothing here.
        with self._locked() as snapshot:
            for key, entry, data in pending:
                self._store(snapshot, key, entry, data)
            self._write(snapshot)
        return len(pending)

    def close(self) -> None:
        with self._mutex:
            self._snapshot = None

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
        return f"JsonFileStore({str(self._path)!r}, agent_id={self._agent_id!r})"

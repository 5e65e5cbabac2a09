"""The JSON twin: the same contract on OpenClaw's own ``sessions.json``.

The file stays in OpenClaw's exact format: one object keyed by session key, 2-space
indent, mode 0600. Every mutation takes OpenClaw's lock file ``sessions.json.lock``
(:mod:`sessionstore.openclaw.writelock`), re-reads the file, changes the map and writes it back
atomically (temp file, fsync, ``os.replace``, fsync of the directory); a write that
would not change a byte is skipped. Reads reuse the parsed file while its inode,
size and mtime are unchanged. Skills prompts that OpenClaw keeps in files beside it
(``skills-prompts/``) are read back into their entries and written out the same way
(:mod:`sessionstore.openclaw.skillprompts`).

This is the legacy design: every write costs O(size of the store). It exists so that
a user can switch to and from a database by changing a URL, and as the baseline the
benchmarks compare with.

A file that cannot be parsed is reported with :class:`CorruptStoreError` and never
written to. Entries inside a readable file that fail validation are left in the file
untouched but are not returned (OpenClaw drops them on load); a warning names them.

Versions live beside the file, in ``sessions.json.versions`` (mode 0600, written
atomically under the same lock, before ``sessions.json``): OpenClaw would take any
extra key inside ``sessions.json`` for a session. It records, for each entry, the
version the twin gave it and a digest of its JSON, a digest of the whole file as the
twin wrote it, and the next counter value. Each key written takes the counter (never
below the clock in nanoseconds, so a lost sidecar cannot hand a number out again). An
entry whose JSON matches its record keeps that version; any other entry (changed by
OpenClaw since, or by a write whose ``sessions.json`` never landed) gets a version
derived from the file's identity (inode, size, mtime) and the entry, at or above 2**62
and so apart from counted ones, that the next write records. A missing or unreadable
sidecar only makes every entry "other": it is rebuilt on the next write.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, Unpack

from sessionstore.contract import (
    DEFAULT_PAGE_SIZE,
    FilterArgs,
    Filters,
    Order,
    Updater,
    check_expected_versions,
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
    dumps_json,
    encode_entry,
    loads_json,
    validate_agent_id,
    validate_key,
)
from sessionstore.errors import (
    CorruptStoreError,
    InvalidArgumentError,
    InvalidEntryError,
    SessionStoreError,
    StaleEntryError,
    StoreUnavailableError,
)
from sessionstore.files import make_private_dirs, write_atomically
from sessionstore.openclaw.merge import merge_entry
from sessionstore.openclaw.merge import now_ms as current_time_ms
from sessionstore.openclaw.skillprompts import PromptBlobs
from sessionstore.openclaw.storefile import (
    MAX_STORE_BYTES,
    open_store_file,
    parse_store_text,
    read_bounded,
    serialise_store,
)
from sessionstore.openclaw.transcripts import FileTranscripts
from sessionstore.openclaw.writelock import STORE_STALE_S, process_alive, write_lock
from sessionstore.projection import project, summary_from_columns

__all__ = ["LOCK_TIMEOUT_S", "JsonFileStore"]

log = logging.getLogger(__name__)

#: How long a writer waits for another process's lock, as OpenClaw does.
LOCK_TIMEOUT_S = 10.0


#: Versions from here up are derived for entries the twin did not write (see above).
DERIVED_VERSIONS = 1 << 62
#: The sidecar's size limit: far above a record per entry of the largest store.
_MAX_SIDECAR_BYTES = 256 * 1024**2


@dataclass
class _Snapshot:
    """One parsed state of the file."""

    signature: tuple[int, int, int] | None  # (inode, size, mtime_ns); None: no file
    text: bytes
    raw: dict[str, Any]  # the file's map, skills prompts inline
    entries: dict[str, SessionEntry] = field(default_factory=dict)
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: versions worked out so far, and the (sidecar, file) signatures they hold for
    versions: dict[str, int] = field(default_factory=dict)
    versions_for: tuple[Any, ...] | None = None
    #: digests of the entries among those that did not match their record, so that
    #: the sidecar's next write need not hash them again
    digests: dict[str, str] = field(default_factory=dict)
    #: whether the file is byte for byte as the sidecar's last write recorded it
    as_recorded: bool = False


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass(frozen=True)
class _Recorded:
    """The sidecar's content: what the twin last wrote."""

    signature: tuple[int, int, int] | None  # the sidecar's own; None: none, unreadable or unwritten
    next: int = 0
    text: str = ""  # digest of sessions.json as written then
    entries: Mapping[str, tuple[int, str]] = field(default_factory=dict)  # version, digest

    @classmethod
    def parse(cls, text: bytes, signature: tuple[int, int, int]) -> _Recorded:
        """The sidecar's content; ``ValueError`` when it is not one."""
        try:
            data = loads_json(text)
            entries = {
                str(key): (int(version), str(digest))
                for key, (version, digest) in data["entries"].items()
            }
            return cls(signature, int(data["next"]), str(data["text"]), entries)
        except (TypeError, KeyError, AttributeError, RecursionError) as exc:
            raise ValueError(f"not a versions file: {exc!r}") from exc

    def dump(self) -> bytes:
        entries = {key: list(record) for key, record in self.entries.items()}
        return dumps_json({"next": self.next, "text": self.text, "entries": entries})


def _signature(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _read_unless(
    path: Path, known: tuple[int, int, int] | None, max_bytes: int
) -> tuple[tuple[int, int, int], bytes | None] | None:
    """``path``'s signature and content (``None``: left unread, its signature is
    ``known``); ``None`` when there is no such file."""
    opened = open_store_file(path)
    if opened is None:
        return None
    with opened as fh:
        try:
            signature = _signature(os.fstat(fh.fileno()))
        except OSError as exc:
            raise StoreUnavailableError(f"cannot read {path}: {exc.strerror}") from exc
        if signature == known:
            return signature, None
        return signature, read_bounded(fh, path, max_bytes)


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
        max_store_bytes: int = MAX_STORE_BYTES,
        transcripts: Literal["files", "sql"] | None = None,
        transcripts_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        """``transcripts``: the twin keeps transcripts as files only (``"files"``, the
        default); ``transcripts_dir``: their directory, by default that of
        ``sessions.json`` (OpenClaw's sessions directory)."""
        if transcripts == "sql":
            raise InvalidArgumentError(
                "the JSON twin keeps transcripts as files; use a database URL for transcripts='sql'"
            )
        if transcripts not in (None, "files"):
            raise InvalidArgumentError(f"transcripts must be 'files' or 'sql', got {transcripts!r}")
        self._agent_id = validate_agent_id(agent_id)
        self._max_entry_bytes = max_entry_bytes
        self._max_store_bytes = max_store_bytes
        self._path = Path(path).absolute()
        self._lock_timeout = lock_timeout
        self._mutex = threading.RLock()
        self._snapshot: _Snapshot | None = None
        self._swept = False
        self._versions_path = Path(f"{self._path}.versions")
        self._recorded = _Recorded(None)
        self._prompts = PromptBlobs(self._path.parent)
        self._transcripts_dir = Path(
            self._path.parent if transcripts_dir is None else transcripts_dir
        ).absolute()
        self._transcripts: FileTranscripts | None = None

    @property
    def agent_id(self) -> str:
        return self._agent_id

    @property
    def path(self) -> Path:
        """The ``sessions.json`` this store reads and writes."""
        return self._path

    @property
    def transcripts(self) -> FileTranscripts:
        """The transcripts of these sessions: ``.jsonl`` files in ``transcripts_dir``."""
        if self._transcripts is None:
            self._transcripts = FileTranscripts(self, self._transcripts_dir)
        return self._transcripts

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
        # Skill prompts kept in files beside the store come back inline, as OpenClaw
        # reads them; _write moves them out again.
        unresolved = self._prompts.hydrate(raw)
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
        if unresolved:
            log.warning("%s: %s", self._path, "; ".join(map(str, unresolved)))
        return snapshot

    def _read(self, *, fresh: bool) -> _Snapshot:
        """The file's current state; ``fresh`` compares bytes, otherwise the stat."""
        cached = self._snapshot
        known = cached.signature if cached is not None and not fresh else None
        found = _read_unless(self._path, known, self._max_store_bytes)
        if found is None:
            self._snapshot = _Snapshot(None, b"", {})
            return self._snapshot
        signature, text = found
        if text is None:  # the stat is the cached one's
            assert cached is not None
            return cached
        if cached is not None and cached.text == text:
            cached.signature = signature
            return cached
        self._snapshot = self._parse(text, signature)
        return self._snapshot

    def _sweep_dead_writers_temp_files(self) -> None:
        """Remove temp files left by writers killed before their rename (once per store).

        Named ``sessions.json.<pid>.<hex>.tmp``, as OpenClaw's, and
        ``sessions.json.versions.<pid>.<hex>.tmp``; only files whose writer process is
        gone are removed, so a live writer's file is never touched.
        """
        self._swept = True
        for target in (self._path, self._versions_path):
            for tmp in target.parent.glob(f"{glob.escape(target.name)}.*.tmp"):
                pid = tmp.name.removeprefix(f"{target.name}.").split(".")[0]
                if pid.isdigit() and not process_alive(int(pid)):
                    tmp.unlink(missing_ok=True)

    # -- versions (see the module's docstring) ---------------------------------------

    def _read_versions(self) -> _Recorded:
        """The sidecar, re-read when it changed; unreadable or corrupt reads as empty."""
        try:
            found = _read_unless(self._versions_path, self._recorded.signature, _MAX_SIDECAR_BYTES)
            if found is None:
                self._recorded = _Recorded(None)
            elif found[1] is not None:  # changed since it was parsed
                self._recorded = _Recorded.parse(found[1], found[0])
        except (SessionStoreError, OSError, ValueError) as exc:
            log.warning("%s: ignored, rebuilt on the next write (%s)", self._versions_path, exc)
            self._recorded = _Recorded(None)
        return self._recorded

    def _version_in(self, snapshot: _Snapshot, key: str, recorded: _Recorded | None = None) -> int:
        """The version of ``key`` in ``snapshot`` (``0``: absent), with the sidecar
        (``recorded``: as just read, so that a loop over keys reads it once)."""
        if key not in snapshot.entries:
            return 0
        recorded = recorded or self._read_versions()
        holds_for = (recorded.signature, snapshot.signature)
        if snapshot.versions_for != holds_for:
            snapshot.versions, snapshot.versions_for, snapshot.digests = {}, holds_for, {}
            # hashed once per state of the two files, not once per key
            snapshot.as_recorded = recorded.text == _digest(snapshot.text)
        version = snapshot.versions.get(key)
        if version is None:
            version = snapshot.versions[key] = self._work_out(snapshot, recorded, key)
        return version

    @staticmethod
    def _work_out(snapshot: _Snapshot, recorded: _Recorded, key: str) -> int:
        record = recorded.entries.get(key)
        if record is not None and snapshot.as_recorded:
            return record[0]  # the file is as the twin wrote it
        digest = _digest(dumps_json(snapshot.raw[key]))
        if record is not None and record[1] == digest:
            return record[0]
        snapshot.digests[key] = digest  # for the record of the derived version
        derived = _digest(dumps_json([key, digest, snapshot.signature]))
        return DERIVED_VERSIONS | int(derived[:16], 16) >> 2

    def _versions_after(
        self,
        snapshot: _Snapshot,
        written: Collection[str],
        recorded: _Recorded | None,
        text: bytes,
    ) -> _Recorded:
        """The sidecar to write with the file ``text``, for ``snapshot`` once the keys
        ``written`` are (it already holds them; its signature is still the file's before
        the write); ``recorded``: the sidecar, if already read under this lock."""
        recorded = recorded or self._read_versions()
        fresh = max(recorded.next, time.time_ns())
        counted = {key: fresh + n for n, key in enumerate(sorted(set(written)))}
        entries = {}
        for key in snapshot.entries:
            if key in counted:
                entries[key] = (counted[key], _digest(dumps_json(snapshot.raw[key])))
                continue
            version = self._version_in(snapshot, key, recorded)
            record = recorded.entries.get(key)
            if record is None or record[0] != version:
                digest = snapshot.digests.get(key) or _digest(dumps_json(snapshot.raw[key]))
                record = (version, digest)
            entries[key] = record
        # not written yet, so no signature of its own
        return _Recorded(None, fresh + len(counted), _digest(text), entries)

    def _save_versions(
        self, versions: _Recorded, *, sync_directory: bool = True
    ) -> tuple[int, int, int]:
        """Write the sidecar ``versions`` atomically; returns its signature.
        ``sync_directory=False`` when the write of ``sessions.json`` follows: its sync
        of the directory makes this rename durable too. Its data is not fsynced: a
        sidecar lost in a power failure reads as unreadable or stale, and then every
        entry gets a version never handed out, which is safe for compare-and-set."""
        try:
            written = write_atomically(
                self._versions_path, versions.dump(), sync_directory=sync_directory, sync_data=False
            )
            signature = _signature(written)
        except OSError as exc:
            raise StoreUnavailableError(
                f"cannot write {self._versions_path}: {exc.strerror}"
            ) from exc
        self._recorded = replace(versions, signature=signature)
        return signature

    def _write(
        self,
        snapshot: _Snapshot,
        written: Collection[str] = (),
        recorded: _Recorded | None = None,
    ) -> None:
        """Write the map atomically, unless it serialises to the bytes already there;
        the keys ``written`` get new versions (in the sidecar, written first).
        ``recorded``: the sidecar, if the caller has read it under this lock."""
        stored, prompts = self._prompts.externalise(snapshot.raw)
        text = serialise_store(stored)
        if text == snapshot.text and snapshot.signature is not None:
            if not written:
                return  # no byte and no version to change
            # the same bytes, but each write is a new version
            versions = self._versions_after(snapshot, written, recorded, text)
            sidecar = self._save_versions(versions)
        else:
            if not self._swept:
                self._sweep_dead_writers_temp_files()
            try:
                make_private_dirs(self._path.parent)
                if failed := self._prompts.write(prompts):  # before the file that names them
                    why = "; ".join(failed.values())
                    log.warning("%s: skills prompts kept inline: %s", self._path, why)
                    stored = self._prompts.externalise(snapshot.raw, inline=failed)[0]
                    text = serialise_store(stored)
                versions = self._versions_after(snapshot, written, recorded, text)
                # before the file: a crash in between leaves versions never handed out
                sidecar = self._save_versions(versions, sync_directory=False)
                st = write_atomically(self._path, text)
            except OSError as exc:
                raise StoreUnavailableError(f"cannot write {self._path}: {exc.strerror}") from exc
            snapshot.text, snapshot.signature = text, _signature(st)
        # every entry now matches the sidecar just written
        snapshot.versions = {key: version for key, (version, _) in versions.entries.items()}
        snapshot.versions_for, snapshot.digests = (sidecar, snapshot.signature), {}

    @contextmanager
    def _locked(self) -> Iterator[_Snapshot]:
        """Hold the lock file with a freshly read file; the caller mutates and writes."""
        with self._mutex:
            try:
                make_private_dirs(self._path.parent)
                # OpenClaw's sessions.json.lock, removed on release; a dead holder's
                # is taken over at once (see sessionstore.openclaw.writelock)
                with write_lock(self._path, timeout=self._lock_timeout, stale_s=STORE_STALE_S):
                    snapshot = self._read(fresh=True)
                    try:
                        yield snapshot
                    except BaseException:
                        # The caller may have changed the map before it failed (a write
                        # that could not finish): the map in memory is ahead of the file.
                        self._snapshot = None
                        raise
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
        snapshot.digests.pop(key, None)  # of the data replaced

    # -- the contract ---------------------------------------------------------------

    def get(self, key: str) -> SessionEntry | None:
        validate_key(key)
        return self._current().entries.get(key)

    def version(self, key: str) -> int:
        validate_key(key)
        with self._mutex:
            return self._version_in(self._read(fresh=False), key)

    def get_with_version(self, key: str) -> tuple[SessionEntry | None, int]:
        validate_key(key)
        with self._mutex:  # a writer changes the map in place: entry and version together
            snapshot = self._read(fresh=False)
            return snapshot.entries.get(key), self._version_in(snapshot, key)

    def get_many(self, keys: Iterable[str]) -> dict[str, SessionEntry]:
        wanted = dict.fromkeys(validate_key(key) for key in keys)
        entries = self._current().entries
        return {key: entries[key] for key in wanted if key in entries}

    def get_many_with_versions(self, keys: Iterable[str]) -> dict[str, tuple[SessionEntry, int]]:
        wanted = dict.fromkeys(validate_key(key) for key in keys)
        with self._mutex:  # one state of the file: its entries and their versions
            snapshot = self._read(fresh=False)
            recorded = self._read_versions()
            return {
                key: (snapshot.entries[key], self._version_in(snapshot, key, recorded))
                for key in wanted
                if key in snapshot.entries
            }

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
            recorded = self._read_versions()  # once, for the compare and the write
            current = self._version_in(snapshot, key, recorded)
            if expected_version is not None and expected_version != current:
                raise StaleEntryError(key, expected_version, current)
            self._store(snapshot, key, new, data)
            self._write(snapshot, {key}, recorded)
            return snapshot.versions[key]  # as _write has just recorded it

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
            self._write(snapshot, {key})
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
            self._write(snapshot, {key})
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
            if filters.matches(columns, key):
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

    def iter_entries_with_versions(
        self, *, batch_size: int = 500
    ) -> Iterator[tuple[str, SessionEntry, int]]:
        check_limit(batch_size, "batch_size")
        with self._mutex:  # one state of the file: its entries and their versions
            snapshot = self._read(fresh=False)
            found = [(key, snapshot.entries[key]) for key in sorted(snapshot.entries)]
            recorded = self._read_versions()
            versions = [self._version_in(snapshot, key, recorded) for key, _ in found]
        for (key, entry), version in zip(found, versions, strict=True):
            yield key, entry, version

    def put_many(
        self,
        items: Iterable[tuple[str, SessionEntry | Mapping[str, Any]]],
        *,
        batch_size: int = 500,
        delete: Iterable[str] = (),
        expected_versions: Mapping[str, int] | None = None,
    ) -> int:
        check_limit(batch_size, "batch_size")
        doomed = {validate_key(key) for key in delete}
        expected = {} if expected_versions is None else check_expected_versions(expected_versions)
        pending = [(validate_key(key), *self._prepare(entry)) for key, entry in items]
        for key, _, _ in pending:
            if key in doomed:
                raise InvalidArgumentError(f"{key!r} is both written and deleted")
        # One rewrite of the file for the whole lot: batching buys nothing here.
        with self._locked() as snapshot:
            recorded = self._read_versions()
            for key, version in expected.items():
                current = self._version_in(snapshot, key, recorded)
                if current != version:
                    raise StaleEntryError(key, version, current)
            for key in doomed & snapshot.entries.keys():
                del snapshot.raw[key], snapshot.entries[key], snapshot.columns[key]
            for key, entry, data in pending:
                self._store(snapshot, key, entry, data)
            self._write(snapshot, {key for key, _, _ in pending}, recorded)
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

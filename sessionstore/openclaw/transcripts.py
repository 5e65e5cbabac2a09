"""Transcripts: the per-session ``.jsonl`` files kept beside the store (cold storage).

The format is OpenClaw's (pi's ``SessionManager``, version 3): a ``session`` header
line, then one JSON object per line, appended under ``<file>.lock``. Lines already in
a file are never rewritten, malformed ones included. Every path is resolved inside
the agent's sessions directory; ``sessionFile`` values pointing elsewhere are ignored,
and only regular files are opened (a FIFO or a device in a transcript's place is
refused, never waited on). Files are read in blocks: a line longer than
:data:`MAX_LINE_BYTES` is skipped (counted in :attr:`TranscriptStats.oversized_lines`)
without ever being held in memory whole.

>>> import tempfile
>>> t = Transcripts(tempfile.mkdtemp())
>>> entry = {"sessionId": "s1", "updatedAt": 1}
>>> event = {"type": "message", "message": {"role": "user", "content": "hi"}}
>>> t.append(entry, [event]).written, t.count_messages(entry)
(1, 1)
>>> t.path(entry, topic_id="topic/a+b").name
's1-topic-topic%2Fa%2Bb.jsonl'
"""

from __future__ import annotations

import contextlib
import errno
import functools
import heapq
import os
import re
import secrets
import stat
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from sessionstore.contract import (
    DEFAULT_PAGE_SIZE,
    LARGE_EVENT_BYTES,
    TRANSCRIPT_START,
    AppendResult,
    Archive,
    ArchiveReason,
    Erasure,
    SearchHit,
    SessionStore,
    SupportsErasure,
    TranscriptPage,
    TranscriptStats,
    check_limit,
    decode_transcript_cursor,
    event_header,
)
from sessionstore.entry import SessionEntry, as_entry, validate_key, validate_session_id
from sessionstore.errors import (
    CorruptStoreError,
    InvalidArgumentError,
    SessionNotFoundError,
    StoreUnavailableError,
)
from sessionstore.events import (
    DUMP_OPTIONS,
    TRANSCRIPT_VERSION,
    Tally,
    archive_name,
    check_archive,
    checked_event,
    event_time_ms,
    filled_event,
    header_event,
    idempotency_key,
    message_text,
    search_words,
    snippet,
    stamp_ms,
    topic_of_file,
    transcript_file_name,
    words_of,
)
from sessionstore.files import (
    NotRegularFileError,
    fsync_directory,
    make_private_dirs,
    open_regular,
)
from sessionstore.openclaw.merge import now_ms as current_time_ms
from sessionstore.openclaw.writelock import TRANSCRIPT_STALE_S, write_lock

__all__ = [
    "MAX_LINE_BYTES",
    "TRANSCRIPT_VERSION",
    "AppendResult",
    "Archive",
    "FileTranscripts",
    "TranscriptStats",
    "Transcripts",
    "append_to_session",
]

#: The longest transcript line read, in bytes (newline excluded): far above a real
#: message, and what bounds the memory of every read. A longer line is skipped.
MAX_LINE_BYTES = 64 * 1024 * 1024
_BLOCK = 64 * 1024
# <file>.deleted.<ts> / <file>.reset.<ts>, ts = 2026-03-31T08-00-00.000Z
_ARCHIVE = re.compile(r".+\.(deleted|reset)\.(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d(?:\.\d{3})?Z)")
# Pre-compaction copies, <parentId>.checkpoint.<uuid>.jsonl: not live transcripts.
_CHECKPOINT = re.compile(r".+\.checkpoint\.[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\.jsonl", re.I)

EntryLike = SessionEntry | Mapping[str, Any]
TopicId = str | int | None


def _parse(line: bytes) -> dict[str, Any] | None:
    """One line as a JSON object, or ``None`` if it is blank, malformed or not an object."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _lines_forward(fh: IO[bytes]) -> Iterator[bytes | None]:
    """The file's lines in order, read in blocks; ``None`` for a line longer than
    :data:`MAX_LINE_BYTES`, which is read past, never held whole."""
    while line := fh.readline(MAX_LINE_BYTES + 1):
        if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
            yield line
            continue
        while (rest := fh.readline(_BLOCK)) and not rest.endswith(b"\n"):
            pass
        yield None


def _lines_backwards(fh: IO[bytes], max_bytes: int) -> Iterator[bytes | None]:
    """Complete lines from the end of the file, newest first, reading at most
    ``max_bytes`` in blocks; a line cut by the byte cap is not returned, and one
    longer than :data:`MAX_LINE_BYTES` comes as ``None``."""
    for _, line in _lines_before(fh, fh.seek(0, os.SEEK_END), max_bytes):
        yield line


def _lines_before(
    fh: IO[bytes], end: int, max_bytes: int | None = None
) -> Iterator[tuple[int, bytes | None]]:
    """``(offset, line)`` of the lines that start before byte ``end``, newest first,
    read backwards in blocks (at most ``max_bytes``: a line cut by that cap is not
    returned); a line longer than :data:`MAX_LINE_BYTES` comes as ``None``. The first
    pair is what lies between the last newline before ``end`` and ``end`` (``b""``
    when ``end`` starts a line)."""
    pos = end
    budget = end if max_bytes is None else max_bytes
    pending: list[bytes] = []  # the end of the line being assembled, newest piece first
    held = 0  # bytes in pending; -1 once the line is known to be too long
    while pos > 0 and budget > 0:
        size = min(_BLOCK, pos, budget)
        pos, budget = pos - size, budget - size
        fh.seek(pos)
        block = fh.read(size)
        parts = block.split(b"\n")
        if len(parts) > 1:
            start = pos + len(block) - len(parts[-1])
            too_long = held < 0 or held + len(parts[-1]) > MAX_LINE_BYTES
            yield start, None if too_long else b"".join([parts[-1], *reversed(pending)])
            for part in reversed(parts[1:-1]):
                start -= len(part) + 1
                yield start, part
            pending, held = [parts[0]], len(parts[0])
        elif held >= 0 and held + size <= MAX_LINE_BYTES:
            pending.append(parts[0])
            held += size
        else:
            pending, held = [], -1
    if pos == 0 and end > 0:
        yield 0, None if held < 0 else b"".join(reversed(pending))


def _lines_after(fh: IO[bytes], start: int) -> Iterator[tuple[int, int, bytes | None]]:
    """``(offset, end, line)`` of the complete lines from byte ``start`` on, in order,
    ``end`` just past the newline; ``None`` for a line longer than
    :data:`MAX_LINE_BYTES`, read past, never held whole. A last line without its
    newline is being written: it is not returned."""
    fh.seek(start)
    pos = start
    while line := fh.readline(MAX_LINE_BYTES + 1):
        if line.endswith(b"\n"):
            yield pos, pos + len(line), line[:-1]
            pos += len(line)
            continue
        if len(line) <= MAX_LINE_BYTES:
            return  # unfinished
        skipped = len(line)
        while (rest := fh.readline(_BLOCK)) and not rest.endswith(b"\n"):
            skipped += len(rest)
        if not rest:
            return
        skipped += len(rest)
        yield pos, pos + skipped, None
        pos += skipped


class Transcripts:
    """One agent's transcripts directory (cold storage).

    Every method finds its file through :meth:`path`, so nothing is read or written
    outside ``directory``. Writers hold ``<file>.lock`` as OpenClaw does (created
    exclusively, removed on release, a dead holder's taken over at once); readers take
    no lock and skip a half-written last line.

    >>> import tempfile
    >>> transcripts = Transcripts(tempfile.mkdtemp())
    >>> transcripts.path({"sessionId": "s1", "updatedAt": 1, "sessionFile": "/etc/x"}).name
    's1.jsonl'
    """

    def __init__(self, directory: str | os.PathLike[str], *, lock_timeout: float = 60.0) -> None:
        self._dir = Path(directory).expanduser().absolute()
        self._lock_timeout = lock_timeout

    @property
    def directory(self) -> Path:
        """The sessions directory this object reads and writes."""
        return self._dir

    def __repr__(self) -> str:
        return f"Transcripts({str(self._dir)!r})"

    # -- paths ------------------------------------------------------------------------

    def _inside(self, candidate: str) -> Path | None:
        """``directory/<name>`` if ``candidate`` (relative to the directory, or absolute)
        resolves, symlinks followed, to a ``.jsonl`` name directly inside the real
        directory that is not something other than a regular file; else ``None``."""
        real = os.path.realpath(os.path.join(self._dir, candidate))
        parent, name = os.path.split(real)
        if parent != os.path.realpath(self._dir) or not name.endswith(".jsonl"):
            return None
        if os.path.lexists(real) and not os.path.isfile(real):
            return None
        return self._dir / name

    def path(self, entry: EntryLike, *, topic_id: TopicId = None) -> Path:
        """The transcript of ``entry``, always inside :attr:`directory`.

        A usable ``sessionFile`` wins; an absolute one from a moved state directory
        (``…/agents/<id>/sessions/<name>``) keeps its name. Otherwise, and silently
        for unsafe values, the file is ``<sessionId>.jsonl``, or with ``topic_id`` (else
        the topic the ``sessionFile``'s name gives) ``<sessionId>-topic-<topic>.jsonl``
        (strings encoded as ``encodeURIComponent``).
        """
        session = as_entry(entry)  # raises InvalidEntryError for an unsafe sessionId
        candidate = (session.session_file or "").strip()
        parts = Path(candidate).parts
        if candidate and ".." not in parts:
            found = self._inside(candidate)
            moved = len(parts) >= 4 and parts[-4] == "agents" and parts[-2] == "sessions"
            if found is None and moved and os.path.isabs(candidate):
                found = self._inside(parts[-1])
            if found is not None:
                return found
        if topic_id is None:  # the topic the sessionFile names, wherever it was
            topic_id = topic_of_file(session.session_id, os.path.basename(candidate))
        name = transcript_file_name(session.session_id, topic_id)
        found = self._inside(name)
        if found is None:  # only if someone planted a symlink or directory there
            raise StoreUnavailableError(
                f"{self._dir / name} leads out of {self._dir} or is not a regular file; "
                "refusing to use it"
            )
        return found

    def find(self, entry: EntryLike, *, topic_id: TopicId = None) -> Path | None:
        """The transcript of ``entry`` (see :meth:`path`) if it exists, else ``None``.

        Raises :class:`StoreUnavailableError` when something is there that must not be
        used (a symlink out of the directory, a FIFO, a directory) or that cannot be
        looked at: such a transcript is neither missing nor readable.
        """
        return self._find(self.path(entry, topic_id=topic_id))

    @staticmethod
    def _find(path: Path) -> Path | None:
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreUnavailableError(f"cannot look at {path}: {exc.strerror}") from exc
        if not stat.S_ISREG(mode):
            raise StoreUnavailableError(f"{path} is not a regular file; refusing to use it")
        return path

    def _names(self) -> list[str]:
        """The names in the directory, sorted; none if it does not exist."""
        try:
            return sorted(os.listdir(self._dir))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreUnavailableError(f"cannot list {self._dir}: {exc.strerror}") from exc

    def files(self) -> list[Path]:
        """Live transcripts in the directory, sorted: no archives (``.deleted.*``,
        ``.reset.*``, ``.bak.*``), locks, trajectories or checkpoint copies."""
        found = []
        for name in self._names():
            if name.endswith(".trajectory.jsonl") or _CHECKPOINT.fullmatch(name):
                continue
            path = self._inside(name)
            if path is not None and path.name == name and path.is_file():
                found.append(path)
        return found

    # -- writing ----------------------------------------------------------------------

    @contextmanager
    def _locked(self, path: Path) -> Iterator[None]:
        """Hold OpenClaw's ``<file>.lock`` (see :mod:`sessionstore.openclaw.writelock`)."""
        try:
            make_private_dirs(self._dir)
        except OSError as exc:
            raise StoreUnavailableError(f"cannot lock {path}: {exc.strerror or exc}") from exc
        with write_lock(
            path, timeout=self._lock_timeout, stale_s=TRANSCRIPT_STALE_S, what="transcript lock"
        ):
            yield

    def append(
        self,
        entry: EntryLike,
        events: Iterable[Mapping[str, Any]],
        *,
        topic_id: TopicId = None,
        cwd: str | None = None,
    ) -> AppendResult:
        """Append ``events`` (JSON objects) to the transcript, holding its lock.

        A new or empty file first gets the version-3 header (``cwd`` defaults to the
        directory), unless the first event is itself a ``session`` header. An event
        whose ``id`` or ``idempotencyKey`` is already in the file or earlier in the
        batch is skipped. Missing ``id``, ``parentId`` and ``timestamp`` are
        filled in; everything else is written as given, one compact line per event.
        Nothing is created when there is nothing to write.
        """
        session = as_entry(entry)
        path = self.path(session, topic_id=topic_id)
        batch = [checked_event(event) for event in events]
        with self._locked(path):
            return self._append_locked(path, session.session_id, batch, cwd)

    def _append_locked(
        self, path: Path, session_id: str, batch: list[dict[str, Any]], cwd: str | None
    ) -> AppendResult:
        keys: set[str] = set()
        ids: set[str] = set()
        last_id: str | None = None
        empty = True
        for line in self._lines(path):
            empty = False
            if line is None or (event := _parse(line)) is None:
                continue  # malformed and oversized lines stay in the file, ignored
            if (key := idempotency_key(event)) is not None:
                keys.add(key)
            if isinstance(event.get("id"), str) and event.get("type") != "session":
                ids.add(event["id"])
                last_id = event["id"]
        out: list[bytes] = []
        skipped, tally = 0, Tally()
        # A batch that starts with its own header (a copied transcript) keeps it.
        own_header = bool(batch) and batch[0].get("type") == "session"
        for i, event in enumerate(batch):
            if event.get("type") == "session" and (i or not empty):
                # The header stays the first line: one more would start a second file.
                raise InvalidArgumentError("a 'session' header can only start a new transcript")
            if i or not own_header:
                key, event_id = idempotency_key(event), event.get("id")
                if (key is not None and key in keys) or (
                    isinstance(event_id, str) and event_id in ids
                ):
                    skipped += 1
                    continue
                if key is not None:
                    keys.add(key)
                event = filled_event(event, ids, last_id, current_time_ms())
                last_id = event["id"] if isinstance(event.get("id"), str) else last_id
            tally.add(event)
            out.append(orjson.dumps(event, option=DUMP_OPTIONS) + b"\n")
        created = False
        if out:
            header = None if own_header else _header(session_id, cwd or str(self._dir))
            try:
                created = _append_lines(path, out, header)
            except OSError as exc:
                raise StoreUnavailableError(f"cannot write {path}: {exc.strerror}") from exc
        return AppendResult.of(
            path, tally, written=len(batch) - skipped, skipped=skipped, created=created
        )

    def archive(
        self,
        entry: EntryLike,
        reason: Literal["deleted", "reset"],
        *,
        now_ms: int | None = None,
        topic_id: TopicId = None,
    ) -> Path | None:
        """Rename the transcript to ``<file>.<reason>.<ts>`` (``2026-03-31T08-00-00.000Z``)
        and return the new path; ``None`` if there is no file. Never deletes anything."""
        check_archive(reason, now_ms)
        return self._archive(self.path(entry, topic_id=topic_id), reason, now_ms)

    def _archive(self, path: Path, reason: str, now_ms: int | None) -> Path | None:
        ms = current_time_ms() if now_ms is None else now_ms
        with self._locked(path):
            if not path.is_file():
                return None
            # Two archives within one millisecond: take the next free one, never overwrite.
            while (target := path.with_name(archive_name(path.name, reason, ms))).exists():
                ms += 1
            try:
                os.rename(path, target)
            except OSError as exc:
                raise StoreUnavailableError(f"cannot archive {path}: {exc.strerror}") from exc
            return target

    def archives(self) -> list[Archive]:
        """The archives in the directory, ``<file>.deleted.<ts>`` and ``<file>.reset.<ts>``,
        sorted by name; a name whose time stamp is not a real time is not one."""
        found = []
        for name in self._names():
            match = _ARCHIVE.fullmatch(name)
            archived_at = None if match is None else stamp_ms(match[2])
            if match is not None and archived_at is not None:
                reason: Literal["deleted", "reset"] = (
                    "deleted" if match[1] == "deleted" else "reset"
                )
                found.append(Archive(name, reason, archived_at))
        return found

    def remove_archive(self, name: str) -> None:
        """Delete the archive ``name`` (of :meth:`archives`); nothing if it is gone.

        Raises :class:`StoreUnavailableError`, having removed nothing, when it is not a
        regular file (a directory or a symlink in its place) or cannot be removed.
        """
        if os.path.basename(name) != name or _ARCHIVE.fullmatch(name) is None:
            raise InvalidArgumentError(f"{name!r} is not an archive in {self._dir}")
        _unlink_regular(self._dir / name)

    # -- reading ----------------------------------------------------------------------

    @staticmethod
    @contextmanager
    def _reading(path: Path) -> Iterator[IO[bytes] | None]:
        """The file open for reading, or ``None`` if it does not exist."""
        fh: IO[bytes] | None = None
        try:
            fh = os.fdopen(_open_regular(path, os.O_RDONLY), "rb")
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StoreUnavailableError(f"cannot read {path}: {exc.strerror}") from exc
        try:
            yield fh
        except OSError as exc:  # a failing disk, while reading
            raise StoreUnavailableError(f"cannot read {path}: {exc.strerror}") from exc
        finally:
            if fh is not None:
                fh.close()

    def _lines(self, path: Path) -> Iterator[bytes | None]:
        """The file's lines, streamed (``None`` for an oversized one); none if it does
        not exist."""
        with self._reading(path) as fh:
            yield from _lines_forward(fh) if fh else ()

    def tail(
        self,
        entry: EntryLike,
        *,
        limit: int = 200,
        max_bytes: int = 1_048_576,
        topic_id: TopicId = None,
    ) -> list[dict[str, Any]]:
        """The last ``limit`` (1-1000) ``message`` events, oldest first, reading the
        file backwards from its end and at most ``max_bytes`` of it."""
        check_limit(limit)
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise InvalidArgumentError(f"max_bytes must be a positive integer, got {max_bytes!r}")
        path = self.path(entry, topic_id=topic_id)
        found: list[dict[str, Any]] = []
        with self._reading(path) as fh:
            for line in _lines_backwards(fh, max_bytes) if fh else ():
                event = None if line is None else _parse(line)
                if event is not None and event.get("type") == "message":
                    found.append(event)
                    if len(found) == limit:
                        break
        found.reverse()
        return found

    def stats(self, entry: EntryLike, *, topic_id: TopicId = None) -> TranscriptStats:
        """Message count, token sums and malformed lines, in one streaming pass."""
        return self._stats(self.path(entry, topic_id=topic_id))

    def file_stats(self, path: str | os.PathLike[str]) -> TranscriptStats:
        """:meth:`stats` of a file of :meth:`files`, found without an entry (orphans
        included); a path outside the directory is refused."""
        found = self._inside(os.fspath(path))
        if found is None:
            raise InvalidArgumentError(f"{path} is not a transcript in {self._dir}")
        return self._stats(found)

    def _stats(self, path: Path) -> TranscriptStats:
        tally, malformed, oversized = Tally(), 0, 0
        for line in self._lines(path):
            if line is None:
                oversized += 1
                continue
            if not line.strip():
                continue
            if (event := _parse(line)) is None:
                malformed += 1
                continue
            tally.add(event)
        return TranscriptStats(
            tally.messages,
            tally.input_tokens,
            tally.output_tokens,
            tally.total_tokens,
            malformed,
            oversized,
        )

    def count_messages(self, entry: EntryLike, *, topic_id: TopicId = None) -> int:
        """How many ``message`` events the transcript holds (0 without a file)."""
        return self.stats(entry, topic_id=topic_id).messages


def _open_regular(path: Path, flags: int) -> int:
    """A descriptor on the transcript ``path`` (:func:`~sessionstore.files.open_regular`,
    symbolic links not followed), or why it is refused."""
    try:
        return open_regular(path, flags, follow_symlinks=False)
    except NotRegularFileError as exc:
        raise StoreUnavailableError(f"{path} is not a regular file; refusing to use it") from exc
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise StoreUnavailableError(f"{path} is a symbolic link; refusing to use it") from exc


def _append_lines(path: Path, lines: list[bytes], header: bytes | None) -> bool:
    """Append ``lines`` in one write and fsync, after ``header`` if the file is empty.
    Returns whether it was empty (the transcript starts here)."""
    fd = _open_regular(path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
    try:
        size = os.fstat(fd).st_size
        if size == 0 and header is not None:
            lines.insert(0, header)
        elif size and os.pread(fd, 1, size - 1) != b"\n":
            lines.insert(0, b"\n")  # end a line a crashed writer left unfinished, not ours
        data = memoryview(b"".join(lines))
        while data:  # one write call, unless the kernel takes less
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    if size == 0:  # make the new directory entry durable too
        fsync_directory(path.parent)
    return size == 0


def _truncate_last(path: Path) -> tuple[dict[str, Any], Tally, int | None] | None:
    """Cut the last line off ``path`` (its writers locked out by the caller) and return
    its event, the event's counts and, when it set ``totalTokens``, the last
    ``totalTokens`` of the lines before it; ``None``, changing nothing, when the file is
    missing, empty or holds the header alone."""
    try:
        fd = _open_regular(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "r+b") as fh:
        lines = _lines_before(fh, fh.seek(0, os.SEEK_END))
        if next(lines, (0, b""))[1]:
            raise CorruptStoreError(f"cannot remove from {path}: its last line is unfinished")
        found = next(lines, None)
        if found is None:
            return None
        offset, line = found
        event = None if line is None else _parse(line)
        if event is None:
            raise CorruptStoreError(
                f"cannot remove from {path}: its last line is not a JSON object"
            )
        if event.get("type") == "session":
            return None
        tally = Tally()
        tally.add(event)
        previous = None
        if tally.total_tokens is not None:  # the totalTokens that stays the last one
            for _, earlier in lines:
                before = Tally()
                if earlier is not None and (parsed := _parse(earlier)) is not None:
                    before.add(parsed)
                if before.total_tokens is not None:
                    previous = before.total_tokens
                    break
        fh.truncate(offset)
        fh.flush()
        os.fsync(fh.fileno())
    return event, tally, previous


def _unlink_regular(path: Path) -> None:
    """Unlink ``path`` if it is a regular file; gone already is fine, anything else in
    its place (a directory, a symlink) or a failure is :class:`StoreUnavailableError`."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            raise StoreUnavailableError(f"cannot remove {path}: not a regular file")
        os.unlink(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreUnavailableError(f"cannot remove {path}: {exc.strerror}") from exc


def _header(session_id: str, cwd: str) -> bytes:
    return orjson.dumps(header_event(session_id, cwd, current_time_ms())) + b"\n"


def append_to_session(
    store: SessionStore,
    transcripts: Transcripts,
    key: str,
    events: Iterable[Mapping[str, Any]],
    *,
    topic_id: TopicId = None,
    cwd: str | None = None,
) -> AppendResult:
    """Append to the transcript of ``key`` and bring its hot-index counters along.

    Under the transcript lock: append, then ``store.update`` the entry.
    ``messageCount`` grows by the messages written (an entry without one gets the
    file's full count); written assistant ``usage`` adds to ``inputTokens`` and
    ``outputTokens`` (absent counts as 0), sets ``totalTokens`` to the last
    ``totalTokens`` and ``totalTokensFresh`` to true. The entry is left alone if it
    was deleted or reset to another ``sessionId`` meanwhile, if nothing was written,
    or if the file is not the entry's own transcript (another topic's): the counters
    mirror that one file, as ``check`` compares them. Lock order: transcript, then
    store. Should the store update fail, the lines stay written and the counters lag
    behind until :meth:`Transcripts.stats` is used to repair them. Raises
    :class:`SessionNotFoundError` without an entry. :meth:`FileTranscripts.append` is
    the same, as ``store.transcripts``.

    >>> import os, tempfile
    >>> from sessionstore import open_store
    >>> root = tempfile.mkdtemp()
    >>> store = open_store(os.path.join(root, "sessions.json"))
    >>> _ = store.put("agent:main:main", {"sessionId": "s1", "updatedAt": 1})
    >>> hello = {"type": "message", "message": {"role": "user", "content": "hi"}}
    >>> append_to_session(store, Transcripts(root), "agent:main:main", [hello]).written
    1
    >>> store.get("agent:main:main").message_count
    1
    """
    return _append_counted(
        store,
        transcripts,
        key,
        events,
        lambda entry: transcripts.path(entry, topic_id=topic_id),
        cwd,
    )


def _append_counted(
    store: SessionStore,
    transcripts: Transcripts,
    key: str,
    events: Iterable[Mapping[str, Any]],
    locate: Callable[[SessionEntry], Path],
    cwd: str | None,
) -> AppendResult:
    """The body of :func:`append_to_session`; ``locate`` finds the entry's file."""
    batch = [checked_event(event) for event in events]
    path = locate(_entry_of(store, key))
    while True:
        with transcripts._locked(path):
            # Read again under the lock: a reset may have archived this file and moved
            # the entry to a new one while the lock was awaited.
            entry = _entry_of(store, key)
            if locate(entry) == path:
                return _append_and_count(store, transcripts, key, entry, path, batch, cwd)
            path = locate(entry)


def _entry_of(store: SessionStore, key: str) -> SessionEntry:
    entry = store.get(key)
    if entry is None:
        raise SessionNotFoundError(key)
    return entry


def _append_and_count(
    store: SessionStore,
    transcripts: Transcripts,
    key: str,
    entry: SessionEntry,
    path: Path,
    batch: list[dict[str, Any]],
    cwd: str | None,
) -> AppendResult:
    """Append ``batch`` to ``path`` (locked by the caller) and move the counters."""
    result = transcripts._append_locked(path, entry.session_id, batch, cwd)
    if not result.written or path != transcripts.path(entry):
        return result  # the counters mirror the entry's own transcript only

    @functools.cache  # counted once, even if the store retries advance
    def full_count() -> int:
        return transcripts._stats(path).messages

    def advance(current: SessionEntry | None) -> SessionEntry | None:
        if current is None or current.session_id != entry.session_id:
            return None
        changes = result.tally.entry_changes(
            current.message_count, current.input_tokens, current.output_tokens, full_count
        )
        return current.with_fields(**changes) if changes else None

    store.update(key, advance)
    return result


def _event(line: bytes | None) -> dict[str, Any] | None:
    """The event on ``line``, if it is one :meth:`FileTranscripts.tail` and
    :meth:`FileTranscripts.page` return: not the header, nothing malformed or oversized."""
    event = None if line is None else _parse(line)
    return None if event is None or event.get("type") == "session" else event


class FileTranscripts:
    """The files tier of :class:`~sessionstore.contract.TranscriptStore`: the
    ``.jsonl`` files of :class:`Transcripts` in ``directory``, found through the
    entries of ``store``.

    Costs: :meth:`append` reads the file once (for the ids and idempotency keys it
    holds) and appends one write; :meth:`pop` reads the last line from the end and
    truncates; :meth:`tail` and :meth:`page` read backwards from
    the end or from a byte offset, O(page) bytes whatever the file's length;
    :meth:`count` is the entry's ``messageCount``; :meth:`search` reads every file.

    >>> import os, tempfile
    >>> from sessionstore import open_store
    >>> root = tempfile.mkdtemp()
    >>> with open_store(os.path.join(root, "sessions.json")) as store:
    ...     _ = store.put("agent:main:main", {"sessionId": "s1", "updatedAt": 1})
    ...     t = FileTranscripts(store, root)
    ...     hi = {"type": "message", "message": {"role": "user", "content": "hi there"}}
    ...     _ = t.append("agent:main:main", [hi])
    ...     print(t.tail("agent:main:main")[0]["message"]["content"], t.count("agent:main:main"))
    hi there 1
    """

    def __init__(
        self,
        store: SessionStore,
        directory: str | os.PathLike[str],
        *,
        lock_timeout: float = 60.0,
    ) -> None:
        self._store = store
        self._files = Transcripts(directory, lock_timeout=lock_timeout)

    @property
    def tier(self) -> Literal["files"]:
        return "files"

    @property
    def files(self) -> Transcripts:
        """The directory of ``.jsonl`` files underneath."""
        return self._files

    @property
    def directory(self) -> Path:
        return self._files.directory

    def __repr__(self) -> str:
        return f"FileTranscripts({str(self._files.directory)!r})"

    # -- paths ------------------------------------------------------------------------

    def path(self, session: EntryLike, *, topic_id: TopicId = None) -> Path:
        """The file of ``session``: with ``topic_id``, ``<sessionId>-topic-<topic>.jsonl``;
        without, the entry's ``sessionFile`` (where its topic is) or ``<sessionId>.jsonl``
        (see :meth:`Transcripts.path`)."""
        entry = as_entry(session)
        if topic_id is None:
            return self._files.path(entry)
        name = transcript_file_name(entry.session_id, topic_id)
        found = self._files._inside(name)
        if found is None:  # only if someone planted a symlink or directory there
            raise StoreUnavailableError(
                f"{self._files.directory / name} leads out of {self._files.directory} or is "
                "not a regular file; refusing to use it"
            )
        return found

    def _entry(self, key: str) -> SessionEntry | None:
        return self._store.get(key)

    # -- writing ----------------------------------------------------------------------

    def append(
        self,
        key: str,
        events: Iterable[Mapping[str, Any]],
        *,
        topic_id: TopicId = None,
    ) -> AppendResult:
        """Append to the transcript of ``key`` and bring the entry's counters along, as
        :func:`append_to_session` does (one body)."""
        return _append_counted(
            self._store,
            self._files,
            key,
            events,
            lambda entry: self.path(entry, topic_id=topic_id),
            None,
        )

    def pop(self, key: str, *, topic_id: TopicId = None) -> dict[str, Any] | None:
        """Remove the newest event of the transcript of ``key`` and return it (``None``
        when there is none: no entry, no file, or the header alone). Under the file's
        lock, as appends: the last line is read from the end of the file, the file is
        truncated before it and fsynced, and the entry's counters move back
        (:meth:`~sessionstore.events.Tally.removal_changes`). A last line that is not a
        JSON object (malformed, unfinished) is refused, :class:`CorruptStoreError`,
        and nothing is removed."""
        validate_key(key)
        entry = self._entry(key)
        while entry is not None:
            path = self.path(entry, topic_id=topic_id)
            if self._files._find(path) is None:
                return None
            with self._files._locked(path):
                # Read again under the lock: a reset may have moved the entry meanwhile.
                entry = self._entry(key)
                if entry is not None and self.path(entry, topic_id=topic_id) == path:
                    return self._pop_locked(key, entry, path)
        return None

    def _pop_locked(self, key: str, entry: SessionEntry, path: Path) -> dict[str, Any] | None:
        try:
            removed = _truncate_last(path)
        except OSError as exc:
            raise StoreUnavailableError(f"cannot write {path}: {exc.strerror}") from exc
        if removed is None:
            return None
        event, tally, previous = removed
        if path != self._files.path(entry):
            return event  # the counters mirror the entry's own transcript only

        @functools.cache  # counted once, even if the store retries rewind
        def remaining() -> int:
            return self._files._stats(path).messages

        def rewind(current: SessionEntry | None) -> SessionEntry | None:
            if current is None or current.session_id != entry.session_id:
                return None
            changes = tally.removal_changes(
                current.message_count,
                current.input_tokens,
                current.output_tokens,
                remaining,
                lambda: previous,
            )
            return current.with_fields(**changes) if changes else None

        self._store.update(key, rewind)
        return event

    def archive(
        self,
        key: str,
        reason: ArchiveReason,
        *,
        session: EntryLike | None = None,
        now_ms: int | None = None,
        topic_id: TopicId = None,
    ) -> str | None:
        """Rename the transcript of ``key``'s entry (or of ``session``) to its archive
        name (:meth:`Transcripts.archive`) and return that name."""
        check_archive(reason, now_ms)
        entry = self._entry(key) if session is None else as_entry(session)
        if entry is None:
            return None
        archived = self._files._archive(self.path(entry, topic_id=topic_id), reason, now_ms)
        return None if archived is None else archived.name

    def archives(self) -> list[Archive]:
        return self._files.archives()

    def remove_archive(self, name: str) -> None:
        self._files.remove_archive(name)

    def erase(
        self, keys: Iterable[str], *, session_ids: Iterable[str] = (), dry_run: bool = False
    ) -> Erasure:
        """The files of the entries' sessions and of ``session_ids`` (``<sid>.jsonl``,
        ``<sid>-topic-<t>.jsonl``, the entry's ``sessionFile``, their archives and backups
        ``<file>.<suffix>``, the trajectory sidecars), then the entries. The order makes a
        failure safe to run again: archives first (no entry names them), then the
        transcripts, each under its lock, and the entries last, in one unit with the
        blobs only they used (:class:`~sessionstore.contract.SupportsErasure`) where the
        store keeps blobs; a file that cannot be removed stops the erasure there, with
        every entry still in place."""
        wanted = sorted({validate_key(key) for key in keys})
        extra = {validate_session_id(session_id) for session_id in session_ids}
        store = self._store
        entries = {key: entry for key in wanted if (entry := store.get(key)) is not None}
        erased = Counter(entry.session_id for entry in entries.values())
        sessions = set(erased) | extra
        shared = {sid for sid in sessions if store.count(session_id=sid) > erased[sid]}
        live, archived, kept = self._files_of(entries.values(), sessions, shared)
        paths = [self._files.directory / name for name in (*archived, *live)]
        lines = size = 0
        for path in paths:
            counted = _line_count(path)
            lines, size = lines + counted[0], size + counted[1]
        keys_found = sorted(entries)
        blobs = 0
        if not dry_run:
            for path in paths:
                self._remove(path, locked=path.name in live)
        if keys_found and isinstance(store, SupportsErasure):
            blobs = store.erase_entries(keys_found, dry_run=dry_run)[1]
        elif keys_found and not dry_run:
            store.delete_many(keys_found)
        return Erasure(
            agent_id=store.agent_id,
            keys=keys_found,
            transcripts=sorted(live),
            archives=sorted(archived),
            kept=sorted(kept),
            events=lines,
            bytes=size,
            blobs=blobs,
            applied=not dry_run,
        )

    def _files_of(
        self, entries: Iterable[SessionEntry], sessions: set[str], shared: set[str]
    ) -> tuple[list[str], list[str], list[str]]:
        """(transcripts, archives, kept) of ``sessions`` among the directory's files:
        the live files of a ``shared`` session are kept, its archives are not."""
        # a transcript's name -> its session: <sid>.jsonl, and each entry's sessionFile
        owner = {f"{sid}.jsonl": sid for sid in sessions}
        owner.update((self.path(entry).name, entry.session_id) for entry in entries)
        live: list[str] = []
        archived: list[str] = []
        kept: list[str] = []
        for name in self._files._names():
            if name.endswith(".lock"):
                continue  # a writer's lock: its holder removes it
            head = name.partition(".trajectory")[0]
            sidecar = name in (f"{head}.trajectory.jsonl", f"{head}.trajectory-path.json")
            base = name[: name.index(".jsonl") + 6] if ".jsonl" in name else ""
            sid = head if sidecar else owner.get(base)
            if sid is None and "-topic-" in base:
                sid = base.split("-topic-", 1)[0]  # <sid>-topic-<t>.jsonl
            if sid not in sessions:
                continue
            if name == base or sidecar:
                # an entry that stays still uses a shared session's live files
                (kept if sid in shared else live).append(name)
            else:
                archived.append(name)  # <file>.deleted|reset|bak.<ts>[.zst]
        return live, archived, kept

    def _remove(self, path: Path, *, locked: bool) -> None:
        """Unlink ``path``, a regular file (a live transcript under its lock); gone
        already is fine, anything else in its place is refused."""
        with self._files._locked(path) if locked else contextlib.nullcontext():
            _unlink_regular(path)

    def import_lines(
        self,
        key: str,
        session: EntryLike,
        lines: Iterable[bytes],
        *,
        topic_id: TopicId = None,
    ) -> int:
        """Replace the file of ``session`` with ``lines``, byte for byte, under its lock:
        written to a temporary file beside it, fsynced, renamed over it. No lines: the
        file is removed. The entry's counters are left alone."""
        validate_key(key)
        path = self.path(session, topic_id=topic_id)
        with self._files._locked(path):
            try:
                return _replace_lines(path, lines)
            except OSError as exc:
                raise StoreUnavailableError(f"cannot write {path}: {exc.strerror}") from exc

    # -- reading ----------------------------------------------------------------------

    def _existing(self, key: str, topic_id: TopicId) -> tuple[SessionEntry, Path] | None:
        entry = self._entry(key)
        return None if entry is None else (entry, self.path(entry, topic_id=topic_id))

    def tail(
        self, key: str, *, limit: int = DEFAULT_PAGE_SIZE, topic_id: TopicId = None
    ) -> list[dict[str, Any]]:
        """The last ``limit`` events of every type (not the header), oldest first,
        reading the file backwards from its end: O(the bytes of those events)."""
        check_limit(limit)
        found = self._existing(key, topic_id)
        if found is None:
            return []
        events: list[dict[str, Any]] = []
        with self._files._reading(found[1]) as fh:
            if fh is not None:
                lines = _lines_before(fh, fh.seek(0, os.SEEK_END))
                next(lines, None)  # after the last newline: a line being written
                for _, line in lines:
                    if (event := _event(line)) is not None:
                        events.append(event)
                        if len(events) == limit:
                            break
        events.reverse()
        return events

    def page(
        self,
        key: str,
        *,
        before: str | None = None,
        after: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        bodies: bool = True,
        topic_id: TopicId = None,
    ) -> TranscriptPage:
        """One page of events, read from a byte offset (the cursor) backwards (newest
        first) or forwards (``after=``): O(page) bytes, never the whole file. A cursor
        is the offset of a line start in this transcript, else InvalidArgumentError."""
        TranscriptPage.check(before, after, limit)
        found = self._existing(key, topic_id)
        if found is None:
            return TranscriptPage([], None)
        name = found[1].name
        items: list[dict[str, Any]] = []
        marks: list[int] = []  # each item's cursor
        with self._files._reading(found[1]) as fh:
            if fh is None:
                if before is not None or after not in (None, TRANSCRIPT_START):
                    _cursor(before or after or "", name, None)  # refused unless valid
                return TranscriptPage([], None)
            if after is not None:
                start = 0 if after == TRANSCRIPT_START else _cursor(after, name, fh)
                for _, end, line in _lines_after(fh, start):
                    if (event := _event(line)) is not None:
                        items.append(_body(event, line, bodies))
                        marks.append(end)
                        if len(items) > limit:
                            break
            else:
                end = fh.seek(0, os.SEEK_END) if before is None else _cursor(before, name, fh)
                lines = _lines_before(fh, end)
                next(lines, None)  # after the last newline before end: not a whole line
                for offset, line in lines:
                    if (event := _event(line)) is not None:
                        items.append(_body(event, line, bodies))
                        marks.append(offset)
                        if len(items) > limit:
                            break
        return TranscriptPage.of(items, marks, limit, name)

    def count(self, key: str, *, topic_id: TopicId = None) -> int:
        """The messages of the current transcript: the entry's ``messageCount`` (which
        :meth:`append` keeps in step with the file and ``check --repair`` repairs),
        unless it has none or ``topic_id`` names another file than the entry's own;
        then one streaming pass over the file, O(its size)."""
        found = self._existing(key, topic_id)
        if found is None or self._files._find(found[1]) is None:
            return 0
        entry, path = found
        if entry.message_count is not None and path == self._files.path(entry):
            return entry.message_count
        return self._files._stats(path).messages

    def search(self, query: str, *, key: str | None = None, limit: int = 20) -> list[SearchHit]:
        """``message`` events whose text holds every word of ``query`` as a whole word,
        newest first (event time, then position). A scan: it reads the live transcript
        of every entry of the store, O(their total size); ``key`` reads that one file."""
        words = search_words(query)
        check_limit(limit)
        if not words:
            return []
        wanted = set(words)
        if key is None:
            sessions: Iterable[tuple[str, SessionEntry]] = self._store.iter_entries()
        else:
            entry = self._entry(key)
            sessions = [] if entry is None else [(key, entry)]
        # A session's topic transcripts are live too: <sessionId>-topic-<topic>.jsonl.
        topics: dict[str, list[Path]] = {}
        for path in self._files.files():
            session_id, _, topic = path.name.removesuffix(".jsonl").partition("-topic-")
            if topic:
                topics.setdefault(session_id, []).append(path)
        seen: set[Path] = set()

        def paths(entry: SessionEntry) -> list[Path]:
            # key= narrows to the session's own transcript, as on the SQL tier
            found = [self.path(entry), *(topics.get(entry.session_id, []) if key is None else [])]
            fresh = [path for path in found if path not in seen]
            seen.update(fresh)
            return fresh

        def hits() -> Iterator[tuple[tuple[int, int, str], SearchHit]]:
            for found_key, entry in sessions:
                for path in paths(entry):
                    yield from file_hits(found_key, entry, path)

        def file_hits(
            found_key: str, entry: SessionEntry, path: Path
        ) -> Iterator[tuple[tuple[int, int, str], SearchHit]]:
            for number, line in enumerate(self._files._lines(path)):
                event = None if line is None else _parse(line)
                text = None if event is None else message_text(event)
                if event is None or text is None or not wanted <= words_of(text):
                    continue
                ms = event_time_ms(event)
                hit = SearchHit(found_key, entry.session_id, number, snippet(text, words), ms)
                yield (-(2**63) if ms is None else ms, number, found_key), hit

        return [hit for _, hit in heapq.nlargest(limit, hits(), key=lambda pair: pair[0])]

    def stats(self, session: EntryLike, *, topic_id: TopicId = None) -> TranscriptStats:
        """Counts over the whole file, in one streaming pass."""
        return self._files._stats(self.path(session, topic_id=topic_id))

    def exists(self, session: EntryLike, *, topic_id: TopicId = None) -> bool:
        return self._files._find(self.path(session, topic_id=topic_id)) is not None

    def session_ids(self) -> set[str]:
        """The sessions of the live files, by name (``<sessionId>[-topic-<t>].jsonl``)."""
        return {
            path.name.removesuffix(".jsonl").split("-topic-", 1)[0] for path in self._files.files()
        }

    def lines(self, session: EntryLike, *, topic_id: TopicId = None) -> Iterator[bytes]:
        """Every line of the file as stored, without its newline (an unfinished last
        line too); one line is held at a time, however long."""
        with self._files._reading(self.path(session, topic_id=topic_id)) as fh:
            for line in fh or ():
                yield line.removesuffix(b"\n")


def _line_count(path: Path) -> tuple[int, int]:
    """(lines, bytes) of a file, an unfinished last line counted; a file that is not
    there (or not a regular file: erasure refuses it) is ``(0, 0)``."""
    lines = size = 0
    last = b"\n"
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return 0, 0
        with path.open("rb") as fh:
            while block := fh.read(_BLOCK):
                lines += block.count(b"\n")
                size += len(block)
                last = block[-1:]
    except FileNotFoundError:
        return 0, 0
    except OSError as exc:
        raise StoreUnavailableError(f"cannot read {path}: {exc.strerror}") from exc
    return lines + (last != b"\n"), size


def _body(event: dict[str, Any], line: bytes | None, bodies: bool) -> dict[str, Any]:
    if bodies or line is None or len(line) <= LARGE_EVENT_BYTES:
        return event
    return event_header(event, len(line))


def _cursor(cursor: str, name: str, fh: IO[bytes] | None) -> int:
    """The byte offset of ``cursor`` in the file ``name``: a line start, or its end."""
    offset = decode_transcript_cursor(cursor, name)
    size = 0 if fh is None else fh.seek(0, os.SEEK_END)
    if 0 < offset < size:
        assert fh is not None
        fh.seek(offset - 1)
        at_line_start = fh.read(1) == b"\n"
    else:
        at_line_start = offset in (0, size)
    if not at_line_start:
        raise InvalidArgumentError(f"invalid cursor {cursor!r}: not a line start of {name}")
    return offset


def _replace_lines(path: Path, lines: Iterable[bytes]) -> int:
    """Make ``lines`` the content of ``path`` atomically; returns how many there were."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
    count = 0
    fd = _open_regular(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        with os.fdopen(fd, "wb") as out:
            for line in lines:
                if not isinstance(line, bytes | bytearray | memoryview):
                    raise InvalidArgumentError(f"a line must be bytes, got {type(line).__name__}")
                if b"\n" in line:
                    raise InvalidArgumentError(f"line {count} holds a newline")
                out.write(line)
                out.write(b"\n")
                count += 1
            out.flush()
            os.fsync(out.fileno())
        if count:
            os.replace(tmp, path)
        else:
            os.unlink(tmp)
            path.unlink(missing_ok=True)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)
    return count

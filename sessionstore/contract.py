"""The contract every backend implements: :class:`SessionStore`, its filters, page
limits and cursors, the small optional capabilities some backends add
(:class:`SupportsAgents`, :class:`SupportsMaintenance`, :class:`SupportsImportRecords`,
:class:`SupportsStoredJson`), and :class:`TranscriptStore`, the contract of the cold
tier (``store.transcripts``) that the files tier and the SQL tier both implement.

This module names no backend; :func:`sessionstore.open_store` chooses one.

>>> Filters(archived=False).matches({"archived": True, "updated_at": 1})
False
>>> decode_cursor(encode_cursor(7, "agent:main:main"))
(7, 'agent:main:main')
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import (
    Any,
    Literal,
    Protocol,
    Self,
    TypedDict,
    TypeVar,
    Unpack,
    runtime_checkable,
)

import orjson

from sessionstore.entry import SessionEntry, SessionPage, validate_key
from sessionstore.errors import InvalidArgumentError
from sessionstore.events import Tally

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "HEADER_STRING_CHARS",
    "LARGE_EVENT_BYTES",
    "MAX_PAGE_SIZE",
    "TRANSCRIPT_START",
    "AppendResult",
    "Archive",
    "ArchiveReason",
    "Erasure",
    "FilterArgs",
    "Filters",
    "ImportRecord",
    "Order",
    "Reclaimed",
    "SearchHit",
    "SessionStore",
    "SupportsAgents",
    "SupportsAppendAndUpdate",
    "SupportsErasure",
    "SupportsImportRecords",
    "SupportsMaintenance",
    "SupportsStoredJson",
    "TranscriptPage",
    "TranscriptStats",
    "TranscriptStore",
    "TranscriptTier",
    "Updater",
    "batched",
    "check_expected_versions",
    "check_limit",
    "check_order",
    "decode_cursor",
    "decode_transcript_cursor",
    "encode_cursor",
    "encode_transcript_cursor",
    "event_header",
    "key_range",
]

#: Page size of :meth:`SessionStore.list` when no ``limit`` is given.
DEFAULT_PAGE_SIZE = 50
#: Largest page :meth:`SessionStore.list` returns; larger limits are refused.
MAX_PAGE_SIZE = 1000

Order = Literal["desc", "asc"]
TranscriptTier = Literal["files", "sql"]
ArchiveReason = Literal["deleted", "reset"]
#: Events whose JSON is longer than this (bytes) are "large": :meth:`TranscriptStore.page`
#: with ``bodies=False`` returns only their header (see :func:`event_header`).
LARGE_EVENT_BYTES = 64 * 1024
#: The cursor before a transcript's first event: ``page(key, after=TRANSCRIPT_START)``
#: reads a transcript from its beginning.
TRANSCRIPT_START = "start"
EntryLike = SessionEntry | Mapping[str, Any]
Updater = Callable[[SessionEntry | None], SessionEntry | None]
T = TypeVar("T")


class FilterArgs(TypedDict, total=False):
    """The filters of :meth:`SessionStore.list` and :meth:`SessionStore.count`."""

    channel: str | None
    status: str | None
    chat_type: str | None
    archived: bool | None
    label_prefix: str | None
    updated_after: int | None
    updated_before: int | None
    spawned_by: str | None
    session_id: str | None
    key_prefix: str | None


@dataclass(frozen=True, slots=True)
class Filters:
    """Listing filters; ``None`` means "any". Timestamps are epoch ms, exclusive bounds.
    ``key_prefix`` and ``label_prefix`` are literal prefixes (no wildcards), compared
    exactly, case and all.

    >>> Filters(channel=5)
    Traceback (most recent call last):
    ...
    sessionstore.errors.InvalidArgumentError: filter channel must be a str, got 5
    """

    channel: str | None = None
    status: str | None = None
    chat_type: str | None = None
    archived: bool | None = None
    label_prefix: str | None = None
    updated_after: int | None = None
    updated_before: int | None = None
    spawned_by: str | None = None
    session_id: str | None = None
    key_prefix: str | None = None

    def __post_init__(self) -> None:
        # Checked here so that every backend refuses the same values the same way.
        for name in (
            "channel",
            "status",
            "chat_type",
            "label_prefix",
            "spawned_by",
            "session_id",
            "key_prefix",
        ):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or "\x00" in value):
                raise InvalidArgumentError(f"filter {name} must be a str, got {value!r}")
        if self.archived is not None and not isinstance(self.archived, bool):
            raise InvalidArgumentError(f"filter archived must be a bool, got {self.archived!r}")
        for name in ("updated_after", "updated_before"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise InvalidArgumentError(
                    f"filter {name} must be epoch milliseconds (int), got {value!r}"
                )

    def matches(self, columns: Mapping[str, Any], key: str = "") -> bool:
        """Whether the projected index columns of the entry under ``key`` pass these
        filters (the JSON twin's path)."""
        if self.key_prefix is not None and not key.startswith(self.key_prefix):
            return False
        for name in ("channel", "status", "chat_type", "archived", "spawned_by", "session_id"):
            wanted = getattr(self, name)
            if wanted is not None and columns[name] != wanted:
                return False
        if self.label_prefix is not None:
            label = columns["label"]
            if label is None or not label.startswith(self.label_prefix):
                return False
        updated = columns["updated_at"]
        if self.updated_after is not None and not updated > self.updated_after:
            return False
        return self.updated_before is None or updated < self.updated_before


def key_range(prefix: str) -> tuple[str, str | None]:
    r"""The keys that start with ``prefix`` as a range of code points: ``lower <= key <
    upper`` (no upper bound when ``prefix`` is empty or all U+10FFFF). Every backend
    orders keys by code point, so the range is exact where ``LIKE`` would need escapes
    and, on SQLite, ignore case.

    >>> key_range("adk:a%b")
    ('adk:a%b', 'adk:a%c')
    >>> key_range("x\U0010ffff")
    ('x\U0010ffff', 'y')
    """
    head = prefix.rstrip("\U0010ffff")
    if not head:
        return prefix, None
    last = ord(head[-1]) + 1
    if last == 0xD800:  # surrogates are no characters of UTF-8 text
        last = 0xE000
    return prefix, head[:-1] + chr(last)


def check_limit(limit: int, name: str = "limit") -> int:
    """Refuse page and batch sizes outside 1..MAX_PAGE_SIZE."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidArgumentError(
            f"{name} must be an integer from 1 to {MAX_PAGE_SIZE}, got {limit!r}"
        )
    return limit


def check_expected_versions(versions: Mapping[str, int]) -> dict[str, int]:
    """``expected_versions`` of :meth:`SessionStore.put_many`, checked: valid keys and
    versions that are integers >= 0 (``0``: absent)."""
    checked = {}
    for key, version in versions.items():
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise InvalidArgumentError(
                f"expected version of {key!r} must be an integer >= 0, got {version!r}"
            )
        checked[validate_key(key)] = version
    return checked


def check_order(order: str) -> bool:
    """``True`` for newest first (``"desc"``), ``False`` for ``"asc"``."""
    if order not in ("desc", "asc"):
        raise InvalidArgumentError(f"order must be 'desc' or 'asc', got {order!r}")
    return order == "desc"


def encode_cursor(updated_at: int, key: str) -> str:
    """An opaque keyset cursor for the position after (updated_at, key)."""
    return base64.urlsafe_b64encode(orjson.dumps([updated_at, key])).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """Inverse of :func:`encode_cursor`; a malformed cursor is an InvalidArgumentError."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        updated_at, key = orjson.loads(raw)
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise InvalidArgumentError(f"invalid cursor {cursor!r}") from exc
    # Checked here so that no database sees a value its column cannot hold.
    valid = (
        type(updated_at) is int  # not bool, which is an int to Python
        and -(2**63) <= updated_at < 2**63
        and isinstance(key, str)
        and "\x00" not in key
    )
    if not valid:
        raise InvalidArgumentError(f"invalid cursor {cursor!r}")
    return updated_at, key


def encode_transcript_cursor(transcript: str, position: int) -> str:
    """An opaque cursor of :meth:`TranscriptStore.page` for the place ``position`` (a
    sequence number on the SQL tier, a byte offset on the files tier) of the transcript
    named ``transcript`` (its file name, ``<sessionId>[-topic-<topic>].jsonl``, on both
    tiers, so that a cursor of a topic transcript is refused on the main one).

    >>> cursor = encode_transcript_cursor("s1.jsonl", 42)
    >>> decode_transcript_cursor(cursor, "s1.jsonl"), decode_transcript_cursor(TRANSCRIPT_START, "")
    (42, -1)
    >>> decode_transcript_cursor(cursor, "s1-topic-42.jsonl")
    Traceback (most recent call last):
    ...
    sessionstore.errors.InvalidArgumentError: invalid cursor ... (of another transcript)
    """
    return base64.urlsafe_b64encode(orjson.dumps(["t", transcript, position])).decode().rstrip("=")


def decode_transcript_cursor(cursor: str, transcript: str) -> int:
    """The position in :func:`encode_transcript_cursor`'s ``cursor``, which must be one
    of the transcript named ``transcript``; :data:`TRANSCRIPT_START` is ``-1``, before the
    first line. Anything else is an InvalidArgumentError."""
    if cursor == TRANSCRIPT_START:
        return -1
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        tag, owner, position = orjson.loads(raw)
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise InvalidArgumentError(f"invalid cursor {cursor!r}") from exc
    # Checked here so that no database sees a value its column cannot hold.
    if tag != "t" or type(position) is not int or not 0 <= position < 2**63:
        raise InvalidArgumentError(f"invalid cursor {cursor!r}")
    if owner != transcript:
        raise InvalidArgumentError(f"invalid cursor {cursor!r} (of another transcript)")
    return position


@runtime_checkable
class SessionStore(Protocol):
    """One agent's sessions. Every backend passes the same contract test suite.

    Keys are OpenClaw session keys (``agent:main:main``); entries are
    :class:`SessionEntry`. Every key has a version, ``0`` when it is absent, that
    drives compare-and-set. **Every write of a key gives it a version that key never had
    before**: rewriting an earlier entry, or deleting the key and writing it again,
    yields a new version, so a compare-and-set with a version read before any later
    write fails. Versions are positive integers, not necessarily consecutive; compare
    them for equality only.

    >>> from sessionstore import open_store
    >>> key = "agent:main:main"
    >>> with open_store("sqlite://", auto_upgrade=True) as store:  # in memory
    ...     version = store.put(key, SessionEntry(session_id="s1", updated_at=1))
    ...     entry = store.patch(key, {"label": "Inbox"}, now_ms=2)
    ...     print(store.get(key).label, store.count(), store.version(key) > version)
    Inbox 1 True
    """

    @property
    def agent_id(self) -> str:
        """The agent whose sessions this store holds."""
        ...

    @property
    def transcripts(self) -> TranscriptStore:
        """The conversations of this store's sessions (the cold tier), bound to its
        agent: files or SQL, chosen when the store is opened."""
        ...

    def get(self, key: str) -> SessionEntry | None:
        """The entry under ``key``, or ``None``."""
        ...

    def version(self, key: str) -> int:
        """The current version of ``key``; ``0`` when it does not exist."""
        ...

    def get_with_version(self, key: str) -> tuple[SessionEntry | None, int]:
        """The entry and its version, read together (``(None, 0)`` when absent);
        the version to pass as ``expected_version`` for a compare-and-set."""
        ...

    def get_many(self, keys: Iterable[str]) -> dict[str, SessionEntry]:
        """The entries of ``keys`` that exist, by key, in the order of ``keys`` (a key
        given twice once): one read per 500 keys, where :meth:`get` would make one per
        key."""
        ...

    def get_many_with_versions(self, keys: Iterable[str]) -> dict[str, tuple[SessionEntry, int]]:
        """As :meth:`get_many`, each entry with its version (read together, as
        :meth:`get_with_version` does), for a compare-and-set of several keys with
        ``put_many(..., expected_versions=...)``."""
        ...

    def put(
        self,
        key: str,
        entry: SessionEntry | Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> int:
        """Insert or replace ``key`` and return its new version. ``entry`` may also be
        the entry's JSON object (camelCase keys).

        With ``expected_version`` the write happens only if the stored version equals
        it (``0``: only if absent); otherwise :class:`StaleEntryError` is raised.
        """
        ...

    def patch(
        self,
        key: str,
        changes: Mapping[str, Any],
        *,
        preserve_activity: bool = False,
        now_ms: int | None = None,
    ) -> SessionEntry:
        """Merge ``changes`` into ``key`` with OpenClaw's rules and return the result.

        A missing entry is created (a new ``sessionId`` unless given).
        ``updatedAt`` becomes the newest of old, new and now, clamped to now, unless
        ``preserve_activity`` keeps the old value. Setting ``model`` without
        ``modelProvider`` clears a stale provider.
        """
        ...

    def update(self, key: str, fn: Updater) -> SessionEntry | None:
        """Atomic read-modify-write: ``fn(current)`` returns the new entry or ``None``
        (no change). Returns what is stored afterwards."""
        ...

    def delete(self, key: str) -> bool:
        """Remove ``key``; ``True`` if it existed."""
        ...

    def delete_many(self, keys: Iterable[str], *, updated_before: int | None = None) -> int:
        """Remove the keys given, all or nothing; returns how many were removed.

        With ``updated_before`` only entries whose ``updatedAt`` is still older than it
        are removed, so a session touched since the caller chose it survives.
        """
        ...

    def list(
        self,
        *,
        order: Order = "desc",
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        **filters: Unpack[FilterArgs],
    ) -> SessionPage:
        """One page of summaries ordered by ``(updated_at, key)``, newest first unless
        ``order="asc"``; ``filters`` are those of :class:`FilterArgs`."""
        ...

    def count(self, **filters: Unpack[FilterArgs]) -> int:
        """How many entries pass the filters (those of :class:`FilterArgs`)."""
        ...

    def iter_entries(self, *, batch_size: int = 500) -> Iterator[tuple[str, SessionEntry]]:
        """Every ``(key, entry)`` in key order, read in batches (for export and copy)."""
        ...

    def iter_entries_with_versions(
        self, *, batch_size: int = 500
    ) -> Iterator[tuple[str, SessionEntry, int]]:
        """As :meth:`iter_entries`, each entry with its version as
        :meth:`get_with_version` reports it (read with the entry)."""
        ...

    def put_many(
        self,
        items: Iterable[tuple[str, SessionEntry | Mapping[str, Any]]],
        *,
        batch_size: int = 500,
        delete: Iterable[str] = (),
        expected_versions: Mapping[str, int] | None = None,
    ) -> int:
        """Upsert ``items`` and remove the keys of ``delete`` as one unit (one
        transaction, or one atomic file write): all or nothing. Items are sent
        ``batch_size`` at a time; returns how many were written. A key may not be both
        written and deleted (:class:`InvalidArgumentError`).

        With ``expected_versions`` every key it names must be at exactly that version
        (``0``: absent) when the unit commits; otherwise :class:`StaleEntryError` is
        raised for the first key that is not, and nothing is written. Another writer
        that creates a key expected absent meanwhile is a conflict, not an overwrite.
        """
        ...

    def close(self) -> None:
        """Release connections and file handles."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of at most ``size``, read lazily (``itertools.batched``).

    >>> list(batched(range(5), 2))
    [[0, 1], [2, 3], [4]]
    """
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


@runtime_checkable
class SupportsAgents(Protocol):
    """A store whose database holds several agents (the SQL backends)."""

    def agent_ids(self) -> list[str]:
        """Every agent with sessions in this database, sorted."""
        ...


@dataclass(frozen=True)
class Reclaimed:
    """What one reclaim of free space returned to the file system (SQLite's
    ``incremental_vacuum`` in steps; nothing on the servers, whose autovacuum reuses
    the space)."""

    #: pages given back (the file shrinks by as many once the WAL is checkpointed)
    pages: int = 0
    #: write transactions it took
    steps: int = 0
    #: free pages still in the file: a later reclaim returns them
    remaining: int = 0
    #: the longest step in milliseconds, its wait for the write lock included
    longest_step_ms: float = 0.0
    #: why it stopped before every free page was returned (another writer held the
    #: lock past the busy timeout, the time bound), or ``None``
    stopped: str | None = None


@runtime_checkable
class SupportsMaintenance(Protocol):
    """A store with storage of its own to collect and give back (the SQL backends:
    shared blobs, SQL transcripts without an entry, SQLite's free pages)."""

    def collect_blobs(self) -> int:
        """Delete stored values no entry references any more; returns how many went."""
        ...

    def collect_transcripts(self, *, now_ms: int | None = None) -> list[str]:
        """Archive the SQL transcripts whose session no entry has (as ``deleted``
        archives, which the archive retention then expires); returns their names."""
        ...

    def reclaim_space(self) -> Reclaimed:
        """Return free pages to the file system in short steps (SQLite)."""
        ...


@runtime_checkable
class SupportsAppendAndUpdate(Protocol):
    """A transcript tier that keeps transcripts in the entries' own database (``sql``):
    an append and a change of its entry can be one transaction."""

    def append_and_update(
        self,
        key: str,
        events: Iterable[Mapping[str, Any]],
        fn: Callable[[SessionEntry], SessionEntry],
        *,
        topic_id: str | int | None = None,
    ) -> AppendResult:
        """:meth:`TranscriptStore.append`, and in the same transaction the entry that
        ``fn`` makes of the stored one (locked; ``fn`` never sees ``None``, a missing
        entry raises :class:`~sessionstore.errors.SessionNotFoundError`), the append's
        counters moved on it. ``fn`` must keep the entry's ``sessionId`` and
        ``sessionFile`` (its transcript is theirs); whatever it raises ends the unit
        with nothing written. It may be called again when a transient conflict retries
        the transaction. An event that the transcript holds already (by ``id`` or
        idempotency key), which a plain append skips, refuses the whole unit with
        :class:`~sessionstore.errors.InvalidArgumentError`: the entry's change belongs
        with new events."""
        ...


@runtime_checkable
class SupportsErasure(Protocol):
    """A store whose entries hold blobs of their own (the SQL backends): their removal
    takes the blobs only they used along, in the same transaction."""

    def erase_entries(self, keys: Iterable[str], *, dry_run: bool = False) -> tuple[int, int]:
        """Remove the entries of ``keys`` and the blobs only they referenced (that no
        writer used within the grace of ``collect_blobs``, which keeps concurrent writers
        safe), in one transaction; returns ``(entries, blobs)`` removed. ``dry_run``
        rolls the transaction back: the counts of what would go."""
        ...


@dataclass(frozen=True)
class ImportRecord:
    """A verified import of one agent's ``sessions.json`` (``sessionstore_imports``)."""

    agent_id: str
    source: str
    entries: int
    checksum: str
    imported_at: int


@runtime_checkable
class SupportsImportRecords(Protocol):
    """A store that remembers verified imports (the SQL backends), so that the import
    on first open happens once."""

    def last_import(self) -> ImportRecord | None:
        """This agent's last verified import, if any."""
        ...

    def record_import(self, record: ImportRecord) -> None:
        """Remember a verified import of this agent (replacing the previous record)."""
        ...


@runtime_checkable
class SupportsStoredJson(Protocol):
    """A store that reads its entries back as the JSON objects it holds, without
    building and validating an entry of each (the SQL backends): what a checksum or a
    comparison of many entries needs."""

    def iter_json_with_versions(
        self, *, batch_size: int = 500
    ) -> Iterator[tuple[str, dict[str, Any], int]]:
        """As :meth:`SessionStore.iter_entries_with_versions`, each entry as its JSON
        object (equal to ``entry.to_dict()``), not validated again."""
        ...


# -- transcripts (the cold tier) ----------------------------------------------------------


@dataclass(frozen=True)
class AppendResult:
    """What :meth:`TranscriptStore.append` wrote. ``created``: this call started the
    transcript (wrote its header). Token fields sum the ``usage`` of written assistant
    messages; ``total_tokens`` is the last ``usage.totalTokens`` written, if any.
    ``path`` is the file on the files tier, ``None`` on the SQL tier."""

    path: Path | None
    written: int
    skipped: int
    messages: int
    input_tokens: int
    output_tokens: int
    total_tokens: int | None
    created: bool

    @classmethod
    def of(
        cls, path: Path | None, tally: Tally, *, written: int, skipped: int, created: bool
    ) -> AppendResult:
        """The result of writing ``written`` events whose counts are ``tally``."""
        return cls(
            path,
            written=written,
            skipped=skipped,
            messages=tally.messages,
            input_tokens=tally.input_tokens,
            output_tokens=tally.output_tokens,
            total_tokens=tally.total_tokens,
            created=created,
        )

    @property
    def tally(self) -> Tally:
        """The counts of the written events."""
        return Tally(self.messages, self.input_tokens, self.output_tokens, self.total_tokens)


@dataclass(frozen=True)
class TranscriptStats:
    """Counts over a whole transcript, as the hot index should mirror them."""

    messages: int
    input_tokens: int
    output_tokens: int
    total_tokens: int | None
    malformed_lines: int
    #: lines longer than the files tier's ``MAX_LINE_BYTES``, skipped unread
    oversized_lines: int = 0


@dataclass(frozen=True)
class Archive:
    """An archived transcript. On the files tier ``name`` is the file
    ``<file>.<reason>.<ts>``; the SQL tier names its archives the same way.
    ``archived_at`` is the time of archiving (epoch ms)."""

    name: str
    reason: ArchiveReason
    archived_at: int


@dataclass(frozen=True)
class Erasure:
    """What :meth:`TranscriptStore.erase` removed (or, in a dry run, would remove).

    ``transcripts`` and ``archives`` are named as the files tier names its files
    (``<sessionId>[-topic-<t>].jsonl``, ``<file>.<reason>.<ts>``) on both tiers;
    ``kept`` names live transcripts left because an entry that stays uses their
    ``sessionId``. ``events`` counts their lines (headers included), ``bytes`` their size;
    ``blobs`` the stored values only the erased entries used.
    """

    agent_id: str
    keys: list[str]
    transcripts: list[str]
    archives: list[str]
    kept: list[str]
    events: int
    bytes: int
    blobs: int
    applied: bool

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the report (``sessionstore erase --json``)."""
        return {
            "agent": self.agent_id,
            "applied": self.applied,
            "keys": self.keys,
            "transcripts": self.transcripts,
            "archives": self.archives,
            "kept": self.kept,
            "events": self.events,
            "bytes": self.bytes,
            "blobs": self.blobs,
        }


@dataclass(frozen=True)
class TranscriptPage:
    """One page of events (:meth:`TranscriptStore.page`); pass ``next_cursor`` back
    as the same ``before=``/``after=`` argument for the next one (``None``: no more)."""

    items: list[dict[str, Any]]
    next_cursor: str | None

    @staticmethod
    def check(before: str | None, after: str | None, limit: int) -> None:
        """Refuse both cursors at once, ``before=TRANSCRIPT_START`` (nothing is before
        the start: it is a cursor for ``after=``), or a limit outside 1..MAX_PAGE_SIZE."""
        if before is not None and after is not None:
            raise InvalidArgumentError("page takes before= or after=, not both")
        if before == TRANSCRIPT_START:
            raise InvalidArgumentError(f"{TRANSCRIPT_START!r} is a cursor for after=, not before=")
        check_limit(limit)

    @classmethod
    def of(
        cls, items: list[dict[str, Any]], positions: list[int], limit: int, transcript: str
    ) -> TranscriptPage:
        """The page of the first ``limit`` of the ``items`` read, whose places in the
        transcript named ``transcript`` are ``positions``: a page reads one more than
        ``limit``, and one more means that another page follows."""
        if len(positions) <= limit:
            return cls(items[:limit], None)
        return cls(items[:limit], encode_transcript_cursor(transcript, positions[limit - 1]))


@dataclass(frozen=True)
class SearchHit:
    """One event that matched :meth:`TranscriptStore.search`. ``position`` is the
    event's place in its transcript (the header is 0); ``timestamp`` is the event's
    time in epoch ms when it has one; ``snippet`` is text around the first match."""

    key: str
    session_id: str
    position: int
    snippet: str
    timestamp: int | None


@runtime_checkable
class TranscriptStore(Protocol):
    """The conversations of one agent's sessions: ``store.transcripts``.

    Methods take the session key and act on the transcript of the entry's current
    ``sessionId`` (with ``topic_id``, the topic transcript OpenClaw keeps beside it).
    Events are JSON objects in OpenClaw's transcript format; the header (``type:
    "session"``) is written by the store and never returned by :meth:`tail` or
    :meth:`page`. Every read is bounded: :meth:`tail` and :meth:`page` cost O(log n +
    page) whatever the transcript's length, and so does :meth:`count` (on the files tier
    the entry's ``messageCount``, one pass over the file when it has none).

    >>> from sessionstore import open_store
    >>> with open_store("sqlite://", auto_upgrade=True) as store:  # in memory: SQL tier
    ...     _ = store.put("agent:main:main", {"sessionId": "s1", "updatedAt": 1})
    ...     hi = {"type": "message", "message": {"role": "user", "content": "hi there"}}
    ...     result = store.transcripts.append("agent:main:main", [hi])
    ...     tail = store.transcripts.tail("agent:main:main")
    ...     entry = store.get("agent:main:main")
    ...     print(result.written, tail[0]["message"]["content"], entry.message_count)
    1 hi there 1
    """

    @property
    def tier(self) -> TranscriptTier:
        """``files`` (``.jsonl`` files beside the store) or ``sql`` (the same database)."""
        ...

    def append(
        self,
        key: str,
        events: Iterable[Mapping[str, Any]],
        *,
        topic_id: str | int | None = None,
    ) -> AppendResult:
        """Append ``events`` to the transcript of ``key``'s entry and bring the entry's
        counters along (``messageCount``, token sums). An event whose ``id`` or whose
        ``idempotencyKey`` is already in the transcript (or earlier in the batch) is
        skipped. Missing ``id``, ``parentId`` and ``timestamp`` are filled in.
        Raises :class:`~sessionstore.errors.SessionNotFoundError` without an entry."""
        ...

    def tail(
        self, key: str, *, limit: int = DEFAULT_PAGE_SIZE, topic_id: str | int | None = None
    ) -> list[dict[str, Any]]:
        """The last ``limit`` events (1-1000), oldest first, as appended."""
        ...

    def pop(self, key: str, *, topic_id: str | int | None = None) -> dict[str, Any] | None:
        """Remove the newest event of the transcript of ``key`` and return it, as
        :meth:`tail` would have; ``None`` when there is none (no entry, no transcript,
        or the header alone, which is never removed). The entry's counters move back in
        the same unit (on the files tier, under the file's lock; on the SQL tier, one
        transaction), so a pop racing an append removes either the event before it or
        the appended one, never loses the append. A last line that is not a JSON object
        is refused (:class:`~sessionstore.errors.CorruptStoreError`), nothing removed."""
        ...

    def page(
        self,
        key: str,
        *,
        before: str | None = None,
        after: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        bodies: bool = True,
        topic_id: str | int | None = None,
    ) -> TranscriptPage:
        """One page of events. Without a cursor, or with ``before=``, newest first;
        with ``after=`` (:data:`TRANSCRIPT_START` for the beginning), oldest first.
        ``bodies=False`` returns a large event (over :data:`LARGE_EVENT_BYTES`) as its
        header (:func:`event_header`), never reading its body where the tier can."""
        ...

    def count(self, key: str, *, topic_id: str | int | None = None) -> int:
        """How many ``message`` events the current transcript of ``key`` holds."""
        ...

    def search(self, query: str, *, key: str | None = None, limit: int = 20) -> list[SearchHit]:
        """Events of live transcripts whose message text contains every word of
        ``query`` (taken literally: no search syntax), newest first; ``key`` narrows
        the search to that session's current transcript."""
        ...

    def archive(
        self,
        key: str,
        reason: ArchiveReason,
        *,
        session: EntryLike | None = None,
        now_ms: int | None = None,
        topic_id: str | int | None = None,
    ) -> str | None:
        """Archive the transcript of ``key`` (of ``session``, an earlier entry of the
        key, when given) and return the archive's name; ``None`` if there was none.
        Archives are kept until lifecycle's retention expires them."""
        ...

    def archives(self) -> list[Archive]:
        """Every archived transcript of this agent, sorted by name."""
        ...

    def remove_archive(self, name: str) -> None:
        """Delete the archive ``name`` (of :meth:`archives`); nothing if it is gone."""
        ...

    def erase(
        self, keys: Iterable[str], *, session_ids: Iterable[str] = (), dry_run: bool = False
    ) -> Erasure:
        """Remove the entries of ``keys`` and every transcript that belonged to them:
        live ones, topic transcripts and archives (earlier resets and deletions
        included), their full-text rows, and the blobs only those entries used; also
        every transcript and archive of ``session_ids``, with or without an entry. A
        transcript whose ``sessionId`` an entry that stays still uses is kept (listed in
        :attr:`Erasure.kept`).

        Which transcripts belonged to a key: on the SQL tier, every transcript row
        written under the key (each records it) and those of the entries' session ids;
        on the files tier, whose files carry only a session id, the files of the
        entries' current session ids and of ``session_ids``.

        One unit: on the SQL tier one transaction (nothing is removed if it fails). On
        the files tier the archives go first, then the transcripts, then the entries
        (with their blobs, in one unit): a failure midway leaves every entry, each
        transcript it lost reported by ``check``, and running the same erase again
        finishes the job. ``dry_run`` removes nothing and reports what would go.
        """
        ...

    def stats(self, session: EntryLike, *, topic_id: str | int | None = None) -> TranscriptStats:
        """Counts over the whole transcript of ``session`` (an entry), in one pass:
        what :func:`sessionstore.lifecycle.check` compares the counters with."""
        ...

    def exists(self, session: EntryLike, *, topic_id: str | int | None = None) -> bool:
        """Whether ``session`` (an entry) has a transcript."""
        ...

    def session_ids(self) -> set[str]:
        """The ``sessionId`` of every live transcript of this agent (for orphans)."""
        ...

    def lines(self, session: EntryLike, *, topic_id: str | int | None = None) -> Iterator[bytes]:
        """Every line of the transcript of ``session`` (an entry) as stored, header
        first, without newlines: what export and copy carry and verify."""
        ...

    def import_lines(
        self,
        key: str,
        session: EntryLike,
        lines: Iterable[bytes],
        *,
        topic_id: str | int | None = None,
    ) -> int:
        """Make ``lines`` (header first, as :meth:`lines` gives them) the transcript of
        ``session``, stored under ``key``, replacing what was there, as one unit; the
        entry's counters are left alone. Returns how many lines were stored."""
        ...


#: The longest top-level string an event's header keeps (a header stays small).
HEADER_STRING_CHARS = 1024


def event_header(event: Mapping[str, Any], size: int) -> dict[str, Any]:
    """What :meth:`TranscriptStore.page` returns for a large event when asked for no
    bodies: its scalar top-level fields (``type``, ``id``, ``parentId``,
    ``timestamp``...) but strings over :data:`HEADER_STRING_CHARS`, the message's
    ``role``, and ``omittedBytes``, the event's size.

    >>> event = {"type": "message", "id": "a1", "message": {"role": "tool", "content": "x"}}
    >>> event_header(event, 70_000)
    {'type': 'message', 'id': 'a1', 'message': {'role': 'tool'}, 'omittedBytes': 70000}
    """
    header: dict[str, Any] = {
        name: value
        for name, value in event.items()
        if value is None
        or isinstance(value, int | float | bool)
        or (isinstance(value, str) and len(value) <= HEADER_STRING_CHARS)
    }
    message = event.get("message")
    if isinstance(message, Mapping) and isinstance(message.get("role"), str):
        header["message"] = {"role": message["role"]}
    header["omittedBytes"] = size
    return header

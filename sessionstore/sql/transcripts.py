"""The SQL tier of :class:`~sessionstore.contract.TranscriptStore`: transcripts in the
same database as the hot index (revision ``0006``), through the owning store's I/O edge.

``session_transcripts`` has one row per transcript (a ``sessionId`` generation, live or
archived) with its counters; ``transcript_events`` one row per line, numbered by ``seq``
(the header is 0), the line kept verbatim in ``event_json``. So:

- :meth:`SqlTranscripts.append` is one write transaction: the entry's row is locked
  (which serialises the appenders of a session on every database), then the transcript
  row; the lines get the next sequence numbers, and the transcript's and the entry's
  counters move in the same transaction. An event whose id or idempotency key the
  transcript already holds is skipped, so a retried append writes nothing twice; an id
  filled in that happens to exist already fails the insert, and the whole transaction is
  retried with new ids.
- :meth:`~SqlTranscripts.tail`, :meth:`~SqlTranscripts.page` and
  :meth:`~SqlTranscripts.count` read along the primary key ``(agent_id, transcript_id,
  seq)`` or one transcript row: O(log n + page). A page without bodies reads
  ``coalesce(header_json, event_json)``, so a large event's body is never read.
- :meth:`~SqlTranscripts.search` asks the database's full-text index (SQLite FTS5,
  PostgreSQL ``tsvector``, MySQL/MariaDB ``FULLTEXT``) with every word quoted, then
  keeps the hits whose text holds every word as a whole word, as the files tier does.
  It reads ``search_text``, never ``event_json``. MySQL/MariaDB do not index words
  shorter than 3 characters nor InnoDB's stopwords: those words are left out of the
  database's query (and still required of each hit); a query of only such words finds
  nothing there.

>>> from sessionstore import open_store
>>> with open_store("sqlite://", auto_upgrade=True) as store:  # in memory
...     _ = store.put("agent:main:main", {"sessionId": "s1", "updatedAt": 1})
...     plan = {"type": "message", "message": {"role": "user", "content": "the rollback plan"}}
...     _ = store.transcripts.append("agent:main:main", [plan])
...     print([hit.snippet for hit in store.transcripts.search("Rollback")])
['the rollback plan']
"""

from __future__ import annotations

import hashlib
import itertools
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import orjson

from sessionstore.contract import (
    DEFAULT_PAGE_SIZE,
    LARGE_EVENT_BYTES,
    AppendResult,
    Archive,
    ArchiveReason,
    Erasure,
    SearchHit,
    TranscriptPage,
    TranscriptStats,
    TranscriptTier,
    batched,
    check_limit,
    decode_transcript_cursor,
    event_header,
)
from sessionstore.entry import (
    SessionEntry,
    as_entry,
    check_size,
    loads_json,
    validate_key,
    validate_session_id,
)
from sessionstore.errors import (
    CorruptStoreError,
    InvalidArgumentError,
    SessionNotFoundError,
    SessionStoreError,
)
from sessionstore.events import (
    DUMP_OPTIONS,
    Tally,
    archive_name,
    check_archive,
    checked_event,
    event_time_ms,
    filled_event,
    header_event,
    idempotency_key,
    iso_ms,
    message_text,
    search_words,
    snippet,
    topic_of_file,
    transcript_file_name,
    words_of,
)
from sessionstore.openclaw.merge import now_ms as current_time_ms
from sessionstore.projection import count_columns
from sessionstore.sql import statements as q
from sessionstore.sql.blobs import Blob
from sessionstore.sql.schema import transcript_events, transcripts

__all__ = ["IMPORT_BATCH", "MYSQL_STOPWORDS", "SqlTranscripts"]

#: Lines per INSERT batch of :meth:`SqlTranscripts.import_lines`.
IMPORT_BATCH = 1000
#: InnoDB's default full-text stopwords (``INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD``):
#: MySQL/MariaDB never find them, so they are left out of the query there.
_STOPWORDS = """a about an are as at be by com de en for from how i in is it la of on or that
the this to was what when where who will with und www"""
MYSQL_STOPWORDS = frozenset(_STOPWORDS.split())
# InnoDB's innodb_ft_min_token_size and innodb_ft_max_token_size defaults.
_MYSQL_WORD_CHARS = (3, 84)


def _bytes_of(column: Any) -> int:
    """The size in bytes of an ``ExactText`` column of the schema."""
    return int(column.type.length)


_EVENT_ID_BYTES = _bytes_of(transcript_events.c.event_id)
_KEY_BYTES = _bytes_of(transcript_events.c.idempotency_key)
_KIND_BYTES = _bytes_of(transcript_events.c.kind)
_TOPIC_BYTES = _bytes_of(transcripts.c.topic)
# SQLite's search rows are numbered transcript_id << 32 | seq, which must fit 63 bits.
_SQLITE_MAX_TRANSCRIPT_ID = 2**31
_LINES_BATCH = 1000
# Messages a pop reads first looking back for the last totalTokens (then twice as many)
_POP_FIRST_BATCH = 8
# Keys, session ids or transcript ids per statement of an erasure (bound parameters)
_ERASE_BATCH = 500
# Fewer full-text matches than this are read and sorted whole, which stays cheap; from
# it on, SQLite's search walks the messages newest first and stops at its limit.
_WALK_FROM_MATCHES = 4096
_HASHED = re.compile(r"sha256:[0-9a-f]{64}")
# <file>.jsonl.<reason>.<ts>, as archive_name writes it
_ARCHIVE = re.compile(
    r"(?P<base>.+)\.jsonl\.(?P<slot>(?:deleted|reset)\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z)"
)
_NO_STATS = TranscriptStats(0, 0, 0, None, 0)
# q.LOCK_ROW's columns, which q.LOCK_ENTRY_AND_TRANSCRIPTS begins with
_LOCKED_COLUMNS = len(q.LOCK_ROW.selected_columns)

T = TypeVar("T")
EntryLike = SessionEntry | Mapping[str, Any]
TopicId = str | int | None
Row = Sequence[Any]


class _Tx(Protocol):
    def rows(self, stmt: Any, params: Mapping[str, Any]) -> list[Row]: ...

    def run(self, stmt: Any, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> int: ...


class _Write(Protocol):
    @property
    def tx(self) -> _Tx: ...


class _Store(Protocol):
    """The I/O edge of :class:`~sessionstore.sql.rowstore.RowStore` this tier uses."""

    _agent_id: str
    _dialect: str
    _max_entry_bytes: int

    def _query(self, action: str, stmt: Any, params: Mapping[str, Any]) -> list[Row]: ...

    def _retry(self, action: str, attempt: Callable[[], T]) -> T: ...

    def _write(self) -> AbstractContextManager[Any]: ...

    def _errors(self, action: str) -> AbstractContextManager[None]: ...

    def _key(self, key: str) -> dict[str, str]: ...

    def _entries(self, rows: Sequence[Row], start: int) -> list[SessionEntry]: ...

    def _params(
        self, key: str, entry: SessionEntry, blobs: list[Blob], prefix: str = ""
    ) -> dict[str, Any]: ...

    def _write_blobs(self, write: Any, blobs: list[Blob]) -> None: ...

    def _unit(self, action: str, body: Callable[[Any], T], *, dry_run: bool = False) -> T: ...

    def _lock_entries(self, write: Any, keys: Iterable[str]) -> dict[str, Row]: ...

    def _erase_entries(
        self, write: Any, keys: Sequence[str], locked: Mapping[str, Row]
    ) -> tuple[list[str], int]: ...

    def get(self, key: str) -> SessionEntry | None: ...


@dataclass(frozen=True)
class _Live:
    """A transcript row's counters (``q.TRANSCRIPT``)."""

    transcript_id: int
    last_seq: int
    messages: int
    input_tokens: int
    output_tokens: int
    total_tokens: int | None
    malformed: int

    @classmethod
    def of(cls, row: Row) -> _Live:
        total = None if row[5] is None else int(row[5])
        transcript_id, last_seq, messages, input_tokens, output_tokens = map(int, row[:5])
        return cls(
            transcript_id, last_seq, messages, input_tokens, output_tokens, total, int(row[6])
        )


@dataclass(frozen=True)
class _Locked:
    """An entry locked for an append or a pop (:meth:`SqlTranscripts._lock`), its JSON
    parsed once for the whole transaction."""

    #: the entry's row (``q.LOCK_ROW``)
    row: Row
    #: its JSON object as stored (large values null) and whether the column holds it
    #: as such (see :func:`_entry_object`)
    entry: dict[str, Any]
    as_object: bool
    #: the parameters of the transcript written to, and its counters (``None``: none yet)
    live: dict[str, Any]
    current: _Live | None

    @property
    def session_id(self) -> str:
        return str(self.entry["sessionId"])

    @property
    def own(self) -> bool:
        """Whether the transcript is the entry's own (not another topic's): the one the
        entry's counters mirror, as on the files tier and as check compares them."""
        own = _topic(self.session_id, self.entry.get("sessionFile"), None)
        return bool(self.live["tr_topic"] == own)


def _fit(value: str, size: int) -> str:
    """``value`` as stored in a column of ``size`` bytes: itself, or ``sha256:<hex>``
    when it is longer (or holds a NUL, which PostgreSQL's text refuses)."""
    encoded = value.encode()
    if len(encoded) <= size and "\x00" not in value:
        return value
    return "sha256:" + hashlib.sha256(encoded).hexdigest()


def _kind(event: Mapping[str, Any]) -> str:
    """The ``kind`` column of a JSON object: its ``type`` (cut to the column), or ``""``."""
    kind = event.get("type")
    if not isinstance(kind, str):
        return ""
    return kind.replace("\x00", " ").encode()[:_KIND_BYTES].decode(errors="ignore")


def _search_text(event: Mapping[str, Any]) -> str | None:
    text = message_text(event)
    return None if text is None else text.replace("\x00", " ")


def _line_columns(event: Mapping[str, Any], line: str, size: int) -> dict[str, Any]:
    """The columns of one line that follow from the event alone."""
    header = None
    if size > LARGE_EVENT_BYTES:
        header = orjson.dumps(event_header(event, size), option=DUMP_OPTIONS).decode()
    return {
        "kind": _kind(event),
        "created_at": event_time_ms(event),
        "bytes": size,
        "search_text": _search_text(event),
        "header_json": header,
        "event_json": line,
    }


def _topic(session_id: str, session_file: Any, topic_id: TopicId) -> str:
    """The ``topic`` column of an entry's transcript: ``topic_id``, else the topic in
    the name of the entry's ``sessionFile``, else ``""``."""
    if topic_id is not None:
        transcript_file_name(session_id, topic_id)  # refuses what is not a topic
        topic = str(topic_id)
        if not topic:
            raise InvalidArgumentError("topic id must not be empty")
    else:
        file = session_file.strip() if isinstance(session_file, str) else ""
        topic = topic_of_file(session_id, re.split(r"[\\/]", file)[-1]) or ""
    if "\x00" in topic or len(topic.encode(errors="surrogatepass")) > _TOPIC_BYTES:
        raise InvalidArgumentError(f"topic id {topic_id!r} is not a usable topic")
    return topic


def _entry_topic(entry: SessionEntry, topic_id: TopicId) -> str:
    return _topic(entry.session_id, entry.session_file, topic_id)


def _entry_object(entry_json: Any) -> tuple[dict[str, Any], bool]:
    """The entry's JSON object in a row's ``entry_json``, and whether the column holds
    it as such (not as its JSON text in a string, as ``row_params`` stores an entry
    with lone surrogates). Its large values are nulls (their digests are columns)."""
    data = loads_json(entry_json) if isinstance(entry_json, str | bytes) else entry_json
    if isinstance(data, str):
        return loads_json(data), False
    return data, True


def _in_place(entry: dict[str, Any], changes: Mapping[str, Any], has_blobs: bool) -> bytes | None:
    """``entry`` (a stored JSON object) with ``changes`` made, encoded as the row's
    ``entry_json``; ``None`` when it must be rewritten whole: it holds lone surrogates
    (stored as text), or it has blobs and grows, so that its size has to be checked
    with the blobs against the store's limit."""
    try:
        before = len(orjson.dumps(entry)) if has_blobs else 0
        entry.update(changes)
        encoded = orjson.dumps(entry)
    except orjson.JSONEncodeError:
        return None
    return None if has_blobs and len(encoded) > before else encoded


def _file_name(session_id: str, topic: str) -> str:
    return transcript_file_name(session_id, topic or None)


def _slot(reason: str, ms: int) -> str:
    """The ``archive_slot`` of an archive: ``<reason>.<ts>`` as in its name."""
    return f"{reason}.{iso_ms(ms).replace(':', '-')}"


class SqlTranscripts:
    """The transcripts of one agent in the database of ``store`` (tier ``sql``).

    Bound to its store: every statement runs through the store's connections,
    transactions, retries and error translation, so it behaves alike on
    :class:`~sessionstore.backends.sqlite.SqliteStore` and
    :class:`~sessionstore.backends.sql.SqlStore`.
    """

    def __init__(self, store: _Store) -> None:
        self._store = store
        self._agent = store._agent_id
        self._dialect = store._dialect

    @property
    def tier(self) -> TranscriptTier:
        return "sql"

    def __repr__(self) -> str:
        return f"SqlTranscripts({self._store!r})"

    # -- where a transcript is -----------------------------------------------------

    def _live(self, session_id: str, topic: str) -> dict[str, Any]:
        return {"tr_agent": self._agent, "tr_session": session_id, "tr_topic": topic}

    def _find(self, key: str, topic_id: TopicId) -> tuple[str, dict[str, Any]] | None:
        """The session id of ``key``'s entry and its live transcript's parameters (the
        entry's JSON is parsed, not validated: the store validated it when it wrote it)."""
        validate_key(key)
        rows = self._store._query("read session", q.GET, self._store._key(key))
        if not rows:
            return None
        entry, _ = _entry_object(rows[0][0])
        session_id = entry["sessionId"]
        topic = _topic(session_id, entry.get("sessionFile"), topic_id)
        return session_id, self._live(session_id, topic)

    def _row(self, live: Mapping[str, Any]) -> _Live | None:
        rows = self._store._query("read transcript", q.TRANSCRIPT, live)
        return _Live.of(rows[0]) if rows else None

    def _session_row(self, session: EntryLike, topic_id: TopicId) -> _Live | None:
        entry = as_entry(session)
        return self._row(self._live(entry.session_id, _entry_topic(entry, topic_id)))

    def _new_id(self, tx: _Tx) -> int:
        """A transcript id unique in the database. SQLite: one more than the highest
        (its writers are serialised), below 2**31 for its search index's row ids;
        elsewhere a random 62-bit number (a collision fails the insert: retried)."""
        if self._dialect != "sqlite":
            return secrets.randbits(62) or 1
        new = int(tx.rows(q.NEXT_TRANSCRIPT_ID, {})[0][0])
        if new >= _SQLITE_MAX_TRANSCRIPT_ID:
            raise SessionStoreError("no transcript id is left below 2**31 in this database")
        return new

    def _new_row(
        self, tx: _Tx, key: str, live: Mapping[str, Any], now: int, counts: Tally, last: int
    ) -> int:
        """Insert a live transcript row; returns its id."""
        transcript_id = self._new_id(tx)
        tx.run(
            q.INSERT_TRANSCRIPT,
            {
                "agent_id": self._agent,
                "transcript_id": transcript_id,
                "session_id": live["tr_session"],
                "topic": live["tr_topic"],
                "archive_slot": "",
                "session_key": key,
                "created_at": now,
                "archived_at": None,
                "last_seq": last,
                "messages": counts.messages,
                "input_tokens": counts.input_tokens,
                "output_tokens": counts.output_tokens,
                "total_tokens": counts.total_tokens,
                "malformed": 0,
            },
        )
        return transcript_id

    def _existing(self, tx: _Tx, stmt: Any, transcript_id: int, values: set[str]) -> set[str]:
        """Which of ``values`` (event ids or idempotency keys) the transcript holds."""
        found: set[str] = set()
        params = {"tr_agent": self._agent, "tr_id": transcript_id}
        for chunk in batched(sorted(values), 500):
            found.update(str(row[0]) for row in tx.rows(stmt, {**params, "ids": chunk}))
        return found

    def _last_id(self, tx: _Tx, transcript_id: int) -> str | None:
        """The id of the transcript's last event that has one (the next ``parentId``)."""
        params = {"tr_agent": self._agent, "tr_id": transcript_id}
        rows = tx.rows(q.LAST_ID, params)
        if not rows:
            return None
        stored = str(rows[0][1])
        if not _HASHED.fullmatch(stored):
            return stored
        # a long id, stored as its digest: the line has the id itself
        line = tx.rows(q.EVENT_LINE, {**params, "seq": rows[0][0]})[0][0]
        event_id = orjson.loads(line).get("id")
        return event_id if isinstance(event_id, str) else None

    # -- writing ---------------------------------------------------------------------

    def append(
        self,
        key: str,
        events: Iterable[Mapping[str, Any]],
        *,
        topic_id: TopicId = None,
    ) -> AppendResult:
        """Append ``events`` and move the entry's counters, in one transaction."""
        validate_key(key)
        batch = [checked_event(event) for event in events]
        # The first try inserts without looking up the batch's ids and keys: one that
        # the transcript holds (an append retried) fails the insert, and the tries
        # after look them up and skip those events.
        tries = itertools.count()
        return self._store._retry(
            "append to transcript",
            lambda: self._append(key, batch, topic_id, look_up=next(tries) > 0),
        )

    def append_and_update(
        self,
        key: str,
        events: Iterable[Mapping[str, Any]],
        fn: Callable[[SessionEntry], SessionEntry],
        *,
        topic_id: TopicId = None,
    ) -> AppendResult:
        """Append ``events`` and write the entry that ``fn`` makes of the stored one, in
        one transaction (see :class:`~sessionstore.contract.SupportsAppendAndUpdate`)."""
        validate_key(key)
        batch = [checked_event(event) for event in events]
        tries = itertools.count()
        return self._store._retry(
            "append to transcript",
            lambda: self._append(key, batch, topic_id, look_up=next(tries) > 0, revise=fn),
        )

    def _append(
        self,
        key: str,
        batch: list[dict[str, Any]],
        topic_id: TopicId,
        *,
        look_up: bool,
        revise: Callable[[SessionEntry], SessionEntry] | None = None,
    ) -> AppendResult:
        with self._store._write() as write:
            tx: _Tx = write.tx
            locked = self._lock(tx, key, topic_id)
            if locked is None:
                raise SessionNotFoundError(key)
            revised = None if revise is None else self._revised(locked, revise)
            live, current = locked.live, locked.current
            now = current_time_ms()
            lines, skipped, tally = self._lines_of(tx, current, batch, now, look_up)
            if revised is not None and skipped:
                raise InvalidArgumentError(
                    f"{skipped} of the events are in the transcript of {key!r} already (by id "
                    "or idempotency key): an append that updates its entry writes new events only"
                )
            if lines:
                if current is None:
                    own_header = batch[0].get("type") == "session"
                    if not own_header:
                        header = header_event(locked.session_id, "", now)
                        lines.insert(0, self._line(header, None, None))
                    transcript_id = self._new_row(tx, key, live, now, tally, len(lines) - 1)
                    first = 0
                else:
                    transcript_id, first = current.transcript_id, current.last_seq + 1
                    tx.run(
                        q.UPDATE_TRANSCRIPT,
                        {
                            "tr_agent": self._agent,
                            "tr_id": transcript_id,
                            "u_last_seq": current.last_seq + len(lines),
                            "u_messages": current.messages + tally.messages,
                            "u_input": current.input_tokens + tally.input_tokens,
                            "u_output": current.output_tokens + tally.output_tokens,
                            "u_total": (
                                current.total_tokens
                                if tally.total_tokens is None
                                else tally.total_tokens
                            ),
                        },
                    )
                for seq, line in enumerate(lines, first):
                    line.update(agent_id=self._agent, transcript_id=transcript_id, seq=seq)
                tx.run(q.INSERT_EVENT, lines)
            total = (current.messages if current else 0) + tally.messages

            def changes_of(counts: dict[str, int | None]) -> dict[str, Any]:
                if not (lines and locked.own):
                    return {}
                return tally.entry_changes(
                    counts["message_count"],
                    counts["input_tokens"],
                    counts["output_tokens"],
                    lambda: total,
                )

            if revised is not None:
                counts = count_columns(revised.to_dict())
                self._rewrite(write, key, revised.with_fields(**changes_of(counts)))
            else:
                self._advance(write, key, locked, changes_of)
        return AppendResult.of(
            None,
            tally,
            written=len(batch) - skipped,
            skipped=skipped,
            created=bool(lines) and current is None,
        )

    @staticmethod
    def _line(event: Mapping[str, Any], event_id: str | None, key: str | None) -> dict[str, Any]:
        """The columns of an appended line (its place is added by the caller)."""
        encoded = orjson.dumps(event, option=DUMP_OPTIONS)
        return {
            "event_id": event_id,
            "idempotency_key": key,
            **_line_columns(event, encoded.decode(), len(encoded)),
        }

    def _lines_of(
        self,
        tx: _Tx,
        current: _Live | None,
        batch: list[dict[str, Any]],
        now: int,
        look_up: bool,
    ) -> tuple[list[dict[str, Any]], int, Tally]:
        """The lines to insert for ``batch`` (with ``look_up``, what is already there
        skipped; ids filled in as the files tier does), how many were skipped, and
        their counts."""
        existing_ids: set[str] = set()
        existing_keys: set[str] = set()
        if current is not None and look_up:
            given_ids = {
                _fit(e["id"], _EVENT_ID_BYTES) for e in batch if isinstance(e.get("id"), str)
            }
            given_keys = {
                _fit(k, _KEY_BYTES) for e in batch if (k := idempotency_key(e)) is not None
            }
            if given_ids:
                existing_ids = self._existing(tx, q.EXISTING_IDS, current.transcript_id, given_ids)
            if given_keys:
                existing_keys = self._existing(
                    tx, q.EXISTING_KEYS, current.transcript_id, given_keys
                )
        # ids the fill must not generate: the batch's own (the transcript's: a collision
        # fails the insert, and the retry draws again)
        taken = {e["id"] for e in batch if isinstance(e.get("id"), str)}
        seen_ids: set[str] = set()
        seen_keys: set[str] = set()
        last_id: str | None = None
        last_known = current is None
        own_header = current is None and bool(batch) and batch[0].get("type") == "session"
        lines: list[dict[str, Any]] = []
        skipped, tally = 0, Tally()
        for i, event in enumerate(batch):
            if event.get("type") == "session" and (i or current is not None):
                # The header stays the first line: one more would start a second file.
                raise InvalidArgumentError("a 'session' header can only start a new transcript")
            if i == 0 and own_header:
                tally.add(event)
                lines.append(self._line(event, None, None))
                continue
            raw_key = idempotency_key(event)
            key = None if raw_key is None else _fit(raw_key, _KEY_BYTES)
            raw_id = event.get("id")
            given = _fit(raw_id, _EVENT_ID_BYTES) if isinstance(raw_id, str) else None
            if (key is not None and (key in existing_keys or key in seen_keys)) or (
                given is not None and (given in existing_ids or given in seen_ids)
            ):
                skipped += 1
                continue
            if key is not None:
                seen_keys.add(key)
            if not last_known and "parentId" not in event:
                assert current is not None
                last_id, last_known = self._last_id(tx, current.transcript_id), True
            event = filled_event(event, taken, last_id, now)
            event_id = event.get("id")
            stored_id = None
            if isinstance(event_id, str):
                last_id, last_known = event_id, True
                stored_id = _fit(event_id, _EVENT_ID_BYTES)
                seen_ids.add(stored_id)
            tally.add(event)
            lines.append(self._line(event, stored_id, key))
        return lines, skipped, tally

    def _revised(
        self, locked: _Locked, revise: Callable[[SessionEntry], SessionEntry]
    ) -> SessionEntry:
        """The entry ``revise`` makes of the ``locked`` one, which must stay the owner of
        the transcript appended to."""
        current = self._store._entries([locked.row], 1)[0]
        revised = as_entry(revise(current))
        owner = (current.session_id, current.session_file)
        if (revised.session_id, revised.session_file) != owner:
            raise InvalidArgumentError(
                "an append's entry update must keep the entry's sessionId and sessionFile "
                "(the transcript is theirs)"
            )
        return revised

    def _rewrite(self, write: Any, key: str, entry: SessionEntry) -> None:
        """Write ``entry`` whole over the row locked by the transaction of ``write``."""
        store = self._store
        blobs: list[Blob] = []
        params = {**store._key(key), **store._params(key, entry, blobs, "new_")}
        store._write_blobs(write, blobs)
        write.tx.run(q.UPDATE_ROW, params)

    def _lock(self, tx: _Tx, key: str, topic_id: TopicId) -> _Locked | None:
        """Lock ``key``'s entry and its live transcripts (one per topic) and return the
        entry with the transcript of ``topic_id`` (``None`` without an entry)."""
        store = self._store
        # One statement locks the entry and its live transcripts; an entry without any
        # is locked alone.
        found = tx.rows(q.LOCK_ENTRY_AND_TRANSCRIPTS, store._key(key))
        if not found:
            found = tx.rows(q.LOCK_ROW, store._key(key))
            if not found:
                return None
        locked = found[0][:_LOCKED_COLUMNS]
        entry, as_object = _entry_object(locked[1])
        session_id, session_file = entry["sessionId"], entry.get("sessionFile")
        live = self._live(session_id, _topic(session_id, session_file, topic_id))
        current = next(
            (
                _Live.of(row[_LOCKED_COLUMNS + 1 :])
                for row in found
                if len(row) > _LOCKED_COLUMNS and row[_LOCKED_COLUMNS] == live["tr_topic"]
            ),
            None,
        )
        if current is None:
            # Read it again under the entry's lock: one that the writer holding the
            # lock before us created is not in the first statement's snapshot
            # (PostgreSQL), nor one that it archived and replaced.
            rows = tx.rows(q.LOCK_TRANSCRIPT, live)
            current = _Live.of(rows[0]) if rows else None
        return _Locked(locked, entry, as_object, live, current)

    def pop(self, key: str, *, topic_id: TopicId = None) -> dict[str, Any] | None:
        """Remove the newest event and return it (``None`` without one), moving the
        transcript's and the entry's counters back, in one transaction that locks the
        entry as appends do."""
        validate_key(key)
        return self._store._retry("remove from transcript", lambda: self._pop(key, topic_id))

    def _pop(self, key: str, topic_id: TopicId) -> dict[str, Any] | None:
        with self._store._write() as write:
            tx: _Tx = write.tx
            locked = self._lock(tx, key, topic_id)
            if locked is None or locked.current is None or locked.current.last_seq < 1:
                return None
            current = locked.current
            params = {"tr_agent": self._agent, "tr_id": current.transcript_id}
            line = tx.rows(q.EVENT_LINE, {**params, "seq": current.last_seq})[0][0]
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                event = None
            if not isinstance(event, dict):
                raise CorruptStoreError(
                    f"cannot remove from the transcript of {key!r}: its last line is not a "
                    "JSON object"
                )
            tally = Tally()
            tally.add(event)
            previous = current.total_tokens
            if tally.total_tokens is not None:
                previous = self._total_before(tx, params, current.last_seq)
            tx.run(q.DELETE_EVENT, {**params, "seq": current.last_seq})
            tx.run(
                q.UPDATE_TRANSCRIPT,
                {
                    **params,
                    "u_last_seq": current.last_seq - 1,
                    "u_messages": max(0, current.messages - tally.messages),
                    "u_input": max(0, current.input_tokens - tally.input_tokens),
                    "u_output": max(0, current.output_tokens - tally.output_tokens),
                    "u_total": previous,
                },
            )
            if locked.own:
                remaining = max(0, current.messages - tally.messages)
                self._advance(
                    write,
                    key,
                    locked,
                    lambda counts: tally.removal_changes(
                        counts["message_count"],
                        counts["input_tokens"],
                        counts["output_tokens"],
                        lambda: remaining,
                        lambda: previous,
                    ),
                )
        return event

    def _total_before(self, tx: _Tx, params: Mapping[str, Any], seq: int) -> int | None:
        """The last ``totalTokens`` of the messages before line ``seq``, read backwards
        until one is found, in batches that grow to :data:`_LINES_BATCH`: the answer
        before is usually a message or two back, and a pop should not read a thousand
        lines to find it."""
        n = _POP_FIRST_BATCH
        while seq > 1:
            rows = tx.rows(q.MESSAGES_BEFORE, {**params, "pos": seq, "n": n})
            for _, line in rows:
                counted = Tally()
                counted.add(orjson.loads(line))
                if counted.total_tokens is not None:
                    return counted.total_tokens
            if len(rows) < n:
                return None
            seq = int(rows[-1][0])  # the next batch is older than the last one read
            n = min(2 * n, _LINES_BATCH)
        return None

    def _advance(
        self,
        write: Any,
        key: str,
        locked: _Locked,
        changes_of: Callable[[dict[str, int | None]], dict[str, Any]],
    ) -> None:
        """Move the counters of the ``locked`` entry as the
        files tier does, in the transaction of an append or a pop (whose lock keeps its
        ``sessionId``): ``changes_of`` gives the fields to set from the entry's counter
        columns. The counters are set in the entry's JSON object as stored,
        without validating it again (the store did when it wrote it); an entry that
        cannot be moved so is rewritten whole (see :func:`_in_place`)."""
        store = self._store
        entry = locked.entry
        changes = changes_of(count_columns(entry))
        if not changes:
            return
        has_blobs = any(locked.row[2:])
        encoded = _in_place(entry, changes, has_blobs) if locked.as_object else None
        if encoded is not None:
            if not has_blobs:  # its JSON is the whole entry
                check_size(len(encoded), store._max_entry_bytes)
            params: dict[str, Any] = {**store._key(key), "new_entry_json": encoded}
            params.update((f"new_{name}", n) for name, n in count_columns(entry).items())
            write.tx.run(q.UPDATE_COUNTS, params)
            return
        self._rewrite(write, key, store._entries([locked.row], 1)[0].with_fields(**changes))

    def import_lines(
        self,
        key: str,
        session: EntryLike,
        lines: Iterable[bytes],
        *,
        topic_id: TopicId = None,
    ) -> int:
        """Replace the transcript of ``session`` with ``lines`` (verbatim, numbered from
        0) in one transaction; the entry's counters are left alone. A line that is not a
        JSON object is kept and counted as malformed. A sequence of lines is retried on
        a transient conflict; an iterator cannot be replayed, so then the error is raised
        (and nothing was written)."""
        validate_key(key)
        entry = as_entry(session)
        live = self._live(entry.session_id, _entry_topic(entry, topic_id))

        def attempt() -> int:
            with self._store._write() as write:
                return self._import(write.tx, key, live, lines)

        if isinstance(lines, Sequence):
            return self._store._retry("import transcript", attempt)
        with self._store._errors("import transcript"):
            return attempt()

    def _import(self, tx: _Tx, key: str, live: Mapping[str, Any], lines: Iterable[bytes]) -> int:
        # The entry's row first (if there is one), as appends lock it: an import queues
        # behind them instead of replacing the transcript under one.
        tx.rows(q.LOCK_ROW, self._store._key(key))
        rows = tx.rows(q.LOCK_TRANSCRIPT, live)
        if rows:
            self._delete(tx, _Live.of(rows[0]).transcript_id)
        tally = Tally()
        transcript_id = self._new_row(tx, key, live, current_time_ms(), tally, -1)
        ids: set[str] = set()
        keys: set[str] = set()
        seq = malformed = 0
        for chunk in batched(lines, IMPORT_BATCH):
            batch = []
            for raw in chunk:
                if (b"\n" if isinstance(raw, bytes | bytearray) else "\n") in raw:
                    raise InvalidArgumentError(f"line {seq} holds a newline")
                row, bad = self._imported(raw, ids, keys, tally)
                row.update(agent_id=self._agent, transcript_id=transcript_id, seq=seq)
                batch.append(row)
                seq += 1
                malformed += bad
            tx.run(q.INSERT_EVENT, batch)
        if not seq:  # no lines, no transcript (as the files tier leaves no file)
            self._delete(tx, transcript_id)
            return 0
        tx.run(
            q.UPDATE_TRANSCRIPT,
            {
                "tr_agent": self._agent,
                "tr_id": transcript_id,
                "u_last_seq": seq - 1,
                "u_messages": tally.messages,
                "u_input": tally.input_tokens,
                "u_output": tally.output_tokens,
                "u_total": tally.total_tokens,
            },
        )
        if malformed:
            tx.run(
                q.SET_MALFORMED,
                {"tr_agent": self._agent, "tr_id": transcript_id, "u_malformed": malformed},
            )
        return seq

    @staticmethod
    def _imported(
        raw: bytes | str, ids: set[str], keys: set[str], tally: Tally
    ) -> tuple[dict[str, Any], bool]:
        """The columns of an imported line, and whether it is malformed. Ids and keys
        are kept for their first line only (the columns are unique)."""
        data = raw.encode(errors="surrogateescape") if isinstance(raw, str) else bytes(raw)
        text = data.decode(errors="replace")
        event: Any = None
        if "\x00" in text:  # never valid JSON; PostgreSQL's text cannot hold it
            text = text.replace("\x00", "\ufffd")
        else:
            try:
                event = orjson.loads(data)
            except orjson.JSONDecodeError:
                event = None
        size = len(text.encode())
        if not isinstance(event, dict):
            row = {
                "event_id": None,
                "idempotency_key": None,
                "kind": None,
                "created_at": None,
                "bytes": size,
                "search_text": None,
                "header_json": None,
                "event_json": text,
            }
            return row, bool(text.strip())
        event_id = event.get("id")
        stored_id = None
        if isinstance(event_id, str) and event.get("type") != "session":
            stored_id = _fit(event_id, _EVENT_ID_BYTES)
            if stored_id in ids:
                stored_id = None
            else:
                ids.add(stored_id)
        raw_key = idempotency_key(event)
        key = None if raw_key is None else _fit(raw_key, _KEY_BYTES)
        if key is not None:
            if key in keys:
                key = None
            else:
                keys.add(key)
        tally.add(event)
        row = {"event_id": stored_id, "idempotency_key": key, **_line_columns(event, text, size)}
        return row, False

    def _delete(self, tx: _Tx, transcript_id: int) -> None:
        params = {"tr_agent": self._agent, "tr_id": transcript_id}
        tx.run(q.DELETE_EVENTS, params)
        tx.run(q.DELETE_TRANSCRIPT, params)

    # -- archives --------------------------------------------------------------------

    def archive(
        self,
        key: str,
        reason: ArchiveReason,
        *,
        session: EntryLike | None = None,
        now_ms: int | None = None,
        topic_id: TopicId = None,
    ) -> str | None:
        """Move the live transcript to the archive slot ``<reason>.<ts>``; its name is
        the files tier's ``<file>.<reason>.<ts>`` (a later archive in the same
        millisecond takes the next one)."""
        check_archive(reason, now_ms)
        validate_key(key)
        entry = as_entry(session) if session is not None else self._store.get(key)
        if entry is None:
            return None
        topic = _entry_topic(entry, topic_id)
        live = self._live(entry.session_id, topic)
        start = current_time_ms() if now_ms is None else now_ms

        def attempt() -> str | None:
            with self._store._write() as write:
                rows = write.tx.rows(q.LOCK_TRANSCRIPT, live)
                if not rows:
                    return None
                ms = start
                while write.tx.rows(q.SLOT_TAKEN, {**live, "slot": _slot(reason, ms)}):
                    ms += 1
                write.tx.run(
                    q.ARCHIVE,
                    {
                        "tr_agent": self._agent,
                        "tr_id": _Live.of(rows[0]).transcript_id,
                        "a_slot": _slot(reason, ms),
                        "a_at": ms,
                    },
                )
                return archive_name(_file_name(entry.session_id, topic), reason, ms)

        return self._store._retry("archive transcript", attempt)

    def archive_orphans(self, *, now_ms: int | None = None) -> list[str]:
        """Archive as ``deleted.<ts>`` every live transcript whose session id no entry of
        the agent has (its entry was deleted, or given a new session id, without
        archiving it), so that the archive retention of :func:`~sessionstore.lifecycle.cleanup`
        expires it like any other; returns the archive names. Nothing is deleted here."""
        check_archive("deleted", now_ms)
        start = current_time_ms() if now_ms is None else now_ms

        def attempt() -> list[str]:
            made = []
            with self._store._write() as write:
                for transcript_id, session_id, topic in write.tx.rows(
                    q.ORPHANED, {"tr_agent": self._agent}
                ):
                    live = self._live(str(session_id), str(topic))
                    ms = start
                    while write.tx.rows(q.SLOT_TAKEN, {**live, "slot": _slot("deleted", ms)}):
                        ms += 1
                    write.tx.run(
                        q.ARCHIVE,
                        {
                            "tr_agent": self._agent,
                            "tr_id": int(transcript_id),
                            "a_slot": _slot("deleted", ms),
                            "a_at": ms,
                        },
                    )
                    made.append(
                        archive_name(_file_name(str(session_id), str(topic)), "deleted", ms)
                    )
            return sorted(made)

        return self._store._retry("archive orphaned transcripts", attempt)

    def archives(self) -> list[Archive]:
        rows = self._store._query("list archives", q.ARCHIVES, {"tr_agent": self._agent})
        found = []
        for session_id, topic, slot, archived_at in rows:
            reason: ArchiveReason = "deleted" if str(slot).startswith("deleted.") else "reset"
            name = f"{_file_name(str(session_id), str(topic))}.{slot}"
            found.append(Archive(name, reason, int(archived_at or 0)))
        return sorted(found, key=lambda archive: archive.name)

    def remove_archive(self, name: str) -> None:
        match = _ARCHIVE.fullmatch(name) if isinstance(name, str) else None
        if match is None:
            raise InvalidArgumentError(f"{name!r} is not an archived transcript")
        base, slot = match["base"], match["slot"]
        # <sessionId>.jsonl or <sessionId>-topic-<topic>.jsonl: the session ids it may be
        sessions = [base] + [base[: m.start()] for m in re.finditer("-topic-", base)]
        params = {"tr_agent": self._agent, "sessions": sessions, "slot": slot}

        def attempt() -> None:
            with self._store._write() as write:
                for transcript_id, session_id, topic in write.tx.rows(q.ARCHIVED_IN, params):
                    if f"{_file_name(str(session_id), str(topic))}.{slot}" == name:
                        self._delete(write.tx, int(transcript_id))

        self._store._retry("remove archive", attempt)

    # -- erasure ---------------------------------------------------------------------

    def erase(
        self, keys: Iterable[str], *, session_ids: Iterable[str] = (), dry_run: bool = False
    ) -> Erasure:
        """One transaction: the entries, every transcript row written under their keys
        or of their sessions (live, topics, archives) with its lines (the full-text
        index follows them: SQLite's triggers, the servers' indexes), and the blobs only
        those entries used."""
        wanted = sorted({validate_key(key) for key in keys})
        extra = sorted({validate_session_id(sid) for sid in session_ids})
        return self._store._unit(
            "erase", lambda write: self._erase(write, wanted, extra, not dry_run), dry_run=dry_run
        )

    def _erase(self, write: Any, keys: list[str], extra: list[str], applied: bool) -> Erasure:
        tx: _Tx = write.tx
        agent = {"tr_agent": self._agent}
        # Lock the entries first, as appends do, so that none is appended to meanwhile.
        locked = self._store._lock_entries(write, keys)
        found = {key: str(row[1]) for key, row in locked.items()}
        sessions = sorted(set(found.values()) | set(extra))
        shared: set[str] = set()
        # Transcript rows by key, then by session id (a row may come twice).
        erasable: dict[int, Row] = {}
        for chunk in batched(keys, _ERASE_BATCH):
            for row in tx.rows(q.ERASABLE, {**agent, "keys": chunk, "sessions": []}):
                erasable[int(row[0])] = row
        for chunk in batched(sessions, _ERASE_BATCH):
            users = tx.rows(q.SESSION_USERS, {**agent, "sessions": chunk})
            shared.update(str(sid) for key, sid in users if str(key) not in found)
            for row in tx.rows(q.ERASABLE, {**agent, "keys": [], "sessions": chunk}):
                erasable[int(row[0])] = row
        live: list[str] = []
        archived: list[str] = []
        kept: list[str] = []
        ids: list[int] = []
        for transcript_id, (_, session_id, topic, slot, _key) in erasable.items():
            name = _file_name(str(session_id), str(topic))
            if not slot and str(session_id) in shared:
                kept.append(name)  # an entry that stays still writes to it
                continue
            ids.append(transcript_id)
            (archived if slot else live).append(f"{name}.{slot}" if slot else name)
        lines = size = 0
        for some in batched(ids, _ERASE_BATCH):
            counted = tx.rows(q.EVENT_TOTALS, {**agent, "ids": some})[0]
            lines, size = lines + int(counted[0]), size + int(counted[1])
        for some in batched(ids, _ERASE_BATCH):
            tx.run(q.DELETE_EVENTS_OF_IDS, {**agent, "ids": some})
            tx.run(q.DELETE_TRANSCRIPTS, {**agent, "ids": some})
        deleted, blobs = self._store._erase_entries(write, keys, locked)
        return Erasure(
            agent_id=self._agent,
            keys=deleted,
            transcripts=sorted(live),
            archives=sorted(archived),
            kept=sorted(kept),
            events=lines,
            bytes=size,
            blobs=blobs,
            applied=applied,
        )

    # -- reading ---------------------------------------------------------------------

    def tail(
        self, key: str, *, limit: int = DEFAULT_PAGE_SIZE, topic_id: TopicId = None
    ) -> list[dict[str, Any]]:
        check_limit(limit)
        found = self._find(key, topic_id)
        if found is None:
            return []
        stmt = q.transcript_page("last", True)
        rows = self._store._query("read transcript", stmt, {**found[1], "n": limit})
        return [orjson.loads(row[1]) for row in reversed(rows)]

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
        TranscriptPage.check(before, after, limit)
        found = self._find(key, topic_id)
        if found is None:
            return TranscriptPage([], None)
        session_id, live = found
        # A cursor names its transcript as the files tier does, topic included.
        name = _file_name(session_id, live["tr_topic"])
        params: dict[str, Any] = {**live, "n": limit + 1}
        direction = "last"
        if after is not None:
            direction, params["pos"] = "after", decode_transcript_cursor(after, name)
        elif before is not None:
            direction, params["pos"] = "before", decode_transcript_cursor(before, name)
        stmt = q.transcript_page(direction, bool(bodies))
        rows = self._store._query("read transcript", stmt, params)
        items = [orjson.loads(row[1]) for row in rows[:limit]]
        return TranscriptPage.of(items, [int(row[0]) for row in rows], limit, name)

    def count(self, key: str, *, topic_id: TopicId = None) -> int:
        found = self._find(key, topic_id)
        row = None if found is None else self._row(found[1])
        return 0 if row is None else row.messages

    def stats(self, session: EntryLike, *, topic_id: TopicId = None) -> TranscriptStats:
        row = self._session_row(session, topic_id)
        if row is None:
            return _NO_STATS
        return TranscriptStats(
            row.messages, row.input_tokens, row.output_tokens, row.total_tokens, row.malformed
        )

    def exists(self, session: EntryLike, *, topic_id: TopicId = None) -> bool:
        return self._session_row(session, topic_id) is not None

    def session_ids(self) -> set[str]:
        rows = self._store._query("list transcripts", q.LIVE_SESSION_IDS, {"tr_agent": self._agent})
        return {str(row[0]) for row in rows}

    def lines(self, session: EntryLike, *, topic_id: TopicId = None) -> Iterator[bytes]:
        """The stored lines in order, read :data:`_LINES_BATCH` at a time (one short
        read each: no transaction stays open while the caller works)."""
        row = self._session_row(session, topic_id)
        if row is None:
            return
        params: dict[str, Any] = {
            "tr_agent": self._agent,
            "tr_id": row.transcript_id,
            "n": _LINES_BATCH,
            "after": -1,
        }
        while True:
            rows = self._store._query("read transcript", q.LINES, params)
            for _seq, line in rows:
                yield line.encode() if isinstance(line, str) else bytes(line)
            if len(rows) < _LINES_BATCH:
                return
            params["after"] = int(rows[-1][0])

    # -- search ----------------------------------------------------------------------

    def _current(self, keys: set[str]) -> set[tuple[str, str]]:
        """``(key, sessionId)`` of those of ``keys`` whose entry exists."""
        if not keys:
            return set()
        params = {"tr_agent": self._agent, "keys": sorted(keys)}
        rows = self._store._query("search transcripts", q.SESSION_IDS, params)
        return {(str(key), str(session_id)) for key, session_id in rows}

    def _match_query(self, words: list[str]) -> str | None:
        """The database's full-text query for ``words`` (each taken literally), or
        ``None`` when the database indexes none of them."""
        if self._dialect == "sqlite":
            return " ".join('"' + word.replace('"', '""') + '"' for word in words)
        if self._dialect == "postgresql":
            return " ".join(words)
        shortest, longest = _MYSQL_WORD_CHARS
        indexed = [w for w in words if shortest <= len(w) <= longest and w not in MYSQL_STOPWORDS]
        return " ".join(f'+"{word}"' for word in indexed) if indexed else None

    def _walks(self, key: str | None, match: str) -> bool:
        """Whether SQLite walks the messages from the newest to find the matches of
        ``match`` rather than sort them all: when they are many (PostgreSQL's planner
        decides for itself; a search in one session reads its own matches only)."""
        if self._dialect != "sqlite" or key is not None:
            return False
        counted = {"q": match, "n": _WALK_FROM_MATCHES}
        rows = self._store._query("search transcripts", q.FTS_MATCHES, counted)
        return int(rows[0][0]) >= _WALK_FROM_MATCHES

    def search(self, query: str, *, key: str | None = None, limit: int = 20) -> list[SearchHit]:
        check_limit(limit)
        words = search_words(query)
        if not words:
            return []
        params: dict[str, Any] = {"tr_agent": self._agent}
        if key is not None:
            found = self._find(key, None)
            row = None if found is None else self._row(found[1])
            if row is None:
                return []
            params["tr_id"] = row.transcript_id
            params["lo"] = row.transcript_id << 32
            params["hi"] = (row.transcript_id << 32) | (2**32 - 1)
        match = self._match_query(words)
        if match is None:
            return []
        stmt = q.transcript_search(self._dialect, key is not None, self._walks(key, match))
        wanted = set(words)
        hits: list[SearchHit] = []
        # Batches are separate reads: lines appended between them shift the offsets,
        # so a line may come twice.
        seen: set[tuple[int, int]] = set()
        fetch = limit + 16
        params.update(q=match, n=fetch, skip=0)
        while True:
            rows = self._store._query("search transcripts", stmt, params)
            # The transcripts of current entries only, as the files tier reads them (a
            # deleted entry's stays until it is archived): one read per batch.
            current = self._current({str(row[0]) for row in rows})
            for session_key, session_id, seq, created_at, text, transcript_id in rows:
                if (str(session_key), str(session_id)) not in current:
                    continue
                # The databases' tokenizers are looser than whole words (diacritics,
                # parts of words): each hit holds every word, as on the files tier.
                place = (int(transcript_id), int(seq))
                if text is None or place in seen or not wanted <= words_of(text):
                    continue
                seen.add(place)
                hits.append(
                    SearchHit(
                        key=str(session_key),
                        session_id=str(session_id),
                        position=int(seq),
                        snippet=snippet(text, words),
                        timestamp=None if created_at is None else int(created_at),
                    )
                )
                if len(hits) == limit:
                    return hits
            if len(rows) < fetch:
                return hits
            params["skip"] += fetch

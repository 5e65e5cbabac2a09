"""The SQL schema of the hot index. Tables are created only by the Alembic revisions;
this module describes them for queries and for the drift check (``alembic check``).
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Index,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from sessionstore.entry import MAX_KEY_BYTES
from sessionstore.projection import SHORT_TEXT
from sessionstore.sql.types import ExactText, JSONDocument, LongText

__all__ = [
    "CHECK_TABLE",
    "NEWEST_INDEX",
    "SEARCH_INDEX",
    "SEARCH_TABLE",
    "SEARCH_VECTOR",
    "VERSION_TABLE",
    "Base",
    "BlobRow",
    "CheckRow",
    "ImportRow",
    "SessionRow",
    "TranscriptEventRow",
    "TranscriptRow",
    "VersionFloorRow",
    "blobs",
    "checks",
    "imports",
    "is_search_object",
    "metadata",
    "sessions",
    "transcript_events",
    "transcripts",
    "version_floor",
]

#: The last result of each maintenance check (revision ``0008``).
CHECK_TABLE = "sessionstore_checks"
#: Alembic's bookkeeping table; named for this library so it can share a database.
VERSION_TABLE = "sessionstore_version"
#: SQLite's full-text index of transcript text: an FTS5 table (and its shadow tables),
#: kept by triggers on ``transcript_events``; created by revision ``0006`` only.
SEARCH_TABLE = "transcript_search"
#: The full-text index on ``transcript_events.search_text`` on PostgreSQL (GIN over a
#: ``tsvector``) and MySQL/MariaDB (``FULLTEXT``); created by revision ``0006`` only.
SEARCH_INDEX = "ix_transcript_events_search"
#: PostgreSQL's stored ``tsvector`` of ``search_text``, what its GIN index covers
#: (revision ``0007``, a generated column the models leave out like the index).
SEARCH_VECTOR = "search_vector"
#: The messages (``search_text`` set) by time, newest first, that a search walks;
#: SQLite and PostgreSQL, created by revision ``0007`` only.
NEWEST_INDEX = "ix_transcript_events_newest"

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class Base(DeclarativeBase):
    metadata = metadata


def _short() -> Mapped[Any]:
    return mapped_column(ExactText(SHORT_TEXT), nullable=True)


class SessionRow(Base):
    """One session: index columns projected from ``entry_json``, the canonical record."""

    __tablename__ = "sessions"

    agent_id: Mapped[str] = mapped_column(ExactText(64), primary_key=True)
    session_key: Mapped[str] = mapped_column(ExactText(MAX_KEY_BYTES), primary_key=True)
    session_id: Mapped[str] = mapped_column(ExactText(128))
    updated_at: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    channel: Mapped[str | None] = _short()
    last_channel: Mapped[str | None] = _short()
    last_to: Mapped[str | None] = _short()
    last_account_id: Mapped[str | None] = _short()
    last_thread_id: Mapped[str | None] = _short()
    label: Mapped[str | None] = _short()
    display_name: Mapped[str | None] = _short()
    status: Mapped[str | None] = _short()
    chat_type: Mapped[str | None] = _short()
    model: Mapped[str | None] = _short()
    model_provider: Mapped[str | None] = _short()
    total_tokens: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    input_tokens: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    output_tokens: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    message_count: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    archived: Mapped[bool] = mapped_column(Boolean)
    spawned_by: Mapped[str | None] = mapped_column(ExactText(MAX_KEY_BYTES), nullable=True)
    version: Mapped[int] = mapped_column(BigInteger)
    entry_json: Mapped[dict[str, Any]] = mapped_column(JSONDocument())
    # digests of the values kept in session_blobs (see sessionstore.sql.blobs)
    prompt_blob: Mapped[str | None] = mapped_column(String(64), nullable=True)
    report_blob: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        # listing order and keyset cursor
        Index(None, "agent_id", "updated_at", "session_key"),
        # filters that come with the listing order (and its key tie-break)
        Index(None, "agent_id", "channel", "updated_at", "session_key"),
        Index(None, "agent_id", "status", "updated_at", "session_key"),
        Index(None, "agent_id", "chat_type", "updated_at", "session_key"),
        Index(None, "agent_id", "archived", "updated_at", "session_key"),
        Index(None, "agent_id", "spawned_by", "updated_at", "session_key"),
        Index(None, "agent_id", "label"),
        # look-ups and listings by session id (transcripts, reset, cleanup)
        Index(None, "agent_id", "session_id", "updated_at", "session_key"),
    )


sessions = cast(Table, SessionRow.__table__)


class ImportRow(Base):
    """The last verified import of an agent's ``sessions.json`` into this database.

    It makes the automatic import on first open happen once only, and lets a later
    ``migrate`` tell an unchanged source from a changed one.
    """

    __tablename__ = "sessionstore_imports"

    agent_id: Mapped[str] = mapped_column(ExactText(64), primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    entries: Mapped[int] = mapped_column(BigInteger)
    checksum: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[int] = mapped_column(BigInteger)


imports = cast(Table, ImportRow.__table__)


class BlobRow(Base):
    """A large value stored once by content: its exact JSON text and sha256."""

    __tablename__ = "session_blobs"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[str] = mapped_column(LongText())
    bytes: Mapped[int] = mapped_column(BigInteger)
    #: refreshed at most hourly by writers; collection spares recently used blobs
    last_used_at: Mapped[int] = mapped_column(BigInteger)


blobs = cast(Table, BlobRow.__table__)


class VersionFloorRow(Base):
    """One row: the highest version any deleted session had (revision ``0005``).

    A row counts the writes to its key, and a new row starts above this floor, so a key
    deleted and written again never repeats a version. Every delete raises it.
    """

    __tablename__ = "session_version_floor"

    #: always 1: the table has exactly one row
    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)


version_floor = cast(Table, VersionFloorRow.__table__)


class TranscriptRow(Base):
    """One transcript: a ``sessionId`` generation of a session (and topic), live
    (``archive_slot`` empty) or archived (``<reason>.<ts>``). Revision ``0006``.

    The counters are kept in the transaction of every append, so ``count`` reads one
    row; ``last_seq`` is the position of the last line (the header is 0).
    """

    __tablename__ = "session_transcripts"

    agent_id: Mapped[str] = mapped_column(ExactText(64), primary_key=True)
    #: unique in the database (SQLite's search index derives its row ids from it)
    transcript_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    session_id: Mapped[str] = mapped_column(ExactText(128))
    #: OpenClaw's topic (``<sessionId>-topic-<topic>.jsonl``); empty for none
    topic: Mapped[str] = mapped_column(ExactText(512))
    #: empty while live; ``deleted.<ts>`` or ``reset.<ts>`` once archived
    archive_slot: Mapped[str] = mapped_column(ExactText(64))
    session_key: Mapped[str] = mapped_column(ExactText(MAX_KEY_BYTES))
    created_at: Mapped[int] = mapped_column(BigInteger)
    archived_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    messages: Mapped[int] = mapped_column(BigInteger)
    input_tokens: Mapped[int] = mapped_column(BigInteger)
    output_tokens: Mapped[int] = mapped_column(BigInteger)
    total_tokens: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: lines imported that are not JSON objects (kept verbatim, never returned)
    malformed: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint("agent_id", "session_id", "topic", "archive_slot"),
        # archives by age (lifecycle's retention)
        Index(None, "agent_id", "archived_at"),
    )


transcripts = cast(Table, TranscriptRow.__table__)


class TranscriptEventRow(Base):
    """One line of a transcript, exactly as written (``event_json``, the last column so
    that reading the others never reads a large body). Revision ``0006``.

    ``event_id`` and ``idempotency_key`` make a retried append skip what it already
    wrote (values longer than their column are stored as ``sha256:<hex>``).
    ``search_text`` is the text of a message, what the full-text index covers;
    ``header_json`` is set only for a large event: what a page without bodies shows.
    """

    __tablename__ = "transcript_events"

    agent_id: Mapped[str] = mapped_column(ExactText(64), primary_key=True)
    transcript_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[str | None] = mapped_column(ExactText(128), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(ExactText(256), nullable=True)
    #: the event's ``type``; ``NULL`` for a line that is not a JSON object
    kind: Mapped[str | None] = mapped_column(ExactText(64), nullable=True)
    #: the event's ``timestamp`` in epoch ms, when it has one
    created_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    bytes: Mapped[int] = mapped_column(BigInteger)
    search_text: Mapped[str | None] = mapped_column(LongText(), nullable=True)
    header_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    event_json: Mapped[str] = mapped_column(LongText())

    __table_args__ = (
        UniqueConstraint("agent_id", "transcript_id", "event_id"),
        UniqueConstraint("agent_id", "transcript_id", "idempotency_key"),
    )


transcript_events = cast(Table, TranscriptEventRow.__table__)


def is_search_object(name: str | None) -> bool:
    """Whether ``name`` is part of the full-text search, which each database builds its
    own way (revisions ``0006`` and ``0007``) and the models do not describe."""
    return name is not None and (
        name.startswith(SEARCH_TABLE) or name in (SEARCH_INDEX, SEARCH_VECTOR, NEWEST_INDEX)
    )


class CheckRow(Base):
    """The last run of a maintenance check of the database (revision ``0008``): what
    ``sessionstore check --integrity`` found, for ``sessionstore info``."""

    __tablename__ = CHECK_TABLE

    #: which check: ``integrity``
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: epoch ms
    checked_at: Mapped[int] = mapped_column(BigInteger)
    ok: Mapped[bool] = mapped_column(Boolean)
    #: ``integrity_check`` rather than ``quick_check``
    full_check: Mapped[bool] = mapped_column(Boolean)
    duration_ms: Mapped[int] = mapped_column(BigInteger)
    #: what the check reported wrong, one problem a line
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)


checks = cast(Table, CheckRow.__table__)

"""Transcripts in SQL: the conversation beside the hot index, with full-text search.

``session_transcripts`` holds one row per transcript (a ``sessionId`` generation, live
or archived) with its counters; ``transcript_events`` one row per line, in order
(``seq``, the header is 0), the line kept verbatim. Each database gets its own
full-text index over ``search_text``, the text of messages: an FTS5 table kept by
triggers on SQLite, a GIN index over ``to_tsvector('simple', ...)`` on PostgreSQL, a
``FULLTEXT`` index on MySQL/MariaDB.

The downgrade drops the transcripts. It refuses while the tables hold events, so that
no conversation is lost by accident: export them first (``sessionstore export``), or
force it: ``alembic -x drop_transcripts=yes``, ``sessionstore db downgrade
--drop-transcripts``, ``sessionstore.downgrade(url, rev, drop_transcripts=True)``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from sessionstore.errors import SessionStoreError
from sessionstore.sql.types import ExactText, LongText

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH_TABLE = "transcript_search"
SEARCH_INDEX = "ix_transcript_events_search"
# SQLite's search rows are numbered transcript_id << 32 | seq (see sessionstore.sql.transcripts)
_SQLITE_SEARCH = [
    f"CREATE VIRTUAL TABLE {SEARCH_TABLE} USING fts5("
    "search_text, content='', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER transcript_events_search_insert AFTER INSERT ON transcript_events "
    "WHEN new.search_text IS NOT NULL BEGIN "
    f"INSERT INTO {SEARCH_TABLE}(rowid, search_text) "
    "VALUES ((new.transcript_id << 32) | new.seq, new.search_text); END",
    "CREATE TRIGGER transcript_events_search_delete AFTER DELETE ON transcript_events "
    "WHEN old.search_text IS NOT NULL BEGIN "
    f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}, rowid, search_text) "
    "VALUES ('delete', (old.transcript_id << 32) | old.seq, old.search_text); END",
]


def upgrade() -> None:
    op.create_table(
        "session_transcripts",
        sa.Column("agent_id", ExactText(64), nullable=False),
        sa.Column("transcript_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("session_id", ExactText(128), nullable=False),
        sa.Column("topic", ExactText(512), nullable=False),
        sa.Column("archive_slot", ExactText(64), nullable=False),
        sa.Column("session_key", ExactText(1024), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("archived_at", sa.BigInteger(), nullable=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("total_tokens", sa.BigInteger(), nullable=True),
        sa.Column("malformed", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", "transcript_id", name=op.f("pk_session_transcripts")),
        sa.UniqueConstraint(
            "agent_id",
            "session_id",
            "topic",
            "archive_slot",
            name=op.f("uq_session_transcripts_agent_id_session_id_topic_archive_slot"),
        ),
    )
    op.create_index(
        op.f("ix_session_transcripts_agent_id_archived_at"),
        "session_transcripts",
        ["agent_id", "archived_at"],
    )
    op.create_table(
        "transcript_events",
        sa.Column("agent_id", ExactText(64), nullable=False),
        sa.Column("transcript_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_id", ExactText(128), nullable=True),
        sa.Column("idempotency_key", ExactText(256), nullable=True),
        sa.Column("kind", ExactText(64), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("search_text", LongText(), nullable=True),
        sa.Column("header_json", sa.Text(), nullable=True),
        sa.Column("event_json", LongText(), nullable=False),
        sa.PrimaryKeyConstraint(
            "agent_id", "transcript_id", "seq", name=op.f("pk_transcript_events")
        ),
        sa.UniqueConstraint(
            "agent_id",
            "transcript_id",
            "event_id",
            name=op.f("uq_transcript_events_agent_id_transcript_id_event_id"),
        ),
        sa.UniqueConstraint(
            "agent_id",
            "transcript_id",
            "idempotency_key",
            name=op.f("uq_transcript_events_agent_id_transcript_id_idempotency_key"),
        ),
    )
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        for statement in _SQLITE_SEARCH:
            op.execute(statement)
    elif dialect == "postgresql":
        # Words as Python's \w+ finds them: PostgreSQL's parser would keep "a/b",
        # "a.b" and e-mail addresses as single tokens.
        op.execute(
            f"CREATE INDEX {SEARCH_INDEX} ON transcript_events USING gin "
            "(to_tsvector('simple', regexp_replace(search_text, '\\W+', ' ', 'g')))"
        )
    else:
        op.execute(f"CREATE FULLTEXT INDEX {SEARCH_INDEX} ON transcript_events (search_text)")


def downgrade() -> None:
    forced = context.get_x_argument(as_dictionary=True).get("drop_transcripts") == "yes"
    # An offline script cannot count: the DBA who reviews it sees the DROP TABLE.
    held = None if context.is_offline_mode() else _events_held()
    if held and not forced:
        raise SessionStoreError(
            f"transcript_events holds {held} lines: downgrading below 0006 would drop "
            "them. Export them first (sessionstore export), or force it (alembic -x "
            "drop_transcripts=yes, sessionstore db downgrade --drop-transcripts)"
        )
    if op.get_context().dialect.name == "sqlite":
        op.execute("DROP TRIGGER transcript_events_search_delete")
        op.execute("DROP TRIGGER transcript_events_search_insert")
        op.execute(f"DROP TABLE {SEARCH_TABLE}")
    op.drop_table("transcript_events")
    op.drop_index(
        op.f("ix_session_transcripts_agent_id_archived_at"), table_name="session_transcripts"
    )
    op.drop_table("session_transcripts")


def _events_held() -> int:
    count = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM transcript_events")).scalar()
    return int(count or 0)

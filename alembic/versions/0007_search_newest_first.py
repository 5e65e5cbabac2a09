"""Search newest first without sorting every match.

A search returns the newest matching messages. Before this revision each database
collected every match of the query and sorted them by time, which costs as much as a
word is common (a word in one message of ten: 600 ms over a million events). A partial
index over the messages by time, ``ix_transcript_events_newest``, lets a search walk
from the newest message and stop at its limit:

- SQLite: the walk checks each message against the FTS5 index's matches (the library
  walks when a word matches more than a few thousand messages, and reads FTS5 first
  otherwise);
- PostgreSQL: each message's ``tsvector`` is stored (``search_vector``, a generated
  column) so that checking a message on the walk reads a value instead of parsing its
  text; the GIN index covers that column. The planner chooses the walk or the GIN index
  by the word's frequency. Adding the column rewrites ``transcript_events`` once.
- MySQL/MariaDB: the transcript tables are converted to ``utf8mb4`` (revision 0006 left
  them at the server's default character set); its search is unchanged.

The downgrade restores revision 0006's objects and keeps every row.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH_INDEX = "ix_transcript_events_search"
NEWEST_INDEX = "ix_transcript_events_newest"
SEARCH_VECTOR = "search_vector"
# Words as Python's \w+ finds them (revision 0006's expression, now stored)
_WORDS = "to_tsvector('simple', regexp_replace(search_text, '\\W+', ' ', 'g'))"
_MESSAGES = "WHERE search_text IS NOT NULL"


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        # NULL timestamps sort last when walked backwards, as the search orders them.
        op.execute(
            f"CREATE INDEX {NEWEST_INDEX} ON transcript_events "
            f"(agent_id, created_at, seq, transcript_id) {_MESSAGES}"
        )
    elif dialect == "postgresql":
        op.execute(
            f"ALTER TABLE transcript_events ADD COLUMN {SEARCH_VECTOR} tsvector "
            f"GENERATED ALWAYS AS ({_WORDS}) STORED"
        )
        op.execute(f"DROP INDEX {SEARCH_INDEX}")
        op.execute(f"CREATE INDEX {SEARCH_INDEX} ON transcript_events USING gin ({SEARCH_VECTOR})")
        op.execute(
            f"CREATE INDEX {NEWEST_INDEX} ON transcript_events "
            f"(agent_id, created_at DESC NULLS LAST, seq DESC, transcript_id DESC) {_MESSAGES}"
        )
    else:
        for table in ("session_transcripts", "transcript_events"):
            if _collation(table).startswith("utf8mb4"):
                continue  # the server's default already
            op.execute(f"ALTER TABLE {table} CONVERT TO CHARACTER SET utf8mb4")
            if table == "transcript_events":  # converting widened TEXT to MEDIUMTEXT
                op.execute("ALTER TABLE transcript_events MODIFY header_json TEXT NULL")


def _collation(table: str) -> str:
    """The table's collation; unknown (empty) in an offline script, which converts."""
    if context.is_offline_mode():
        return ""
    found = op.get_bind().execute(
        sa.text(
            "SELECT table_collation FROM information_schema.tables "
            "WHERE table_schema = DATABASE() AND table_name = :table"
        ),
        {"table": table},
    )
    return str(found.scalar() or "")


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        op.execute(f"DROP INDEX {NEWEST_INDEX}")
    elif dialect == "postgresql":
        op.execute(f"DROP INDEX {NEWEST_INDEX}")
        op.execute(f"DROP INDEX {SEARCH_INDEX}")
        op.execute(f"ALTER TABLE transcript_events DROP COLUMN {SEARCH_VECTOR}")
        op.execute(f"CREATE INDEX {SEARCH_INDEX} ON transcript_events USING gin ({_WORDS})")
    # MySQL/MariaDB: utf8mb4 is what revision 0006 should have asked for; it stays.

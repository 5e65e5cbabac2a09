"""Create the sessions table: the hot index of session metadata.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sessionstore.sql.types import ExactText, JSONDocument

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SHORT_TEXT = (
    "channel",
    "last_channel",
    "last_to",
    "last_account_id",
    "last_thread_id",
    "label",
    "display_name",
    "status",
    "chat_type",
    "model",
    "model_provider",
)
_INDEXES = {
    "ix_sessions_agent_id_updated_at_session_key": ["agent_id", "updated_at", "session_key"],
    "ix_sessions_agent_id_channel_updated_at_session_key": [
        "agent_id",
        "channel",
        "updated_at",
        "session_key",
    ],
    "ix_sessions_agent_id_status_updated_at_session_key": [
        "agent_id",
        "status",
        "updated_at",
        "session_key",
    ],
    "ix_sessions_agent_id_chat_type_updated_at_session_key": [
        "agent_id",
        "chat_type",
        "updated_at",
        "session_key",
    ],
    "ix_sessions_agent_id_archived_updated_at_session_key": [
        "agent_id",
        "archived",
        "updated_at",
        "session_key",
    ],
    "ix_sessions_agent_id_spawned_by_updated_at_session_key": [
        "agent_id",
        "spawned_by",
        "updated_at",
        "session_key",
    ],
    "ix_sessions_agent_id_label": ["agent_id", "label"],
    "ix_sessions_agent_id_session_id": ["agent_id", "session_id"],
}


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("agent_id", ExactText(64), nullable=False),
        sa.Column("session_key", ExactText(1024), nullable=False),
        sa.Column("session_id", ExactText(128), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=True),
        *(sa.Column(name, ExactText(255), nullable=True) for name in _SHORT_TEXT),
        sa.Column("total_tokens", sa.BigInteger(), nullable=True),
        sa.Column("input_tokens", sa.BigInteger(), nullable=True),
        sa.Column("output_tokens", sa.BigInteger(), nullable=True),
        sa.Column("message_count", sa.BigInteger(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("spawned_by", ExactText(1024), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("entry_json", JSONDocument(), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", "session_key", name=op.f("pk_sessions")),
        mysql_charset="utf8mb4",
    )
    for name, columns in _INDEXES.items():
        op.create_index(op.f(name), "sessions", columns)


def downgrade() -> None:
    for name in reversed(_INDEXES):
        op.drop_index(op.f(name), table_name="sessions")
    op.drop_table("sessions")

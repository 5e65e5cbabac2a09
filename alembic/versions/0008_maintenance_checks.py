"""The last maintenance check of the database, kept for ``sessionstore info``.

``sessionstore check --integrity`` runs SQLite's ``quick_check`` (or ``integrity_check``)
on demand, never when a store opens; its result and time are kept in one row per check
of ``sessionstore_checks``, so that ``info`` can show when the database was last found
sound.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sessionstore_checks",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("checked_at", sa.BigInteger(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("full_check", sa.Boolean(), nullable=False),
        sa.Column("duration_ms", sa.BigInteger(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sessionstore_checks")),
    )


def downgrade() -> None:
    # MySQL commits DDL at once: a downgrade past 0006 that 0006 refuses (transcripts
    # left) has dropped this table already, and the next try must not fail here.
    op.execute("DROP TABLE IF EXISTS sessionstore_checks")

"""Versions never repeat for a key, also across delete and put.

A row counts the writes to its key; deleting the row lost the count, so the key's next
put started again at version 1. The one row of ``session_version_floor`` holds the
highest version a deleted session had; every delete raises it, and a new row starts
above it. Existing databases start the floor at their highest version, which also keeps
most keys deleted before the upgrade from repeating a version.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

sessions = sa.table("sessions", sa.column("version", sa.BigInteger()))


def upgrade() -> None:
    floor = op.create_table(
        "session_version_floor",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_version_floor")),
    )
    highest = sa.select(sa.literal(1), sa.func.coalesce(sa.func.max(sessions.c.version), 0))
    op.execute(floor.insert().from_select(["id", "version"], highest))


def downgrade() -> None:
    op.drop_table("session_version_floor")

"""Store skillsSnapshot.prompt and systemPromptReport once by content (sha256).

Moves the two large, repeated fields of existing rows into session_blobs on upgrade,
and puts them back inline on downgrade; the entries read the same either way.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import time
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from sessionstore.sql.blobs import BLOB_COLUMNS, join, split
from sessionstore.sql.types import ExactText, JSONDocument, LongText

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 200

# The tables as this revision knows them.
sessions = sa.table(
    "sessions",
    sa.column("agent_id", ExactText(64)),
    sa.column("session_key", ExactText(1024)),
    sa.column("entry_json", JSONDocument()),
    sa.column("prompt_blob", sa.String(64)),
    sa.column("report_blob", sa.String(64)),
)
session_blobs = sa.table(
    "session_blobs",
    sa.column("digest", sa.String(64)),
    sa.column("body", LongText()),
    sa.column("bytes", sa.BigInteger()),
    sa.column("last_used_at", sa.BigInteger()),
)
_KEY = sa.and_(
    sessions.c.agent_id == sa.bindparam("k_agent"),
    sessions.c.session_key == sa.bindparam("k_key"),
)


def _rows(conn: sa.Connection, *where: Any) -> Iterator[list[sa.Row[Any]]]:
    """The matching rows in key order, a batch at a time."""
    after = ("", "")
    while True:
        batch = conn.execute(
            sa.select(sessions)
            .where(
                *where,
                sa.tuple_(sessions.c.agent_id, sessions.c.session_key) > sa.tuple_(*after),
            )
            .order_by(sessions.c.agent_id, sessions.c.session_key)
            .limit(BATCH)
        ).all()
        if not batch:
            return
        yield list(batch)
        after = (batch[-1].agent_id, batch[-1].session_key)


def upgrade() -> None:
    op.create_table(
        "session_blobs",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("body", LongText(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("last_used_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_session_blobs")),
    )
    with op.batch_alter_table("sessions") as batch_op:
        batch_op.add_column(sa.Column("prompt_blob", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("report_blob", sa.String(64), nullable=True))

    if context.is_offline_mode():
        # A SQL script carries the schema only: existing rows stay inline, which reads
        # the same (their digests are null); rows written from then on move out.
        return
    conn = op.get_bind()
    now = time.time_ns() // 1_000_000
    stored: set[str] = set()
    for batch in _rows(conn):
        for row in batch:
            entry, blobs = split(row.entry_json)
            if not blobs:
                continue
            for blob in blobs.values():
                if blob.digest not in stored:
                    conn.execute(
                        session_blobs.insert(),
                        {
                            "digest": blob.digest,
                            "body": blob.body.decode(),
                            "bytes": len(blob.body),
                            "last_used_at": now,
                        },
                    )
                    stored.add(blob.digest)
            conn.execute(
                sessions.update().where(_KEY),
                {
                    "k_agent": row.agent_id,
                    "k_key": row.session_key,
                    "entry_json": entry,
                    **{column: blob.digest for column, blob in blobs.items()},
                },
            )


def downgrade() -> None:
    if context.is_offline_mode():
        raise RuntimeError("revision 0003 moves data back inline: downgrade it online")
    conn = op.get_bind()
    referenced = sa.or_(*(sessions.c[column].is_not(None) for column in BLOB_COLUMNS))
    for batch in _rows(conn, referenced):
        digests = {row._mapping[c] for row in batch for c in BLOB_COLUMNS} - {None}
        bodies = dict(
            conn.execute(
                sa.select(session_blobs.c.digest, session_blobs.c.body).where(
                    session_blobs.c.digest.in_(digests)
                )
            ).all()
        )
        for row in batch:
            refs = {c: row._mapping[c] for c in BLOB_COLUMNS}
            inline = {c: bodies[d].encode() for c, d in refs.items() if d is not None}
            conn.execute(
                sessions.update().where(_KEY),
                {
                    "k_agent": row.agent_id,
                    "k_key": row.session_key,
                    "entry_json": join(row.entry_json, inline),
                    **dict.fromkeys(BLOB_COLUMNS),
                },
            )
    with op.batch_alter_table("sessions") as batch_op:
        batch_op.drop_column("report_blob")
        batch_op.drop_column("prompt_blob")
    op.drop_table("session_blobs")

"""Every statement the SQL backends send, built once from the SQLAlchemy tables.

:class:`~sessionstore.backends.sql.SqlStore` executes them through SQLAlchemy Core;
:class:`~sessionstore.backends.sqlite.SqliteStore` compiles them once to SQLite text
and runs that through the ``sqlite3`` driver. Parameters are named, never the column
names (INSERT and UPDATE reserve those), and each statement's result columns have a
fixed order, so rows are read by position.

Statements that depend on which listing filters are set are built per *shape* (the
set filters, the order, a cursor) and cached: the same shape reuses the same object,
so its compiled SQL is reused too.

>>> clauses, params = where("main", Filters(channel="slack"))
>>> sorted(params)
['f_agent', 'f_channel']
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Delete,
    Select,
    Text,
    and_,
    any_,
    bindparam,
    column,
    delete,
    exists,
    false,
    func,
    insert,
    literal_column,
    or_,
    select,
    table,
    text,
    true,
    update,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.sql.dml import Insert, ReturningDelete
from sqlalchemy.sql.elements import BindParameter, TextClause

from sessionstore.contract import Filters, key_range
from sessionstore.projection import COUNT_COLUMNS, INDEX_COLUMNS
from sessionstore.sql.blobs import BLOB_COLUMNS
from sessionstore.sql.schema import SEARCH_TABLE, SEARCH_VECTOR, imports
from sessionstore.sql.schema import blobs as blob_table
from sessionstore.sql.schema import sessions as t
from sessionstore.sql.schema import transcript_events as event_table
from sessionstore.sql.schema import transcripts as transcript_table
from sessionstore.sql.schema import version_floor as floor

__all__ = [
    "ANY_ROW",
    "BLOB_BODIES",
    "COLLECT_BLOBS",
    "CONTENT",
    "ERASE_BLOBS",
    "FLOOR",
    "GET",
    "GET_VERSION",
    "GET_WITH_VERSION",
    "INSERT_ROW",
    "LOCK_ROW",
    "RAISE_FLOOR",
    "UPDATE_COUNTS",
    "UPDATE_ROW",
    "analyze_after_bulk",
    "blob_upsert",
    "count",
    "ddl",
    "delete_many",
    "drop_index",
    "get_many",
    "has_returning",
    "iter_batch",
    "listing",
    "lock_entries",
    "lock_versions",
    "rebuilds_indexes",
    "secondary_indexes",
    "upsert",
    "where",
]

#: The columns that hold the entry itself (the rest are projections of it).
CONTENT = ("entry_json", *BLOB_COLUMNS)
# Written by an upsert that meets an existing row (the key columns stay).
_WRITTEN = ("session_id", *INDEX_COLUMNS[1:], *CONTENT)
# An inline literal: PyMySQL's executemany cannot bind parameters after VALUES (...).
_BUMP = t.c.version + literal_column("1")
_KEY = and_(t.c.agent_id == bindparam("k_agent"), t.c.session_key == bindparam("k_key"))
# An entry is its row's entry_json plus the blobs its digests name.
_STORED = (t.c.entry_json, *(t.c[column] for column in BLOB_COLUMNS))

#: (entry_json, *blob digests)
GET = select(*_STORED).where(_KEY)
#: (version,)
GET_VERSION = select(t.c.version).where(_KEY)
#: (version, entry_json, *blob digests)
GET_WITH_VERSION = select(t.c.version, *_STORED).where(_KEY)
#: as GET_WITH_VERSION, locking the row (FOR UPDATE where the database has it)
LOCK_ROW = GET_WITH_VERSION.with_for_update()
#: (digest, body)
BLOB_BODIES = select(blob_table.c.digest, blob_table.c.body).where(
    blob_table.c.digest.in_(bindparam("digests", expanding=True))
)
UPDATE_ROW = (
    update(t)
    .where(_KEY)
    .values(
        {
            **{name: bindparam(f"new_{name}") for name in (*INDEX_COLUMNS, *CONTENT)},
            "version": _BUMP,
        }
    )
)
#: the counters of an entry and its entry_json, as an append moves them
UPDATE_COUNTS = (
    update(t)
    .where(_KEY)
    .values(
        {
            **{name: bindparam(f"new_{name}") for name in ("entry_json", *COUNT_COLUMNS)},
            "version": _BUMP,
        }
    )
)
INSERT_ROW = insert(t)
# Versions never repeat for a key: a row counts its writes, a new row starts above the
# floor, and every delete raises the floor to the versions it removed. Writers that may
# insert read the floor with a shared lock and a delete raises it with an exclusive one,
# so an insert cannot miss a delete of its key that commits meanwhile.
_THE_FLOOR = floor.c.id == literal_column("1")
#: (version,): the floor, locked for sharing; a new row's version is one more
FLOOR = select(floor.c.version).where(_THE_FLOOR).with_for_update(read=True)
#: raise the floor to ``:deleted`` (the highest version just deleted)
RAISE_FLOOR = (
    update(floor)
    .where(_THE_FLOOR, floor.c.version < bindparam("deleted"))
    .values(version=bindparam("deleted"))
)
# FLOOR's read, one more, as a value inside another statement
_ABOVE_FLOOR = FLOOR.with_only_columns(floor.c.version + literal_column("1")).scalar_subquery()
#: (agent_id, source, entries, checksum, imported_at)
LAST_IMPORT = select(
    imports.c.agent_id,
    imports.c.source,
    imports.c.entries,
    imports.c.checksum,
    imports.c.imported_at,
).where(imports.c.agent_id == bindparam("agent_id"))
DELETE_IMPORT = delete(imports).where(imports.c.agent_id == bindparam("agent_id"))
INSERT_IMPORT = insert(imports)
#: (agent_id,)
AGENT_IDS = select(t.c.agent_id).distinct().order_by(t.c.agent_id)
#: (session_key, *INDEX_COLUMNS)
_SUMMARY_COLUMNS = (t.c.session_key, *(t.c[name] for name in INDEX_COLUMNS))

# Statements by shape, the least recently used dropped beyond _SHAPED_MAX: there are
# thousands of possible shapes (filters, batch sizes), an application uses a few.
_SHAPED: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_SHAPED_MAX = 256
_SHAPED_LOCK = threading.Lock()
S = TypeVar("S")


def _shaped(shape: tuple[Any, ...], build: Callable[[], S]) -> S:
    """The statement for ``shape``, built once while in use: compiled SQL is then reused."""
    with _SHAPED_LOCK:
        stmt = _SHAPED.get(shape)
        if stmt is None:
            stmt = _SHAPED[shape] = build()
            if len(_SHAPED) > _SHAPED_MAX:
                _SHAPED.popitem(last=False)
        else:
            _SHAPED.move_to_end(shape)
    return cast(S, stmt)


def has_returning(dialect: str) -> bool:
    """Whether an INSERT or DELETE can return rows (``RETURNING``): SQLite and
    PostgreSQL can, MySQL/MariaDB cannot.

    >>> has_returning("postgresql"), has_returning("mysql")
    (True, False)
    """
    return dialect in ("sqlite", "postgresql")


# One per dialect and variant (returning, floor_inline): every store shares it, and its
# compiled SQL.
@lru_cache(maxsize=8)
def upsert(dialect: str, *, returning: bool, floor_inline: bool = False) -> Insert:
    """``INSERT ... ON CONFLICT/DUPLICATE KEY UPDATE`` that bumps the version, with
    ``RETURNING version`` when asked (SQLite and PostgreSQL have it).

    A new row's version is the ``version`` parameter, or with ``floor_inline`` one more
    than the floor, read in the statement itself (one statement for a ``put``; a
    parameter keeps PyMySQL's multi-row ``executemany``)."""
    if dialect in ("mysql", "mariadb"):
        my = _with_floor(mysql.insert(t), floor_inline)
        return my.on_duplicate_key_update(
            {**{name: my.inserted[name] for name in _WRITTEN}, "version": _BUMP}
        )
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = _with_floor(module.insert(t), floor_inline)
    done = stmt.on_conflict_do_update(
        index_elements=[t.c.agent_id, t.c.session_key],
        set_={**{name: stmt.excluded[name] for name in _WRITTEN}, "version": _BUMP},
    )
    return cast(Insert, done.returning(t.c.version) if returning else done)


InsertT = TypeVar("InsertT", bound=Insert)


def _with_floor(stmt: InsertT, floor_inline: bool) -> InsertT:
    if not floor_inline:
        return stmt
    values: dict[str, Any] = {c.name: bindparam(c.name) for c in t.c if c.name != "version"}
    return stmt.values({**values, "version": _ABOVE_FLOOR})


@lru_cache(maxsize=8)
def blob_upsert(dialect: str, touch_ms: int) -> Insert:
    """Insert a blob, or refresh its ``last_used_at`` when that is older than
    ``touch_ms``; the body of an existing digest never changes. (The interval is a
    literal: PyMySQL's executemany cannot bind parameters after VALUES.)"""
    touch: ColumnElement[int] = literal_column(str(touch_ms))
    if dialect in ("mysql", "mariadb"):
        my = mysql.insert(blob_table)
        new = my.inserted.last_used_at
        stale = blob_table.c.last_used_at < new - touch
        return my.on_duplicate_key_update(
            last_used_at=func.if_(stale, new, blob_table.c.last_used_at)
        )
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(blob_table)
    return cast(
        Insert,
        stmt.on_conflict_do_update(
            index_elements=[blob_table.c.digest],
            set_={"last_used_at": stmt.excluded.last_used_at},
            where=blob_table.c.last_used_at < stmt.excluded.last_used_at - touch,
        ),
    )


def where(agent_id: str, filters: Filters) -> tuple[list[ColumnElement[bool]], dict[str, Any]]:
    """Clauses with named parameters, and their values. The clauses depend only on which
    filters are set (the shape), not on their values."""
    clauses: list[ColumnElement[bool]] = [t.c.agent_id == bindparam("f_agent")]
    params: dict[str, Any] = {"f_agent": agent_id}
    for name in ("channel", "status", "chat_type", "spawned_by", "session_id"):
        value = getattr(filters, name)
        if value is not None:
            clauses.append(t.c[name] == bindparam(f"f_{name}"))
            params[f"f_{name}"] = value
    if filters.archived is not None:
        # an equality either way, so the (agent_id, archived, updated_at) index serves both
        clauses.append(t.c.archived == (true() if filters.archived else false()))
    if filters.label_prefix is not None:
        escaped = filters.label_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append(t.c.label.like(bindparam("f_label"), escape="\\"))
        params["f_label"] = escaped + "%"
    if filters.key_prefix is not None:
        # a range of the primary key, not LIKE: exact and case-sensitive everywhere
        lower, upper = key_range(filters.key_prefix)
        clauses.append(t.c.session_key >= bindparam("f_key_from"))
        params["f_key_from"] = lower
        if upper is not None:
            clauses.append(t.c.session_key < bindparam("f_key_to"))
            params["f_key_to"] = upper
    if filters.updated_after is not None:
        clauses.append(t.c.updated_at > bindparam("f_after"))
        params["f_after"] = filters.updated_after
    if filters.updated_before is not None:
        clauses.append(t.c.updated_at < bindparam("f_before"))
        params["f_before"] = filters.updated_before
    return clauses, params


def listing(
    agent_id: str, filters: Filters, *, descending: bool, after: tuple[int, str] | None, limit: int
) -> tuple[Select[Any], dict[str, Any]]:
    """One page of summaries, one row more than ``limit`` (it tells whether a page
    follows): ``(session_key, *INDEX_COLUMNS)`` rows, and the parameters."""
    clauses, params = where(agent_id, filters)
    if after is not None:
        params["c_at"], params["c_key"] = after
    params["f_limit"] = limit + 1
    shape = ("list", descending, after is not None, filters.archived, *sorted(params))

    def build() -> Select[Any]:
        conditions = list(clauses)
        if after is not None:
            at: Any = bindparam("c_at")
            key: Any = bindparam("c_key")
            same = t.c.updated_at == at
            if descending:
                conditions.append(or_(t.c.updated_at < at, and_(same, t.c.session_key < key)))
            else:
                conditions.append(or_(t.c.updated_at > at, and_(same, t.c.session_key > key)))
        ordering = (
            (t.c.updated_at.desc(), t.c.session_key.desc())
            if descending
            else (t.c.updated_at.asc(), t.c.session_key.asc())
        )
        return (
            select(*_SUMMARY_COLUMNS)
            .where(*conditions)
            .order_by(*ordering)
            .limit(bindparam("f_limit", type_=BigInteger))
        )

    return _shaped(shape, build), params


def count(agent_id: str, filters: Filters) -> tuple[Select[Any], dict[str, Any]]:
    """``(n,)``: how many rows pass the filters."""
    clauses, params = where(agent_id, filters)
    shape = ("count", filters.archived, *sorted(params))
    stmt = _shaped(shape, lambda: select(func.count()).select_from(t).where(*clauses))
    return stmt, params


def iter_batch(batch_size: int) -> Select[Any]:
    """``(session_key, version, entry_json, *blob digests)`` of the next ``batch_size``
    keys after ``:after`` of agent ``:agent_id``, in key order."""
    return _shaped(
        ("iter", batch_size),
        lambda: (
            select(t.c.session_key, t.c.version, *_STORED)
            .where(t.c.agent_id == bindparam("agent_id"), t.c.session_key > bindparam("after"))
            .order_by(t.c.session_key)
            .limit(batch_size)
        ),
    )


def _keys_in(dialect: str) -> ColumnElement[bool]:
    """``session_key`` is one of the ``keys`` parameter (a list)."""
    if dialect == "postgresql":  # one array parameter instead of one per key
        return t.c.session_key == any_(bindparam("keys", type_=postgresql.ARRAY(Text)))
    return t.c.session_key.in_(bindparam("keys", expanding=True))


def get_many(dialect: str) -> Select[Any]:
    """``(session_key, version, entry_json, *blob digests)`` of the ``keys`` of agent
    ``:agent_id`` that exist."""
    return _shaped(
        ("get_many", dialect),
        lambda: select(t.c.session_key, t.c.version, *_STORED).where(
            t.c.agent_id == bindparam("agent_id"), _keys_in(dialect)
        ),
    )


def lock_entries(dialect: str) -> Select[Any]:
    """``(session_key, session_id, *blob digests)`` of the ``keys`` of agent
    ``:agent_id`` that exist, locking them until the transaction ends."""
    return _shaped(
        ("lock_entries", dialect),
        lambda: (
            select(t.c.session_key, t.c.session_id, *(t.c[column] for column in BLOB_COLUMNS))
            .where(t.c.agent_id == bindparam("agent_id"), _keys_in(dialect))
            .with_for_update()
        ),
    )


def delete_many(
    dialect: str, agent_id: str, updated_before: int | None
) -> tuple[Delete | ReturningDelete[Any], Select[Any] | None, dict[str, Any]]:
    """Delete the keys of the ``keys`` parameter (a list) that pass ``updated_before``,
    and learn the ``(session_key, version)`` of each row deleted (for the floor).

    Returns the DELETE, which returns those rows where the database has ``DELETE ...
    RETURNING`` (SQLite, PostgreSQL); elsewhere a SELECT that locks them first (MySQL),
    to run before the DELETE; and the parameters."""
    clauses, params = where(agent_id, Filters(updated_before=updated_before))
    returning = has_returning(dialect)

    def build() -> tuple[Delete | ReturningDelete[Any], Select[Any] | None]:
        chosen = (*clauses, _keys_in(dialect))
        stmt = delete(t).where(*chosen)
        if returning:
            return stmt.returning(t.c.session_key, t.c.version), None
        return stmt, select(t.c.session_key, t.c.version).where(*chosen).with_for_update()

    stmt, lock = _shaped(("delete_many", dialect, *sorted(params)), build)
    return stmt, lock, params


def lock_versions(dialect: str) -> Select[Any]:
    """``(session_key, version)`` of the ``keys`` of agent ``:agent_id`` that exist,
    locking them until the transaction ends."""
    return _shaped(
        ("lock_versions", dialect),
        lambda: (
            select(t.c.session_key, t.c.version)
            .where(t.c.agent_id == bindparam("agent_id"), _keys_in(dialect))
            .with_for_update()
        ),
    )


# -- bulk loads: the secondary indexes built after the rows ---------------------------------

#: One row if the ``sessions`` table holds any (of any agent), else none.
ANY_ROW: Select[Any] = select(literal_column("1")).select_from(t).limit(1)

# (name, CREATE INDEX statement) of each index of ``sessions`` that is neither its
# primary key nor unique, as the database itself describes it, so that it is created
# again exactly as it was.
_SECONDARY_INDEXES = {
    "sqlite": text(
        "SELECT m.name, m.sql FROM pragma_index_list('sessions') AS i "
        "JOIN sqlite_master AS m ON m.type = 'index' AND m.name = i.name "
        "WHERE i.\"unique\" = 0 AND i.origin = 'c' AND m.sql IS NOT NULL ORDER BY m.name"
    ),
}


def analyze_after_bulk(dialect: str) -> TextClause | None:
    """What a bulk load runs at its end so that the planner knows the table's size:
    ``ANALYZE sessions`` on PostgreSQL, whose planner, before autovacuum first analyzes
    a new table, may answer a key lookup through any index beginning with
    ``agent_id`` (a scan of the agent's rows). ``None`` elsewhere: SQLite plans by
    its indexes' shapes, MySQL/MariaDB recount InnoDB statistics themselves.

    >>> str(analyze_after_bulk("postgresql")), analyze_after_bulk("sqlite")
    ('ANALYZE sessions', None)
    """
    return text(f"ANALYZE {t.name}") if dialect == "postgresql" else None


def rebuilds_indexes(dialect: str) -> bool:
    """Whether a bulk load into an empty ``sessions`` table drops its secondary indexes
    and builds them after the rows, in the same transaction: SQLite, where DDL is
    transactional and the write lock is held from the start. PostgreSQL would lock the
    table against every reader for the whole load, and MySQL/MariaDB commit the
    transaction at any DDL.

    >>> rebuilds_indexes("sqlite"), rebuilds_indexes("postgresql")
    (True, False)
    """
    return dialect in _SECONDARY_INDEXES


def secondary_indexes(dialect: str) -> TextClause:
    """``(name, CREATE INDEX ...)`` of each secondary index of ``sessions`` (see
    :func:`rebuilds_indexes`)."""
    return _SECONDARY_INDEXES[dialect]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@lru_cache(maxsize=64)
def drop_index(name: str) -> TextClause:
    """``DROP INDEX`` of one index, by its name."""
    return ddl(f"DROP INDEX {_quoted(name)}")


@lru_cache(maxsize=64)
def ddl(statement: str) -> TextClause:
    """A DDL statement as the database wrote it, with no parameters (a colon in it is
    literal)."""
    return text(statement.replace(":", "\\:"))


#: Delete blobs last used before ``:used_before`` (epoch ms) that no row of any agent
#: names. One statement for every call, so that it is compiled once.
COLLECT_BLOBS = delete(blob_table).where(
    blob_table.c.last_used_at < bindparam("used_before"),
    *(blob_table.c.digest.not_in(select(t.c[c]).where(t.c[c].is_not(None))) for c in BLOB_COLUMNS),
)
#: As COLLECT_BLOBS, of the blobs :digests (a list) only: those of erased entries.
ERASE_BLOBS = COLLECT_BLOBS.where(blob_table.c.digest.in_(bindparam("digests", expanding=True)))


def key_params(agent_id: str, key: str) -> dict[str, str]:
    """The parameters of the statements that address one row."""
    return {"k_agent": agent_id, "k_key": key}


# -- transcripts (revision 0006) ----------------------------------------------------------
# Parameters: tr_agent (agent id), tr_session/tr_topic (a live transcript), tr_id (a
# transcript id). Results are read by position, as above.

_T = transcript_table
_E = event_table
_LIVE_SLOT = ""
_OF_AGENT = _T.c.agent_id == bindparam("tr_agent")
_LIVE = and_(
    _OF_AGENT,
    _T.c.session_id == bindparam("tr_session"),
    _T.c.topic == bindparam("tr_topic"),
    _T.c.archive_slot == _LIVE_SLOT,
)
_EVENTS_OF = and_(_E.c.agent_id == bindparam("tr_agent"), _E.c.transcript_id == bindparam("tr_id"))
_SIMPLE: ColumnElement[str] = literal_column("'simple'")
#: PostgreSQL's full-text condition on ``:q``: the stored ``tsvector`` of the text's
#: words as Python's ``\w+`` finds them (revision 0007), which its GIN index covers
POSTGRESQL_MATCH = literal_column(SEARCH_VECTOR).op("@@")(
    func.plainto_tsquery(_SIMPLE, bindparam("q"))
)
# The lines a reader is given: not the header, nor lines that are not JSON objects.
_VISIBLE = and_(_E.c.kind.is_not(None), _E.c.kind != "session")

#: (transcript_id, last_seq, messages, input_tokens, output_tokens, total_tokens,
#: malformed) of the live transcript of :tr_session/:tr_topic
TRANSCRIPT = select(
    _T.c.transcript_id,
    _T.c.last_seq,
    _T.c.messages,
    _T.c.input_tokens,
    _T.c.output_tokens,
    _T.c.total_tokens,
    _T.c.malformed,
).where(_LIVE)
#: as TRANSCRIPT, locking the row (FOR UPDATE where the database has it)
LOCK_TRANSCRIPT = TRANSCRIPT.with_for_update()
#: (session_key, session_id) of those of the entries :keys (a list) of agent :tr_agent
#: that exist
SESSION_IDS = select(t.c.session_key, t.c.session_id).where(
    t.c.agent_id == bindparam("tr_agent"), t.c.session_key.in_(bindparam("keys", expanding=True))
)
#: (session_key, session_id) of the entries of agent :tr_agent whose session is one of
#: :sessions (a list)
SESSION_USERS = select(t.c.session_key, t.c.session_id).where(
    t.c.agent_id == bindparam("tr_agent"),
    t.c.session_id.in_(bindparam("sessions", expanding=True)),
)
#: (*LOCK_ROW's columns, topic, *TRANSCRIPT's columns) of entry :k_key and each of its
#: live transcripts, all locked; no row when it has none
LOCK_ENTRY_AND_TRANSCRIPTS = (
    select(*LOCK_ROW.selected_columns, _T.c.topic, *TRANSCRIPT.selected_columns)
    .select_from(
        t.join(
            _T,
            and_(
                _T.c.agent_id == t.c.agent_id,
                _T.c.session_id == t.c.session_id,
                _T.c.archive_slot == _LIVE_SLOT,
            ),
        )
    )
    .where(_KEY)
    .with_for_update()
)
#: (id,): one more than the highest transcript id of the database (SQLite's choice)
NEXT_TRANSCRIPT_ID = select(func.coalesce(func.max(_T.c.transcript_id), 0) + literal_column("1"))
INSERT_TRANSCRIPT = insert(_T)
INSERT_EVENT = insert(_E)
#: the counters of transcript :tr_id, set to the values given
UPDATE_TRANSCRIPT = (
    update(_T)
    .where(_T.c.agent_id == bindparam("tr_agent"), _T.c.transcript_id == bindparam("tr_id"))
    .values(
        last_seq=bindparam("u_last_seq"),
        messages=bindparam("u_messages"),
        input_tokens=bindparam("u_input"),
        output_tokens=bindparam("u_output"),
        total_tokens=bindparam("u_total"),
    )
)
#: the malformed lines of transcript :tr_id, set to :u_malformed
SET_MALFORMED = (
    update(_T)
    .where(_T.c.agent_id == bindparam("tr_agent"), _T.c.transcript_id == bindparam("tr_id"))
    .values(malformed=bindparam("u_malformed"))
)
#: (event_id,) of the :ids (a list) that transcript :tr_id holds
EXISTING_IDS = select(_E.c.event_id).where(
    _EVENTS_OF, _E.c.event_id.in_(bindparam("ids", expanding=True))
)
#: (idempotency_key,) of the :ids (a list) that transcript :tr_id holds
EXISTING_KEYS = select(_E.c.idempotency_key).where(
    _EVENTS_OF, _E.c.idempotency_key.in_(bindparam("ids", expanding=True))
)
#: (seq, event_id) of the last event with an id of transcript :tr_id (the next parentId)
LAST_ID = (
    select(_E.c.seq, _E.c.event_id)
    .where(_EVENTS_OF, _E.c.seq > literal_column("0"), _E.c.event_id.is_not(None))
    .order_by(_E.c.seq.desc())
    .limit(1)
)
#: (event_json,) of line :seq of transcript :tr_id
EVENT_LINE = select(_E.c.event_json).where(_EVENTS_OF, _E.c.seq == bindparam("seq"))
#: (seq, event_json) of the lines of transcript :tr_id after :after, in order
LINES = (
    select(_E.c.seq, _E.c.event_json)
    .where(_EVENTS_OF, _E.c.seq > bindparam("after"))
    .order_by(_E.c.seq)
    .limit(bindparam("n", type_=BigInteger))
)
#: (seq, event_json) of the message lines of transcript :tr_id before :pos, newest first
MESSAGES_BEFORE = (
    select(_E.c.seq, _E.c.event_json)
    .where(_EVENTS_OF, _E.c.seq < bindparam("pos"), _E.c.kind == "message")
    .order_by(_E.c.seq.desc())
    .limit(bindparam("n", type_=BigInteger))
)
#: delete line :seq of transcript :tr_id
DELETE_EVENT = delete(_E).where(_EVENTS_OF, _E.c.seq == bindparam("seq"))
#: delete every line of transcript :tr_id
DELETE_EVENTS = delete(_E).where(_EVENTS_OF)
#: delete the row of transcript :tr_id
DELETE_TRANSCRIPT = delete(_T).where(
    _T.c.agent_id == bindparam("tr_agent"), _T.c.transcript_id == bindparam("tr_id")
)
_IDS: BindParameter[Any] = bindparam("ids", expanding=True)
#: delete every line of the transcripts :ids (a list) of agent :tr_agent
DELETE_EVENTS_OF_IDS = delete(_E).where(
    _E.c.agent_id == bindparam("tr_agent"), _E.c.transcript_id.in_(_IDS)
)
#: delete the rows of the transcripts :ids (a list) of agent :tr_agent
DELETE_TRANSCRIPTS = delete(_T).where(_OF_AGENT, _T.c.transcript_id.in_(_IDS))
#: (transcript_id,) of the transcript of :tr_session/:tr_topic in archive slot :slot
SLOT_TAKEN = select(_T.c.transcript_id).where(
    _OF_AGENT,
    _T.c.session_id == bindparam("tr_session"),
    _T.c.topic == bindparam("tr_topic"),
    _T.c.archive_slot == bindparam("slot"),
)
#: move transcript :tr_id to archive slot :a_slot, archived at :a_at
ARCHIVE = (
    update(_T)
    .where(_T.c.agent_id == bindparam("tr_agent"), _T.c.transcript_id == bindparam("tr_id"))
    .values(archive_slot=bindparam("a_slot"), archived_at=bindparam("a_at"))
)
#: (transcript_id, session_id, topic) of the live transcripts of agent :tr_agent whose
#: session id no entry of the agent has (its entry was deleted or given a new session id
#: without archiving it), locked
ORPHANED = (
    select(_T.c.transcript_id, _T.c.session_id, _T.c.topic)
    .where(
        _OF_AGENT,
        _T.c.archive_slot == _LIVE_SLOT,
        ~exists().where(t.c.agent_id == _T.c.agent_id, t.c.session_id == _T.c.session_id),
    )
    .with_for_update()
)
#: (session_id, topic, archive_slot, archived_at) of every archived transcript
ARCHIVES = select(_T.c.session_id, _T.c.topic, _T.c.archive_slot, _T.c.archived_at).where(
    _OF_AGENT, _T.c.archive_slot != _LIVE_SLOT
)
#: (transcript_id, session_id, topic) of the archives in slot :slot of the :sessions (a list)
ARCHIVED_IN = select(_T.c.transcript_id, _T.c.session_id, _T.c.topic).where(
    _OF_AGENT,
    _T.c.session_id.in_(bindparam("sessions", expanding=True)),
    _T.c.archive_slot == bindparam("slot"),
)
#: (transcript_id, session_id, topic, archive_slot, session_key) of every transcript,
#: live or archived, written under one of :keys or of a session of :sessions (lists)
ERASABLE = select(
    _T.c.transcript_id, _T.c.session_id, _T.c.topic, _T.c.archive_slot, _T.c.session_key
).where(
    _OF_AGENT,
    or_(
        _T.c.session_key.in_(bindparam("keys", expanding=True)),
        _T.c.session_id.in_(bindparam("sessions", expanding=True)),
    ),
)
#: (lines, bytes) of the transcripts :ids (a list) of agent :tr_agent
EVENT_TOTALS = select(func.count(), func.coalesce(func.sum(_E.c.bytes), 0)).where(
    _E.c.agent_id == bindparam("tr_agent"), _E.c.transcript_id.in_(_IDS)
)
#: (session_id,) of every live transcript
LIVE_SESSION_IDS = (
    select(_T.c.session_id).distinct().where(_OF_AGENT, _T.c.archive_slot == _LIVE_SLOT)
)
# the live transcript's id, inside a statement that reads its lines
_LIVE_ID = select(_T.c.transcript_id).where(_LIVE).scalar_subquery()


@lru_cache(maxsize=8)
def transcript_page(direction: str, bodies: bool) -> Select[Any]:
    """``(seq, line)`` of at most ``:n`` visible lines of the live transcript of
    ``:tr_session``/``:tr_topic``, read along the primary key: ``direction`` ``last``
    (newest first), ``before`` (newest first, below ``:pos``) or ``after`` (oldest
    first, above ``:pos``). Without ``bodies`` the line is a large event's header
    (``coalesce(header_json, event_json)``): its body is never read."""
    line = _E.c.event_json if bodies else func.coalesce(_E.c.header_json, _E.c.event_json)
    conditions = [_E.c.agent_id == bindparam("tr_agent"), _E.c.transcript_id == _LIVE_ID, _VISIBLE]
    if direction == "before":
        conditions.append(_E.c.seq < bindparam("pos"))
    elif direction == "after":
        conditions.append(_E.c.seq > bindparam("pos"))
    order = _E.c.seq.asc() if direction == "after" else _E.c.seq.desc()
    return (
        select(_E.c.seq, line)
        .where(*conditions)
        .order_by(order)
        .limit(bindparam("n", type_=BigInteger))
    )


#: SQLite's full-text index (revision 0006): row ids are transcript_id << 32 | seq
_FTS = table(SEARCH_TABLE, column("rowid", BigInteger))
_FTS_MATCH = literal_column(SEARCH_TABLE).op("MATCH")(bindparam("q"))
_FTS_ROWID = _E.c.transcript_id.op("<<")(literal_column("32")).op("|")(_E.c.seq)

#: How many of SQLite's full-text index rows match ``:q``, counted up to ``:n``.
FTS_MATCHES = select(func.count()).select_from(
    select(_FTS.c.rowid).where(_FTS_MATCH).limit(bindparam("n", type_=BigInteger)).subquery()
)


@lru_cache(maxsize=16)
def transcript_search(dialect: str, narrowed: bool, walk: bool = False) -> Select[Any]:
    """``(session_key, session_id, seq, created_at, search_text, transcript_id)`` of
    message lines of the live transcripts whose text matches ``:q``
    (the database's own full-text query), newest first, ``:n`` from offset ``:skip``;
    ``narrowed``: of transcript ``:tr_id`` only. Never reads ``event_json``.

    SQLite reads the full-text index first and sorts what matched, unless ``walk``: it
    then walks the messages from the newest (revision 0007's index) and keeps those
    among the matches, which is cheaper when most messages match. PostgreSQL's planner
    makes that choice itself."""
    conditions: list[ColumnElement[bool]] = [
        _OF_AGENT,
        _T.c.archive_slot == _LIVE_SLOT,
        _E.c.agent_id == bindparam("tr_agent"),  # what each index of the events leads with
        _E.c.search_text.is_not(None),  # the messages: what the newest index holds
    ]
    if narrowed:
        conditions.append(_T.c.transcript_id == bindparam("tr_id"))
    of_transcript = and_(_E.c.agent_id == _T.c.agent_id, _E.c.transcript_id == _T.c.transcript_id)
    source: Any = _E.join(_T, of_transcript)
    newest = _E.c.created_at.desc()
    if dialect == "sqlite" and walk:
        conditions.append(_FTS_ROWID.in_(select(_FTS.c.rowid).where(_FTS_MATCH)))
    elif dialect == "sqlite":
        rowid = _FTS.c.rowid
        conditions.append(_FTS_MATCH)
        if narrowed:  # a range of the index's own row ids
            conditions += [rowid >= bindparam("lo"), rowid <= bindparam("hi")]
        indexed = and_(
            _E.c.transcript_id == rowid.op(">>")(literal_column("32")),
            _E.c.seq == rowid.op("&")(literal_column(str(2**32 - 1))),
        )
        source = _FTS.join(_E, indexed).join(_T, of_transcript)
    elif dialect == "postgresql":
        conditions.append(POSTGRESQL_MATCH)
        newest = newest.nulls_last()  # as the newest index holds them (elsewhere NULL sorts low)
    else:
        conditions.append(_E.c.search_text.match(bindparam("q")))
    return (
        select(
            _T.c.session_key,
            _T.c.session_id,
            _E.c.seq,
            _E.c.created_at,
            _E.c.search_text,
            _E.c.transcript_id,
        )
        .select_from(source)
        .where(*conditions)
        .order_by(newest, _E.c.seq.desc(), _E.c.transcript_id.desc())
        .limit(bindparam("n", type_=BigInteger))
        .offset(bindparam("skip", type_=BigInteger))
    )

"""The SQL transcript tier on real databases (SQLite through sqlite3 and through
SQLAlchemy, PostgreSQL, MySQL/MariaDB): search that takes every query literally, large
events kept off the listing path, appends that are retried without duplicates and are
one transaction with the entry's counters, and processes appending at once without a
gap or a duplicate."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy import text

from sessionstore import (
    InvalidArgumentError,
    SessionNotFoundError,
    SessionStore,
    SessionStoreError,
    StoreUnavailableError,
    open_store,
)
from sessionstore.backends.sqlite import SqliteStore
from sessionstore.contract import (
    LARGE_EVENT_BYTES,
    TRANSCRIPT_START,
    decode_transcript_cursor,
    encode_transcript_cursor,
)
from sessionstore.sql import statements as q
from sessionstore.sql.schema import transcript_events
from sessionstore.sql.transcripts import SqlTranscripts
from tests.contract.backends import engine_of, sql_store
from tests.reliability.workloads import StartSignal, run_workers

KEY = "agent:main:main"
OTHER = "agent:main:other"
HOSTILE = [
    '"',
    '""',
    "'",
    "*",
    "rollback*",
    "NEAR(rollback plan)",
    "rollback NEAR plan",
    "-rollback",
    "+rollback -plan",
    "rollback:plan",
    "search_text:rollback",
    "(((",
    ")",
    "(rollback",
    "\x00",
    "roll\x00back",
    "AND OR NOT",
    "^rollback",
    "@@ rollback",
    "\\",
    "%_",
    '"rollback" OR "x',
    "{rollback plan}",
    "rollback - plan",
    ":",
    "\ud800",
    "🙂 ü",
    "x" * 100_000,
    " ".join(f"w{n}" for n in range(2000)),
]


def message(content: Any, *, role: str = "user", **fields: Any) -> dict[str, Any]:
    return {"type": "message", **fields, "message": {"role": role, "content": content}}


@pytest.fixture
def store(sql_target: str) -> Iterator[SessionStore]:
    with open_store(sql_target) as opened:
        opened.put(KEY, {"sessionId": "s-main", "updatedAt": 1})
        opened.put(OTHER, {"sessionId": "s-other", "updatedAt": 2})
        yield opened


def _column(store: SessionStore, sql: str, **params: Any) -> list[Any]:
    with engine_of(store) as engine, engine.connect() as conn:
        return [row[0] for row in conn.execute(text(sql), params)]


def _seqs(store: SessionStore, session_id: str) -> list[int]:
    return _column(
        store,
        "SELECT e.seq FROM transcript_events e JOIN session_transcripts t"
        " ON t.agent_id = e.agent_id AND t.transcript_id = e.transcript_id"
        " WHERE t.session_id = :sid AND t.archive_slot = '' ORDER BY e.seq",
        sid=session_id,
    )


def test_a_sql_store_keeps_transcripts_in_its_database(store: SessionStore) -> None:
    assert store.transcripts.tier == "sql"
    assert isinstance(store.transcripts, SqlTranscripts)
    assert store.transcripts is store.transcripts


def test_the_transcript_options_are_checked(sql_target: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="transcripts_dir"):
        open_store(sql_target, transcripts="files")
    with pytest.raises(InvalidArgumentError, match="transcripts_dir"):
        open_store(sql_target, transcripts="sql", transcripts_dir=tmp_path)
    with pytest.raises(InvalidArgumentError, match="'files' or 'sql'"):
        open_store(sql_target, transcripts="cloud")  # type: ignore[arg-type]
    with open_store(sql_target, transcripts="files", transcripts_dir=tmp_path) as files:
        assert files.transcripts.tier == "files"


def test_a_missing_session_and_an_empty_batch(store: SessionStore) -> None:
    transcripts = store.transcripts
    with pytest.raises(SessionNotFoundError):
        transcripts.append("agent:main:nobody", [message("hello")])
    result = transcripts.append(KEY, [])
    assert (result.written, result.created) == (0, False)
    assert not transcripts.exists(store.get(KEY) or {})
    assert transcripts.tail("agent:main:nobody") == []
    assert transcripts.count("agent:main:nobody") == 0


def test_hostile_search_strings_never_raise(store: SessionStore) -> None:
    transcripts = store.transcripts
    transcripts.append(KEY, [message('the "rollback" plan: NEAR (x) -y * z \\ %_')])
    for query in HOSTILE:
        hits = transcripts.search(query)
        assert all(hit.key == KEY for hit in hits), query
    assert [hit.key for hit in transcripts.search('rollback" "plan')] == [KEY]
    assert [hit.key for hit in transcripts.search("(rollback plan")] == [KEY]
    assert [hit.key for hit in transcripts.search("rollback-plan")] == [KEY]


def test_search_covers_string_and_part_content_with_tool_results(store: SessionStore) -> None:
    transcripts = store.transcripts
    transcripts.append(
        KEY,
        [
            message("deploy the staging cluster", timestamp="2026-03-31T08:00:00.000Z"),
            message(
                [{"type": "text", "text": "checking cluster health"}],
                role="assistant",
                timestamp="2026-03-31T08:00:01.000Z",
            ),
            message(
                [{"type": "toolResult", "content": [{"type": "text", "text": "cluster green"}]}],
                role="toolResult",
                timestamp="2026-03-31T08:00:02.000Z",
            ),
            {"type": "custom", "data": "cluster"},  # not a message: not searched
        ],
    )
    hits = transcripts.search("CLUSTER")
    assert [hit.position for hit in hits] == [3, 2, 1]  # newest first
    assert [hit.snippet for hit in hits] == [
        "cluster green",
        "checking cluster health",
        "deploy the staging cluster",
    ]
    assert hits[0].timestamp == 1774944002000
    assert {(hit.key, hit.session_id) for hit in hits} == {(KEY, "s-main")}
    assert [hit.position for hit in transcripts.search("cluster health")] == [2]
    assert transcripts.search("clust") == []  # whole words only
    assert [hit.position for hit in transcripts.search("cluster", limit=2)] == [3, 2]


def test_search_key_narrows_and_archives_are_not_searched(store: SessionStore) -> None:
    transcripts = store.transcripts
    transcripts.append(KEY, [message("quarterly budget review")])
    transcripts.append(OTHER, [message("budget approved")])
    assert {hit.key for hit in transcripts.search("budget")} == {KEY, OTHER}
    assert [hit.key for hit in transcripts.search("budget", key=OTHER)] == [OTHER]
    assert transcripts.search("quarterly", key=OTHER) == []
    assert transcripts.search("budget", key="agent:main:nobody") == []
    name = transcripts.archive(OTHER, "reset", now_ms=1774944000000)
    assert name == "s-other.jsonl.reset.2026-03-31T08-00-00.000Z"
    assert [hit.key for hit in transcripts.search("budget")] == [KEY]
    assert transcripts.search("budget", key=OTHER) == []
    assert transcripts.tail(OTHER) == []


def test_another_agent_is_not_searched(store: SessionStore, sql_target: str) -> None:
    store.transcripts.append(KEY, [message("shared secret words")])
    with open_store(sql_target, agent_id="ops") as ops:
        ops.put("agent:ops:main", {"sessionId": "s-ops", "updatedAt": 1})
        ops.transcripts.append("agent:ops:main", [message("shared words of ops")])
        assert [hit.key for hit in ops.transcripts.search("shared words")] == ["agent:ops:main"]
    assert [hit.key for hit in store.transcripts.search("shared words")] == [KEY]


def test_large_events_are_kept_off_the_listing_path(store: SessionStore) -> None:
    transcripts = store.transcripts
    body = "lorem ipsum " * (LARGE_EVENT_BYTES // 10)
    large = message(body, role="toolResult", id="big1")
    transcripts.append(KEY, [message("small one", id="small1"), large])
    full = transcripts.page(KEY, limit=10)
    assert full.items[0]["message"]["content"] == body
    statements: list[str] = []
    backend = sql_store(store)
    backend.trace(lambda sql, _params: statements.append(sql))
    try:
        headers = transcripts.page(KEY, limit=10, bodies=False)
        hits = transcripts.search("lorem ipsum")
    finally:
        backend.trace(None)
    big, small = headers.items
    assert big["id"] == "big1" and big["message"] == {"role": "toolResult"}
    assert big["omittedBytes"] > LARGE_EVENT_BYTES and "content" not in str(big)
    assert small["message"]["content"] == "small one"  # a small event keeps its body
    page_sql = [
        sql
        for sql in statements
        if "transcript_events.seq" in sql and "LIMIT" in sql and "search_text" not in sql
    ]
    assert page_sql and all(
        "coalesce(transcript_events.header_json, transcript_events.event_json)" in sql
        for sql in page_sql
    )
    search_sql = [sql for sql in statements if "search_text" in sql]
    assert search_sql and not any("event_json" in sql for sql in search_sql)
    assert [hit.position for hit in hits] == [2]


def test_a_retried_append_is_not_duplicated(store: SessionStore) -> None:
    transcripts = store.transcripts
    batch = [message(f"turn {n}", id=f"e{n}") for n in range(3)]
    keyed = [message(f"keyed {n}", idempotencyKey=f"k{n}") for n in range(3)]
    first = transcripts.append(KEY, batch + keyed)
    assert (first.written, first.skipped, first.created) == (6, 0, True)
    again = transcripts.append(KEY, batch + keyed)
    assert (again.written, again.skipped, again.messages) == (0, 6, 0)
    # a batch that overlaps: only the new events are written, each once
    more = transcripts.append(KEY, [batch[2], message("new", id="e3"), message("x", id="e3")])
    assert (more.written, more.skipped) == (1, 2)
    assert transcripts.count(KEY) == 7
    entry = store.get(KEY)
    assert entry is not None and entry.message_count == 7
    tail = transcripts.tail(KEY, limit=100)
    assert [event["message"]["content"] for event in tail][-2:] == ["keyed 2", "new"]
    assert _seqs(store, "s-main") == list(range(8))
    # a long id or key is kept as its digest and still recognised
    long_id = "i" * 300
    assert transcripts.append(KEY, [message("long", id=long_id)]).written == 1
    assert transcripts.append(KEY, [message("long", id=long_id)]).skipped == 1
    assert transcripts.append(KEY, [message("next")]).written == 1
    assert transcripts.tail(KEY, limit=1)[0]["parentId"] == long_id


def test_ids_parents_and_header_are_filled_in(store: SessionStore) -> None:
    transcripts = store.transcripts
    transcripts.append(KEY, [message("one"), {"type": "custom", "id": "c1"}])
    transcripts.append(KEY, [message("two")])
    events = transcripts.tail(KEY)
    assert [event["type"] for event in events] == ["message", "custom", "message"]
    assert events[0]["parentId"] is None and events[2]["parentId"] == "c1"
    assert all(isinstance(event["timestamp"], str) for event in events)
    header = next(iter(transcripts.lines(store.get(KEY) or {})))
    assert header.startswith(b'{"type":"session","version":3,"id":"s-main"')
    with pytest.raises(InvalidArgumentError, match="header"):
        transcripts.append(KEY, [{"type": "session", "id": "again"}])


def test_pages_and_cursors(store: SessionStore) -> None:
    transcripts = store.transcripts
    transcripts.append(KEY, [message(f"m{n}", id=f"e{n}") for n in range(7)])
    seen: list[str] = []
    page = transcripts.page(KEY, limit=3)
    while True:
        seen += [event["id"] for event in page.items]
        if page.next_cursor is None:
            break
        page = transcripts.page(KEY, before=page.next_cursor, limit=3)
    assert seen == [f"e{n}" for n in reversed(range(7))]
    forward = transcripts.page(KEY, after=TRANSCRIPT_START, limit=4)
    assert [event["id"] for event in forward.items] == ["e0", "e1", "e2", "e3"]
    assert forward.next_cursor is not None
    rest = transcripts.page(KEY, after=forward.next_cursor, limit=3)
    assert [event["id"] for event in rest.items] == ["e4", "e5", "e6"]
    assert rest.next_cursor is None
    assert decode_transcript_cursor(forward.next_cursor, "s-main.jsonl") == 4
    negative = base64.urlsafe_b64encode(orjson.dumps(["t", "s-main.jsonl", -1])).decode()
    for bad in ("garbage", encode_transcript_cursor("s-other.jsonl", 2), "", negative, "W10"):
        with pytest.raises(InvalidArgumentError, match="invalid cursor"):
            transcripts.page(KEY, before=bad)
    with pytest.raises(InvalidArgumentError):
        transcripts.page(KEY, before=forward.next_cursor, after=forward.next_cursor)
    with pytest.raises(InvalidArgumentError):
        transcripts.tail(KEY, limit=0)


def test_append_and_counters_are_one_transaction(sql_target: str) -> None:
    """An entry that cannot take its new counters (over max_entry_bytes) makes the
    append fail as a whole: no line, no transcript counter, no entry change."""
    with open_store(sql_target) as store:
        store.put(KEY, {"sessionId": "s-main", "updatedAt": 1, "note": "f" * 900})
        assert store.transcripts.append(KEY, [message("kept", id="e0")]).written == 1
        entry = store.get(KEY)
        assert entry is not None and entry.message_count == 1
        size = len(entry.to_json())
    usage = {"input": 5, "output": 7, "totalTokens": 12}
    reply = {"type": "message", "id": "e1", "message": {"role": "assistant", "usage": usage}}
    with open_store(sql_target, max_entry_bytes=size + 10) as store:
        before = store.get_with_version(KEY)
        with pytest.raises(SessionStoreError, match="max_entry_bytes"):
            store.transcripts.append(KEY, [reply])
        assert store.get_with_version(KEY) == before
        assert [event["id"] for event in store.transcripts.tail(KEY)] == ["e0"]
        assert store.transcripts.count(KEY) == 1
        assert store.transcripts.stats(entry).output_tokens == 0
        assert _seqs(store, "s-main") == [0, 1]
        assert store.transcripts.append(KEY, [message("fits", id="e2")]).written == 1
        assert _seqs(store, "s-main") == [0, 1, 2]


def test_counters_follow_the_files_tier_rules(store: SessionStore) -> None:
    transcripts = store.transcripts
    usage = {"input": 3, "output": 4, "totalTokens": 7}
    reply = {"type": "message", "message": {"role": "assistant", "content": "ok", "usage": usage}}
    result = transcripts.append(KEY, [message("hi"), reply, {"type": "custom"}])
    assert (result.messages, result.input_tokens, result.output_tokens) == (2, 3, 4)
    assert result.total_tokens == 7 and result.path is None
    entry = store.get(KEY)
    assert entry is not None
    assert (entry.message_count, entry.input_tokens, entry.output_tokens) == (2, 3, 4)
    assert entry.total_tokens == 7 and entry.to_dict()["totalTokensFresh"] is True
    stats = transcripts.stats(entry)
    assert (stats.messages, stats.input_tokens, stats.output_tokens, stats.total_tokens) == (
        2,
        3,
        4,
        7,
    )


SKILLS = {"prompt": "Use the skills. " * 64, "skills": [{"name": "weather"}]}


@pytest.mark.parametrize(
    ("fields", "counts"),
    [
        pytest.param({}, (None, None, None), id="no-counters"),
        pytest.param({"messageCount": 9, "inputTokens": 995}, (9, 995, None), id="digits-grow"),
        pytest.param(
            {"messageCount": 99, "skillsSnapshot": SKILLS}, (99, None, None), id="blob-grows"
        ),
        pytest.param(
            {
                "messageCount": 12,
                "inputTokens": 100,
                "outputTokens": 100,
                "totalTokens": 10,
                "totalTokensFresh": True,
                "skillsSnapshot": SKILLS,
            },
            (12, 100, 100),
            id="blob-same-size",
        ),
        pytest.param({"messageCount": 2.5, "outputTokens": 1e3}, (2, None, 1000), id="as-written"),
        pytest.param({"messageCount": 3, "label": "cut \ud83d"}, (3, None, None), id="surrogate"),
    ],
)
def test_counters_move_in_the_entry_as_stored(
    store: SessionStore, fields: dict[str, Any], counts: tuple[int | None, ...]
) -> None:
    """Every shape of stored entry (blobs, numbers as written, lone surrogates kept as
    text) gets the same counters and keeps everything else, read back validated."""
    store.put(KEY, {"sessionId": "s-main", "updatedAt": 1, "note": "kept", **fields})
    before, version = store.get_with_version(KEY)
    assert before is not None
    usage = {"input": 5, "output": 7, "totalTokens": 40}
    reply = {"type": "message", "message": {"role": "assistant", "content": "ok", "usage": usage}}
    store.transcripts.append(KEY, [message("hi"), reply])
    after, moved = store.get_with_version(KEY)
    assert after is not None and moved > version
    messages, input_tokens, output_tokens = counts
    expected = before.with_fields(
        message_count=2 if messages is None else messages + 2,
        input_tokens=(input_tokens or 0) + 5,
        output_tokens=(output_tokens or 0) + 7,
        total_tokens=40,
        totalTokensFresh=True,
    )
    assert after.to_dict() == expected.to_dict()
    (summary,) = [item for item in store.list().items if item.key == KEY]
    assert (summary.message_count, summary.input_tokens, summary.output_tokens) == (
        expected.message_count,
        expected.input_tokens,
        expected.output_tokens,
    )
    assert summary.total_tokens == 40


def test_import_and_lines_round_trip_verbatim(store: SessionStore) -> None:
    transcripts = store.transcripts
    transcripts.append(KEY, [message("to be replaced")])
    entry = store.get(KEY)
    assert entry is not None
    lines = [
        b'{"type":"session","version":3,"id":"s-main","timestamp":"2026-03-31T08:00:00.000Z",'
        b'"cwd":"/x"}',
        b'{"type":"message","id":"a","message":{"role":"user","content":"imported words"}}',
        b"{not json",
        b'{"type":"message","id":"a","message":{"role":"user","content":"same id again"}}',
        b"[1, 2]",
        b'{"type":"message",  "id":"b", "message":{"role":"user","content":"spaced"}}',
    ]
    assert transcripts.import_lines(KEY, entry, iter(lines)) == len(lines)
    assert list(transcripts.lines(entry)) == lines
    stats = transcripts.stats(entry)
    assert (stats.messages, stats.malformed_lines) == (3, 2)
    assert [event["id"] for event in transcripts.tail(KEY)] == ["a", "a", "b"]
    assert transcripts.count(KEY) == 3
    assert [hit.position for hit in transcripts.search("imported")] == [1]
    assert transcripts.search("replaced") == []
    assert store.get(KEY) == entry  # the entry's counters are left alone
    assert transcripts.append(KEY, [message("after", id="b")]).skipped == 1
    assert transcripts.append(KEY, [message("after")]).written == 1
    assert _seqs(store, "s-main") == list(range(len(lines) + 1))


def test_archives_are_listed_and_removed(store: SessionStore) -> None:
    transcripts = store.transcripts
    ms = 1774944000000
    transcripts.append(KEY, [message("first")])
    first = transcripts.archive(KEY, "reset", now_ms=ms)
    transcripts.append(KEY, [message("second")])
    second = transcripts.archive(KEY, "reset", now_ms=ms)
    transcripts.append(KEY, [message("topic")], topic_id="a/b")
    third = transcripts.archive(KEY, "deleted", now_ms=ms, topic_id="a/b")
    assert first == "s-main.jsonl.reset.2026-03-31T08-00-00.000Z"
    assert second == "s-main.jsonl.reset.2026-03-31T08-00-00.001Z"
    assert third == "s-main-topic-a%2Fb.jsonl.deleted.2026-03-31T08-00-00.000Z"
    assert transcripts.archive(KEY, "reset") is None  # nothing live
    with pytest.raises(InvalidArgumentError):
        transcripts.archive(KEY, "lost")  # type: ignore[arg-type]
    archives = transcripts.archives()
    assert [a.name for a in archives] == sorted([first, second, third])
    assert {a.reason for a in archives} == {"reset", "deleted"}
    assert all(a.archived_at in (ms, ms + 1) for a in archives)
    transcripts.remove_archive(third)
    transcripts.remove_archive(third)  # gone: nothing to do
    assert [a.name for a in transcripts.archives()] == [first, second]
    with pytest.raises(InvalidArgumentError):
        transcripts.remove_archive("../s-main.jsonl")
    assert transcripts.session_ids() == set()
    transcripts.append(OTHER, [message("live")])
    assert transcripts.session_ids() == {"s-other"}
    assert _column(store, "SELECT COUNT(*) FROM transcript_events")[0] == 2 + 2 + 2


def test_a_deleted_session_keeps_its_transcript_until_archived(store: SessionStore) -> None:
    transcripts = store.transcripts
    transcripts.append(KEY, [message("kept")])
    entry = store.get(KEY)
    assert entry is not None and store.delete(KEY)
    assert transcripts.exists(entry)
    assert transcripts.archive(KEY, "deleted", session=entry) is not None
    assert not transcripts.exists(entry)


def test_a_read_only_sqlite_store_refuses_transcript_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sessions.db'}"
    with open_store(url, auto_upgrade=True) as store:
        store.put(KEY, {"sessionId": "s-main", "updatedAt": 1})
        store.transcripts.append(KEY, [message("hello")])
    with SqliteStore(url, read_only=True) as reader:
        assert [event["message"]["content"] for event in reader.transcripts.tail(KEY)] == ["hello"]
        with pytest.raises(StoreUnavailableError, match="read-only"):
            reader.transcripts.append(KEY, [message("refused")])
        with pytest.raises(StoreUnavailableError, match="read-only"):
            reader.transcripts.archive(KEY, "reset")


def test_sqlite_transcript_ids_stay_below_2_31(tmp_path: Path) -> None:
    """SQLite's search rows are numbered transcript_id << 32 | seq: a new id past
    2**31 is refused instead of overflowing."""
    url = f"sqlite:///{tmp_path / 'sessions.db'}"
    with open_store(url, auto_upgrade=True) as store:
        store.put(KEY, {"sessionId": "s-main", "updatedAt": 1})
        store.put(OTHER, {"sessionId": "s-other", "updatedAt": 1})
        store.transcripts.append(KEY, [message("first")])
        with engine_of(store) as engine, engine.begin() as conn:
            conn.execute(text(f"UPDATE session_transcripts SET transcript_id = {2**31 - 1}"))
            conn.execute(text(f"UPDATE transcript_events SET transcript_id = {2**31 - 1}"))
        assert [hit.key for hit in store.transcripts.search("first")] == []  # index rows moved
        with pytest.raises(SessionStoreError, match="2\\*\\*31"):
            store.transcripts.append(OTHER, [message("second")])
        assert store.transcripts.append(KEY, [message("more")]).written == 1


# -- processes appending at once ----------------------------------------------------------

PROCESSES = 4
APPENDS = 40


def appender(target: str, worker: int, start: StartSignal) -> int:
    """Append APPENDS events one call at a time, each call retried once (same id and
    idempotency key): the retry must be skipped."""
    with open_store(target) as store:
        transcripts = store.transcripts
        transcripts.count(KEY)
        start()
        for n in range(APPENDS):
            event = message(f"worker {worker} turn {n}", id=f"w{worker}-{n}")
            event["message"]["idempotencyKey"] = f"k{worker}-{n}"
            assert transcripts.append(KEY, [event]).written == 1
            assert transcripts.append(KEY, [event]).skipped == 1
    return APPENDS


@pytest.mark.slow
def test_concurrent_appenders_leave_no_gap_and_no_duplicate(
    store: SessionStore, sql_target: str
) -> None:
    run = run_workers(appender, [(sql_target, n) for n in range(PROCESSES)])
    assert run.results == [APPENDS] * PROCESSES
    total = PROCESSES * APPENDS
    assert _seqs(store, "s-main") == list(range(total + 1))  # the header and every event
    events = store.transcripts.page(KEY, after=TRANSCRIPT_START, limit=1000).items
    ids = [event["id"] for event in events]
    assert sorted(ids) == sorted(f"w{w}-{n}" for w in range(PROCESSES) for n in range(APPENDS))
    for worker in range(PROCESSES):  # each worker's events in its own order
        own = [i for i in ids if i.startswith(f"w{worker}-")]
        assert own == [f"w{worker}-{n}" for n in range(APPENDS)]
    entry = store.get(KEY)
    assert entry is not None and entry.message_count == total
    assert store.transcripts.count(KEY) == total


def _plan(store: SessionStore, statement: Any, params: dict[str, Any], *settings: str) -> str:
    """The database's plan of ``statement``, after ``SET`` of each of ``settings``."""
    with engine_of(store) as engine, engine.connect() as conn:
        for setting in settings:
            conn.execute(text(f"SET {setting}"))
        compiled = statement.compile(dialect=engine.dialect)
        values: Any = compiled.construct_params(params)
        if compiled.positiontup is not None:  # SQLite's ? parameters
            values = tuple(values[name] for name in compiled.positiontup)
        explain = "EXPLAIN QUERY PLAN" if engine.dialect.name == "sqlite" else "EXPLAIN"
        rows = conn.exec_driver_sql(f"{explain} {compiled}", values).all()
    return "\n".join(str(row[-1]) for row in rows)


@pytest.mark.postgres
def test_postgresql_search_can_use_its_indexes(postgresql_url: str) -> None:
    """The query's condition is what the GIN index covers and its order what the
    newest index holds (revision 0007): if they drift apart, PostgreSQL scans and sorts
    every event, which no small-table test would notice. With the other ways priced
    out, a plan names an index only if it can use it."""
    with open_store(postgresql_url, auto_upgrade=True) as opened:
        opened.put(KEY, {"sessionId": "s-main", "updatedAt": 1})
        opened.transcripts.append(KEY, [message("rollback plan")])
        matching = sa.select(transcript_events.c.seq).where(q.POSTGRESQL_MATCH)
        found = _plan(opened, matching, {"q": "rollback"}, "enable_seqscan = off")
        assert "ix_transcript_events_search" in found
        params = {"tr_agent": "main", "q": "rollback", "n": 20, "skip": 0}
        walked = _plan(
            opened,
            q.transcript_search("postgresql", False),
            params,
            "enable_seqscan = off",
            "enable_bitmapscan = off",
            "enable_sort = off",
        )
        assert "ix_transcript_events_newest" in walked and "Sort" not in walked


def _conversation(t: Any, key: str, n: int, first_ms: int) -> None:
    words = ["deploy done", "deploy failed", "rollback plan", "lunch"]
    t.append(key, [message(f"{words[i % 4]} {i}", timestamp=first_ms + 1000 * i) for i in range(n)])


def test_sqlite_search_walks_newest_first_when_a_word_is_common(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A word with many matches is searched by walking the messages from the newest
    (revision 0007's index), a rare one through FTS5 first: both give the same hits."""
    with open_store(sqlite_url, auto_upgrade=True) as opened:
        t = opened.transcripts
        for n, key in enumerate((KEY, OTHER, "agent:main:third")):
            opened.put(key, {"sessionId": f"s{n}", "updatedAt": n})
            _conversation(t, key, 40, first_ms=500 * n)
        assert isinstance(t, SqlTranscripts)
        params = {"tr_agent": "main", "q": '"deploy"', "n": 20, "skip": 0}
        walked = _plan(opened, q.transcript_search("sqlite", False, True), params)
        assert "USING INDEX ix_transcript_events_newest" in walked
        assert "TEMP B-TREE" not in walked  # no sort: the index's order

        queries = ["deploy", "deploy failed", "rollback plan", "lunch 7", "nothing"]
        by_fts = {query: t.search(query, limit=25) for query in queries}
        monkeypatch.setattr("sessionstore.sql.transcripts._WALK_FROM_MATCHES", 4)
        assert t._walks(None, '"deploy"') and not t._walks(None, '"lunch" "7"')
        assert not t._walks(KEY, '"deploy"')  # one session's matches are few
        assert {query: t.search(query, limit=25) for query in queries} == by_fts
    assert [(h.session_id, h.position) for h in by_fts["deploy"][:3]] == [
        ("s2", 38),
        ("s1", 38),
        ("s0", 38),
    ]  # fmt: skip (the last "deploy" is event 37, position 38; s2's clock runs ahead)


def test_search_returns_each_hit_once_while_lines_are_appended(
    store: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Search reads its candidates in batches, each a read of its own: lines appended
    between two batches shift them, and no hit comes twice."""
    t = store.transcripts
    t.append(KEY, [message(f"user turn {n}", timestamp=1000 + n) for n in range(10)])
    # candidates of the index that are no whole-word hit: the first batch is not enough
    t.append(KEY, [message(f"user_id {n}", timestamp=2000 + n) for n in range(19)])
    query = store._query  # type: ignore[attr-defined]
    batches: list[int] = []

    def query_then_append(action: str, stmt: Any, params: Any) -> Any:
        rows = query(action, stmt, params)
        if action == "search transcripts" and not batches:
            batches.append(len(rows))
            t.append(KEY, [message(f"user late {n}", timestamp=3000 + n) for n in range(3)])
        return rows

    monkeypatch.setattr(store, "_query", query_then_append)
    hits = t.search("user", limit=5)
    monkeypatch.undo()
    assert batches  # the hook ran
    positions = [hit.position for hit in hits]
    assert len(positions) == len(set(positions)) == 5

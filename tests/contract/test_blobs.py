"""Large values out of line (revision 0003), on every SQL backend: stored once by
sha256, returned exactly, never read by listings, collected when unused, migrated both
ways with data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import select, text, update

from sessionstore import InvalidEntryError, SessionEntry, downgrade, open_store, upgrade
from sessionstore.projection import project
from sessionstore.sql.engine import create_sql_engine
from sessionstore.sql.schema import blobs, sessions
from tests.contract.backends import BACKENDS, SqlBackedStore, engine_of, sql_store

PROMPT = "<available_skills>" + "weather: forecasts for a place and a day. " * 1000
REPORT = {
    "source": "run",
    "systemPrompt": {"chars": 48213, "projectContextChars": 9120},
    "injectedWorkspaceFiles": [{"name": f"file-{i}.md", "chars": i * 37} for i in range(150)],
    "tools": {"listChars": 5210, "entries": [{"name": f"tool_{i}"} for i in range(80)]},
}


def heavy(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "sessionId": f"s-{n}",
        "updatedAt": 1_774_962_000_000 + n,
        "skillsSnapshot": {"prompt": PROMPT, "skills": [{"name": "weather"}], "version": 3},
        "systemPromptReport": {**REPORT, "generatedAt": 1_774_962_000_000},
        "lastThreadId": 42,
        **extra,
    }


@pytest.fixture
def url(sql_backend: str, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database (not upgraded) of this SQL backend."""
    return str(request.getfixturevalue(BACKENDS[sql_backend].url_fixture))


@pytest.fixture
def store(url: str) -> Iterator[SqlBackedStore]:
    with open_store(url, auto_upgrade=True) as opened:
        yield sql_store(opened)


def rows(store: SqlBackedStore, table: Any) -> list[Any]:
    with engine_of(store) as engine, engine.connect() as conn:
        return list(conn.execute(select(table)).all())


def test_get_many_reads_entries_with_blobs_back_exactly(store: SqlBackedStore) -> None:
    entries = {f"agent:main:direct:{n}": heavy(n) for n in range(20)}
    store.put_many(entries.items())
    found = store.get_many(entries)
    assert {key: e.to_dict() for key, e in found.items()} == entries


def test_identical_values_are_stored_once_and_read_back_exactly(store: SqlBackedStore) -> None:
    entries = {f"agent:main:direct:{n}": heavy(n) for n in range(50)}
    store.put_many(entries.items())
    for key, data in entries.items():
        got = store.get(key)
        assert got is not None and orjson.dumps(got.to_dict(), option=orjson.OPT_SORT_KEYS) == (
            orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
        )
    assert len(rows(store, blobs)) == 2  # one prompt, one report, for 50 entries
    row = rows(store, sessions)[0]
    stored = row.entry_json if isinstance(row.entry_json, dict) else orjson.loads(row.entry_json)
    assert stored["systemPromptReport"] is None and stored["skillsSnapshot"]["prompt"] is None
    assert row.prompt_blob and row.report_blob
    assert dict(store.iter_entries()) == {k: SessionEntry.from_dict(v) for k, v in entries.items()}


def test_every_write_path_goes_through_the_blobs(store: SqlBackedStore) -> None:
    key = "agent:main:main"
    store.put(key, heavy(1), expected_version=0)
    store.patch(key, {"label": "Inbox"})
    store.update(key, lambda e: None if e is None else e.with_fields(totalTokens=5))
    entry = store.get(key)
    assert entry is not None
    assert entry.to_dict() == {
        **heavy(1),
        "label": "Inbox",
        "totalTokens": 5,
        "updatedAt": entry.updated_at,
    }
    entry, version = store.get_with_version(key)
    assert entry is not None and entry.model_extra is not None
    assert entry.model_extra["systemPromptReport"]["source"] == "run"
    assert version == 3


def test_readers_share_no_mutable_value(store: SqlBackedStore) -> None:
    """Blobs are cached per process: a string (immutable) may be shared by the entries
    read, an object never is, so changing one entry's copy changes no other entry."""
    store.put("agent:main:a", heavy(1))
    store.put("agent:main:b", heavy(1))
    first, second = store.get("agent:main:a"), store.get("agent:main:b")
    assert first is not None and second is not None
    assert first.model_extra is not None and second.model_extra is not None
    first.model_extra["systemPromptReport"]["source"] = "changed in memory"
    assert second.model_extra["systemPromptReport"]["source"] == "run"
    again = store.get("agent:main:a")
    assert again is not None and again.model_extra is not None
    assert again.model_extra["systemPromptReport"]["source"] == "run"
    assert again.to_dict()["skillsSnapshot"]["prompt"] == PROMPT


def test_small_and_odd_values_stay_inline(store: SqlBackedStore) -> None:
    odd = {
        "a": {"sessionId": "a", "updatedAt": 1, "skillsSnapshot": {"prompt": "short"}},
        "b": {"sessionId": "b", "updatedAt": 1, "skillsSnapshot": "not an object"},
        "c": {"sessionId": "c", "updatedAt": 1, "systemPromptReport": None},
        "d": {"sessionId": "d", "updatedAt": 1, "systemPromptReport": ["x" * 2000]},
    }
    store.put_many(odd.items())
    for key, data in odd.items():
        got = store.get(key)
        assert got is not None and got.to_dict() == data
    assert len(rows(store, blobs)) == 1  # only d's list is large enough


def test_the_size_limit_counts_the_blobs(url: str) -> None:
    size = len(orjson.dumps(heavy(1)))
    with open_store(url, auto_upgrade=True, max_entry_bytes=size) as store:
        store.put("agent:main:fits", heavy(1))
        with pytest.raises(InvalidEntryError, match="over the limit"):
            store.put("agent:main:too-big", heavy(1, label="x"))


def test_listing_and_counting_never_touch_blobs(store: SqlBackedStore) -> None:
    store.put_many((f"agent:main:direct:{n}", heavy(n)) for n in range(20))
    seen: list[str] = []
    store.trace(lambda sql, _params: seen.append(sql))
    try:
        page = store.list(limit=10)
        store.list(limit=10, cursor=page.next_cursor, channel="telegram")
        store.count()
        store.count(archived=False)
    finally:
        store.trace(None)
    assert seen and not [s for s in seen if "session_blobs" in s or "entry_json" in s]


def test_a_batch_reads_its_blobs_in_one_statement(url: str) -> None:
    """A process with nothing cached reads the blobs of a batch of entries with one
    statement, not one per entry or per blob."""
    with open_store(url, auto_upgrade=True) as writer:
        writer.put_many(
            (f"agent:main:direct:{n}", heavy(n, systemPromptReport={**REPORT, "n": n}))
            for n in range(30)
        )
    with open_store(url) as opened:
        reader = sql_store(opened)
        seen: list[str] = []
        reader.trace(lambda sql, _params: seen.append(sql))
        try:
            entries = dict(reader.iter_entries(batch_size=100))
        finally:
            reader.trace(None)
    assert len(entries) == 30 and entries["agent:main:direct:7"].to_dict() == heavy(
        7, systemPromptReport={**REPORT, "n": 7}
    )
    assert len([s for s in seen if "session_blobs" in s]) == 1, seen


def test_unreferenced_blobs_are_collected_after_the_grace(store: SqlBackedStore, url: str) -> None:
    store.put("agent:main:a", heavy(1))
    store.put("agent:main:b", heavy(2, systemPromptReport={**REPORT, "source": "other"}))
    assert len(rows(store, blobs)) == 3
    store.delete("agent:main:b")
    assert store.collect_blobs() == 0  # used recently: kept for the grace period
    with engine_of(store) as engine, engine.begin() as conn:
        conn.execute(update(blobs).values(last_used_at=0))
    assert store.collect_blobs() == 1  # b's report; a's prompt and report are referenced
    with open_store(url) as fresh:  # a new process: nothing cached
        assert fresh.get("agent:main:a") == SessionEntry.from_dict(heavy(1))
        fresh.put("agent:main:c", heavy(3, systemPromptReport={**REPORT, "source": "other"}))
        assert fresh.get("agent:main:c") == SessionEntry.from_dict(
            heavy(3, systemPromptReport={**REPORT, "source": "other"})
        )
    with pytest.raises(ValueError, match="grace_ms"):
        store.collect_blobs(grace_ms=1)


def _insert_at_0002(url: str, backend: str, entries: dict[str, dict[str, Any]]) -> None:
    """Rows as revision 0002 stores them: entries inline in entry_json."""
    engine = create_sql_engine(url)
    try:
        with engine.begin() as conn:
            for key, data in entries.items():
                row = {"agent_id": "main", "session_key": key, **project(data), "version": 1}
                if backend == "mysql":
                    row = {k: v.encode() if isinstance(v, str) else v for k, v in row.items()}
                row["entry_json"] = orjson.dumps(data).decode()
                names = ", ".join(row)
                values = ", ".join(f":{name}" for name in row)
                if backend == "postgresql":
                    values = values.replace(":entry_json", "CAST(:entry_json AS JSONB)")
                conn.execute(text(f"INSERT INTO sessions ({names}) VALUES ({values})"), row)
    finally:
        engine.dispose()


def test_revision_0003_moves_existing_rows_out_and_back(url: str, sql_backend: str) -> None:
    entries = {f"agent:main:direct:{n}": heavy(n) for n in range(30)}
    entries["agent:main:lean"] = {"sessionId": "lean", "updatedAt": 5, "lastThreadId": "42"}
    upgrade(url, "0002")
    _insert_at_0002(url, sql_backend, entries)
    upgrade(url)
    with open_store(url) as opened:
        store = sql_store(opened)
        assert dict(store.iter_entries()) == {
            k: SessionEntry.from_dict(v) for k, v in entries.items()
        }
        assert len(rows(store, blobs)) == 2
        assert sum(1 for row in rows(store, sessions) if row.prompt_blob) == 30
    downgrade(url, "0002")
    engine = create_sql_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.execute(text("SELECT session_key, entry_json FROM sessions")).all()
            stored: dict[Any, Any] = dict(found)
    finally:
        engine.dispose()
    for key, value in stored.items():
        key = key.decode() if isinstance(key, bytes) else key
        data = value if isinstance(value, dict) else orjson.loads(value)
        assert data == entries[key]
    upgrade(url)
    with open_store(url) as reopened:
        assert reopened.count() == 31
        assert reopened.get("agent:main:direct:7") == SessionEntry.from_dict(
            entries["agent:main:direct:7"]
        )

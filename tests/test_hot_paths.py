"""Hot paths touch only the rows they need: on a store of 10,000 entries, ``get``,
``put`` and one page of ``list`` run one statement on the sessions table, parse
at most the entry they return, and (SQLite's query plan shows) use an index."""

from __future__ import annotations

from typing import Any

import pytest

from sessionstore import SessionEntry, open_store
from tests.conftest import SqlBackedStore, engine_of, sql_store

N = 10_000
T0 = 1_774_962_000_000
CHANNELS = ("telegram", "discord", "slack", "whatsapp")


class Recorder:
    """Statements sent to the database and entries parsed from stored JSON."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []
        self.parsed = 0

    def on_table(self) -> list[tuple[str, Any]]:
        return [(sql, params) for sql, params in self.statements if "sessions" in sql]

    def reset(self) -> None:
        self.statements.clear()
        self.parsed = 0


def _fill(store: SqlBackedStore) -> None:
    store.put_many(
        (
            f"agent:main:{CHANNELS[n % 4]}:direct:{n:05}",
            SessionEntry.from_dict(
                {
                    "sessionId": f"s{n}",
                    "updatedAt": T0 + n,
                    "channel": CHANNELS[n % 4],
                    "skillsSnapshot": {"prompt": "p" * 2000},
                }
            ),
        )
        for n in range(N)
    )


def _record(store: SqlBackedStore, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()

    store.trace(lambda sql, params: recorder.statements.append((sql, params)))

    original = SessionEntry._from_stored.__func__  # type: ignore[attr-defined]

    def counting(cls: type[SessionEntry], data: Any) -> SessionEntry:
        recorder.parsed += 1
        return original(cls, data)

    monkeypatch.setattr(SessionEntry, "_from_stored", classmethod(counting))
    return recorder


def _open(target: str) -> SqlBackedStore:
    return sql_store(open_store(target, auto_upgrade=True))


def test_hot_paths_touch_only_their_rows(sql_target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with _open(sql_target) as store:
        _fill(store)
        assert store.count() == N
        recorder = _record(store, monkeypatch)
        check_get(store, recorder)
        recorder.reset()
        check_list(store, recorder)
        recorder.reset()
        check_put(store, recorder)


def check_get(store: SqlBackedStore, recorder: Recorder) -> None:
    """get reads one row and parses one entry."""
    entry = store.get("agent:main:slack:direct:00042")
    assert entry is not None and entry.session_id == "s42"
    assert len(recorder.on_table()) == 1
    assert recorder.parsed == 1


def check_put(store: SqlBackedStore, recorder: Recorder) -> None:
    """put is one statement (plus a version read on MySQL) and parses nothing."""
    store.put("agent:main:new", SessionEntry(session_id="new", updated_at=T0 + N))
    store.put("agent:main:telegram:direct:00000", SessionEntry(session_id="x", updated_at=T0))
    statements = recorder.on_table()
    dialect = store.dialect
    # SQLite and PostgreSQL return the new version from the upsert; MySQL reads it back.
    assert len(statements) == (2 if dialect in ("sqlite", "postgresql") else 4)
    assert recorder.parsed == 0


def check_list(store: SqlBackedStore, recorder: Recorder) -> None:
    """One page is one statement that reads index columns only."""
    page = store.list(limit=50)
    assert [item.session_id for item in page.items] == [f"s{n}" for n in range(N - 1, N - 51, -1)]
    filtered = store.list(channel="slack", limit=50, cursor=page.next_cursor)
    assert len(filtered.items) == 50
    assert len(recorder.on_table()) == 2
    assert recorder.parsed == 0
    assert all("entry_json" not in sql for sql, _ in recorder.on_table())


def test_sqlite_plans_use_indexes(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's planner is deterministic, so its plans are checked."""
    with _open(sqlite_url) as store:
        _fill(store)
        recorder = _record(store, monkeypatch)
        check_plans(store, recorder)


def check_plans(store: SqlBackedStore, recorder: Recorder) -> None:
    first = store.list(limit=50)
    store.list(limit=50, cursor=first.next_cursor)
    store.list(channel="slack", limit=50)
    store.list(archived=False, limit=50)
    store.get("agent:main:slack:direct:00042")
    store.count(channel="slack")
    with engine_of(store) as engine, engine.connect() as conn:
        for sql, params in recorder.on_table():
            plan = " | ".join(
                row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
            )
            assert "USING" in plan and "INDEX" in plan, (sql, plan)
            assert "USE TEMP B-TREE" not in plan, (sql, plan)


@pytest.mark.parametrize(
    ("filters", "column"),
    [
        ({"channel": "slack"}, "channel"),
        ({"status": "done"}, "status"),
        ({"chat_type": "direct"}, "chat_type"),
        ({"archived": True}, "archived"),
        ({"archived": False}, "archived"),
        ({"spawned_by": "agent:main:main"}, "spawned_by"),
        ({"session_id": "s42"}, "session_id"),
    ],
)
def test_sqlite_listing_filters_search_their_own_index(
    sqlite_url: str, filters: dict[str, Any], column: str
) -> None:
    """A filtered page is found through the filter's index, in listing order: not by
    walking the agent's rows in the listing-order index and testing each."""
    with _open(sqlite_url) as store:
        _fill(store)
        seen: list[str] = []
        store.trace(lambda sql, _params: seen.append(sql))
        store.list(limit=50, **filters)
        store.trace(None)
        with engine_of(store) as engine, engine.connect() as conn:
            (sql,) = [s for s in seen if "FROM sessions" in s]
            plan = " | ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert f"{column}=?" in plan, plan
    assert "USE TEMP B-TREE" not in plan, plan


def test_sqlite_key_prefix_searches_the_primary_key(sqlite_url: str) -> None:
    """A key prefix is a range of the primary key, never a scan of the agent's rows."""
    with _open(sqlite_url) as store:
        _fill(store)
        seen: list[str] = []
        store.trace(lambda sql, _params: seen.append(sql))
        store.count(key_prefix="agent:main:slack:")
        store.list(limit=50, key_prefix="agent:main:slack:")
        store.trace(None)
        with engine_of(store) as engine, engine.connect() as conn:
            for sql in [s for s in seen if "FROM sessions" in s]:
                plan = " | ".join(
                    row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
                )
                assert "session_key>? AND session_key<?" in plan, plan

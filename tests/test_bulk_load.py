"""Bulk loads on the SQL backends: a ``put_many`` of many items into an empty table
builds the secondary indexes after the rows (SQLite), in the same transaction, and
leaves the schema exactly as its revisions made it; a failure halfway leaves the
target as it was; a table that holds rows keeps its indexes throughout. Also the stored
JSON read back without validation (``SupportsStoredJson``), which migrate verifies with.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect

from sessionstore import InvalidEntryError, open_store
from sessionstore.contract import SupportsStoredJson
from sessionstore.sql import statements as q
from sessionstore.sql.rowstore import BULK_ROWS
from sessionstore.sql.upgrade import check
from sessionstore.transfer import Status, migrate
from tests.conftest import engine_of, sql_store

T0 = 1_774_962_000_000
N = BULK_ROWS + 200


def entry(i: int) -> dict[str, Any]:
    return {
        "sessionId": f"s{i}",
        "updatedAt": T0 + i,
        "channel": ("slack", "telegram", "webchat")[i % 3],
        "label": f"label {i % 7}",
        "status": "done" if i % 2 else "running",
        "notes": "n" * 300,
    }


def items(n: int = N, agent: str = "main") -> list[tuple[str, dict[str, Any]]]:
    return [(f"agent:{agent}:s{i:05d}", entry(i)) for i in range(n)]


def indexes(store: object) -> list[dict[str, Any]]:
    """The indexes of ``sessions`` as the database describes them."""
    with engine_of(store) as engine:
        found = [dict(index) for index in inspect(engine).get_indexes("sessions")]
    return sorted(found, key=lambda index: str(index["name"]))


@contextmanager
def statements(store: object) -> Iterator[list[str]]:
    """The SQL the store sends meanwhile."""
    sent: list[str] = []
    opened = sql_store(store)
    opened.trace(lambda sql, _params: sent.append(sql))
    try:
        yield sent
    finally:
        opened.trace(None)


def dropped(sent: list[str]) -> bool:
    return any(sql.lstrip().upper().startswith("DROP INDEX") for sql in sent)


def rebuilds(store: object) -> bool:
    return q.rebuilds_indexes(sql_store(store).dialect)


def test_a_bulk_load_into_an_empty_table_leaves_the_schema_as_it_was(sql_target: str) -> None:
    with open_store(sql_target) as store:
        before = indexes(store)
        with statements(store) as sent:
            assert store.put_many(items(), expected_versions=dict.fromkeys(dict(items()), 0)) == N
        assert dropped(sent) is rebuilds(store)  # SQLite builds them after the rows
        assert indexes(store) == before
        assert store.count() == N
        assert store.count(channel="slack") == len(range(0, N, 3))
        newest_done = [i for i in range(N) if i % 2][::-1][:3]  # read through the indexes
        page = store.list(status="done", limit=3)
        assert [item.key for item in page.items] == [f"agent:main:s{i:05d}" for i in newest_done]
    check(sql_target)  # no drift between the models and the database


def test_a_bulk_load_on_postgresql_leaves_the_table_analyzed(postgresql_url: str) -> None:
    """Until it is analyzed the planner may answer a key lookup by scanning the agent's
    rows through another index: a bulk load (a migration) leaves statistics behind."""
    with open_store(postgresql_url, auto_upgrade=True) as store:
        with engine_of(store) as engine, engine.connect() as conn:
            tuples = "SELECT reltuples FROM pg_class WHERE oid = 'sessions'::regclass"
            assert conn.exec_driver_sql(tuples).scalar_one() < 0  # never analyzed
        store.put_many(items())
        with engine_of(store) as engine, engine.connect() as conn:
            assert conn.exec_driver_sql(tuples).scalar_one() == N
            plan = conn.exec_driver_sql(
                "EXPLAIN SELECT version FROM sessions WHERE agent_id = 'main' "
                "AND session_key = 'agent:main:s00007'"
            ).scalars()
            assert "pk_sessions" in "\n".join(plan)


def test_a_bulk_load_into_a_table_that_holds_rows_keeps_its_indexes(sql_target: str) -> None:
    with open_store(sql_target, agent_id="work") as work:
        work.put("agent:work:one", entry(0))
    with open_store(sql_target) as store:
        before = indexes(store)
        with statements(store) as sent:
            store.put_many(items())
        assert not dropped(sent)
        assert indexes(store) == before
        assert store.count() == N
    check(sql_target)


def test_a_small_put_many_keeps_the_indexes(sql_target: str) -> None:
    with open_store(sql_target) as store, statements(store) as sent:
        store.put_many(items(BULK_ROWS - 1))
        assert not dropped(sent)


def test_a_bulk_load_that_fails_halfway_leaves_the_target_as_it_was(sql_target: str) -> None:
    bad: list[tuple[str, Any]] = [*items()]
    bad[N - 10] = ("agent:main:bad", "not an entry")  # refused as the load reaches it
    with open_store(sql_target) as store:
        before = indexes(store)
        with statements(store) as sent, pytest.raises(InvalidEntryError):
            store.put_many(bad)
        assert dropped(sent) is rebuilds(store)
        assert indexes(store) == before
        assert store.count() == 0
        store.put("agent:main:after", entry(1))  # the table takes writes as before
        assert store.list(channel="telegram").items[0].key == "agent:main:after"
    check(sql_target)


def test_stored_json_is_what_the_entries_read_back_give(sql_target: str) -> None:
    prompt = "p" * 4000  # out of line, in session_blobs
    given: dict[str, dict[str, Any]] = {
        "agent:main:blob": {"sessionId": "b", "updatedAt": 1, "skillsSnapshot": {"prompt": prompt}},
        "agent:main:float": {"sessionId": "f", "updatedAt": 7.5, "inputTokens": -3, "x": [1]},
        "agent:main:cut": {"sessionId": "c", "updatedAt": 2, "label": "cut \ud83d"},
        "agent:main:report": {"sessionId": "r", "systemPromptReport": {"chars": "c" * 3000}},
    }
    with open_store(sql_target) as store:
        store.put_many(given.items())
        assert isinstance(store, SupportsStoredJson)
        stored = list(store.iter_json_with_versions(batch_size=2))
        read = [(k, e.to_dict(), v) for k, e, v in store.iter_entries_with_versions(batch_size=2)]
    assert stored == read
    assert {key: data for key, data, _ in stored} == given


# -- through migrate --------------------------------------------------------------------


def write_sessions(state: Path, entries: dict[str, Any]) -> Path:
    path = state / "agents" / "main" / "sessions" / "sessions.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries, indent=2))
    return path


class StoppedError(Exception):
    """Stands for anything that stops a migration in the middle of its write."""


class StopsWriting:
    """Progress that raises once the write has passed ``after`` entries: inside the
    transaction, after the indexes were dropped."""

    def __init__(self, after: int) -> None:
        self.after, self.writing, self.done = after, False, 0

    def start(self, description: str, total: int) -> None:
        self.writing = description.endswith(": writing")

    def advance(self, amount: int = 1) -> None:
        if self.writing:
            self.done += amount
            if self.done > self.after:
                raise StoppedError


def test_migrate_into_an_empty_database_passes_the_schema_check(
    sql_target: str, tmp_path: Path
) -> None:
    source = dict(items())
    path = write_sessions(tmp_path / "state", source)
    original = path.read_bytes()
    report = migrate(tmp_path / "state", sql_target)
    assert report.ok, report.to_dict()
    assert report.agents[0].imported == N and report.agents[0].checksum
    check(sql_target)
    with open_store(sql_target) as store:
        assert {key: e.to_dict() for key, e in store.iter_entries()} == source
    assert path.read_bytes() == original
    assert migrate(tmp_path / "state", sql_target).agents[0].status is Status.SKIPPED


def test_a_migration_stopped_halfway_leaves_both_sides_as_they_were(
    sql_target: str, tmp_path: Path
) -> None:
    path = write_sessions(tmp_path / "state", dict(items()))
    original = path.read_bytes()
    with open_store(sql_target) as store:
        before = indexes(store)
    with pytest.raises(StoppedError):
        migrate(tmp_path / "state", sql_target, progress=StopsWriting(N - 50))
    assert path.read_bytes() == original
    with open_store(sql_target) as store:
        assert store.count() == 0
        assert indexes(store) == before
    check(sql_target)
    report = migrate(tmp_path / "state", sql_target)  # the rerun completes it
    assert report.ok and report.agents[0].imported == N
    check(sql_target)

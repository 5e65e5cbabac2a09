"""What only the SQL backend has: agent scoping in one database, projected columns
written with the entry, connection settings, error translation and file modes."""

from __future__ import annotations

import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url, select, text

from sessionstore import (
    SchemaOutdatedError,
    SessionEntry,
    SessionStoreError,
    StoreUnavailableError,
    open_store,
)
from sessionstore.backends.sql import SqlStore
from sessionstore.backends.sqlite import SqliteStore
from sessionstore.projection import INDEX_COLUMNS, project
from sessionstore.sql.engine import CONNECT_TIMEOUT_S, KEEPALIVES, READ_TIMEOUT_S, mask_secrets
from sessionstore.sql.schema import sessions
from tests.conftest import SqlBackedStore, engine_of, sql_store

T0 = 1_774_962_000_000


def _columns(store: SqlBackedStore, key: str) -> dict[str, object]:
    stmt = select(*(sessions.c[name] for name in INDEX_COLUMNS), sessions.c.version).where(
        sessions.c.agent_id == store.agent_id, sessions.c.session_key == key
    )
    with engine_of(store) as engine, engine.connect() as conn:
        return dict(conn.execute(stmt).one()._mapping)


def test_agents_are_scoped_within_one_database(sql_target: str) -> None:
    with (
        open_store(sql_target, agent_id="main") as main,
        open_store(sql_target, agent_id="work") as work,
    ):
        main.put("agent:main:main", SessionEntry(session_id="m", updated_at=T0))
        work.put("agent:main:main", SessionEntry(session_id="w", updated_at=T0))
        work.put("agent:work:x", SessionEntry(session_id="x", updated_at=T0))
        assert main.get("agent:main:main").session_id == "m"  # type: ignore[union-attr]
        assert work.get("agent:main:main").session_id == "w"  # type: ignore[union-attr]
        assert (main.count(), work.count()) == (1, 2)
        assert [k for k, _ in main.iter_entries()] == ["agent:main:main"]
        assert main.delete("agent:work:x") is False
        assert work.count() == 2


def test_projected_columns_follow_every_write(sql_target: str) -> None:
    with open_store(sql_target) as opened:
        store = sql_store(opened)
        entry = SessionEntry.from_dict(
            {
                "sessionId": "s1",
                "updatedAt": T0,
                "channel": "telegram",
                "lastThreadId": 42,
                "model": "m",
                "modelProvider": "p",
                "totalTokens": 5,
                "archivedAt": T0,
                "label": "x" * 400,
            }
        )
        store.put("k", entry)
        row = _columns(store, "k")
        assert {name: row[name] for name in INDEX_COLUMNS} == project(entry.to_dict())
        assert row["label"] == "x" * 255 and row["archived"] is True and row["version"] == 1
        store.patch("k", {"model": "other", "channel": "slack"}, now_ms=T0 + 1)
        row = _columns(store, "k")
        assert (row["model"], row["model_provider"], row["channel"]) == ("other", None, "slack")
        store.update("k", lambda e: e.with_fields(total_tokens=99))  # type: ignore[union-attr]
        assert _columns(store, "k")["total_tokens"] == 99
        assert _columns(store, "k")["version"] == 3
        store.put_many([("k", entry)])
        assert _columns(store, "k")["model"] == "m"
        assert _columns(store, "k")["version"] == 4


def test_entries_of_several_megabytes_are_not_truncated(sql_target: str) -> None:
    blob = "€ prompt line that repeats\n" * 150_000  # ~4 MB of UTF-8
    entry = SessionEntry.from_dict({"sessionId": "big", "updatedAt": T0, "blob": blob})
    with open_store(sql_target) as store:
        store.put("k", entry)
        assert store.get("k") == entry


def test_entry_json_is_jsonb_on_postgresql(postgresql_url: str) -> None:
    with open_store(postgresql_url, auto_upgrade=True) as opened:
        store = sql_store(opened)
        store.put("k", SessionEntry.from_dict({"sessionId": "s", "updatedAt": 1, "n": [1]}))
        with engine_of(store) as engine, engine.connect() as conn:
            kind = conn.execute(text("SELECT jsonb_typeof(entry_json -> 'n') FROM sessions"))
            assert kind.scalar_one() == "array"


def test_key_comparison_is_exact_on_every_database(sql_target: str) -> None:
    with open_store(sql_target) as store:
        for key in ("k", "K", "k ", "ǩ"):
            store.put(key, SessionEntry(session_id="s", updated_at=T0))
        assert store.count() == 4
        assert [item.key for item in store.list(order="asc").items] == ["K", "k", "k ", "ǩ"]


SQLITE_SETTINGS = {
    "journal_mode": "wal",
    "synchronous": 1,
    "busy_timeout": 10_000,
    "foreign_keys": 1,
}


def test_sqlite_connection_settings(sqlite_url: str) -> None:
    """The store's own connections, and those of its engine through SQLAlchemy."""
    with open_store(sqlite_url, auto_upgrade=True) as store:
        assert isinstance(store, SqliteStore)
        own = store.connection()
        assert {n: own.execute(f"PRAGMA {n}").fetchone()[0] for n in SQLITE_SETTINGS} == (
            SQLITE_SETTINGS
        )
    explicit = sqlite_url.replace("sqlite:", "sqlite+pysqlite:", 1)
    with open_store(explicit) as store, engine_of(store) as engine, engine.connect() as conn:
        assert isinstance(store, SqlStore)
        pragma = {n: conn.exec_driver_sql(f"PRAGMA {n}").scalar() for n in SQLITE_SETTINGS}
    assert pragma == SQLITE_SETTINGS


def test_sqlite_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "sessions.db"
    with open_store(f"sqlite:///{path}", auto_upgrade=True) as store:
        store.put("k", SessionEntry(session_id="s", updated_at=1))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_plain_path_opens_sqlite(tmp_path: Path) -> None:
    with open_store(tmp_path / "plain.db", auto_upgrade=True) as store:
        assert isinstance(store, SqliteStore)
        store.put("k", SessionEntry(session_id="s", updated_at=1))
    assert (tmp_path / "plain.db").exists()


def test_unreachable_server_error_hides_the_password() -> None:
    url = "postgresql+psycopg://alice:s3cr3t-pw@127.0.0.1:1/nowhere"
    with pytest.raises(StoreUnavailableError) as info:
        open_store(url)
    message = str(info.value)
    assert "s3cr3t-pw" not in message
    assert "alice:***@127.0.0.1:1" in message
    assert "s3cr3t-pw" not in repr(info.value.args)


def test_missing_table_is_a_store_error_not_a_driver_error(sqlite_url: str) -> None:
    with open_store(sqlite_url, auto_upgrade=True) as opened:
        store = sql_store(opened)
        with engine_of(store) as engine, engine.begin() as conn:
            conn.execute(text("DROP TABLE sessions"))
        with pytest.raises(SessionStoreError, match="get failed on sqlite"):
            store.get("k")


def test_invalid_agent_id_is_refused(sqlite_url: str) -> None:
    with pytest.raises(SessionStoreError, match="agent id"):
        open_store(sqlite_url, agent_id="Main/../x")


def test_a_missing_sqlite_file_is_refused_without_creating_it(tmp_path: Path) -> None:
    path = tmp_path / "absent" / "sessions.db"
    with pytest.raises(SchemaOutdatedError, match="sessionstore db upgrade"):
        open_store(f"sqlite:///{path}")
    assert not path.parent.exists()


def _settings(store: SqlBackedStore, *names: str) -> list[object]:
    with engine_of(store) as engine, engine.connect() as conn:
        return [conn.exec_driver_sql(f"SHOW {name}").scalar() for name in names]


def test_postgresql_connections_have_timeouts_that_the_url_overrides(postgresql_url: str) -> None:
    with open_store(postgresql_url, auto_upgrade=True) as opened:
        store = sql_store(opened)
        assert _settings(store, "statement_timeout", "lock_timeout") == ["1min", "10s"]
        assert isinstance(store, SqlStore)
        with store.engine.connect() as conn:
            dbapi: Any = conn.connection.dbapi_connection
            assert dbapi.read_timeout == READ_TIMEOUT_S
            params = dbapi.info.get_parameters()
            assert params["connect_timeout"] == str(CONNECT_TIMEOUT_S)
            assert {key: params[key] for key in KEEPALIVES} == {
                key: str(value) for key, value in KEEPALIVES.items()
            }
    url = make_url(postgresql_url)
    mine = url.update_query_dict(
        {"options": f"{url.query['options']} -c lock_timeout=1234", "connect_timeout": "3"}
    )
    with open_store(mine.render_as_string(hide_password=False)) as opened:
        store = sql_store(opened)
        assert _settings(store, "statement_timeout", "lock_timeout") == ["1min", "1234ms"]
        with engine_of(store) as engine, engine.connect() as conn:
            dbapi = conn.connection.dbapi_connection
            assert dbapi.info.get_parameters()["connect_timeout"] == "3"


def test_mysql_connections_have_timeouts_that_the_options_override(mysql_url: str) -> None:
    with open_store(mysql_url, auto_upgrade=True) as opened:
        store = sql_store(opened)
        with engine_of(store) as engine, engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT @@innodb_lock_wait_timeout").scalar() == 10
            dbapi: Any = conn.connection.dbapi_connection
            assert (dbapi._read_timeout, dbapi._write_timeout) == (READ_TIMEOUT_S,) * 2
            assert dbapi.connect_timeout == CONNECT_TIMEOUT_S
    options = {"connect_args": {"init_command": "SET SESSION innodb_lock_wait_timeout = 2"}}
    with open_store(f"{mysql_url}?read_timeout=7", engine_options=options) as opened:
        store = sql_store(opened)
        with engine_of(store) as engine, engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT @@innodb_lock_wait_timeout").scalar() == 2
            dbapi = conn.connection.dbapi_connection
            assert dbapi._read_timeout == 7


@pytest.mark.parametrize(
    ("url", "module", "extra"),
    [
        ("mysql+mysqldb://u:pw@127.0.0.1/db", "MySQLdb", "mysql"),
        ("postgresql+asyncpg://u:pw@127.0.0.1/db", "asyncpg", "postgres"),
    ],
)
def test_a_driver_that_is_not_installed_names_the_extra(
    url: str, module: str, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # not installed, even where it is
    with pytest.raises(StoreUnavailableError) as info:
        open_store(url)
    message = str(info.value)
    assert f"pip install 'sessionstore[{extra}]'" in message
    assert "\n" not in message and "pw" not in message


def test_a_short_password_is_masked_without_mangling_the_message() -> None:
    url = "postgresql+psycopg://alice:a@127.0.0.1:1/nowhere"
    with pytest.raises(StoreUnavailableError) as info:
        open_store(url)
    message = str(info.value)
    assert " failed on postgresql+psycopg://alice:***@127.0.0.1:1/nowhere: " in message
    assert message.count("***") == 1  # every other "a" of the message is left as it was
    assert "Connection refused" in message


def test_a_password_the_driver_echoes_is_masked() -> None:
    assert mask_secrets("bad dsn: host=db password='it''s' user=a") == (
        "bad dsn: host=db password=*** user=a"
    )
    assert mask_secrets("at mysql://a:b@c/d and sqlite:///x.db") == (
        "at mysql://a:***@c/d and sqlite:///x.db"
    )

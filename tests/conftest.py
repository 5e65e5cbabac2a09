"""Fixtures that give every test a real, empty store on each backend.

PostgreSQL and MySQL/MariaDB tests use the servers named by
``SESSIONSTORE_TEST_POSTGRES_URL`` and ``SESSIONSTORE_TEST_MYSQL_URL`` (defaults: the
local servers). Each test gets a fresh schema (PostgreSQL) or database (MySQL).
Without a server those tests skip with the reason, unless
``SESSIONSTORE_REQUIRE_SERVERS=1`` (set by CI), where they fail instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import SQLAlchemyError

from sessionstore import SessionStore, open_store, upgrade
from sessionstore.backends.sql import SqlStore
from sessionstore.backends.sqlite import SqliteStore
from sessionstore.sql.engine import create_sql_engine

POSTGRES_URL = os.environ.get(
    "SESSIONSTORE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get(
    "SESSIONSTORE_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)
REQUIRE_SERVERS = os.environ.get("SESSIONSTORE_REQUIRE_SERVERS") == "1"

SQL_BACKENDS = ["sqlite", "postgresql", "mysql"]
ALL_BACKENDS = ["json", *SQL_BACKENDS]

_reachable: dict[str, str | None] = {}


SqlBackedStore = SqliteStore | SqlStore


def sql_store(store: object) -> SqlBackedStore:
    """``store`` as one of the SQL backends (the test fails otherwise)."""
    assert isinstance(store, SqliteStore | SqlStore), type(store)
    return store


@contextmanager
def engine_of(store: object) -> Iterator[Engine]:
    """A SQLAlchemy engine on the database of a SQL store, to look at its rows."""
    opened = sql_store(store)
    if isinstance(opened, SqlStore):
        yield opened.engine
        return
    engine = create_sql_engine(opened.url)
    try:
        yield engine
    finally:
        engine.dispose()


def _server_problem(url: str) -> str | None:
    """None if the server answers, else why not (checked once per session)."""
    if url not in _reachable:
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            _reachable[url] = None
        except (SQLAlchemyError, ImportError) as exc:
            _reachable[url] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        finally:
            engine.dispose()
    return _reachable[url]


def _require(url: str, name: str) -> None:
    problem = _server_problem(url)
    if problem is None:
        return
    message = f"{name} server not reachable at {make_url(url).render_as_string()}: {problem}"
    if REQUIRE_SERVERS:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    """A URL whose search_path is a fresh, empty schema."""
    _require(POSTGRES_URL, "PostgreSQL")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield (
            make_url(POSTGRES_URL)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A URL of a fresh, empty database."""
    _require(MYSQL_URL, "MySQL/MariaDB")
    database = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(MYSQL_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4"))
        yield make_url(MYSQL_URL).set(database=database).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE `{database}`"))
    finally:
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'sessions.db'}"


def backend_target(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, upgraded target (URL or path) for ``backend``."""
    if backend == "json":
        return str(tmp_path / "agents" / "main" / "sessions" / "sessions.json")
    url: str = request.getfixturevalue(f"{backend}_url")
    upgrade(url)
    return url


@pytest.fixture(params=ALL_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=SQL_BACKENDS)
def sql_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def target(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return backend_target(backend, request, tmp_path)


@pytest.fixture
def sql_target(sql_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return backend_target(sql_backend, request, tmp_path)


StoreFactory = Callable[..., SessionStore]


@pytest.fixture
def make_store(target: str) -> Iterator[StoreFactory]:
    """Opens stores on this test's target; all are closed at the end."""
    opened: list[SessionStore] = []

    def factory(**options: object) -> SessionStore:
        store = open_store(target, **options)  # type: ignore[arg-type]
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> SessionStore:
    return make_store()

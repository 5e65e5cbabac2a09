"""Fixtures that give every test a real, empty store on each backend.

The backends and how a fresh target of each is made are declared once, in
``tests/contract/backends.py`` (re-exported here for the tests that import them):
``backend``/``target``/``store`` run a test on every backend (JSON twin, SQLite,
SQLite through SQLAlchemy, PostgreSQL, MySQL/MariaDB), ``sql_backend``/``sql_target``
on the SQL ones.

PostgreSQL and MySQL/MariaDB tests use the servers named by
``SESSIONSTORE_TEST_POSTGRES_URL`` and ``SESSIONSTORE_TEST_MYSQL_URL`` (defaults: the
local servers). Each test gets a fresh schema (PostgreSQL) or database (MySQL).
Without a server those tests skip with the reason, unless
``SESSIONSTORE_REQUIRE_SERVERS=1`` (set by CI), where they fail instead.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import pytest

from sessionstore import SessionStore, open_store
from tests.contract.backends import (
    ALL_BACKENDS,
    BACKENDS,
    MYSQL_URL,
    POSTGRES_URL,
    REQUIRE_SERVERS,
    SQL_BACKENDS,
    SqlBackedStore,
    backend_params,
    engine_of,
    mysql_database,
    postgresql_schema,
    sql_store,
    sqlite_file_url,
    sqlite_sqlalchemy_file_url,
)

__all__ = [
    "ALL_BACKENDS",
    "HANG_LIMIT_S",
    "MYSQL_URL",
    "POSTGRES_URL",
    "REQUIRE_SERVERS",
    "SQL_BACKENDS",
    "SqlBackedStore",
    "StoreFactory",
    "backend_target",
    "engine_of",
    "sql_store",
]

#: The safety net against a hang, in seconds: never reached by a passing test.
HANG_LIMIT_S = 120


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Nothing of the real environment picks a store, an agent or a state directory:
    every SESSIONSTORE_* variable (Settings reads them all, in any case) and
    OPENCLAW_STATE_DIR are removed, and ~ is an empty directory, so ~/.openclaw is
    never the real one. CliRunner's ``env=`` only adds or removes what it names."""
    for name in list(os.environ):
        if name.upper().startswith("SESSIONSTORE_") or name.upper() == "OPENCLAW_STATE_DIR":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The common umask 022, under which a directory made without a mode is 0755 (a
    strict umask such as 077 would make it 0700 and hide a missing mode)."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.fixture
def no_hang() -> Iterator[None]:
    """Fail the test, instead of hanging it, if a call blocks (on a FIFO) far longer
    than any passing run takes."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"blocked for {HANG_LIMIT_S}s: a FIFO was opened for reading")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(HANG_LIMIT_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    """A URL whose search_path is a fresh, empty schema."""
    with postgresql_schema() as url:
        yield url


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A URL of a fresh, empty database."""
    with mysql_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return sqlite_file_url(tmp_path)


@pytest.fixture
def sqlite_sqlalchemy_url(tmp_path: Path) -> str:
    """A SQLite file opened through SQLAlchemy (``sqlite+pysqlite://``)."""
    return sqlite_sqlalchemy_file_url(tmp_path)


def backend_target(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, upgraded target (URL or path) for ``backend``."""
    return BACKENDS[backend].target(request, tmp_path)


@pytest.fixture(params=backend_params(ALL_BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=backend_params(SQL_BACKENDS))
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses a server's fixture directly carries that backend's marks too
    (parametrized tests get them from ``backend_params``)."""
    for item in items:
        for name in getattr(item, "fixturenames", ()):
            if name in ("postgresql_url", "mysql_url"):
                for mark in BACKENDS[name.removesuffix("_url")].marks:
                    item.add_marker(mark)

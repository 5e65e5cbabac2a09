"""The backends the contract suite runs on, each declared once.

A :class:`Backend` says how to make a fresh, upgraded target for it (a path or URL;
PostgreSQL gets a new schema and MySQL/MariaDB a new database per test), which pytest
marks its tests carry, and its KNOWN DIVERGENCES: contract tests it is known to fail,
each with the reason. ``tests/contract/conftest.py`` marks exactly those (test,
backend) pairs ``xfail(strict=True)``, so a divergence that gets fixed fails the suite
until it is removed here; nothing is skipped silently.

PostgreSQL and MySQL/MariaDB tests use the servers named by
``SESSIONSTORE_TEST_POSTGRES_URL`` and ``SESSIONSTORE_TEST_MYSQL_URL`` (defaults: the
local servers). Without a server those tests skip with the reason, unless
``SESSIONSTORE_REQUIRE_SERVERS=1`` (set by CI), where they fail instead.

The transcript contract runs on (tier, backend) pairs, :data:`TRANSCRIPT_PAIRS`: the
files tier beside every backend that can hold it, the SQL tier in every database. A
:class:`TranscriptPair` records its divergences the same way, per pair.

The fixtures themselves (``backend``, ``target``, ``store``, ``postgresql_url`` ...)
are in ``tests/conftest.py``, so every test file can use them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import SQLAlchemyError

from sessionstore import SessionStore, open_store, upgrade
from sessionstore.backends.jsonfile import JsonFileStore
from sessionstore.backends.sql import SqlStore
from sessionstore.backends.sqlite import SqliteStore
from sessionstore.contract import TranscriptTier
from sessionstore.sql.engine import create_sql_engine

__all__ = [
    "ALL_BACKENDS",
    "BACKENDS",
    "MYSQL_URL",
    "POSTGRES_URL",
    "REQUIRE_SERVERS",
    "SQL_BACKENDS",
    "SYNC_API_ONLY",
    "TRANSCRIPT_PAIRS",
    "Backend",
    "SqlBackedStore",
    "TranscriptPair",
    "backend_params",
    "engine_of",
    "mysql_database",
    "postgresql_schema",
    "sql_store",
    "sqlite_file_url",
    "sqlite_sqlalchemy_file_url",
    "with_marks_of",
]

POSTGRES_URL = os.environ.get(
    "SESSIONSTORE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get(
    "SESSIONSTORE_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)
REQUIRE_SERVERS = os.environ.get("SESSIONSTORE_REQUIRE_SERVERS") == "1"

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


# -- where a fresh database comes from -------------------------------------------------

_reachable: dict[str, str | None] = {}


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
    """Skip the test (fail it under ``SESSIONSTORE_REQUIRE_SERVERS=1``) without a server."""
    problem = _server_problem(url)
    if problem is None:
        return
    message = f"{name} server not reachable at {make_url(url).render_as_string()}: {problem}"
    if REQUIRE_SERVERS:
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def _scratch(
    server: str, label: str, create: str, drop: str, url_of: Callable[[str], str]
) -> Iterator[str]:
    """A fresh, empty namespace on a test server (``create`` and ``drop`` name it ``{}``),
    dropped afterwards."""
    _require(server, label)
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(create.format(name)))
        yield url_of(name)
        with admin.connect() as conn:
            conn.execute(text(drop.format(name)))
    finally:
        admin.dispose()


def postgresql_schema() -> AbstractContextManager[str]:
    """A URL whose search_path is a fresh, empty schema, dropped afterwards."""
    return _scratch(
        POSTGRES_URL,
        "PostgreSQL",
        'CREATE SCHEMA "{}"',
        'DROP SCHEMA "{}" CASCADE',
        lambda schema: (
            make_url(POSTGRES_URL)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        ),
    )


def mysql_database() -> AbstractContextManager[str]:
    """A URL of a fresh, empty database, dropped afterwards."""
    return _scratch(
        MYSQL_URL,
        "MySQL/MariaDB",
        "CREATE DATABASE `{}` CHARACTER SET utf8mb4",
        "DROP DATABASE `{}`",
        lambda database: (
            make_url(MYSQL_URL).set(database=database).render_as_string(hide_password=False)
        ),
    )


def sqlite_file_url(directory: Path) -> str:
    """A SQLite file that ``open_store`` opens with :class:`SqliteStore`."""
    return f"sqlite:///{directory / 'sessions.db'}"


def sqlite_sqlalchemy_file_url(directory: Path) -> str:
    """A SQLite file that ``open_store`` opens with :class:`SqlStore` (SQLAlchemy);
    another file than :func:`sqlite_file_url`, so both fit in one directory."""
    return f"sqlite+pysqlite:///{directory / 'sessions-sqlalchemy.db'}"


# -- the registry ----------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    """One backend of the contract suite."""

    name: str
    #: The class ``open_store`` opens for this backend's targets.
    store_class: type[SessionStore]
    #: Marks every test of this backend carries (``-m "not postgres"`` ...).
    marks: tuple[pytest.MarkDecorator, ...] = ()
    #: Contract test name -> why this backend fails it (applied as strict xfail).
    divergences: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_sql(self) -> bool:
        return self.store_class is not JsonFileStore

    @property
    def url_fixture(self) -> str:
        """The fixture giving a fresh, empty database of a SQL backend (not upgraded)."""
        return f"{self.name.replace('-', '_')}_url"

    def target(self, request: pytest.FixtureRequest, tmp_path: Path) -> str:
        """A fresh, upgraded target (URL or path) for this backend."""
        if not self.is_sql:
            return str(tmp_path / "agents" / "main" / "sessions" / "sessions.json")
        url = str(request.getfixturevalue(self.url_fixture))
        upgrade(url)
        return url

    def param(self) -> Any:
        """This backend as a ``pytest.param`` carrying its marks."""
        return pytest.param(self.name, marks=self.marks, id=self.name)


BACKENDS: dict[str, Backend] = {
    backend.name: backend
    for backend in (
        Backend("json", JsonFileStore),
        Backend("sqlite", SqliteStore),
        Backend("sqlite-sqlalchemy", SqlStore),
        Backend("postgresql", SqlStore, marks=(pytest.mark.postgres,)),
        Backend("mysql", SqlStore, marks=(pytest.mark.mysql,)),
    )
}
ALL_BACKENDS = list(BACKENDS)
SQL_BACKENDS = [name for name, backend in BACKENDS.items() if backend.is_sql]


def backend_params(names: Iterable[str]) -> list[Any]:
    """``pytest.param`` of each backend named, with its marks (for ``params=``)."""
    return [BACKENDS[name].param() for name in names]


F = TypeVar("F", bound=Callable[..., Any])


def with_marks_of(names: Iterable[str]) -> Callable[[F], F]:
    """Gives a test that opens each backend named itself the marks of those backends."""

    def decorate(test: F) -> F:
        for name in names:
            for mark in BACKENDS[name].marks:
                test = mark(test)
        return test

    return decorate


# -- transcript tiers ------------------------------------------------------------------


@dataclass(frozen=True)
class TranscriptPair:
    """One (tier, backend) pair of the transcript contract suite: a store of
    ``backend`` whose transcripts live in ``tier`` (files in a directory of the test's
    own, or the SQL tier in the backend's database)."""

    tier: TranscriptTier
    backend: str
    #: Contract test name -> why this pair fails it (applied as strict xfail).
    divergences: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The pair's test id: ``files-json``, ``sql-postgresql`` ..."""
        return f"{self.tier}-{self.backend}"

    def param(self) -> Any:
        """This pair as a ``pytest.param`` carrying its backend's marks."""
        return pytest.param(self.name, marks=BACKENDS[self.backend].marks, id=self.name)

    def location(self, request: pytest.FixtureRequest, tmp_path: Path, agent_id: str) -> str:
        """The store's target: a fresh database for the test (shared by the agents of
        one test), or the agent's own ``sessions.json`` for the JSON twin."""
        backend = BACKENDS[self.backend]
        if not backend.is_sql:
            return str(tmp_path / "agents" / agent_id / "sessions" / "sessions.json")
        return str(request.getfixturevalue(backend.url_fixture))

    def open(
        self,
        request: pytest.FixtureRequest,
        tmp_path: Path,
        *,
        agent_id: str = "main",
        opener: Callable[..., SessionStore] = open_store,
    ) -> SessionStore:
        """A store of this pair for ``agent_id`` (opened by ``opener``: ``open_store``
        or the async API's through the contract's fixture); on the files tier each
        agent has its own transcripts directory, as in an OpenClaw state directory."""
        directory = tmp_path / "transcripts" / agent_id if self.tier == "files" else None
        return opener(
            self.location(request, tmp_path, agent_id),
            agent_id=agent_id,
            auto_upgrade=True,
            transcripts=self.tier,
            transcripts_dir=directory,
        )


#: Contract tests that do not run on the async API, each with the reason (deselected
#: there, never skipped).
SYNC_API_ONLY: Mapping[str, str] = {
    "test_the_entry_is_left_alone_when_reset_meanwhile": (
        "its events are a generator that writes through another store while the append "
        "reads it; the async append reads its events before it starts (it takes an "
        "iterable, not an async one), so there is no 'meanwhile' to test"
    ),
}

TRANSCRIPT_PAIRS: dict[str, TranscriptPair] = {
    pair.name: pair
    for pair in (
        TranscriptPair("files", "json"),
        TranscriptPair("files", "sqlite"),
        TranscriptPair("files", "sqlite-sqlalchemy"),
        TranscriptPair("sql", "sqlite"),
        TranscriptPair("sql", "sqlite-sqlalchemy"),
        TranscriptPair("sql", "postgresql"),
        TranscriptPair("sql", "mysql"),
    )
}

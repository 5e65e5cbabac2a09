"""Opening a store: :func:`open_store`, the one place that names the backends.

A target is a URL or a path. Its form chooses the backend, and a backend's module is
imported only when a store of it is opened, so a JSON-twin user never loads
SQLAlchemy:

- ``json:///abs/sessions.json`` or a path ending in ``.json``: the JSON twin,
  :class:`~sessionstore.backends.jsonfile.JsonFileStore`;
- ``sqlite:///path.db`` or any other plain path: a SQLite file,
  :class:`~sessionstore.backends.sqlite.SqliteStore`;
- any other SQLAlchemy URL (PostgreSQL, MySQL/MariaDB, SQLite in memory):
  :class:`~sessionstore.backends.sql.SqlStore`.

``sqlite+pysqlite:///path.db`` names SQLite through SQLAlchemy explicitly (the SQL
backend), for tools that want the engine.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "sessions.json")
>>> with open_store(path) as store:
...     _ = store.put("agent:main:main", {"sessionId": "s1", "updatedAt": 1})
...     store.count()
1
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from sessionstore.asyncstore import AsyncSessionStore, ThreadRunner
from sessionstore.contract import SessionStore
from sessionstore.entry import MAX_ENTRY_BYTES, validate_agent_id

__all__ = ["backend_of", "database_url", "is_json_target", "open_async_store", "open_store"]

#: Backend name -> (module, class). Imported on first use (see module docstring).
BACKENDS = {
    "json": ("sessionstore.backends.jsonfile", "JsonFileStore"),
    "sqlite": ("sessionstore.backends.sqlite", "SqliteStore"),
    "sql": ("sessionstore.backends.sql", "SqlStore"),
}


def is_json_target(target: str | Path) -> bool:
    """Whether ``open_store`` opens ``target`` as the JSON twin.

    The scheme decides first: a URL is never taken for a path, whatever it ends in.

    >>> is_json_target("json:///srv/sessions.json"), is_json_target("sqlite:///s.db")
    (True, False)
    >>> is_json_target("sqlite:///srv/a.json"), is_json_target("/srv/a.json")
    (False, True)
    """
    text = str(target)
    if "://" in text:
        return text.startswith("json://")
    return text.endswith(".json")


def database_url(target: str | Path) -> str:
    """A database URL for a URL or a plain path (a SQLite file).

    >>> database_url("postgresql+psycopg://db/app")
    'postgresql+psycopg://db/app'
    >>> database_url("/srv/state/sessions.db")
    'sqlite:////srv/state/sessions.db'
    """
    text = str(target)
    return text if "://" in text else f"sqlite:///{Path(text).absolute()}"


def backend_of(target: str | Path) -> str:
    """The name (a key of :data:`BACKENDS`) of the backend that opens ``target``.

    >>> [backend_of(t) for t in ("a.json", "s.db", "sqlite+pysqlite:///s.db", "mysql://h/d")]
    ['json', 'sqlite', 'sql', 'sql']
    >>> backend_of("sqlite://")  # in memory
    'sql'
    """
    if is_json_target(target):
        return "json"
    scheme, _, rest = database_url(target).partition("://")
    database = rest.removeprefix("/").partition("?")[0]
    # SqliteStore opens plain files; a database in memory lives in one connection,
    # which SQLAlchemy's pool keeps, and file: URIs need the URI flag it sets.
    plain_file = database not in ("", ":memory:") and not database.startswith("file:")
    return "sqlite" if scheme == "sqlite" and plain_file else "sql"


#: Worker threads of an async store that runs on threads (SQLite, the JSON twin, the
#: files tier): SQLite in WAL mode reads on several at once and writes on one.
THREAD_WORKERS = 4
#: Connections of an async store on a server (its ``pool_size``; no overflow), opened
#: on demand and kept. SQLAlchemy's default, 5 kept and 10 more closed as soon as they
#: are returned, made a busy async store reconnect on most calls: its calls run as
#: many at once as the pool holds, so the overflow was always in use.
ASYNC_POOL_SIZE = 15


def _backend(name: str) -> Any:
    module, cls = BACKENDS[name]
    return getattr(importlib.import_module(module), cls)


def open_store(
    target: str | Path,
    *,
    agent_id: str = "main",
    auto_upgrade: bool = False,
    lock_timeout: float | None = None,
    engine_options: Mapping[str, Any] | None = None,
    max_entry_bytes: int = MAX_ENTRY_BYTES,
    read_only: bool = False,
    transcripts: Literal["files", "sql"] | None = None,
    transcripts_dir: str | os.PathLike[str] | None = None,
) -> SessionStore:
    """Open a store by URL or path (see the module docstring for the forms).

    A database whose schema is behind the newest revision is refused with
    :class:`~sessionstore.errors.SchemaOutdatedError` unless ``auto_upgrade=True``.
    Options that do not apply to the chosen backend are ignored, so switching backends
    is changing the URL alone: ``lock_timeout`` (seconds, default 10) is the JSON
    twin's wait for its lock file; ``engine_options`` go to SQLAlchemy's
    ``create_engine`` for the SQL backend; ``read_only=True`` opens a SQLite file
    read-only (``SqliteStore``: writes are refused, the file is left as it was found,
    nothing is created). Entries larger than ``max_entry_bytes`` of JSON are refused by
    every backend.

    ``transcripts`` chooses where ``store.transcripts`` keeps the conversations:
    ``"files"``, OpenClaw's ``<sessionId>.jsonl`` files in ``transcripts_dir``, or
    ``"sql"``, tables in the same database as the index. ``None`` is each backend's
    default: files for the JSON twin (which only has files; ``"sql"`` is refused there),
    ``"sql"`` for a database. ``transcripts_dir`` is the files' directory: by default
    that of the twin's ``sessions.json`` (OpenClaw's sessions directory); a database
    needs it with ``transcripts="files"``.

    >>> import os, tempfile
    >>> directory = tempfile.mkdtemp()
    >>> with open_store(os.path.join(directory, "sessions.json")) as twin:
    ...     type(twin).__name__
    'JsonFileStore'
    >>> with open_store(os.path.join(directory, "sessions.db"), auto_upgrade=True) as db:
    ...     type(db).__name__, db.url.startswith("sqlite:///")
    ('SqliteStore', True)
    """
    name = backend_of(target)
    location, options = _options(
        name,
        target,
        agent_id=agent_id,
        auto_upgrade=auto_upgrade,
        lock_timeout=lock_timeout,
        engine_options=engine_options,
        max_entry_bytes=max_entry_bytes,
        read_only=read_only,
        transcripts=transcripts,
        transcripts_dir=transcripts_dir,
    )
    store: SessionStore = _backend(name)(location, **options)
    return store


def _options(
    name: str,
    target: str | Path,
    *,
    agent_id: str,
    auto_upgrade: bool,
    lock_timeout: float | None,
    engine_options: Mapping[str, Any] | None,
    max_entry_bytes: int,
    read_only: bool,
    transcripts: Literal["files", "sql"] | None,
    transcripts_dir: str | os.PathLike[str] | None,
) -> tuple[str, dict[str, Any]]:
    """The location and the options of backend ``name`` for ``target``: those of
    :func:`open_store` that apply to it."""
    options: dict[str, Any] = {"agent_id": agent_id, "max_entry_bytes": max_entry_bytes}
    if transcripts is not None:
        options["transcripts"] = transcripts
    if transcripts_dir is not None:
        options["transcripts_dir"] = transcripts_dir
    if name == "json":
        location = str(target).removeprefix("json://")
        if lock_timeout is not None:
            options["lock_timeout"] = lock_timeout
    else:
        location = database_url(target)
        options["auto_upgrade"] = auto_upgrade
        if name == "sql":
            options["engine_options"] = engine_options
        elif read_only:
            options["read_only"] = True
    return location, options


def open_async_store(
    target: str | Path,
    *,
    agent_id: str = "main",
    auto_upgrade: bool = False,
    lock_timeout: float | None = None,
    engine_options: Mapping[str, Any] | None = None,
    max_entry_bytes: int = MAX_ENTRY_BYTES,
    read_only: bool = False,
    transcripts: Literal["files", "sql"] | None = None,
    transcripts_dir: str | os.PathLike[str] | None = None,
) -> AsyncSessionStore:
    """The store :func:`open_store` opens, as an
    :class:`~sessionstore.asyncstore.AsyncSessionStore`: the same targets, options,
    contract and errors, awaited. It connects on first use or on ``async with``.

    On PostgreSQL and MySQL/MariaDB with SQL transcripts the I/O is asyncio's own:
    psycopg's asyncio connections for ``postgresql+psycopg://``, asyncmy for
    ``mysql+pymysql://`` (the ``mysql`` extra installs it; the ``async`` extra installs
    greenlet, which SQLAlchemy's asyncio support needs), or the asyncio driver a URL
    names. SQLite, the JSON twin and the files tier run on worker threads of the
    store's own. Schema upgrades (``auto_upgrade=True``) run on a thread with the sync
    driver.

    >>> import asyncio, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "sessions.json")
    >>> async def main():
    ...     async with open_async_store(path) as store:
    ...         await store.put("agent:main:main", {"sessionId": "s1", "updatedAt": 1})
    ...         return (await store.get("agent:main:main")).session_id
    >>> asyncio.run(main())
    's1'
    """
    validate_agent_id(agent_id)
    name = backend_of(target)
    location, options = _options(
        name,
        target,
        agent_id=agent_id,
        auto_upgrade=auto_upgrade,
        lock_timeout=lock_timeout,
        engine_options=engine_options,
        max_entry_bytes=max_entry_bytes,
        read_only=read_only,
        transcripts=transcripts,
        transcripts_dir=transcripts_dir,
    )
    tier: Literal["files", "sql"] = transcripts or ("files" if name == "json" else "sql")
    if name != "sql":
        description = location
    else:
        description = importlib.import_module("sessionstore.sql.engine").mask_url(location)
    dialect, _, driver = location.partition("://")[0].partition("+")
    if name == "sql" and tier == "sql" and (dialect != "sqlite" or driver == "aiosqlite"):
        return _native_async_store(location, options, agent_id=agent_id, description=description)
    in_memory = False  # a SQLite database in memory: one connection, kept by the pool
    if name == "sql":  # threads run a sync driver: that of a URL naming an asyncio one
        sql_engine = importlib.import_module("sessionstore.sql.engine")
        if f"{dialect}+{driver}" in sql_engine.ASYNC_DRIVERS.values():
            location = sql_engine.sync_url(location).render_as_string(hide_password=False)
        in_memory = sql_engine.sqlite_in_memory(location)
    runner = ThreadRunner(1 if in_memory else THREAD_WORKERS)
    open_sync = functools.partial(_backend(name), location, **options)

    async def opener() -> SessionStore:
        store: SessionStore = await runner.call(open_sync)
        return store

    return AsyncSessionStore(
        opener,
        runner,
        agent_id=agent_id,
        tier=tier,
        description=description,
        point_reads_inline=name == "sqlite",  # SqliteStore: a file in WAL mode
    )


def _native_async_store(
    url: str, options: dict[str, Any], *, agent_id: str, description: str
) -> AsyncSessionStore:
    """An async store whose statements are awaited on the loop (see
    :mod:`sessionstore.sql.aio`)."""
    aio = importlib.import_module("sessionstore.sql.aio")
    engine_options = dict(options.pop("engine_options") or {})
    auto_upgrade = options.pop("auto_upgrade")
    if "pool_size" not in engine_options and "max_overflow" not in engine_options:
        engine_options.update(pool_size=ASYNC_POOL_SIZE, max_overflow=0)
    limit = engine_options.get("pool_size", 5) + engine_options.get("max_overflow", 10)
    runner = aio.GreenletRunner(limit)
    sql_store = _backend("sql")
    engine = aio.create_async_sql_engine(url, **engine_options)  # connects on first use

    async def opener() -> SessionStore:
        if auto_upgrade:  # schema commands take turns across threads: never on the loop
            upgrade_url = importlib.import_module("sessionstore.sql.engine").sync_url(url)
            options_of_upgrade = {"agent_id": agent_id, "engine_options": engine_options}
            upgrade = functools.partial(
                sql_store,
                upgrade_url.render_as_string(hide_password=False),
                auto_upgrade=True,
                **options_of_upgrade,
            )
            (await asyncio.to_thread(upgrade)).close()
        store: SessionStore = await runner.call(
            functools.partial(sql_store, url, engine=engine.sync_engine, **options)
        )
        return store

    return AsyncSessionStore(opener, runner, agent_id=agent_id, tier="sql", description=description)

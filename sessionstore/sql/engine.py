"""Engines configured the same way for the library, the CLI and Alembic's ``env.py``.

SQLite gets WAL, ``synchronous=NORMAL``, a busy timeout and foreign keys, and real
transactions: the driver's implicit ones are switched off and ``BEGIN`` (or
``BEGIN IMMEDIATE`` for writes, see :data:`WRITE`) is emitted explicitly, so that a
read-modify-write never has to upgrade a read lock, which SQLite would refuse at once.

PostgreSQL (psycopg) and MySQL/MariaDB (PyMySQL, mysqlclient) get a connect timeout,
statement and lock timeouts, and a read timeout on the client, so that a server that
stops answering is an error, not a hang (see :func:`server_defaults`).
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import orjson
from alembic.util.exc import CommandError
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from sessionstore.errors import InvalidArgumentError, SessionStoreError, StoreUnavailableError
from sessionstore.files import PRIVATE_FILE_MODE, make_private_dirs

__all__ = [
    "BUSY_TIMEOUT_MS",
    "CONNECT_TIMEOUT_S",
    "KEEPALIVES",
    "LOCK_TIMEOUT_S",
    "READ_TIMEOUT_S",
    "STATEMENT_TIMEOUT_S",
    "WRITE",
    "async_url",
    "create_sql_engine",
    "database_errors",
    "ensure_sqlite_file",
    "mask_url",
    "read_only_storage",
    "server_defaults",
    "sqlite_busy",
    "sqlite_file",
    "sqlite_pragmas",
    "sqlite_read_only",
    "sync_url",
]

E = TypeVar("E")
#: How long SQLite waits for another writer before reporting "database is locked".
BUSY_TIMEOUT_MS = 10_000
#: Execution options for a connection that will write: ``BEGIN IMMEDIATE`` on SQLite.
WRITE = {"sqlite_begin": "BEGIN IMMEDIATE"}

# Defaults for server databases, in seconds; see server_defaults().
#: Giving up on a server that does not accept the connection.
CONNECT_TIMEOUT_S = 10
#: PostgreSQL's statement_timeout: the server cancels a statement that runs longer.
STATEMENT_TIMEOUT_S = 60
#: PostgreSQL's lock_timeout and InnoDB's innodb_lock_wait_timeout: the longest wait
#: for a lock another transaction holds.
LOCK_TIMEOUT_S = 10
#: The client's wait for an answer (PyMySQL read/write timeouts; for psycopg, a wait
#: of its own): longer than the statement timeout, so it fires only when the server
#: itself stops answering.
READ_TIMEOUT_S = 90
#: libpq's TCP keepalives: a dead peer is noticed on an idle connection.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}
#: The asyncio driver the async API uses for the driver a URL names, so that one URL
#: opens both APIs. asyncmy rather than aiomysql: it has a read timeout, and
#: aiomysql's writes fail beside PyMySQL 1.2 (their throughput was within 10 % in
#: ``benchmarks/async_api.py``). A URL naming an asyncio driver is kept.
ASYNC_DRIVERS = {
    "postgresql+psycopg": "postgresql+psycopg_async",
    "mysql+pymysql": "mysql+asyncmy",
    "mariadb+pymysql": "mariadb+asyncmy",
    "sqlite+pysqlite": "sqlite+aiosqlite",
}
#: The extra that installs the driver of each database.
_EXTRAS = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}


def sqlite_in_memory(url: str | URL) -> bool:
    """Whether ``url`` names a SQLite database in memory (``sqlite://``,
    ``:memory:``, a ``file::memory:`` URI or ``mode=memory``), which lives only as long
    as its connection.

    >>> sqlite_in_memory("sqlite://"), sqlite_in_memory("sqlite:///srv/s.db")
    (True, False)
    """
    parsed = make_url(url) if isinstance(url, str) else url
    database = parsed.database or ""
    return parsed.get_backend_name() == "sqlite" and (
        database in ("", ":memory:")
        or database.startswith("file::memory:")
        or parsed.query.get("mode") == "memory"
    )


def sqlite_file(url: str | URL) -> Path | None:
    """The file behind a SQLite URL; ``None`` for other databases and in-memory ones."""
    parsed = make_url(url) if isinstance(url, str) else url
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return Path(database)


def ensure_sqlite_file(url: str | URL) -> None:
    """Create a SQLite file's directory (0700) and the file (0600) if they are missing,
    so that the database is private from its first byte."""
    path = sqlite_file(url)
    if path is None or path.exists():
        return
    make_private_dirs(path.parent)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE_MODE))


def mask_url(url: str | URL) -> str:
    """The URL with any password replaced by ``***``, safe for messages and logs.

    >>> mask_url("postgresql+psycopg://bob:secret@db/app")
    'postgresql+psycopg://bob:***@db/app'
    """
    parsed = _parse(url)
    return "<unparsable URL>" if parsed is None else parsed.render_as_string(hide_password=True)


# A password inside a URL (scheme://user:PASSWORD@host) or a libpq keyword (password=...).
_SECRET = re.compile(
    r"(?P<keep>[a-z][\w+.-]*://[^:/?#@\s]*:|\bpassword\s*=\s*)(?:'(?:[^'\\]|\\.)*'|[^@\s]+)(?=@|\s|$)",
    re.IGNORECASE,
)


def mask_secrets(text: str) -> str:
    """``text`` with every password it quotes, in a URL or as ``password=...``, masked.

    It masks by the structure of the text, never by searching for the password itself,
    so a short password does not mangle the rest of the message.

    >>> mask_secrets("mysql+pymysql://bob:a@db/app: Access denied for user 'bob'")
    "mysql+pymysql://bob:***@db/app: Access denied for user 'bob'"
    >>> mask_secrets("invalid dsn: host=db password=s3cret user=bob")
    'invalid dsn: host=db password=*** user=bob'
    """
    return _SECRET.sub(lambda match: f"{match['keep']}***", text)


def _parse(url: str | URL) -> URL | None:
    try:
        return make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return None


@contextmanager
def database_errors(url: str | URL, action: str) -> Iterator[None]:
    """The one place where database, driver and Alembic errors become ours.

    Unreachable servers and locked files become :class:`StoreUnavailableError`, the
    rest :class:`SessionStoreError`; the message names the action and the masked URL
    and never contains the password.
    """
    try:
        yield
    except SessionStoreError:
        raise
    except (SQLAlchemyError, CommandError, OSError, sqlite3.Error) as exc:
        lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        detail = mask_secrets(lines[0] if lines else type(exc).__name__)
        message = f"{action} failed on {mask_url(url)}: {detail}"
        unreachable = isinstance(
            exc, OperationalError | InterfaceError | OSError | sqlite3.OperationalError
        )
        raise (StoreUnavailableError if unreachable else SessionStoreError)(message) from exc


def _json_dumps(value: Any) -> str:
    # bytes are JSON encoded already (see JSONDocument)
    return value.decode() if isinstance(value, bytes) else orjson.dumps(value).decode()


def create_sql_engine(url: str | URL, **options: Any) -> Engine:
    """An engine for ``url`` with this library's connection settings."""
    parsed = _parse(url)
    if parsed is None:
        # not echoed: an unparsable URL may still hold a password
        raise InvalidArgumentError("not a database URL (expected dialect+driver://...)")
    options.setdefault("json_serializer", _json_dumps)
    options.setdefault("json_deserializer", orjson.loads)
    if parsed.get_backend_name() == "sqlite":
        memory = sqlite_in_memory(parsed)
        if memory:  # one connection holds it: keep that one
            options.setdefault("poolclass", StaticPool)
        connect_args = options.setdefault("connect_args", {})
        connect_args.setdefault("check_same_thread", False)
        connect_args.setdefault("timeout", BUSY_TIMEOUT_MS / 1000)
        path = sqlite_file(parsed)
        read_only = path is not None and read_only_storage(path)
        if path is not None and read_only:  # read-write could not even read a WAL database
            options.setdefault("creator", functools.partial(sqlite_read_only, path))
        engine = create_engine(parsed, **options)
        _configure_sqlite(engine, wal=not memory and not read_only)
        return engine
    options.setdefault("pool_pre_ping", True)
    connect_args = options["connect_args"] = dict(options.get("connect_args") or {})
    read_timeout = server_defaults(parsed, connect_args)
    engine = _create(create_engine, parsed, options)
    if read_timeout:
        _wait_at_most(engine)
    return engine


def async_url(url: str | URL) -> URL:
    """The URL of ``url``'s database through the asyncio driver of :data:`ASYNC_DRIVERS`.

    >>> async_url("mysql+pymysql://root@db/app").render_as_string()
    'mysql+asyncmy://root@db/app'
    >>> async_url("postgresql+psycopg2://db/app")
    Traceback (most recent call last):
    ...
    sessionstore.errors.InvalidArgumentError: no asyncio driver for postgresql+psycopg2:// ...
    """
    parsed = _parse(url)
    if parsed is None:
        raise InvalidArgumentError("not a database URL (expected dialect+driver://...)")
    if parsed.get_dialect().is_async:
        return parsed
    name = f"{parsed.get_backend_name()}+{parsed.get_driver_name()}"
    if name not in ASYNC_DRIVERS:
        raise InvalidArgumentError(
            f"no asyncio driver for {parsed.drivername}:// in the async API; use "
            "postgresql+psycopg://, mysql+pymysql:// or a URL naming an asyncio driver"
        )
    return parsed.set(drivername=ASYNC_DRIVERS[name])


def sync_url(url: str | URL) -> URL:
    """The URL of ``url``'s database through the sync driver whose asyncio driver it
    names (:data:`ASYNC_DRIVERS`), or ``url`` itself.

    >>> sync_url("mysql+asyncmy://root@db/app").render_as_string()
    'mysql+pymysql://root@db/app'
    """
    parsed = _parse(url)
    if parsed is None:
        raise InvalidArgumentError("not a database URL (expected dialect+driver://...)")
    name = f"{parsed.get_backend_name()}+{parsed.get_driver_name()}"
    for sync, asynchronous in ASYNC_DRIVERS.items():
        if name == asynchronous:
            return parsed.set(drivername=sync)
    return parsed


def _create(create: Callable[..., E], url: URL, options: dict[str, Any]) -> E:
    """``create(url, **options)``, a missing driver named with the extra to install."""
    try:
        return create(url, **options)
    except ModuleNotFoundError as exc:
        raise StoreUnavailableError(_missing_driver(url, exc)) from exc


def _missing_driver(url: URL, exc: ModuleNotFoundError) -> str:
    extra = _EXTRAS.get(url.get_backend_name())
    if exc.name == "greenlet":  # SQLAlchemy's asyncio support
        return "the async API on this database needs greenlet: pip install 'sessionstore[async]'"
    advice = f": pip install 'sessionstore[{extra}]'" if extra else ""
    supported = {"postgres": "postgresql+psycopg", "mysql": "mysql+pymysql"}.get(extra or "")
    if supported and url.drivername not in (supported, ASYNC_DRIVERS.get(supported)):
        advice += f" and use a {supported}:// URL"
    return f"the database driver for {url.drivername}:// is not installed ({exc.name}){advice}"


def server_defaults(url: URL, connect_args: dict[str, Any]) -> bool:
    """Add this library's timeouts for a server database to ``connect_args``.

    A parameter the user set, in the URL's query or in ``connect_args``, wins. Returns
    whether the connections need the client-side wait of :data:`READ_TIMEOUT_S` that
    psycopg has no option for.

    PostgreSQL (psycopg, psycopg2): ``connect_timeout``, the :data:`KEEPALIVES`, and
    ``statement_timeout`` and ``lock_timeout`` through ``options`` (ours first, so a
    ``-c`` of the user's own comes later and wins); with psycopg (sync or asyncio),
    ``read_timeout``.
    MySQL/MariaDB (PyMySQL, mysqlclient, asyncmy): ``connect_timeout``, ``read_timeout``,
    ``write_timeout`` (not asyncmy), and ``innodb_lock_wait_timeout`` through ``init_command`` (an
    ``init_command`` of the user's own replaces it).

    >>> args = {}
    >>> server_defaults(make_url("postgresql+psycopg://db/app?options=-cwork_mem%3D8MB"), args)
    True
    >>> args["options"], args["connect_timeout"], args["read_timeout"]
    ('-c statement_timeout=60000 -c lock_timeout=10000 -cwork_mem=8MB', 10, 90)
    """
    given = {**url.query, **connect_args}

    def default(key: str, value: Any) -> None:
        if key not in given:
            connect_args[key] = value

    backend, driver = url.get_backend_name(), url.get_driver_name()
    if backend == "postgresql" and driver in ("psycopg", "psycopg_async", "psycopg2"):
        default("connect_timeout", CONNECT_TIMEOUT_S)
        for key, value in KEEPALIVES.items():
            default(key, value)
        ours = (
            f"-c statement_timeout={STATEMENT_TIMEOUT_S * 1000} "
            f"-c lock_timeout={LOCK_TIMEOUT_S * 1000}"
        )
        theirs = given.get("options")
        theirs = " ".join(theirs) if isinstance(theirs, tuple) else theirs
        connect_args["options"] = f"{ours} {theirs}" if theirs else ours
        if driver in ("psycopg", "psycopg_async"):
            default("read_timeout", READ_TIMEOUT_S)
            return True
    elif backend in ("mysql", "mariadb") and driver in ("pymysql", "mysqldb", "asyncmy"):
        default("connect_timeout", CONNECT_TIMEOUT_S)
        default("read_timeout", READ_TIMEOUT_S)
        if driver != "asyncmy":  # asyncmy has no write timeout
            default("write_timeout", READ_TIMEOUT_S)
        default("init_command", f"SET SESSION innodb_lock_wait_timeout = {LOCK_TIMEOUT_S}")
    return False


def _wait_at_most(engine: Engine) -> None:
    """Connect psycopg with a bound on every wait for the server (``read_timeout``)."""

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        seconds = float(cparams.pop("read_timeout"))
        bounded = _bounded_connection(dialect.loaded_dbapi)
        if bounded is None:  # a psycopg without timed waits (before 3.2): unbounded
            return dialect.loaded_dbapi.connect(*cargs, **cparams)
        connection = bounded.connect(*cargs, **cparams)
        connection.read_timeout = seconds or None  # 0: no bound
        return connection


@functools.cache
def _bounded_connection(psycopg: Any) -> Any:
    """A psycopg connection class whose waits for the server end after ``read_timeout``.

    psycopg waits for a query's answer as long as it takes. A server that stopped
    answering (a paused process, a lost host that still acknowledges packets) would
    hold the caller forever: past the deadline, the connection is closed, so that the
    server rolls its transaction back, and the wait fails with OperationalError.
    """
    # Raised by wait() when its timeout expires (psycopg 3.2 and later).
    found: type[Exception] | None = getattr(psycopg.errors, "_WaitTimeout", None)
    if found is None:
        return None
    timed_out = found

    class BoundedConnection(psycopg.Connection):  # type: ignore[misc]
        read_timeout: float | None = None

        def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
            if timeout is not None or self.read_timeout is None:
                return super().wait(gen, interval, timeout)
            try:
                return super().wait(gen, interval, self.read_timeout)
            except timed_out:
                self.close()
                raise psycopg.OperationalError(
                    f"no answer from the server within {self.read_timeout:g} s (read_timeout)"
                ) from None

    return BoundedConnection


def read_only_storage(path: Path) -> bool:
    """Whether nothing can be written at the SQLite file ``path``: neither the file nor
    its directory (a read-only mount, an immutable file), so it opens read-only."""
    return path.exists() and not os.access(path, os.W_OK) and not os.access(path.parent, os.W_OK)


def sqlite_read_only(path: Path) -> sqlite3.Connection:
    """A connection to the SQLite file ``path`` that reads and changes nothing in it
    (``mode=ro``), with this library's settings.

    On read-only storage SQLite cannot create the ``-shm`` file that a WAL database
    needs. With no ``-wal`` file beside it the file is the whole database and nobody can
    write there, so it opens as immutable; with one, it is refused.
    """
    try:
        return _sqlite_uri(path, "mode=ro")
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorname != "SQLITE_CANTOPEN" or not read_only_storage(path):
            raise
        if Path(f"{path}-wal").exists():
            raise StoreUnavailableError(
                f"cannot read {path} on read-only storage: its write-ahead log "
                f"{path.name}-wal holds changes only a writable copy can read; copy the "
                "database with its -wal file to writable storage"
            ) from exc
    return _sqlite_uri(path, "mode=ro&immutable=1")


def _sqlite_uri(path: Path, parameters: str) -> sqlite3.Connection:
    conn = sqlite3.connect(
        f"file:{quote(str(path))}?{parameters}",
        uri=True,
        timeout=BUSY_TIMEOUT_MS / 1000,
        check_same_thread=False,
    )
    try:
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1")  # open the file and its WAL now
        sqlite_pragmas(conn, wal=False)
    except BaseException:
        conn.close()
        raise
    return conn


def sqlite_pragmas(dbapi_connection: Any, *, wal: bool) -> None:
    """This library's settings on a sqlite3 connection (shared with the read path that
    uses the driver directly)."""
    # Let the caller, not the driver, decide where transactions begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    if wal:
        _use_wal_if_new(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # LIKE compares case-sensitively on the other databases; make SQLite agree.
    cursor.execute("PRAGMA case_sensitive_like=ON")
    cursor.close()


def _use_wal_if_new(cursor: sqlite3.Cursor) -> None:
    """WAL and ``auto_vacuum=INCREMENTAL`` for a database this library creates (both
    persist); a file that has content keeps the modes its owner chose: reading it must
    not change them. ``auto_vacuum`` takes effect only before the first table, so an
    existing file is converted by ``sessionstore db compact`` alone.

    SQLite answers a switch to WAL that meets another connection's lock with "database
    is locked" at once, without its busy handler (processes creating one database
    together meet there), so the switch is retried here for the busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            # one call each, not chained: aiosqlite's adapted cursor returns no cursor
            cursor.execute("PRAGMA journal_mode")
            if cursor.fetchone()[0] != "wal":
                cursor.execute("PRAGMA page_count")
                if cursor.fetchone()[0] == 0:
                    # With no busy timeout: a lock met here fails at once and is waited
                    # for below (auto_vacuum would sit out the whole timeout in SQLite's
                    # busy handler first, and the switch to WAL has none).
                    cursor.execute("PRAGMA busy_timeout=0")
                    try:
                        # freed pages can then go back to the file system in steps
                        cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
                        cursor.execute("PRAGMA journal_mode=WAL")
                    finally:
                        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            return
        except sqlite3.OperationalError as exc:
            if not sqlite_busy(exc) or time.monotonic() >= deadline:
                raise
            wait_for_wal_switch()


def sqlite_busy(exc: sqlite3.Error) -> bool:
    """Whether SQLite refused for another connection's lock: ``SQLITE_BUSY`` or one of
    its extended codes (``_RECOVERY``, ``_SNAPSHOT``, ``_TIMEOUT``)."""
    return exc.sqlite_errorname.startswith("SQLITE_BUSY")


def wait_for_wal_switch() -> None:
    """The pause between two tries of the switch to WAL."""
    time.sleep(0.005)


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        sqlite_pragmas(dbapi_connection, wal=wal)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        statement = conn.get_execution_options().get("sqlite_begin", "BEGIN")
        conn.exec_driver_sql(statement)

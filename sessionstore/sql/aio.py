"""The asyncio side of the SQL layer: engines on the asyncio drivers and
:class:`GreenletRunner`, which runs a sync store's calls on such an engine.

SQLAlchemy bridges its sync API to asyncio drivers with greenlets: inside
``greenlet_spawn`` a sync ``Connection.execute`` awaits the driver on the running loop.
So the sync store's code, statements, retries and all, runs unchanged, and every
statement is an ``await`` of psycopg's or asyncmy's asyncio connection.

This module is imported only by the async API (SQLAlchemy's asyncio extension costs
tens of milliseconds at import).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from sqlalchemy import Engine, event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.util import await_only, greenlet_spawn

from sessionstore.sql.engine import (
    BUSY_TIMEOUT_MS,
    _configure_sqlite,
    _create,
    _json_dumps,
    async_url,
    server_defaults,
    sqlite_in_memory,
)

__all__ = ["GreenletRunner", "create_async_sql_engine"]

T = TypeVar("T")


class GreenletRunner:
    """Runs each call in a greenlet on the event loop, its statements awaited there.

    At most ``limit`` calls run at once (the engine's pool size and overflow): the rest
    wait their turn on the loop, so a burst of tasks costs the loop nothing while it
    waits, and no call waits for a connection inside the pool's timeout.
    """

    def __init__(self, limit: int) -> None:
        self._turns = asyncio.Semaphore(limit)

    async def call(self, fn: Callable[..., T], /, *args: Any) -> T:
        async with self._turns:
            result: T = await greenlet_spawn(fn, *args)
            return result

    def wait(self, awaitable: Awaitable[T]) -> T:
        result: T = await_only(awaitable)
        return result

    async def close(self) -> None:
        """Nothing of its own: the store disposes of its engine."""


def create_async_sql_engine(url: str | URL, **options: Any) -> AsyncEngine:
    """An asyncio engine on ``url``'s database (through
    :func:`~sessionstore.sql.engine.async_url`) with this library's connection
    settings, as :func:`~sessionstore.sql.engine.create_sql_engine` gives the sync one."""
    parsed = async_url(url)
    options.setdefault("json_serializer", _json_dumps)
    options.setdefault("json_deserializer", orjson.loads)
    connect_args = options["connect_args"] = dict(options.get("connect_args") or {})
    if parsed.get_backend_name() == "sqlite":
        connect_args.setdefault("timeout", BUSY_TIMEOUT_MS / 1000)
        engine: AsyncEngine = _create(create_async_engine, parsed, options)
        _configure_sqlite(engine.sync_engine, wal=not sqlite_in_memory(parsed))
        return engine
    options.setdefault("pool_pre_ping", True)
    read_timeout = server_defaults(parsed, connect_args)
    engine = _create(create_async_engine, parsed, options)
    if read_timeout:
        _wait_at_most(engine.sync_engine)
    return engine


def _wait_at_most(engine: Engine) -> None:
    """Connect psycopg's asyncio connections with a bound on every wait for the server
    (``read_timeout``), as the sync engine's are (``engine`` is the ``sync_engine``)."""

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        seconds = float(cparams.pop("read_timeout"))
        bounded = _bounded_connection(dialect.loaded_dbapi.psycopg)
        if bounded is None:  # a psycopg without timed waits (before 3.2): unbounded
            return

        async def connect(*args: Any, **kwargs: Any) -> Any:
            connection = await bounded.connect(*args, **kwargs)
            connection.read_timeout = seconds or None  # 0: no bound
            return connection

        cparams["async_creator_fn"] = connect  # the dialect connects with it


@functools.cache
def _bounded_connection(psycopg: Any) -> Any:
    """A psycopg ``AsyncConnection`` whose waits for the server end after
    ``read_timeout``: past it the connection is closed, so the server rolls back."""
    found: type[Exception] | None = getattr(psycopg.errors, "_WaitTimeout", None)
    if found is None:
        return None
    timed_out = found

    class BoundedAsyncConnection(psycopg.AsyncConnection):  # type: ignore[misc]
        read_timeout: float | None = None

        async def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
            if timeout is not None or self.read_timeout is None:
                return await super().wait(gen, interval, timeout)
            try:
                return await super().wait(gen, interval, self.read_timeout)
            except timed_out:
                await self.close()
                raise psycopg.OperationalError(
                    f"no answer from the server within {self.read_timeout:g} s (read_timeout)"
                ) from None

    return BoundedAsyncConnection

"""The async API: :class:`AsyncSessionStore`, the contract of
:class:`~sessionstore.contract.SessionStore` as coroutines, and
:class:`AsyncTranscriptStore`, that of ``store.transcripts``.

There is one body of logic. An async store drives a store of the sync API, the same
backend classes with the same statements, projection, blobs, merge rules, retries and
validation, through a :class:`Runner`, which is the only part that differs:

- on PostgreSQL and MySQL/MariaDB, :class:`~sessionstore.sql.aio.GreenletRunner` runs
  a :class:`~sessionstore.backends.sql.SqlStore` built on an asyncio engine (psycopg's
  and asyncmy's asyncio connections) inside a greenlet, SQLAlchemy's bridge for this:
  every statement is awaited on the event loop, no thread is involved;
- SQLite, the JSON twin, and the files tier anywhere (files have no asyncio I/O) use
  :class:`ThreadRunner`: the sync store on worker threads of the store's own, so the
  loop only hands each call over (measured faster than aiosqlite, which hops to its
  thread for every statement: ``benchmarks/async_api.py``).

:func:`sessionstore.open_async_store` chooses the runner; this module names no backend.

>>> import asyncio
>>> from sessionstore import open_async_store
>>> async def main():
...     async with open_async_store("sqlite://", auto_upgrade=True) as store:  # in memory
...         await store.put("agent:main:main", {"sessionId": "s1", "updatedAt": 1})
...         entry = await store.patch("agent:main:main", {"label": "Inbox"}, now_ms=2)
...         return entry.label, await store.count()
>>> asyncio.run(main())
('Inbox', 1)
"""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import contextvars
import functools
import inspect
import itertools
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar, Unpack

from sessionstore.contract import (
    DEFAULT_PAGE_SIZE,
    AppendResult,
    Archive,
    ArchiveReason,
    EntryLike,
    Erasure,
    FilterArgs,
    Order,
    SearchHit,
    SessionStore,
    SupportsAppendAndUpdate,
    TranscriptPage,
    TranscriptStats,
    TranscriptStore,
    TranscriptTier,
    check_limit,
)
from sessionstore.entry import SessionEntry, SessionPage
from sessionstore.errors import InvalidArgumentError, SessionStoreError

__all__ = ["AsyncSessionStore", "AsyncTranscriptStore", "AsyncUpdater", "Runner", "ThreadRunner"]

T = TypeVar("T")
Item = tuple[str, SessionEntry | Mapping[str, Any]]
#: The function of :meth:`AsyncSessionStore.update`: plain or a coroutine function.
AsyncUpdater = Callable[[SessionEntry | None], SessionEntry | Awaitable[SessionEntry | None] | None]


class Runner(Protocol):
    """Where the calls of a sync store run for an :class:`AsyncSessionStore`."""

    async def call(self, fn: Callable[..., T], /, *args: Any) -> T:
        """``fn(*args)``, run so that the event loop is never blocked by its I/O."""
        ...

    def wait(self, awaitable: Awaitable[T]) -> T:
        """From inside :meth:`call`: the result of ``awaitable``, awaited on the loop
        (the coroutine function given to ``update``, an async iterable's next item)."""
        ...

    async def close(self) -> None:
        """Release what the runner holds, once the store is closed."""
        ...


def iterate(runner: Runner, items: AsyncIterable[T]) -> Iterator[T]:
    """A sync iterator over ``items``, for use inside ``runner.call``: each item is
    awaited on the loop through ``runner.wait``."""
    iterator = aiter(items)
    while True:
        try:
            yield runner.wait(_awaited(anext(iterator)))
        except StopAsyncIteration:
            return


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable


#: Lines of a transcript that :meth:`AsyncTranscriptStore.lines` reads per call.
LINES_PER_CALL = 500
#: Keys that a ``get_many`` reads on the loop itself where point reads run there: a
#: read of a few rows by primary key costs about as little as one.
INLINE_KEYS = 8
#: Calls a :class:`ThreadRunner` hands to its pool at once, per worker thread.
QUEUED_PER_WORKER = 4


class _Call:
    """One ThreadRunner call: its loop, the futures its thread awaits there, and whether
    its task was cancelled (then every one of them, and any awaited later, is)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.awaited: set[concurrent.futures.Future[Any]] = set()
        self.cancelled = False

    def cancel(self) -> None:
        """On the loop: cancel what the thread awaits, now and from now on."""
        self.cancelled = True  # before reading the set: see wait()
        for child in list(self.awaited):
            child.cancel()


# Inside a ThreadRunner call: the call.
_CALL: contextvars.ContextVar[_Call] = contextvars.ContextVar("sessionstore_thread_call")


class ThreadRunner:
    """Runs each call on a worker thread of its own pool (``workers`` threads).

    At most :data:`QUEUED_PER_WORKER` calls per worker are handed to the pool at once;
    the rest wait their turn on the loop, as :class:`~sessionstore.sql.aio.GreenletRunner`'s
    do. A burst of calls then costs the loop a cheap wait each, not a hand-over each in
    one go while the workers compete with it for the GIL, and the workers still find
    the next call queued when they finish one (``benchmarks/async_api.py`` times the
    heartbeat beside such bursts).

    A task cancelled while its call runs cannot stop the thread. What the call awaits on
    the loop (``update``'s coroutine function, an async iterable of ``put_many``) is
    cancelled, so a write in progress rolls back, and the task waits until the call has
    settled before it ends cancelled: once the task is done, nothing of it still runs.
    """

    def __init__(self, workers: int) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="sessionstore"
        )
        self._turns = asyncio.Semaphore(QUEUED_PER_WORKER * workers)

    async def call(self, fn: Callable[..., T], /, *args: Any) -> T:
        async with self._turns:
            return await self._call(fn, *args)

    async def _call(self, fn: Callable[..., T], /, *args: Any) -> T:
        loop = asyncio.get_running_loop()
        call = _Call(loop)
        context = contextvars.copy_context()  # the caller's, in the worker thread
        context.run(_CALL.set, call)
        future = loop.run_in_executor(self._executor, functools.partial(context.run, fn, *args))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            call.cancel()
            await asyncio.wait([future])  # a second cancellation stops this wait
            if not future.cancelled():
                future.exception()  # retrieved: the task's outcome is its cancellation
            raise

    def wait(self, awaitable: Awaitable[T]) -> T:
        call = _CALL.get()
        future = asyncio.run_coroutine_threadsafe(_awaited(awaitable), call.loop)
        call.awaited.add(future)
        # The awaitable may have run on the loop, and the task been cancelled, before
        # the future was in the set: the flag, set before the set is read, tells.
        if call.cancelled:
            future.cancel()
        try:
            return future.result()
        finally:
            call.awaited.discard(future)

    async def close(self) -> None:
        await asyncio.to_thread(self._executor.shutdown)


class AsyncSessionStore:
    """One agent's sessions, the contract of :class:`~sessionstore.contract.SessionStore`
    awaited: the same operations, arguments, results and errors. Made by
    :func:`sessionstore.open_async_store`; it connects on first use or on ``async
    with``. A store belongs to the event loop that first uses it.

    ``update`` also takes a coroutine function, and ``put_many`` an async iterable;
    ``iter_entries`` is an async iterator.
    """

    def __init__(
        self,
        opener: Callable[[], Awaitable[SessionStore]],
        runner: Runner,
        *,
        agent_id: str,
        tier: TranscriptTier,
        description: str,
        point_reads_inline: bool = False,
    ) -> None:
        """``point_reads_inline``: ``get``, ``get_with_version`` and ``version`` run on
        the loop itself, for a store whose point reads never wait and cost less than
        handing them to a thread (SQLite in WAL mode, see :meth:`_point_read`)."""
        self._opener = opener
        self._runner = runner
        self._agent_id = agent_id
        self._description = description
        self._point_reads_inline = point_reads_inline
        self._store: SessionStore | None = None
        self._opening: asyncio.Lock | None = None
        self._closed = False
        self._transcripts = AsyncTranscriptStore(self, tier)

    @property
    def agent_id(self) -> str:
        """The agent whose sessions this store holds."""
        return self._agent_id

    @property
    def transcripts(self) -> AsyncTranscriptStore:
        """The conversations of this store's sessions (the cold tier), awaited."""
        return self._transcripts

    async def sync_store(self) -> SessionStore:
        """The store of the sync API behind this one, opened if it was not yet: for
        tools that must reach beyond the contract. Its calls block: on worker threads
        (SQLite, the JSON twin, the files tier) make them on a thread of your own. On
        the greenlets (PostgreSQL, MySQL/MariaDB) its engine is an asyncio engine's
        ``sync_engine``, whose statements run only inside the runner: a call made
        from outside it fails."""
        if self._closed:
            raise SessionStoreError(f"{self._description} is closed")
        if self._store is None:
            if self._opening is None:
                self._opening = asyncio.Lock()
            async with self._opening:
                if self._store is None:
                    self._store = await self._opener()
        return self._store

    async def _run(self, operation: Callable[[SessionStore], T]) -> T:
        store = await self.sync_store()
        return await self._runner.call(operation, store)

    async def _point_read(self, operation: Callable[[SessionStore], T]) -> T:
        """A read of one key by its primary key. On SQLite in WAL mode a reader never
        waits for a writer, and such a read (0.018 ms p50) costs less than handing it to
        a thread and back (0.086 ms for a call of nothing), so it runs inline: the
        loop is held for less time than a hand-over would take
        (``benchmarks/async_api.py``). Elsewhere it runs as any other call."""
        if not self._point_reads_inline:
            return await self._run(operation)
        return operation(await self.sync_store())

    def _blocking(self, fn: AsyncUpdater) -> Callable[[SessionEntry | None], SessionEntry | None]:
        """``fn`` as the sync updater of the store behind this one."""
        wait = self._runner.wait

        def apply(current: SessionEntry | None) -> SessionEntry | None:
            result = fn(current)
            return wait(result) if inspect.isawaitable(result) else result

        return apply

    # -- the contract, awaited ------------------------------------------------------------

    async def get(self, key: str) -> SessionEntry | None:
        """The entry under ``key``, or ``None``."""
        return await self._point_read(lambda store: store.get(key))

    async def version(self, key: str) -> int:
        """The current version of ``key``; ``0`` when it does not exist."""
        return await self._point_read(lambda store: store.version(key))

    async def get_with_version(self, key: str) -> tuple[SessionEntry | None, int]:
        """The entry and its version, read together (``(None, 0)`` when absent)."""
        return await self._point_read(lambda store: store.get_with_version(key))

    async def get_many(self, keys: Iterable[str]) -> dict[str, SessionEntry]:
        """The entries of ``keys`` that exist, by key, in the order of ``keys`` (see
        :meth:`SessionStore.get_many`)."""
        wanted = builtins.list(keys)  # read here: an iterator is not for another thread
        return await self._keys_read(wanted, lambda store: store.get_many(wanted))

    async def get_many_with_versions(
        self, keys: Iterable[str]
    ) -> dict[str, tuple[SessionEntry, int]]:
        """As :meth:`get_many`, each entry with its version."""
        wanted = builtins.list(keys)
        return await self._keys_read(wanted, lambda store: store.get_many_with_versions(wanted))

    async def _keys_read(
        self, keys: builtins.list[str], operation: Callable[[SessionStore], T]
    ) -> T:
        """A read of ``keys`` by primary key: a point read (:meth:`_point_read`) for a
        few keys, a call as any other for more."""
        if len(keys) <= INLINE_KEYS:
            return await self._point_read(operation)
        return await self._run(operation)

    async def put(self, key: str, entry: EntryLike, *, expected_version: int | None = None) -> int:
        """Insert or replace ``key`` and return its new version (see
        :meth:`SessionStore.put`, compare-and-set with ``expected_version``)."""
        return await self._run(
            lambda store: store.put(key, entry, expected_version=expected_version)
        )

    async def patch(
        self,
        key: str,
        changes: Mapping[str, Any],
        *,
        preserve_activity: bool = False,
        now_ms: int | None = None,
    ) -> SessionEntry:
        """Merge ``changes`` into ``key`` with OpenClaw's rules and return the result."""
        return await self._run(
            lambda store: store.patch(
                key, changes, preserve_activity=preserve_activity, now_ms=now_ms
            )
        )

    async def update(self, key: str, fn: AsyncUpdater) -> SessionEntry | None:
        """Atomic read-modify-write: ``fn(current)``, a plain or a coroutine function,
        returns the new entry or ``None`` (no change). The row stays locked while ``fn``
        runs, so keep it short. Returns what is stored afterwards."""
        apply = self._blocking(fn)
        return await self._run(lambda store: store.update(key, apply))

    async def delete(self, key: str) -> bool:
        """Remove ``key``; ``True`` if it existed."""
        return await self._run(lambda store: store.delete(key))

    async def delete_many(self, keys: Iterable[str], *, updated_before: int | None = None) -> int:
        """Remove the keys given, all or nothing; returns how many were removed."""
        chosen = list(keys)
        return await self._run(
            lambda store: store.delete_many(chosen, updated_before=updated_before)
        )

    async def list(
        self,
        *,
        order: Order = "desc",
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        **filters: Unpack[FilterArgs],
    ) -> SessionPage:
        """One page of summaries ordered by ``(updated_at, key)`` (see
        :meth:`SessionStore.list`)."""
        return await self._run(
            lambda store: store.list(order=order, cursor=cursor, limit=limit, **filters)
        )

    async def count(self, **filters: Unpack[FilterArgs]) -> int:
        """How many entries pass the filters."""
        return await self._run(lambda store: store.count(**filters))

    async def put_many(
        self,
        items: Iterable[Item] | AsyncIterable[Item],
        *,
        batch_size: int = 500,
        delete: Iterable[str] = (),
        expected_versions: Mapping[str, int] | None = None,
    ) -> int:
        """Upsert ``items`` and remove the keys of ``delete`` as one unit, all or
        nothing (see :meth:`SessionStore.put_many`). ``items`` may be an async iterable,
        streamed into the unit as it yields (then, as an iterator, it is not retried)."""
        runner = self._runner
        source: Iterable[Item] = (
            iterate(runner, items) if isinstance(items, AsyncIterable) else items
        )
        doomed = list(delete)
        return await self._run(
            lambda store: store.put_many(
                source, batch_size=batch_size, delete=doomed, expected_versions=expected_versions
            )
        )

    async def iter_entries(
        self, *, batch_size: int = 500
    ) -> AsyncIterator[tuple[str, SessionEntry]]:
        """Every ``(key, entry)`` in key order, read ``batch_size`` at a time."""
        async for key, entry, _version in self.iter_entries_with_versions(batch_size=batch_size):
            yield key, entry

    async def iter_entries_with_versions(
        self, *, batch_size: int = 500
    ) -> AsyncIterator[tuple[str, SessionEntry, int]]:
        """As :meth:`iter_entries`, each entry with its version."""
        check_limit(batch_size, "batch_size")
        store = await self.sync_store()
        async for row in self._drain(
            store.iter_entries_with_versions(batch_size=batch_size), batch_size
        ):
            yield row

    async def _drain(self, items: Iterator[T], size: int) -> AsyncIterator[T]:
        """The items of a sync iterator whose steps do I/O, ``size`` per runner call
        (the store reads a batch per statement anyway)."""

        def take() -> builtins.list[T]:
            return builtins.list(itertools.islice(items, size))

        while batch := await self._runner.call(take):
            for item in batch:
                yield item
            if len(batch) < size:
                return

    async def close(self) -> None:
        """Release connections and threads; the store cannot be used afterwards."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._store is not None:
                await self._runner.call(self._store.close)
        finally:
            await self._runner.close()

    async def __aenter__(self) -> Self:
        await self.sync_store()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncSessionStore({self._description}, agent_id={self._agent_id!r})"


class AsyncTranscriptStore:
    """The contract of :class:`~sessionstore.contract.TranscriptStore`, awaited:
    ``store.transcripts`` of an :class:`AsyncSessionStore`."""

    def __init__(self, store: AsyncSessionStore, tier: TranscriptTier) -> None:
        self._store = store
        self._tier = tier

    @property
    def tier(self) -> TranscriptTier:
        """``files`` (``.jsonl`` files beside the store) or ``sql`` (the same database)."""
        return self._tier

    async def _run(self, operation: Callable[[TranscriptStore], T]) -> T:
        return await self._store._run(lambda store: operation(store.transcripts))

    async def append(
        self,
        key: str,
        events: Iterable[Mapping[str, Any]],
        *,
        topic_id: str | int | None = None,
    ) -> AppendResult:
        """Append ``events`` to the transcript of ``key``'s entry and bring the entry's
        counters along (see :meth:`TranscriptStore.append`)."""
        chosen = list(events)
        return await self._run(lambda t: t.append(key, chosen, topic_id=topic_id))

    @property
    def appends_and_updates(self) -> bool:
        """Whether :meth:`append_and_update` is here: on the ``sql`` tier, where the
        entry and its transcript share one database."""
        return self._tier == "sql"

    async def append_and_update(
        self,
        key: str,
        events: Iterable[Mapping[str, Any]],
        fn: Callable[[SessionEntry], SessionEntry],
        *,
        topic_id: str | int | None = None,
    ) -> AppendResult:
        """Append ``events`` and write the entry ``fn`` makes of the stored one, in one
        transaction (see :class:`~sessionstore.contract.SupportsAppendAndUpdate`);
        ``fn`` is a plain function, called on the store's side. The ``files`` tier has
        no such unit (:attr:`appends_and_updates`): it raises
        :class:`~sessionstore.errors.InvalidArgumentError`."""
        chosen = list(events)

        def both(transcripts: TranscriptStore) -> AppendResult:
            if not isinstance(transcripts, SupportsAppendAndUpdate):
                raise InvalidArgumentError(
                    f"the {self._tier} tier appends and updates in two steps: use append and update"
                )
            return transcripts.append_and_update(key, chosen, fn, topic_id=topic_id)

        return await self._run(both)

    async def tail(
        self, key: str, *, limit: int = DEFAULT_PAGE_SIZE, topic_id: str | int | None = None
    ) -> list[dict[str, Any]]:
        """The last ``limit`` events (1-1000), oldest first."""
        return await self._run(lambda t: t.tail(key, limit=limit, topic_id=topic_id))

    async def pop(self, key: str, *, topic_id: str | int | None = None) -> dict[str, Any] | None:
        """Remove the newest event and return it, ``None`` without one (see
        :meth:`TranscriptStore.pop`)."""
        return await self._run(lambda t: t.pop(key, topic_id=topic_id))

    async def page(
        self,
        key: str,
        *,
        before: str | None = None,
        after: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        bodies: bool = True,
        topic_id: str | int | None = None,
    ) -> TranscriptPage:
        """One page of events (see :meth:`TranscriptStore.page`)."""
        return await self._run(
            lambda t: t.page(
                key, before=before, after=after, limit=limit, bodies=bodies, topic_id=topic_id
            )
        )

    async def count(self, key: str, *, topic_id: str | int | None = None) -> int:
        """How many ``message`` events the current transcript of ``key`` holds."""
        return await self._run(lambda t: t.count(key, topic_id=topic_id))

    async def search(
        self, query: str, *, key: str | None = None, limit: int = 20
    ) -> list[SearchHit]:
        """Events of live transcripts whose message text contains every word of
        ``query``, newest first (see :meth:`TranscriptStore.search`)."""
        return await self._run(lambda t: t.search(query, key=key, limit=limit))

    async def archive(
        self,
        key: str,
        reason: ArchiveReason,
        *,
        session: EntryLike | None = None,
        now_ms: int | None = None,
        topic_id: str | int | None = None,
    ) -> str | None:
        """Archive the transcript of ``key`` and return the archive's name (``None``:
        there was none)."""
        return await self._run(
            lambda t: t.archive(key, reason, session=session, now_ms=now_ms, topic_id=topic_id)
        )

    async def archives(self) -> list[Archive]:
        """Every archived transcript of this agent, sorted by name."""
        return await self._run(lambda t: t.archives())

    async def remove_archive(self, name: str) -> None:
        """Delete the archive ``name``; nothing if it is gone."""
        await self._run(lambda t: t.remove_archive(name))

    async def erase(
        self, keys: Iterable[str], *, session_ids: Iterable[str] = (), dry_run: bool = False
    ) -> Erasure:
        """Remove the entries of ``keys`` and every transcript that belonged to them, as
        one unit (see :meth:`~sessionstore.contract.TranscriptStore.erase`)."""
        chosen, sessions = list(keys), list(session_ids)
        return await self._run(lambda t: t.erase(chosen, session_ids=sessions, dry_run=dry_run))

    async def stats(
        self, session: EntryLike, *, topic_id: str | int | None = None
    ) -> TranscriptStats:
        """Counts over the whole transcript of ``session`` (an entry), in one pass."""
        return await self._run(lambda t: t.stats(session, topic_id=topic_id))

    async def exists(self, session: EntryLike, *, topic_id: str | int | None = None) -> bool:
        """Whether ``session`` (an entry) has a transcript."""
        return await self._run(lambda t: t.exists(session, topic_id=topic_id))

    async def session_ids(self) -> set[str]:
        """The ``sessionId`` of every live transcript of this agent."""
        return await self._run(lambda t: t.session_ids())

    async def lines(
        self, session: EntryLike, *, topic_id: str | int | None = None
    ) -> AsyncIterator[bytes]:
        """Every line of the transcript of ``session`` as stored, header first, read
        :data:`LINES_PER_CALL` at a time (what export and copy carry)."""
        store = await self._store.sync_store()
        lines = store.transcripts.lines(session, topic_id=topic_id)
        async for line in self._store._drain(lines, LINES_PER_CALL):
            yield line

    async def import_lines(
        self,
        key: str,
        session: EntryLike,
        lines: Iterable[bytes] | AsyncIterable[bytes],
        *,
        topic_id: str | int | None = None,
    ) -> int:
        """Make ``lines`` (header first; an async iterable is streamed) the transcript
        of ``session``, stored under ``key``, as one unit (see
        :meth:`TranscriptStore.import_lines`)."""
        runner = self._store._runner
        source = iterate(runner, lines) if isinstance(lines, AsyncIterable) else lines
        return await self._run(lambda t: t.import_lines(key, session, source, topic_id=topic_id))

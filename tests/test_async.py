"""The async API's own behaviours, on every backend: cancellation, many tasks on one
store, compare-and-set races between tasks, the event loop kept free, and the
lifecycle of an :class:`~sessionstore.AsyncSessionStore`.

Each test runs its coroutine with :func:`run` (``asyncio.run`` under a safety
timeout, so a deadlock fails instead of hanging). A cancellation is requested at a
point the code signals (an event set inside the coroutine given to ``update``, the
async generator given to ``put_many``, or the trace hook of the sync store), never
after a sleep.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import pytest
from sqlalchemy import QueuePool, and_, make_url, select

from sessionstore import (
    AsyncSessionStore,
    InvalidArgumentError,
    InvalidEntryError,
    SchemaOutdatedError,
    SessionEntry,
    SessionStore,
    SessionStoreError,
    StaleEntryError,
    open_async_store,
    open_store,
)
from sessionstore.backends.jsonfile import JsonFileStore
from sessionstore.backends.sql import SqlStore
from sessionstore.backends.sqlite import SqliteStore
from sessionstore.sql.engine import create_sql_engine
from sessionstore.sql.schema import sessions
from tests.contract.backends import BACKENDS, SQL_BACKENDS, backend_params
from tests.contract.helpers import KEY, T0, entry, increment

T = TypeVar("T")

#: The safety net of every test, in seconds: a passing run takes a small part of it.
SAFETY_S = 120
#: After the safety net, how long the alarm waits before it ends a run that still hangs.
ALARM_GRACE_S = 30
#: How many times a cancellation test cancels.
CANCEL_ROUNDS = 20
#: The key every task of the concurrency tests writes.
HOT = "agent:main:hot"
#: How many tasks of a workload start in one turn of the loop.
WAVE = 100
#: What the store may add to the worst wake-up of a 1 ms heartbeat, in seconds.
LOOP_STALL_BUDGET_S = 0.050


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``coro`` run on a new event loop; a hang fails after :data:`SAFETY_S`. A hang
    that swallows the cancellation (or sits in closing the store, after the timeout)
    is ended by an alarm a little later."""

    async def bounded() -> T:
        async with asyncio.timeout(SAFETY_S):
            return await coro

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"still running {SAFETY_S + ALARM_GRACE_S} s after it started")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(SAFETY_S + ALARM_GRACE_S)
    try:
        return asyncio.run(bounded())
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def key(n: int) -> str:
    return f"agent:main:k{n:04d}"


async def forever() -> None:
    """Waits for an event nobody sets: only a cancellation ends it."""
    await asyncio.Event().wait()


def stalling(locked: asyncio.Event) -> Callable[[SessionEntry | None], Awaitable[None]]:
    """An update function that sets ``locked`` (it runs with the row locked) and then
    waits until it is cancelled."""

    async def stall(current: SessionEntry | None) -> None:
        locked.set()
        await forever()

    return stall


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait for it to end cancelled."""
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def sqlite_path(target: str) -> str | None:
    """The file of a SQLite target, else ``None``."""
    url = make_url(target) if "://" in target else None
    if url is None or url.get_backend_name() != "sqlite":
        return None
    return url.database


def nothing_held(sync: SessionStore, target: str, locked_key: str) -> None:
    """Fails if the store still holds a lock or a connection of a write: asked without
    waiting, so a lock still held is an error at once, not a slow success."""
    if isinstance(sync, SqlStore):
        pool = sync.engine.pool
        assert isinstance(pool, QueuePool), type(pool)
        assert pool.checkedout() == 0, pool.status()
    if isinstance(sync, JsonFileStore):
        # One try at OpenClaw's lock file (lock_timeout=0), which update takes.
        with open_store(target, lock_timeout=0) as other:
            other.update(locked_key, lambda current: None)
        return
    path = sqlite_path(target)
    if path is not None:
        # SQLite's write lock: BEGIN IMMEDIATE without a busy timeout.
        raw = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("ROLLBACK")
        finally:
            raw.close()
        return
    # PostgreSQL, MySQL/MariaDB: the row lock, taken with NOWAIT from another connection.
    engine = create_sql_engine(target)
    try:
        with engine.connect() as conn, conn.begin():
            row = and_(sessions.c.agent_id == sync.agent_id, sessions.c.session_key == locked_key)
            conn.execute(select(sessions.c.version).where(row).with_for_update(nowait=True))
    finally:
        engine.dispose()


async def assert_nothing_held(store: AsyncSessionStore, target: str, locked_key: str) -> None:
    sync = await store.sync_store()
    await asyncio.to_thread(nothing_held, sync, target, locked_key)


async def assert_entry(store: AsyncSessionStore, key_: str, expected: SessionEntry) -> None:
    """The entry and its listed summary (the projected columns) are ``expected``."""
    assert await store.get(key_) == expected
    page = await store.list(limit=1000)
    (summary,) = [item for item in page.items if item.key == key_]
    assert (summary.session_id, summary.label) == (expected.session_id, expected.label)


class RunQueueClock:
    """The time the calling thread has waited for a CPU, runnable but not running
    (Linux's ``schedstat``; always 0 elsewhere): on a shared machine the kernel's
    delays, which the store does not cause, are told apart from the loop's own."""

    def __init__(self) -> None:
        try:
            self._fd: int | None = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        except OSError:
            self._fd = None

    def seconds(self) -> float:
        if self._fd is None:
            return 0.0
        return int(os.pread(self._fd, 128, 0).split()[1]) / 1e9

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)


async def heartbeat(
    stop: asyncio.Event | None = None, ticks: int | None = None
) -> list[tuple[float, float]]:
    """Sleeps 1 ms at a time until ``stop`` is set or ``ticks`` wake-ups, and returns
    how late each wake-up was and how much of that the loop's thread spent waiting for
    a CPU, in seconds."""
    loop = asyncio.get_running_loop()
    queue = RunQueueClock()
    beats: list[tuple[float, float]] = []
    try:
        while not (stop is not None and stop.is_set()) and (ticks is None or len(beats) < ticks):
            before, queued = loop.time(), queue.seconds()
            await asyncio.sleep(0.001)
            beats.append((loop.time() - before - 0.001, queue.seconds() - queued))
    finally:
        queue.close()
    return beats


def worst_stall(beats: list[tuple[float, float]]) -> float:
    """The latest wake-up, less the time its thread waited for a CPU meanwhile."""
    return max(late - queued for late, queued in beats)


def count_up(current: SessionEntry | None) -> SessionEntry:
    """:func:`increment` as a coroutine function would be, but plain (update takes both)."""
    return increment(current)


async def count_up_async(current: SessionEntry | None) -> SessionEntry:
    await asyncio.sleep(0)  # a real suspension inside the row's lock
    return increment(current)


async def one_task(store: AsyncSessionStore, n: int) -> None:
    """Task ``n`` of the mixed workload: one more on the hot key's counter, then a
    patch, a put or a get of a key of its own."""
    updater: Callable[[SessionEntry | None], Any] = count_up if n % 2 else count_up_async
    await store.update(HOT, updater)
    match n % 3:
        case 0:
            await store.patch(key(n), {"sessionId": f"s{n}", "label": f"patched {n}"}, now_ms=T0)
        case 1:
            await store.put(key(n), entry(f"s{n}", label=f"put {n}"))
        case _:
            found = await store.get(key(n - 1))  # written by task n - 1, maybe not yet
            assert found in (None, entry(f"s{n - 1}", label=f"put {n - 1}"))


async def run_workload(store: AsyncSessionStore, tasks: int) -> list[Any]:
    """Tasks ``0 .. tasks - 1`` of :func:`one_task`, all under way together, and what
    each returned or raised. They are started :data:`WAVE` per turn of the loop, so
    that no single turn runs the first step of them all."""
    running = []
    for n in range(tasks):
        running.append(asyncio.create_task(one_task(store, n)))
        if n % WAVE == WAVE - 1:
            await asyncio.sleep(0)  # one turn of the loop
    return await asyncio.gather(*running, return_exceptions=True)


async def assert_workload_done(store: AsyncSessionStore, tasks: int) -> None:
    """The state exactly as ``tasks`` tasks of :func:`one_task` leave it."""
    hot = await store.get(HOT)
    assert hot is not None
    assert hot.total_tokens == tasks  # no update lost
    written = {key(n): n for n in range(tasks) if n % 3 != 2}
    assert await store.count() == 1 + len(written)
    async for found_key, found in store.iter_entries():
        if found_key == HOT:
            continue
        n = written.pop(found_key)
        assert found.label == (f"patched {n}" if n % 3 == 0 else f"put {n}")
    assert written == {}


# -- cancellation ------------------------------------------------------------------------


def test_cancelled_update_writes_nothing_and_lets_go_of_the_row(target: str) -> None:
    async def main() -> None:
        async with open_async_store(target) as store:
            old = entry(label="old")
            await store.put(KEY, old)
            # Rounds: a cancellation that meets the thread of a ThreadRunner before it
            # has registered what it awaits is one ordering among others.
            for _ in range(CANCEL_ROUNDS):
                locked = asyncio.Event()
                task = asyncio.create_task(store.update(KEY, stalling(locked)))
                await locked.wait()
                await cancel_and_wait(task)
                assert await store.get(KEY) == old

            await assert_entry(store, KEY, old)
            await assert_nothing_held(store, target, KEY)
            after = await store.patch(KEY, {"label": "after"}, now_ms=T0 + 1)
            assert after.label == "after"
            await assert_entry(store, KEY, after)

    run(main())


def test_cancelled_put_many_from_an_async_generator_writes_nothing(target: str) -> None:
    async def main() -> None:
        async with open_async_store(target) as store:
            old = entry(label="old")
            await store.put(KEY, old)
            streamed = asyncio.Event()

            async def items() -> AsyncIterator[tuple[str, SessionEntry]]:
                yield KEY, entry(label="new")
                for n in range(600):  # more than one batch of 500: a batch has been sent
                    yield key(n), entry(f"s{n}")
                streamed.set()
                await forever()

            task = asyncio.create_task(store.put_many(items(), batch_size=500))
            await streamed.wait()
            await cancel_and_wait(task)

            assert await store.count() == 1  # none of the 601
            await assert_entry(store, KEY, old)
            await assert_nothing_held(store, target, KEY)
            assert await store.put_many([(key(1), entry("s1"))]) == 1
            assert await store.count() == 2

    run(main())


def signal_at_write(
    sync: SessionStore, notify: Callable[[], object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Calls ``notify`` (once) as the store is about to write the entry: on the SQL
    backends from the trace hook, as the upsert into ``sessions`` is sent; the JSON twin
    has no statements, so from its write of the file."""
    if isinstance(sync, SqlStore | SqliteStore):
        sent = False

        def traced(sql: str, _params: Any) -> None:
            nonlocal sent
            if not sent and sql.lstrip().upper().startswith("INSERT INTO SESSIONS"):
                sent = True
                notify()

        sync.trace(traced)
        return
    assert isinstance(sync, JsonFileStore)
    write = sync._write

    def writing(*args: Any, **kwargs: Any) -> None:
        notify()
        write(*args, **kwargs)

    monkeypatch.setattr(sync, "_write", writing)


def test_put_cancelled_as_it_writes_leaves_the_old_or_the_new_entry(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> bool:
        async with open_async_store(target) as store:
            old, new = entry(label="old"), entry("s-2", label="new")
            await store.put(KEY, old)
            sync = await store.sync_store()
            loop = asyncio.get_running_loop()
            tasks: list[asyncio.Task[int]] = []
            # Called in the greenlet on the loop, or on a worker thread: the cancellation
            # is delivered at the task's next suspension, while the statement runs.
            signal_at_write(sync, lambda: loop.call_soon_threadsafe(tasks[0].cancel), monkeypatch)
            tasks.append(asyncio.create_task(store.put(KEY, new)))
            try:
                await tasks[0]
                cancelled = False
            except asyncio.CancelledError:
                cancelled = True
            if isinstance(sync, SqlStore | SqliteStore):
                sync.trace(None)
            else:
                monkeypatch.undo()

            found = await store.get(KEY)
            assert found is not None
            assert found in (old, new)
            if not cancelled:
                assert found == new
            print(f"cancelled: {cancelled}, stored: the {found.label} entry")
            await assert_entry(store, KEY, found)  # the columns agree with entry_json
            await assert_nothing_held(store, target, KEY)
            assert await store.put(KEY, entry(label="later")) > 0
            assert (await store.get(KEY)) == entry(label="later")
            return cancelled

    assert run(main())


# -- many tasks --------------------------------------------------------------------------


def test_a_thousand_tasks_on_one_store(target: str, record_property: Any) -> None:
    """More tasks than connections (15 on a server) or threads (4): none deadlocks or
    meets a busy database, and no update of the hot key is lost."""
    tasks = 1000

    async def main() -> float:
        async with open_async_store(target) as store:
            loop = asyncio.get_running_loop()
            start = loop.time()
            results = await run_workload(store, tasks)
            took = loop.time() - start
            failed = [r for r in results if isinstance(r, BaseException)]
            assert failed == [], failed[:3]
            await assert_workload_done(store, tasks)
            await assert_nothing_held(store, target, HOT)
            return took

    took = run(main())
    record_property("seconds_for_1000_tasks", round(took, 3))
    print(f"1000 tasks (2000 operations): {took:.2f} s")


# -- compare-and-set between tasks -------------------------------------------------------

RACERS = 20


@pytest.mark.parametrize("exists", [True, False], ids=["existing", "absent"])
@pytest.mark.parametrize("how", ["put", "put_many"])
def test_compare_and_set_race_between_tasks_has_one_winner(
    target: str, how: str, exists: bool
) -> None:
    async def main() -> None:
        async with open_async_store(target) as store:
            if exists:
                await store.put(KEY, entry(label="start"))
            reads = await asyncio.gather(*(store.get_with_version(KEY) for _ in range(RACERS)))
            (version,) = {v for _, v in reads}
            assert (version == 0) is not exists

            async def attempt(n: int) -> Any:
                mine = entry(label=f"writer {n}")
                if how == "put":
                    return await store.put(KEY, mine, expected_version=version)
                # with a key of the writer's own: a loser writes nothing of it
                return await store.put_many(
                    [(KEY, mine), (key(n), entry(f"s{n}"))], expected_versions={KEY: version}
                )

            results = await asyncio.gather(
                *(attempt(n) for n in range(RACERS)), return_exceptions=True
            )
            winners = [n for n, result in enumerate(results) if not isinstance(result, Exception)]
            assert len(winners) == 1, results
            (winner,) = winners
            losers = [r for n, r in enumerate(results) if n != winner]
            assert all(isinstance(r, StaleEntryError) for r in losers), losers
            assert all(r.current_version not in (0, version) for r in losers)  # type: ignore[union-attr]
            assert await store.get(KEY) == entry(label=f"writer {winner}")
            expected_count = 1 if how == "put" else 2
            assert await store.count() == expected_count

    run(main())


# -- the event loop ----------------------------------------------------------------------


@pytest.mark.parametrize("backend", backend_params(["sqlite", "postgresql"]), indirect=True)
def test_the_event_loop_keeps_its_heartbeat_beside_a_thousand_operations(
    target: str, backend: str, record_property: Any
) -> None:
    """A 1 ms heartbeat beside 1,000 tasks is at most :data:`LOOP_STALL_BUDGET_S` later
    than the same heartbeat alone, for as many ticks, on this (shared, noisy) machine:
    no call blocks the loop for its I/O. The time the loop's thread waited for a CPU
    (other processes running) is not the store's and is not counted.

    The objects there are before the run are frozen out of the garbage collector: a
    full collection of this test process's heap (SQLAlchemy, pydantic, pytest), which
    the workload's allocations trigger, stops every thread for 60-100 ms, whatever the
    store does."""
    tasks = 1000

    async def main() -> tuple[float, float, float, int]:
        async with open_async_store(target) as store:
            await store.put(HOT, entry())  # connected, the schema checked
            stop = asyncio.Event()
            beating = asyncio.create_task(heartbeat(stop))
            await asyncio.sleep(0)  # the heartbeat's first tick is under way
            results = await run_workload(store, tasks)
            stop.set()
            loaded = await beating
            assert [r for r in results if isinstance(r, BaseException)] == []
        control = await heartbeat(ticks=len(loaded))  # the machine's own noise, alone
        raw = max(late for late, _ in loaded)
        return worst_stall(loaded), worst_stall(control), raw, len(loaded)

    gc.collect()
    gc.freeze()
    try:
        worst, control_worst, raw, ticks = run(main())
    finally:
        gc.unfreeze()
    record_property("heartbeat_worst_ms", round(worst * 1000, 1))
    record_property("heartbeat_control_worst_ms", round(control_worst * 1000, 1))
    record_property("heartbeat_worst_with_cpu_waits_ms", round(raw * 1000, 1))
    print(
        f"{backend}: heartbeat worst {worst * 1000:.1f} ms beside {tasks} tasks "
        f"({raw * 1000:.1f} ms with the waits for a CPU), {control_worst * 1000:.1f} ms "
        f"alone ({ticks} ticks)"
    )
    assert worst <= LOOP_STALL_BUDGET_S + control_worst


# -- the store's lifecycle and its errors ------------------------------------------------


def test_async_with_opens_and_closes(target: str) -> None:
    async def main() -> None:
        async with open_async_store(target) as store:
            await store.put(KEY, entry())
            sync = await store.sync_store()
        for call in (store.get(KEY), store.count(), store.sync_store()):
            with pytest.raises(SessionStoreError, match="closed"):
                await call
        await store.close()  # again: nothing
        if isinstance(sync, SqlStore):
            pool = sync.engine.pool
            assert isinstance(pool, QueuePool), type(pool)
            assert pool.checkedin() == 0  # disposed
        reopened = open_async_store(target)
        try:
            assert await reopened.get(KEY) == entry()
        finally:
            await reopened.close()
        with pytest.raises(SessionStoreError, match="closed"):
            await reopened.put(KEY, entry())

    run(main())


def test_a_store_opened_without_async_with_connects_on_first_call(target: str) -> None:
    with open_store(target) as writer:
        writer.put(KEY, entry(label="from the sync API"))

    async def main() -> None:
        store = open_async_store(target)
        try:
            assert await store.get(KEY) == entry(label="from the sync API")
            assert await store.count() == 1
        finally:
            await store.close()

    run(main())


def test_errors_are_the_sync_apis(target: str) -> None:
    async def main() -> None:
        async with open_async_store(target) as store:
            version = await store.put(KEY, entry())
            with open_store(target) as sync:
                for bad_key in ("", "a\x00b"):
                    with pytest.raises(InvalidEntryError):
                        sync.get(bad_key)
                    with pytest.raises(InvalidEntryError):
                        await store.get(bad_key)
                    with pytest.raises(InvalidEntryError):
                        await store.put(bad_key, entry())
                with pytest.raises(InvalidArgumentError):
                    sync.list(limit=0)
                with pytest.raises(InvalidArgumentError):
                    await store.list(limit=0)
                with pytest.raises(InvalidArgumentError):
                    async for _ in store.iter_entries(batch_size=0):
                        pass
            with pytest.raises(StaleEntryError) as stale:
                await store.put(KEY, entry(label="late"), expected_version=version + 99)
            assert (stale.value.expected_version, stale.value.current_version) == (
                version + 99,
                version,
            )
            with pytest.raises(StaleEntryError):
                await store.put_many([(KEY, entry())], expected_versions={KEY: 0})
            assert await store.get(KEY) == entry()

    run(main())


@pytest.mark.parametrize("backend", backend_params(SQL_BACKENDS), indirect=True)
def test_an_empty_database_is_refused_without_auto_upgrade(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = str(request.getfixturevalue(BACKENDS[backend].url_fixture))

    async def main() -> None:
        store = open_async_store(url)  # lazy: nothing is refused before the first call
        with pytest.raises(SchemaOutdatedError):
            await store.get(KEY)
        await store.close()
        with pytest.raises(SchemaOutdatedError):
            async with open_async_store(url):
                raise AssertionError("opened")
        async with open_async_store(url, auto_upgrade=True) as upgraded:
            await upgraded.put(KEY, entry())
            assert await upgraded.count() == 1

    run(main())


def test_iter_entries_yields_every_entry_in_key_order_across_batches(target: str) -> None:
    async def main() -> None:
        async with open_async_store(target) as store:
            written = {key(n): entry(f"s{n}", label=f"n{n}") for n in range(250)}
            # out of key order, so the order seen is the store's
            await store.put_many(sorted(written.items(), reverse=True))
            for batch_size in (50, 64, 250, 500):  # exact multiples and a short last batch
                seen = [pair async for pair in store.iter_entries(batch_size=batch_size)]
                assert [k for k, _ in seen] == sorted(written), batch_size
                assert dict(seen) == written
            versioned = [row async for row in store.iter_entries_with_versions(batch_size=64)]
            assert [k for k, _, _ in versioned] == sorted(written)
            for found_key, _, version in versioned:
                assert version == await store.version(found_key)

    run(main())

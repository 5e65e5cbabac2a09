"""The async API (``open_async_store``) measured, each figure beside its baseline in the
same run:

- **PostgreSQL patch**, 64 concurrent tasks on 64 distinct keys and then on one hot
  key: the async store beside bare psycopg (``psycopg.AsyncConnection``, as many
  connections as the store's pool, sending the store's two statements in one
  transaction) and beside the sync store driven from a pool of 64 threads;
- **beside Google ADK**'s async ``DatabaseSessionService``, 64 sessions with a task
  each, on SQLite and PostgreSQL: ``get_session`` against ``get``, ``append_event`` of
  an event with a ``state_delta`` against ``patch``;
- **SQLite**: async ``get`` against sync ``get`` on the same file and keys, one task in
  sequence and 64 concurrent tasks;
- **driver choices**: on SQLite the store's worker threads (``sqlite:///``) against
  aiosqlite (``sqlite+aiosqlite:///``); on MySQL/MariaDB asyncmy against aiomysql;
- **event-loop health**: the lateness of a 1 ms heartbeat beside bursts of 1,000
  concurrent operations (gets and patches), on SQLite and PostgreSQL.

``make bench`` runs it after the suite. Usage::

    python benchmarks/async_api.py [--quick] [--parts postgresql,adk,sqlite,drivers,loop]
        [--out benchmarks/async_api.json] [--markdown docs/benchmarks.md]
        [--from-json benchmarks/async_api.json]

``--markdown`` puts the results in that page's ``## Async API`` section, leaving the
rest of the page as it is; ``--from-json`` writes a saved run's results again, without
running anything. A server that cannot be reached is reported as not run.
The exit status is 0 whether the goals are met or not: this is a measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import functools
import gc
import importlib
import importlib.util
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import create_engine, make_url, text

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.suite import (  # noqa: E402
    POSTGRES_URL,
    Target,
    UnavailableError,
    Workload,
    _ms,
    _ratio,
    _reason,
    available_backends,
    console,
    fresh_target,
    machine,
    markdown_table,
    show,
)
from benchmarks.transcripts import replace_section  # noqa: E402
from sessionstore import open_async_store, open_store, upgrade  # noqa: E402
from sessionstore.open import THREAD_WORKERS  # noqa: E402
from sessionstore.projection import INDEX_COLUMNS, project  # noqa: E402
from sessionstore.sql.blobs import BLOB_COLUMNS  # noqa: E402
from sessionstore.testing.transcripts import ASSISTANT_TEXTS, USER_TEXTS  # noqa: E402

MYSQL_URL = os.environ.get(
    "SESSIONSTORE_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)
HEADING = "## Async API"
PARTS = ("postgresql", "adk", "sqlite", "drivers", "loop")
TASKS = 64
#: entries in every store (the suite's 2 KB entries without the large blobs)
ENTRIES = 1_000
#: connections of the store's pool (the async store's default, 15 kept, no overflow),
#: of the sync store beside it and of bare psycopg
POOL = 15
ADK_EVENTS = 6
HEARTBEAT_S = 0.001
Rows = list[list[str]]
Op = Callable[[int, int], Awaitable[object]]


@dataclass
class Settings:
    rounds: int
    sequential: int  # operations per side and round, one task
    per_task: int  # operations per task and round, 64 tasks
    adk_per_task: int
    bursts: int
    burst: int


FULL = Settings(rounds=3, sequential=500, per_task=16, adk_per_task=4, bursts=5, burst=1_000)
QUICK = Settings(rounds=2, sequential=100, per_task=3, adk_per_task=2, bursts=1, burst=300)


# -- timing ------------------------------------------------------------------------------


@dataclass
class Figure:
    """Operations run by ``tasks`` tasks: throughput (median of the rounds) and the
    latency of every operation."""

    tasks: int
    ops: int
    per_s: float
    p50_ms: float
    p95_ms: float

    @classmethod
    def of(cls, tasks: int, rates: list[float], seconds: list[float]) -> Figure:
        ordered = sorted(seconds)
        p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
        median = statistics.median(ordered)
        return cls(tasks, len(ordered), statistics.median(rates), median * 1000, p95 * 1000)


async def run_tasks(op: Op, tasks: int, per_task: int) -> tuple[float, list[float]]:
    """``op(task, i)`` ``per_task`` times in each of ``tasks`` tasks at once, after one
    untimed warm-up call per task; returns the operations per second and every latency."""
    await asyncio.gather(*(op(t, -1) for t in range(tasks)))
    latencies: list[float] = []

    async def worker(t: int) -> None:
        for i in range(per_task):
            t0 = time.perf_counter()
            await op(t, i)
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(t) for t in range(tasks)))
    return tasks * per_task / (time.perf_counter() - t0), latencies


async def compare(
    sides: dict[str, Op], tasks: int, per_task: int, rounds: int
) -> dict[str, Figure]:
    """The sides in turn, ``rounds`` times, each round in another order, so that a change
    of load meanwhile affects them alike."""
    names = list(sides)
    rates: dict[str, list[float]] = {n: [] for n in names}
    seconds: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            rate, latencies = await run_tasks(sides[name], tasks, per_task)
            rates[name].append(rate)
            seconds[name] += latencies
    return {n: Figure.of(tasks, rates[n], seconds[n]) for n in names}


# -- stores and servers ------------------------------------------------------------------


def seeded(url: str, w: Workload) -> list[str]:
    """:data:`ENTRIES` entries put into the store at ``url``; their keys."""
    keys = [w.key(i) for i in range(ENTRIES)]
    with open_store(url) as store:
        store.put_many((k, w.entry(i, light=True)) for i, k in enumerate(keys))
    return keys


def check_server(url: str) -> str:
    """The server's version; :class:`UnavailableError` when it cannot be reached."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT version()")).scalar_one()).split()[0]
    except Exception as exc:
        raise _reason(exc) from exc
    finally:
        engine.dispose()


@contextmanager
def pg_schema(upgraded: bool = True) -> Any:
    """A new PostgreSQL schema (with the library's tables when ``upgraded``), dropped
    afterwards; its URL."""
    if upgraded:
        with fresh_target("postgresql", Path()) as url:
            yield url
        return
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        try:
            yield (
                make_url(POSTGRES_URL)
                .update_query_dict({"options": f"-csearch_path={name}"})
                .render_as_string(hide_password=False)
            )
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    finally:
        admin.dispose()


@contextmanager
def mysql_database() -> Any:
    """A new MySQL/MariaDB database with the library's tables, dropped afterwards."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(MYSQL_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        try:
            url = make_url(MYSQL_URL).set(database=name).render_as_string(hide_password=False)
            upgrade(url)
            yield url
        finally:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
    finally:
        admin.dispose()


def with_driver(url: str, driver: str) -> str:
    parsed = make_url(url)
    name = f"{parsed.get_backend_name()}+{driver}"
    return parsed.set(drivername=name).render_as_string(hide_password=False)


@asynccontextmanager
async def async_store(url: str) -> AsyncIterator[Any]:
    async with open_async_store(url) as store:
        yield store


def patcher(store: Any, keys: list[str], hot: bool = False) -> Op:
    """``patch`` of a label: task ``t`` on key ``t``, or every task on the first key."""

    async def op(t: int, i: int) -> object:
        return await store.patch(keys[0 if hot else t], {"label": f"task {t}, {i}"})

    return op


def getter(store: Any, keys: list[str]) -> Op:
    async def op(t: int, i: int) -> object:
        return await store.get(keys[(t + TASKS * i) % len(keys)])

    return op


# -- 1. PostgreSQL: patch beside bare psycopg and a thread pool ----------------------------


class BarePatch:
    """``patch`` with bare psycopg async: :data:`POOL` connections, taken in turn as the
    store's runner takes its turns (an ``asyncio.Semaphore``, first come first served:
    an ``asyncio.Queue`` would let a task that just gave a connection back take it again
    before the task it woke up, which flatters the median). Each patch is one transaction
    of the store's two statements, ``SELECT ... FOR UPDATE`` of the row and ``UPDATE`` of
    ``entry_json`` and the index columns (``sessionstore.projection.project``), with
    orjson."""

    LOCK = (
        "SELECT version, entry_json, prompt_blob, report_blob FROM sessions "
        "WHERE agent_id = %s AND session_key = %s FOR UPDATE"
    )
    UPDATE = (
        "UPDATE sessions SET "
        + ", ".join(f"{c} = %s" for c in (*INDEX_COLUMNS, *BLOB_COLUMNS))
        + ", entry_json = %s::jsonb, version = version + 1 "
        "WHERE agent_id = %s AND session_key = %s"
    )

    def __init__(self, url: str) -> None:
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.turns = asyncio.Semaphore(POOL)
        self.idle: list[Any] = []

    async def open(self) -> None:
        psycopg = importlib.import_module("psycopg")
        json_types = importlib.import_module("psycopg.types.json")
        for _ in range(POOL):
            conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
            json_types.set_json_loads(orjson.loads, conn)
            self.idle.append(conn)

    async def close(self) -> None:
        while self.idle:
            await self.idle.pop().close()

    async def patch(self, key: str, changes: dict[str, Any]) -> dict[str, Any]:
        async with self.turns:
            conn = self.idle.pop()
            try:
                return await self._patch(conn, key, changes)
            finally:
                self.idle.append(conn)

    async def _patch(self, conn: Any, key: str, changes: dict[str, Any]) -> dict[str, Any]:
        async with conn.transaction():
            cursor = await conn.execute(self.LOCK, ("main", key))
            _version, stored, *_blobs = await cursor.fetchone()
            now = int(time.time() * 1000)
            entry = {**stored, **changes, "updatedAt": max(stored["updatedAt"], now)}
            columns = project(entry)
            values = [columns[c] for c in INDEX_COLUMNS] + [None] * len(BLOB_COLUMNS)
            await conn.execute(self.UPDATE, (*values, orjson.dumps(entry).decode(), "main", key))
            return entry

    def op(self, keys: list[str], hot: bool = False) -> Op:
        async def op(t: int, i: int) -> object:
            return await self.patch(keys[0 if hot else t], {"label": f"task {t}, {i}"})

        return op


def threaded(
    pool: concurrent.futures.ThreadPoolExecutor, store: Any, keys: list[str], hot: bool = False
) -> Op:
    """The sync store's ``patch`` on a thread of ``pool``, through ``run_in_executor``."""

    async def op(t: int, i: int) -> object:
        call = functools.partial(store.patch, keys[0 if hot else t], {"label": f"task {t}, {i}"})
        return await asyncio.get_running_loop().run_in_executor(pool, call)

    return op


STORE, BARE, THREADS = "async store", "bare psycopg async", "sync store, 64 threads"
NO_PING = "async store, pool_pre_ping=False"


async def bench_postgresql(s: Settings, w: Workload, results: Results) -> None:
    with pg_schema() as url:
        keys = seeded(url, w)
        bare = BarePatch(url)
        await bare.open()
        pool = concurrent.futures.ThreadPoolExecutor(TASKS)
        try:
            same_pool = {"pool_size": POOL, "max_overflow": 0}
            with open_store(url, engine_options=same_pool) as sync:
                async with (
                    async_store(url) as store,
                    open_async_store(url, engine_options={"pool_pre_ping": False}) as unpinged,
                ):
                    for hot in (False, True):
                        figures = await compare(
                            {
                                STORE: patcher(store, keys, hot),
                                BARE: bare.op(keys, hot),
                                THREADS: threaded(pool, sync, keys, hot),
                                NO_PING: patcher(unpinged, keys, hot),
                            },
                            TASKS,
                            s.per_task,
                            s.rounds,
                        )
                        scenario = "one hot key" if hot else "64 distinct keys"
                        results.postgresql[scenario] = figures
                        _print(f"PostgreSQL patch, {scenario}", figures)
        finally:
            pool.shutdown()
            await bare.close()


# -- 2. beside Google ADK ------------------------------------------------------------------


def adk_seed(w: Workload, i: int) -> tuple[dict[str, Any], list[Any]]:
    """Session ``i`` for ADK: its state is entry ``i``'s metadata (about 2 KB of JSON),
    and :data:`ADK_EVENTS` events, user and model turns of the synthetic texts."""
    event_class = importlib.import_module("google.adk.events").Event
    types = importlib.import_module("google.genai.types")
    rng = random.Random(i)
    events = []
    for n in range(ADK_EVENTS):
        role, author = ("user", "user") if n % 2 == 0 else ("model", "agent")
        texts = USER_TEXTS if role == "user" else ASSISTANT_TEXTS
        content = types.Content(role=role, parts=[types.Part(text=rng.choice(texts))])
        events.append(event_class(invocation_id=f"inv{n // 2}", author=author, content=content))
    return w.entry(i, light=True).to_dict(), events


class Adk:
    """64 ADK sessions and the two operations timed on them."""

    def __init__(self, url: str) -> None:
        sessions = importlib.import_module("google.adk.sessions")
        self.service = sessions.DatabaseSessionService(url)
        self.event_class = importlib.import_module("google.adk.events").Event
        self.actions_class = importlib.import_module("google.adk.events").EventActions
        self.sessions: list[Any] = []

    async def seed(self, w: Workload) -> None:
        async def one(i: int) -> Any:
            state, events = adk_seed(w, i)
            session = await self.service.create_session(
                app_name="bench", user_id=f"u{i}", session_id=f"s{i}", state=state
            )
            for event in events:
                await self.service.append_event(session, event)
            return session

        self.sessions = list(await asyncio.gather(*(one(i) for i in range(TASKS))))

    def get(self) -> Op:
        async def op(t: int, i: int) -> object:
            found = await self.service.get_session(
                app_name="bench", user_id=f"u{t}", session_id=f"s{t}"
            )
            assert found is not None and len(found.events) == ADK_EVENTS
            return found

        return op

    def append(self) -> Op:
        async def op(t: int, i: int) -> object:
            event = self.event_class(
                invocation_id=f"patch{i}",
                author="agent",
                actions=self.actions_class(state_delta={"label": f"task {t}, {i}"}),
            )
            return await self.service.append_event(self.sessions[t], event)

        return op


async def bench_adk(
    s: Settings, w: Workload, results: Results, backends: list[str], scratch: Path
) -> None:
    for backend in backends:
        if backend == "sqlite":
            with fresh_target("sqlite", scratch) as url:
                keys = seeded(url, w)
                adk_url = f"sqlite+aiosqlite:///{Path(str(make_url(url).database)).parent}/adk.db"
                await _adk_beside(backend, adk_url, url, keys, s, w, results)
        else:
            with pg_schema() as url, pg_schema(upgraded=False) as adk_url:
                keys = seeded(url, w)
                await _adk_beside(backend, adk_url, url, keys, s, w, results)


async def _adk_beside(
    backend: str,
    adk_url: str,
    url: str,
    keys: list[str],
    s: Settings,
    w: Workload,
    results: Results,
) -> None:
    adk = Adk(adk_url)
    try:
        await adk.seed(w)
        async with async_store(url) as store:
            ours = keys[:TASKS]  # the entries of ADK's sessions' states
            gets = await compare(
                {"ADK": adk.get(), "sessionstore": getter(store, ours)},
                TASKS,
                s.adk_per_task,
                s.rounds,
            )
            writes = await compare(
                {"ADK": adk.append(), "sessionstore": patcher(store, ours)},
                TASKS,
                s.adk_per_task,
                s.rounds,
            )
    finally:
        await adk.service.close()
    results.adk[backend] = {"get": gets, "write": writes}
    _print(f"{backend}: ADK get_session, sessionstore get", gets)
    _print(f"{backend}: ADK append_event (state_delta), sessionstore patch", writes)


# -- 3. and 4a. SQLite: async against sync, threads against aiosqlite ----------------------


def hop(
    pool: concurrent.futures.ThreadPoolExecutor, fn: Callable[[str], object] | None, keys: list[str]
) -> Op:
    """``fn(key)`` (``None``: nothing) on a thread of ``pool`` through
    ``loop.run_in_executor``: the least a call handed to a thread costs."""

    async def op(t: int, i: int) -> object:
        key = keys[(t + TASKS * i) % len(keys)]
        call = functools.partial(fn, key) if fn else int
        return await asyncio.get_running_loop().run_in_executor(pool, call)

    return op


def sync_getter(store: Any, keys: list[str]) -> Op:
    """The sync store's ``get``, called directly (in a coroutine only to be timed alike)."""

    async def op(t: int, i: int) -> object:
        return store.get(keys[(t + TASKS * i) % len(keys)])

    return op


SYNC_GET, ASYNC_GET = "sync get", "async get"
HOP_GET = "sync get through loop.run_in_executor (4 threads)"
HOP = "a call of nothing through loop.run_in_executor (the thread hop alone)"


async def bench_sqlite(
    s: Settings, w: Workload, results: Results, scratch: Path, parts: list[str]
) -> None:
    with fresh_target("sqlite", scratch) as url:
        keys = seeded(url, w)
        path = make_url(url).database
        async with async_store(url) as store, async_store(f"sqlite+aiosqlite:///{path}") as aio:
            if "sqlite" in parts:
                with (
                    open_store(url) as sync,
                    concurrent.futures.ThreadPoolExecutor(THREAD_WORKERS) as pool,
                ):
                    sides = {
                        SYNC_GET: sync_getter(sync, keys),
                        ASYNC_GET: getter(store, keys),
                        HOP_GET: hop(pool, sync.get, keys),
                        HOP: hop(pool, None, keys),
                    }
                    seq = await compare(sides, 1, s.sequential, s.rounds)
                conc = await compare({ASYNC_GET: getter(store, keys)}, TASKS, s.per_task, s.rounds)
                results.sqlite = {"sequential": seq, "concurrent": conc}
                _print("SQLite get, one task", seq)
                _print("SQLite get, 64 tasks", conc)
            if "drivers" in parts:
                for op, make in (("get", getter), ("patch", patcher)):
                    for tasks, per_task in ((1, s.sequential), (TASKS, s.per_task)):
                        figures = await compare(
                            {"worker threads": make(store, keys), "aiosqlite": make(aio, keys)},
                            tasks,
                            per_task,
                            s.rounds,
                        )
                        results.drivers.append(Drivers("sqlite", op, tasks, figures))
                        _print(f"SQLite {op}, {tasks} task(s)", figures)


# -- 4b. MySQL/MariaDB: asyncmy against aiomysql -------------------------------------------


def mend_aiomysql(results: Results) -> None:
    """aiomysql escapes bytes parameters with a function of PyMySQL that PyMySQL 1.1.2
    replaced by a placeholder string (PyMySQL issue 1274): for this run, what PyMySQL
    itself now does (``X'<hex>'``)."""
    connection = importlib.import_module("aiomysql.connection")
    if isinstance(getattr(connection, "escape_bytes_prefixed", None), str):
        setattr(connection, "escape_bytes_prefixed", lambda value: f"X'{value.hex()}'")  # noqa: B010
        results.notes.append(
            f"aiomysql {version('aiomysql')} cannot send bytes parameters with PyMySQL "
            f"{version('pymysql')} (it imports `escape_bytes_prefixed`, which PyMySQL 1.1.2 "
            "replaced by a placeholder string, PyMySQL issue 1274): every write of the store "
            "fails with `TypeError: 'str' object is not callable`. This run gives aiomysql "
            "PyMySQL's own escaping (`X'<hex>'`) so that it can be measured."
        )


async def bench_mysql(s: Settings, w: Workload, results: Results) -> None:
    mend_aiomysql(results)
    with mysql_database() as url:
        keys = seeded(url, w)
        async with (
            async_store(with_driver(url, "asyncmy")) as asyncmy,
            async_store(with_driver(url, "aiomysql")) as aiomysql,
        ):
            for op, make in (("get", getter), ("patch", patcher)):
                for tasks, per_task in ((1, s.sequential), (TASKS, s.per_task)):
                    figures = await compare(
                        {"asyncmy": make(asyncmy, keys), "aiomysql": make(aiomysql, keys)},
                        tasks,
                        per_task,
                        s.rounds,
                    )
                    results.drivers.append(Drivers("mysql", op, tasks, figures))
                    _print(f"MySQL/MariaDB {op}, {tasks} task(s)", figures)


# -- 5. event-loop health ------------------------------------------------------------------


@dataclass
class Health:
    backend: str
    ops: int
    ops_per_s: float
    beats: int
    worst_ms: float
    p99_ms: float
    idle_worst_ms: float
    idle_p99_ms: float
    #: the longest pass of Python's cyclic garbage collector during the bursts
    gc_worst_ms: float
    #: whether the objects made before were frozen out of its passes (``gc.freeze()``)
    frozen: bool = False


@contextmanager
def gc_passes() -> Iterator[list[float]]:
    """The duration of every pass of the cyclic garbage collector meanwhile."""
    passes: list[float] = []
    started = [0.0]

    def timed(phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            passes.append(time.perf_counter() - started[0])

    gc.callbacks.append(timed)
    try:
        yield passes
    finally:
        gc.callbacks.remove(timed)


async def heartbeat(stop: asyncio.Event) -> list[float]:
    """How late each ``asyncio.sleep(0.001)`` woke up, until ``stop`` is set."""
    late = []
    while not stop.is_set():
        t0 = time.perf_counter()
        await asyncio.sleep(HEARTBEAT_S)
        late.append(time.perf_counter() - t0 - HEARTBEAT_S)
    return late


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.99 * len(ordered)) - 1)] * 1000


async def beside_bursts(
    store: Any, keys: list[str], backend: str, s: Settings, frozen: bool = False
) -> Health:
    """The heartbeat alone for a moment, then beside ``bursts`` of ``burst`` operations
    started at once: every other one a ``get``, the rest ``patch``, on random keys
    (``frozen``: after ``gc.freeze()``, as a server may do once it has started)."""
    stop = asyncio.Event()
    beat = asyncio.create_task(heartbeat(stop))
    await asyncio.sleep(0.5)
    stop.set()
    idle = await beat
    rng = random.Random(1)

    async def one(i: int) -> object:
        key = rng.choice(keys)
        return await (store.get(key) if i % 2 else store.patch(key, {"label": f"burst {i}"}))

    await asyncio.gather(*(one(i) for i in range(TASKS)))  # warm-up
    if frozen:
        gc.freeze()
    try:
        with gc_passes() as passes:
            stop = asyncio.Event()
            beat = asyncio.create_task(heartbeat(stop))
            t0 = time.perf_counter()
            for _ in range(s.bursts):
                await asyncio.gather(*(one(i) for i in range(s.burst)))
            busy = time.perf_counter() - t0
            stop.set()
            late = await beat
    finally:
        gc.unfreeze()
    ops = s.bursts * s.burst
    return Health(
        backend,
        ops,
        ops / busy,
        len(late),
        max(late) * 1000,
        _p99(late),
        max(idle) * 1000,
        _p99(idle),
        max(passes, default=0.0) * 1000,
        frozen,
    )


async def bench_loop(
    s: Settings, w: Workload, results: Results, backends: list[str], scratch: Path
) -> None:
    for backend in backends:
        with fresh_target(backend, scratch) as url:
            keys = seeded(url, w)
            async with async_store(url) as store:
                for frozen in (False, True):
                    health = await beside_bursts(store, keys, backend, s, frozen)
                    results.loop.append(health)
                    console.print(
                        f"  {backend}{', gc.freeze()' if frozen else ''}: {health.ops:,} "
                        f"operations in bursts of {s.burst:,} ({health.ops_per_s:,.0f}/s); "
                        f"heartbeat late by at worst {_ms(health.worst_ms)} ms, p99 "
                        f"{_ms(health.p99_ms)} ms ({health.beats:,} beats); longest gc pass "
                        f"{_ms(health.gc_worst_ms)} ms"
                    )


# -- results -----------------------------------------------------------------------------


@dataclass
class Drivers:
    backend: str
    op: str
    tasks: int
    figures: dict[str, Figure]


@dataclass
class Results:
    settings: dict[str, Any]
    postgresql: dict[str, dict[str, Figure]] = field(default_factory=dict)
    adk: dict[str, dict[str, dict[str, Figure]]] = field(default_factory=dict)
    sqlite: dict[str, dict[str, Figure]] = field(default_factory=dict)
    drivers: list[Drivers] = field(default_factory=list)
    loop: list[Health] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    wall_s: float = 0.0


def _print(title: str, figures: dict[str, Figure]) -> None:
    console.print(
        f"  {title}: "
        + "; ".join(
            f"{name} {f.per_s:,.0f}/s, p50 {_ms(f.p50_ms)} ms, p95 {_ms(f.p95_ms)} ms"
            for name, f in figures.items()
        )
    )


FIGURE = ["ops/s", "p50 ms", "p95 ms", "n"]


def _cells(f: Figure) -> list[str]:
    return [f"{f.per_s:,.0f}", _ms(f.p50_ms), _ms(f.p95_ms), f"{f.ops:,}"]


def tables(r: Results) -> list[tuple[str, list[str], Rows]]:
    out: list[tuple[str, list[str], Rows]] = []
    if r.postgresql:
        rows = [
            [scenario, name, *_cells(f), _ratio(f.per_s / figures[STORE].per_s)]
            for scenario, figures in r.postgresql.items()
            for name, f in figures.items()
        ]
        header = ["Keys", "Side", *FIGURE, "throughput over the store's"]
        out.append(("PostgreSQL: patch, 64 concurrent tasks", header, rows))
    if r.adk:
        rows = []
        for backend, ops in r.adk.items():
            for op, (theirs, ours) in (
                ("get", ("get_session()", "get")),
                ("write", ("append_event(state_delta)", "patch")),
            ):
                adk, us = ops[op]["ADK"], ops[op]["sessionstore"]
                rows.append([backend, f"ADK {theirs}", *_cells(adk), "1.00x", "1.00x"])
                rows.append(
                    [
                        backend,
                        f"sessionstore {ours}",
                        *_cells(us),
                        _ratio(us.per_s / adk.per_s),
                        _ratio(adk.p50_ms / us.p50_ms),
                    ]
                )
        header = ["Backend", "Operation", *FIGURE, "throughput over ADK's", "p50 speed-up"]
        out.append(("Beside Google ADK: 64 sessions, a task each", header, rows))
    if r.sqlite:
        sync_p50 = r.sqlite["sequential"][SYNC_GET].p50_ms
        rows = [
            [f"{'one task' if f.tasks == 1 else '64 tasks'}", name, *_cells(f),
             _ratio(f.p50_ms / sync_p50) if f.tasks == 1 else "-"]
            for figures in r.sqlite.values()
            for name, f in figures.items()
        ]  # fmt: skip
        header = ["Tasks", "Call", *FIGURE, "p50 over sync get's"]
        out.append(("SQLite: get, async and sync, same file and keys", header, rows))
    if r.drivers:
        rows = []
        for d in r.drivers:
            first = next(iter(d.figures.values()))
            for name, f in d.figures.items():
                rows.append(
                    [d.backend, d.op, str(d.tasks), name, *_cells(f), _ratio(f.per_s / first.per_s)]
                )
        header = ["Backend", "Operation", "Tasks", "Path", *FIGURE, "throughput over the first"]
        out.append(("Driver choices", header, rows))
    if r.loop:
        rows = [
            [h.backend, "gc.freeze() first" if h.frozen else "as started", f"{h.ops:,}",
             f"{h.ops_per_s:,.0f}", f"{h.beats:,}", _ms(h.worst_ms), _ms(h.p99_ms),
             _ms(h.gc_worst_ms), f"{_ms(h.idle_worst_ms)} / {_ms(h.idle_p99_ms)}"]
            for h in r.loop
        ]  # fmt: skip
        header = ["Backend", "Collector", "operations", "ops/s", "beats", "worst late ms",
                  "p99 late ms", "longest gc pass ms", "idle loop: worst / p99 ms"]  # fmt: skip
        out.append(("Event loop: a 1 ms heartbeat beside bursts of operations", header, rows))
    return out


def targets(r: Results) -> list[Target]:
    found: list[Target] = []
    for scenario, f in r.postgresql.items():
        ratio = f[BARE].per_s / f[STORE].per_s
        found.append(
            Target(
                f"PostgreSQL patch, {scenario}: bare psycopg's throughput over the async store's",
                "<= 1.5x",
                ratio,
                1.5,
                _ratio(ratio),
            )
        )
        ratio = f[STORE].per_s / f[THREADS].per_s
        found.append(
            Target(
                f"PostgreSQL patch, {scenario}: async throughput over the sync "
                "store's on 64 threads",
                ">= 1x",
                ratio,
                1,
                _ratio(ratio),
                False,
            )
        )
    for backend, ops in r.adk.items():
        for op, name in (("get", "get over get_session"), ("write", "patch over append_event")):
            ratio = ops[op]["sessionstore"].per_s / ops[op]["ADK"].per_s
            found.append(
                Target(
                    f"{backend}, 64 sessions: {name}, throughput",
                    ">= 20x",
                    ratio,
                    20,
                    f"{ratio:,.1f}x",
                    False,
                )
            )
    if seq := r.sqlite.get("sequential"):
        ratio = seq[ASYNC_GET].p50_ms / seq[SYNC_GET].p50_ms
        found.append(
            Target("SQLite get p50, async over sync (one task)", "<= 3x", ratio, 3, _ratio(ratio))
        )
    for h in (h for h in r.loop if not h.frozen):
        found.append(
            Target(
                f"{h.backend}: heartbeat lateness beside {h.ops:,} operations, worst",
                "<= 50 ms",
                h.worst_ms,
                50,
                f"{_ms(h.worst_ms)} ms",
            )
        )
        found.append(
            Target(
                f"{h.backend}: heartbeat lateness, p99",
                "<= 50 ms",
                h.p99_ms,
                50,
                f"{_ms(h.p99_ms)} ms",
            )
        )
    return found


TARGETS = ["Goal", "Measured", "Limit", "Result"]


def target_rows(found: list[Target]) -> Rows:
    return [[t.name, t.shown, t.goal, t.result] for t in found]


DESCRIPTION = """\
`open_async_store` measured beside its baselines in one run of
`benchmarks/async_api.py` (`make bench` runs it after the suite; `--markdown
docs/benchmarks.md` writes this section). The run took {wall:.0f} s.

- **Stores** hold {entries:,} of the suite's entries without `skillsSnapshot` and
  `systemPromptReport` (about 2 KB of JSON each), on SQLite files, a new PostgreSQL
  schema and a new MySQL/MariaDB database, dropped afterwards. The async store is
  opened with the defaults: on SQLite (`sqlite:///`) its {workers} worker threads, on
  the servers a pool of {pool} connections, opened on demand and kept (the sync store
  driven from 64 threads gets the same pool).
- **Concurrency**: {tasks} tasks at once, each running its operations one after another
  ({per_task} per round; ADK {adk_per_task}), after one untimed call each; one task
  runs {sequential} per round. The sides of a comparison take turns, {rounds} rounds,
  each in another order. *ops/s* is the median of the rounds' throughput; *p50* and
  *p95* are of every operation's latency.
- **patch** sets a label (`{{"label": ...}}`). On 64 distinct keys task *t* patches key
  *t*; on one hot key all patch the same row, which its lock serialises. **Bare
  psycopg** holds {pool} `psycopg.AsyncConnection`s, taken in turn through an
  `asyncio.Semaphore` as the store's runner takes its turns, and sends the store's
  statements for a patch, `SELECT version, entry_json, ... FOR UPDATE` and an `UPDATE`
  of `entry_json` and the index columns (`sessionstore.projection.project`), in one
  transaction, with orjson: no validation, no SQLAlchemy, no retries. **The sync store
  on 64 threads** is `open_store` on the same schema, `patch` called through
  `loop.run_in_executor` on a `ThreadPoolExecutor(64)`. The store's engines ping each
  connection they take from the pool (`pool_pre_ping=True`, an empty query: one round
  trip more per operation); the last side is the async store opened with
  `engine_options={{"pool_pre_ping": False}}`, to show what that round trip costs.
- **Google ADK {adk}**: `DatabaseSessionService` on `sqlite+aiosqlite:///` (a file in
  the same directory as the store's) and `postgresql+psycopg://` (a schema of its own
  on the same server). Each of its {tasks} sessions was made with `create_session`, its
  state the metadata of one of the store's entries (the same 2 KB of JSON), then given
  {events} events with `append_event` (user and model turns of the synthetic texts).
  `get_session()` returns the state and those events; `get` returns the entry, whose
  transcript lives in the transcript tier. A metadata update is, in ADK,
  `append_event` of an event whose `actions.state_delta` sets the label; here it is
  `patch`.
- **SQLite get**: the sync store's `get` called directly and the async store's `get`,
  one task in sequence, on the same file and keys; beside them, as the floor of any
  call handed to a thread, the sync `get` through `loop.run_in_executor` on a pool of
  {workers} threads, and a call of nothing the same way.
- **Driver choices**: the same file opened as `sqlite:///` (the store's worker threads)
  and as `sqlite+aiosqlite:///` (SQLAlchemy's asyncio engine on aiosqlite, in
  greenlets); the same MySQL/MariaDB database opened as `mysql+asyncmy://` and
  `mysql+aiomysql://`. *throughput over the first* is each path's ops/s over the
  first's.
- **Event loop**: a task sleeps `asyncio.sleep(0.001)` in a loop and records how late
  each sleep ends, first alone for 0.5 s (the idle loop), then while {bursts} bursts of
  {burst:,} operations are started at once with `asyncio.gather`, every other one a
  `get`, the rest `patch`, on random keys. Each pass of Python's cyclic garbage
  collector meanwhile is timed (`gc.callbacks`). The bursts run twice: as the process
  is, and after `gc.freeze()` (the objects made so far left out of the collector's
  passes, as a server may do once it has started). This part runs before ADK and the
  other drivers are imported, so that their modules are not in the collector's passes.
"""


def section(r: Results, info: dict[str, str]) -> str:
    st = r.settings
    text_ = DESCRIPTION.format(
        wall=r.wall_s,
        entries=ENTRIES,
        workers=THREAD_WORKERS,
        pool=POOL,
        tasks=TASKS,
        per_task=st["per_task"],
        adk_per_task=st["adk_per_task"],
        sequential=st["sequential"],
        rounds=st["rounds"],
        adk=st.get("adk_version", "-"),
        events=ADK_EVENTS,
        bursts=st["bursts"],
        burst=st["burst"],
    )
    parts = [f"{HEADING}\n", text_]
    parts += [markdown_table(["Machine", ""], [[k, v] for k, v in info.items()]), ""]
    parts += ["### Goals\n", markdown_table(TARGETS, target_rows(targets(r))), ""]
    for title, header, rows in tables(r):
        parts += [f"### {title}\n", markdown_table(header, rows), ""]
    parts += [*(f"- {line}" for line in findings(r)), *(f"- {note}" for note in r.notes)]
    return "\n".join(parts).rstrip() + "\n"


def findings(r: Results) -> list[str]:
    """What the figures say about the goals missed and the choices made."""
    found = []
    if seq := r.sqlite.get("sequential"):
        sync, hop_alone = seq[SYNC_GET].p50_ms, seq[HOP].p50_ms
        found.append(
            f"SQLite: a call handed to a worker thread and back costs {_ms(hop_alone)} ms "
            f"(p50) by itself, {hop_alone / sync:.1f}x a whole sync `get`; the async `get` "
            f"takes {seq[ASYNC_GET].p50_ms / seq[HOP_GET].p50_ms:.2f}x the sync `get` "
            "handed over with a bare `loop.run_in_executor`."
        )
    for scenario, f in r.postgresql.items():
        if NO_PING in f:
            found.append(
                f"PostgreSQL patch, {scenario}: without `pool_pre_ping` the async store does "
                f"{f[NO_PING].per_s / f[STORE].per_s:.2f}x the throughput with it; bare "
                f"psycopg does {f[BARE].per_s / f[NO_PING].per_s:.2f}x that."
            )
    for h in r.loop:
        if h.frozen:
            continue
        frozen = next((f for f in r.loop if f.frozen and f.backend == h.backend), None)
        line = (
            f"Event loop, {h.backend}: worst lateness {_ms(h.worst_ms)} ms; the longest pass "
            f"of Python's cyclic garbage collector meanwhile, which stops every thread, took "
            f"{_ms(h.gc_worst_ms)} ms"
        )
        if frozen:
            line += (
                f"; after `gc.freeze()` the longest pass took {_ms(frozen.gc_worst_ms)} ms and "
                f"the worst lateness was {_ms(frozen.worst_ms)} ms (p99 {_ms(frozen.p99_ms)} ms)"
            )
        found.append(line + ".")
    for backend, names in (("sqlite", ("worker threads", "aiosqlite")),
                           ("mysql", ("asyncmy", "aiomysql"))):  # fmt: skip
        ratios = [d.figures[names[1]].per_s / d.figures[names[0]].per_s
                  for d in r.drivers if d.backend == backend]  # fmt: skip
        if ratios:
            found.append(
                f"Driver choices, {backend}: {names[1]} does {min(ratios):.2f}x to "
                f"{max(ratios):.2f}x the throughput of {names[0]} across the {len(ratios)} "
                "comparisons above."
            )
    return found


def show_all(r: Results) -> None:
    for title, header, rows in tables(r):
        show(title, header, rows)
    show("Async API: goals", TARGETS, target_rows(targets(r)))
    for line in findings(r):
        console.print(f"- {line}")


def to_json(r: Results) -> dict[str, Any]:
    return {**asdict(r), "targets": [{**asdict(t), "result": t.result} for t in targets(r)]}


def from_json(document: dict[str, Any]) -> Results:
    """The results of a run from its JSON file (:func:`to_json`), to write them again."""

    def figures(found: dict[str, Any]) -> dict[str, Figure]:
        return {name: Figure(**f) for name, f in found.items()}

    r = Results(settings=document["settings"], notes=document["notes"],
                wall_s=document["wall_s"])  # fmt: skip
    r.postgresql = {k: figures(v) for k, v in document["postgresql"].items()}
    r.adk = {b: {op: figures(v) for op, v in ops.items()} for b, ops in document["adk"].items()}
    r.sqlite = {k: figures(v) for k, v in document["sqlite"].items()}
    r.drivers = [Drivers(d["backend"], d["op"], d["tasks"], figures(d["figures"]))
                 for d in document["drivers"]]  # fmt: skip
    r.loop = [Health(**h) for h in document["loop"]]
    return r


# -- main --------------------------------------------------------------------------------


def _adk_version() -> str | None:
    """ADK's version, without importing it (the event-loop part runs before it is)."""
    try:
        return version("google-adk") if importlib.util.find_spec("google.adk") else None
    except (ImportError, PackageNotFoundError):
        return None


async def run(
    s: Settings, parts: list[str], results: Results, pg: bool, mysql: bool, scratch: Path
) -> None:
    w = Workload(scratch)
    servers = ["sqlite", "postgresql"] if pg else ["sqlite"]
    if "postgresql" in parts and pg:
        console.rule("PostgreSQL: patch beside bare psycopg and 64 threads")
        await bench_postgresql(s, w, results)
    # Before ADK and the other drivers are imported: their modules would be in every
    # pass of the garbage collector.
    if "loop" in parts:
        console.rule("Event loop: a 1 ms heartbeat beside bursts")
        await bench_loop(s, w, results, servers, scratch)
    if "sqlite" in parts or "drivers" in parts:
        console.rule("SQLite: async and sync; worker threads and aiosqlite")
        await bench_sqlite(s, w, results, scratch, parts)
    if "drivers" in parts and mysql:
        console.rule("MySQL/MariaDB: asyncmy and aiomysql")
        await bench_mysql(s, w, results)
    if "adk" in parts and results.settings.get("adk_version"):
        console.rule("Beside Google ADK")
        await bench_adk(s, w, results, servers, scratch)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run at small sizes")
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated (all five)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "async_api.json")
    parser.add_argument("--markdown", type=Path, help=f"put the results in this page's {HEADING!r}")
    parser.add_argument("--from-json", type=Path,
                        help="run nothing: show (and with --markdown write) the results "
                        "that run saved in this file")  # fmt: skip
    args = parser.parse_args()
    if args.from_json:
        document = json.loads(args.from_json.read_text(encoding="utf-8"))
        saved = from_json(document)
        show_all(saved)
        if args.markdown:
            replace_section(args.markdown, section(saved, document["machine"]), HEADING)
        return 0
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if unknown := set(parts) - set(PARTS):
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    s = QUICK if args.quick else FULL
    started = time.perf_counter()
    notes: list[str] = []
    _, pg_version = available_backends(["postgresql"], notes)
    notes = [f"PostgreSQL parts not run: {n.split(': ', 1)[-1]}" for n in notes]
    mysql_version = None
    try:
        mysql_version = check_server(MYSQL_URL)
    except UnavailableError as exc:
        notes.append(f"MySQL/MariaDB parts not run, the server is not reachable: {exc}")
    adk_version = _adk_version()
    if adk_version is None:
        notes.append("Google ADK not run: google-adk is not installed (the bench extra)")
    for note in notes:
        console.print(f"[yellow]{note}[/yellow]", soft_wrap=True)
    info = machine(pg_version)
    info["MySQL/MariaDB"] = mysql_version or "not run"
    info["Google ADK"] = adk_version or "not run"
    console.print("; ".join(f"{k}: {v}" for k, v in info.items()))
    settings = {**asdict(s), "quick": args.quick, "parts": parts, "adk_version": adk_version}
    results = Results(settings=settings, notes=notes)
    with tempfile.TemporaryDirectory(prefix="sessionstore-bench-") as tmp:
        asyncio.run(
            run(s, parts, results, pg_version is not None, mysql_version is not None, Path(tmp))
        )
    results.wall_s = time.perf_counter() - started
    show_all(results)
    info["Load average at the end (1 min)"] = f"{os.getloadavg()[0]:.2f}"
    console.print(f"Finished in {results.wall_s:.0f} s; load average now {os.getloadavg()[0]:.2f}.")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    document = {"machine": info, **to_json(results)}
    args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    if args.markdown:
        replace_section(args.markdown, section(results, info), HEADING)
    return 0


if __name__ == "__main__":
    sys.exit(main())

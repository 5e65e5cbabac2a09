"""The framework adapters of ``sessionstore.integrations`` beside the frameworks' own
stores, on the same SQLite disk and PostgreSQL server, measured side by side in one run:

- **Google ADK**: ``DatabaseSessionService`` (SQLAlchemy, on ``sqlite+aiosqlite://`` and
  ``postgresql+psycopg://``) and ``SqliteSessionService`` (aiosqlite, SQLite only)
  against ``SessionStoreSessionService``, each on 10,000 sessions over 500
  users, one of them with 1,000 events: ``get_session`` of the last 50 events,
  ``append_event`` on that session, ``list_sessions`` of one user and ``create_session``.
  Goal: at least 20x on each.
- **OpenAI Agents SDK**: ``SQLAlchemySession`` against ``SessionStoreSession``, one
  session of 10,000 items: ``add_items`` of one item and ``get_items(limit=50)``.
  Goal: at least 5x on each.

Every side has a database of its own: a file in one directory on SQLite, a new schema on
the PostgreSQL server, dropped afterwards. The sides take turns, one call each in a
seeded order of its own per repetition, so that a change of load meanwhile falls on all
of them; medians and p95 of every repetition. ``make bench`` runs it after
``async_api.py``. Usage::

    python benchmarks/integrations.py [--quick] [--parts adk,agents]
        [--backends sqlite,postgresql] [--repeats 200]
        [--out benchmarks/integrations.json] [--markdown docs/benchmarks.md]
        [--from-json benchmarks/integrations.json]

PostgreSQL is the server at ``SESSIONSTORE_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``); one that cannot be reached is
reported as not run. ``--markdown`` puts the results in that page's ``## Framework
integrations`` section, leaving the rest of the page as it is; ``--from-json`` writes a
saved run's results again without running anything. An adapter that is not installed
leaves its side out (the peers are still measured, the ratios say ``-``). The exit
status is 0 whether the goals are met or not: this is a measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import importlib.util
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.async_api import pg_schema  # noqa: E402
from benchmarks.suite import (  # noqa: E402
    Stat,
    Target,
    _ms,
    add_output_arguments,
    available_backends,
    console,
    machine,
    markdown_table,
    save_results,
    show,
)
from benchmarks.transcripts import replace_section  # noqa: E402
from sessionstore.testing.transcripts import ASSISTANT_TEXTS, TOOL_CALLS, USER_TEXTS  # noqa: E402

HEADING = "## Framework integrations"
PARTS = ("adk", "agents")
BACKENDS = ("sqlite", "postgresql")
APP = "bench"
AGENT = "assistant"
MEASURED = "measured"  # the id of the session with the events
CONVERSATION = "conversation"  # the Agents SDK session
RECENT = 50
#: the figure of the ADK operations' goal, and that of the Agents SDK's
ADK_GOAL, AGENTS_GOAL = 20.0, 5.0
OURS = "sessionstore"
ADK_ADAPTER = "sessionstore.integrations.adk"
AGENTS_ADAPTER = "sessionstore.integrations.openai_agents"
ADK_OPS = {
    "get_session": f"get_session(num_recent_events={RECENT})",
    "append_event": "append_event",
    "list_sessions": "list_sessions(app_name, user_id)",
    "create_session": "create_session",
}
AGENTS_OPS = {"add_items": "add_items of one item", "get_items": f"get_items(limit={RECENT})"}
Rows = list[list[str]]


@dataclass
class Settings:
    sessions: int
    users: int
    events: int  # in the measured session
    items: int  # in the Agents SDK session
    repeats: int  # timed calls per side and operation, after one untimed
    chunk: int  # sessions created at once (asyncio.gather) while populating, on PostgreSQL
    batch: int  # items per add_items while populating


FULL = Settings(sessions=10_000, users=500, events=1_000, items=10_000, repeats=200,
                chunk=50, batch=100)  # fmt: skip
QUICK = Settings(sessions=500, users=25, events=100, items=500, repeats=20, chunk=50, batch=100)


# -- timing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """``run(setup(i))`` is timed; ``setup(i)``, untimed, makes its argument (a new
    event, a new session id)."""

    run: Callable[[Any], Awaitable[object]]
    setup: Callable[[int], Any] = int


async def interleaved(sides: dict[str, Call], repeats: int) -> dict[str, Stat]:
    """Each side called once per repetition, in an order of its own each time (seeded),
    ``repeats`` times after one untimed warm-up round. The young generations of the
    garbage collector are collected, untimed, after every call, so that what one call
    leaves is not charged to the next, whichever side it belongs to."""
    names = list(sides)
    seconds: dict[str, list[float]] = {n: [] for n in names}
    order = random.Random(0)
    for i in range(repeats + 1):
        order.shuffle(names)
        for name in names:
            call = sides[name]
            argument = call.setup(i)
            t0 = time.perf_counter()
            await call.run(argument)
            elapsed = time.perf_counter() - t0
            gc.collect(1)
            if i:
                seconds[name].append(elapsed)
    return {n: Stat.of(seconds[n]) for n in sides}


# -- what the sides hold -----------------------------------------------------------------


def user_of(i: int, s: Settings) -> str:
    return f"user-{i % s.users:04d}"


def session_state(i: int) -> dict[str, Any]:
    """A session's state as an agent keeps it: a few session keys, one user key."""
    return {
        "channel": ("web", "slack", "telegram", "api")[i % 4],
        "plan": "pro" if i % 3 else "free",
        "topic": USER_TEXTS[i % len(USER_TEXTS)][:40],
        "turns": 0,
        "user:locale": ("en-GB", "de-DE", "fr-FR", "ja-JP")[i % 4],
    }


def adk_event(i: int) -> Any:
    """Event ``i`` of a conversation: user and model turns of the synthetic texts, the
    model's with their token counts; every tenth carries a ``state_delta``."""
    events = importlib.import_module("google.adk.events")
    types = importlib.import_module("google.genai.types")
    user = i % 2 == 0
    text = (
        USER_TEXTS[i // 2 % len(USER_TEXTS)]
        if user
        else ASSISTANT_TEXTS[i // 2 % len(ASSISTANT_TEXTS)]
    )
    actions = events.EventActions()
    if i % 10 == 9:
        actions = events.EventActions(state_delta={"turns": i // 2, "last_reply": text[:60]})
    usage = None
    if not user:
        usage = types.GenerateContentResponseUsageMetadata(
            prompt_token_count=900 + 7 * i, candidates_token_count=len(text) // 4 + 1,
            total_token_count=901 + 7 * i + len(text) // 4,
        )  # fmt: skip
    return events.Event(
        invocation_id=f"inv-{i // 2}",
        author="user" if user else AGENT,
        content=types.Content(role="user" if user else "model", parts=[types.Part(text=text)]),
        actions=actions,
        usage_metadata=usage,
    )


def agents_item(i: int) -> dict[str, Any]:
    """Item ``i`` of an Agents SDK conversation (Responses API input items): a user
    message, a tool call and its output, the assistant's answer, in turn."""
    turn, step = divmod(i, 4)
    name, arguments, output = TOOL_CALLS[turn % len(TOOL_CALLS)]
    call_id = f"call_{turn:06d}"
    if step == 0:
        return {"role": "user", "content": USER_TEXTS[turn % len(USER_TEXTS)]}
    if step == 1:
        return {"type": "function_call", "call_id": call_id, "name": name,
                "arguments": json.dumps(arguments), "id": f"fc_{turn:06d}",
                "status": "completed"}  # fmt: skip
    if step == 2:
        return {"type": "function_call_output", "call_id": call_id, "output": output}
    text = ASSISTANT_TEXTS[turn % len(ASSISTANT_TEXTS)]
    return {"type": "message", "role": "assistant", "id": f"msg_{turn:06d}",
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}  # fmt: skip


# -- the sides ---------------------------------------------------------------------------


def adapter_ready(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


@dataclass
class Populated:
    """How one side was filled, through its public API."""

    part: str
    backend: str
    side: str
    what: str
    how: str
    seconds: float


@dataclass
class Results:
    settings: dict[str, Any]
    versions: dict[str, str]
    #: part -> backend -> operation -> side -> figures
    figures: dict[str, dict[str, dict[str, dict[str, Stat]]]] = field(default_factory=dict)
    populated: list[Populated] = field(default_factory=list)
    #: backend -> operation -> what building its result alone costs (ADK's objects)
    floors: dict[str, dict[str, Stat]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    wall_s: float = 0.0


@asynccontextmanager
async def adk_services(
    backend: str, where: str, with_ours: bool, schemas: list[str]
) -> AsyncIterator[dict[str, Any]]:
    """The session services of ``backend``, each on a database of its own: SQLite files
    in the directory ``where``, or new schemas of the PostgreSQL server (their URLs
    added to ``schemas``)."""
    sessions = importlib.import_module("google.adk.sessions")
    async with AsyncExitStack() as stack:
        services: dict[str, Any] = {}
        if backend == "sqlite":
            services["DatabaseSessionService"] = sessions.DatabaseSessionService(
                f"sqlite+aiosqlite:///{where}/adk-database.db"
            )
            sqlite_service = importlib.import_module("google.adk.sessions.sqlite_session_service")
            services["SqliteSessionService"] = sqlite_service.SqliteSessionService(
                f"{where}/adk-sqlite.db"
            )
            ours = f"sqlite:///{where}/sessionstore-adk.db"
        else:
            url = stack.enter_context(pg_schema(upgraded=False))
            services["DatabaseSessionService"] = sessions.DatabaseSessionService(url)
            ours = stack.enter_context(pg_schema(upgraded=False))
            schemas += [url, ours]
        if with_ours:
            adapter = importlib.import_module(ADK_ADAPTER)
            services[OURS] = adapter.SessionStoreSessionService(ours)
        for service in services.values():
            stack.push_async_callback(service.close)
        yield services


async def populate_adk(service: Any, s: Settings, backend: str, side: str, results: Results) -> Any:
    """``s.sessions`` sessions with ``create_session``, ``s.chunk`` at a time, one of them
    then given ``s.events`` events with ``append_event``; the measured session as
    ``append_event`` left it."""
    t0 = time.perf_counter()
    ids = [f"session-{i:05d}" for i in range(s.sessions - 1)] + [MEASURED]
    # On SQLite concurrent calls only queue for its one writer and retry. The state has a `user:`
    # key, so the adapter's create_session writes the user's state entry with a
    # compare-and-set, and concurrent creates for one user collide and back off.
    chunk = 1 if backend == "sqlite" or side == OURS else s.chunk
    for start in range(0, s.sessions, chunk):
        await asyncio.gather(
            *(
                service.create_session(app_name=APP, user_id=user_of(i, s),
                                       session_id=ids[i], state=session_state(i))
                for i in range(start, min(start + chunk, s.sessions))
            )
        )  # fmt: skip
    made = time.perf_counter() - t0
    how = (
        f"create_session, {chunk} at a time (asyncio.gather)"
        if chunk > 1
        else "create_session, in turn"
    )
    results.populated.append(Populated("adk", backend, side, f"{s.sessions:,} sessions", how, made))
    session = await service.get_session(
        app_name=APP, user_id=user_of(s.sessions - 1, s), session_id=MEASURED
    )
    t0 = time.perf_counter()
    for i in range(s.events):
        await service.append_event(session, adk_event(i))
    appended = time.perf_counter() - t0
    results.populated.append(
        Populated("adk", backend, side, f"{s.events:,} events", "append_event, in turn", appended)
    )
    console.print(
        f"  {backend}, {side}: {s.sessions:,} sessions in {made:.1f} s, {s.events:,} events "
        f"in {appended:.1f} s"
    )
    return session


def adk_calls(service: Any, session: Any, s: Settings) -> dict[str, Call]:
    """The four operations of one service. ``append_event`` goes on to use the session
    object it returned last, as ADK's Runner does (it keeps the object current)."""
    config = importlib.import_module("google.adk.sessions.base_session_service").GetSessionConfig(
        num_recent_events=RECENT
    )
    user = session.user_id

    async def get(_: object) -> None:
        found = await service.get_session(app_name=APP, user_id=user, session_id=MEASURED,
                                          config=config)  # fmt: skip
        assert found is not None and len(found.events) == RECENT, found

    async def append(event: Any) -> None:
        await service.append_event(session, event)

    async def listed(i: int) -> None:
        found = await service.list_sessions(app_name=APP, user_id=user_of(i, s))
        assert len(found.sessions) >= s.sessions // s.users, len(found.sessions)

    async def create(i: int) -> None:
        await service.create_session(app_name=APP, user_id=user_of(i, s),
                                     session_id=f"new-{i:05d}", state=session_state(i))  # fmt: skip

    return {
        "get_session": Call(get),
        "append_event": Call(append, lambda i: adk_event(s.events + i)),
        "list_sessions": Call(listed),
        "create_session": Call(create),
    }


WRITE_FLOOR = "one row INSERTed and committed: one round trip (autocommit, no pre-ping)"
FLOORS = {
    "get_session": f"{RECENT} ADK Events from their JSON (Event.model_validate_json)",
    "list_sessions": "a user's ADK Sessions built (Session(...), no events)",
    "append_event": WRITE_FLOOR,
    "create_session": WRITE_FLOOR,
    "add_items": WRITE_FLOOR,
}


FLOOR = "floor"


def floor_calls(s: Settings) -> dict[str, Call]:
    """What any service pays to hand over its result, whatever its storage: the
    pydantic objects ``get_session`` and ``list_sessions`` return, built from data in
    memory. No side can beat its peer by more than the peer's time over this."""
    event_class = importlib.import_module("google.adk.events").Event
    session_class = importlib.import_module("google.adk.sessions").Session
    jsons = [adk_event(i).model_dump_json(exclude_none=True) for i in range(RECENT)]
    per_user = s.sessions // s.users

    async def events(_: object) -> None:
        [event_class.model_validate_json(j) for j in jsons]

    async def sessions(_: object) -> None:
        [session_class(app_name=APP, user_id=user_of(0, s), id=f"session-{i:05d}",
                       state=session_state(i), last_update_time=1.0)
         for i in range(per_user)]  # fmt: skip

    return {"get_session": Call(events), "list_sessions": Call(sessions)}


@asynccontextmanager
async def write_floor(backend: str) -> AsyncIterator[Call | None]:
    """On PostgreSQL the least that a durable write costs any side: one row INSERTed and
    committed in one round trip, on the peers' own stack (SQLAlchemy's asyncio engine
    on psycopg; autocommit and no pre-ping, which no side does without). ``None`` on
    SQLite, where each side's durability differs (see the section's text)."""
    if backend != "postgresql":
        yield None
        return
    sqlalchemy = importlib.import_module("sqlalchemy")
    asyncio_ext = importlib.import_module("sqlalchemy.ext.asyncio")
    body = adk_event(0).model_dump_json(exclude_none=True)
    insert = sqlalchemy.text("INSERT INTO floor_rows (body) VALUES (:body)")
    with pg_schema(upgraded=False) as url:
        engine = asyncio_ext.create_async_engine(url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(
                    sqlalchemy.text("CREATE TABLE floor_rows (id bigserial PRIMARY KEY, body text)")
                )

            async def write(_: object) -> None:
                async with engine.connect() as conn:
                    await conn.execute(insert, {"body": body})

            yield Call(write)
        finally:
            await engine.dispose()


def take_floors(backend: str, found: dict[str, dict[str, Stat]], results: Results) -> None:
    """Move the floors timed among the sides of ``found`` into ``results.floors``."""
    for op, sides in found.items():
        if FLOOR in sides:
            results.floors.setdefault(backend, {})[op] = sides.pop(FLOOR)


async def bench_adk(s: Settings, backend: str, scratch: Path, results: Results) -> None:
    with_ours = adapter_ready(ADK_ADAPTER)
    schemas: list[str] = []
    async with (
        adk_services(backend, str(scratch), with_ours, schemas) as services,
        write_floor(backend) as written,
    ):
        calls: dict[str, dict[str, Call]] = {op: {} for op in ADK_OPS}
        for side, service in services.items():
            session = await populate_adk(service, s, backend, side, results)
            for op, call in adk_calls(service, session, s).items():
                calls[op][side] = call
        analyze(schemas, results)
        # timed among the sides, reported apart
        for op, call in floor_calls(s).items():
            calls[op][FLOOR] = call
        if written is not None:
            calls["append_event"][FLOOR] = calls["create_session"][FLOOR] = written
        found = results.figures.setdefault("adk", {}).setdefault(backend, {})
        for op, sides in calls.items():
            found[op] = await interleaved(sides, s.repeats)
            _print(f"{backend}, {ADK_OPS[op]}", found[op])
        take_floors(backend, found, results)


@asynccontextmanager
async def agents_sessions(
    backend: str, where: str, with_ours: bool, schemas: list[str]
) -> AsyncIterator[dict[str, Any]]:
    """The Agents SDK's ``SQLAlchemySession`` and ours, each on a database of its own
    (on PostgreSQL a schema, its URL added to ``schemas``)."""
    peer = importlib.import_module("agents.extensions.memory.sqlalchemy_session")
    async with AsyncExitStack() as stack:
        if backend == "sqlite":
            theirs = f"sqlite+aiosqlite:///{where}/agents-sqlalchemy.db"
            ours = f"sqlite:///{where}/sessionstore-agents.db"
        else:
            theirs = stack.enter_context(pg_schema(upgraded=False))
            ours = stack.enter_context(pg_schema(upgraded=False))
            schemas += [theirs, ours]
        session = peer.SQLAlchemySession.from_url(CONVERSATION, url=theirs, create_tables=True)
        stack.push_async_callback(session.engine.dispose)
        sessions = {"SQLAlchemySession": session}
        if with_ours:
            adapter = importlib.import_module(AGENTS_ADAPTER)
            sessions[OURS] = adapter.SessionStoreSession.from_url(CONVERSATION, url=ours)
            stack.push_async_callback(sessions[OURS].close)
        yield sessions


async def bench_agents(s: Settings, backend: str, scratch: Path, results: Results) -> None:
    with_ours = adapter_ready(AGENTS_ADAPTER)
    schemas: list[str] = []
    async with (
        agents_sessions(backend, str(scratch), with_ours, schemas) as sessions,
        write_floor(backend) as written,
    ):
        calls: dict[str, dict[str, Call]] = {op: {} for op in AGENTS_OPS}
        for side, session in sessions.items():
            t0 = time.perf_counter()
            for start in range(0, s.items, s.batch):
                await session.add_items([agents_item(i) for i in
                                         range(start, min(start + s.batch, s.items))])  # fmt: skip
            took = time.perf_counter() - t0
            how = f"add_items, {s.batch} items a call, in turn"
            results.populated.append(
                Populated("agents", backend, side, f"{s.items:,} items", how, took)
            )
            console.print(f"  {backend}, {side}: {s.items:,} items in {took:.1f} s")

            async def add(item: dict[str, Any], session: Any = session) -> None:
                await session.add_items([item])

            async def get(_: object, session: Any = session) -> None:
                found = await session.get_items(limit=RECENT)
                assert len(found) == RECENT, len(found)

            calls["add_items"][side] = Call(add, lambda i: agents_item(s.items + i))
            calls["get_items"][side] = Call(get)
        analyze(schemas, results)
        if written is not None:
            calls["add_items"][FLOOR] = written
        found = results.figures.setdefault("agents", {}).setdefault(backend, {})
        for op, sides in calls.items():
            found[op] = await interleaved(sides, s.repeats)
            _print(f"{backend}, {AGENTS_OPS[op]}", found[op])
        take_floors(backend, found, results)


def analyze(schemas: list[str], results: Results) -> None:
    """``ANALYZE`` the tables of every side's PostgreSQL schema once it is populated, as
    autovacuum does on a server in use: without statistics the planner may choose any
    index of a table (a key lookup then scans it), and this server may have autovacuum
    off. Every side alike."""
    if not schemas:
        return
    sqlalchemy = importlib.import_module("sqlalchemy")
    for url in schemas:
        engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                setting = conn.execute(sqlalchemy.text("SHOW autovacuum")).scalar_one()
                tables = conn.execute(
                    sqlalchemy.text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                    )
                ).scalars()
                for table in list(tables):
                    conn.execute(sqlalchemy.text(f'ANALYZE "{table}"'))
        finally:
            engine.dispose()
    note = (
        f"PostgreSQL: every side's tables were analyzed (ANALYZE) once populated, as "
        f"autovacuum does on a server in use (this server's autovacuum: {setting})."
    )
    if note not in results.notes:
        results.notes.append(note)


# -- results -----------------------------------------------------------------------------


def _print(title: str, figures: dict[str, Stat]) -> None:
    console.print(
        f"  {title}: "
        + "; ".join(
            f"{name} p50 {_ms(f.median_ms)} ms, p95 {_ms(f.p95_ms)} ms"
            for name, f in figures.items()
        )
    )


def met(ratio: float, goal: float) -> str:
    return "met" if ratio >= goal else f"missed by {goal / ratio:.2f}x"


def goal_of(part: str) -> float:
    return ADK_GOAL if part == "adk" else AGENTS_GOAL


def comparisons(r: Results) -> list[tuple[str, str, str, str, Stat, Stat | None]]:
    """(part, operation, backend, peer, the peer's figures, ours) of every peer measured."""
    found = []
    for part, backends in r.figures.items():
        ops = ADK_OPS if part == "adk" else AGENTS_OPS
        for op in ops:
            for backend, by_op in backends.items():
                sides = by_op.get(op, {})
                for peer, stat in sides.items():
                    if peer != OURS:
                        found.append((part, op, backend, peer, stat, sides.get(OURS)))
    return found


OP_HEADER = ["Backend", "Peer", "peer p50 ms", "peer p95 ms", "ours p50 ms", "ours p95 ms",
             "n per side", "peer / ours (p50)", "peer / ours (p95)", "Goal", "Result"]  # fmt: skip


def tables(r: Results) -> list[tuple[str, list[str], Rows]]:
    out: list[tuple[str, list[str], Rows]] = []
    by_op: dict[tuple[str, str], Rows] = {}
    for part, op, backend, peer, theirs, ours in comparisons(r):
        goal = goal_of(part)
        row = [backend, peer, _ms(theirs.median_ms), _ms(theirs.p95_ms)]
        if ours is None:
            row += ["-", "-", f"{theirs.samples:,}", "-", "-", f">= {goal:.0f}x", "not run"]
        else:
            ratio = theirs.median_ms / ours.median_ms
            row += [_ms(ours.median_ms), _ms(ours.p95_ms), f"{theirs.samples:,}",
                    f"{ratio:,.1f}x", f"{theirs.p95_ms / ours.p95_ms:,.1f}x",
                    f">= {goal:.0f}x", met(ratio, goal)]  # fmt: skip
        by_op.setdefault((part, op), []).append(row)
    for (part, op), rows in by_op.items():
        name = ADK_OPS[op] if part == "adk" else AGENTS_OPS[op]
        framework = "Google ADK" if part == "adk" else "OpenAI Agents SDK"
        out.append((f"{framework}: {name}", OP_HEADER, rows))
    if r.floors:
        rows = []
        for backend, ops in r.floors.items():
            for op, stat in ops.items():
                most = [f"{peer}: {theirs.median_ms / stat.median_ms:,.1f}x"
                        for _, o, b, peer, theirs, _ in comparisons(r)
                        if (o, b) == (op, backend)]  # fmt: skip
                rows.append([backend, {**ADK_OPS, **AGENTS_OPS}[op], FLOORS[op],
                             _ms(stat.median_ms), _ms(stat.p95_ms), f"{stat.samples:,}",
                             "; ".join(most)])  # fmt: skip
        header = ["Backend", "Operation", "What any side must do at least", "p50 ms", "p95 ms",
                  "n", "the most a side can gain over the peer (peer p50 over this)"]  # fmt: skip
        out.append(("Floors: what any side pays, whatever its storage", header, rows))
    if r.populated:
        rows = [[p.backend, p.side, p.what, p.how, f"{p.seconds:.1f}"] for p in r.populated]
        out.append(("Populating, through each side's public API",
                    ["Backend", "Side", "What", "How", "seconds"], rows))  # fmt: skip
    return out


def targets(r: Results) -> list[Target]:
    found = []
    for part, op, backend, peer, theirs, ours in comparisons(r):
        if ours is None:
            continue
        ratio = theirs.median_ms / ours.median_ms
        name = ADK_OPS[op] if part == "adk" else AGENTS_OPS[op]
        goal = goal_of(part)
        found.append(Target(f"{backend}: {name}, p50 of {peer} over ours", f">= {goal:.0f}x",
                            ratio, goal, f"{ratio:,.1f}x", False))  # fmt: skip
    return found


TARGETS = ["Goal", "Measured", "Limit", "Result"]


def target_rows(found: list[Target]) -> Rows:
    return [[t.name, t.shown, t.goal, t.result] for t in found]


DESCRIPTION = """\
The framework adapters of `sessionstore.integrations` beside the frameworks' own stores,
in one run of `benchmarks/integrations.py` (`make bench` runs it after the async API;
`--markdown docs/benchmarks.md` writes this section). The run took {wall:.0f} s.

- **Databases**: every side has one of its own on the same disk and server: SQLite
  files side by side in one directory, and on PostgreSQL a new schema per side, dropped
  afterwards. The adapters are opened with their defaults (SQL transcripts,
  `sqlite:///` with the store's worker threads); ADK's `DatabaseSessionService` on
  `sqlite+aiosqlite:///` and `postgresql+psycopg://`, its `SqliteSessionService` on a
  file path, the Agents SDK's `SQLAlchemySession.from_url(..., create_tables=True)` on
  `sqlite+aiosqlite:///` and `postgresql+psycopg://`.
- **SQLite writes** are not equally durable, each side as it comes: the store runs WAL
  with `synchronous=NORMAL` (a commit does not wait for the disk; the WAL is synced at
  checkpoints, and a power cut can lose the last commits, never the database);
  `SQLAlchemySession` runs WAL with SQLite's default `synchronous=FULL` (an fsync per
  commit); ADK's two services keep SQLite's rollback journal and `synchronous=FULL`
  (fsyncs of the journal and the database per commit), and `SqliteSessionService` opens
  a new connection (and aiosqlite thread) for every call. On a busy disk the peers'
  fsyncs dominate their writes.
- **Google ADK**: {sessions:,} sessions of app `{app}` over {users:,} users
  ({per_user} each), each with a small state (four session keys and a `user:` key),
  made with `create_session`: on SQLite one after another (concurrent calls only queue
  for its one writer and retry), on
  PostgreSQL {chunk} at a time with `asyncio.gather` for ADK and one after another for
  the adapter (the state's `user:` key makes its `create_session` write the user's
  state entry with a compare-and-set, so concurrent creates for one user collide and
  back off). One of them, the
  measured session, was then given {events:,} events with `append_event`, one after
  another: user and model turns of the synthetic texts, the model's with token counts,
  every tenth with a `state_delta`. The other sessions have no events.
  `get_session` reads the measured session with `num_recent_events={recent}`;
  `append_event` adds one such event to it with the session object `append_event`
  returned last (as ADK's Runner does); `list_sessions(app_name, user_id)` lists one
  user's sessions, a different user each time (ADK has no pages: this is the whole
  list, about {per_user} sessions); `create_session` makes a new session with such a
  state for one of the users.
- **Floors**: `get_session` returns ADK `Event` objects and `list_sessions` ADK
  `Session` objects (pydantic models), on every side. Building them from data in
  memory, timed as one more side of those two comparisons, is a floor under any
  service: no side can beat its peer by more than the peer's time over it. On
  PostgreSQL a write has a floor too: one row INSERTed and committed in one round trip
  on the peers' own stack (SQLAlchemy's asyncio engine on psycopg, autocommit, no
  pre-ping), timed as one more side of `append_event`, `create_session` and
  `add_items`. A store that writes the event, checks that its writer is not stale and
  moves the session on does at least that.
- **OpenAI Agents SDK**: one session of {items:,} items (a user message, a tool call,
  its output and the assistant's message, in turn), added with `add_items` {batch} at a
  time; then `add_items` of one item and `get_items(limit={recent})`.
- **Timing**: the sides take turns, one call each per repetition, in a new seeded order
  each time; {repeats:,} repetitions after one untimed round. The young generations of
  the garbage collector are collected, untimed, after every call. *p50* and *p95* are
  of every call; the ratios are the peer's figure over ours, the goal (from the issue)
  on the p50.
"""


def section(r: Results, info: dict[str, str]) -> str:
    st = r.settings
    text = DESCRIPTION.format(
        wall=r.wall_s, sessions=st["sessions"], users=st["users"], app=APP,
        per_user=st["sessions"] // st["users"], chunk=st["chunk"], events=st["events"],
        recent=RECENT, items=st["items"], batch=st["batch"], repeats=st["repeats"],
    )  # fmt: skip
    parts = [f"{HEADING}\n", text]
    parts += [markdown_table(["Machine", ""], [[k, v] for k, v in info.items()]), ""]
    parts += ["### Goals\n", markdown_table(TARGETS, target_rows(targets(r))), ""]
    for title, header, rows in tables(r):
        parts += [f"### {title}\n", markdown_table(header, rows), ""]
    parts += [f"- {note}" for note in r.notes]
    return "\n".join(parts).rstrip() + "\n"


def show_all(r: Results) -> None:
    for title, header, rows in tables(r):
        show(title, header, rows)
    if found := targets(r):
        show("Framework integrations: goals", TARGETS, target_rows(found))
    for note in r.notes:
        console.print(f"- {note}", soft_wrap=True)


def to_json(r: Results) -> dict[str, Any]:
    return {**asdict(r), "targets": [{**asdict(t), "result": t.result} for t in targets(r)]}


def from_json(document: dict[str, Any]) -> Results:
    r = Results(settings=document["settings"], versions=document["versions"],
                notes=document["notes"], wall_s=document["wall_s"])  # fmt: skip
    r.figures = {
        part: {b: {op: {side: Stat(**f) for side, f in sides.items()} for op, sides in ops.items()}
               for b, ops in backends.items()}
        for part, backends in document["figures"].items()
    }  # fmt: skip
    r.populated = [Populated(**p) for p in document["populated"]]
    r.floors = {b: {op: Stat(**f) for op, f in ops.items()}
                for b, ops in document.get("floors", {}).items()}  # fmt: skip
    return r


# -- main --------------------------------------------------------------------------------


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout  # fmt: skip


def revision() -> str:
    """The checkout's git revision (``+changes`` when its files differ from it)."""
    try:
        head = git("rev-parse", "--short=12", "HEAD").strip()
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (" +changes" if dirty.strip() else "")


async def run(s: Settings, parts: list[str], backends: list[str], scratch: Path,
              results: Results) -> None:  # fmt: skip
    for backend in backends:
        if "adk" in parts:
            console.rule(f"Google ADK, {backend}")
            with tempfile.TemporaryDirectory(dir=scratch) as where:
                await bench_adk(s, backend, Path(where), results)
        if "agents" in parts:
            console.rule(f"OpenAI Agents SDK, {backend}")
            with tempfile.TemporaryDirectory(dir=scratch) as where:
                await bench_agents(s, backend, Path(where), results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run at small sizes")
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated (adk,agents)")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated")
    parser.add_argument("--repeats", type=int, help="timed calls per side and operation")
    add_output_arguments(parser, "integrations", HEADING)
    args = parser.parse_args()
    if args.from_json:
        document = json.loads(args.from_json.read_text(encoding="utf-8"))
        saved = from_json(document)
        show_all(saved)
        if args.markdown:
            replace_section(args.markdown, section(saved, document["machine"]), HEADING)
        return 0
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    wanted = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := (set(parts) - set(PARTS)) | (set(wanted) - set(BACKENDS)):
        parser.error(f"unknown parts or backends: {', '.join(sorted(unknown))}")
    s = QUICK if args.quick else FULL
    if args.repeats:
        s = Settings(**{**asdict(s), "repeats": args.repeats})
    started = time.perf_counter()
    notes: list[str] = []
    backends, pg_version = available_backends(wanted, notes)
    versions = {
        "google-adk": _version("google-adk") or "not installed",
        "openai-agents": _version("openai-agents") or "not installed",
        "SQLAlchemy": _version("sqlalchemy") or "-",
        "aiosqlite": _version("aiosqlite") or "-",
        "psycopg": _version("psycopg") or "-",
        "sessionstore revision": revision(),
    }
    for part, package, module in (("adk", "google-adk", ADK_ADAPTER),
                                  ("agents", "openai-agents", AGENTS_ADAPTER)):  # fmt: skip
        if part in parts and not _version(package):
            parts.remove(part)
            notes.append(f"{package} is not installed (its extra): {part} not run")
        elif part in parts and not adapter_ready(module):
            notes.append(f"`{module}` is not installed here: the {package} peers ran alone")
    for note in notes:
        console.print(f"[yellow]{note}[/yellow]", soft_wrap=True)
    info = {**machine(pg_version), **versions}
    console.print("; ".join(f"{k}: {v}" for k, v in info.items()))
    settings = {**asdict(s), "quick": args.quick, "parts": parts, "backends": backends}
    results = Results(settings=settings, versions=versions, notes=notes)
    with tempfile.TemporaryDirectory(prefix="sessionstore-bench-") as tmp:
        asyncio.run(run(s, parts, backends, Path(tmp), results))
    results.wall_s = time.perf_counter() - started
    show_all(results)
    save_results(args.out, info, to_json(results))
    console.print(f"Finished in {results.wall_s:.0f} s; load average now {os.getloadavg()[0]:.2f}.")
    if args.markdown:
        replace_section(args.markdown, section(results, info), HEADING)
    return 0


if __name__ == "__main__":
    sys.exit(main())

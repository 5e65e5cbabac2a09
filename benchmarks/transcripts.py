"""Transcript benchmarks: both tiers of ``store.transcripts`` with the issue's targets.

- **append**: one event appended by the SQL tier against the bare driver (``sqlite3``,
  psycopg) writing the same row into the same tables in one transaction;
- **bounded reads**: ``tail(50)`` and ``page(before=...)`` in a session of 100 to
  100,000 events, on the SQL tier (SQLite) and the files tier, and the ratio of the
  largest to the smallest;
- **beside Google ADK**: the last 50 events of a 10,000-event session, ADK's
  ``DatabaseSessionService`` on SQLite (the session written with its own
  ``append_event``) against ``tail(key, limit=50)`` on the same events;
- **search** over 1,000,000 events in 10,000 sessions, on SQLite and PostgreSQL, with
  one- and two-word queries from very common to rare.

Transcripts are loaded with ``import_lines`` (one unit per session), never one event at a
time. ``benchmarks/suite.py`` runs this too (``make bench``). Usage::

    python benchmarks/transcripts.py [--quick] [--sizes 100,1000,10000,100000]
        [--search-events 1000000] [--search-sessions 10000] [--adk-events 10000]
        [--backends sqlite,postgresql] [--parts append,reads,adk,search] [--repeats 300]
        [--budget 1.0] [--out benchmarks/transcripts.json] [--markdown docs/benchmarks.md]

``--markdown`` puts the results in that page's ``## Transcripts`` section, leaving the
rest of the page as it is; ``--from-json benchmarks/transcripts.json`` writes a saved
run's results again, without running anything.

The exit status is 0 whether the targets are met or not: this is a measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import importlib
import itertools
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.raw_baseline import RawStore  # noqa: E402
from benchmarks.suite import (  # noqa: E402
    Op,
    Stat,
    Target,
    _ms,
    _ratio,
    available_backends,
    console,
    fresh_target,
    machine,
    markdown_table,
    measure,
    show,
)
from sessionstore import SessionEntry, open_store  # noqa: E402
from sessionstore.events import event_time_ms, header_event, message_text, words_of  # noqa: E402
from sessionstore.testing.transcripts import ASSISTANT_TEXTS, TOOL_CALLS, USER_TEXTS  # noqa: E402

Rows = list[list[str]]
T0 = 1_774_944_000_000  # 2026-03-31T08:00:00Z
KEY = "agent:main:main"
TAIL = 50
#: (query, what it stands for); the hit counts are counted while the events are made
QUERIES = [
    ("deploy", "very common"),
    ("invoice", "common"),
    ("backup finished", "two common words, together"),
    ("quarterly", "uncommon"),
    ("rollback plan", "two words, rarely together"),
    ("kubernetes", "rare"),
]
#: words planted into message text: at most one of these (word, share of text messages)...
PLANTED = [("deploy", 0.10), ("plan", 0.05), ("quarterly", 0.001), ("kubernetes", 0.0001)]
PLANTED_ONE_OF = [
    (word, low, low + share)
    for (word, share), low in zip(
        PLANTED, itertools.accumulate((s for _, s in PLANTED), initial=0.0), strict=False
    )
]
#: ...and independently "rollback"
ROLLBACK_SHARE = 0.01
#: events searched by default, here and in the suite (which must stay under 10 minutes)
SEARCH_EVENTS = 1_000_000
SUITE_SEARCH_EVENTS = 100_000
#: events of ADK's session, likewise (ADK writes about 100 a second, one at a time)
ADK_EVENTS = 10_000
SUITE_ADK_EVENTS = 2_000
#: message bodies made per step of the cycle
VARIANTS = 20_000
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


# -- events ------------------------------------------------------------------------------


class Conversation:
    """OpenClaw transcript events, made fast enough for a million: a cycle of a user
    turn, an assistant tool call, its result, an assistant reply, a user turn and a
    reply, the assistant messages with usage. Each message body is one of
    :data:`VARIANTS` made in advance per step, drawn at random: the synthetic
    generator's texts with four words of a long Zipf-like tail of made-up words, and the
    query words of :data:`PLANTED` at their rates. ``hits`` counts, per query of
    :data:`QUERIES`, the messages made so far that contain every word."""

    def __init__(self, seed: int = 13) -> None:
        self.rng = rng = random.Random(seed)
        # 6 letters made of consonant-vowel pairs: never one of the query words
        tail = sorted({"".join(rng.choices(SYLLABLES, k=3)) for _ in range(60_000)})
        rng.shuffle(tail)
        self.tail = tail
        self.tail_weights = list(itertools.accumulate(1 / (r + 10) for r in range(len(tail))))
        self.queries = [set(q.split()) for q, _ in QUERIES]
        self.hits = [0] * len(QUERIES)
        # Per step of the cycle: (message JSON up to its timestamp, the queries it matches).
        self.variants: list[list[tuple[bytes, list[int]]]] = []
        for step in range(6):
            made = []
            for v in range(VARIANTS if step != 1 else len(TOOL_CALLS)):
                message, hits = self._message(step, v)
                body = orjson.dumps({**message, "timestamp": 0})
                assert body.endswith(b'"timestamp":0}')
                made.append((body[: -len(b"0}")], hits))
            self.variants.append(made)

    def _text(self, text: str) -> tuple[str, list[int]]:
        """``text`` with 4 tail words and the planted query words; the queries it matches."""
        rng = self.rng
        extra = rng.choices(self.tail, cum_weights=self.tail_weights, k=4)
        first = rng.random()
        extra += [w for w, low, high in PLANTED_ONE_OF if low <= first < high]
        if rng.random() < ROLLBACK_SHARE:
            extra.append("rollback")
        full = f"{text} {' '.join(extra)}"
        words = words_of(full)
        return full, [i for i, query in enumerate(self.queries) if query <= words]

    def _message(self, step: int, variant: int) -> tuple[dict[str, Any], list[int]]:
        rng = self.rng
        if step in (0, 4):
            text, hits = self._text(rng.choice(USER_TEXTS))
            return {"role": "user", "content": [{"type": "text", "text": text}]}, hits
        name, arguments, result = TOOL_CALLS[variant % len(TOOL_CALLS)]
        if step == 1:
            call = {"type": "toolCall", "id": f"call_{variant:016x}", "name": name,
                    "arguments": arguments}  # fmt: skip
            return self._assistant([call], "toolUse"), []
        if step == 2:
            text, hits = self._text(result)
            return {"role": "toolResult", "toolCallId": f"call_{variant % len(TOOL_CALLS):016x}",
                    "toolName": name, "content": [{"type": "text", "text": text}],
                    "isError": False}, hits  # fmt: skip
        text, hits = self._text(rng.choice(ASSISTANT_TEXTS))
        return self._assistant([{"type": "text", "text": text}], "stop"), hits

    def _assistant(self, content: list[dict[str, Any]], stop: str) -> dict[str, Any]:
        tokens_in, tokens_out = self.rng.randint(800, 60_000), self.rng.randint(20, 2_000)
        return {"role": "assistant", "content": content, "api": "anthropic-messages",
                "provider": "anthropic", "model": "claude-opus-4-6",
                "usage": {"input": tokens_in, "output": tokens_out, "cacheRead": 0,
                          "cacheWrite": 0, "totalTokens": tokens_in + tokens_out,
                          "cost": {"input": round(tokens_in * 5e-6, 6),
                                   "output": round(tokens_out * 25e-6, 6), "cacheRead": 0,
                                   "cacheWrite": 0,
                                   "total": round(tokens_in * 5e-6 + tokens_out * 25e-6, 6)}},
                "stopReason": stop}  # fmt: skip

    def line(self, i: int, ms: int, parent: str | None) -> bytes:
        """Event ``i`` of a session as its JSON line; its id is ``i`` in hex."""
        stamp = iso_ms(ms).encode()
        parent_json = b"null" if parent is None else b'"' + parent.encode() + b'"'
        head = b'{"type":"%s","id":"%08x","parentId":%s,"timestamp":"%s"' % (
            b"message" if i else b"model_change",
            i,
            parent_json,
            stamp,
        )
        if i == 0:
            return head + b',"provider":"anthropic","modelId":"claude-opus-4-6"}'
        variants = self.variants[i % 6]
        body, hits = variants[int(self.rng.random() * len(variants))]
        for q in hits:
            self.hits[q] += 1
        return b'%s,"message":%s%d}}' % (head, body, ms)

    def lines(self, session_id: str, n: int, start_ms: int) -> list[bytes]:
        """What ``import_lines`` takes: the header line, then ``n`` events 30 s apart."""
        out = [orjson.dumps(header_event(session_id, "", start_ms - 1_000))]
        for i in range(n):
            out.append(self.line(i, start_ms + i * 30_000, None if i == 0 else f"{i - 1:08x}"))
        return out

    def events(self, n: int, start_ms: int) -> list[dict[str, Any]]:
        """The same as dicts, without the header."""
        return [orjson.loads(line) for line in self.lines("-", n, start_ms)[1:]]


@functools.cache
def conversation() -> Conversation:
    """One maker for the whole run (making the variants takes seconds)."""
    return Conversation()


_DAYS: dict[int, str] = {}


def iso_ms(ms: int) -> str:
    """``events.iso_ms``, a few times faster (a million events are made per run)."""
    day, rest = divmod(ms, 86_400_000)
    if (prefix := _DAYS.get(day)) is None:
        prefix = _DAYS[day] = time.strftime("%Y-%m-%dT", time.gmtime(day * 86_400))
    seconds, milli = divmod(rest, 1000)
    minutes, second = divmod(seconds, 60)
    return f"{prefix}{minutes // 60:02d}:{minutes % 60:02d}:{second:02d}.{milli:03d}Z"


def entry(session_id: str, updated_at: int = T0) -> SessionEntry:
    return SessionEntry(session_id=session_id, updated_at=updated_at)


# -- stores ------------------------------------------------------------------------------


@contextmanager
def tier_store(tier: str, backend: str, scratch: Path) -> Iterator[Any]:
    """A new store: the SQL tier on ``backend``, or the files tier (the index on SQLite,
    the ``.jsonl`` files in a directory of their own)."""
    with fresh_target(backend, scratch) as target:
        if tier == "sql":
            with open_store(target, transcripts="sql") as store:
                yield store
            return
        with (
            tempfile.TemporaryDirectory(dir=scratch) as directory,
            open_store(target, transcripts="files", transcripts_dir=directory) as store,
        ):
            yield store


# -- append against the bare driver -------------------------------------------------------


class RawAppend:
    """One event appended with the bare driver into the SQL tier's tables, two ways,
    each one transaction (``BEGIN IMMEDIATE`` on SQLite):

    - :meth:`row`, *the same row*: lock the transcript's row and read its last position,
      insert the line into ``transcript_events`` (on SQLite the full-text trigger indexes
      it), move the transcript's counters;
    - :meth:`full`, *the same transaction*: also lock and read the entry
      (``benchmarks/raw_baseline.py``), look the event's id up in the transcript, and
      write the entry back with its counters moved, as the library does.
    """

    def __init__(self, url: str, key: str, session_id: str) -> None:
        self.raw = RawStore(url)
        self.conn = self.raw.conn
        self.key, self.session_id = key, session_id
        mark = "?" if self.raw.sqlite else "%s"
        where = f"agent_id = {mark} AND session_id = {mark} AND topic = '' AND archive_slot = ''"
        self._lock = f"SELECT transcript_id, last_seq FROM session_transcripts WHERE {where}"
        if not self.raw.sqlite:
            self._lock += " FOR UPDATE"
        columns = ("agent_id", "transcript_id", "seq", "event_id", "idempotency_key", "kind",
                   "created_at", "bytes", "search_text", "header_json", "event_json")  # fmt: skip
        self._insert = (
            f"INSERT INTO transcript_events ({', '.join(columns)}) "
            f"VALUES ({', '.join([mark] * len(columns))})"
        )
        self._known = (
            "SELECT event_id FROM transcript_events WHERE agent_id = "
            f"{mark} AND transcript_id = {mark} AND event_id IN ({mark})"
        )
        self._counters = (
            f"UPDATE session_transcripts SET last_seq = {mark}, messages = messages + 1, "
            f"input_tokens = input_tokens + {mark}, output_tokens = output_tokens + {mark}, "
            f"total_tokens = {mark} WHERE agent_id = {mark} AND transcript_id = {mark}"
        )

    def row(self, event: dict[str, Any]) -> None:
        with self.raw._transaction():
            self._write(event)

    def full(self, event: dict[str, Any]) -> None:
        with self.raw._transaction():
            found = self.conn.execute(self.raw._lock, ("main", self.key)).fetchone()
            current = self.raw._entry(found)
            transcript_id = self._write(event, check=True)
            assert transcript_id is not None
            usage = event["message"]["usage"]
            current = {
                **current,
                "messageCount": (current.get("messageCount") or 0) + 1,
                "inputTokens": (current.get("inputTokens") or 0) + usage["input"],
                "outputTokens": (current.get("outputTokens") or 0) + usage["output"],
                "totalTokens": usage["totalTokens"],
                "totalTokensFresh": True,
            }
            self.conn.execute(self.raw._update, (*self.raw._encode(current), "main", self.key))

    def _write(self, event: dict[str, Any], *, check: bool = False) -> int | None:
        line = orjson.dumps(event)
        usage = event["message"]["usage"]
        transcript_id, last = self.conn.execute(self._lock, ("main", self.session_id)).fetchone()
        if (
            check
            and self.conn.execute(self._known, ("main", transcript_id, event["id"])).fetchone()
        ):
            return None
        seq = last + 1
        self.conn.execute(
            self._insert,
            ("main", transcript_id, seq, event["id"], None, event["type"], event_time_ms(event),
             len(line), message_text(event), None, line.decode()),
        )  # fmt: skip
        self.conn.execute(
            self._counters,
            (seq, usage["input"], usage["output"], usage["totalTokens"], "main", transcript_id),
        )
        return int(transcript_id)

    def close(self) -> None:
        self.raw.close()


@dataclass
class AppendRun:
    backend: str
    library: Stat
    raw_row: Stat
    raw_full: Stat
    events_before: int


def bench_append(backend: str, args: argparse.Namespace, scratch: Path) -> AppendRun:
    """Append p50 of one assistant reply (about 0.6 KB) by the library to one session
    and by the bare driver to two others of the same database, interleaved; every
    transcript starts with 1,000 imported events."""
    conv = conversation()
    sides = (("lib", KEY), ("row", "agent:main:raw-row"), ("full", "agent:main:raw-full"))
    with fresh_target(backend, scratch) as target, open_store(target, transcripts="sql") as store:
        t = store.transcripts
        for sid, key in sides:
            store.put(key, entry(sid).with_fields(message_count=0))
            t.import_lines(key, entry(sid), conv.lines(sid, 1000, T0))
        fresh = [orjson.loads(conv.line(6 * (200 + r) + 3, T0 + 10**8 + r, None))
                 for r in range(-1, args.repeats + 1)]  # fmt: skip
        made = {sid: [{**e, "id": f"{sid}{i:08x}"} for i, e in enumerate(fresh)]
                for sid, _ in sides}  # fmt: skip
        row = RawAppend(target, sides[1][1], "row")
        full = RawAppend(target, sides[2][1], "full")
        try:
            lib, raw_row, raw_full = measure(
                [Op(lambda r: t.append(KEY, [made["lib"][r + 1]])),
                 Op(lambda r: row.row(made["row"][r + 1])),
                 Op(lambda r: full.full(made["full"][r + 1]))],
                args.repeats, args.budget,
            )  # fmt: skip
        finally:
            row.close()
            full.close()
        # The three transcripts read back alike, and the entries' counters moved alike.
        for sid, key in sides:
            last = t.tail(key, limit=1)
            assert last and last[0]["id"].startswith(sid), (sid, last)
        assert store.get(KEY).message_count == store.get(sides[2][1]).message_count  # type: ignore[union-attr]
    console.print(
        f"  append ({backend}): library {_ms(lib.median_ms)} ms; bare driver, the same row "
        f"{_ms(raw_row.median_ms)} ms ({_ratio(lib.median_ms / raw_row.median_ms)}), the same "
        f"transaction {_ms(raw_full.median_ms)} ms ({_ratio(lib.median_ms / raw_full.median_ms)})"
    )
    return AppendRun(backend, lib, raw_row, raw_full, 1000)


# -- bounded reads -----------------------------------------------------------------------

READS = {
    "tail": "tail(50)",
    "page": "page(), newest 50",
    "page_before": "page(before=next_cursor)",
    "page_middle": "page(before=cursor in the middle)",
}


@dataclass
class ReadRun:
    tier: str
    events: int
    build_s: float
    latency: dict[str, Stat] = field(default_factory=dict)


def bench_reads(tier: str, sizes: list[int], args: argparse.Namespace, scratch: Path
                ) -> list[ReadRun]:  # fmt: skip
    """``tail`` and ``page`` of one session of each size, in a store of its own; every
    size's operations are timed in turn, so that a change of load meanwhile affects them
    alike and their ratio holds."""
    conv = conversation()
    runs: list[ReadRun] = []
    ops: list[Op] = []
    with ExitStack() as stack:
        for n in sizes:
            lines = conv.lines("s1", n, T0)
            store = stack.enter_context(tier_store(tier, "sqlite", scratch))
            t = store.transcripts
            store.put(KEY, entry("s1"))
            t0 = time.perf_counter()
            stored = t.import_lines(KEY, entry("s1"), lines)
            runs.append(ReadRun(tier, n, time.perf_counter() - t0))
            assert stored == len(lines), (stored, len(lines))
            del lines
            first = t.page(KEY, limit=TAIL)
            assert first.next_cursor is not None or n <= TAIL
            near = middle = first.next_cursor
            for _ in range(max(0, n // 2 - TAIL) // 1000):  # back to the middle, 1,000 a page
                assert middle is not None
                middle = t.page(KEY, before=middle, limit=1000).next_cursor
            assert middle is not None
            tail = t.tail(KEY, limit=TAIL)
            assert len(tail) == min(TAIL, n) and tail[-1]["id"] == f"{n - 1:08x}", tail[-1]
            ops += _reads(t, near, middle)
        stats = measure(ops, args.repeats, args.budget * len(sizes))
    for i, run in enumerate(runs):
        run.latency = dict(zip(READS, stats[i * len(READS) : (i + 1) * len(READS)], strict=True))
        console.print(
            f"  {tier} tier, {run.events:,} events (imported in {run.build_s:.2f} s): "
            + ", ".join(f"{READS[k]} {_ms(s.median_ms)} ms" for k, s in run.latency.items())
        )
    return runs


def _reads(t: Any, near: str | None, middle: str | None) -> list[Op]:
    """The operations of :data:`READS` on one store, in that order."""
    return [
        Op(lambda r: t.tail(KEY, limit=TAIL)),
        Op(lambda r: t.page(KEY, limit=TAIL)),
        Op(lambda r: t.page(KEY, before=near, limit=TAIL)),
        Op(lambda r: t.page(KEY, before=middle, limit=TAIL)),
    ]


# -- beside Google ADK -------------------------------------------------------------------


@dataclass
class AdkRun:
    events: int
    adk_version: str
    build_s: float
    adk_recent: Stat
    adk_all: Stat
    tail: Stat
    page: Stat
    #: the floor: the bare driver reading the same 50 lines and parsing them
    bare: Stat | None = None


#: The bare driver's read of the newest lines of the live transcript of session ``?``.
BARE_TAIL = (
    "SELECT event_json FROM transcript_events WHERE agent_id = 'main' AND transcript_id = "
    "(SELECT transcript_id FROM session_transcripts WHERE agent_id = 'main' AND session_id = ? "
    "AND topic = '' AND archive_slot = '') ORDER BY seq DESC LIMIT ?"
)


def _bare_tail(conn: sqlite3.Connection, session_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(BARE_TAIL, (session_id, TAIL)).fetchall()
    return [orjson.loads(row[0]) for row in reversed(rows)]


def _adk_events(conv: Conversation, n: int) -> tuple[list[Any], list[dict[str, Any]]]:
    """The same conversation twice: ADK ``Event`` objects and OpenClaw events."""
    event_class = importlib.import_module("google.adk.events").Event
    types = importlib.import_module("google.genai.types")

    adk: list[Any] = []
    ours = list(conv.events(n, T0))
    for i, event in enumerate(ours):
        message = event.get("message")
        ts = (T0 + i * 30_000) / 1000
        if message is None:  # the model change: an event without content
            adk.append(event_class(invocation_id="inv0", author="agent", timestamp=ts))
            continue
        role = "user" if message["role"] == "user" else "model"
        parts = []
        for part in message["content"]:
            if part["type"] == "text":
                parts.append(types.Part(text=part["text"]))
            else:
                call = types.FunctionCall(id=part["id"], name=part["name"], args=part["arguments"])
                parts.append(types.Part(function_call=call))
        if message["role"] == "toolResult":
            response = {"result": message["content"][0]["text"]}
            answer = types.FunctionResponse(id=message["toolCallId"], name=message["toolName"],
                                            response=response)  # fmt: skip
            parts = [types.Part(function_response=answer)]
        adk.append(
            event_class(invocation_id=f"inv{i // 6}", author="user" if role == "user" else "agent",
                  timestamp=ts, content=types.Content(role=role, parts=parts))
        )  # fmt: skip
    return adk, ours


def bench_adk(args: argparse.Namespace, scratch: Path) -> AdkRun:
    """ADK's ``get_session`` of the last 50 events (and of all of them) against
    ``tail(key, limit=50)`` and ``page(key, limit=50)``, on one SQLite file each."""
    sessions = importlib.import_module("google.adk.sessions")
    service_class = sessions.DatabaseSessionService
    config_class = importlib.import_module(
        "google.adk.sessions.base_session_service"
    ).GetSessionConfig

    n = args.adk_events
    adk_events, ours = _adk_events(conversation(), n)
    loop = asyncio.new_event_loop()
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        service = service_class(f"sqlite+aiosqlite:///{Path(tmp) / 'adk.db'}")
        try:
            session = loop.run_until_complete(
                service.create_session(app_name="bench", user_id="u1", session_id="s1")
            )
            t0 = time.perf_counter()
            for event in adk_events:
                loop.run_until_complete(service.append_event(session, event))
            build_s = time.perf_counter() - t0
            console.print(
                f"  ADK {version('google-adk')}: {n:,} events written with append_event in "
                f"{build_s:.1f} s ({build_s / n * 1000:.2f} ms each)"
            )
            recent = config_class(num_recent_events=TAIL)

            def adk_get(config: Any) -> Any:
                return loop.run_until_complete(
                    service.get_session(app_name="bench", user_id="u1", session_id="s1",
                                        config=config)
                )  # fmt: skip

            got = adk_get(recent)
            assert got is not None and len(got.events) == TAIL, got
            with tier_store("sql", "sqlite", scratch) as store:
                t = store.transcripts
                store.put(KEY, entry("s1"))
                lines = [orjson.dumps(header_event("s1", "", T0 - 1000)),
                         *map(orjson.dumps, ours)]  # fmt: skip
                t.import_lines(KEY, entry("s1"), lines)
                assert [e["id"] for e in t.tail(KEY, limit=TAIL)] == [e["id"] for e in ours[-TAIL:]]
                bare = sqlite3.connect(make_url(store.url).database or "")
                assert _bare_tail(bare, "s1") == t.tail(KEY, limit=TAIL)
                # ADK's calls leave much garbage: collected untimed after every call, so
                # that none is charged to the call after it.
                adk_recent, tail, page, floor = measure(
                    [Op(lambda r: adk_get(recent), _collect),
                     Op(lambda r: t.tail(KEY, limit=TAIL), _collect),
                     Op(lambda r: t.page(KEY, limit=TAIL), _collect),
                     Op(lambda r: _bare_tail(bare, "s1"), _collect)],
                    args.repeats, 3 * args.budget,
                )  # fmt: skip
                bare.close()
                (adk_all,) = measure([Op(lambda r: adk_get(None))], 5, args.budget)
        finally:
            loop.run_until_complete(service.close())
            loop.close()
    console.print(
        f"  ADK get_session(last 50) {_ms(adk_recent.median_ms)} ms, all {n:,} "
        f"{_ms(adk_all.median_ms)} ms; tail(50) {_ms(tail.median_ms)} ms: "
        f"{adk_recent.median_ms / tail.median_ms:,.0f}x"
    )
    return AdkRun(n, version("google-adk"), build_s, adk_recent, adk_all, tail, page, floor)


def _collect(r: int) -> None:
    gc.collect(1)  # the young generations: what one call leaves, cheaply


# -- search ------------------------------------------------------------------------------


@dataclass
class SearchRun:
    backend: str
    events: int
    sessions: int
    build_s: float
    disk_mb: float
    queries: list[dict[str, Any]] = field(default_factory=list)


def bench_search(backend: str, args: argparse.Namespace, scratch: Path) -> SearchRun:
    """``search(query, limit=20)`` over ``--search-events`` events in
    ``--search-sessions`` sessions, each session imported with ``import_lines``."""
    from benchmarks.suite import disk_bytes

    sessions, total = args.search_sessions, args.search_events
    per = total // sessions
    conv = conversation()
    conv.hits = [0] * len(QUERIES)
    rng = random.Random(5)
    with fresh_target(backend, scratch) as target:
        with open_store(target, transcripts="sql") as store:
            t = store.transcripts
            keys = [f"agent:main:telegram:direct:{i}" for i in range(sessions)]
            starts = [T0 - rng.randrange(60 * 86_400_000) for _ in range(sessions)]
            store.put_many(
                ((k, entry(f"s{i:05d}", s + per * 30_000)) for i, (k, s)
                 in enumerate(zip(keys, starts, strict=True))),
                batch_size=500,
            )  # fmt: skip
            t0 = time.perf_counter()
            for i, (key, start) in enumerate(zip(keys, starts, strict=True)):
                sid = f"s{i:05d}"
                t.import_lines(key, entry(sid), conv.lines(sid, per, start))
                if i and i % (sessions // 4 or 1) == 0:
                    rate = i * per / (time.perf_counter() - t0)
                    console.print(f"    {i * per:,} events imported ({rate:,.0f}/s)")
            build_s = time.perf_counter() - t0
        if backend == "postgresql":  # a steady state: autovacuum would have run by now
            from benchmarks.suite import _pg

            with _pg(target) as conn:
                for table in ("transcript_events", "session_transcripts", "sessions"):
                    conn.execute(f'VACUUM ANALYZE "{table}"')
        disk_mb = disk_bytes(backend, target) / 1e6
        console.print(
            f"  search ({backend}): {sessions * per:,} events in {sessions:,} sessions imported "
            f"in {build_s:.0f} s ({sessions * per / build_s:,.0f}/s), {disk_mb:,.0f} MB on disk"
        )
        run = SearchRun(backend, sessions * per, sessions, build_s, disk_mb)
        with open_store(target, transcripts="sql") as store:
            t = store.transcripts
            ops = [_searching(t, query) for query, _ in QUERIES]
            stats = measure(ops, args.repeats, args.budget * 2)
            for (query, kind), stat, hits in zip(QUERIES, stats, conv.hits, strict=True):
                found = t.search(query, limit=20)
                assert len(found) == min(20, hits), (query, len(found), hits)
                run.queries.append({"query": query, "kind": kind, "matches": hits,
                                    "stat": stat})  # fmt: skip
                console.print(
                    f"    {query!r} ({hits:,} matching events): p50 {_ms(stat.median_ms)} ms, "
                    f"p95 {_ms(stat.p95_ms)} ms"
                )
    return run


def _searching(transcripts: Any, query: str) -> Op:
    return Op(lambda r: transcripts.search(query, limit=20))


# -- the run -----------------------------------------------------------------------------


@dataclass
class Results:
    appends: list[AppendRun] = field(default_factory=list)
    reads: list[ReadRun] = field(default_factory=list)
    adk: AdkRun | None = None
    searches: list[SearchRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0


OPTIONS = ("sizes", "search_events", "search_sessions", "adk_events")
PARTS = ("append", "reads", "adk", "search")


def add_arguments(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """The size options, also offered by ``benchmarks/suite.py`` (as ``--transcript-...``)."""
    group = parser.add_argument_group("transcripts")
    group.add_argument(f"--{prefix}sizes", help="events in the session that tail and page "
                       "read, comma-separated (100,1000,10000,100000)")  # fmt: skip
    group.add_argument(f"--{prefix}search-events", type=int,
                       help=f"events searched ({SEARCH_EVENTS:,}; {SUITE_SEARCH_EVENTS:,} in "
                       "the suite)")  # fmt: skip
    group.add_argument(f"--{prefix}search-sessions", type=int,
                       help="sessions they are in (one per 100 events)")  # fmt: skip
    group.add_argument(f"--{prefix}adk-events", type=int,
                       help=f"events of the ADK session ({ADK_EVENTS:,}; {SUITE_ADK_EVENTS:,} in "
                       "the suite)")  # fmt: skip


def options(args: argparse.Namespace, prefix: str = "", *, quick: bool, suite: bool = False
            ) -> argparse.Namespace:  # fmt: skip
    """This benchmark's settings from ``args`` (options named with ``prefix``), each
    missing one its default: small with ``quick``, a smaller search in the suite (which
    must stay under 10 minutes) and a shorter ADK session."""
    found = argparse.Namespace(
        **{name: getattr(args, prefix.replace("-", "_") + name, None) for name in OPTIONS},
        repeats=args.repeats, budget=args.budget,
    )  # fmt: skip
    search = SUITE_SEARCH_EVENTS if suite else SEARCH_EVENTS
    defaults = {
        "sizes": "100,1000,3000" if quick else "100,1000,10000,100000",
        "search_events": 20_000 if quick else search,
        "adk_events": 600 if quick else SUITE_ADK_EVENTS if suite else ADK_EVENTS,
        "repeats": 30 if quick else 300,
        "budget": 0.3 if quick else 1.0,
    }
    for name, default in defaults.items():
        if getattr(found, name) is None:
            setattr(found, name, default)
    if found.search_sessions is None:
        found.search_sessions = max(1, found.search_events // 100)
    return found


def run(args: argparse.Namespace, backends: list[str], scratch: Path) -> Results:
    """Every part on the given backends (``sqlite``, ``postgresql``); an unreachable
    server or a missing ``google-adk`` is skipped with a note."""
    started = time.perf_counter()
    sizes = sorted(int(n) for n in str(args.sizes).split(","))
    results = Results(settings={
        "sizes": sizes, "search_events": args.search_events,
        "search_sessions": args.search_sessions, "adk_events": args.adk_events,
        "repeats": args.repeats, "budget_s": args.budget, "backends": backends,
    })  # fmt: skip
    parts = getattr(args, "parts", None) or PARTS
    if "append" in parts:
        console.rule("Transcripts: append, one event")
        for backend in backends:
            results.appends.append(bench_append(backend, args, scratch))
    if "reads" in parts:
        console.rule("Transcripts: Tail and page against the session's length")
        for tier in ("sql", "files"):
            results.reads += bench_reads(tier, sizes, args, scratch)
    if "adk" in parts:
        console.rule("Transcripts: beside Google ADK")
        try:
            importlib.import_module("google.adk.sessions")
        except ImportError as exc:
            results.notes.append(f"Google ADK not run: {exc} (pip install 'sessionstore[bench]')")
            console.print(f"  [yellow]{results.notes[-1]}[/yellow]")
        else:
            results.adk = bench_adk(args, scratch)
    if "search" in parts:
        console.rule("Transcripts: search")
        for backend in backends:
            results.searches.append(bench_search(backend, args, scratch))
    results.wall_s = time.perf_counter() - started
    return results


# -- output ------------------------------------------------------------------------------


DESCRIPTION = """\
How `store.transcripts` performs on both tiers, measured by `benchmarks/transcripts.py`
({how}; {wall:.0f} s). Events are OpenClaw transcript lines (version 3) of about 0.4 KB:
a cycle of a user turn, an assistant tool call, its result, an assistant reply, a user
turn and a reply, the assistant messages with usage and cost. Transcripts are loaded
with `import_lines`, one transaction per session. Median and p95 of repetitions timed
in turn, up to {repeats} or {budget} s per group of operations; figures in ms, the p95 in
brackets. The machine is shared with other work (see the load averages in its table):
figures move by tens of percent from one run to the next.

- *Append*: one assistant reply (about 0.6 KB) appended by the SQL tier to a
  transcript of 1,000 events, in turn with the bare driver (`sqlite3`, psycopg, with
  the library's pragmas) writing into the same tables (revision `0006`). *The same
  row*: one transaction that locks the transcript's row and reads its last position,
  inserts the line into `transcript_events` (where SQLite's full-text trigger indexes
  it) and moves the transcript's counters. *The same transaction* also locks and reads
  the entry, looks the event's id up in the transcript and writes the entry back with
  its counters moved, as the library does. The target compares with the same row.
- *Tail and page*: one session of {sizes} events, a new store for each, on the SQL
  tier (SQLite) and on the files tier (the `.jsonl` file in a directory of its own,
  the index on SQLite), every size's operations timed in turn. `page(before=next_cursor)`
  reads the page after the newest; `page(before=cursor in the middle)` starts halfway,
  the cursor reached by paging back 1,000 events at a time.
- *Beside Google ADK*: ADK's `DatabaseSessionService` on a SQLite file
  (`sqlite+aiosqlite`, ADK's defaults), its session of {adk:,} events written with
  `append_event`, one event at a time (the same texts; tool calls and results as
  `function_call` and `function_response` parts). Its `get_session` with
  `GetSessionConfig(num_recent_events=50)`, and without (every event), each run to
  completion on one event loop, in turn with `tail(key, limit=50)` and `page(key,
  limit=50)` on a SQLite store of the same events, and beside the floor of any
  library on this layout: the bare `sqlite3` module reading the same 50 lines with
  one `SELECT` and parsing them with `orjson`; a garbage collection after each call,
  untimed. The session's length is `--adk-events` ({adk_alone:,} by default;
  {adk_suite:,} in `benchmarks/suite.py`).
- *Search*: {events:,} events in {sessions:,} sessions ({per:,} each, their start
  times spread over 60 days); words planted at set rates make one- and two-word
  queries from very common to rare; `search(query, limit=20)`. The matching events
  are counted while the events are made, and each query must return min(20,
  matches) hits. PostgreSQL's tables are `VACUUM ANALYZE`d first. The size is
  `--search-events` ({alone:,} by default; {suite:,} in `benchmarks/suite.py`).
"""


def section(results: Results, how: str, machine_info: dict[str, str] | None = None) -> str:
    """The results page's ``## Transcripts`` section: what was measured, the targets,
    every table (and the machine, when this is not part of the suite's page)."""
    settings = results.settings
    sizes = settings["sizes"]
    shown = ", ".join(f"{n:,}" for n in sizes[:-1]) + f" and {sizes[-1]:,}"
    events, sessions = settings["search_events"], settings["search_sessions"]
    text = DESCRIPTION.format(
        how=how, wall=results.wall_s, repeats=settings["repeats"], budget=settings["budget_s"],
        sizes=shown, adk=settings["adk_events"], events=events // sessions * sessions,
        sessions=sessions, per=events // sessions, alone=SEARCH_EVENTS, suite=SUITE_SEARCH_EVENTS,
        adk_alone=ADK_EVENTS, adk_suite=SUITE_ADK_EVENTS,
    )  # fmt: skip
    parts = ["## Transcripts\n", text]
    if machine_info:
        parts += [markdown_table(["Machine", ""], [[k, v] for k, v in machine_info.items()]), ""]
    parts += ["### Targets\n", markdown_table(TARGETS, target_rows(targets(results))), ""]
    for title, header, rows in tables(results):
        parts += [f"### {title.removeprefix('Transcripts: ')}\n", markdown_table(header, rows), ""]
    parts += [*(f"- {floor}" for floor in floors(results)), ""]
    if results.notes:
        parts += [*(f"- {note}" for note in results.notes), ""]
    return "\n".join(parts).rstrip() + "\n"


def floors(results: Results) -> list[str]:
    """What the bare driver needs for the work the contract asks, beside the targets
    that compare with less work."""
    found = []
    for a in results.appends:
        found.append(
            f"Append on {a.backend}: the bare driver's whole transaction (the entry's "
            "counters updated with the line, as the contract asks) takes "
            f"{a.raw_full.median_ms / a.raw_row.median_ms:.2f}x its insert of the row alone; "
            f"the library takes {a.library.median_ms / a.raw_full.median_ms:.2f}x that "
            "transaction."
        )
    if (adk := results.adk) and adk.bare:
        found.append(
            "ADK's `get_session(num_recent_events=50)` is itself one bounded query. The bare "
            "driver reading and parsing the same 50 lines, the least a library that returns "
            f"parsed events can do, is {adk.adk_recent.median_ms / adk.bare.median_ms:,.0f}x "
            f"faster than ADK; `tail(50)` takes {adk.tail.median_ms / adk.bare.median_ms:.2f}x "
            "that floor."
        )
    return found


def replace_section(page: Path, text: str, heading: str = "## Transcripts") -> None:
    """Put ``text`` in place of the page's ``heading`` section (up to the next ``## ``
    heading), or before its notes and plots when it has none."""
    lines = page.read_text(encoding="utf-8").splitlines(keepends=True) if page.exists() else []
    heads = [i for i, line in enumerate(lines) if line.startswith("## ")]
    mine = [i for i in heads if lines[i].strip() == heading]
    if mine:
        start = mine[0]
        end = next((i for i in heads if i > start), len(lines))
    else:
        start = end = next(
            (i for i in heads if lines[i].strip() in ("## Notes", "## Plots")), len(lines)
        )
    block = text if end == len(lines) else text + "\n"
    page.write_text("".join([*lines[:start], block, *lines[end:]]), encoding="utf-8")


def show_all(results: Results) -> None:
    """Every table and the targets, on the console."""
    for title, header, rows in tables(results):
        show(title, header, rows)
    show("Transcripts: targets", TARGETS, target_rows(targets(results)))


TARGETS = ["Target", "Measured", "Goal", "Result"]


def target_rows(found: list[Target]) -> Rows:
    return [[t.name, t.shown, t.goal, t.result] for t in found]


APPENDS = ["Backend", "library, ms", "n", "bare driver, the same row, ms", "library over it",
           "bare driver, the same transaction, ms", "library over it"]  # fmt: skip
ADK_HEADER = ["Read", "ms", "n", "over tail(50)"]
SEARCH_HEADER = ["Backend", "Query", "kind", "matching events", "ms", "n"]
BUILD_HEADER = ["What", "Where", "events", "seconds", "events/s", "on disk MB"]


def _stat(s: Stat) -> str:
    """The median, and the p95 in brackets."""
    return f"{_ms(s.median_ms)} (p95 {_ms(s.p95_ms)})"


def tables(results: Results) -> list[tuple[str, list[str], Rows]]:
    """The tables of the run; their titles start with ``Transcripts: ``."""
    out: list[tuple[str, list[str], Rows]] = []
    if results.appends:
        rows = [
            [a.backend, _stat(a.library), str(a.library.samples), _stat(a.raw_row),
             _ratio(a.library.median_ms / a.raw_row.median_ms), _stat(a.raw_full),
             _ratio(a.library.median_ms / a.raw_full.median_ms)]
            for a in results.appends
        ]  # fmt: skip
        out.append(("Transcripts: Append one event, against the bare driver", APPENDS, rows))
    if results.reads:
        sizes = sorted({r.events for r in results.reads})
        header = ["Tier", "Operation", *(f"{n:,} events, ms" for n in sizes),
                  f"{sizes[-1]:,} / {sizes[0]:,}"]  # fmt: skip
        rows = []
        for tier in dict.fromkeys(r.tier for r in results.reads):
            by_n = {r.events: r for r in results.reads if r.tier == tier}
            for op, label in READS.items():
                cells = [_stat(by_n[n].latency[op]) if n in by_n else "-" for n in sizes]
                ratio = by_n[sizes[-1]].latency[op].median_ms / by_n[sizes[0]].latency[op].median_ms
                rows.append([tier, label, *cells, _ratio(ratio)])
        out.append(("Transcripts: Tail and page against the session's length", header, rows))
    if adk := results.adk:
        rows = [
            [f"ADK {adk.adk_version} get_session(num_recent_events=50)", _stat(adk.adk_recent),
             str(adk.adk_recent.samples), f"{adk.adk_recent.median_ms / adk.tail.median_ms:,.0f}x"],
            [f"ADK {adk.adk_version} get_session(), all {adk.events:,} events",
             _stat(adk.adk_all), str(adk.adk_all.samples),
             f"{adk.adk_all.median_ms / adk.tail.median_ms:,.0f}x"],
            ["sessionstore tail(key, limit=50)", _stat(adk.tail), str(adk.tail.samples), "1.00x"],
            ["sessionstore page(key, limit=50)", _stat(adk.page), str(adk.page.samples),
             _ratio(adk.page.median_ms / adk.tail.median_ms)],
            *([["bare sqlite3: the same 50 lines, SELECT and orjson.loads (the floor)",
                _stat(adk.bare), str(adk.bare.samples),
                _ratio(adk.bare.median_ms / adk.tail.median_ms)]] if adk.bare else []),
        ]  # fmt: skip
        title = f"Transcripts: The last 50 of {adk.events:,} events, beside Google ADK (SQLite)"
        out.append((title, ADK_HEADER, rows))
    if results.searches:
        rows = [
            [s.backend, f"`{q['query']}`", q["kind"], f"{q['matches']:,}", _stat(q["stat"]),
             str(q["stat"].samples)]
            for s in results.searches for q in s.queries
        ]  # fmt: skip
        corpora = sorted({(s.events, s.sessions) for s in results.searches})
        over = " / ".join(f"{events:,} events in {count:,} sessions" for events, count in corpora)
        out.append((f"Transcripts: search(query, limit=20) over {over}", SEARCH_HEADER, rows))
    builds = [
        ["one session, import_lines", f"{r.tier} tier (SQLite)", f"{r.events:,}",
         f"{r.build_s:.2f}", f"{r.events / r.build_s:,.0f}", "-"]
        for r in results.reads
    ]  # fmt: skip
    if adk:
        builds.append(["ADK's session, append_event one by one", "ADK (SQLite)",
                       f"{adk.events:,}", f"{adk.build_s:.1f}", f"{adk.events / adk.build_s:,.0f}",
                       "-"])  # fmt: skip
    for s in results.searches:
        builds.append([f"search corpus, import_lines per session ({s.events // s.sessions:,})",
                       f"sql tier ({s.backend})", f"{s.events:,}", f"{s.build_s:.1f}",
                       f"{s.events / s.build_s:,.0f}", f"{s.disk_mb:,.0f}"])  # fmt: skip
    if builds:
        out.append(("Transcripts: Loading the events", BUILD_HEADER, builds))
    return out


def targets(results: Results) -> list[Target]:
    found: list[Target] = []
    for a in results.appends:
        ratio = a.library.median_ms / a.raw_row.median_ms
        driver = "sqlite3" if a.backend == "sqlite" else "psycopg"
        name = f"{a.backend} transcript append p50, vs bare {driver} inserting the same row"
        found.append(Target(name, "<= 2x",
                            ratio, 2, _ratio(ratio)))  # fmt: skip
    for tier in dict.fromkeys(r.tier for r in results.reads):
        by_n = {r.events: r for r in results.reads if r.tier == tier}
        big, small = max(by_n), min(by_n)
        for op in ("tail", "page_before", "page_middle"):
            ratio = by_n[big].latency[op].median_ms / by_n[small].latency[op].median_ms
            name = f"{tier} tier {READS[op]}, p50 at {big:,} events over {small:,}"
            found.append(Target(name, "<= 1.5x", ratio, 1.5, _ratio(ratio)))
    if adk := results.adk:
        speedup = adk.adk_recent.median_ms / adk.tail.median_ms
        name = (f"last 50 of {adk.events:,} events: tail(50) speed-up over ADK "
                "get_session(num_recent_events=50)")  # fmt: skip
        found.append(Target(name, ">= 100x", speedup, 100, f"{speedup:,.0f}x", False))
    for s in results.searches:
        for q in s.queries:
            ms = q["stat"].median_ms
            name = f"{s.backend} search p50 over {s.events:,} events, `{q['query']}`"
            found.append(Target(name, "<= 50 ms", ms, 50, f"{_ms(ms)} ms"))
    return found


def to_json(results: Results) -> dict[str, Any]:
    def stats(value: Any) -> Any:
        if isinstance(value, Stat):
            return asdict(value)
        if isinstance(value, dict):
            return {k: stats(v) for k, v in value.items()}
        if isinstance(value, list):
            return [stats(v) for v in value]
        return value

    return {
        "settings": results.settings,
        "appends": [asdict(a) for a in results.appends],
        "reads": [asdict(r) for r in results.reads],
        "adk": results.adk and asdict(results.adk),
        "searches": [{**asdict(s), "queries": stats(s.queries)} for s in results.searches],
        "targets": [{**asdict(t), "result": t.result} for t in targets(results)],
        "notes": results.notes,
        "wall_s": results.wall_s,
    }


def from_json(document: dict[str, Any]) -> Results:
    """The results of a run from its JSON file (:func:`to_json`), to write them again."""

    def stat(value: dict[str, Any]) -> Stat:
        return Stat(**value)

    results = Results(settings=document["settings"], notes=document["notes"],
                      wall_s=document["wall_s"])  # fmt: skip
    results.appends = [
        AppendRun(a["backend"], stat(a["library"]), stat(a["raw_row"]), stat(a["raw_full"]),
                  a["events_before"])
        for a in document["appends"]
    ]  # fmt: skip
    results.reads = [
        ReadRun(r["tier"], r["events"], r["build_s"], {k: stat(v) for k, v in r["latency"].items()})
        for r in document["reads"]
    ]
    if adk := document["adk"]:
        results.adk = AdkRun(adk["events"], adk["adk_version"], adk["build_s"],
                             stat(adk["adk_recent"]), stat(adk["adk_all"]), stat(adk["tail"]),
                             stat(adk["page"]),
                             stat(adk["bare"]) if adk.get("bare") else None)  # fmt: skip
    results.searches = [
        SearchRun(s["backend"], s["events"], s["sessions"], s["build_s"], s["disk_mb"],
                  [{**q, "stat": stat(q["stat"])} for q in s["queries"]])
        for s in document["searches"]
    ]  # fmt: skip
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--repeats", type=int, help="most repetitions of an op (300)")
    parser.add_argument("--budget", type=float, help="seconds per group of ops (1.0)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "transcripts.json")
    parser.add_argument("--markdown", type=Path,
                        help="put the results in this page's Transcripts section")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="a smoke run at small sizes")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help="which parts to run, comma-separated (all four)")  # fmt: skip
    parser.add_argument("--from-json", type=Path,
                        help="run nothing: show (and with --markdown write) the results "
                        "that run saved in this file")  # fmt: skip
    given = parser.parse_args()
    if given.from_json:
        document = json.loads(given.from_json.read_text(encoding="utf-8"))
        saved = from_json(document)
        show_all(saved)
        if given.markdown:
            replace_section(given.markdown, section(saved, "run alone", document["machine"]))
        return 0
    args = options(given, quick=given.quick)
    args.parts = [p.strip() for p in given.parts.split(",") if p.strip()]
    if unknown := set(args.parts) - set(PARTS):
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    # A stopped run still drops its PostgreSQL schemas and temporary files.
    signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))
    notes: list[str] = []
    wanted = [b for b in given.backends.split(",") if b in ("sqlite", "postgresql")]
    backends, pg = available_backends(wanted, notes)
    info = machine(pg)
    console.print("; ".join(f"{k}: {v}" for k, v in info.items()))
    with tempfile.TemporaryDirectory(prefix="sessionstore-bench-") as tmp:
        results = run(args, backends, Path(tmp))
    results.notes[:0] = notes
    show_all(results)
    info["Load average at the end (1 min)"] = f"{os.getloadavg()[0]:.2f}"
    console.print(f"Finished in {results.wall_s:.0f} s; load average now {os.getloadavg()[0]:.2f}.")
    given.out.parent.mkdir(parents=True, exist_ok=True)
    document = {"machine": info, **to_json(results)}
    given.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    if given.markdown:
        replace_section(given.markdown, section(results, "run alone", info))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark suite: every store operation at 1,000 to 100,000 sessions, per backend,
against the raw-driver baseline and the JSON twin, with the issue's targets.

For each size N it builds a store of N realistic entries (about 2 KB of metadata; about
70 % also carry the ~40 KB ``skillsSnapshot`` shared by most entries and a
``systemPromptReport`` of their own) on SQLite, PostgreSQL and the JSON twin (up to
N = 10,000), and times open + first page, get, put, patch, update, list (with and
without a filter), count and delete: median and p95 of many repetitions, interleaved
with the raw-driver baseline (``benchmarks/raw_baseline.py``) on the same rows, and set
against the JSON twin at the same N. It also measures bulk import, size on disk and,
in a new process per store, memory; then the workload of the earlier SQLite proposal
(1,000 sessions of ~42 KB sharing one prompt). Last come the transcripts
(``benchmarks/transcripts.py``: append, tail and page, beside Google ADK, search). It
writes a JSON file, plots and a Markdown page. Usage::

    python benchmarks/suite.py [--sizes 1000,10000,100000] [--backends sqlite,postgresql,json]
        [--repeats 300] [--budget 1.0] [--out benchmarks/results.json]
        [--plots docs/benchmarks] [--markdown docs/benchmarks.md] [--quick]
        [--import-entries 10000] [--import-rounds 3] [--import-only]
        [--no-transcripts] [--transcript-search-events 100000] [--transcript-...]

``--import-only`` runs the bulk import alone (migrate, put_many and the raw driver, side
by side) and prints its table and target.

The exit status is 0 whether the targets are met or not: this is a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import SQLAlchemyError

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.raw_baseline import RawStore, open_raw  # noqa: E402
from sessionstore import SessionEntry, __version__, open_store, upgrade  # noqa: E402
from sessionstore.testing import generate_state_dir  # noqa: E402
from sessionstore.transfer import migrate  # noqa: E402

POSTGRES_URL = os.environ.get(
    "SESSIONSTORE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
NOW = 1_774_962_000_000
JSON_MAX_N = 10_000  # beyond this a single JSON-twin write takes many seconds
TEMPLATES = 200
SAMPLE_KEYS = 200
MIN_SAMPLES = 3
SLOW_S = 0.2
FILTER = "slack"
NOTES = " ".join(f"Follow-up {n}: the customer asked about the March invoice." for n in range(16))
OPERATIONS = {
    "open": "open + first page",
    "get": "get",
    "put": "put (upsert)",
    "patch": "patch",
    "update": "update",
    "list": "list, one page of 50",
    "list_filter": f"list, channel={FILTER}",
    "count": "count",
    "delete": "delete",
}
console = Console(emoji=False, width=150)
Rows = list[list[str]]


# -- the workload ------------------------------------------------------------------------


class Workload:
    """Entry ``i`` as a function of ``i``, made from the entries of the synthetic generator
    (``generate_state_dir``): each index has its own key, session id, times and
    ``systemPromptReport``; the ``skillsSnapshot`` objects are shared, as in real stores.
    A ``notes`` field brings the metadata to about 2 KB."""

    def __init__(self, scratch: Path) -> None:
        state = generate_state_dir(
            scratch / "templates", agents=("main",), sessions_per_agent=TEMPLATES, transcripts=False
        )
        data = orjson.loads(state.store_path("main").read_bytes())
        blobs = ("skillsSnapshot", "systemPromptReport")
        self.heavy = [(k, SessionEntry.from_dict({**v, "notes": NOTES})) for k, v in data.items()]
        self.light = [
            (k, SessionEntry.from_dict({**{f: x for f, x in v.items() if f not in blobs},
                                        "notes": NOTES}))
            for k, v in data.items()
        ]  # fmt: skip
        extras = [e.model_extra or {} for _, e in self.heavy]
        self.snapshot = next(x["skillsSnapshot"] for x in extras if "skillsSnapshot" in x)

    def key(self, i: int) -> str:
        return f"{self.heavy[i % TEMPLATES][0]}:{i}"

    def entry(self, i: int, bump: int = 0, *, light: bool = False) -> SessionEntry:
        template = (self.light if light else self.heavy)[i % TEMPLATES][1]
        sid = str(uuid.UUID(int=random.Random(i).getrandbits(128), version=4))
        updated = NOW - (i * 7_919_993) % (60 * 86_400_000) + bump
        changes: dict[str, Any] = {
            "session_id": sid,
            "updated_at": updated,
            "session_started_at": updated - 3_600_000,
            "session_file": f"/home/openclaw/.openclaw/agents/main/sessions/{sid}.jsonl",
        }
        report = (template.model_extra or {}).get("systemPromptReport")
        if report is not None:
            changes["systemPromptReport"] = {
                **report, "sessionId": sid, "sessionKey": self.key(i), "generatedAt": updated
            }  # fmt: skip
        return template.model_copy(update=changes)

    def proposal_entry(self, i: int) -> SessionEntry:
        """The earlier proposal's entry: ~2 KB of metadata and the one shared prompt."""
        return self.entry(i, light=True).model_copy(update={"skillsSnapshot": self.snapshot})

    def describe(self) -> str:
        sizes = [len(self.entry(i).to_json()) for i in range(TEMPLATES)]
        heavy = [i for i in range(TEMPLATES) if "skillsSnapshot" in self.heavy[i][1].to_dict()]
        reports = [len(orjson.dumps(self.entry(i).to_dict()["systemPromptReport"])) for i in heavy]
        return (
            f"{len(heavy) / TEMPLATES:.0%} of the entries carry a skillsSnapshot "
            f"({len(orjson.dumps(self.snapshot)) / 1e3:.1f} KB, shared) and a "
            f"systemPromptReport of their own ({statistics.mean(reports) / 1e3:.1f} KB on "
            f"average); entries have {statistics.mean(sizes) / 1e3:.1f} KB of JSON on average, "
            f"{statistics.mean(len(e.to_json()) for _, e in self.light) / 1e3:.2f} KB without "
            "those two fields"
        )


# -- timing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stat:
    median_ms: float
    p95_ms: float
    samples: int

    @classmethod
    def of(cls, seconds: list[float]) -> Stat:
        ordered = sorted(seconds)
        p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
        return cls(statistics.median(ordered) * 1000, p95 * 1000, len(ordered))


@dataclass(frozen=True)
class Op:
    """``run(i)`` is timed; ``reset(i)``, untimed, puts the store back afterwards."""

    run: Callable[[int], object]
    reset: Callable[[int], object] | None = None


def measure(ops: list[Op], repeats: int, budget: float) -> list[Stat]:
    """Time the ops interleaved, one repetition of each in turn, until ``repeats``
    samples or ``budget`` seconds (at least MIN_SAMPLES). Each round runs them in a new
    order (seeded), so that no op always runs after the same one: a heavy op leaves
    cold caches to whichever follows it. The first round warms up and is dropped, unless an
    operation took over SLOW_S: then it is kept as a sample."""
    samples: list[list[float]] = [[] for _ in ops]
    paired = list(zip(ops, samples, strict=True))
    order = random.Random(0)
    started = time.perf_counter()
    for i in range(-1, repeats):
        if min(map(len, samples)) >= MIN_SAMPLES and time.perf_counter() - started > budget:
            break
        order.shuffle(paired)
        for op, times in paired:
            t0 = time.perf_counter()
            op.run(i)
            elapsed = time.perf_counter() - t0
            if op.reset is not None:
                op.reset(i)
            if i >= 0 or elapsed > SLOW_S:
                times.append(elapsed)
    return [Stat.of(times) for times in samples]


# -- stores ------------------------------------------------------------------------------


class UnavailableError(Exception):
    """A backend cannot be benchmarked here (the reason is the message)."""


def _reason(exc: BaseException) -> UnavailableError:
    return UnavailableError(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}")


@contextmanager
def fresh_target(backend: str, scratch: Path) -> Iterator[str]:
    """A new sessions.json path, or an upgraded SQLite file or PostgreSQL schema,
    removed afterwards."""
    if backend in ("json", "sqlite"):
        with tempfile.TemporaryDirectory(dir=scratch) as tmp:
            if backend == "json":
                yield str(Path(tmp) / "sessions.json")
            else:
                upgrade(url := f"sqlite:///{Path(tmp) / 'sessions.db'}")
                yield url
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = (
            make_url(POSTGRES_URL)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
        try:
            upgrade(url)
            yield url
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()


@contextmanager
def _pg(url: str) -> Iterator[Any]:
    import psycopg

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


def disk_bytes(backend: str, target: str) -> int:
    """SQLite: the file and its WAL after a checkpoint; PostgreSQL: every table of the
    schema with its indexes and TOAST; the JSON twin: sessions.json."""
    if backend == "json":
        return Path(target).stat().st_size
    if backend == "sqlite":
        path = Path(str(make_url(target).database))
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    with _pg(target) as conn:
        return int(
            conn.execute(
                "SELECT coalesce(sum(pg_total_relation_size(oid)), 0) FROM pg_class "
                "WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'"
            ).fetchone()[0]
        )


# Peak RSS is VmHWM: ru_maxrss survives execve on Linux, so it would show the parent's.
PROBE = """
import json, sys, time
from pathlib import Path
import importlib
import psutil
from sessionstore import open_store
from sessionstore.open import BACKENDS, backend_of
# The drivers and the backend's modules are imported beforehand (`import sessionstore`
# loads neither): what opening a store itself adds is measured.
for module in ("sqlite3", "psycopg", BACKENDS[backend_of(sys.argv[1])][0]):
    try:
        importlib.import_module(module)
    except ImportError:
        pass
rss = lambda: psutil.Process().memory_info().rss / 1e6
before = rss()
t0 = time.perf_counter()
store = open_store(sys.argv[1])
page = store.list()
opened_ms = (time.perf_counter() - t0) * 1000
grown = rss() - before
entries = [store.get(item.key) for item in page.items[:20]]
store.put(page.items[0].key, entries[0].with_fields(total_tokens=entries[0].total_tokens + 1))
store.close()
status = Path("/proc/self/status")
if status.exists():
    peak = int(status.read_text().split("VmHWM:")[1].split()[0]) / 1e3
else:  # macOS: bytes
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
print(json.dumps({"cold_open_ms": opened_ms, "open_growth_mb": grown, "peak_rss_mb": peak}))
"""


def probe(target: str) -> dict[str, float]:
    """In a new process: open + first page (cold), the RSS this adds, and the peak RSS
    after 20 gets and a put."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, target], capture_output=True, text=True, check=True
    )
    return dict(json.loads(done.stdout))


# -- one backend at one size ---------------------------------------------------------------


@dataclass
class Run:
    backend: str
    n: int
    latency: dict[str, tuple[Stat, Stat | None]] = field(default_factory=dict)
    disk_bytes: int = 0
    build_s: float = 0.0
    probe: dict[str, float] = field(default_factory=dict)


def bench_store(backend: str, n: int, w: Workload, args: argparse.Namespace, scratch: Path) -> Run:
    run = Run(backend, n)
    with fresh_target(backend, scratch) as target:
        with open_store(target) as store:
            t0 = time.perf_counter()
            store.put_many(((w.key(i), w.entry(i)) for i in range(n)), batch_size=500)
            run.build_s = time.perf_counter() - t0
        if backend == "postgresql":  # a steady state: autovacuum would have run by now
            with _pg(target) as conn:
                tables = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                for (table,) in conn.execute(tables).fetchall():
                    conn.execute(f'VACUUM ANALYZE "{table}"')
        run.disk_bytes = disk_bytes(backend, target)
        console.print(
            f"  {backend}: {n:,} entries built in {run.build_s:.1f} s "
            f"({n / run.build_s:,.0f}/s), {run.disk_bytes / 1e6:,.1f} MB on disk"
        )
        raw = None if backend == "json" else RawStore(target)
        with open_store(target) as store:
            store.count()  # the JSON twin parses its file on first use: not part of a get
            run.latency = time_operations(store, raw, target, w, n, args)
            if raw is not None:  # both sides wrote these rows: they must read alike
                for i in random.Random(1).sample(range(n), min(n, 20)):
                    entry = store.get(w.key(i))
                    assert entry is not None and raw.get(w.key(i)) == entry.to_dict(), i
                raw.close()
        run.probe = probe(target)
    return run


def time_operations(
    store: Any, raw: RawStore | None, target: str, w: Workload, n: int, args: argparse.Namespace
) -> dict[str, tuple[Stat, Stat | None]]:
    indices = random.Random(n).sample(range(n), min(n, SAMPLE_KEYS))
    keys = [w.key(i) for i in indices]

    def key(r: int) -> str:
        return keys[r % len(keys)]

    # New content on every repetition: the JSON twin skips a write that changes nothing.
    puts = [w.entry(indices[r % len(keys)], bump=r + 2) for r in range(-1, args.repeats)]
    originals = [w.entry(i) for i in indices]

    def add_token(entry: SessionEntry | None) -> SessionEntry | None:
        return (
            None if entry is None else entry.with_fields(total_tokens=(entry.total_tokens or 0) + 1)
        )

    ops = {
        "open": Op(lambda r: _open_first_page(target)),
        "get": Op(lambda r: store.get(key(r))),
        "put": Op(lambda r: store.put(key(r), puts[r + 1])),
        "patch": Op(lambda r: store.patch(key(r), {"label": f"Patched {r}"}, now_ms=NOW + r)),
        "update": Op(lambda r: store.update(key(r), add_token)),
        "list": Op(lambda r: store.list(limit=50)),
        "list_filter": Op(lambda r: store.list(channel=FILTER, limit=50)),
        "count": Op(lambda r: store.count()),
        "delete": Op(
            lambda r: store.delete(key(r)), lambda r: store.put(key(r), originals[r % len(keys)])
        ),
    }
    base: dict[str, Op] = {}
    if raw is not None:
        raw_puts = [e.to_dict() for e in puts]
        raw_originals = [e.to_dict() for e in originals]

        def raw_add_token(entry: dict[str, Any]) -> dict[str, Any]:
            return {**entry, "totalTokens": entry["totalTokens"] + 1}

        base = {
            "open": Op(lambda r: open_raw(target)),
            "get": Op(lambda r: raw.get(key(r))),
            "put": Op(lambda r: raw.put(key(r), raw_puts[r + 1])),
            "update": Op(lambda r: raw.update(key(r), raw_add_token)),
            "list": Op(lambda r: raw.list()),
            "list_filter": Op(lambda r: raw.list(channel=FILTER)),
            "count": Op(lambda r: raw.count()),
            "delete": Op(
                lambda r: raw.delete(key(r)),
                lambda r: raw.put(key(r), raw_originals[r % len(keys)]),
            ),
        }
    results: dict[str, tuple[Stat, Stat | None]] = {}
    for name, op in ops.items():
        stats = measure([op, base[name]] if name in base else [op], args.repeats, args.budget)
        results[name] = (stats[0], stats[1] if len(stats) > 1 else None)
    return results


def _open_first_page(target: str) -> None:
    with open_store(target) as store:
        store.list(limit=50)


# -- bulk import and the earlier proposal's workload --------------------------------------


IMPORT_GOAL = 20_000  # migrate into SQLite, entries per second
MIGRATE = "migrate (sessions.json)"


def bench_import(
    backends: list[str], w: Workload, entries: int, rounds: int, scratch: Path
) -> list[dict[str, Any]]:
    """``migrate`` of a sessions.json, ``put_many``, and the raw driver writing the same
    rows in one transaction with one ``executemany``, of 2 KB entries without blobs:
    side by side, each into an empty store of its own, ``rounds`` rounds of the three in
    turn; each method's median."""
    items = [(w.key(i), w.entry(i, light=True)) for i in range(entries)]
    source = scratch / "state" / "agents" / "main" / "sessions" / "sessions.json"
    source.parent.mkdir(parents=True)
    source.write_bytes(orjson.dumps({k: e.to_dict() for k, e in items}, option=orjson.OPT_INDENT_2))
    dicts = [(k, e.to_dict()) for k, e in items]

    def run_migrate(target: str) -> float:
        t0 = time.perf_counter()
        report = migrate(source.parents[3], target)
        seconds = time.perf_counter() - t0
        assert report.ok and report.agents[0].imported == entries, report.to_dict()
        return seconds

    def run_put_many(target: str) -> float:
        with open_store(target) as store:
            t0 = time.perf_counter()
            store.put_many(items)
            return time.perf_counter() - t0

    def run_raw(target: str) -> float:
        raw = RawStore(target)
        try:
            t0 = time.perf_counter()
            raw.put_many(dicts)
            return time.perf_counter() - t0
        finally:
            raw.close()

    rows: list[dict[str, Any]] = []
    for backend in backends:
        methods: dict[str, Callable[[str], float]] = {"put_many": run_put_many}
        if backend != "json":
            methods = {MIGRATE: run_migrate, **methods, "raw": run_raw}
        times: dict[str, list[float]] = {method: [] for method in methods}
        for _ in range(rounds):
            for method, run in methods.items():
                with fresh_target(backend, scratch) as target:
                    times[method].append(run(target))
        raw_s = statistics.median(times.pop("raw")) if "raw" in times else None
        for method, seconds in times.items():
            median = statistics.median(seconds)
            rows.append(
                {"method": method, "backend": backend, "entries": entries, "rounds": rounds,
                 "seconds": median, "per_second": entries / median, "raw_seconds": raw_s}
            )  # fmt: skip
    return rows


@dataclass
class Proposal:
    entry_bytes: float
    open: tuple[Stat, Stat]
    update: tuple[Stat, Stat]
    db_bytes: int
    json_bytes: int
    probe: dict[str, float]


def bench_proposal(w: Workload, args: argparse.Namespace, scratch: Path) -> Proposal:
    """1,000 sessions of ~42 KB sharing one prompt, on SQLite: open + first page, update,
    memory, and the size of the database against the same sessions.json."""
    items = [(w.key(i), w.proposal_entry(i)) for i in range(1000)]
    with fresh_target("json", scratch) as path:
        with open_store(path) as legacy:
            legacy.put_many(items)
        json_bytes = disk_bytes("json", path)
    with fresh_target("sqlite", scratch) as url:
        with open_store(url) as store:
            store.put_many(items)
            raw = RawStore(url)

            def add_token(entry: SessionEntry | None) -> SessionEntry | None:
                assert entry is not None
                return entry.with_fields(total_tokens=(entry.total_tokens or 0) + 1)

            def raw_add_token(entry: dict[str, Any]) -> dict[str, Any]:
                return {**entry, "totalTokens": entry["totalTokens"] + 1}

            opened = measure(
                [Op(lambda r: _open_first_page(url)), Op(lambda r: open_raw(url))],
                args.repeats,
                args.budget,
            )
            updated = measure(
                [
                    Op(lambda r: store.update(items[r % len(items)][0], add_token)),
                    Op(lambda r: raw.update(items[r % len(items)][0], raw_add_token)),
                ],
                args.repeats,
                args.budget,
            )
            raw.close()
        size = statistics.mean(len(e.to_json()) for _, e in items)
        return Proposal(
            size, (opened[0], opened[1]), (updated[0], updated[1]), disk_bytes("sqlite", url),
            json_bytes, probe(url),
        )  # fmt: skip


# -- targets -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    goal: str
    value: float
    limit: float
    shown: str
    at_most: bool = True  # the value must not exceed the limit (otherwise: reach it)

    @property
    def result(self) -> str:
        factor = self.value / self.limit if self.at_most else self.limit / self.value
        return "met" if factor <= 1 else f"missed by {factor:.2f}x"


def compute_targets(
    runs: dict[tuple[str, int], Run], imports: list[dict[str, Any]], proposal: Proposal | None
) -> list[Target]:
    targets: list[Target] = []

    def vs_raw(backend: str, n: int, op: str, baseline: str) -> None:
        lib, raw = runs[backend, n].latency[op]
        assert raw is not None
        ratio = lib.median_ms / raw.median_ms
        name = f"{backend} {OPERATIONS[op]} at N={n:,}, vs {baseline}"
        targets.append(Target(name, "<= 2x", ratio, 2, _ratio(ratio)))

    sqlite_ns = sorted(n for b, n in runs if b == "sqlite")
    if sqlite_ns:
        big, small = sqlite_ns[-1], sqlite_ns[0]
        for op in ("get", "put", "list"):
            vs_raw("sqlite", big, op, "the raw driver")
        for op in ("get", "put", "list"):
            ratio = (
                runs["sqlite", big].latency[op][0].median_ms
                / runs["sqlite", small].latency[op][0].median_ms
            )
            name = f"sqlite {OPERATIONS[op]}, p50 at N={big:,} over p50 at N={small:,}"
            targets.append(Target(name, "<= 1.5x", ratio, 1.5, _ratio(ratio)))
        if both := [n for n in sqlite_ns if ("json", n) in runs]:
            json_ms = runs["json", both[-1]].latency["put"][0].median_ms
            speedup = json_ms / runs["sqlite", both[-1]].latency["put"][0].median_ms
            name = f"sqlite put at N={both[-1]:,}, speed-up over the JSON twin"
            targets.append(Target(name, ">= 1,000x", speedup, 1000, f"{speedup:,.0f}x", False))
    if proposal:
        opened, updated = proposal.open[0].median_ms, proposal.update[0].median_ms
        growth = proposal.probe["open_growth_mb"]
        share = proposal.db_bytes / proposal.json_bytes
        about = "proposal workload (1,000 x ~42 KB, SQLite):"
        targets += [
            Target(f"{about} open + first page", "<= 5 ms", opened, 5, f"{_ms(opened)} ms"),
            Target(f"{about} single update", "<= 0.5 ms", updated, 0.5, f"{_ms(updated)} ms"),
            Target(f"{about} RSS growth on open", "<= 2 MB", growth, 2, f"{growth:.1f} MB"),
            Target(f"{about} size vs sessions.json", "<= 15 %", share, 0.15, f"{share:.1%}"),
        ]
    if pg_ns := sorted(n for b, n in runs if b == "postgresql"):
        for op in ("get", "put"):
            vs_raw("postgresql", pg_ns[-1], op, "bare psycopg")
    for row in imports:
        if _is_goal(row):
            rate = row["per_second"]
            name = "import from sessions.json into SQLite, 2 KB entries"
            goal = f">= {IMPORT_GOAL:,}/s"
            targets.append(Target(name, goal, rate, IMPORT_GOAL, f"{rate:,.0f}/s", False))
    return targets


# -- output ------------------------------------------------------------------------------


def _ms(value: float) -> str:
    for floor, digits in ((100, 0), (10, 1), (1, 2)):
        if value >= floor:
            return f"{value:,.{digits}f}"
    return f"{value:.3f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _vs_json(json_ms: float, ms: float) -> str:
    """How many times faster than the JSON twin (or slower)."""
    factor = max(json_ms / ms, ms / json_ms)
    shown = f"{factor:,.0f}" if factor >= 10 else f"{factor:.1f}"
    return f"{shown}x {'faster' if json_ms >= ms else 'slower'}"


LATENCY = ["Backend", "Operation", "median ms", "p95 ms", "n", "raw median ms", "raw p95 ms",
           "vs raw", "vs JSON"]  # fmt: skip
STORES = ["Backend", "N", "on disk MB", "vs sessions.json", "build entries/s", "peak RSS MB",
          "RSS growth on open MB", "cold open + first page ms"]  # fmt: skip
IMPORTS = ["Method", "Backend", "entries", "seconds", "entries/s", "raw entries/s", "vs raw",
           f"vs {IMPORT_GOAL:,}/s goal"]  # fmt: skip


def latency_rows(runs: dict[tuple[str, int], Run], n: int) -> Rows:
    rows = []
    json_run = runs.get(("json", n))
    for (backend, size), run in runs.items():
        for op, (lib, raw) in run.latency.items() if size == n else ():
            versus = "-"
            if json_run and backend != "json":
                versus = _vs_json(json_run.latency[op][0].median_ms, lib.median_ms)
            cells = [_ms(lib.median_ms), _ms(lib.p95_ms), str(lib.samples)]
            if raw is None:
                cells += ["-", "-", "-"]
            else:
                cells += [
                    _ms(raw.median_ms),
                    _ms(raw.p95_ms),
                    _ratio(lib.median_ms / raw.median_ms),
                ]
            rows.append([backend, OPERATIONS[op], *cells, versus])
    return rows


def store_rows(runs: dict[tuple[str, int], Run]) -> Rows:
    rows = []
    for (backend, n), run in sorted(runs.items(), key=lambda item: item[0][1]):
        json_run = runs.get(("json", n))
        p = run.probe
        rows.append(
            [backend, f"{n:,}", f"{run.disk_bytes / 1e6:,.1f}",
             f"{run.disk_bytes / json_run.disk_bytes:.1%}" if json_run else "-",
             f"{n / run.build_s:,.0f}", f"{p['peak_rss_mb']:,.0f}", f"{p['open_growth_mb']:,.1f}",
             _ms(p["cold_open_ms"])]
        )  # fmt: skip
    return rows


def import_rows(imports: list[dict[str, Any]]) -> Rows:
    rows = []
    for r in imports:
        raw_s = r["raw_seconds"]
        rows.append(
            [r["method"], r["backend"], f"{r['entries']:,}", f"{r['seconds']:.2f}",
             f"{r['per_second']:,.0f}", f"{r['entries'] / raw_s:,.0f}" if raw_s else "-",
             _ratio(r["seconds"] / raw_s if raw_s else None),
             _ratio(r["per_second"] / IMPORT_GOAL if _is_goal(r) else None)]
        )  # fmt: skip
    return rows


def _is_goal(row: dict[str, Any]) -> bool:
    """Whether an import row is the one the goal names: migrate into SQLite."""
    return bool(row["method"] == MIGRATE and row["backend"] == "sqlite")


def proposal_rows(p: Proposal) -> Rows:
    rows = [
        [name, f"{_ms(lib.median_ms)} ms (p95 {_ms(lib.p95_ms)}, n {lib.samples})",
         f"{_ms(raw.median_ms)} ms (p95 {_ms(raw.p95_ms)})", _ratio(lib.median_ms / raw.median_ms)]
        for name, (lib, raw) in (("open + first page", p.open), ("update", p.update))
    ]  # fmt: skip
    return rows + [
        [name, value, "-", "-"]
        for name, value in (
            ("cold open + first page, new process", f"{_ms(p.probe['cold_open_ms'])} ms"),
            ("RSS growth on open", f"{p.probe['open_growth_mb']:.1f} MB"),
            ("peak RSS", f"{p.probe['peak_rss_mb']:,.0f} MB"),
            ("size on disk", f"{p.db_bytes / 1e6:.2f} MB"),
            ("the same sessions.json", f"{p.json_bytes / 1e6:.2f} MB"),
        )
    ]


def show(title: str, header: list[str], rows: Rows) -> None:
    table = Table(*header, title=title, title_justify="left")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def markdown_table(header: list[str], rows: Rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def draw_plots(runs: dict[tuple[str, int], Run], directory: Path) -> list[tuple[str, Path]]:
    """Median latency against N, log-log, the p95 as an error bar; one file per operation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    backends = list(dict.fromkeys(b for b, _ in runs))
    written = []
    for op, label in OPERATIONS.items():
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for color, backend in enumerate(backends):
            ns = sorted(n for b, n in runs if b == backend)
            for side, style, name in ((0, "-", backend), (1, "--", f"{backend}, raw driver")):
                stats = [runs[backend, n].latency[op][side] for n in ns]
                points = [(n, s) for n, s in zip(ns, stats, strict=True) if s is not None]
                if points:
                    xs, ys = [n for n, _ in points], [s.median_ms for _, s in points]
                    above = [s.p95_ms - s.median_ms for _, s in points]
                    bars: list[list[float]] = [[0.0] * len(xs), above]
                    ax.errorbar(xs, ys, yerr=bars, fmt="o" + style,
                                color=f"C{color}", capsize=3, label=name)  # fmt: skip
        ax.set(xscale="log", yscale="log", xlabel="entries (N)", ylabel="ms: median, bar to p95")
        ax.set_title(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
        fig.tight_layout()
        fig.savefig(path := directory / f"{op}.png", dpi=90)
        plt.close(fig)
        written.append((label, path))
    return written


def machine(postgres: str | None) -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.exists() else []
    names = [line for line in lines if line.startswith("model name")]
    if names:
        cpu = names[0].split(":", 1)[1].strip()
    return {
        "CPU": f"{cpu}, {os.cpu_count()} logical CPUs",
        # sysconf, not psutil: the interop suite runs the OpenClaw benchmark without it.
        "Memory": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB",
        "Load average at start (1 min)": f"{os.getloadavg()[0]:.2f}",
        "OS": platform.platform(terse=True),
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "PostgreSQL": postgres or "not run",
        "sessionstore": __version__,
    }


def add_output_arguments(parser: argparse.ArgumentParser, name: str, heading: str) -> None:
    """The options a benchmark with a section of its own shares: ``--out`` (the saved
    run, ``benchmarks/<name>.json`` by default), ``--markdown`` and ``--from-json``."""
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / f"{name}.json")
    parser.add_argument("--markdown", type=Path, help=f"put the results in this page's {heading!r}")
    parser.add_argument("--from-json", type=Path,
                        help="run nothing: show (and with --markdown write) the results "
                        "that run saved in this file")  # fmt: skip


def save_results(out: Path, info: dict[str, str], results: dict[str, Any]) -> None:
    """Write a run to ``out``: ``info`` (given the load average at the end) as its
    ``machine``, beside ``results``."""
    info["Load average at the end (1 min)"] = f"{os.getloadavg()[0]:.2f}"
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {"machine": info, **results}
    out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def postgres_version() -> str:
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SHOW server_version")).scalar_one()).split()[0]
    except (SQLAlchemyError, ImportError) as exc:
        raise _reason(exc) from exc
    finally:
        engine.dispose()


def available_backends(wanted: list[str], notes: list[str]) -> tuple[list[str], str | None]:
    """``wanted`` without PostgreSQL when its server is not reachable (noted), and the
    server's version."""
    backends = list(wanted)
    pg = None
    if "postgresql" in backends:
        try:
            pg = postgres_version()
        except UnavailableError as exc:
            backends.remove("postgresql")
            notes.append(f"postgresql skipped, the server is not reachable: {exc}")
            console.print(f"[yellow]{notes[-1]}[/yellow]")
    return backends, pg


PAGE = """\
# Benchmarks

Latency, size and memory of each backend from {smallest:,} to {largest:,} sessions, each
operation beside a raw-driver baseline and the JSON twin. `make bench` writes this page
(`benchmarks/suite.py --markdown docs/benchmarks.md`), the plots in `docs/benchmarks/`
and `benchmarks/results.json`: every number here was printed by the run it describes.

## Running

<!-- not executed: runs for minutes, with a PostgreSQL server -->
```bash
make bench                                           # the full run (see below for its parts)
.venv/bin/python benchmarks/suite.py --quick         # a smoke run at small sizes
.venv/bin/python benchmarks/suite.py --sizes 1000,10000 --backends sqlite,json
.venv/bin/python benchmarks/suite.py --import-only --backends sqlite,postgresql  # bulk import
.venv/bin/python benchmarks/transcripts.py --markdown docs/benchmarks.md  # transcripts alone
.venv/bin/python benchmarks/openclaw_peer.py --markdown docs/benchmarks.md  # beside OpenClaw
.venv/bin/python benchmarks/integrations.py --quick    # the framework adapters, a smoke run
.venv/bin/python benchmarks/space.py --from-json benchmarks/space.json --markdown docs/benchmarks.md
```

The sections of `transcripts.py`, `async_api.py`, `backup.py`, `space.py` and
`integrations.py` are written again from a saved run with `--from-json` (as in the last
line), without running anything.

The Transcripts section is also written by `benchmarks/transcripts.py --markdown
docs/benchmarks.md` alone (by default searching {search_alone:,} events and beside an ADK
session of {adk_alone:,}, where the suite takes {search_suite:,} and {adk_suite:,} to stay
under 10 minutes); it then says so and has a machine table of its own.

`make bench` then runs `benchmarks/openclaw_peer.py`, which writes the section
[Beside OpenClaw 2026.9.6](#beside-openclaw-202696): OpenClaw's own store against the
SQLite backend. It needs Node and the OpenClaw releases that `make interop` installs;
without them it prints why and leaves the section out.

Last come `benchmarks/async_api.py` ([Async API](#async-api)), `benchmarks/backup.py`
([Backup](#backup): an online backup of a 1 GB SQLite database), `benchmarks/space.py`
([Disk space and integrity](#disk-space-and-integrity): 100,000 sessions) and
`benchmarks/integrations.py` ([Framework integrations](#framework-integrations)): the
adapters of `sessionstore.integrations` beside Google ADK's session services and the
OpenAI Agents SDK's `SQLAlchemySession`. The suite takes under 10 minutes; each of the
others says in its section how long its run took (the integrations benchmark spends most
of it filling the ADK services' sessions through their own API).

PostgreSQL is the server at `SESSIONSTORE_TEST_POSTGRES_URL` (default
`postgresql+psycopg://postgres@127.0.0.1:5432/test`), one new schema per store, dropped
afterwards; an unreachable server is skipped with the reason printed. The run exits 0
whether the targets are met or not: it is a measurement.

## What is measured

- **Entries** are the synthetic generator's (`generate_state_dir`), each index with its
  own key, session id, times and `systemPromptReport`, and a `notes` field that brings
  the metadata to about 2 KB. In this run {workload}. Stores are built with `put_many`;
  the JSON twin only up to N = {json_max:,}, as beyond that each of its writes
  rewrites gigabytes.
- **Operations.** *open + first page*: open a new store, list, close (for the JSON twin
  this parses the file). *put*: replace an entry with new content, a `SessionEntry`
  built beforehand. *patch*: set a label. *update*: add one to `totalTokens` with
  `entry.with_fields`. *delete*: remove an entry (put back untimed). *list*: one page of
  50 summaries, newest first, with or without `channel={filter}`. Keys are drawn from
  {sample} keys spread over the store.
- **Statistics**: median and p95 of `n` repetitions, up to {repeats} or {budget} s per
  operation and store, at least {min_samples}; a first round warms up and is dropped
  unless it took over {slow} s.
- **The raw driver** (`benchmarks/raw_baseline.py`) drives the same table (created by
  `sessionstore.upgrade`), pragmas and rows with the bare `sqlite3` module or psycopg
  and orjson, in turn with the library, repetition by repetition. *get* is one `SELECT`
  joining in the out-of-line values from `session_blobs`, then `orjson.loads`: a dict.
  *put* is one transaction writing the entry's blobs and row (`INSERT ... ON CONFLICT DO
  UPDATE ... RETURNING version`), with `orjson.dumps` and
  `sessionstore.projection.project` timed, as in the library. *update* locks (`BEGIN
  IMMEDIATE`; `SELECT ... FOR UPDATE` on PostgreSQL), reads, changes and writes the dict.
  *list* is one `SELECT` of the index columns, `LIMIT 51` (the 51st tells whether a page
  follows), as dicts. *count* and *delete* are one statement; *open + first page*
  connects, sets the pragmas, lists and disconnects. *patch* has none (-). Afterwards
  20 entries are read both ways and must be equal.
- **vs raw**: the library's median over the raw driver's (1.00x: no overhead). **vs
  JSON**: against the JSON twin at the same N.
- **On disk**: SQLite's file and WAL after `PRAGMA wal_checkpoint(TRUNCATE)`;
  PostgreSQL's `pg_total_relation_size` of every table of the schema after `VACUUM
  ANALYZE`; the JSON twin's `sessions.json`.
- **Memory**, in a new process per store (drivers and the backend's modules imported
  first): the RSS that opening the store and listing the first page adds, and the peak
  RSS (`VmHWM`) after 20 gets and a put. *Cold open + first page* is that first open, timed.
- **Bulk import**: `sessionstore.transfer.migrate` of a generated `sessions.json` (read,
  normalised, validated, planned, written in one transaction, verified by checksum),
  `put_many` of the same entries (built beforehand), and the raw driver writing the
  same rows in one transaction with one `executemany` into the indexed table, of 2 KB
  entries without the large fields: side by side, each into an empty store of its own,
  the three in turn, {import_rounds} times, and each method's median. *vs raw* is a
  method's time over the raw driver's; *vs {import_goal:,}/s goal* is the rate of
  migrate into SQLite over the goal. `--import-only` runs this section alone.
- **The earlier proposal's workload**: 1,000 sessions of about 2 KB of metadata plus the
  same ~40 KB `skillsSnapshot`, on SQLite.

## Machine

{machine}

The run took {wall:.0f} s. The machine may be shared with other work: the load averages
at the start and the end say how busy it was, and on a busy machine the figures vary by
tens of percent from one run to the next.
"""


def write_markdown(
    path: Path, results: dict[str, Any], tables: list[tuple[str, list[str], Rows]],
    plots: list[tuple[str, Path]], args: argparse.Namespace, transcripts: str = "",
) -> None:  # fmt: skip
    from benchmarks import transcripts as bench_transcripts

    sizes = results["settings"]["sizes"]
    page = PAGE.format(
        smallest=sizes[0], largest=sizes[-1], workload=results["workload"], filter=FILTER,
        json_max=JSON_MAX_N, sample=SAMPLE_KEYS, repeats=args.repeats,
        budget=args.budget, min_samples=MIN_SAMPLES, slow=SLOW_S, wall=results["wall_s"],
        machine=markdown_table(["Machine", ""], [[k, v] for k, v in results["machine"].items()]),
        import_rounds=args.import_rounds, import_goal=IMPORT_GOAL,
        search_alone=bench_transcripts.SEARCH_EVENTS,
        search_suite=bench_transcripts.SUITE_SEARCH_EVENTS,
        adk_alone=bench_transcripts.ADK_EVENTS,
        adk_suite=bench_transcripts.SUITE_ADK_EVENTS,
    )  # fmt: skip
    parts = [page]
    for title, header, rows in [tables[-1], *tables[:-1]]:  # the targets first
        parts += [f"## {title}\n", markdown_table(header, rows), ""]
    if transcripts:
        parts += [transcripts, ""]
    if results["notes"]:
        parts += ["## Notes\n", *(f"- {note}" for note in results["notes"])]
    if plots:
        parts.append("\n## Plots\n")
        for label, plot in plots:
            parts.append(f"![{label}: median against N]({os.path.relpath(plot, path.parent)})\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts).rstrip() + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", help="comma-separated (default 1000,10000,100000)")
    parser.add_argument("--backends", default="sqlite,postgresql,json", help="comma-separated")
    parser.add_argument("--repeats", type=int, help="most repetitions of an op (300)")
    parser.add_argument("--budget", type=float, help="seconds per op and store (1.0)")
    parser.add_argument("--import-entries", type=int, help="entries imported (10,000)")
    parser.add_argument("--import-rounds", type=int, help="rounds of the bulk import (3)")
    parser.add_argument("--import-only", action="store_true",
                        help="run only the bulk import (and its target); writes no files "
                             "unless --out is given")  # fmt: skip
    parser.add_argument("--out", type=Path, help="the results (benchmarks/results.json)")
    parser.add_argument("--plots", type=Path, help="write PNG plots into this directory")
    parser.add_argument("--markdown", type=Path, help="write the results page here")
    parser.add_argument("--quick", action="store_true", help="a smoke run at small sizes")
    parser.add_argument("--no-transcripts", dest="transcripts", action="store_false",
                        help="leave out the transcript benchmarks")  # fmt: skip
    from benchmarks import transcripts as bench_transcripts

    bench_transcripts.add_arguments(parser, prefix="transcript-")
    args = parser.parse_args()
    if args.import_only and (args.markdown or args.plots):
        parser.error("--import-only writes no page nor plots: the page needs the whole run")
    if args.out is None and not args.import_only:
        args.out = ROOT / "benchmarks" / "results.json"
    defaults = (
        ("300,3000", 30, 0.3, 2000, 1) if args.quick else ("1000,10000,100000", 300, 1.0, 10_000, 3)
    )
    for name, default in zip(
        ("sizes", "repeats", "budget", "import_entries", "import_rounds"), defaults, strict=True
    ):
        if getattr(args, name) is None:
            setattr(args, name, default)
    sizes = [] if args.import_only else sorted(int(n) for n in args.sizes.split(","))
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := set(backends) - {"sqlite", "postgresql", "json"}:
        parser.error(f"unknown backends: {', '.join(sorted(unknown))}")
    started = time.perf_counter()
    notes: list[str] = []
    backends, pg = available_backends(backends, notes)
    info = machine(pg)
    console.print("; ".join(f"{k}: {v}" for k, v in info.items()))
    runs: dict[tuple[str, int], Run] = {}
    tables: list[tuple[str, list[str], Rows]] = []
    with tempfile.TemporaryDirectory(prefix="sessionstore-bench-") as tmp:
        scratch = Path(tmp)
        w = Workload(scratch)
        workload = w.describe()
        console.print(f"Workload: {workload}.")
        for n in sizes:
            console.rule(f"N = {n:,}")
            for backend in backends:
                if backend == "json" and n > JSON_MAX_N:
                    notes.append(json_note(runs, n))
                    console.print(f"  [yellow]{notes[-1]}[/yellow]")
                    continue
                runs[backend, n] = bench_store(backend, n, w, args, scratch)
            tables.append((f"Latency at N = {n:,}", LATENCY, latency_rows(runs, n)))
            show(*tables[-1])
        if runs:
            tables.append(("Size, memory and build", STORES, store_rows(runs)))
            show(*tables[-1])
        console.rule("Bulk import")
        imports = bench_import(backends, w, args.import_entries, args.import_rounds, scratch)
        tables.append(("Bulk import, 2 KB entries", IMPORTS, import_rows(imports)))
        show(*tables[-1])
        proposal = None
        if "sqlite" in backends and not args.import_only:
            console.rule("The earlier proposal's workload")
            proposal = bench_proposal(w, args, scratch)
            title = (
                f"The earlier proposal's workload: 1,000 sessions of "
                f"{proposal.entry_bytes / 1e3:.1f} KB sharing one prompt, on SQLite"
            )
            header = ["Measure", "library", "raw driver", "vs raw"]
            tables.append((title, header, proposal_rows(proposal)))
            show(*tables[-1])
        transcripts = None
        if args.transcripts and not args.import_only:
            options = bench_transcripts.options(args, "transcript-", quick=args.quick, suite=True)
            sql = [b for b in backends if b != "json"]
            transcripts = bench_transcripts.run(options, sql, scratch)
            bench_transcripts.show_all(transcripts)
    targets = compute_targets(runs, imports, proposal)
    tables.append(("Targets", ["Target", "Measured", "Goal", "Result"], target_rows(targets)))
    show(*tables[-1])
    wall = time.perf_counter() - started
    info["Load average at the end (1 min)"] = f"{os.getloadavg()[0]:.2f}"
    console.print(f"Finished in {wall:.0f} s; load average now {os.getloadavg()[0]:.2f}.")
    results = {
        "machine": info,
        "settings": {"sizes": sizes, "backends": backends, "repeats": args.repeats,
                     "budget_s": args.budget, "import_entries": args.import_entries,
                     "import_rounds": args.import_rounds},
        "workload": workload,
        "runs": [{**asdict(run), "latency": _pairs(run.latency)} for run in runs.values()],
        "imports": imports,
        "proposal": proposal and {
            **asdict(proposal), **_pairs({"open": proposal.open, "update": proposal.update})
        },
        "targets": [{**asdict(t), "result": t.result} for t in targets],
        "transcripts": transcripts and bench_transcripts.to_json(transcripts),
        "notes": notes,
        "wall_s": wall,
    }  # fmt: skip
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    plots = draw_plots(runs, args.plots) if args.plots else []
    if args.markdown:
        section = ""
        if transcripts is not None:
            section = bench_transcripts.section(transcripts, "run by `benchmarks/suite.py`")
        write_markdown(args.markdown, results, tables, plots, args, section)
    return 0


def _pairs(latency: dict[str, tuple[Stat, Stat | None]]) -> dict[str, Any]:
    return {
        op: {"library": asdict(lib), "raw": raw and asdict(raw)}
        for op, (lib, raw) in latency.items()
    }


def target_rows(targets: list[Target]) -> Rows:
    return [[t.name, t.shown, t.goal, t.result] for t in targets]


def json_note(runs: dict[tuple[str, int], Run], n: int) -> str:
    """Why the JSON twin is not run at n, with the size its file would have."""
    note = f"The JSON twin is not run at N = {n:,}: there every write rewrites the whole file"
    if done := sorted((r.n, r.disk_bytes) for (b, _), r in runs.items() if b == "json"):
        size, entries = done[-1][1], done[-1][0]
        note += f", a sessions.json of about {size / entries * n / 1e9:.1f} GB"
    return note + "."


if __name__ == "__main__":
    sys.exit(main())

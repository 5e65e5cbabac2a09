"""The library on SQLite against the bare ``sqlite3`` driver, side by side: get, put and a
page of list for small and large entries, the earlier proposal's single update, and
what the secondary indexes of ``sessions`` cost a put and which listing uses which.

It measures whatever class ``open_store("sqlite:///...")`` returns (its name is
printed). The raw side is ``benchmarks/raw_baseline.py``'s ``RawStore``: the same table
(created by ``sessionstore.upgrade``), pragmas and rows, driven with ``sqlite3`` and
orjson, returning dicts. The entries are those of ``benchmarks/suite.py``'s ``Workload``:

- *small*: about 2 KB of metadata JSON, without ``skillsSnapshot`` or
  ``systemPromptReport``;
- *large*: the suite's large entries, each with the shared skills prompt and a
  ``systemPromptReport`` of its own (both kept out of line in ``session_blobs``).

For each size N (default 100,000) and kind, the library builds its own fresh database
with ``put_many`` and the raw driver its own with one ``executemany``; then get, put
and one page of 50 are timed in turn with the raw driver, repetition by repetition
(``suite.measure``: median and p95, up to ``--repeats`` or ``--budget`` seconds per
operation). Both sides then read 20 entries and the first page alike, or it is said.

Also: the earlier proposal's workload (``suite.bench_proposal``: 1,000 sessions of
about 45 KB sharing one prompt), whose single ``store.update`` has a 0.5 ms target; what the
secondary indexes cost a put of a small entry (two page-by-page copies of the
library's database, one with them dropped); and ``EXPLAIN QUERY PLAN`` of a page with
each filter of ``Filters``, from the WHERE the library builds and, when the store has
``trace``, from the library's own statements, so that an index no listing uses shows.
The last two are done at the largest N. Usage::

    .venv/bin/python benchmarks/sqlite_driver.py [--sizes 100000] [--repeats 1000]
        [--budget 2.0] [--json out.json]

The exit status is 0 whether the targets are met or not: this is a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sqlite3
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import make_url

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.raw_baseline import PAGE_SIZE, RawStore  # noqa: E402
from benchmarks.suite import (  # noqa: E402
    FILTER,
    MIN_SAMPLES,
    NOW,
    SAMPLE_KEYS,
    TEMPLATES,
    Op,
    Stat,
    Target,
    Workload,
    _ms,
    _ratio,
    bench_proposal,
    disk_bytes,
    fresh_target,
    measure,
)
from sessionstore import Filters, SessionEntry, __version__, open_store  # noqa: E402
from sessionstore.projection import INDEX_COLUMNS  # noqa: E402

RATIO_TARGET = 2.0
UPDATE_TARGET_MS = 0.5
BUILD_BATCH = 500
CHECKED_KEYS = 20
DAY_MS = 86_400_000
OPERATIONS = {"get": "get", "put": "put (upsert)", "list": f"list, one page of {PAGE_SIZE}"}
console = Console(emoji=False, width=180)
Rows = list[list[str]]


# -- the two kinds of entries --------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """Entries of one kind: entry ``j`` of the kind is the workload's entry
    ``index(j)``, drawn only from the templates of that kind (so keys stay distinct)."""

    name: str
    light: bool
    templates: tuple[int, ...]

    def index(self, j: int) -> int:
        return self.templates[j % len(self.templates)] + TEMPLATES * (j // len(self.templates))

    def entry(self, w: Workload, j: int, bump: int = 0) -> SessionEntry:
        return w.entry(self.index(j), bump, light=self.light)

    def key(self, w: Workload, j: int) -> str:
        return w.key(self.index(j))


def kinds(w: Workload) -> list[Kind]:
    blobs = {"skillsSnapshot", "systemPromptReport"}
    large = tuple(i for i in range(TEMPLATES) if blobs <= set(w.heavy[i][1].model_extra or {}))
    return [Kind("small", True, tuple(range(TEMPLATES))), Kind("large", False, large)]


def describe(w: Workload, kind: Kind) -> str:
    sizes = [len(kind.entry(w, j).to_json()) for j in range(len(kind.templates))]
    return f"{sum(sizes) / len(sizes) / 1e3:.1f} KB"


# -- results -------------------------------------------------------------------------------


@dataclass
class Pair:
    """One operation timed on both sides."""

    library: Stat
    raw: Stat

    @property
    def ratio(self) -> float:
        return self.library.median_ms / self.raw.median_ms


@dataclass
class KindRun:
    kind: str
    n: int
    entry_kb: str
    store_class: str = ""
    build_library_s: float = 0.0
    build_raw_s: float = 0.0
    to_dict_ms: float = 0.0  # SessionEntry.to_dict of one entry, timed in the raw build
    library_mb: float = 0.0
    raw_mb: float = 0.0
    latency: dict[str, Pair] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)


@dataclass
class WithWithout:
    """One operation on a database with its secondary indexes and on one without."""

    with_indexes: Stat
    without_indexes: Stat


@dataclass
class IndexCost:
    n: int
    dropped: list[str]
    library: WithWithout
    raw: WithWithout


@dataclass
class Plan:
    case: str
    filters: dict[str, Any]
    raw_plan: list[str]
    raw_indexes: list[str]
    library_plan: list[str] | None
    library_indexes: list[str] | None
    timing: Pair | None = None


@dataclass
class Report:
    store_class: str = ""
    machine: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    runs: list[KindRun] = field(default_factory=list)
    index_cost: IndexCost | None = None
    indexes: dict[str, list[str]] = field(default_factory=dict)  # index -> its columns
    plans: list[Plan] = field(default_factory=list)
    uncovered_filters: list[str] = field(default_factory=list)
    planner_stats: bool = False  # whether ANALYZE statistics (sqlite_stat1) exist
    other_plans: dict[str, list[str]] = field(default_factory=dict)  # get, count: raw SQL
    proposal: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0


# -- building and timing -------------------------------------------------------------------


def sqlite_path(url: str) -> Path:
    return Path(str(make_url(url).database))


def store_class(url: str) -> str:
    with open_store(url) as store:
        cls = type(store)
        return f"{cls.__module__}.{cls.__qualname__}"


def build(w: Workload, kind: Kind, n: int, lib_url: str, raw_url: str, run: KindRun) -> None:
    """The library's database with put_many, the raw one with one executemany; each
    side makes its entries from the same generator while it is timed."""
    with open_store(lib_url) as store:
        run.store_class = f"{type(store).__module__}.{type(store).__qualname__}"
        t0 = time.perf_counter()
        items = ((kind.key(w, j), kind.entry(w, j)) for j in range(n))
        store.put_many(items, batch_size=BUILD_BATCH)
        run.build_library_s = time.perf_counter() - t0
    sample_entries = [kind.entry(w, j) for j in range(len(kind.templates))]
    t0 = time.perf_counter()
    for entry in sample_entries:
        entry.to_dict()
    run.to_dict_ms = (time.perf_counter() - t0) * 1000 / len(sample_entries)
    with closing(RawStore(raw_url)) as raw:
        t0 = time.perf_counter()
        raw.put_many((kind.key(w, j), kind.entry(w, j).to_dict()) for j in range(n))
        run.build_raw_s = time.perf_counter() - t0
    run.library_mb = disk_bytes("sqlite", lib_url) / 1e6
    run.raw_mb = disk_bytes("sqlite", raw_url) / 1e6


def sample(n: int) -> list[int]:
    """SAMPLE_KEYS entries of the kind spread over the store (as the suite draws them)."""
    return random.Random(n).sample(range(n), min(n, SAMPLE_KEYS))


def time_kind(
    w: Workload, kind: Kind, n: int, lib_url: str, raw_url: str, args: argparse.Namespace
) -> dict[str, Pair]:
    picks = sample(n)
    keys = [kind.key(w, j) for j in picks]

    def key(r: int) -> str:
        return keys[r % len(keys)]

    # New content on every repetition, built beforehand: a SessionEntry for the library,
    # its dict for the raw driver.
    puts = [kind.entry(w, picks[r % len(picks)], bump=r + 2) for r in range(-1, args.repeats)]
    raw_puts = [e.to_dict() for e in puts]
    results: dict[str, Pair] = {}
    with open_store(lib_url) as store, closing(RawStore(raw_url)) as raw:
        ops = {
            "get": (Op(lambda r: store.get(key(r))), Op(lambda r: raw.get(key(r)))),
            "put": (
                Op(lambda r: store.put(key(r), puts[r + 1])),
                Op(lambda r: raw.put(key(r), raw_puts[r + 1])),
            ),
            "list": (Op(lambda r: store.list(limit=PAGE_SIZE)), Op(lambda r: raw.list())),
        }
        for name, (library, baseline) in ops.items():
            lib, base = measure([library, baseline], args.repeats, args.budget)
            results[name] = Pair(lib, base)
    return results


def check(w: Workload, kind: Kind, n: int, lib_url: str, raw_url: str) -> list[str]:
    """Both databases must hold the same entries, read alike by both sides, and list the
    same first page (both sides made the same puts)."""
    problems = []
    keys = [kind.key(w, j) for j in sample(n)[:CHECKED_KEYS]]
    with (
        open_store(lib_url) as store,
        closing(RawStore(raw_url)) as raw,
        closing(RawStore(lib_url)) as raw_on_library,
    ):
        for key in keys:
            entry = store.get(key)
            mine = raw.get(key)
            if entry is None or entry.to_dict() != mine or raw_on_library.get(key) != mine:
                problems.append(f"{kind.name}: {key} reads differently")
        page = [item.key for item in store.list(limit=PAGE_SIZE).items]
        if page != [row["session_key"] for row in raw.list()]:
            problems.append(f"{kind.name}: the first pages differ")
    return problems


# -- the secondary indexes -----------------------------------------------------------------


def secondary_indexes(conn: sqlite3.Connection) -> list[str]:
    """The indexes of ``sessions`` made by CREATE INDEX: the primary key's autoindex has
    no SQL."""
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sessions' "
        "AND sql IS NOT NULL ORDER BY name"
    ).fetchall()
    return [str(name) for (name,) in rows]


def all_indexes(conn: sqlite3.Connection) -> dict[str, list[str]]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sessions' "
        "ORDER BY sql IS NOT NULL, name"
    ).fetchall()
    return {
        str(name): [str(c[2]) for c in conn.execute(f"PRAGMA index_info('{name}')").fetchall()]
        for (name,) in rows
    }


def copy_database(source: str, target: Path) -> str:
    """A page-by-page copy (the backup API) of a SQLite database: a new URL."""
    with (
        closing(sqlite3.connect(sqlite_path(source))) as src,
        closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)
    return f"sqlite:///{target}"


def index_cost(
    w: Workload, kind: Kind, n: int, lib_url: str, scratch: Path, args: argparse.Namespace
) -> IndexCost:
    """A put on two copies of the library's database, one without the secondary
    indexes: by the library and by the raw driver, all four in turn."""
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        indexed = copy_database(lib_url, Path(tmp) / "indexed.db")
        bare = copy_database(lib_url, Path(tmp) / "bare.db")
        with closing(sqlite3.connect(sqlite_path(bare))) as conn:
            dropped = secondary_indexes(conn)
            for name in dropped:
                conn.execute(f'DROP INDEX "{name}"')
            conn.commit()
        picks = sample(n)
        keys = [kind.key(w, j) for j in picks]

        def key(r: int) -> str:
            return keys[r % len(keys)]

        def entries(offset: int) -> list[SessionEntry]:
            return [
                kind.entry(w, picks[r % len(picks)], bump=2 * r + offset)
                for r in range(-1, args.repeats)
            ]

        # Every put changes the row (its updatedAt), on each side its own content.
        lib_puts, raw_puts = entries(4), [e.to_dict() for e in entries(5)]
        with (
            open_store(indexed) as with_ix,
            open_store(bare) as without_ix,
            closing(RawStore(indexed)) as raw_with,
            closing(RawStore(bare)) as raw_without,
        ):
            stats = measure(
                [
                    Op(lambda r: with_ix.put(key(r), lib_puts[r + 1])),
                    Op(lambda r: without_ix.put(key(r), lib_puts[r + 1])),
                    Op(lambda r: raw_with.put(key(r), raw_puts[r + 1])),
                    Op(lambda r: raw_without.put(key(r), raw_puts[r + 1])),
                ],
                args.repeats,
                args.budget,
            )
    return IndexCost(n, dropped, WithWithout(stats[0], stats[1]), WithWithout(stats[2], stats[3]))


# -- listing plans -------------------------------------------------------------------------


def cases(w: Workload) -> list[tuple[str, dict[str, Any]]]:
    """A list page with each filter of ``Filters`` (archived both ways)."""
    week = NOW - 7 * DAY_MS
    return [
        ("no filter", {}),
        ("channel", {"channel": FILTER}),
        ("status", {"status": "running"}),
        ("chat_type", {"chat_type": "group"}),
        ("archived=False", {"archived": False}),
        ("archived=True", {"archived": True}),
        ("label_prefix", {"label_prefix": "Haus"}),
        ("updated_after", {"updated_after": week}),
        ("updated_before", {"updated_before": week}),
        ("updated_after+before", {"updated_after": week - 7 * DAY_MS, "updated_before": week}),
        ("spawned_by", {"spawned_by": "agent:main:main"}),
        ("session_id", {"session_id": w.entry(0, light=True).session_id}),
    ]


_SUMMARY = ", ".join(("session_key", *INDEX_COLUMNS))
_ORDER = f"ORDER BY updated_at DESC, session_key DESC LIMIT {PAGE_SIZE + 1}"


def raw_listing(filters: Mapping[str, Any], agent_id: str = "main") -> tuple[str, list[Any]]:
    """The SQL of a page with these filters, the WHERE as the library builds it."""
    where, params = ["agent_id = ?"], [agent_id]
    for name in ("channel", "status", "chat_type", "spawned_by", "session_id"):
        if filters.get(name) is not None:
            where.append(f"{name} = ?")
            params.append(filters[name])
    if filters.get("archived") is not None:
        where.append("archived = 1" if filters["archived"] else "archived != 1")
    if (prefix := filters.get("label_prefix")) is not None:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append("label LIKE ? ESCAPE '\\'")
        params.append(escaped + "%")
    if filters.get("updated_after") is not None:
        where.append("updated_at > ?")
        params.append(filters["updated_after"])
    if filters.get("updated_before") is not None:
        where.append("updated_at < ?")
        params.append(filters["updated_before"])
    return f"SELECT {_SUMMARY} FROM sessions WHERE {' AND '.join(where)} {_ORDER}", params


_INDEX_IN_PLAN = re.compile(r"USING (?:COVERING )?INDEX (\S+)")


def explain(conn: sqlite3.Connection, sql: str, params: Any = ()) -> list[str]:
    return [str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()]


def plan_indexes(plan: list[str]) -> list[str]:
    found = [m.group(1) for line in plan for m in _INDEX_IN_PLAN.finditer(line)]
    if any(line.startswith("SCAN sessions") and "INDEX" not in line for line in plan):
        found.append("(full table scan)")
    return found


def library_listing(store: Any, filters: Mapping[str, Any]) -> tuple[str, Any] | None:
    """The statement the library sends for this page, if it can tell (``trace``)."""
    trace = getattr(store, "trace", None)
    if not callable(trace):
        return None
    sent: list[tuple[str, Any]] = []
    trace(lambda sql, params=(): sent.append((sql, params)))
    try:
        store.list(limit=PAGE_SIZE, **filters)
    finally:
        trace(None)
    pages = [(s, p) for s, p in sent if s.lstrip().upper().startswith("SELECT") and "sessions" in s]
    return pages[-1] if pages else None


def listing_plans(report: Report, w: Workload, lib_url: str, args: argparse.Namespace) -> None:
    """EXPLAIN QUERY PLAN of a page with each filter (the raw SQL, and the library's own
    when the store can trace it), each page timed both ways; and, for the indexes no
    listing uses, the plans of a get and of a count by session id."""
    with open_store(lib_url) as store, closing(RawStore(lib_url)) as raw:
        conn: sqlite3.Connection = raw.conn
        report.indexes = all_indexes(conn)
        stats = "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
        report.planner_stats = bool(conn.execute(stats).fetchone()[0])
        for case, filters in cases(w):
            sql, params = raw_listing(filters)
            raw_plan = explain(conn, sql, params)
            lib_plan: list[str] | None = None
            sent = library_listing(store, filters)
            if sent is not None:
                try:
                    lib_plan = explain(conn, sent[0], sent[1] or ())
                except (sqlite3.Error, ValueError) as exc:
                    lib_plan = [f"cannot explain: {exc}"]
            plan = Plan(
                case, filters, raw_plan, plan_indexes(raw_plan), lib_plan,
                None if lib_plan is None else plan_indexes(lib_plan),
            )  # fmt: skip
            plan.timing = time_listing(store, conn, filters, sql, params, args)
            report.plans.append(plan)
        entry = w.entry(0, light=True)
        count = "SELECT count(*) FROM sessions WHERE agent_id = ? AND session_id = ?"
        report.other_plans = {
            "get": explain(conn, raw._get, (raw.agent_id, w.key(0))),
            "count(session_id=...)": explain(conn, count, (raw.agent_id, entry.session_id)),
        }


def time_listing(
    store: Any,
    conn: sqlite3.Connection,
    filters: Mapping[str, Any],
    sql: str,
    params: list[Any],
    args: argparse.Namespace,
) -> Pair:
    columns = ("session_key", *INDEX_COLUMNS)

    def raw_page(_r: int) -> list[dict[str, Any]]:
        rows = conn.execute(sql, params).fetchall()
        return [dict(zip(columns, row, strict=True)) for row in rows[:PAGE_SIZE]]

    lib, base = measure(
        [Op(lambda r: store.list(limit=PAGE_SIZE, **filters)), Op(raw_page)],
        min(args.repeats, 300),
        args.budget / 4,
    )
    return Pair(lib, base)


# -- output --------------------------------------------------------------------------------


def show(title: str, header: list[str], rows: Rows) -> None:
    table = Table(title=title, title_justify="left")
    for i, name in enumerate(header):  # the first column (a name) is never wrapped
        table.add_column(name, overflow="fold", no_wrap=i == 0)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def stat_cells(s: Stat) -> list[str]:
    return [_ms(s.median_ms), _ms(s.p95_ms), str(s.samples)]


def latency_rows(runs: list[KindRun]) -> Rows:
    rows = []
    for run in runs:
        for op, pair in run.latency.items():
            target = Target("", f"<= {RATIO_TARGET:.1f}x", pair.ratio, RATIO_TARGET, "")
            rows.append(
                [f"{run.n:,}", run.kind, OPERATIONS[op], *stat_cells(pair.library),
                 *stat_cells(pair.raw)[:2], _ratio(pair.ratio), target.goal, target.result]
            )  # fmt: skip
    return rows


LATENCY = ["N", "entries", "operation", "library median ms", "p95 ms", "n", "raw median ms",
           "raw p95 ms", "library/raw", "target", "result"]  # fmt: skip


def build_rows(runs: list[KindRun]) -> Rows:
    rows = []
    for r in runs:
        raw_net = r.build_raw_s - r.n * r.to_dict_ms / 1000
        rows.append(
            [f"{r.n:,}", r.kind, r.entry_kb, f"{r.build_library_s:.1f}",
             f"{r.n / r.build_library_s:,.0f}", f"{r.build_raw_s:.1f}",
             f"{r.n / r.build_raw_s:,.0f}", _ratio(r.build_library_s / r.build_raw_s),
             f"{raw_net:.1f} ({_ms(r.to_dict_ms)} ms each)", f"{r.library_mb:,.1f}",
             f"{r.raw_mb:,.1f}", "ok" if not r.checks else "; ".join(r.checks)]
        )  # fmt: skip
    return rows


BUILD = ["N", "entries", "mean JSON", "put_many s", "entries/s", "raw executemany s",
         "raw entries/s", "library/raw", "raw s less to_dict (est.)", "library MB", "raw MB",
         "same reads"]  # fmt: skip


def index_cost_rows(cost: IndexCost) -> Rows:
    rows = []
    for side, pair in (("library put", cost.library), ("raw put", cost.raw)):
        with_ms, without_ms = pair.with_indexes.median_ms, pair.without_indexes.median_ms
        rows.append(
            [side, *stat_cells(pair.with_indexes), *stat_cells(pair.without_indexes)[:2],
             f"{with_ms - without_ms:+.3f} ms", f"{(with_ms - without_ms) / with_ms:.0%}"]
        )  # fmt: skip
    return rows


INDEX_COST = ["operation", "with indexes median ms", "p95 ms", "n", "without median ms",
              "without p95 ms", "indexes cost", "share of the put"]  # fmt: skip


def index_rows(report: Report) -> Rows:
    """Per index: the filters whose list-page plan uses it, from the raw SQL and (when
    the store can show its statements) from the library's own SQL; and which of the
    other statements explained (get, count by session id) use it."""
    plans = report.plans
    traced = any(p.library_plan is not None for p in plans)
    others = {name: plan_indexes(plan) for name, plan in report.other_plans.items()}
    rows = []
    for name, columns in report.indexes.items():
        raw_users = [p.case for p in plans if name in p.raw_indexes]
        lib_users = [p.case for p in plans if p.library_indexes and name in p.library_indexes]
        lib_cell = (", ".join(lib_users) or "-") if traced else "n/a (no trace)"
        if traced and lib_users == raw_users:
            lib_cell = "same"
        if raw_users or lib_users:
            verdict = "used by listings"
        elif name.startswith("sqlite_autoindex"):
            verdict = "primary key"
        else:
            verdict = "NO LISTING FILTER USES IT"
        other = [statement for statement, used in others.items() if name in used]
        rows.append(
            [name, ", ".join(columns), ", ".join(raw_users) or "-", lib_cell,
             ", ".join(other) or "-", verdict]
        )  # fmt: skip
    return rows


INDEXES = ["index", "columns", "list-page filters whose plan uses it", "library's SQL",
           "other statements using it", "verdict"]  # fmt: skip


def plan_rows(plans: list[Plan]) -> Rows:
    rows = []
    for p in plans:
        same = "-" if p.library_plan is None else ("same" if p.library_plan == p.raw_plan else
                                                   " / ".join(p.library_plan))  # fmt: skip
        t = p.timing
        rows.append(
            [p.case, " / ".join(p.raw_plan), same,
             *(["-", "-", "-"] if t is None else
               [_ms(t.library.median_ms), _ms(t.raw.median_ms), _ratio(t.ratio)])]
        )  # fmt: skip
    return rows


PLANS = ["filter", "EXPLAIN QUERY PLAN (raw SQL, as the library's WHERE)",
         "library's own SQL", "library median ms", "raw median ms", "library/raw"]  # fmt: skip


def proposal_rows(p: dict[str, Any]) -> Rows:
    rows = []
    for name, goal, limit in (("update", "<= 0.5 ms", UPDATE_TARGET_MS), ("open", "", 0.0)):
        lib, raw = p[name]["library"], p[name]["raw"]
        result = Target("", goal, lib["median_ms"], limit, "").result if limit else "-"
        label = "single store.update(...)" if name == "update" else "open + first page"
        ratio = lib["median_ms"] / raw["median_ms"]
        rows.append(
            [label, _ms(lib["median_ms"]), _ms(lib["p95_ms"]), str(lib["samples"]),
             _ms(raw["median_ms"]), _ratio(ratio), goal or "-", result]
        )  # fmt: skip
    return rows


PROPOSAL = ["measure", "library median ms", "p95 ms", "n", "raw median ms", "library/raw",
            "target", "result"]  # fmt: skip


# -- the run -------------------------------------------------------------------------------


def other_benchmarks() -> list[str]:
    """Other benchmark or test processes running now (they would disturb the figures)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            cmd = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        pid = int(cmdline.parent.name)
        if pid not in (os.getpid(), os.getppid()) and re.search(r"benchmarks/\w+\.py|pytest", cmd):
            found.append(f"pid {pid}: {cmd[:120]}")
    return found


@contextmanager
def section(report: Report, name: str) -> Iterator[None]:
    """A part of the run: an error is printed and recorded, and the run goes on."""
    try:
        yield
    except Exception:
        report.errors.append(f"{name}: {traceback.format_exc().strip().splitlines()[-1]}")
        console.print(f"[red]{name} failed:[/red]")
        console.print(traceback.format_exc(), markup=False, highlight=False)


def machine() -> dict[str, str]:
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.exists() else []
    names = [line for line in lines if line.startswith("model name")]
    cpu = names[0].split(":", 1)[1].strip() if names else "?"
    return {
        "CPU": f"{cpu}, {os.cpu_count()} logical CPUs",
        "Python": sys.version.split()[0],
        "SQLite": sqlite3.sqlite_version,
        "sessionstore": __version__,
        "load average at start (1 min)": f"{os.getloadavg()[0]:.2f}",
    }


def bench_size(
    report: Report, w: Workload, n: int, args: argparse.Namespace, scratch: Path
) -> None:
    for kind in kinds(w):
        console.rule(f"N = {n:,}, {kind.name} entries")
        run = KindRun(kind.name, n, describe(w, kind))
        with (
            section(report, f"{kind.name} entries at N={n:,}"),
            fresh_target("sqlite", scratch) as lib_url,
            fresh_target("sqlite", scratch) as raw_url,
        ):
            build(w, kind, n, lib_url, raw_url, run)
            report.runs.append(run)
            console.print(
                f"  {run.store_class}: put_many in {run.build_library_s:.1f} s, raw "
                f"executemany in {run.build_raw_s:.1f} s; {run.library_mb:,.0f} MB"
            )
            run.latency = time_kind(w, kind, n, lib_url, raw_url, args)
            run.checks = check(w, kind, n, lib_url, raw_url)
            for op, pair in run.latency.items():
                console.print(
                    f"  {OPERATIONS[op]}: library {_ms(pair.library.median_ms)} ms, raw "
                    f"{_ms(pair.raw.median_ms)} ms, {_ratio(pair.ratio)}"
                )
            if kind.name != "small":
                continue
            with section(report, f"index cost at N={n:,}"):
                report.index_cost = index_cost(w, kind, n, lib_url, scratch, args)
                console.print(f"  index cost measured: {len(report.index_cost.dropped)} dropped")
            with section(report, f"listing plans at N={n:,}"):
                listing_plans(report, w, lib_url, args)
                covered = {name for _, filters in cases(w) for name in filters}
                report.uncovered_filters = [
                    f.name for f in fields(Filters) if f.name not in covered
                ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000", help="comma-separated N (100000)")
    parser.add_argument("--repeats", type=int, default=1000, help="most repetitions (1000)")
    parser.add_argument("--budget", type=float, default=2.0, help="seconds per op (2.0)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    sizes = sorted(int(n.replace("_", "")) for n in args.sizes.split(",") if n.strip())
    started = time.perf_counter()
    report = Report(machine=machine(), settings={
        "sizes": sizes, "repeats": args.repeats, "budget_s": args.budget,
        "min_samples": MIN_SAMPLES, "sample_keys": SAMPLE_KEYS})  # fmt: skip
    console.print("; ".join(f"{k}: {v}" for k, v in report.machine.items()))
    for other in other_benchmarks():
        console.print(f"[yellow]also running, figures may suffer: {other}")
    with tempfile.TemporaryDirectory(prefix="sessionstore-sqlite-driver-") as tmp:
        scratch = Path(tmp)
        w = Workload(scratch)
        with fresh_target("sqlite", scratch) as url:
            report.store_class = store_class(url)
        console.print(f"open_store('sqlite:///...') returns [bold]{report.store_class}[/bold]")
        for kind in kinds(w):
            console.print(f"  {kind.name} entries: {describe(w, kind)} of JSON on average")
        for n in sizes:
            bench_size(report, w, n, args, scratch)
        console.rule("The earlier proposal's workload")
        with section(report, "proposal workload"):
            proposal = bench_proposal(w, args, scratch)
            report.proposal = {
                "entry_bytes": proposal.entry_bytes,
                **{name: {"library": asdict(pair[0]), "raw": asdict(pair[1])}
                   for name, pair in (("update", proposal.update), ("open", proposal.open))},
            }  # fmt: skip
    report.wall_s = time.perf_counter() - started
    print_report(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(as_json(report), indent=2) + "\n", encoding="utf-8")
    return 0


def as_json(report: Report) -> dict[str, Any]:
    data = asdict(report)
    for run, raw_run in zip(report.runs, data["runs"], strict=True):
        for op, pair in run.latency.items():
            raw_run["latency"][op]["ratio"] = pair.ratio
    return data


def print_report(report: Report) -> None:
    console.rule("Results")
    console.print(f"Store class measured: {report.store_class}")
    show(
        "Build, each side into its own fresh database (timed with making the entries)",
        BUILD,
        build_rows(report.runs),
    )
    show(f"Library vs raw sqlite3 (target: within {RATIO_TARGET:.1f}x)", LATENCY,
         latency_rows(report.runs))  # fmt: skip
    if report.proposal:
        size = report.proposal["entry_bytes"] / 1e3
        title = (
            f"The proposal workload's single update: 1,000 sessions of {size:.1f} KB sharing "
            "one prompt (as suite.bench_proposal measures it)"
        )
        show(title, PROPOSAL, proposal_rows(report.proposal))
    if report.index_cost:
        cost = report.index_cost
        title = (
            f"Index cost: a put of a small entry at N = {cost.n:,}, with and without the "
            f"{len(cost.dropped)} secondary indexes (two copies of the library's database)"
        )
        show(title, INDEX_COST, index_cost_rows(cost))
        console.print(f"  dropped on the copy: {', '.join(cost.dropped)}")
    if report.plans:
        show("Index -> the listing filters whose plan uses it", INDEXES, index_rows(report))
        show(f"Plan of a list page of {PAGE_SIZE} per filter (small entries)", PLANS,
             plan_rows(report.plans))  # fmt: skip
        for statement, plan in report.other_plans.items():
            console.print(f"  plan of {statement} (raw SQL): {' / '.join(plan)}")
        stats = "with" if report.planner_stats else "without"
        console.print(f"  the plans were made {stats} ANALYZE statistics (sqlite_stat1)")
    if report.uncovered_filters:
        missing = ", ".join(report.uncovered_filters)
        console.print(f"[yellow]filters of Filters not covered by the plans: {missing}")
    for error in report.errors:
        console.print(f"[red]error: {error}")
    console.print(f"Finished in {report.wall_s:.0f} s; load average now {os.getloadavg()[0]:.2f}.")
    for other in other_benchmarks():
        console.print(f"[yellow]also running at the end: {other}")


if __name__ == "__main__":
    sys.exit(main())

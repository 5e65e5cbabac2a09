"""OpenClaw 2026.9.6's own session store beside sessionstore's SQLite backend, on the
same entries.

At each size N the same N entries (about 2 KB each, from the synthetic generator) are
written into OpenClaw's per-agent database through its plugin API
(``upsertSessionEntry``) and into a sessionstore SQLite database (``put_many``). Then
both are timed on the same random keys: get one (``getSessionEntry`` against
``store.get``), patch one (``patchSessionEntry`` against ``store.patch``), one page of 50
(``store.list(limit=50)``; OpenClaw has no paged list, so its full
``listSessionEntries`` stands beside it, and says so) and every entry
(``listSessionEntries`` against ``store.iter_entries``, like for like); get and every
entry once more after another connection's write, which empties OpenClaw's cache of
entries. OpenClaw runs in one long-lived Node process that times each call
with ``process.hrtime.bigint()``; sessionstore runs in this process, timed the same way
(``benchmarks/suite.py``'s ``measure``), so neither start-up is measured. Usage::

    python benchmarks/openclaw_peer.py [--sizes 1000,10000] [--repeats 300] [--budget 1.0]
        [--out benchmarks/openclaw_peer.json] [--markdown docs/benchmarks.md]

OpenClaw and Node come from the interop cache that ``make interop`` fills; without them
the script prints why and exits 0. ``--markdown`` puts the results in that page's
``## Beside OpenClaw 2026.9.6`` section, leaving the rest of the page as it is. The exit
status is 0 whether the goals are met or not: this is a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.raw_baseline import RawStore  # noqa: E402
from benchmarks.suite import (  # noqa: E402
    MIN_SAMPLES,
    SLOW_S,
    Op,
    Stat,
    Workload,
    _ms,
    _vs_json,
    console,
    fresh_target,
    machine,
    markdown_table,
    measure,
    show,
)
from benchmarks.transcripts import replace_section  # noqa: E402
from sessionstore import SessionEntry, open_store  # noqa: E402
from tests.interop.openclaw import (  # noqa: E402
    SQLITE_ERA,
    OpenClaw,
    missing_reason,
    node_binary,
    release_dir,
)

HEADING = f"## Beside OpenClaw {SQLITE_ERA}"
AGENT = "main"
GOAL = 3.0  # sessionstore at least this many times faster on get and on patch
SAMPLE = 20  # entries read back on both sides before timing
DAY_MS = 86_400_000
#: What the two sides run for each operation, as the tables name them.
OPERATIONS = {
    "get": ("get one", "getSessionEntry", "store.get"),
    "patch": ("patch one (a label)", "patchSessionEntry", "store.patch"),
    "page": ("one page of 50", "listSessionEntries: the full list (no paged list)",
             "store.list(limit=50)"),
    "all": ("every entry", "listSessionEntries", "list(store.iter_entries())"),
    "get_uncached": ("get one, after another connection's write", "getSessionEntry",
                     "store.get"),
    "all_uncached": ("every entry, after another connection's write", "listSessionEntries",
                     "list(store.iter_entries())"),
}  # fmt: skip
#: A second connection's commit, untimed before each repetition of the uncached ops:
#: OpenClaw then finds SQLite's data_version changed and drops its cached entries.
TOUCH = ("CREATE TABLE IF NOT EXISTS benchmark_touch (n INTEGER)",
         "INSERT INTO benchmark_touch VALUES (1)")  # fmt: skip
GOALS = ("get", "patch")

# The body of an ES module run by the release's Node (``OpenClaw.script``): writes the
# entries, reads the sample back, then times each operation as ``measure`` does (a first
# repetition that warms up is dropped unless it took over ``slowMs``). ``before`` runs
# untimed before each repetition.
DRIVER = """
const { agentId, entries, keys, sample, repeats, budgetMs, minSamples, slowMs } = data;
const { DatabaseSync } = await import('node:sqlite');
const where = (sessionKey) => ({ agentId, sessionKey });
const now = () => process.hrtime.bigint();
const ms = (from) => Number(now() - from) / 1e6;
let t = now();
for (const [sessionKey, entry] of entries) {
  await store.upsertSessionEntry({ ...where(sessionKey), entry });
}
const buildMs = ms(t);
const read = sample.map((key) => store.getSessionEntry(where(key)) ?? null);
const key = (r) => keys[r + 1];
const patch = (r) => store.patchSessionEntry({
  ...where(key(r)), update: () => ({ label: `Patched ${r}` }),
});
const get = (r) => store.getSessionEntry(where(key(r)));
const list = () => store.listSessionEntries({ agentId });
const other = new DatabaseSync(data.database);
other.exec('PRAGMA busy_timeout = 5000');
const touch = () => { for (const sql of data.touch) other.exec(sql); };
const ops = {
  get: [get], patch: [patch], page: [list], all: [list],
  get_uncached: [get, touch], all_uncached: [list, touch],
};
const times = {};
for (const [name, [run, before]] of Object.entries(ops)) {
  const samples = [];
  const started = now();
  for (let r = -1; r < repeats; r++) {
    if (samples.length >= minSamples && ms(started) > budgetMs) break;
    if (before) before();
    t = now();
    const done = run(r);
    if (done instanceof Promise) await done;
    const elapsed = ms(t);
    if (r >= 0 || elapsed > slowMs) samples.push(elapsed);
  }
  times[name] = samples;
}
other.close();
emit({ buildMs, read, times, count: list().length });
"""


def workload_entries(w: Workload, n: int, now_ms: int) -> list[tuple[str, SessionEntry]]:
    """The suite's 2 KB entries (no skillsSnapshot or systemPromptReport), all updated in
    the last week (OpenClaw's maintenance prunes sessions idle for 30 days) and without
    ``sessionFile``, which OpenClaw 2026.9 does not keep (its transcripts are rows)."""
    out = []
    for i in range(n):
        data = w.entry(i, light=True).to_dict()
        data.pop("sessionFile", None)
        updated = now_ms - (i * 7_919_993) % (7 * DAY_MS)
        data.update(updatedAt=updated, sessionStartedAt=updated - 3_600_000)
        out.append((w.key(i), SessionEntry.from_dict(data)))
    return out


@dataclass
class Side:
    build_s: float
    stats: dict[str, Stat]


@dataclass
class Run:
    n: int
    openclaw: Side
    sessionstore: Side
    bare_get: Stat  # the bare driver's get on sessionstore's database: the floor of a get
    notes: list[str] = field(default_factory=list)

    def ratio(self, op: str, p95: bool = False) -> float:
        """How many times faster sessionstore is than OpenClaw."""
        a, b = self.openclaw.stats[op], self.sessionstore.stats[op]
        return a.p95_ms / b.p95_ms if p95 else a.median_ms / b.median_ms


def run_openclaw(
    items: list[tuple[str, SessionEntry]], keys: list[str], sample: list[str],
    args: argparse.Namespace, state_dir: Path,
) -> dict[str, Any]:  # fmt: skip
    """One Node process of the release on a new state directory: what ``DRIVER`` emits."""
    release = OpenClaw(SQLITE_ERA)
    env = release.environment(state_dir)
    # As a gateway runs by default: the harness sets this to 0 for its tests, and
    # 2026.9.6 does not read it anyway (its SQLite store has no read TTL).
    env.pop("OPENCLAW_SESSION_CACHE_TTL_MS", None)
    data = {
        "agentId": AGENT, "entries": [(k, e.to_dict()) for k, e in items], "keys": keys,
        "sample": sample, "repeats": args.repeats, "budgetMs": args.budget * 1000,
        "minSamples": MIN_SAMPLES, "slowMs": SLOW_S * 1000, "touch": TOUCH,
        "database": str(state_dir / "agents" / AGENT / "agent" / "openclaw-agent.sqlite"),
    }  # fmt: skip
    done = subprocess.run(
        [str(node_binary()), "--input-type=module", "-e", release.script(DRIVER)],
        input=json.dumps(data).encode(),
        capture_output=True,
        cwd=release_dir(SQLITE_ERA),
        env=env,
        check=False,
    )
    out = done.stdout.decode(errors="replace")
    if done.returncode != 0:
        raise RuntimeError(f"the OpenClaw driver failed:\n{done.stderr.decode()}{out}")
    lines = [line for line in out.split("\n") if line.startswith("@@result@@ ")]
    return dict(json.loads(lines[-1].removeprefix("@@result@@ ")))


def run_sessionstore(
    items: list[tuple[str, SessionEntry]], keys: list[str], sample: list[str],
    args: argparse.Namespace, scratch: Path,
) -> tuple[Side, Stat, dict[str, dict[str, Any]]]:  # fmt: skip
    """The same work on a new sessionstore SQLite database, the bare driver's get on it,
    and the sample read back."""
    with fresh_target("sqlite", scratch) as url, open_store(url) as store:
        t0 = time.perf_counter()
        store.put_many(items, batch_size=500)
        build_s = time.perf_counter() - t0
        read = {k: e.to_dict() for k in sample if (e := store.get(k)) is not None}

        def key(r: int) -> str:
            return keys[r + 1]

        def patch(r: int) -> object:
            return store.patch(key(r), {"label": f"Patched {r}"})

        def touch(r: int = 0) -> None:
            for sql in TOUCH:
                other.execute(sql)

        other = sqlite3.connect(str(make_url(url).database), isolation_level=None, timeout=5)
        ops = {
            "get": Op(lambda r: store.get(key(r))),
            "patch": Op(patch),
            "page": Op(lambda r: store.list(limit=50)),
            "all": Op(lambda r: list(store.iter_entries())),
            "get_uncached": Op(lambda r: store.get(key(r)), touch),
            "all_uncached": Op(lambda r: list(store.iter_entries()), touch),
        }
        stats = {}
        for name, op in ops.items():
            if op.reset is not None:  # measure() runs it after each repetition: once first
                touch()
            stats[name] = measure([op], args.repeats, args.budget)[0]
        other.close()
        assert len(list(store.iter_entries())) == len(items)
        raw = RawStore(url)
        bare = measure([Op(lambda r: raw.get(key(r)))], args.repeats, args.budget)[0]
        raw.close()
    return Side(build_s, stats), bare, read


def bench(n: int, w: Workload, args: argparse.Namespace, scratch: Path) -> Run:
    items = workload_entries(w, n, int(time.time() * 1000))
    order = random.Random(n)
    keys = [items[order.randrange(n)][0] for _ in range(args.repeats + 1)]
    sample = [items[i][0] for i in order.sample(range(n), min(n, SAMPLE))]
    console.print(f"  OpenClaw {SQLITE_ERA}: writing {n:,} entries and timing ...")
    found = run_openclaw(items, keys, sample, args, scratch / f"state-{n}")
    assert found["count"] == n, f"OpenClaw lists {found['count']} of {n} entries"
    seconds = {op: [ms / 1000 for ms in times] for op, times in found["times"].items()}
    openclaw = Side(found["buildMs"] / 1000, {op: Stat.of(s) for op, s in seconds.items()})
    console.print(f"  sessionstore: writing {n:,} entries and timing ...")
    ours, bare, read = run_sessionstore(items, keys, sample, args, scratch)
    run = Run(n, openclaw, ours, bare)
    differing = sorted(
        {
            field
            for key, theirs in zip(sample, found["read"], strict=True)
            for field in set(theirs or {}) | set(read.get(key, {}))
            if (theirs or {}).get(field) != read.get(key, {}).get(field)
        }
    )
    run.notes.append(
        f"N = {n:,}: the {len(sample)} sampled entries read back "
        + (f"differ in {', '.join(differing)}" if differing else "alike on both sides")
        + "."
    )
    return run


# -- reporting ---------------------------------------------------------------------------

HEADER = ["Operation", f"OpenClaw {SQLITE_ERA}", "ms p50", "ms p95", "n", "sessionstore",
          "ms p50", "ms p95", "n", "sessionstore, p50", "sessionstore, p95"]  # fmt: skip
TARGETS = ["Target", "Measured (p50)", "Goal", "Result"]


def latency_rows(run: Run) -> list[list[str]]:
    rows = []
    for op, (label, theirs, ours) in OPERATIONS.items():
        a, b = run.openclaw.stats[op], run.sessionstore.stats[op]
        rows.append(
            [label, f"`{theirs}`", _ms(a.median_ms), _ms(a.p95_ms), str(a.samples), f"`{ours}`",
             _ms(b.median_ms), _ms(b.p95_ms), str(b.samples),
             _vs_json(a.median_ms, b.median_ms), _vs_json(a.p95_ms, b.p95_ms)]
        )  # fmt: skip
    return rows


def target_rows(runs: list[Run]) -> list[list[str]]:
    return [
        [f"{OPERATIONS[op][0]}, N = {run.n:,}",
         _vs_json(run.openclaw.stats[op].median_ms, run.sessionstore.stats[op].median_ms),
         f">= {GOAL:.0f}x faster", "met" if run.ratio(op) >= GOAL else "NOT MET"]
        for op in GOALS
        for run in runs
    ]  # fmt: skip


DESCRIPTION = """\
OpenClaw {version}'s own session store, driven through its plugin API
(`openclaw/plugin-sdk/session-store-runtime`) in one long-lived Node {node} process,
beside sessionstore's SQLite backend in one Python process, on the same entries and the
same random keys. Written by `benchmarks/openclaw_peer.py --markdown docs/benchmarks.md`
(`make bench` runs it after the suite); it needs the releases that `make interop`
installs, and without them prints why and writes nothing. The run took {wall:.0f} s.

- **Entries**: the suite's 2 KB entries (routes, origin, delivery context, labels, token
  counts, a `notes` field), without `skillsSnapshot`, `systemPromptReport` and
  `sessionFile` (OpenClaw {version} keeps transcripts as rows and drops it), updated
  within the last week (OpenClaw prunes sessions idle for 30 days). OpenClaw gets them
  one `upsertSessionEntry` at a time, sessionstore with `put_many`.
- **Timing**: OpenClaw's calls are timed inside Node with `process.hrtime.bigint()`,
  sessionstore's with `time.perf_counter()`, neither process's start-up included; each
  operation alone, up to {repeats} repetitions or {budget} s, at least {min_samples}; a
  first repetition warms up and is dropped unless it took over {slow} s. The last two
  columns say how much faster (or slower) sessionstore is: OpenClaw's time over its.
- **Operations**: *get one* reads one entry by key; *patch one* sets a label (OpenClaw's
  `patchSessionEntry` with an `update` callback; `store.patch`). *One page of 50* is
  `store.list(limit=50)`, summaries newest first; **OpenClaw has no paged list**, so
  its row is the full `listSessionEntries`, the least it offers to show a first page.
  *Every entry* is the like-for-like comparison: all N complete entries on both sides.
- **OpenClaw's cache**: {version} does not read `OPENCLAW_SESSION_CACHE_TTL_MS` (the
  JSON-era stores did); its SQLite store keeps the last full list in memory and reuses
  it while SQLite's `data_version` and a generation counter kept by triggers say
  nothing changed; its own writes update it, and no setting turns it off. The run uses
  the default environment, as a gateway does, so repeated reads with nothing written
  between, or only OpenClaw's own patches, are served from that cache (each entry still
  cloned). The rows *after another connection's write* show the uncached figures:
  before each repetition, untimed, a second SQLite connection commits a row to a table
  of its own in the same database (on both sides), so OpenClaw finds `data_version`
  changed and reads the database again; sessionstore keeps no cache of entries, but
  SQLite itself then drops the pages it had cached for the connection.
"""


def section(runs: list[Run], info: dict[str, str], settings: dict[str, Any], wall: float) -> str:
    text = DESCRIPTION.format(
        version=SQLITE_ERA, node=info.get("Node", ""), wall=wall, repeats=settings["repeats"],
        budget=settings["budget_s"], min_samples=MIN_SAMPLES, slow=SLOW_S,
    )  # fmt: skip
    parts = [f"{HEADING}\n", text]
    parts += [markdown_table(["Machine", ""], [[k, v] for k, v in info.items()]), ""]
    parts += ["### Goals\n", markdown_table(TARGETS, target_rows(runs)), ""]
    for run in runs:
        parts += [f"### N = {run.n:,}\n", markdown_table(HEADER, latency_rows(run)), ""]
        parts.append(
            f"Writing the {run.n:,} entries took {run.openclaw.build_s:.1f} s in OpenClaw "
            f"(one `upsertSessionEntry` each) and {run.sessionstore.build_s:.2f} s in "
            "sessionstore (`put_many`, batches of 500). The floor of a get: the bare driver "
            "(`benchmarks/raw_baseline.py`: one `SELECT` with `sqlite3`, `orjson.loads`, a "
            f"dict) reads one entry of sessionstore's database in {_ms(run.bare_get.median_ms)} "
            f"ms (p95 {_ms(run.bare_get.p95_ms)}), "
            f"{run.openclaw.stats['get'].median_ms / run.bare_get.median_ms:.1f}x faster than "
            "OpenClaw's get; `store.get`, which also builds a `SessionEntry` (not validated "
            "again: the store validated it when it wrote it), takes "
            f"{run.sessionstore.stats['get'].median_ms / run.bare_get.median_ms:.1f}x the "
            "bare driver's time.\n"
        )
    parts += [f"- {note}" for run in runs for note in run.notes]
    return "\n".join(parts).rstrip() + "\n"


def to_json(run: Run) -> dict[str, Any]:
    return {
        "n": run.n,
        **{side: {"build_s": s.build_s, "latency": {op: asdict(st) for op, st in s.stats.items()}}
           for side, s in (("openclaw", run.openclaw), ("sessionstore", run.sessionstore))},
        "bare_get": asdict(run.bare_get),
        "faster": {op: {"p50": run.ratio(op), "p95": run.ratio(op, p95=True)} for op in OPERATIONS},
        "notes": run.notes,
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated")
    parser.add_argument("--repeats", type=int, default=300, help="most repetitions of an op")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds per op and side")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "openclaw_peer.json")
    parser.add_argument("--markdown", type=Path, help=f"put the results in this page's {HEADING!r}")
    args = parser.parse_args()
    if reason := missing_reason(SQLITE_ERA):
        console.print(
            f"[yellow]OpenClaw beside sessionstore not run: {reason}.[/yellow]", soft_wrap=True
        )
        return 0
    sizes = sorted(int(n) for n in args.sizes.split(","))
    started = time.perf_counter()
    info = machine(None)
    del info["PostgreSQL"]
    info["Node"] = subprocess.run(
        [str(node_binary()), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    info["OpenClaw"] = SQLITE_ERA
    console.print("; ".join(f"{k}: {v}" for k, v in info.items()))
    runs = []
    with tempfile.TemporaryDirectory(prefix="sessionstore-peer-") as tmp:
        scratch = Path(tmp)
        w = Workload(scratch)
        for n in sizes:
            console.rule(f"N = {n:,}")
            runs.append(bench(n, w, args, scratch))
            show(f"N = {n:,}", HEADER, latency_rows(runs[-1]))
    show("Goals", TARGETS, target_rows(runs))
    wall = time.perf_counter() - started
    info["Load average at the end (1 min)"] = f"{os.getloadavg()[0]:.2f}"
    console.print(f"Finished in {wall:.0f} s; load average now {os.getloadavg()[0]:.2f}.")
    settings = {"sizes": sizes, "repeats": args.repeats, "budget_s": args.budget}
    document = {"machine": info, "settings": settings, "runs": [to_json(r) for r in runs],
                "wall_s": wall}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    if args.markdown:
        replace_section(args.markdown, section(runs, info, settings, wall), HEADING)
    return 0


if __name__ == "__main__":
    sys.exit(main())

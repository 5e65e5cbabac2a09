"""Cleanup at scale: ``store.cleanup`` against one raw ``DELETE`` of the same rows.

Builds a store of ``--entries`` sessions (default 100,000) of which ``--stale-share``
(default 1 %) were last updated 40 days ago, then times, side by side on each backend:

- ``raw DELETE``: ``DELETE FROM sessions WHERE agent_id = ? AND updated_at < ?`` with the
  bare driver (``sqlite3`` or ``psycopg``), the floor for removing those rows;
- ``cleanup``: ``cleanup(store, prune_after_ms=30 days, max_entries=None)``, which also
  builds the per-key report and spares protected sessions (none are stale here).

After each run the stale rows are put back, so every repetition removes the same rows.
It also checks that a dry run's report equals what the enforced run then does. Usage::

    python benchmarks/cleanup.py [--entries 100000] [--stale-share 0.01] [--repeats 5]
        [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import make_url, text

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.suite import fresh_target  # noqa: E402
from sessionstore import SessionEntry, SessionStore, open_store  # noqa: E402
from sessionstore.lifecycle import DAY_MS, cleanup  # noqa: E402

NOW = 1_774_962_000_000
PRUNE_AFTER_MS = 30 * DAY_MS
CUTOFF = NOW - PRUNE_AFTER_MS


def entry(n: int, stale: bool) -> SessionEntry:
    """About 2 KB of realistic metadata; the stale ones are 40 days old."""
    updated = NOW - (40 * DAY_MS if stale else n % (20 * DAY_MS))
    return SessionEntry.from_dict(
        {
            "sessionId": str(uuid.UUID(int=n)),
            "updatedAt": updated - n % 1000,
            "chatType": "direct",
            "channel": "telegram",
            "lastChannel": "telegram",
            "lastTo": f"telegram:{100_000 + n}",
            "model": "claude-opus-4-6",
            "modelProvider": "anthropic",
            "totalTokens": n % 200_000,
            "origin": {"label": f"user {n}", "provider": "telegram", "from": f"telegram:{n}"},
            "notes": "x" * 1600,
        }
    )


def build(store: SessionStore, entries: int, stale_every: int) -> list[tuple[str, SessionEntry]]:
    """Fill the store; returns the stale rows (to put back after each removal)."""
    stale: list[tuple[str, SessionEntry]] = []

    def rows() -> object:
        for n in range(entries):
            item = (f"agent:main:telegram:direct:{n}", entry(n, n % stale_every == 0))
            if n % stale_every == 0:
                stale.append(item)
            yield item

    store.put_many(rows(), batch_size=1000)  # type: ignore[arg-type]
    return stale


def raw_delete(url: str) -> Callable[[], int]:
    """One DELETE statement through the bare driver."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":

        def sqlite_delete() -> int:
            conn = sqlite3.connect(str(parsed.database), isolation_level=None)
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA synchronous=NORMAL")
            try:
                cursor = conn.execute(
                    "DELETE FROM sessions WHERE agent_id = ? AND updated_at < ?", ("main", CUTOFF)
                )
                return cursor.rowcount
            finally:
                conn.close()

        return sqlite_delete
    import psycopg

    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)

    def pg_delete() -> int:
        with psycopg.connect(dsn, autocommit=True) as conn:
            cursor = conn.execute(
                "DELETE FROM sessions WHERE agent_id = %s AND updated_at < %s", ("main", CUTOFF)
            )
            return cursor.rowcount

    return pg_delete


def timed(run: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    removed = run()
    return (time.perf_counter() - start) * 1000, removed


def bench(name: str, url: str, args: argparse.Namespace, console: Console) -> list[list[str]]:
    stale_every = round(1 / args.stale_share)
    with open_store(url, auto_upgrade=True) as store:
        started = time.perf_counter()
        stale = build(store, args.entries, stale_every)
        if name == "postgresql":  # a steady state: autovacuum would have run
            with store.engine.connect().execution_options(  # type: ignore[attr-defined]
                isolation_level="AUTOCOMMIT"
            ) as conn:
                conn.execute(text("VACUUM ANALYZE sessions"))
        console.print(
            f"{name}: {args.entries:,} entries, {len(stale):,} stale, "
            f"built in {time.perf_counter() - started:.1f} s"
        )
        dry = cleanup(
            store, prune_after_ms=PRUNE_AFTER_MS, max_entries=None, dry_run=True, now_ms=NOW
        )
        enforced = cleanup(store, prune_after_ms=PRUNE_AFTER_MS, max_entries=None, now_ms=NOW)
        same = dry.items == enforced.items and dry.after == enforced.after
        console.print(f"  dry-run report equals the enforced one: {same}")
        store.put_many(stale)
        raw_run = raw_delete(url)
        times: dict[str, list[float]] = {"raw DELETE": [], "cleanup": []}
        for _ in range(args.repeats):
            ms, removed = timed(raw_run)
            assert removed == len(stale), removed
            times["raw DELETE"].append(ms)
            store.put_many(stale)

            def ours() -> int:
                report = cleanup(store, prune_after_ms=PRUNE_AFTER_MS, max_entries=None, now_ms=NOW)
                return report.applied_count

            ms, removed = timed(ours)
            assert removed == len(stale), removed
            times["cleanup"].append(ms)
            store.put_many(stale)
    base = statistics.median(times["raw DELETE"])
    rows = []
    for label, values in times.items():
        median = statistics.median(values)
        p95 = sorted(values)[max(0, round(0.95 * len(values)) - 1)]
        rows.append([name, label, f"{median:.1f}", f"{p95:.1f}", f"{median / base:.2f}x"])
    if not same:
        rows.append([name, "dry run != enforced", "", "", "FAILED"])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--stale-share", type=float, default=0.01)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    console = Console()
    console.print(
        f"Python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} CPUs"
    )
    table = Table("Backend", "Operation", "median ms", "p95 ms", "vs raw DELETE")
    failed = False
    for name in args.backends.split(","):
        with tempfile.TemporaryDirectory() as scratch, fresh_target(name, Path(scratch)) as url:
            for row in bench(name, url, args, console):
                failed |= row[-1] == "FAILED"
                table.add_row(*row)
    console.print(table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

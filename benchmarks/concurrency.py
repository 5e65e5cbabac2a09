"""Many processes updating one store at once: throughput and lost updates per backend.

Runs the workloads of ``tests/reliability/workloads.py`` (the ones the reliability
tests use) against each backend, on a fresh store each:

- ``shared-key``: every process adds 1 to ``totalTokens`` of one key, ``--updates``
  times, with ``update``;
- ``random-keys``: the same on a key drawn from 20 for each update;
- ``cas-race``: every process tries one ``put(..., expected_version=v)`` with the same
  ``v`` at once; exactly one must win.

Lost updates (expected minus stored increments) must be 0; the exit status is 1 if any
check fails. Usage::

    python benchmarks/concurrency.py [--backends json,sqlite,postgresql,mysql]
        [--processes 8] [--updates 500] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # spawned workers inherit this and import the workloads

from sqlalchemy import create_engine, make_url, text  # noqa: E402
from sqlalchemy.exc import SQLAlchemyError  # noqa: E402

from sessionstore import SessionEntry, open_store, upgrade  # noqa: E402
from tests.reliability.workloads import (  # noqa: E402
    BASE_MS,
    WorkerError,
    WorkerPool,
    cas_contender,
    random_key_increments,
    shared_key_increments,
    workload_keys,
)

BACKENDS = ("json", "sqlite", "postgresql", "mysql")
POSTGRES_URL = os.environ.get(
    "SESSIONSTORE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get(
    "SESSIONSTORE_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)
RANDOM_KEYS = 20


class ServerUnavailableError(Exception):
    """A database server could not be reached."""


@dataclass(frozen=True)
class Result:
    """One workload on one backend."""

    backend: str
    workload: str
    processes: int
    #: Writes attempted in all (increments; for cas-race, contenders).
    updates: int
    wall_seconds: float
    updates_per_second: float
    #: Increments made but not stored (cas-race: 1 minus the number of winners).
    lost_updates: int
    ok: bool
    note: str = ""


def _check_server(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, ImportError) as exc:
        raise ServerUnavailableError(f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
    finally:
        engine.dispose()


@contextmanager
def _fresh_target(backend: str, postgres_url: str, mysql_url: str) -> Iterator[str]:
    """A fresh, upgraded store for ``backend``, removed afterwards."""
    if backend in ("json", "sqlite"):
        with tempfile.TemporaryDirectory(prefix="sessionstore-bench-") as tmp:
            if backend == "json":
                yield str(Path(tmp) / "sessions.json")
            else:
                url = f"sqlite:///{Path(tmp) / 'sessions.db'}"
                upgrade(url)
                yield url
        return

    server = postgres_url if backend == "postgresql" else mysql_url
    _check_server(server)
    name = f"bench_{uuid.uuid4().hex[:12]}"
    if backend == "postgresql":
        create, drop = f'CREATE SCHEMA "{name}"', f'DROP SCHEMA "{name}" CASCADE'
        url = (
            make_url(server)
            .update_query_dict({"options": f"-csearch_path={name}"})
            .render_as_string(hide_password=False)
        )
    else:
        create, drop = f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4", f"DROP DATABASE `{name}`"
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(create))
        try:
            upgrade(url)
            yield url
        finally:
            with admin.connect() as conn:
                conn.execute(text(drop))
    finally:
        admin.dispose()


def _shared_key(pool: WorkerPool, backend: str, target: str, updates: int) -> Result:
    key = "agent:main:bench-shared"
    run = pool.run(shared_key_increments, [(target, key, updates)] * pool.size)
    expected = sum(run.results)
    with open_store(target) as store:
        entry = store.get(key)
    stored = 0 if entry is None else entry.total_tokens or 0
    return Result(
        backend,
        "shared-key",
        pool.size,
        expected,
        run.wall_seconds,
        expected / run.wall_seconds,
        expected - stored,
        ok=stored == expected == pool.size * updates,
    )


def _random_keys(pool: WorkerPool, backend: str, target: str, updates: int) -> Result:
    keys = workload_keys(RANDOM_KEYS)
    run = pool.run(
        random_key_increments, [(target, keys, updates, seed) for seed in range(pool.size)]
    )
    made: Counter[str] = Counter()
    for counts in run.results:
        made.update(counts)
    with open_store(target) as store:
        stored = {key: (entry.total_tokens or 0) for key, entry in store.iter_entries()}
    stored = {key: value for key, value in stored.items() if key in keys}
    wrong = sorted(key for key in set(made) | set(stored) if made[key] != stored.get(key, 0))
    expected = made.total()
    return Result(
        backend,
        "random-keys",
        pool.size,
        expected,
        run.wall_seconds,
        expected / run.wall_seconds,
        expected - sum(stored.values()),
        ok=not wrong and expected == pool.size * updates,
        note=f"wrong counts on {len(wrong)} keys" if wrong else "",
    )


def _cas_race(pool: WorkerPool, backend: str, target: str) -> Result:
    key = "agent:main:bench-cas"
    with open_store(target) as store:
        store.put(key, SessionEntry(session_id="cas", updated_at=BASE_MS, label="original"))
        _, version = store.get_with_version(key)
    run = pool.run(cas_contender, [(target, key, version, f"writer {n}") for n in range(pool.size)])
    winners = [outcome for outcome in run.results if outcome.won]
    with open_store(target) as store:
        entry, final = store.get_with_version(key)
    ok = (
        len(winners) == 1
        and entry is not None
        and entry.label == winners[0].label
        and all(o.current_version == final for o in run.results if not o.won)
    )
    return Result(
        backend,
        "cas-race",
        pool.size,
        pool.size,
        run.wall_seconds,
        pool.size / run.wall_seconds,
        1 - len(winners),
        ok=ok,
        note=f"{len(winners)} winner(s), {pool.size - len(winners)} StaleEntryError",
    )


def _print_table(results: list[Result]) -> None:
    header = ("backend", "workload", "procs", "updates", "wall s", "updates/s", "lost", "check")
    rows = [
        (
            r.backend,
            r.workload,
            str(r.processes),
            str(r.updates),
            f"{r.wall_seconds:.2f}",
            f"{r.updates_per_second:,.0f}",
            str(r.lost_updates),
            ("ok" if r.ok else "FAILED") + (f" ({r.note})" if r.note else ""),
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    numeric = {2, 3, 4, 5, 6}

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            cell.rjust(width) if i in numeric else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    print(line(header))
    print("  ".join("-" * width for width in widths))
    for row in rows:
        print(line(row))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated")
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--updates", type=int, default=500, help="increments per process")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write results here")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--mysql-url", default=MYSQL_URL)
    args = parser.parse_args(argv)
    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backends {unknown}; choose from {', '.join(BACKENDS)}")
    if args.processes < 1 or args.updates < 1:
        parser.error("--processes and --updates must be at least 1")

    print(
        f"{args.processes} processes x {args.updates} updates; Python "
        f"{platform.python_version()} on {os.cpu_count()} CPUs ({platform.platform()})"
    )
    results: list[Result] = []
    skipped: dict[str, str] = {}
    failed: dict[str, str] = {}
    with WorkerPool(args.processes) as pool:
        for backend in backends:
            try:
                with _fresh_target(backend, args.postgres_url, args.mysql_url) as target:
                    print(f"{backend}: running ...", flush=True)
                    results.append(_shared_key(pool, backend, target, args.updates))
                    results.append(_random_keys(pool, backend, target, args.updates))
                    results.append(_cas_race(pool, backend, target))
            except ServerUnavailableError as exc:
                skipped[backend] = str(exc)
                print(f"{backend}: skipped, server not reachable: {exc}")
            except WorkerError as exc:
                failed[backend] = str(exc)
                print(f"{backend}: FAILED, a worker raised or died:\n{exc}")

    print()
    _print_table(results)
    if args.json is not None:
        payload = {
            "processes": args.processes,
            "updates_per_process": args.updates,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "results": [asdict(r) for r in results],
            "skipped": skipped,
            "failed": failed,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"\nresults written to {args.json}")
    return 0 if not failed and all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Disk space that comes back, and integrity checks, measured on SQLite in one run:

- **populate**: N sessions, each with a transcript of SQL rows, through the bulk paths
  (``put_many``, ``transcripts.import_lines``);
- **cleanup removes 90 %**: ``lifecycle.cleanup`` caps the store at N / 10 (the
  transcripts go to ``deleted`` archives), then a second run past the retention expires
  those archives; both with ``reclaim=False``, so that the file size after cleanup is
  seen before the reclaim;
- **reclaim**: ``store.reclaim_space()`` (``PRAGMA incremental_vacuum`` in steps of
  ``RECLAIM_STEP_PAGES``, each its own write transaction) while another thread keeps
  putting: its longest single put is the writer's stall, beside the longest put of the
  same writer without a reclaim;
- **check --integrity**: ``quick_check`` and ``integrity_check`` at N sessions.

``make bench`` runs it after the suite. Usage::

    python benchmarks/space.py [--quick] [--sessions N] [--out benchmarks/space.json]
        [--markdown docs/benchmarks.md] [--from-json benchmarks/space.json]

``--markdown`` puts the results in that page's ``## Disk space and integrity`` section,
leaving the rest of the page as it is; ``--from-json`` writes a saved run's results
again, without running anything. The exit status is 0 whether the goals are met
or not: this is a measurement.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.suite import (  # noqa: E402
    add_output_arguments,
    console,
    machine,
    markdown_table,
    save_results,
)
from benchmarks.transcripts import replace_section  # noqa: E402
from sessionstore import lifecycle, open_store  # noqa: E402
from sessionstore.contract import SupportsMaintenance  # noqa: E402
from sessionstore.lifecycle import DAY_MS  # noqa: E402
from sessionstore.sql import space  # noqa: E402

HEADING = "## Disk space and integrity"
FULL_SESSIONS = 100_000
QUICK_SESSIONS = 5_000
#: lines of each transcript after its header
EVENTS = 6
BATCH = 1_000
#: goals: the file after reclaim at most this share of the file before cleanup, and the
#: longest put during the reclaim
SIZE_GOAL = 0.20
STALL_GOAL_MS = 50.0
NOW = 1_800_000_000_000


def _entry(i: int) -> dict[str, Any]:
    return {
        "sessionId": f"s{i:07d}",
        "updatedAt": NOW - i * 1000,
        "channel": "telegram",
        "label": f"session {i}",
        "model": "gpt-5",
        "origin": {"from": f"user{i}", "to": "bot", "provider": "telegram"},
    }


def _lines(i: int) -> list[bytes]:
    header = {"type": "session", "version": 3, "id": f"s{i:07d}", "timestamp": "2026-01-01"}
    lines = [orjson.dumps(header)]
    for n in range(EVENTS):
        role = "user" if n % 2 == 0 else "assistant"
        text = f"message {n} of session {i}: " + "words of a conversation " * 12
        event = {
            "type": "message",
            "id": f"e{i}-{n}",
            "timestamp": "2026-01-01T00:00:00.000Z",
            "message": {"role": role, "content": [{"type": "text", "text": text}]},
        }
        lines.append(orjson.dumps(event))
    return lines


def _bytes(path: Path) -> int:
    """The file with its -wal, after a checkpoint that truncates the WAL (no writer now)."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def _writer(url: str, stop: threading.Event, latencies: list[float]) -> None:
    """Put until ``stop``, each put's latency in ms."""
    with open_store(url) as store:
        n = 0
        while not stop.is_set():
            start = time.perf_counter()
            store.put(f"agent:main:writer:{n % 500}", _entry(10_000_000 + n))
            latencies.append((time.perf_counter() - start) * 1000)
            n += 1


def _while_writing(url: str, work: Any) -> tuple[Any, list[float]]:
    stop = threading.Event()
    latencies: list[float] = []
    thread = threading.Thread(target=_writer, args=(url, stop, latencies))
    thread.start()
    while not latencies:  # the writer is writing
        time.sleep(0.001)
    try:
        result = work()
    finally:
        stop.set()
        thread.join()
    return result, latencies


def run(sessions: int, directory: Path) -> dict[str, Any]:
    path = directory / "space.db"
    url = f"sqlite:///{path}"
    r: dict[str, Any] = {"sessions": sessions, "events": EVENTS}
    with open_store(url, auto_upgrade=True, transcripts="sql") as store:
        start = time.perf_counter()
        for first in range(0, sessions, BATCH):
            chunk = range(first, min(first + BATCH, sessions))
            batch = [(f"agent:main:direct:{i}", _entry(i)) for i in chunk]
            store.put_many(batch)
            for i, (key, entry) in zip(chunk, batch, strict=True):
                store.transcripts.import_lines(key, entry, _lines(i))
        r["populate_s"] = time.perf_counter() - start
        r["bytes_before"] = _bytes(path)
        console.print(f"populated {sessions:,} sessions in {r['populate_s']:.0f} s")

        for check, full in (("quick_check", False), ("integrity_check", True)):
            result = space.integrity_check(path, full=full)
            r[f"{check}_ms"] = result.duration_ms
            r[f"{check}_ok"] = result.ok

        start = time.perf_counter()
        capped = lifecycle.cleanup(
            store,
            prune_after_ms=None,
            max_entries=sessions // 10,
            transcripts=store.transcripts,
            reclaim=False,
            now_ms=NOW,
        )
        expired = lifecycle.cleanup(
            store,
            prune_after_ms=30 * DAY_MS,
            max_entries=None,
            transcripts=store.transcripts,
            reclaim=False,
            now_ms=NOW + 31 * DAY_MS,
        )
        r["cleanup_s"] = time.perf_counter() - start
        r["removed"] = capped.applied_count
        r["archives_expired"] = len(expired.expired)
        r["bytes_after_cleanup"] = _bytes(path)
        r["free_pages"] = space.sqlite_space(path)["freePages"]

        _, baseline = _while_writing(url, lambda: time.sleep(1.0))
        assert isinstance(store, SupportsMaintenance)
        start = time.perf_counter()
        reclaimed, during = _while_writing(url, store.reclaim_space)
        r["reclaim_s"] = time.perf_counter() - start
        r["bytes_after_reclaim"] = _bytes(path)
        r["reclaimed_pages"] = reclaimed.pages
        r["reclaim_steps"] = reclaimed.steps
        r["step_pages"] = space.RECLAIM_STEP_PAGES
        r["longest_step_ms"] = reclaimed.longest_step_ms
        r["longest_put_ms"] = max(during)
        r["puts_during"] = len(during)
        r["longest_put_baseline_ms"] = max(baseline)
        r["remaining_pages"] = reclaimed.remaining
    return r


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def tables(r: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    before = r["bytes_before"]
    share = r["bytes_after_reclaim"] / before
    goals = [
        [
            "file after reclaim / before cleanup",
            f"{share:.1%}",
            f"<= {SIZE_GOAL:.0%}",
            "met" if share <= SIZE_GOAL else "missed",
        ],
        [
            "longest put during the reclaim",
            f"{r['longest_put_ms']:.1f} ms",
            f"<= {STALL_GOAL_MS:.0f} ms",
            "met" if r["longest_put_ms"] <= STALL_GOAL_MS else "missed",
        ],
    ]
    after = r["bytes_after_cleanup"]
    sizes = [
        ["before cleanup", _mb(before), "100 %"],
        ["after cleanup (90 % removed)", _mb(after), f"{after / before:.1%}"],
        ["after reclaim", _mb(r["bytes_after_reclaim"]), f"{share:.1%}"],
    ]
    steps = f"{r['reclaimed_pages']:,} in {r['reclaim_steps']:,} steps of {r['step_pages']}"
    reclaim = [
        ["pages returned", steps],
        ["reclaim time", f"{r['reclaim_s']:.2f} s"],
        ["longest step (its wait for the lock included)", f"{r['longest_step_ms']:.1f} ms"],
        ["longest put during the reclaim", f"{r['longest_put_ms']:.1f} ms"],
        ["puts during the reclaim", f"{r['puts_during']:,}"],
        ["longest put, same writer, no reclaim (1 s)", f"{r['longest_put_baseline_ms']:.1f} ms"],
        ["free pages left", f"{r['remaining_pages']:,}"],
    ]
    checks = [
        [
            f"{check} (`{command}`)",
            f"{r[f'{check}_ms']:,.0f} ms",
            "ok" if r[f"{check}_ok"] else "FAILED",
        ]
        for check, command in (
            ("quick_check", "check --integrity"),
            ("integrity_check", "check --integrity --full"),
        )
    ]
    return [
        ("Goals", ["Figure", "Result", "Goal", ""], goals),
        ("File size", ["", "Bytes (file + WAL)", "Share"], sizes),
        ("The reclaim while a writer puts", ["", ""], reclaim),
        (f"Integrity checks at {r['sessions']:,} sessions", ["", "Time", "Result"], checks),
    ]


DESCRIPTION = """\
`benchmarks/space.py` (`make bench` runs it after the suite; `--markdown
docs/benchmarks.md` writes this section), {wall:.0f} s. {sessions:,} sessions on SQLite,
each with a transcript of {events} messages as SQL rows, loaded through `put_many` and
`transcripts.import_lines` in {populate:.0f} s. `cleanup` capped the store at a tenth
({removed:,} entries removed, their transcripts archived), and a second run past the
retention expired {expired:,} archives ({cleanup:.0f} s for both, `reclaim=False` so
that the size after cleanup shows). Then `store.reclaim_space()` returned the free pages
while another thread of the same process kept putting. Sizes are the file and its WAL
after a checkpoint.
"""


def section(r: dict[str, Any], info: dict[str, str]) -> str:
    text = DESCRIPTION.format(
        wall=r["wall_s"],
        sessions=r["sessions"],
        events=r["events"],
        populate=r["populate_s"],
        removed=r["removed"],
        expired=r["archives_expired"],
        cleanup=r["cleanup_s"],
    )
    parts = [f"{HEADING}\n", text]
    parts += [markdown_table(["Machine", ""], [[k, v] for k, v in info.items()]), ""]
    for title, header, rows in tables(r):
        parts += [f"### {title}\n", markdown_table(header, rows), ""]
    return "\n".join(parts).rstrip() + "\n"


def _show(results: dict[str, Any]) -> None:
    for title, _, rows in tables(results):
        console.print(f"[bold]{title}[/bold]")
        for row in rows:
            console.print("  " + "  ".join(row))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run at small sizes")
    parser.add_argument("--sessions", type=int, help="sessions to load (default 100,000)")
    add_output_arguments(parser, "space", HEADING)
    args = parser.parse_args()
    if args.from_json:
        saved = json.loads(args.from_json.read_text(encoding="utf-8"))
        info = saved.pop("machine")
        _show(saved)
        if args.markdown:
            replace_section(args.markdown, section(saved, info), HEADING)
        return 0
    sessions = args.sessions or (QUICK_SESSIONS if args.quick else FULL_SESSIONS)
    started = time.perf_counter()
    info = machine(None)
    with tempfile.TemporaryDirectory(prefix="sessionstore-bench-") as tmp:
        results = run(sessions, Path(tmp))
    results["wall_s"] = time.perf_counter() - started
    _show(results)
    save_results(args.out, info, results)
    if args.markdown:
        replace_section(args.markdown, section(results, info), HEADING)
    return 0


if __name__ == "__main__":
    sys.exit(main())

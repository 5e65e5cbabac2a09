"""An online backup of a large SQLite database while a writer keeps writing: how long
the backup takes, what it costs the writer, and the verification of the snapshot.

A database of about ``--size-mb`` MB (1 GB by default; 64 MB with ``--quick``) is built
through the bulk paths (``put_many`` of the entries, ``import_lines`` of their
transcripts). A writer in another process then puts 100 entries a second, each timed;
after a few seconds of that alone, ``sessionstore.backup.backup`` copies the database
(SQLite's online backup API, ``PAGES_PER_STEP`` pages a step, in one read snapshot)
and verifies the copy (``PRAGMA integrity_check``, entries per agent, checksums of the
entries and of the transcripts' lines). Usage::

    python benchmarks/backup.py [--quick] [--size-mb 1024] [--rate 100]
        [--out benchmarks/backup.json] [--markdown docs/benchmarks.md]
        [--from-json benchmarks/backup.json]

``--markdown`` puts the results in that page's ``## Backup`` section, leaving the rest
of the page as it is; ``--from-json`` writes a saved run's results again, without
running anything. The exit status is 0 whether the goals are met or not: this is a
measurement.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.suite import (  # noqa: E402
    add_output_arguments,
    console,
    machine,
    markdown_table,
    save_results,
    show,
)
from benchmarks.transcripts import replace_section  # noqa: E402
from sessionstore import open_store  # noqa: E402
from sessionstore.backup import PAGES_PER_STEP, backup  # noqa: E402
from sessionstore.entry import dumps_json  # noqa: E402

HEADING = "## Backup"
#: entries per put_many call (one transaction each)
BATCH = 5_000
#: every this many entries has a transcript of TRANSCRIPT_LINES lines
TRANSCRIPT_EVERY = 4
TRANSCRIPT_LINES = 40
#: seconds the writer runs alone before the backup, and after it
CALM_S = 3.0
#: the goal: a writer's p95 during the backup stays well under a chat turn's budget
WRITER_P95_GOAL_MS = 50.0


@dataclass
class Results:
    settings: dict[str, Any]
    database_bytes: int = 0
    entries: int = 0
    transcripts: int = 0
    build_s: float = 0.0
    backup_s: float = 0.0
    verify_s: float = 0.0
    backup_bytes: int = 0
    verified: bool = False
    integrity: str = ""
    writer_puts: int = 0
    writer_during: int = 0
    writer_before_p95_ms: float = 0.0
    writer_during_p50_ms: float = 0.0
    writer_during_p95_ms: float = 0.0
    writer_during_max_ms: float = 0.0
    writer_rate_during: float = 0.0
    in_backup: int = 0
    notes: list[str] = field(default_factory=list)


def entry(i: int) -> dict[str, Any]:
    """About 1.5 KB of JSON: the fields of a chat session and a note that varies."""
    return {
        "sessionId": f"s-{i:08d}",
        "updatedAt": 1_774_962_000_000 + i,
        "channel": ("telegram", "discord", "slack")[i % 3],
        "chatType": "direct",
        "label": f"conversation {i}",
        "model": "claude-sonnet-4",
        "modelProvider": "anthropic",
        "inputTokens": i % 9000,
        "outputTokens": i % 4000,
        "notes": f"{i:08d} " * 150,
    }


def transcript(i: int) -> list[bytes]:
    header = {"type": "session", "version": 3, "id": f"s-{i:08d}", "timestamp": "2026-03-31"}
    lines = [dumps_json(header)]
    for j in range(TRANSCRIPT_LINES):
        role = "user" if j % 2 == 0 else "assistant"
        event = {
            "type": "message",
            "id": f"{i:08d}-{j:04d}",
            "message": {"role": role, "content": f"turn {j} of session {i} " * 20},
        }
        lines.append(dumps_json(event))
    return lines


def build(url: str, size_bytes: int, path: Path) -> tuple[int, int]:
    """Fill ``url`` until its file holds ``size_bytes``; returns (entries, transcripts)."""
    written = transcripts = 0
    with open_store(url, agent_id="main", auto_upgrade=True, transcripts="sql") as store:
        while path.stat().st_size + _wal(path) < size_bytes:
            batch = [(f"agent:main:bulk:{written + k}", entry(written + k)) for k in range(BATCH)]
            store.put_many(batch)
            for k in range(0, BATCH, TRANSCRIPT_EVERY):
                key, data = batch[k]
                store.transcripts.import_lines(key, data, transcript(written + k))
                transcripts += 1
            written += BATCH
            console.print(f"built {written:,} entries, {path.stat().st_size / 1e6:,.0f} MB")
    return written, transcripts


def _wal(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


def writer(url: str, rate: float, out: str, ready: Any, stop: Any) -> None:
    """Put ``rate`` entries a second until ``stop``; each put's wall-clock start and
    latency go to ``out`` as JSON."""
    times: list[tuple[float, float]] = []
    with open_store(url, agent_id="main") as store:
        ready.set()
        step, next_at, i = 1.0 / rate, time.perf_counter(), 0
        while not stop.is_set():
            started_wall, started = time.time(), time.perf_counter()
            store.put(f"agent:main:live:{i}", {"sessionId": f"live-{i}", "updatedAt": i})
            times.append((started_wall, (time.perf_counter() - started) * 1000))
            i += 1
            next_at += step
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
    Path(out).write_text(json.dumps(times))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(size_mb: int, rate: float, scratch: Path, results: Results) -> None:
    path = scratch / "big.db"
    url = f"sqlite:///{path}"
    started = time.perf_counter()
    results.entries, results.transcripts = build(url, size_mb * 1_000_000, path)
    results.build_s = time.perf_counter() - started
    results.database_bytes = path.stat().st_size + _wal(path)
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Event(), context.Event()
    log = scratch / "writer.json"
    process = context.Process(target=writer, args=(url, rate, str(log), ready, stop))
    process.start()
    try:
        if not ready.wait(60):
            raise RuntimeError("the writer did not start")
        time.sleep(CALM_S)
        begin = time.time()
        report = backup(scratch / "big.backup", url=url)
        end = time.time()
        time.sleep(CALM_S)
    finally:
        stop.set()
        process.join(60)
    times = [(float(t), float(ms)) for t, ms in json.loads(log.read_text())]
    before = [ms for t, ms in times if t < begin]
    during = [ms for t, ms in times if begin <= t <= end]
    results.backup_s, results.verify_s = report.seconds, report.verify_seconds
    results.backup_bytes, results.verified = report.bytes, report.verified
    results.integrity = report.integrity
    results.in_backup = report.agents["main"].entries
    results.writer_puts, results.writer_during = len(times), len(during)
    results.writer_before_p95_ms = percentile(before, 0.95)
    results.writer_during_p50_ms = statistics.median(during) if during else 0.0
    results.writer_during_p95_ms = percentile(during, 0.95)
    results.writer_during_max_ms = max(during, default=0.0)
    results.writer_rate_during = len(during) / (end - begin) if end > begin else 0.0


def rows(r: Results) -> list[list[str]]:
    gb = r.database_bytes / 1e9
    return [
        ["Database", f"{r.database_bytes / 1e6:,.0f} MB: {r.entries:,} entries, "
                     f"{r.transcripts:,} transcripts of {TRANSCRIPT_LINES + 1} lines"],
        ["Built in (put_many, import_lines)", f"{r.build_s:,.1f} s"],
        ["Backup, verification included", f"{r.backup_s:,.1f} s ({r.backup_s / gb:,.0f} s per GB)"],
        ["of which verification of the copy", f"{r.verify_s:,.1f} s"],
        ["Backup file", f"{r.backup_bytes / 1e6:,.0f} MB"],
        ["Snapshot", f"integrity_check {r.integrity}, verified: {r.verified}, "
                     f"{r.in_backup:,} entries of main"],
        ["Writer puts during the backup", f"{r.writer_during:,} ({r.writer_rate_during:,.0f}/s)"],
        ["Writer p95 before the backup", f"{r.writer_before_p95_ms:,.1f} ms"],
        ["Writer p50 / p95 / max during it", f"{r.writer_during_p50_ms:,.1f} / "
                                             f"{r.writer_during_p95_ms:,.1f} / "
                                             f"{r.writer_during_max_ms:,.1f} ms"],
    ]  # fmt: skip


def goals(r: Results) -> list[list[str]]:
    checks = [
        ("Writer p95 during the backup", f"{r.writer_during_p95_ms:.1f} ms",
         f"< {WRITER_P95_GOAL_MS:.0f} ms", r.writer_during_p95_ms < WRITER_P95_GOAL_MS),
        ("Snapshot verified", str(r.verified), "True", r.verified),
    ]  # fmt: skip
    return [[n, m, g, "met" if ok else "NOT MET"] for n, m, g, ok in checks]


DESCRIPTION = """\
An online backup of a SQLite database of {size:,.0f} MB while a writer puts {rate:.0f}
entries a second, measured by `benchmarks/backup.py` (`make bench` runs it;
`--markdown docs/benchmarks.md` writes this section). The run took {wall:.0f} s.

- **The database** is built through the bulk paths: `put_many` of {batch:,} entries a
  transaction (about 1.5 KB of JSON each), and `import_lines` of a transcript of
  {lines} lines for every {every}th entry, transcripts in the database's own tables.
- **The writer** is another process with its own store, putting a new small entry
  every {step:.0f} ms, each `put` timed; it runs {calm:.0f} s alone before the backup
  and {calm:.0f} s after it.
- **The backup** is `sessionstore.backup.backup(to, url=...)` (what `sessionstore
  backup --url ... --to ...` runs): one read transaction on the source holds the
  snapshot; the manifest of the snapshot (entries per agent, checksums of the entries
  and of every transcript's lines) is read in it, then SQLite's online backup API
  copies it, {pages:,} pages a step; then the copy is checked by `PRAGMA
  integrity_check` and its own manifest, which must equal the snapshot's. Its duration
  includes all of that.
"""


def section(r: Results, info: dict[str, str], wall: float) -> str:
    text = DESCRIPTION.format(
        size=r.database_bytes / 1e6,
        rate=r.settings["rate"],
        wall=wall,
        batch=BATCH,
        lines=TRANSCRIPT_LINES,
        every=TRANSCRIPT_EVERY,
        step=1000 / r.settings["rate"],
        calm=CALM_S,
        pages=PAGES_PER_STEP,
    )
    parts = [f"{HEADING}\n", text]
    parts += [markdown_table(["Machine", ""], [[k, v] for k, v in info.items()]), ""]
    parts += ["### Goals\n", markdown_table(["Goal", "Measured", "Limit", "Result"], goals(r))]
    parts += ["", "### Results\n", markdown_table(["", ""], rows(r)), ""]
    parts += [f"- {note}" for note in r.notes]
    return "\n".join(parts).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 64 MB")
    parser.add_argument("--size-mb", type=int, default=None, help="database size (1024)")
    parser.add_argument("--rate", type=float, default=100.0, help="writer puts per second")
    add_output_arguments(parser, "backup", HEADING)
    args = parser.parse_args()
    if args.from_json:
        saved = json.loads(args.from_json.read_text(encoding="utf-8"))
        info, wall = saved.pop("machine"), saved.pop("wall_s")
        report(Results(**saved), info, wall, args.markdown)
        return 0
    size = args.size_mb or (64 if args.quick else 1024)
    started = time.perf_counter()
    info = machine(None)
    info.pop("PostgreSQL", None)
    results = Results(settings={"size_mb": size, "rate": args.rate, "quick": args.quick})
    with tempfile.TemporaryDirectory(prefix="sessionstore-bench-") as tmp:
        run(size, args.rate, Path(tmp), results)
    wall = time.perf_counter() - started
    save_results(args.out, info, {"wall_s": wall, **asdict(results)})
    report(results, info, wall, args.markdown)
    return 0


def report(results: Results, info: dict[str, str], wall: float, page: Path | None) -> None:
    """Show a run, and with ``page`` write it in that page's section."""
    show("Backup of a SQLite database while a writer writes", ["", ""], rows(results))
    show("Backup: goals", ["Goal", "Measured", "Limit", "Result"], goals(results))
    if page:
        replace_section(page, section(results, info, wall), HEADING)


if __name__ == "__main__":
    raise SystemExit(main())

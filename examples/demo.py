"""sessionstore demo: an OpenClaw state directory moved into a SQLite hot index.

Generates a realistic OpenClaw state directory (several agents, thousands of sessions
carrying the large ``skillsSnapshot`` and ``systemPromptReport`` blobs, ``.jsonl``
transcripts), migrates it into SQLite, lists the most recent sessions, times the
everyday operations on the JSON twin and on SQLite side by side, and appends one
exchange to a transcript while the index keeps count.

    python examples/demo.py                          # 3 agents x 1,000 sessions, new temp dir
    python examples/demo.py --sessions 200 --dir demo-state
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TaskID
from rich.table import Column, Table

from sessionstore import SessionEntry, SessionStore, open_store
from sessionstore.openclaw.transcripts import Transcripts, append_to_session
from sessionstore.testing import GeneratedStateDir, generate_state_dir
from sessionstore.transfer import TransferReport, migrate

AGENTS = ("main", "work", "family")
AGENT_ID = "main"
MAIN_KEY = f"agent:{AGENT_ID}:main"
PAGE_SIZE = 50
# Every JSON-twin write rewrites the agent's whole sessions.json: fewer repetitions.
JSON_REPEATS = 5
SQL_REPEATS = 50
TIMES = "\N{MULTIPLICATION SIGN}"

console = Console(emoji=False)
if not console.is_terminal:
    console.width = max(console.width, 140)  # session keys are long; keep them on one line


@dataclass(frozen=True, slots=True)
class Operation:
    """One timed store operation; ``run(i)`` is called once per repetition."""

    name: str
    run: Callable[[int], object]
    writes: bool = False


class Bar:
    """The library's transfer ``Progress`` drawn as one rich bar, reset for each phase."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def start(self, description: str, total: int) -> None:
        if self._task is None:
            self._task = self._progress.add_task(description, total=total)
        else:
            self._progress.reset(self._task, total=total, description=description)

    def advance(self, amount: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)


def file_size(path: Path) -> int:
    """Bytes on disk of a file together with its SQLite ``-wal``/``-shm`` companions."""
    parts = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return sum(p.stat().st_size for p in parts if p.exists())


def right(header: str) -> Column:
    return Column(header, justify="right")


def megabytes(size: int) -> str:
    return f"{size / 1_000_000:,.1f} MB"


def age(updated_at: int, now_ms: int) -> str:
    seconds = max(0, now_ms - updated_at) // 1000
    for unit, length in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= length:
            return f"{seconds // length} {unit}"
    return f"{seconds} s"


def clock_ms() -> int:
    return time.time_ns() // 1_000_000


@contextmanager
def step(message: str) -> Iterator[None]:
    """A spinner while the block runs, then a check mark with its duration."""
    start = time.perf_counter()
    with console.status(message):
        yield
    console.print(f"[green]✓[/green] {message} [dim]({time.perf_counter() - start:.1f} s)[/dim]")


def median_ms(operation: Callable[[int], object], repeats: int) -> float:
    """Median wall time of ``operation(i)`` for i in range(repeats), in milliseconds."""
    samples = []
    for i in range(repeats):
        start = time.perf_counter()
        operation(i)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


# -- tables ----------------------------------------------------------------------------


def generated_table(state: GeneratedStateDir) -> Table:
    table = Table("Agent", *map(right, ("Sessions", "sessions.json", "Transcripts", "Messages")))
    for agent_id in state.agents:
        size = megabytes(state.store_path(agent_id).stat().st_size)
        sessions, files, messages = (
            f"{n[agent_id]:,}" for n in (state.entries, state.transcripts, state.messages)
        )
        table.add_row(agent_id, sessions, size, files, messages)
    return table


def report_table(report: TransferReport) -> Table:
    numbers = map(right, ("Read", "Imported", "Transcripts", "Messages"))
    table = Table("Agent", "Status", *numbers, "Checksum (verified)", title="Migration report")
    for agent in report.agents:
        style = "red" if agent.error else "green"
        counts = (agent.entries_read, agent.imported, agent.transcripts, agent.messages)
        table.add_row(
            agent.agent_id,
            f"[{style}]{agent.status.value}[/{style}]",
            *("-" if n is None else f"{n:,}" for n in counts),  # messages: when counted
            agent.checksum[:16] if agent.checksum else escape(agent.error or "-"),
        )
    return table


def recent_sessions_table(store: SessionStore, now_ms: int) -> Table:
    table = Table(
        Column("Key", overflow="fold"),
        "Channel",
        right("Age"),
        "Model",
        right("Tokens"),
        title=f"10 most recent sessions of agent {AGENT_ID!r} (SQLite)",
    )
    for item in store.list(limit=10).items:
        tokens = "-" if item.total_tokens is None else f"{item.total_tokens:,}"
        model = escape(item.model or "-")
        age_text = age(item.updated_at, now_ms)
        table.add_row(escape(item.key), item.channel or "-", age_text, model, tokens)
    return table


def timings_table(timings: list[tuple[Operation, float, float]]) -> Table:
    table = Table(
        "Operation",
        right("JSON twin (ms)"),
        right("SQLite (ms)"),
        right("JSON / SQLite"),
        title=f"Agent {AGENT_ID!r}: median of {JSON_REPEATS} (JSON) / {SQL_REPEATS} (SQLite) runs",
    )
    for operation, json_ms, sql_ms in timings:
        ratio = json_ms / sql_ms
        text = f"{ratio:,.0f}" if ratio >= 10 else f"{ratio:.2f}"
        style = "green" if ratio >= 1 else "yellow"
        table.add_row(
            operation.name, f"{json_ms:,.2f}", f"{sql_ms:,.2f}", f"[{style}]{text}{TIMES}[/{style}]"
        )
    return table


# -- benchmark -------------------------------------------------------------------------


def operations(store: SessionStore, target: str, entry: SessionEntry) -> list[Operation]:
    """The timed operations on one store; every write changes something."""

    def open_first_page(_: int) -> object:
        with open_store(target, agent_id=AGENT_ID) as fresh:
            return fresh.list(limit=PAGE_SIZE)

    def new_key(i: int) -> str:
        return f"agent:{AGENT_ID}:webchat:direct:demo-{i}"

    def put_new(i: int) -> object:
        # A full-size entry (blobs included) as a session of its own, without a transcript.
        data = entry.to_dict()
        data.pop("sessionFile", None)
        return store.put(new_key(i), {**data, "sessionId": f"demo-{i}"})

    def patch(i: int) -> object:
        return store.patch(MAIN_KEY, {"thinkingLevel": ("low", "medium", "high")[i % 3]})

    def add_one_token(current: SessionEntry | None) -> SessionEntry | None:
        return current and current.with_fields(total_tokens=(current.total_tokens or 0) + 1)

    def update(_: int) -> object:
        return store.update(MAIN_KEY, add_one_token)

    def list_telegram(_: int) -> object:
        return store.list(channel="telegram", limit=PAGE_SIZE)

    return [
        Operation(f"open + first page of {PAGE_SIZE}", open_first_page),
        Operation("get one entry", lambda _: store.get(MAIN_KEY)),
        Operation("put a new entry", put_new, writes=True),
        Operation("patch (thinkingLevel)", patch, writes=True),
        Operation("update (totalTokens += 1)", update, writes=True),
        Operation(f"list {PAGE_SIZE}, channel=telegram", list_telegram),
        Operation("count", lambda _: store.count()),
        Operation("delete the new entry", lambda i: store.delete(new_key(i)), writes=True),
    ]


def benchmark(json_target: str, sql_target: str) -> list[tuple[Operation, float, float]]:
    """Each operation on the JSON twin, then on SQLite: ``(operation, json_ms, sql_ms)``."""
    with (
        open_store(json_target, agent_id=AGENT_ID) as json_store,
        open_store(sql_target, agent_id=AGENT_ID) as sql_store,
    ):
        entry = sql_store.get(MAIN_KEY)
        assert entry is not None
        on_json = operations(json_store, json_target, entry)
        on_sql = operations(sql_store, sql_target, entry)
        return [
            (j, median_ms(j.run, JSON_REPEATS), median_ms(s.run, SQL_REPEATS))
            for j, s in zip(on_json, on_sql, strict=True)
        ]


# -- cold storage ----------------------------------------------------------------------


def exchange(now_ms: int, entry: SessionEntry) -> list[dict[str, Any]]:
    """A question and its answer as OpenClaw appends them; the answer's prompt is the
    session's context so far plus the question."""
    prompt = (entry.total_tokens or 0) + 12
    question = "What is on my calendar tomorrow?"
    answer = "Two meetings: stand-up at 09:30 and a design review at 14:00."
    user = {"role": "user", "content": [{"type": "text", "text": question}]}
    assistant = {
        "role": "assistant",
        "content": [{"type": "text", "text": answer}],
        "provider": entry.model_provider,
        "model": entry.model,
        "usage": {"input": prompt, "output": 18, "totalTokens": prompt + 18},
        "stopReason": "stop",
    }
    return [{"type": "message", "message": {**m, "timestamp": now_ms}} for m in (user, assistant)]


def transcript_step(state: GeneratedStateDir, sql_target: str) -> None:
    """Append one exchange to the transcript; the hot index's counters follow."""
    transcripts = Transcripts(state.store_path(AGENT_ID).parent)
    with open_store(sql_target, agent_id=AGENT_ID) as store:
        before = store.get(MAIN_KEY)
        assert before is not None
        result = append_to_session(store, transcripts, MAIN_KEY, exchange(clock_ms(), before))
        after = store.get(MAIN_KEY)
        assert after is not None

    def shown(value: int | None) -> str:
        return "not set" if value is None else f"{value:,}"

    new = " (new file)" if result.created else ""
    assert result.path is not None  # the files tier names its file
    console.print(
        f"  appended {result.messages} messages (user + assistant) to "
        f"{result.path.relative_to(state.state_dir)}{new}\n"
        f"  index messageCount {shown(before.message_count)} -> {shown(after.message_count)}"
        f" (the transcript holds {transcripts.count_messages(after):,}),"
        f" totalTokens {shown(before.total_tokens)} -> {shown(after.total_tokens)}"
    )


# -- main ------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Generate an OpenClaw state directory, migrate it into SQLite and "
        "compare the JSON twin (sessions.json) with the SQLite hot index."
    )
    parser.add_argument(
        "--sessions", type=int, default=1_000, metavar="N", help="sessions per agent (1000)"
    )
    parser.add_argument(
        "--dir", type=Path, metavar="DIR", help="a new or empty directory (default: a temp dir)"
    )
    args = parser.parse_args()
    if args.sessions < 1:
        parser.error("--sessions must be at least 1")
    if args.dir is not None and args.dir.exists() and any(args.dir.iterdir()):
        parser.error(f"{args.dir} is not empty; pass an empty or new directory")
    return args


def main() -> None:
    args = parse_args()
    state_dir: Path = args.dir or Path(tempfile.mkdtemp(prefix="sessionstore-demo-"))
    now_ms = clock_ms()

    # 1. OpenClaw's own files, dated from now so that ages look real.
    total = args.sessions * len(AGENTS)
    with step(f"Generated {total:,} sessions for {len(AGENTS)} agents"):
        state = generate_state_dir(
            state_dir, agents=AGENTS, sessions_per_agent=args.sessions, now_ms=now_ms
        )
    console.print(generated_table(state))
    json_total = sum(state.store_path(a).stat().st_size for a in state.agents)
    console.print(
        f"  sessions.json files: [bold]{megabytes(json_total)}[/bold]   "
        f"transcripts: [bold]{sum(state.transcripts.values()):,}[/bold] files\n"
    )

    # 2. Into SQLite, agent by agent, each verified against its source.
    db_path = state.state_dir / "sessionstore.db"
    sql_target = f"sqlite:///{db_path}"
    start = time.perf_counter()
    # Drawn on terminals only: a bar's frames would clutter piped output.
    with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
        report = migrate(state.state_dir, sql_target, progress=Bar(progress))
    elapsed = time.perf_counter() - start
    console.print(f"[green]✓[/green] Migrated into {db_path.name} [dim]({elapsed:.1f} s)[/dim]")
    console.print(report_table(report))
    console.print(
        f"  {db_path.name}: [bold]{megabytes(file_size(db_path))}[/bold]   "
        f"sessions.json files: [bold]{megabytes(json_total)}[/bold]\n"
    )
    if not report.ok:
        raise SystemExit("migration failed; see the report above")

    # 3. What a session picker shows, read from the index columns alone.
    with open_store(sql_target, agent_id=AGENT_ID) as store:
        console.print(recent_sessions_table(store, now_ms))
    console.print()

    # 4. The JSON twin writes to its file, so it works on a copy in a scratch
    # directory: the migrated source stays exactly as generated.
    json_source = state.store_path(AGENT_ID)
    with tempfile.TemporaryDirectory(prefix="sessionstore-demo-json-") as scratch:
        json_copy = Path(scratch) / "sessions.json"
        shutil.copyfile(json_source, json_copy)
        with step("Timed the JSON twin and SQLite"):
            timings = benchmark(str(json_copy), sql_target)
    console.print(timings_table(timings))
    writes = statistics.median(j / s for op, j, s in timings if op.writes)
    console.print(
        f"  A JSON-twin write rewrites the whole {megabytes(json_source.stat().st_size)} "
        "sessions.json and an open parses all of it;\n"
        f"  SQLite touches one row: writes were ~{writes:,.0f}{TIMES} faster on SQLite.\n"
    )

    # 5. Cold storage: the transcript grows, the hot index keeps count.
    console.print(f"[bold]Transcript of {MAIN_KEY}[/bold]")
    transcript_step(state, sql_target)

    # 6. Where to look next.
    shown_dir = escape(str(state.state_dir))
    console.print(f"\nFiles are in [bold]{shown_dir}[/bold] (sessionstore.db, agents/*/sessions/)")
    console.print("Try next:")
    console.print(f"  sessionstore list --state-dir {shown_dir} --limit 5")
    console.print(f"  sessionstore info --state-dir {shown_dir}")


if __name__ == "__main__":
    main()

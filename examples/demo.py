"""sessionstore demo: OpenClaw's ``sessions.json`` next to a SQLite hot index.

Generates a deterministic, realistic set of OpenClaw sessions for one agent, writes
them both into a JSON twin (the ``sessions.json`` OpenClaw itself reads) and into
SQLite, shows the most recent sessions, and times the everyday operations on both.

    python examples/demo.py                  # 2,000 sessions in a fresh temporary directory
    python examples/demo.py --sessions 200 --dir demo-output
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from sessionstore import SessionEntry, SessionStore, open_store

AGENT_ID = "main"
MAIN_KEY = f"agent:{AGENT_ID}:main"
SEED = 20_250_401
DAY_MS = 86_400_000
HISTORY_DAYS = 60
HEAVY_SHARE = 0.70
PAGE_SIZE = 50
JSON_REPEATS = 5
SQL_REPEATS = 50
TIMES = "\N{MULTIPLICATION SIGN}"

console = Console(emoji=False)
if not console.is_terminal:
    console.width = max(console.width, 120)

MODELS = [
    ("anthropic", "claude-opus-4-5", 200_000),
    ("anthropic", "claude-sonnet-4-5", 200_000),
    ("openai", "gpt-5.1", 400_000),
    ("openai", "gpt-5-mini", 400_000),
    ("google", "gemini-2.5-pro", 1_048_576),
    ("openrouter", "deepseek/deepseek-chat-v3.1", 163_840),
]
THINKING_LEVELS = ["off", "minimal", "low", "medium", "high"]
LABELS = [
    "Équipe produit",
    "日本語サポート",
    "Café ☕ planning",
    "Проект «Альфа»",
    "🚀 Launch war room",
    "Straße & Verkehr",
    "Família Souza",
    "مساعد البحث",
    "Ölçüm raporu",
    "Backlog grooming",
    "Weekly review ✅",
    "客户反馈",
    "Ελληνικά μαθήματα",
    "Hausaufgaben 📚",
]
PEOPLE = ["Ana", "Björn", "Chloé", "Dmitri", "Eun-ji", "Farah", "Giulia", "Hiro", "Ines", "Jonas"]
CRON_JOBS = ["daily-digest", "inbox-triage", "backup-check", "weekly-report", "price-watch"]
SUBAGENT_TASKS = ["research", "summarise thread", "draft reply", "code review", "fact check"]
WORKSPACE_FILES = [
    "AGENTS.md",
    "SOUL.md",
    "TOOLS.md",
    "IDENTITY.md",
    "USER.md",
    "HEARTBEAT.md",
    "BOOTSTRAP.md",
    "MEMORY.md",
]
CORE_TOOLS = [
    "read", "write", "edit", "apply_patch", "exec", "process", "browser", "canvas",
    "nodes", "cron", "message", "gateway", "sessions_list", "sessions_history",
    "sessions_send", "sessions_spawn", "session_status", "agents_list", "image",
    "web_search", "web_fetch", "memory_search", "memory_get", "tts",
]  # fmt: skip
MCP_SERVERS = ["github", "linear", "notion", "gdrive", "postgres", "sentry"]
MCP_ACTIONS = [
    "search", "get_item", "list_items", "create_item", "update_item", "delete_item",
    "add_comment", "list_comments", "upload_file", "download_file", "get_schema", "run_query",
]  # fmt: skip
TOOL_NAMES = CORE_TOOLS + [
    f"{server}__{action}" for server in MCP_SERVERS for action in MCP_ACTIONS
]
WORDS = [
    "inspect", "create", "update", "search", "summarise", "schedule", "notify", "fetch",
    "render", "convert", "deploy", "monitor", "translate", "review", "archive", "sync",
    "draft", "index", "track", "compare", "validate", "export", "issues", "pull-requests",
    "calendars", "invoices", "repositories", "documents", "playlists", "forecasts",
    "containers", "tickets", "transcripts", "spreadsheets", "dashboards", "recipes",
    "reminders", "screenshots",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Route:
    """Where a session lives: its key and the chat it talks to."""

    key: str
    channel: str
    chat_type: str
    to: str
    account_id: str
    thread_id: int | str | None = None
    label: str | None = None
    display_name: str | None = None
    spawned_by: str | None = None


@dataclass(frozen=True, slots=True)
class Operation:
    """One timed store operation; ``run(i)`` is called once per repetition."""

    name: str
    run: Callable[[int], object]
    writes: bool = False


@dataclass(frozen=True, slots=True)
class Timing:
    """Median milliseconds of one operation on both backends."""

    operation: str
    json_ms: float
    sql_ms: float
    writes: bool

    @property
    def speedup(self) -> float:
        return self.json_ms / self.sql_ms


# -- data generation -------------------------------------------------------------------


def render_skills_prompt(skills: list[str]) -> str:
    """A rendered skills catalogue like the one OpenClaw injects into the system prompt."""
    blocks = []
    for name in skills:
        rng = random.Random(f"{SEED}:{name}")
        sentences = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(10, 16))).capitalize() + "."
            for _ in range(rng.randint(6, 9))
        ]
        blocks.append(
            "  <skill>\n"
            f"    <name>{name}</name>\n"
            f"    <description>{' '.join(sentences)}</description>\n"
            f"    <location>~/.openclaw/skills/{name}/SKILL.md</location>\n"
            "  </skill>"
        )
    intro = (
        "The following skills provide specialized instructions for specific tasks.\n"
        "Use the read tool to load a skill's file when the task matches its description.\n"
    )
    return f"{intro}<available_skills>\n" + "\n".join(blocks) + "\n</available_skills>"


def make_skills_snapshots(rng: random.Random) -> list[dict[str, Any]]:
    """The agent's current skills snapshot and an older one that some sessions still carry."""
    names = sorted({f"{rng.choice(WORDS)}-{rng.choice(WORDS)}" for _ in range(60)})[:40]
    older = names[:-3]
    return [
        {
            "prompt": render_skills_prompt(skills),
            "skills": [{"name": name} for name in skills],
            "version": version,
        }
        for version, skills in ((7, names), (6, older))
    ]


def make_system_prompt_report(
    rng: random.Random,
    route: Route,
    session_id: str,
    updated_at: int,
    skills_snapshot: dict[str, Any],
) -> dict[str, Any]:
    """A ``systemPromptReport`` of about 15 KB, as OpenClaw records it per run."""
    files: list[dict[str, Any]] = [
        {
            "name": name,
            "path": f"~/.openclaw/workspace/{name}",
            "missing": False,
            "rawChars": (raw := rng.randint(400, 26_000)),
            "injectedChars": min(raw, 20_000),
            "truncated": raw > 20_000,
        }
        for name in WORKSPACE_FILES
    ]
    tools: list[dict[str, Any]] = [
        {
            "name": name,
            "summaryChars": rng.randint(40, 220),
            "schemaChars": rng.randint(180, 2_400),
            "propertiesCount": rng.randint(1, 14),
        }
        for name in TOOL_NAMES
    ]
    project_chars = sum(f["injectedChars"] for f in files)
    other_chars = rng.randint(18_000, 26_000)
    return {
        "source": "run",
        "generatedAt": updated_at - rng.randint(0, 90_000),
        "sessionId": session_id,
        "sessionKey": route.key,
        "workspaceDir": "~/.openclaw/workspace",
        "bootstrapMaxChars": 20_000,
        "sandbox": {"mode": "off", "sandboxed": False},
        "systemPrompt": {
            "chars": project_chars + other_chars,
            "projectContextChars": project_chars,
            "nonProjectContextChars": other_chars,
        },
        "injectedWorkspaceFiles": files,
        "skills": {
            "promptChars": len(skills_snapshot["prompt"]),
            "entries": [
                {"name": skill["name"], "blockChars": rng.randint(600, 1_200)}
                for skill in skills_snapshot["skills"]
            ],
        },
        "tools": {
            "listChars": sum(t["summaryChars"] for t in tools),
            "schemaChars": sum(t["schemaChars"] for t in tools),
            "entries": tools,
        },
        "runtime": {
            "host": "homelab",
            "os": "Linux 6.8.0-48-generic (x64)",
            "node": "v22.11.0",
            "shell": "bash",
            "channel": route.channel,
            "capabilities": ["inlineButtons", "reactions", "threads", "polls", "media"],
        },
    }


def snowflake(rng: random.Random) -> str:
    return str(rng.randint(10**17, 10**19 - 1))


def telegram_route(rng: random.Random) -> Route:
    if rng.random() < 0.5:
        user = rng.randint(10_000_000, 7_999_999_999)
        return Route(
            key=f"agent:main:telegram:direct:{user}",
            channel="telegram",
            chat_type="direct",
            to=f"telegram:{user}",
            account_id="default",
            display_name=f"{rng.choice(PEOPLE)} (Telegram)",
        )
    group = -(10**12) - rng.randint(10**9, 10**10)
    topic = rng.randint(2, 900)
    return Route(
        key=f"agent:main:telegram:group:{group}:topic:{topic}",
        channel="telegram",
        chat_type="group",
        to=f"telegram:{group}",
        account_id="default",
        thread_id=topic,
        label=rng.choice(LABELS),
    )


def discord_route(rng: random.Random) -> Route:
    room = snowflake(rng)
    if rng.random() < 0.4:
        thread = snowflake(rng)
        return Route(
            key=f"agent:main:discord:channel:{room}:thread:{thread}",
            channel="discord",
            chat_type="channel",
            to=f"channel:{room}",
            account_id="bot",
            thread_id=thread,
            label=rng.choice(LABELS),
        )
    return Route(
        key=f"agent:main:discord:channel:{room}",
        channel="discord",
        chat_type="channel",
        to=f"channel:{room}",
        account_id="bot",
        display_name=f"#{rng.choice(WORDS)}",
    )


def slack_route(rng: random.Random) -> Route:
    room = "c0" + "".join(rng.choices("abcdefghjkmnpqrstuvwxyz0123456789", k=9))
    ts = f"{rng.randint(1_760_000_000, 1_780_000_000)}.{rng.randint(0, 999_999):06d}"
    return Route(
        key=f"agent:main:slack:channel:{room}:thread:{ts}",
        channel="slack",
        chat_type="channel",
        to=f"channel:{room.upper()}",
        account_id="workspace",
        thread_id=ts,
        label=rng.choice(LABELS),
    )


def whatsapp_route(rng: random.Random) -> Route:
    if rng.random() < 0.7:
        phone = f"+{rng.choice([49, 33, 55, 81, 1])}{rng.randint(10**9, 10**10 - 1)}"
        return Route(
            key=f"agent:main:whatsapp:direct:{phone}",
            channel="whatsapp",
            chat_type="direct",
            to=phone,
            account_id="default",
            display_name=rng.choice(PEOPLE),
        )
    group = f"120363{rng.randint(10**11, 10**12 - 1)}@g.us"
    return Route(
        key=f"agent:main:whatsapp:group:{group}",
        channel="whatsapp",
        chat_type="group",
        to=group,
        account_id="default",
        label=rng.choice(LABELS),
    )


def webchat_route(rng: random.Random) -> Route:
    visitor = f"{rng.getrandbits(48):012x}"
    return Route(
        key=f"agent:main:webchat:direct:{visitor}",
        channel="webchat",
        chat_type="direct",
        to=f"webchat:{visitor}",
        account_id="default",
        display_name=f"Visitor {visitor[:4]}",
    )


def subagent_route(rng: random.Random) -> Route:
    return Route(
        key=f"agent:main:subagent:{uuid.UUID(int=rng.getrandbits(128), version=4)}",
        channel="webchat",
        chat_type="direct",
        to="webchat:owner",
        account_id="default",
        label=f"subagent: {rng.choice(SUBAGENT_TASKS)}",
        spawned_by=MAIN_KEY,
    )


def cron_route(rng: random.Random) -> Route:
    job = f"{rng.choice(CRON_JOBS)}-{rng.getrandbits(24):06x}"
    return Route(
        key=f"cron:{job}",
        channel="webchat",
        chat_type="direct",
        to="webchat:owner",
        account_id="default",
        label=f"⏰ {job}",
    )


#: Route makers with their share of the sessions.
ROUTES: dict[Callable[[random.Random], Route], int] = {
    telegram_route: 34,
    discord_route: 18,
    slack_route: 14,
    whatsapp_route: 12,
    webchat_route: 6,
    subagent_route: 12,
    cron_route: 4,
}


def recent_offset_ms(rng: random.Random) -> int:
    """How long ago a session was active: mostly recent, spread over the last 60 days."""
    days = min(rng.expovariate(1 / 9), HISTORY_DAYS - 0.01)
    return int(days * DAY_MS)


def make_entry(
    rng: random.Random,
    route: Route,
    now_ms: int,
    sessions_dir: Path,
    skills_snapshot: dict[str, Any] | None,
) -> SessionEntry:
    session_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    updated_at = now_ms - recent_offset_ms(rng)
    provider, model, context_tokens = rng.choice(MODELS)
    input_tokens = rng.randint(800, 180_000)
    output_tokens = rng.randint(50, 24_000)
    delivery: dict[str, Any] = {
        "channel": route.channel,
        "to": route.to,
        "accountId": route.account_id,
    }
    if route.thread_id is not None:
        delivery["threadId"] = route.thread_id
    data: dict[str, Any] = {
        "sessionId": session_id,
        "updatedAt": updated_at,
        "sessionStartedAt": updated_at - rng.randint(60_000, 20 * DAY_MS),
        "sessionFile": str(sessions_dir / f"{session_id}.jsonl"),
        "chatType": route.chat_type,
        "channel": route.channel,
        "lastChannel": route.channel,
        "lastTo": route.to,
        "lastAccountId": route.account_id,
        "lastThreadId": route.thread_id,
        "label": route.label,
        "displayName": route.display_name,
        "spawnedBy": route.spawned_by,
        "model": model,
        "modelProvider": provider,
        "inputTokens": input_tokens,
        "outputTokens": output_tokens,
        "totalTokens": input_tokens + output_tokens,
        "contextTokens": context_tokens,
        "cacheRead": rng.randint(0, input_tokens),
        "cacheWrite": rng.randint(0, 20_000),
        "thinkingLevel": rng.choice(THINKING_LEVELS),
        "systemSent": True,
        "abortedLastRun": rng.random() < 0.05,
        "compactionCount": rng.choice([0, 0, 0, 1, 2, 5]),
        "verboseLevel": rng.choice(["off", "on"]),
        "reasoningLevel": rng.choice(["off", "on", "stream"]),
        "responseUsage": rng.choice(["off", "tokens", "full"]),
        "queueMode": rng.choice(["collect", "steer", "followup"]),
        "groupId": route.to if route.chat_type != "direct" else None,
        "subject": route.label if route.chat_type == "group" else None,
        "deliveryContext": delivery,
        "origin": {
            "provider": route.channel,
            "surface": route.channel,
            "chatType": route.chat_type,
            "from": route.to,
            "to": route.to,
            "accountId": route.account_id,
            "label": route.label or route.display_name or route.key,
        },
    }
    if skills_snapshot is not None:
        data["skillsSnapshot"] = skills_snapshot
        data["systemPromptReport"] = make_system_prompt_report(
            rng, route, session_id, updated_at, skills_snapshot
        )
    return SessionEntry.from_dict({k: v for k, v in data.items() if v is not None})


def generate_sessions(
    count: int, now_ms: int, sessions_dir: Path
) -> list[tuple[str, SessionEntry]]:
    """``count`` sessions for one agent; between runs only the clock they are dated from moves."""
    rng = random.Random(SEED)
    current, older = make_skills_snapshots(rng)
    makers, weights = list(ROUTES), list(ROUTES.values())
    routes = [Route(MAIN_KEY, "webchat", "direct", "webchat:owner", "default", label="Main")]
    seen = {MAIN_KEY}
    while len(routes) < count:
        route = rng.choices(makers, weights)[0](rng)
        if route.key not in seen:
            seen.add(route.key)
            routes.append(route)
    sessions = []
    for index, route in enumerate(routes):
        heavy = index == 0 or rng.random() < HEAVY_SHARE
        snapshot = (older if rng.random() < 0.1 else current) if heavy else None
        sessions.append((route.key, make_entry(rng, route, now_ms, sessions_dir, snapshot)))
    return sessions


# -- benchmark ---------------------------------------------------------------------------


def median_ms(operation: Callable[[int], object], repeats: int) -> float:
    """Median wall time of ``operation(i)`` for i in range(repeats), in milliseconds."""
    samples = []
    for i in range(repeats):
        start = time.perf_counter()
        operation(i)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def add_one_token(entry: SessionEntry | None) -> SessionEntry | None:
    return entry and entry.with_fields(total_tokens=(entry.total_tokens or 0) + 1)


def operations(store: SessionStore, target: str, key: str, now_ms: int) -> list[Operation]:
    """The timed operations on one store; each write changes the entry, so none is skipped."""
    entry = store.get(key)
    assert entry is not None

    def open_first_page(_: int) -> object:
        with open_store(target, agent_id=AGENT_ID) as fresh:
            return fresh.list(limit=PAGE_SIZE)

    return [
        Operation(f"open + first page of {PAGE_SIZE}", open_first_page),
        Operation("get one entry", lambda _: store.get(key)),
        Operation(
            "put (upsert one entry)",
            lambda i: store.put(key, entry.with_fields(updated_at=now_ms + i)),
            writes=True,
        ),
        Operation(
            "patch one entry",
            lambda i: store.patch(key, {"label": f"Main (run {i + 1})"}),
            writes=True,
        ),
        Operation(
            "update (totalTokens += 1)", lambda _: store.update(key, add_one_token), writes=True
        ),
        Operation(
            f"list {PAGE_SIZE}, channel=telegram",
            lambda _: store.list(channel="telegram", limit=PAGE_SIZE),
        ),
        Operation("count", lambda _: store.count()),
    ]


def benchmark(json_target: str, sql_target: str, now_ms: int) -> list[Timing]:
    """Each operation on the JSON twin, then on SQLite, as medians."""
    with (
        open_store(json_target, agent_id=AGENT_ID) as json_store,
        open_store(sql_target, agent_id=AGENT_ID) as sql_store,
    ):
        json_ops = operations(json_store, json_target, MAIN_KEY, now_ms)
        sql_ops = operations(sql_store, sql_target, MAIN_KEY, now_ms)
        return [
            Timing(
                on_json.name,
                json_ms=median_ms(on_json.run, JSON_REPEATS),
                sql_ms=median_ms(on_sql.run, SQL_REPEATS),
                writes=on_json.writes,
            )
            for on_json, on_sql in zip(json_ops, sql_ops, strict=True)
        ]


# -- output ------------------------------------------------------------------------------


def file_size(path: Path) -> int:
    """Bytes on disk of a file together with its SQLite ``-wal``/``-shm`` companions."""
    parts = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return sum(p.stat().st_size for p in parts if p.exists())


def megabytes(size: int) -> str:
    return f"{size / 1_000_000:,.1f} MB"


def age(updated_at: int, now_ms: int) -> str:
    seconds = max(0, now_ms - updated_at) // 1000
    for unit, length in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= length:
            return f"{seconds // length} {unit}"
    return f"{seconds} s"


def recent_sessions_table(store: SessionStore, now_ms: int) -> Table:
    table = Table(title="10 most recent sessions (SQLite)")
    table.add_column("Key", overflow="fold")
    table.add_column("Channel")
    table.add_column("Model")
    table.add_column("Tokens", justify="right")
    table.add_column("Age", justify="right")
    for item in store.list(limit=10).items:
        tokens = f"{item.total_tokens:,}" if item.total_tokens is not None else "-"
        table.add_row(
            item.key, item.channel or "-", item.model or "-", tokens, age(item.updated_at, now_ms)
        )
    return table


def timings_table(timings: list[Timing]) -> Table:
    table = Table(
        title=f"Median of {JSON_REPEATS} (JSON file) and {SQL_REPEATS} (SQLite) repetitions"
    )
    table.add_column("Operation")
    table.add_column("JSON file (ms)", justify="right")
    table.add_column("SQLite (ms)", justify="right")
    table.add_column(f"Speed-up ({TIMES})", justify="right")
    for t in timings:
        speedup = f"{t.speedup:,.1f}" if t.speedup >= 1 else f"{t.speedup:.2f}"
        style = "green" if t.speedup >= 1 else "yellow"
        table.add_row(
            t.operation,
            f"{t.json_ms:,.2f}",
            f"{t.sql_ms:,.2f}",
            f"[{style}]{speedup}{TIMES}[/{style}]",
        )
    return table


@contextmanager
def step(message: str) -> Iterator[None]:
    start = time.perf_counter()
    with console.status(message):
        yield
    console.print(f"[green]✓[/green] {message} [dim]({time.perf_counter() - start:.1f} s)[/dim]")


# -- main --------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Compare OpenClaw's sessions.json (JSON twin) with a SQLite hot index."
    )
    parser.add_argument(
        "--sessions", type=int, default=2_000, metavar="N", help="sessions to generate (2000)"
    )
    parser.add_argument(
        "--dir", type=Path, metavar="DIR", help="work here instead of a new temporary directory"
    )
    args = parser.parse_args()
    if args.sessions < 1:
        parser.error("--sessions must be at least 1")
    if args.dir is not None and any(
        (args.dir / name).exists() for name in ("sessions.db", "agents")
    ):
        parser.error(f"{args.dir} already holds demo files; pass an empty or new directory")
    return args


def main() -> None:
    args = parse_args()
    workdir: Path = (args.dir or Path(tempfile.mkdtemp(prefix="sessionstore-demo-"))).resolve()
    json_path = workdir / "agents" / AGENT_ID / "sessions" / "sessions.json"
    db_path = workdir / "sessions.db"
    json_target, sql_target = str(json_path), f"sqlite:///{db_path}"
    now_ms = time.time_ns() // 1_000_000

    with step(f"Generated {args.sessions:,} sessions for agent {AGENT_ID!r}"):
        sessions = generate_sessions(args.sessions, now_ms, json_path.parent)
    with step(f"Wrote {json_path.name} (JSON twin)"), open_store(json_target) as store:
        store.put_many(sessions)
    with step(f"Wrote {db_path.name} (SQLite)"), open_store(sql_target, auto_upgrade=True) as store:
        store.put_many(sessions)
    del sessions
    console.print(
        f"  {json_path.name}: [bold]{megabytes(file_size(json_path))}[/bold]   "
        f"{db_path.name}: [bold]{megabytes(file_size(db_path))}[/bold]\n"
    )

    with open_store(sql_target) as store:
        console.print(recent_sessions_table(store, now_ms))
    console.print()

    with step("Timed both backends"):
        timings = benchmark(json_target, sql_target, now_ms)
    console.print(timings_table(timings))

    write_speedup = statistics.median(t.speedup for t in timings if t.writes)
    console.print(f"\nFiles are in [bold]{workdir}[/bold]:")
    console.print(f"  JSON twin  {json_path}")
    console.print(f"  SQLite     {db_path}")
    console.print(
        f"\nEvery JSON-twin write re-serialises and fsyncs the whole "
        f"{megabytes(file_size(json_path))} file and every open re-parses it, while SQLite "
        f"touches one row: writes are ~{write_speedup:,.0f}{TIMES} faster; warm JSON reads are "
        "served from its in-memory copy."
    )


if __name__ == "__main__":
    main()

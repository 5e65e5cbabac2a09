"""The ``sessionstore`` command: a thin shell over the library.

Every command prints one clear line and exits non-zero on failure (no traceback);
database URLs are always shown with the password masked.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TaskID
from rich.table import Table

from sessionstore import __version__, backup, lifecycle, transfer
from sessionstore.contract import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    Erasure,
    FilterArgs,
    SessionStore,
    SupportsMaintenance,
    TranscriptTier,
)
from sessionstore.entry import (
    SessionSummary,
    dumps_json,
    validate_agent_id,
    validate_key,
    validate_session_id,
)
from sessionstore.errors import InvalidArgumentError, SessionStoreError
from sessionstore.events import event_time_ms, iso_ms, message_text, search_words
from sessionstore.locate import Location, require_database, require_persistent, store_type_of
from sessionstore.open import database_url, open_store
from sessionstore.openclaw.merge import now_ms
from sessionstore.openclaw.statedir import agent_of_key
from sessionstore.openclaw.transcripts import FileTranscripts
from sessionstore.settings import Settings
from sessionstore.sql import space
from sessionstore.sql import upgrade as schema
from sessionstore.sql.engine import mask_url, sqlite_file
from sessionstore.transfer import AgentReport, Status, TransferReport

__all__ = ["app", "main"]

app = typer.Typer(
    help="Store AI-assistant chat sessions in SQL, with OpenClaw's sessions.json as a twin.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db = typer.Typer(
    help="Manage the database schema (Alembic revisions shipped with sessionstore); "
    "compact a SQLite file.",
    no_args_is_help=True,
)
app.add_typer(db, name="db")
transcript = typer.Typer(
    help="Read the conversations: the newest events of a session, full-text search.",
    no_args_is_help=True,
)
app.add_typer(transcript, name="transcript")

P = ParamSpec("P")
R = TypeVar("R")


def _one_line_errors(command: Callable[P, R]) -> Callable[P, R]:
    """A command's boundary: a library error is one line on stderr and exit status 1,
    never a traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except SessionStoreError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc

    return run


def _command(group: typer.Typer, name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Register a command of ``group`` with the error boundary."""

    def register(command: Callable[P, R]) -> Callable[P, R]:
        group.command(name)(_one_line_errors(command))
        return command

    return register


Url = Annotated[
    str,
    typer.Option(
        "--url",
        envvar="SESSIONSTORE_URL",
        help="Database URL or SQLite file, e.g. sqlite:///sessions.db (or set SESSIONSTORE_URL).",
        show_default=False,
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sessionstore {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Store AI-assistant chat sessions in SQL, with OpenClaw's sessions.json as a twin."""


def _move(url: str, step: Callable[[str, str], None], revision: str) -> None:
    """Run an upgrade or downgrade and say where the database went."""
    before = schema.current_revision(url)
    step(url, revision)
    after = schema.current_revision(url)
    typer.echo(f"{mask_url(url)}: {before or 'empty'} -> {after or 'empty'}")


@_command(db, "upgrade")
def db_upgrade(
    url: Url,
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Upgrade the schema (creates it on an empty database).

    Example: sessionstore db upgrade --url sqlite:///state/sessions.db
    """
    require_persistent(url)
    _move(database_url(url), schema.upgrade, revision)


@_command(db, "downgrade")
def db_downgrade(
    url: Url,
    revision: Annotated[str, typer.Argument(help="Target revision; 'base' removes every table.")],
    drop_transcripts: Annotated[
        bool,
        typer.Option(
            "--drop-transcripts",
            help="Below 0006, drop the SQL transcripts too (refused while there are any).",
        ),
    ] = False,
) -> None:
    """Downgrade the schema to REVISION.

    Example: sessionstore db downgrade --url sqlite:///state/sessions.db base
    """

    def step(target: str, to: str) -> None:
        schema.downgrade(target, to, drop_transcripts=drop_transcripts)

    _move(database_url(url), step, revision)


@_command(db, "current")
def db_current(url: Url) -> None:
    """Show the database's revision and the newest one this version knows.

    Example: sessionstore db current --url sqlite:///state/sessions.db
    """
    current, state = schema.schema_state(database_url(url))
    typer.echo(f"current: {current or 'empty'}  head: {schema.head_revision()}  ({state})")


@_command(db, "check")
def db_check(url: Url) -> None:
    """Exit 0 if the database is at head and matches the models, 1 otherwise.

    Example: sessionstore db check --url sqlite:///state/sessions.db
    """
    url = database_url(url)
    schema.check(url)
    typer.echo(f"{mask_url(url)}: schema at {schema.head_revision()}, no drift")


@_command(db, "stamp")
def db_stamp(
    url: Url,
    revision: Annotated[
        str, typer.Argument(help="The revision the tables are at; 'base' clears it.")
    ],
) -> None:
    """Record REVISION as the database's revision, without changing any table.

    Example: sessionstore db stamp --url sqlite:///state/sessions.db 0004
    """
    _move(database_url(url), schema.stamp, revision)


@_command(db, "repair")
def db_repair(url: Url) -> None:
    """Finish an upgrade that was stopped halfway: drop the empty tables it left, upgrade.

    Example: sessionstore db repair --url sqlite:///state/sessions.db
    """
    url = database_url(url)
    dropped = schema.repair(url)
    done = f"dropped the empty {', '.join(dropped)}, " if dropped else ""
    typer.echo(f"{mask_url(url)}: {done}schema at {schema.head_revision()}")


def _sqlite_path(url: str, what: str) -> Path:
    """The file of a SQLite URL that exists; other databases are refused with why."""
    require_database(url)
    path = sqlite_file(database_url(url))
    if path is None:
        raise InvalidArgumentError(
            f"{what} works on a SQLite file, not {mask_url(database_url(url))}: a server "
            "keeps its own pages (PostgreSQL: autovacuum, see `sessionstore info`)"
        )
    return path


@_command(db, "compact")
def db_compact(
    url: Url,
    into: Annotated[
        Path | None,
        typer.Option(
            "--into",
            help="Write a compacted, verified copy to this new file instead; the "
            "database is left as it is (works while others write).",
            show_default=False,
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Compact a SQLite file once and switch it to incremental auto-vacuum.

    Runs VACUUM in place (refused while another process holds the database for
    writing), or with --into VACUUM INTO a new file, verified (integrity_check, the same
    rows and entries) before it takes its name. Afterwards cleanup returns freed
    space by itself.

    Example: sessionstore db compact --url sqlite:///state/sessions.db
    """
    path = _sqlite_path(url, "db compact")
    done = space.compact(path, into=into)
    if as_json:
        _print_json(done.to_dict())
        return
    typer.echo(
        f"{done.path}: {done.bytes_before / 1e6:.1f} MB -> {done.bytes_after / 1e6:.1f} MB, "
        "auto_vacuum incremental" + (", verified" if into is not None else "")
    )


# -- opening stores ---------------------------------------------------------------

StoreUrl = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="SESSIONSTORE_URL",
        help="Store URL or path (default: the configured store, SQLite in the state dir).",
        show_default=False,
    ),
]
StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        envvar=["SESSIONSTORE_STATE_DIR", "OPENCLAW_STATE_DIR"],
        help="OpenClaw state directory (default: ~/.openclaw).",
        show_default=False,
    ),
]
Agent = Annotated[
    list[str] | None,
    typer.Option(
        "--agent", help="Agent id; repeat for several (default: main).", show_default=False
    ),
]
AllAgents = Annotated[
    bool, typer.Option("--all-agents", help="Every agent (of the store, or of the state dir).")
]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output (documented).")]


Tier = Annotated[
    str | None,
    typer.Option(
        "--transcripts",
        envvar="SESSIONSTORE_TRANSCRIPTS",
        help="Where the transcripts are: files or sql (default: files for a state "
        "directory's stores, sql for a database given by URL).",
        show_default=False,
    ),
]
SessionsDir = Annotated[
    Path | None,
    typer.Option(
        "--sessions-dir",
        help="Transcripts directory, for transcripts as files "
        "(default: <state-dir>/agents/<id>/sessions).",
        show_default=False,
    ),
]


def _settings(
    state_dir: Path | None, url: str | None = None, transcripts: str | None = None
) -> Settings:
    values: dict[str, Any] = {"url": url, "transcripts": _tier(transcripts)}
    if state_dir is not None:
        values["state_dir"] = state_dir
    return Settings(**values)


def _tier(value: str | None) -> TranscriptTier | None:
    """``--transcripts``, checked here: a bad value is one error line."""
    if value is None:
        return None
    tier = value.strip().lower()
    if tier == "files":
        return "files"
    if tier == "sql":
        return "sql"
    raise InvalidArgumentError(f"--transcripts must be files or sql, got {value!r}")


def _agents_of(
    where: Location, agent: list[str] | None, every: bool, sessions: Path | None
) -> list[str]:
    """The agents a command acts on; ``--sessions-dir`` is one agent's directory."""
    agents = where.agents(agent, every=every)
    if sessions is not None and len(agents) > 1:
        raise InvalidArgumentError(
            f"--sessions-dir is one agent's directory, and {len(agents)} agents are chosen: "
            "pass --agent"
        )
    return agents


def _open(
    settings: Settings,
    where: Location,
    agent_id: str,
    *,
    read_only: bool = False,
    sessions: Path | None = None,
) -> SessionStore:
    """``agent_id``'s store with its transcripts where the settings say (see
    :meth:`Settings.transcript_options`), or in ``--sessions-dir``; creates nothing."""
    target = where.target_for(agent_id)
    require_database(target)
    options = settings.transcript_options(agent_id)
    if sessions is not None:
        if settings.transcripts == "sql":
            raise InvalidArgumentError("--sessions-dir is a directory of files: not with sql")
        options = {"transcripts": "files", "transcripts_dir": sessions}
    return open_store(target, agent_id=agent_id, read_only=read_only, **options)


def _agent_of(key: str, agent: str | None, settings: Settings) -> str:
    """The agent ``--agent`` names, else the one the key names (``agent:<id>:…``),
    else the configured one (``global``, ``cron:…``)."""
    return validate_agent_id(
        agent or (agent_of_key(key) if key.startswith("agent:") else settings.agent_id)
    )


class _Bar:
    """The library's Progress drawn as a rich progress bar on stderr (terminals only)."""

    def __init__(self, enabled: bool) -> None:
        console = Console(stderr=True)
        self._progress = Progress(console=console, transient=True, disable=not enabled)
        self._task: TaskID | None = None

    def __enter__(self) -> _Bar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def start(self, description: str, total: int) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(description, total=total)

    def advance(self, amount: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)


def _console() -> Console:
    """Standard output; piped output is not cut to 80 columns (keys are long). No
    emoji codes: ``:thread:`` in a session key must stay text."""
    console = Console(emoji=False)
    return console if console.is_terminal else Console(width=200, soft_wrap=True, emoji=False)


def _print_json(data: Any) -> None:
    typer.echo(dumps_json(data, indent=True).decode())


# -- list, show, info -------------------------------------------------------------


def _kind(summary: SessionSummary) -> str:
    """OpenClaw's listing kinds: direct, group, global, cron, spawn-child, unknown."""
    key = summary.key
    parts = key.split(":")
    if key == "global":
        return "global"
    if "cron" in parts[:3]:
        return "cron"
    if summary.spawned_by or "subagent" in parts:
        return "spawn-child"
    if summary.chat_type in ("group", "channel") or {"group", "channel", "room"} & set(parts):
        return "group"
    if summary.chat_type == "direct" or {"direct", "dm"} & set(parts) or key.endswith(":main"):
        return "direct"
    return "unknown"


def _age(updated_at: int, now: int) -> str:
    seconds = max(0, now - updated_at) // 1000
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _tokens(value: int | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.1f}k" if value >= 1000 else str(value)


def _flags(summary: SessionSummary) -> str:
    flags = []
    if summary.archived:
        flags.append("archived")
    if summary.status:
        flags.append(f"status:{summary.status}")
    if summary.last_thread_id:
        flags.append(f"thread:{summary.last_thread_id}")
    return " ".join(flags)


def _summary_json(agent_id: str, summary: SessionSummary, now: int) -> dict[str, Any]:
    return {
        "agent": agent_id,
        "key": summary.key,
        "kind": _kind(summary),
        "sessionId": summary.session_id,
        "updatedAt": summary.updated_at,
        "ageMs": max(0, now - summary.updated_at),
        "channel": summary.channel,
        "chatType": summary.chat_type,
        "label": summary.label,
        "displayName": summary.display_name,
        "status": summary.status,
        "model": summary.model,
        "modelProvider": summary.model_provider,
        "totalTokens": summary.total_tokens,
        "inputTokens": summary.input_tokens,
        "outputTokens": summary.output_tokens,
        "messageCount": summary.message_count,
        "archived": summary.archived,
        "spawnedBy": summary.spawned_by,
        "lastThreadId": summary.last_thread_id,
    }


@_command(app, "list")
def list_sessions(
    url: StoreUrl = None,
    state_dir: StateDir = None,
    agent: Agent = None,
    all_agents: AllAgents = False,
    active: Annotated[
        int | None,
        typer.Option("--active", min=1, help="Only sessions updated in the last MINUTES."),
    ] = None,
    channel: Annotated[str | None, typer.Option(help="Only this channel.")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    chat_type: Annotated[str | None, typer.Option(help="direct, group, channel, ...")] = None,
    archived: Annotated[
        bool | None, typer.Option("--archived/--not-archived", help="Archived or not.")
    ] = None,
    label_prefix: Annotated[str | None, typer.Option(help="Labels starting with this.")] = None,
    spawned_by: Annotated[str | None, typer.Option(help="Children of this session key.")] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=MAX_PAGE_SIZE, help="Sessions per agent.")
    ] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        str | None, typer.Option(help="Continue after a previous page (its nextCursor).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """List sessions, newest first, with filters that run in the database.

    Example: sessionstore list --active 60 --channel telegram --limit 20
    """
    settings = _settings(state_dir, url)
    where = settings.location()
    agents = where.agents(agent, every=all_agents)
    if cursor is not None and len(agents) > 1:
        raise InvalidArgumentError("--cursor pages one agent; drop --all-agents or pick --agent")
    now = now_ms()
    filters: FilterArgs = {
        "channel": channel,
        "status": status,
        "chat_type": chat_type,
        "archived": archived,
        "label_prefix": label_prefix,
        "spawned_by": spawned_by,
        "updated_after": None if active is None else now - active * 60_000,
    }
    rows: list[tuple[str, SessionSummary]] = []
    next_cursor: str | None = None
    has_more = False
    for agent_id in agents:
        with where.open(agent_id, read_only=True) as store:
            page = store.list(limit=limit, cursor=cursor, **filters)
        rows.extend((agent_id, item) for item in page.items)
        next_cursor = page.next_cursor if len(agents) == 1 else None
        has_more = has_more or page.next_cursor is not None
    if as_json:
        _print_json(
            {
                "store": where.describe(),
                "count": len(rows),
                "activeMinutes": active,
                "nextCursor": next_cursor,
                "hasMore": has_more,
                "sessions": [_summary_json(a, s, now) for a, s in rows],
            }
        )
        return
    table = Table("Agent", "Key", "Kind", "Age", "Model", "Tokens", "Flags", box=None)
    table.columns[1].overflow = "fold"  # a key is never cut short
    for agent_id, item in rows:
        table.add_row(
            agent_id,
            escape(item.key),
            _kind(item),
            _age(item.updated_at, now),
            escape(item.model or "-"),
            _tokens(item.total_tokens),
            escape(_flags(item)),
        )
    console = _console()
    console.print(f"Session store: {escape(where.describe())}")
    console.print(f"Sessions listed: {len(rows)}")
    console.print(table)
    if next_cursor:
        console.print(f"More: --cursor {next_cursor}")


@_command(app, "show")
def show(
    key: Annotated[str, typer.Argument(help="The session key.")],
    url: StoreUrl = None,
    state_dir: StateDir = None,
    agent: Annotated[
        str | None,
        typer.Option("--agent", help="Agent id (default: the one the key names, else main)."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Show one session's entry.

    Example: sessionstore show agent:main:main --json
    """
    settings = _settings(state_dir, url)
    agent_id = _agent_of(key, agent, settings)
    with settings.location().open(agent_id, read_only=True) as store:
        entry = store.get(key)
    if entry is None:
        raise InvalidArgumentError(f"no session {key!r} for agent {agent_id!r}")
    data = entry.to_dict()
    if as_json:
        _print_json(data)
        return
    table = Table("Field", "Value", box=None, title=escape(key), title_justify="left")
    for name, value in data.items():
        text = dumps_json(value).decode()
        if len(text) > 120:
            kind = type(value).__name__
            text = f"<{kind}, {len(text):,} bytes of JSON>"
        table.add_row(name, escape(text))
    _console().print(table)


def _size(path: Path) -> int:
    """Bytes on disk of a file and its SQLite companions (-wal, -shm)."""
    return sum(
        p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()
    )


@_command(app, "info")
def info(
    url: StoreUrl = None,
    state_dir: StateDir = None,
    as_json: AsJson = False,
) -> None:
    """Describe the store: type, URL (password masked), schema revision, counts, sizes.

    Example: sessionstore info --url sqlite:///state/sessionstore.db
    """
    settings = _settings(state_dir, url)
    where = settings.location()
    kind = store_type_of(where.target)
    data: dict[str, Any] = {"storeType": kind, "url": where.describe()}
    countable = True
    files: dict[str, int] = {}
    if kind == "json":
        agents = where.agents(every=True)
        data["revision"] = data["head"] = None
        counts = {}
        for agent_id in agents:
            with where.open(agent_id, read_only=True) as store:
                counts[agent_id] = store.count()
            path = Path(where.target_for(agent_id).removeprefix("json://"))
            files[str(path)] = _size(path)
    else:
        db_url = database_url(where.target)
        data["revision"], state = schema.schema_state(db_url)
        data["head"] = schema.head_revision()
        # one GROUP BY, at any revision whose table has agent_id
        counted = schema.count_sessions(db_url)
        countable = counted is not None
        counts = dict(sorted((counted or {}).items()))
        db_file = sqlite_file(db_url)
        if db_file is not None and db_file.exists():
            files[str(db_file)] = _size(db_file)
            data["space"] = space.sqlite_space(db_file)
            data["lastCheck"] = space.last_check(db_file)
        if (bloat := space.server_bloat(str(db_url))) is not None:
            data["deadTuples"] = bloat
    data["agents"] = counts
    data["total"] = sum(counts.values()) if countable else None
    data["files"] = files
    if as_json:
        _print_json(data)
        return
    lines = [
        f"store type: {kind}",
        f"url:        {data['url']}",
    ]
    if kind != "json":
        lines.append(f"schema:     {data['revision'] or 'empty'} (head {data['head']}, {state})")
    lines.append(f"sessions:   {data['total']:,}" if countable else "sessions:   not countable")
    lines += [f"  {agent_id}: {n:,}" for agent_id, n in counts.items()]
    lines += [f"file:       {p} ({n / 1e6:.1f} MB)" for p, n in files.items()]
    if "space" in data:
        room = data["space"]
        lines.append(
            f"space:      {room['freePages']:,} free of {room['pageCount']:,} pages "
            f"({room['freePages'] * room['pageSize'] / 1e6:.1f} MB free), "
            f"auto_vacuum {room['autoVacuum']}"
        )
        last = data["lastCheck"]
        lines.append(
            "integrity:  never checked (sessionstore check --integrity)"
            if last is None
            else f"integrity:  {last['check']} {'ok' if last['ok'] else 'FAILED'} at "
            f"{iso_ms(last['checkedAt'])} ({last['durationMs']:,} ms)"
        )
    for table in data.get("deadTuples", []):
        lines.append(
            f"table:      {table['table']}: {table['liveTuples']:,} live, "
            f"{table['deadTuples']:,} dead tuples, last autovacuum "
            f"{table['lastAutovacuum'] or 'never'}"
        )
    typer.echo("\n".join(lines))


# -- migrate, export, copy --------------------------------------------------------


def _era_line(agent: AgentReport) -> str:
    """What a migrate dry run reads for one agent, e.g. ``main   sqlite
    (openclaw-agent.sqlite, schema 23)   19 entries   46 events``."""
    found = (
        f"{agent.transcripts:,} transcripts" if agent.events is None else f"{agent.events:,} events"
    )
    return f"{agent.agent_id}   {agent.era}   {agent.entries_read:,} entries   {found}"


def _report(report: TransferReport, as_json: bool) -> None:
    """Print a transfer report; exit 1 unless it is ok."""
    if as_json:
        _print_json(report.to_dict())
    else:
        verb = {"migrate": "Migrating into", "copy": "Copying into", "export": "Exporting to"}
        console = _console()
        dry = " (dry run: nothing written)" if report.dry_run else ""
        console.print(f"{verb[report.operation]} {escape(report.target)}{dry}")
        if report.dry_run:
            for agent in report.agents:
                if agent.era is not None:
                    console.print(escape(_era_line(agent)), highlight=False)
        table = Table(
            "Agent",
            "Status",
            "Read",
            "Written",
            "Unchanged",
            "Rejected",
            "Transcripts",
            "Messages",
            box=None,
        )
        for agent in report.agents:
            table.add_row(
                agent.agent_id,
                agent.status.value,
                f"{agent.entries_read:,}",
                f"{agent.imported:,}",
                f"{agent.unchanged:,}",
                f"{len(agent.rejected):,}",
                f"{agent.transcripts:,}",
                "-" if agent.messages is None else f"{agent.messages:,}",
            )
        console.print(table)
        for agent in report.agents:
            for key, why in agent.rejected:
                console.print(f"{agent.agent_id}: rejected {escape(repr(key))}: {escape(why)}")
            if agent.changes:
                console.print(
                    f"{agent.agent_id}: {len(agent.changes)} normalisation changes "
                    "(--json lists them)"
                )
            if agent.transcripts_imported or agent.transcripts_skipped:
                console.print(
                    f"{agent.agent_id}: transcripts: {agent.transcripts_imported:,} written "
                    f"({agent.lines_imported:,} lines), {agent.transcripts_skipped:,} already "
                    f"there ({agent.lines_skipped:,} lines)"
                )
            for warning in agent.warnings:
                console.print(f"{agent.agent_id}: warning: {escape(warning)}")
            if agent.error:
                console.print(f"{agent.agent_id}: FAILED: {escape(agent.error)}")
            if agent.status is Status.PARTIAL and not report.accept_rejected:
                console.print(
                    f"{agent.agent_id}: PARTIAL: {len(agent.rejected)} entries left behind; "
                    "fix them in the source, or pass --accept-rejected to accept the loss"
                )
    if not report.ok:
        raise typer.Exit(1)


@_command(app, "migrate")
def migrate_command(
    state_dir: StateDir = None,
    agent: Agent = None,
    all_agents: AllAgents = False,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            envvar="SESSIONSTORE_URL",
            help="Target URL (default: SESSIONSTORE_URL, else sqlite:///<state-dir>/sessionstore.db).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; write nothing.")] = False,
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Make the target equal the source, dropping newer data."),
    ] = False,
    verbatim: Annotated[
        bool, typer.Option("--verbatim", help="Keep keys and fields as written (no normalisation).")
    ] = False,
    accept_rejected: Annotated[
        bool,
        typer.Option(
            "--accept-rejected", help="Exit 0 even if invalid entries are left behind (PARTIAL)."
        ),
    ] = False,
    count_messages: Annotated[
        bool,
        typer.Option("--count-messages", help="Also count transcript messages (reads every file)."),
    ] = False,
    transcripts: Annotated[
        str,
        typer.Option(
            "--transcripts",
            help="files: transcripts stay .jsonl files; sql: also import them into the "
            "database, verified.",
        ),
    ] = "files",
    as_json: AsJson = False,
) -> None:
    """Import an OpenClaw state directory into a database; the source is never changed.

    Per agent: MIGRATED, SKIPPED (already there, unchanged), PARTIAL (migrated, but
    invalid entries left behind), FAILED or NO_DATA; exits 1 if any agent failed or is
    PARTIAL (unless --accept-rejected). Safe to rerun: it resumes and never duplicates.
    With --transcripts sql the .jsonl files the entries refer to are imported too, each
    verified by its lines; the files stay.

    Example: sessionstore migrate --state-dir ~/.openclaw --all-agents --dry-run
    """
    tier = _tier(transcripts)
    settings = _settings(state_dir)
    if agent and all_agents:
        raise InvalidArgumentError("use --agent or --all-agents, not both")
    agents = None if all_agents else [validate_agent_id(a) for a in agent or [settings.agent_id]]
    with _Bar(enabled=not as_json and sys.stderr.isatty()) as bar:
        report = transfer.migrate(
            settings.state_dir,
            to,
            agents=agents,
            dry_run=dry_run,
            replace=replace,
            verbatim=verbatim,
            accept_rejected=accept_rejected,
            count_messages=count_messages,
            transcripts=tier,
            progress=bar,
        )
    _report(report, as_json)


NoTranscripts = Annotated[
    bool, typer.Option("--no-transcripts", help="Leave the transcripts out: sessions only.")
]


@_command(app, "export")
def export_command(
    url: Annotated[
        str | None,
        typer.Option(
            "--from",
            envvar="SESSIONSTORE_URL",
            help="Source store URL (default: the configured store).",
            show_default=False,
        ),
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--state-dir", help="Write <dir>/agents/<id>/sessions/sessions.json per agent."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write one agent's sessions.json here.")
    ] = None,
    agent: Agent = None,
    all_agents: AllAgents = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace existing files (each kept as <file>.bak.<ms>)."),
    ] = False,
    no_transcripts: NoTranscripts = False,
    as_json: AsJson = False,
) -> None:
    """Write sessions back as OpenClaw sessions.json files: the way back from a database.

    The store's transcripts are written beside each sessions.json as <sessionId>.jsonl
    files (OpenClaw's format), each verified by its lines.

    Example: sessionstore export --from sqlite:///sessionstore.db --state-dir back --all-agents
    """
    settings = _settings(None, url)
    source = settings.target()
    if agent and all_agents:
        raise InvalidArgumentError("use --agent or --all-agents, not both")
    agents = None if all_agents else [validate_agent_id(a) for a in agent or [settings.agent_id]]
    with _Bar(enabled=not as_json and sys.stderr.isatty()) as bar:
        report = transfer.export(
            source,
            state_dir=state_dir,
            out=out,
            agents=agents,
            force=force,
            transcripts=not no_transcripts,
            progress=bar,
        )
    _report(report, as_json)


@_command(app, "copy")
def copy_command(
    source: Annotated[str, typer.Option("--from", help="Source store URL or path.")],
    target: Annotated[str, typer.Option("--to", help="Target store URL or path.")],
    agent: Annotated[
        list[str] | None,
        typer.Option("--agent", help="Agent id; repeat for several (default: every agent)."),
    ] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, max=MAX_PAGE_SIZE, help="Entries per transaction.")
    ] = transfer.BATCH_SIZE,
    no_transcripts: NoTranscripts = False,
    as_json: AsJson = False,
) -> None:
    """Copy sessions between any two stores (all agents unless --agent), verified.

    Transcripts go along, from the source's transcripts to the target's (the tables of
    a database, the .jsonl files beside a sessions.json), each verified by its lines.

    Example: sessionstore copy --from sqlite:///sessionstore.db --to postgresql+psycopg://db/sessions
    """
    agents = [validate_agent_id(a) for a in agent] if agent else None
    with _Bar(enabled=not as_json and sys.stderr.isatty()) as bar:
        report = transfer.copy(
            source,
            target,
            agents=agents,
            batch_size=batch_size,
            transcripts=not no_transcripts,
            progress=bar,
        )
    _report(report, as_json)


# -- backup, restore ---------------------------------------------------------------

BackupUrl = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="SESSIONSTORE_URL",
        help="A SQLite file or database URL (or set SESSIONSTORE_URL).",
        show_default=False,
    ),
]
BackupStateDir = Annotated[
    Path | None,
    typer.Option("--state-dir", help="An OpenClaw state directory.", show_default=False),
]
Force = Annotated[bool, typer.Option("--force", help="Replace what is there.")]


def _one_of(url: str | None, state_dir: Path | None) -> str | None:
    """``--url`` or ``--state-dir``: an explicit ``--state-dir`` wins over a URL that
    came from SESSIONSTORE_URL only."""
    if state_dir is not None and url is not None:
        if os.environ.get("SESSIONSTORE_URL") == url:
            return None
        raise InvalidArgumentError("use --url or --state-dir, not both")
    if state_dir is None and url is None:
        raise InvalidArgumentError("name what to use with --url URL or --state-dir DIR")
    return url


def _manifest_lines(agents: dict[str, backup.AgentManifest]) -> list[str]:
    return [
        f"  {agent}: {m.entries:,} entries, {m.transcripts:,} transcripts ({m.lines:,} lines)"
        for agent, m in agents.items()
    ]


@_command(app, "backup")
def backup_command(
    to: Annotated[Path, typer.Option("--to", help="The backup file to write.")],
    url: BackupUrl = None,
    state_dir: BackupStateDir = None,
    force: Force = False,
    pages_per_step: Annotated[
        int, typer.Option(min=1, help="SQLite pages copied per step of the online backup.")
    ] = backup.PAGES_PER_STEP,
    as_json: AsJson = False,
) -> None:
    """Back up a store while writers keep writing, verified: one file.

    A SQLite file: SQLite's online backup, one consistent snapshot (a database file). A
    database server: a logical export of the sessionstore tables (zstd JSON lines). A
    state directory: its agents' stores and transcripts (a zstd tar).

    Example: sessionstore backup --url sqlite:///state/sessionstore.db --to sessions.backup
    """
    chosen = _one_of(url, state_dir)
    report = backup.backup(
        to,
        url=chosen,
        state_dir=None if chosen is not None else state_dir,
        force=force,
        pages_per_step=pages_per_step,
    )
    if as_json:
        _print_json(report.to_dict())
        return
    lines = [
        f"{report.kind} backup of {report.source} -> {report.path} "
        f"({report.bytes / 1e6:.1f} MB, {report.seconds:.1f} s, verified in "
        f"{report.verify_seconds:.1f} s)",
        *_manifest_lines(report.agents),
        *(f"warning: {w}" for w in report.warnings),
    ]
    typer.echo("\n".join(lines))


@_command(app, "restore")
def restore_command(
    source: Annotated[Path, typer.Option("--from", help="The backup file (any kind).")],
    url: BackupUrl = None,
    state_dir: BackupStateDir = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the backup's agents in a non-empty target.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Restore a backup of any kind into any backend, verified against the backup.

    A target that holds sessions already is refused unless --force.

    Example: sessionstore restore --from sessions.backup --url postgresql+psycopg://db/sessions
    """
    chosen = _one_of(url, state_dir)
    report = backup.restore(
        source, url=chosen, state_dir=None if chosen is not None else state_dir, force=force
    )
    if as_json:
        _print_json(report.to_dict())
        return
    lines = [
        f"restored the {report.kind} backup {report.source} into {report.target} (verified)",
        *_manifest_lines(report.agents),
        *(f"warning: {w}" for w in report.warnings),
    ]
    typer.echo("\n".join(lines))


# -- cleanup, check --------------------------------------------------------------


@_command(app, "cleanup")
def cleanup_command(
    url: StoreUrl = None,
    state_dir: StateDir = None,
    agent: Agent = None,
    all_agents: AllAgents = False,
    prune_after: Annotated[
        str, typer.Option(help="Prune entries idle this long: 30d, 12h, 90m ('off': never).")
    ] = "30d",
    max_entries: Annotated[
        int | None, typer.Option(min=0, help="Keep at most this many (protected ones aside).")
    ] = lifecycle.DEFAULT_MAX_ENTRIES,
    no_cap: Annotated[bool, typer.Option("--no-cap", help="Do not cap the store.")] = False,
    enforce: Annotated[
        bool, typer.Option("--enforce/--warn", help="Remove, or only report what would go.")
    ] = True,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report only.")] = False,
    fix_missing: Annotated[
        bool, typer.Option("--fix-missing", help="Drop entries whose transcript is gone.")
    ] = False,
    active_key: Annotated[
        str | None, typer.Option(help="The session in use: never removed.")
    ] = None,
    transcripts: Tier = None,
    sessions: SessionsDir = None,
    as_json: AsJson = False,
) -> None:
    """Prune stale sessions and cap the store, with OpenClaw's rules and protected keys.

    Removed entries' transcripts are archived as <file>.deleted.<ts>, never deleted.
    Exits 1 if a transcript or an old archive could not be handled (each one is listed).

    Example: sessionstore cleanup --all-agents --prune-after 30d --max-entries 500 --dry-run
    """
    settings = _settings(state_dir, url, transcripts)
    where = settings.location()
    prune_ms = (
        None if prune_after.strip().lower() == "off" else lifecycle.parse_duration(prune_after)
    )
    reports = []
    for agent_id in _agents_of(where, agent, all_agents, sessions):
        with _open(settings, where, agent_id, sessions=sessions) as store:
            tier = store.transcripts
            # no transcripts directory: transcripts are left alone
            unused = isinstance(tier, FileTranscripts) and not tier.directory.is_dir()
            reports.append(
                lifecycle.cleanup(
                    store,
                    prune_after_ms=prune_ms,
                    max_entries=None if no_cap else max_entries,
                    mode="enforce" if enforce else "warn",
                    dry_run=dry_run,
                    active_key=active_key,
                    fix_missing=fix_missing,
                    transcripts=None if unused else tier,
                )
            )
    if as_json:
        _print_json({"store": where.describe(), "agents": [r.to_dict() for r in reports]})
    else:
        _print_cleanup(reports)
    if any(report.has_errors for report in reports):
        raise typer.Exit(1)


def _print_cleanup(reports: list[lifecycle.CleanupReport]) -> None:
    """The text form of cleanup's reports."""
    console = _console()
    for report in reports:
        state = "applied" if report.applied else "not applied (dry run or warn mode)"
        console.print(
            f"{report.agent_id}: {report.before:,} -> {report.after:,} entries "
            f"(pruned {report.count(lifecycle.Action.PRUNE_STALE)}, "
            f"missing {report.count(lifecycle.Action.PRUNE_MISSING)}, "
            f"capped {report.count(lifecycle.Action.CAP_OVERFLOW)}; {state})"
        )
        if report.items:
            table = Table("Action", "Key", "Age", "Model", "Why kept", box=None)
            table.columns[1].overflow = "fold"
            now = now_ms()
            for item in report.items:
                table.add_row(
                    item.action.value,
                    escape(item.key),
                    _age(item.updated_at, now),
                    escape(item.model or "-"),
                    item.reason or "",
                )
            console.print(table)
        if report.archived or report.expired:
            console.print(
                f"transcripts archived: {len(report.archived)}, old archives removed: "
                f"{len(report.expired)}"
            )
        if report.orphans_archived:
            console.print(
                f"SQL transcripts without an entry archived: {len(report.orphans_archived)}"
            )
        if report.reclaimed_pages:
            console.print(f"database pages returned to the file system: {report.reclaimed_pages:,}")
        for key, why in report.transcript_errors.items():
            console.print(f"  transcript error: {escape(key)}: {escape(why)}")
        for name, why in report.archive_errors.items():
            console.print(f"  archive error: {escape(name)}: {escape(why)}")


@_command(app, "check")
def check_command(
    url: StoreUrl = None,
    state_dir: StateDir = None,
    agent: Agent = None,
    all_agents: AllAgents = False,
    repair: Annotated[
        bool,
        typer.Option("--repair", help="Rebuild message and token counters from the transcripts."),
    ] = False,
    transcripts: Tier = None,
    sessions: SessionsDir = None,
    integrity: Annotated[
        bool,
        typer.Option(
            "--integrity",
            help="Check the SQLite file itself instead (quick_check), timed; the result "
            "shows in `info`.",
        ),
    ] = False,
    full: Annotated[
        bool,
        typer.Option("--full", help="With --integrity: the full integrity_check (slower)."),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Compare the index with the transcripts (files or sql); exit 1 if they disagree.

    Finds entries whose transcript is missing or cannot be read (not a regular file, or
    outside the directory), transcripts no entry refers to, and message or token
    counters that differ from the transcripts. With --integrity, checks the SQLite
    file's pages instead and names the way to recover when they are damaged.

    Example: sessionstore check --all-agents --repair
    """
    settings = _settings(state_dir, url, transcripts)
    where = settings.location()
    if full and not integrity:
        raise InvalidArgumentError("--full goes with --integrity")
    if integrity:
        _check_integrity(where.target, full=full, as_json=as_json)
        return
    reports = []
    for agent_id in _agents_of(where, agent, all_agents, sessions):
        with _open(settings, where, agent_id, read_only=not repair, sessions=sessions) as store:
            reports.append(lifecycle.check(store, store.transcripts, repair=repair))
    if as_json:
        _print_json({"store": where.describe(), "agents": [r.to_dict() for r in reports]})
    else:
        console = _console()
        for report in reports:
            verdict = "consistent" if report.consistent else "INCONSISTENT"
            console.print(
                f"{report.agent_id}: {verdict}: {report.entries:,} entries, "
                f"{len(report.missing)} missing transcripts, "
                f"{len(report.transcript_errors)} transcript errors, {len(report.orphans)} orphan "
                f"transcripts, {len(report.wrong_counts)} wrong counters, "
                f"{len(report.uncounted)} not counted yet, {report.repaired} repaired"
            )
            for key in report.missing:
                console.print(f"  missing transcript: {escape(key)}")
            for key, why in report.transcript_errors.items():
                console.print(f"  transcript error: {escape(key)}: {escape(why)}")
            for name in report.orphans:
                console.print(f"  orphan transcript: {escape(name)}")
            for key, fields in report.wrong_counts.items():
                detail = ", ".join(f"{k} {v[0]} (transcript: {v[1]})" for k, v in fields.items())
                console.print(f"  wrong counters: {escape(key)}: {detail}")
    if not all(report.consistent for report in reports):
        raise typer.Exit(1)


# -- erase -----------------------------------------------------------------------


def _pattern(pattern: str) -> list[str]:
    """The segments of an ``--match`` pattern, checked: ``*`` stands for exactly one
    whole ``:``-separated segment, and at least one segment is literal (a pattern of
    stars alone would erase every key of that length)."""
    segments = pattern.split(":")
    if not pattern.strip():
        raise InvalidArgumentError("--match: the pattern is empty")
    for segment in segments:
        if not segment:
            raise InvalidArgumentError(f"--match {pattern!r}: a segment is empty")
        if "*" in segment and segment != "*":
            raise InvalidArgumentError(
                f"--match {pattern!r}: '*' stands for one whole segment, not part of {segment!r}"
            )
    if all(segment == "*" for segment in segments):
        raise InvalidArgumentError(
            f"--match {pattern!r} would match every key of {len(segments)} segments: "
            "name at least one segment"
        )
    return segments


def _literal_prefix(segments: list[str]) -> str | None:
    """The literal part of a pattern before its first ``*`` (the listing's key prefix),
    or ``None`` when it starts with one."""
    stars = [n for n, segment in enumerate(segments) if segment == "*"]
    if not stars:
        return ":".join(segments)
    return ":".join(segments[: stars[0]]) + ":" if stars[0] else None


def _matches(segments: list[str], key: str) -> bool:
    parts = key.split(":")
    return len(parts) == len(segments) and all(
        wanted in ("*", part) for wanted, part in zip(segments, parts, strict=True)
    )


def _listed_keys(store: SessionStore, **filters: Any) -> list[str]:
    """Every key a listing with ``filters`` yields, page after page."""
    keys: list[str] = []
    cursor = None
    while True:
        page = store.list(order="asc", cursor=cursor, limit=MAX_PAGE_SIZE, **filters)
        keys.extend(item.key for item in page.items)
        if page.next_cursor is None:
            return keys
        cursor = page.next_cursor


def _chosen_keys(
    store: SessionStore,
    key: str | None,
    key_prefix: str | None,
    segments: list[str] | None,
    session_id: str | None,
) -> list[str]:
    """The keys of ``store`` that the one selector given names."""
    if key is not None:
        return [key]
    if key_prefix is not None:
        return _listed_keys(store, key_prefix=key_prefix)
    if segments is not None:
        prefix = _literal_prefix(segments)
        listed = _listed_keys(store, key_prefix=prefix) if prefix else _listed_keys(store)
        return [k for k in listed if _matches(segments, k)]
    return _listed_keys(store, session_id=session_id)


def _print_erasure(erasures: list[Erasure], describe: str, dry_run: bool) -> None:
    console = _console()
    verb = "Would erase (dry run)" if dry_run else "Erased"
    console.print(f"{verb} from {escape(describe)}")
    table = Table("Agent", "Keys", "Transcripts", "Archives", "Events", "Bytes", "Blobs", box=None)
    for erasure in erasures:
        table.add_row(
            erasure.agent_id,
            str(len(erasure.keys)),
            str(len(erasure.transcripts)),
            str(len(erasure.archives)),
            f"{erasure.events:,}",
            f"{erasure.bytes:,}",
            str(erasure.blobs),
        )
    console.print(table)
    items = Table("Agent", "What", "Name", box=None)
    items.columns[2].overflow = "fold"
    for erasure in erasures:
        for kind, names in (
            ("entry", erasure.keys),
            ("transcript", erasure.transcripts),
            ("archive", erasure.archives),
            ("kept (shared)", erasure.kept),
        ):
            for name in names:
                items.add_row(erasure.agent_id, kind, escape(name))
    if items.row_count:
        console.print(items)


@_command(app, "erase")
def erase_command(
    url: StoreUrl = None,
    state_dir: StateDir = None,
    agent: Agent = None,
    all_agents: AllAgents = False,
    key: Annotated[
        str | None, typer.Option("--key", help="This session key.", show_default=False)
    ] = None,
    key_prefix: Annotated[
        str | None,
        typer.Option("--key-prefix", help="Keys starting with this (literal).", show_default=False),
    ] = None,
    match: Annotated[
        str | None,
        typer.Option(
            "--match",
            help="Keys of this shape: '*' stands for exactly one ':'-separated segment.",
            show_default=False,
        ),
    ] = None,
    session_id: Annotated[
        str | None,
        typer.Option(
            "--session-id",
            help="The entries of this sessionId, and its transcripts and archives.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report only.")] = False,
    transcripts: Tier = None,
    as_json: AsJson = False,
) -> None:
    """Erase sessions for good: entries, transcripts, archives, search rows, blobs.

    Removes the sessions chosen by one selector, with every transcript that belonged to
    them on either tier (archives of earlier resets included), their full-text rows and
    the blobs only they used: one unit per agent. For a data-subject request, every
    session of one Telegram user in every agent:
    --all-agents --match 'agent:*:telegram:direct:123456789'.

    Example: sessionstore erase --all-agents --match 'agent:*:telegram:direct:123456789' --dry-run
    """
    chosen = [s for s in (key, key_prefix, match, session_id) if s is not None]
    if len(chosen) != 1:
        raise InvalidArgumentError(
            "erase takes exactly one of --key, --key-prefix, --match, --session-id"
        )
    if key is not None:
        validate_key(key)
    if key_prefix is not None and not key_prefix:
        raise InvalidArgumentError("--key-prefix: the prefix is empty")
    segments = None if match is None else _pattern(match)
    sessions = [] if session_id is None else [validate_session_id(session_id)]
    settings = _settings(state_dir, url, transcripts)
    where = settings.location()
    if key is not None and not agent and not all_agents:
        agent = [_agent_of(key, None, settings)]  # the agent the key names, as show does
    erasures: list[Erasure] = []
    reclaimed = 0  # pages returned to the file system (the file's, not an agent's)
    for agent_id in _agents_of(where, agent, all_agents, None):
        try:
            with _open(settings, where, agent_id) as store:
                keys = _chosen_keys(store, key, key_prefix, segments, session_id)
                erasure = store.transcripts.erase(keys, session_ids=sessions, dry_run=dry_run)
                erasures.append(erasure)
                # The freed pages would still hold the erased bytes inside the file.
                removed = erasure.keys or erasure.transcripts or erasure.archives
                if erasure.applied and removed and isinstance(store, SupportsMaintenance):
                    reclaimed += store.reclaim_space().pages
        except SessionStoreError as exc:
            done = ", ".join(e.agent_id for e in erasures) or "none"
            raise SessionStoreError(
                f"agent {agent_id!r}: {exc} (agents erased before it: {done}; "
                "the same command again finishes the job)"
            ) from exc
    if as_json:
        _print_json(
            {
                "store": where.describe(),
                "dryRun": dry_run,
                "agents": [erasure.to_dict() for erasure in erasures],
                "reclaimedPages": reclaimed,
            }
        )
        return
    _print_erasure(erasures, where.describe(), dry_run)
    if reclaimed:
        _console().print(f"database pages returned to the file system: {reclaimed:,}")


#: The problems of a failed integrity check printed (``--json`` has them all).
_PROBLEMS_SHOWN = 5


def _check_integrity(target: str, *, full: bool, as_json: bool) -> None:
    """``check --integrity``: the file's pages, timed; exit 1 when they are damaged."""
    path = _sqlite_path(target, "check --integrity")
    result = space.integrity_check(path, full=full)
    recovery = None if result.ok else space.recovery(mask_url(database_url(target)))
    if as_json:
        _print_json(
            {"store": mask_url(database_url(target)), **result.to_dict(), "recovery": recovery}
        )
    else:
        check = "integrity_check" if full else "quick_check"
        verdict = "ok" if result.ok else f"FAILED ({len(result.problems)} problems)"
        typer.echo(f"{check} {verdict} in {result.duration_ms:,.0f} ms: {path}")
        for problem in result.problems[:_PROBLEMS_SHOWN]:
            typer.echo(f"  {problem}")
        if len(result.problems) > _PROBLEMS_SHOWN:
            typer.echo(f"  and {len(result.problems) - _PROBLEMS_SHOWN} more (--json lists them)")
        if recovery is not None:
            typer.echo(f"recovery: {recovery}")
    if not result.ok:
        raise typer.Exit(1)


# -- transcript tail, transcript search ---------------------------------------------

_TEXT_CHARS = 200


def _event_text(event: dict[str, Any]) -> str:
    """An event in a line: a message's text, else its other fields as JSON; cut short."""
    text = message_text(event)
    if text is None:
        rest = {k: v for k, v in event.items() if k not in ("type", "id", "parentId", "timestamp")}
        text = dumps_json(rest).decode() if rest else ""
    text = " ".join(text.split())
    return text if len(text) <= _TEXT_CHARS else text[: _TEXT_CHARS - 1] + "…"


def _role(event: dict[str, Any]) -> str:
    message = event.get("message")
    role = message.get("role") if isinstance(message, dict) else None
    return role if isinstance(role, str) else ""


def _when(ms: int | None) -> str:
    return "-" if ms is None else iso_ms(ms)


TranscriptAgent = Annotated[
    str | None,
    typer.Option("--agent", help="Agent id (default: the one the key names, else main)."),
]


@_command(transcript, "tail")
def transcript_tail(
    key: Annotated[str, typer.Argument(help="The session key.")],
    url: StoreUrl = None,
    state_dir: StateDir = None,
    agent: TranscriptAgent = None,
    limit: Annotated[
        int, typer.Option(min=1, max=MAX_PAGE_SIZE, help="Events to show, the newest.")
    ] = DEFAULT_PAGE_SIZE,
    transcripts: Tier = None,
    sessions: SessionsDir = None,
    as_json: AsJson = False,
) -> None:
    """Show the newest events of a session's transcript, oldest first.

    Reads only those events, however long the transcript is.

    Example: sessionstore transcript tail agent:main:main --limit 20
    """
    settings = _settings(state_dir, url, transcripts)
    agent_id = _agent_of(key, agent, settings)
    where = settings.location()
    with _open(settings, where, agent_id, read_only=True, sessions=sessions) as store:
        entry = store.get(key)
        if entry is None:
            raise InvalidArgumentError(f"no session {key!r} for agent {agent_id!r}")
        tier = store.transcripts
        events = tier.tail(key, limit=limit)
    if as_json:
        _print_json(
            {
                "store": where.describe(),
                "agent": agent_id,
                "key": key,
                "sessionId": entry.session_id,
                "transcripts": tier.tier,
                "count": len(events),
                "events": events,
            }
        )
        return
    console = _console()
    console.print(f"{escape(key)}: session {escape(entry.session_id)}, transcripts: {tier.tier}")
    if not events:
        console.print("no events")
        return
    table = Table("Time", "Type", "Role", "Text", box=None)
    table.columns[3].overflow = "fold"
    for event in events:
        table.add_row(
            _when(event_time_ms(event)),
            escape(str(event.get("type", "-"))),
            escape(_role(event)),
            escape(_event_text(event)),
        )
    console.print(table)


@_command(transcript, "search")
def transcript_search(
    query: Annotated[str, typer.Argument(help="Words to find, all of them; taken literally.")],
    url: StoreUrl = None,
    state_dir: StateDir = None,
    agent: TranscriptAgent = None,
    key: Annotated[
        str | None, typer.Option("--key", help="Search this session only.", show_default=False)
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE_SIZE, help="Hits to show.")] = 20,
    transcripts: Tier = None,
    sessions: SessionsDir = None,
    as_json: AsJson = False,
) -> None:
    """Find messages that contain every word of QUERY, newest first.

    Example: sessionstore transcript search "backup finished" --limit 5
    """
    if not search_words(query):
        raise InvalidArgumentError(f"the query {query!r} holds no word to search for")
    settings = _settings(state_dir, url, transcripts)
    agent_id = (
        _agent_of(key, agent, settings) if key else validate_agent_id(agent or settings.agent_id)
    )
    where = settings.location()
    with _open(settings, where, agent_id, read_only=True, sessions=sessions) as store:
        if key is not None and store.get(key) is None:
            raise InvalidArgumentError(f"no session {key!r} for agent {agent_id!r}")
        tier = store.transcripts
        hits = tier.search(query, key=key, limit=limit)
    if as_json:
        _print_json(
            {
                "store": where.describe(),
                "agent": agent_id,
                "query": query,
                "key": key,
                "transcripts": tier.tier,
                "count": len(hits),
                "hits": [
                    {
                        "key": hit.key,
                        "sessionId": hit.session_id,
                        "position": hit.position,
                        "timestamp": hit.timestamp,
                        "snippet": hit.snippet,
                    }
                    for hit in hits
                ],
            }
        )
        return
    console = _console()
    console.print(f"Hits: {len(hits)} (agent {agent_id}, transcripts: {tier.tier})")
    table = Table("Time", "Key", "Position", "Snippet", box=None)
    table.columns[1].overflow = "fold"
    table.columns[3].overflow = "fold"
    for hit in hits:
        table.add_row(_when(hit.timestamp), escape(hit.key), str(hit.position), escape(hit.snippet))
    if hits:
        console.print(table)


def main() -> None:
    """Entry point of the ``sessionstore`` script and ``python -m sessionstore``."""
    app(prog_name="sessionstore")  # the same help for `python -m sessionstore`

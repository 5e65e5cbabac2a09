"""Session entries as OpenClaw writes them, and the blobs and routes they are made of.

- Blobs: an agent's skills snapshots (a ~40 KB rendered catalogue shared by most of its
  entries, and an older version), the ~15 KB ``systemPromptReport`` of each run, and the
  ``resolvedSkills`` bodies that pre-May snapshots stored.
- Routes: a session's key and the chat it talks to, per channel (Telegram direct chats
  and forum topics, Discord and Slack channels and threads, WhatsApp, webchat, sub-agent
  runs, cron jobs), drawn in the shares of :data:`ROUTES`.
- Entries: :func:`make_session` builds one entry in the field order OpenClaw writes, with
  the :class:`~sessionstore.testing.transcripts.Plan` of its transcript;
  :func:`agent_sessions` makes an agent's regular sessions, its main session first.
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from sessionstore.testing.clock import DAY_MS, HISTORY_DAYS
from sessionstore.testing.transcripts import Plan

__all__ = [
    "MODELS",
    "STORE_JSON",
    "Agent",
    "Route",
    "Session",
    "agent_sessions",
    "grow_report",
    "make_session",
    "new_agent",
    "random_uuid",
    "resolved_skills",
    "snowflake",
    "telegram_topic",
]

TRANSCRIPT_SHARE = 0.95
# OpenClaw's writers: 2-space indent like JSON.stringify(store, null, 2); raw UTF-8.
STORE_JSON = orjson.OPT_INDENT_2
# Characters encodeURIComponent leaves as they are, besides letters, digits and "-_.~".
URI_SAFE = "!*'()"

MODELS = [
    ("anthropic", "claude-opus-4-6", 200_000),
    ("anthropic", "claude-opus-4-5", 200_000),
    ("anthropic", "claude-sonnet-4-5", 200_000),
    ("openai", "gpt-5.2", 400_000),
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
EXTRA_MCP_SERVERS = [
    "jira", "confluence", "figma", "stripe", "gitlab", "aws", "gcp", "hubspot",
    "zendesk", "airtable", "asana", "dropbox", "todoist", "spotify", "homeassistant",
]  # fmt: skip
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
    spawn_depth: int | None = None
    topic: bool = False  # a Telegram forum topic, with its own transcript name


@dataclass(slots=True)
class Session:
    """An entry being generated, under its key, with the transcript planned for it."""

    key: str
    entry: dict[str, Any]
    plan: Plan | None


@dataclass(slots=True)
class Agent:
    """One agent being generated: its id, where it lives and its skills snapshots."""

    agent_id: str
    sessions_dir: Path
    now_ms: int
    snapshots: tuple[dict[str, Any], dict[str, Any]]
    # What every run's systemPromptReport says about the agent's tools and skills; a
    # property of the agent, not of the run, so computed once.
    tools: list[dict[str, Any]]
    skill_blocks: dict[int, list[dict[str, Any]]]
    subagents: list[str] = field(default_factory=list)

    @property
    def main_key(self) -> str:
        return f"agent:{self.agent_id}:main"


# -- blobs -------------------------------------------------------------------------------


def _skill_names(rng: random.Random) -> list[str]:
    return sorted({f"{rng.choice(WORDS)}-{rng.choice(WORDS)}" for _ in range(60)})[:40]


@functools.lru_cache(maxsize=1024)
def _skill_description(seed: int, name: str) -> str:
    # Seeded by the name, so a skill reads the same in every agent and snapshot.
    rng = random.Random(f"{seed}:{name}")
    return " ".join(
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(10, 16))).capitalize() + "."
        for _ in range(rng.randint(6, 9))
    )


def _skill_block(seed: int, name: str) -> str:
    return (
        "  <skill>\n"
        f"    <name>{name}</name>\n"
        f"    <description>{_skill_description(seed, name)}</description>\n"
        f"    <location>~/.openclaw/skills/{name}/SKILL.md</location>\n"
        "  </skill>"
    )


def _render_skills_prompt(seed: int, skills: list[str]) -> str:
    """A rendered skills catalogue like the one OpenClaw injects into the system prompt."""
    blocks = [_skill_block(seed, name) for name in skills]
    intro = (
        "The following skills provide specialized instructions for specific tasks.\n"
        "Use the read tool to load a skill's file when the task matches its description.\n"
    )
    return f"{intro}<available_skills>\n" + "\n".join(blocks) + "\n</available_skills>"


def _skills_snapshots(rng: random.Random, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The agent's current skills snapshot and an older one some sessions still carry."""
    names = _skill_names(rng)
    current, older = (
        {
            "prompt": _render_skills_prompt(seed, skills),
            "skills": [{"name": name} for name in skills],
            "version": version,
        }
        for version, skills in ((7, names), (6, names[:-3]))
    )
    return current, older


def resolved_skills(seed: int, snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """Full skill bodies as pre-May snapshots stored them (``resolvedSkills``, ~2 KB each)."""
    resolved = []
    for skill in snapshot["skills"]:
        name = skill["name"]
        description = _skill_description(seed, name)
        body = "\n\n".join(
            [
                f"---\nname: {name}\ndescription: {description[:120]}\n---",
                f"# {name}",
                description,
                f"Run `{name.replace('-', '_')} --help` first; ask before anything destructive.",
            ]
        )
        resolved.append(
            {
                "name": name,
                "description": description,
                "filePath": f"~/.openclaw/skills/{name}/SKILL.md",
                "baseDir": f"~/.openclaw/skills/{name}",
                "source": "openclaw-managed",
                "disableModelInvocation": False,
                "content": body,
            }
        )
    return resolved


def new_agent(
    agent_id: str, sessions_dir: Path, now_ms: int, rng: random.Random, seed: int
) -> Agent:
    snapshots = _skills_snapshots(rng, seed)
    tools: list[dict[str, Any]] = [
        {
            "name": name,
            "summaryChars": rng.randint(40, 220),
            "schemaChars": rng.randint(180, 2_400),
            "propertiesCount": rng.randint(1, 14),
        }
        for name in TOOL_NAMES
    ]
    skill_blocks = {
        snapshot["version"]: [
            {"name": skill["name"], "blockChars": len(_skill_block(seed, skill["name"]))}
            for skill in snapshot["skills"]
        ]
        for snapshot in snapshots
    }
    return Agent(agent_id, sessions_dir, now_ms, snapshots, tools, skill_blocks)


def _system_prompt_report(
    rng: random.Random,
    agent: Agent,
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
    tools = agent.tools
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
            "entries": agent.skill_blocks[skills_snapshot["version"]],
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


def grow_report(rng: random.Random, entry: dict[str, Any], target_bytes: int) -> None:
    """Pad the entry's report with MCP tools until the entry has ``target_bytes``, as
    reports of agents with large tool sets grew past 100 KB."""
    tools = entry["systemPromptReport"]["tools"]
    tool_entries: list[dict[str, Any]] = list(tools["entries"])
    tools["entries"] = tool_entries
    index = 0
    while len(orjson.dumps(entry, option=STORE_JSON)) < target_bytes:
        for _ in range(50):
            server = EXTRA_MCP_SERVERS[index % len(EXTRA_MCP_SERVERS)]
            cycle, action = divmod(index // len(EXTRA_MCP_SERVERS), len(MCP_ACTIONS))
            suffix = f"_{cycle + 1}" if cycle else ""
            tool_entries.append(
                {
                    "name": f"{server}{suffix}__{MCP_ACTIONS[action]}",
                    "summaryChars": rng.randint(40, 220),
                    "schemaChars": rng.randint(180, 2_400),
                    "propertiesCount": rng.randint(1, 14),
                    "description": " ".join(rng.choice(WORDS) for _ in range(40)),
                }
            )
            index += 1
    tools["listChars"] = sum(t["summaryChars"] for t in tool_entries)
    tools["schemaChars"] = sum(t["schemaChars"] for t in tool_entries)


# -- routes ------------------------------------------------------------------------------


def snowflake(rng: random.Random) -> str:
    return str(rng.randint(10**17, 10**19 - 1))


def _telegram_route(rng: random.Random, agent: Agent) -> Route:
    a = agent.agent_id
    if rng.random() < 0.5:
        user = rng.randint(10_000_000, 7_999_999_999)
        return Route(
            key=f"agent:{a}:telegram:direct:{user}",
            channel="telegram",
            chat_type="direct",
            to=f"telegram:{user}",
            account_id="default",
            display_name=f"{rng.choice(PEOPLE)} (Telegram)",
        )
    group = -(10**12) - rng.randint(10**9, 10**10)
    topic = rng.randint(2, 900)
    return telegram_topic(a, group, topic, rng.choice(LABELS))


def telegram_topic(agent_id: str, group: int, topic: int | str, label: str) -> Route:
    # Telegram topic ids are numbers; only hand-made or bridged ones are strings.
    return Route(
        key=f"agent:{agent_id}:telegram:group:{group}:topic:{topic}",
        channel="telegram",
        chat_type="group",
        to=f"telegram:{group}",
        account_id="default",
        thread_id=topic,
        label=label,
        display_name=f"telegram:{label} #{topic}",
        topic=True,
    )


def _discord_route(rng: random.Random, agent: Agent) -> Route:
    room = snowflake(rng)
    if rng.random() < 0.4:
        thread = snowflake(rng)
        return Route(
            key=f"agent:{agent.agent_id}:discord:channel:{room}:thread:{thread}",
            channel="discord",
            chat_type="channel",
            to=f"channel:{room}",
            account_id="default",
            thread_id=thread,
            label=rng.choice(LABELS),
        )
    return Route(
        key=f"agent:{agent.agent_id}:discord:channel:{room}",
        channel="discord",
        chat_type="channel",
        to=f"channel:{room}",
        account_id="default",
        display_name=f"discord:#{rng.choice(WORDS)}",
    )


def _slack_route(rng: random.Random, agent: Agent) -> Route:
    room = "c0" + "".join(rng.choices("abcdefghjkmnpqrstuvwxyz0123456789", k=9))
    ts = f"{rng.randint(1_760_000_000, 1_780_000_000)}.{rng.randint(0, 999_999):06d}"
    return Route(
        key=f"agent:{agent.agent_id}:slack:channel:{room}:thread:{ts}",
        channel="slack",
        chat_type="channel",
        to=f"channel:{room.upper()}",
        account_id="workspace",
        thread_id=ts,
        label=rng.choice(LABELS),
    )


def _whatsapp_route(rng: random.Random, agent: Agent) -> Route:
    if rng.random() < 0.7:
        phone = f"+{rng.choice([49, 33, 55, 81, 1])}{rng.randint(10**9, 10**10 - 1)}"
        return Route(
            key=f"agent:{agent.agent_id}:whatsapp:direct:{phone}",
            channel="whatsapp",
            chat_type="direct",
            to=phone,
            account_id="default",
            display_name=rng.choice(PEOPLE),
        )
    group = f"120363{rng.randint(10**11, 10**12 - 1)}@g.us"
    return Route(
        key=f"agent:{agent.agent_id}:whatsapp:group:{group}",
        channel="whatsapp",
        chat_type="group",
        to=group,
        account_id="default",
        label=rng.choice(LABELS),
    )


def _webchat_route(rng: random.Random, agent: Agent) -> Route:
    visitor = f"{rng.getrandbits(48):012x}"
    return Route(
        key=f"agent:{agent.agent_id}:webchat:direct:{visitor}",
        channel="webchat",
        chat_type="direct",
        to=f"webchat:{visitor}",
        account_id="default",
        display_name=f"Visitor {visitor[:4]}",
    )


def _subagent_route(rng: random.Random, agent: Agent) -> Route:
    nested = agent.subagents and rng.random() < 0.15
    parent, depth = (rng.choice(agent.subagents), 2) if nested else (agent.main_key, 1)
    key = f"agent:{agent.agent_id}:subagent:{random_uuid(rng)}"
    if depth == 1:
        agent.subagents.append(key)
    return Route(
        key=key,
        channel="webchat",
        chat_type="direct",
        to="webchat:owner",
        account_id="default",
        label=f"subagent: {rng.choice(SUBAGENT_TASKS)}",
        spawned_by=parent,
        spawn_depth=depth,
    )


def _cron_route(rng: random.Random, agent: Agent) -> Route:
    job = f"{rng.choice(CRON_JOBS)}-{rng.getrandbits(24):06x}"
    key = f"agent:{agent.agent_id}:cron:{job}"
    if rng.random() < 0.5:
        key += f":run:{random_uuid(rng)}"
    return Route(
        key=key,
        channel="webchat",
        chat_type="direct",
        to="webchat:owner",
        account_id="default",
        label=f"⏰ {job}",
    )


#: Route makers with their share of the sessions.
ROUTES: dict[Callable[[random.Random, Agent], Route], int] = {
    _telegram_route: 34,
    _discord_route: 18,
    _slack_route: 14,
    _whatsapp_route: 12,
    _webchat_route: 6,
    _subagent_route: 12,
    _cron_route: 4,
}


# -- entries -----------------------------------------------------------------------------


def random_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _recent_offset_ms(rng: random.Random) -> int:
    """How long ago a session was active: mostly recent, spread over the last 60 days."""
    days = min(rng.expovariate(1 / 9), HISTORY_DAYS - 0.01)
    return int(days * DAY_MS)


def _transcript_name(session_id: str, route: Route) -> str:
    if route.topic and route.thread_id is not None:
        # encodeURIComponent: what OpenClaw applies to string topic ids.
        return f"{session_id}-topic-{quote(str(route.thread_id), safe=URI_SAFE)}.jsonl"
    return f"{session_id}.jsonl"


def make_session(
    rng: random.Random,
    agent: Agent,
    route: Route,
    skills_snapshot: dict[str, Any] | None,
    *,
    updated_at: int | None = None,
    transcript: bool | None = None,
) -> Session:
    """One entry for ``route``, built in the field order OpenClaw writes."""
    session_id = random_uuid(rng)
    if updated_at is None:
        updated_at = agent.now_ms - _recent_offset_ms(rng)
    started_at = updated_at - rng.randint(60_000, 20 * DAY_MS)
    provider, model, context_tokens = rng.choice(MODELS)
    input_tokens = rng.randint(800, 180_000)
    output_tokens = rng.randint(50, 24_000)
    file_name = _transcript_name(session_id, route)
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
        "sessionStartedAt": started_at,
        "sessionFile": str(agent.sessions_dir / file_name),
        "systemSent": True,
        "abortedLastRun": rng.random() < 0.05,
        "chatType": route.chat_type,
        "channel": route.channel,
        "spawnedBy": route.spawned_by,
        "spawnDepth": route.spawn_depth,
        "label": route.label,
        "displayName": route.display_name,
        "groupId": route.to if route.chat_type != "direct" else None,
        "subject": route.label if route.chat_type == "group" else None,
        "thinkingLevel": rng.choice(THINKING_LEVELS),
        "verboseLevel": rng.choice(["off", "on"]),
        "reasoningLevel": rng.choice(["off", "on", "stream"]),
        "responseUsage": rng.choice(["off", "tokens", "full"]),
        "queueMode": rng.choice(["collect", "steer", "followup"]),
        "modelProvider": provider,
        "model": model,
        "inputTokens": input_tokens,
        "outputTokens": output_tokens,
        "totalTokens": input_tokens + output_tokens,
        "totalTokensFresh": rng.random() < 0.9,
        "contextTokens": context_tokens,
        "cacheRead": rng.randint(0, input_tokens),
        "cacheWrite": rng.randint(0, 20_000),
        "compactionCount": rng.choice([0, 0, 0, 1, 2, 5]),
        "lastChannel": route.channel,
        "lastTo": route.to,
        "lastAccountId": route.account_id,
        "lastThreadId": route.thread_id,
        "deliveryContext": delivery,
        "origin": {
            "label": route.label or route.display_name or route.key,
            "provider": route.channel,
            "surface": route.channel,
            "chatType": route.chat_type,
            "from": route.to,
            "to": route.to,
            "accountId": route.account_id,
            "threadId": route.thread_id,
        },
    }
    if skills_snapshot is not None:
        data["skillsSnapshot"] = skills_snapshot
        data["systemPromptReport"] = _system_prompt_report(
            rng, agent, route, session_id, updated_at, skills_snapshot
        )
    entry = {k: v for k, v in data.items() if v is not None}
    entry["origin"] = {k: v for k, v in entry["origin"].items() if v is not None}
    # Most sessions have a transcript; the rest point at one that was never written,
    # the case `openclaw sessions cleanup --fix-missing` is for.
    if transcript is None:
        transcript = rng.random() < TRANSCRIPT_SHARE
    plan = (
        Plan(file_name, session_id, started_at, updated_at, provider, model) if transcript else None
    )
    return Session(route.key, entry, plan)


def agent_sessions(
    rng: random.Random, agent: Agent, count: int, heavy_share: float
) -> list[Session]:
    """``count`` sessions with distinct keys, the agent's main session first."""
    current, older = agent.snapshots
    makers, weights = list(ROUTES), list(ROUTES.values())
    routes: list[Route] = []
    if count:
        routes.append(
            Route(agent.main_key, "webchat", "direct", "webchat:owner", "default", label="Main")
        )
    seen = {agent.main_key}
    while len(routes) < count:
        route = rng.choices(makers, weights)[0](rng, agent)
        if route.key not in seen:
            seen.add(route.key)
            routes.append(route)
    sessions = []
    for index, route in enumerate(routes):
        heavy = rng.random() < heavy_share or (index == 0 and heavy_share > 0)
        snapshot = (older if rng.random() < 0.1 else current) if heavy else None
        # The main session always has a transcript; others by TRANSCRIPT_SHARE.
        always = True if index == 0 else None
        sessions.append(make_session(rng, agent, route, snapshot, transcript=always))
    return sessions

"""Realistic, deterministic OpenClaw state directories for tests, benchmarks and demos.

:func:`generate_state_dir` writes what OpenClaw's JSON era leaves on disk: one
``agents/<agentId>/sessions/sessions.json`` per agent, serialised as OpenClaw does
(2-space indent, UTF-8, file ``0600`` in ``0700`` directories), next to the
``<sessionId>.jsonl`` transcripts its entries point at. Sessions come from Telegram
(direct chats and forum topics), Discord and Slack (channels and threads), WhatsApp,
webchat, sub-agent runs and cron jobs, dated over the last 60 days. Like real stores,
most of the bytes are two blobs: a ~40 KB ``skillsSnapshot`` whose prompt is shared by
most entries of an agent, and a ~15 KB ``systemPromptReport`` per run.

With ``messy=True`` it also plants the awkward cases an importer has to survive and
records each of them in the returned :class:`GeneratedStateDir`: mixed-case and
padded alias keys, legacy field names, ``resolvedSkills``, string and numeric thread
ids, non-Latin text, ~200 KB entries, unknown fields of every JSON type, an unsafe
``sessionId``, orphan transcripts, a legacy top-level store and a truncated store.

>>> import json, tempfile
>>> with tempfile.TemporaryDirectory() as tmp:
...     state = generate_state_dir(f"{tmp}/state", agents=("main",), sessions_per_agent=25)
...     store = json.loads(state.store_path("main").read_text(encoding="utf-8"))
...     len(store) == state.entries["main"], "agent:main:main" in store
(True, True)
"""

from __future__ import annotations

import functools
import os
import random
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

__all__ = ["DEFAULT_NOW_MS", "GeneratedStateDir", "generate_state_dir"]

#: The clock generated data is dated from unless ``now_ms`` is given: 2026-03-31T13:00:00Z.
DEFAULT_NOW_MS = 1_774_962_000_000

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
HISTORY_DAYS = 60
TRANSCRIPT_SHARE = 0.95
BROKEN_AGENT = "broken"
# normalizeAgentId's result: lowercase, at most 64 characters.
AGENT_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
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
APIS = {
    "anthropic": "anthropic-messages",
    "openai": "openai-responses",
    "google": "google-generative-ai",
    "openrouter": "openai-completions",
}
# USD per million input / output tokens; only the order of magnitude matters.
PRICES = {"anthropic": (5.0, 25.0), "openai": (1.25, 10.0), "google": (1.25, 10.0)}
DEFAULT_PRICE = (0.27, 1.1)
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
UNICODE_NAMES = [
    "👨‍👩‍👧‍👦 Family 🏡",
    "中文客服群 · 技术支持",
    "צוות פיתוח (Dev) ‏",
    "فريق الدعم 🌙",
    "\U0001d544\U0001d552\U0001d565\U0001d559 club ∑",  # mathematical letters, astral plane
    "école — e\u0301te\u0301",
    "ﾊﾝｶｸ ｶﾀｶﾅ ﾁｬｯﾄ",
    "한국어 스터디 🇰🇷",
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
USER_TEXTS = [
    "What's on my calendar today?",
    "Can you summarise the last thread in #ops?",
    "Remind me to call Ana at 6pm.",
    "Translate into German: the shipment is delayed by two days.",
    "Wie wird das Wetter morgen in Berlin?",
    "今日のタスクを教えて",
    "Draft a reply to the invoice email from Stripe.",
    "Did the nightly backup finish?",
    "Find the cheapest flight to Lisbon next Friday.",
    "What did we decide about the launch date?",
    "Résume-moi ce document en trois points.",
    "Open a Linear issue for the login bug on Android.",
]
ASSISTANT_TEXTS = [
    "Two meetings: 10:00 standup, 14:00 dentist.",
    "Done. I'll ping you at 18:00.",
    "Summary: the deploy was rolled back, the root cause is a stale cache key, "
    "and Farah is writing the post-mortem.",
    "Morgen in Berlin: 14 °C, leichter Regen am Nachmittag.",
    "The nightly backup finished at 03:12 (41.2 GB, no errors).",
    "Here is a draft:\n\n> Hi team, thanks for the reminder, payment goes out on Monday.",
    "Cheapest option: TAP, Fri 07:40 → 10:05, €89 including one bag.",
    "We agreed on 14 April, pending the security review.",
    "Voici les trois points clés : budget validé, recrutement gelé, lancement en mai.",
    "Created LIN-482 “Login fails on Android 15” and assigned it to Hiro.",
]
TOOL_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("web_search", {"query": "flights Lisbon Friday cheapest"}, "1. TAP 07:40 €89 …"),
    ("exec", {"command": "ls -lh ~/backups | tail -3"}, "-rw------- 1 me me 41G backup.tar"),
    ("read", {"path": "~/.openclaw/workspace/MEMORY.md"}, "# Memory\n- Ana prefers calls"),
    ("cron", {"action": "add", "schedule": "0 18 * * *"}, '{"ok":true,"id":"reminder"}'),
    ("linear__create_item", {"title": "Login fails on Android 15"}, '{"id":"LIN-482"}'),
    ("memory_search", {"query": "launch date decision"}, "2026-03-02: launch 14 April"),
]
# A few fields of every JSON type that OpenClaw does not know yet; JavaScript puts
# integer-like object keys first, in ascending order.
UNKNOWN_FIELDS: dict[str, Any] = {
    "futureObject": {
        "2": "two",
        "10": "ten",
        "nested": {"deeper": {"list": [1, -2.5, "three", None, True, False, [], {}]}},
        "emptyObject": {},
        "emptyArray": [],
    },
    "futureArray": [[1, 2], [0.125, None], {"k": "v"}, "", 0],
    "futureNull": None,
    "futureFloat": 0.875,
    "futureNegativeFloat": -1234.5,
    "futureTrue": True,
    "futureFalse": False,
    "futureZero": 0,
    "futureBigInt": 2**63 - 1,
    "futureNegativeBigInt": -(2**53 + 1),
    "futureString": "",
}


@dataclass(frozen=True)
class GeneratedStateDir:
    """What :func:`generate_state_dir` wrote. Counts cover the agents in ``agents``;
    the per-agent mappings have a key for each of them, empty when nothing was planted.
    """

    #: The state directory, resolved (the ``sessionFile`` paths start with it).
    state_dir: Path
    #: Agents with a valid ``sessions.json``.
    agents: tuple[str, ...]
    #: Agent -> keys written in its ``sessions.json``, before any normalisation.
    entries: dict[str, int]
    #: Agent -> transcript files written for its entries (orphans not included).
    transcripts: dict[str, int]
    #: Agent -> ``"type":"message"`` lines in those transcripts.
    messages: dict[str, int]
    #: Agents whose ``sessions.json`` is deliberately unparseable.
    corrupt_agents: tuple[str, ...]
    #: Agent -> keys whose entry fails OpenClaw's validation (unsafe ``sessionId``).
    invalid_keys: dict[str, tuple[str, ...]]
    #: Agent -> keys that trim and lowercase onto another key of the same store.
    alias_keys: dict[str, tuple[str, ...]]
    #: Agent -> transcript file names that no entry references.
    orphan_transcripts: dict[str, tuple[str, ...]]
    #: ``<state>/sessions/sessions.json`` of an old single-agent install, when written.
    legacy_store: Path | None

    def store_path(self, agent_id: str) -> Path:
        """``<state>/agents/<agent_id>/sessions/sessions.json``."""
        return self.state_dir / "agents" / agent_id / "sessions" / "sessions.json"


@dataclass(frozen=True, slots=True)
class _Route:
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


@dataclass(frozen=True, slots=True)
class _Plan:
    """The transcript a session gets: its file and the span and model it covers."""

    file_name: str
    session_id: str
    start_ms: int
    end_ms: int
    provider: str
    model: str


@dataclass(slots=True)
class _Session:
    key: str
    entry: dict[str, Any]
    plan: _Plan | None


@dataclass(slots=True)
class _Agent:
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


def _resolved_skills(seed: int, snapshot: dict[str, Any]) -> list[dict[str, Any]]:
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


def _new_agent(
    agent_id: str, sessions_dir: Path, now_ms: int, rng: random.Random, seed: int
) -> _Agent:
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
    return _Agent(agent_id, sessions_dir, now_ms, snapshots, tools, skill_blocks)


def _system_prompt_report(
    rng: random.Random,
    agent: _Agent,
    route: _Route,
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


def _grow_report(rng: random.Random, entry: dict[str, Any], target_bytes: int) -> None:
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


def _snowflake(rng: random.Random) -> str:
    return str(rng.randint(10**17, 10**19 - 1))


def _telegram_route(rng: random.Random, agent: _Agent) -> _Route:
    a = agent.agent_id
    if rng.random() < 0.5:
        user = rng.randint(10_000_000, 7_999_999_999)
        return _Route(
            key=f"agent:{a}:telegram:direct:{user}",
            channel="telegram",
            chat_type="direct",
            to=f"telegram:{user}",
            account_id="default",
            display_name=f"{rng.choice(PEOPLE)} (Telegram)",
        )
    group = -(10**12) - rng.randint(10**9, 10**10)
    topic = rng.randint(2, 900)
    return _telegram_topic(a, group, topic, rng.choice(LABELS))


def _telegram_topic(agent_id: str, group: int, topic: int | str, label: str) -> _Route:
    # Telegram topic ids are numbers; only hand-made or bridged ones are strings.
    return _Route(
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


def _discord_route(rng: random.Random, agent: _Agent) -> _Route:
    room = _snowflake(rng)
    if rng.random() < 0.4:
        thread = _snowflake(rng)
        return _Route(
            key=f"agent:{agent.agent_id}:discord:channel:{room}:thread:{thread}",
            channel="discord",
            chat_type="channel",
            to=f"channel:{room}",
            account_id="default",
            thread_id=thread,
            label=rng.choice(LABELS),
        )
    return _Route(
        key=f"agent:{agent.agent_id}:discord:channel:{room}",
        channel="discord",
        chat_type="channel",
        to=f"channel:{room}",
        account_id="default",
        display_name=f"discord:#{rng.choice(WORDS)}",
    )


def _slack_route(rng: random.Random, agent: _Agent) -> _Route:
    room = "c0" + "".join(rng.choices("abcdefghjkmnpqrstuvwxyz0123456789", k=9))
    ts = f"{rng.randint(1_760_000_000, 1_780_000_000)}.{rng.randint(0, 999_999):06d}"
    return _Route(
        key=f"agent:{agent.agent_id}:slack:channel:{room}:thread:{ts}",
        channel="slack",
        chat_type="channel",
        to=f"channel:{room.upper()}",
        account_id="workspace",
        thread_id=ts,
        label=rng.choice(LABELS),
    )


def _whatsapp_route(rng: random.Random, agent: _Agent) -> _Route:
    if rng.random() < 0.7:
        phone = f"+{rng.choice([49, 33, 55, 81, 1])}{rng.randint(10**9, 10**10 - 1)}"
        return _Route(
            key=f"agent:{agent.agent_id}:whatsapp:direct:{phone}",
            channel="whatsapp",
            chat_type="direct",
            to=phone,
            account_id="default",
            display_name=rng.choice(PEOPLE),
        )
    group = f"120363{rng.randint(10**11, 10**12 - 1)}@g.us"
    return _Route(
        key=f"agent:{agent.agent_id}:whatsapp:group:{group}",
        channel="whatsapp",
        chat_type="group",
        to=group,
        account_id="default",
        label=rng.choice(LABELS),
    )


def _webchat_route(rng: random.Random, agent: _Agent) -> _Route:
    visitor = f"{rng.getrandbits(48):012x}"
    return _Route(
        key=f"agent:{agent.agent_id}:webchat:direct:{visitor}",
        channel="webchat",
        chat_type="direct",
        to=f"webchat:{visitor}",
        account_id="default",
        display_name=f"Visitor {visitor[:4]}",
    )


def _subagent_route(rng: random.Random, agent: _Agent) -> _Route:
    nested = agent.subagents and rng.random() < 0.15
    parent, depth = (rng.choice(agent.subagents), 2) if nested else (agent.main_key, 1)
    key = f"agent:{agent.agent_id}:subagent:{_uuid(rng)}"
    if depth == 1:
        agent.subagents.append(key)
    return _Route(
        key=key,
        channel="webchat",
        chat_type="direct",
        to="webchat:owner",
        account_id="default",
        label=f"subagent: {rng.choice(SUBAGENT_TASKS)}",
        spawned_by=parent,
        spawn_depth=depth,
    )


def _cron_route(rng: random.Random, agent: _Agent) -> _Route:
    job = f"{rng.choice(CRON_JOBS)}-{rng.getrandbits(24):06x}"
    key = f"agent:{agent.agent_id}:cron:{job}"
    if rng.random() < 0.5:
        key += f":run:{_uuid(rng)}"
    return _Route(
        key=key,
        channel="webchat",
        chat_type="direct",
        to="webchat:owner",
        account_id="default",
        label=f"⏰ {job}",
    )


#: Route makers with their share of the sessions.
ROUTES: dict[Callable[[random.Random, _Agent], _Route], int] = {
    _telegram_route: 34,
    _discord_route: 18,
    _slack_route: 14,
    _whatsapp_route: 12,
    _webchat_route: 6,
    _subagent_route: 12,
    _cron_route: 4,
}


# -- entries -----------------------------------------------------------------------------


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _recent_offset_ms(rng: random.Random) -> int:
    """How long ago a session was active: mostly recent, spread over the last 60 days."""
    days = min(rng.expovariate(1 / 9), HISTORY_DAYS - 0.01)
    return int(days * DAY_MS)


def _transcript_name(session_id: str, route: _Route) -> str:
    if route.topic and route.thread_id is not None:
        # encodeURIComponent: what OpenClaw applies to string topic ids.
        return f"{session_id}-topic-{quote(str(route.thread_id), safe=URI_SAFE)}.jsonl"
    return f"{session_id}.jsonl"


def _session(
    rng: random.Random,
    agent: _Agent,
    route: _Route,
    skills_snapshot: dict[str, Any] | None,
    *,
    updated_at: int | None = None,
    transcript: bool | None = None,
) -> _Session:
    """One entry for ``route``, built in the field order OpenClaw writes."""
    session_id = _uuid(rng)
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
        _Plan(file_name, session_id, started_at, updated_at, provider, model)
        if transcript
        else None
    )
    return _Session(route.key, entry, plan)


def _agent_sessions(
    rng: random.Random, agent: _Agent, count: int, heavy_share: float
) -> list[_Session]:
    """``count`` sessions with distinct keys, the agent's main session first."""
    current, older = agent.snapshots
    makers, weights = list(ROUTES), list(ROUTES.values())
    routes: list[_Route] = []
    if count:
        routes.append(
            _Route(agent.main_key, "webchat", "direct", "webchat:owner", "default", label="Main")
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
        sessions.append(_session(rng, agent, route, snapshot, transcript=always))
    return sessions


# -- transcripts -------------------------------------------------------------------------


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def _usage(rng: random.Random, provider: str) -> dict[str, Any]:
    price_in, price_out = PRICES.get(provider, DEFAULT_PRICE)
    tokens_in = rng.randint(800, 60_000)
    tokens_out = rng.randint(20, 2_000)
    cache_read = rng.randint(0, tokens_in)
    cost_in = round(tokens_in * price_in / 1e6, 6)
    cost_out = round(tokens_out * price_out / 1e6, 6)
    cost_read = round(cache_read * price_in / 1e7, 6)
    return {
        "input": tokens_in,
        "output": tokens_out,
        "cacheRead": cache_read,
        "cacheWrite": 0,
        "totalTokens": tokens_in + tokens_out + cache_read,
        "cost": {
            "input": cost_in,
            "output": cost_out,
            "cacheRead": cost_read,
            "cacheWrite": 0,
            "total": round(cost_in + cost_out + cost_read, 6),
        },
    }


def _transcript(rng: random.Random, plan: _Plan, count: int, cwd: str) -> bytes:
    """A v3 transcript: header, optional model bookkeeping, then ``count`` messages
    (user turns, assistant replies, sometimes a tool call and its result)."""
    lo = max(plan.start_ms + 1_000, plan.end_ms - 2 * DAY_MS)
    times = sorted(rng.randint(min(lo, plan.end_ms), plan.end_ms) for _ in range(count))
    lines: list[dict[str, Any]] = [
        {
            "type": "session",
            "version": 3,
            "id": plan.session_id,
            "timestamp": _iso(plan.start_ms),
            "cwd": cwd,
        }
    ]
    parent: str | None = None

    def add(entry_type: str, timestamp: int, **fields: Any) -> None:
        nonlocal parent
        entry_id = f"{rng.getrandbits(32):08x}"
        lines.append(
            {
                "type": entry_type,
                "id": entry_id,
                "parentId": parent,
                "timestamp": _iso(timestamp),
                **fields,
            }
        )
        parent = entry_id

    if rng.random() < 0.3:
        add("model_change", plan.start_ms, provider=plan.provider, modelId=plan.model)
    api = APIS.get(plan.provider, "openai-completions")
    previous = "assistant"
    pending_tool: tuple[str, dict[str, Any], str] | None = None
    call_id = ""
    for index, ms in enumerate(times):
        message: dict[str, Any]
        if pending_tool is not None:
            name, _, result = pending_tool
            message = {
                "role": "toolResult",
                "toolCallId": call_id,
                "toolName": name,
                "content": [{"type": "text", "text": result}],
                "isError": False,
                "timestamp": ms,
            }
            pending_tool, previous = None, "toolResult"
        elif previous == "assistant":
            message = {
                "role": "user",
                "content": [{"type": "text", "text": rng.choice(USER_TEXTS)}],
                "timestamp": ms,
            }
            previous = "user"
        else:
            content: list[dict[str, Any]] = []
            if plan.provider == "anthropic" and rng.random() < 0.3:
                content.append({"type": "thinking", "thinking": "Checking what was asked."})
            # A tool call needs room for its result and a final reply.
            if previous == "user" and index + 2 < count and rng.random() < 0.25:
                pending_tool = rng.choice(TOOL_CALLS)
                call_id = f"call_{rng.getrandbits(64):016x}"
                content.append(
                    {
                        "type": "toolCall",
                        "id": call_id,
                        "name": pending_tool[0],
                        "arguments": pending_tool[1],
                    }
                )
                stop = "toolUse"
            else:
                content.append({"type": "text", "text": rng.choice(ASSISTANT_TEXTS)})
                stop = "stop"
            message = {
                "role": "assistant",
                "content": content,
                "api": api,
                "provider": plan.provider,
                "model": plan.model,
                "usage": _usage(rng, plan.provider),
                "stopReason": stop,
                "timestamp": ms,
            }
            previous = "assistant" if pending_tool is None else "toolCall"
        add("message", ms, message=message)
    # JSON.stringify(entry) + "\n" per line: compact, raw UTF-8.
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


# -- files -------------------------------------------------------------------------------


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask


def _write_private(path: Path, data: bytes) -> None:
    # O_EXCL: the state dir started empty, so an existing file means a bug, not data to replace.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(fd, 0o600)  # the mode given to open is filtered by the umask
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def _dump_store(sessions: list[_Session]) -> bytes:
    store = {s.key: s.entry for s in sessions}
    if len(store) != len(sessions):
        raise AssertionError("generated duplicate session keys")
    return orjson.dumps(store, option=STORE_JSON)


def _write_transcripts(
    rng: random.Random,
    sessions: list[_Session],
    directory: Path,
    cwd: str,
    messages_per_session: tuple[int, int],
) -> tuple[int, int]:
    """Write the planned transcripts; returns (files, message lines)."""
    files = messages = 0
    for session in sessions:
        if session.plan is None:
            continue
        count = rng.randint(*messages_per_session)
        _write_private(
            directory / session.plan.file_name, _transcript(rng, session.plan, count, cwd)
        )
        files += 1
        messages += count
    return files, messages


# -- messy extras ------------------------------------------------------------------------


def _rename(entry: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """``entry`` with field ``old`` renamed to ``new`` in place of the original."""
    return {(new if k == old else k): v for k, v in entry.items()}


def _legacy_names(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as written before ``channel``/``lastChannel`` and ``deliveryContext``."""
    old = _rename(_rename(entry, "channel", "provider"), "lastChannel", "lastProvider")
    del old["deliveryContext"]
    return old


@dataclass(slots=True)
class _Planted:
    groups: list[list[_Session]] = field(default_factory=list)
    alias_keys: list[str] = field(default_factory=list)
    invalid_keys: list[str] = field(default_factory=list)


def _plant_messy(rng: random.Random, agent: _Agent, seed: int) -> _Planted:
    """The awkward entries of one agent, each group to be placed at a random position."""
    a, now = agent.agent_id, agent.now_ms
    current, _ = agent.snapshots
    planted = _Planted()

    def webchat(peer: str, **kwargs: Any) -> _Route:
        return _Route(
            f"agent:{a}:webchat:direct:{peer}",
            "webchat",
            "direct",
            f"webchat:{peer}",
            "default",
            **kwargs,
        )

    # Alias keys: trim + lowercase maps them onto a twin with another updatedAt.
    twins = [
        (
            webchat("mixed-user"),
            f"Agent:{a.capitalize()}:WebChat:DM:MiXeD-User",
            f"agent:{a}:webchat:dm:mixed-user",
        ),
        (
            _Route(
                f"agent:{a}:telegram:direct:555000123",
                "telegram",
                "direct",
                "telegram:555000123",
                "default",
                display_name="Hiro (Telegram)",
            ),
            f"AGENT:{a.upper()}:TELEGRAM:DIRECT:555000123",
            None,
        ),
        (
            _Route(
                f"agent:{a}:slack:channel:c0messy0001",
                "slack",
                "channel",
                "channel:C0MESSY0001",
                "workspace",
                label="Backlog grooming",
            ),
            f"  agent:{a}:slack:channel:c0messy0001 ",
            None,
        ),
    ]
    for index, (route, alias, twin_key) in enumerate(twins):
        newer = now - rng.randint(HOUR_MS, 5 * DAY_MS)
        older = newer - rng.randint(HOUR_MS, 5 * DAY_MS)
        alias_newer = index != 1  # the freshest of the two wins, whichever key it has
        twin_route = replace(route, key=twin_key or route.key)
        alias_route = replace(route, key=alias)
        pair = [
            _session(rng, agent, twin_route, None, updated_at=older if alias_newer else newer),
            _session(rng, agent, alias_route, None, updated_at=newer if alias_newer else older),
        ]
        planted.groups.append(pair)
        planted.alias_keys.append(alias)

    # Legacy field names from early 2026: provider, lastProvider, room.
    old = _session(
        rng,
        agent,
        _Route(
            f"agent:{a}:telegram:dm:424242",
            "telegram",
            "direct",
            "telegram:424242",
            "default",
            display_name="Ines",
        ),
        None,
    )
    old.entry = _legacy_names(old.entry)
    room = _session(
        rng,
        agent,
        _Route(
            f"agent:{a}:discord:channel:{_snowflake(rng)}",
            "discord",
            "channel",
            "channel:general",
            "default",
            display_name="discord:#general",
        ),
        None,
    )
    room.entry["room"] = "#general"
    both = _session(rng, agent, webchat("legacy-and-new"), None)
    both.entry["provider"] = both.entry["channel"]
    both.entry["lastProvider"] = both.entry["lastChannel"]
    planted.groups += [[old], [room], [both]]

    # resolvedSkills: full skill bodies that May's loader strips (~90 KB per entry).
    resolved = {**current, "resolvedSkills": _resolved_skills(seed, current)}
    for peer in ("resolved-skills-1", "resolved-skills-2"):
        planted.groups.append([_session(rng, agent, webchat(peer), resolved)])

    # Thread ids: a numeric-looking string and a string topic that needs URL-encoding.
    group = -1_001_234_567_890
    for topic in ("77", "topic/a+b"):
        planted.groups.append(
            [_session(rng, agent, _telegram_topic(a, group, topic, "Strings"), current)]
        )

    # Non-Latin text: emoji with joiners, CJK, right-to-left, combining marks.
    for index, name in enumerate(UNICODE_NAMES):
        route = webchat(
            "访客-7" if index == 1 else f"unicode-{index}", label=name, display_name=name
        )
        planted.groups.append([_session(rng, agent, route, None)])

    # ~200 KB entries: a systemPromptReport with a very large tool set.
    for peer in ("big-report-1", "big-report-2"):
        big = _session(rng, agent, webchat(peer), current)
        _grow_report(rng, big.entry, 185_000)
        planted.groups.append([big])

    # Fields OpenClaw adds later or never had; all must round-trip with their JSON types.
    unknown = _session(rng, agent, webchat("unknown-fields"), None)
    unknown.entry.update(UNKNOWN_FIELDS)
    late = _session(rng, agent, webchat("late-fields"), current)
    late.entry.update(
        {
            "archivedAt": now - DAY_MS,
            "pinnedAt": now - 3 * DAY_MS,
            "lastReadAt": now - HOUR_MS,
            "category": "personal",
            "status": "idle",
            "acp": {
                "backend": "acpx",
                "agent": "codex",
                "runtimeSessionName": f"acp-{_uuid(rng)[:8]}",
                "mode": "persistent",
                "state": "idle",
                "lastActivityAt": now - HOUR_MS,
            },
            "pluginExtensions": {"memory-lancedb": {"recalls": 12, "lastScore": 0.5}},
        }
    )
    planted.groups += [[unknown], [late]]

    # An unsafe sessionId OpenClaw rejects; no transcript or sessionFile for it.
    unsafe_key = f"agent:{a}:webchat:direct:path-traversal"
    planted.groups.append(
        [
            _Session(
                unsafe_key,
                {
                    "sessionId": "../etc/passwd",
                    "updatedAt": now - 2 * HOUR_MS,
                    "chatType": "direct",
                    "channel": "webchat",
                    "label": "unsafe session id",
                },
                None,
            )
        ]
    )
    planted.invalid_keys.append(unsafe_key)
    return planted


def _legacy_sessions(rng: random.Random, agent: _Agent) -> list[_Session]:
    """A single-agent store from early 2026: lean entries, legacy names, old ``:dm:`` keys."""
    routes = [
        _Route("global", "webchat", "direct", "webchat:owner", "default", label="Global"),
        _Route(agent.main_key, "webchat", "direct", "webchat:owner", "default", label="Main"),
        _Route(
            "agent:main:telegram:dm:987654321",
            "telegram",
            "direct",
            "telegram:987654321",
            "default",
            display_name="Björn (Telegram)",
        ),
        _Route(
            "agent:main:whatsapp:direct:+4915112345678",
            "whatsapp",
            "direct",
            "+4915112345678",
            "default",
            display_name="Giulia",
        ),
    ]
    sessions = []
    for route in routes:
        updated_at = agent.now_ms - rng.randint((HISTORY_DAYS + 1) * DAY_MS, 120 * DAY_MS)
        session = _session(rng, agent, route, None, updated_at=updated_at)
        session.entry = _legacy_names(session.entry)
        sessions.append(session)
    return sessions


# -- public API --------------------------------------------------------------------------


def generate_state_dir(
    state_dir: str | os.PathLike[str],
    *,
    agents: Sequence[str] = ("main", "work", "family"),
    sessions_per_agent: int = 1000,
    seed: int = 20250401,
    now_ms: int | None = None,
    heavy_share: float = 0.7,
    transcripts: bool = True,
    messages_per_session: tuple[int, int] = (2, 12),
    messy: bool = False,
) -> GeneratedStateDir:
    """Write a realistic OpenClaw state directory at ``state_dir`` and describe it.

    ``state_dir`` must be missing or empty; nothing outside it is touched. Output is
    byte-for-byte the same for the same arguments and location (``sessionFile`` paths
    are absolute, as OpenClaw writes them). Each agent has its own random stream, so
    adding an agent, or ``messy``, leaves the other sessions unchanged.

    - ``sessions_per_agent`` regular sessions per agent, ``agent:<id>:main`` first;
      ``messy`` adds its planted entries on top.
    - ``heavy_share``: share of entries carrying ``skillsSnapshot`` (most share one
      ~40 KB prompt string per agent, some an older one) and a ~15 KB
      ``systemPromptReport``.
    - ``transcripts``: write ``<sessionId>.jsonl`` (``<sessionId>-topic-<id>.jsonl`` for
      Telegram topics) for about 95 % of the sessions; the rest point at a transcript
      that does not exist, as after a crash or hand cleanup. Each has a v3 header and a
      number of messages drawn from ``messages_per_session`` (inclusive).
    - ``messy``: in every agent, three alias keys (mixed case or surrounding spaces,
      next to their lowercase twin with another ``updatedAt``), legacy ``provider`` /
      ``lastProvider`` / ``room`` fields, two entries with ``resolvedSkills``, Telegram
      topics with string ids, non-Latin labels, two ~200 KB entries, unknown fields of
      every JSON type plus late fields (``acp``, ``archivedAt``…), an entry whose
      ``sessionId`` is ``../etc/passwd`` and two orphan transcripts. Besides: a legacy
      ``<state>/sessions/sessions.json`` (a ``global`` key and a few ``agent:main:…``
      keys, one of them also in the main agent's store, with transcripts beside it),
      and an agent named ``broken`` whose store is cut off mid-document.
    """
    agent_ids = tuple(agents)
    for agent_id in agent_ids:
        if not AGENT_ID_RE.fullmatch(agent_id):
            raise ValueError(f"not a normalised OpenClaw agent id: {agent_id!r}")
    if len(set(agent_ids)) != len(agent_ids):
        raise ValueError(f"duplicate agent ids: {agent_ids!r}")
    if messy and BROKEN_AGENT in agent_ids:
        raise ValueError(f"{BROKEN_AGENT!r} is reserved for the corrupt store when messy=True")
    if sessions_per_agent < 0:
        raise ValueError("sessions_per_agent must not be negative")
    if not 0.0 <= heavy_share <= 1.0:
        raise ValueError("heavy_share must be between 0 and 1")
    low, high = messages_per_session
    if not 0 <= low <= high:
        raise ValueError("messages_per_session must be (low, high) with 0 <= low <= high")
    now = DEFAULT_NOW_MS if now_ms is None else now_ms

    root = Path(state_dir)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"state directory is not empty: {root}")
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    root = root.resolve()
    cwd = str(root / "workspace")
    _private_dir(root / "agents")

    def new_agent(agent_id: str, sessions_dir: Path, rng: random.Random) -> _Agent:
        return _new_agent(agent_id, sessions_dir, now, rng, seed)

    def agent_dir(agent_id: str) -> Path:
        _private_dir(root / "agents" / agent_id)
        sessions_dir = root / "agents" / agent_id / "sessions"
        _private_dir(sessions_dir)
        return sessions_dir

    entries: dict[str, int] = {}
    files: dict[str, int] = {}
    messages: dict[str, int] = {}
    invalid: dict[str, tuple[str, ...]] = {}
    aliases: dict[str, tuple[str, ...]] = {}
    orphans: dict[str, tuple[str, ...]] = {}
    for agent_id in agent_ids:
        sessions_dir = agent_dir(agent_id)
        rng = random.Random(f"{seed}:{agent_id}")
        agent = new_agent(agent_id, sessions_dir, rng)
        sessions = _agent_sessions(rng, agent, sessions_per_agent, heavy_share)
        invalid[agent_id] = aliases[agent_id] = orphans[agent_id] = ()
        if messy:
            messy_rng = random.Random(f"{seed}:{agent_id}:messy")
            planted = _plant_messy(messy_rng, agent, seed)
            for group in planted.groups:
                # Never before the main session, which stays first.
                position = messy_rng.randint(min(1, len(sessions)), len(sessions))
                sessions[position:position] = group
            invalid[agent_id] = tuple(planted.invalid_keys)
            aliases[agent_id] = tuple(planted.alias_keys)
            orphan_plans = [
                _Plan(f"{sid}.jsonl", sid, now - 9 * DAY_MS, now - 8 * DAY_MS, *MODELS[0][:2])
                for sid in (_uuid(messy_rng), _uuid(messy_rng))
            ]
            for plan in orphan_plans:
                _write_private(sessions_dir / plan.file_name, _transcript(messy_rng, plan, 2, cwd))
            orphans[agent_id] = tuple(plan.file_name for plan in orphan_plans)
        _write_private(sessions_dir / "sessions.json", _dump_store(sessions))
        entries[agent_id] = len(sessions)
        files[agent_id] = messages[agent_id] = 0
        if transcripts:
            files[agent_id], messages[agent_id] = _write_transcripts(
                random.Random(f"{seed}:{agent_id}:transcripts"),
                sessions,
                sessions_dir,
                cwd,
                messages_per_session,
            )

    corrupt: tuple[str, ...] = ()
    legacy_store: Path | None = None
    if messy:
        # A store cut off mid-document, as a full disk or a copy interrupted leaves it.
        rng = random.Random(f"{seed}:{BROKEN_AGENT}")
        sessions_dir = agent_dir(BROKEN_AGENT)
        broken = _agent_sessions(rng, new_agent(BROKEN_AGENT, sessions_dir, rng), 8, heavy_share)
        raw = _dump_store(broken)
        cut = raw[: len(raw) * 2 // 3].decode("utf-8", "ignore").encode("utf-8")
        _write_private(sessions_dir / "sessions.json", cut)
        corrupt = (BROKEN_AGENT,)

        legacy_dir = root / "sessions"
        _private_dir(legacy_dir)
        rng = random.Random(f"{seed}:legacy")
        legacy = _legacy_sessions(rng, new_agent("main", legacy_dir, rng))
        legacy_store = legacy_dir / "sessions.json"
        _write_private(legacy_store, _dump_store(legacy))
        if transcripts:
            _write_transcripts(rng, legacy, legacy_dir, cwd, messages_per_session)

    return GeneratedStateDir(
        state_dir=root,
        agents=agent_ids,
        entries=entries,
        transcripts=files,
        messages=messages,
        corrupt_agents=corrupt,
        invalid_keys=invalid,
        alias_keys=aliases,
        orphan_transcripts=orphans,
        legacy_store=legacy_store,
    )

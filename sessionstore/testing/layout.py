"""Realistic, deterministic OpenClaw state directories, written to disk.

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

import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from sessionstore.testing.clock import DAY_MS, DEFAULT_NOW_MS
from sessionstore.testing.entries import (
    MODELS,
    STORE_JSON,
    Agent,
    Session,
    agent_sessions,
    new_agent,
    random_uuid,
)
from sessionstore.testing.messy import legacy_sessions, plant_messy
from sessionstore.testing.transcripts import Plan, render_transcript

__all__ = ["GeneratedStateDir", "generate_state_dir"]

BROKEN_AGENT = "broken"
# normalizeAgentId's result: lowercase, at most 64 characters.
AGENT_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


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


def _dump_store(sessions: list[Session]) -> bytes:
    store = {s.key: s.entry for s in sessions}
    if len(store) != len(sessions):
        raise AssertionError("generated duplicate session keys")
    return orjson.dumps(store, option=STORE_JSON)


def _write_transcripts(
    rng: random.Random,
    sessions: list[Session],
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
            directory / session.plan.file_name, render_transcript(rng, session.plan, count, cwd)
        )
        files += 1
        messages += count
    return files, messages


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

    def make_agent(agent_id: str, sessions_dir: Path, rng: random.Random) -> Agent:
        return new_agent(agent_id, sessions_dir, now, rng, seed)

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
        agent = make_agent(agent_id, sessions_dir, rng)
        sessions = agent_sessions(rng, agent, sessions_per_agent, heavy_share)
        invalid[agent_id] = aliases[agent_id] = orphans[agent_id] = ()
        if messy:
            messy_rng = random.Random(f"{seed}:{agent_id}:messy")
            planted = plant_messy(messy_rng, agent, seed)
            for group in planted.groups:
                # Never before the main session, which stays first.
                position = messy_rng.randint(min(1, len(sessions)), len(sessions))
                sessions[position:position] = group
            invalid[agent_id] = tuple(planted.invalid_keys)
            aliases[agent_id] = tuple(planted.alias_keys)
            orphan_plans = [
                Plan(f"{sid}.jsonl", sid, now - 9 * DAY_MS, now - 8 * DAY_MS, *MODELS[0][:2])
                for sid in (random_uuid(messy_rng), random_uuid(messy_rng))
            ]
            for plan in orphan_plans:
                _write_private(
                    sessions_dir / plan.file_name, render_transcript(messy_rng, plan, 2, cwd)
                )
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
        broken = agent_sessions(rng, make_agent(BROKEN_AGENT, sessions_dir, rng), 8, heavy_share)
        raw = _dump_store(broken)
        cut = raw[: len(raw) * 2 // 3].decode("utf-8", "ignore").encode("utf-8")
        _write_private(sessions_dir / "sessions.json", cut)
        corrupt = (BROKEN_AGENT,)

        legacy_dir = root / "sessions"
        _private_dir(legacy_dir)
        rng = random.Random(f"{seed}:legacy")
        legacy = legacy_sessions(rng, make_agent("main", legacy_dir, rng))
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

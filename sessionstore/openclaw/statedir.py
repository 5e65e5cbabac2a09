"""Reading an OpenClaw state directory, with OpenClaw's normalisation on import.

Layout: ``<state>/agents/<agentId>/sessions/sessions.json`` per agent, plus the legacy
single-agent store ``<state>/sessions/sessions.json``, whose keys are split per agent
by their ``agent:<id>:`` prefix (other keys, such as ``global``, belong to ``main``).
Nothing here writes to the state directory.

>>> source = normalise_entries([
...     (" Agent:Main:Main ", {"sessionId": "s1", "updatedAt": 1, "provider": "telegram"}),
...     ("agent:main:main", {"sessionId": "s2", "updatedAt": 2}),
... ])
>>> source.entries
{'agent:main:main': {'sessionId': 's2', 'updatedAt': 2}}
>>> for change in source.changes:
...     print(change)
' Agent:Main:Main ': provider -> channel
' Agent:Main:Main ': collapsed into 'agent:main:main' (an older alias)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyjson5

from sessionstore.entry import (
    SessionEntry,
    json_number,
    timestamp_of,
    validate_agent_id,
    validate_key,
)
from sessionstore.errors import CorruptStoreError, InvalidEntryError, StoreUnavailableError
from sessionstore.openclaw.agentdb import AgentDatabase, database_path
from sessionstore.openclaw.skillprompts import PromptBlobs
from sessionstore.openclaw.storefile import (
    BOM,
    MAX_STORE_BYTES,
    DuplicateKeyError,
    parse_store_text,
    read_store_bytes,
)

__all__ = [
    "DEFAULT_AGENT_ID",
    "AgentSource",
    "NormalisedStore",
    "agent_of_key",
    "agent_of_store_path",
    "discover_agents",
    "legacy_store_path",
    "load_agent",
    "normalise_agent_id",
    "normalise_entries",
    "normalise_key",
    "read_store_file",
    "sessions_dir",
    "store_path",
    "store_pattern",
]

#: The agent of keys that name none (``global``, ``cron:<job>``) and of old installs.
DEFAULT_AGENT_ID = "main"
# (legacy name, current name): OpenClaw's store migrations, applied on every load.
_LEGACY_RENAMES = (("provider", "channel"), ("lastProvider", "lastChannel"))
_INVALID_AGENT_CHARS = re.compile(r"[^a-z0-9_-]+")
_VALID_AGENT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}", re.IGNORECASE | re.ASCII)
#: What JavaScript's ``trim`` removes: its WhiteSpace and LineTerminator characters.
_JS_WHITESPACE = (
    "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
#: A JavaScript ``/…/i`` pattern: ASCII letters match their other case, nothing else.
_JS_IGNORECASE = re.IGNORECASE | re.ASCII
#: OpenClaw's ``CASE_PRESERVING_PEERS``: (channel, peer kinds, what keeps its case).
#: ``segment``: the one ``:``-free segment after ``<channel>:<kind>:``; ``tail``:
#: everything after it, but for a ``:thread:`` marker.
_CASE_PRESERVING_PEERS = (
    ("signal", ("group",), "segment"),
    ("matrix", ("channel", "group"), "tail"),
)


def sessions_dir(state_dir: str | os.PathLike[str], agent_id: str) -> Path:
    """``<state>/agents/<agent_id>/sessions``: the agent's store and transcripts.

    >>> sessions_dir("/srv/openclaw", "main").as_posix()
    '/srv/openclaw/agents/main/sessions'
    """
    return Path(state_dir).expanduser() / "agents" / validate_agent_id(agent_id) / "sessions"


def store_path(state_dir: str | os.PathLike[str], agent_id: str) -> Path:
    """The agent's ``sessions.json``."""
    return sessions_dir(state_dir, agent_id) / "sessions.json"


def store_pattern(state_dir: str | os.PathLike[str]) -> Path:
    """Every agent's ``sessions.json`` as one glob pattern (for messages).

    >>> store_pattern("/srv/openclaw").as_posix()
    '/srv/openclaw/agents/*/sessions/sessions.json'
    """
    return Path(state_dir).expanduser() / "agents" / "*" / "sessions" / "sessions.json"


def legacy_store_path(state_dir: str | os.PathLike[str]) -> Path:
    """The top-level store of old single-agent installs."""
    return Path(state_dir) / "sessions" / "sessions.json"


def normalise_agent_id(name: str) -> str:
    """OpenClaw's ``normalizeAgentId``: lowercase ``[a-z0-9_-]``, other runs collapsed to
    ``-`` and dashes stripped from the ends, then cut to 64 characters; empty becomes
    ``main``.

    >>> normalise_agent_id("Work Bot!")
    'work-bot'
    """
    trimmed = _js_trim(name)
    if _VALID_AGENT_ID.fullmatch(trimmed):
        return trimmed.lower()
    cleaned = _INVALID_AGENT_CHARS.sub("-", trimmed.lower()).strip("-")[:64]
    return cleaned or DEFAULT_AGENT_ID


def agent_of_store_path(path: str | os.PathLike[str]) -> str | None:
    """The agent whose store this is, from its place in a state directory
    (``…/agents/<id>/sessions/sessions.json``); ``None`` elsewhere.

    >>> agent_of_store_path("/srv/state/agents/work/sessions/sessions.json")
    'work'
    """
    parts = Path(path).parts
    if len(parts) >= 4 and parts[-4] == "agents" and parts[-2] == "sessions":
        agent_id = parts[-3]
        return agent_id if normalise_agent_id(agent_id) == agent_id else None
    return None


def _js_trim(text: str) -> str:
    """JavaScript's ``String.prototype.trim`` (its whitespace is not Python's)."""
    return text.strip(_JS_WHITESPACE)


def _units(text: str) -> str:
    """``text`` as UTF-16 code units, one character each, so that offsets are
    JavaScript's (a character outside the BMP counts two)."""
    if max(text, default="") < "\U00010000":
        return text  # every character is one code unit already
    data = text.encode("utf-16-le", "surrogatepass")
    return "".join(chr(int.from_bytes(data[i : i + 2], "little")) for i in range(0, len(data), 2))


def _text(units: str) -> str:
    """The string that UTF-16 code units spell (the inverse of :func:`_units`)."""
    if not _SURROGATE.search(units):
        return units
    data = b"".join(ord(unit).to_bytes(2, "little") for unit in units)
    return data.decode("utf-16-le", "surrogatepass")


def _js_lower(units: str) -> str:
    """JavaScript's ``toLowerCase`` of a run of code units, as code units."""
    return _units(_text(units).lower())


def _preserved_spans(raw: str) -> list[tuple[int, int, bool]]:
    """OpenClaw's ``collectCasePreservedSpans``: (start, end, trim) of each opaque peer
    id in ``raw`` (code units) whose case is kept."""
    spans: list[tuple[int, int, bool]] = []

    def tail(start: int) -> None:
        if start >= len(raw):
            return
        marker = _js_lower(_js_trim(raw[start:])).rfind(":thread:")
        if marker == -1:
            spans.append((start, len(raw), False))
            return
        spans.append((start, start + marker, False))
        if start + marker + 8 < len(raw):
            spans.append((start + marker + 8, len(raw), False))

    for channel, kinds, span in _CASE_PRESERVING_PEERS:
        for kind in kinds:
            if span == "segment":
                pattern = re.compile(rf"(^|:){channel}:{kind}:([^:]+)", _JS_IGNORECASE)
                spans.extend((m.start(2), m.end(2), True) for m in pattern.finditer(raw))
                continue
            prefix = re.match(rf"(?:(?:agent:[^:]*:)+:*)?{channel}:{kind}:", raw, _JS_IGNORECASE)
            if prefix:
                tail(prefix.end())
    return spans


def normalise_key(key: str) -> str:
    """OpenClaw's ``normalizeStoreSessionKey``: trimmed and lowercased, except the
    opaque peer ids whose case is meaningful (Matrix rooms after ``matrix:channel:`` or
    ``matrix:group:``, and their thread ids; Signal groups after ``signal:group:``).

    >>> normalise_key(" Agent:Main:Matrix:Channel:!AbCdEf:matrix.org ")
    'agent:main:matrix:channel:!AbCdEf:matrix.org'
    >>> normalise_key("Agent:Main:Slack:Channel:C0AbCdEf")
    'agent:main:slack:channel:c0abcdef'
    """
    raw = _js_trim(key)
    lowered = raw.lower()
    if not any(f"{channel}:" in lowered for channel, _, _ in _CASE_PRESERVING_PEERS):
        return lowered
    units = _units(raw)
    normalised, cursor = "", 0
    for start, end, trim in sorted(
        (span for span in _preserved_spans(units) if span[1] > span[0]), key=lambda s: s[0]
    ):
        if start < cursor:
            continue
        kept = units[start:end]
        normalised += _js_lower(_js_trim(units[cursor:start])) + (_js_trim(kept) if trim else kept)
        cursor = end
    return _text(normalised + _js_lower(_js_trim(units[cursor:])))


def _thread_suffix(key: str) -> tuple[str, str | None]:
    """OpenClaw's ``parseThreadSessionSuffix``: (the key before its last ``:thread:``,
    the thread id after it, trimmed, or ``None``)."""
    raw = _js_trim(key)
    marker = raw.lower().rfind(":thread:")
    if marker == -1:
        return raw, None
    return raw[:marker], _js_trim(raw[marker + 8 :]) or None


def _delivery_targets(entry: Mapping[str, Any]) -> list[str]:
    """OpenClaw's ``entryDeliveryTargets``: where the entry delivers, each from its
    first ``!`` or ``#`` on (a Matrix room), in the case the channel gave it."""
    context, origin = entry.get("deliveryContext"), entry.get("origin")
    values = [
        context.get("to") if isinstance(context, dict) else None,
        entry.get("lastTo"),
        origin.get("nativeChannelId") if isinstance(origin, dict) else None,
        origin.get("to") if isinstance(origin, dict) else None,
        entry.get("groupId"),
    ]
    targets = []
    for value in values:
        if isinstance(value, str) and (target := _js_trim(value)):
            sigils = [i for i in (target.find("!"), target.find("#")) if i >= 0]
            targets.append(target[min(sigils) :] if sigils else target)
    return targets


def _entry_thread_id(entry: Mapping[str, Any]) -> str:
    """OpenClaw's ``entryThreadId``: the thread the entry delivers to, as a string."""
    context, origin = entry.get("deliveryContext"), entry.get("origin")
    for value in (
        context.get("threadId") if isinstance(context, dict) else None,
        entry.get("lastThreadId"),
        origin.get("threadId") if isinstance(origin, dict) else None,
    ):
        if value is None:
            continue
        if isinstance(value, str):
            return _js_trim(value)
        if isinstance(value, float) and value.is_integer():
            return str(int(value))  # JavaScript's String(42.0) is "42"
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else ""
    return ""


def _room_key_wins(key: str) -> bool:
    """OpenClaw's ``requiresFoldedSessionKeyAliasProof``: whether ``key`` names a
    Matrix room (a ``tail`` span), whose own entry wins over a lowercased alias
    whatever their ages (a Signal group's aliases compete by age, as any others)."""
    parts, start = _js_trim(key).split(":"), 0
    while len(parts) - start >= 3 and _js_trim(parts[start]).lower() == "agent":
        start += 2
        while start < len(parts) and not _js_trim(parts[start]):
            start += 1
    channel, kind = (_js_trim(part).lower() for part in [*parts[start : start + 2], "", ""][:2])
    return any(
        (channel, span) == (name, "tail") and kind in kinds
        for name, kinds, span in _CASE_PRESERVING_PEERS
    )


def _unfolded_key(key: str, entry: Mapping[str, Any]) -> str | None:
    """The key that an older release lowercased, given back the case of the room its
    entry delivers to; ``None`` when the entry does not prove one.

    Until 2026.7 OpenClaw lowercased whole keys; now it keeps the case of Matrix rooms
    and Signal groups, and its next write to such a room moves the entry stored under
    the lowercased key (its ``foldedSessionKeyAliasCandidates``) to the key in the
    room's case, once the entry's delivery target names that room
    (``isConfirmedLowercasedLegacyAlias``).
    """
    base, thread = _thread_suffix(key)
    for target in _delivery_targets(entry):
        folded = target.lower()
        if folded == target or not base.endswith(folded):
            continue
        unfolded = base[: len(base) - len(folded)] + target
        aliases = {unfolded.lower()}
        if thread is not None:
            thread_id = _entry_thread_id(entry)
            if thread_id.lower() != thread.lower():
                continue
            aliases = {f"{unfolded}:thread:{thread_id}".lower(), f"{base}:thread:{thread_id}"}
            unfolded = f"{unfolded}:thread:{thread_id}"
        if normalise_key(unfolded) == unfolded and key in aliases:
            return unfolded
    return None


def agent_of_key(key: str) -> str:
    """OpenClaw's ``resolveAgentIdFromSessionKey``: ``agent:<id>:<rest>`` names the
    agent, anything else is ``main``.

    >>> agent_of_key("agent:Work:main"), agent_of_key("global"), agent_of_key("agent:x::y")
    ('work', 'main', 'main')
    """
    parts = normalise_key(key).split(":")
    if len(parts) >= 3 and parts[0] == "agent" and parts[1] and parts[2]:
        agent_id = _js_trim(parts[1])
        if agent_id and ":".join(parts[2:]):
            return normalise_agent_id(agent_id)
    return DEFAULT_AGENT_ID


def _corrupt(path: str | os.PathLike[str], error: ValueError) -> CorruptStoreError:
    return CorruptStoreError(f"{path} is not valid JSON ({error}); it was left untouched")


def read_store_file(
    path: str | os.PathLike[str], max_bytes: int = MAX_STORE_BYTES
) -> dict[str, Any] | None:
    """Parse a ``sessions.json`` without changing it; ``None`` when it does not exist.

    Only a regular file of at most ``max_bytes`` is read (see
    :func:`~sessionstore.openclaw.storefile.open_store_file`).

    Strict JSON first; hand-edited files with comments or trailing commas (JSON5, which
    early OpenClaw versions read) second, where a repeated key keeps its last value as
    in JavaScript. Strict JSON that repeats a key is refused rather than guessed at. A
    file neither can parse, or whose root is not an object, raises
    :class:`CorruptStoreError`.
    """
    text = read_store_bytes(path, max_bytes)
    if text is None:
        return None
    try:
        raw = parse_store_text(text)
    except DuplicateKeyError as exc:
        raise _corrupt(path, exc) from exc
    except ValueError as strict_error:
        try:
            raw = pyjson5.decode(text.removeprefix(BOM).decode("utf-8"))
        except (ValueError, RecursionError, pyjson5.Json5Exception):
            raise _corrupt(path, strict_error) from strict_error
    if not isinstance(raw, dict):
        raise CorruptStoreError(
            f"{path} holds a JSON {type(raw).__name__}, not an object of sessions; "
            "it was left untouched"
        )
    return raw


@dataclass
class NormalisedStore:
    """Entries ready to import, and an account of how they differ from the file."""

    #: canonical key -> the entry's JSON object, every one valid
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the same entries, validated (so that writing them does not validate again)
    validated: dict[str, SessionEntry] = field(default_factory=dict)
    #: entries read from the source files, before normalisation
    read: int = 0
    #: (key as written, why) for each entry that failed validation and was skipped
    rejected: list[tuple[str, str]] = field(default_factory=list)
    #: one line per change normalisation made (renamed keys, collapsed aliases, fields)
    changes: list[str] = field(default_factory=list)
    #: one line per entry kept with a problem that loses data in OpenClaw: a skills
    #: prompt file that is missing or wrong
    warnings: list[str] = field(default_factory=list)


def _is_time(value: Any) -> bool:
    """OpenClaw's valid ``updatedAt``: a finite number of 0 or more (fractions too)."""
    number = json_number(value)
    return number is not None and number >= 0


def _normalise_fields(key: str, value: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """OpenClaw's load-time field migrations, on a copy."""
    entry = dict(value)
    session_id = entry.get("sessionId")
    if isinstance(session_id, str) and session_id != session_id.strip():
        entry["sessionId"] = session_id.strip()
        changes.append(f"{key!r}: sessionId trimmed")
    if "sessionFile" in entry and not isinstance(entry["sessionFile"], str):
        del entry["sessionFile"]
        changes.append(f"{key!r}: dropped a sessionFile that is not a string")
    if "updatedAt" in entry and not _is_time(entry["updatedAt"]):
        entry["updatedAt"] = 0
        changes.append(f"{key!r}: updatedAt that is not a number of 0 or more -> 0")
    for old, new in _LEGACY_RENAMES:
        if not isinstance(entry.get(new), str) and isinstance(entry.get(old), str):
            entry[new] = entry.pop(old)
            changes.append(f"{key!r}: {old} -> {new}")
    if "room" in entry:
        room = entry.pop("room")
        if not isinstance(entry.get("groupChannel"), str) and isinstance(room, str):
            entry["groupChannel"] = room
            changes.append(f"{key!r}: room -> groupChannel")
        else:
            changes.append(f"{key!r}: dropped the legacy room field")
    snapshot = entry.get("skillsSnapshot")
    if isinstance(snapshot, dict) and "resolvedSkills" in snapshot:
        entry["skillsSnapshot"] = {k: v for k, v in snapshot.items() if k != "resolvedSkills"}
        changes.append(f"{key!r}: stripped skillsSnapshot.resolvedSkills")
    return entry


def _freshness(entry: Mapping[str, Any]) -> int:
    updated = timestamp_of(entry.get("updatedAt"))
    return -1 if updated is None else updated


def normalise_entries(
    items: Iterable[tuple[str, Any]], *, verbatim: bool = False
) -> NormalisedStore:
    """Apply OpenClaw's normalisation on load to raw ``(key, entry)`` pairs.

    Keys are normalised by :func:`normalise_key`, and a Matrix or Signal key that an
    older release lowercased goes back to its room's case when its entry delivers
    there; keys that then coincide are aliases and the one with the freshest
    ``updatedAt`` wins (on a tie, the key already in canonical form, then the first one
    read), but the room's own key always wins over a lowercased alias, as in OpenClaw.
    Legacy ``provider``/``lastProvider``/``room`` fields are renamed and
    ``skillsSnapshot.resolvedSkills`` is stripped; every other field is kept as it was.
    Invalid entries are reported in ``rejected``, never dropped silently.
    ``verbatim=True`` only validates: keys and fields stay as written.
    """
    result = NormalisedStore()
    chosen: dict[str, tuple[str, dict[str, Any], SessionEntry]] = {}
    unfolded_keys: set[str] = set()
    for key, value in items:
        result.read += 1
        if not isinstance(value, dict):
            result.rejected.append((key, f"not a JSON object but a {type(value).__name__}"))
            continue
        canonical = key if verbatim else normalise_key(key)
        entry = value if verbatim else _normalise_fields(key, value, result.changes)
        unfolded = None if verbatim else _unfolded_key(canonical, entry)
        if unfolded is not None:
            unfolded_keys.add(key)
            canonical = unfolded
        try:
            validate_key(canonical)
            model = SessionEntry.from_dict(entry)
        except InvalidEntryError as exc:
            result.rejected.append((key, str(exc)))
            continue
        if canonical not in chosen:
            chosen[canonical] = (key, entry, model)
            continue
        other_key, other, _ = chosen[canonical]
        why = "an older alias"
        if (
            canonical in (key, other_key)
            and unfolded_keys & {key, other_key}
            and _room_key_wins(canonical)
        ):
            newer = key == canonical  # the room's own key wins over its lowercased alias
            why = "a lowercased alias"
        else:
            newer = _freshness(entry) > _freshness(other) or (
                _freshness(entry) == _freshness(other) and key == canonical != other_key
            )
        loser = other_key if newer else key
        if newer:
            chosen[canonical] = (key, entry, model)
        result.changes.append(f"{loser!r}: collapsed into {canonical!r} ({why})")
    for canonical, (key, entry, model) in chosen.items():
        if key != canonical:
            result.changes.append(f"{key!r}: key normalised to {canonical!r}")
        result.entries[canonical] = entry
        result.validated[canonical] = model
    return result


@dataclass(frozen=True)
class AgentSource:
    """Where one agent's sessions are read from."""

    agent_id: str
    #: ``<state>/agents/<id>/sessions/sessions.json`` (it may not exist)
    path: Path
    #: the legacy top-level store, when it holds keys of this agent
    legacy_path: Path | None = None
    #: OpenClaw 2026.9's ``agent/openclaw-agent.sqlite``, when the agent has one: then it
    #: is the agent's live store and the ``sessions.json`` files are not read
    database: Path | None = None

    @property
    def sessions_dir(self) -> Path:
        """The directory of the agent's store and transcripts."""
        return self.path.parent

    def exists(self) -> bool:
        """Whether any source file of this agent exists."""
        return self.database is not None or self.path.exists() or self.legacy_path is not None

    @property
    def era(self) -> str:
        """``sqlite`` (OpenClaw 2026.9's database) or ``json`` (``sessions.json``)."""
        return "json" if self.database is None else "sqlite"


def discover_agents(state_dir: str | os.PathLike[str]) -> list[AgentSource]:
    """Every agent of a state directory: each ``agents/<id>/sessions`` directory, and
    the agents named by the keys of the legacy top-level store; sorted by id."""
    root = Path(state_dir)
    if not root.is_dir():
        raise StoreUnavailableError(f"{root} is not a directory")
    found = {
        child.name
        for child in (root / "agents").glob("*")
        if ((child / "sessions").is_dir() or database_path(root, child.name).is_file())
        and normalise_agent_id(child.name) == child.name
    }
    legacy = legacy_store_path(root)
    legacy_agents: set[str] = set()
    if legacy.exists():
        try:
            legacy_agents = {agent_of_key(key) for key in read_store_file(legacy) or {}}
        except CorruptStoreError:
            legacy_agents = {DEFAULT_AGENT_ID}  # reported when that agent is read
    return [
        AgentSource(
            agent_id,
            store_path(root, agent_id),
            legacy if agent_id in legacy_agents else None,
            database if (database := database_path(root, agent_id)).is_file() else None,
        )
        for agent_id in sorted(found | legacy_agents)
    ]


def load_agent(
    source: AgentSource, *, verbatim: bool = False, database: AgentDatabase | None = None
) -> NormalisedStore:
    """Read and normalise one agent's entries: its own store, then its keys in the
    legacy store (so that on a tie the agent's own copy wins). With ``database`` (the
    agent's open :attr:`AgentSource.database`) the entries are read from it instead,
    as stored: OpenClaw 2026.9 normalised them when it wrote them.

    Skill prompts kept in files beside a store are read back into their entries; an
    entry whose prompt file is missing or wrong keeps its ``promptRef`` and is named in
    ``warnings``. A corrupt store file raises :class:`CorruptStoreError`; nothing is ever
    written.
    """
    if database is not None:
        stored = dict(database.entries())
        problems = PromptBlobs(source.sessions_dir).hydrate(stored)
        loaded = normalise_entries(stored.items(), verbatim=True)
        loaded.warnings.extend(str(problem) for problem in problems)
        return loaded
    own = read_store_file(source.path) or {}
    problems = PromptBlobs(source.sessions_dir).hydrate(own)
    items = list(own.items())
    if source.legacy_path is not None:
        legacy = read_store_file(source.legacy_path) or {}
        mine = {k: v for k, v in legacy.items() if agent_of_key(k) == source.agent_id}
        problems += PromptBlobs(source.legacy_path.parent).hydrate(mine)
        items.extend(mine.items())
    loaded = normalise_entries(items, verbatim=verbatim)
    loaded.warnings.extend(str(problem) for problem in problems)
    return loaded

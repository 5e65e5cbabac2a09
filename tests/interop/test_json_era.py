"""The JSON era both ways: what OpenClaw 2026.7.35 wrote goes into a database and back
out, and the JSON twin works on its files, and OpenClaw itself reads every result.

The judge is always OpenClaw's own load (``loadSessionStore``, with its normalisation)
and its own transcript reader, compared deep-equal with what it read from the original.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sessionstore import open_store
from sessionstore.cli import app
from sessionstore.openclaw.statedir import agent_of_key, normalise_entries, normalise_key
from tests.interop.openclaw import OpenClaw

#: Recent: OpenClaw's maintenance prunes entries idle for 30 days.
NOW = int(time.time() * 1000)
WRITER = (Path(__file__).parent / "json_era_writer.mjs").read_text()
#: Long enough for OpenClaw to keep it in skills-prompts/sha256/… with a promptRef.
LONG_PROMPT = "Use the calendar skill for dates; " * 20 + "Ünïcödé ✓"
MATRIX_ROOM = "agent:main:matrix:channel:!AbCdEf:matrix.org"

#: The state directory OpenClaw writes: per agent, (session key, what happens to it).
SESSIONS: dict[str, list[dict[str, Any]]] = {
    "main": [
        {
            "key": MATRIX_ROOM,
            "sessionId": "matrix-room",
            "inbound": {
                "Provider": "matrix",
                "Surface": "matrix",
                "ChatType": "channel",
                "From": "@alice:matrix.org",
                "To": "!AbCdEf:matrix.org",
                "ConversationLabel": "Équipe ✨ 日本語",
            },
            "route": {"channel": "matrix", "to": "room:!AbCdEf:matrix.org"},
            "messages": ["hello", "wörld ✓"],
        },
        {
            "key": "agent:main:matrix:channel:!AbCdEf:matrix.org:thread:$EvT1",
            "sessionId": "matrix-thread",
            "route": {"channel": "matrix", "to": "room:!AbCdEf:matrix.org", "threadId": "$EvT1"},
            "messages": ["in a thread"],
        },
        {
            "key": "agent:main:telegram:group:-1001234567890:topic:42",
            "sessionId": "telegram-topic",
            "inbound": {
                "Provider": "telegram",
                "Surface": "telegram",
                "ChatType": "group",
                "From": "telegram:group:-1001234567890",
                "To": "telegram:-1001234567890",
                "GroupSubject": "Тема 42 🚀",
                "MessageThreadId": 42,
            },
            "route": {"channel": "telegram", "to": "-1001234567890", "threadId": 42},
            "fields": {
                "label": "Тема 42 🚀",
                "skillsSnapshot": {"prompt": LONG_PROMPT, "skills": [{"name": "calendar"}]},
            },
            "messages": ["topic 42"],
        },
        {
            "key": "agent:main:slack:channel:c0abcdef:thread:1712345678.000100",
            "sessionId": "slack-thread",
            "route": {
                "channel": "slack",
                "to": "channel:C0ABCDEF",
                "accountId": "work",
                "threadId": "1712345678.000100",
            },
        },
        {
            "key": "agent:main:subagent:5b1f0c2e-9a5d-4a8e-8f7e-2c1d0b9a8f7e",
            "sessionId": "subagent-1",
            "fields": {"label": "研究 subagent", "spawnedBy": "agent:main:main"},
            "messages": ["sub task"],
        },
        {"key": "agent:main:cron:daily-report", "sessionId": "cron-daily"},
        {"key": "agent:main:cron:daily-report:run:r1", "sessionId": "cron-run-1"},
        {"key": "agent:main:main", "sessionId": "main-main", "messages": ["hi main"]},
    ],
    "work": [
        {
            "key": "agent:work:discord:channel:123456789012345678",
            "sessionId": "discord-channel",
            "inbound": {
                "Provider": "discord",
                "Surface": "discord",
                "ChatType": "channel",
                "From": "discord:channel:123456789012345678",
                "To": "channel:123456789012345678",
                "GroupSubject": "#général",
            },
            "messages": ["salut"],
        },
        {
            "key": "agent:work:signal:group:AbCdEfGh+/ij==",
            "sessionId": "signal-group",
            "route": {"channel": "signal", "to": "group:AbCdEfGh+/ij=="},
            "fields": {"label": "Ωmega 👪"},
        },
        {
            "key": "agent:work:telegram:direct:987654321",
            "sessionId": "telegram-dm",
            "route": {"channel": "telegram", "to": "987654321"},
            "messages": ["dm"],
        },
    ],
}

#: Reads every agent as OpenClaw does: its store and each session's transcript events.
LOAD = """
const transcripts = await import('openclaw/plugin-sdk/session-transcript-runtime');
const out = {};
for (const [agentId, given] of Object.entries(data.agents)) {
  const storePath = given ?? store.resolveStorePath(undefined, { agentId });
  const loaded = store.loadSessionStore(storePath, { skipCache: true });
  const events = {};
  for (const [sessionKey, entry] of Object.entries(loaded)) {
    events[sessionKey] = await transcripts.readSessionTranscriptEvents({
      agentId, sessionKey, sessionId: entry.sessionId, storePath,
    });
  }
  out[agentId] = { store: loaded, transcripts: events };
}
emit(out);
"""

RUNNER = CliRunner()
#: What the commands would otherwise take from the environment: every test names its
#: store and state directory.
_SETTINGS = (
    "SESSIONSTORE_STORE_TYPE",
    "SESSIONSTORE_STATE_DIR",
    "OPENCLAW_STATE_DIR",
    "SESSIONSTORE_AGENT_ID",
    "SESSIONSTORE_URL",
    "SESSIONSTORE_TRANSCRIPTS",
)


@pytest.fixture(autouse=True)
def no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _SETTINGS:
        monkeypatch.delenv(name, raising=False)


def sessionstore(*args: str) -> str:
    done = RUNNER.invoke(app, list(args), prog_name="sessionstore", catch_exceptions=False)
    assert done.exit_code == 0, done.output
    return done.stdout


def write_state_dir(openclaw: OpenClaw, state_dir: Path) -> None:
    agents = [{"id": agent, "sessions": sessions} for agent, sessions in SESSIONS.items()]
    openclaw.run(WRITER, state_dir, {"now": NOW, "agents": agents})


def load(
    openclaw: OpenClaw,
    state_dir: Path,
    stores: dict[str, str | None] | None = None,
    seen_as: dict[Path, str] | None = None,
) -> dict[str, Any]:
    """What OpenClaw reads of each agent (``stores``: a ``sessions.json`` per agent, by
    default the state directory's), with the state directory's path written
    ``<state>`` and each path of ``seen_as`` as it says: ``sessionFile`` is absolute,
    so a copy elsewhere differs by that prefix alone."""
    loaded = openclaw.run(LOAD, state_dir, {"agents": stores or dict.fromkeys(SESSIONS)})
    text = json.dumps(loaded)
    for path, placeholder in {state_dir: "<state>", **(seen_as or {})}.items():
        text = text.replace(json.dumps(str(path))[1:-1], placeholder)
    return json.loads(text)


@pytest.fixture
def written(openclaw_json: OpenClaw, state_dir: Path) -> dict[str, Any]:
    """A state directory freshly written by OpenClaw, and what OpenClaw reads of it."""
    write_state_dir(openclaw_json, state_dir)
    return load(openclaw_json, state_dir)


def test_openclaw_wrote_what_the_round_trips_need(state_dir: Path, written: Any) -> None:
    sessions = state_dir / "agents" / "main" / "sessions"
    main = written["main"]["store"]
    assert MATRIX_ROOM in main  # the opaque id keeps its case
    topic = main["agent:main:telegram:group:-1001234567890:topic:42"]
    assert topic["lastThreadId"] == 42 and topic["skillsSnapshot"]["prompt"] == LONG_PROMPT
    assert list(sessions.glob("skills-prompts/sha256/*/*.txt"))
    raw = json.loads((sessions / "sessions.json").read_text())
    assert (
        "prompt" not in raw["agent:main:telegram:group:-1001234567890:topic:42"]["skillsSnapshot"]
    )
    room_file = main[MATRIX_ROOM]["sessionFile"]
    assert room_file == "<state>/agents/main/sessions/matrix-room.jsonl"
    assert written["work"]["store"]["agent:work:telegram:direct:987654321"]["sessionFile"] == (
        "<state>/agents/work/sessions/telegram-dm.jsonl"
    )
    said = [
        e["message"]["content"][0]["text"]
        for e in written["main"]["transcripts"][MATRIX_ROOM]
        if e["type"] == "message"
    ]
    assert said == ["hello", "wörld ✓"]
    assert set(written) == {"main", "work"}
    assert_in_openclaws_format(main_store(state_dir))  # the format the twin and export write
    assert not list(state_dir.rglob("*.lock"))  # 2026.7.35 queues its writes in process


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sessions.db'}"
    else:
        yield request.getfixturevalue("postgresql_url")


def main_store(state_dir: Path) -> Path:
    return state_dir / "agents" / "main" / "sessions" / "sessions.json"


def assert_in_openclaws_format(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    assert path.stat().st_mode & 0o777 == 0o600


def migrate(state_dir: Path, database: str, transcripts: str) -> None:
    sessionstore(
        "migrate", "--state-dir", str(state_dir), "--all-agents", "--to", database,
        "--transcripts", transcripts,
    )  # fmt: skip


@pytest.mark.parametrize("transcripts", ["files", "sql"])
def test_migrate_then_export_over_the_original(
    openclaw_json: OpenClaw, state_dir: Path, written: Any, database: str, transcripts: str
) -> None:
    migrate(state_dir, database, transcripts)
    sessionstore(
        "export", "--from", database, "--state-dir", str(state_dir), "--all-agents", "--force"
    )
    assert load(openclaw_json, state_dir) == written


def test_migrate_then_export_to_a_new_state_dir(
    openclaw_json: OpenClaw, state_dir: Path, written: Any, database: str, tmp_path: Path
) -> None:
    migrate(state_dir, database, "sql")
    new = tmp_path / "new"
    sessionstore("export", "--from", database, "--state-dir", str(new), "--all-agents")
    shutil.rmtree(state_dir)  # OpenClaw reads the copy, with nothing left to fall back on
    assert load(openclaw_json, new) == written
    for agent in SESSIONS:
        assert_in_openclaws_format(new / "agents" / agent / "sessions" / "sessions.json")


def test_transcripts_left_as_files_stay_where_they_are(
    openclaw_json: OpenClaw, state_dir: Path, written: Any, database: str, tmp_path: Path
) -> None:
    """With ``--transcripts files`` the database holds no transcript: the export's
    entries keep pointing at the files they were migrated from."""
    migrate(state_dir, database, "files")
    new = tmp_path / "new"
    sessionstore("export", "--from", database, "--state-dir", str(new), "--all-agents")
    assert not list(new.rglob("*.jsonl"))
    assert load(openclaw_json, new, seen_as={state_dir: "<state>"}) == written


def test_migrate_then_export_one_agent_to_a_file(
    openclaw_json: OpenClaw, state_dir: Path, written: Any, database: str, tmp_path: Path
) -> None:
    migrate(state_dir, database, "sql")
    out = tmp_path / "elsewhere" / "work.json"
    sessionstore("export", "--from", database, "--agent", "work", "--out", str(out))
    shutil.rmtree(state_dir)
    got = load(
        openclaw_json,
        tmp_path / "empty",
        {"work": str(out)},
        seen_as={out.parent: "<state>/agents/work/sessions"},
    )
    assert got == {"work": written["work"]}
    assert_in_openclaws_format(out)


#: Every key form OpenClaw writes or accepts that normalisation treats differently:
#: the opaque ids whose case it keeps (Matrix rooms and threads, Signal groups) and
#: those it folds (Slack, Discord, Telegram), agent wrappers, agent-less legacy keys,
#: main aliases, JavaScript's whitespace (not Python's) and Unicode case mapping.
LEGACY_KEYS = [
    "agent:main:matrix:channel:!AbCdEf:matrix.org",
    " Agent:Main:Matrix:Channel:!AbCdEf:matrix.org ",
    "agent:main:matrix:channel:!abcdef:matrix.org",
    "AGENT:MAIN:MATRIX:GROUP:!XyZ:Example.ORG:THREAD:$EvEnT",
    "agent:main:matrix:channel:!Room:srv:Thread:$A:thread:$B",
    "Matrix:Channel:!Unscoped:Srv",
    "agent:main::Matrix:Channel:!ExtraColon:srv",
    "agent:Ops:agent:Inner:matrix:group:!Nested:srv",
    "agent:main:matrix:direct:@Alice:matrix.org",
    "agent:main:matrix:channel: !Spaced:srv",
    "agent:main:matrix:channel:!Emoji🎉Room:srv:thread:$Ü",
    "agent:work:signal:group:AbCdEfGh+/ij==",
    "Agent:Work:Signal:Group: PaddedGroup :member:X",
    "signal:group:LegacyGroup",
    "agent:work:signal:direct:+4915112345678",
    "agent:main:slack:channel:C0ABCDEF",
    "agent:main:slack:channel:C0ABCDEF:thread:1712345678.000100",
    "Agent:Main:Slack:Direct:U01AbCdEf",
    "agent:main:discord:channel:123456789012345678",
    "Agent:Main:Discord:Direct:UserX",
    "agent:main:telegram:group:-1001234567890:topic:42",
    "Agent:Main:Telegram:Direct:42",
    "agent:main:telegram:dm:42",
    "Agent:Main:WebChat:DM:MiXeD-User",
    "agent:main:main",
    "Agent:Main:Main",
    "agent:main:MAIN",
    "main",
    "Main",
    "global",
    " GLOBAL ",
    "cron:Daily-Report",
    "agent:main:cron:Daily:run:R1",
    "hook:3F2A-UUID",
    "subagent:Research",
    "agent:main:subagent:5B1F0C2E",
    "agent:Work Bot!:main",
    "agent:" + "A" * 63 + "!b:main",
    "agent:x::y",
    "agent: spaced :main",
    "\u00a0agent:main:nbsp\u3000",
    "\ufeffagent:main:bom",
    "\x1cagent:main:file-separator",
    "agent:main:next-line\x85",
    "agent:main:webchat:dm:İSTANBUL",
    "agent:main:webchat:dm:ΟΔΟΣ",
    "agent:main:webchat:dm:𐐀𐐁",
    "agent:main:\u017fignal:group:LongS",  # a long s: only ASCII letters match /s/i
]

CANONICAL = """
const keys = await import('openclaw/plugin-sdk/session-key-runtime');
emit(data.keys.map((sessionKey) => [
  store.resolveSessionStoreEntry({ store: {}, sessionKey }).normalizedKey,
  keys.resolveAgentIdFromSessionKey(sessionKey),
]));
"""


def test_keys_normalise_as_openclaw_normalises_them(
    openclaw_json: OpenClaw, state_dir: Path
) -> None:
    theirs = openclaw_json.run(CANONICAL, state_dir, {"keys": LEGACY_KEYS})
    ours = [[normalise_key(key), agent_of_key(key)] for key in LEGACY_KEYS]
    assert dict(zip(LEGACY_KEYS, ours, strict=True)) == dict(zip(LEGACY_KEYS, theirs, strict=True))


def random_keys(count: int, seed: int) -> list[str]:
    """Keys built from the pieces normalisation looks at, in every case, with
    whitespace, ``:thread:`` markers and characters whose case mapping is unusual."""
    rng = random.Random(seed)
    pieces = [
        "agent", "Agent", "AGENT", " agent", "main", "Work", "matrix", "Matrix", "signal",
        "SIGNAL", "slack", "discord", "telegram", "webchat", "channel", "Channel", "group",
        "GROUP", "direct", "dm", "thread", "THREAD", "topic", "cron", "run", "subagent",
        "!AbC", "#Room", "$EvT", "@User", "AbC+/==", "C0ABCDEF", "42", "-100123", "",
        " ", "\u00a0", "\ufeff", "\x85", "\u3000", "İ", "Σ", "ß", "ǅ", "𐐀", "🎉",
        "K", "\u212a", "\u017f", "Ω",
    ]  # fmt: skip
    return [":".join(rng.choices(pieces, k=rng.randint(1, 9))) for _ in range(count)]


def test_random_keys_normalise_as_openclaw_normalises_them(
    openclaw_json: OpenClaw, state_dir: Path
) -> None:
    keys = [key for key in random_keys(3000, seed=2026) if key.strip()]
    theirs = openclaw_json.run(CANONICAL, state_dir, {"keys": keys})
    mismatched = {
        key: (ours, their)
        for key, their in zip(keys, theirs, strict=True)
        if (ours := [normalise_key(key), agent_of_key(key)]) != their
    }
    assert mismatched == {}


#: OpenClaw saves the keys as given, each in its agent's store; then finds the entry
#: that each key names, as its lookups do (aliases included).
SAVE_RAW = """
const keys = await import('openclaw/plugin-sdk/session-key-runtime');
const byAgent = {};
for (const [i, sessionKey] of data.keys.entries()) {
  const agent = keys.resolveAgentIdFromSessionKey(sessionKey);
  (byAgent[agent] ??= {})[sessionKey] = { sessionId: `s${i}`, updatedAt: data.now - i };
}
for (const [agentId, entries] of Object.entries(byAgent)) {
  await store.saveSessionStore(store.resolveStorePath(undefined, { agentId }), entries);
}
emit(Object.keys(byAgent));
"""

LOOK_UP = """
const keys = await import('openclaw/plugin-sdk/session-key-runtime');
emit(data.keys.map((sessionKey) => {
  const agentId = keys.resolveAgentIdFromSessionKey(sessionKey);
  const loaded = store.loadSessionStore(store.resolveStorePath(undefined, { agentId }));
  return store.resolveSessionStoreEntry({ store: loaded, sessionKey }).existing?.sessionId;
}));
"""


def test_migrate_stores_openclaws_canonical_keys(
    openclaw_json: OpenClaw, state_dir: Path, database: str, tmp_path: Path
) -> None:
    agents = openclaw_json.run(SAVE_RAW, state_dir, {"keys": LEGACY_KEYS, "now": NOW})
    found = openclaw_json.run(LOOK_UP, state_dir, {"keys": LEGACY_KEYS})
    canonical = openclaw_json.run(CANONICAL, state_dir, {"keys": LEGACY_KEYS})
    migrate(state_dir, database, "files")
    for agent in agents:
        with open_store(database, agent_id=agent) as db:
            stored = {key for key, _ in db.iter_entries()}
        assert stored == {key for key, owner in canonical if owner == agent}
    new = tmp_path / "new"
    sessionstore("export", "--from", database, "--state-dir", str(new), "--all-agents")
    assert openclaw_json.run(LOOK_UP, new, {"keys": LEGACY_KEYS}) == found


TOPIC = "agent:main:telegram:group:-1001234567890:topic:42"


@pytest.mark.parametrize("preserve_activity", [False, True])
def test_openclaw_reads_exactly_what_the_twin_patched(
    openclaw_json: OpenClaw, state_dir: Path, written: Any, preserve_activity: bool
) -> None:
    changes = {"label": "Renommé ✓", "thinkingLevel": "high"}
    with open_store(main_store(state_dir)) as twin:
        patched = twin.patch(MATRIX_ROOM, changes, preserve_activity=preserve_activity)
    expected = json.loads(json.dumps(written))
    before = expected["main"]["store"][MATRIX_ROOM]
    updated_at = before["updatedAt"] if preserve_activity else patched.updated_at
    assert updated_at >= before["updatedAt"]
    before.update(changes, updatedAt=updated_at)
    assert load(openclaw_json, state_dir) == expected
    assert_in_openclaws_format(main_store(state_dir))


def test_openclaw_reads_exactly_what_the_twin_put_and_deleted(
    openclaw_json: OpenClaw, state_dir: Path, written: Any
) -> None:
    added = {"sessionId": "added-by-twin", "updatedAt": NOW, "label": "Nouveau 🌱"}
    with open_store(main_store(state_dir)) as twin:
        topic = twin.get(TOPIC)
        assert topic is not None
        assert topic.to_dict()["skillsSnapshot"]["prompt"] == LONG_PROMPT
        twin.put(TOPIC, topic.with_fields(label="Тема 42, renamed"))
        twin.put("agent:main:webchat:dm:new-user", added)
        assert twin.delete("agent:main:cron:daily-report")
    expected = json.loads(json.dumps(written))
    store = expected["main"]["store"]
    store[TOPIC]["label"] = "Тема 42, renamed"
    store["agent:main:webchat:dm:new-user"] = added
    expected["main"]["transcripts"]["agent:main:webchat:dm:new-user"] = []
    del store["agent:main:cron:daily-report"]
    del expected["main"]["transcripts"]["agent:main:cron:daily-report"]
    assert load(openclaw_json, state_dir) == expected
    assert_in_openclaws_format(main_store(state_dir))


#: OpenClaw writes on top of the twin with each of its writers, and reports what it
#: then reads itself.
OPENCLAW_WRITES = """
const storePath = store.resolveStorePath(undefined, { agentId: 'main' });
await store.updateSessionStore(storePath, (s) => {
  s['agent:main:webchat:dm:from-openclaw'] = {
    sessionId: 'from-openclaw', updatedAt: data.now, label: 'ajouté par OpenClaw ✓',
  };
});
await store.upsertSessionEntry({
  agentId: 'main', sessionKey: 'agent:main:cron:daily-report',
  entry: { sessionId: 'cron-replaced', updatedAt: data.now, label: 'remplacé' },
});
await store.patchSessionEntry({
  agentId: 'main', sessionKey: data.room,
  update: () => ({ label: 'patché 🧩', thinkingLevel: 'low' }),
});
emit(store.loadSessionStore(storePath, { skipCache: true }));
"""


def test_the_twin_reads_exactly_what_openclaw_wrote_on_top(
    openclaw_json: OpenClaw, state_dir: Path, written: Any
) -> None:
    with open_store(main_store(state_dir)) as twin:
        twin.patch(MATRIX_ROOM, {"label": "by the twin"})
        assert {key: e.to_dict() for key, e in twin.iter_entries()} == load(
            openclaw_json, state_dir, seen_as={state_dir: str(state_dir)}
        )["main"]["store"]
        theirs = openclaw_json.run(OPENCLAW_WRITES, state_dir, {"now": NOW, "room": MATRIX_ROOM})
        ours = {key: entry.to_dict() for key, entry in twin.iter_entries()}
    assert theirs["agent:main:matrix:channel:!AbCdEf:matrix.org"]["label"] == "patché 🧩"
    assert theirs["agent:main:cron:daily-report"]["sessionId"] == "cron-replaced"
    assert ours == theirs


#: Routes to rooms whose ids have a case; 2026.3.31 lowercased the keys it stored them
#: under, 2026.7.35 keeps the case and moves such an entry on its next write.
ROOMS = [
    {"sessionKey": MATRIX_ROOM, "channel": "matrix", "to": "room:!AbCdEf:matrix.org"},
    {
        "sessionKey": f"{MATRIX_ROOM}:thread:$EvT1",
        "channel": "matrix",
        "to": "room:!AbCdEf:matrix.org",
        "threadId": "$EvT1",
    },
    {
        "sessionKey": "agent:main:signal:group:AbCdEfGh+/ij==",
        "channel": "signal",
        "to": "group:AbCdEfGh+/ij==",
    },
]

ROUTE = """
const storePath = store.resolveStorePath(undefined, { agentId: 'main' });
for (const room of data.rooms) await store.updateLastRoute({ storePath, ...room });
const loaded = store.loadSessionStore(storePath, { skipCache: true });
emit(Object.fromEntries(Object.entries(loaded).map(([key, entry]) => [key, entry.sessionId])));
"""


def test_keys_an_older_release_lowercased_go_where_openclaw_moves_them(
    openclaw_lock: OpenClaw, openclaw_json: OpenClaw, state_dir: Path, tmp_path: Path
) -> None:
    before = openclaw_lock.run(ROUTE, state_dir, {"rooms": ROOMS})
    assert sorted(before) == sorted(room["sessionKey"].lower() for room in ROOMS)
    upgraded = tmp_path / "upgraded"
    shutil.copytree(state_dir, upgraded)
    after = openclaw_json.run(ROUTE, upgraded, {"rooms": ROOMS})
    assert sorted(after) == sorted(room["sessionKey"] for room in ROOMS)
    database = f"sqlite:///{tmp_path / 'sessions.db'}"
    migrate(state_dir, database, "files")
    with open_store(database) as db:
        assert {key: entry.session_id for key, entry in db.iter_entries()} == after


_TO_ROOM: dict[str, Any] = {
    "deliveryContext": {"channel": "matrix", "to": "room:!AbCdEf:matrix.org"}
}
#: Entries under keys an older release lowercased, each naming its room in its case.
LOWERCASED: dict[str, dict[str, Any]] = {
    MATRIX_ROOM.lower(): {"lastTo": "!AbCdEf:matrix.org"},
    f"{MATRIX_ROOM.lower()}:thread:$evt1": {"lastThreadId": "$EvT1", **_TO_ROOM},
    f"{MATRIX_ROOM.lower()}:thread:$EvT2": {"lastThreadId": "$EvT2", **_TO_ROOM},
    "agent:main:matrix:group:#room:srv": {"groupId": "#Room:srv"},
    "agent:work:signal:group:abcdefgh+/ij==": {"lastTo": "group:AbCdEfGh+/ij=="},
}

RESOLVE = """
emit(data.map(([stored, entry, wanted]) => {
  const found = store.resolveSessionStoreEntry({ store: { [stored]: entry }, sessionKey: wanted });
  return [found.normalizedKey, found.existing?.sessionId ?? null, found.legacyKeys];
}));
"""


def test_a_lowercased_key_goes_to_the_key_whose_lookup_finds_it(
    openclaw_json: OpenClaw, state_dir: Path
) -> None:
    cases: list[tuple[str, dict[str, Any], str]] = []
    for i, (key, fields) in enumerate(LOWERCASED.items()):
        entry = {"sessionId": f"s{i}", "updatedAt": NOW, **fields}
        (unfolded,) = normalise_entries([(key, entry)]).entries
        assert unfolded != key
        cases.append((key, entry, unfolded))
    found = openclaw_json.run(RESOLVE, state_dir, cases)
    assert found == [[unfolded, entry["sessionId"], [key]] for key, entry, unfolded in cases]

"""The JSON era both ways: what OpenClaw 2026.7.35 wrote goes into a database and back
out, and the JSON twin works on its files, and OpenClaw itself reads every result.

The judge is always OpenClaw's own load (``loadSessionStore``, with its normalisation)
and its own transcript reader, compared deep-equal with what it read from the original.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sessionstore import open_store
from sessionstore.cli import app
from sessionstore.openclaw.statedir import agent_of_key, normalise_key
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
    ``<state>``, and each path of ``seen_as`` as given: ``sessionFile`` is absolute,
    so a copy elsewhere differs by that prefix alone."""
    loaded = openclaw.run(LOAD, state_dir, {"agents": stores or dict.fromkeys(SESSIONS)})
    text = json.dumps(loaded)
    for path, placeholder in {**(seen_as or {}), state_dir: "<state>"}.items():
        text = text.replace(json.dumps(str(path))[1:-1], placeholder)
    return json.loads(text)  # type: ignore[no-any-return]


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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sessions.db'}"
    else:
        yield request.getfixturevalue("postgresql_url")


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

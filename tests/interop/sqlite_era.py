"""A state directory of OpenClaw 2026.9.6, made by OpenClaw itself, with both entry shapes.

:func:`build` writes a JSON-era state directory with OpenClaw 2026.7.35 (entries through
its session store, a skills prompt long enough to go to a ``skills-prompts`` file, and
``.jsonl`` transcripts with lines that 2026.9.6 compresses and lines it keeps as text),
imports it with ``openclaw doctor --session-sqlite import`` of 2026.9.6 (the entries
come out folded: ``delivery{}``), then writes more entries through 2026.9.6's plugin API
(they stay flat). It returns what OpenClaw itself reads back: ``listSessionEntries`` and
``loadTranscriptEventsSync`` of every session.

``python -m tests.interop.sqlite_era`` regenerates the fixture of the regular tests,
``tests/fixtures/openclaw-2026.9.6``: the agent database (gzipped), the skills-prompts
files and ``expected.json`` (what OpenClaw read back, and the ``.jsonl`` lines as written).
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from tests.interop.openclaw import JSON_ERA, SQLITE_ERA, OpenClaw

FIXTURE = Path(__file__).parent.parent / "fixtures" / "openclaw-2026.9.6"

#: Entries that go through the JSON era and the doctor import.
_JSON_ERA_ENTRIES: dict[str, dict[str, Any]] = {
    "agent:main:main": {
        "sessionId": "s-main",
        "channel": "telegram",
        "lastChannel": "telegram",
        "lastTo": "12345",
        "lastAccountId": "acc",
        "chatType": "direct",
        "skillsSnapshot": {"prompt": "Use the skills. " * 40, "skills": [{"name": "web"}]},
    },
    "agent:main:telegram:group:-100": {
        "sessionId": "s-group",
        "channel": "telegram",
        "groupChannel": "family",
        "displayName": "Family",
        "chatType": "group",
    },
    "agent:main:cron:nightly": {"sessionId": "s-cron", "label": "nightly"},
}
#: Entries written through 2026.9.6's plugin API.
_PLUGIN_ENTRIES: dict[str, dict[str, Any]] = {
    "agent:main:telegram:direct:777": {
        "sessionId": "s-plugin",
        "channel": "telegram",
        "lastChannel": "telegram",
        "lastTo": "777",
        "chatType": "direct",
    },
    "agent:main:discord:channel:9": {"sessionId": "s-plugin-2", "channel": "discord"},
}


def transcript_lines(session_id: str) -> list[str]:
    """The ``.jsonl`` lines of one session as the JSON era keeps them: a header, a
    short line, two long ones (compressed by 2026.9.6: one of them not ASCII) and a long
    one with a ``\\u`` escape (kept as text)."""
    events: list[dict[str, Any]] = [
        {
            "type": "session",
            "version": 3,
            "id": session_id,
            "timestamp": "2026-12-01T10:00:00.000Z",
            "cwd": "/home/user",
        },
        _message("m1", None, "user", "hello"),
        _message("m2", "m1", "assistant", "word " * 600),
        _message("m3", "m2", "user", "café " * 400),
    ]
    lines = [json.dumps(e, separators=(",", ":"), ensure_ascii=False) for e in events]
    escaped = _message("m4", "m3", "assistant", "tab\u0001 " * 400)
    lines.append(json.dumps(escaped, separators=(",", ":")))  # \u0001 stays an escape
    return lines


def _message(event_id: str, parent: str | None, role: str, text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": event_id,
        "parentId": parent,
        "timestamp": "2026-12-01T10:00:01.000Z",
        "message": {"role": role, "content": [{"type": "text", "text": text}]},
    }


_WRITE_JSON_ERA = """
const path = store.resolveStorePath(undefined, { agentId: 'main' });
await store.updateSessionStore(path, (sessions) => { Object.assign(sessions, data.entries); });
"""

_WRITE_PLUGIN = """
for (const [sessionKey, entry] of Object.entries(data.entries)) {
  await store.upsertSessionEntry({ agentId: 'main', sessionKey, entry });
}
"""

#: What OpenClaw reads back: every entry, and the events of each session.
READ_BACK = """
const list = store.listSessionEntries({ agentId: 'main' });
const events = {};
const entries = {};
for (const { sessionKey, entry } of list) {
  entries[sessionKey] = entry;
  const where = { agentId: 'main', sessionId: entry.sessionId, sessionKey };
  const read = store.loadTranscriptEventsSync(where);
  if (read.length) events[entry.sessionId] = read;
}
emit({ entries, events });
"""


def doctor_import(openclaw: OpenClaw, state_dir: Path, agent_id: str = "main") -> str:
    """``openclaw doctor --session-sqlite import`` of one agent; its report."""
    done = openclaw.cli(
        "doctor",
        "--session-sqlite",
        "import",
        "--session-sqlite-agent",
        agent_id,
        "--non-interactive",
        state_dir=state_dir,
    )
    return done.stdout


def build(state_dir: Path) -> dict[str, Any]:
    """Make the state directory (see the module docstring); OpenClaw's reads of it."""
    now = int(time.time() * 1000)
    entries = {
        key: {**entry, "updatedAt": now - i}
        for i, (key, entry) in enumerate(_JSON_ERA_ENTRIES.items())
    }
    OpenClaw(JSON_ERA).run(_WRITE_JSON_ERA, state_dir, {"entries": entries})
    sessions = state_dir / "agents" / "main" / "sessions"
    for entry in entries.values():
        lines = transcript_lines(entry["sessionId"])
        (sessions / f"{entry['sessionId']}.jsonl").write_text("".join(f"{x}\n" for x in lines))
    sqlite_era = OpenClaw(SQLITE_ERA)
    report = doctor_import(sqlite_era, state_dir)
    assert "0 issue(s)" in report, report
    plugin = {
        key: {**entry, "updatedAt": now - 10 - i}
        for i, (key, entry) in enumerate(_PLUGIN_ENTRIES.items())
    }
    sqlite_era.run(_WRITE_PLUGIN, state_dir, {"entries": plugin})
    read: dict[str, Any] = sqlite_era.run(READ_BACK, state_dir)
    return read


def regenerate(out: Path = FIXTURE) -> None:
    """Write the fixture of the regular tests (see the module docstring)."""
    work = out.parent / f"{out.name}.build"
    shutil.rmtree(work, ignore_errors=True)
    state = work / "state"
    read = build(state)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    database = state / "agents" / "main" / "agent" / "openclaw-agent.sqlite"
    wal = database.with_name(f"{database.name}-wal")
    assert not wal.exists() or not wal.stat().st_size, "OpenClaw left its WAL unmerged"
    with open(database, "rb") as source, gzip.open(out / "openclaw-agent.sqlite.gz", "wb") as gz:
        shutil.copyfileobj(source, gz)
    shutil.copytree(
        state / "agents" / "main" / "sessions" / "skills-prompts", out / "skills-prompts"
    )
    lines = {
        entry["sessionId"]: transcript_lines(entry["sessionId"])
        for entry in _JSON_ERA_ENTRIES.values()
    }
    (out / "expected.json").write_text(
        json.dumps({**read, "lines": lines}, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    )
    shutil.rmtree(work)


if __name__ == "__main__":
    regenerate(Path(sys.argv[1]) if len(sys.argv) > 1 else FIXTURE)

"""The harness itself: each release runs, and writes where the suite expects."""

from __future__ import annotations

import time
from pathlib import Path

from tests.interop.openclaw import OpenClaw

#: Recent: OpenClaw's maintenance prunes entries idle for 30 days.
NOW = int(time.time() * 1000)

_WRITE_ONE = """
const path = store.resolveStorePath(undefined, { agentId: data.agent });
await store.updateSessionStore(path, (s) => { s[data.key] = data.entry; });
emit({ path, loaded: store.loadSessionStore(path) });
"""


def test_the_json_era_writes_sessions_json(openclaw_json: OpenClaw, state_dir: Path) -> None:
    key = "agent:main:main"
    result = openclaw_json.run(
        _WRITE_ONE,
        state_dir,
        {"agent": "main", "key": key, "entry": {"sessionId": "s1", "updatedAt": NOW}},
    )
    assert Path(result["path"]) == state_dir / "agents" / "main" / "sessions" / "sessions.json"
    assert result["loaded"][key]["sessionId"] == "s1"


def test_the_lock_era_loads_the_same_file(openclaw_lock: OpenClaw, state_dir: Path) -> None:
    key = "agent:main:main"
    result = openclaw_lock.run(
        _WRITE_ONE,
        state_dir,
        {"agent": "main", "key": key, "entry": {"sessionId": "s1", "updatedAt": NOW}},
    )
    assert result["loaded"][key]["sessionId"] == "s1"
    assert not Path(result["path"] + ".lock").exists()


def test_the_sqlite_era_keeps_an_agent_database(openclaw_sqlite: OpenClaw, state_dir: Path) -> None:
    key = "agent:main:main"
    result = openclaw_sqlite.run(
        """
        const where = { agentId: 'main', sessionKey: data.key };
        await store.upsertSessionEntry({ ...where, entry: data.entry });
        emit(store.getSessionEntry(where));
        """,
        state_dir,
        {"key": key, "entry": {"sessionId": "s1", "updatedAt": NOW}},
    )
    assert result["sessionId"] == "s1"
    assert (state_dir / "agents" / "main" / "agent" / "openclaw-agent.sqlite").is_file()

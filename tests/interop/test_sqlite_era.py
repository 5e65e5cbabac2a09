"""OpenClaw 2026.9.6's SQLite era into sessionstore, and the way back, judged by OpenClaw.

The state directory is made by OpenClaw itself (:mod:`tests.interop.sqlite_era`): entries
its doctor imported from a 2026.7.35 state directory (folded into ``delivery{}``) and
entries written through its plugin API (flat), transcripts with zstd-compressed events.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sessionstore import open_store
from sessionstore.cli import app
from sessionstore.openclaw.agentdb import database_path
from sessionstore.transfer import Status, export, migrate
from tests.interop.openclaw import RUN_TIMEOUT_S, OpenClaw, result_of
from tests.interop.sqlite_era import READ_BACK, build, doctor_import, transcript_lines


@pytest.fixture(scope="module")
def made(
    tmp_path_factory: pytest.TempPathFactory, openclaw_json: OpenClaw, openclaw_sqlite: OpenClaw
) -> tuple[Path, dict[str, Any]]:
    """The state directory OpenClaw made, and what OpenClaw read back from it."""
    state = tmp_path_factory.mktemp("made") / "state"
    return state, build(state)


@pytest.fixture
def era(made: tuple[Path, dict[str, Any]], state_dir: Path) -> dict[str, Any]:
    """A fresh copy of the made state directory at ``state_dir``; OpenClaw's reads."""
    shutil.copytree(made[0], state_dir)
    return made[1]


def fingerprint(database: Path) -> tuple[str, str]:
    """The SHA-256 of the database file and of its WAL (missing counts as empty)."""
    wal = database.with_name(f"{database.name}-wal")
    return (
        hashlib.sha256(database.read_bytes()).hexdigest(),
        hashlib.sha256(wal.read_bytes() if wal.exists() else b"").hexdigest(),
    )


def hydrated(state: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """OpenClaw's entry with its ``promptRef`` replaced by the prompt file it names."""
    snapshot = entry.get("skillsSnapshot")
    if not snapshot or "promptRef" not in snapshot:
        return entry
    digest = snapshot["promptRef"]["hash"]
    prompts = state / "agents/main/sessions/skills-prompts/sha256"
    prompt = (prompts / digest[:2] / f"{digest}.txt").read_text()
    rest = {k: v for k, v in snapshot.items() if k != "promptRef"}
    return {**entry, "skillsSnapshot": {**rest, "prompt": prompt}}


#: Each line as OpenClaw's reader returns it, serialised again by JavaScript.
_LINES = """
const lines = {};
for (const { sessionKey, entry } of store.listSessionEntries({ agentId: 'main' })) {
  const where = { agentId: 'main', sessionId: entry.sessionId, sessionKey };
  lines[entry.sessionId] = store.loadTranscriptEventsSync(where).map((e) => JSON.stringify(e));
}
emit(lines);
"""


def test_migrate_imports_both_shapes_and_the_transcripts_as_openclaw_reads_them(
    openclaw_sqlite: OpenClaw, era: dict[str, Any], state_dir: Path, sql_target: str
) -> None:
    database = database_path(state_dir, "main")
    before = fingerprint(database)
    dry = CliRunner().invoke(
        app, ["migrate", "--state-dir", str(state_dir), "--all-agents", "--dry-run"]
    )
    events = sum(len(read) for read in era["events"].values())
    line = f"main   sqlite (openclaw-agent.sqlite, schema 23)   5 entries   {events} events"
    assert line in dry.output.splitlines(), dry.output
    [agent] = migrate(state_dir, sql_target).agents
    assert (agent.status, agent.error) == (Status.MIGRATED, None)
    assert fingerprint(database) == before
    openclaw_lines = openclaw_sqlite.run(_LINES, state_dir)
    with open_store(sql_target, agent_id="main") as store:
        stored = {key: entry.to_dict() for key, entry in store.iter_entries()}
        assert stored == {k: hydrated(state_dir, e) for k, e in era["entries"].items()}
        carried = 0
        for _, entry in store.iter_entries():
            lines = list(store.transcripts.lines(entry))
            assert [json.loads(x) for x in lines] == era["events"].get(entry.session_id, [])
            assert [x.decode() for x in lines] == openclaw_lines[entry.session_id]
            if lines:
                carried += 1
                assert [x.decode() for x in lines] == transcript_lines(entry.session_id)
        assert carried == len(era["events"]) == 3
        assert {row.key for row in store.list(channel="telegram").items} == {
            "agent:main:main",
            "agent:main:telegram:group:-100",
            "agent:main:telegram:direct:777",
        }
    assert openclaw_sqlite.run(READ_BACK, state_dir) == era  # and OpenClaw reads it as before


_WRITER = """
const { existsSync } = await import('node:fs');
const transcripts = await import('openclaw/plugin-sdk/session-transcript-runtime');
const main = { agentId: 'main', sessionId: 's-main', sessionKey: 'agent:main:main' };
let i = 0;
while (!existsSync(data.stop) && i < 100000) {
  const sessionKey = `agent:main:writer:${i % 20}`;
  const entry = { sessionId: `w-${i % 20}`, updatedAt: data.now + i, label: `write ${i}` };
  await store.upsertSessionEntry({ agentId: 'main', sessionKey, entry });
  const content = [{ type: 'text', text: `append ${i}` }];
  const message = { role: 'user', content, timestamp: data.now };
  await transcripts.appendSessionTranscriptMessageByIdentity({ ...main, message });
  i += 1;
  if (i === 1) emit({ started: true });
}
emit({ written: i });
"""


def test_a_migrate_while_openclaw_writes_reads_one_snapshot_and_disturbs_nothing(
    openclaw_sqlite: OpenClaw, era: dict[str, Any], state_dir: Path, tmp_path: Path
) -> None:
    """OpenClaw upserts entry ``i`` then appends message ``i`` to ``s-main``, over and
    over, during the whole migrate: in one snapshot the appends are the upserts, or one
    fewer; read at two moments, the transcript would hold more."""
    stop = tmp_path / "stop"
    now = int(time.time() * 1000)
    target = tmp_path / "sessions.db"
    with openclaw_sqlite.spawn(_WRITER, state_dir, {"stop": str(stop), "now": now}) as writer:
        assert writer.stdout is not None and writer.stderr is not None
        for raw in writer.stdout:  # until it has written once
            if result_of(raw) == {"started": True}:
                break
        try:
            [agent] = migrate(state_dir, target).agents
        finally:
            stop.touch()
        rest, errors = writer.stdout.read(), writer.stderr.read()
        assert writer.wait(timeout=RUN_TIMEOUT_S) == 0, errors.decode()
    [written] = [r["written"] for r in map(result_of, rest.splitlines()) if r]
    assert (agent.status, agent.error) == (Status.MIGRATED, None)
    assert agent.lines_imported == agent.events  # counted and carried in one snapshot
    with open_store(target, agent_id="main") as store:
        labels = {
            int(key.rsplit(":", 1)[1]): int(entry.to_dict()["label"].split()[1])
            for key, entry in store.iter_entries()
            if key.startswith("agent:main:writer:")
        }
        main = store.get("agent:main:main")
        assert main is not None
        appended = [
            json.loads(line)["message"]["content"][0]["text"]
            for line in list(store.transcripts.lines(main))[len(era["events"]["s-main"]) :]
        ]
    upserts = max(labels.values()) + 1
    # the entries: the upserts 0..upserts-1, each key holding the last one it got
    assert labels == {k: upserts - 1 - (upserts - 1 - k) % 20 for k in range(min(20, upserts))}
    assert appended == [f"append {i}" for i in range(len(appended))]
    assert len(appended) in (upserts - 1, upserts)
    assert written >= upserts


def test_export_is_the_way_back_the_doctor_imports_it_as_openclaws_own_data(
    openclaw_sqlite: OpenClaw, era: dict[str, Any], state_dir: Path, tmp_path: Path
) -> None:
    target = tmp_path / "sessions.db"
    assert migrate(state_dir, target).ok
    back = tmp_path / "back"
    exported = export(target, state_dir=back)
    assert [a.status for a in exported.agents] == [Status.EXPORTED], exported.to_dict()
    assert " 0 issue(s)" in doctor_import(openclaw_sqlite, back)
    ours = openclaw_sqlite.run(READ_BACK, back)
    # OpenClaw's own data through the same doctor import: its entries as it lists them,
    # its prompt files and its transcripts, as a JSON-era state directory.
    own = tmp_path / "own"
    sessions = own / "agents/main/sessions"
    sessions.mkdir(parents=True)
    (sessions / "sessions.json").write_text(json.dumps(era["entries"]))
    shutil.copytree(state_dir / "agents/main/sessions/skills-prompts", sessions / "skills-prompts")
    for session_id in era["events"]:
        (sessions / f"{session_id}.jsonl").write_text(
            "".join(f"{line}\n" for line in transcript_lines(session_id))
        )
    assert " 0 issue(s)" in doctor_import(openclaw_sqlite, own)
    theirs = openclaw_sqlite.run(READ_BACK, own)
    assert ours == theirs
    assert ours["events"] == era["events"]
    folded = {k: e for k, e in era["entries"].items() if "delivery" in e}
    assert folded and {k: ours["entries"][k] for k in folded} == folded  # what went in
    flat = era["entries"]["agent:main:telegram:direct:777"]
    assert "lastTo" in flat and "delivery" in ours["entries"]["agent:main:telegram:direct:777"]

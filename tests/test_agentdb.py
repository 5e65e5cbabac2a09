"""OpenClaw 2026.9's agent database as a migrate source, on a database OpenClaw wrote.

The fixture ``tests/fixtures/openclaw-2026.9.6`` was made by OpenClaw 2026.9.6 itself
(``python -m tests.interop.sqlite_era`` regenerates it): entries imported by its doctor
(folded ``delivery{}``) and written through its plugin API (flat), transcripts with
zstd-compressed events, and ``expected.json``, what OpenClaw read back from it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sessionstore import open_store
from sessionstore.cli import app
from sessionstore.errors import CorruptStoreError
from sessionstore.openclaw.agentdb import AgentDatabase, UnsupportedSchemaError, database_path
from sessionstore.openclaw.statedir import discover_agents
from sessionstore.transfer import Status, migrate

FIXTURE = Path(__file__).parent / "fixtures" / "openclaw-2026.9.6"
EXPECTED: dict[str, Any] = json.loads((FIXTURE / "expected.json").read_text())
PROMPT_OWNER = "agent:main:main"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A state directory holding the fixture's agent ``main``, as OpenClaw left it."""
    root = tmp_path / "state"
    database = database_path(root, "main")
    database.parent.mkdir(parents=True)
    with gzip.open(FIXTURE / "openclaw-agent.sqlite.gz") as gz, open(database, "wb") as out:
        shutil.copyfileobj(gz, out)
    shutil.copytree(FIXTURE / "skills-prompts", root / "agents/main/sessions/skills-prompts")
    return root


def fingerprint(database: Path) -> tuple[str, str]:
    """The SHA-256 of the database file and of its WAL (a missing WAL counts as empty:
    SQLite creates an empty one for any reader of a WAL database)."""
    wal = database.with_name(f"{database.name}-wal")
    return (
        hashlib.sha256(database.read_bytes()).hexdigest(),
        hashlib.sha256(wal.read_bytes() if wal.exists() else b"").hexdigest(),
    )


def hydrated(key: str, entry: dict[str, Any]) -> dict[str, Any]:
    """OpenClaw's entry with its ``promptRef`` replaced by the prompt file it names."""
    snapshot = entry.get("skillsSnapshot")
    if not snapshot or "promptRef" not in snapshot:
        return entry
    digest = snapshot["promptRef"]["hash"]
    prompt = (FIXTURE / "skills-prompts/sha256" / digest[:2] / f"{digest}.txt").read_text()
    rest = {k: v for k, v in snapshot.items() if k != "promptRef"}
    return {**entry, "skillsSnapshot": {**rest, "prompt": prompt}}


def test_the_reader_returns_the_entries_as_openclaw_lists_them(state: Path) -> None:
    with AgentDatabase(database_path(state, "main")) as database:
        assert database.schema_version == 23
        assert dict(database.entries()) == EXPECTED["entries"]


def test_each_line_is_what_openclaw_reads_back_and_what_the_jsonl_held(state: Path) -> None:
    path = database_path(state, "main")
    with sqlite3.connect(path) as raw:
        compressed = raw.execute(
            "SELECT count(*) FROM transcript_events WHERE event_zstd IS NOT NULL"
        ).fetchone()[0]
    assert compressed >= 6  # two lines of each JSON-era session
    with AgentDatabase(path) as database:
        assert database.session_ids() == set(EXPECTED["events"])
        for session_id, events in EXPECTED["events"].items():
            lines = list(database.lines(session_id))
            assert [json.loads(line) for line in lines] == events
            assert [line.decode() for line in lines] == EXPECTED["lines"][session_id]


def test_migrate_imports_both_shapes_and_the_transcripts_and_leaves_the_database(
    state: Path, sql_target: str
) -> None:
    database = database_path(state, "main")
    before = fingerprint(database)
    report = migrate(state, sql_target)
    [agent] = report.agents
    assert (agent.status, agent.error, agent.warnings) == (Status.MIGRATED, None, [])
    assert agent.era == "sqlite (openclaw-agent.sqlite, schema 23)"
    assert agent.transcripts_imported == len(EXPECTED["events"])
    assert fingerprint(database) == before
    with open_store(sql_target, agent_id="main") as store:
        stored = {key: entry.to_dict() for key, entry in store.iter_entries()}
        assert stored == {k: hydrated(k, e) for k, e in EXPECTED["entries"].items()}
        assert "prompt" in stored[PROMPT_OWNER]["skillsSnapshot"]
        for _, entry in store.iter_entries():
            want = EXPECTED["lines"].get(entry.session_id)
            got = [line.decode() for line in store.transcripts.lines(entry)]
            assert got == (want or [])
        telegram = {row.key: row for row in store.list(channel="telegram").items}
        assert set(telegram) == {
            "agent:main:main",  # folded, by doctor
            "agent:main:telegram:group:-100",  # folded
            "agent:main:telegram:direct:777",  # flat, by the plugin API
        }
        assert telegram["agent:main:main"].last_to == "12345"
        assert telegram["agent:main:main"].last_account_id == "acc"
    assert migrate(state, sql_target).agents[0].status is Status.SKIPPED


def test_the_read_is_one_snapshot_and_a_writer_goes_on(state: Path) -> None:
    path = database_path(state, "main")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    with AgentDatabase(path) as database:
        first = database.entries()
        writer.execute(
            "INSERT INTO session_nodes (session_key, current_session_id, entry_json, updated_at)"
            " VALUES ('agent:main:new', 's-new', '{\"sessionId\":\"s-new\",\"updatedAt\":1}', 1)"
        )
        assert database.entries() == first  # not the row committed since
    writer.close()
    with AgentDatabase(path) as database:
        assert len(database.entries()) == len(first) + 1


def test_an_unknown_schema_version_is_refused_naming_the_known_ones(state: Path) -> None:
    path = database_path(state, "main")
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE schema_meta SET schema_version = 99")
    raw.close()
    before = fingerprint(path)
    with pytest.raises(UnsupportedSchemaError, match=r"version 99.*reads schema version 23"):
        AgentDatabase(path)
    result = CliRunner().invoke(app, ["migrate", "--state-dir", str(state), "--all-agents"])
    assert result.exit_code == 1
    assert "schema version 99" in result.output
    assert fingerprint(path) == before
    assert not (state / "sessionstore.db").exists()


def test_the_dry_run_names_each_agents_era(state: Path) -> None:
    (state / "agents/work/sessions").mkdir(parents=True)
    (state / "agents/work/sessions/sessions.json").write_text(
        '{"agent:work:main": {"sessionId": "w1", "updatedAt": 1}}'
    )
    result = CliRunner().invoke(
        app, ["migrate", "--state-dir", str(state), "--all-agents", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    events = sum(len(events) for events in EXPECTED["events"].values())
    lines = result.output.splitlines()
    assert (
        f"main   sqlite (openclaw-agent.sqlite, schema 23)   5 entries   {events} events" in lines
    )
    assert "work   json (sessions.json)   1 entries   0 transcripts" in lines
    assert not (state / "sessionstore.db").exists()


def test_a_sessions_json_beside_the_database_is_not_read(state: Path) -> None:
    left_over = state / "agents/main/sessions/sessions.json"
    left_over.write_text('{"agent:main:old": {"sessionId": "old", "updatedAt": 1}}')
    [source] = discover_agents(state)
    assert source.era == "sqlite"
    report = migrate(state, dry_run=True)
    [agent] = report.agents
    assert agent.era == "sqlite (openclaw-agent.sqlite, schema 23); a sessions.json too, not read"
    assert agent.entries_read == len(EXPECTED["entries"])
    assert any(str(left_over) in warning for warning in agent.warnings)


def test_a_damaged_compressed_event_fails_the_agent_naming_it(state: Path) -> None:
    path = database_path(state, "main")
    with sqlite3.connect(path) as raw:
        raw.execute(
            "UPDATE transcript_events SET event_zstd = x'28b52ffd00' "
            "WHERE session_id = 's-main' AND seq = 2"
        )
    raw.close()
    with AgentDatabase(path) as database, pytest.raises(CorruptStoreError, match="event 2"):
        list(database.lines("s-main"))
    [agent] = migrate(state).agents
    assert agent.status is Status.FAILED
    assert agent.error is not None and "session s-main" in agent.error


def test_into_a_sessions_json_the_transcripts_become_files_beside_it(
    state: Path, tmp_path: Path
) -> None:
    target = tmp_path / "twin" / "sessions.json"
    [agent] = migrate(state, target).agents
    assert (agent.status, agent.error) == (Status.MIGRATED, None)
    for session_id, lines in EXPECTED["lines"].items():
        written = (target.parent / f"{session_id}.jsonl").read_text()
        assert written == "".join(f"{line}\n" for line in lines)


def test_an_agent_with_only_a_database_is_found_and_a_bad_entry_is_rejected(
    state: Path,
) -> None:
    shutil.rmtree(state / "agents/main/sessions")
    with sqlite3.connect(database_path(state, "main")) as raw:
        raw.execute(
            "INSERT INTO session_nodes (session_key, current_session_id, entry_json, updated_at)"
            " VALUES ('agent:main:bad', 's-bad', '{\"sessionId\": \"../x\"}', 1)"
        )
    raw.close()
    [source] = discover_agents(state)
    assert (source.agent_id, source.era) == ("main", "sqlite")
    [agent] = migrate(state, dry_run=True).agents
    assert agent.status is Status.PARTIAL
    assert [key for key, _ in agent.rejected] == ["agent:main:bad"]
    # the prompt file went with the sessions directory: the entry keeps its promptRef
    assert len(agent.warnings) == 1 and PROMPT_OWNER in agent.warnings[0]


def octet_length(value: str | bytes | None) -> int | None:
    """SQLite's ``octet_length`` (3.43), which OpenClaw's CHECK constraints call, for
    the older SQLite of some Pythons."""
    return None if value is None else len(value.encode() if isinstance(value, str) else value)


def test_the_transcript_of_an_earlier_generation_stays_and_is_named(state: Path) -> None:
    with sqlite3.connect(database_path(state, "main")) as raw:
        raw.create_function("octet_length", 1, octet_length, deterministic=True)
        raw.execute(
            "INSERT INTO session_windows (session_id, session_key, reason, created_at, updated_at)"
            " VALUES ('s-old', 'agent:main:main', 'reset', 1, 1)"
        )
        raw.execute(
            "INSERT INTO transcript_events (session_id, seq, event_json, created_at)"
            ' VALUES (\'s-old\', 0, \'{"type":"session","version":3,"id":"s-old"}\', 1)'
        )
    raw.close()
    [agent] = migrate(state).agents
    assert (agent.status, agent.transcripts_imported) == (Status.MIGRATED, 3)
    assert agent.warnings == [
        "1 transcripts of sessions no entry holds now (earlier generations: resets, "
        f"rollovers, forks) were not imported; they stay in {database_path(state, 'main')}"
    ]

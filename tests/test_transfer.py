"""migrate, export and copy on real state directories and real databases."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sessionstore import InvalidArgumentError, SessionEntry, SessionStore, open_store
from sessionstore.openclaw.skillprompts import PromptBlobs
from sessionstore.openclaw.statedir import discover_agents, load_agent, store_path
from sessionstore.openclaw.transcripts import FileTranscripts
from sessionstore.testing import GeneratedStateDir, generate_state_dir
from sessionstore.transfer import (
    BATCH_SIZE,
    Checksum,
    LineDigest,
    Status,
    copy,
    default_target,
    export,
    migrate,
)


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` with the sha256 of its bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def normalised_source(state: Path, agent_id: str) -> dict[str, dict[str, Any]]:
    source = next(s for s in discover_agents(state) if s.agent_id == agent_id)
    return load_agent(source).entries


def read_json(path: Path) -> dict[str, Any]:
    """A ``sessions.json`` as OpenClaw loads it: skills prompts read back from their files."""
    data: dict[str, Any] = json.loads(path.read_text())
    assert not PromptBlobs(path.parent).hydrate(data)
    return data


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> GeneratedStateDir:
    return generate_state_dir(
        tmp_path_factory.mktemp("state"),
        sessions_per_agent=60,
        messages_per_session=(1, 4),
        messy=True,
    )


def migrated(messy: GeneratedStateDir, agent_id: str) -> Status:
    """The status of a messy agent after a migration: its invalid entries stay behind."""
    return Status.PARTIAL if messy.invalid_keys.get(agent_id) else Status.MIGRATED


def test_migrate_imports_every_valid_agent_and_fails_the_corrupt_one(
    messy: GeneratedStateDir, tmp_path: Path
) -> None:
    before = snapshot(messy.state_dir)
    target = f"sqlite:///{tmp_path / 'db.sqlite'}"
    report = migrate(messy.state_dir, target)
    statuses = {agent.agent_id: agent.status for agent in report.agents}
    assert statuses == {
        **{agent_id: migrated(messy, agent_id) for agent_id in messy.agents},
        **dict.fromkeys(messy.corrupt_agents, Status.FAILED),
    }
    assert Status.PARTIAL in statuses.values()
    assert not report.ok
    assert snapshot(messy.state_dir) == before  # the source is never touched
    for agent in report.agents:
        if agent.status is Status.FAILED:
            assert "left untouched" in (agent.error or "")
            continue
        expected = normalised_source(messy.state_dir, agent.agent_id)
        assert agent.imported == len(expected) and agent.checksum is not None
        rejected = {key for key, _ in agent.rejected}
        assert rejected == set(messy.invalid_keys.get(agent.agent_id, ()))
        assert agent.transcripts >= messy.transcripts[agent.agent_id]
        with open_store(target, agent_id=agent.agent_id) as store:
            assert store.count() == len(expected)
            for key, data in expected.items():
                assert store.get(key) == SessionEntry.from_dict(data)


def test_export_gives_back_the_normalised_source_with_the_same_json_types(
    messy: GeneratedStateDir, tmp_path: Path
) -> None:
    target = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate(messy.state_dir, target, agents=list(messy.agents))
    out = tmp_path / "rollback"
    report = export(target, state_dir=out, agents=list(messy.agents))
    assert report.ok and {a.status for a in report.agents} == {Status.EXPORTED}
    for agent_id in messy.agents:
        exported = read_json(store_path(out, agent_id))
        expected = normalised_source(messy.state_dir, agent_id)
        # json.loads keeps 42 and "42" and 1.0 apart; == on dicts alone would not
        assert json.dumps(exported, sort_keys=True) == json.dumps(expected, sort_keys=True)
        assert oct(store_path(out, agent_id).stat().st_mode & 0o777) == "0o600"


def test_export_import_export_is_stable(messy: GeneratedStateDir, tmp_path: Path) -> None:
    first_db = f"sqlite:///{tmp_path / 'one.sqlite'}"
    migrate(messy.state_dir, first_db, agents=["main"])
    first = tmp_path / "first"
    export(first_db, state_dir=first, agents=["main"])
    second_db = f"sqlite:///{tmp_path / 'two.sqlite'}"
    assert migrate(first, second_db).ok
    second = tmp_path / "second"
    export(second_db, state_dir=second, agents=["main"])
    assert read_json(store_path(first, "main")) == read_json(store_path(second, "main"))


def test_a_second_run_imports_nothing(messy: GeneratedStateDir, tmp_path: Path) -> None:
    target = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate(messy.state_dir, target, agents=list(messy.agents))
    again = migrate(messy.state_dir, target, agents=list(messy.agents))
    skipped = {
        a: Status.PARTIAL if messy.invalid_keys.get(a) else Status.SKIPPED for a in messy.agents
    }
    assert {a.agent_id: a.status for a in again.agents} == skipped
    assert sum(a.imported for a in again.agents) == 0
    assert all(a.unchanged == a.imported + a.unchanged > 0 for a in again.agents)


def test_a_dry_run_writes_nothing_not_even_the_target(messy: GeneratedStateDir) -> None:
    before = snapshot(messy.state_dir)
    report = migrate(messy.state_dir, dry_run=True)
    assert report.dry_run
    planned = [a for a in report.agents if a.status in (Status.MIGRATED, Status.PARTIAL)]
    assert planned and all(a.imported for a in planned)
    assert snapshot(messy.state_dir) == before
    assert not Path(default_target(messy.state_dir).removeprefix("sqlite:///")).exists()


def test_a_target_written_since_the_migration_is_not_overwritten(tmp_path: Path) -> None:
    state = generate_state_dir(tmp_path / "state", agents=("main",), sessions_per_agent=20)
    target = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert migrate(state.state_dir, target).ok
    with open_store(target) as store:
        store.put("agent:main:new-in-the-database", {"sessionId": "n1", "updatedAt": 1})
    report = migrate(state.state_dir, target)
    assert report.agents[0].status is Status.FAILED
    assert "agent:main:new-in-the-database" in (report.agents[0].error or "")
    with open_store(target) as store:
        assert store.get("agent:main:new-in-the-database") is not None  # nothing written
    replaced = migrate(state.state_dir, target, replace=True)
    assert replaced.agents[0].status is Status.MIGRATED and replaced.agents[0].removed == 1
    with open_store(target) as store:
        assert store.get("agent:main:new-in-the-database") is None


def test_a_changed_source_is_imported_again(tmp_path: Path) -> None:
    state = generate_state_dir(tmp_path / "state", agents=("main",), sessions_per_agent=20)
    target = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate(state.state_dir, target)
    path = state.store_path("main")
    data = read_json(path)
    key = next(iter(data))
    data[key] = {**data[key], "updatedAt": data[key]["updatedAt"] + 1, "label": "changed"}
    path.write_text(json.dumps(data, indent=2))
    report = migrate(state.state_dir, target)
    assert report.agents[0].status is Status.MIGRATED and report.agents[0].imported == 1
    with open_store(target) as store:
        entry = store.get(key)
        assert entry is not None and entry.label == "changed"


def test_an_agent_without_sessions_has_no_data(tmp_path: Path) -> None:
    (tmp_path / "agents" / "idle" / "sessions").mkdir(parents=True)
    report = migrate(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert [(a.agent_id, a.status) for a in report.agents] == [("idle", Status.NO_DATA)]
    assert report.ok


# A migration that stops at a named point: it says so on stdout and waits for stdin.
# The points are named by the progress the migration reports (see transfer.Progress):
# each agent starts its "writing" phase once planned, before its transaction begins.
_PAUSING_MIGRATION = """
import sys
from sessionstore.transfer import BATCH_SIZE, migrate

state_dir, target, point = sys.argv[1:]


class Pausing:
    def __init__(self):
        self.doing, self.done = "", 0

    def start(self, description, total):
        self.doing, self.done = description, 0
        self.check()

    def advance(self, amount=1):
        self.done += amount
        self.check()

    def check(self):
        here = {
            "before the first agent": self.doing == "a1: writing" and self.done == 0,
            # the first batch of a2 is sent, the transaction still open
            "inside an agent's transaction": self.doing == "a2: writing"
            and self.done == BATCH_SIZE + 1,
            "between agents": self.doing == "a2: writing" and self.done == 0,
        }
        if here[point]:
            print("paused", flush=True)
            sys.stdin.readline()  # never answered: the parent kills us here


migrate(state_dir, target, progress=Pausing())
print("finished", flush=True)
"""


def _migrate_until_killed(state_dir: Path, target: str, point: str) -> None:
    """Run a migration in a child process and SIGKILL it at ``point``."""
    with subprocess.Popen(
        [sys.executable, "-c", _PAUSING_MIGRATION, str(state_dir), target, point],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None
        said = child.stdout.readline().strip()
        assert said == "paused", f"the migration ended without reaching {point!r}: {said!r}"
        child.kill()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("point", "committed"),
    [
        ("before the first agent", []),
        ("inside an agent's transaction", ["a1"]),
        ("between agents", ["a1"]),
    ],
)
def test_a_migration_killed_partway_completes_on_rerun(
    tmp_path: Path, point: str, committed: list[str]
) -> None:
    # a2 has more entries than one batch, so the kill inside its transaction comes
    # after rows were sent
    state = generate_state_dir(
        tmp_path / "state",
        agents=("a1", "a2", "a3"),
        sessions_per_agent=BATCH_SIZE + 20,
        heavy_share=0.0,
        transcripts=False,
    )
    target = f"sqlite:///{tmp_path / 'db.sqlite'}"
    _migrate_until_killed(state.state_dir, target, point)
    if (tmp_path / "db.sqlite").exists():
        for agent_id in state.agents:  # each agent is there whole or not at all
            with open_store(target, agent_id=agent_id) as store:
                count = state.entries[agent_id] if agent_id in committed else 0
                assert store.count() == count, agent_id
    report = migrate(state.state_dir, target)
    assert report.ok, [a.error for a in report.agents]
    assert [a.agent_id for a in report.agents if a.status is Status.SKIPPED] == committed
    assert all(a.status is Status.MIGRATED for a in report.agents if a.agent_id not in committed)
    for agent_id in state.agents:
        expected = normalised_source(state.state_dir, agent_id)
        with open_store(target, agent_id=agent_id) as store:
            assert store.count() == len(expected) == state.entries[agent_id]
            got = Checksum.of((k, e.to_dict()) for k, e in store.iter_entries())
        assert got == Checksum.of(expected.items())


def test_copy_sqlite_to_postgresql_to_the_json_twin(
    messy: GeneratedStateDir, tmp_path: Path, postgresql_url: str
) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate(messy.state_dir, sqlite_url, agents=list(messy.agents))
    to_pg = copy(sqlite_url, postgresql_url, batch_size=7)
    assert to_pg.ok and [a.agent_id for a in to_pg.agents] == sorted(messy.agents)
    assert {a.status for a in to_pg.agents} == {Status.COPIED}
    json_path = tmp_path / "main.json"
    to_json = copy(postgresql_url, json_path, agents=["main"])
    main_checksum = next(a.checksum for a in to_pg.agents if a.agent_id == "main")
    assert to_json.ok and to_json.agents[0].checksum == main_checksum
    expected = normalised_source(messy.state_dir, "main")
    assert json.dumps(read_json(json_path), sort_keys=True) == json.dumps(expected, sort_keys=True)
    # and back again into an empty database, still equal
    back = copy(json_path, f"sqlite:///{tmp_path / 'back.sqlite'}")
    assert back.ok and back.agents[0].checksum == to_json.agents[0].checksum


def test_copy_to_mysql_is_verified(
    messy: GeneratedStateDir, tmp_path: Path, mysql_url: str
) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate(messy.state_dir, sqlite_url, agents=list(messy.agents))
    report = copy(sqlite_url, mysql_url)
    assert report.ok and {a.status for a in report.agents} == {Status.COPIED}


def test_copy_of_several_agents_into_one_sessions_json_is_refused(tmp_path: Path) -> None:
    state = generate_state_dir(tmp_path / "state", agents=("a", "b"), sessions_per_agent=3)
    sqlite_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate(state.state_dir, sqlite_url)
    with pytest.raises(Exception, match="--agent"):
        copy(sqlite_url, tmp_path / "one.json")


def test_export_refuses_to_overwrite_unless_forced_and_keeps_a_backup(tmp_path: Path) -> None:
    state = generate_state_dir(tmp_path / "state", agents=("main",), sessions_per_agent=5)
    target = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate(state.state_dir, target)
    original = state.store_path("main").read_bytes()
    refused = export(target, state_dir=state.state_dir)
    assert refused.agents[0].status is Status.FAILED and "--force" in (
        refused.agents[0].error or ""
    )
    assert state.store_path("main").read_bytes() == original
    forced = export(target, state_dir=state.state_dir, force=True)
    assert forced.ok
    backups = list(state.store_path("main").parent.glob("sessions.json.bak.*"))
    assert len(backups) == 1 and backups[0].read_bytes() == original


# -- transcripts: migrate --transcripts sql, export, copy -----------------------------


def transcript_files(directory: Path) -> dict[str, bytes]:
    """The live transcript files of a sessions directory, by name, as bytes."""
    return {p.name: p.read_bytes() for p in sorted(directory.glob("*.jsonl"))}


def carried(store: SessionStore, directory: Path) -> dict[str, tuple[LineDigest, LineDigest]]:
    """Each entry's transcript that exists in ``directory``: (the store's lines, the
    file's lines) as digests, by session id."""
    files = FileTranscripts(store, directory)
    found = {}
    for _, entry in store.iter_entries():
        if files.exists(entry):
            found[entry.session_id] = (
                LineDigest.of(store.transcripts.lines(entry)),
                LineDigest.of(files.lines(entry)),
            )
    return found


@pytest.fixture
def small_state(tmp_path: Path) -> GeneratedStateDir:
    return generate_state_dir(
        tmp_path / "state", agents=("main", "work"), sessions_per_agent=12, heavy_share=0.0
    )


def test_migrate_transcripts_into_sql_verified_resumable_and_the_files_untouched(
    small_state: GeneratedStateDir, sql_target: str
) -> None:
    state = small_state
    before = snapshot(state.state_dir)
    report = migrate(state.state_dir, sql_target, transcripts="sql")
    assert report.ok, [a.error for a in report.agents]
    assert snapshot(state.state_dir) == before  # read, never written
    for agent in report.agents:
        files = transcript_files(state.store_path(agent.agent_id).parent)
        assert agent.status is Status.MIGRATED
        assert agent.transcripts_imported == len(files) == state.transcripts[agent.agent_id]
        assert agent.lines_imported == sum(len(data.splitlines()) for data in files.values())
        assert agent.transcripts_skipped == agent.lines_skipped == 0
        assert not agent.warnings  # no orphan file, no archive
        with open_store(sql_target, agent_id=agent.agent_id, transcripts="sql") as store:
            assert store.transcripts.tier == "sql"
            pairs = carried(store, state.store_path(agent.agent_id).parent)
            assert len(pairs) == len(files)
            assert all(ours == theirs for ours, theirs in pairs.values())
            for key, entry in store.iter_entries():
                if not store.transcripts.exists(entry):
                    continue
                raw = files[Path(entry.session_file or "").name]
                assert b"".join(line + b"\n" for line in store.transcripts.lines(entry)) == raw
                events = [json.loads(line) for line in raw.splitlines()[1:]]
                assert store.transcripts.tail(key, limit=1000) == events
    again = migrate(state.state_dir, sql_target, transcripts="sql")
    assert again.ok and {a.status for a in again.agents} == {Status.SKIPPED}
    for first, second in zip(report.agents, again.agents, strict=True):
        assert second.transcripts_imported == second.lines_imported == 0
        assert second.transcripts_skipped == first.transcripts_imported
        assert second.lines_skipped == first.lines_imported
    assert snapshot(state.state_dir) == before


def test_a_rerun_never_replaces_a_transcript_written_since_without_replace(
    small_state: GeneratedStateDir, sql_target: str
) -> None:
    """An event appended in the database after a migration stays: the rerun fails the
    agent naming the transcript and --replace; with replace the file's lines win."""
    state = small_state
    assert migrate(state.state_dir, sql_target, transcripts="sql", agents=["main"]).ok
    with open_store(sql_target, transcripts="sql") as store:
        key, entry = next((k, e) for k, e in store.iter_entries() if store.transcripts.exists(e))
        store.transcripts.append(key, [{"type": "message", "id": "late", "message": {
            "role": "user", "content": "after the migration"}}])  # fmt: skip
    again = migrate(state.state_dir, sql_target, transcripts="sql", agents=["main"])
    (agent,) = again.agents
    assert agent.status is Status.FAILED and not again.ok
    assert entry.session_id in (agent.error or "") and "--replace" in (agent.error or "")
    with open_store(sql_target, transcripts="sql") as store:
        assert store.transcripts.tail(key, limit=1)[0]["id"] == "late"
    replaced = migrate(
        state.state_dir, sql_target, transcripts="sql", agents=["main"], replace=True
    )
    assert replaced.ok
    with open_store(sql_target, transcripts="sql") as store:
        assert store.transcripts.tail(key, limit=1)[0]["id"] != "late"


def test_an_empty_transcript_file_is_nothing_to_import(
    small_state: GeneratedStateDir, sql_target: str
) -> None:
    state = small_state
    files = sorted(state.store_path("main").parent.glob("*.jsonl"))
    files[0].write_bytes(b"")  # OpenClaw made the file, nothing was written yet
    first = migrate(state.state_dir, sql_target, transcripts="sql", agents=["main"])
    assert first.ok and first.agents[0].transcripts_imported == len(files) - 1
    again = migrate(state.state_dir, sql_target, transcripts="sql", agents=["main"])
    assert again.ok and again.agents[0].status is Status.SKIPPED


def test_migrate_without_transcripts_leaves_them_files(
    small_state: GeneratedStateDir, tmp_path: Path
) -> None:
    target = f"sqlite:///{tmp_path / 'db.sqlite'}"
    for tier in (None, "files"):
        report = migrate(small_state.state_dir, target, transcripts=tier)
        assert report.ok
        assert all(a.transcripts_imported == a.transcripts_skipped == 0 for a in report.agents)
    with open_store(target, transcripts="sql") as store:
        assert store.transcripts.session_ids() == set()
    with pytest.raises(InvalidArgumentError, match="transcripts"):
        migrate(small_state.state_dir, target, transcripts="cloud")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="database target"):
        migrate(small_state.state_dir, tmp_path / "twin.json", transcripts="sql")


def test_a_dry_run_plans_the_transcripts_and_writes_nothing(
    small_state: GeneratedStateDir, tmp_path: Path
) -> None:
    target = tmp_path / "db.sqlite"
    archive = small_state.store_path("main").parent / "x.jsonl.reset.2026-01-01T00-00-00.000Z"
    archive.write_bytes(b'{"type":"session","id":"x"}\n')
    dry = migrate(small_state.state_dir, f"sqlite:///{target}", transcripts="sql", dry_run=True)
    assert not target.exists()
    assert dry.agents[0].warnings == [
        "0 transcript files that no entry refers to and 1 archived transcripts were not "
        f"imported; they stay files in {archive.parent}"
    ]
    planned = {a.agent_id: (a.transcripts_imported, a.lines_imported) for a in dry.agents}
    done = migrate(small_state.state_dir, f"sqlite:///{target}", transcripts="sql")
    assert {a.agent_id: (a.transcripts_imported, a.lines_imported) for a in done.agents} == planned
    again = migrate(small_state.state_dir, f"sqlite:///{target}", transcripts="sql", dry_run=True)
    assert all(a.transcripts_imported == 0 and a.status is Status.SKIPPED for a in again.agents)


def test_orphan_transcripts_and_archives_are_not_imported_and_said_so(
    messy: GeneratedStateDir, tmp_path: Path
) -> None:
    sessions = messy.store_path("main").parent
    report = migrate(messy.state_dir, f"sqlite:///{tmp_path / 'db'}", transcripts="sql")
    main = next(a for a in report.agents if a.agent_id == "main")
    warning = next(w for w in main.warnings if "not imported" in w)
    orphans = int(warning.split()[0])
    assert orphans >= len(messy.orphan_transcripts["main"])
    assert str(sessions) in warning
    with open_store(f"sqlite:///{tmp_path / 'db'}", transcripts="sql") as store:
        live = store.transcripts.session_ids()
    for name in messy.orphan_transcripts["main"]:
        assert name.removesuffix(".jsonl") not in live
    # the legacy store's transcripts are found beside it
    legacy = {p.stem for p in (messy.state_dir / "sessions").glob("*.jsonl")}
    assert legacy & live


@pytest.mark.usefixtures("no_hang")
def test_a_transcript_that_cannot_be_read_fails_the_agent_and_a_rerun_finishes(
    small_state: GeneratedStateDir, sql_target: str, tmp_path: Path
) -> None:
    state = small_state
    before = snapshot(state.state_dir)
    directory = state.store_path("main").parent
    victim = [p for p in sorted(directory.glob("*.jsonl")) if "-topic-" not in p.name][3]
    aside = tmp_path / "aside.jsonl"
    os.rename(victim, aside)
    os.mkfifo(victim)  # a FIFO in its place: never opened, reported
    try:
        first = migrate(state.state_dir, sql_target, transcripts="sql")
    finally:
        victim.unlink()
        os.rename(aside, victim)
    assert snapshot(state.state_dir) == before
    main, work = first.agents
    assert main.status is Status.FAILED and not first.ok
    assert victim.stem in (main.error or "") and "not a regular file" in (main.error or "")
    assert main.transcripts_imported == state.transcripts["main"] - 1
    assert work.status is Status.MIGRATED and work.transcripts_imported == state.transcripts["work"]
    with open_store(sql_target, transcripts="sql") as store:
        assert victim.stem not in store.transcripts.session_ids()
        assert store.count() == state.entries["main"]  # the entries are in, verified
    again = migrate(state.state_dir, sql_target, transcripts="sql")
    assert again.ok, [a.error for a in again.agents]
    main, work = again.agents
    assert main.status is Status.MIGRATED  # one transcript written
    assert (main.transcripts_imported, main.transcripts_skipped) == (
        1,
        state.transcripts["main"] - 1,
    )
    assert work.status is Status.SKIPPED and work.transcripts_imported == 0
    with open_store(sql_target, transcripts="sql") as store:
        pairs = carried(store, directory)
        assert len(pairs) == state.transcripts["main"]
        assert all(ours == theirs for ours, theirs in pairs.values())


def test_export_from_the_sql_tier_writes_jsonl_the_files_tier_reads_equal(
    small_state: GeneratedStateDir, sql_target: str, tmp_path: Path
) -> None:
    state = small_state
    assert migrate(state.state_dir, sql_target, transcripts="sql").ok
    back = tmp_path / "back"
    report = export(sql_target, state_dir=back, agents=["main", "work"])
    assert report.ok, [a.error for a in report.agents]
    for agent in report.agents:
        assert agent.transcripts_imported == state.transcripts[agent.agent_id]
        exported = transcript_files(store_path(back, agent.agent_id).parent)
        assert exported == transcript_files(state.store_path(agent.agent_id).parent)
        for data in exported.values():
            assert data.endswith(b"\n")
            assert json.loads(data.splitlines()[0])["type"] == "session"
        with open_store(sql_target, agent_id=agent.agent_id, transcripts="sql") as store:
            pairs = carried(store, store_path(back, agent.agent_id).parent)
            assert len(pairs) == len(exported)
            assert all(ours == theirs for ours, theirs in pairs.values())
        # the files tier reads what OpenClaw reads
        with open_store(store_path(back, agent.agent_id)) as twin:
            for key, entry in twin.iter_entries():
                if twin.transcripts.exists(entry):
                    assert twin.transcripts.count(key) >= 0
                    assert twin.transcripts.tail(key, limit=1000)
    assert not list(back.rglob("*.lock"))  # the twin's and the files tier's locks removed


def test_export_never_replaces_a_different_transcript_without_force(
    small_state: GeneratedStateDir, tmp_path: Path
) -> None:
    target = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert migrate(small_state.state_dir, target, transcripts="sql", agents=["main"]).ok
    back = tmp_path / "back"
    directory = store_path(back, "main").parent
    directory.mkdir(parents=True)
    originals = transcript_files(small_state.store_path("main").parent)
    name = next(iter(originals))
    (directory / name).write_bytes(b'{"type":"session","id":"other"}\n')
    refused = export(target, state_dir=back, agents=["main"])
    agent = refused.agents[0]
    assert agent.status is Status.FAILED and "--force" in (agent.error or "")
    assert name in (agent.error or "")
    assert sorted(p.name for p in directory.iterdir()) == [name]  # nothing else written
    forced = export(target, state_dir=back, agents=["main"], force=True)
    assert forced.ok, forced.agents[0].error
    assert (
        transcript_files(small_state.store_path("main").parent)[name]
        == (directory / name).read_bytes()
    )
    [backup] = directory.glob(f"{name}.bak.*")
    assert backup.read_bytes() == b'{"type":"session","id":"other"}\n'
    again = export(target, state_dir=back, agents=["main"], force=True)
    assert again.ok and again.agents[0].transcripts_imported == 0
    assert again.agents[0].transcripts_skipped == small_state.transcripts["main"]
    sessions_only = export(target, out=tmp_path / "only.json", agents=["main"], transcripts=False)
    assert sessions_only.ok and not list(tmp_path.glob("*.jsonl"))


def test_copy_carries_transcripts_from_tier_to_tier(
    small_state: GeneratedStateDir, tmp_path: Path, postgresql_url: str, mysql_url: str
) -> None:
    state = small_state
    sqlite_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert migrate(state.state_dir, sqlite_url, transcripts="sql").ok
    to_pg = copy(sqlite_url, postgresql_url)
    assert to_pg.ok, [a.error for a in to_pg.agents]
    assert [a.transcripts_imported for a in to_pg.agents] == [
        state.transcripts[a] for a in ("main", "work")
    ]
    to_mysql = copy(postgresql_url, mysql_url, agents=["work"])
    assert to_mysql.ok and to_mysql.agents[0].transcripts_imported == state.transcripts["work"]
    twin = tmp_path / "twin" / "sessions.json"
    to_twin = copy(mysql_url, twin, agents=["work"])  # the twin keeps files beside it
    assert to_twin.ok and to_twin.agents[0].transcripts_imported == state.transcripts["work"]
    assert transcript_files(state.store_path("work").parent) == transcript_files(twin.parent)
    # a file of the twin with other lines is replaced, and kept as <file>.bak.<ms>
    changed = sorted(twin.parent.glob("*.jsonl"))[0]
    grown = changed.read_bytes() + b'{"type":"custom","note":"written beside"}\n'
    changed.write_bytes(grown)
    assert copy(mysql_url, twin, agents=["work"]).ok
    (kept,) = twin.parent.glob(f"{changed.name}.bak.*")
    assert kept.read_bytes() == grown and changed.read_bytes() != grown
    again = copy(sqlite_url, postgresql_url)
    assert again.ok and all(a.transcripts_imported == 0 for a in again.agents)
    assert sum(a.transcripts_skipped for a in again.agents) == sum(state.transcripts.values())
    for url in (postgresql_url, mysql_url):
        with open_store(url, agent_id="work") as store:
            pairs = carried(store, state.store_path("work").parent)
            assert len(pairs) == state.transcripts["work"]
            assert all(ours == theirs for ours, theirs in pairs.values())
    bare = copy(sqlite_url, f"sqlite:///{tmp_path / 'bare.sqlite'}", transcripts=False)
    assert bare.ok and all(a.transcripts_imported == 0 for a in bare.agents)
    with open_store(f"sqlite:///{tmp_path / 'bare.sqlite'}") as store:
        assert store.transcripts.session_ids() == set()

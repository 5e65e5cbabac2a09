"""migrate, export and copy on real state directories and real databases."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sessionstore import SessionEntry, open_store
from sessionstore.openclaw.skillprompts import PromptBlobs
from sessionstore.openclaw.statedir import discover_agents, load_agent, store_path
from sessionstore.testing import GeneratedStateDir, generate_state_dir
from sessionstore.transfer import (
    BATCH_SIZE,
    Checksum,
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

"""``sessionstore erase``: a generated state directory with several agents, on every
backend (the JSON twin in the state directory, SQLite, PostgreSQL, MySQL/MariaDB with
SQL transcripts, and SQLite with transcripts as files), erased by each selector.

What is erased must be gone from every place (entries, transcripts on either tier,
archives, the full-text index, blobs only they used); everything else must be exactly
as it was; a dry run changes nothing; a unit that fails midway leaves its agent whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from typer.testing import CliRunner, Result

from sessionstore import SessionStore, open_store
from sessionstore.cli import app
from sessionstore.lifecycle import reset
from sessionstore.sql.schema import blobs, transcript_events
from sessionstore.testing import generate_state_dir
from sessionstore.transfer import migrate
from tests.contract.backends import (
    ALL_BACKENDS,
    BACKENDS,
    SQL_BACKENDS,
    backend_params,
    engine_of,
    sql_store,
)

RUNNER = CliRunner()
pytestmark = pytest.mark.usefixtures("isolated_env")
AGENTS = ("main", "work", "family")
USER = "123456789"
SUBJECT = f"agent:*:telegram:direct:{USER}"
SECRET = "my flat is at 7 Quince Lane"
#: ``skillsSnapshot.prompt`` of the data subject's entries only: a blob only they use
OWN_PROMPT = "the prompt of one user alone " * 40


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return RUNNER.invoke(app, list(args), env=env, prog_name="sessionstore", catch_exceptions=False)


@dataclass
class Place:
    """A generated state directory's sessions in one backend, and how to reach them."""

    kind: str
    state_dir: Path
    #: the CLI's arguments and environment that name the store
    args: list[str]
    env: dict[str, str]
    #: the database, or ``None`` for the state directory's sessions.json files
    url: str | None

    def sessions_dir(self, agent_id: str) -> Path:
        return self.state_dir / "agents" / agent_id / "sessions"

    def open(self, agent_id: str) -> SessionStore:
        files = {"transcripts": "files", "transcripts_dir": self.sessions_dir(agent_id)}
        if self.kind == "json":
            target = str(self.sessions_dir(agent_id) / "sessions.json")
            return open_store(target, agent_id=agent_id, **files)  # type: ignore[arg-type]
        assert self.url is not None
        if self.kind == "sqlite-files":
            return open_store(self.url, agent_id=agent_id, **files)  # type: ignore[arg-type]
        return open_store(self.url, agent_id=agent_id, transcripts="sql")

    def erase(self, *args: str) -> Result:
        return run("erase", *self.args, *args, env=self.env)

    @property
    def sql(self) -> bool:
        return self.kind != "json"


def _say(text: str) -> dict[str, Any]:
    return {"type": "message", "message": {"role": "user", "content": text}}


def _add_subject(place: Place) -> dict[str, str]:
    """The data subject's sessions in ``main`` and ``work``: a transcript reset once (an
    archive of an earlier session id), the new one, and a topic transcript; an entry
    with a blob of its own. Returns each agent's earlier session id."""
    earlier = {}
    for agent_id in ("main", "work"):
        key = f"agent:{agent_id}:telegram:direct:{USER}"
        with place.open(agent_id) as store:
            entry = {
                "sessionId": f"dsr-{agent_id}",
                "updatedAt": 1_774_960_000_000,
                "channel": "telegram",
                "skillsSnapshot": {"prompt": OWN_PROMPT + agent_id, "version": 3},
            }
            store.put(key, entry)
            store.transcripts.append(key, [_say(f"{SECRET}, first")])
            reset(store, key, transcripts=store.transcripts)
            store.transcripts.append(key, [_say(f"{SECRET}, again")])
            store.transcripts.append(key, [_say(f"{SECRET}, in a topic")], topic_id=5)
            earlier[agent_id] = f"dsr-{agent_id}"
    return earlier


# locks, and SQLite's companions (what they hold is in the database)
_NOT_DATA = (".lock", "-wal", "-shm")


def _snapshot(place: Place, skip: set[str]) -> dict[str, Any]:
    """Everything of every agent but the keys ``skip`` (and, on the files tier, their
    files): entries, each entry's transcript lines, the archives, and the bytes of
    every file of the state directory's sessions directories."""
    seen: dict[str, Any] = {}
    for agent_id in AGENTS:
        with place.open(agent_id) as store:
            entries = {k: e for k, e in store.iter_entries() if k not in skip}
            seen[agent_id] = {
                "entries": {k: e.to_dict() for k, e in entries.items()},
                "lines": {k: list(store.transcripts.lines(e)) for k, e in entries.items()},
                "archives": [a.name for a in store.transcripts.archives() if "dsr-" not in a.name],
            }
    files = {}
    for path in sorted(place.state_dir.rglob("*")):
        # The JSON twin writes inline skills prompts out to skills-prompts/ on any
        # write, as OpenClaw does: the entries compared above hold them.
        if "skills-prompts" in path.parts:
            continue
        if path.is_file() and "dsr-" not in path.name and not path.name.endswith(_NOT_DATA):
            relative = str(path.relative_to(place.state_dir))
            files[relative] = path.read_bytes()
    seen["files"] = files
    return seen


def _changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The agents and files that differ between two snapshots."""
    named = [name for name in before if name != "files" and before[name] != after[name]]
    old, new = before["files"], after["files"]
    return named + sorted(n for n in old.keys() | new.keys() if old.get(n) != new.get(n))


def _keys(place: Place, agent_id: str) -> set[str]:
    with place.open(agent_id) as store:
        return {key for key, _ in store.iter_entries()}


def _make_place(kind: str, tmp_path: Path, url: str | None) -> Place:
    state = tmp_path / "state"
    generate_state_dir(state, agents=AGENTS, sessions_per_agent=12, messages_per_session=(2, 4))
    cli = ["--state-dir", str(state)]
    if kind == "json":
        return Place(kind, state, cli, {"SESSIONSTORE_STORE_TYPE": "json"}, None)
    if kind == "sqlite-files":  # the embedded default: sessionstore.db, transcripts as files
        migrate(state)
        return Place(kind, state, cli, {}, f"sqlite:///{state / 'sessionstore.db'}")
    assert url is not None
    migrate(state, url, transcripts="sql")
    return Place(kind, state, ["--url", url], {}, url)


def _place(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    kind = str(request.param)
    url = None if kind in FILES_TIER else BACKENDS[kind].target(request, tmp_path)
    return _make_place(kind, tmp_path, url)


#: the places whose transcripts are files: the JSON twin, and SQLite's index beside them
FILES_TIER = ("json", "sqlite-files")


@pytest.fixture(params=[*backend_params(ALL_BACKENDS), pytest.param("sqlite-files")])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    """The generated state directory in one backend; SQL ones hold the transcripts in
    the database, but ``sqlite-files`` (the embedded default, transcripts as files)."""
    return _place(request, tmp_path)


@pytest.fixture(params=backend_params(SQL_BACKENDS))
def sql_place(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    """The generated state directory in a database, transcripts in it too."""
    return _place(request, tmp_path)


@pytest.fixture(params=FILES_TIER)
def files_place(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    """The generated state directory with its transcripts as files."""
    return _place(request, tmp_path)


def _age_blobs(place: Place) -> None:
    """Date every blob past the grace in which a writer may still use it, as a day
    later: then the blobs only the erased entries used go with them."""
    if place.sql:
        with place.open("main") as store, engine_of(store) as engine, engine.begin() as conn:
            conn.execute(update(blobs).values(last_used_at=0))


def _blob_count(place: Place) -> int:
    with place.open("main") as store, engine_of(store) as engine, engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(blobs)).scalar_one())


def _report(done: Result) -> dict[str, dict[str, Any]]:
    assert done.exit_code == 0, done.stderr
    return {agent["agent"]: agent for agent in json.loads(done.stdout)["agents"]}


def _subject_keys() -> set[str]:
    return {f"agent:{a}:telegram:direct:{USER}" for a in ("main", "work")}


def test_a_data_subject_request_erases_every_session_of_one_user(place: Place) -> None:
    earlier = _add_subject(place)
    _age_blobs(place)
    before = _snapshot(place, _subject_keys())
    blobs_before = _blob_count(place) if place.sql else 0

    done = place.erase("--all-agents", "--match", SUBJECT, "--json")
    report = _report(done)
    reclaimed = json.loads(done.stdout)["reclaimedPages"]

    assert sorted(report) == sorted(AGENTS)
    assert report["family"]["keys"] == [] and report["family"]["transcripts"] == []
    for agent_id in ("main", "work"):
        got = report[agent_id]
        assert got["applied"] and got["keys"] == [f"agent:{agent_id}:telegram:direct:{USER}"]
        assert len(got["transcripts"]) == 2  # the live one and the topic's
        sql_tier = place.kind not in FILES_TIER
        if sql_tier:
            # the SQL tier finds the archive of the earlier reset by the key it records
            assert len(got["archives"]) == 1 and earlier[agent_id] in got["archives"][0]
        else:
            assert got["archives"] == []  # a file records its session id only
        # a header and a message in each transcript (and archive)
        assert got["events"] == (6 if sql_tier else 4) and got["bytes"] > 0
        assert got["blobs"] == (1 if place.sql else 0)
        with place.open(agent_id) as store:
            assert store.transcripts.search("Quince") == []
    if place.sql:
        assert _blob_count(place) == blobs_before - 2  # the shared blobs stay
    if place.url is not None and place.url.startswith("sqlite"):
        # no free page of the file keeps the erased bytes: they went back to the system
        with place.open("main") as store, engine_of(store) as engine, engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA freelist_count").scalar_one() == 0
    else:
        assert reclaimed == 0  # the servers' space comes back by their own vacuum
    removed = _files_of(place, report)
    assert _changed(before, _snapshot(place, set())) == sorted(_stores(place) + removed)
    if place.kind in FILES_TIER:
        # The archive of the earlier reset, found by its session id (in its name).
        for agent_id, session_id in earlier.items():
            with place.open(agent_id) as store:
                assert [a for a in store.transcripts.archives() if session_id in a.name]
            done = place.erase("--agent", agent_id, "--session-id", session_id, "--json")
            assert len(_report(done)[agent_id]["archives"]) == 1
            with place.open(agent_id) as store:
                assert not [a for a in store.transcripts.archives() if session_id in a.name]
        assert not [p for p in place.state_dir.rglob("dsr-*")]
        assert _changed(before, _snapshot(place, set())) == sorted(_stores(place) + removed)


def _stores(place: Place, agents: tuple[str, ...] = ("main", "work")) -> list[str]:
    """The files an erasure rewrites: the stores of the agents it removed entries from
    (their entries are compared one by one)."""
    if place.kind == "json":
        names = ("sessions.json", "sessions.json.versions")  # the file and its versions
        return [f"agents/{a}/sessions/{name}" for a in agents for name in names]
    return ["sessionstore.db"] if place.kind == "sqlite-files" else []


def _files_of(place: Place, report: dict[str, dict[str, Any]]) -> list[str]:
    """The files a report says went (the files tier's transcripts and archives)."""
    if place.kind not in FILES_TIER:
        return []
    return [
        f"agents/{agent_id}/sessions/{name}"
        for agent_id, got in report.items()
        for name in got["transcripts"] + got["archives"]
    ]


def _entries(place: Place, agent_id: str) -> dict[str, Any]:
    with place.open(agent_id) as store:
        return dict(store.iter_entries())


@pytest.mark.parametrize("selector", ["key", "key-prefix", "session-id"])
def test_each_selector_erases_what_it_names_and_nothing_else(place: Place, selector: str) -> None:
    work = _entries(place, "work")
    family = _entries(place, "family")
    if selector == "key":
        key = sorted(k for k in work if ":telegram:" in k)[0]
        args, expected = ["--key", key], {"work": [key]}
    elif selector == "key-prefix":
        prefix = "agent:family:telegram:"
        args = ["--all-agents", "--key-prefix", prefix]
        expected = {"family": sorted(k for k in family if k.startswith(prefix))}
    else:
        key = sorted(work)[3]
        args = ["--agent", "work", "--session-id", work[key].session_id]
        expected = {"work": [key]}
    assert all(expected.values())
    chosen = {key for keys in expected.values() for key in keys}
    before = _snapshot(place, chosen)
    report = _report(place.erase(*args, "--json"))
    assert {agent_id: got["keys"] for agent_id, got in report.items() if got["keys"]} == expected
    for agent_id, keys in expected.items():
        assert not set(keys) & _entries(place, agent_id).keys()
    stores = _stores(place, tuple(expected))
    assert _changed(before, _snapshot(place, set())) == sorted(stores + _files_of(place, report))


def test_a_dry_run_changes_nothing(place: Place) -> None:
    _add_subject(place)
    _age_blobs(place)
    before = _snapshot(place, set())
    database = _database_rows(place)
    planned = _report(place.erase("--all-agents", "--match", SUBJECT, "--dry-run", "--json"))
    assert _snapshot(place, set()) == before and _database_rows(place) == database
    assert not planned["main"]["applied"] and planned["main"]["keys"]
    done = _report(place.erase("--all-agents", "--match", SUBJECT, "--json"))
    for agent_id, got in done.items():
        assert {**got, "applied": False} == planned[agent_id]


def _database_rows(place: Place) -> Any:
    """Every row of the transcript and blob tables (a dry run must leave them be)."""
    if not place.sql:
        return None
    with place.open("main") as store, engine_of(store) as engine, engine.connect() as conn:
        return [
            sorted(tuple(row) for row in conn.execute(select(table)))
            for table in (blobs, transcript_events)
        ]


REFUSE = {
    "sqlite": [
        "CREATE TRIGGER refuse BEFORE DELETE ON sessions WHEN old.session_key = :key "
        "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'refused by a trigger'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse BEFORE DELETE ON sessions FOR EACH ROW "
        "WHEN (OLD.session_key = :key) EXECUTE FUNCTION refuse()",
    ],
    "mysql": [
        "CREATE TRIGGER refuse BEFORE DELETE ON sessions FOR EACH ROW BEGIN "
        "IF OLD.session_key = :key THEN "
        "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by a trigger'; END IF; END"
    ],
}


def test_a_unit_that_fails_midway_leaves_its_agent_whole(sql_place: Place) -> None:
    """The entry's delete fails after its transcripts, archives and search rows went, in
    the same transaction: the agent keeps all of them; the agent before it is erased;
    the same command again, once the cause is gone, finishes the job."""
    place = sql_place
    _add_subject(place)
    key = f"agent:work:telegram:direct:{USER}"
    with place.open("work") as store:
        dialect = sql_store(store).dialect
        before = _snapshot(place, set())
        database = _database_rows(place)
        with engine_of(store) as engine, engine.begin() as conn:
            for statement in REFUSE[dialect]:
                conn.execute(text(statement.replace(":key", f"'{key}'")))
    done = place.erase("--all-agents", "--match", SUBJECT)
    assert done.exit_code == 1 and "refused by a trigger" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "agents erased before it: family, main" in done.stderr
    after = _snapshot(place, set())
    assert after["work"] == before["work"]  # the entry, its transcripts and archives
    with place.open("work") as store:
        assert len(store.transcripts.search("Quince")) == 2
        with engine_of(store) as engine, engine.begin() as conn:
            conn.execute(
                text("DROP TRIGGER refuse" + (" ON sessions" if dialect == "postgresql" else ""))
            )
    assert _database_rows(place) != database  # main's went
    report = _report(place.erase("--all-agents", "--match", SUBJECT, "--json"))
    assert report["work"]["keys"] == [key] and report["main"]["keys"] == []
    with place.open("work") as store:
        assert store.transcripts.search("Quince") == []


def test_a_files_tier_erasure_that_fails_midway_is_finished_by_running_it_again(
    files_place: Place,
) -> None:
    """Archives go first, then transcripts, then the entry: an archive that cannot be
    removed stops it with the entry and its live transcript in place; once the cause is
    gone, the same command removes the rest."""
    place = files_place
    _add_subject(place)
    key = f"agent:work:telegram:direct:{USER}"
    with place.open("work") as store:
        entry = store.get(key)
        assert entry is not None
        live = store.transcripts.path(entry)  # type: ignore[attr-defined]
    (live.parent / f"{live.name}.bak.1").write_bytes(b"a backup\n")
    sidecar = live.parent / f"{entry.session_id}.trajectory.jsonl"
    sidecar.write_bytes(b'{"step":1}\n')
    blocker = live.parent / f"{live.name}.bak.2"
    blocker.mkdir()  # not a regular file: refused
    done = place.erase("--agent", "work", "--key", key)
    assert done.exit_code == 1 and "not a regular file" in done.stderr
    assert not (live.parent / f"{live.name}.bak.1").exists()  # removed before the failure
    assert live.exists() and _entries(place, "work").get(key) is not None
    blocker.rmdir()
    report = _report(place.erase("--agent", "work", "--key", key, "--json"))
    assert report["work"]["keys"] == [key] and sidecar.name in report["work"]["transcripts"]
    assert len(report["work"]["transcripts"]) == 3  # live, topic, trajectory sidecar
    assert not live.exists() and not sidecar.exists() and key not in _entries(place, "work")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "exactly one of"),
        (["--key", "agent:main:main", "--match", "agent:*:main"], "exactly one of"),
        (["--match", ""], "the pattern is empty"),
        (["--match", "agent::main"], "a segment is empty"),
        (["--match", "*"], "would match every key"),
        (["--match", "*:*:*:*:*"], "would match every key"),
        (["--match", "agent:ma*:main"], "one whole segment"),
        (["--key-prefix", ""], "the prefix is empty"),
        (["--session-id", "../etc/passwd"], "safe session id"),
    ],
)
def test_bad_selectors_are_one_error_line(tmp_path: Path, args: list[str], message: str) -> None:
    done = run("erase", "--state-dir", str(tmp_path), *args)
    assert done.exit_code == 1 and message in done.stderr
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # refused before anything was opened

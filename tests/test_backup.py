"""``backup`` and ``restore``: online backups while a real writer writes, verified, and
restorable into every backend; non-empty targets refused; broken files rejected."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import zstandard
from typer.testing import CliRunner

from sessionstore import open_store
from sessionstore.backup import backup, backup_kind, restore
from sessionstore.cli import app
from sessionstore.entry import dumps_json
from sessionstore.errors import CorruptStoreError, InvalidArgumentError
from sessionstore.open import is_json_target
from sessionstore.sql.engine import sqlite_file
from sessionstore.sql.schema import sessions
from sessionstore.transfer import Checksum
from tests.lock_holder import SIGNAL_TIMEOUT_S, lock_held, watching_for_a_wait

WAIT_S = 60  # the most a signalled point is waited for: never reached when it works
PROMPT = "skill prompt " * 200  # over a kilobyte: stored once, as a blob


def fill(url: str, agents: tuple[str, ...] = ("main", "work"), n: int = 5) -> None:
    """Entries (one with a blob), transcripts and one archived transcript per agent."""
    for agent in agents:
        with open_store(url, agent_id=agent, auto_upgrade=True) as store:
            for i in range(n):
                key = f"agent:{agent}:s{i}"
                entry: dict[str, Any] = {"sessionId": f"{agent}-{i}", "updatedAt": 1000 + i}
                if i == 0:
                    entry["skillsSnapshot"] = {"prompt": PROMPT, "skills": []}
                store.put(key, entry)
                events = [
                    {"type": "message", "message": {"role": "user", "content": f"hello {j}"}}
                    for j in range(i + 1)
                ]
                store.transcripts.append(key, events)
            store.transcripts.archive(f"agent:{agent}:s1", "reset")


def snapshot_of(url: str, agent: str) -> tuple[dict[str, bytes], dict[str, list[bytes]], set[str]]:
    """An agent's entries as canonical JSON, its live transcripts' lines, its archives."""
    options: dict[str, Any] = {}
    if is_json_target(url):
        options["transcripts"] = "files"
    with open_store(url, agent_id=agent, **options) as store:
        entries = {k: dumps_json(e.to_dict(), sort_keys=True) for k, e in store.iter_entries()}
        lines = {
            k: list(store.transcripts.lines(e))
            for k, e in store.iter_entries()
            if store.transcripts.exists(e)
        }
        archives = {a.name for a in store.transcripts.archives()}
    return entries, lines, archives


class Writer(threading.Thread):
    """Puts entries ``agent:main:w<i>`` into ``url`` one after another until stopped;
    ``written`` counts those committed, and waiters are told of each."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.written = 0
        self.changed = threading.Condition()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with open_store(self.url, agent_id="main") as store:
                while not self.stop.is_set():
                    store.put(f"agent:main:w{self.written}", {"sessionId": "w", "updatedAt": 1})
                    with self.changed:
                        self.written += 1
                        self.changed.notify_all()
        except BaseException as exc:  # the test reports it
            self.error = exc
            with self.changed:
                self.changed.notify_all()

    def wait_for(self, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(
                lambda: self.written >= count or self.error is not None, timeout=WAIT_S
            )
        assert self.error is None, self.error


@pytest.fixture
def writer_of() -> Iterator[Any]:
    writers: list[Writer] = []

    def start(url: str) -> Writer:
        writer = Writer(url)
        writers.append(writer)
        writer.start()
        return writer

    yield start
    for writer in writers:
        writer.stop.set()
        writer.join(WAIT_S)
        assert not writer.is_alive()


def written_keys(url: str) -> set[str]:
    with open_store(url, agent_id="main") as store:
        return {k for k, _ in store.iter_entries() if k.startswith("agent:main:w")}


def test_sqlite_backup_is_one_snapshot_while_a_writer_writes(
    sqlite_url: str, tmp_path: Path, writer_of: Any
) -> None:
    fill(sqlite_url)
    writer = writer_of(sqlite_url)
    writer.wait_for(20)
    seen: dict[str, int] = {}

    def during() -> None:
        # the snapshot is held: the writer commits more before the first page is copied
        seen["at"] = writer.written
        path = sqlite_file(sqlite_url)
        assert path is not None
        seen["wal"] = Path(f"{path}-wal").stat().st_size
        writer.wait_for(seen["at"] + 20)

    report = backup(tmp_path / "b.db", url=sqlite_url, on_snapshot=during, pages_per_step=1)
    writer.stop.set()
    writer.join(WAIT_S)
    assert report.verified and report.integrity == "ok" and report.kind == "sqlite"
    assert seen["wal"] > 0  # the snapshot's newest entries were in the WAL only
    copied = written_keys(f"sqlite:///{tmp_path / 'b.db'}")
    # the entries committed before the snapshot (at least the 20 before the backup
    # began), none of the 20 written after it
    assert 20 <= len(copied) <= seen["at"] + 1
    assert copied == {f"agent:main:w{i}" for i in range(len(copied))}
    assert len(written_keys(sqlite_url)) >= seen["at"] + 20
    assert report.agents["main"].entries == 5 + len(copied)
    with sqlite3.connect(tmp_path / "b.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    with open_store(f"sqlite:///{tmp_path / 'b.db'}", agent_id="main") as store:
        checksum = Checksum.of((k, e.to_dict()) for k, e in store.iter_entries())
    assert checksum.hexdigest() == report.agents["main"].checksum


def test_backup_restores_into_every_backend(target: str, tmp_path: Path) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'source.db'}"
    agents = ("main",) if is_json_target(target) else ("main", "work")
    fill(sqlite_url, agents)
    backup(tmp_path / "b.db", url=sqlite_url)
    report = restore(tmp_path / "b.db", url=target)
    assert report.verified
    for agent in agents:
        want_entries, want_lines, want_archives = snapshot_of(sqlite_url, agent)
        entries, lines, archives = snapshot_of(target, agent)
        assert entries == want_entries and lines == want_lines
        if not is_json_target(target):
            assert archives == want_archives and len(archives) == 1
    if is_json_target(target):
        assert any("archived transcripts" in w for w in report.warnings)


def test_a_backup_path_with_uri_characters_is_the_file_named(tmp_path: Path) -> None:
    """A backup file's path reaches SQLite as a URI when it is checked: '?', '#' and '%'
    in it are the file's own name."""
    source_url = f"sqlite:///{tmp_path / 'source.db'}"
    fill(source_url, ("main",))
    place = tmp_path / "odd?name#1%41"
    place.mkdir()
    made = backup(place / "b#.db", url=source_url)
    assert made.verified and made.agents  # the copy itself was checked, not another file
    # nor was a file made at the path's part before '?' (a URI's query)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("odd")] == [place.name]
    target = f"sqlite:///{tmp_path / 'restored.db'}"
    assert restore(place / "b#.db", url=target).verified
    assert snapshot_of(target, "main")[:2] == snapshot_of(source_url, "main")[:2]


def test_restore_into_a_state_dir(sqlite_url: str, tmp_path: Path) -> None:
    fill(sqlite_url)
    backup(tmp_path / "b.db", url=sqlite_url)
    state = tmp_path / "state"
    report = restore(tmp_path / "b.db", state_dir=state)
    assert report.verified and report.transfer is not None and report.transfer.ok
    for agent in ("main", "work"):
        json_target = str(state / "agents" / agent / "sessions" / "sessions.json")
        assert snapshot_of(json_target, agent)[:2] == snapshot_of(sqlite_url, agent)[:2]
    with pytest.raises(InvalidArgumentError, match="already holds the stores of 2 agents"):
        restore(tmp_path / "b.db", state_dir=state)
    assert restore(tmp_path / "b.db", state_dir=state, force=True).verified


@pytest.mark.parametrize("server", ["postgresql_url", "mysql_url"])
def test_logical_backup_of_a_server_while_a_writer_writes(
    server: str, request: pytest.FixtureRequest, tmp_path: Path, writer_of: Any
) -> None:
    url = request.getfixturevalue(server)
    fill(url)
    writer = writer_of(url)
    writer.wait_for(10)
    seen: dict[str, int] = {}

    def during() -> None:
        seen["at"] = writer.written
        writer.wait_for(seen["at"] + 10)

    report = backup(tmp_path / "b.backup", url=url, on_snapshot=during)
    writer.stop.set()
    writer.join(WAIT_S)
    assert report.kind == "logical" and report.verified
    assert backup_kind(tmp_path / "b.backup") == "logical"
    restored = f"sqlite:///{tmp_path / 'r.db'}"
    restore(tmp_path / "b.backup", url=restored)
    copied = written_keys(restored)
    assert 10 <= len(copied) <= seen["at"] + 1
    assert copied == {f"agent:main:w{i}" for i in range(len(copied))}
    work = snapshot_of(url, "work")
    assert snapshot_of(restored, "work") == work and len(work[2]) == 1


@pytest.mark.parametrize("server", ["postgresql_url", "mysql_url"])
def test_logical_backup_round_trips_into_another_server(
    server: str, request: pytest.FixtureRequest, sqlite_url: str, tmp_path: Path
) -> None:
    url = request.getfixturevalue(server)
    fill(url)
    backup(tmp_path / "b.backup", url=url)
    restore(tmp_path / "b.backup", url=sqlite_url)
    restore(tmp_path / "b.backup", state_dir=tmp_path / "state")
    for agent in ("main", "work"):
        assert snapshot_of(sqlite_url, agent) == snapshot_of(url, agent)
        in_files = str(tmp_path / "state" / "agents" / agent / "sessions" / "sessions.json")
        assert snapshot_of(in_files, agent)[:2] == snapshot_of(url, agent)[:2]
    # and a SQLite backup back into the server, replacing what it holds
    backup(tmp_path / "b.db", url=sqlite_url)
    with pytest.raises(InvalidArgumentError, match="already holds 10 sessions"):
        restore(tmp_path / "b.db", url=url)
    with open_store(url, agent_id="main") as store:
        store.put("agent:main:extra", {"sessionId": "x", "updatedAt": 1})
    restore(tmp_path / "b.db", url=url, force=True)
    assert snapshot_of(url, "main") == snapshot_of(sqlite_url, "main")


def test_restore_refuses_a_non_empty_target_and_keeps_it(sqlite_url: str, tmp_path: Path) -> None:
    fill(sqlite_url)
    backup(tmp_path / "b.db", url=sqlite_url)
    other = f"sqlite:///{tmp_path / 'other.db'}"
    fill(other, ("main",), n=2)
    before = snapshot_of(other, "main")
    with pytest.raises(InvalidArgumentError, match="already holds 2 sessions"):
        restore(tmp_path / "b.db", url=other)
    assert snapshot_of(other, "main") == before
    restore(tmp_path / "b.db", url=other, force=True)
    assert snapshot_of(other, "main") == snapshot_of(sqlite_url, "main")


def test_backup_refuses_an_existing_file(sqlite_url: str, tmp_path: Path) -> None:
    fill(sqlite_url, ("main",), n=1)
    (tmp_path / "b.db").write_bytes(b"keep")
    with pytest.raises(InvalidArgumentError, match="exists; pass force"):
        backup(tmp_path / "b.db", url=sqlite_url)
    assert (tmp_path / "b.db").read_bytes() == b"keep"


def broken_files(sqlite_url: str, tmp_path: Path) -> dict[str, Path]:
    fill(sqlite_url)
    sqlite_backup = tmp_path / "b.db"
    backup(sqlite_backup, url=sqlite_url)
    state = tmp_path / "state"
    restore(sqlite_backup, state_dir=state)
    state_backup = tmp_path / "s.tar.zst"
    backup(state_backup, state_dir=state)
    files = {}
    for name, source in (("sqlite", sqlite_backup), ("state", state_backup)):
        data = source.read_bytes()
        cut = tmp_path / f"{name}-cut"
        cut.write_bytes(data[: len(data) // 2])
        files[f"{name}-truncated"] = cut
    # the b-tree header of the entries' root page: damage no layout can leave unused
    with closing(sqlite3.connect(sqlite_backup)) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        query = "SELECT rootpage FROM sqlite_master WHERE name = ?"
        root = db.execute(query, (sessions.name,)).fetchone()[0]
    damaged = bytearray(sqlite_backup.read_bytes())
    start = (root - 1) * page_size
    damaged[start : start + 64] = b"\xff" * 64
    flipped = tmp_path / "sqlite-flipped"
    flipped.write_bytes(bytes(damaged))
    files["sqlite-corrupt"] = flipped
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"not a backup at all")
    files["garbage"] = garbage
    return files


def test_broken_backups_are_rejected_with_one_line(sqlite_url: str, tmp_path: Path) -> None:
    for name, path in broken_files(sqlite_url, tmp_path).items():
        target = tmp_path / f"target-{name}.db"
        done = CliRunner().invoke(
            app, ["restore", "--from", str(path), "--url", f"sqlite:///{target}"]
        )
        assert done.exit_code == 1, (name, done.output)
        lines = done.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (name, done.output)
        assert "Traceback" not in done.output
        if target.exists():
            with open_store(f"sqlite:///{target}") as store:
                assert store.count() == 0  # nothing half-restored


@pytest.mark.parametrize("server", ["postgresql_url"])
def test_a_truncated_or_changed_logical_backup_is_rejected(
    server: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = request.getfixturevalue(server)
    fill(url)
    backup(tmp_path / "b.backup", url=url)
    data = (tmp_path / "b.backup").read_bytes()
    (tmp_path / "cut").write_bytes(data[: len(data) - 40])
    with pytest.raises(CorruptStoreError, match=r"truncated|corrupt"):
        restore(tmp_path / "cut", url=f"sqlite:///{tmp_path / 'r1.db'}")
    changed = bytearray(data)
    changed[len(changed) // 2] ^= 0x01
    (tmp_path / "changed").write_bytes(bytes(changed))
    with pytest.raises(CorruptStoreError, match="corrupt"):
        restore(tmp_path / "changed", url=f"sqlite:///{tmp_path / 'r2.db'}")


def test_state_dir_backup_round_trip(tmp_path: Path) -> None:
    state = tmp_path / "state"
    seed = f"sqlite:///{tmp_path / 'seed.db'}"
    fill(seed)
    restore_report = None
    backup(tmp_path / "seed.backup", url=seed)
    restore_report = restore(tmp_path / "seed.backup", state_dir=state)
    assert restore_report.verified
    sessions = state / "agents" / "main" / "sessions"
    (sessions / "main-1.jsonl.reset.2026-01-01T00-00-00.000Z").write_text('{"type":"session"}\n')
    report = backup(tmp_path / "s.tar.zst", state_dir=state)
    files = [p for p in state.rglob("*") if p.is_file() and not p.name.endswith(".lock")]
    assert report.kind == "state-dir" and report.verified and report.files == len(files)
    assert backup_kind(tmp_path / "s.tar.zst") == "state-dir"
    # into a state directory: every file as it was, archives included
    copy = tmp_path / "copy"
    restore(tmp_path / "s.tar.zst", state_dir=copy)
    for path in files:
        assert (copy / path.relative_to(state)).read_bytes() == path.read_bytes()
    with pytest.raises(InvalidArgumentError, match="already holds the stores of 2 agents"):
        restore(tmp_path / "s.tar.zst", state_dir=copy)
    replaced = copy / "agents" / "main" / "sessions" / "sessions.json"
    replaced.write_text("{}")
    restore(tmp_path / "s.tar.zst", state_dir=copy, force=True)
    assert replaced.read_bytes() == (sessions / "sessions.json").read_bytes()
    kept = list(replaced.parent.glob("sessions.json.bak.*"))
    assert len(kept) == 1 and kept[0].read_text() == "{}"
    # into a database: migrated with the transcripts
    db = f"sqlite:///{tmp_path / 'db.db'}"
    restore(tmp_path / "s.tar.zst", url=db)
    for agent in ("main", "work"):
        entries, lines, _ = snapshot_of(db, agent)
        assert (entries, lines) == snapshot_of(seed, agent)[:2]


def test_cli_backup_and_restore(sqlite_url: str, tmp_path: Path) -> None:
    fill(sqlite_url)
    runner = CliRunner()
    done = runner.invoke(
        app,
        ["backup", "--to", str(tmp_path / "b.db"), "--json"],
        env={"SESSIONSTORE_URL": sqlite_url},
    )
    assert done.exit_code == 0, done.output
    assert '"verified": true' in done.output
    done = runner.invoke(
        app, ["restore", "--from", str(tmp_path / "b.db"), "--state-dir", str(tmp_path / "st")]
    )
    assert done.exit_code == 0, done.output
    assert "main: 5 entries" in done.output
    done = runner.invoke(app, ["backup", "--to", str(tmp_path / "b.db")])
    assert done.exit_code == 1
    assert done.output.strip() == "error: name what to use with --url URL or --state-dir DIR"


def test_a_state_dir_backup_reads_sessions_json_under_its_lock(tmp_path: Path) -> None:
    state = tmp_path.resolve() / "state"
    path = state / "agents" / "main" / "sessions" / "sessions.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"agent:main:main": {"sessionId": "old", "updatedAt": 1}}')
    newer = '{"agent:main:main": {"sessionId": "new", "updatedAt": 2}}'
    done: list[Any] = []
    with (
        lock_held(path, then_write=(path, newer)),
        watching_for_a_wait(path.with_name("sessions.json.lock")) as waited,
    ):
        thread = threading.Thread(
            target=lambda: done.append(backup(tmp_path / "s.tar.zst", state_dir=state))
        )
        thread.start()
        assert waited.wait(SIGNAL_TIMEOUT_S)  # the backup waits for the writer's lock
    thread.join(SIGNAL_TIMEOUT_S)
    assert done and done[0].verified
    restore(tmp_path / "s.tar.zst", state_dir=tmp_path / "copy")
    copied = tmp_path / "copy" / "agents" / "main" / "sessions" / "sessions.json"
    assert copied.read_text() == newer  # what the writer left, never half of it


def test_a_restore_that_fails_verification_leaves_the_target_as_it_was(
    postgresql_url: str, tmp_path: Path
) -> None:
    fill(postgresql_url)
    backup(tmp_path / "b.backup", url=postgresql_url)
    lines = zstandard.ZstdDecompressor().decompress(
        (tmp_path / "b.backup").read_bytes(), max_output_size=1 << 30
    )
    *rows, last = lines.splitlines()
    trailer = json.loads(last)
    trailer["manifest"]["agents"]["work"]["entries"] += 1  # rows that cannot match it
    wrong = b"\n".join([*rows, json.dumps(trailer).encode()]) + b"\n"
    (tmp_path / "wrong.backup").write_bytes(zstandard.ZstdCompressor().compress(wrong))
    target = f"sqlite:///{tmp_path / 'target.db'}"
    fill(target, ("other",), n=2)
    before = snapshot_of(target, "other")
    with pytest.raises(CorruptStoreError, match="failed verification for agent 'work'"):
        restore(tmp_path / "wrong.backup", url=target, force=True)
    assert snapshot_of(target, "other") == before
    with open_store(target) as store:
        assert store.agent_ids() == ["other"]  # type: ignore[attr-defined]

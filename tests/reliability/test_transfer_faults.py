"""migrate and export under faults: a writer that races the migration, an export that
cannot be written or fails its verification, entries left behind, a target that
would vanish, transcripts that cannot be read.

Faults are real: a second store writing between the plan and the commit (at the
migration's own progress point), a file-size limit (RLIMIT_FSIZE) in a child process,
another writer replacing the file being exported, a directory where a transcript was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sessionstore import InvalidArgumentError, open_store
from sessionstore.transfer import Status, copy, export, migrate

KEY, OTHER = "agent:main:a", "agent:main:b"


def write_sessions(state_dir: Path, entries: dict[str, Any], agent_id: str = "main") -> Path:
    """An OpenClaw ``sessions.json`` for ``agent_id`` in ``state_dir``, written as is."""
    path = state_dir / "agents" / agent_id / "sessions" / "sessions.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries, indent=2))
    return path


class AtStart:
    """Progress that runs ``action`` once, when the first phase whose description ends
    with ``phase`` starts (the migration's own pause points)."""

    def __init__(self, phase: str, action: Callable[[], None]) -> None:
        self.phase, self.action, self.calls = phase, action, 0

    def start(self, description: str, total: int) -> None:
        if description.endswith(self.phase):
            self.calls += 1
            if self.calls == 1:
                self.action()

    def advance(self, amount: int = 1) -> None:
        pass


# -- a write between the plan and the commit survives ---------------------------------


@pytest.mark.parametrize("replace", [False, True], ids=["changed-entry", "extra-key"])
def test_a_write_between_plan_and_commit_survives_the_migration(
    target: str, tmp_path: Path, replace: bool
) -> None:
    state = tmp_path / "state"
    path = write_sessions(
        state, {KEY: {"sessionId": "a", "updatedAt": 1}, OTHER: {"sessionId": "b", "updatedAt": 1}}
    )
    assert migrate(state, target).agents[0].status is Status.MIGRATED
    if replace:  # OTHER is an extra key of the target, which replace removes
        raced = OTHER
        path.write_text(json.dumps({KEY: {"sessionId": "a", "updatedAt": 1}}))
    else:  # KEY changed in the source: the migration plans to write it
        raced = KEY
        path.write_text(
            json.dumps(
                {
                    KEY: {"sessionId": "a", "updatedAt": 2, "label": "from the file"},
                    OTHER: {"sessionId": "b", "updatedAt": 1},
                }
            )
        )

    def another_writer() -> None:
        with open_store(target) as live:
            live.patch(raced, {"label": "live"})

    racing = AtStart(": writing", another_writer)
    report = migrate(state, target, replace=replace, progress=racing)
    agent = report.agents[0]
    assert racing.calls == 1
    with open_store(target) as store:
        live = store.get(raced)
        assert live is not None and live.label == "live"  # the live write survives
        if replace:
            assert store.get(KEY) is not None
    assert agent.status is Status.FAILED and not report.ok
    assert repr(raced) in (agent.error or "")


# -- export --force never leaves the destination missing ------------------------------

_EXPORT_WITH_FILE_SIZE_LIMIT = """
import json, resource, signal, sys
from sessionstore.transfer import export

source, out, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
report = export(source, out=out, agents=["main"], force=True)
print(json.dumps(report.to_dict()))
"""


def _database_with(tmp_path: Path, count: int) -> str:
    url = f"sqlite:///{tmp_path / 'source.db'}"
    with open_store(url, auto_upgrade=True) as store:
        store.put_many(
            (f"agent:main:s{n}", {"sessionId": f"s{n}", "updatedAt": n, "label": "x" * 500})
            for n in range(count)
        )
    return url


def test_export_force_past_the_file_size_limit_leaves_the_original(tmp_path: Path) -> None:
    source = _database_with(tmp_path, 400)  # about 250 KB of JSON
    out = write_sessions(tmp_path / "state", {KEY: {"sessionId": "a", "updatedAt": 1}})
    original = out.read_bytes()
    limit = 128 * 1024  # above SQLite's shared-memory file, below the new sessions.json
    done = subprocess.run(
        [sys.executable, "-c", _EXPORT_WITH_FILE_SIZE_LIMIT, source, str(out), str(limit)],
        capture_output=True,
        text=True,
        timeout=120,  # a safety net only
        check=True,
    )
    agent = json.loads(done.stdout)["agents"][0]
    assert agent["status"] == "FAILED"
    assert out.exists() and out.read_bytes() == original
    assert "File too large" in agent["error"] and "was left as it was" in agent["error"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["sessions.json"]  # no leftovers


class ReplaceWrittenFile:
    """Progress that, once the export has written its file and before it is verified,
    has another writer replace that file (whatever its name) with an empty store."""

    def __init__(self, directory: Path, original: bytes) -> None:
        self.directory, self.original = directory, original

    def start(self, description: str, total: int) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        for path in self.directory.iterdir():
            twins_own = path.suffix in (".lock", ".versions")
            if twins_own or ".bak." in path.name or path.read_bytes() == self.original:
                continue
            other = path.with_name("other-writer.tmp")
            other.write_text("{}")
            os.replace(other, path)


def test_export_force_that_fails_verification_leaves_the_original(tmp_path: Path) -> None:
    source = _database_with(tmp_path, 3)
    out = write_sessions(tmp_path / "state", {KEY: {"sessionId": "a", "updatedAt": 1}})
    original = out.read_bytes()
    report = export(
        source,
        out=out,
        force=True,
        agents=["main"],
        progress=ReplaceWrittenFile(out.parent, original),
    )
    agent = report.agents[0]
    assert agent.status is Status.FAILED and not report.ok
    assert out.read_bytes() == original
    assert "verification failed" in (agent.error or "")
    assert "was left as it was" in (agent.error or "")
    assert sorted(p.name for p in out.parent.iterdir()) == ["sessions.json"]


def test_export_force_keeps_the_replaced_file_as_a_backup(tmp_path: Path) -> None:
    source = _database_with(tmp_path, 3)
    out = write_sessions(tmp_path / "state", {KEY: {"sessionId": "a", "updatedAt": 1}})
    original = out.read_bytes()
    report = export(source, out=out, force=True, agents=["main"])
    assert report.ok, report.agents[0].error
    backups = list(out.parent.glob("sessions.json.bak.*"))
    assert len(backups) == 1 and backups[0].read_bytes() == original
    assert len(json.loads(out.read_text())) == 3
    assert not list(out.parent.glob("*.tmp*"))


# -- entries left behind: PARTIAL, not ok unless accepted --------------------------------

VALID = {"sessionId": "ok", "updatedAt": 1}


@pytest.mark.parametrize(
    "invalid",
    [{"sessionId": "../x", "updatedAt": 1}, ["not", "an", "object"]],
    ids=["unsafe-session-id", "not-an-object"],
)
def test_an_agent_with_rejected_entries_is_partial_and_not_ok(tmp_path: Path, invalid: Any) -> None:
    state = tmp_path / "state"
    write_sessions(state, {KEY: VALID, OTHER: invalid})
    target = f"sqlite:///{tmp_path / 'db.sqlite'}"
    report = migrate(state, target)
    agent = report.agents[0]
    assert agent.status is Status.PARTIAL and not report.ok
    assert [key for key, _ in agent.rejected] == [OTHER]
    assert agent.imported == 1 and agent.checksum is not None
    with open_store(target) as store:
        assert store.count() == 1
    again = migrate(state, target, accept_rejected=True)  # nothing left to write
    assert again.ok and again.agents[0].status is Status.PARTIAL


def test_an_agent_whose_every_entry_is_rejected_is_not_no_data(tmp_path: Path) -> None:
    state = tmp_path / "state"
    write_sessions(state, {KEY: {"sessionId": "../x", "updatedAt": 1}, OTHER: 42})
    report = migrate(state, f"sqlite:///{tmp_path / 'db.sqlite'}")
    agent = report.agents[0]
    assert agent.status is Status.PARTIAL and not report.ok
    assert sorted(key for key, _ in agent.rejected) == [KEY, OTHER]
    assert migrate(state, f"sqlite:///{tmp_path / 'db.sqlite'}", accept_rejected=True).ok


# -- a target without a file is refused ---------------------------------------------------

IN_MEMORY = ["sqlite://", "sqlite:///", "sqlite:///:memory:", "sqlite+pysqlite://"]


@pytest.mark.parametrize("url", IN_MEMORY)
def test_a_database_in_memory_is_refused_by_every_transfer(tmp_path: Path, url: str) -> None:
    state = tmp_path / "state"
    write_sessions(state, {KEY: VALID})
    source = _database_with(tmp_path, 1)
    with pytest.raises(InvalidArgumentError, match="no database path"):
        migrate(state, url)
    with pytest.raises(InvalidArgumentError, match="no database path"):
        migrate(state, url, dry_run=True)
    with pytest.raises(InvalidArgumentError, match="no database path"):
        copy(source, url)
    with pytest.raises(InvalidArgumentError, match="no database path"):
        export(url, out=tmp_path / "out.json", agents=["main"])
    assert not (tmp_path / "out.json").exists()


# -- transcripts are not read unless asked --------------------------------------------------


def _transcript(state: Path, session_id: str, messages: int) -> Path:
    path = state / "agents" / "main" / "sessions" / f"{session_id}.jsonl"
    lines = [{"type": "session", "version": 3, "id": session_id}]
    lines += [{"type": "message", "message": {"role": "user", "content": "hi"}}] * messages
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_migrate_counts_transcript_files_and_reads_none_by_default(tmp_path: Path) -> None:
    state = tmp_path / "state"
    write_sessions(state, {KEY: {"sessionId": "a", "updatedAt": 1}, OTHER: VALID})
    transcript = _transcript(state, "a", 3)
    _transcript(state, "ok", 2)

    def unreadable() -> None:  # the file listed is a directory by the time it is read
        transcript.unlink()
        transcript.mkdir()

    # The first phase that starts comes after the transcripts were listed.
    first = AtStart("", unreadable)
    target = f"sqlite:///{tmp_path / 'db.sqlite'}"
    report = migrate(state, target, progress=first)
    agent = report.agents[0]
    assert first.calls >= 1
    assert agent.status is Status.MIGRATED, agent.error
    assert (agent.transcripts, agent.messages) == (2, None)
    assert agent.to_dict()["messages"] is None
    transcript.rmdir()
    _transcript(state, "a", 3)
    counted = migrate(state, target, count_messages=True).agents[0]
    assert (counted.transcripts, counted.messages) == (2, 5)


# -- a transcript that fails its verification ------------------------------------------

#: lines a database cannot hold as they are: its text has no NUL, and is valid UTF-8
UNSTORABLE = {
    "nul-byte": b'{"type":"message","message":{"role":"user","content":"a\x00b"}}',
    "invalid-utf-8": b'{"type":"message","message":{"role":"user","content":"caf\xe9"}}',
}


@pytest.mark.parametrize("line", UNSTORABLE.values(), ids=UNSTORABLE.keys())
def test_a_transcript_that_fails_verification_fails_its_agent_and_leaves_the_target_consistent(
    sql_target: str, tmp_path: Path, line: bytes
) -> None:
    state = tmp_path / "state"
    write_sessions(state, {KEY: {"sessionId": "a", "updatedAt": 1}, OTHER: VALID})
    bad = _transcript(state, "a", 2)
    with bad.open("ab") as fh:
        fh.write(line + b"\n")
    good = _transcript(state, "ok", 3)
    original = bad.read_bytes(), good.read_bytes()
    report = migrate(state, sql_target, transcripts="sql")
    agent = report.agents[0]
    assert agent.status is Status.FAILED and not report.ok
    assert "session a (" in (agent.error or "") and "verification failed" in (agent.error or "")
    assert "session ok" not in (agent.error or "")
    assert (bad.read_bytes(), good.read_bytes()) == original  # the source is untouched
    with open_store(sql_target, transcripts="sql") as store:
        assert store.count() == 2 and agent.checksum is not None  # entries verified
        tier = store.transcripts
        assert tier.session_ids() == {"ok"}  # no unverified copy is left
        assert tier.archives() == []
        entry = store.get(OTHER)
        assert entry is not None
        assert b"".join(row + b"\n" for row in tier.lines(entry)) == good.read_bytes()
        assert agent.transcripts_imported == 1
    again = migrate(state, sql_target, transcripts="sql")  # fails the same way, no worse
    assert again.agents[0].status is Status.FAILED
    assert again.agents[0].transcripts_skipped == 1
    with open_store(sql_target, transcripts="sql") as store:
        assert store.transcripts.session_ids() == {"ok"}

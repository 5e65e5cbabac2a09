"""Hostile transcripts: a multi-gigabyte line, a FIFO or a symlink planted where a
session's transcript should be, and old archives that cannot be removed (a directory in
an archive's place, a read-only directory).

A huge line is read in bounded memory: the reads run in a child process whose address
space is capped far below the line's size. A FIFO must never be opened for a blocking
read; the lifecycle calls run under an alarm and the command line in a subprocess with
a timeout, both only a safety net, so that a regression fails instead of hanging.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from sessionstore import SessionStore, StoreUnavailableError, Transcripts, open_store
from sessionstore.lifecycle import DAY_MS, Action, check, cleanup, reset
from tests.conftest import HANG_LIMIT_S

#: The address space of the child that reads a huge line: a 3 GiB line read whole
#: cannot fit, a bounded read (one MAX_LINE_BYTES line at most) does.
CHILD_ADDRESS_SPACE = 320 * 1024 * 1024
HUGE = 3 * 1024**3
NOW = 1_774_962_000_000
OLD = NOW - 60 * DAY_MS


def _message(role: str, text: str = "x", **extra: Any) -> dict[str, Any]:
    return {"type": "message", "message": {"role": role, "content": text, **extra}}


def _line(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event) + b"\n"


# -- one huge line ------------------------------------------------------------------

_READER = textwrap.dedent(
    """
    import json, os, resource, sys
    from sessionstore.openclaw.transcripts import Transcripts

    path, limit = sys.argv[1], int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    transcripts = Transcripts(os.path.dirname(path))
    entry = {"sessionId": "huge", "updatedAt": 1}
    stats = transcripts.file_stats(path)  # what check (stats) and migrate read
    tail = transcripts.tail(entry, max_bytes=4 * 1024**3)
    size = os.path.getsize(path)
    event = {"type": "message", "message": {"role": "user", "content": "new",
             "idempotencyKey": "k-first"}}
    appended = transcripts.append(entry, [event])
    print(json.dumps({
        "stats": [stats.messages, stats.malformed_lines, stats.oversized_lines],
        "tail": [e["message"]["content"] for e in tail],
        "size_after_reads": size,
        "appended": [appended.written, appended.skipped],
    }))
    """
)


@pytest.mark.slow  # three passes over 3 GiB
def test_a_huge_line_is_skipped_and_every_read_stays_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    first = _message("user", "first", idempotencyKey="k-first")
    with open(path, "wb") as fh:
        fh.write(_line({"type": "session", "version": 3, "id": "huge"}) + _line(first))
        start = fh.tell()
        fh.truncate(start + HUGE)  # sparse: 3 GiB of zero bytes, one line, no disk
        fh.seek(0, os.SEEK_END)
        fh.write(b"\n" + _line(_message("assistant", "last")))
    size = path.stat().st_size
    assert path.stat().st_blocks * 512 < 1024**2  # the hole takes no room
    done = subprocess.run(
        [sys.executable, "-c", _READER, str(path), str(CHILD_ADDRESS_SPACE)],
        capture_output=True,
        text=True,
        timeout=600,  # a safety net only
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["stats"] == [2, 0, 1]  # the two messages around it; the line skipped
    assert result["tail"] == ["first", "last"]
    assert result["size_after_reads"] == size  # reading changes nothing
    assert result["appended"] == [0, 1]  # the key before the huge line is still seen


# -- a FIFO or a symlink in a transcript's place ------------------------------------


def _plant(kind: str, path: Path, outside: Path) -> None:
    """A FIFO at ``path``, or a symlink from it to a transcript outside the directory."""
    if kind == "fifo":
        os.mkfifo(path)
    else:
        outside.write_bytes(_line({"type": "session", "version": 3, "id": "x"}))
        path.symlink_to(outside)


def _agent(store: SessionStore, transcripts: Transcripts, kind: str, outside: Path) -> None:
    """Three stale cron sessions: two with a transcript of one message (``good`` with
    a wrong count) and ``planted``, whose transcript is a FIFO or a symlink out."""
    for n, (session_id, count) in enumerate((("good", 5), ("fine", 1), ("planted", 5))):
        store.put(
            f"agent:main:cron:{session_id}",
            {"sessionId": session_id, "updatedAt": OLD + n, "messageCount": count},
        )
        if session_id != "planted":
            transcripts.append({"sessionId": session_id, "updatedAt": 1}, [_message("user")])
    _plant(kind, transcripts.directory / "planted.jsonl", outside)


KINDS = ["fifo", "symlink"]
PLANTED = "agent:main:cron:planted"


@pytest.fixture(params=KINDS)
def transcripts(
    request: pytest.FixtureRequest, store: SessionStore, tmp_path: Path, no_hang: None
) -> Transcripts:
    """The transcripts of ``_agent``'s three sessions, ``planted`` a FIFO or a symlink
    out (``request.param``), with the hang guard on."""
    transcripts = Transcripts(tmp_path / "sessions")
    _agent(store, transcripts, request.param, tmp_path / "outside.jsonl")
    return transcripts


def test_check_and_repair_report_the_planted_file_and_go_on(
    store: SessionStore, transcripts: Transcripts
) -> None:
    report = check(store, transcripts)
    assert list(report.transcript_errors) == [PLANTED]
    assert "refusing to use it" in report.transcript_errors[PLANTED]
    assert report.missing == [] and report.orphans == [] and not report.consistent
    assert report.wrong_counts == {"agent:main:cron:good": {"messageCount": [5, 1]}}
    repaired = check(store, transcripts, repair=True)
    assert repaired.repaired == 1 and list(repaired.transcript_errors) == [PLANTED]
    good = store.get("agent:main:cron:good")
    planted = store.get(PLANTED)
    assert good is not None and good.message_count == 1
    assert planted is not None and planted.message_count == 5  # left alone


def test_fix_missing_never_takes_a_planted_file_for_a_missing_one(
    store: SessionStore, transcripts: Transcripts
) -> None:
    store.put("agent:main:cron:lost", {"sessionId": "lost", "updatedAt": NOW})
    report = cleanup(
        store, now_ms=NOW, prune_after_ms=None, fix_missing=True, transcripts=transcripts
    )
    assert [(item.key, item.action) for item in report.removals] == [
        ("agent:main:cron:lost", Action.PRUNE_MISSING)
    ]
    assert list(report.transcript_errors) == [PLANTED]
    assert report.has_errors and store.get(PLANTED) is not None


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.usefixtures("no_hang")
def test_cleanup_archives_the_other_transcripts_and_leaves_the_planted_file(
    store: SessionStore, tmp_path: Path, kind: str
) -> None:
    transcripts = Transcripts(tmp_path / "sessions")
    outside = tmp_path / "outside.jsonl"
    _agent(store, transcripts, kind, outside)
    dry = cleanup(store, now_ms=NOW, transcripts=transcripts, dry_run=True)
    report = cleanup(store, now_ms=NOW, transcripts=transcripts)
    assert dry.archived == report.archived == ["fine.jsonl", "good.jsonl"]
    assert list(dry.transcript_errors) == list(report.transcript_errors) == [PLANTED]
    assert (report.applied_count, store.count()) == (3, 0)  # the stale entries go
    names = sorted(os.listdir(transcripts.directory))
    assert "planted.jsonl" in names and "good.jsonl" not in names
    assert [n for n in names if n.startswith("good.jsonl.deleted.")]
    planted = transcripts.directory / "planted.jsonl"
    assert planted.is_symlink() if kind == "symlink" else planted.is_fifo()
    assert kind == "fifo" or outside.read_bytes().startswith(b'{"type":"session"')


def test_reset_refuses_a_planted_transcript_before_changing_the_entry(
    store: SessionStore, transcripts: Transcripts
) -> None:
    before = store.get_with_version(PLANTED)
    with pytest.raises(StoreUnavailableError, match=r"planted\.jsonl"):
        reset(store, PLANTED, transcripts=transcripts, now_ms=NOW)
    assert store.get_with_version(PLANTED) == before  # not reset behind the error
    fresh = reset(store, "agent:main:cron:good", transcripts=transcripts, now_ms=NOW)
    assert fresh.session_id != "good"


# -- through the command line ---------------------------------------------------------


def _sessionstore(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("SESSIONSTORE_")}
    return subprocess.run(
        [sys.executable, "-m", "sessionstore", *args],
        capture_output=True,
        text=True,
        timeout=HANG_LIMIT_S,  # a safety net only
        check=False,
        env=env,
    )


@pytest.mark.parametrize("kind", KINDS)
def test_the_cli_reports_the_planted_file_and_handles_the_rest(tmp_path: Path, kind: str) -> None:
    url = f"sqlite:///{tmp_path / 'sessions.db'}"
    sessions = tmp_path / "sessions"
    transcripts = Transcripts(sessions)
    with open_store(url, auto_upgrade=True) as store:
        _agent(store, transcripts, kind, tmp_path / "outside.jsonl")
    where = ("--url", url, "--sessions-dir", str(sessions))

    checked = _sessionstore("check", *where)
    assert checked.returncode == 1, checked.stderr
    assert "1 transcript errors" in checked.stdout and "1 wrong counters" in checked.stdout
    assert f"transcript error: {PLANTED}:" in checked.stdout
    assert checked.stderr == ""

    repaired = _sessionstore("check", *where, "--repair", "--json")
    assert repaired.returncode == 1, repaired.stderr
    [agent] = json.loads(repaired.stdout)["agents"]
    assert agent["repaired"] == 1 and list(agent["transcriptErrors"]) == [PLANTED]

    cleaned = _sessionstore("cleanup", *where, "--fix-missing")
    assert cleaned.returncode == 1, cleaned.stderr
    assert "3 -> 0 entries" in cleaned.stdout and "transcripts archived: 2" in cleaned.stdout
    assert f"transcript error: {PLANTED}:" in cleaned.stdout
    assert cleaned.stderr == ""
    with open_store(url) as store:
        assert store.count() == 0
    assert sorted(p.name for p in transcripts.files()) == []  # both archived


# -- archive expiry -------------------------------------------------------------------

STAMP = "2026-01-01T00-00-00.000Z"  # older than 30 days before NOW


@pytest.mark.usefixtures("no_hang")
def test_an_archive_that_cannot_be_removed_is_reported_and_the_rest_expire(
    store: SessionStore, tmp_path: Path
) -> None:
    transcripts = Transcripts(tmp_path / "sessions")
    store.put("agent:main:cron:old", {"sessionId": "old", "updatedAt": OLD})
    store.put("agent:main:cron:new", {"sessionId": "new", "updatedAt": NOW})
    transcripts.append({"sessionId": "old", "updatedAt": 1}, [_message("user")])
    directory = transcripts.directory
    (directory / f"a.jsonl.deleted.{STAMP}").write_bytes(b"{}\n")
    blocked = directory / f"b.jsonl.deleted.{STAMP}"
    blocked.mkdir()  # a directory in an archive's place, with something in it
    (blocked / "keep.jsonl").write_bytes(b"{}\n")
    linked = directory / f"c.jsonl.deleted.{STAMP}"
    linked.symlink_to(directory / "old.jsonl")
    not_a_time = directory / "d.jsonl.deleted.2026-13-45T99-00-00.000Z"
    not_a_time.write_bytes(b"{}\n")

    report = cleanup(store, now_ms=NOW, transcripts=transcripts)
    assert report.expired == [f"a.jsonl.deleted.{STAMP}"]
    assert sorted(report.archive_errors) == [blocked.name, linked.name]
    assert "not a regular file" in report.archive_errors[blocked.name]
    assert report.archived == ["old.jsonl"] and report.applied_count == 1
    assert store.get("agent:main:cron:new") is not None
    assert (blocked / "keep.jsonl").exists() and linked.is_symlink() and not_a_time.exists()
    assert not (directory / f"a.jsonl.deleted.{STAMP}").exists()


def test_the_cli_reports_an_archive_that_cannot_be_removed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sessions.db'}"
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    with open_store(url, auto_upgrade=True) as store:
        store.put("agent:main:main", {"sessionId": "m", "updatedAt": NOW})
    (sessions / f"b.jsonl.deleted.{STAMP}").mkdir()
    (sessions / f"a.jsonl.deleted.{STAMP}").write_bytes(b"{}\n")
    done = _sessionstore("cleanup", "--url", url, "--sessions-dir", str(sessions))
    assert done.returncode == 1 and done.stderr == ""
    assert f"archive error: b.jsonl.deleted.{STAMP}: cannot remove" in done.stdout
    assert "old archives removed: 1" in done.stdout
    assert not (sessions / f"a.jsonl.deleted.{STAMP}").exists()


@pytest.fixture
def read_only_sessions(tmp_path: Path) -> Iterator[Path]:
    """A sessions directory holding one expired archive, where nothing can be removed:
    a read-only bind mount as root (who ignores permissions), else mode 0555."""
    source = tmp_path / "sessions-source"
    source.mkdir()
    (source / f"a.jsonl.deleted.{STAMP}").write_bytes(b"{}\n")
    if os.geteuid() != 0:
        source.chmod(0o555)
        yield source
        source.chmod(0o755)
        return
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    done = subprocess.run(["mount", "--bind", str(source), str(sessions)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here: {done.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(sessions)], check=True)
        yield sessions
    finally:
        subprocess.run(["umount", str(sessions)], check=True)


def test_an_archive_on_a_read_only_directory_is_reported_and_the_store_still_cleaned(
    tmp_path: Path, read_only_sessions: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'sessions.db'}"
    with open_store(url, auto_upgrade=True) as store:
        store.put("agent:main:cron:stale", {"sessionId": "stale", "updatedAt": OLD})
        store.put("agent:main:main", {"sessionId": "m", "updatedAt": NOW})
    archive = read_only_sessions / f"a.jsonl.deleted.{STAMP}"
    done = _sessionstore("cleanup", "--url", url, "--sessions-dir", str(read_only_sessions))
    assert done.returncode == 1 and done.stderr == "", done.stderr
    assert f"archive error: {archive.name}: cannot remove" in done.stdout
    assert "2 -> 1 entries" in done.stdout
    assert archive.read_bytes() == b"{}\n"
    with open_store(url) as store:
        assert store.get("agent:main:main") is not None and store.count() == 1

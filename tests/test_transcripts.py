"""Transcripts stay inside their sessions directory, follow OpenClaw's file format,
skip known idempotency keys, read only the end of a file for a tail, and keep the hot
index's counters in step with what was appended."""

from __future__ import annotations

import os
import re
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from sessionstore import (
    InvalidArgumentError,
    InvalidEntryError,
    SessionEntry,
    SessionNotFoundError,
    SessionStore,
    StoreLockedError,
    StoreUnavailableError,
    open_store,
)
from sessionstore.contract import (
    LARGE_EVENT_BYTES,
    TRANSCRIPT_START,
    AppendResult,
    SearchHit,
    TranscriptPage,
    TranscriptStore,
    encode_cursor,
    encode_transcript_cursor,
    event_header,
)
from sessionstore.events import event_time_ms, iso_ms, snippet, stamp_ms
from sessionstore.lifecycle import reset
from sessionstore.locate import locate
from sessionstore.openclaw.statedir import sessions_dir
from sessionstore.openclaw.transcripts import (
    MAX_LINE_BYTES,
    TRANSCRIPT_VERSION,
    Archive,
    FileTranscripts,
    Transcripts,
    append_to_session,
)
from tests.lock_holder import lock_held, watching_for_a_wait

T0 = 1_774_962_000_000
KEY = "agent:main:main"


def entry(session_id: str = "sess-1", **fields: Any) -> dict[str, Any]:
    return {"sessionId": session_id, "updatedAt": T0, **fields}


def user(text: str, key: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "user", "content": text, "timestamp": T0}
    if key is not None:
        message["idempotencyKey"] = key
    return {"type": "message", "message": message}


def assistant(text: str, tokens_in: int, tokens_out: int, key: str | None = None) -> Any:
    usage = {"input": tokens_in, "output": tokens_out, "totalTokens": tokens_in + tokens_out}
    event = user(text, key)
    event["message"].update(role="assistant", model="claude-opus-4-6", usage=usage)
    return event


def _file(result: AppendResult) -> Path:
    assert result.path is not None  # always, on the files tier
    return result.path


def lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return sessions_dir(tmp_path / "state", "main")


@pytest.fixture
def transcripts(directory: Path) -> Transcripts:
    return Transcripts(directory)


# -- paths --------------------------------------------------------------------------


@pytest.mark.parametrize("bad_id", ["../etc/passwd", "a/b", "a\\b", "/abs", "", ".hidden"])
def test_unsafe_session_ids_are_rejected(transcripts: Transcripts, bad_id: str) -> None:
    with pytest.raises(InvalidEntryError, match="sessionId"):
        transcripts.path(entry(bad_id))
    with pytest.raises(InvalidEntryError):
        transcripts.append(entry(bad_id), [user("hi")])
    assert not transcripts.directory.exists()


def test_default_and_topic_file_names(transcripts: Transcripts, directory: Path) -> None:
    assert transcripts.path(entry()) == directory / "sess-1.jsonl"
    names: dict[str | int, str] = {
        "topic/a+b": "sess-1-topic-topic%2Fa%2Bb.jsonl",
        "Grüße 👋": "sess-1-topic-Gr%C3%BC%C3%9Fe%20%F0%9F%91%8B.jsonl",
        "a!~*'()_.-b": "sess-1-topic-a!~*'()_.-b.jsonl",  # what encodeURIComponent keeps
        "..": "sess-1-topic-...jsonl",
        42: "sess-1-topic-42.jsonl",
        -1001234567890: "sess-1-topic--1001234567890.jsonl",
    }
    for topic, name in names.items():
        assert transcripts.path(entry(), topic_id=topic) == directory / name
    with pytest.raises(InvalidArgumentError):
        transcripts.path(entry(), topic_id=True)
    with pytest.raises(InvalidArgumentError):
        transcripts.path(entry(), topic_id="\ud83d")


def _outside_symlink(directory: Path, tmp_path: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    secret = tmp_path / "secret.jsonl"
    secret.write_text("secret\n")
    (directory / "escape.jsonl").symlink_to(secret)
    return "escape.jsonl"


@pytest.mark.parametrize(
    "session_file",
    [
        "{tmp}/elsewhere/x.jsonl",
        "/etc/passwd",
        "../x.jsonl",
        "sub/../x.jsonl",
        "{dir}/../../../../x.jsonl",
        "sub/x.jsonl",
        "sessions.json",
        "a-directory.jsonl",
        "symlink-out",
        "   ",
    ],
)
def test_unusable_session_file_falls_back_to_default(
    transcripts: Transcripts, directory: Path, tmp_path: Path, session_file: str
) -> None:
    if session_file == "symlink-out":
        session_file = _outside_symlink(directory, tmp_path)
    (directory / "a-directory.jsonl").mkdir(parents=True)
    session_file = session_file.format(tmp=tmp_path, dir=directory)
    assert transcripts.path(entry(sessionFile=session_file)) == directory / "sess-1.jsonl"


def test_symlink_escape_is_never_written_through(
    transcripts: Transcripts, directory: Path, tmp_path: Path
) -> None:
    name = _outside_symlink(directory, tmp_path)
    transcripts.append(entry(sessionFile=name), [user("hi")])
    assert (tmp_path / "secret.jsonl").read_text() == "secret\n"
    assert len(lines(directory / "sess-1.jsonl")) == 2


def test_a_planted_default_file_is_refused(
    transcripts: Transcripts, directory: Path, tmp_path: Path
) -> None:
    directory.mkdir(parents=True)
    (directory / "sess-1.jsonl").symlink_to(tmp_path / "outside.jsonl")
    with pytest.raises(StoreUnavailableError, match="refusing"):
        transcripts.append(entry(), [user("hi")])
    with pytest.raises(StoreUnavailableError, match="refusing"):
        transcripts.tail(entry())
    assert not (tmp_path / "outside.jsonl").exists()


@pytest.mark.usefixtures("no_hang")  # a FIFO opened for reading would block
def test_find_tells_a_missing_transcript_from_one_that_must_not_be_read(
    transcripts: Transcripts, directory: Path, tmp_path: Path
) -> None:
    assert transcripts.find(entry("none")) is None
    assert transcripts.find(entry()) is None
    path = _file(transcripts.append(entry(), [user("hi")]))
    assert transcripts.find(entry()) == path
    os.mkfifo(directory / "fifo.jsonl")
    (directory / "dir.jsonl").mkdir()
    (directory / "out.jsonl").symlink_to(tmp_path / "outside.jsonl")
    for session_id in ("fifo", "dir", "out"):  # never opened: nothing to wait on
        with pytest.raises(StoreUnavailableError, match="refusing to use it"):
            transcripts.find(entry(session_id))


def test_usable_session_file_is_accepted(
    transcripts: Transcripts, directory: Path, tmp_path: Path
) -> None:
    custom = directory / "custom.jsonl"
    assert transcripts.path(entry(sessionFile="custom.jsonl")) == custom
    assert transcripts.path(entry(sessionFile="./custom.jsonl")) == custom
    assert transcripts.path(entry(sessionFile=str(custom))) == custom
    # Written by OpenClaw before the state directory moved: the name is kept.
    old = "/home/alice/.openclaw/agents/main/sessions/custom.jsonl"
    assert transcripts.path(entry(sessionFile=old)) == custom
    # A symlinked alias of the sessions directory, on either side.
    directory.mkdir(parents=True)
    alias = tmp_path / "alias"
    alias.symlink_to(directory, target_is_directory=True)
    assert transcripts.path(entry(sessionFile=str(alias / "custom.jsonl"))) == custom
    through_alias = Transcripts(alias)
    assert through_alias.path(entry(sessionFile=str(custom))) == alias / "custom.jsonl"


def test_every_resolved_path_is_inside_the_directory(
    transcripts: Transcripts, directory: Path, tmp_path: Path
) -> None:
    _outside_symlink(directory, tmp_path)
    values = [
        "escape.jsonl",
        "x.jsonl",
        "/x.jsonl",
        "..",
        ".",
        "",
        "/",
        "a/../../b.jsonl",
        str(directory),
        "/srv/agents/main/sessions/../../../etc/x.jsonl",
        "/srv/agents/main/sessions/.jsonl",
        "/srv/agents/main/sessions/escape.jsonl",
        "~/x.jsonl",
        "\\..\\x.jsonl",
    ]
    for value in values:
        for topic in (None, "t/../..", 7):
            path = transcripts.path(entry(sessionFile=value), topic_id=topic)
            assert path.parent == directory, value
            assert Path(os.path.realpath(path)).parent == Path(os.path.realpath(directory))


# -- append -------------------------------------------------------------------------


def test_append_creates_a_private_file_with_the_header_first(
    transcripts: Transcripts, directory: Path
) -> None:
    first = transcripts.append(entry(), [user("hi")], cwd="/work")
    assert first.created and first.written == 1 and first.messages == 1
    path = directory / "sess-1.jsonl"
    assert first.path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    header, message = lines(path)
    assert header["type"] == "session" and header["version"] == TRANSCRIPT_VERSION
    assert header["id"] == "sess-1" and header["cwd"] == "/work"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", header["timestamp"])
    assert re.fullmatch(r"[0-9a-f]{8}", message["id"]) and message["parentId"] is None
    assert list(message)[:4] == ["type", "id", "parentId", "timestamp"]

    second = transcripts.append(entry(), [user("again"), assistant("ok", 10, 2)])
    assert not second.created
    kinds = [line["type"] for line in lines(path)]
    assert kinds == ["session", "message", "message", "message"]
    ids = [line["id"] for line in lines(path)[1:]]
    parents = [line["parentId"] for line in lines(path)[1:]]
    assert parents == [None, ids[0], ids[1]]


def test_header_cwd_defaults_to_the_directory(transcripts: Transcripts) -> None:
    path = _file(transcripts.append(entry(), [user("hi")]))
    assert lines(path)[0]["cwd"] == str(transcripts.directory)


def test_events_with_ids_are_written_exactly_as_given(transcripts: Transcripts) -> None:
    event = {
        "type": "message",
        "id": "a1b2c3d4",
        "parentId": None,
        "timestamp": "2026-03-31T08:00:01.120Z",
        "message": {"role": "user", "content": [{"type": "text", "text": "Grüße"}]},
        "unknown": {"nested": [1, 2.5, None]},
    }
    path = _file(transcripts.append(entry(), [event]))
    assert path.read_bytes().splitlines()[1] == orjson.dumps(event)


def test_duplicate_idempotency_keys_are_skipped(transcripts: Transcripts) -> None:
    first = transcripts.append(entry(), [user("a", "k1"), user("b", "k2"), user("a", "k1")])
    assert (first.written, first.skipped) == (2, 1)
    second = transcripts.append(
        entry(),
        [
            user("b", "k2"),
            {"type": "message", "idempotencyKey": "k3", "message": {"role": "user"}},
            {"type": "message", "idempotencyKey": "k3", "message": {"role": "user"}},
            assistant("c", 1, 1, "k4"),
        ],
    )
    assert (second.written, second.skipped, second.messages) == (2, 2, 2)
    assert transcripts.count_messages(entry()) == 4
    again = transcripts.append(entry(), [assistant("c", 1, 1, "k4")])
    assert (again.written, again.skipped, again.created) == (0, 1, False)


def test_malformed_lines_are_kept_byte_for_byte_and_ignored(
    transcripts: Transcripts, directory: Path
) -> None:
    directory.mkdir(parents=True)
    path = directory / "sess-1.jsonl"
    original = (
        b'{"type":"session","version":3,"id":"sess-1","timestamp":"t","cwd":"/"}\n'
        b'{"type":"message","id":"aaaaaaaa","message":{"idempotencyKey":"k1"}}\n'
        b'{not json, "idempotencyKey":"k2"\n'
        b"\xff\xfe binary\n"
        b"[1, 2]\n"
        b"\n"
    )
    path.write_bytes(original)
    result = transcripts.append(entry(), [user("x", "k1"), user("y", "k2")])
    assert (result.written, result.skipped, result.created) == (1, 1, False)
    data = path.read_bytes()
    assert data.startswith(original)
    added = orjson.loads(data[len(original) :])
    assert added["parentId"] == "aaaaaaaa" and added["message"]["content"] == "y"
    stats = transcripts.stats(entry())
    assert (stats.messages, stats.malformed_lines) == (2, 3)


def test_a_line_cut_short_by_a_crash_is_ended_not_joined(
    transcripts: Transcripts, directory: Path
) -> None:
    directory.mkdir(parents=True)
    path = directory / "sess-1.jsonl"
    path.write_bytes(b'{"type":"session","version":3,"id":"sess-1"}\n{"type":"mess')
    transcripts.append(entry(), [user("after the crash")])
    assert path.read_bytes().splitlines()[1] == b'{"type":"mess'
    assert [e["message"]["content"] for e in transcripts.tail(entry())] == ["after the crash"]


def test_a_batch_with_its_own_header_is_copied_verbatim(transcripts: Transcripts) -> None:
    copied: list[dict[str, Any]] = [
        {"type": "session", "version": 3, "id": "sess-1", "timestamp": "t", "cwd": "/old"},
        {"type": "message", "id": "a1b2c3d4", "parentId": None, "timestamp": "t", "message": {}},
    ]
    result = transcripts.append(entry(), copied)
    assert result.created and result.written == 2
    assert _file(result).read_bytes() == b"".join(orjson.dumps(e) + b"\n" for e in copied)


def test_a_header_only_starts_a_new_transcript(transcripts: Transcripts) -> None:
    header = {"type": "session", "version": 3, "id": "sess-1"}
    with pytest.raises(InvalidArgumentError, match="header"):
        transcripts.append(entry(), [user("a"), header])
    transcripts.append(entry(), [user("a")])
    with pytest.raises(InvalidArgumentError, match="header"):
        transcripts.append(entry(), [header])
    assert [e["type"] for e in lines(transcripts.path(entry()))] == ["session", "message"]


def test_concurrent_appends_serialise(transcripts: Transcripts) -> None:
    def writer(n: int) -> None:
        for i in range(10):
            transcripts.append(entry(), [user(f"{n}-{i}", f"{n}-{i}"), user("dup", "same")])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    events = lines(transcripts.path(entry()))
    assert [e["type"] for e in events].count("session") == 1
    assert transcripts.count_messages(entry()) == 41
    ids = [e["id"] for e in events[1:]]
    assert [e["parentId"] for e in events[1:]] == [None, *ids[:-1]]


def test_nothing_is_created_when_nothing_is_written(transcripts: Transcripts) -> None:
    result = transcripts.append(entry(), [])
    assert (result.written, result.created) == (0, False)
    assert not _file(result).exists()


@pytest.mark.parametrize(
    "bad_event",
    [["not", "an", "object"], "text", {"when": datetime.now(UTC)}, {"s": {1, 2}}, {1: "x"}],
)
def test_events_must_be_json_objects(transcripts: Transcripts, bad_event: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        transcripts.append(entry(), [user("fine"), bad_event])
    assert not transcripts.path(entry()).exists()


def test_a_held_lock_is_waited_for_then_times_out_clearly(directory: Path) -> None:
    transcripts = Transcripts(directory, lock_timeout=0.05)
    lock_file = directory / "sess-1.jsonl.lock"
    with (
        lock_held(directory / "sess-1.jsonl") as holder,
        watching_for_a_wait(lock_file) as waited,
        pytest.raises(StoreLockedError, match=rf"sess-1\.jsonl\.lock.*pid {holder.pid}"),
    ):
        transcripts.append(entry(), [user("hi")])
    assert waited.is_set()
    assert not transcripts.path(entry()).exists()


def test_appends_leave_no_lock_file_and_take_over_a_killed_holders(directory: Path) -> None:
    transcripts = Transcripts(directory, lock_timeout=0)  # one try, no wait
    transcripts.append(entry(), [user("first")])
    with lock_held(transcripts.path(entry())) as holder:
        holder.kill()
        holder.wait()
    assert (directory / "sess-1.jsonl.lock").exists()  # naming the killed process
    transcripts.append(entry(), [user("second")])
    assert sorted(p.name for p in directory.iterdir()) == ["sess-1.jsonl"]
    assert transcripts.count_messages(entry()) == 2


# -- reading ------------------------------------------------------------------------


def _rchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def test_tail_of_a_50_mb_transcript_reads_only_its_end(
    transcripts: Transcripts, directory: Path
) -> None:
    if not Path("/proc/self/io").exists():
        pytest.skip("/proc/self/io is not available: cannot count bytes read")
    transcripts.append(entry(), [user("first")])
    path = transcripts.path(entry())
    padding = orjson.dumps({"type": "custom", "data": "x" * 1_000_000}) + b"\n"
    with open(path, "ab") as fh:
        for _ in range(50):
            fh.write(padding)
        for i in range(300):
            fh.write(orjson.dumps({"type": "message", "id": f"{i:08x}", "message": {"n": i}}))
            fh.write(b"\n")
    assert path.stat().st_size > 50_000_000

    before = _rchar()
    tail = transcripts.tail(entry(), limit=200)
    read = _rchar() - before
    assert read < 2_000_000, f"tail read {read:,} bytes"
    assert [event["message"]["n"] for event in tail] == list(range(100, 300))


def test_tail_respects_max_bytes(transcripts: Transcripts) -> None:
    events = [user(f"{i:04d}" + "." * 1000) for i in range(100)]
    transcripts.append(entry(), events)
    tail = transcripts.tail(entry(), limit=1000, max_bytes=10_000)
    assert 1 <= len(tail) <= 10
    texts = [event["message"]["content"][:4] for event in tail]
    assert texts == [f"{i:04d}" for i in range(100 - len(tail), 100)]
    everything = transcripts.tail(entry(), limit=1000)
    assert len(everything) == 100  # the header is not a message
    assert transcripts.tail(entry(), limit=3) == everything[-3:]


def test_tail_edges(transcripts: Transcripts) -> None:
    assert transcripts.tail(entry()) == []
    transcripts.append(entry(), [user("only")])
    assert [e["message"]["content"] for e in transcripts.tail(entry(), max_bytes=1)] == []
    assert [e["message"]["content"] for e in transcripts.tail(entry())] == ["only"]
    for bad in (0, 1001, True):
        with pytest.raises(InvalidArgumentError):
            transcripts.tail(entry(), limit=bad)
    with pytest.raises(InvalidArgumentError):
        transcripts.tail(entry(), max_bytes=0)


def test_count_and_stats_match_what_was_appended(transcripts: Transcripts) -> None:
    assert transcripts.count_messages(entry()) == 0
    results = [
        transcripts.append(entry(), [user("a"), assistant("b", 100, 20)]),
        transcripts.append(entry(), [{"type": "model_change", "modelId": "m"}, user("c")]),
        transcripts.append(entry(), [assistant("d", 300, 40), assistant("e", 5, 1)]),
    ]
    stats = transcripts.stats(entry())
    assert stats.messages == transcripts.count_messages(entry()) == 5
    assert stats.messages == sum(r.messages for r in results)
    assert stats.input_tokens == sum(r.input_tokens for r in results) == 405
    assert stats.output_tokens == sum(r.output_tokens for r in results) == 61
    assert stats.total_tokens == results[-1].total_tokens == 6
    assert stats.malformed_lines == 0


def _message_line(size: int) -> bytes:
    """A ``message`` event of exactly ``size`` bytes, newline excluded."""
    head, tail = b'{"type":"message","message":{"role":"user","content":"', b'"}}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def test_a_line_over_the_limit_is_skipped_and_one_at_the_limit_is_read(
    transcripts: Transcripts,
) -> None:
    path = _file(transcripts.append(entry(), [user("first", "k1")]))
    with open(path, "ab") as fh:
        fh.write(_message_line(MAX_LINE_BYTES) + b"\n")
        fh.write(_message_line(MAX_LINE_BYTES + 1) + b"\n")
        fh.write(orjson.dumps(user("last", "k2")) + b"\n")
    stats = transcripts.stats(entry())
    assert (stats.messages, stats.malformed_lines, stats.oversized_lines) == (3, 0, 1)
    tail = transcripts.tail(entry(), max_bytes=3 * MAX_LINE_BYTES)
    assert [e["message"]["content"][:5] for e in tail] == ["first", "xxxxx", "last"]
    assert transcripts.append(entry(), [user("again", "k1"), user("again", "k2")]).skipped == 2
    with open(path, "ab") as fh:  # an oversized last line, without a newline
        fh.write(_message_line(MAX_LINE_BYTES + 1))
    assert transcripts.stats(entry()).oversized_lines == 2
    tail = transcripts.tail(entry(), limit=1, max_bytes=2 * MAX_LINE_BYTES)
    assert [e["message"]["content"] for e in tail] == ["last"]


# -- archives and listing -----------------------------------------------------------


def test_archives_are_found_by_name_and_removed_only_if_they_are_files(
    transcripts: Transcripts, directory: Path
) -> None:
    assert transcripts.archives() == []
    transcripts.append(entry(), [user("x")])
    archived = transcripts.archive(entry(), "reset", now_ms=1774944000000)
    assert archived is not None
    (directory / "x.jsonl.deleted.2026-13-01T00-00-00Z").write_text("not a time\n")
    (directory / "y.jsonl.deleted.2026-01-01T00-00-00Z").mkdir()
    assert transcripts.archives() == [
        Archive(archived.name, "reset", 1774944000000),
        Archive("y.jsonl.deleted.2026-01-01T00-00-00Z", "deleted", 1767225600000),
    ]
    with pytest.raises(StoreUnavailableError, match="not a regular file"):
        transcripts.remove_archive("y.jsonl.deleted.2026-01-01T00-00-00Z")
    for bad in ("sess-1.jsonl", "../" + archived.name):
        with pytest.raises(InvalidArgumentError):
            transcripts.remove_archive(bad)
    transcripts.remove_archive(archived.name)
    transcripts.remove_archive(archived.name)  # gone already: nothing to do
    assert not archived.exists()


def test_archive_renames_and_never_deletes(transcripts: Transcripts, directory: Path) -> None:
    assert transcripts.archive(entry(), "deleted") is None
    path = _file(transcripts.append(entry(), [user("keep me")]))
    content = path.read_bytes()
    archived = transcripts.archive(entry(), "reset", now_ms=1774944000000)
    assert archived == directory / "sess-1.jsonl.reset.2026-03-31T08-00-00.000Z"
    assert not path.exists() and archived.read_bytes() == content

    transcripts.append(entry(), [user("second life")])
    deleted = transcripts.archive(entry(), "deleted")
    assert deleted is not None
    assert re.fullmatch(
        r"sess-1\.jsonl\.deleted\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z", deleted.name
    )
    # Same millisecond again: a new name, the first archive untouched.
    transcripts.append(entry(), [user("third")])
    again = transcripts.archive(entry(), "reset", now_ms=1774944000000)
    assert again is not None and again != archived and archived.read_bytes() == content
    with pytest.raises(InvalidArgumentError):
        transcripts.archive(entry(), "gone")  # type: ignore[arg-type]


def test_files_lists_live_transcripts_only(
    transcripts: Transcripts, directory: Path, tmp_path: Path
) -> None:
    assert transcripts.files() == []
    transcripts.append(entry("a"), [user("x")])
    transcripts.append(entry("b"), [user("x")], topic_id=7)
    transcripts.append(entry("c.reset.d"), [user("x")])
    transcripts.append(entry("z"), [user("x")])
    transcripts.archive(entry("z"), "deleted")
    for name in [
        "sessions.json",
        "a.jsonl.bak.1774944000000",
        "a.trajectory.jsonl",
        "a.checkpoint.3f2b9c1e-7a44-4c0e-9d1f-2b6f0a8c5e11.jsonl",
    ]:
        (directory / name).write_text("{}\n")
    _outside_symlink(directory, tmp_path)
    names = [path.name for path in transcripts.files()]
    assert names == ["a.jsonl", "b-topic-7.jsonl", "c.reset.d.jsonl"]


# -- keeping the hot index in step --------------------------------------------------


@pytest.fixture(params=["json", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SessionStore]:
    if request.param == "json":
        opened = open_store(str(tmp_path / "sessions.json"))
    else:
        opened = open_store(f"sqlite:///{tmp_path}/s.db", auto_upgrade=True)
    with opened:
        yield opened


def test_append_to_session_keeps_the_index_in_step(
    store: SessionStore, transcripts: Transcripts
) -> None:
    store.put(KEY, entry(model="claude-opus-4-6"))
    append_to_session(store, transcripts, KEY, [user("hi", "u1"), assistant("hello", 100, 20)])
    append_to_session(store, transcripts, KEY, [user("hi", "u1"), user("more", "u2")])
    result = append_to_session(store, transcripts, KEY, [assistant("ok", 300, 40, "a1")])
    assert (result.written, result.messages, result.total_tokens) == (1, 1, 340)
    duplicate = append_to_session(store, transcripts, KEY, [assistant("ok", 300, 40, "a1")])
    assert (duplicate.written, duplicate.skipped) == (0, 1)

    stored = store.get(KEY)
    assert stored is not None
    assert stored.message_count == transcripts.count_messages(stored) == 4
    assert (stored.input_tokens, stored.output_tokens, stored.total_tokens) == (400, 60, 340)
    assert stored.to_dict()["totalTokensFresh"] is True
    assert stored.model == "claude-opus-4-6" and stored.updated_at == T0

    stats = transcripts.stats(stored)
    assert (stats.messages, stats.input_tokens, stats.output_tokens) == (4, 400, 60)


def test_append_to_session_counts_an_uncounted_file_once(
    store: SessionStore, transcripts: Transcripts
) -> None:
    transcripts.append(entry(), [user("a"), user("b"), user("c")])
    store.put(KEY, entry())
    append_to_session(store, transcripts, KEY, [user("d")])
    stored = store.get(KEY)
    assert stored is not None and stored.message_count == 4
    assert stored.input_tokens is None and stored.total_tokens is None

    # A counted entry is advanced, not recounted.
    store.put(KEY, SessionEntry.from_dict(entry(messageCount=10, inputTokens=5)))
    append_to_session(store, transcripts, KEY, [assistant("e", 7, 3)])
    stored = store.get(KEY)
    assert stored is not None
    assert (stored.message_count, stored.input_tokens, stored.output_tokens) == (11, 12, 3)


def test_concurrent_append_to_session_loses_no_count(
    store: SessionStore, transcripts: Transcripts
) -> None:
    store.put(KEY, entry(messageCount=0))

    def writer(n: int) -> None:
        for i in range(5):
            append_to_session(store, transcripts, KEY, [assistant(f"{n}-{i}", 2, 1)])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = store.get(KEY)
    assert stored is not None
    assert stored.message_count == transcripts.count_messages(stored) == 20
    assert (stored.input_tokens, stored.output_tokens, stored.total_tokens) == (40, 20, 3)


def test_append_to_session_needs_the_entry(store: SessionStore, transcripts: Transcripts) -> None:
    with pytest.raises(InvalidArgumentError, match="agent:main:missing"):
        append_to_session(store, transcripts, "agent:main:missing", [user("hi")])
    assert transcripts.files() == []


# -- the files tier of the transcript contract (store.transcripts) -------------------


@pytest.fixture
def twin(directory: Path) -> Iterator[SessionStore]:
    with open_store(str(directory / "sessions.json")) as opened:
        yield opened


@pytest.fixture
def tier(twin: SessionStore) -> FileTranscripts:
    files = twin.transcripts
    assert isinstance(files, FileTranscripts) and isinstance(files, TranscriptStore)
    return files


def _numbered(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [user(f"message {i}") for i in range(start, start + n)]


def _texts(events: list[dict[str, Any]]) -> list[str]:
    return [e["message"]["content"] if e["type"] == "message" else e["type"] for e in events]


def _all_pages(tier: FileTranscripts, *, forward: bool, limit: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor: str | None = TRANSCRIPT_START if forward else None
    while True:
        page = (
            tier.page(KEY, after=cursor, limit=limit)
            if forward
            else tier.page(KEY, before=cursor, limit=limit)
        )
        assert len(page.items) <= limit
        found += page.items
        if page.next_cursor is None:
            return found
        assert len(page.items) == limit
        cursor = page.next_cursor


def test_file_pages_backward_and_forward_concatenate_to_the_whole_transcript(
    twin: SessionStore, tier: FileTranscripts
) -> None:
    twin.put(KEY, entry())
    assert tier.page(KEY) == TranscriptPage([], None)
    tier.append(KEY, _numbered(5))
    path = tier.path(entry())
    with open(path, "ab") as fh:  # a malformed line and a blank one: never returned
        fh.write(b"{not json\n\n")
    tier.append(KEY, [{"type": "model_change", "modelId": "m"}, *_numbered(6, start=5)])
    whole = tier.tail(KEY, limit=1000)
    assert _texts(whole) == [
        *(f"message {i}" for i in range(5)),
        "model_change",
        *(f"message {i}" for i in range(5, 11)),
    ]
    for limit in (1, 2, 3, 5, 12, 13, 1000):
        assert _all_pages(tier, forward=True, limit=limit) == whole, limit
        assert _all_pages(tier, forward=False, limit=limit) == whole[::-1], limit
    # A last line still being written is no event yet, in either direction.
    with open(path, "ab") as fh:
        fh.write(orjson.dumps(user("half"))[:-3])
    assert tier.tail(KEY, limit=1000) == whole
    assert _all_pages(tier, forward=True, limit=4) == whole
    assert _all_pages(tier, forward=False, limit=4) == whole[::-1]
    with pytest.raises(InvalidArgumentError):
        tier.page(KEY, before=TRANSCRIPT_START, after=TRANSCRIPT_START)
    assert tier.page("agent:main:nobody") == TranscriptPage([], None)
    assert tier.tail("agent:main:nobody") == []


def test_a_file_cursor_of_another_transcript_or_off_a_line_start_is_refused(
    twin: SessionStore, tier: FileTranscripts
) -> None:
    twin.put(KEY, entry())
    twin.put("agent:main:other", entry("sess-2"))
    tier.append(KEY, _numbered(6))
    tier.append("agent:main:other", _numbered(6))
    tier.append(KEY, _numbered(6), topic_id=7)
    cursor = tier.page(KEY, limit=2).next_cursor
    assert cursor is not None
    other = tier.page("agent:main:other", limit=2).next_cursor
    topic = tier.page(KEY, limit=2, topic_id=7).next_cursor
    assert other is not None and topic is not None
    assert tier.page(KEY, before=cursor, limit=2).items  # its own: fine
    for bad in (other, topic):
        with pytest.raises(InvalidArgumentError, match="invalid cursor"):
            tier.page(KEY, before=bad)
        with pytest.raises(InvalidArgumentError, match="invalid cursor"):
            tier.page(KEY, after=bad)
    size = tier.path(entry()).stat().st_size
    content = tier.path(entry()).read_bytes()
    inside = content.index(b"\n", 10) - 3  # in the middle of a line
    for offset in (inside, size + 1):
        off_line = encode_transcript_cursor("sess-1.jsonl", offset)
        with pytest.raises(InvalidArgumentError, match="invalid cursor"):
            tier.page(KEY, before=off_line)
        with pytest.raises(InvalidArgumentError, match="invalid cursor"):
            tier.page(KEY, after=off_line)
    for garbage in ("", "xyz", "!!!", "\x00", encode_cursor(1, KEY)):
        with pytest.raises(InvalidArgumentError, match="invalid cursor"):
            tier.page(KEY, after=garbage)
    # The start and the end of the file are line starts too.
    start, end = (encode_transcript_cursor("sess-1.jsonl", n) for n in (0, size))
    assert tier.page(KEY, before=start) == TranscriptPage([], None)
    assert tier.page(KEY, after=end) == TranscriptPage([], None)
    assert len(tier.page(KEY, after=start, limit=1000).items) == 6


def test_the_forward_reader_sees_lines_appended_between_pages(
    twin: SessionStore, tier: FileTranscripts
) -> None:
    twin.put(KEY, entry())
    tier.append(KEY, _numbered(4))
    first = tier.page(KEY, after=TRANSCRIPT_START, limit=3)
    assert _texts(first.items) == ["message 0", "message 1", "message 2"]
    assert first.next_cursor is not None
    tier.append(KEY, _numbered(3, start=4))
    second = tier.page(KEY, after=first.next_cursor, limit=3)
    assert _texts(second.items) == ["message 3", "message 4", "message 5"]
    assert second.next_cursor is not None
    last = tier.page(KEY, after=second.next_cursor, limit=3)
    assert _texts(last.items) == ["message 6"] and last.next_cursor is None
    # A backward cursor stays put while the file grows behind the reader.
    back = tier.page(KEY, limit=2)
    tier.append(KEY, _numbered(1, start=7))
    assert back.next_cursor is not None
    assert _texts(tier.page(KEY, before=back.next_cursor, limit=2).items) == [
        "message 4",
        "message 3",
    ]


def test_a_page_without_bodies_gives_large_events_as_headers(
    twin: SessionStore, tier: FileTranscripts
) -> None:
    twin.put(KEY, entry())
    big = user("y" * (LARGE_EVENT_BYTES + 10))
    tier.append(KEY, [user("small"), big])
    stored = tier.tail(KEY)[-1]
    size = len(orjson.dumps(stored))
    page = tier.page(KEY, bodies=False)
    assert page.items[0] == event_header(stored, size) and page.items[0]["omittedBytes"] == size
    assert page.items[1]["message"]["content"] == "small"
    assert tier.page(KEY, after=TRANSCRIPT_START, bodies=False).items == page.items[::-1]
    assert tier.page(KEY).items[0] == stored


def test_a_page_of_a_50_mb_transcript_reads_only_the_page(
    twin: SessionStore, tier: FileTranscripts
) -> None:
    if not Path("/proc/self/io").exists():
        pytest.skip("/proc/self/io is not available: cannot count bytes read")
    twin.put(KEY, entry())
    tier.append(KEY, _numbered(300))
    padding = orjson.dumps({"type": "custom", "data": "x" * 1_000_000}) + b"\n"
    with open(tier.path(entry()), "ab") as fh:
        for _ in range(50):
            fh.write(padding)
    tier.append(KEY, _numbered(300, start=300))
    assert tier.path(entry()).stat().st_size > 50_000_000

    def bounded(read: Any) -> Any:
        before = _rchar()
        result = read()
        spent = _rchar() - before
        assert spent < 1_000_000, f"read {spent:,} bytes"
        return result

    newest = bounded(lambda: tier.page(KEY, limit=50))
    assert _texts(newest.items)[0] == "message 599"
    older = bounded(lambda: tier.page(KEY, before=newest.next_cursor, limit=50))
    assert _texts(older.items) == [f"message {i}" for i in range(549, 499, -1)]
    oldest = bounded(lambda: tier.page(KEY, after=TRANSCRIPT_START, limit=50))
    assert _texts(oldest.items)[-1] == "message 49"
    later = bounded(lambda: tier.page(KEY, after=oldest.next_cursor, limit=50))
    assert _texts(later.items) == [f"message {i}" for i in range(50, 100)]
    tail = bounded(lambda: tier.tail(KEY, limit=100))
    assert _texts(tail) == [f"message {i}" for i in range(500, 600)]
    assert bounded(lambda: tier.count(KEY)) == 600


def test_count_is_the_entrys_message_count_when_it_has_one(
    twin: SessionStore, tier: FileTranscripts, transcripts: Transcripts
) -> None:
    assert tier.count("agent:main:nobody") == 0
    twin.put(KEY, entry(messageCount=9))
    assert tier.count(KEY) == 0  # no transcript yet
    transcripts.append(entry(), _numbered(3))  # beside the index: it does not see it
    assert tier.count(KEY) == 9  # the index mirrors the file (check --repair fixes drift)
    tier.append(KEY, _numbered(2))
    assert tier.count(KEY) == 11
    twin.put(KEY, entry())  # no messageCount: the file is counted
    assert tier.count(KEY) == 5
    tier.append(KEY, _numbered(4), topic_id="t")
    assert tier.count(KEY, topic_id="t") == 4  # a topic's file is counted
    # Its appends leave the entry's counters, which mirror the entry's own file, alone.
    stored = twin.get(KEY)
    assert stored is not None and stored.message_count is None and tier.count(KEY) == 5
    tier.append(KEY, _numbered(1))
    assert tier.count(KEY) == 6 and tier.count(KEY, topic_id="t") == 4


def test_append_skips_known_ids_and_keys_and_needs_the_entry(
    twin: SessionStore, tier: FileTranscripts
) -> None:
    with pytest.raises(SessionNotFoundError) as raised:
        tier.append(KEY, [user("hi")])
    assert raised.value.key == KEY and not tier.directory.exists()
    twin.put(KEY, entry())
    first = tier.append(KEY, [{"type": "custom", "id": "c1"}, user("a", "k1")])
    assert (first.written, first.created, first.messages) == (2, True, 1)
    again = tier.append(
        KEY,
        [
            {"type": "custom", "id": "c1"},  # in the file
            user("b", "k1"),  # its key is in the file
            {"type": "custom", "id": "c2"},
            {"type": "custom", "id": "c2"},  # earlier in the batch
            user("c"),
        ],
    )
    assert (again.written, again.skipped, again.messages, again.created) == (2, 3, 1, False)
    stored = twin.get(KEY)
    assert stored is not None and stored.message_count == 2
    assert _texts(tier.tail(KEY)) == ["custom", "a", "custom", "c"]
    header = lines(tier.path(entry()))[0]
    assert header["type"] == "session" and header["cwd"] == str(tier.directory)
    nothing = tier.append(KEY, [])
    assert (nothing.written, nothing.skipped) == (0, 0)


def _hit_texts(hits: list[SearchHit]) -> list[tuple[str, int]]:
    return [(hit.session_id, hit.position) for hit in hits]


def test_search_scans_live_transcripts_for_whole_words_newest_first(
    twin: SessionStore, tier: FileTranscripts
) -> None:
    twin.put(KEY, entry())
    twin.put("agent:main:other", entry("sess-2"))
    twin.put("agent:main:gone", entry("sess-3"))

    def said(text: Any, minute: int) -> dict[str, Any]:
        event = user("")
        event["message"]["content"] = text
        event["timestamp"] = f"2026-03-31T08:{minute:02d}:00.000Z"
        return event

    tier.append(
        KEY,
        [
            said("the rollback plan is ready", 1),
            said("planning a rollback", 2),  # "plan" is not a word of it
            {"type": "custom", "data": "rollback plan"},  # not a message
            said(
                [
                    {"type": "text", "text": "Plan"},
                    {"type": "toolResult", "content": [{"type": "text", "text": "ROLLBACK done"}]},
                ],
                5,
            ),
        ],
    )
    tier.append("agent:main:other", [said("rollback plan B", 3)])
    tier.append("agent:main:gone", [said("rollback plan C", 9)])
    tier.archive("agent:main:gone", "deleted")  # archived: not searched
    hits = tier.search("Rollback PLAN")
    assert _hit_texts(hits) == [("sess-1", 4), ("sess-2", 1), ("sess-1", 1)]
    assert hits[0].key == KEY and hits[1].key == "agent:main:other"
    assert hits[0].timestamp == 1774944300000 and hits[2].snippet == "the rollback plan is ready"
    assert _hit_texts(tier.search("rollback plan", limit=1)) == [("sess-1", 4)]
    assert _hit_texts(tier.search("plan", key="agent:main:other")) == [("sess-2", 1)]
    assert tier.search("plan", key="agent:main:nobody") == []
    assert _hit_texts(tier.search("planning")) == [("sess-1", 2)]
    for hostile in ('"', "*", "NEAR(", "-plan", "a:b", "((", "\x00", "", "   "):
        tier.search(hostile)
    assert tier.search("") == [] and tier.search("(*)") == []
    with pytest.raises(InvalidArgumentError):
        tier.search("plan", limit=0)


def test_import_lines_and_lines_round_trip_byte_for_byte(
    twin: SessionStore, tier: FileTranscripts
) -> None:
    twin.put(KEY, entry(messageCount=40))
    tier.append(KEY, [user("héllo 👋"), assistant("ok", 3, 4)])
    path = tier.path(entry())
    with open(path, "ab") as fh:
        fh.write(b"{broken\n\n" + orjson.dumps(user("after")) + b"\n")
    original = path.read_bytes()
    carried = list(tier.lines(entry()))
    assert b"\n".join(carried) + b"\n" == original and carried[3] == b"{broken"

    copy = entry("sess-copy")
    twin.put("agent:main:copy", copy)
    assert tier.import_lines("agent:main:copy", copy, iter(carried)) == len(carried)
    assert tier.path(copy).read_bytes() == original
    assert oct(tier.path(copy).stat().st_mode & 0o777) == "0o600"
    assert list(tier.lines(copy)) == carried
    stored = twin.get("agent:main:copy")
    assert stored is not None and stored.message_count is None  # counters untouched
    # Replacing: what was there goes, in one rename; nothing is left beside it.
    tier.import_lines("agent:main:copy", copy, [carried[0], b'{"type":"custom"}'])
    assert tier.path(copy).read_bytes() == carried[0] + b'\n{"type":"custom"}\n'
    with pytest.raises(InvalidArgumentError, match="newline"):
        tier.import_lines("agent:main:copy", copy, [carried[0], b"a\nb"])
    assert tier.path(copy).read_bytes() == carried[0] + b'\n{"type":"custom"}\n'
    assert sorted(p.name for p in tier.directory.iterdir() if ".tmp" in p.name) == []
    assert tier.stats(copy).messages == 0 and tier.exists(copy)
    assert tier.import_lines("agent:main:copy", copy, []) == 0
    assert not tier.exists(copy) and list(tier.lines(copy)) == []
    assert tier.session_ids() == {"sess-1"}


def test_archive_through_the_tier_names_the_archive(
    twin: SessionStore, tier: FileTranscripts
) -> None:
    twin.put(KEY, entry())
    assert tier.archive(KEY, "reset") is None
    tier.append(KEY, [user("x")])
    earlier = entry()
    twin.put(KEY, entry("sess-new"))
    name = tier.archive(KEY, "reset", session=earlier, now_ms=1774944000000)
    assert name == "sess-1.jsonl.reset.2026-03-31T08-00-00.000Z"
    assert [a.name for a in tier.archives()] == [name]
    with pytest.raises(InvalidArgumentError):
        tier.archive(KEY, "gone")  # type: ignore[arg-type]
    tier.remove_archive(name)
    assert tier.archives() == [] and tier.archive("agent:main:nobody", "deleted") is None


def test_the_json_twin_keeps_transcripts_beside_sessions_json(tmp_path: Path) -> None:
    with open_store(str(tmp_path / "a" / "sessions.json")) as store:
        assert store.transcripts.tier == "files"
        assert isinstance(store.transcripts, FileTranscripts)
        assert store.transcripts.directory == tmp_path / "a"
        assert store.transcripts is store.transcripts
    elsewhere = tmp_path / "t"
    with open_store(
        str(tmp_path / "b.json"), transcripts="files", transcripts_dir=elsewhere
    ) as store:
        store.put(KEY, entry())
        assert store.transcripts.append(KEY, [user("hi")]).path == elsewhere / "sess-1.jsonl"


def test_the_json_twin_refuses_sql_transcripts(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="use a database URL"):
        open_store(str(tmp_path / "sessions.json"), transcripts="sql")
    with pytest.raises(InvalidArgumentError, match="transcripts must be"):
        open_store(str(tmp_path / "sessions.json"), transcripts="disk")  # type: ignore[arg-type]


def test_state_directory_stores_keep_transcripts_as_files(tmp_path: Path) -> None:
    state = tmp_path / "state"
    where = locate(store_type="json", state_dir=state)
    with where.open("work") as store:
        assert store.transcripts.tier == "files"
        assert isinstance(store.transcripts, FileTranscripts)
        assert store.transcripts.directory == sessions_dir(state, "work").absolute()
    # A database keeps its own default, the SQL tier.
    database = locate(store_type="sqlite", state_dir=state)
    open_store(database.target, auto_upgrade=True).close()
    with database.open("work") as store:
        assert store.transcripts.tier == "sql"


def test_an_append_that_meets_a_reset_goes_to_the_new_transcript(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reset between the append's first read of the entry and its lock on the file
    (it archives the old file, the entry moves to a new one): the event goes to the new
    transcript, the old one stays archived and is not written again."""
    with open_store(tmp_path / "sessions.json") as store:
        store.put(KEY, {"sessionId": "s1", "updatedAt": 1})
        t = store.transcripts
        t.append(KEY, [user("before the reset")])
        read = store.get
        met: list[SessionEntry] = []
        pending = [reset]  # right after the append's first read, once

        def read_then_reset(key: str) -> SessionEntry | None:
            found = read(key)
            if pending:
                met.append(pending.pop()(store, key, transcripts=t))
            return found

        monkeypatch.setattr(store, "get", read_then_reset)
        result = t.append(KEY, [user("after the reset")])
        monkeypatch.undo()
        entry = store.get(KEY)
    assert entry is not None and entry.session_id == met[0].session_id != "s1"
    assert result.path is not None and result.path.name == f"{entry.session_id}.jsonl"
    assert not (tmp_path / "s1.jsonl").exists()
    assert [a.reason for a in t.archives()] == ["reset"]
    assert [event["message"]["content"] for event in t.tail(KEY)] == ["after the reset"]
    assert entry.message_count == 1


def test_event_times_are_exact_milliseconds() -> None:
    # a float timestamp times 1000 comes out 1 ms low for this one
    assert event_time_ms({"timestamp": "2004-03-15T07:55:47.472Z"}) == 1079337347472
    assert stamp_ms("2004-03-15T07-55-47.472Z") == 1079337347472
    for ms in range(1079337347000, 1079337348000):
        assert event_time_ms({"timestamp": iso_ms(ms)}) == ms


def test_a_snippet_shows_the_word_where_folding_changes_the_length() -> None:
    text = "ß" * 60 + " the plan " + "x" * 100
    assert "plan" in snippet(text, ["plan"])
    # a whole word: "planning" is not where "plan" is
    assert snippet("planning " + "y" * 200 + " plan", ["plan"]).endswith("plan")

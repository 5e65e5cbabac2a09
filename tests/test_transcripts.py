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
from filelock import FileLock

from sessionstore import (
    InvalidArgumentError,
    InvalidEntryError,
    SessionEntry,
    SessionStore,
    StoreLockedError,
    StoreUnavailableError,
    open_store,
)
from sessionstore.openclaw.statedir import sessions_dir
from sessionstore.openclaw.transcripts import (
    MAX_LINE_BYTES,
    TRANSCRIPT_VERSION,
    Archive,
    Transcripts,
    append_to_session,
)

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
    path = transcripts.append(entry(), [user("hi")]).path
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
    path = transcripts.append(entry(), [user("hi")]).path
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
    path = transcripts.append(entry(), [event]).path
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
    assert result.path.read_bytes() == b"".join(orjson.dumps(e) + b"\n" for e in copied)


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
    assert not result.path.exists()


@pytest.mark.parametrize(
    "bad_event",
    [["not", "an", "object"], "text", {"when": datetime.now(UTC)}, {"s": {1, 2}}, {1: "x"}],
)
def test_events_must_be_json_objects(transcripts: Transcripts, bad_event: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        transcripts.append(entry(), [user("fine"), bad_event])
    assert not transcripts.path(entry()).exists()


def test_a_held_lock_times_out_clearly(directory: Path) -> None:
    transcripts = Transcripts(directory, lock_timeout=0.05)
    directory.mkdir(parents=True)
    with (
        FileLock(f"{directory / 'sess-1.jsonl'}.lock"),
        pytest.raises(StoreLockedError, match=r"sess-1\.jsonl\.lock"),
    ):
        transcripts.append(entry(), [user("hi")])


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
    path = transcripts.append(entry(), [user("first", "k1")]).path
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
    path = transcripts.append(entry(), [user("keep me")]).path
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

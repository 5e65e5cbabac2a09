"""The transcript contract (``store.transcripts``, :class:`TranscriptStore`), on every
(tier, backend) pair: the files tier beside the JSON twin and both SQLite backends, and
the SQL tier in SQLite (both drivers), PostgreSQL and MySQL/MariaDB.

Search tests use words of four letters or more that are no stopword, so that
MySQL/MariaDB ``FULLTEXT`` indexes them like every other tier.
"""

from __future__ import annotations

import ast
import contextlib
import random
import string
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from sessionstore import SessionEntry, SessionNotFoundError, SessionStore
from sessionstore.contract import (
    LARGE_EVENT_BYTES,
    TRANSCRIPT_START,
    AppendResult,
    Archive,
    SearchHit,
    SupportsAppendAndUpdate,
    TranscriptStats,
    TranscriptStore,
    encode_cursor,
    event_header,
)
from sessionstore.errors import CorruptStoreError, InvalidArgumentError
from sessionstore.events import (
    MAX_SEARCH_TEXT,
    archive_name,
    header_event,
    iso_ms,
    message_text,
    snippet,
    transcript_file_name,
)
from sessionstore.lifecycle import check
from tests.contract.backends import TRANSCRIPT_PAIRS
from tests.contract.conftest import TranscriptStoreFactory
from tests.contract.helpers import KEY, T0, entry

OTHER = "agent:main:telegram:direct:7"


# -- events -----------------------------------------------------------------------------


def at(seconds: int) -> str:
    """An event timestamp ``seconds`` after T0, as OpenClaw writes them."""
    return iso_ms(T0 + seconds * 1000)


def message(
    role: str,
    content: Any,
    *,
    event_id: str | None = None,
    seconds: int | None = None,
    key: str | None = None,
    usage: dict[str, int] | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "message"}
    if event_id is not None:
        event["id"] = event_id
    if seconds is not None:
        event["timestamp"] = at(seconds)
    body: dict[str, Any] = {"role": role, "content": content, "timestamp": T0}
    if key is not None:
        body["idempotencyKey"] = key
    if usage is not None:
        body["usage"] = usage
    event["message"] = body
    return event


def user(text: Any, **options: Any) -> dict[str, Any]:
    return message("user", text, **options)


def assistant(text: str, tokens_in: int, tokens_out: int, **options: Any) -> dict[str, Any]:
    usage = {"input": tokens_in, "output": tokens_out, "totalTokens": tokens_in + tokens_out}
    return message("assistant", text, usage=usage, **options)


def custom(note: str, **fields: Any) -> dict[str, Any]:
    """An event that is not a message (OpenClaw's extensions write such)."""
    return {"type": "custom", "customType": "note", "data": {"text": note}, **fields}


def numbered(count: int, prefix: str = "e") -> list[dict[str, Any]]:
    """``count`` messages with the ids ``e0``, ``e1`` ... one second apart."""
    return [user(f"number {i}", event_id=f"{prefix}{i}", seconds=i) for i in range(count)]


def ids(events: list[dict[str, Any]]) -> list[Any]:
    return [event.get("id") for event in events]


def started(
    store: SessionStore, key: str = KEY, session_id: str = "s-1", **fields: Any
) -> SessionEntry:
    """Put an entry for ``key`` and return it as the store keeps it."""
    store.put(key, entry(session_id, **fields))
    current = store.get(key)
    assert current is not None
    return current


def counters(store: SessionStore, key: str = KEY) -> dict[str, Any]:
    current = store.get(key)
    assert current is not None
    data = current.to_dict()
    names = ("messageCount", "inputTokens", "outputTokens", "totalTokens", "totalTokensFresh")
    return {name: data.get(name) for name in names}


def every_page(
    t: TranscriptStore, key: str, *, limit: int, forward: bool
) -> list[list[dict[str, Any]]]:
    """Every page of ``key``'s transcript, following cursors to the end."""
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = TRANSCRIPT_START if forward else None
    while len(pages) < 1000:
        if forward:
            page = t.page(key, after=cursor, limit=limit)
        else:
            page = t.page(key, before=cursor, limit=limit)
        pages.append(page.items)
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor
    raise AssertionError("paging did not end")


# -- the registry, the tier --------------------------------------------------------------


def test_every_transcript_divergence_names_a_test_here_and_a_reason() -> None:
    tree = ast.parse(Path(__file__).read_text())
    tests = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    for pair in TRANSCRIPT_PAIRS.values():
        for name, reason in pair.divergences.items():
            assert name in tests, f"{pair.name}: no transcript contract test {name}"
            assert reason.strip(), f"{pair.name}: {name} needs a reason"


def test_the_store_gives_the_tier_asked_for(
    transcript_store: SessionStore, transcript_pair: str
) -> None:
    t = transcript_store.transcripts
    assert isinstance(t, TranscriptStore)
    assert t.tier == TRANSCRIPT_PAIRS[transcript_pair].tier


# -- append ---------------------------------------------------------------------------------


def test_append_returns_what_it_wrote(transcript_store: SessionStore) -> None:
    started(transcript_store)
    result = transcript_store.transcripts.append(
        KEY, [user("hello"), assistant("answer", 3, 4), custom("aside")]
    )
    assert isinstance(result, AppendResult)
    assert (result.written, result.skipped, result.messages) == (3, 0, 2)
    assert (result.input_tokens, result.output_tokens, result.total_tokens) == (3, 4, 7)
    assert result.created is True


def test_append_result_path_is_the_file_on_the_files_tier_only(
    transcript_store: SessionStore,
) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    result = t.append(KEY, [user("hello")])
    if t.tier == "files":
        assert result.path is not None
        assert result.path.name == "s-1.jsonl"
        assert result.path.is_file()
    else:
        assert result.path is None


def test_a_later_append_does_not_create_the_transcript_again(
    transcript_store: SessionStore,
) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    assert t.append(KEY, [user("one")]).created is True
    second = t.append(KEY, [user("two")])
    assert second.created is False
    assert (second.written, second.messages, second.total_tokens) == (1, 1, None)


def test_the_header_is_written_once_and_never_returned(transcript_store: SessionStore) -> None:
    session = started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("one")])
    t.append(KEY, [user("two"), custom("three")])
    lines = [orjson.loads(line) for line in t.lines(session)]
    assert [line["type"] for line in lines] == ["session", "message", "message", "custom"]
    header = lines[0]
    assert (header["id"], header["version"]) == ("s-1", 3)
    assert isinstance(header["timestamp"], str)
    assert isinstance(header["cwd"], str)
    returned = t.tail(KEY) + t.page(KEY).items + t.page(KEY, after=TRANSCRIPT_START).items
    assert all(event["type"] != "session" for event in returned)
    assert len(t.tail(KEY)) == 3


def test_a_batch_that_starts_with_a_header_keeps_it(transcript_store: SessionStore) -> None:
    session = started(transcript_store)
    t = transcript_store.transcripts
    header = header_event("s-1", "/elsewhere", T0)
    result = t.append(KEY, [header, user("copied")])
    assert result.created is True
    lines = [orjson.loads(line) for line in t.lines(session)]
    assert lines[0] == header
    assert [line["type"] for line in lines] == ["session", "message"]
    assert ids(t.tail(KEY)) == ids(lines[1:])


def test_a_header_after_the_start_is_refused(transcript_store: SessionStore) -> None:
    session = started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("first")])
    with pytest.raises(InvalidArgumentError):
        t.append(KEY, [header_event("s-1", "", T0)])
    with pytest.raises(InvalidArgumentError):
        t.append(KEY, [user("second"), header_event("s-1", "", T0)])
    assert [orjson.loads(line)["type"] for line in t.lines(session)] == ["session", "message"]


def test_missing_ids_parent_ids_and_timestamps_are_filled(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    before = datetime.now(UTC).timestamp() * 1000
    t.append(KEY, [user("one"), user("two"), custom("three")])
    first, second, third = t.tail(KEY)
    assert all(isinstance(event["id"], str) and event["id"] for event in (first, second, third))
    assert len({first["id"], second["id"], third["id"]}) == 3
    assert first["parentId"] is None
    assert second["parentId"] == first["id"]
    assert third["parentId"] == second["id"]
    for event in (first, second, third):
        stamp = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
        assert stamp.timestamp() * 1000 >= before - 1000
    assert next(iter(first)) == "type"  # pi's field order


def test_the_parent_id_continues_from_the_previous_append(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("one", event_id="given")])
    t.append(KEY, [user("two")])
    assert t.tail(KEY)[-1]["parentId"] == "given"


def test_events_come_back_exactly_as_appended(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    event: dict[str, Any] = {
        "type": "message",
        "id": "a1",
        "parentId": None,
        "timestamp": at(1),
        "message": {
            "role": "assistant",
            "content": [{"type": "text", "text": "answer"}, {"type": "thinking", "thinking": ""}],
            "usage": {"input": 1, "output": 2, "totalTokens": 3, "cost": {"total": 0.5}},
            "stopReason": "stop",
        },
        "whole": 1.0,
        "big": 2**62,
        "flag": False,
        "nothing": None,
        "nested": {"a": [1, "1", 1.5, True, None, {"b": []}]},
    }
    t.append(KEY, [event])
    back = t.tail(KEY)[0]
    assert back == event
    assert list(back) == list(event)
    assert type(back["whole"]) is float
    assert t.page(KEY).items == [event]


def test_an_event_id_already_in_the_transcript_is_skipped(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("one", event_id="x1"), custom("two", id="x2")])
    result = t.append(KEY, [user("again", event_id="x1"), custom("again", id="x2"), user("new")])
    assert (result.written, result.skipped, result.messages) == (1, 2, 1)
    assert [event["message"]["content"] for event in t.tail(KEY)[::2]] == ["one", "new"]
    assert t.count(KEY) == 2


def test_an_idempotency_key_already_in_the_transcript_is_skipped(
    transcript_store: SessionStore,
) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("one", key="idem-1"), {**custom("two"), "idempotencyKey": "idem-2"}])
    again = [user("retry", key="idem-1"), {**user("retry"), "idempotencyKey": "idem-2"}]
    result = t.append(KEY, again)
    assert (result.written, result.skipped, result.messages) == (0, 2, 0)
    assert result.created is False
    assert len(t.tail(KEY)) == 2


def test_duplicates_within_one_batch_are_skipped(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    batch = [
        user("one", event_id="d1"),
        user("one again", event_id="d1"),
        user("two", key="k2"),
        user("two again", key="k2"),
        user("three"),
    ]
    result = t.append(KEY, batch)
    assert (result.written, result.skipped, result.messages) == (3, 2, 3)
    assert [event["message"]["content"] for event in t.tail(KEY)] == ["one", "two", "three"]


def test_long_ids_and_idempotency_keys_are_skipped_too(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    long_id, long_key = "i" * 300, "k" * 1000
    t.append(KEY, [user("one", event_id=long_id), user("two", key=long_key)])
    result = t.append(KEY, [user("one", event_id=long_id), user("two", key=long_key)])
    assert (result.written, result.skipped) == (0, 2)
    assert t.tail(KEY)[0]["id"] == long_id
    assert t.tail(KEY)[1]["message"]["idempotencyKey"] == long_key


def test_an_empty_or_all_skipped_batch_creates_nothing(transcript_store: SessionStore) -> None:
    session = started(transcript_store)
    t = transcript_store.transcripts
    result = t.append(KEY, [])
    assert (result.written, result.skipped, result.created) == (0, 0, False)
    assert not t.exists(session)
    assert t.session_ids() == set()
    t.append(KEY, [user("one", event_id="x1")])
    result = t.append(KEY, [user("one", event_id="x1")])
    assert (result.written, result.skipped, result.created) == (0, 1, False)


def test_append_takes_any_iterable(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    result = t.append(KEY, (user(f"number {i}") for i in range(3)))
    assert result.written == 3
    assert t.count(KEY) == 3


def test_append_without_an_entry_raises_session_not_found(transcript_store: SessionStore) -> None:
    t = transcript_store.transcripts
    with pytest.raises(SessionNotFoundError) as raised:
        t.append(KEY, [user("hello")])
    assert raised.value.key == KEY
    with pytest.raises(SessionNotFoundError):
        t.append(KEY, [])
    assert t.session_ids() == set()
    assert transcript_store.get(KEY) is None


# -- counters on the entry --------------------------------------------------------------


def test_appends_move_the_counters_on_the_entry(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("hello"), assistant("answer", 3, 4)])
    assert counters(transcript_store) == {
        "messageCount": 2,
        "inputTokens": 3,
        "outputTokens": 4,
        "totalTokens": 7,
        "totalTokensFresh": True,
    }
    t.append(KEY, [user("more"), assistant("longer", 5, 6), custom("aside")])
    assert counters(transcript_store) == {
        "messageCount": 4,
        "inputTokens": 8,
        "outputTokens": 10,
        "totalTokens": 11,
        "totalTokensFresh": True,
    }


def test_message_count_grows_from_the_count_on_the_entry(transcript_store: SessionStore) -> None:
    started(transcript_store, messageCount=10, totalTokens=50, totalTokensFresh=False)
    transcript_store.transcripts.append(KEY, [user("hello"), user("again")])
    assert counters(transcript_store) == {
        "messageCount": 12,
        "inputTokens": None,
        "outputTokens": None,
        "totalTokens": 50,
        "totalTokensFresh": False,
    }


def test_an_entry_without_a_count_gets_the_full_count(transcript_store: SessionStore) -> None:
    session = started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("one"), user("two"), user("three")])
    transcript_store.put(KEY, session)  # the count lost, the transcript kept
    assert counters(transcript_store)["messageCount"] is None
    t.append(KEY, [user("four")])
    assert counters(transcript_store)["messageCount"] == 4


def test_skipped_events_do_not_count(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [assistant("answer", 3, 4, event_id="a1")])
    t.append(KEY, [assistant("answer", 3, 4, event_id="a1")])
    assert counters(transcript_store)["messageCount"] == 1
    assert counters(transcript_store)["inputTokens"] == 3


def test_the_entry_is_left_alone_when_reset_meanwhile(
    transcript_store: SessionStore, make_transcript_store: TranscriptStoreFactory, no_hang: None
) -> None:
    old = started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("before")])
    other = make_transcript_store()

    def batch() -> Iterator[dict[str, Any]]:
        other.put(KEY, entry("s-2"))  # a reset, while the append is under way
        yield assistant("during", 3, 4)

    t.append(KEY, batch())
    current = transcript_store.get(KEY)
    assert current is not None and current.session_id == "s-2"
    if t.stats(old).messages == 2:
        # the append went to the transcript of s-1: the new entry kept its counters
        assert t.count(KEY) == 0
        assert set(counters(transcript_store).values()) == {None}
    else:
        # it went to the transcript of s-2, after the reset: the counters followed it
        assert t.stats(old).messages == 1
        assert t.count(KEY) == 1
        assert counters(transcript_store)["messageCount"] == 1
        assert counters(transcript_store)["inputTokens"] == 3


# -- tail ---------------------------------------------------------------------------------


def test_tail_returns_the_last_events_oldest_first(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, numbered(5))
    assert ids(t.tail(KEY, limit=3)) == ["e2", "e3", "e4"]
    assert ids(t.tail(KEY, limit=1)) == ["e4"]
    assert ids(t.tail(KEY)) == ["e0", "e1", "e2", "e3", "e4"]
    assert ids(t.tail(KEY, limit=1000)) == ["e0", "e1", "e2", "e3", "e4"]


def test_tail_and_page_default_to_fifty(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, numbered(60))
    assert ids(t.tail(KEY)) == [f"e{i}" for i in range(10, 60)]
    assert ids(t.page(KEY).items) == [f"e{i}" for i in range(59, 9, -1)]


def test_tail_returns_every_event_type(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    changes = {"type": "model_change", "id": "m1", "provider": "anthropic", "modelId": "x"}
    t.append(KEY, [user("one", event_id="u1"), changes, custom("note", id="c1")])
    assert ids(t.tail(KEY)) == ["u1", "m1", "c1"]
    assert [event["type"] for event in t.tail(KEY)] == ["message", "model_change", "custom"]


@pytest.mark.parametrize("limit", [0, -1, 1001, 10**9])
def test_tail_limit_out_of_bounds_is_refused(transcript_store: SessionStore, limit: int) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("one")])
    with pytest.raises(InvalidArgumentError):
        t.tail(KEY, limit=limit)


def test_tail_of_a_missing_entry_or_transcript_is_empty(transcript_store: SessionStore) -> None:
    t = transcript_store.transcripts
    assert t.tail(KEY) == []
    started(transcript_store)
    assert t.tail(KEY) == []


# -- page -----------------------------------------------------------------------------------


def test_a_page_without_a_cursor_is_newest_first(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, numbered(5))
    page = t.page(KEY, limit=2)
    assert ids(page.items) == ["e4", "e3"]
    assert page.next_cursor is not None
    assert ids(t.page(KEY).items) == ["e4", "e3", "e2", "e1", "e0"]


def test_pages_before_concatenate_to_the_whole_transcript(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, numbered(7))
    pages = every_page(t, KEY, limit=3, forward=False)
    assert [ids(page) for page in pages] == [["e6", "e5", "e4"], ["e3", "e2", "e1"], ["e0"]]


def test_pages_after_the_start_concatenate_to_the_whole_transcript(
    transcript_store: SessionStore,
) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, numbered(7))
    pages = every_page(t, KEY, limit=3, forward=True)
    assert [ids(page) for page in pages] == [["e0", "e1", "e2"], ["e3", "e4", "e5"], ["e6"]]
    assert [event for page in pages for event in page] == t.tail(KEY)


def test_paging_sees_events_appended_meanwhile(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, numbered(4))
    first = t.page(KEY, after=TRANSCRIPT_START, limit=4)
    assert first.next_cursor is None
    t.append(KEY, [user("later", event_id="late")])
    backwards = t.page(KEY, limit=2)
    assert ids(backwards.items) == ["late", "e3"]
    older = t.page(KEY, before=backwards.next_cursor, limit=10)
    assert ids(older.items) == ["e2", "e1", "e0"]


@pytest.mark.parametrize("forward", [False, True], ids=["before", "after"])
def test_next_cursor_is_none_exactly_at_the_end(
    transcript_store: SessionStore, forward: bool
) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, numbered(4))
    pages = every_page(t, KEY, limit=2, forward=forward)
    assert [len(page) for page in pages] == [2, 2]
    assert [len(page) for page in every_page(t, KEY, limit=4, forward=forward)] == [4]
    assert [len(page) for page in every_page(t, KEY, limit=5, forward=forward)] == [4]
    assert [len(page) for page in every_page(t, KEY, limit=3, forward=forward)] == [3, 1]


def test_a_forward_page_continues_from_its_cursor(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, numbered(3))
    page = t.page(KEY, after=TRANSCRIPT_START, limit=2)
    assert page.next_cursor is not None
    rest = t.page(KEY, after=page.next_cursor, limit=1)
    assert ids(rest.items) == ["e2"]
    assert rest.next_cursor is None


def test_the_page_of_a_missing_entry_or_transcript_is_empty(
    transcript_store: SessionStore,
) -> None:
    t = transcript_store.transcripts
    for _ in range(2):
        assert t.page(KEY).items == []
        assert t.page(KEY).next_cursor is None
        assert t.page(KEY, after=TRANSCRIPT_START).items == []
        assert t.page(KEY, after=TRANSCRIPT_START).next_cursor is None
        started(transcript_store)


def test_both_cursors_are_refused(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, numbered(3))
    cursor = t.page(KEY, limit=1).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidArgumentError):
        t.page(KEY, before=cursor, after=cursor)
    with pytest.raises(InvalidArgumentError):
        t.page(KEY, before=cursor, after=TRANSCRIPT_START)
    with pytest.raises(InvalidArgumentError, match="after="):
        t.page(KEY, before=TRANSCRIPT_START)  # nothing is before the start


GARBAGE_CURSORS = [
    "garbage",
    "",
    "!!!!",
    "x" * 10_000,
    "\x00",
    "start ",
    "START",
    encode_cursor(T0, KEY),  # a cursor of the session listing
    "W10",  # base64 of []
    "WyJzLTEiXQ",  # base64 of ["s-1"]
    "eyJhIjoxfQ",  # base64 of {"a":1}
]


@pytest.mark.parametrize("cursor", GARBAGE_CURSORS)
@pytest.mark.parametrize("direction", ["before", "after"])
def test_a_garbage_cursor_is_refused(
    transcript_store: SessionStore, cursor: str, direction: str
) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, numbered(3))
    before, after = (cursor, None) if direction == "before" else (None, cursor)
    with pytest.raises(InvalidArgumentError, match="cursor"):
        t.page(KEY, before=before, after=after)


def test_a_cursor_of_another_session_is_refused(transcript_store: SessionStore) -> None:
    started(transcript_store)
    started(transcript_store, OTHER, "s-2")
    t = transcript_store.transcripts
    t.append(KEY, numbered(3))
    t.append(OTHER, numbered(3, "o"))
    backwards = t.page(KEY, limit=1).next_cursor
    forward = t.page(KEY, after=TRANSCRIPT_START, limit=1).next_cursor
    assert backwards is not None and forward is not None
    with pytest.raises(InvalidArgumentError, match="cursor"):
        t.page(OTHER, before=backwards)
    with pytest.raises(InvalidArgumentError, match="cursor"):
        t.page(OTHER, after=forward)


def test_a_cursor_from_before_a_reset_is_refused(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, numbered(3))
    cursor = t.page(KEY, limit=1).next_cursor
    assert cursor is not None
    started(transcript_store, KEY, "s-2")
    t.append(KEY, numbered(3, "n"))
    with pytest.raises(InvalidArgumentError, match="cursor"):
        t.page(KEY, before=cursor)


def test_a_cursor_of_a_topic_transcript_is_refused_on_the_main_one(
    transcript_store: SessionStore,
) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, numbered(4))
    t.append(KEY, numbered(4, "t"), topic_id=42)
    topic = t.page(KEY, limit=1, topic_id=42).next_cursor
    main = t.page(KEY, limit=1).next_cursor
    assert topic is not None and main is not None
    with pytest.raises(InvalidArgumentError, match="cursor"):
        t.page(KEY, before=topic)
    with pytest.raises(InvalidArgumentError, match="cursor"):
        t.page(KEY, before=main, topic_id=42)


@pytest.mark.parametrize("limit", [0, -1, 1001])
def test_page_limit_out_of_bounds_is_refused(transcript_store: SessionStore, limit: int) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("one")])
    with pytest.raises(InvalidArgumentError):
        t.page(KEY, limit=limit)
    with pytest.raises(InvalidArgumentError):
        t.page(KEY, after=TRANSCRIPT_START, limit=limit)


def sized(event_id: str, size: int) -> dict[str, Any]:
    """A tool result whose JSON line is exactly ``size`` bytes."""
    event = message("toolResult", "", event_id=event_id, seconds=1)
    event["parentId"] = None
    event["message"]["toolCallId"] = "call-1"
    padding = size - len(orjson.dumps(event))
    assert padding >= 0
    event["message"]["content"] = "x" * padding
    assert len(orjson.dumps(event)) == size
    return event


def test_without_bodies_large_events_come_as_their_header(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    large = sized("big", LARGE_EVENT_BYTES + 5000)
    small = [user("before", event_id="s1", seconds=0), user("after", event_id="s2", seconds=2)]
    small[0]["parentId"], small[1]["parentId"] = None, "big"  # nothing left to fill in
    t.append(KEY, [small[0], large, small[1]])
    whole = t.page(KEY, after=TRANSCRIPT_START).items
    assert whole == [small[0], large, small[1]]
    light = t.page(KEY, after=TRANSCRIPT_START, bodies=False).items
    size = len(orjson.dumps(large))
    assert light == [small[0], event_header(large, size), small[1]]
    assert light[1]["message"] == {"role": "toolResult"}
    assert light[1]["omittedBytes"] == size
    assert t.page(KEY, bodies=False).items == light[::-1]
    assert t.tail(KEY)[1] == large


def test_the_header_of_a_large_event_leaves_out_its_long_strings(
    transcript_store: SessionStore,
) -> None:
    """An event whose bulk is a top-level string (a compaction summary): its header
    stays small, and every database can hold it."""
    started(transcript_store)
    t = transcript_store.transcripts
    summary = {"type": "compaction", "id": "c1", "summary": "x" * 100_000, "note": "short"}
    assert t.append(KEY, [summary]).written == 1
    (header,) = t.page(KEY, bodies=False).items
    assert "summary" not in header and header["omittedBytes"] > 100_000
    assert (header["type"], header["id"], header["note"]) == ("compaction", "c1", "short")
    assert t.tail(KEY)[0]["summary"] == summary["summary"]


def test_an_event_of_exactly_the_bound_is_not_large(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    at_bound = sized("at", LARGE_EVENT_BYTES)
    over = sized("over", LARGE_EVENT_BYTES + 1)
    t.append(KEY, [at_bound, over])
    light = t.page(KEY, after=TRANSCRIPT_START, bodies=False).items
    assert light == [at_bound, event_header(over, LARGE_EVENT_BYTES + 1)]


def test_the_large_event_bound_counts_bytes(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    event = user("é" * (LARGE_EVENT_BYTES // 2 + 100), event_id="wide", seconds=1)
    event["parentId"] = None
    size = len(orjson.dumps(event))
    assert size > LARGE_EVENT_BYTES > len(orjson.dumps(event).decode())
    t.append(KEY, [event])
    assert t.page(KEY, bodies=False).items == [event_header(event, size)]


def test_imported_large_events_come_as_their_header(transcript_store: SessionStore) -> None:
    session = started(transcript_store)
    t = transcript_store.transcripts
    large, small = sized("big", LARGE_EVENT_BYTES + 1), sized("small", 500)
    lines = [orjson.dumps(header_event("s-1", "", T0)), orjson.dumps(large), orjson.dumps(small)]
    t.import_lines(KEY, session, lines)
    light = t.page(KEY, after=TRANSCRIPT_START, bodies=False).items
    assert light == [event_header(large, LARGE_EVENT_BYTES + 1), small]


def test_pages_without_bodies_follow_the_same_cursors(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    events = [sized(f"b{i}", LARGE_EVENT_BYTES + 10) if i % 2 else user(f"n{i}") for i in range(5)]
    t.append(KEY, events)
    seen: list[Any] = []
    cursor: str | None = None
    while True:
        page = t.page(KEY, before=cursor, limit=2, bodies=False)
        seen += ids(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ids(t.tail(KEY))[::-1]


# -- pop ------------------------------------------------------------------------------------


class RefusedError(Exception):
    """Raised by an entry update to end its unit."""


def test_append_and_update_is_one_unit_where_transcripts_share_the_database(
    transcript_store: SessionStore,
) -> None:
    store, transcripts = transcript_store, transcript_store.transcripts
    store.put(KEY, entry(label="before"))
    if transcripts.tier == "files":  # no such unit: the async API says so, the sync lacks it
        if isinstance(transcripts, SupportsAppendAndUpdate):
            with pytest.raises(InvalidArgumentError, match="two steps"):
                transcripts.append_and_update(KEY, [user("hello there")], lambda e: e)
        assert transcripts.tail(KEY) == [] and store.get(KEY) == entry(label="before")
        return
    assert isinstance(transcripts, SupportsAppendAndUpdate)
    events = [user("hello there", event_id="e1"), assistant("hello back", 5, 7, event_id="e2")]
    result = transcripts.append_and_update(KEY, events, lambda e: e.with_fields(label="after"))
    assert (result.written, result.skipped) == (2, 0)
    after = store.get(KEY)
    assert after is not None and after.label == "after"
    assert (after.message_count, after.input_tokens, after.output_tokens) == (2, 5, 7)

    def refuse(_: SessionEntry) -> SessionEntry:
        raise RefusedError

    moved = [user("never stored", event_id="e3")]
    with pytest.raises(RefusedError):
        transcripts.append_and_update(KEY, moved, refuse)
    with pytest.raises(InvalidArgumentError, match="sessionId"):
        transcripts.append_and_update(KEY, moved, lambda e: e.with_fields(sessionId="other"))
    with pytest.raises(SessionNotFoundError):
        transcripts.append_and_update(OTHER, moved, lambda e: e)
    assert [e["id"] for e in transcripts.tail(KEY)][-2:] == ["e1", "e2"]
    assert store.get(KEY) == after and store.get(OTHER) is None
    with pytest.raises(InvalidArgumentError, match="already"):  # e1 is there: none of it
        transcripts.append_and_update(
            KEY, [moved[0], events[0]], lambda e: e.with_fields(label="again")
        )
    assert [e["id"] for e in transcripts.tail(KEY)][-2:] == ["e1", "e2"]
    assert store.get(KEY) == after


def test_pop_removes_and_returns_the_newest_event(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [*numbered(3), custom("aside", id="c1")])
    whole = t.tail(KEY)
    assert t.pop(KEY) == whole[-1]
    assert t.pop(KEY) == whole[-2]
    assert t.tail(KEY) == whole[:2]
    assert ids(t.page(KEY).items) == ["e1", "e0"]


def test_pop_never_removes_the_header(transcript_store: SessionStore) -> None:
    session = started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("only", event_id="u1")])
    assert ids([t.pop(KEY) or {}]) == ["u1"]
    assert t.pop(KEY) is None
    assert t.tail(KEY) == []
    assert [orjson.loads(line)["type"] for line in t.lines(session)] == ["session"]
    t.append(KEY, [user("again", event_id="u2")])  # the same transcript goes on
    assert [orjson.loads(line)["type"] for line in t.lines(session)] == ["session", "message"]


def test_pop_without_an_entry_or_a_transcript_is_none(transcript_store: SessionStore) -> None:
    t = transcript_store.transcripts
    assert t.pop(KEY) is None
    started(transcript_store)
    assert t.pop(KEY) is None
    assert t.pop(KEY, topic_id=5) is None


def test_pop_moves_the_counters_back(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("hello"), assistant("first", 3, 4), user("more")])
    t.append(KEY, [assistant("second", 5, 6), custom("aside")])
    t.pop(KEY)  # not a message: nothing moves
    assert counters(transcript_store)["messageCount"] == 4
    t.pop(KEY)  # the second answer: its tokens go, the first one's total is the last again
    assert counters(transcript_store) == {
        "messageCount": 3,
        "inputTokens": 3,
        "outputTokens": 4,
        "totalTokens": 7,
        "totalTokensFresh": True,
    }
    assert t.count(KEY) == 3
    assert check(transcript_store).wrong_counts == {}
    t.pop(KEY)
    t.pop(KEY)  # the first answer: no total is left in the transcript
    assert counters(transcript_store) == {
        "messageCount": 1,
        "inputTokens": 0,
        "outputTokens": 0,
        "totalTokens": 7,
        "totalTokensFresh": False,
    }
    assert t.count(KEY) == 1
    assert check(transcript_store).wrong_counts == {}


def test_pop_looks_back_past_many_messages_for_the_last_total(
    transcript_store: SessionStore,
) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [assistant("early", 3, 4), *(user(f"q{n}") for n in range(100))])
    t.append(KEY, [assistant("late", 5, 6)])
    t.pop(KEY)  # the total before it is 100 messages back, past several reads
    assert counters(transcript_store)["totalTokens"] == 7
    assert counters(transcript_store)["totalTokensFresh"] is True
    assert check(transcript_store).wrong_counts == {}


def test_a_popped_event_can_be_appended_again(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("first", event_id="a"), user("second", event_id="b", key="k-b")])
    popped = t.pop(KEY)
    assert popped is not None and popped["id"] == "b"
    assert t.append(KEY, [popped]).written == 1  # its id and key are gone with it
    assert t.tail(KEY)[-1] == popped
    t.pop(KEY)
    t.append(KEY, [user("third")])
    assert t.tail(KEY)[-1]["parentId"] == "a"  # the chain continues from what is left


def test_a_popped_message_is_no_longer_found(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("keep this rollback"), user("drop this zebra")])
    assert len(t.search("zebra")) == 1
    t.pop(KEY)
    assert t.search("zebra") == []
    assert len(t.search("rollback")) == 1


def test_pop_of_a_topic_transcript_leaves_the_entry_alone(
    transcript_store: SessionStore,
) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("main")])
    t.append(KEY, [user("topic one"), user("topic two")], topic_id=9)
    popped = t.pop(KEY, topic_id=9)
    assert popped is not None and popped["message"]["content"] == "topic two"
    assert (t.count(KEY), t.count(KEY, topic_id=9)) == (1, 1)
    assert counters(transcript_store)["messageCount"] == 1


def test_pop_refuses_a_last_line_that_is_not_an_event(transcript_store: SessionStore) -> None:
    session = started(transcript_store)
    t = transcript_store.transcripts
    header = orjson.dumps(header_event("s-1", "", T0))
    lines = [header, orjson.dumps(user("kept", event_id="k1")), b"{not json"]
    t.import_lines(KEY, session, lines)
    with pytest.raises(CorruptStoreError, match="not a JSON object"):
        t.pop(KEY)
    assert list(t.lines(session)) == lines


def test_pops_racing_appends_lose_nothing(
    make_transcript_store: TranscriptStoreFactory, no_hang: None
) -> None:
    """Writers append numbered events while another store pops: every event is either
    popped once or still there, in its writer's order, and the counters agree."""
    first = make_transcript_store()
    started(first)
    writers, per_writer, pops = 3, 12, 15
    stores = [make_transcript_store() for _ in range(writers + 1)]
    popped: list[dict[str, Any]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(writers + 1)

    def write(n: int) -> None:
        try:
            start.wait()
            for i in range(per_writer):
                stores[n].transcripts.append(KEY, [user(f"w{n} {i}", event_id=f"w{n}-{i}")])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def pop() -> None:
        try:
            start.wait()
            while len(popped) < pops:
                event = stores[writers].transcripts.pop(KEY)
                if event is not None:
                    popped.append(event)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    threads.append(threading.Thread(target=pop))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    left = first.transcripts.tail(KEY, limit=1000)
    appended = {f"w{n}-{i}" for n in range(writers) for i in range(per_writer)}
    assert len(ids(popped)) == len(set(ids(popped))) == pops
    assert set(ids(left)) | set(ids(popped)) == appended
    assert not set(ids(left)) & set(ids(popped))
    for n in range(writers):
        mine = [int(i.split("-")[1]) for i in ids(left) if i.startswith(f"w{n}-")]
        assert mine == sorted(mine)
    assert first.transcripts.count(KEY) == len(left)
    assert counters(first)["messageCount"] == len(left)


# -- count ----------------------------------------------------------------------------------


def test_count_counts_the_messages_of_the_current_transcript(
    transcript_store: SessionStore,
) -> None:
    t = transcript_store.transcripts
    assert t.count(KEY) == 0
    started(transcript_store)
    assert t.count(KEY) == 0
    t.append(KEY, [user("one"), custom("aside"), assistant("two", 1, 1), user("three")])
    assert t.count(KEY) == 3
    started(transcript_store, KEY, "s-2")
    assert t.count(KEY) == 0


# -- search ---------------------------------------------------------------------------------


def test_search_finds_a_word_of_string_content(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("the rollback plan is ready", seconds=1), user("unrelated", seconds=2)])
    hits = t.search("rollback")
    assert [(hit.key, hit.session_id, hit.position) for hit in hits] == [(KEY, "s-1", 1)]


def test_search_finds_text_parts_and_tool_results(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    parts = [{"type": "text", "text": "please check the glacier"}]
    call = [{"type": "toolCall", "id": "c1", "name": "read", "arguments": {"path": "nebula"}}]
    result = message("toolResult", [{"type": "text", "text": "quasar output"}], seconds=3)
    result["message"]["toolCallId"] = "c1"
    nested = [{"type": "toolResult", "content": [{"type": "text", "text": "velvet nested"}]}]
    t.append(
        KEY,
        [
            user(parts, seconds=1),
            message("assistant", call, seconds=2),
            result,
            user(nested, seconds=4),
        ],
    )
    assert [hit.position for hit in t.search("glacier")] == [1]
    assert [hit.position for hit in t.search("quasar")] == [3]
    assert [hit.position for hit in t.search("velvet")] == [4]
    assert t.search("nebula") == []  # tool call arguments are no text


def test_search_ignores_events_that_are_not_messages(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [custom("tangerine"), {"type": "custom", "message": {"content": "tangerine"}}])
    assert t.search("tangerine") == []


def test_search_needs_every_word(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("zebra quasar", seconds=1), user("zebra alone", seconds=2)])
    assert [hit.position for hit in t.search("zebra quasar")] == [1]
    assert [hit.position for hit in t.search("quasar zebra")] == [1]
    assert [hit.position for hit in t.search("zebra")] == [2, 1]
    assert t.search("zebra quasar marmalade") == []


def test_search_words_may_be_in_different_parts(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    parts = [{"type": "text", "text": "zebra"}, {"type": "text", "text": "quasar"}]
    t.append(KEY, [user(parts)])
    assert [hit.position for hit in t.search("zebra quasar")] == [1]


def test_search_is_case_insensitive(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("ZeBrA Marmalade")])
    assert len(t.search("zebra MARMALADE")) == 1
    assert len(t.search("ZEBRA")) == 1


def test_search_matches_whole_words_only(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("zebras marmalade")])
    assert t.search("zebra") == []
    assert t.search("marm") == []
    assert t.search("ebras") == []
    assert len(t.search("zebras")) == 1


def test_punctuation_separates_words(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("rollback-plan, glacier/quasar and nebula.velvet: harbor")])
    for word in ("rollback", "plan", "glacier", "quasar", "nebula", "velvet", "harbor"):
        assert len(t.search(word)) == 1, word


def test_query_syntax_is_taken_literally(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("zebra marmalade", seconds=1), user("quasar", seconds=2)])
    for query in (
        '"zebra"',
        "zebra*",
        "(zebra",
        "zebra)",
        "-zebra",
        "+zebra",
        "zebra:",
        "^zebra",
        "{zebra}",
        "~zebra",
        "@zebra",
        "zebra, marmalade!",
        "(zebra marmalade)",
        '"zebra marmalade"',
        "marmalade zebra",
        "\x00zebra\x00",
        "zebra\t\nmarmalade",
    ):
        assert [hit.position for hit in t.search(query)] == [1], query
    assert t.search("zebra quasar") == []


HOSTILE_QUERIES = [
    '"',
    "*",
    "NEAR(",
    "-x",
    "a:b",
    ")(",
    "\x00",
    "'",
    "\\",
    "%",
    "_",
    "AND",
    "OR OR",
    '""zebra""',
    "zebra'; DROP TABLE transcript_events; --",
    "col:zebra",
    "x" * 10_000,
    " ".join(["marmalade"] * 2000),
    "".join(random.Random(13).choice(string.printable) for _ in range(10_240)),
    "".join(chr(random.Random(7).randrange(32, 0xD7FF)) for _ in range(10_240)),
]


@pytest.mark.parametrize(
    "query", HOSTILE_QUERIES, ids=[str(i) for i in range(len(HOSTILE_QUERIES))]
)
def test_hostile_queries_never_raise(transcript_store: SessionStore, query: str) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("zebra marmalade"), user("quasar")])
    hits = t.search(query)
    assert isinstance(hits, list)
    assert all(isinstance(hit, SearchHit) for hit in hits)
    assert len(t.search(query, key=KEY)) == len(hits)


@pytest.mark.parametrize("query", ["", "   ", "*", "!!!", '"()"', "\x00"])
def test_a_query_without_words_finds_nothing(transcript_store: SessionStore, query: str) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("zebra")])
    assert t.search(query) == []


def test_search_key_narrows_to_one_session(transcript_store: SessionStore) -> None:
    started(transcript_store)
    started(transcript_store, OTHER, "s-2")
    t = transcript_store.transcripts
    t.append(KEY, [user("zebra here", seconds=1)])
    t.append(OTHER, [user("zebra there", seconds=2)])
    assert [(hit.key, hit.session_id) for hit in t.search("zebra")] == [
        (OTHER, "s-2"),
        (KEY, "s-1"),
    ]
    assert [(hit.key, hit.session_id) for hit in t.search("zebra", key=OTHER)] == [(OTHER, "s-2")]
    assert [(hit.key, hit.session_id) for hit in t.search("zebra", key=KEY)] == [(KEY, "s-1")]
    assert t.search("zebra", key="agent:main:nobody") == []


def test_search_key_narrows_to_the_current_transcript(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("zebra before the reset")])
    started(transcript_store, KEY, "s-2")
    t.append(KEY, [user("quasar after the reset")])
    assert t.search("zebra", key=KEY) == []
    assert [hit.session_id for hit in t.search("quasar", key=KEY)] == ["s-2"]


def test_search_finds_topic_transcripts(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("main marmalade", seconds=1)])
    t.append(KEY, [user("zebra in the topic", seconds=2)], topic_id=42)
    assert [(hit.key, hit.session_id, hit.position) for hit in t.search("zebra")] == [
        (KEY, "s-1", 1)
    ]


def test_search_key_does_not_reach_topic_transcripts(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("zebra in the main one", seconds=1)])
    t.append(KEY, [user("zebra in the topic", seconds=2)], topic_id=42)
    assert len(t.search("zebra")) == 2
    assert [hit.snippet for hit in t.search("zebra", key=KEY)] == ["zebra in the main one"]


def test_search_covers_current_entries_only(transcript_store: SessionStore) -> None:
    """A deleted entry's transcript stays until it is archived, and is not searched."""
    session = started(transcript_store)
    started(transcript_store, OTHER, "s-2")
    t = transcript_store.transcripts
    t.append(KEY, [user("zebra of a deleted session")])
    t.append(OTHER, [user("zebra live")])
    transcript_store.delete(KEY)
    assert t.exists(session)
    assert [hit.key for hit in t.search("zebra")] == [OTHER]


def test_search_does_not_find_archived_transcripts(transcript_store: SessionStore) -> None:
    started(transcript_store)
    started(transcript_store, OTHER, "s-2")
    t = transcript_store.transcripts
    t.append(KEY, [user("zebra archived")])
    t.append(OTHER, [user("zebra live")])
    t.archive(KEY, "reset", now_ms=T0)
    assert [hit.key for hit in t.search("zebra")] == [OTHER]
    assert t.search("archived") == []
    assert t.search("zebra", key=KEY) == []


def test_search_limit(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user(f"zebra number {i}", seconds=i) for i in range(25)])
    assert [hit.position for hit in t.search("zebra", limit=2)] == [25, 24]
    assert len(t.search("zebra")) == 20
    assert len(t.search("zebra", limit=1000)) == 25


@pytest.mark.parametrize("limit", [0, -1, 1001])
def test_search_limit_out_of_bounds_is_refused(transcript_store: SessionStore, limit: int) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("zebra")])
    with pytest.raises(InvalidArgumentError):
        t.search("zebra", limit=limit)


def test_search_is_newest_first(transcript_store: SessionStore) -> None:
    started(transcript_store)
    started(transcript_store, OTHER, "s-2")
    t = transcript_store.transcripts
    t.append(KEY, [user("zebra", seconds=20), user("zebra", seconds=10), user("zebra", seconds=30)])
    t.append(KEY, [user("zebra", seconds=30), user("zebra", seconds=30)])
    t.append(OTHER, [user("zebra", seconds=25)])
    found = [(hit.key, hit.position) for hit in t.search("zebra")]
    assert found == [(KEY, 5), (KEY, 4), (KEY, 3), (OTHER, 1), (KEY, 1), (KEY, 2)]


def test_events_without_a_time_come_last(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    epoch = {**user("zebra epoch"), "timestamp": T0 + 1000}
    unknown = {**user("zebra unknown"), "timestamp": "not a time"}
    t.append(KEY, [unknown, epoch, user("zebra iso", seconds=2)])
    found = [(hit.position, hit.timestamp) for hit in t.search("zebra")]
    assert found == [(3, T0 + 2000), (2, T0 + 1000), (1, None)]


def test_search_covers_the_first_characters_of_a_message_only(
    transcript_store: SessionStore,
) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    text = "zebra " + "x" * MAX_SEARCH_TEXT + " quasar"
    t.append(KEY, [user(text)])
    assert len(t.search("zebra")) == 1
    assert t.search("quasar") == []


def test_a_hit_says_where_and_when(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    text = "An opening sentence that goes on for a while. " * 3 + "The zebra " + "tail " * 40
    event = user(text, seconds=7)
    t.append(KEY, [user("before", seconds=1), custom("aside"), event])
    assert t.search("zebra") == [
        SearchHit(
            key=KEY,
            session_id="s-1",
            position=3,
            snippet=snippet(message_text(event) or "", ["zebra"]),
            timestamp=T0 + 7000,
        )
    ]
    assert "zebra" in t.search("zebra")[0].snippet
    assert len(t.search("zebra")[0].snippet) < len(text)


def test_a_hit_without_an_event_time_has_the_filled_time(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("zebra")])
    (stored,) = t.tail(KEY)
    (hit,) = t.search("zebra")
    expected = datetime.fromisoformat(stored["timestamp"].replace("Z", "+00:00"))
    assert hit.timestamp == int(expected.timestamp() * 1000)


def test_another_agents_transcripts_are_not_seen(
    transcript_store: SessionStore, make_transcript_store: TranscriptStoreFactory
) -> None:
    other = make_transcript_store(agent_id="other")
    for store, word in ((transcript_store, "zebra"), (other, "quasar")):
        started(store)
        store.transcripts.append(KEY, [user(f"{word} marmalade", event_id="same")])
    mine, theirs = transcript_store.transcripts, other.transcripts
    assert [event["message"]["content"] for event in mine.tail(KEY)] == ["zebra marmalade"]
    assert [event["message"]["content"] for event in theirs.tail(KEY)] == ["quasar marmalade"]
    assert len(mine.search("marmalade")) == 1
    assert mine.search("quasar") == []
    assert theirs.search("zebra") == []
    mine.archive(KEY, "reset", now_ms=T0)
    assert [archive.name for archive in mine.archives()] == [
        "s-1.jsonl.reset.2026-03-31T13-00-00.000Z"
    ]
    assert theirs.archives() == []
    assert theirs.session_ids() == {"s-1"}
    assert mine.session_ids() == set()


# -- archive --------------------------------------------------------------------------------


def test_archive_returns_the_archive_name(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("one")])
    name = t.archive(KEY, "reset", now_ms=T0)
    assert name == archive_name("s-1.jsonl", "reset", T0)
    assert name == "s-1.jsonl.reset.2026-03-31T13-00-00.000Z"
    assert t.archives() == [Archive(name, "reset", T0)]


def test_archive_of_a_deleted_session(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("one")])
    name = t.archive(KEY, "deleted", now_ms=T0 + 1)
    assert name == archive_name("s-1.jsonl", "deleted", T0 + 1)
    assert t.archives() == [Archive(name, "deleted", T0 + 1)]


def test_archive_without_a_transcript_is_none(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    assert t.archive(KEY, "reset", now_ms=T0) is None
    assert t.archives() == []


@pytest.mark.parametrize("reason", ["expired", "", "RESET", "reset "])
def test_archive_reason_is_checked(transcript_store: SessionStore, reason: str) -> None:
    session = started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("one")])
    with pytest.raises(InvalidArgumentError):
        t.archive(KEY, reason, now_ms=T0)  # type: ignore[arg-type]
    assert t.exists(session)
    assert t.archives() == []


@pytest.mark.parametrize("now_ms", [-1, 10**15, 1.5, "2026", True])
def test_archive_time_is_checked(transcript_store: SessionStore, now_ms: Any) -> None:
    session = started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("one")])
    with pytest.raises(InvalidArgumentError, match="now_ms"):
        t.archive(KEY, "reset", now_ms=now_ms)
    assert t.exists(session)
    assert t.archives() == []


def test_after_archive_a_new_append_starts_a_new_transcript(
    transcript_store: SessionStore,
) -> None:
    session = started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("old", event_id="o1")])
    t.archive(KEY, "reset", now_ms=T0)
    assert not t.exists(session)
    assert t.tail(KEY) == []
    assert t.page(KEY).items == []
    assert t.count(KEY) == 0
    assert t.session_ids() == set()
    result = t.append(KEY, [user("new", event_id="o1")])  # the old id is gone with it
    assert (result.created, result.written) == (True, 1)
    lines = [orjson.loads(line) for line in t.lines(session)]
    assert [line["type"] for line in lines] == ["session", "message"]
    assert lines[1]["message"]["content"] == "new"
    assert lines[1]["parentId"] is None


def test_archives_in_the_same_millisecond_get_distinct_names(
    transcript_store: SessionStore,
) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    names = []
    for i in range(3):
        t.append(KEY, [user(f"number {i}")])
        names.append(t.archive(KEY, "reset", now_ms=T0))
    assert names == [archive_name("s-1.jsonl", "reset", T0 + ms) for ms in range(3)]
    assert [archive.archived_at for archive in t.archives()] == [T0, T0 + 1, T0 + 2]


def test_archive_of_an_earlier_session_of_the_key(transcript_store: SessionStore) -> None:
    old = started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("old")])
    current = started(transcript_store, KEY, "s-2")
    t.append(KEY, [user("new")])
    name = t.archive(KEY, "reset", session=old, now_ms=T0)
    assert name == archive_name("s-1.jsonl", "reset", T0)
    assert not t.exists(old)
    assert t.exists(current)
    assert [event["message"]["content"] for event in t.tail(KEY)] == ["new"]


def test_archives_are_sorted_and_removable(transcript_store: SessionStore) -> None:
    started(transcript_store, KEY, "s-b")
    started(transcript_store, OTHER, "s-a")
    t = transcript_store.transcripts
    for key in (KEY, OTHER):
        t.append(key, [user("one")])
    first = t.archive(KEY, "reset", now_ms=T0)
    second = t.archive(OTHER, "deleted", now_ms=T0)
    assert first is not None and second is not None
    assert [archive.name for archive in t.archives()] == sorted([first, second])
    t.remove_archive(second)
    assert [archive.name for archive in t.archives()] == [first]
    t.remove_archive(second)  # gone already: nothing
    t.remove_archive(first)
    assert t.archives() == []


def test_removing_a_live_transcript_name_leaves_it_alone(transcript_store: SessionStore) -> None:
    session = started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("one")])
    for name in ("s-1.jsonl", "s-1"):
        with contextlib.suppress(InvalidArgumentError):  # refusing it is fine too
            t.remove_archive(name)
    assert t.exists(session)
    assert t.count(KEY) == 1


# -- erasure --------------------------------------------------------------------------------


def _erasable(store: SessionStore) -> str:
    """KEY reset once (``s-1`` archived), now ``s-2`` with a topic transcript; OTHER
    (``s-3``) beside it. Returns the archive's name."""
    t = store.transcripts
    started(store, KEY, "s-1")
    t.append(KEY, [user("quince one")])
    name = t.archive(KEY, "reset", now_ms=T0)
    assert name is not None
    started(store, KEY, "s-2")
    t.append(KEY, [user("quince two")])
    t.append(KEY, [user("quince topic")], topic_id=5)
    started(store, OTHER, "s-3")
    t.append(OTHER, [user("quince other")])
    return name


def test_erase_removes_the_entry_its_transcripts_archives_and_search_rows(
    transcript_store: SessionStore,
) -> None:
    archived = _erasable(transcript_store)
    t = transcript_store.transcripts
    erasure = t.erase([KEY], session_ids=["s-1"])
    assert erasure.applied and erasure.agent_id == transcript_store.agent_id
    assert erasure.keys == [KEY] and erasure.kept == []
    assert erasure.transcripts == ["s-2-topic-5.jsonl", "s-2.jsonl"]
    assert erasure.archives == [archived]
    assert erasure.events == 6 and erasure.bytes > 0  # three headers, three messages
    assert transcript_store.get(KEY) is None and transcript_store.count() == 1
    assert t.archives() == []
    assert [hit.key for hit in t.search("quince")] == [OTHER]
    assert [e["message"]["content"] for e in t.tail(OTHER)] == ["quince other"]
    again = t.erase([KEY], session_ids=["s-1"])  # nothing left: nothing done
    assert (again.keys, again.transcripts, again.archives, again.events) == ([], [], [], 0)


def test_a_dry_run_erases_nothing(transcript_store: SessionStore) -> None:
    _erasable(transcript_store)
    t = transcript_store.transcripts
    planned = t.erase([KEY], session_ids=["s-1"], dry_run=True)
    assert not planned.applied
    assert transcript_store.get(KEY) is not None and len(t.archives()) == 1
    assert len(t.search("quince")) == 3
    done = t.erase([KEY], session_ids=["s-1"])
    assert (planned.keys, planned.transcripts, planned.archives, planned.events) == (
        done.keys,
        done.transcripts,
        done.archives,
        done.events,
    )


def test_erase_keeps_a_transcript_an_entry_that_stays_uses(transcript_store: SessionStore) -> None:
    started(transcript_store, KEY, "s-1")
    started(transcript_store, OTHER, "s-1")  # two keys, one session
    t = transcript_store.transcripts
    t.append(KEY, [user("shared")])
    erasure = t.erase([KEY])
    assert erasure.keys == [KEY] and erasure.transcripts == [] and erasure.kept == ["s-1.jsonl"]
    assert [e["message"]["content"] for e in t.tail(OTHER)] == ["shared"]


def test_erase_of_more_keys_than_one_statement_binds(transcript_store: SessionStore) -> None:
    keys = [f"agent:main:direct:{n}" for n in range(620)]  # over the 500 of a statement
    transcript_store.put_many((key, entry(f"s-{n}")) for n, key in enumerate(keys))
    t = transcript_store.transcripts
    for key in keys[::100]:
        t.append(key, [user("erased")])
    t.append(keys[-1], [user("stays")])
    erasure = t.erase(keys[:-1])
    assert erasure.keys == sorted(keys[:-1])
    assert erasure.transcripts == sorted(f"s-{n}.jsonl" for n in range(0, 619, 100))
    assert transcript_store.count() == 1 and [h.key for h in t.search("erased stays")] == []
    assert [hit.key for hit in t.search("stays")] == [keys[-1]]


def test_erase_refuses_an_unsafe_session_id(transcript_store: SessionStore) -> None:
    started(transcript_store)
    with pytest.raises(InvalidArgumentError, match="safe session id"):
        transcript_store.transcripts.erase([KEY], session_ids=["../s-1"])
    assert transcript_store.get(KEY) is not None


# -- topics ---------------------------------------------------------------------------------


def test_topic_transcripts_are_separate_from_the_main_one(transcript_store: SessionStore) -> None:
    session = started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("main", event_id="m1")])
    result = t.append(KEY, [user("topic", event_id="m1"), user("more")], topic_id=42)
    assert (result.created, result.written) == (True, 2)  # its own ids, its own header
    assert [e["message"]["content"] for e in t.tail(KEY)] == ["main"]
    assert [e["message"]["content"] for e in t.tail(KEY, topic_id=42)] == ["topic", "more"]
    assert (t.count(KEY), t.count(KEY, topic_id=42), t.count(KEY, topic_id="other")) == (1, 2, 0)
    assert ids(t.page(KEY, topic_id=42).items)[1] == "m1"
    assert t.exists(session, topic_id=42) and not t.exists(session, topic_id=7)
    assert t.stats(session, topic_id=42).messages == 2
    assert orjson.loads(next(iter(t.lines(session, topic_id=42))))["type"] == "session"


def test_a_topic_append_moves_the_counters_of_its_own_entry_only(
    transcript_store: SessionStore,
) -> None:
    """The entry's counters mirror its own transcript (``sessionFile``'s, else the
    main one), which ``check`` compares them with."""
    session = started(transcript_store, messageCount=0)
    t = transcript_store.transcripts
    t.append(KEY, [user("main")])
    t.append(KEY, [user("topic"), assistant("answer", 3, 4)], topic_id=42)
    assert counters(transcript_store)["messageCount"] == 1 == t.stats(session).messages
    assert counters(transcript_store)["inputTokens"] is None
    started(transcript_store, sessionFile="s-1-topic-42.jsonl", messageCount=2)
    t.append(KEY, [user("topic again")])
    assert counters(transcript_store)["messageCount"] == 3 == t.count(KEY)


def test_a_topic_may_be_a_string(transcript_store: SessionStore) -> None:
    session = started(transcript_store)
    t = transcript_store.transcripts
    topic = "thread/a+b ü"
    t.append(KEY, [user("topic")], topic_id=topic)
    assert t.count(KEY, topic_id=topic) == 1
    assert t.count(KEY) == 0
    name = t.archive(KEY, "reset", now_ms=T0, topic_id=topic)
    assert name == archive_name(transcript_file_name("s-1", topic), "reset", T0)
    assert not t.exists(session, topic_id=topic)


def test_the_topic_of_the_session_file_is_used(transcript_store: SessionStore) -> None:
    started(transcript_store, sessionFile="s-1-topic-42.jsonl")
    t = transcript_store.transcripts
    t.append(KEY, [user("in the topic")])
    assert t.count(KEY) == 1
    assert t.count(KEY, topic_id=42) == 1
    assert not t.exists(entry("s-1"))
    assert t.exists(entry("s-1"), topic_id=42)
    assert t.archive(KEY, "reset", now_ms=T0) == archive_name("s-1-topic-42.jsonl", "reset", T0)


# -- stats, exists, session ids -------------------------------------------------------------


def test_stats_count_the_whole_transcript(transcript_store: SessionStore) -> None:
    session = started(transcript_store)
    t = transcript_store.transcripts
    assert t.stats(session) == TranscriptStats(0, 0, 0, None, 0, 0)
    t.append(KEY, [user("one"), assistant("two", 3, 4), custom("aside")])
    t.append(KEY, [assistant("three", 5, 6)])
    assert t.stats(session) == TranscriptStats(3, 8, 10, 11, 0, 0)


def test_exists_and_session_ids_follow_the_live_transcripts(
    transcript_store: SessionStore,
) -> None:
    first = started(transcript_store)
    second = started(transcript_store, OTHER, "s-2")
    t = transcript_store.transcripts
    assert not t.exists(first)
    assert t.session_ids() == set()
    t.append(KEY, [user("one")])
    t.append(OTHER, [user("two")])
    assert t.exists(first) and t.exists(second)
    assert t.session_ids() == {"s-1", "s-2"}
    t.archive(OTHER, "deleted", now_ms=T0)
    assert not t.exists(second)
    assert t.session_ids() == {"s-1"}


# -- lines, import_lines --------------------------------------------------------------------


def test_lines_are_the_header_then_one_event_each(transcript_store: SessionStore) -> None:
    session = started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, numbered(3))
    lines = list(t.lines(session))
    assert all(isinstance(line, bytes) and b"\n" not in line for line in lines)
    assert orjson.loads(lines[0])["type"] == "session"
    assert [orjson.loads(line) for line in lines[1:]] == t.tail(KEY)
    assert lines[1:] == [orjson.dumps(event) for event in t.tail(KEY)]
    assert list(t.lines(entry("s-9"))) == []


def test_lines_import_into_another_store_unchanged(
    transcript_store: SessionStore, make_transcript_store: TranscriptStoreFactory
) -> None:
    session = started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("one"), assistant("two 🦀", 3, 4), custom("aside")])
    lines = list(t.lines(session))
    copy = make_transcript_store(agent_id="copy")
    copied = started(copy)
    assert copy.transcripts.import_lines(KEY, copied, lines) == len(lines)
    assert list(copy.transcripts.lines(copied)) == lines
    assert copy.transcripts.tail(KEY) == t.tail(KEY)
    assert copy.transcripts.stats(copied) == t.stats(session)
    assert copy.transcripts.count(KEY) == 2
    assert counters(copy)["messageCount"] is None  # the entry's counters are left alone


def test_import_lines_replaces_the_transcript(transcript_store: SessionStore) -> None:
    session = started(transcript_store, messageCount=1)
    t = transcript_store.transcripts
    t.append(KEY, [user("old one"), user("old two")])
    lines = [orjson.dumps(header_event("s-1", "", T0))] + [
        orjson.dumps({**event, "parentId": None, "timestamp": at(1)}) for event in numbered(3, "n")
    ]
    assert t.import_lines(KEY, session, lines) == 4
    assert list(t.lines(session)) == lines
    assert ids(t.tail(KEY)) == ["n0", "n1", "n2"]
    assert t.count(KEY) == 3
    assert counters(transcript_store)["messageCount"] == 3  # left alone: 1 + the 2 appended


def test_an_empty_import_leaves_no_transcript(transcript_store: SessionStore) -> None:
    session = started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("old one")])
    assert t.import_lines(KEY, session, []) == 0
    assert not t.exists(session)
    assert t.tail(KEY) == []
    # the next append starts the transcript again: its header first, the event at 1
    t.append(KEY, [user("new zebra")])
    assert orjson.loads(next(iter(t.lines(session))))["type"] == "session"
    assert [hit.position for hit in t.search("zebra")] == [1]


def test_appends_after_an_import_continue_it(transcript_store: SessionStore) -> None:
    session = started(transcript_store)
    t = transcript_store.transcripts
    lines = [orjson.dumps(header_event("s-1", "", T0))] + [
        orjson.dumps({**event, "parentId": None}) for event in numbered(2)
    ]
    t.import_lines(KEY, session, lines)
    result = t.append(KEY, [user("dup", event_id="e1"), user("next")])
    assert (result.created, result.written, result.skipped) == (False, 1, 1)
    assert t.tail(KEY)[-1]["parentId"] == "e1"
    assert list(t.lines(session))[:3] == lines


def test_malformed_lines_are_kept_and_never_returned(transcript_store: SessionStore) -> None:
    session = started(transcript_store)
    t = transcript_store.transcripts
    good = [orjson.dumps({**event, "parentId": None}) for event in numbered(2)]
    lines = [orjson.dumps(header_event("s-1", "", T0)), good[0], b"{not json", b'"text"', good[1]]
    assert t.import_lines(KEY, session, lines) == 5
    assert list(t.lines(session)) == lines
    assert ids(t.tail(KEY)) == ["e0", "e1"]
    assert ids(t.page(KEY).items) == ["e1", "e0"]
    assert ids(t.page(KEY, after=TRANSCRIPT_START, limit=1).items) == ["e0"]
    assert [ids(page) for page in every_page(t, KEY, limit=1, forward=True)] == [["e0"], ["e1"]]
    assert t.count(KEY) == 2
    assert t.stats(session).malformed_lines == 2
    assert [hit.position for hit in t.search("number", key=KEY)] == [4, 1]  # lines, header 0


@pytest.mark.parametrize(
    "line", [b'{"a":1}\n{"b":2}', b'{"a":1}\r\n', b'{"a":\n1}'], ids=["two", "crlf", "inside"]
)
def test_an_imported_line_that_holds_a_newline_is_refused(
    transcript_store: SessionStore, line: bytes
) -> None:
    session = started(transcript_store)
    t = transcript_store.transcripts
    t.append(KEY, [user("kept")])
    before = list(t.lines(session))
    with pytest.raises(InvalidArgumentError):
        t.import_lines(KEY, session, [orjson.dumps(header_event("s-1", "", T0)), line])
    assert list(t.lines(session)) == before


# -- unicode and bad events -----------------------------------------------------------------


def test_unicode_round_trips(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    text = "emoji 🦀🎉👩‍👩‍👧 café ñandú 中文字 עברית e\u0301 \u2028 \u2029 \ufeff tab\t end"
    event = user(text, event_id="ü-🦀", seconds=1)
    event["parentId"] = None
    event["ключ"] = "значение"
    t.append(KEY, [event])
    assert t.tail(KEY) == [event]
    assert t.page(KEY).items == [event]
    assert [hit.position for hit in t.search("ñandú")] == [1]
    assert [hit.position for hit in t.search("café")] == [1]


def test_nul_characters_in_events_round_trip(transcript_store: SessionStore) -> None:
    started(transcript_store)
    t = transcript_store.transcripts
    event = user("zebra\x00quasar marmalade\x00", event_id="n\x00ul", seconds=1)
    event["parentId"] = None
    event["k\x00ey"] = "v\x00"
    t.append(KEY, [event])
    assert t.tail(KEY) == [event]
    assert [hit.position for hit in t.search("marmalade")] == [1]
    assert t.append(KEY, [user("again", event_id="n\x00ul")]).skipped == 1


@pytest.mark.parametrize(
    "bad", ["lone \ud800 high", "lone \udfff low"], ids=["high-surrogate", "low-surrogate"]
)
def test_lone_surrogates_are_refused(transcript_store: SessionStore, bad: str) -> None:
    session = started(transcript_store)
    t = transcript_store.transcripts
    for event in (user(bad), {**user("fine"), bad: 1}, user("fine", event_id=bad)):
        with pytest.raises(InvalidArgumentError):
            t.append(KEY, [user("good"), event])
    assert not t.exists(session)
    assert counters(transcript_store)["messageCount"] is None


class _Opaque:
    pass


NOT_JSON: list[Any] = [
    {"type": "message", "message": {"role": "user", "content": _Opaque()}},
    {"type": "message", "at": datetime.now(UTC)},
    {"type": "message", "set": {1, 2}},
    {"type": "message", "raw": b"bytes"},
    {"type": "message", "huge": 2**64},
    {"type": "message", 1: "not a string key"},
    {"type": "message", "nested": {"deep": [{"x": _Opaque()}]}},
    "not an object",
    ["a", "list"],
    None,
]


@pytest.mark.parametrize("bad", NOT_JSON, ids=[str(i) for i in range(len(NOT_JSON))])
def test_an_event_that_is_not_json_is_refused_before_anything_is_written(
    transcript_store: SessionStore, bad: Any
) -> None:
    session = started(transcript_store)
    t = transcript_store.transcripts
    with pytest.raises(InvalidArgumentError):
        t.append(KEY, [user("good"), bad])
    assert not t.exists(session)
    assert t.tail(KEY) == []
    assert counters(transcript_store)["messageCount"] is None
    t.append(KEY, [user("first")])
    with pytest.raises(InvalidArgumentError):
        t.append(KEY, [user("second"), bad])
    assert [event["message"]["content"] for event in t.tail(KEY)] == ["first"]
    assert counters(transcript_store)["messageCount"] == 1

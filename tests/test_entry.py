"""SessionEntry: OpenClaw's JSON names, typed index fields, untouched unknown fields,
and validation errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from sessionstore import InvalidArgumentError, InvalidEntryError, SessionEntry
from sessionstore.entry import (
    MAX_DEPTH,
    MAX_TIMESTAMP_MS,
    EntryValidationError,
    validate_agent_id,
    validate_key,
)


def test_python_names_and_json_names() -> None:
    entry = SessionEntry(session_id="s1", updated_at=5, display_name="D", model_provider="p")
    assert entry.to_dict() == {
        "sessionId": "s1",
        "updatedAt": 5,
        "displayName": "D",
        "modelProvider": "p",
    }
    same = SessionEntry.from_dict(
        {"sessionId": "s1", "updatedAt": 5, "displayName": "D", "modelProvider": "p"}
    )
    assert same == entry


def test_unset_fields_are_omitted_and_explicit_nulls_kept() -> None:
    entry = SessionEntry.from_dict({"sessionId": "s", "updatedAt": 1, "label": None, "x": None})
    assert entry.to_dict() == {"sessionId": "s", "updatedAt": 1, "label": None, "x": None}


def test_json_round_trip_keeps_types() -> None:
    text = '{"sessionId":"s","updatedAt":1,"lastThreadId":"42","n":1.0,"i":1,"b":true}'
    entry = SessionEntry.from_json(text)
    assert entry.to_json() == text.encode()


@pytest.mark.parametrize(
    ("session_id", "ok"),
    [
        ("3f2b9c1e-7a44-4c0e-9d1f-2b6f0a8c5e11", True),
        ("a", True),
        ("A.b_c-d", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("../etc/passwd", False),
        ("a/b", False),
        ("a\\b", False),
        ("/abs", False),
        (".hidden", False),
        ("", False),
        ("parent.checkpoint.0b4f5f1e-8a6e-4a44-9a9a-3c2f1d0e9b8a", False),
    ],
)
def test_session_id_follows_openclaws_safe_id_rule(session_id: str, ok: bool) -> None:
    data = {"sessionId": session_id, "updatedAt": 1}
    if ok:
        assert SessionEntry.from_dict(data).session_id == session_id
    else:
        with pytest.raises(InvalidEntryError, match="sessionId"):
            SessionEntry.from_dict(data)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"updatedAt": True}, "updatedAt"),
        ({"updatedAt": "1774962000000"}, "updatedAt"),
        ({"updatedAt": None}, "updatedAt"),
        ({"totalTokens": "3"}, "totalTokens"),
        ({"archivedAt": False}, "archivedAt"),
        ({"label": 7}, "label"),
        ({"lastThreadId": 4.2}, "lastThreadId"),
        ({"label": "a\x00b"}, "label"),
        ({"extra": "a\x00b"}, "extra"),
        ({"extra": {"k\x00": 1}}, "extra"),
        ({"extra": 2**64}, "extra"),
        ({"extra": float("-inf")}, "extra"),
    ],
)
def test_invalid_values_name_the_field(fields: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidEntryError, match=named):
        SessionEntry.from_dict({"sessionId": "s", "updatedAt": 1, **fields})


def test_invalid_entries_are_refused_with_the_field_named() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"sessionId": "../etc/passwd", "updatedAt": 1}, "sessionId"),
        ({"sessionId": "a/b", "updatedAt": 1}, "sessionId"),
        ({"sessionId": "ok", "updatedAt": "1"}, "updatedAt"),
        ({"updatedAt": 1}, "sessionId"),
        ({"sessionId": "ok", "updatedAt": 1, "extra": float("nan")}, "extra"),
        ({"sessionId": "ok", "updatedAt": 1, "deep": {"x": [float("inf")]}}, "deep.x"),
    ]
    for data, field in cases:
        with pytest.raises(InvalidEntryError, match=field.split(".")[0]):
            SessionEntry.from_dict(data)


def test_the_largest_timestamp_is_accepted() -> None:
    assert SessionEntry(session_id="s", updated_at=MAX_TIMESTAMP_MS).updated_at == MAX_TIMESTAMP_MS


def test_constructing_directly_validates_too() -> None:
    with pytest.raises(ValidationError, match="session id"):
        SessionEntry(session_id="a/b", updated_at=1)
    with pytest.raises(ValidationError, match="extra"):
        SessionEntry(session_id="s", updated_at=1, extra=float("nan"))


@pytest.mark.parametrize(
    "make",
    [
        lambda: SessionEntry(session_id="a/b", updated_at=1),
        lambda: SessionEntry(session_id="s", label=7),  # type: ignore[arg-type]
        lambda: SessionEntry.from_dict({"sessionId": "a/b", "updatedAt": 1}),
        lambda: SessionEntry.from_json('{"sessionId": "s", "label": 7}'),
        lambda: SessionEntry(session_id="s").with_fields(label=7),
    ],
)
def test_both_construction_paths_raise_invalid_entry_error(make: Any) -> None:
    with pytest.raises(InvalidEntryError) as caught:
        make()
    # one class for every path: a SessionStoreError that is still pydantic's error
    assert type(caught.value) is EntryValidationError
    assert isinstance(caught.value, ValidationError) and isinstance(caught.value, ValueError)
    assert "\n" not in str(caught.value)
    assert caught.value.errors()[0]["loc"] in (("session_id",), ("sessionId",), ("label",))


@pytest.mark.parametrize(
    ("data", "typed"),
    [
        ({"sessionId": "a", "updatedAt": 1796126700520.5}, {"updated_at": 1796126700520}),
        ({"sessionId": "b"}, {"updated_at": 0}),
        ({"sessionId": "c", "updatedAt": 5, "inputTokens": -5}, {"input_tokens": -5}),
        (
            {"sessionId": "d", "updatedAt": -7, "totalTokens": 2.9},
            {"updated_at": 0, "total_tokens": 2},
        ),
        (
            {"sessionId": "e", "updatedAt": MAX_TIMESTAMP_MS + 1.5, "archivedAt": 0.5},
            {"updated_at": MAX_TIMESTAMP_MS, "archived_at": 0},
        ),
        ({"sessionId": "f", "messageCount": 2**64 - 1}, {"message_count": 2**63 - 1}),
        ({"sessionId": "g", "updatedAt": 1.0}, {"updated_at": 1}),
    ],
)
def test_numbers_openclaw_keeps_are_kept_as_written(
    data: dict[str, Any], typed: dict[str, int]
) -> None:
    entry = SessionEntry.from_dict(data)
    assert entry.to_dict() == data
    assert [type(v) for v in entry.to_dict().values()] == [type(v) for v in data.values()]
    assert {name: getattr(entry, name) for name in typed} == typed
    assert SessionEntry.from_json(entry.to_json()) == entry
    assert entry.with_fields(label="x").to_dict() == {**data, "label": "x"}
    assert entry.with_fields(updated_at=3).updated_at == 3


def test_lone_surrogates_round_trip_through_json() -> None:
    entry = SessionEntry.from_json(r'{"sessionId":"s","label":"cut \ud83d","x":{"\udc00":1}}')
    assert entry.label == "cut \ud83d"
    assert entry.to_json() == rb'{"sessionId":"s","label":"cut \ud83d","x":{"\udc00":1}}'
    with pytest.raises(InvalidEntryError, match="field name '\\\\ud800' holds a lone"):
        SessionEntry.from_dict({"sessionId": "s", "\ud800": 1})


def test_nesting_is_limited_per_entry() -> None:
    value: Any = 1
    for _ in range(MAX_DEPTH - 1):  # the entry is level 1
        value = {"k": value}
    SessionEntry.from_dict({"sessionId": "s", "x": value}).to_json()
    with pytest.raises(InvalidEntryError, match=r"^entry: Value error, x: nested deeper than 128"):
        SessionEntry.from_dict({"sessionId": "s", "x": [value]})


def test_equality_follows_the_json_form() -> None:
    assert SessionEntry(session_id="s", updated_at=1) == SessionEntry.from_dict(
        {"updatedAt": 1, "sessionId": "s"}
    )
    assert SessionEntry(session_id="s", updated_at=1, label=None) != SessionEntry(
        session_id="s", updated_at=1
    )


def test_non_objects_are_refused() -> None:
    for value in ([1], "s", 3, None):
        with pytest.raises(InvalidEntryError, match="JSON object"):
            SessionEntry.from_dict(value)  # type: ignore[arg-type]
    with pytest.raises(InvalidEntryError, match="not valid JSON"):
        SessionEntry.from_json("{nope")


def test_entries_are_immutable_and_with_fields_validates() -> None:
    entry = SessionEntry(session_id="s", updated_at=1)
    with pytest.raises(ValidationError):
        entry.label = "x"  # type: ignore[misc]
    assert entry.with_fields(label="x", thinkingLevel="low").to_dict() == {
        "sessionId": "s",
        "updatedAt": 1,
        "label": "x",
        "thinkingLevel": "low",
    }
    with pytest.raises(InvalidEntryError, match="updatedAt"):
        entry.with_fields(updated_at="soon")


def test_keys_and_agent_ids() -> None:
    assert validate_key("agent:main:main") == "agent:main:main"
    for bad in ("", " ", "a\x00", "k" * 1025, 5):
        with pytest.raises(InvalidEntryError):
            validate_key(bad)
    assert validate_agent_id("work_2-b") == "work_2-b"
    for bad_agent in ("", "Main", "a/b", "x" * 65, "-a"):
        with pytest.raises(InvalidArgumentError, match="agent id"):
            validate_agent_id(bad_agent)


def test_with_fields_checks_the_fields_it_changes() -> None:
    entry = SessionEntry.from_dict({"sessionId": "s1", "updatedAt": 1, "blob": {"a": [1, 2.5]}})
    with pytest.raises(InvalidEntryError, match="extra"):
        entry.with_fields(extra=float("nan"))
    with pytest.raises(InvalidEntryError, match="blob"):
        entry.with_fields(blob={"b": "\x00"})
    changed = entry.with_fields(label="Inbox")
    assert changed.label == "Inbox" and changed.model_extra == {"blob": {"a": [1, 2.5]}}


def test_a_python_name_counts_only_without_its_json_name() -> None:
    both = SessionEntry.from_dict({"sessionId": "s1", "updatedAt": 5, "updated_at": 2.5})
    assert both.updated_at == 5
    assert both.to_dict() == {"sessionId": "s1", "updatedAt": 5, "updated_at": 2.5}
    alone = SessionEntry.from_dict({"sessionId": "s1", "updated_at": 2.5})
    assert (alone.updated_at, alone.to_dict()) == (2, {"sessionId": "s1", "updatedAt": 2.5})


@pytest.mark.parametrize(
    "data",
    [
        {"sessionId": "s1", "updatedAt": 7.5, "inputTokens": -5, "notes": {"a": [1, None]}},
        {"sessionId": "s1", "display_name": "by its Python name", "total_tokens": 2**64 - 1},
        {"sessionId": "s1", "sessionFile": None, "lastThreadId": 42, "cut": "\ud83d"},
    ],
)
def test_an_entry_rebuilt_from_storage_is_the_validated_one(data: dict[str, Any]) -> None:
    stored = SessionEntry._from_stored(data)
    validated = SessionEntry.from_dict(data)
    assert stored.__dict__ == validated.__dict__
    assert list(stored.__dict__) == list(validated.__dict__)
    assert stored.model_extra == validated.model_extra
    assert stored.model_fields_set == validated.model_fields_set
    assert stored.__pydantic_private__ == validated.__pydantic_private__
    assert list(stored.to_dict().items()) == list(validated.to_dict().items())

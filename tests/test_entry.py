"""SessionEntry: OpenClaw's JSON names, typed index fields, untouched unknown fields,
and validation errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from sessionstore import InvalidArgumentError, InvalidEntryError, SessionEntry
from sessionstore.entry import MAX_TIMESTAMP_MS, validate_agent_id, validate_key


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
        ({"updatedAt": -1}, "updatedAt"),
        ({"updatedAt": MAX_TIMESTAMP_MS + 1}, "updatedAt"),
        ({"updatedAt": 1.5}, "updatedAt"),
        ({"updatedAt": True}, "updatedAt"),
        ({"updatedAt": "1774962000000"}, "updatedAt"),
        ({"totalTokens": -3}, "totalTokens"),
        ({"totalTokens": "3"}, "totalTokens"),
        ({"archivedAt": -1}, "archivedAt"),
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
        ({"sessionId": "ok", "updatedAt": -1}, "updatedAt"),
        ({"sessionId": "ok", "updatedAt": "1"}, "updatedAt"),
        ({"sessionId": "ok"}, "updatedAt"),
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
        entry.with_fields(updated_at=-5)


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

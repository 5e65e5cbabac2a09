"""The contract, on every backend: an entry read back (get, get_with_version, the full
listing) is the entry that validation makes of the same JSON, field by field: typed
fields and their types, unknown fields, which fields are set, numbers as written,
``model_dump()``, ``to_dict()`` and its order. SQL backends rebuild entries they wrote
without validating them again; this is what that shortcut must not change."""

from __future__ import annotations

from typing import Any

import pytest

from sessionstore import SessionEntry, SessionStore
from tests.contract.test_blobs import PROMPT, REPORT

T0 = 1_774_962_000_000

#: Entries that exercise every rule of validation that changes what an entry holds.
ENTRIES: dict[str, dict[str, Any]] = {
    "minimal": {"sessionId": "s1"},
    "typed fields": {
        "sessionId": "s2",
        "updatedAt": T0,
        "sessionStartedAt": T0 - 60_000,
        "sessionFile": "/state/agents/main/sessions/s2.jsonl",
        "chatType": "direct",
        "channel": "telegram",
        "lastChannel": "telegram",
        "lastTo": "telegram:7",
        "lastAccountId": "default",
        "label": "Inbox",
        "displayName": "Ada",
        "status": "running",
        "model": "gpt-5",
        "modelProvider": "openai",
        "inputTokens": 10,
        "outputTokens": 20,
        "totalTokens": 30,
        "contextTokens": 400_000,
        "messageCount": 3,
        "archivedAt": T0 + 1,
        "spawnedBy": "agent:main:main",
    },
    "numbers as written": {
        "sessionId": "s3",
        "updatedAt": T0 + 0.5,
        "sessionStartedAt": -5,
        "archivedAt": 10**16,
        "inputTokens": -7,
        "outputTokens": 2.75,
        "totalTokens": 2**63 + 10,
        "contextTokens": 1e20,
        "messageCount": 4.0,
    },
    "explicit nulls": {"sessionId": "s4", "inputTokens": None, "label": None, "lastTo": None},
    "thread id as a number": {"sessionId": "s5", "updatedAt": T0, "lastThreadId": 42},
    "thread id as text": {"sessionId": "s6", "updatedAt": T0, "lastThreadId": "42"},
    "unknown fields of every JSON type": {
        "sessionId": "s7",
        "updatedAt": T0,
        "thinkingLevel": "low",
        "abortedLastRun": False,
        "compactionCount": 0,
        "cacheRead": 1.5,
        "origin": {"provider": "telegram", "chat": {"id": -100, "topics": [1, "two", None]}},
        "queue": [],
        "empty": {},
        "nothing": None,
    },
    "Python names beside JSON names": {
        "sessionId": "s8",
        "session_id": "other",
        "updatedAt": T0,
        "updated_at": 2.5,
        "displayName": "Ada",
        "display_name": "Bea",
    },
    "lone surrogates": {
        "sessionId": "s9",
        "updatedAt": T0,
        "label": "cut \ud83d",
        "notes": {"tail": "\udc00 end", "list": ["\ud83d"]},
    },
    "large values out of line": {
        "sessionId": "s10",
        "updatedAt": T0,
        "skillsSnapshot": {"prompt": PROMPT, "skills": [{"name": "weather"}], "version": 3},
        "systemPromptReport": {**REPORT, "generatedAt": T0},
        "inputTokens": 1.5,
    },
}


def assert_same_entry(got: SessionEntry, want: SessionEntry) -> None:
    """The two entries hold the same, as validation builds it, down to value types."""
    assert type(got) is SessionEntry
    for name in SessionEntry.model_fields:
        g, w = getattr(got, name), getattr(want, name)
        assert (type(g), g) == (type(w), w), name
    assert got.model_extra == want.model_extra
    assert got.model_fields_set == want.model_fields_set
    assert got.__pydantic_private__ == want.__pydantic_private__
    assert got.model_dump() == want.model_dump()
    assert got.to_dict() == want.to_dict()
    assert list(got.to_dict()) == list(want.to_dict())
    assert got == want


def read_back(store: SessionStore, key: str) -> list[SessionEntry]:
    """The entry at ``key`` by each way of reading it."""
    got = store.get(key)
    with_version, _ = store.get_with_version(key)
    listed = dict(store.iter_entries(batch_size=3))
    versioned = {k: e for k, e, _ in store.iter_entries_with_versions(batch_size=3)}
    found = [got, with_version, listed.get(key), versioned.get(key)]
    assert all(entry is not None for entry in found)
    return [entry for entry in found if entry is not None]


@pytest.mark.parametrize("data", ENTRIES.values(), ids=ENTRIES.keys())
def test_an_entry_read_back_is_the_validated_entry(
    store: SessionStore, data: dict[str, Any]
) -> None:
    original = SessionEntry.from_dict(data)
    # Neighbours, so the full listing reads several batches.
    for n in range(4):
        store.put(f"agent:main:n{n}", SessionEntry.from_dict({"sessionId": f"n{n}"}))
    store.put("agent:main:main", original)
    for back in read_back(store, "agent:main:main"):
        # As validation makes it of the JSON read back (whose key order is the store's)
        assert_same_entry(back, SessionEntry.from_dict(back.to_dict()))
        # ... and of what was put.
        assert back.to_dict() == original.to_dict()
        assert back.model_dump() == original.model_dump()


def test_a_patched_entry_read_back_is_the_validated_entry(store: SessionStore) -> None:
    store.put("agent:main:main", SessionEntry.from_dict(ENTRIES["numbers as written"]))
    patched = store.patch("agent:main:main", {"label": "Patched", "cacheRead": 0.5})
    for back in read_back(store, "agent:main:main"):
        assert_same_entry(back, SessionEntry.from_dict(back.to_dict()))
        assert back.to_dict() == patched.to_dict()

"""The contract, entries as OpenClaw keeps them: any number in a numeric field, no
``updatedAt``, lone UTF-16 surrogates, deep values; stored verbatim on every backend."""

from __future__ import annotations

from typing import Any

import pytest

from sessionstore import InvalidEntryError, SessionEntry, SessionStore
from tests.contract.helpers import KEY, T0

# Entries OpenClaw's loader keeps as they are; sessionstore refused each before.
KEPT_BY_OPENCLAW: list[dict[str, Any]] = [
    {"sessionId": "a", "updatedAt": 1796126700520.5},
    {"sessionId": "b"},
    {"sessionId": "c", "updatedAt": T0, "inputTokens": -5, "totalTokens": 2.5},
    {"sessionId": "d", "updatedAt": -1, "sessionStartedAt": 7.25, "archivedAt": 10**16},
    {"sessionId": "e", "updatedAt": T0, "label": "cut \ud83d", "x": {"\udc00k": ["\ud800"]}},
    {
        "sessionId": "f",
        "updatedAt": T0,
        "channel": "\udfff" * 300,
        "skillsSnapshot": {"prompt": "p\ud83d" + "x" * 4000},
        "systemPromptReport": {"text": "r\udc00" * 1000},
    },
]


@pytest.mark.parametrize("data", KEPT_BY_OPENCLAW, ids=lambda d: d["sessionId"])
def test_entries_openclaw_keeps_round_trip_verbatim(store: SessionStore, data: Any) -> None:
    key = f"agent:main:{data['sessionId']}"
    store.put(key, data)
    stored = store.get(key)
    assert stored is not None
    assert stored.to_dict() == data
    assert [type(v) for v in stored.to_dict().values()] == [type(v) for v in data.values()]
    assert store.get_with_version(key)[0] == stored
    assert dict(store.iter_entries()) == {key: stored}
    [summary] = store.list().items
    assert summary.updated_at == stored.updated_at
    store.put_many([(key, stored)])
    assert store.get(key) == stored


def test_numbers_are_indexed_by_the_documented_projection(store: SessionStore) -> None:
    for data in KEPT_BY_OPENCLAW[:4]:
        store.put(f"agent:main:{data['sessionId']}", data)
    rows = {item.session_id: item for item in store.list().items}
    assert [rows[s].updated_at for s in "abcd"] == [1796126700520, 0, T0, 0]
    assert (rows["c"].input_tokens, rows["c"].total_tokens) == (-5, 2)
    assert rows["d"].created_at == 7 and rows["d"].archived
    assert store.count(updated_before=1) == 2  # b (no updatedAt) and d (negative)


def test_lone_surrogates_are_indexed_as_replacement_characters(store: SessionStore) -> None:
    store.put(KEY, KEPT_BY_OPENCLAW[5])
    [summary] = store.list().items
    assert summary.channel is not None and set(summary.channel) == {"\ufffd"}
    assert store.count(channel=summary.channel) == 1


def test_a_field_name_with_a_lone_surrogate_is_refused(store: SessionStore) -> None:
    # pydantic cannot hold such a name; nested object keys are kept (above)
    with pytest.raises(InvalidEntryError, match="field name '\\\\udc00k' holds a lone"):
        store.put(KEY, {"sessionId": "s", "\udc00k": 1})
    assert store.count() == 0


def test_an_entry_nested_too_deep_is_refused(store: SessionStore) -> None:
    deep: Any = "bottom"
    for _ in range(200):
        deep = [deep]
    with pytest.raises(InvalidEntryError, match="deep: nested deeper than 128 levels"):
        store.put(KEY, {"sessionId": "s", "updatedAt": 1, "deep": deep})
    assert store.count() == 0
    shallow: Any = "bottom"
    for _ in range(126):
        shallow = [shallow]
    store.put(KEY, SessionEntry.from_dict({"sessionId": "s", "deep": shallow}))
    assert store.get(KEY).to_dict()["deep"] == shallow  # type: ignore[union-attr]

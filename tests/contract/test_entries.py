"""The contract, entries: get and put, versions, unknown fields, keys, bad entries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sessionstore import (
    InvalidEntryError,
    SessionEntry,
    SessionStore,
    StaleEntryError,
)
from sessionstore.contract import Updater
from tests.conftest import StoreFactory
from tests.contract.helpers import KEY, T0, entry

# -- get / put ----------------------------------------------------------------------


def test_get_missing_is_none(store: SessionStore) -> None:
    assert store.get(KEY) is None
    assert store.version(KEY) == 0


def test_put_then_get_returns_the_same_entry(store: SessionStore) -> None:
    original = entry(channel="telegram", lastThreadId=42, model="m", totalTokens=10)
    store.put(KEY, original)
    assert store.get(KEY) == original
    assert store.get(KEY).to_dict() == original.to_dict()  # type: ignore[union-attr]


def test_put_replaces_the_whole_entry(store: SessionStore) -> None:
    store.put(KEY, entry(label="old", model="m"))
    store.put(KEY, entry(session_id="s-2"))
    assert store.get(KEY) == entry(session_id="s-2")


def test_versions_change_on_every_write_and_read_back(store: SessionStore) -> None:
    first = store.put(KEY, entry())
    assert first > 0
    assert store.version(KEY) == first
    second = store.put(KEY, entry(label="x"))
    assert second != first
    assert store.version(KEY) == second


def test_get_with_version_reads_both_together(store: SessionStore) -> None:
    assert store.get_with_version(KEY) == (None, 0)
    version = store.put(KEY, entry(label="a"))
    assert store.get_with_version(KEY) == (entry(label="a"), version)
    _, seen = store.get_with_version(KEY)
    store.put(KEY, entry(label="b"), expected_version=seen)
    assert store.get_with_version(KEY)[0] == entry(label="b")


def test_get_many_reads_what_get_reads_in_the_order_asked(store: SessionStore) -> None:
    keys = [f"agent:main:direct:{n}" for n in range(1200)]  # over one statement's batch
    store.put_many([(key, entry(session_id=f"s-{n}", label=str(n))) for n, key in enumerate(keys)])
    store.put(keys[7], entry(session_id="s-7", label="again"))
    wanted = [keys[1100], "agent:main:absent", *keys[:1000], keys[3], keys[1199]]
    found = store.get_many(iter(wanted))
    assert list(found) == [keys[1100], *keys[:1000], keys[1199]]
    assert all(found[key] == store.get(key) for key in found)
    assert found[keys[7]].label == "again"
    versions = store.get_many_with_versions(wanted)
    assert list(versions) == list(found)
    assert all(versions[key] == store.get_with_version(key) for key in (keys[0], keys[7]))
    assert store.get_many([]) == {} == store.get_many_with_versions(["agent:main:absent"])


def test_get_many_versions_serve_a_compare_and_set(store: SessionStore) -> None:
    a, b = "agent:main:a", "agent:main:b"
    store.put(a, entry(label="a"))
    seen = {key: version for key, (_, version) in store.get_many_with_versions([a, b]).items()}
    store.put_many([(a, entry(label="a2")), (b, entry())], expected_versions={**seen, b: 0})
    with pytest.raises(StaleEntryError):
        store.put_many([(a, entry(label="a3"))], expected_versions={a: seen[a]})
    assert store.get_many([a, b]) == {a: entry(label="a2"), b: entry()}


def test_unknown_fields_round_trip_with_their_json_types(store: SessionStore) -> None:
    weird: dict[str, Any] = {
        "thinkingLevel": "low",
        "lastThreadId": "42",
        "queueDebounceMs": 1500,
        "estimatedCostUsd": 0.125,
        "whole": 1.0,
        "negative": -7,
        "big": 2**62,
        "flag": False,
        "nothing": None,
        "emptyObject": {},
        "emptyList": [],
        "deliveryContext": {"channel": "telegram", "to": "telegram:1", "threadId": 42},
        "nested": {"a": [1, "1", 1.5, True, None, {"b": []}]},
        "pluginExtensions": {"x": {"y": {"z": ["deep"]}}},
    }
    original = entry(**weird)
    store.put(KEY, original)
    back = store.get(KEY)
    assert back is not None
    data = back.to_dict()
    assert data == original.to_dict()
    for name, value in weird.items():
        assert type(data[name]) is type(value), name
    assert type(data["nested"]["a"][1]) is str
    assert type(data["whole"]) is float
    assert back.last_thread_id == "42"


def test_numeric_thread_id_stays_a_number(store: SessionStore) -> None:
    store.put(KEY, entry(lastThreadId=42))
    back = store.get(KEY)
    assert back is not None and back.last_thread_id == 42
    assert store.list().items[0].last_thread_id == "42"


def test_unicode_keys_and_values(store: SessionStore) -> None:
    key = "agent:main:telegram:direct:Ünïcødé-😀-漢字-עברית"
    original = entry(label="Grüße 👋", displayName="漢字 ✓", note="\u2028 line sep \t tab \n nl")
    store.put(key, original)
    assert store.get(key) == original
    assert [item.key for item in store.list().items] == [key]
    assert store.list().items[0].label == "Grüße 👋"


def test_large_entry_of_200_kb(store: SessionStore) -> None:
    prompt = "skill catalogue line ✓\n" * 9_000
    original = entry(skillsSnapshot={"prompt": prompt, "skills": [{"name": "weather"}]})
    assert len(original.to_json()) > 200_000
    store.put(KEY, original)
    assert store.get(KEY) == original


def test_entries_persist_across_reopen(make_store: StoreFactory) -> None:
    first = make_store()
    first.put(KEY, entry(label="kept"))
    first.close()
    assert make_store().get(KEY) == entry(label="kept")


def test_options_of_other_backends_are_ignored(make_store: StoreFactory) -> None:
    store = make_store(lock_timeout=1.5, engine_options={"echo": False})
    store.put(KEY, entry())
    assert store.count() == 1


# -- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize("bad_key", ["", "   ", "a\x00b", "k" * 1025, "é" * 513, "\ud800"])
def test_bad_keys_are_refused_and_change_nothing(store: SessionStore, bad_key: str) -> None:
    with pytest.raises(InvalidEntryError, match="key"):
        store.put(bad_key, entry())
    with pytest.raises(InvalidEntryError, match="key"):
        store.get(bad_key)
    with pytest.raises(InvalidEntryError, match="key"):
        store.get_many([KEY, bad_key])
    assert store.count() == 0


def test_longest_key_is_accepted(store: SessionStore) -> None:
    key = "k" * 1000 + "é" * 12
    store.put(key, entry())
    assert store.get(key) == entry()


BAD_ENTRIES: list[tuple[Any, str]] = [
    ({"sessionId": "s", "updatedAt": 1, "cost": float("nan")}, "cost"),
    ({"sessionId": "s", "updatedAt": 1, "cost": float("inf")}, "cost"),
    ({"sessionId": "s", "updatedAt": 1, "deep": {"list": [1, float("-inf")]}}, "deep"),
    (["sessionId", "s"], "JSON object"),
    ("a string", "JSON object"),
    (42, "JSON object"),
    (None, "JSON object"),
    ({"sessionId": "../etc/passwd", "updatedAt": 1}, "sessionId"),
    ({"sessionId": "a/b", "updatedAt": 1}, "sessionId"),
    ({"sessionId": "", "updatedAt": 1}, "sessionId"),
    ({"updatedAt": 1}, "sessionId"),
    ({"sessionId": "s", "updatedAt": True}, "updatedAt"),
    ({"sessionId": "s", "updatedAt": 1, "label": "nul\x00"}, "label"),
    ({"sessionId": "s", "updatedAt": 1, "note": "nul\x00"}, "note"),
    ({"sessionId": "s", "updatedAt": 1, "blob": "x" * 70_000}, "max_entry_bytes"),
]


@pytest.mark.parametrize(("bad", "named"), BAD_ENTRIES)
def test_bad_entries_are_refused_and_change_nothing(
    make_store: StoreFactory, bad: Any, named: str
) -> None:
    store = make_store(max_entry_bytes=64_000)
    version = store.put(KEY, entry(label="kept"))
    writes: list[Callable[[], object]] = [
        lambda: store.put(KEY, bad),
        lambda: store.put("agent:main:new", bad),
        lambda: store.put_many([("agent:main:new", entry()), (KEY, bad)]),
    ]
    if bad is not None:  # None from an update function means "no change"
        writes.append(lambda: store.update(KEY, lambda current: bad))
    for write in writes:
        with pytest.raises(InvalidEntryError, match=named):
            write()
    assert store.get(KEY) == entry(label="kept")
    assert store.version(KEY) == version
    assert store.count() == 1


# -- versions: every write yields a version never seen before for that key ------------


def test_rewriting_an_earlier_entry_yields_a_new_version(store: SessionStore) -> None:
    first = store.put(KEY, entry(label="a"))
    second = store.put(KEY, entry(label="b"))
    third = store.put(KEY, entry(label="a"))  # the first entry again
    assert third not in (first, second)
    assert store.version(KEY) == third


def test_put_after_delete_yields_a_new_version(store: SessionStore) -> None:
    seen = [store.put(KEY, entry(label="a")), store.put(KEY, entry(label="b"))]
    assert store.delete(KEY) is True
    again = store.put(KEY, entry(label="a"))  # as first written, after the delete
    assert again not in seen
    assert store.version(KEY) == again


def test_patch_yields_a_new_version_on_every_write(store: SessionStore) -> None:
    seen = [store.put(KEY, entry(label="a"))]
    for label in ("b", "a", "b"):  # back and forth: the same entries again
        store.patch(KEY, {"label": label}, preserve_activity=True, now_ms=T0)
        assert store.version(KEY) not in seen
        seen.append(store.version(KEY))
    assert store.get(KEY) == entry(label="b")


def replaced_by(new: SessionEntry) -> Updater:
    """An update function that stores ``new`` whatever is there."""
    return lambda current: new


def test_update_yields_a_new_version_on_every_write(store: SessionStore) -> None:
    seen: list[int] = []
    for label in ("a", "b", "a", "b"):  # back and forth: the same entries again
        store.update(KEY, replaced_by(entry(label=label)))
        assert store.version(KEY) not in seen
        seen.append(store.version(KEY))
    assert store.get(KEY) == entry(label="b")

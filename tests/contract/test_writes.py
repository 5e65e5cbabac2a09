"""The contract, writes: compare-and-set, patch, update, delete, put_many (also as one
unit with deletes and expected versions)."""

from __future__ import annotations

from typing import Any

import pytest

from sessionstore import (
    MAX_PAGE_SIZE,
    InvalidArgumentError,
    InvalidEntryError,
    SessionEntry,
    SessionStore,
    StaleEntryError,
)
from sessionstore.openclaw.merge import now_ms
from tests.conftest import StoreFactory
from tests.contract.helpers import KEY, T0, entry, increment, keys_of

# -- compare-and-set ----------------------------------------------------------------


def test_expected_version_matching_writes(store: SessionStore) -> None:
    version = store.put(KEY, entry())
    new_version = store.put(KEY, entry(label="b"), expected_version=version)
    assert store.version(KEY) == new_version != version
    assert store.get(KEY) == entry(label="b")


def test_stale_version_raises_with_the_current_one(store: SessionStore) -> None:
    old = store.put(KEY, entry(label="a"))
    current = store.put(KEY, entry(label="b"))
    with pytest.raises(StaleEntryError) as info:
        store.put(KEY, entry(label="lost"), expected_version=old)
    assert info.value.current_version == current
    assert info.value.expected_version == old
    assert store.get(KEY) == entry(label="b")


def test_expected_version_zero_means_create_only(store: SessionStore) -> None:
    store.put(KEY, entry(label="first"), expected_version=0)
    with pytest.raises(StaleEntryError) as info:
        store.put(KEY, entry(label="second"), expected_version=0)
    assert info.value.current_version == store.version(KEY)
    assert store.get(KEY) == entry(label="first")


def test_expected_version_on_missing_entry_is_stale(store: SessionStore) -> None:
    with pytest.raises(StaleEntryError) as info:
        store.put(KEY, entry(), expected_version=3)
    assert info.value.current_version == 0
    assert store.get(KEY) is None


# -- patch --------------------------------------------------------------------------


def test_patch_merges_and_touches_updated_at(store: SessionStore) -> None:
    store.put(KEY, entry(label="a", channel="telegram", custom={"k": 1}))
    now = T0 + 60_000
    patched = store.patch(KEY, {"label": "Inbox", "thinkingLevel": "high"}, now_ms=now)
    assert patched.label == "Inbox"
    assert patched.channel == "telegram"
    assert patched.model_extra == {"custom": {"k": 1}, "thinkingLevel": "high"}
    assert patched.updated_at == now
    assert store.get(KEY) == patched


def test_patch_clamps_a_future_updated_at_to_now(store: SessionStore) -> None:
    store.put(KEY, entry())
    now = T0 + 1_000
    assert store.patch(KEY, {"updatedAt": now + 10**9}, now_ms=now).updated_at == now


def test_patch_can_preserve_activity(store: SessionStore) -> None:
    store.put(KEY, entry(updated_at=T0))
    patched = store.patch(KEY, {"label": "x"}, preserve_activity=True, now_ms=T0 + 5_000)
    assert patched.updated_at == T0


def test_patch_defaults_to_the_real_clock(store: SessionStore) -> None:
    store.put(KEY, entry(updated_at=T0))
    before = now_ms()
    patched = store.patch(KEY, {"label": "x"})
    assert before <= patched.updated_at <= now_ms()


def test_patch_model_without_provider_clears_a_stale_provider(store: SessionStore) -> None:
    store.put(KEY, entry(model="old", modelProvider="anthropic"))
    patched = store.patch(KEY, {"model": "gpt-x"}, now_ms=T0 + 1)
    assert patched.model == "gpt-x"
    assert patched.model_provider is None
    assert "modelProvider" not in patched.to_dict()
    both = store.patch(KEY, {"model": "m2", "modelProvider": "openai"}, now_ms=T0 + 2)
    assert (both.model, both.model_provider) == ("m2", "openai")


def test_patch_accepts_python_names(store: SessionStore) -> None:
    store.put(KEY, entry())
    patched = store.patch(KEY, {"display_name": "discord:#general"}, now_ms=T0 + 1)
    assert patched.to_dict()["displayName"] == "discord:#general"


def test_patch_creates_a_missing_entry_with_a_new_session_id(store: SessionStore) -> None:
    created = store.patch(KEY, {"label": "new"}, now_ms=T0)
    assert created.label == "new"
    assert len(created.session_id) == 36
    assert store.get(KEY) == created


def test_invalid_patch_leaves_the_entry_unchanged(store: SessionStore) -> None:
    store.put(KEY, entry(label="safe"))
    version = store.version(KEY)
    with pytest.raises(InvalidEntryError, match="sessionId"):
        store.patch(KEY, {"sessionId": "../etc/passwd"})
    with pytest.raises(InvalidEntryError, match="totalTokens"):
        store.patch(KEY, {"totalTokens": "many"})
    assert store.get(KEY) == entry(label="safe")
    assert store.version(KEY) == version


def test_bad_patches_change_nothing(store: SessionStore) -> None:
    version = store.put(KEY, entry(label="kept", cost=1, notes={"a": 1}))
    bad_patches: list[tuple[dict[str, Any], str]] = [
        ({"updatedAt": "soon", "sessionId": "../x"}, "sessionId"),
        ({"lastThreadId": 1.5}, "lastThreadId"),
        ({"cost": float("nan")}, "cost"),  # an unknown field the entry has
        ({"notes": {"a": "\x00"}}, "notes.a"),
    ]
    for patch, named in bad_patches:
        with pytest.raises(InvalidEntryError, match=named):
            store.patch(KEY, patch)
    assert store.version(KEY) == version


# -- update -------------------------------------------------------------------------


def test_update_reads_modifies_and_writes(store: SessionStore) -> None:
    for _ in range(5):
        store.update(KEY, increment)
    stored = store.get(KEY)
    assert stored is not None and stored.total_tokens == 5


def test_update_returning_none_changes_nothing(store: SessionStore) -> None:
    version = store.put(KEY, entry(label="a"))
    assert store.update(KEY, lambda current: None) == entry(label="a")
    assert store.version(KEY) == version
    assert store.update("agent:main:absent", lambda current: None) is None
    assert store.get("agent:main:absent") is None


def test_update_sees_none_for_a_missing_entry(store: SessionStore) -> None:
    seen: list[SessionEntry | None] = []

    def create(current: SessionEntry | None) -> SessionEntry:
        seen.append(current)
        return entry(label="made")

    assert store.update(KEY, create) == entry(label="made")
    assert seen == [None]


def test_failing_update_leaves_the_store_unchanged(store: SessionStore) -> None:
    store.put(KEY, entry(label="before"))

    def boom(current: SessionEntry | None) -> SessionEntry:
        raise RuntimeError("caller bug")

    with pytest.raises(RuntimeError, match="caller bug"):
        store.update(KEY, boom)
    assert store.get(KEY) == entry(label="before")
    store.update(KEY, increment)  # the store is still usable
    assert store.get(KEY).total_tokens == 1  # type: ignore[union-attr]


# -- delete -------------------------------------------------------------------------


def test_delete(store: SessionStore) -> None:
    store.put(KEY, entry())
    store.put("agent:main:other", entry(session_id="s-2"))
    assert store.delete(KEY) is True
    assert store.delete(KEY) is False
    assert store.get(KEY) is None
    assert store.version(KEY) == 0
    assert store.count() == 1


def test_delete_many_removes_only_the_keys_given(store: SessionStore) -> None:
    store.put_many((f"agent:main:k{i:04d}", entry(session_id=f"s-{i}")) for i in range(1200))
    doomed = [f"agent:main:k{i:04d}" for i in range(0, 1200, 2)]
    assert store.delete_many([*doomed, "agent:main:absent", doomed[0]]) == 600
    assert store.count() == 600
    assert store.get(doomed[0]) is None and store.get("agent:main:k0001") is not None
    assert store.delete_many([]) == 0
    with pytest.raises(InvalidEntryError):
        store.delete_many(["agent:main:k0001", ""])
    assert store.count() == 600  # a bad key anywhere: nothing removed


def test_delete_many_spares_entries_touched_since(store: SessionStore) -> None:
    store.put("agent:main:old", entry(updated_at=T0))
    store.put("agent:main:touched", entry(updated_at=T0 + 5_000))
    removed = store.delete_many(["agent:main:old", "agent:main:touched"], updated_before=T0 + 1)
    assert removed == 1
    assert keys_of(store) == ["agent:main:touched"]


# -- iter_entries and put_many ------------------------------------------------------


def test_put_many_upserts_and_iter_entries_streams_in_key_order(store: SessionStore) -> None:
    store.put("k05", entry(label="old"))
    written = store.put_many(((f"k{n:02}", entry(label=f"n{n}")) for n in range(10)), batch_size=3)
    assert written == 10
    assert store.count() == 10
    streamed = list(store.iter_entries(batch_size=4))
    assert [key for key, _ in streamed] == [f"k{n:02}" for n in range(10)]
    assert dict(streamed)["k05"] == entry(label="n5")


def test_iter_entries_of_an_empty_store(store: SessionStore) -> None:
    assert list(store.iter_entries()) == []


def test_bad_batch_sizes_are_refused(store: SessionStore) -> None:
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        list(store.iter_entries(batch_size=0))
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        store.put_many([], batch_size=MAX_PAGE_SIZE + 1)


# -- put_many as one unit: deletes and expected versions ----------------------------


def test_iter_entries_with_versions_reports_what_get_with_version_does(
    store: SessionStore,
) -> None:
    store.put_many((f"k{n:02}", entry(label=f"n{n}")) for n in range(7))
    store.patch("k03", {"label": "changed"}, now_ms=T0)
    streamed = list(store.iter_entries_with_versions(batch_size=3))
    assert [key for key, _, _ in streamed] == [key for key, _ in store.iter_entries()]
    for key, got, version in streamed:
        assert (got, version) == store.get_with_version(key)
    assert list(store.iter_entries_with_versions()) == list(streamed)
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        list(store.iter_entries_with_versions(batch_size=0))


def test_put_many_deletes_and_writes_in_one_unit(store: SessionStore) -> None:
    store.put_many([("agent:main:old", entry(label="old")), ("agent:main:kept", entry())])
    written = store.put_many(
        [("agent:main:new", entry(label="new"))], delete=["agent:main:old", "agent:main:absent"]
    )
    assert written == 1
    assert keys_of(store, order="asc") == ["agent:main:kept", "agent:main:new"]
    with pytest.raises(InvalidArgumentError, match="both written and deleted"):
        store.put_many([("agent:main:kept", entry(label="x"))], delete=["agent:main:kept"])
    assert store.get("agent:main:kept") == entry()


def test_put_many_with_matching_expected_versions_writes_and_deletes(
    store: SessionStore,
) -> None:
    a = store.put("agent:main:a", entry(label="a"))
    b = store.put("agent:main:b", entry(label="b"))
    written = store.put_many(
        [("agent:main:a", entry(label="a2")), ("agent:main:c", entry(label="c"))],
        delete=["agent:main:b"],
        expected_versions={"agent:main:a": a, "agent:main:b": b, "agent:main:c": 0},
    )
    assert written == 2
    assert dict(store.iter_entries()) == {
        "agent:main:a": entry(label="a2"),
        "agent:main:c": entry(label="c"),
    }
    assert store.version("agent:main:a") not in (0, a)


def test_put_many_conflict_with_a_second_writer_writes_nothing(
    make_store: StoreFactory,
) -> None:
    """A planner reads versions, a second writer changes one key and creates another
    the planner expects absent: the unit fails naming the first conflict and nothing
    of it lands, neither its writes nor its deletes."""
    planner, other = make_store(), make_store()
    planner.put_many([(f"agent:main:k{n}", entry(label=f"v{n}")) for n in range(3)])
    seen = {key: version for key, _, version in planner.iter_entries_with_versions()}
    other.patch("agent:main:k1", {"label": "live write"}, now_ms=T0 + 1)
    before = list(planner.iter_entries_with_versions())
    with pytest.raises(StaleEntryError) as info:
        planner.put_many(
            [("agent:main:k1", entry(label="old")), ("agent:main:k3", entry(label="new"))],
            delete=["agent:main:k0"],
            expected_versions={**seen, "agent:main:k3": 0},
        )
    assert (info.value.key, info.value.expected_version) == ("agent:main:k1", seen["agent:main:k1"])
    assert info.value.current_version == other.version("agent:main:k1")
    assert list(planner.iter_entries_with_versions()) == before

    other.put("agent:main:k3", entry(label="created by the other writer"))
    with pytest.raises(StaleEntryError) as created:
        planner.put_many(
            [("agent:main:k3", entry(label="planner"))], expected_versions={"agent:main:k3": 0}
        )
    assert created.value.current_version == other.version("agent:main:k3") != 0
    with pytest.raises(StaleEntryError):  # a key to delete that is at another version
        planner.put_many([], delete=["agent:main:k3"], expected_versions={"agent:main:k3": 0})
    assert planner.get("agent:main:k3") == entry(label="created by the other writer")
    assert planner.get("agent:main:k0") == entry(label="v0")


def test_put_many_expected_absent_refuses_a_racing_creator(make_store: StoreFactory) -> None:
    """The key is created between the planner's read and its write, by another store
    object: the expected-absent item is a conflict, never an overwrite."""
    planner, other = make_store(), make_store()
    assert planner.get_with_version(KEY) == (None, 0)
    created = other.put(KEY, entry(label="live"))
    items = [(KEY, entry(label="stale plan")), ("agent:main:x", entry())]
    with pytest.raises(StaleEntryError) as info:
        planner.put_many(iter(items), expected_versions={KEY: 0, "agent:main:x": 0})
    assert (info.value.key, info.value.current_version) == (KEY, created)
    assert other.get(KEY) == entry(label="live")
    assert other.get("agent:main:x") is None


def test_put_many_refuses_bad_expected_versions(store: SessionStore) -> None:
    for bad in (-1, "1", True, 1.0):
        with pytest.raises(InvalidArgumentError, match="expected version"):
            store.put_many([(KEY, entry())], expected_versions={KEY: bad})  # type: ignore[dict-item]
    assert store.get(KEY) is None

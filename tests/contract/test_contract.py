"""The one contract suite: every backend (JSON twin, SQLite, PostgreSQL, MySQL/MariaDB)
passes these tests unchanged."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
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

KEY = "agent:main:main"
T0 = 1_774_962_000_000


def entry(session_id: str = "s-1", updated_at: int = T0, **fields: Any) -> SessionEntry:
    return SessionEntry.from_dict({"sessionId": session_id, "updatedAt": updated_at, **fields})


def keys_of(store: SessionStore, **query: Any) -> list[str]:
    """Every key of a listing, following cursors to the end."""
    keys: list[str] = []
    cursor = None
    while True:
        page = store.list(cursor=cursor, **query)
        keys += [item.key for item in page.items]
        if page.next_cursor is None:
            return keys
        cursor = page.next_cursor


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


# -- update -------------------------------------------------------------------------


def _increment(current: SessionEntry | None) -> SessionEntry:
    if current is None:
        return entry(totalTokens=1)
    return current.with_fields(total_tokens=(current.total_tokens or 0) + 1)


def test_update_reads_modifies_and_writes(store: SessionStore) -> None:
    for _ in range(5):
        store.update(KEY, _increment)
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
    store.update(KEY, _increment)  # the store is still usable
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


# -- list and count -----------------------------------------------------------------


def _populate(store: SessionStore) -> None:
    rows = [
        ("agent:main:main", T0 + 9, {"channel": "telegram", "chatType": "direct"}),
        (
            "agent:main:telegram:group:1",
            T0 + 8,
            {"channel": "telegram", "chatType": "group", "label": "Family"},
        ),
        (
            "agent:main:discord:channel:2",
            T0 + 7,
            {"channel": "discord", "chatType": "channel", "label": "fam_100%"},
        ),
        ("agent:main:subagent:a", T0 + 6, {"spawnedBy": "agent:main:main", "status": "running"}),
        ("agent:main:subagent:b", T0 + 6, {"spawnedBy": "agent:main:main", "status": "done"}),
        ("agent:main:cron:x", T0 + 5, {"archivedAt": T0, "label": "famX"}),
        ("agent:main:slack:direct:u", T0 + 4, {"channel": "slack", "label": "Fa"}),
    ]
    store.put_many(
        (key, entry(session_id=f"s-{n}", updated_at=at, **fields))
        for n, (key, at, fields) in enumerate(rows)
    )


def test_list_orders_by_updated_at_then_key(store: SessionStore) -> None:
    _populate(store)
    expected = [
        "agent:main:main",
        "agent:main:telegram:group:1",
        "agent:main:discord:channel:2",
        "agent:main:subagent:b",
        "agent:main:subagent:a",
        "agent:main:cron:x",
        "agent:main:slack:direct:u",
    ]
    assert keys_of(store) == expected
    assert keys_of(store, order="asc") == expected[::-1]
    assert keys_of(store, limit=2) == expected
    assert keys_of(store, limit=2, order="asc") == expected[::-1]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"channel": "telegram"}, ["agent:main:main", "agent:main:telegram:group:1"]),
        ({"chat_type": "group"}, ["agent:main:telegram:group:1"]),
        ({"status": "running"}, ["agent:main:subagent:a"]),
        ({"archived": True}, ["agent:main:cron:x"]),
        ({"spawned_by": "agent:main:main"}, ["agent:main:subagent:b", "agent:main:subagent:a"]),
        ({"label_prefix": "Fa"}, ["agent:main:telegram:group:1", "agent:main:slack:direct:u"]),
        ({"label_prefix": "fam_"}, ["agent:main:discord:channel:2"]),
        ({"label_prefix": "fam_100%"}, ["agent:main:discord:channel:2"]),
        ({"label_prefix": "fa%"}, []),
        ({"label_prefix": "f_m"}, []),
        ({"label_prefix": "fa"}, ["agent:main:discord:channel:2", "agent:main:cron:x"]),
        ({"updated_after": T0 + 7}, ["agent:main:main", "agent:main:telegram:group:1"]),
        ({"updated_before": T0 + 5}, ["agent:main:slack:direct:u"]),
        (
            {"updated_after": T0 + 5, "updated_before": T0 + 7},
            ["agent:main:subagent:b", "agent:main:subagent:a"],
        ),
        ({"channel": "telegram", "chat_type": "direct"}, ["agent:main:main"]),
        ({"channel": "Telegram"}, []),
        ({"channel": "nowhere"}, []),
        ({"channel": "' OR 1=1 --"}, []),
    ],
)
def test_filters(store: SessionStore, query: dict[str, Any], expected: list[str]) -> None:
    _populate(store)
    assert keys_of(store, **query) == expected
    assert store.count(**query) == len(expected)


def test_archived_false_excludes_archived(store: SessionStore) -> None:
    _populate(store)
    keys = keys_of(store, archived=False)
    assert "agent:main:cron:x" not in keys
    assert len(keys) == store.count(archived=False) == store.count() - 1


def test_summaries_carry_the_index_columns(store: SessionStore) -> None:
    store.put(
        KEY,
        entry(
            channel="telegram",
            lastChannel="telegram",
            lastTo="telegram:1",
            lastAccountId="default",
            lastThreadId=7,
            label="L",
            displayName="D",
            status="s",
            chatType="direct",
            model="m",
            modelProvider="p",
            totalTokens=30,
            inputTokens=10,
            outputTokens=20,
            messageCount=4,
            archivedAt=T0,
            spawnedBy="parent",
            sessionStartedAt=T0 - 5,
            skillsSnapshot={"prompt": "x"},
        ),
    )
    item = store.list().items[0]
    assert item.model_dump() == {
        "key": KEY,
        "session_id": "s-1",
        "updated_at": T0,
        "created_at": T0 - 5,
        "channel": "telegram",
        "last_channel": "telegram",
        "last_to": "telegram:1",
        "last_account_id": "default",
        "last_thread_id": "7",
        "label": "L",
        "display_name": "D",
        "status": "s",
        "chat_type": "direct",
        "model": "m",
        "model_provider": "p",
        "total_tokens": 30,
        "input_tokens": 10,
        "output_tokens": 20,
        "message_count": 4,
        "archived": True,
        "spawned_by": "parent",
    }


def test_default_page_is_50_and_limits_are_checked(store: SessionStore) -> None:
    store.put_many((f"k{n:03}", entry(updated_at=T0 + n)) for n in range(120))
    page = store.list()
    assert len(page.items) == 50 and page.next_cursor is not None
    assert len(store.list(limit=MAX_PAGE_SIZE).items) == 120
    for bad in (0, -1, MAX_PAGE_SIZE + 1):
        with pytest.raises(InvalidArgumentError):
            store.list(limit=bad)


def test_last_page_has_no_cursor(store: SessionStore) -> None:
    store.put_many((f"k{n}", entry(updated_at=T0 + n)) for n in range(4))
    assert store.list(limit=4).next_cursor is None
    page = store.list(limit=3)
    assert len(store.list(limit=3, cursor=page.next_cursor).items) == 1


def test_invalid_cursor_is_refused(store: SessionStore) -> None:
    for bad in ("not-a-cursor", "W10", "WyJ4IiwgMV0"):
        with pytest.raises(InvalidArgumentError, match="cursor"):
            store.list(cursor=bad)


def test_pagination_is_stable_while_rows_are_inserted(store: SessionStore) -> None:
    store.put_many((f"agent:main:k{n:03}", entry(updated_at=T0 + n % 10)) for n in range(60))
    expected = keys_of(store)
    seen: list[str] = []
    cursor = None
    inserted = 0
    while True:
        page = store.list(limit=7, cursor=cursor)
        seen += [item.key for item in page.items]
        # newer rows arrive while the caller pages: they belong before the cursor
        store.put(f"agent:main:new{inserted}", entry(updated_at=T0 + 100 + inserted))
        inserted += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == expected
    assert store.count() == 60 + inserted


def test_count_without_filters(store: SessionStore) -> None:
    assert store.count() == 0
    _populate(store)
    assert store.count() == 7


def test_filter_by_session_id(store: SessionStore) -> None:
    store.put("agent:main:a", entry(session_id="shared"))
    store.put("agent:main:b", entry(session_id="shared", updated_at=T0 + 1))
    store.put("agent:main:c", entry(session_id="other"))
    assert store.count(session_id="shared") == 2
    assert keys_of(store, session_id="shared") == ["agent:main:b", "agent:main:a"]


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


# -- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize("bad_key", ["", "   ", "a\x00b", "k" * 1025, "é" * 513, "\ud800"])
def test_bad_keys_are_refused_and_change_nothing(store: SessionStore, bad_key: str) -> None:
    with pytest.raises(InvalidEntryError, match="key"):
        store.put(bad_key, entry())
    with pytest.raises(InvalidEntryError, match="key"):
        store.get(bad_key)
    assert store.count() == 0


def test_longest_key_is_accepted(store: SessionStore) -> None:
    key = "k" * 1000 + "é" * 12
    store.put(key, entry())
    assert store.get(key) == entry()


# -- concurrency (threads here; processes in the reliability suite) -------------------


def test_concurrent_updates_lose_nothing(make_store: StoreFactory) -> None:
    stores = [make_store() for _ in range(4)]
    rounds = 25

    def work(store: SessionStore) -> None:
        for _ in range(rounds):
            store.update(KEY, _increment)

    with ThreadPoolExecutor(len(stores)) as pool:
        list(pool.map(work, stores))
    final = stores[0].get(KEY)
    assert final is not None
    assert final.total_tokens == len(stores) * rounds


def test_concurrent_compare_and_set_has_one_winner(make_store: StoreFactory) -> None:
    stores = [make_store() for _ in range(4)]
    version = stores[0].put(KEY, entry(label="start"))
    barrier = threading.Barrier(len(stores))

    def attempt(n: int) -> int | None:
        """None if this writer won, else the current version it was told about."""
        barrier.wait()
        try:
            stores[n].put(KEY, entry(label=f"writer {n}"), expected_version=version)
        except StaleEntryError as exc:
            return exc.current_version
        return None

    with ThreadPoolExecutor(len(stores)) as pool:
        results = list(pool.map(attempt, range(len(stores))))
    assert results.count(None) == 1
    winner = results.index(None)
    assert all(current not in (None, version) for n, current in enumerate(results) if n != winner)
    assert stores[0].get(KEY) == entry(label=f"writer {winner}")


def test_get_with_version_reads_both_together(store: SessionStore) -> None:
    assert store.get_with_version(KEY) == (None, 0)
    version = store.put(KEY, entry(label="a"))
    assert store.get_with_version(KEY) == (entry(label="a"), version)
    _, seen = store.get_with_version(KEY)
    store.put(KEY, entry(label="b"), expected_version=seen)
    assert store.get_with_version(KEY)[0] == entry(label="b")


@pytest.mark.parametrize(
    "query",
    [
        {"order": "DESC"},
        {"channel": 5},
        {"archived": "yes"},
        {"updated_after": "1"},
        {"updated_before": 1.5},
        {"label_prefix": "a\x00"},
    ],
)
def test_bad_listing_arguments_are_refused(store: SessionStore, query: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError):
        store.list(**query)
    if "order" not in query:
        with pytest.raises(InvalidArgumentError):
            store.count(**query)


def test_bad_batch_sizes_are_refused(store: SessionStore) -> None:
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        list(store.iter_entries(batch_size=0))
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        store.put_many([], batch_size=MAX_PAGE_SIZE + 1)


def test_options_of_other_backends_are_ignored(make_store: StoreFactory) -> None:
    store = make_store(lock_timeout=1.5, engine_options={"echo": False})
    store.put(KEY, entry())
    assert store.count() == 1


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
    ({"sessionId": "s", "updatedAt": -1}, "updatedAt"),
    ({"sessionId": "s", "updatedAt": 10**16}, "updatedAt"),
    ({"sessionId": "s", "updatedAt": 1.5}, "updatedAt"),
    ({"sessionId": "s", "updatedAt": True}, "updatedAt"),
    ({"sessionId": "s", "updatedAt": 1, "archivedAt": -5}, "archivedAt"),
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
    writes = [
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


def test_bad_patches_change_nothing(store: SessionStore) -> None:
    version = store.put(KEY, entry(label="kept"))
    for patch, named in [
        ({"updatedAt": "soon", "sessionId": "../x"}, "sessionId"),
        ({"lastThreadId": 1.5}, "lastThreadId"),
        ({"cost": float("nan")}, "cost"),
    ]:
        with pytest.raises(InvalidEntryError, match=named):
            store.patch(KEY, patch)
    assert store.version(KEY) == version

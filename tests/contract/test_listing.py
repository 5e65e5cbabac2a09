"""The contract, listing: order, filters, counts, summaries, pages and cursors."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from sessionstore import MAX_PAGE_SIZE, InvalidArgumentError, SessionStore
from tests.contract.helpers import KEY, T0, entry, keys_of


def _populate(store: SessionStore) -> None:
    rows: list[tuple[str, int, dict[str, Any]]] = [
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


_PREFIXED_KEYS = [
    "agent:main:adk:app%1:u",
    "agent:main:adk:app%1:u:x",
    "agent:main:adk:app_1:u",
    "agent:main:adk:appX1:u",
    "agent:main:adk:App%1:u",
    "agent:main:adk:app\\1:u",
    "agent:main:adk:app%10:u",
    "agent:main:adk:café:u",
    "agent:main:adk:cafe:u",
    "agent:main:adk:caf\u00e9\u00e9:u",
    "agent:main:adk:日本:u",
    "agent:main:adk:日本語:u",
    "agent:main:adk:\U0001f600:u",
    "agent:main:adl",
]


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("agent:main:adk:app%1:", ["agent:main:adk:app%1:u", "agent:main:adk:app%1:u:x"]),
        ("agent:main:adk:app%1:u:", ["agent:main:adk:app%1:u:x"]),
        ("agent:main:adk:app_1", ["agent:main:adk:app_1:u"]),
        ("agent:main:adk:app\\", ["agent:main:adk:app\\1:u"]),
        ("agent:main:adk:App", ["agent:main:adk:App%1:u"]),
        ("agent:main:adk:APP", []),
        (
            "agent:main:adk:caf",
            [
                "agent:main:adk:cafe:u",
                "agent:main:adk:café:u",
                "agent:main:adk:caf\u00e9\u00e9:u",
            ],
        ),
        ("agent:main:adk:café:", ["agent:main:adk:café:u"]),
        ("agent:main:adk:日本", ["agent:main:adk:日本:u", "agent:main:adk:日本語:u"]),
        ("agent:main:adk:日本:", ["agent:main:adk:日本:u"]),
        ("agent:main:adk:\U0001f600", ["agent:main:adk:\U0001f600:u"]),
        ("agent:main:adk:%", []),
        ("agent:main:adk:_", []),
        ("agent:main:adk:app%1:u:x", ["agent:main:adk:app%1:u:x"]),
        ("agent:main:adk:app%1:u:x:", []),
        ("", sorted(_PREFIXED_KEYS)),
    ],
)
def test_key_prefix_is_a_literal_case_sensitive_prefix(
    store: SessionStore, prefix: str, expected: list[str]
) -> None:
    store.put_many((key, entry(session_id=f"s-{n}")) for n, key in enumerate(_PREFIXED_KEYS))
    # one updated_at for all: the listing order falls back to the keys, by code point
    listed = [s.key for s in store.list(key_prefix=prefix, order="asc", limit=1000).items]
    assert listed == sorted(expected)
    assert store.count(key_prefix=prefix) == len(expected)
    # paged, in both orders, and with another filter beside it
    assert keys_of(store, key_prefix=prefix, limit=2, order="asc") == sorted(expected)
    assert keys_of(store, key_prefix=prefix, limit=2) == sorted(expected, reverse=True)
    assert store.count(key_prefix=prefix, channel="nowhere") == 0


def test_key_prefix_goes_with_the_other_filters(store: SessionStore) -> None:
    _populate(store)
    assert keys_of(store, key_prefix="agent:main:subagent:") == [
        "agent:main:subagent:b",
        "agent:main:subagent:a",
    ]
    assert keys_of(store, key_prefix="agent:main:subagent:", status="done") == [
        "agent:main:subagent:b"
    ]
    assert store.count(key_prefix="agent:main:s") == 3
    assert store.count(key_prefix="agent:main:s", updated_before=T0 + 5) == 1


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


# -- pages and cursors --------------------------------------------------------------


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


@pytest.mark.parametrize(
    "position",
    [[True, "k"], [1, "a\u0000b"], [2**64, "k"], [1.5, "k"], [1, 2]],
    ids=["bool", "nul-in-key", "over-64-bits", "float", "key-not-text"],
)
def test_a_well_formed_cursor_with_values_no_column_holds_is_refused(
    store: SessionStore, position: list[object]
) -> None:
    # Such values used to reach PostgreSQL and come back as database errors.
    store.put("k", entry())
    forged = base64.urlsafe_b64encode(json.dumps(position).encode()).decode()
    with pytest.raises(InvalidArgumentError, match="invalid cursor"):
        store.list(cursor=forged)


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


@pytest.mark.parametrize(
    "query",
    [
        {"order": "DESC"},
        {"channel": 5},
        {"archived": "yes"},
        {"updated_after": "1"},
        {"updated_before": 1.5},
        {"label_prefix": "a\x00"},
        {"key_prefix": 5},
        {"key_prefix": "agent:\x00"},
    ],
)
def test_bad_listing_arguments_are_refused(store: SessionStore, query: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError):
        store.list(**query)
    if "order" not in query:
        with pytest.raises(InvalidArgumentError):
            store.count(**query)

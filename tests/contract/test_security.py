"""The contract, security: filter values are data, never SQL, on every backend."""

from __future__ import annotations

from sessionstore import SessionEntry, SessionStore

HOSTILE = [
    "x' OR '1'='1",
    "'; DROP TABLE sessions; --",
    '" OR ""="',
    "%",
    "_",
    "50%_off",
    "back\\slash",
    "\\%",
    "tele%",
    "[a-z]*",
    "ǅ Unicode ǆ",
]


def test_hostile_filter_values_match_literally(store: SessionStore) -> None:
    keys = {value: f"agent:main:k{n}" for n, value in enumerate(HOSTILE)}
    for value, key in keys.items():
        store.put(
            key,
            SessionEntry.from_dict(
                {
                    "sessionId": "s",
                    "updatedAt": 1,
                    "channel": value,
                    "label": value,
                    "status": value,
                }
            ),
        )
    store.put("agent:main:plain", SessionEntry(session_id="s", updated_at=1, channel="telegram"))
    for value, key in keys.items():
        assert [item.key for item in store.list(channel=value).items] == [key]
        assert store.count(status=value) == 1
        expected = sorted(k for v, k in keys.items() if v.startswith(value))
        assert sorted(item.key for item in store.list(label_prefix=value).items) == expected
    assert store.count() == len(HOSTILE) + 1  # nothing was dropped or altered


def test_hostile_key_prefixes_match_literally(store: SessionStore) -> None:
    keys = [f"agent:main:{value}" for value in HOSTILE]
    store.put_many((key, SessionEntry(session_id="s", updated_at=1)) for key in keys)
    store.put("agent:main:plain", SessionEntry(session_id="s", updated_at=1))
    for value in HOSTILE:
        prefix = f"agent:main:{value}"
        expected = sorted(k for k in keys if k.startswith(prefix))
        assert sorted(item.key for item in store.list(key_prefix=prefix).items) == expected
        assert store.count(key_prefix=prefix) == len(expected)
    assert store.count() == len(HOSTILE) + 1

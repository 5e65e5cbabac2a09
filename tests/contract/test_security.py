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

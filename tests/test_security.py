"""Filter values are data, never SQL; passwords never leak into messages or logs."""

from __future__ import annotations

import logging

import pytest

from sessionstore import SessionEntry, SessionStore, StoreUnavailableError, open_store

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


def test_passwords_stay_out_of_errors_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    secret = "pa55-w0rd-9f3a"
    url = f"postgresql+psycopg://admin:{secret}@127.0.0.1:1/sessions"
    with caplog.at_level(logging.DEBUG), pytest.raises(StoreUnavailableError) as info:
        open_store(url)
    shown = [str(info.value), repr(info.value), caplog.text]
    assert all(secret not in text for text in shown)
    assert "admin:***@127.0.0.1:1" in str(info.value)

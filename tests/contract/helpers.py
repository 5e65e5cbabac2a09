"""What the contract tests share: a key, a time, entries and listings."""

from __future__ import annotations

from typing import Any

from sessionstore import SessionEntry, SessionStore
from sessionstore.lifecycle import DAY_MS

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


def increment(current: SessionEntry | None) -> SessionEntry:
    """An update function: one more token (the first entry has one)."""
    if current is None:
        return entry(totalTokens=1)
    return current.with_fields(total_tokens=(current.total_tokens or 0) + 1)


# -- lifecycle: keys cleanup must keep, and keys it may remove ---------------------

NOW = 1_774_962_000_000
OLD = NOW - 40 * DAY_MS  # older than the 30-day default
PROTECTED: dict[str, dict[str, Any]] = {
    "agent:main:main": {},
    "global": {},
    "agent:main:telegram:group:-100:topic:42": {},
    "agent:main:slack:channel:c1:thread:1.2": {},
    "agent:main:discord:channel:99": {},
    "agent:main:whatsapp:direct:+1": {"archivedAt": NOW - DAY_MS},
    "agent:main:webchat:direct:chat-kind": {"chatType": "group"},
}
DISPOSABLE = ["agent:main:cron:nightly", "agent:main:subagent:s1", "agent:main:telegram:direct:7"]

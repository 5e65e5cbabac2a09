"""The OpenAI Agents SDK's ``Session`` over sessionstore's transcripts (extra
``sessionstore[openai-agents]``; docs/integrations.md).

One SDK session is one entry of the store, key ``openai-agents:<session_id>``, created
by the first :meth:`SessionStoreSession.add_items`; each item is one event of its
transcript. A message item (``role`` and content) is a ``message`` event, with its role
and its text as OpenClaw writes them, so the entry's ``messageCount`` and full-text
search see it; any other item (tool calls and their output, reasoning...) is a
``custom`` event. Either way the item itself is kept verbatim in the event's
``openaiItem`` field, and :meth:`~SessionStoreSession.get_items` returns exactly what
was added. Every operation is one call of the async API, so concurrency, retries and
durability are the store's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self, cast

from agents.items import TResponseInputItem
from agents.memory import Session, SessionSettings
from agents.memory.session_settings import coerce_session_settings, resolve_session_limit

from sessionstore.asyncstore import AsyncSessionStore
from sessionstore.errors import InvalidArgumentError
from sessionstore.integrations._history import (
    ActivityMarks,
    StoreOwner,
    append_creating,
    check_last,
    forget,
    last_events,
    open_owned,
)

__all__ = ["ITEM_FIELD", "KEY_PREFIX", "SessionStoreSession", "import_session", "item_event"]

#: The entry key of an SDK session is this prefix and its ``session_id``.
KEY_PREFIX = "openai-agents:"
#: The field of a transcript event that holds the SDK's item, verbatim.
ITEM_FIELD = "openaiItem"
_EVERY_ITEM = 2**62


def _text_of(content: Any) -> str | list[dict[str, str]] | None:
    """A message item's content as OpenClaw's: a string, or its text parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    parts = [
        {"type": "text", "text": part["text"]}
        for part in content
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    ]
    return parts


def item_event(item: TResponseInputItem) -> dict[str, Any]:
    """The transcript event of one SDK item: a ``message`` event for a message item
    (its ``role`` and text content), a ``custom`` event for any other, with the item in
    :data:`ITEM_FIELD`.

    >>> item_event({"role": "user", "content": "hi"})["message"]
    {'role': 'user', 'content': 'hi'}
    >>> call = {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}
    >>> item_event(call)["type"]
    'custom'
    """
    data = cast(dict[str, Any], item)
    if not isinstance(data, dict):
        raise InvalidArgumentError(f"an item must be a dict, got {type(item).__name__}")
    role, kind = data.get("role"), data.get("type", "message")
    content = _text_of(data.get("content"))
    if kind == "message" and isinstance(role, str) and content is not None:
        return {"type": "message", "message": {"role": role, "content": content}, ITEM_FIELD: item}
    return {"type": "custom", "customType": "openai-agents.item", ITEM_FIELD: item}


class SessionStoreSession(StoreOwner):
    """An Agents SDK session (the ``agents.memory.Session`` protocol) kept in a
    sessionstore store: pass it as ``Runner.run(..., session=...)``.

    Args:
        session_id: The SDK's session id; the entry's key is ``openai-agents:<id>``.
        url: A target of :func:`~sessionstore.open_async_store` (a ``sessions.json``, a
            SQLite file, a database URL); the session opens the store and closes it in
            :meth:`close`.
        store: An open :class:`~sessionstore.AsyncSessionStore` to use instead (shared by
            many sessions, closed by its owner).
        session_settings: The SDK's settings; ``limit`` is the default of
            :meth:`get_items`.
        **options: Options of :func:`~sessionstore.open_async_store` with ``url``
            (``auto_upgrade`` defaults to True: a new database gets its tables, as the
            SDK's ``create_tables=True``).

    >>> import asyncio, tempfile, os
    >>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "agents.db")
    >>> async def main():
    ...     async with SessionStoreSession("chat-1", url=url) as session:
    ...         await session.add_items([{"role": "user", "content": "hi"}])
    ...         return await session.get_items()
    >>> asyncio.run(main())
    [{'role': 'user', 'content': 'hi'}]
    """

    session_id: str
    session_settings: SessionSettings | None

    def __init__(
        self,
        session_id: str,
        *,
        url: str | None = None,
        store: AsyncSessionStore | None = None,
        session_settings: SessionSettings | dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        if not isinstance(session_id, str) or not session_id:
            raise InvalidArgumentError(f"session_id must be a non-empty string: {session_id!r}")
        self.session_id = session_id
        self.session_settings = (
            SessionSettings()
            if session_settings is None
            else coerce_session_settings(session_settings)
        )
        self.key = KEY_PREFIX + session_id
        self.store, self._owned = open_owned(url, store, options)
        self._marks = ActivityMarks()

    @classmethod
    def from_url(
        cls,
        session_id: str,
        *,
        url: str,
        session_settings: SessionSettings | dict[str, Any] | None = None,
        **options: Any,
    ) -> Self:
        """A session on the store at ``url`` (see the class), as the SDK's
        ``SQLAlchemySession.from_url``."""
        return cls(session_id, url=url, session_settings=session_settings, **options)

    def __repr__(self) -> str:
        return f"SessionStoreSession({self.session_id!r}, store={self.store!r})"

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        """The latest ``limit`` items in chronological order (``None``: the settings'
        ``limit``, else every item; 0: none). A negative limit is refused."""
        count = check_last(resolve_session_limit(limit, self.session_settings), "limit")
        events = await last_events(self.store, self.key, ITEM_FIELD, count)
        return [cast(TResponseInputItem, event[ITEM_FIELD]) for event in events]

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        """Append ``items`` in order, as one append (all or none); the first add creates
        the session's entry and marks it as active (``updatedAt``), as later adds do at
        most once a minute."""
        await self._add([item_event(item) for item in items])

    async def _add(self, events: Sequence[dict[str, Any]]) -> int:
        return await append_creating(self.store, self.key, events, self._marks)

    async def pop_item(self) -> TResponseInputItem | None:
        """Remove the most recent item and return it; ``None`` if there is none. An event
        of the transcript that holds no item (written by another program) is removed on
        the way."""
        while (event := await self.store.transcripts.pop(self.key)) is not None:
            if ITEM_FIELD in event:
                return cast(TResponseInputItem, event[ITEM_FIELD])
        return None

    async def clear_session(self) -> None:
        """Forget every item: the entry is deleted and its transcript archived as
        ``deleted`` (lifecycle's retention removes it later); the next add starts a new
        one."""
        await forget(self.store, self.key)


async def import_session(source: Session, into: SessionStoreSession) -> int:
    """Copy the items of an SDK session (``SQLiteSession``, ``SQLAlchemySession`` or any
    other ``Session``) into ``into``, read through the source's own ``get_items()``,
    which is never changed. Idempotent: a session that holds the items already gets
    nothing (returns 0), an empty one gets them all in one append (returns how many),
    and a session that holds other items is refused. Each event carries an idempotency
    key (its place in the source), so two imports racing write each item once.
    """
    # Every item: an explicit limit above any count, since None means the source's
    # session_settings.limit.
    items = await source.get_items(limit=_EVERY_ITEM)
    present = [e[ITEM_FIELD] for e in await last_events(into.store, into.key, ITEM_FIELD, None)]
    if present[: len(items)] == items and present:
        return 0
    if present:
        raise InvalidArgumentError(
            f"{into.key!r} already holds other items; import into an empty session"
        )
    events = []
    for place, item in enumerate(items):
        event = item_event(item)
        event["idempotencyKey"] = f"import:{source.session_id}:{place}"
        events.append(event)
    return await into._add(events)

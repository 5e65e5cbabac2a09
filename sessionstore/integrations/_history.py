"""Reading a framework's history back from a transcript, for the adapters of this
package: the events that carry a framework's record (a field of the event, kept
verbatim), newest last, in pages along the transcript contract's cursors.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from sessionstore.asyncstore import AsyncSessionStore
from sessionstore.contract import MAX_PAGE_SIZE, TRANSCRIPT_START
from sessionstore.errors import InvalidArgumentError, SessionNotFoundError, StaleEntryError
from sessionstore.open import open_async_store

__all__ = [
    "ACTIVITY_INTERVAL_S",
    "ActivityMarks",
    "StoreOwner",
    "append_creating",
    "check_last",
    "forget",
    "last_events",
    "open_owned",
]


def open_owned(
    url: str | Path | None, store: AsyncSessionStore | None, options: dict[str, Any]
) -> tuple[AsyncSessionStore, bool]:
    """The store an adapter works on and whether it owns it (and closes it): ``store``
    as given, else one opened on ``url`` with ``options`` (``auto_upgrade`` on unless
    told otherwise, so a new database gets its tables, as the frameworks' own SQL
    sessions create theirs)."""
    if (url is None) == (store is None):
        raise InvalidArgumentError("give either url= or store=, not both or neither")
    if url is None:
        assert store is not None
        if options:
            raise InvalidArgumentError(
                f"the options {', '.join(sorted(options))} open a store from url=; "
                "store= is open already"
            )
        return store, False
    return open_async_store(url, **{"auto_upgrade": True, **options}), True


class StoreOwner:
    """An adapter's ``store``, closed with the adapter when the adapter opened it
    (:func:`open_owned`)."""

    store: AsyncSessionStore
    _owned: bool

    async def close(self) -> None:
        """Close the store if this adapter opened it (from ``url``)."""
        if self._owned:
            await self.store.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def check_last(last: object, name: str) -> int | None:
    """``last`` as a count of records (``None``: all), refused unless an int >= 0."""
    if last is None:
        return None
    if isinstance(last, bool) or not isinstance(last, int) or last < 0:
        raise InvalidArgumentError(f"{name} must be None or an integer >= 0, got {last!r}")
    return last


async def last_events(
    store: AsyncSessionStore, key: str, field: str, count: int | None
) -> list[dict[str, Any]]:
    """The last ``count`` events of ``key``'s transcript that hold ``field`` (``None``:
    all of them), oldest first. Reads pages newest first, O(count) events, or the whole
    transcript forwards when ``count`` is ``None``."""
    transcripts = store.transcripts
    if count is None:
        found: list[dict[str, Any]] = []
        cursor: str | None = TRANSCRIPT_START
        while cursor is not None:
            page = await transcripts.page(key, after=cursor, limit=MAX_PAGE_SIZE)
            found.extend(event for event in page.items if field in event)
            cursor = page.next_cursor
        return found
    newest: list[dict[str, Any]] = []
    before: str | None = None
    while len(newest) < count:
        size = min(max(count - len(newest), 1), MAX_PAGE_SIZE)
        page = await transcripts.page(key, before=before, limit=size)
        newest.extend(event for event in page.items if field in event)
        if page.next_cursor is None:
            break
        before = page.next_cursor
    del newest[count:]
    newest.reverse()
    return newest


#: How many times an append is tried again when a concurrent clear deleted the entry
#: between its creation and the append (and a clear, when writers keep changing it).
_APPEND_TRIES = 8
#: How often an adapter marks a session's entry as active (``updatedAt``) while it
#: appends: retention and listings count in days and pages, not seconds.
ACTIVITY_INTERVAL_S = 60.0
#: Keys whose last mark an adapter remembers.
_MARKS_KEPT = 10_000


class ActivityMarks:
    """When this adapter last moved each key's ``updatedAt`` on (monotonic seconds), so
    that a burst of appends costs one write each, and the entry a patch at most once a
    minute."""

    def __init__(self) -> None:
        self._at: OrderedDict[str, float] = OrderedDict()

    def due(self, key: str) -> bool:
        at = self._at.get(key)
        return at is None or time.monotonic() - at >= ACTIVITY_INTERVAL_S

    def mark(self, key: str) -> None:
        self._at[key] = time.monotonic()
        self._at.move_to_end(key)
        if len(self._at) > _MARKS_KEPT:
            self._at.popitem(last=False)


async def append_creating(
    store: AsyncSessionStore,
    key: str,
    events: Sequence[Mapping[str, Any]],
    marks: ActivityMarks,
) -> int:
    """Append ``events`` to ``key``'s transcript, in one append, creating its entry
    first if it is missing; returns how many were written. The entry is marked as active
    (``updatedAt``) when it is created and then at most every
    :data:`ACTIVITY_INTERVAL_S`, so listings and lifecycle's retention see it in use."""
    if not events:
        return 0
    touch = marks.due(key)
    for _ in range(_APPEND_TRIES):
        if touch:
            # patch creates the entry (a new sessionId) or keeps its sessionId, moving
            # updatedAt on; concurrent first appends agree on one entry.
            await store.patch(key, {})
            marks.mark(key)
        try:
            return (await store.transcripts.append(key, events)).written
        except SessionNotFoundError:
            touch = True  # never created, or deleted meanwhile by a clear: create it
    raise SessionNotFoundError(key)


async def forget(store: AsyncSessionStore, key: str) -> str | None:
    """Delete ``key``'s entry, then archive the transcript of the entry deleted as
    ``deleted`` (kept until lifecycle's retention removes it); returns the archive's name.
    In this order an append racing it goes either to the old transcript, archived with
    it, or to a new entry's. The delete is a compare-and-set on the entry read, so an
    entry written since (a new one, by an add after another clear) is read again and
    forgotten with its own transcript: none is left without its entry."""
    lost = 0
    while True:
        entry, version = await store.get_with_version(key)
        if entry is None:
            return None
        try:
            await store.put_many((), delete=[key], expected_versions={key: version})
        except StaleEntryError:
            lost += 1
            if lost == _APPEND_TRIES:
                raise
            continue  # written since it was read: forget what is there now
        return await store.transcripts.archive(key, "deleted", session=entry)

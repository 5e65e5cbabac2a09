"""The async API seen through the sync contract, so that one contract suite runs on
both: :class:`BlockingStore` awaits each operation of an
:class:`~sessionstore.AsyncSessionStore` on an event loop of its own thread
(:class:`LoopThread`) and returns its result, or raises its error, to the calling
thread. Nothing here decides anything: every call is the async store's.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

from sessionstore import AsyncSessionStore, AsyncTranscriptStore, SessionEntry, SessionPage
from sessionstore.contract import Updater

__all__ = ["BlockingStore", "LoopThread", "behind"]

T = TypeVar("T")
#: The safety net of one call, in seconds: never reached by a passing test.
CALL_LIMIT_S = 120


class LoopThread:
    """An event loop running on a thread of its own until :meth:`stop`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="contract-loop")
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """The result of ``coroutine``, awaited on the loop (from any other thread)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(CALL_LIMIT_S)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


def iterate(loop: LoopThread, items: AsyncIterator[T]) -> Iterator[T]:
    """The items of an async iterator, each awaited on ``loop``."""

    async def step() -> tuple[bool, T | None]:
        try:
            return True, await anext(items)
        except StopAsyncIteration:
            return False, None

    while True:
        more, item = loop.run(step())
        if not more:
            return
        yield item  # type: ignore[misc]


class BlockingStore:
    """The :class:`~sessionstore.SessionStore` contract over an async store."""

    def __init__(self, store: AsyncSessionStore, loop: LoopThread) -> None:
        self.async_store = store
        self._loop = loop
        self._transcripts = BlockingTranscripts(store.transcripts, loop)

    @property
    def agent_id(self) -> str:
        return self.async_store.agent_id

    @property
    def transcripts(self) -> BlockingTranscripts:
        return self._transcripts

    def get(self, key: str) -> SessionEntry | None:
        return self._loop.run(self.async_store.get(key))

    def version(self, key: str) -> int:
        return self._loop.run(self.async_store.version(key))

    def get_with_version(self, key: str) -> tuple[SessionEntry | None, int]:
        return self._loop.run(self.async_store.get_with_version(key))

    def get_many(self, keys: Iterable[str]) -> dict[str, SessionEntry]:
        return self._loop.run(self.async_store.get_many(keys))

    def get_many_with_versions(self, keys: Iterable[str]) -> dict[str, tuple[SessionEntry, int]]:
        return self._loop.run(self.async_store.get_many_with_versions(keys))

    def put(self, key: str, entry: Any, *, expected_version: int | None = None) -> int:
        return self._loop.run(self.async_store.put(key, entry, expected_version=expected_version))

    def patch(self, key: str, changes: Mapping[str, Any], **options: Any) -> SessionEntry:
        return self._loop.run(self.async_store.patch(key, changes, **options))

    def update(self, key: str, fn: Updater) -> SessionEntry | None:
        return self._loop.run(self.async_store.update(key, fn))

    def delete(self, key: str) -> bool:
        return self._loop.run(self.async_store.delete(key))

    def delete_many(self, keys: Iterable[str], *, updated_before: int | None = None) -> int:
        return self._loop.run(self.async_store.delete_many(keys, updated_before=updated_before))

    def list(self, **options: Any) -> SessionPage:
        return self._loop.run(self.async_store.list(**options))

    def count(self, **filters: Any) -> int:
        return self._loop.run(self.async_store.count(**filters))

    def put_many(self, items: Iterable[tuple[str, Any]], **options: Any) -> int:
        return self._loop.run(self.async_store.put_many(items, **options))

    def iter_entries(self, *, batch_size: int = 500) -> Iterator[tuple[str, SessionEntry]]:
        return iterate(self._loop, self.async_store.iter_entries(batch_size=batch_size))

    def iter_entries_with_versions(
        self, *, batch_size: int = 500
    ) -> Iterator[tuple[str, SessionEntry, int]]:
        items = self.async_store.iter_entries_with_versions(batch_size=batch_size)
        return iterate(self._loop, items)

    def close(self) -> None:
        self._loop.run(self.async_store.close())

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"BlockingStore({self.async_store!r})"


def behind(store: Any) -> Any:
    """The store of the sync API that answers ``store``'s calls: itself, or the one an
    async store drives (opened already by the contract's fixtures)."""
    if isinstance(store, BlockingStore):
        return store._loop.run(store.async_store.sync_store())
    return store


class BlockingTranscripts:
    """The :class:`~sessionstore.TranscriptStore` contract over an async store's."""

    def __init__(self, transcripts: AsyncTranscriptStore, loop: LoopThread) -> None:
        self._transcripts = transcripts
        self._loop = loop

    @property
    def tier(self) -> str:
        return self._transcripts.tier

    def append(self, key: str, events: Iterable[Mapping[str, Any]], **options: Any) -> Any:
        return self._loop.run(self._transcripts.append(key, events, **options))

    def append_and_update(
        self, key: str, events: Iterable[Mapping[str, Any]], fn: Any, **options: Any
    ) -> Any:
        return self._loop.run(self._transcripts.append_and_update(key, events, fn, **options))

    def tail(self, key: str, **options: Any) -> list[dict[str, Any]]:
        return self._loop.run(self._transcripts.tail(key, **options))

    def page(self, key: str, **options: Any) -> Any:
        return self._loop.run(self._transcripts.page(key, **options))

    def pop(self, key: str, **options: Any) -> dict[str, Any] | None:
        return self._loop.run(self._transcripts.pop(key, **options))

    def count(self, key: str, **options: Any) -> int:
        return self._loop.run(self._transcripts.count(key, **options))

    def search(self, query: str, **options: Any) -> Any:
        return self._loop.run(self._transcripts.search(query, **options))

    def archive(self, key: str, reason: Any, **options: Any) -> str | None:
        return self._loop.run(self._transcripts.archive(key, reason, **options))

    def archives(self) -> Any:
        return self._loop.run(self._transcripts.archives())

    def remove_archive(self, name: str) -> None:
        self._loop.run(self._transcripts.remove_archive(name))

    def erase(self, keys: Iterable[str], **options: Any) -> Any:
        return self._loop.run(self._transcripts.erase(keys, **options))

    def stats(self, session: Any, **options: Any) -> Any:
        return self._loop.run(self._transcripts.stats(session, **options))

    def exists(self, session: Any, **options: Any) -> bool:
        return self._loop.run(self._transcripts.exists(session, **options))

    def session_ids(self) -> set[str]:
        return self._loop.run(self._transcripts.session_ids())

    def lines(self, session: Any, **options: Any) -> Iterator[bytes]:
        return iterate(self._loop, self._transcripts.lines(session, **options))

    def import_lines(self, key: str, session: Any, lines: Iterable[bytes], **options: Any) -> int:
        return self._loop.run(self._transcripts.import_lines(key, session, lines, **options))

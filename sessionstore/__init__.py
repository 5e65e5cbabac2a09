"""sessionstore: a fast, correct store for AI-assistant chat sessions.

A hot index of session metadata in SQL (SQLite, PostgreSQL, MySQL/MariaDB) or in
OpenClaw's own ``sessions.json`` (the JSON twin), behind one contract.

Every public name is listed in ``__all__``, and the package is typed (``py.typed``).

>>> import sessionstore
>>> sorted(sessionstore.__all__)[:3]
['AppendResult', 'AsyncSessionStore', 'AsyncTranscriptStore']
>>> sessionstore.__version__.count(".") >= 2
True

The schema of a SQL database: :func:`upgrade`, :func:`downgrade`,
:func:`current_revision` and :func:`head_revision`.

>>> import os, tempfile
>>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "sessions.db")
>>> sessionstore.upgrade(url)
>>> sessionstore.current_revision(url) == sessionstore.head_revision()
True
>>> sessionstore.downgrade(url, "base")
>>> print(sessionstore.current_revision(url))
None

Transcripts, the cold storage: ``store.transcripts`` (a :class:`TranscriptStore`),
``.jsonl`` files beside a ``sessions.json`` or rows in the same database. An append
returns an :class:`AppendResult` and moves the entry's counters with it; reads are
bounded: ``tail``, ``page`` (a :class:`TranscriptPage`; :data:`TRANSCRIPT_START` reads
from the beginning), ``count``, and ``search`` (:class:`SearchHit`).

>>> event = {"type": "message", "message": {"role": "user", "content": "rollback plan"}}
>>> with sessionstore.open_store("sqlite://", auto_upgrade=True) as store:  # in memory
...     _ = store.put("agent:main:main", {"sessionId": "s1", "updatedAt": 1})
...     result = store.transcripts.append("agent:main:main", [event])
...     page = store.transcripts.page("agent:main:main", after=sessionstore.TRANSCRIPT_START)
...     hits = store.transcripts.search("rollback")
...     entry = store.get("agent:main:main")
>>> result.written, entry.message_count, len(page.items), hits[0].snippet
(1, 1, 1, 'rollback plan')
>>> isinstance(store.transcripts, sessionstore.TranscriptStore)
True
>>> [type(x).__name__ for x in (result, page, hits[0])]  # AppendResult, TranscriptPage, SearchHit
['AppendResult', 'TranscriptPage', 'SearchHit']

The files tier on its own, a directory of transcripts: :class:`Transcripts`, and
:func:`append_to_session` to bring an entry's counters along.

>>> directory = tempfile.mkdtemp()
>>> transcripts = sessionstore.Transcripts(directory)
>>> with sessionstore.open_store(os.path.join(directory, "sessions.json")) as store:
...     _ = store.put("agent:main:main", {"sessionId": "s1", "updatedAt": 1})
...     _ = sessionstore.append_to_session(store, transcripts, "agent:main:main", [event])
...     entry = store.get("agent:main:main")
>>> entry.message_count, transcripts.path(entry).name, transcripts.count_messages(entry)
(1, 's1.jsonl', 1)

The async API: :func:`open_async_store` takes the targets and options of
:func:`open_store` and returns an :class:`AsyncSessionStore`, the same contract with
every operation a coroutine; its ``transcripts`` is an :class:`AsyncTranscriptStore`.

>>> import asyncio
>>> async def main():
...     async with sessionstore.open_async_store("sqlite://", auto_upgrade=True) as store:
...         _ = await store.put("agent:main:main", {"sessionId": "s1", "updatedAt": 1})
...         _ = await store.transcripts.append("agent:main:main", [event])
...         entry = await store.get("agent:main:main")
...     return store, entry
>>> store, entry = asyncio.run(main())
>>> isinstance(store, sessionstore.AsyncSessionStore), entry.message_count
(True, 1)
>>> isinstance(store.transcripts, sessionstore.AsyncTranscriptStore)
True
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names as the type checker sees them; at run time, lazily
    __version__: str
    from sessionstore.asyncstore import AsyncSessionStore, AsyncTranscriptStore
    from sessionstore.contract import (
        DEFAULT_PAGE_SIZE,
        MAX_PAGE_SIZE,
        TRANSCRIPT_START,
        AppendResult,
        Filters,
        SearchHit,
        SessionStore,
        TranscriptPage,
        TranscriptStore,
    )
    from sessionstore.entry import SessionEntry, SessionPage, SessionSummary
    from sessionstore.errors import (
        CorruptStoreError,
        InvalidArgumentError,
        InvalidEntryError,
        SchemaOutdatedError,
        SessionNotFoundError,
        SessionStoreError,
        StaleEntryError,
        StoreLockedError,
        StoreUnavailableError,
    )
    from sessionstore.open import open_async_store, open_store
    from sessionstore.openclaw.transcripts import Transcripts, append_to_session
    from sessionstore.settings import Settings, open_configured
    from sessionstore.sql.upgrade import current_revision, downgrade, head_revision, upgrade

# Public name -> the module that defines it. Importing the package loads none of them:
# each is imported on first use (PEP 562), so a JSON-twin user never loads SQLAlchemy.
_EXPORTS = {
    "DEFAULT_PAGE_SIZE": "sessionstore.contract",
    "MAX_PAGE_SIZE": "sessionstore.contract",
    "TRANSCRIPT_START": "sessionstore.contract",
    "AppendResult": "sessionstore.contract",
    "AsyncSessionStore": "sessionstore.asyncstore",
    "AsyncTranscriptStore": "sessionstore.asyncstore",
    "Filters": "sessionstore.contract",
    "SearchHit": "sessionstore.contract",
    "SessionStore": "sessionstore.contract",
    "TranscriptPage": "sessionstore.contract",
    "TranscriptStore": "sessionstore.contract",
    "SessionEntry": "sessionstore.entry",
    "SessionPage": "sessionstore.entry",
    "SessionSummary": "sessionstore.entry",
    "CorruptStoreError": "sessionstore.errors",
    "InvalidArgumentError": "sessionstore.errors",
    "InvalidEntryError": "sessionstore.errors",
    "SchemaOutdatedError": "sessionstore.errors",
    "SessionNotFoundError": "sessionstore.errors",
    "SessionStoreError": "sessionstore.errors",
    "StaleEntryError": "sessionstore.errors",
    "StoreLockedError": "sessionstore.errors",
    "StoreUnavailableError": "sessionstore.errors",
    "open_async_store": "sessionstore.open",
    "open_store": "sessionstore.open",
    "Transcripts": "sessionstore.openclaw.transcripts",
    "append_to_session": "sessionstore.openclaw.transcripts",
    "Settings": "sessionstore.settings",
    "open_configured": "sessionstore.settings",
    "current_revision": "sessionstore.sql.upgrade",
    "downgrade": "sessionstore.sql.upgrade",
    "head_revision": "sessionstore.sql.upgrade",
    "upgrade": "sessionstore.sql.upgrade",
}

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "TRANSCRIPT_START",
    "AppendResult",
    "AsyncSessionStore",
    "AsyncTranscriptStore",
    "CorruptStoreError",
    "Filters",
    "InvalidArgumentError",
    "InvalidEntryError",
    "SchemaOutdatedError",
    "SearchHit",
    "SessionEntry",
    "SessionNotFoundError",
    "SessionPage",
    "SessionStore",
    "SessionStoreError",
    "SessionSummary",
    "Settings",
    "StaleEntryError",
    "StoreLockedError",
    "StoreUnavailableError",
    "TranscriptPage",
    "TranscriptStore",
    "Transcripts",
    "__version__",
    "append_to_session",
    "current_revision",
    "downgrade",
    "head_revision",
    "open_async_store",
    "open_configured",
    "open_store",
    "upgrade",
]


def _installed_version() -> str:
    # importlib.metadata costs more than the rest of the package: read on first use
    metadata = importlib.import_module("importlib.metadata")
    try:
        return str(metadata.version("sessionstore"))
    except metadata.PackageNotFoundError:  # a checkout that is not installed
        return "0.0.0"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _installed_version()
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:
        raise AttributeError(f"module 'sessionstore' has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return list(__all__)

"""The one error hierarchy of sessionstore.

Every failure that crosses the public API is a :class:`SessionStoreError`; driver,
SQLAlchemy and OS errors are translated where they happen and chained with
``raise ... from exc`` so the cause stays visible to a debugger.

>>> from sessionstore.errors import SessionStoreError, StaleEntryError
>>> issubclass(StaleEntryError, SessionStoreError)
True
"""

from __future__ import annotations

__all__ = [
    "CorruptStoreError",
    "InvalidArgumentError",
    "InvalidEntryError",
    "SchemaOutdatedError",
    "SessionNotFoundError",
    "SessionStoreError",
    "StaleEntryError",
    "StoreLockedError",
    "StoreUnavailableError",
]


class SessionStoreError(Exception):
    """Base class of every error raised by sessionstore.

    >>> from sessionstore import CorruptStoreError, SessionStoreError
    >>> issubclass(CorruptStoreError, SessionStoreError)
    True
    """


class InvalidEntryError(SessionStoreError, ValueError):
    """An entry, key or patch failed validation; nothing was written.

    >>> import os, tempfile
    >>> from sessionstore import InvalidEntryError, open_store
    >>> with open_store(os.path.join(tempfile.mkdtemp(), "sessions.json")) as store:
    ...     try:
    ...         store.put("agent:main:main", {"sessionId": "../etc/passwd", "updatedAt": 1})
    ...     except InvalidEntryError:
    ...         print("refused", store.count())
    refused 0
    """


class InvalidArgumentError(SessionStoreError, ValueError):
    """A call argument is out of range (page size, cursor, filter value).

    >>> import os, tempfile
    >>> from sessionstore import InvalidArgumentError, open_store
    >>> with open_store(os.path.join(tempfile.mkdtemp(), "sessions.json")) as store:
    ...     try:
    ...         store.list(limit=0)
    ...     except InvalidArgumentError as exc:
    ...         print(exc)
    limit must be an integer from 1 to 1000, got 0
    """


class SessionNotFoundError(InvalidArgumentError):
    """An operation needs the entry of ``key`` and the store has none (appending to
    the transcript of a session that does not exist, resetting it).

    >>> from sessionstore import SessionNotFoundError, open_store
    >>> with open_store("sqlite://", auto_upgrade=True) as store:  # in memory
    ...     try:
    ...         store.transcripts.append("agent:main:nobody", [])
    ...     except SessionNotFoundError as exc:
    ...         print(exc.key)
    agent:main:nobody
    """

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"no session {key!r} in the store")


class StaleEntryError(SessionStoreError):
    """A compare-and-set write lost: the entry changed since the caller read it.

    ``current_version`` is the version now stored (``0`` when the entry is gone).

    >>> from sessionstore import StaleEntryError, open_store
    >>> key = "agent:main:main"
    >>> with open_store("sqlite://", auto_upgrade=True) as store:  # in memory
    ...     version = store.put(key, {"sessionId": "s1", "updatedAt": 1})
    ...     _ = store.put(key, {"sessionId": "s1", "updatedAt": 2})  # another writer
    ...     try:
    ...         store.put(key, {"sessionId": "s1", "updatedAt": 3}, expected_version=version)
    ...     except StaleEntryError as exc:
    ...         print(exc.expected_version, exc.current_version)
    1 2
    """

    def __init__(self, key: str, expected_version: int, current_version: int) -> None:
        self.key = key
        self.expected_version = expected_version
        self.current_version = current_version
        super().__init__(
            f"stale write to {key!r}: expected version {expected_version}, "
            f"current version is {current_version}"
        )


class SchemaOutdatedError(SessionStoreError):
    """The database schema is not at the revision this library needs.

    >>> import os, tempfile
    >>> from sessionstore import SchemaOutdatedError, open_store
    >>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "new.db")
    >>> try:
    ...     open_store(url)  # never upgraded; auto_upgrade=True would create the schema
    ... except SchemaOutdatedError as exc:
    ...     print("sessionstore db upgrade" in str(exc))
    True
    """


class StoreUnavailableError(SessionStoreError):
    """The database or file could not be reached, opened or written.

    >>> import os, tempfile
    >>> from sessionstore import StoreUnavailableError, open_store
    >>> not_a_directory = os.path.join(tempfile.mkdtemp(), "file")
    >>> open(not_a_directory, "w").close()
    >>> try:
    ...     open_store(os.path.join(not_a_directory, "sessions.db"), auto_upgrade=True)
    ... except StoreUnavailableError as exc:
    ...     print(str(exc).startswith("open failed"))
    True
    """


class StoreLockedError(StoreUnavailableError):
    """Another process held the store's lock for longer than the timeout.

    It is a :class:`StoreUnavailableError`: the store may be usable again later.

    >>> from sessionstore import StoreLockedError, StoreUnavailableError
    >>> issubclass(StoreLockedError, StoreUnavailableError)
    True
    """


class CorruptStoreError(SessionStoreError):
    """A store file exists but cannot be parsed; it is reported, never overwritten.

    >>> import tempfile
    >>> from pathlib import Path
    >>> from sessionstore import CorruptStoreError, open_store
    >>> path = Path(tempfile.mkdtemp()) / "sessions.json"
    >>> _ = path.write_text('{"agent:main:main": {')  # cut off mid-document
    >>> with open_store(path) as store:
    ...     try:
    ...         store.get("agent:main:main")
    ...     except CorruptStoreError:
    ...         print(path.read_text())
    {"agent:main:main": {
    """

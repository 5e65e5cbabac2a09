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
    "SessionStoreError",
    "StaleEntryError",
    "StoreLockedError",
    "StoreUnavailableError",
]


class SessionStoreError(Exception):
    """Base class of every error raised by sessionstore."""


class InvalidEntryError(SessionStoreError, ValueError):
    """An entry, key or patch failed validation; nothing was written."""


class InvalidArgumentError(SessionStoreError, ValueError):
    """A call argument is out of range (page size, cursor, filter value)."""


class StaleEntryError(SessionStoreError):
    """A compare-and-set write lost: the entry changed since the caller read it.

    ``current_version`` is the version now stored (``0`` when the entry is gone).
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
    """The database schema is not at the revision this library needs."""


class StoreUnavailableError(SessionStoreError):
    """The database or file could not be reached, opened or written."""


class StoreLockedError(StoreUnavailableError):
    """Another process held the store's lock for longer than the timeout."""


class CorruptStoreError(SessionStoreError):
    """A store file exists but cannot be parsed; it is reported, never overwritten."""

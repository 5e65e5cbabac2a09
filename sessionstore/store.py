"""The repository contract every backend implements, and :func:`open_store`.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "sessions.json")
>>> with open_store(path) as store:
...     _ = store.put("agent:main:main", SessionEntry(session_id="s1", updated_at=1))
...     store.count()
1
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Literal,
    Protocol,
    Self,
    TypedDict,
    TypeVar,
    Unpack,
    runtime_checkable,
)

import orjson

from sessionstore.entry import MAX_ENTRY_BYTES, SessionEntry, SessionPage
from sessionstore.errors import InvalidArgumentError

if TYPE_CHECKING:
    from sessionstore.lifecycle import CleanupOptions, CleanupReport
    from sessionstore.openclaw.transcripts import Transcripts

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "FilterArgs",
    "Filters",
    "Order",
    "SessionStore",
    "batched",
    "describe_target",
    "is_json_target",
    "open_store",
]

#: Page size of :meth:`SessionStore.list` when no ``limit`` is given.
DEFAULT_PAGE_SIZE = 50
#: Largest page :meth:`SessionStore.list` returns; larger limits are refused.
MAX_PAGE_SIZE = 1000

Order = Literal["desc", "asc"]
Updater = Callable[[SessionEntry | None], SessionEntry | None]
T = TypeVar("T")


class FilterArgs(TypedDict, total=False):
    """The filters of :meth:`SessionStore.list` and :meth:`SessionStore.count`."""

    channel: str | None
    status: str | None
    chat_type: str | None
    archived: bool | None
    label_prefix: str | None
    updated_after: int | None
    updated_before: int | None
    spawned_by: str | None
    session_id: str | None


@dataclass(frozen=True, slots=True)
class Filters:
    """Listing filters; ``None`` means "any". Timestamps are epoch ms, exclusive bounds.

    >>> Filters(channel=5)
    Traceback (most recent call last):
    ...
    sessionstore.errors.InvalidArgumentError: filter channel must be a str, got 5
    """

    channel: str | None = None
    status: str | None = None
    chat_type: str | None = None
    archived: bool | None = None
    label_prefix: str | None = None
    updated_after: int | None = None
    updated_before: int | None = None
    spawned_by: str | None = None
    session_id: str | None = None

    def __post_init__(self) -> None:
        # Checked here so that every backend refuses the same values the same way.
        for name in ("channel", "status", "chat_type", "label_prefix", "spawned_by", "session_id"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or "\x00" in value):
                raise InvalidArgumentError(f"filter {name} must be a str, got {value!r}")
        if self.archived is not None and not isinstance(self.archived, bool):
            raise InvalidArgumentError(f"filter archived must be a bool, got {self.archived!r}")
        for name in ("updated_after", "updated_before"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise InvalidArgumentError(
                    f"filter {name} must be epoch milliseconds (int), got {value!r}"
                )

    def matches(self, columns: Mapping[str, Any]) -> bool:
        """Whether projected index columns pass these filters (the JSON twin's path)."""
        for name in ("channel", "status", "chat_type", "archived", "spawned_by", "session_id"):
            wanted = getattr(self, name)
            if wanted is not None and columns[name] != wanted:
                return False
        if self.label_prefix is not None:
            label = columns["label"]
            if label is None or not label.startswith(self.label_prefix):
                return False
        updated = columns["updated_at"]
        if self.updated_after is not None and not updated > self.updated_after:
            return False
        return self.updated_before is None or updated < self.updated_before


def check_limit(limit: int, name: str = "limit") -> int:
    """Refuse page and batch sizes outside 1..MAX_PAGE_SIZE."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidArgumentError(
            f"{name} must be an integer from 1 to {MAX_PAGE_SIZE}, got {limit!r}"
        )
    return limit


def check_order(order: str) -> bool:
    """``True`` for newest first (``"desc"``), ``False`` for ``"asc"``."""
    if order not in ("desc", "asc"):
        raise InvalidArgumentError(f"order must be 'desc' or 'asc', got {order!r}")
    return order == "desc"


def encode_cursor(updated_at: int, key: str) -> str:
    """An opaque keyset cursor for the position after (updated_at, key)."""
    return base64.urlsafe_b64encode(orjson.dumps([updated_at, key])).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """Inverse of :func:`encode_cursor`; a malformed cursor is an InvalidArgumentError."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        updated_at, key = orjson.loads(raw)
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise InvalidArgumentError(f"invalid cursor {cursor!r}") from exc
    if not isinstance(updated_at, int) or not isinstance(key, str):
        raise InvalidArgumentError(f"invalid cursor {cursor!r}")
    return updated_at, key


@runtime_checkable
class SessionStore(Protocol):
    """One agent's sessions. Every backend passes the same contract test suite.

    Keys are OpenClaw session keys (``agent:main:main``); entries are
    :class:`SessionEntry`. Every key has a version, ``0`` when it is absent, that
    changes when the key is written (the SQL backends count writes, the JSON twin
    derives it from the entry) and drives compare-and-set.

    >>> from sessionstore import SessionEntry, open_store
    >>> key = "agent:main:main"
    >>> with open_store("sqlite://", auto_upgrade=True) as store:  # in memory
    ...     version = store.put(key, SessionEntry(session_id="s1", updated_at=1))
    ...     entry = store.patch(key, {"label": "Inbox"}, now_ms=2)
    ...     print(store.get(key).label, store.count(), store.version(key) > version)
    Inbox 1 True
    """

    @property
    def agent_id(self) -> str:
        """The agent whose sessions this store holds."""
        ...

    def get(self, key: str) -> SessionEntry | None:
        """The entry under ``key``, or ``None``."""
        ...

    def version(self, key: str) -> int:
        """The current version of ``key``; ``0`` when it does not exist."""
        ...

    def get_with_version(self, key: str) -> tuple[SessionEntry | None, int]:
        """The entry and its version, read together (``(None, 0)`` when absent);
        the version to pass as ``expected_version`` for a compare-and-set."""
        ...

    def put(
        self,
        key: str,
        entry: SessionEntry | Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> int:
        """Insert or replace ``key`` and return its new version. ``entry`` may also be
        the entry's JSON object (camelCase keys).

        With ``expected_version`` the write happens only if the stored version equals
        it (``0``: only if absent); otherwise :class:`StaleEntryError` is raised.
        """
        ...

    def patch(
        self,
        key: str,
        changes: Mapping[str, Any],
        *,
        preserve_activity: bool = False,
        now_ms: int | None = None,
    ) -> SessionEntry:
        """Merge ``changes`` into ``key`` with OpenClaw's rules and return the result.

        A missing entry is created (a new ``sessionId`` unless given).
        ``updatedAt`` becomes the newest of old, new and now, clamped to now, unless
        ``preserve_activity`` keeps the old value. Setting ``model`` without
        ``modelProvider`` clears a stale provider.
        """
        ...

    def update(self, key: str, fn: Updater) -> SessionEntry | None:
        """Atomic read-modify-write: ``fn(current)`` returns the new entry or ``None``
        (no change). Returns what is stored afterwards."""
        ...

    def delete(self, key: str) -> bool:
        """Remove ``key``; ``True`` if it existed."""
        ...

    def delete_many(self, keys: Iterable[str], *, updated_before: int | None = None) -> int:
        """Remove the keys given, all or nothing; returns how many were removed.

        With ``updated_before`` only entries whose ``updatedAt`` is still older than it
        are removed, so a session touched since the caller chose it survives.
        """
        ...

    def list(
        self,
        *,
        order: Order = "desc",
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        **filters: Unpack[FilterArgs],
    ) -> SessionPage:
        """One page of summaries ordered by ``(updated_at, key)``, newest first unless
        ``order="asc"``; ``filters`` are those of :class:`FilterArgs`."""
        ...

    def count(self, **filters: Unpack[FilterArgs]) -> int:
        """How many entries pass the filters (those of :class:`FilterArgs`)."""
        ...

    def iter_entries(self, *, batch_size: int = 500) -> Iterator[tuple[str, SessionEntry]]:
        """Every ``(key, entry)`` in key order, read in batches (for export and copy)."""
        ...

    def put_many(
        self,
        items: Iterable[tuple[str, SessionEntry | Mapping[str, Any]]],
        *,
        batch_size: int = 500,
    ) -> int:
        """Upsert many entries, all or nothing, sent ``batch_size`` at a time; returns
        how many were written."""
        ...

    def cleanup(self, **options: Unpack[CleanupOptions]) -> CleanupReport:
        """OpenClaw's maintenance on this store: prune stale entries, cap the store,
        protect what must stay (see :func:`sessionstore.lifecycle.cleanup`)."""
        ...

    def reset(
        self, key: str, *, transcripts: Transcripts | None = None, now_ms: int | None = None
    ) -> SessionEntry:
        """A new ``sessionId`` for ``key``, as OpenClaw's ``/new`` (see
        :func:`sessionstore.lifecycle.reset`)."""
        ...

    def close(self) -> None:
        """Release connections and file handles."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def is_json_target(target: str | Path) -> bool:
    """Whether ``open_store`` opens ``target`` as the JSON twin.

    >>> is_json_target("json:///srv/sessions.json"), is_json_target("sqlite:///s.db")
    (True, False)
    """
    text = str(target)
    return text.startswith("json://") or text.endswith(".json")


def describe_target(target: str | Path) -> str:
    """A target fit for messages: a file path as it is, a database URL password-masked.

    >>> describe_target("postgresql+psycopg://bob:secret@db/app")
    'postgresql+psycopg://bob:***@db/app'
    """
    from sessionstore.sql.engine import database_url, mask_url

    text = str(target)
    return text if is_json_target(text) else mask_url(database_url(text))


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of at most ``size``, read lazily (``itertools.batched``).

    >>> list(batched(range(5), 2))
    [[0, 1], [2, 3], [4]]
    """
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def open_store(
    target: str | Path,
    *,
    agent_id: str = "main",
    auto_upgrade: bool = False,
    lock_timeout: float | None = None,
    engine_options: Mapping[str, Any] | None = None,
    max_entry_bytes: int = MAX_ENTRY_BYTES,
) -> SessionStore:
    """Open a store by URL or path.

    - ``sqlite:///path/sessions.db``, ``postgresql+psycopg://…``, ``mysql+pymysql://…``:
      the SQL backend (any SQLAlchemy URL). A schema behind the newest revision is
      refused with :class:`SchemaOutdatedError` unless ``auto_upgrade=True``.
    - ``json:///abs/path/sessions.json`` or a path ending in ``.json``: the JSON twin.
    - any other plain path: a SQLite database file.

    Options that do not apply to the chosen backend are ignored, so switching backends
    is changing the URL alone: ``lock_timeout`` (seconds, default 10) is the JSON
    twin's wait for its lock file; ``engine_options`` go to SQLAlchemy's
    ``create_engine`` for the SQL backends. Entries larger than ``max_entry_bytes`` of
    JSON are refused by every backend.

    >>> import os, tempfile
    >>> directory = tempfile.mkdtemp()
    >>> with open_store(os.path.join(directory, "sessions.json")) as twin:
    ...     type(twin).__name__
    'JsonFileStore'
    >>> with open_store(os.path.join(directory, "sessions.db"), auto_upgrade=True) as db:
    ...     type(db).__name__, db.url.startswith("sqlite:///")
    ('SqlStore', True)
    """
    text = str(target)
    if is_json_target(text):
        from sessionstore.backends.jsonfile import LOCK_TIMEOUT_S, JsonFileStore

        path = text.removeprefix("json://")
        timeout = LOCK_TIMEOUT_S if lock_timeout is None else lock_timeout
        return JsonFileStore(
            path, agent_id=agent_id, lock_timeout=timeout, max_entry_bytes=max_entry_bytes
        )

    from sessionstore.backends.sql import SqlStore
    from sessionstore.sql.engine import database_url

    return SqlStore(
        database_url(text),
        agent_id=agent_id,
        auto_upgrade=auto_upgrade,
        engine_options=engine_options,
        max_entry_bytes=max_entry_bytes,
    )

"""Entries to rows and back, the same for every SQL backend.

A row is the entry's JSON with its large values replaced by nulls (``entry_json``),
their digests (``prompt_blob``, ``report_blob``) and the projected index columns.
:func:`row_params` builds a row's statement parameters, encoding the entry once;
:func:`decode_entry` rebuilds the entry from ``entry_json`` and the blob bodies;
:class:`BlobCache` keeps blob bodies (immutable, so safe to share) and remembers which
digests this process stored recently.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import orjson
from pydantic import TypeAdapter

from sessionstore.contract import encode_cursor
from sessionstore.entry import (
    SessionEntry,
    SessionPage,
    SessionSummary,
    check_size,
    dumps_json,
    loads_json,
)
from sessionstore.projection import INDEX_COLUMNS, project
from sessionstore.sql.blobs import BLOB_COLUMNS, Blob, put_back, split

__all__ = [
    "BLOB_GRACE_MS",
    "BLOB_TOUCH_MS",
    "BlobCache",
    "blob_rows",
    "decode_entry",
    "decode_json",
    "digests_of",
    "page_of",
    "row_params",
]

#: A writer refreshes a blob's last_used_at at most this often ...
BLOB_TOUCH_MS = 3_600_000
#: ... and collection spares blobs used within this grace: far longer, so a writer that
#: skipped the refresh never references a blob being collected.
BLOB_GRACE_MS = 24 * BLOB_TOUCH_MS
_BLOB_CACHE_BYTES = 16 * 1024 * 1024
_ENSURED_MAX = 65_536
# A page of summaries is validated in one call rather than one model at a time.
_SUMMARIES = TypeAdapter(list[SessionSummary])
_BLOB_NAMES = tuple(BLOB_COLUMNS)
_SUMMARY_FIELDS = ("key", *INDEX_COLUMNS)


def row_params(
    agent_id: str,
    key: str,
    entry: SessionEntry,
    max_entry_bytes: int,
    blobs: list[Blob],
    prefix: str = "",
) -> dict[str, Any]:
    """Statement parameters of one row: the projected columns and the row's content,
    encoded once (``entry_json`` as UTF-8 bytes); the entry's large values are appended
    to ``blobs``, to be written first. Column parameters are named ``prefix + column``;
    the key columns are always ``agent_id`` and ``session_key``."""
    data = entry.to_dict()
    stored, moved = split(data)
    try:
        encoded = orjson.dumps(stored)
        size = len(encoded)
    except orjson.JSONEncodeError:
        # Lone UTF-16 surrogates, which PostgreSQL's JSONB refuses even as escapes: the
        # entry's JSON text (with escapes) is stored as a JSON string; decode_entry
        # unwraps it.
        text = dumps_json(stored)
        size = len(text)
        encoded = orjson.dumps(text.decode())
    # each moved value's JSON replaced a 4-byte null: this is the entry's JSON size
    check_size(size + sum(len(b.body) - 4 for b in moved.values()), max_entry_bytes)
    columns = project(data)
    columns["entry_json"] = encoded
    for column in _BLOB_NAMES:
        blob = moved.get(column)
        columns[column] = None if blob is None else blob.digest
    blobs.extend(moved.values())
    params = {f"{prefix}{name}": value for name, value in columns.items()} if prefix else columns
    params["agent_id"] = agent_id
    params["session_key"] = key
    return params


def blob_rows(blobs: Iterable[Blob], now_ms: int) -> list[dict[str, Any]]:
    """Parameters of the blob upsert for ``blobs``."""
    return [
        {"digest": b.digest, "body": b.body.decode(), "bytes": len(b.body), "last_used_at": now_ms}
        for b in blobs
    ]


def digests_of(row: Sequence[Any], start: int) -> dict[str, str]:
    """The blob digests of a row whose blob columns begin at position ``start``."""
    found = row[start : start + len(_BLOB_NAMES)]
    if not any(found):
        return {}  # most entries, which keep no large value
    return {column: digest for column, digest in zip(_BLOB_NAMES, found, strict=True) if digest}


def decode_json(
    entry_json: Any, digests: Mapping[str, str], values: Mapping[str, Any]
) -> dict[str, Any]:
    """The JSON object of a row's entry: ``entry_json`` (text, bytes or already a dict)
    with the blob values its digests name put back."""
    data = loads_json(entry_json) if isinstance(entry_json, str | bytes) else entry_json
    if isinstance(data, str):  # the JSON text of an entry with lone surrogates (row_params)
        data = loads_json(data)
    if digests:
        data = put_back(data, {column: values[digest] for column, digest in digests.items()})
    return cast(dict[str, Any], data)


def decode_entry(
    entry_json: Any, digests: Mapping[str, str], values: Mapping[str, Any]
) -> SessionEntry:
    """The entry of a row (see :func:`decode_json`)."""
    return SessionEntry._from_stored(decode_json(entry_json, digests, values))


def page_of(rows: Sequence[Sequence[Any]], limit: int) -> SessionPage:
    """A page from ``(session_key, *INDEX_COLUMNS)`` rows, read ``limit + 1`` at most:
    an extra row means another page follows."""
    items = _SUMMARIES.validate_python(
        [dict(zip(_SUMMARY_FIELDS, row, strict=True)) for row in rows[:limit]]
    )
    more = len(rows) > limit
    next_cursor = encode_cursor(items[-1].updated_at, items[-1].key) if more else None
    return SessionPage(items=items, next_cursor=next_cursor)


class BlobCache:
    """Blob bodies by digest, and when this process last made sure each digest is
    stored; bounded by bytes, safe across threads.

    A body that is a JSON string (the skills prompt) is also kept decoded: strings are
    immutable, so every entry read shares one object, and a write of it finds its
    digest without encoding and hashing it again (see :meth:`Blob.of`). Other values
    are decoded afresh for each read, so no two entries share a mutable object.
    """

    def __init__(self, limit: int = _BLOB_CACHE_BYTES) -> None:
        # digest -> (body, the decoded string or None, bytes it costs)
        self._cached: dict[str, tuple[bytes, str | None, int]] = {}
        self._ensured: dict[str, int] = {}
        self._size = 0
        self._limit = limit
        self._lock = threading.Lock()

    def values(self, digests: Iterable[str]) -> dict[str, Any]:
        """The decoded values of the cached bodies among ``digests``."""
        with self._lock:
            found = {d: self._cached[d] for d in digests if d in self._cached}
        return {
            d: loads_json(body) if text is None else text for d, (body, text, _) in found.items()
        }

    def add(self, digest: str, body: bytes) -> Any:
        """Cache a body, evicting the oldest ones beyond the byte limit; returns its
        value (the cached object for a string)."""
        value = loads_json(body)
        text = value if isinstance(value, str) else None
        cost = len(body) if text is None else 2 * len(body)
        with self._lock:
            known = self._cached.get(digest)
            if known is not None:
                return value if known[1] is None else known[1]
            if cost <= self._limit:
                while self._size + cost > self._limit:
                    oldest = next(iter(self._cached))
                    self._size -= self._cached.pop(oldest)[2]
                self._cached[digest] = (body, text, cost)
                self._size += cost
        return value

    def to_write(self, blobs: Iterable[Blob], now_ms: int) -> list[Blob]:
        """The blobs this process has not stored (or refreshed) within BLOB_TOUCH_MS."""
        with self._lock:
            todo = {
                b.digest: b
                for b in blobs
                if now_ms - self._ensured.get(b.digest, -BLOB_TOUCH_MS) >= BLOB_TOUCH_MS
            }
        return list(todo.values())

    def written(self, digests: Iterable[str], now_ms: int) -> None:
        """Remember digests stored by a committed transaction."""
        with self._lock:
            if len(self._ensured) > _ENSURED_MAX:
                self._ensured.clear()
            self._ensured.update(dict.fromkeys(digests, now_ms))

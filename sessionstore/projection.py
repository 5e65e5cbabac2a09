"""The hot-index projection: the one function that derives index columns from an entry.

Both backends use it: the SQL backend writes its result in the same statement as
``entry_json``; the JSON twin uses it to filter and summarise, so both answer alike.

The entry keeps every value as written; a column holds its index form:

- ``updated_at``: the number floored and clamped into 0..MAX_TIMESTAMP_MS; 0 when the
  entry has no ``updatedAt`` (:func:`~sessionstore.entry.timestamp_of`);
- ``created_at`` (``sessionStartedAt``): the same, NULL when absent;
- the counters: the number floored, a negative one kept as it is
  (:func:`~sessionstore.entry.count_of`); NULL when absent or not a number;
- the text columns: the string cut to :data:`SHORT_TEXT` bytes of UTF-8, a lone
  UTF-16 surrogate (which no database's text holds) replaced by U+FFFD; NULL when not
  a string;
- ``archived``: whether ``archivedAt`` is a number.

An entry of OpenClaw 2026.9 that folds its delivery fields into ``delivery: {kind:
"external", context, origin}`` is indexed by the flat fields that stands for, as
OpenClaw projects them: ``channel`` from ``context.channel`` (else
``origin.provider``), ``lastChannel``, ``lastTo``, ``lastAccountId`` and
``lastThreadId`` from ``context``. A flat field the entry has wins.

>>> columns = project({"sessionId": "s1", "updatedAt": 7, "lastThreadId": 42, "archivedAt": 9})
>>> columns["last_thread_id"], columns["archived"]
('42', True)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sessionstore.entry import (
    MAX_KEY_BYTES,
    MAX_TIMESTAMP_MS,
    SessionSummary,
    count_of,
    timestamp_of,
)

__all__ = [
    "COUNT_COLUMNS",
    "INDEX_COLUMNS",
    "SHORT_TEXT",
    "count_columns",
    "project",
    "summary_from_columns",
    "truncate_utf8",
]

#: Size of the short text columns in bytes of UTF-8; longer values are indexed by
#: their beginning (a bound in bytes keeps every index within MySQL's 3072 bytes).
SHORT_TEXT = 255
_SURROGATE = re.compile("[\ud800-\udfff]")

# column -> entry field, for the plain text columns
_TEXT_FIELDS = {
    "channel": "channel",
    "last_channel": "lastChannel",
    "last_to": "lastTo",
    "last_account_id": "lastAccountId",
    "label": "label",
    "display_name": "displayName",
    "status": "status",
    "chat_type": "chatType",
    "model": "model",
    "model_provider": "modelProvider",
}
_COUNT_FIELDS = {
    "total_tokens": "totalTokens",
    "input_tokens": "inputTokens",
    "output_tokens": "outputTokens",
    "message_count": "messageCount",
}
#: The projected counters, which an append moves.
COUNT_COLUMNS = tuple(_COUNT_FIELDS)

#: Every projected column, in table order.
INDEX_COLUMNS: tuple[str, ...] = (
    "session_id",
    "updated_at",
    "created_at",
    *_COUNT_FIELDS,
    *_TEXT_FIELDS,
    "spawned_by",
    "last_thread_id",
    "archived",
)


def truncate_utf8(value: str, limit: int) -> str:
    """``value`` cut to at most ``limit`` bytes of UTF-8, never inside a character.

    >>> truncate_utf8("añb", 2)
    'a'
    """
    if len(value) * 4 <= limit:
        return value
    return value.encode()[:limit].decode(errors="ignore")


def _text(value: Any, limit: int = SHORT_TEXT) -> str | None:
    if not isinstance(value, str):
        return None
    if value.isascii():  # one byte per character
        return value if len(value) <= limit else value[:limit]
    return truncate_utf8(_SURROGATE.sub("\ufffd", value), limit)


def _timestamp(value: Any) -> int | None:
    """:func:`~sessionstore.entry.timestamp_of`, at once for an int already in range."""
    if type(value) is int and 0 <= value <= MAX_TIMESTAMP_MS:
        return value
    return timestamp_of(value)


def _count(value: Any) -> int | None:
    """:func:`~sessionstore.entry.count_of`, at once for an int already in range."""
    if type(value) is int and -(2**63) <= value < 2**63:
        return value
    return count_of(value)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def count_columns(entry: Mapping[str, Any]) -> dict[str, int | None]:
    """The counter columns (:data:`COUNT_COLUMNS`) of one entry's JSON object."""
    return {column: _count(entry.get(field)) for column, field in _COUNT_FIELDS.items()}


def _delivery_fields(delivery: Any) -> dict[str, Any]:
    """The flat fields a folded ``delivery`` stands for (OpenClaw's
    ``projectSessionDeliveryFields``); none unless it is ``external``.

    >>> delivery = {"kind": "external", "context": {"to": "7"}, "origin": {"provider": "x"}}
    >>> fields = _delivery_fields(delivery)
    >>> fields["channel"], fields["lastTo"], fields["lastChannel"]
    ('x', '7', None)
    """
    if not isinstance(delivery, dict) or delivery.get("kind") != "external":
        return {}
    context = delivery.get("context")
    context = context if isinstance(context, dict) else {}
    origin = delivery.get("origin")
    origin = origin if isinstance(origin, dict) else {}
    channel = context.get("channel")
    return {
        "channel": origin.get("provider") if channel is None else channel,
        "lastChannel": channel,
        "lastTo": context.get("to"),
        "lastAccountId": context.get("accountId"),
        "lastThreadId": context.get("threadId"),
    }


def project(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Index column values for one entry given as its JSON object (camelCase keys)."""
    if "delivery" in entry:
        folded = _delivery_fields(entry["delivery"])
        entry = {**folded, **{k: v for k, v in entry.items() if k not in folded or v is not None}}
    columns: dict[str, Any] = {
        "session_id": entry["sessionId"],
        "updated_at": _timestamp(entry.get("updatedAt")) or 0,
        "created_at": _timestamp(entry.get("sessionStartedAt")),
        "archived": _timestamp(entry.get("archivedAt")) is not None,
    }
    columns.update(count_columns(entry))
    for column, field in _TEXT_FIELDS.items():
        columns[column] = _text(entry.get(field))
    columns["spawned_by"] = _text(entry.get("spawnedBy"), MAX_KEY_BYTES)
    thread = entry.get("lastThreadId")
    columns["last_thread_id"] = (
        _text(thread)
        if isinstance(thread, str)
        else (str(thread) if _int(thread) is not None else None)
    )
    return columns


def summary_from_columns(key: str, columns: Mapping[Any, Any]) -> SessionSummary:
    """Build a listing row from index columns (a projection or a database row)."""
    return SessionSummary(key=key, **{name: columns[name] for name in INDEX_COLUMNS})

"""Large, repeated fields stored once, by content (sha256), out of the entry's row.

``skillsSnapshot.prompt`` (the rendered skills catalogue, 13-43 KB) and
``systemPromptReport`` (5-120 KB) are 90-95 % of an entry's bytes and mostly identical
across the entries of an agent. A row keeps a ``null`` in their place in ``entry_json``
(so the field order stays) and their digests in ``prompt_blob`` / ``report_blob``; the
value, as its exact JSON text, is in ``session_blobs`` once per digest.

Revision ``0003`` uses :func:`split` and :func:`join` to move existing rows, so their
behaviour must not change: a later format needs a new revision.

>>> entry = {"sessionId": "s1", "updatedAt": 1, "systemPromptReport": {"chars": "x" * 2000}}
>>> stored, blobs = split(entry)
>>> stored["systemPromptReport"], sorted(blobs) == [blobs["report_blob"].digest]
(None, False)
>>> join(stored, {name: b.body for name, b in blobs.items()}) == entry
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sessionstore.entry import dumps_json, loads_json

__all__ = ["BLOB_COLUMNS", "MIN_BLOB_BYTES", "Blob", "join", "put_back", "split"]

#: Values smaller than this stay inline: a separate row would cost more than it saves.
MIN_BLOB_BYTES = 1024
#: Column of ``sessions`` -> path of the field in the entry.
BLOB_COLUMNS: dict[str, tuple[str, ...]] = {
    "prompt_blob": ("skillsSnapshot", "prompt"),
    "report_blob": ("systemPromptReport",),
}


@dataclass(frozen=True, slots=True)
class Blob:
    """One out-of-line value: its JSON text and the sha256 of that text."""

    digest: str
    body: bytes

    @classmethod
    def of(cls, value: Any) -> Blob:
        memo = isinstance(value, str)  # the skills prompt most entries share
        if memo and (known := _STRING_BLOBS.get(value)) is not None:
            return known
        body = dumps_json(value)
        blob = cls(hashlib.sha256(body).hexdigest(), body)
        if memo and len(body) >= MIN_BLOB_BYTES:
            if len(_STRING_BLOBS) >= _STRING_BLOBS_MAX:
                _STRING_BLOBS.clear()
            _STRING_BLOBS[value] = blob
        return blob


# The blobs of recent large strings, by value, so that writing the same prompt again
# neither encodes nor hashes it. A few distinct prompts per process are usual.
_STRING_BLOBS: dict[str, Blob] = {}
_STRING_BLOBS_MAX = 32


def _parent(entry: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = entry
    for name in path[:-1]:
        node = node.get(name) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else None


def split(entry: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Blob]]:
    """The entry as its row stores it, and the blobs taken out (by column name).

    Only values of at least :data:`MIN_BLOB_BYTES` of JSON move out. The input is not
    modified; nested objects on a blob's path are copied.
    """
    stored = dict(entry)
    blobs: dict[str, Blob] = {}
    for column, path in BLOB_COLUMNS.items():
        parent = _parent(stored, path)
        if parent is None or parent.get(path[-1]) is None:
            continue
        blob = Blob.of(parent[path[-1]])
        if len(blob.body) < MIN_BLOB_BYTES:
            continue
        blobs[column] = blob
        if len(path) == 1:
            stored[path[0]] = None
        else:
            stored[path[0]] = {**stored[path[0]], path[-1]: None}
    return stored, blobs


def join(stored: Mapping[str, Any], bodies: Mapping[str, bytes]) -> dict[str, Any]:
    """The entry back from its row and the JSON text of its blobs (by column name)."""
    return put_back(stored, {column: loads_json(body) for column, body in bodies.items()})


def put_back(stored: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The entry back from its row and its blobs' values (by column name)."""
    entry = dict(stored)
    for column, value in values.items():
        path = BLOB_COLUMNS[column]
        if len(path) == 1:
            entry[path[0]] = value
        else:
            entry[path[0]] = {**entry[path[0]], path[-1]: value}
    return entry

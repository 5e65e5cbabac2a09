"""OpenClaw's ``sessions.json`` as bytes: the strict parser and the serialiser that
writes it as OpenClaw does (``JSON.stringify(store, null, 2)``).

Both the JSON twin and the state-directory reader use these, so a file is read and
written the same way everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["BOM", "DuplicateKeyError", "parse_store_text", "serialise_store"]

#: A UTF-8 byte-order mark, which hand-edited files sometimes start with.
BOM = b"\xef\xbb\xbf"


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise DuplicateKeyError(f"duplicate key {duplicate!r}")
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def parse_store_text(text: bytes) -> Any:
    """Parse a ``sessions.json``: strict JSON in UTF-8 (a leading BOM is allowed).

    Duplicate keys are refused rather than silently dropped: whatever the next write
    would keep, it would lose the other copy. Raises ``ValueError`` saying what is wrong.

    >>> parse_store_text(b'{"a": 1, "a": 2}')
    Traceback (most recent call last):
    ...
    sessionstore.openclaw.storefile.DuplicateKeyError: duplicate key 'a'
    """
    try:
        body = text.removeprefix(BOM).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8: {exc}") from exc
    return json.loads(body, object_pairs_hook=_unique_keys, parse_constant=_no_constant)


def serialise_store(raw: Mapping[str, Any]) -> bytes:
    r"""The store as ``JSON.stringify(store, null, 2)`` writes it: 2-space indent, UTF-8.

    >>> serialise_store({"k": "\ud83d"})
    b'{\n  "k": "\\ud83d"\n}'
    """
    try:
        return orjson.dumps(raw, option=orjson.OPT_INDENT_2)
    except orjson.JSONEncodeError:
        # Lone UTF-16 surrogates (a JavaScript string cut inside an emoji) have no UTF-8
        # form: write them as JSON escapes, as JSON.stringify does.
        text = json.dumps(raw, indent=2, ensure_ascii=False)
        return text.encode("utf-8", "backslashreplace")

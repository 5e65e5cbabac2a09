"""OpenClaw's merge rules for patching an entry (``mergeSessionEntryWithPolicy``).

>>> merged = merge_entry({"sessionId": "s1", "updatedAt": 5, "model": "a", "modelProvider": "p"},
...                      {"model": "b"}, now_ms=10)
>>> merged["updatedAt"], "modelProvider" in merged
(10, False)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any, TypeGuard

from sessionstore.entry import json_names

__all__ = ["merge_entry", "now_ms"]


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def _valid_time(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def merge_entry(
    existing: Mapping[str, Any] | None,
    changes: Mapping[str, Any],
    *,
    preserve_activity: bool = False,
    now_ms: int,
) -> dict[str, Any]:
    """Shallow-merge ``changes`` into ``existing`` as OpenClaw does. Known fields may be
    given by their Python names (``display_name``) or JSON names (``displayName``).

    - ``sessionId``: the patch's, else the existing one, else a new UUID.
    - ``updatedAt``: the newest valid of existing, patch and now, clamped to now;
      with ``preserve_activity`` the existing value is kept.
    - ``model`` set without ``modelProvider`` removes a stale ``modelProvider``.
    """
    existing = existing or {}
    changes = json_names(changes)
    merged = {**existing, **changes}
    merged["sessionId"] = changes.get("sessionId") or existing.get("sessionId") or str(uuid.uuid4())
    old = existing.get("updatedAt")
    if preserve_activity and _valid_time(old):
        merged["updatedAt"] = old
    else:
        candidates = [now_ms]
        for value in (old, changes.get("updatedAt")):
            if _valid_time(value):
                candidates.append(value)
        merged["updatedAt"] = min(max(candidates), now_ms)
    if "model" in changes and "modelProvider" not in changes:
        merged.pop("modelProvider", None)
    return merged

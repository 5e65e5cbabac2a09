"""The generator's clock: the instant generated data is dated from, and its units."""

from __future__ import annotations

__all__ = ["DAY_MS", "DEFAULT_NOW_MS", "HISTORY_DAYS", "HOUR_MS"]

#: The clock generated data is dated from unless ``now_ms`` is given: 2026-03-31T13:00:00Z.
DEFAULT_NOW_MS = 1_774_962_000_000

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
#: Regular sessions are dated within this many days before the clock.
HISTORY_DAYS = 60

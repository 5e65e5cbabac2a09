"""cleanup's rules for every combination of ages and limits, and durations (cleanup,
reset and check on every backend: ``tests/contract/test_lifecycle.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionstore import InvalidArgumentError, open_store
from sessionstore.lifecycle import DAY_MS, Action, cleanup, parse_duration
from tests.contract.helpers import DISPOSABLE, NOW, PROTECTED


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ages=st.lists(st.integers(0, 60), min_size=len(PROTECTED) + 3, max_size=len(PROTECTED) + 3),
    prune_days=st.one_of(st.none(), st.integers(0, 60)),
    cap=st.one_of(st.none(), st.integers(0, 12)),
)
def test_protected_keys_survive_every_combination(
    tmp_path: Path, ages: list[int], prune_days: int | None, cap: int | None
) -> None:
    keys = [*PROTECTED, *DISPOSABLE]
    path = tmp_path / f"{abs(hash((tuple(ages), prune_days, cap)))}.json"
    with open_store(path) as store:
        store.put_many(
            (key, {"sessionId": f"s{i}", "updatedAt": NOW - age * DAY_MS, **PROTECTED.get(key, {})})
            for i, (key, age) in enumerate(zip(keys, ages, strict=True))
        )
        report = cleanup(
            store,
            now_ms=NOW,
            prune_after_ms=None if prune_days is None else prune_days * DAY_MS,
            max_entries=cap,
        )
        left = {summary.key for summary in store.list(limit=100).items}
    assert set(PROTECTED) <= left
    assert len({item.key for item in report.items}) == len(report.items)  # each key once
    assert left == set(keys) - {item.key for item in report.removals}
    for item in report.removals:
        stale = prune_days is not None and item.updated_at < NOW - prune_days * DAY_MS
        assert stale or item.action is Action.CAP_OVERFLOW
    if cap is not None:
        assert len(left - set(PROTECTED)) <= cap


def test_durations() -> None:
    assert parse_duration("30d") == 30 * DAY_MS
    assert parse_duration("90m") == 90 * 60_000
    assert parse_duration("1.5h") == 5_400_000
    with pytest.raises(InvalidArgumentError):
        parse_duration("soon")

"""cleanup's rules for every combination of ages and limits, durations, and cleanup,
reset and check on both transcript tiers (files and SQL) of every database (the rules
on every backend: ``tests/contract/test_lifecycle.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionstore import InvalidArgumentError, SessionStore, StoreUnavailableError, open_store
from sessionstore.events import iso_ms
from sessionstore.lifecycle import DAY_MS, Action, check, cleanup, parse_duration, reset
from tests.contract.helpers import DISPOSABLE, NOW, OLD, PROTECTED


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


# -- cleanup, reset and check on both transcript tiers -----------------------------


@pytest.fixture(params=["files", "sql"])
def tiered(
    request: pytest.FixtureRequest, sql_target: str, tmp_path: Path
) -> Iterator[SessionStore]:
    """A store of every SQL backend with its transcripts as files or in SQL."""
    tier = str(request.param)
    options: dict[str, Any] = {"transcripts": tier}
    if tier == "files":
        options["transcripts_dir"] = tmp_path / "sessions"
    with open_store(sql_target, **options) as store:
        assert store.transcripts.tier == tier
        yield store


def _say(text: str, **usage: int) -> dict[str, Any]:
    role = "assistant" if usage else "user"
    message: dict[str, Any] = {"role": role, "content": text}
    if usage:
        message["usage"] = usage
    return {"type": "message", "message": message}


def _session(store: SessionStore, key: str, session_id: str, updated_at: int, n: int = 1) -> None:
    """An entry with a transcript of ``n`` messages, last updated at ``updated_at``."""
    store.put(key, {"sessionId": session_id, "updatedAt": updated_at})
    store.transcripts.append(key, [_say(f"message {i}") for i in range(n)])
    store.patch(key, {"updatedAt": updated_at}, preserve_activity=True)
    entry = store.get(key)
    assert entry is not None and entry.updated_at == updated_at


def test_cleanup_archives_and_expires_transcripts_on_either_tier(tiered: SessionStore) -> None:
    store, tier = tiered, tiered.transcripts
    _session(store, "agent:main:cron:a", "gone", OLD)
    _session(store, "agent:main:cron:b", "shared", OLD)
    store.put("agent:main:cron:c", {"sessionId": "shared", "updatedAt": NOW})
    # archives made long ago: a deleted one past retention, a reset one (kept)
    for key, sid, reason in (("agent:main:x", "x", "deleted"), ("agent:main:y", "y", "reset")):
        _session(store, key, sid, NOW)
        assert tier.archive(key, reason, now_ms=OLD)  # type: ignore[arg-type]
        store.delete(key)
    old_deleted, old_reset = (a.name for a in tier.archives())
    dry = cleanup(store, now_ms=NOW, transcripts=tier, dry_run=True)
    report = cleanup(store, now_ms=NOW, transcripts=tier)
    assert report.archived == dry.archived == ["gone.jsonl"]  # "shared" is still used
    assert report.expired == dry.expired == [old_deleted]
    assert not report.has_errors and report.applied_count == 2
    names = [a.name for a in tier.archives()]
    assert names == sorted([old_reset, f"gone.jsonl.deleted.{iso_ms(NOW).replace(':', '-')}"])
    assert tier.session_ids() == {"shared"}
    assert [e["message"]["content"] for e in tier.tail("agent:main:cron:c")] == ["message 0"]
    missing = cleanup(store, now_ms=NOW, fix_missing=True, transcripts=tier, max_entries=None)
    assert missing.removals == []  # cron:c has its transcript


def test_fix_missing_on_either_tier(tiered: SessionStore) -> None:
    store = tiered
    _session(store, "agent:main:webchat:direct:a", "has", NOW)
    store.put("agent:main:webchat:direct:b", {"sessionId": "lost", "updatedAt": NOW})
    report = cleanup(store, now_ms=NOW, fix_missing=True, transcripts=store.transcripts)
    assert [(i.key, i.action) for i in report.removals] == [
        ("agent:main:webchat:direct:b", Action.PRUNE_MISSING)
    ]
    assert store.get("agent:main:webchat:direct:b") is None


def test_fix_missing_refuses_a_tier_without_any_transcript(tiered: SessionStore) -> None:
    """A tier that holds no transcript of the agent (a database migrated without its
    transcripts, a wrong directory) would make every entry missing: refused."""
    store = tiered
    store.put("agent:main:webchat:direct:a", {"sessionId": "elsewhere", "updatedAt": NOW})
    with pytest.raises(InvalidArgumentError, match="holds no transcript"):
        cleanup(store, now_ms=NOW, fix_missing=True, transcripts=store.transcripts)
    assert store.count() == 1


def test_reset_archives_the_old_transcript_on_either_tier(tiered: SessionStore) -> None:
    store, tier = tiered, tiered.transcripts
    key = "agent:main:main"
    _session(store, key, "old", OLD, n=3)
    store.patch(key, {"label": "Inbox"})
    entry = reset(store, key, transcripts=tier, now_ms=NOW)
    assert entry.session_id != "old" and entry.label == "Inbox"
    assert entry.message_count is None and store.get(key) == entry
    assert tier.tail(key) == [] and tier.count(key) == 0
    assert [a.name for a in tier.archives()] == [f"old.jsonl.reset.{iso_ms(NOW).replace(':', '-')}"]
    assert tier.session_ids() == set()
    assert tier.append(key, [_say("fresh start")]).written == 1
    assert tier.session_ids() == {entry.session_id}
    with pytest.raises(InvalidArgumentError):
        reset(store, "agent:main:absent", transcripts=tier)


@pytest.mark.usefixtures("no_hang")
def test_reset_refuses_an_unusable_transcript_before_the_entry_changes(tmp_path: Path) -> None:
    with open_store(tmp_path / "sessions.json") as store:
        store.put("agent:main:main", {"sessionId": "s1", "updatedAt": OLD})
        os.mkfifo(tmp_path / "s1.jsonl")
        with pytest.raises(StoreUnavailableError):
            reset(store, "agent:main:main", transcripts=store.transcripts, now_ms=NOW)
        entry = store.get("agent:main:main")
        assert entry is not None and entry.session_id == "s1"


def test_check_compares_counters_with_either_tier_and_repair_fixes_them(
    tiered: SessionStore,
) -> None:
    store, tier = tiered, tiered.transcripts
    usage = {"input": 10, "output": 5, "totalTokens": 15}
    for key, sid in (("agent:main:good", "good"), ("agent:main:wrong", "wrong")):
        store.put(key, {"sessionId": sid, "updatedAt": NOW})
        tier.append(key, [_say("hi"), _say("hello", **usage)])
    store.patch("agent:main:wrong", {"messageCount": 7, "totalTokens": 3})
    store.put("agent:main:fresh", {"sessionId": "fresh", "updatedAt": NOW})
    tier.append("agent:main:fresh", [_say("hi")])
    store.put("agent:main:fresh", {"sessionId": "fresh", "updatedAt": NOW})  # never counted
    store.put("agent:main:missing", {"sessionId": "missing", "updatedAt": NOW})
    store.put("agent:main:gone", {"sessionId": "gone", "updatedAt": NOW})
    tier.append("agent:main:gone", [_say("bye")])
    store.delete("agent:main:gone")
    report = check(store)  # the store's own transcripts
    assert not report.consistent
    assert report.missing == ["agent:main:missing"]
    assert report.orphans == ["gone.jsonl"]
    assert report.wrong_counts == {
        "agent:main:wrong": {"messageCount": [7, 2], "totalTokens": [3, 15]}
    }
    assert report.uncounted == ["agent:main:fresh"]
    assert report.transcript_errors == {}
    repaired = check(store, tier, repair=True)
    assert repaired.repaired == 2
    again = check(store, tier)
    assert again.wrong_counts == {} and again.uncounted == []
    wrong = store.get("agent:main:wrong")
    assert wrong is not None
    assert (wrong.message_count, wrong.input_tokens, wrong.total_tokens) == (2, 10, 15)

"""The contract, lifecycle: cleanup, reset and check on every backend, with real
transcript files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from sessionstore import InvalidArgumentError, SessionStore, Transcripts, open_store
from sessionstore.lifecycle import DAY_MS, Action, check, cleanup, reset
from tests.contract.backends import ALL_BACKENDS, BACKENDS, with_marks_of
from tests.contract.helpers import DISPOSABLE, NOW, OLD, PROTECTED


def fill(store: SessionStore, updated_at: int = OLD) -> None:
    items: list[tuple[str, dict[str, Any]]] = [
        (key, {"sessionId": f"s{i}", "updatedAt": updated_at + i, **extra})
        for i, (key, extra) in enumerate(PROTECTED.items())
    ]
    items += [
        (key, {"sessionId": f"d{i}", "updatedAt": updated_at + 100 + i})
        for i, key in enumerate(DISPOSABLE)
    ]
    store.put_many(items)


def test_stale_entries_go_and_protected_ones_stay(store: SessionStore) -> None:
    fill(store)
    store.put("agent:main:webchat:direct:fresh", {"sessionId": "f", "updatedAt": NOW - DAY_MS})
    report = cleanup(store, now_ms=NOW, active_key="agent:main:telegram:direct:7")
    removed = {item.key for item in report.removals}
    assert removed == {"agent:main:cron:nightly", "agent:main:subagent:s1"}
    kept = {item.key: item.reason for item in report.items if item.action is Action.KEEP}
    assert kept["agent:main:telegram:direct:7"] == "active session"
    assert kept["agent:main:whatsapp:direct:+1"] == "archived"
    assert set(kept) == set(PROTECTED) | {"agent:main:telegram:direct:7"}
    assert (report.before, report.after, report.applied) == (11, 9, True)
    assert store.count() == 9 and store.get("agent:main:webchat:direct:fresh") is not None


def test_the_cap_keeps_the_newest_and_never_a_protected_one(store: SessionStore) -> None:
    fill(store, updated_at=NOW - DAY_MS)
    report = cleanup(store, now_ms=NOW, max_entries=2)
    # newest first: the three disposable ones (+100..) are the newest two and one over
    assert [i.key for i in report.removals] == ["agent:main:cron:nightly"]
    assert report.count(Action.CAP_OVERFLOW) == 1
    assert store.count() == 9  # over the cap: the rest is protected
    emptied = cleanup(store, now_ms=NOW, max_entries=0)
    assert {i.key for i in emptied.removals} == set(DISPOSABLE) - {"agent:main:cron:nightly"}
    assert {s.key for s in store.list(limit=100).items} == set(PROTECTED)


def test_warn_and_dry_run_remove_nothing_and_report_what_enforce_does(
    store: SessionStore,
) -> None:
    fill(store)
    options: dict[str, Any] = {"now_ms": NOW, "max_entries": 1}
    warned = cleanup(store, mode="warn", **options)
    dry = cleanup(store, dry_run=True, **options)
    assert store.count() == 10 and not warned.applied and not dry.applied
    assert warned.items == dry.items and dry.would_mutate
    enforced = cleanup(store, **options)
    assert enforced.items == dry.items
    assert enforced.after == dry.after == store.count() == 7


@with_marks_of(ALL_BACKENDS)
def test_reports_are_identical_on_every_backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    targets = [BACKENDS[name].target(request, tmp_path) for name in ALL_BACKENDS]
    reports = []
    for target in targets:
        with open_store(target, auto_upgrade=True) as store:
            fill(store)
            for n in range(30):
                store.put(f"agent:main:cron:job-{n}", {"sessionId": f"c{n}", "updatedAt": NOW - n})
            reports.append(cleanup(store, now_ms=NOW, max_entries=12).to_dict())
    # the pages a SQLite file gave back are the storage's, not a decision of the rules;
    # the JSON twin and the servers have none to give back
    pages = {name: r.pop("reclaimedPages") for name, r in zip(ALL_BACKENDS, reports, strict=True)}
    assert all(isinstance(n, int) and n >= 0 for n in pages.values())
    others = {name: n for name, n in pages.items() if "sqlite" not in name}
    assert others == dict.fromkeys(others, 0)
    assert all(report == reports[0] for report in reports[1:])
    assert reports[0]["pruned"] == 3 and reports[0]["capped"] == 18


def _transcript(directory: Path, name: str, lines: int = 1) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text('{"type":"session","version":3,"id":"x"}\n' * lines)
    return path


def test_transcripts_of_removed_entries_are_archived_not_deleted(
    store: SessionStore, tmp_path: Path
) -> None:
    transcripts = Transcripts(tmp_path / "sessions")
    store.put("agent:main:cron:a", {"sessionId": "gone", "updatedAt": OLD})
    store.put("agent:main:cron:b", {"sessionId": "shared", "updatedAt": OLD})
    store.put("agent:main:cron:c", {"sessionId": "shared", "updatedAt": NOW})
    for name in ("gone.jsonl", "shared.jsonl", "keep.jsonl.bak.2026-01-01T00-00-00.000Z"):
        _transcript(transcripts.directory, name)
    old_archive = _transcript(transcripts.directory, "x.jsonl.deleted.2026-01-01T00-00-00.000Z")
    old_reset = _transcript(transcripts.directory, "y.jsonl.reset.2026-01-01T00-00-00.000Z")
    report = cleanup(store, now_ms=NOW, transcripts=transcripts)
    assert report.archived == ["gone.jsonl"]  # "shared" is still used by a kept entry
    assert report.expired == [old_archive.name]
    names = sorted(os.listdir(transcripts.directory))
    assert "gone.jsonl" not in names and "shared.jsonl" in names
    assert [n for n in names if n.startswith("gone.jsonl.deleted.")]
    assert old_reset.exists() and not old_archive.exists()
    assert "keep.jsonl.bak.2026-01-01T00-00-00.000Z" in names


def test_fix_missing_drops_entries_without_a_transcript(
    store: SessionStore, tmp_path: Path
) -> None:
    transcripts = Transcripts(tmp_path / "sessions")
    store.put("agent:main:webchat:direct:a", {"sessionId": "has", "updatedAt": NOW})
    store.put("agent:main:webchat:direct:b", {"sessionId": "lost", "updatedAt": NOW})
    store.put("agent:main:main", {"sessionId": "lost-main", "updatedAt": NOW})
    _transcript(transcripts.directory, "has.jsonl")
    report = cleanup(store, now_ms=NOW, fix_missing=True, transcripts=transcripts)
    assert [(i.key, i.action) for i in report.removals] == [
        ("agent:main:webchat:direct:b", Action.PRUNE_MISSING)
    ]
    with pytest.raises(InvalidArgumentError, match="transcripts"):
        cleanup(store, fix_missing=True)


def test_reset_starts_a_new_session_and_archives_the_old_transcript(
    store: SessionStore, tmp_path: Path
) -> None:
    transcripts = Transcripts(tmp_path / "sessions")
    old_file = str(transcripts.directory / "old.jsonl")
    store.put(
        "agent:main:main",
        {
            "sessionId": "old",
            "updatedAt": OLD,
            "sessionStartedAt": OLD,
            "sessionFile": old_file,
            "label": "Inbox",
            "messageCount": 4,
            "totalTokens": 900,
        },
    )
    _transcript(transcripts.directory, "old.jsonl")
    entry = reset(store, "agent:main:main", transcripts=transcripts, now_ms=NOW)
    assert entry.session_id != "old" and entry.label == "Inbox"
    assert entry.session_started_at == NOW and entry.updated_at == NOW
    assert entry.message_count is None and entry.total_tokens is None
    assert entry.session_file == str(transcripts.directory / f"{entry.session_id}.jsonl")
    assert store.get("agent:main:main") == entry
    archived = [n for n in os.listdir(transcripts.directory) if n.startswith("old.jsonl.reset.")]
    assert len(archived) == 1 and not (transcripts.directory / "old.jsonl").exists()
    with pytest.raises(InvalidArgumentError):
        reset(store, "agent:main:absent")


def _message(role: str, **extra: Any) -> dict[str, Any]:
    return {"type": "message", "message": {"role": role, "content": "x", **extra}}


def test_check_finds_every_planted_inconsistency_and_repair_fixes_counts(
    store: SessionStore, tmp_path: Path
) -> None:
    transcripts = Transcripts(tmp_path / "sessions")
    usage = {"input": 10, "output": 5, "totalTokens": 15}
    store.put("agent:main:good", {"sessionId": "good", "updatedAt": NOW, "messageCount": 2})
    store.put("agent:main:wrong", {"sessionId": "wrong", "updatedAt": NOW, "messageCount": 7})
    store.put("agent:main:fresh", {"sessionId": "fresh", "updatedAt": NOW})
    store.put("agent:main:missing", {"sessionId": "missing", "updatedAt": NOW})
    for session_id in ("good", "wrong", "fresh"):
        transcripts.append(
            {"sessionId": session_id, "updatedAt": 1},
            [_message("user"), _message("assistant", usage=usage)],
        )
    store.patch("agent:main:good", {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15})
    _transcript(transcripts.directory, "orphan.jsonl")
    report = check(store, transcripts)
    assert not report.consistent
    assert report.missing == ["agent:main:missing"]
    assert report.orphans == ["orphan.jsonl"]
    assert report.wrong_counts == {
        "agent:main:wrong": {
            "messageCount": [7, 2],
            "inputTokens": [None, 10],
            "outputTokens": [None, 5],
            "totalTokens": [None, 15],
        }
    }
    assert report.uncounted == ["agent:main:fresh"]
    repaired = check(store, transcripts, repair=True)
    assert repaired.repaired == 2
    again = check(store, transcripts)
    assert again.wrong_counts == {} and again.uncounted == []
    wrong = store.get("agent:main:wrong")
    assert wrong is not None and (wrong.message_count, wrong.total_tokens) == (2, 15)

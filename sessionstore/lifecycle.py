"""Session lifecycle with OpenClaw's maintenance rules: :func:`cleanup` (prune stale
entries, cap the store, drop entries whose transcript is gone, archive their
transcripts), :func:`reset` (``/new``) and :func:`check` (the index against the
transcripts).

The rules live here once, on top of the store contract and the transcript contract
(:class:`~sessionstore.contract.TranscriptStore`), so every backend and both transcript
tiers (``.jsonl`` files or SQL) report and act alike. Each step reads only what it may
remove: stale entries through the index on ``updatedAt``, cap overflow past the newest
``max_entries``; the only exception is ``fix_missing``, which must look at every
transcript. A transcript or archive that cannot be used (a FIFO or a symlink out of the
directory in its place, a file that cannot be removed) is reported with its reason and
left alone; the other entries are still checked or cleaned. On a SQL store an enforced
cleanup then collects what nobody references (blobs; SQL transcripts without an entry,
archived so that their retention applies) and returns the freed pages of a SQLite file
to the file system in short steps.

>>> import tempfile, os
>>> from sessionstore import open_store
>>> store = open_store(os.path.join(tempfile.mkdtemp(), "sessions.json"))
>>> _ = store.put("agent:main:main", {"sessionId": "s1", "updatedAt": 1})
>>> _ = store.put("agent:main:cron:nightly", {"sessionId": "s2", "updatedAt": 2})
>>> report = cleanup(store, now_ms=100 * DAY_MS)
>>> [(item.key, item.action.value, item.reason) for item in report.items]
[('agent:main:main', 'keep', 'main session'), ('agent:main:cron:nightly', 'prune-stale', None)]
>>> report.before, report.after
(2, 1)
"""

from __future__ import annotations

import os
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, TypedDict

from sessionstore.contract import (
    MAX_PAGE_SIZE,
    SessionStore,
    SupportsMaintenance,
    TranscriptStats,
    TranscriptStore,
)
from sessionstore.entry import SessionEntry, SessionSummary
from sessionstore.errors import InvalidArgumentError, StoreUnavailableError
from sessionstore.events import topic_of_file, transcript_file_name
from sessionstore.openclaw.merge import now_ms as current_time_ms
from sessionstore.openclaw.transcripts import FileTranscripts, Transcripts
from sessionstore.projection import project, summary_from_columns

__all__ = [
    "DAY_MS",
    "DEFAULT_MAX_ENTRIES",
    "DEFAULT_PRUNE_AFTER_MS",
    "Action",
    "CheckReport",
    "CleanupItem",
    "CleanupOptions",
    "CleanupReport",
    "check",
    "cleanup",
    "parse_duration",
    "protection",
    "reset",
    "transcript_name",
]

DAY_MS = 86_400_000
#: OpenClaw's ``session.maintenance.pruneAfter``: 30 days.
DEFAULT_PRUNE_AFTER_MS = 30 * DAY_MS
#: OpenClaw's ``session.maintenance.maxEntries``.
DEFAULT_MAX_ENTRIES = 500
Mode = Literal["enforce", "warn"]
#: What cleanup, reset and check take as transcripts: the transcript contract (for
#: example ``store.transcripts``), or a files-tier directory (:class:`Transcripts`).
TranscriptsArg = TranscriptStore | Transcripts | None


class CleanupOptions(TypedDict, total=False):
    """The options of :func:`cleanup`."""

    prune_after_ms: int | None
    max_entries: int | None
    mode: Mode
    dry_run: bool
    active_key: str | None
    fix_missing: bool
    transcripts: TranscriptsArg
    reset_archive_retention_ms: int | None
    reclaim: bool
    now_ms: int | None


_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*", re.I)
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": DAY_MS, "w": 7 * DAY_MS}


def parse_duration(text: str | int) -> int:
    """A duration in OpenClaw's notation (``30d``, ``12h``, ``90m``; a bare number is
    days) in milliseconds.

    >>> parse_duration("12h"), parse_duration(2)
    (43200000, 172800000)
    """
    if isinstance(text, int) and not isinstance(text, bool):
        return text * DAY_MS
    match = _DURATION.fullmatch(str(text))
    if match is None:
        raise InvalidArgumentError(f"not a duration: {text!r} (expected e.g. 30d, 12h, 90m)")
    return round(float(match[1]) * _UNIT_MS[(match[2] or "d").lower()])


class Action(StrEnum):
    """What cleanup does with a key."""

    KEEP = "keep"
    PRUNE_STALE = "prune-stale"
    PRUNE_MISSING = "prune-missing"
    CAP_OVERFLOW = "cap-overflow"


@dataclass(frozen=True)
class CleanupItem:
    """One key cleanup looked at: removed, or kept because it is protected."""

    key: str
    action: Action
    updated_at: int
    model: str | None = None
    #: why a key that a rule matched is kept
    reason: str | None = None


@dataclass
class CleanupReport:
    """What :func:`cleanup` found, and did unless ``dry_run`` or ``mode="warn"``.

    ``items`` lists every key a rule matched, once, in rule order: removals and the
    protected keys they spared; keys not listed are kept.
    """

    agent_id: str
    mode: Mode
    dry_run: bool
    before: int
    after: int = 0
    items: list[CleanupItem] = field(default_factory=list)
    #: transcripts renamed to ``<file>.deleted.<ts>`` (or that would be)
    archived: list[str] = field(default_factory=list)
    #: archives older than their retention, removed (or that would be)
    expired: list[str] = field(default_factory=list)
    applied: bool = False
    #: entries actually removed (a session touched meanwhile is spared)
    applied_count: int = 0
    #: key -> why its transcript was left alone (not looked at, archived or judged
    #: missing): not a regular file, out of the directory, unreadable, not renamed
    transcript_errors: dict[str, str] = field(default_factory=dict)
    #: expired archive -> why it was not removed
    archive_errors: dict[str, str] = field(default_factory=dict)
    #: SQL transcripts no entry had, archived as ``deleted`` (retention expires them)
    orphans_archived: list[str] = field(default_factory=list)
    #: database pages returned to the file system afterwards (SQLite)
    reclaimed_pages: int = 0

    def count(self, action: Action) -> int:
        """How many items have ``action``."""
        return sum(1 for item in self.items if item.action is action)

    @property
    def removals(self) -> list[CleanupItem]:
        """The items that remove their key."""
        return [item for item in self.items if item.action is not Action.KEEP]

    @property
    def would_mutate(self) -> bool:
        """Whether enforcing this report changes anything."""
        return bool(self.removals or self.expired)

    @property
    def has_errors(self) -> bool:
        """Whether a transcript or an archive could not be handled."""
        return bool(self.transcript_errors or self.archive_errors)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with OpenClaw's field names where it has them."""
        return {
            "agentId": self.agent_id,
            "mode": self.mode,
            "dryRun": self.dry_run,
            "beforeCount": self.before,
            "afterCount": self.after,
            "pruned": self.count(Action.PRUNE_STALE),
            "missing": self.count(Action.PRUNE_MISSING),
            "capped": self.count(Action.CAP_OVERFLOW),
            "wouldMutate": self.would_mutate,
            "applied": self.applied,
            "appliedCount": self.applied_count,
            "archived": self.archived,
            "expired": self.expired,
            "transcriptErrors": self.transcript_errors,
            "archiveErrors": self.archive_errors,
            "orphansArchived": self.orphans_archived,
            "reclaimedPages": self.reclaimed_pages,
            "actions": [
                {
                    "key": item.key,
                    "action": item.action.value,
                    "updatedAt": item.updated_at,
                    "model": item.model,
                    "reason": item.reason,
                }
                for item in self.items
            ],
        }


def protection(summary: SessionSummary, agent_id: str, active_key: str | None = None) -> str | None:
    """Why cleanup must never remove this session, or ``None``.

    Protected: the agent's main session, ``global``, the caller's active session,
    archived sessions, and thread, topic, group and channel sessions.

    >>> topic = "agent:main:telegram:group:-100:topic:42"
    >>> protection(SessionSummary(key=topic, session_id="s", updated_at=1), "main")
    'thread or topic'
    """
    key = summary.key
    if key == f"agent:{agent_id}:main":
        return "main session"
    if key == "global":
        return "global session"
    if active_key is not None and key == active_key:
        return "active session"
    if summary.archived:
        return "archived"
    parts = key.split(":")
    if "thread" in parts or "topic" in parts:
        return "thread or topic"
    if summary.chat_type in ("group", "channel") or {"group", "channel", "room"} & set(parts):
        return "group or channel"
    return None


def _pages(store: SessionStore, **query: Any) -> Iterator[SessionSummary]:
    """Every summary a listing yields, page after page."""
    cursor = None
    while True:
        page = store.list(limit=MAX_PAGE_SIZE, cursor=cursor, **query)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _tier(store: SessionStore, transcripts: TranscriptsArg) -> TranscriptStore | None:
    """The transcript contract to use: as given, or a files-tier directory bound to
    ``store``."""
    if isinstance(transcripts, Transcripts):
        return FileTranscripts(store, transcripts.directory)
    return transcripts


def transcript_name(entry: SessionEntry) -> str:
    """The name of ``entry``'s transcript as both tiers name it (and the archive names
    derive from): ``<sessionId>.jsonl``, with the topic its ``sessionFile`` names.

    >>> entry = SessionEntry(session_id="s1", updated_at=1, session_file="/x/s1-topic-7.jsonl")
    >>> transcript_name(entry)
    's1-topic-7.jsonl'
    """
    sid = entry.session_id
    topic = topic_of_file(sid, os.path.basename(entry.session_file or ""))
    return transcript_file_name(sid, topic)


def _archived_name(archive: str, reason: str) -> str:
    """The transcript name an archive name (``<file>.<reason>.<ts>``) was made from."""
    return archive.rpartition(f".{reason}.")[0] or archive


def cleanup(
    store: SessionStore,
    *,
    prune_after_ms: int | None = DEFAULT_PRUNE_AFTER_MS,
    max_entries: int | None = DEFAULT_MAX_ENTRIES,
    mode: Mode = "enforce",
    dry_run: bool = False,
    active_key: str | None = None,
    fix_missing: bool = False,
    transcripts: TranscriptsArg = None,
    reset_archive_retention_ms: int | None = None,
    reclaim: bool = True,
    now_ms: int | None = None,
) -> CleanupReport:
    """Apply OpenClaw's maintenance to one agent's store, in OpenClaw's order.

    1. Prune entries not updated for ``prune_after_ms`` (``None``: never).
    2. With ``fix_missing``, drop entries whose transcript file is gone.
    3. Cap the store at the ``max_entries`` newest by ``updatedAt`` (``None``: no cap).

    Protected sessions (see :func:`protection`) survive every rule, so a store may stay
    over its cap. With ``transcripts`` (``store.transcripts``, another
    :class:`~sessionstore.contract.TranscriptStore`, or a :class:`Transcripts`
    directory; ``None`` leaves transcripts alone), a removed entry's transcript is
    archived as ``<file>.deleted.<ts>`` unless another entry still uses its
    ``sessionId``, and archives older than their retention are deleted: ``.deleted``
    ones after ``prune_after_ms``, ``.reset`` ones after ``reset_archive_retention_ms``
    (default: kept). ``mode="warn"`` and ``dry_run`` only report; the report of a dry
    run is what an enforced run then does.

    A transcript that cannot be used is left alone and listed in ``transcript_errors``
    (its entry is never judged missing for it), an archive that cannot be removed in
    ``archive_errors``; the rest of the run goes on.

    An enforced run on a SQL store (``SupportsMaintenance``) then collects unreferenced
    blobs, archives SQL transcripts that no entry has (as ``deleted``, so that their
    retention applies) and, with ``reclaim`` (default), returns the pages its deletes
    freed to the file system in short steps (SQLite; ``store.reclaim_space()`` does it
    later when ``reclaim=False``).
    """
    if mode not in ("enforce", "warn"):
        raise InvalidArgumentError(f"mode must be 'enforce' or 'warn', got {mode!r}")
    if max_entries is not None and (isinstance(max_entries, bool) or max_entries < 0):
        raise InvalidArgumentError(f"max_entries must be 0 or more, got {max_entries!r}")
    tier = _tier(store, transcripts)
    if fix_missing and tier is None:
        raise InvalidArgumentError("fix_missing needs the transcripts (store.transcripts)")
    if fix_missing and tier is not None and not tier.session_ids() and store.count():
        # Most likely the transcripts are on the other tier (a database migrated without
        # --transcripts sql keeps them as files): then every entry would be dropped.
        raise InvalidArgumentError(
            f"fix_missing: the {tier.tier} tier holds no transcript of agent "
            f"{store.agent_id!r}, so every entry would be judged missing; are its "
            "transcripts elsewhere (files: --sessions-dir; a database: --transcripts sql)?"
        )
    now = current_time_ms() if now_ms is None else now_ms
    agent_id = store.agent_id
    report = CleanupReport(agent_id, mode, dry_run, before=store.count())
    removed: dict[str, CleanupItem] = {}
    spared: set[str] = set()

    def consider(summary: SessionSummary, action: Action) -> None:
        if summary.key in spared:
            return  # reported once, under the first rule that matched it
        reason = protection(summary, agent_id, active_key)
        item = CleanupItem(
            summary.key,
            Action.KEEP if reason else action,
            summary.updated_at,
            summary.model,
            reason,
        )
        report.items.append(item)
        if reason is None:
            removed[summary.key] = item
        else:
            spared.add(summary.key)

    if prune_after_ms is not None:
        for summary in _pages(store, order="asc", updated_before=now - prune_after_ms):
            consider(summary, Action.PRUNE_STALE)
    if fix_missing:
        assert tier is not None
        for key, entry in store.iter_entries():
            if key in removed:
                continue
            try:
                missing = not tier.exists(entry)
            except StoreUnavailableError as exc:  # there, but unusable: not missing
                report.transcript_errors[key] = str(exc)
                continue
            if missing:
                consider(_summary(key, entry), Action.PRUNE_MISSING)
    if max_entries is not None and report.before - len(removed) > max_entries:
        position = 0
        for summary in _pages(store, order="desc"):
            if summary.key in removed:
                continue
            position += 1
            if position > max_entries:
                consider(summary, Action.CAP_OVERFLOW)

    report.after = report.before - len(removed)
    planned: list[tuple[str, SessionEntry, str]] = []
    if tier is not None:
        planned = _archives_to_make(store, tier, removed, report.transcript_errors)
        report.archived = sorted({name for _, _, name in planned})
        report.expired = _expired_archives(tier, now, prune_after_ms, reset_archive_retention_ms)
    if mode == "warn" or dry_run:
        return report

    newest = max((item.updated_at for item in removed.values()), default=0)
    report.applied_count = store.delete_many(removed, updated_before=newest + 1)
    report.after = report.before - report.applied_count
    report.applied = True
    if isinstance(store, SupportsMaintenance):
        store.collect_blobs()  # values only the removed entries used
    if tier is not None:
        # Only when an entry was touched since the plan (and so spared) is a key looked up.
        touched = report.applied_count < len(removed)
        archived: set[str] = set()
        for key, entry, name in planned:
            if touched and store.get(key) is not None:
                continue
            try:
                # the entry is gone: its transcript is named by the entry as it was
                made = tier.archive(key, "deleted", session=entry, now_ms=now)
            except StoreUnavailableError as exc:  # the transcript stays, as an orphan
                report.transcript_errors[key] = str(exc)
                continue
            # None: archived meanwhile by someone else, as planned
            archived.add(name if made is None else _archived_name(made, "deleted"))
        report.archived = sorted(archived)
        for archive in report.expired:
            try:
                tier.remove_archive(archive)
            except StoreUnavailableError as exc:
                report.archive_errors[archive] = str(exc)
        report.expired = [name for name in report.expired if name not in report.archive_errors]
    if isinstance(store, SupportsMaintenance):
        report.orphans_archived = store.collect_transcripts(now_ms=now)
        # the pages the deletes freed go back in short steps (writers wait one step)
        if reclaim:
            report.reclaimed_pages = store.reclaim_space().pages
    return report


def _summary(key: str, entry: SessionEntry) -> SessionSummary:
    """The listing row of an entry, as the index would hold it."""
    return summary_from_columns(key, project(entry.to_dict()))


def _archives_to_make(
    store: SessionStore,
    transcripts: TranscriptStore,
    removed: Iterable[str],
    errors: dict[str, str],
) -> list[tuple[str, SessionEntry, str]]:
    """The removed entries whose transcript goes to ``.deleted``, with its name: those
    with a transcript, and whose session id no kept entry uses (one count per session
    id). A transcript that cannot be used goes into ``errors`` instead."""
    doomed = [(key, entry) for key in removed if (entry := store.get(key)) is not None]
    removing = Counter(entry.session_id for _, entry in doomed)
    orphaned = {sid for sid, n in removing.items() if store.count(session_id=sid) == n}
    planned = []
    for key, entry in doomed:
        if entry.session_id not in orphaned:
            continue
        try:
            found = transcripts.exists(entry)
        except StoreUnavailableError as exc:
            errors[key] = str(exc)
            continue
        if found:
            planned.append((key, entry, transcript_name(entry)))
    return planned


def _expired_archives(
    transcripts: TranscriptStore, now: int, deleted_ms: int | None, reset_ms: int | None
) -> list[str]:
    retention = {"deleted": deleted_ms, "reset": reset_ms}
    return [
        archive.name
        for archive in transcripts.archives()
        if (keep_for := retention[archive.reason]) is not None
        and archive.archived_at < now - keep_for
    ]


def reset(
    store: SessionStore,
    key: str,
    *,
    transcripts: TranscriptsArg = None,
    now_ms: int | None = None,
) -> SessionEntry:
    """OpenClaw's ``/new``: the same key gets a new ``sessionId`` and starts afresh.

    With ``transcripts`` (``store.transcripts``, another transcript store, or a
    :class:`Transcripts` directory) the old transcript is archived as
    ``<file>.reset.<ts>``; ``None`` leaves it where it is. ``sessionStartedAt`` and
    ``updatedAt`` move to now; the counters that describe the old transcript
    (``messageCount``, token totals) are cleared; a ``sessionFile`` is pointed at the
    new transcript (same directory, same topic). Every other field (labels, routes,
    overrides) is kept.
    """
    now = current_time_ms() if now_ms is None else now_ms
    tier = _tier(store, transcripts)
    old = store.get(key)
    if old is None:
        raise InvalidArgumentError(f"no session {key!r} to reset")
    if tier is not None:
        # An old transcript that cannot be archived (a FIFO, a symlink out of the
        # directory) is refused before the entry changes, not after.
        tier.exists(old)
    new_id = str(uuid.uuid4())
    data = old.to_dict()
    for name in ("messageCount", "inputTokens", "outputTokens", "totalTokens"):
        data.pop(name, None)
    data.update(sessionId=new_id, sessionStartedAt=now, updatedAt=max(now, old.updated_at))
    data["totalTokensFresh"] = False
    if "sessionFile" in data:
        old_file = Path(str(data["sessionFile"]))
        directory = tier.directory if isinstance(tier, FileTranscripts) else old_file.parent
        topic = topic_of_file(old.session_id, old_file.name)
        data["sessionFile"] = str(directory / transcript_file_name(new_id, topic))
    entry = SessionEntry.from_dict(data)

    def swap(current: SessionEntry | None) -> SessionEntry:
        if current is None or current.session_id != old.session_id:
            raise InvalidArgumentError(f"session {key!r} changed while it was being reset")
        return entry

    store.update(key, swap)
    if tier is not None:
        tier.archive(key, "reset", session=old, now_ms=now)
    return entry


@dataclass
class CheckReport:
    """The index compared with the transcripts (see :func:`check`)."""

    agent_id: str
    #: counters were rebuilt from the transcripts
    repair: bool = False
    entries: int = 0
    #: keys whose transcript does not exist
    missing: list[str] = field(default_factory=list)
    #: transcripts no entry refers to, by name: the files (files tier), or
    #: ``<sessionId>.jsonl`` for a session id no entry has (SQL tier)
    orphans: list[str] = field(default_factory=list)
    #: key -> {field: [index value, value from the transcript]}
    wrong_counts: dict[str, dict[str, list[int | None]]] = field(default_factory=dict)
    #: keys without ``messageCount`` yet (imported, never counted)
    uncounted: list[str] = field(default_factory=list)
    repaired: int = 0
    #: key -> why its transcript was not read: not a regular file (a FIFO, a
    #: directory), a symlink out of the directory, or unreadable
    transcript_errors: dict[str, str] = field(default_factory=dict)

    @property
    def consistent(self) -> bool:
        """No missing or unusable transcript, no orphan, and no wrong counter left
        unrepaired."""
        unrepaired = self.wrong_counts and not self.repair
        return not (self.missing or self.transcript_errors or self.orphans or unrepaired)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "agentId": self.agent_id,
            "entries": self.entries,
            "consistent": self.consistent,
            "repair": self.repair,
            "missing": self.missing,
            "transcriptErrors": self.transcript_errors,
            "orphans": self.orphans,
            "wrongCounts": self.wrong_counts,
            "uncounted": self.uncounted,
            "repaired": self.repaired,
        }


def _counters(stats: TranscriptStats) -> dict[str, int]:
    """The counters an entry should carry for a transcript with these stats."""
    counters = {"messageCount": stats.messages}
    if stats.total_tokens is not None or stats.input_tokens or stats.output_tokens:
        counters |= {"inputTokens": stats.input_tokens, "outputTokens": stats.output_tokens}
    if stats.total_tokens is not None:
        counters["totalTokens"] = stats.total_tokens
    return counters


def check(
    store: SessionStore, transcripts: TranscriptsArg = None, *, repair: bool = False
) -> CheckReport:
    """Compare the hot index with cold storage: ``transcripts`` (default: the store's
    own, ``store.transcripts``; either tier, or a :class:`Transcripts` directory).

    Reports entries whose transcript is missing, transcripts no entry refers to, and
    counters that disagree with the transcript: ``messageCount`` (the ``message``
    events) and, when it holds assistant ``usage``, ``inputTokens``/``outputTokens``
    (its sums) and ``totalTokens`` (the last one). Entries without ``messageCount`` were
    never counted (imported ones) and are listed as ``uncounted``, not as wrong. With
    ``repair`` the counters of every entry with a transcript are rebuilt from it. A
    transcript that must not or cannot be read (on the files tier, a FIFO or a symlink
    out of the directory in its place) is listed in ``transcript_errors`` and the other
    entries are checked and repaired all the same. Reads every entry and counts every
    transcript (:meth:`~sessionstore.contract.TranscriptStore.stats`): this is a
    maintenance task, not a hot path.
    """
    tier = _tier(store, transcripts)
    if tier is None:
        tier = store.transcripts
    report = CheckReport(store.agent_id, repair=repair)
    referenced: set[str] = set()  # session ids
    files: set[str] = set()  # on the files tier, the names of the files entries use
    fixes: dict[str, dict[str, int]] = {}
    for key, entry in store.iter_entries():
        report.entries += 1
        referenced.add(entry.session_id)
        try:
            if not tier.exists(entry):
                report.missing.append(key)
                continue
            if isinstance(tier, FileTranscripts):
                files.add(tier.path(entry).name)
            stats = tier.stats(entry)
        except StoreUnavailableError as exc:
            report.transcript_errors[key] = str(exc)
            continue
        truth = _counters(stats)
        data = entry.to_dict()
        wrong = {
            name: [data.get(name), value]
            for name, value in truth.items()
            if data.get(name) != value
        }
        if entry.message_count is None:
            report.uncounted.append(key)
        elif wrong:
            report.wrong_counts[key] = wrong
        if repair and wrong:
            fixes[key] = truth
    if isinstance(tier, FileTranscripts):  # by file: a topic file is named as it is
        report.orphans = [p.name for p in tier.files.files() if p.name not in files]
    else:
        report.orphans = sorted(
            transcript_file_name(sid, None) for sid in tier.session_ids() - referenced
        )
    for key, counters in fixes.items():

        def rebuilt(current: SessionEntry | None, counters: dict[str, int] = counters) -> Any:
            return None if current is None else current.with_fields(**counters)

        store.update(key, rebuilt)
        report.repaired += 1
    return report

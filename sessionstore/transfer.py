"""Moving sessions in and out: ``migrate`` an OpenClaw state directory into a store,
``export`` a store back to ``sessions.json`` files, ``copy`` between any two stores.

Every transfer reads its source without changing it, writes each agent as one unit
(a transaction, or one atomic file write) and then verifies the target: the number
of entries and a checksum of their canonical JSON must equal the source's. Reruns are
safe: entries already equal in the target are not written again, so a run that was
killed resumes where it stopped, without duplicates.

Transcripts travel too: ``migrate(..., transcripts="sql")`` imports the ``.jsonl``
files the entries refer to into the database, ``export`` writes a store's transcripts
back as ``.jsonl`` files beside the ``sessions.json``, and ``copy`` carries them from
the source's transcript tier to the target's. Each transcript is one unit, verified by
its number of lines and a SHA-256 over them as the target reads them back; one
already equal in the target is skipped, so these resume too.

>>> import tempfile
>>> from sessionstore import open_store
>>> state = Path(tempfile.mkdtemp())
>>> with open_store(state / "agents/main/sessions/sessions.json") as legacy:
...     _ = legacy.put("Agent:Main:Main", {"sessionId": "s1", "updatedAt": 1})
>>> report = migrate(state)
>>> [(a.agent_id, a.status.value, a.imported) for a in report.agents]
[('main', 'MIGRATED', 1)]
>>> migrate(state).agents[0].status.value
'SKIPPED'
"""

from __future__ import annotations

import gc
import glob
import hashlib
import os
import shutil
import uuid
from collections import UserList
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol

from sessionstore.contract import (
    ImportRecord,
    SessionStore,
    SupportsImportRecords,
    SupportsStoredJson,
    TranscriptStore,
    TranscriptTier,
    batched,
)
from sessionstore.entry import SessionEntry, dumps_json, json_number
from sessionstore.errors import InvalidArgumentError, SessionStoreError, StaleEntryError
from sessionstore.files import fsync_directory
from sessionstore.lifecycle import transcript_name
from sessionstore.locate import (
    default_target,
    describe_target,
    open_existing,
    require_persistent,
    source_agents,
)
from sessionstore.open import is_json_target, open_store
from sessionstore.openclaw.agentdb import DATABASE_NAME, AgentDatabase
from sessionstore.openclaw.merge import now_ms
from sessionstore.openclaw.skillprompts import PromptBlobs
from sessionstore.openclaw.statedir import (
    AgentSource,
    discover_agents,
    load_agent,
    store_path,
)
from sessionstore.openclaw.transcripts import FileTranscripts, Transcripts

__all__ = [
    "BATCH_SIZE",
    "AgentReport",
    "Checksum",
    "LineDigest",
    "LineHasher",
    "NullProgress",
    "Progress",
    "Status",
    "TransferReport",
    "copy",
    "default_target",
    "export",
    "migrate",
]

#: Entries sent to the target per statement; also the streaming unit of ``copy``.
BATCH_SIZE = 500


class Status(StrEnum):
    """What a transfer did with one agent."""

    MIGRATED = "MIGRATED"
    #: migrated, but source entries that failed validation were left behind
    PARTIAL = "PARTIAL"
    COPIED = "COPIED"
    EXPORTED = "EXPORTED"
    #: the target already held exactly the source's entries: nothing was written
    SKIPPED = "SKIPPED"
    FAILED = "FAILED"
    #: the agent has no sessions to transfer
    NO_DATA = "NO_DATA"


class Progress(Protocol):
    """Receives progress of long work (the CLI draws a bar with it)."""

    def start(self, description: str, total: int) -> None:
        """A new piece of work of ``total`` units begins."""

    def advance(self, amount: int = 1) -> None:
        """``amount`` units are done."""


class NullProgress:
    """Progress that goes nowhere: the default for library callers."""

    def start(self, description: str, total: int) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass


class Checksum:
    """An order-independent digest of ``(key, entry)`` pairs.

    Each pair is hashed as the key and the entry's canonical JSON (sorted keys, no
    spaces), and the hashes are summed modulo 2**256, so a source read in file order
    and a target read in key order give the same value.

    >>> a, b = Checksum(), Checksum()
    >>> a.add("k1", {"x": 1, "y": 2}); a.add("k2", {})
    >>> b.add("k2", {}); b.add("k1", {"y": 2, "x": 1})
    >>> a == b, a.count
    (True, 2)
    """

    def __init__(self) -> None:
        self.count = 0
        self._sum = 0

    @staticmethod
    def digest(key: str, data: Mapping[str, Any]) -> int:
        """The hash of one pair."""
        canonical = dumps_json(data, sort_keys=True)  # lone surrogates as JSON escapes
        return int.from_bytes(hashlib.sha256(key.encode() + b"\0" + canonical).digest(), "big")

    def add(self, key: str, data: Mapping[str, Any]) -> None:
        """Count one pair in."""
        self.add_digest(self.digest(key, data))

    def add_digest(self, digest: int) -> None:
        """Count one pair in by its :meth:`digest`."""
        self.count += 1
        self._sum = (self._sum + digest) % 2**256

    def hexdigest(self) -> str:
        """The checksum as 64 hex digits."""
        return f"{self._sum:064x}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Checksum):
            return NotImplemented
        return (self.count, self._sum) == (other.count, other._sum)

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def of(cls, items: Iterable[tuple[str, Mapping[str, Any]]]) -> Checksum:
        """The checksum of all ``items``."""
        checksum = cls()
        for key, data in items:
            checksum.add(key, data)
        return checksum

    @classmethod
    def of_digests(cls, digests: Iterable[int]) -> Checksum:
        """The checksum of the pairs whose :meth:`digest` are ``digests``."""
        checksum = cls()
        for digest in digests:
            checksum.add_digest(digest)
        return checksum


@dataclass(frozen=True)
class LineDigest:
    """The number of lines of a transcript and a SHA-256 over them, each followed by a
    newline (the bytes of the ``.jsonl`` file): what a carried transcript is verified by.

    >>> LineDigest.of([b'{"type":"session"}', b"{}"]).lines
    2
    """

    lines: int
    sha256: str

    @classmethod
    def of(cls, lines: Iterable[bytes]) -> LineDigest:
        hasher = LineHasher()
        for line in lines:
            hasher.add(line)
        return hasher.digest()


class LineHasher:
    """A :class:`LineDigest` computed a line at a time, for lines that arrive one by
    one (a backup reads those of many transcripts as rows)."""

    def __init__(self) -> None:
        self._sha256 = hashlib.sha256()
        self._lines = 0

    def add(self, line: bytes) -> None:
        self._sha256.update(line)
        self._sha256.update(b"\n")
        self._lines += 1

    def digest(self) -> LineDigest:
        return LineDigest(self._lines, self._sha256.hexdigest())


class _SourceLines:
    """The lines of a source transcript, read afresh on every iteration (an import may
    start again), with the digest of the last pass that read them to the end."""

    def __init__(self, read: Callable[[], Iterable[bytes]]) -> None:
        self._read = read
        self.digest: LineDigest | None = None

    def __iter__(self) -> Iterator[bytes]:
        self.digest = None
        digest, count = hashlib.sha256(), 0
        for line in self._read():
            digest.update(line)
            digest.update(b"\n")
            count += 1
            yield line
        self.digest = LineDigest(count, digest.hexdigest())


@dataclass
class AgentReport:
    """The outcome for one agent."""

    agent_id: str
    status: Status
    source: str
    target: str
    #: entries read from the source (for ``migrate``: before normalisation)
    entries_read: int = 0
    #: entries written to the target (new or changed); for a dry run, to be written
    imported: int = 0
    #: entries the target already held unchanged
    unchanged: int = 0
    #: entries the target held that the source does not (removed with ``replace``)
    removed: int = 0
    #: ``(key, why)`` of source entries that failed validation and were skipped
    rejected: list[tuple[str, str]] = field(default_factory=list)
    #: what normalisation changed (renamed or collapsed keys, legacy fields)
    changes: list[str] = field(default_factory=list)
    #: entries kept with a problem, one line each: a skills prompt whose file is
    #: missing or wrong (OpenClaw would drop that entry's ``skillsSnapshot``)
    warnings: list[str] = field(default_factory=list)
    #: transcript files found beside the source store
    transcripts: int = 0
    #: the messages in them, when counted (``migrate(count_messages=True)``)
    messages: int | None = None
    #: transcripts written to the target's transcript tier (new or different there);
    #: for a dry run, to be written
    transcripts_imported: int = 0
    #: transcripts the target already held line for line (not written again)
    transcripts_skipped: int = 0
    #: the lines of the transcripts written (headers included)
    lines_imported: int = 0
    #: the lines of the transcripts skipped
    lines_skipped: int = 0
    #: the checksum both sides agreed on (``None`` when not verified)
    checksum: str | None = None
    error: str | None = None
    #: for ``migrate``: where the agent was read, e.g. ``json (sessions.json)`` or
    #: ``sqlite (openclaw-agent.sqlite, schema 23)`` for OpenClaw 2026.9's database
    era: str | None = None
    #: for an agent read from OpenClaw 2026.9's database: its transcript events
    events: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (the CLI's ``--json`` output)."""
        return {
            "agentId": self.agent_id,
            "status": self.status.value,
            "source": self.source,
            "target": self.target,
            "entriesRead": self.entries_read,
            "imported": self.imported,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "rejected": [{"key": key, "reason": why} for key, why in self.rejected],
            "changes": self.changes,
            "warnings": self.warnings,
            "transcripts": self.transcripts,
            "messages": self.messages,
            "transcriptsImported": self.transcripts_imported,
            "transcriptsSkipped": self.transcripts_skipped,
            "linesImported": self.lines_imported,
            "linesSkipped": self.lines_skipped,
            "checksum": self.checksum,
            "error": self.error,
            "era": self.era,
            "events": self.events,
        }


@dataclass
class TransferReport:
    """The outcome of a whole transfer."""

    operation: Literal["migrate", "copy", "export"]
    target: str
    dry_run: bool = False
    agents: list[AgentReport] = field(default_factory=list)
    #: the caller accepted that rejected entries stay behind (``PARTIAL`` is then ok)
    accept_rejected: bool = False

    @property
    def ok(self) -> bool:
        """``True`` unless an agent failed, or left entries behind without
        ``accept_rejected``."""
        failed = {Status.FAILED} if self.accept_rejected else {Status.FAILED, Status.PARTIAL}
        return all(agent.status not in failed for agent in self.agents)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (the CLI's ``--json`` output)."""
        return {
            "operation": self.operation,
            "target": self.target,
            "dryRun": self.dry_run,
            "ok": self.ok,
            "agents": [agent.to_dict() for agent in self.agents],
        }


@dataclass
class _Plan:
    """How the target must change to equal the source."""

    writes: list[str] = field(default_factory=list)  # new in the source, or changed there
    unchanged: int = 0
    extra: list[str] = field(default_factory=list)  # in the target only
    newer: list[str] = field(default_factory=list)  # changed in the target since the source
    #: the version of each target entry when planned (absent: 0)
    versions: dict[str, int] = field(default_factory=dict)


def _updated(data: Mapping[str, Any]) -> float:
    number = json_number(data.get("updatedAt"))
    return -1 if number is None else number


def _stored(store: SessionStore) -> Iterator[tuple[str, Mapping[str, Any], int]]:
    """Every entry of ``store`` as its JSON object, with its version: read as stored
    where the store can (``SupportsStoredJson``), else through its entries."""
    if isinstance(store, SupportsStoredJson):
        yield from store.iter_json_with_versions()
        return
    for key, entry, version in store.iter_entries_with_versions():
        yield key, entry.to_dict(), version


def _plan(
    source: Mapping[str, dict[str, Any]],
    digests: Mapping[str, int],
    target: SessionStore | None,
) -> _Plan:
    """Compare the target with the source, whose entries' :meth:`Checksum.digest` are
    ``digests``."""
    plan = _Plan()
    rows = _stored(target) if target is not None else ()
    for key, data, version in rows:
        plan.versions[key] = version
        wanted = source.get(key)
        if wanted is None:
            plan.extra.append(key)
            continue
        if Checksum.digest(key, data) == digests[key]:
            plan.unchanged += 1
        elif _updated(data) > _updated(wanted):
            plan.newer.append(key)
        else:
            plan.writes.append(key)
    plan.writes.extend(key for key in source if key not in plan.versions)
    return plan


class _Reported(UserList[tuple[str, SessionEntry]]):
    """Items that advance ``progress`` as the writer reads them, inside its transaction
    (so a progress bar moves while one large agent is written). A sequence, so that
    ``put_many`` may replay it after a transient conflict."""

    def __init__(self, items: list[tuple[str, SessionEntry]], progress: Progress) -> None:
        super().__init__(items)
        self._progress = progress

    def __iter__(self) -> Iterator[tuple[str, SessionEntry]]:
        for item in self.data:
            self._progress.advance()
            yield item


def _count_transcripts(
    directory: Path, progress: Progress, count_messages: bool
) -> tuple[int, int | None]:
    """The transcript files beside a store, and (only when asked: it reads every file)
    the messages in them."""
    transcripts = Transcripts(directory)
    files = transcripts.files() if directory.is_dir() else []
    if not count_messages:
        return len(files), None
    progress.start(f"{directory.parent.name}: counting messages", len(files))
    messages = 0
    for path in files:
        messages += transcripts.file_stats(path).messages
        progress.advance()
    return len(files), messages


@dataclass(frozen=True)
class _MigrateOptions:
    dry_run: bool
    replace: bool
    verbatim: bool
    count_messages: bool
    #: "sql": import the transcripts into the target's SQL tier
    transcripts: TranscriptTier | None = None


def migrate(
    state_dir: str | os.PathLike[str],
    target: str | os.PathLike[str] | None = None,
    *,
    agents: Sequence[str] | None = None,
    dry_run: bool = False,
    replace: bool = False,
    verbatim: bool = False,
    accept_rejected: bool = False,
    count_messages: bool = False,
    transcripts: TranscriptTier | None = None,
    progress: Progress | None = None,
) -> TransferReport:
    """Import an OpenClaw state directory's sessions into ``target`` (default: SQLite
    ``sessionstore.db`` in the state directory), one agent at a time.

    ``agents`` limits the run to those ids (default: every agent found). Each agent is
    read and normalised (see :func:`~sessionstore.openclaw.statedir.normalise_entries`;
    ``verbatim=True`` keeps keys and fields as written), planned against the target
    and written in one unit (one transaction, or one atomic file write) that commits
    only if no entry it touches changed since the plan; then it is verified. An agent
    whose target entries are all equal to the source is SKIPPED. If the target holds
    entries of that agent that the source lacks, or that are newer than the source's,
    it was written to since an earlier migration: the agent FAILS, nothing is
    written, unless ``replace=True`` makes the target equal to the source. An agent
    with entries that failed validation is PARTIAL (its valid entries are migrated),
    and the report is not ``ok`` unless ``accept_rejected=True``. ``dry_run`` reads
    and plans only; the target is not even created. The source files are never
    modified. ``count_messages=True`` also counts the messages of every transcript
    (it reads each file in full); by default only the files are counted.

    ``transcripts="sql"`` also imports, once the entries are verified, the ``.jsonl``
    transcript of every entry into the target's SQL tier: each one as one unit, verified
    by its line count and a SHA-256 over its lines read back, and skipped when the
    target already holds it line for line (so a run that stopped halfway finishes the
    rest). The files stay as they are; transcripts no entry refers to and archives are
    not imported (a warning gives their number). A transcript that cannot be read or
    fails its verification FAILS the agent, naming the session; the others are
    imported all the same. By default (``None`` or ``"files"``) transcripts stay files.

    A SQLite database in memory is refused (:class:`InvalidArgumentError`): it would
    vanish with the process.
    """
    progress = progress or NullProgress()
    if transcripts not in (None, "files", "sql"):
        raise InvalidArgumentError(f"transcripts must be 'files' or 'sql', got {transcripts!r}")
    target_text = default_target(state_dir) if target is None else str(target)
    require_persistent(target_text)
    if transcripts == "sql" and is_json_target(target_text):
        raise InvalidArgumentError(
            f"transcripts='sql' (--transcripts sql) needs a database target, not {target_text}"
        )
    report = TransferReport(
        "migrate", describe_target(target_text), dry_run, accept_rejected=accept_rejected
    )
    found = {source.agent_id: source for source in discover_agents(state_dir)}
    wanted = sorted(found) if agents is None else list(agents)
    tier: TranscriptTier | None = "sql" if transcripts == "sql" else None
    options = _MigrateOptions(dry_run, replace, verbatim, count_messages, tier)
    for agent_id in wanted:
        source = found.get(agent_id) or AgentSource(agent_id, store_path(state_dir, agent_id))
        with _collector_paused():
            report.agents.append(_migrate_agent(source, target_text, options, progress))
    return report


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while one agent migrates.

    A migration builds many objects that stay alive together (the agent's entries,
    their rows, what is read back), and every pass of the collector walks all of them:
    those passes took about a sixth of the time of a large migration. Reference
    counting still frees everything else; the collector resumes afterwards, unless it
    was paused already.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _migrate_agent(
    source: AgentSource, target: str, options: _MigrateOptions, progress: Progress
) -> AgentReport:
    """One agent, read from its ``sessions.json`` files or, from OpenClaw 2026.9 on, its
    database: that one is read in one snapshot, its transcripts included, and they go
    into the target's tier (a database's SQL tier, or the files beside a
    ``sessions.json``)."""
    if source.database is None:
        return _migrate_source(source, None, target, options, progress)
    try:
        database = AgentDatabase(source.database)
    except SessionStoreError as exc:
        report = AgentReport(
            source.agent_id, Status.FAILED, str(source.database), describe_target(target)
        )
        report.error = str(exc)
        return report
    with database:
        tier: TranscriptTier | None = None if is_json_target(target) else "sql"
        options = replace(options, transcripts=tier)
        return _migrate_source(source, database, target, options, progress)


def _describe_database(source: AgentSource, database: AgentDatabase, report: AgentReport) -> None:
    """What the report says of an agent read from its 2026.9 database."""
    report.era = f"sqlite ({DATABASE_NAME}, schema {database.schema_version})"
    report.transcripts = len(database.session_ids())
    report.events = database.event_count()
    if source.path.exists() or source.legacy_path is not None:
        report.era += "; a sessions.json too, not read"
        report.warnings.append(
            f"{source.path} is there too and was not read: since OpenClaw 2026.9 the "
            f"agent's live store is {source.database}"
        )


def _migrate_source(
    source: AgentSource,
    database: AgentDatabase | None,
    target: str,
    options: _MigrateOptions,
    progress: Progress,
) -> AgentReport:
    where = str(source.path if database is None else database.path)
    report = AgentReport(source.agent_id, Status.FAILED, where, describe_target(target))
    report.era = f"json ({source.path.name})"
    try:
        if database is not None:
            _describe_database(source, database, report)
        else:
            report.transcripts, report.messages = _count_transcripts(
                source.sessions_dir, progress, options.count_messages
            )
        if not source.exists():
            report.status = Status.NO_DATA
            return report
        loaded = load_agent(source, verbatim=options.verbatim, database=database)
        report.entries_read = loaded.read
        report.rejected, report.changes = loaded.rejected, loaded.changes
        report.warnings.extend(loaded.warnings)
        # one digest per source entry: the plan compares them, the checksum sums them
        digests = {key: Checksum.digest(key, data) for key, data in loaded.entries.items()}
        expected = Checksum.of_digests(digests.values())
        if not loaded.entries and not loaded.rejected:
            report.status = Status.NO_DATA
            return report
        store = open_existing(target, source.agent_id) if options.dry_run else None
        if not options.dry_run:
            store = open_store(
                target,
                agent_id=source.agent_id,
                auto_upgrade=True,
                transcripts=options.transcripts,
            )
        try:
            plan = _plan(loaded.entries, digests, store)
            report.unchanged = plan.unchanged
            report.imported = len(plan.writes) + (len(plan.newer) if options.replace else 0)
            conflicts = plan.extra + plan.newer
            if conflicts and not options.replace:
                report.error = (
                    f"the target holds {len(conflicts)} entries of agent {source.agent_id!r} "
                    f"that the source lacks or has older (e.g. {conflicts[0]!r}): it was "
                    "written to after an earlier migration. Export it first, or pass "
                    "replace (--replace) to make it equal to the source"
                )
                return report
            report.removed = len(plan.extra)
            carry_transcripts = options.transcripts == "sql" or database is not None
            if options.dry_run:
                if carry_transcripts and not _plan_transcripts(
                    source, store, loaded.validated, options.replace, report, progress, database
                ):
                    return report
                wrote = report.imported or report.transcripts_imported
                report.status = Status.MIGRATED if wrote else Status.SKIPPED
                _mark_partial(report)
                return report
            assert store is not None
            if not report.imported and not plan.extra:
                report.status = Status.SKIPPED
            else:
                progress.start(f"{source.agent_id}: writing", report.imported)
                if not _write_plan(store, plan, loaded.validated, progress, report):
                    return report
                report.status = Status.MIGRATED
            if not _verify(store, expected, report):
                return report
            if carry_transcripts:
                if not _import_transcripts(
                    source,
                    store,
                    loaded.validated,
                    _TranscriptRun(False, options.replace),
                    report,
                    progress,
                    database,
                ):
                    return report
                if report.transcripts_imported:
                    report.status = Status.MIGRATED
            _mark_partial(report)
            if isinstance(store, SupportsImportRecords):
                store.record_import(
                    ImportRecord(
                        source.agent_id,
                        where,
                        expected.count,
                        expected.hexdigest(),
                        now_ms(),
                    )
                )
        finally:
            if store is not None:
                store.close()
    except SessionStoreError as exc:
        report.status, report.error = Status.FAILED, str(exc)
    return report


def _plan_transcripts(
    source: AgentSource,
    store: SessionStore | None,
    validated: Mapping[str, SessionEntry],
    replace: bool,
    report: AgentReport,
    progress: Progress,
    database: AgentDatabase | None = None,
) -> bool:
    """A dry run of :func:`_import_transcripts`: what it would import into ``store``,
    or, when there is no target yet, into an empty one (in memory: nothing is made)."""
    run = _TranscriptRun(True, replace)
    if store is not None:
        return _import_transcripts(source, store, validated, run, report, progress, database)
    with open_store("sqlite://", agent_id=source.agent_id, auto_upgrade=True) as empty:
        return _import_transcripts(source, empty, validated, run, report, progress, database)


@dataclass(frozen=True)
class _TranscriptRun:
    """How :func:`_import_transcripts` runs: as a dry run or not; ``replace``: a
    transcript the database holds with other lines is replaced (else the agent FAILS)."""

    dry_run: bool
    replace: bool


def _write_plan(
    store: SessionStore,
    plan: _Plan,
    validated: Mapping[str, SessionEntry],
    progress: Progress,
    report: AgentReport,
) -> bool:
    """Write the plan's entries and remove its extra keys in one unit that commits
    only if every key touched is still at its planned version. A key written by
    someone else since the plan fails the agent (and keeps that write)."""
    keys = plan.writes + plan.newer
    items = [(key, validated[key]) for key in keys]
    try:
        store.put_many(
            _Reported(items, progress),
            batch_size=BATCH_SIZE,
            delete=plan.extra,
            expected_versions={key: plan.versions.get(key, 0) for key in keys + plan.extra},
        )
    except StaleEntryError as exc:
        report.imported = report.removed = 0
        report.error = (
            f"{exc.key!r} was written by someone else during the migration (version "
            f"{exc.expected_version} when planned, {exc.current_version} now); nothing was "
            f"written for agent {report.agent_id!r}. Stop other writers and run it again"
        )
        return False
    return True


def _mark_partial(report: AgentReport) -> None:
    """An agent with entries left behind is not MIGRATED (nor SKIPPED)."""
    if report.rejected:
        report.status = Status.PARTIAL


def _verify(store: SessionStore, expected: Checksum, report: AgentReport) -> bool:
    """Read the agent back from the target (as its stored JSON where the store can)
    and compare it with the source; on a difference the agent FAILS."""
    if isinstance(store, SupportsStoredJson):
        pairs: Iterable[tuple[str, Mapping[str, Any]]] = (
            (key, data) for key, data, _ in store.iter_json_with_versions()
        )
    else:
        pairs = ((key, entry.to_dict()) for key, entry in store.iter_entries())
    actual = Checksum.of(pairs)
    if actual != expected:
        report.status = Status.FAILED
        report.error = (
            f"verification failed: the target holds {actual.count} entries "
            f"(checksum {actual.hexdigest()[:12]}), the source {expected.count} "
            f"(checksum {expected.hexdigest()[:12]})"
        )
        return False
    report.checksum = expected.hexdigest()
    return True


# -- transcripts ------------------------------------------------------------------


class _TranscriptError(Exception):
    """A transcript that was not carried (why, for the agent's error)."""


class _LineSource(Protocol):
    """Where a carried transcript is read: a transcript tier, or a 2026.9 database."""

    def exists(self, session: SessionEntry) -> bool: ...

    def lines(self, session: SessionEntry) -> Iterable[bytes]: ...


class _DatabaseLines:
    """The transcripts of OpenClaw 2026.9's database, by each entry's ``sessionId``."""

    def __init__(self, database: AgentDatabase) -> None:
        self._database = database
        self._ids = database.session_ids()

    def exists(self, session: SessionEntry) -> bool:
        return session.session_id in self._ids

    def lines(self, session: SessionEntry) -> Iterator[bytes]:
        return self._database.lines(session.session_id)


@dataclass(frozen=True)
class _Carry:
    """How one agent's transcripts go from one tier to another."""

    #: where a transcript is looked for, in order: the first that has it is read
    sources: Sequence[_LineSource]
    target: TranscriptStore
    #: replace a transcript that the target holds with other lines
    overwrite: bool = True
    #: keep a replaced file of the files tier as ``<file>.bak.<ms>``
    backup: bool = False
    dry_run: bool = False
    #: the option that allows ``overwrite``, named when a transcript is refused
    flag: str = "force (--force)"


def _carry_transcripts(
    entries: Iterable[tuple[str, SessionEntry]],
    carry: _Carry,
    report: AgentReport,
    progress: Progress,
) -> list[str]:
    """Carry the transcript of every entry, once per transcript, counting them in
    ``report``; returns one line per transcript that was not carried, naming its
    session. The others are carried all the same."""
    failures: list[str] = []
    done: set[str] = set()
    for key, entry in entries:
        name = transcript_name(entry)
        if name in done:
            continue
        done.add(name)
        try:
            _carry_one(key, entry, carry, report)
        except (SessionStoreError, _TranscriptError) as exc:
            failures.append(f"session {entry.session_id} ({key!r}): {exc}")
        progress.advance()
    return failures


def _carry_one(key: str, entry: SessionEntry, carry: _Carry, report: AgentReport) -> None:
    """Carry one transcript: skipped when the target holds the same lines; otherwise
    imported as one unit and read back, and a copy that differs is removed again."""
    source = next((tier for tier in carry.sources if tier.exists(entry)), None)
    if source is None or next(iter(source.lines(entry)), None) is None:
        return  # no transcript, or an empty file (no tier keeps one): nothing to carry
    target = carry.target
    want: LineDigest | None = None
    if target.exists(entry):
        want = LineDigest.of(source.lines(entry))
        if LineDigest.of(target.lines(entry)) == want:
            report.transcripts_skipped += 1
            report.lines_skipped += want.lines
            return
        if not carry.overwrite:
            raise _TranscriptError(
                f"{_where(target, entry)} exists with other lines; pass {carry.flag} to replace it"
            )
    if carry.dry_run:
        want = want or LineDigest.of(source.lines(entry))
        report.transcripts_imported += 1
        report.lines_imported += want.lines
        return
    if carry.backup and isinstance(target, FileTranscripts) and want is not None:
        _keep_backup(target.path(entry))
    lines = _SourceLines(lambda: source.lines(entry))
    stored = target.import_lines(key, entry, lines)
    got = LineDigest.of(target.lines(entry))
    sent = lines.digest
    if sent is None or stored != sent.lines or got != sent:
        left = ""
        try:
            _remove(target, key, entry)
        except SessionStoreError as exc:
            left = f"; the copy could not be removed: {exc}"
        sent = sent or LineDigest(0, "")
        raise _TranscriptError(
            f"verification failed: the target holds {got.lines} lines (sha256 "
            f"{got.sha256[:12]}), the source {sent.lines} (sha256 {sent.sha256[:12]}){left}"
        )
    report.transcripts_imported += 1
    report.lines_imported += got.lines


def _remove(tier: TranscriptStore, key: str, entry: SessionEntry) -> None:
    """Take a copy that failed its verification out of ``tier``: no unverified
    transcript stays live (archived, then the archive removed)."""
    archived = tier.archive(key, "deleted", session=entry)
    if archived is not None:
        tier.remove_archive(archived)


def _where(tier: TranscriptStore, entry: SessionEntry) -> str:
    """A transcript for messages: its file on the files tier, else its name."""
    if isinstance(tier, FileTranscripts):
        return str(tier.path(entry))
    return f"the transcript {transcript_name(entry)}"


def _failed_transcripts(report: AgentReport, failures: list[str]) -> bool:
    """Fail the agent over the transcripts that were not carried (``False``), if any."""
    if not failures:
        return True
    shown = "; ".join(failures[:3])
    more = f"; and {len(failures) - 3} more" if len(failures) > 3 else ""
    report.status = Status.FAILED
    report.error = f"{len(failures)} transcripts were not carried: {shown}{more}"
    return False


def _unimported_files(
    directory: Path, sources: Sequence[FileTranscripts], validated: Mapping[str, SessionEntry]
) -> str | None:
    """The warning about the files of ``directory`` that an import into the SQL tier
    leaves behind: transcripts no entry refers to, and archives."""
    if not directory.is_dir():
        return None
    files = Transcripts(directory)
    referenced: set[str] = set()
    for entry in validated.values():
        for tier in sources:
            try:
                referenced.add(tier.path(entry).name)
            except SessionStoreError:
                continue  # unusable: reported when it is imported
    orphans = sum(1 for path in files.files() if path.name not in referenced)
    archives = len(files.archives())
    if not orphans and not archives:
        return None
    return (
        f"{orphans} transcript files that no entry refers to and {archives} archived "
        f"transcripts were not imported; they stay files in {directory}"
    )


def _import_transcripts(
    source: AgentSource,
    store: SessionStore,
    validated: Mapping[str, SessionEntry],
    run: _TranscriptRun,
    report: AgentReport,
    progress: Progress,
    database: AgentDatabase | None = None,
) -> bool:
    """``migrate(transcripts="sql")``: the ``.jsonl`` files the entries refer to, into
    the store's SQL tier; ``False`` (the agent FAILED) if one was not imported. With
    ``database`` (OpenClaw 2026.9's) the transcripts are read from it instead, into the
    store's tier, whichever it is."""
    target = store.transcripts
    if database is not None:
        lines = _DatabaseLines(database)
        carry = _Carry(
            [lines], target, overwrite=run.replace, dry_run=run.dry_run, flag="replace (--replace)"
        )
        progress.start(f"{source.agent_id}: importing transcripts", len(validated))
        failures = _carry_transcripts(validated.items(), carry, report, progress)
        current = {entry.session_id for entry in validated.values()}
        if earlier := len(database.session_ids() - current):
            report.warnings.append(
                f"{earlier} transcripts of sessions no entry holds now (earlier generations: "
                f"resets, rollovers, forks) were not imported; they stay in {database.path}"
            )
        return _failed_transcripts(report, failures)
    if target.tier != "sql":
        raise InvalidArgumentError(
            f"transcripts='sql' needs a database target with the SQL tier, not {report.target}"
        )
    sources = [FileTranscripts(store, source.sessions_dir)]
    if source.legacy_path is not None:
        sources.append(FileTranscripts(store, source.legacy_path.parent))
    carry = _Carry(
        sources, target, overwrite=run.replace, dry_run=run.dry_run, flag="replace (--replace)"
    )
    progress.start(f"{source.agent_id}: importing transcripts", len(validated))
    failures = _carry_transcripts(validated.items(), carry, report, progress)
    if (warning := _unimported_files(source.sessions_dir, sources, validated)) is not None:
        report.warnings.append(warning)
    return _failed_transcripts(report, failures)


def copy(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    agents: Sequence[str] | None = None,
    batch_size: int = BATCH_SIZE,
    transcripts: bool = True,
    progress: Progress | None = None,
) -> TransferReport:
    """Copy sessions from one store to another (any backend to any), agent by agent.

    The source is streamed ``batch_size`` entries at a time, each batch one
    transaction in the target, then the target is verified against the source's
    checksum; the target's schema is created or upgraded as needed. A
    ``sessions.json`` holds one agent, so copying several agents into one needs
    ``agents``. Killed halfway, a rerun completes the copy (entries are upserted).

    With ``transcripts`` (the default) each entry's transcript then goes from the
    source's transcript tier to the target's (``store.transcripts`` of each: the SQL
    tier of a database, the ``.jsonl`` files beside a ``sessions.json``), each one
    verified by its lines read back; one the target already holds is skipped, one it
    holds with other lines is replaced (a file of the files tier kept as
    ``<file>.bak.<ms>``).
    """
    progress = progress or NullProgress()
    source_text, target_text = str(source), str(target)
    require_persistent(source_text)
    require_persistent(target_text)
    report = TransferReport("copy", describe_target(target_text))
    ids = list(agents) if agents is not None else source_agents(source_text)
    if len(ids) > 1 and is_json_target(target_text):
        raise InvalidArgumentError(
            f"the source holds {len(ids)} agents ({', '.join(ids)}) and a sessions.json "
            "holds one: choose it with --agent, or use export --state-dir"
        )
    for agent_id in ids:
        report.agents.append(
            _copy_agent(source_text, target_text, agent_id, batch_size, transcripts, progress)
        )
    return report


def _copy_agent(
    source: str,
    target: str,
    agent_id: str,
    batch_size: int,
    transcripts: bool,
    progress: Progress,
) -> AgentReport:
    report = AgentReport(agent_id, Status.FAILED, describe_target(source), describe_target(target))
    try:
        with open_store(source, agent_id=agent_id) as src:
            total = src.count()
            if not total:
                report.status = Status.NO_DATA
                return report
            with open_store(target, agent_id=agent_id, auto_upgrade=True) as dst:
                progress.start(f"{agent_id}: copying", total)
                expected = Checksum()
                for batch in batched(src.iter_entries(batch_size=batch_size), batch_size):
                    for key, entry in batch:
                        expected.add(key, entry.to_dict())
                    dst.put_many(batch, batch_size=batch_size)
                    report.imported += len(batch)
                    progress.advance(len(batch))
                report.entries_read = expected.count
                report.status = Status.COPIED
                if _verify(dst, expected, report) and transcripts:
                    # a replaced file is kept, as export keeps it
                    carry = _Carry([src.transcripts], dst.transcripts, backup=True)
                    progress.start(f"{agent_id}: copying transcripts", total)
                    failures = _carry_transcripts(src.iter_entries(), carry, report, progress)
                    _failed_transcripts(report, failures)
    except SessionStoreError as exc:
        report.status, report.error = Status.FAILED, str(exc)
    return report


def export(
    source: str | os.PathLike[str],
    *,
    state_dir: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    agents: Sequence[str] | None = None,
    force: bool = False,
    transcripts: bool = True,
    progress: Progress | None = None,
) -> TransferReport:
    """Write a store's sessions back as OpenClaw ``sessions.json`` files: the rollback.

    With ``state_dir`` each agent goes to ``<state>/agents/<id>/sessions/sessions.json``;
    with ``out`` the one agent chosen goes to that file. Each file is first written
    beside its destination and verified against the source, then moved into place
    atomically. An existing file is refused unless ``force``; then it is kept as
    ``sessions.json.bak.<epoch ms>`` (OpenClaw's backup name) just before it is
    replaced. A failure leaves the destination as it was.

    With ``transcripts`` (the default) the store's transcripts (``store.transcripts``:
    its SQL tier, or its files) are written beside the ``sessions.json`` as
    ``<sessionId>.jsonl`` files in OpenClaw's format (the header line first, one event
    per line), each one replaced atomically and verified by its lines read back, before
    the ``sessions.json`` is moved into place. A file already there with the same lines
    is left alone; one with other lines is refused unless ``force`` (then it is kept as
    ``<file>.bak.<epoch ms>``), and then nothing is written for that agent.
    """
    if (state_dir is None) == (out is None):
        raise InvalidArgumentError("export needs exactly one of state_dir (--state-dir) or out")
    require_persistent(str(source))
    progress = progress or NullProgress()
    ids = list(agents) if agents is not None else source_agents(str(source))
    if out is not None and len(ids) != 1:
        raise InvalidArgumentError(
            f"the source holds {len(ids)} agents ({', '.join(ids)}): choose one with --agent, "
            "or export them all with --state-dir"
        )
    destination = str(out if out is not None else state_dir)
    report = TransferReport("export", destination)
    for agent_id in ids:
        path = Path(out) if out is not None else store_path(state_dir or "", agent_id)
        report.agents.append(
            _export_agent(str(source), path, agent_id, force, transcripts, progress)
        )
    return report


def _export_agent(
    source: str, path: Path, agent_id: str, force: bool, transcripts: bool, progress: Progress
) -> AgentReport:
    report = AgentReport(agent_id, Status.FAILED, describe_target(source), str(path))
    existed = False
    # Written and verified under a temporary name beside the destination, so that
    # the destination changes only by one os.replace of a verified file.
    staging = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex}.export.tmp")
    try:
        with open_store(source, agent_id=agent_id) as src:
            entries = list(src.iter_entries())
            report.entries_read = len(entries)
            if not entries:
                report.status = Status.NO_DATA
                return report
            existed = path.exists()
            if existed and not force:
                report.error = f"{path} exists; pass force (--force) to replace it"
                return report
            carry = None
            if transcripts:
                files = FileTranscripts(src, path.parent)
                carry = _Carry([src.transcripts], files, backup=True)
                entries = [(key, _session_file_in(files, src.transcripts, e)) for key, e in entries]
                if not force:  # refused before anything is written
                    ahead = AgentReport(agent_id, Status.FAILED, report.source, report.target)
                    check = replace(carry, overwrite=False, dry_run=True)
                    failures = _carry_transcripts(entries, check, ahead, NullProgress())
                    if not _failed_transcripts(report, failures):
                        return report
            progress.start(f"{agent_id}: exporting", len(entries))
            data = {key: entry.to_dict() for key, entry in entries}
            with open_store(f"json://{staging}", agent_id=agent_id) as dst:
                report.imported = dst.put_many(entries)
                progress.advance(len(entries))
                if not _verify(dst, Checksum.of(data.items()), report):
                    report.imported = 0
                    return report
            if carry is not None:
                progress.start(f"{agent_id}: exporting transcripts", len(entries))
                failures = _carry_transcripts(entries, carry, report, progress)
                if not _failed_transcripts(report, failures):
                    report.imported = 0
                    return report
        # An entry holding only a promptRef (no prompt) is written as it is: say where
        # OpenClaw would find no file for it, and drop its skillsSnapshot.
        unresolved = PromptBlobs(path.parent).check(data)
        report.warnings.extend(str(problem) for problem in unresolved)
        if existed:
            _keep_backup(path)
        os.replace(staging, path)
        fsync_directory(path.parent)
        report.status = Status.EXPORTED
    except OSError as exc:
        report.status, report.error = Status.FAILED, f"cannot write {path}: {exc.strerror}"
    except SessionStoreError as exc:
        report.status, report.error = Status.FAILED, str(exc)
    finally:
        # the staging file, if it is still there, and the twin's files beside it
        for leftover in path.parent.glob(f"{glob.escape(staging.name)}*"):
            leftover.unlink(missing_ok=True)
        if report.status is Status.FAILED and existed:
            report.error = f"{report.error}; {path} was left as it was"
    return report


def _session_file_in(
    files: FileTranscripts, source: TranscriptStore, entry: SessionEntry
) -> SessionEntry:
    """``entry`` with an absolute ``sessionFile`` pointed at the copy of its transcript
    that the export writes to ``files``. OpenClaw follows an absolute ``sessionFile``
    wherever it points, back into the state directory exported from too."""
    old = entry.session_file
    if old is None or not os.path.isabs(old) or not source.exists(entry):
        return entry
    new = str(files.path(entry))
    return entry if new == old else entry.with_fields(session_file=new)


def _keep_backup(path: Path) -> None:
    """Keep the file about to be replaced as ``<name>.bak.<epoch ms>``: a second name
    for it (a hard link), or a copy where links are not supported; durable before
    the caller replaces ``path``."""
    backup = path.with_name(f"{path.name}.bak.{now_ms()}")
    try:
        os.link(path, backup)
    except OSError:
        shutil.copy2(path, backup)
        with open(backup, "rb") as fh:
            os.fsync(fh.fileno())
    fsync_directory(path.parent)

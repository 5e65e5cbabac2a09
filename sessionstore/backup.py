"""Online backups while writers write, and ``restore`` into any backend.

Three kinds of backup file, told apart by their first bytes:

- **sqlite**: a SQLite database (``--url`` names one) copied with SQLite's online
  backup API, a step of pages at a time, so writers keep writing. The copy runs inside
  one read transaction on the source connection, held from before the first page to
  after the last: every page comes from that one snapshot, committed WAL content
  included, and a writer never restarts the copy. The *manifest* (entries per agent, a
  checksum of the entries, the transcripts and a checksum of their lines) is computed
  inside the same read transaction, so it describes exactly the snapshot copied; the
  copy is then checked with ``PRAGMA integrity_check`` and its own manifest must equal
  it. The file is a plain database: it can be opened as it is.
- **logical**: a database server's tables of this library (entries with their
  versions, blobs, transcripts live and archived, import records), read in one
  ``REPEATABLE READ`` transaction, as zstd-compressed JSON lines: a header, one line per
  row, the manifest last, with a SHA-256 over every line before it. A file cut short
  has no manifest; a changed one fails its SHA-256.
- **state-dir**: an OpenClaw state directory's stores as a zstd-compressed tar: each
  agent's sessions directory (``sessions.json`` read under the twin's write lock,
  transcripts and their archives), OpenClaw 2026.9's per-agent databases and the state
  directory's ``sessionstore.db`` (each copied with the online backup API), and
  ``sessionstore-backup.json``, the SHA-256 of every member.

:func:`restore` reads any kind back into any backend: the rows of a sqlite or logical
backup go into a database in one transaction (a failure leaves the target as it was),
and are verified against the backup's manifest; into a JSON twin or a state directory
they go through a staged SQLite database and :func:`~sessionstore.transfer.export`. A
state-dir backup is unpacked into a state directory, or migrated into a database. A
target that already holds sessions is refused unless ``force``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import zstandard
from sqlalchemy import Connection, Table, delete, func, insert, select

from sessionstore.entry import dumps_json, loads_json
from sessionstore.errors import (
    CorruptStoreError,
    InvalidArgumentError,
    SessionStoreError,
    StoreUnavailableError,
)
from sessionstore.files import fsync_directory
from sessionstore.locate import describe_target, require_persistent, store_type_of
from sessionstore.open import database_url, is_json_target
from sessionstore.openclaw.merge import now_ms
from sessionstore.openclaw.statedir import discover_agents, read_store_file
from sessionstore.openclaw.writelock import STORE_STALE_S, write_lock
from sessionstore.sql import upgrade as schema
from sessionstore.sql.blobs import BLOB_COLUMNS
from sessionstore.sql.engine import (
    create_sql_engine,
    database_errors,
    sqlite_file,
    sqlite_read_only,
)
from sessionstore.sql.rows import decode_json
from sessionstore.sql.schema import (
    blobs,
    imports,
    sessions,
    transcript_events,
    transcripts,
    version_floor,
)
from sessionstore.transfer import Checksum, LineHasher, TransferReport, export, migrate

__all__ = [
    "PAGES_PER_STEP",
    "AgentManifest",
    "BackupReport",
    "RestoreReport",
    "backup",
    "backup_kind",
    "restore",
]

Kind = Literal["sqlite", "logical", "state-dir"]

#: Pages copied per step of the online backup (4 MB of 4 KB pages): between steps the
#: source's lock is released, so a step never keeps a writer waiting for long.
PAGES_PER_STEP = 1024
#: Rows per INSERT statement of a restore.
_ROWS_PER_INSERT = 1000
_SQLITE_MAGIC = b"SQLite format 3\x00"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_LOGICAL_FORMAT = "sessionstore-logical-backup"
_STATE_MANIFEST = "sessionstore-backup.json"
_LOCK_TIMEOUT_S = 10.0
#: The tables of a logical backup, in the order they are written and restored.
_TABLES: tuple[Table, ...] = (blobs, sessions, transcripts, transcript_events, imports)


# -- the manifest -------------------------------------------------------------------


@dataclass
class AgentManifest:
    """What one agent of a backup holds: what the copy is verified by."""

    entries: int = 0
    #: :class:`~sessionstore.transfer.Checksum` of the entries (their JSON objects)
    checksum: str = ""
    #: transcripts, live and archived
    transcripts: int = 0
    #: their lines, headers included
    lines: int = 0
    #: a :class:`~sessionstore.transfer.Checksum` of every transcript's name and
    #: line digest (a SHA-256 over the lines, each followed by a newline)
    transcript_checksum: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "checksum": self.checksum,
            "transcripts": self.transcripts,
            "lines": self.lines,
            "transcriptChecksum": self.transcript_checksum,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AgentManifest:
        return cls(
            int(data["entries"]),
            str(data["checksum"]),
            int(data["transcripts"]),
            int(data["lines"]),
            str(data["transcriptChecksum"]),
        )


Manifest = dict[str, AgentManifest]
#: rows of one table as mappings by column name, in primary-key order
TableRows = Callable[[Table], Iterable[Mapping[str, Any]]]


def _text(value: Any) -> str:
    return bytes(value).decode() if isinstance(value, bytes | bytearray | memoryview) else value


class _ManifestBuilder:
    """A manifest computed row by row, as the rows are read (blobs first)."""

    def __init__(self) -> None:
        self._blobs: dict[str, Any] = {}
        self._entries: dict[str, Checksum] = {}
        self._names: dict[tuple[str, int], str] = {}
        self._lines: dict[tuple[str, int], LineHasher] = {}

    def add(self, table: Table, row: Mapping[str, Any]) -> None:
        if table is blobs:
            self._blobs[_text(row["digest"])] = loads_json(row["body"])
        elif table is sessions:
            digests = {c: _text(row[c]) for c in BLOB_COLUMNS if row[c]}
            data = decode_json(row["entry_json"], digests, self._blobs)
            agent = _text(row["agent_id"])
            self._entries.setdefault(agent, Checksum()).add(_text(row["session_key"]), data)
        elif table is transcripts:
            name = "\0".join(_text(row[c]) for c in ("session_id", "topic", "archive_slot"))
            self._names[_text(row["agent_id"]), int(row["transcript_id"])] = name
        elif table is transcript_events:
            which = (_text(row["agent_id"]), int(row["transcript_id"]))
            line = row["event_json"]
            hasher = self._lines.setdefault(which, LineHasher())
            hasher.add(line.encode() if isinstance(line, str) else bytes(line))

    def finish(self) -> Manifest:
        manifest: Manifest = {}
        for agent, checksum in self._entries.items():
            manifest[agent] = AgentManifest(checksum.count, checksum.hexdigest())
        lines: dict[str, Checksum] = {}
        for (agent, tid), name in self._names.items():
            digest = self._lines.get((agent, tid), LineHasher()).digest()
            lines.setdefault(agent, Checksum()).add(
                name, {"lines": digest.lines, "sha256": digest.sha256}
            )
            manifest.setdefault(
                agent, AgentManifest(0, Checksum().hexdigest())
            ).lines += digest.lines
        for agent, checksum in lines.items():
            manifest[agent].transcripts = checksum.count
            manifest[agent].transcript_checksum = checksum.hexdigest()
        for agent_manifest in manifest.values():
            agent_manifest.transcript_checksum = (
                agent_manifest.transcript_checksum or Checksum().hexdigest()
            )
        return dict(sorted(manifest.items()))


def manifest_of(rows: TableRows) -> Manifest:
    """The manifest of the rows ``rows`` reads, table by table."""
    builder = _ManifestBuilder()
    for table in _TABLES:
        for row in rows(table):
            builder.add(table, row)
    return builder.finish()


def _order(table: Table) -> list[Any]:
    return list(table.primary_key.columns)


def _sqlite_rows(connection: sqlite3.Connection) -> TableRows:
    """Rows of a sqlite3 connection (in its current transaction)."""

    def rows(table: Table) -> Iterator[Mapping[str, Any]]:
        columns = ", ".join(c.name for c in table.columns)
        order = ", ".join(c.name for c in _order(table))
        cursor = connection.execute(f"SELECT {columns} FROM {table.name} ORDER BY {order}")
        names = [c.name for c in table.columns]
        for values in cursor:
            yield dict(zip(names, values, strict=True))

    return rows


def _sql_rows(connection: Connection, agents: Iterable[str] | None = None) -> TableRows:
    """Rows of a SQLAlchemy connection (in its current transaction), streamed; of
    ``agents`` only, when given (blobs: all)."""
    chosen = None if agents is None else sorted(agents)

    def rows(table: Table) -> Iterator[Mapping[str, Any]]:
        query = select(table).order_by(*_order(table))
        if chosen is not None and "agent_id" in table.c:
            query = query.where(table.c.agent_id.in_(chosen))
        streamed = {"stream_results": True, "yield_per": 1000}
        for row in connection.execute(query, execution_options=streamed).mappings():
            yield dict(row)

    return rows


def _compare(expected: Manifest, actual: Manifest, what: str) -> None:
    """Raise :class:`CorruptStoreError` naming the first agent that differs."""
    for agent in sorted(set(expected) | set(actual)):
        want, got = expected.get(agent), actual.get(agent)
        if want != got:
            raise CorruptStoreError(
                f"{what} failed verification for agent {agent!r}: expected "
                f"{_describe(want)}, found {_describe(got)}"
            )


def _describe(manifest: AgentManifest | None) -> str:
    if manifest is None:
        return "nothing"
    return (
        f"{manifest.entries} entries (checksum {manifest.checksum[:12]}), "
        f"{manifest.transcripts} transcripts of {manifest.lines} lines "
        f"(checksum {manifest.transcript_checksum[:12]})"
    )


# -- reports --------------------------------------------------------------------------


@dataclass
class BackupReport:
    """The outcome of :func:`backup`."""

    kind: Kind
    source: str
    path: str
    bytes: int = 0
    seconds: float = 0.0
    #: the time the verification took (integrity check, manifest of the copy)
    verify_seconds: float = 0.0
    #: ``ok`` from ``PRAGMA integrity_check`` of every SQLite database in the backup
    integrity: str = "ok"
    verified: bool = False
    agents: Manifest = field(default_factory=dict)
    #: state-dir backups: the files archived
    files: int = 0
    #: state-dir backups: stores archived as they are but unreadable, one line each
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (the CLI's ``--json`` output)."""
        return {
            "kind": self.kind,
            "source": self.source,
            "path": self.path,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "verifySeconds": round(self.verify_seconds, 3),
            "integrity": self.integrity,
            "verified": self.verified,
            "files": self.files,
            "agents": {a: m.to_dict() for a, m in self.agents.items()},
            "warnings": self.warnings,
        }


@dataclass
class RestoreReport:
    """The outcome of :func:`restore`."""

    kind: Kind
    source: str
    target: str
    verified: bool = False
    agents: Manifest = field(default_factory=dict)
    #: what could not go along, one line each (archives into a files tier)
    warnings: list[str] = field(default_factory=list)
    #: the transfer that wrote a JSON twin, a state directory or migrated a state dir
    transfer: TransferReport | None = None

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (the CLI's ``--json`` output)."""
        return {
            "kind": self.kind,
            "source": self.source,
            "target": self.target,
            "verified": self.verified,
            "agents": {a: m.to_dict() for a, m in self.agents.items()},
            "warnings": self.warnings,
            "transfer": None if self.transfer is None else self.transfer.to_dict(),
        }


# -- backup ---------------------------------------------------------------------------


def backup(
    to: str | os.PathLike[str],
    *,
    url: str | None = None,
    state_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    pages_per_step: int = PAGES_PER_STEP,
    on_snapshot: Callable[[], None] | None = None,
) -> BackupReport:
    """Back up the store at ``url`` (a SQLite file: a sqlite backup; a database server:
    a logical one) or the OpenClaw state directory ``state_dir`` (a state-dir backup)
    into the file ``to``, while writers keep writing; verified before it is moved into
    place. An existing ``to`` is refused unless ``force``.

    ``on_snapshot`` is called once the snapshot is taken (the read transaction holds
    it) and before the copy begins: what is written from then on is not in the backup.
    """
    if (url is None) == (state_dir is None):
        raise InvalidArgumentError("backup needs exactly one of url (--url) or state_dir")
    path = Path(to)
    if path.exists() and not force:
        raise InvalidArgumentError(f"{path} exists; pass force (--force) to replace it")
    if pages_per_step < 1:
        raise InvalidArgumentError(f"pages per step must be at least 1, got {pages_per_step}")
    snapshot = on_snapshot or (lambda: None)
    started = time.perf_counter()
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        if state_dir is not None:
            report = _backup_state_dir(Path(state_dir), staging, pages_per_step, snapshot)
        else:
            assert url is not None
            require_persistent(url)
            if is_json_target(url):
                raise InvalidArgumentError(
                    f"{url} is a sessions.json: back up its state directory with --state-dir"
                )
            db_url = database_url(url)
            db_file = sqlite_file(db_url)
            if db_file is not None:
                report = _backup_sqlite(db_file, staging, pages_per_step, snapshot)
            else:
                report = _backup_logical(db_url, staging, snapshot)
        with open(staging, "rb") as written:
            os.fsync(written.fileno())  # durable before it takes the name
        os.replace(staging, path)
        fsync_directory(path.parent)
    finally:
        staging.unlink(missing_ok=True)
    report.path = str(path)
    report.bytes = path.stat().st_size
    report.seconds = time.perf_counter() - started
    return report


def _sqlite_copy(
    source: Path, staging: Path, pages_per_step: int, on_snapshot: Callable[[], None]
) -> Manifest | None:
    """Copy the SQLite database ``source`` into ``staging`` (a single file, no WAL) in
    one read snapshot; returns the manifest of that snapshot (``None`` for a database
    that is not this library's, such as OpenClaw's own)."""
    if not source.is_file():
        raise StoreUnavailableError(f"no database at {source}")
    try:
        # read-only: the backup never changes the source (a last connection closing
        # would checkpoint its log), and it waits for locks as the store does
        with closing(sqlite_read_only(source)) as src:
            src.execute("BEGIN")  # deferred: the first read takes the snapshot
            names = {row[0] for row in src.execute("SELECT name FROM sqlite_master")}
            on_snapshot()
            ours = sessions.name in names and transcripts.name in names
            manifest = manifest_of(_sqlite_rows(src)) if ours else None
            with closing(sqlite3.connect(staging)) as dst:
                src.backup(dst, pages=pages_per_step)
                # the copy keeps the source's WAL mode in its header: one file instead
                dst.execute("PRAGMA journal_mode=DELETE")
            src.execute("COMMIT")
    except sqlite3.Error as exc:
        raise StoreUnavailableError(f"cannot back up {source}: {exc}") from exc
    return manifest


def _check_sqlite(path: Path, what: str) -> Manifest | None:
    """``PRAGMA integrity_check`` of a SQLite file and its manifest (``None``: not this
    library's database); a corrupt file is one :class:`CorruptStoreError`."""
    try:
        with open(path, "rb") as fh:
            if fh.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC:
                raise CorruptStoreError(f"{what} is not a SQLite database")
        with closing(sqlite_read_only(path)) as db:
            problems = [row[0] for row in db.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise CorruptStoreError(f"{what} failed its integrity check: {problems[0]}")
            names = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            if sessions.name not in names or transcripts.name not in names:
                return None
            return manifest_of(_sqlite_rows(db))
    except sqlite3.Error as exc:
        raise CorruptStoreError(f"{what} cannot be read as a database: {exc}") from exc


def _backup_sqlite(
    source: Path, staging: Path, pages_per_step: int, on_snapshot: Callable[[], None]
) -> BackupReport:
    report = BackupReport("sqlite", str(source), str(staging))
    manifest = _sqlite_copy(source, staging, pages_per_step, on_snapshot)
    if manifest is None:
        raise InvalidArgumentError(f"{source} holds no sessionstore tables")
    verify = time.perf_counter()
    copied = _check_sqlite(staging, f"the backup of {source}")
    _compare(manifest, copied or {}, f"the backup of {source}")
    report.verify_seconds = time.perf_counter() - verify
    report.agents, report.verified = manifest, True
    return report


@contextmanager
def _snapshot(url: str) -> Iterator[Connection]:
    """One REPEATABLE READ transaction on a database server: every read sees the same
    snapshot while writers commit."""
    engine = create_sql_engine(url)
    try:
        with (
            database_errors(url, "back up"),
            engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn,
            conn.begin(),
        ):
            yield conn
    finally:
        engine.dispose()


def _head_or_refuse(url: str) -> str:
    current = schema.current_revision(url)
    schema.require_head(current, url)
    assert current is not None
    return current


def _backup_logical(url: str, staging: Path, on_snapshot: Callable[[], None]) -> BackupReport:
    report = BackupReport("logical", describe_target(url), str(staging))
    revision = _head_or_refuse(url)
    builder = _ManifestBuilder()
    digest = hashlib.sha256()
    with (
        _snapshot(url) as conn,
        open(staging, "wb") as raw,
        zstandard.ZstdCompressor(level=3).stream_writer(raw) as out,
    ):

        def write(record: Mapping[str, Any]) -> None:
            line = dumps_json(record) + b"\n"
            digest.update(line)
            out.write(line)

        header = {"format": _LOGICAL_FORMAT, "version": 1, "revision": revision}
        header |= {"source": describe_target(url), "createdAt": now_ms()}
        write(header)
        # the first read takes the snapshot; every later one reads the same
        floor = conn.execute(select(func.max(version_floor.c.version))).scalar()
        on_snapshot()
        rows = _sql_rows(conn)
        counts: dict[str, int] = {}
        for table in _TABLES:
            for row in rows(table):
                builder.add(table, row)
                counts[table.name] = counts.get(table.name, 0) + 1
                write({"t": table.name, "r": row})
        manifest = builder.finish()
        trailer = {
            "agents": {a: m.to_dict() for a, m in manifest.items()},
            "rows": counts,
            "versionFloor": floor or 0,
        }
        out.write(dumps_json({"manifest": trailer, "sha256": digest.hexdigest()}) + b"\n")
        out.flush(zstandard.FLUSH_FRAME)
    verify = time.perf_counter()
    reread = _LogicalFile(staging)
    _compare(manifest, manifest_of(reread.rows), "the backup")
    report.verify_seconds = time.perf_counter() - verify
    report.agents, report.verified = manifest, True
    return report


class _LogicalFile:
    """A logical backup read back: its header, its rows table by table (the file is
    read once per table), its manifest; checked end to end before the first row is
    used."""

    def __init__(self, path: Path) -> None:
        self.path = path
        digest = hashlib.sha256()
        trailer: dict[str, Any] | None = None
        header: dict[str, Any] | None = None
        try:
            for line in self._lines():
                if trailer is not None:
                    raise CorruptStoreError(f"{path}: lines after the manifest")
                record = loads_json(line)
                if "manifest" in record:
                    trailer = record
                    continue
                header = header or record
                digest.update(line)
        except (zstandard.ZstdError, ValueError) as exc:
            raise CorruptStoreError(f"{path} is corrupt: {exc}") from exc
        if header is None or header.get("format") != _LOGICAL_FORMAT:
            raise CorruptStoreError(f"{path} is not a sessionstore logical backup")
        if trailer is None:
            raise CorruptStoreError(f"{path} is truncated: it ends before its manifest")
        if trailer.get("sha256") != digest.hexdigest():
            raise CorruptStoreError(f"{path} is corrupt: its lines do not match their SHA-256")
        self.header = header
        body = trailer["manifest"]
        self.manifest: Manifest = {a: AgentManifest.from_dict(m) for a, m in body["agents"].items()}
        self.version_floor = int(body["versionFloor"])

    def _lines(self) -> Iterator[bytes]:
        with (
            open(self.path, "rb") as raw,
            zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True) as data,
        ):
            yield from io.BufferedReader(data)

    def rows(self, table: Table) -> Iterator[Mapping[str, Any]]:
        # a table's rows are one run of lines: reading stops where it ends
        marker = b'{"t":"' + table.name.encode() + b'",'
        inside = False
        for line in self._lines():
            if line.startswith(marker):
                inside = True
                yield loads_json(line)["r"]
            elif inside:
                return


# -- the state directory --------------------------------------------------------------


def _backup_state_dir(
    root: Path, staging: Path, pages_per_step: int, on_snapshot: Callable[[], None]
) -> BackupReport:
    """Every agent's sessions directory and databases, and ``sessionstore.db``, into
    one zstd-compressed tar; each member's SHA-256 in its manifest member."""
    report = BackupReport("state-dir", str(root), str(staging))
    agents = discover_agents(root)
    members: dict[str, str] = {}
    entries: dict[str, int] = {}
    with (
        tempfile.TemporaryDirectory(prefix="sessionstore-backup-") as scratch,
        open(staging, "wb") as raw,
        zstandard.ZstdCompressor(level=3).stream_writer(raw) as out,
        tarfile.open(fileobj=out, mode="w|") as tar,
    ):

        def add(name: str, data: bytes | Path) -> None:
            payload = data.read_bytes() if isinstance(data, Path) else data
            members[name] = hashlib.sha256(payload).hexdigest()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(payload), int(time.time()), 0o600
            tar.addfile(info, io.BytesIO(payload))

        def add_database(source: Path, name: str) -> None:
            copy = Path(scratch) / uuid.uuid4().hex
            manifest = _sqlite_copy(source, copy, pages_per_step, lambda: None)
            copied = _check_sqlite(copy, f"the backup of {source}")
            if manifest is not None:
                _compare(manifest, copied or {}, f"the backup of {source}")
            add(name, copy)
            copy.unlink()

        on_snapshot()
        for source in agents:
            directory = source.sessions_dir
            if directory.is_dir():
                for path in sorted(directory.rglob("*")):
                    name = path.relative_to(root).as_posix()
                    if not path.is_file() or path.name.endswith(".lock"):
                        continue
                    if path == source.path:
                        with write_lock(path, timeout=_LOCK_TIMEOUT_S, stale_s=STORE_STALE_S):
                            data = path.read_bytes()
                        add(name, data)  # as it is: a backup does not judge
                        try:
                            entries[source.agent_id] = len(read_store_file(path) or {})
                        except SessionStoreError as exc:
                            report.warnings.append(f"{source.agent_id}: {exc}")
                    else:
                        add(name, path)
            if source.database is not None:
                add_database(source.database, source.database.relative_to(root).as_posix())
        own = root / "sessionstore.db"
        if own.is_file():
            add_database(own, own.name)
        body = {"format": "sessionstore-state-dir-backup", "version": 1, "files": members}
        add(_STATE_MANIFEST, dumps_json(body, indent=True))
    verify = time.perf_counter()
    report.files = len(members) - 1
    with tempfile.TemporaryDirectory(prefix="sessionstore-verify-") as scratch:
        _unpack_state(staging, Path(scratch))
    report.verify_seconds = time.perf_counter() - verify
    report.agents = {a: AgentManifest(entries=n) for a, n in sorted(entries.items())}
    report.verified = True
    return report


def _unpack_state(path: Path, into: Path) -> list[str]:
    """Unpack a state-dir backup into ``into``, every member checked against its
    SHA-256 and every database by its integrity check; returns the member names."""
    found: dict[str, str] = {}
    manifest: dict[str, Any] | None = None
    try:
        with (
            open(path, "rb") as raw,
            zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True) as data,
            tarfile.open(fileobj=data, mode="r|") as tar,
        ):
            for member in tar:
                name = member.name
                parts = Path(name).parts
                if not member.isfile() or Path(name).is_absolute() or ".." in parts:
                    raise CorruptStoreError(f"{path} holds an unsafe member {name!r}")
                fh = tar.extractfile(member)
                assert fh is not None
                payload = fh.read()
                if name == _STATE_MANIFEST:
                    manifest = json.loads(payload)
                    continue
                found[name] = hashlib.sha256(payload).hexdigest()
                target = into / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(payload)
    except (tarfile.TarError, zstandard.ZstdError, OSError, ValueError) as exc:
        raise CorruptStoreError(f"{path} is corrupt: {exc}") from exc
    if manifest is None:
        raise CorruptStoreError(f"{path} is truncated: it ends before its manifest")
    if manifest.get("files") != found:
        raise CorruptStoreError(f"{path} is corrupt: its files do not match their SHA-256")
    for name in found:
        if name.endswith((".sqlite", ".db")):
            _check_sqlite(into / name, f"{name} of {path}")
    return sorted(found)


# -- restore --------------------------------------------------------------------------


def backup_kind(path: str | os.PathLike[str]) -> Kind:
    """The kind of the backup file at ``path``, by its first bytes."""
    where = Path(path)
    try:
        with open(where, "rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
            if head == _SQLITE_MAGIC:
                return "sqlite"
            if not head.startswith(_ZSTD_MAGIC):
                raise CorruptStoreError(f"{where} is not a sessionstore backup")
            fh.seek(0)
            with zstandard.ZstdDecompressor().stream_reader(fh) as data:
                start = data.read(len(_LOGICAL_FORMAT) + 16)
    except zstandard.ZstdError as exc:
        raise CorruptStoreError(f"{where} is corrupt: {exc}") from exc
    except FileNotFoundError as exc:
        raise InvalidArgumentError(f"no backup at {where}") from exc
    except OSError as exc:
        raise StoreUnavailableError(f"cannot read {where}: {exc.strerror}") from exc
    return "logical" if start.startswith(b'{"format":"' + _LOGICAL_FORMAT.encode()) else "state-dir"


def restore(
    source: str | os.PathLike[str],
    *,
    url: str | None = None,
    state_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
) -> RestoreReport:
    """Restore the backup file ``source`` (any kind) into the store at ``url`` (any
    backend) or into the state directory ``state_dir``, verified against the backup.

    A target that already holds sessions is refused unless ``force``: then the agents
    the backup holds are replaced (a database: in the one transaction of the restore;
    a state directory: each file replaced, the old one kept as ``<file>.bak.<ms>``).
    """
    if (url is None) == (state_dir is None):
        raise InvalidArgumentError("restore needs exactly one of url (--url) or state_dir")
    path = Path(source)
    kind = backup_kind(path)
    if url is not None:
        require_persistent(url)
    target = describe_target(url) if url is not None else str(state_dir)
    report = RestoreReport(kind, str(path), target)
    with tempfile.TemporaryDirectory(prefix="sessionstore-restore-") as scratch:
        if kind == "state-dir":
            _restore_state(path, Path(scratch), url, state_dir, force, report)
            return report
        with _backup_rows(path, kind, Path(scratch)) as (rows, manifest, floor):
            report.agents = manifest
            if url is not None and not is_json_target(url):
                _restore_rows(database_url(url), rows, manifest, floor, force)
                report.verified = True
                return report
            # a JSON twin or a state directory: staged in SQLite, then exported
            _refuse_files(url, state_dir, force)
            staged = database_url(Path(scratch) / "staged.db")
            _restore_rows(staged, rows, manifest, floor, force=False)
            report.transfer = export(
                staged,
                state_dir=state_dir,
                out=url.removeprefix("json://") if url is not None else None,
                agents=None if url is None else _one_agent(manifest, url),
                force=force,
            )
            archived = sum(m.transcripts for m in manifest.values()) - _live(staged)
            if archived:
                report.warnings.append(
                    f"{archived} archived transcripts stay in the backup: a files tier "
                    "receives the live transcripts only"
                )
            if not report.transfer.ok:
                failed = next(a for a in report.transfer.agents if a.error)
                raise SessionStoreError(f"restore into {target} failed: {failed.error}")
            report.verified = True
        return report


def _one_agent(manifest: Manifest, url: str) -> list[str]:
    if len(manifest) != 1:
        raise InvalidArgumentError(
            f"the backup holds {len(manifest)} agents ({', '.join(manifest)}) and {url} "
            "holds one: restore into a state directory (--state-dir) instead"
        )
    return list(manifest)


def _live(url: str) -> int:
    engine = create_sql_engine(url)
    try:
        with engine.connect() as conn:
            query = select(func.count()).where(transcripts.c.archive_slot == "")
            return int(conn.execute(query.select_from(transcripts)).scalar_one())
    finally:
        engine.dispose()


@contextmanager
def _backup_rows(
    path: Path, kind: Kind, scratch: Path
) -> Iterator[tuple[TableRows, Manifest, int]]:
    """The rows of a sqlite or logical backup, its manifest and its version floor,
    checked: a sqlite backup by its integrity check (a copy, upgraded to this version's
    schema), a logical one by its SHA-256 and revision."""
    if kind == "logical":
        logical = _LogicalFile(path)
        revision = logical.header.get("revision")
        if revision != schema.head_revision():
            raise InvalidArgumentError(
                f"{path} was written at schema revision {revision}, and this version's is "
                f"{schema.head_revision()}: restore it with the version that wrote it"
            )
        yield logical.rows, logical.manifest, logical.version_floor
        return
    copy = scratch / "backup.db"
    shutil.copyfile(path, copy)
    manifest = _check_sqlite(copy, str(path))
    if manifest is None:
        raise CorruptStoreError(f"{path} holds no sessionstore tables")
    copy_url = database_url(copy)
    schema.upgrade(copy_url)
    engine = create_sql_engine(copy_url)
    try:
        with engine.connect() as conn:
            floor = conn.execute(select(func.max(version_floor.c.version))).scalar() or 0

        def rows(table: Table) -> Iterator[Mapping[str, Any]]:
            with engine.connect() as conn:
                yield from _sql_rows(conn)(table)

        yield rows, manifest, int(floor)
    finally:
        engine.dispose()


def _restore_rows(url: str, rows: TableRows, manifest: Manifest, floor: int, force: bool) -> None:
    """Write the backup's rows into the database ``url`` in one transaction, verified
    against ``manifest`` before it commits."""
    schema.upgrade(url)
    engine = create_sql_engine(url)
    agents = sorted(manifest)
    try:
        with database_errors(url, "restore into"), engine.begin() as conn:
            held = conn.execute(
                select(sessions.c.agent_id, func.count()).group_by(sessions.c.agent_id)
            ).all()
            if held and not force:
                total = sum(int(n) for _, n in held)
                raise InvalidArgumentError(
                    f"{describe_target(url)} already holds {total} sessions: restore into an "
                    "empty store, or pass force (--force) to replace the backup's agents"
                )
            for table in (transcript_events, transcripts, sessions, imports):
                conn.execute(delete(table).where(table.c.agent_id.in_(agents)))
            known = {_text(d) for d in conn.execute(select(blobs.c.digest)).scalars()}
            for table in _TABLES:
                batch: list[Mapping[str, Any]] = []
                for row in rows(table):
                    if table is blobs and row["digest"] in known:
                        continue
                    batch.append(row)
                    if len(batch) >= _ROWS_PER_INSERT:
                        conn.execute(insert(table), batch)
                        batch = []
                if batch:
                    conn.execute(insert(table), batch)
            current = conn.execute(select(func.max(version_floor.c.version))).scalar()
            if current is None:
                conn.execute(insert(version_floor), [{"id": 1, "version": floor}])
            elif floor > current:
                conn.execute(version_floor.update().values(version=floor))
            restored = manifest_of(_sql_rows(conn, agents))
            _compare(manifest, restored, f"the restore into {describe_target(url)}")
    finally:
        engine.dispose()


def _restore_state(
    path: Path,
    scratch: Path,
    url: str | None,
    state_dir: str | os.PathLike[str] | None,
    force: bool,
    report: RestoreReport,
) -> None:
    unpacked = scratch / "state"
    names = _unpack_state(path, unpacked)
    for source in discover_agents(unpacked):
        try:
            if source.path.exists():
                n = len(read_store_file(source.path) or {})
                report.agents[source.agent_id] = AgentManifest(entries=n)
        except SessionStoreError as exc:
            report.warnings.append(f"{source.agent_id}: {exc}")
    if state_dir is not None:
        root = Path(state_dir)
        _refuse_files(None, root, force)
        root.mkdir(parents=True, exist_ok=True)
        stamp = now_ms()
        for name in names:
            source_file, target_file = unpacked / name, root / name
            target_file.parent.mkdir(parents=True, exist_ok=True)
            if target_file.exists():
                os.replace(target_file, target_file.with_name(f"{target_file.name}.bak.{stamp}"))
            shutil.copyfile(source_file, target_file)
            if (
                hashlib.sha256(target_file.read_bytes()).hexdigest()
                != hashlib.sha256(source_file.read_bytes()).hexdigest()
            ):
                raise CorruptStoreError(f"{target_file} did not read back as written")
        report.verified = True
        return
    assert url is not None
    if store_type_of(url) != "json" and _holds_sessions(url) and not force:
        raise InvalidArgumentError(
            f"{describe_target(url)} already holds sessions: restore into an empty store, "
            "or pass force (--force) to replace the backup's agents"
        )
    if is_json_target(url):
        _refuse_files(url, None, force)
    report.transfer = migrate(
        unpacked,
        url,
        agents=None if not is_json_target(url) else _one_agent(report.agents, url),
        verbatim=True,
        replace=force,
        transcripts=None if is_json_target(url) else "sql",
    )
    if not report.transfer.ok:
        failed = next(a for a in report.transfer.agents if a.error)
        raise SessionStoreError(f"restore into {report.target} failed: {failed.error}")
    report.verified = True


def _refuse_files(url: str | None, state_dir: str | os.PathLike[str] | None, force: bool) -> None:
    """Refuse a ``sessions.json`` that holds sessions, or a state directory with an
    agent's store, unless ``force``."""
    if force:
        return
    if url is not None:
        path = Path(url.removeprefix("json://"))
        if path.exists() and read_store_file(path):
            raise InvalidArgumentError(
                f"{path} already holds sessions: restore into an empty store, or pass "
                "force (--force) to replace it"
            )
        return
    root = Path(state_dir or "")
    held = [s for s in discover_agents(root) if s.exists()] if root.is_dir() else []
    if held:
        raise InvalidArgumentError(
            f"{root} already holds the stores of {len(held)} agents: restore into an "
            "empty state directory, or pass force (--force) to replace them"
        )


def _holds_sessions(url: str) -> bool:
    db_url = database_url(url)
    path = sqlite_file(db_url)
    if path is not None and not path.exists():
        return False
    counted = schema.count_sessions(db_url)
    return bool(counted and sum(counted.values()))

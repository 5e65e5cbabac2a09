"""SQLite under real faults: a full disk, a file-size limit, read-only files and media.

A full disk is a small tmpfs mounted for the test (it needs the right to mount) or, on
any machine, ``RLIMIT_FSIZE`` in a child process with ``SIGXFSZ`` ignored. A write
transaction larger than SQLite's page cache spills pages while it runs, and a spill that
fails makes SQLite roll the transaction back by itself: the error must still be the
real one, nothing acknowledged may be lost and the store must take writes again once
there is room. Read-only media is a read-only bind mount.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sessionstore import SessionEntry, SessionStore, StoreUnavailableError, open_store
from sessionstore.cli import app
from sessionstore.sql import engine

#: One write transaction: 2,000 entries of 4 KB, about four times SQLite's page cache.
BIG_BATCH = 2_000
SQLITE_URLS = {"sqlite": "sqlite:///{}", "sqlite-sqlalchemy": "sqlite+pysqlite:///{}"}


def _mount(target: Path, *options: str) -> None:
    """Mount or skip, saying why (mounting needs privileges)."""
    done = subprocess.run(["mount", *options, str(target)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here ({done.stderr.strip()}); the RLIMIT_FSIZE test covers it")


def _umount(target: Path) -> None:
    subprocess.run(["umount", "--lazy", str(target)], check=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A directory on a tmpfs of 16 MiB."""
    disk = tmp_path / "disk"
    disk.mkdir()
    _mount(disk, "-t", "tmpfs", "-o", "size=16m", "tmpfs")
    try:
        yield disk
    finally:
        _umount(disk)


def _entry(i: int, size: int = 4_000) -> dict[str, object]:
    return {"sessionId": f"s{i}", "updatedAt": 1_774_962_000_000 + i, "label": "x" * size}


def _batch(n: int) -> list[tuple[str, dict[str, object]]]:
    return [(f"agent:main:b{n}-{i}", _entry(i)) for i in range(BIG_BATCH)]


def _integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def _fill(store: SessionStore, acknowledged: dict[str, SessionEntry]) -> None:
    """Write big batches until one fails; remember those that were acknowledged."""
    for n in range(10):  # 16 MiB fill up in two or three batches
        batch = _batch(n)
        store.put_many(batch)
        acknowledged.update((k, SessionEntry.from_dict(e)) for k, e in batch)


@pytest.mark.parametrize("form", sorted(SQLITE_URLS))
def test_a_full_disk_is_reported_as_such_and_the_store_recovers(
    small_disk: Path, form: str
) -> None:
    path = small_disk / "sessions.db"
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * 4 * 1024 * 1024)  # deleted below: the space comes back
    acknowledged: dict[str, SessionEntry] = {}
    with open_store(SQLITE_URLS[form].format(path), auto_upgrade=True) as store:
        store.put("agent:main:first", _entry(0))
        acknowledged["agent:main:first"] = SessionEntry.from_dict(_entry(0))
        with pytest.raises(StoreUnavailableError) as failed:
            _fill(store, acknowledged)
        assert "database or disk is full" in str(failed.value)
        assert "cannot rollback" not in str(failed.value)
        filler.unlink()
        store.put("agent:main:after", _entry(1))
        acknowledged["agent:main:after"] = SessionEntry.from_dict(_entry(1))
        assert dict(store.iter_entries()) == acknowledged
    assert _integrity(path) == "ok"


_LIMITED_WRITER = textwrap.dedent(
    """
    import json, resource, signal, sys
    from sessionstore import SessionStoreError, open_store

    url, limit = sys.argv[1], int(sys.argv[2])
    entry = {{"sessionId": "s", "updatedAt": 1, "label": "x" * 4000}}
    batch = [(f"agent:main:b{{i}}", entry) for i in range({batch})]
    with open_store(url) as store:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a dead process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
        try:
            store.put_many(batch)
            error = None
        except SessionStoreError as exc:
            error = [type(exc).__name__, str(exc)]
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
        store.put("agent:main:after", {{"sessionId": "a", "updatedAt": 2}})
        print(json.dumps(error))
    """
).format(batch=BIG_BATCH)


@pytest.mark.parametrize("form", sorted(SQLITE_URLS))
def test_a_file_size_limit_is_reported_and_the_store_recovers(tmp_path: Path, form: str) -> None:
    path = tmp_path / "sessions.db"
    url = SQLITE_URLS[form].format(path)
    with open_store(url, auto_upgrade=True) as store:
        store.put("agent:main:first", _entry(0))
    limit = 3 * 1024 * 1024  # the database and its WAL may grow to 3 MiB; a batch is 8
    done = subprocess.run(
        [sys.executable, "-c", _LIMITED_WRITER, url, str(limit)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    kind, message = json.loads(done.stdout)
    assert kind == "StoreUnavailableError"
    assert "database or disk is full" in message or "disk I/O error" in message, message
    assert "cannot rollback" not in message
    with open_store(url) as store:
        assert sorted(key for key, _ in store.iter_entries()) == [
            "agent:main:after",
            "agent:main:first",
        ]
    assert _integrity(path) == "ok"


# -- read-only -----------------------------------------------------------------------


def _foreign_file(path: Path, journal_mode: str = "delete") -> None:
    """A database with the library's schema and two entries, in ``journal_mode``, as
    another application would keep it; closed, so no -wal or -shm is left."""
    with open_store(f"sqlite:///{path}", auto_upgrade=True) as store:
        store.put("agent:main:main", _entry(1, 10))
        store.put("agent:main:other", _entry(2, 10))
    with sqlite3.connect(path) as conn:
        assert conn.execute(f"PRAGMA journal_mode={journal_mode}").fetchone()[0] == journal_mode


def _snapshot(directory: Path) -> dict[str, tuple[str, int]]:
    """Every file of ``directory``: its sha256 and mtime."""
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(directory.iterdir())
    }


def _cli(*args: str, status: int = 0) -> str:
    done = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert done.exit_code == status, done.stderr
    return done.stdout


def _read_commands(url: str, transcripts: Path) -> list[str]:
    return [
        _cli("list", "--url", url, "--all-agents"),
        _cli("info", "--url", url),
        _cli("show", "agent:main:main", "--url", url),
        # no transcripts: INCONSISTENT, exit status 1
        _cli("check", "--url", url, "--sessions-dir", str(transcripts), "--json", status=1),
    ]


def test_read_commands_leave_another_applications_file_unchanged(tmp_path: Path) -> None:
    directory = tmp_path / "app"
    directory.mkdir()
    path = directory / "app.db"
    _foreign_file(path)
    before = _snapshot(directory)
    transcripts = tmp_path / "transcripts"
    transcripts.mkdir()
    listed, described, shown, _ = _read_commands(f"sqlite:///{path}", transcripts)
    assert "agent:main:other" in listed and "sessions:   2" in described and "s1" in shown
    assert _snapshot(directory) == before  # same bytes, same mtime, no -wal, -shm, -journal
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_a_read_only_store_refuses_writes_and_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    _foreign_file(path)
    before = _snapshot(tmp_path)
    with open_store(path, read_only=True) as store:
        assert store.count() == 2
        with pytest.raises(StoreUnavailableError, match="read-only"):
            store.put("agent:main:new", _entry(3))
        with pytest.raises(StoreUnavailableError, match="read-only"):
            store.delete("agent:main:main")
    assert _snapshot(tmp_path) == before
    with pytest.raises(StoreUnavailableError, match="no database file"):
        open_store(tmp_path / "missing.db", read_only=True)
    assert not (tmp_path / "missing.db").exists()


@pytest.fixture
def read_only_media(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """``(writable directory, the same directory mounted read-only)``."""
    source, media = tmp_path / "source", tmp_path / "media"
    source.mkdir()
    media.mkdir()
    _mount(media, "--bind", str(source))
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(media)], check=True)
        yield source, media
    finally:
        _umount(media)


@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
def test_a_store_on_read_only_media_opens_read_only(
    read_only_media: tuple[Path, Path], journal_mode: str
) -> None:
    source, media = read_only_media
    _foreign_file(source / "sessions.db", journal_mode)
    with pytest.raises(OSError, match="Read-only file system"):
        (media / "probe").touch()  # the medium really is read-only
    with open_store(media / "sessions.db", read_only=True) as store:
        assert sorted(key for key, _ in store.iter_entries()) == [
            "agent:main:main",
            "agent:main:other",
        ]
        with pytest.raises(StoreUnavailableError, match="read-only"):
            store.put("agent:main:new", _entry(3))
    with open_store(media / "sessions.db") as store:  # nothing can be written: read-only
        assert store.count() == 2
        with pytest.raises(StoreUnavailableError, match="readonly"):
            store.put("agent:main:new", _entry(3))
    url = f"sqlite:///{media / 'sessions.db'}"
    assert "agent:main:main" in _cli("list", "--url", url, "--all-agents")
    assert "sessions:   2" in _cli("info", "--url", url)


def test_a_wal_left_on_read_only_media_is_a_clear_error(
    read_only_media: tuple[Path, Path],
) -> None:
    source, media = read_only_media
    _foreign_file(source / "live.db", "wal")
    # A copy taken while a writer had changes in its WAL: the database and the -wal.
    with sqlite3.connect(source / "live.db", isolation_level=None) as live:
        live.execute("PRAGMA wal_autocheckpoint=0")
        live.execute("DELETE FROM sessions WHERE session_key = 'agent:main:other'")
        shutil.copy(source / "live.db", source / "sessions.db")
        shutil.copy(source / "live.db-wal", source / "sessions.db-wal")
    with pytest.raises(StoreUnavailableError, match="read-only storage"):
        open_store(media / "sessions.db", read_only=True)


# -- directories ---------------------------------------------------------------------


@pytest.mark.parametrize("form", sorted(SQLITE_URLS))
@pytest.mark.usefixtures("usual_umask")  # under 077 a directory made without a mode is 0700
def test_every_directory_created_for_a_database_is_private(tmp_path: Path, form: str) -> None:
    path = tmp_path / "a" / "b" / "c" / "sessions.db"
    with open_store(SQLITE_URLS[form].format(path), auto_upgrade=True):
        pass
    for directory in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("form", sorted(SQLITE_URLS))
def test_a_new_database_locked_by_another_process_still_gets_wal(
    tmp_path: Path, form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite fails a switch to WAL that meets a lock at once, without its busy handler:
    processes creating one database together met there ("database is locked")."""
    path = tmp_path / "sessions.db"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # what a second process creating the file holds
    pauses: list[None] = []

    def release_on_first_pause() -> None:
        if not pauses:
            other.execute("ROLLBACK")  # the file stays empty: a new database
        pauses.append(None)

    monkeypatch.setattr(engine, "wait_for_wal_switch", release_on_first_pause)
    with open_store(SQLITE_URLS[form].format(path), auto_upgrade=True) as store:
        store.put("agent:main:a", SessionEntry(session_id="s1", updated_at=1))
    other.close()
    assert pauses  # the lock was met, and the switch tried again once it was gone
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

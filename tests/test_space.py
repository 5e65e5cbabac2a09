"""Disk space that comes back and integrity without stalls, on real files and servers:
new SQLite files use incremental auto-vacuum, cleanup returns freed pages and archives
SQL transcripts nobody references, ``db compact`` converts an existing file (or writes a
verified copy), opening a store runs no integrity check, and a damaged file is found by
``check --integrity`` and recovered by the path it names."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from typer.testing import CliRunner, Result

from sessionstore import SessionEntry, lifecycle, open_store
from sessionstore.cli import app
from sessionstore.contract import SessionStore, SupportsMaintenance
from sessionstore.lifecycle import DAY_MS
from sessionstore.sql import space

RUNNER = CliRunner()
NOW = 1_800_000_000_000


def run(*args: str) -> Result:
    return RUNNER.invoke(app, list(args), prog_name="sessionstore", catch_exceptions=False)


def _auto_vacuum(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("PRAGMA auto_vacuum").fetchone()[0])


def _fill(store: SessionStore, n: int, *, words: int = 40) -> None:
    """``n`` sessions, each with a transcript of two messages."""
    entries = [{"sessionId": f"s{i}", "updatedAt": NOW - i} for i in range(n)]
    store.put_many([(f"agent:main:direct:{i}", entry) for i, entry in enumerate(entries)])
    for i in range(n):
        text = f"message of session {i} " + "lorem ipsum " * words
        events = [{"type": "message", "message": {"role": "user", "content": text}}] * 2
        store.transcripts.append(f"agent:main:direct:{i}", events)


@pytest.mark.parametrize("scheme", ["sqlite", "sqlite+pysqlite"])
def test_a_new_sqlite_file_uses_incremental_auto_vacuum(tmp_path: Path, scheme: str) -> None:
    path = tmp_path / "new.db"
    open_store(f"{scheme}:///{path}", auto_upgrade=True).close()
    assert _auto_vacuum(path) == 2
    done = run("db", "upgrade", "--url", f"sqlite:///{tmp_path / 'cli.db'}")
    assert done.exit_code == 0, done.output
    assert _auto_vacuum(tmp_path / "cli.db") == 2


def test_an_existing_file_keeps_its_mode_until_db_compact_converts_it(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as conn:  # a file made before: no auto-vacuum
        conn.execute("CREATE TABLE kept (x)")
        conn.execute("INSERT INTO kept VALUES (1)")
        conn.commit()
    url = f"sqlite:///{path}"
    assert run("db", "upgrade", "--url", url).exit_code == 0
    with open_store(url) as store:
        store.put("agent:main:main", {"sessionId": "s1", "updatedAt": 1})
    assert _auto_vacuum(path) == 0  # opening and upgrading change no mode

    done = run("db", "compact", "--url", url)
    assert done.exit_code == 0, done.output
    assert "auto_vacuum incremental" in done.stdout
    assert _auto_vacuum(path) == 2
    with open_store(url) as store:
        assert store.get("agent:main:main") == SessionEntry(session_id="s1", updated_at=1)


@pytest.mark.parametrize("scheme", ["sqlite", "sqlite+pysqlite"])
def test_cleanup_returns_the_pages_it_freed(tmp_path: Path, scheme: str) -> None:
    path = tmp_path / "s.db"
    with open_store(f"{scheme}:///{path}", auto_upgrade=True, transcripts="sql") as store:
        _fill(store, 400)
        full = space.sqlite_space(path)["pageCount"]
        report = lifecycle.cleanup(
            store, prune_after_ms=None, max_entries=40, transcripts=store.transcripts, now_ms=NOW
        )
        assert report.applied_count == 360 and len(report.archived) == 360
        # the archives are data until their retention expires them (the kept sessions
        # are used meanwhile)
        later = NOW + 31 * DAY_MS
        store.put_many([(k, e.with_fields(updatedAt=later)) for k, e in store.iter_entries()])
        expired = lifecycle.cleanup(
            store, max_entries=None, transcripts=store.transcripts, now_ms=NOW + 31 * DAY_MS
        )
        assert len(expired.expired) == 360 and expired.reclaimed_pages > 0
        after = space.sqlite_space(path)
        assert after["freePages"] == 0
        assert after["pageCount"] < full / 2
        assert store.count() == 40 and store.transcripts.count("agent:main:direct:0") == 2


def test_cleanup_with_reclaim_false_leaves_the_pages_to_reclaim_space(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with open_store(f"sqlite:///{path}", auto_upgrade=True, transcripts="sql") as store:
        _fill(store, 200)
        report = lifecycle.cleanup(
            store, prune_after_ms=None, max_entries=20, transcripts=store.transcripts,
            reset_archive_retention_ms=0, reclaim=False, now_ms=NOW,
        )  # fmt: skip
        assert report.reclaimed_pages == 0
        free = space.sqlite_space(path)["freePages"]
        assert free > 0
        assert isinstance(store, SupportsMaintenance)
        done = store.reclaim_space()
        assert done.pages == free and done.remaining == 0 and done.steps >= 1
        assert done.stopped is None


def test_reclaim_stops_without_error_while_another_writer_holds_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with open_store(f"sqlite:///{path}", auto_upgrade=True, transcripts="sql") as store:
        _fill(store, 100)
        store.delete_many([f"agent:main:direct:{i}" for i in range(100)])
    with closing(sqlite3.connect(path, isolation_level=None)) as holder:
        holder.execute("BEGIN IMMEDIATE")  # a writer in the middle of its transaction
        with closing(sqlite3.connect(path, isolation_level=None)) as conn:
            conn.execute("PRAGMA busy_timeout=20")
            free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
            done = space.reclaim(conn, step_pages=8)
        holder.execute("ROLLBACK")
    assert free > 0
    assert done.pages == 0 and done.remaining == free
    assert done.stopped is not None and "another writer" in done.stopped


def test_sql_transcripts_no_entry_has_are_archived_then_expire(sql_target: str) -> None:
    """A transcript whose entry was deleted directly, or reset without archiving it,
    has no owner: cleanup archives it as ``deleted`` and its retention expires it."""
    with open_store(sql_target, transcripts="sql") as store:
        for key, sid in (("agent:main:a", "sa"), ("agent:main:b", "sb"), ("agent:main:main", "sc")):
            store.put(key, {"sessionId": sid, "updatedAt": NOW})
            message = {"type": "message", "message": {"role": "user", "content": sid}}
            store.transcripts.append(key, [message])
        store.delete("agent:main:a")
        lifecycle.reset(store, "agent:main:b", now_ms=NOW)  # its old transcript stays live
        assert store.transcripts.session_ids() == {"sa", "sb", "sc"}

        report = lifecycle.cleanup(store, transcripts=store.transcripts, now_ms=NOW)
        assert [name.split(".jsonl")[0] for name in report.orphans_archived] == ["sa", "sb"]
        assert report.to_dict()["orphansArchived"] == report.orphans_archived
        assert {a.name for a in store.transcripts.archives()} == set(report.orphans_archived)
        assert store.transcripts.count("agent:main:main") == 1  # referenced: untouched
        assert store.transcripts.session_ids() == {"sc"}

        again = lifecycle.cleanup(store, transcripts=store.transcripts, now_ms=NOW + 1)
        assert again.orphans_archived == []
        gone = lifecycle.cleanup(store, transcripts=store.transcripts, now_ms=NOW + 31 * DAY_MS)
        assert sorted(gone.expired) == sorted(report.orphans_archived)
        assert store.transcripts.archives() == []
        assert store.transcripts.count("agent:main:main") == 1


# -- opening runs no integrity check ----------------------------------------------------


def _tracing_sqlite3(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement SQLite runs on a connection ``sqlite3.connect`` opens from now
    on, through SQLite's own trace hook (kept when the store sets its own)."""
    seen: list[str] = []
    real = sqlite3.connect

    class Traced(sqlite3.Connection):
        def set_trace_callback(self, callback: Callable[[str], object] | None) -> None:
            def both(sql: str) -> None:
                seen.append(sql)
                if callback is not None:
                    callback(sql)

            super().set_trace_callback(both)

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real(*args, **{**kwargs, "factory": Traced})
        conn.set_trace_callback(None)
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    return seen


@pytest.fixture
def engine_statements() -> Iterator[list[str]]:
    """Every statement any SQLAlchemy engine sends meanwhile."""
    seen: list[str] = []

    def listen(_c: Any, _cur: Any, sql: str, *_rest: Any) -> None:
        seen.append(sql)

    event.listen(Engine, "before_cursor_execute", listen)
    yield seen
    event.remove(Engine, "before_cursor_execute", listen)


def _checks(statements: list[str]) -> list[str]:
    return [s for s in statements if "integrity_check" in s.lower() or "quick_check" in s.lower()]


def test_opening_a_store_runs_no_integrity_check(
    sql_target: str, monkeypatch: pytest.MonkeyPatch, engine_statements: list[str]
) -> None:
    """Opening costs a few statements, none of them a check, on a new store, on an
    existing one and read-only, whatever the size of the file."""
    traced = _tracing_sqlite3(monkeypatch)
    with open_store(sql_target, transcripts="sql") as store:
        _fill(store, 50, words=2)
    traced.clear()
    engine_statements.clear()
    for options in ({}, {"read_only": True}):
        open_store(sql_target, **options).close()  # type: ignore[arg-type]
    opened = traced + engine_statements
    assert opened, "the trace saw the opening"
    assert _checks(opened) == []
    assert len(opened) < 40  # a handful per open: settings and the revision


# -- check --integrity, info ------------------------------------------------------------


def test_check_integrity_reports_its_time_and_info_shows_the_last_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    with open_store(url, auto_upgrade=True, transcripts="sql") as store:
        _fill(store, 20)
    shown = json.loads(run("info", "--url", url, "--json").stdout)
    assert shown["lastCheck"] is None and shown["space"]["autoVacuum"] == "incremental"
    assert "integrity:  never checked" in run("info", "--url", url).stdout

    done = run("check", "--integrity", "--url", url)
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("quick_check ok in")
    done = run("check", "--integrity", "--full", "--url", url, "--json")
    assert done.exit_code == 0
    result = json.loads(done.stdout)
    assert result["ok"] and result["check"] == "integrity_check" and result["recorded"]
    assert result["durationMs"] >= 0 and result["recovery"] is None

    shown = json.loads(run("info", "--url", url, "--json").stdout)
    assert shown["lastCheck"]["check"] == "integrity_check" and shown["lastCheck"]["ok"]
    assert shown["lastCheck"]["checkedAt"] == result["checkedAt"]
    assert "integrity:  integrity_check ok at" in run("info", "--url", url).stdout
    assert run("check", "--full", "--url", url).exit_code == 1  # --full needs --integrity


def test_check_integrity_on_a_server_says_it_is_for_sqlite(postgresql_url: str) -> None:
    assert run("db", "upgrade", "--url", postgresql_url).exit_code == 0
    done = run("check", "--integrity", "--url", postgresql_url)
    assert done.exit_code == 1
    assert done.stderr.count("\n") == 1 and "works on a SQLite file" in done.stderr


def test_info_on_postgresql_reports_dead_tuples_per_table(postgresql_url: str) -> None:
    with open_store(postgresql_url, auto_upgrade=True) as store:
        entries = [{"sessionId": f"s{i}", "updatedAt": i} for i in range(50)]
        store.put_many([(f"agent:main:k{i}", entry) for i, entry in enumerate(entries)])
        store.delete_many([f"agent:main:k{i}" for i in range(25)])
    done = run("info", "--url", postgresql_url, "--json")
    assert done.exit_code == 0, done.output
    tables = {row["table"]: row for row in json.loads(done.stdout)["deadTuples"]}
    assert {"sessions", "session_blobs", "transcript_events", "sessionstore_checks"} <= set(tables)
    assert set(tables["sessions"]) == {
        "table", "liveTuples", "deadTuples", "lastVacuum", "lastAutovacuum"
    }  # fmt: skip
    assert "table:      sessions:" in run("info", "--url", postgresql_url).stdout


# -- db compact ------------------------------------------------------------------------


def test_db_compact_is_refused_while_another_process_writes(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    url = f"sqlite:///{path}"
    with open_store(url, auto_upgrade=True, transcripts="sql") as store:
        _fill(store, 100)
        store.delete_many([f"agent:main:direct:{i}" for i in range(50, 100)])
    before = path.read_bytes()
    with closing(sqlite3.connect(path, isolation_level=None)) as writer:
        writer.execute("BEGIN IMMEDIATE")
        done = run("db", "compact", "--url", url)
        assert done.exit_code == 1
        assert done.stderr.count("\n") == 1
        assert "held for writing by another process" in done.stderr and "--into" in done.stderr
        assert path.read_bytes() == before

        # a copy is made while the writer holds its lock, and verified
        copy = tmp_path / "compact.db"
        done = run("db", "compact", "--url", url, "--into", str(copy), "--json")
        assert done.exit_code == 0, done.output
        made = json.loads(done.stdout)
        assert made["counts"]["sessions"] == 50 and made["bytesAfter"] < made["bytesBefore"]
        writer.execute("ROLLBACK")
    assert _auto_vacuum(copy) == 2
    with open_store(f"sqlite:///{copy}", transcripts="sql") as store:
        assert store.count() == 50
        assert store.transcripts.count("agent:main:direct:3") == 2
    assert not list(tmp_path.glob(".*.partial"))
    done = run("db", "compact", "--url", url, "--into", str(copy))
    assert done.exit_code == 1 and "exists" in done.stderr  # never over a file


# -- a damaged file ----------------------------------------------------------------------


def _damage_table(path: Path, table: str) -> None:
    """Overwrite the root page of ``table`` (an interior b-tree page of a large table)
    with garbage; the header and every other table stay intact."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        found = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,))
        root = int(found.fetchone()[0])
    assert root > 1
    with path.open("r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(b"\xa5" * page_size)


def test_a_damaged_file_is_found_and_the_named_recovery_saves_what_is_readable(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    url = f"sqlite:///{path}"
    with open_store(url, auto_upgrade=True, transcripts="sql") as store:
        _fill(store, 300)
        entries = dict(store.iter_entries())
    _damage_table(path, "transcript_events")

    done = run("check", "--integrity", "--url", url)
    assert done.exit_code == 1
    assert done.stdout.startswith("quick_check FAILED")
    recovery = next(line for line in done.stdout.splitlines() if line.startswith("recovery:"))
    assert "sessionstore export --from" in recovery and "sessionstore copy --from" in recovery
    assert not json.loads(run("info", "--url", url, "--json").stdout)["lastCheck"]["ok"]

    # export: every entry is readable, so sessions.json holds them all
    out = tmp_path / "saved" / "sessions.json"
    done = run("export", "--from", url, "--out", str(out), "--no-transcripts")
    assert done.exit_code == 0, done.output
    with open_store(str(out)) as saved:
        assert dict(saved.iter_entries()) == entries

    # copy: the entries arrive and are verified; the damaged transcripts are one error
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    done = run("copy", "--from", url, "--to", fresh, "--json")
    assert done.exit_code == 1
    report = json.loads(done.stdout)
    assert "malformed" in json.dumps(report)
    with open_store(fresh) as copied:
        assert dict(copied.iter_entries()) == entries


def test_cleanup_on_the_command_line_reports_orphans_and_returned_pages(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    with open_store(url, auto_upgrade=True, transcripts="sql") as store:
        _fill(store, 30)
        store.delete("agent:main:direct:0")  # its transcript is left without an entry
    done = run("cleanup", "--url", url, "--transcripts", "sql", "--max-entries", "5")
    assert done.exit_code == 0, done.output
    assert "SQL transcripts without an entry archived: 1" in done.stdout
    done = run("cleanup", "--url", url, "--transcripts", "sql", "--json")
    report = json.loads(done.stdout)["agents"][0]
    assert report["orphansArchived"] == [] and report["reclaimedPages"] >= 0

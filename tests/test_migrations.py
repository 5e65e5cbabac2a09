"""Schema migrations under test on SQLite, PostgreSQL and MySQL/MariaDB: upgrade on an
empty database, upgrade twice, head -> base -> head, one head, no drift, and the
``alembic`` command from the repository root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from sessionstore import (
    SchemaOutdatedError,
    SessionEntry,
    SessionStoreError,
    current_revision,
    downgrade,
    head_revision,
    open_store,
    upgrade,
)
from sessionstore.sql.engine import create_sql_engine
from sessionstore.sql.schema import VERSION_TABLE, metadata
from sessionstore.sql.upgrade import (
    check,
    count_sessions,
    repair,
    schema_state,
    script_location,
    stamp,
)
from tests.contract.backends import BACKENDS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def empty_url(sql_backend: str, request: pytest.FixtureRequest) -> str:
    """A database that has never been upgraded."""
    return str(request.getfixturevalue(BACKENDS[sql_backend].url_fixture))


def _tables(url: str) -> set[str]:
    engine = create_sql_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _schema(url: str) -> dict[str, list[Any]]:
    engine = create_sql_engine(url)
    try:
        inspector = inspect(engine)
        return {
            "columns": [(c["name"], str(c["type"])) for c in inspector.get_columns("sessions")],
            "indexes": sorted(str(ix["name"]) for ix in inspector.get_indexes("sessions")),
        }
    finally:
        engine.dispose()


def test_there_is_exactly_one_head() -> None:
    heads = ScriptDirectory(script_location()).get_heads()
    assert heads == [head_revision()]


def test_every_revision_has_a_downgrade() -> None:
    for revision in ScriptDirectory(script_location()).walk_revisions():
        assert callable(getattr(revision.module, "downgrade", None)), revision.revision


def test_upgrade_on_empty_creates_the_schema(empty_url: str) -> None:
    assert current_revision(empty_url) is None
    upgrade(empty_url)
    assert current_revision(empty_url) == head_revision()
    assert {"sessions", VERSION_TABLE} <= _tables(empty_url)
    index_names = {ix.name for ix in metadata.tables["sessions"].indexes}
    assert set(_schema(empty_url)["indexes"]) >= index_names


def test_upgrade_twice_is_a_no_op(empty_url: str) -> None:
    upgrade(empty_url)
    with open_store(empty_url) as store:
        store.put("agent:main:main", SessionEntry(session_id="s1", updated_at=1))
    before = _schema(empty_url)
    upgrade(empty_url)
    assert _schema(empty_url) == before
    assert current_revision(empty_url) == head_revision()
    with open_store(empty_url) as store:
        assert store.count() == 1


def test_head_base_head(empty_url: str) -> None:
    upgrade(empty_url)
    downgrade(empty_url, "base")
    assert "sessions" not in _tables(empty_url)
    assert current_revision(empty_url) is None
    upgrade(empty_url)
    assert "sessions" in _tables(empty_url)
    check(empty_url)


def test_models_match_the_revisions(empty_url: str) -> None:
    upgrade(empty_url)
    check(empty_url)  # alembic's autogenerate comparison finds no difference


def test_drift_is_reported(empty_url: str) -> None:
    upgrade(empty_url)
    engine = create_sql_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("DROP INDEX ix_sessions_agent_id_label ON sessions")
                if engine.dialect.name == "mysql"
                else text("DROP INDEX ix_sessions_agent_id_label")
            )
    finally:
        engine.dispose()
    with pytest.raises(SchemaOutdatedError, match="ix_sessions_agent_id_label"):
        check(empty_url)


def test_open_store_refuses_a_database_behind_head(empty_url: str) -> None:
    with pytest.raises(SchemaOutdatedError, match="sessionstore db upgrade --url"):
        open_store(empty_url)
    assert "sessions" not in _tables(empty_url)  # nothing was created behind the caller's back
    with open_store(empty_url, auto_upgrade=True) as store:
        assert store.count() == 0
    assert current_revision(empty_url) == head_revision()


def test_open_store_refuses_an_unknown_newer_revision(empty_url: str) -> None:
    upgrade(empty_url)
    engine = create_sql_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    finally:
        engine.dispose()
    with pytest.raises(SchemaOutdatedError, match="upgrade sessionstore"):
        open_store(empty_url, auto_upgrade=True)


def _execute(url: str, statement: str) -> None:
    engine = create_sql_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def test_a_newer_revision_is_named_counted_and_never_upgraded(empty_url: str) -> None:
    upgrade(empty_url)
    with open_store(empty_url) as store:
        store.put_many(
            (f"agent:main:k{i}", SessionEntry(session_id=f"s{i}", updated_at=1)) for i in range(100)
        )
    _execute(empty_url, f"UPDATE {VERSION_TABLE} SET version_num = '9999'")  # a newer release
    newer = "newer than this sessionstore; upgrade sessionstore"
    assert schema_state(empty_url) == ("9999", newer)
    assert count_sessions(empty_url) == {"main": 100}
    for step in (upgrade, repair):
        with pytest.raises(SchemaOutdatedError, match="upgrade sessionstore"):
            step(empty_url)
    assert current_revision(empty_url) == "9999"


def test_tables_that_lost_their_revision_are_stamped(empty_url: str) -> None:
    upgrade(empty_url)
    with open_store(empty_url) as store:
        store.put("agent:main:main", SessionEntry(session_id="s", updated_at=1))
    _execute(empty_url, f"DELETE FROM {VERSION_TABLE}")
    stopped = "an upgrade was stopped halfway: run `sessionstore db repair`"
    assert schema_state(empty_url) == (None, stopped)
    with pytest.raises(SchemaOutdatedError, match="sessionstore db stamp REVISION --url"):
        upgrade(empty_url)
    with pytest.raises(SchemaOutdatedError, match="sessions holds 1 rows, so nothing is dropped"):
        repair(empty_url)
    stamp(empty_url, head_revision())
    assert current_revision(empty_url) == head_revision()
    check(empty_url)
    with open_store(empty_url) as store:
        assert store.count() == 1


def _alembic(*args: str, url: str | None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SESSIONSTORE_URL"}
    if url is not None:
        env["SESSIONSTORE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.slow
def test_alembic_command_from_the_repository_root(empty_url: str) -> None:
    done = _alembic("upgrade", "head", url=empty_url)
    assert done.returncode == 0, done.stderr
    assert current_revision(empty_url) == head_revision()
    done = _alembic("check", url=empty_url)
    assert done.returncode == 0, done.stderr
    assert "No new upgrade operations detected" in done.stdout
    done = _alembic("downgrade", "base", url=empty_url)
    assert done.returncode == 0, done.stderr
    assert "sessions" not in _tables(empty_url)


def test_x_url_wins_over_the_environment(tmp_path: Path) -> None:
    wanted = tmp_path / "wanted.db"
    ignored = tmp_path / "ignored.db"
    done = _alembic("-x", f"url=sqlite:///{wanted}", "upgrade", "head", url=f"sqlite:///{ignored}")
    assert done.returncode == 0, done.stderr
    assert current_revision(f"sqlite:///{wanted}") == head_revision()
    assert not ignored.exists()
    # a file that `alembic upgrade` creates returns freed pages, as the store's do
    engine = create_sql_engine(f"sqlite:///{wanted}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA auto_vacuum").scalar_one() == 2
    finally:
        engine.dispose()


def test_alembic_without_a_url_says_how_to_give_one() -> None:
    done = _alembic("upgrade", "head", url=None)
    assert done.returncode != 0
    assert "SESSIONSTORE_URL" in done.stderr


def test_revision_0005_keeps_the_rows_and_starts_the_floor_above_them(empty_url: str) -> None:
    """Down to 0004 and up again with data: rows and their versions stay; the floor
    starts at the highest version, so new rows and re-created keys start above it."""
    upgrade(empty_url)
    with open_store(empty_url) as store:
        store.put_many(
            [(f"agent:main:k{n}", SessionEntry(session_id=f"s{n}", updated_at=n)) for n in range(5)]
        )
    downgrade(empty_url, "0004")
    assert "session_version_floor" not in _tables(empty_url)
    engine = create_sql_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE sessions SET version = 41 WHERE session_id = 's3'"))
            assert conn.execute(text("SELECT COUNT(*) FROM sessions")).scalar() == 5
    finally:
        engine.dispose()
    upgrade(empty_url)
    with open_store(empty_url) as store:
        assert store.count() == 5
        assert store.version("agent:main:k3") == 41
        assert store.put("agent:main:new", SessionEntry(session_id="n", updated_at=9)) == 42
        assert store.delete("agent:main:k3")
        # k3 had versions up to 41: written again, it starts above them
        assert store.put("agent:main:k3", SessionEntry(session_id="s3", updated_at=3)) == 42


def _count(url: str, table: str) -> int:
    engine = create_sql_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def _searched(url: str, query: str) -> list[tuple[str, int]]:
    with open_store(url, transcripts="sql") as store:
        return [(hit.session_id, hit.position) for hit in store.transcripts.search(query)]


def _indexed_at_0006(url: str, word: str) -> int:
    """Lines revision 0006's full-text index finds for ``word``, queried as 0006 did."""
    engine = create_sql_engine(url)
    match = {
        "sqlite": "SELECT COUNT(*) FROM transcript_search WHERE transcript_search MATCH :w",
        "postgresql": "SELECT COUNT(*) FROM transcript_events WHERE to_tsvector('simple', "
        "regexp_replace(search_text, '\\W+', ' ', 'g')) @@ plainto_tsquery('simple', :w)",
        "mysql": "SELECT COUNT(*) FROM transcript_events "
        "WHERE MATCH (search_text) AGAINST (:w IN BOOLEAN MODE)",
    }[engine.dialect.name]
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(match), {"w": word}).scalar_one())
    finally:
        engine.dispose()


def test_revision_0007_down_and_up_keeps_transcripts_and_search(empty_url: str) -> None:
    """Down to 0006 and up again with transcripts: every line stays, search finds the
    same hits newest first at both revisions, and the schema has no drift after."""
    upgrade(empty_url)
    with open_store(empty_url) as store:
        for n in range(3):
            key = f"agent:main:k{n}"
            store.put(key, SessionEntry(session_id=f"s{n}", updated_at=n))
            events = [
                {"type": "message", "timestamp": 1_000 * (n + 3 * i),
                 "message": {"role": "user", "content": f"deploy step {i} of {n}"}}
                for i in range(4)
            ]  # fmt: skip
            store.transcripts.append(key, events)
    newest = [("s2", 4), ("s1", 4), ("s0", 4), ("s2", 3), ("s1", 3)]
    assert _searched(empty_url, "deploy")[:5] == newest
    lines = _count(empty_url, "transcript_events")

    downgrade(empty_url, "0006")
    assert current_revision(empty_url) == "0006"
    assert _count(empty_url, "transcript_events") == lines
    assert _indexed_at_0006(empty_url, "deploy") == 12  # 0006's own search objects back
    engine = create_sql_engine(empty_url)
    try:  # a line written at 0006 is found after the upgrade
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO transcript_events (agent_id, transcript_id, seq, kind, "
                    "created_at, bytes, search_text, event_json) SELECT agent_id, "
                    "transcript_id, 5, 'message', 99000, 2, 'deploy late', '{}' "
                    "FROM session_transcripts WHERE session_id = 's0'"
                )
            )
    finally:
        engine.dispose()

    upgrade(empty_url)
    check(empty_url)
    assert _count(empty_url, "transcript_events") == lines + 1
    assert _searched(empty_url, "deploy")[:2] == [("s0", 5), ("s2", 4)]
    assert _searched(empty_url, "late") == [("s0", 5)]


def test_revision_0007_converts_mysql_transcript_tables_to_utf8mb4(mysql_url: str) -> None:
    """Revision 0006 left the transcript tables at the server's default character set:
    on a server whose default is not utf8mb4, 0007 converts them, keeps the header
    column TEXT (the conversion widens it) and leaves no drift."""
    upgrade(mysql_url, "0006")
    engine = create_sql_engine(mysql_url)
    tables = ("session_transcripts", "transcript_events")
    try:
        with engine.begin() as conn:
            for table in tables:
                conn.execute(text(f"ALTER TABLE {table} CONVERT TO CHARACTER SET latin1"))
        upgrade(mysql_url)
        with engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT table_name, table_collation FROM information_schema.tables "
                    "WHERE table_schema = DATABASE() AND table_name IN :names"
                ).bindparams(sa.bindparam("names", expanding=True)),
                {"names": list(tables)},
            ).all()
            header = conn.execute(
                text(
                    "SELECT data_type FROM information_schema.columns "
                    "WHERE table_schema = DATABASE() AND table_name = 'transcript_events' "
                    "AND column_name = 'header_json'"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    assert sorted(name for name, _ in found) == sorted(tables)
    assert all(collation.startswith("utf8mb4") for _, collation in found), found
    assert header == "text"
    check(mysql_url)
    with open_store(mysql_url) as store:
        store.put("agent:main:k", SessionEntry(session_id="s", updated_at=1))
        said = {"role": "user", "content": "déploiement 🚀 prêt"}
        store.transcripts.append("agent:main:k", [{"type": "message", "message": said}])
        assert [hit.key for hit in store.transcripts.search("déploiement")] == ["agent:main:k"]


def test_revision_0006_down_and_up_with_sessions_and_transcripts(empty_url: str) -> None:
    """Down to 0005 and up again with data: the downgrade refuses while transcripts
    hold events (nothing dropped), ``drop_transcripts=yes`` drops only them, the
    sessions stay, and after the upgrade transcripts and search work again."""
    upgrade(empty_url)
    message = {"type": "message", "message": {"role": "user", "content": "migrate carefully"}}
    with open_store(empty_url) as store:
        for n in range(3):
            store.put(f"agent:main:k{n}", SessionEntry(session_id=f"s{n}", updated_at=n))
        store.transcripts.append("agent:main:k0", [message, message])
        store.transcripts.append("agent:main:k1", [message])
    assert _count(empty_url, "transcript_events") == 5  # two headers, three messages

    with pytest.raises(SessionStoreError, match="drop_transcripts=yes"):
        downgrade(empty_url, "0005")
    assert current_revision(empty_url) == head_revision()
    assert _count(empty_url, "transcript_events") == 5
    with open_store(empty_url) as store:
        assert len(store.transcripts.tail("agent:main:k0")) == 2
        assert [hit.key for hit in store.transcripts.search("carefully", key="agent:main:k1")] == [
            "agent:main:k1"
        ]

    downgrade(empty_url, "0005", drop_transcripts=True)
    assert current_revision(empty_url) == "0005"
    tables = _tables(empty_url)
    assert not {"session_transcripts", "transcript_events"} & tables
    assert not any(name.startswith("transcript_search") for name in tables)
    assert _count(empty_url, "sessions") == 3

    upgrade(empty_url)
    check(empty_url)
    with open_store(empty_url) as store:
        assert store.count() == 3
        assert store.transcripts.tail("agent:main:k0") == []
        assert store.transcripts.search("carefully") == []
        assert store.transcripts.append("agent:main:k2", [message]).created
        assert [hit.key for hit in store.transcripts.search("carefully")] == ["agent:main:k2"]
    # with the transcripts emptied, the downgrade needs no force
    with open_store(empty_url) as store:
        entry = store.get("agent:main:k2")
        assert entry is not None
        name = store.transcripts.archive("agent:main:k2", "deleted")
        assert name is not None
        store.transcripts.remove_archive(name)
    downgrade(empty_url, "0005")
    assert current_revision(empty_url) == "0005"
    upgrade(empty_url)
    check(empty_url)


def test_revision_0008_down_and_up_keeps_the_sessions_and_drops_the_check_record(
    empty_url: str,
) -> None:
    """0008 adds ``sessionstore_checks`` only: down to 0007 drops it and keeps every
    session; up again creates it empty, with no drift."""
    upgrade(empty_url)
    with open_store(empty_url) as store:
        store.put("agent:main:main", SessionEntry(session_id="s1", updated_at=1))
    engine = create_sql_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO sessionstore_checks (name, checked_at, ok, full_check, "
                    "duration_ms, detail) VALUES ('integrity', 5, :t, :f, 12, NULL)"
                ),
                {"t": True, "f": False},
            )
    finally:
        engine.dispose()
    downgrade(empty_url, "0007")
    assert current_revision(empty_url) == "0007"
    assert "sessionstore_checks" not in _tables(empty_url)
    assert count_sessions(empty_url) == {"main": 1}
    upgrade(empty_url)
    check(empty_url)
    assert _count(empty_url, "sessionstore_checks") == 0
    with open_store(empty_url) as store:
        assert store.get("agent:main:main") == SessionEntry(session_id="s1", updated_at=1)

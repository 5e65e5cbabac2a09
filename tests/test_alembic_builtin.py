"""pytest-alembic's built-in migration tests (single head, upgrade, up/down consistency,
models match the DDL) on SQLite, PostgreSQL and MySQL/MariaDB, and data written at an
older revision surviving the upgrade to head."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from pytest_alembic import Config
from pytest_alembic.runner import MigrationContext
from pytest_alembic.tests import (
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from sqlalchemy import Engine

from sessionstore import SessionEntry, open_store
from sessionstore.projection import project
from sessionstore.sql.engine import create_sql_engine
from sessionstore.sql.upgrade import script_location
from tests.contract.backends import BACKENDS

__all__ = [
    "test_model_definitions_match_ddl",
    "test_single_head_revision",
    "test_up_down_consistency",
    "test_upgrade",
]

FIRST_REVISION = "0001"
OLD_ENTRY: dict[str, Any] = {
    "sessionId": "3f2b9c1e-7a44-4c0e-9d1f-2b6f0a8c5e11",
    "updatedAt": 1774962000000,
    "channel": "telegram",
    "lastThreadId": 42,
    "skillsSnapshot": {"prompt": "<available_skills>…</available_skills>", "version": 3},
}


def _row(backend: str, key: str, data: dict[str, Any]) -> dict[str, Any]:
    """A sessions row as revision 0001 stores it, in the Python types of the reflected
    table: bytes for MySQL's VARBINARY, a dict for PostgreSQL's JSONB, else text."""
    row = {"agent_id": "main", "session_key": key, **project(data), "version": 1}
    if backend == "mysql":
        row = {k: v.encode() if isinstance(v, str) else v for k, v in row.items()}
    row["entry_json"] = data if backend == "postgresql" else orjson.dumps(data).decode()
    return row


@pytest.fixture
def database_url(sql_backend: str, request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(BACKENDS[sql_backend].url_fixture))


@pytest.fixture
def alembic_config(sql_backend: str) -> Config:
    seed = {"__tablename__": "sessions", **_row(sql_backend, "seed", OLD_ENTRY)}
    return Config(
        config_options={"script_location": script_location(), "path_separator": "os"},
        at_revision_data={FIRST_REVISION: [seed]},
    )


@pytest.fixture
def alembic_engine(database_url: str) -> Iterator[Engine]:
    engine = create_sql_engine(database_url)
    yield engine
    engine.dispose()


def test_data_from_the_first_revision_is_readable_at_head(
    alembic_runner: MigrationContext, database_url: str, sql_backend: str
) -> None:
    alembic_runner.migrate_up_to(FIRST_REVISION)
    alembic_runner.insert_into("sessions", _row(sql_backend, "agent:main:main", OLD_ENTRY))
    alembic_runner.migrate_up_to("heads")
    with open_store(database_url) as store:
        # the row inserted here and the one pytest-alembic seeds at that revision
        for key in ("agent:main:main", "seed"):
            assert store.get(key) == SessionEntry.from_dict(OLD_ENTRY)
        assert store.count(channel="telegram") == 2

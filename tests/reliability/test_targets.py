"""Targets are read by their scheme first: a URL is never opened as a path."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sessionstore import open_store
from sessionstore.open import backend_of


@pytest.mark.parametrize("scheme", ["sqlite", "sqlite+pysqlite"])
def test_a_sqlite_url_ending_in_json_opens_that_database(tmp_path: Path, scheme: str) -> None:
    path = tmp_path / "a.json"
    with open_store(f"{scheme}:///{path}", auto_upgrade=True) as store:
        store.put("agent:main:main", {"sessionId": "s1", "updatedAt": 1})
    # The database is the file the URL names, not a JSON file at "sqlite:/…/a.json".
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT session_key FROM sessions").fetchall() == [("agent:main:main",)]
    assert not (tmp_path / "a.json.lock").exists()  # the JSON twin's lock file
    assert not Path("sqlite:").exists()


def test_only_the_json_scheme_or_a_json_path_chooses_the_twin() -> None:
    assert backend_of("json:///srv/sessions.json") == "json"
    assert backend_of("/srv/sessions.json") == "json"
    assert backend_of("sqlite:///srv/sessions.json") == "sqlite"
    assert backend_of("postgresql+psycopg://db/app.json") == "sql"

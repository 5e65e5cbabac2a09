"""Opening by configuration: settings from the environment, the import on first open,
the fallback when a driver is missing, and errors that must not fall back."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest

from sessionstore import SessionStoreError, StoreUnavailableError
from sessionstore.backends.jsonfile import JsonFileStore
from sessionstore.backends.sqlite import SqliteStore
from sessionstore.openclaw.statedir import store_path
from sessionstore.settings import Settings, open_configured


def write_store(state: Path, agent_id: str, entries: dict[str, dict[str, object]]) -> Path:
    path = store_path(state, agent_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries, indent=2))
    return path


ENTRIES: dict[str, dict[str, object]] = {
    "agent:main:main": {"sessionId": "s1", "updatedAt": 10, "lastThreadId": 42},
    "Agent:Main:Telegram:Direct:7": {"sessionId": "s2", "updatedAt": 20, "provider": "telegram"},
}


def test_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SESSIONSTORE_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("SESSIONSTORE_STORE_TYPE", "json")
    monkeypatch.setenv("SESSIONSTORE_AGENT_ID", "work")
    settings = Settings()
    assert settings.state_dir == tmp_path and settings.agent_id == "work"
    assert settings.target() == str(store_path(tmp_path, "work"))
    monkeypatch.setenv("SESSIONSTORE_URL", "postgresql+psycopg://db/app")
    assert Settings().target() == "postgresql+psycopg://db/app"


def test_openclaw_state_dir_is_honoured_and_arguments_win(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SESSIONSTORE_STATE_DIR", raising=False)
    monkeypatch.setenv("OPENCLAW_STATE_DIR", str(tmp_path / "oc"))
    assert Settings().state_dir == tmp_path / "oc"
    assert Settings(state_dir=tmp_path / "mine").state_dir == tmp_path / "mine"


def test_a_bad_store_type_or_agent_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SessionStoreError, match="store type"):
        Settings(state_dir=tmp_path, store_type="mongo").target()
    with pytest.raises(ValueError, match="agent id"):
        Settings(state_dir=tmp_path, agent_id="../x")


def test_the_first_open_imports_sessions_json_once_and_keeps_it(tmp_path: Path) -> None:
    source = write_store(tmp_path, "main", ENTRIES)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    settings = Settings(state_dir=tmp_path)
    with open_configured(settings) as store:
        assert isinstance(store, SqliteStore)
        assert store.count() == 2
        entry = store.get("agent:main:telegram:direct:7")  # normalised on import
        assert entry is not None and entry.channel == "telegram"
        store.delete("agent:main:main")
    assert hashlib.sha256(source.read_bytes()).hexdigest() == digest
    # once: a session deleted since is not brought back from the old file
    with open_configured(settings) as store:
        assert store.count() == 1 and store.get("agent:main:main") is None


def test_a_first_open_that_leaves_entries_behind_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_store(tmp_path, "main", {**ENTRIES, "agent:main:bad": {"sessionId": "../x"}})
    with (
        caplog.at_level(logging.WARNING, logger="sessionstore"),
        open_configured(Settings(state_dir=tmp_path)) as store,
    ):
        assert store.count() == 2
    assert "1 sessions of agent 'main'" in caplog.text and "not imported" in caplog.text


def test_an_agent_without_a_sessions_json_opens_empty(tmp_path: Path) -> None:
    with open_configured(Settings(state_dir=tmp_path, agent_id="fresh")) as store:
        assert store.count() == 0


def test_a_corrupt_sessions_json_stops_the_first_open(tmp_path: Path) -> None:
    path = store_path(tmp_path, "main")
    path.parent.mkdir(parents=True)
    path.write_text('{"agent:main:main": {"sessionId": ')
    with pytest.raises(SessionStoreError, match="could not import"):
        open_configured(Settings(state_dir=tmp_path))
    assert path.read_text() == '{"agent:main:main": {"sessionId": '


def test_the_json_type_opens_the_agents_own_file(tmp_path: Path) -> None:
    write_store(tmp_path, "main", ENTRIES)
    with open_configured(Settings(state_dir=tmp_path, store_type="json")) as store:
        assert isinstance(store, JsonFileStore)
        assert store.count() == 2  # read as it is, nothing imported
    assert not (tmp_path / "sessionstore.db").exists()


def test_a_missing_driver_falls_back_to_the_json_twin_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_store(tmp_path, "main", ENTRIES)
    # mysqlclient (MySQLdb) is not a dependency: its driver cannot be imported here
    settings = Settings(state_dir=tmp_path, url="mysql+mysqldb://root@127.0.0.1/test")
    with caplog.at_level(logging.WARNING), open_configured(settings) as store:
        assert isinstance(store, JsonFileStore) and store.count() == 2
    assert "cannot be imported" in caplog.text


def test_an_unreachable_database_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    write_store(tmp_path, "main", ENTRIES)
    settings = Settings(state_dir=tmp_path, url="postgresql+psycopg://u:pw@127.0.0.1:1/db")
    with pytest.raises(StoreUnavailableError) as caught:
        open_configured(settings)
    assert "pw@" not in str(caught.value)

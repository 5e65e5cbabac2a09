"""The command line: real exit codes, stdout and stderr apart, one-line errors, no
tracebacks.

Commands run in process with typer's ``CliRunner`` (which keeps stdout and stderr
apart), with ``catch_exceptions=False``: an exception that escapes a command's error
boundary fails the test instead of passing as exit status 1. Two smoke tests at the end
run the real entry points in a subprocess.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from sessionstore import __version__, current_revision, head_revision, open_store
from sessionstore.cli import app
from sessionstore.events import message_text
from sessionstore.testing import GeneratedStateDir, generate_state_dir

RUNNER = CliRunner()
pytestmark = pytest.mark.usefixtures("isolated_env")


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    """``sessionstore ARGS`` in process; ``env`` is set for the call only."""
    return RUNNER.invoke(app, list(args), env=env, prog_name="sessionstore", catch_exceptions=False)


def test_version() -> None:
    done = run("--version")
    assert done.exit_code == 0
    assert done.stdout.strip() == f"sessionstore {__version__}"


def test_db_upgrade_current_check_downgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    done = run("db", "current", "--url", url)
    assert done.exit_code == 0 and "current: empty" in done.stdout
    done = run("db", "check", "--url", url)
    assert done.exit_code == 1
    assert "sessionstore db upgrade" in done.stderr and "Traceback" not in done.stderr
    done = run("db", "upgrade", "--url", url)
    assert done.exit_code == 0, done.stderr
    assert f"empty -> {head_revision()}" in done.stdout
    assert current_revision(url) == head_revision()
    done = run("db", "check", env={"SESSIONSTORE_URL": url})
    assert done.exit_code == 0 and "no drift" in done.stdout
    done = run("db", "downgrade", "--url", url, "base")
    assert done.exit_code == 0 and current_revision(url) is None


def test_errors_are_one_line_without_the_password() -> None:
    done = run("db", "current", "--url", "postgresql+psycopg://u:hunter2@127.0.0.1:1/db")
    assert done.exit_code == 1
    assert done.stderr.startswith("error: ")
    assert len(done.stderr.strip().splitlines()) == 1
    assert "hunter2" not in done.stderr + done.stdout
    assert "u:***@127.0.0.1:1" in done.stderr


def test_unknown_revision_is_an_error(tmp_path: Path) -> None:
    done = run("db", "downgrade", "--url", f"sqlite:///{tmp_path / 'x.db'}", "0042")
    assert done.exit_code == 1
    assert "0042" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "command", [["info"], ["list"], ["db", "current"], ["db", "upgrade"], ["db", "stamp", "head"]]
)
def test_a_driver_that_is_not_installed_is_one_line_naming_the_extra(
    command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "MySQLdb", None)  # not installed, even where it is
    done = run(*command, "--url", "mysql+mysqldb://u:pw@127.0.0.1/db")
    assert done.exit_code == 1
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
    assert "pip install 'sessionstore[mysql]'" in done.stderr and "pw@" not in done.stderr


def _newer_database(tmp_path: Path, sessions: int) -> str:
    """A SQLite store holding ``sessions`` sessions, stamped by a newer sessionstore."""
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    with open_store(url, auto_upgrade=True) as store:
        store.put_many(
            (f"agent:main:k{i}", {"sessionId": f"s{i}", "updatedAt": 1}) for i in range(sessions)
        )
    with sqlite3.connect(tmp_path / "newer.db") as conn:
        conn.execute("UPDATE sessionstore_version SET version_num = '9999'")
    conn.close()
    return url


def test_a_database_of_a_newer_sessionstore_is_described_and_counted(tmp_path: Path) -> None:
    url = _newer_database(tmp_path, 100)
    newer = "newer than this sessionstore; upgrade sessionstore"
    done = run("db", "current", "--url", url)
    assert done.exit_code == 0
    assert done.stdout.strip() == f"current: 9999  head: {head_revision()}  ({newer})"
    done = run("info", "--url", url)
    assert done.exit_code == 0, done.stderr
    assert f"schema:     9999 (head {head_revision()}, {newer})" in done.stdout
    assert "sessions:   100" in done.stdout and "  main: 100" in done.stdout
    assert _json(run("info", "--url", url, "--json"))["total"] == 100
    done = run("db", "upgrade", "--url", url)
    assert done.exit_code == 1 and len(done.stderr.strip().splitlines()) == 1
    assert "upgrade sessionstore" in done.stderr and "Traceback" not in done.stderr
    assert current_revision(url) == "9999"


def test_db_stamp_and_repair(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    run("db", "upgrade", "--url", url)
    done = run("db", "stamp", "--url", url, "base")
    assert done.exit_code == 0, done.stderr
    assert done.stdout.strip() == f"{url}: {head_revision()} -> empty"
    done = run("db", "current", "--url", url)
    assert "(an upgrade was stopped halfway: run `sessionstore db repair`)" in done.stdout
    done = run("db", "repair", "--url", url)  # the tables are empty: dropped, made again
    assert done.exit_code == 0, done.stderr
    assert done.stdout.startswith(f"{url}: dropped the empty ")
    assert done.stdout.strip().endswith(f"schema at {head_revision()}")
    done = run("db", "stamp", "--url", url, "0999")
    assert done.exit_code == 1 and "unknown revision '0999'" in done.stderr


def test_a_plain_path_is_a_sqlite_file_and_reading_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state" / "sessions.db"
    done = run("db", "current", "--url", str(path))
    assert done.exit_code == 0, done.stderr
    assert "current: empty" in done.stdout
    assert not path.exists()
    done = run("db", "upgrade", "--url", str(path))
    assert done.exit_code == 0, done.stderr
    assert current_revision(f"sqlite:///{path}") == head_revision()


# -- migrate, list, show, info, export, copy ----------------------------------------


def _json(done: Result) -> Any:
    assert done.stderr == "" or "Traceback" not in done.stderr
    assert done.stdout, f"no output (exit status {done.exit_code}): {done.stderr}"
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> GeneratedStateDir:
    return generate_state_dir(
        tmp_path_factory.mktemp("cli") / "state",
        sessions_per_agent=30,
        messages_per_session=(1, 3),
        messy=True,
    )


def test_migrate_reports_each_agent_and_exits_1_when_one_failed(
    state: GeneratedStateDir, tmp_path: Path
) -> None:
    db = tmp_path / "db.sqlite"
    dry = run(
        "migrate",
        "--state-dir",
        str(state.state_dir),
        "--all-agents",
        "--to",
        f"sqlite:///{db}",
        "--dry-run",
        "--json",
    )
    assert dry.exit_code == 1 and not db.exists()
    assert _json(dry)["dryRun"] is True
    done = run(
        "migrate",
        "--state-dir",
        str(state.state_dir),
        "--all-agents",
        "--to",
        f"sqlite:///{db}",
        "--json",
    )
    assert done.exit_code == 1
    report = _json(done)
    statuses = {agent["agentId"]: agent["status"] for agent in report["agents"]}
    # every messy agent has an invalid entry, left behind
    assert statuses == {"broken": "FAILED", **dict.fromkeys(state.agents, "PARTIAL")}
    assert report["ok"] is False
    main_only = ("migrate", "--state-dir", str(state.state_dir), "--agent", "main")
    partial = run(*main_only, "--to", f"sqlite:///{db}")
    assert partial.exit_code == 1
    assert "main: PARTIAL: 1 entries left behind" in partial.stdout
    assert "--accept-rejected" in partial.stdout
    accepted = run(*main_only, "--to", f"sqlite:///{db}", "--accept-rejected")
    assert accepted.exit_code == 0, accepted.stderr
    assert "PARTIAL" in accepted.stdout and "Traceback" not in accepted.stderr
    assert "left behind" not in accepted.stdout


def test_migrate_counts_messages_only_when_asked(state: GeneratedStateDir, tmp_path: Path) -> None:
    migrate = ("migrate", "--state-dir", str(state.state_dir), "--agent", "main", "--json")
    plain = _json(run(*migrate, "--to", f"sqlite:///{tmp_path / 'a.db'}"))["agents"][0]
    assert plain["transcripts"] >= state.transcripts["main"] and plain["messages"] is None
    counted = _json(run(*migrate, "--count-messages", "--to", f"sqlite:///{tmp_path / 'b.db'}"))
    assert counted["agents"][0]["messages"] >= plain["transcripts"]
    table = run(*migrate[:-1], "--to", f"sqlite:///{tmp_path / 'a.db'}")
    row = next(line for line in table.stdout.splitlines() if line.split()[:1] == ["main"])
    assert row.split()[-1] == "-"  # no message count


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///:memory:"])
def test_a_database_in_memory_is_refused_with_one_line(tmp_path: Path, url: str) -> None:
    state = generate_state_dir(tmp_path / "state", agents=("main",), sessions_per_agent=2)
    source = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert run("migrate", "--state-dir", str(state.state_dir), "--to", source).exit_code == 0
    for command in (
        ("migrate", "--state-dir", str(state.state_dir), "--to", url),
        ("copy", "--from", source, "--to", url),
        ("export", "--from", url, "--out", str(tmp_path / "out.json")),
        ("db", "upgrade", "--url", url),
    ):
        done = run(*command)
        assert done.exit_code == 1, command
        assert done.stderr.startswith("error: ") and "no database path" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "MIGRATED" not in done.stdout


def test_list_show_info_on_a_migrated_state_dir(state: GeneratedStateDir, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    run("migrate", "--state-dir", str(state.state_dir), "--all-agents", "--to", url)
    page = _json(run("list", "--url", url, "--limit", "5", "--json"))
    assert page["count"] == 5 and page["nextCursor"] and page["hasMore"] is True
    times = [s["updatedAt"] for s in page["sessions"]]
    assert times == sorted(times, reverse=True)
    assert {s["agent"] for s in page["sessions"]} == {"main"}
    following = _json(
        run("list", "--url", url, "--limit", "5", "--cursor", page["nextCursor"], "--json")
    )
    assert not {s["key"] for s in following["sessions"]} & {s["key"] for s in page["sessions"]}
    everyone = _json(run("list", "--url", url, "--all-agents", "--channel", "telegram", "--json"))
    assert {s["agent"] for s in everyone["sessions"]} == set(state.agents)
    assert {s["channel"] for s in everyone["sessions"]} == {"telegram"}
    table = run("list", "--url", url, "--limit", "3")
    assert table.exit_code == 0 and "Sessions listed: 3" in table.stdout
    key = page["sessions"][0]["key"]
    shown = _json(run("show", key, "--url", url, "--json"))
    assert shown["sessionId"] == page["sessions"][0]["sessionId"]
    missing = run("show", "agent:main:nope", "--url", url)
    assert missing.exit_code == 1 and missing.stderr.startswith("error: ")
    info = _json(run("info", "--url", url, "--json"))
    assert info["storeType"] == "sqlite" and info["revision"] == head_revision()
    with open_store(url, agent_id="work") as store:
        assert info["agents"]["work"] == store.count()


def test_list_active_minutes_filters_by_age(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    now = int(time.time() * 1000)
    with open_store(url, auto_upgrade=True) as store:
        store.put("agent:main:fresh", {"sessionId": "f", "updatedAt": now - 60_000})
        store.put("agent:main:stale", {"sessionId": "s", "updatedAt": now - 3_600_000})
    listed = _json(run("list", "--url", url, "--active", "10", "--json"))
    assert [s["key"] for s in listed["sessions"]] == ["agent:main:fresh"]
    assert listed["activeMinutes"] == 10


def test_export_and_copy_round_trip(state: GeneratedStateDir, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    run("migrate", "--state-dir", str(state.state_dir), "--all-agents", "--to", url)
    out = tmp_path / "main.json"
    done = run("export", "--from", url, "--agent", "main", "--out", str(out), "--json")
    assert done.exit_code == 0, done.stderr
    assert _json(done)["agents"][0]["status"] == "EXPORTED"
    again = run("export", "--from", url, "--agent", "main", "--out", str(out))
    assert again.exit_code == 1 and "--force" in again.stdout
    copied = run(
        "copy", "--from", str(out), "--to", f"sqlite:///{tmp_path / 'copy.sqlite'}", "--json"
    )
    assert copied.exit_code == 0, copied.stderr
    exported = _json(done)["agents"][0]
    assert _json(copied)["agents"][0]["checksum"] == exported["checksum"]


def test_a_password_never_shows_in_the_new_commands() -> None:
    url = "postgresql+psycopg://u:hunter2@127.0.0.1:1/db"
    for args in (
        ("list", "--url", url),
        ("info", "--url", url),
        ("copy", "--from", url, "--to", url),
    ):
        done = run(*args)
        assert done.exit_code == 1, args
        assert "hunter2" not in done.stdout + done.stderr
        assert "Traceback" not in done.stderr


def test_keys_are_printed_as_they_are(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    key = "agent:main:slack:channel:c0w6:thread:1773281734.4619[bold]x[/bold]"
    with open_store(url, auto_upgrade=True) as store:
        store.put(key, {"sessionId": "s1", "updatedAt": 1})
    done = run("list", "--url", url)
    assert key in done.stdout  # no emoji for :thread:, no markup


def test_cleanup_dry_run_then_enforce(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    now = int(time.time() * 1000)
    with open_store(url, auto_upgrade=True) as store:
        store.put("agent:main:main", {"sessionId": "m", "updatedAt": now - 90 * 86_400_000})
        for n in range(5):
            store.put(f"agent:main:cron:j{n}", {"sessionId": f"c{n}", "updatedAt": now - n})
    dry = _json(run("cleanup", "--url", url, "--max-entries", "2", "--dry-run", "--json"))
    [report] = dry["agents"]
    assert (report["beforeCount"], report["afterCount"], report["applied"]) == (6, 3, False)
    assert report["capped"] == 3 and report["pruned"] == 0
    assert {a["key"]: a["action"] for a in report["actions"]}["agent:main:main"] == "keep"
    done = run("cleanup", "--url", url, "--max-entries", "2")
    assert done.exit_code == 0, done.stderr
    assert "6 -> 3 entries" in done.stdout and "cap-overflow" in done.stdout
    with open_store(url) as store:
        assert store.count() == 3


def test_check_exits_1_until_the_counts_are_repaired(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    (sessions / "s1.jsonl").write_text(
        '{"type":"session","version":3,"id":"s1"}\n'
        '{"type":"message","message":{"role":"user","content":"hi"}}\n'
    )
    with open_store(url, auto_upgrade=True) as store:
        store.put("agent:main:main", {"sessionId": "s1", "updatedAt": 1, "messageCount": 5})
    args = ("check", "--url", url, "--sessions-dir", str(sessions))
    found = run(*args, "--json")
    assert found.exit_code == 1
    wrong = _json(found)["agents"][0]["wrongCounts"]
    assert wrong == {"agent:main:main": {"messageCount": [5, 1]}}
    assert run(*args, "--repair").exit_code == 0
    assert run(*args).exit_code == 0


# -- the json store type: each agent's own sessions.json in the state directory ----

#: two agents with different sessions, as each one's agents/<id>/sessions/sessions.json
TWO_AGENTS = {
    "main": {
        "agent:main:main": {"sessionId": "m1", "updatedAt": 2_000},
        "agent:main:cron:nightly": {"sessionId": "m2", "updatedAt": 1_000},
    },
    "work": {
        "agent:work:main": {"sessionId": "w1", "updatedAt": 4_000},
        "agent:work:telegram:direct:42": {"sessionId": "w2", "updatedAt": 3_000},
        "agent:work:cron:report": {"sessionId": "w3", "updatedAt": 2_500},
    },
}


def _sessions_json(state_dir: Path, agent_id: str) -> Path:
    """An agent's sessions.json; for ``"*"``, the pattern the json store type shows."""
    return state_dir / "agents" / agent_id / "sessions" / "sessions.json"


@pytest.fixture(params=["JSON", "json"])
def json_dir(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A state directory holding agents main and work, and the environment that makes
    it the store (the type in upper case first: the bug was there)."""
    state_dir = tmp_path / "state"
    for agent_id, entries in TWO_AGENTS.items():
        path = _sessions_json(state_dir, agent_id)
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(entries), encoding="utf-8")
    env = {"SESSIONSTORE_STORE_TYPE": request.param, "SESSIONSTORE_STATE_DIR": str(state_dir)}
    return state_dir, env


def test_json_dir_list_agent_reads_that_agents_own_file(
    json_dir: tuple[Path, dict[str, str]],
) -> None:
    """Regression: with SESSIONSTORE_STORE_TYPE=JSON, `list --agent work` listed main's
    sessions labelled "agent": "work"."""
    state_dir, env = json_dir
    listed = _json(run("list", "--agent", "work", "--json", env=env))
    assert [(s["agent"], s["key"], s["sessionId"]) for s in listed["sessions"]] == [
        ("work", "agent:work:main", "w1"),
        ("work", "agent:work:telegram:direct:42", "w2"),
        ("work", "agent:work:cron:report", "w3"),
    ]
    assert listed["store"] == str(_sessions_json(state_dir, "*"))
    default = _json(run("list", "--json", env=env))
    assert {(s["agent"], s["sessionId"]) for s in default["sessions"]} == {
        ("main", "m1"),
        ("main", "m2"),
    }


def test_json_dir_list_all_agents_reads_every_agents_file(
    json_dir: tuple[Path, dict[str, str]],
) -> None:
    _, env = json_dir
    everyone = _json(run("list", "--all-agents", "--json", env=env))
    listed = {(s["agent"], s["key"], s["sessionId"]) for s in everyone["sessions"]}
    assert listed == {
        (agent_id, key, entry["sessionId"])
        for agent_id, entries in TWO_AGENTS.items()
        for key, entry in entries.items()
    }
    assert everyone["count"] == 5 and everyone["hasMore"] is False
    table = run("list", "--all-agents", env=env)
    assert table.exit_code == 0, table.stderr
    assert "Sessions listed: 5" in table.stdout and "agent:work:cron:report" in table.stdout


def test_a_sessions_json_of_agent_main_is_not_listed_as_agent_work(
    json_dir: tuple[Path, dict[str, str]],
) -> None:
    state_dir, env = json_dir
    main_file = _sessions_json(state_dir, "main")
    done = run("list", "--url", str(main_file), "--agent", "work", env=env)
    assert done.exit_code == 1 and done.stdout == ""
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
    assert str(main_file) in done.stderr
    assert "'main'" in done.stderr and "'work'" in done.stderr
    assert "Traceback" not in done.stderr
    own = _json(run("list", "--url", str(main_file), "--json", env=env))  # the agent it names
    assert {(s["agent"], s["sessionId"]) for s in own["sessions"]} == {
        ("main", "m1"),
        ("main", "m2"),
    }


def test_json_dir_info_counts_every_agents_file(json_dir: tuple[Path, dict[str, str]]) -> None:
    state_dir, env = json_dir
    info = _json(run("info", "--json", env=env))
    assert info["storeType"] == "json"
    assert info["url"] == str(_sessions_json(state_dir, "*"))
    assert info["agents"] == {"main": 2, "work": 3} and info["total"] == 5
    assert info["revision"] is None and info["head"] is None
    assert set(info["files"]) == {str(_sessions_json(state_dir, a)) for a in TWO_AGENTS}
    assert all(size > 0 for size in info["files"].values())


def test_json_dir_show_reads_the_agent_of_the_key(json_dir: tuple[Path, dict[str, str]]) -> None:
    _, env = json_dir
    assert _json(run("show", "agent:work:main", "--json", env=env))["sessionId"] == "w1"
    assert _json(run("show", "agent:main:main", "--json", env=env))["sessionId"] == "m1"
    chosen = run("show", "agent:work:cron:report", "--agent", "work", "--json", env=env)
    assert _json(chosen)["sessionId"] == "w3"
    elsewhere = run("show", "agent:work:main", "--agent", "main", env=env)
    assert elsewhere.exit_code == 1
    assert elsewhere.stderr.strip() == "error: no session 'agent:work:main' for agent 'main'"


def test_json_dir_cleanup_and_check_work_on_every_agents_file(
    json_dir: tuple[Path, dict[str, str]],
) -> None:
    state_dir, env = json_dir
    cleaned = _json(run("cleanup", "--all-agents", "--dry-run", "--json", env=env))
    assert cleaned["store"] == str(_sessions_json(state_dir, "*"))
    counts = {r["agentId"]: r["beforeCount"] for r in cleaned["agents"]}
    assert counts == {"main": 2, "work": 3}
    checked = run("check", "--all-agents", "--json", env=env)
    assert checked.exit_code == 1  # no transcript files: every entry's is missing
    report = _json(checked)
    assert report["store"] == str(_sessions_json(state_dir, "*"))
    assert {r["agentId"]: len(r["missing"]) for r in report["agents"]} == {"main": 2, "work": 3}


# -- smoke tests: the real entry points, in a subprocess ----------------------------
#
# Exactly these two start a process: everything else above runs in process.


def _smoke(*command: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in the environment ``isolated_env`` left (no SESSIONSTORE_*)."""
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_smoke_python_m_sessionstore(tmp_path: Path) -> None:
    """`python -m sessionstore`: its help names the program `sessionstore` (not
    __main__.py), and a failing command prints one `error:` line on stderr, no
    traceback, exit status 1."""
    helped = _smoke(sys.executable, "-m", "sessionstore", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "Usage: sessionstore " in helped.stdout and "migrate" in helped.stdout
    missing = tmp_path / "missing.db"
    failed = _smoke(sys.executable, "-m", "sessionstore", "list", "--url", str(missing))
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.startswith(f"error: no database at {missing}")
    assert len(failed.stderr.strip().splitlines()) == 1 and "Traceback" not in failed.stderr
    assert not missing.exists()


def test_smoke_console_script() -> None:
    """The installed `sessionstore` script (the venv's, beside this Python)."""
    script = shutil.which("sessionstore", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the sessionstore script is not installed beside this Python")
    version = _smoke(script, "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"sessionstore {__version__}"


# -- transcripts: migrate --transcripts sql, check on either tier, transcript tail/search


@pytest.fixture
def sql_transcripts(tmp_path: Path) -> tuple[GeneratedStateDir, str]:
    """A state directory migrated with its transcripts into a SQLite database."""
    state = generate_state_dir(
        tmp_path / "state", agents=("main",), sessions_per_agent=15, heavy_share=0.0
    )
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    done = run("migrate", "--state-dir", str(state.state_dir), "--to", url, "--transcripts", "sql")
    assert done.exit_code == 0, done.stdout + done.stderr
    assert f"main: transcripts: {state.transcripts['main']} written" in done.stdout
    return state, url


def test_migrate_transcripts_sql_reports_them_and_a_rerun_skips_them(
    sql_transcripts: tuple[GeneratedStateDir, str],
) -> None:
    state, url = sql_transcripts
    args = ("migrate", "--state-dir", str(state.state_dir), "--to", url)
    again = _json(run(*args, "--transcripts", "sql", "--json"))["agents"][0]
    assert again["status"] == "SKIPPED"
    assert (again["transcriptsImported"], again["transcriptsSkipped"]) == (
        0,
        state.transcripts["main"],
    )
    assert again["linesSkipped"] > again["transcriptsSkipped"]
    plain = _json(run(*args, "--json"))["agents"][0]  # files stay files: nothing carried
    assert plain["transcriptsImported"] == plain["transcriptsSkipped"] == 0
    bad = run(*args, "--transcripts", "cloud")
    assert bad.exit_code == 1 and bad.stderr.strip() == (
        "error: --transcripts must be files or sql, got 'cloud'"
    )


def test_check_uses_the_sql_tier_of_a_database_and_the_files_of_a_state_dir(
    sql_transcripts: tuple[GeneratedStateDir, str],
) -> None:
    state, url = sql_transcripts
    key = "agent:main:main"
    with open_store(url) as store:  # a database by URL: its SQL tier
        store.patch(key, {"messageCount": 999})
        count = store.transcripts.count(key)
    missing = state.entries["main"] - state.transcripts["main"]
    found = _json(run("check", "--url", url, "--json"))["agents"][0]
    assert found["wrongCounts"][key]["messageCount"] == [999, count]
    assert len(found["missing"]) == missing and found["orphans"] == []
    repaired = _json(run("check", "--url", url, "--repair", "--json"))["agents"][0]
    assert repaired["repaired"] >= 1 and repaired["wrongCounts"][key]
    after = _json(run("check", "--url", url, "--json"))["agents"][0]
    assert after["wrongCounts"] == {} and after["uncounted"] == []
    files = run(
        "check", "--url", url, "--transcripts", "files", "--state-dir", str(state.state_dir)
    )
    assert "0 wrong counters" in files.stdout and f"{missing} missing" in files.stdout
    both = run(
        "check", "--url", url, "--transcripts", "sql", "--sessions-dir", str(state.state_dir)
    )
    assert both.exit_code == 1 and both.stderr.startswith("error: --sessions-dir")


def test_fix_missing_is_refused_where_it_would_drop_every_entry(tmp_path: Path) -> None:
    """After a migrate that leaves the transcripts files, the database's SQL tier holds
    none: --fix-missing there is refused, as is one agent's --sessions-dir for several."""
    state = generate_state_dir(
        tmp_path / "state", agents=("main", "work"), sessions_per_agent=6, heavy_share=0.0
    )
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrated = run("migrate", "--state-dir", str(state.state_dir), "--to", url, "--all-agents")
    assert migrated.exit_code == 0, migrated.stdout
    no_sql = run("cleanup", "--url", url, "--fix-missing", "--prune-after", "off", "--no-cap")
    assert no_sql.exit_code == 1 and "holds no transcript" in no_sql.stderr
    main_dir = str(state.store_path("main").parent)
    for args in (("cleanup", "--fix-missing", "--dry-run"), ("check",)):
        every = run(*args, "--url", url, "--all-agents", "--sessions-dir", main_dir)
        assert every.exit_code == 1, every.stdout
        assert every.stderr.startswith("error: --sessions-dir is one agent's directory")
    with open_store(url, agent_id="work") as store:
        assert store.count() == 6


def test_transcript_tail_and_search_on_either_tier(
    sql_transcripts: tuple[GeneratedStateDir, str],
) -> None:
    state, url = sql_transcripts
    key = "agent:main:main"
    sessions = state.store_path("main").parent
    with open_store(url) as store:
        entry = store.get(key)
        assert entry is not None and store.transcripts.exists(entry)
        lines = list(store.transcripts.lines(entry))
    events = [json.loads(line) for line in lines[1:]]
    tail = _json(run("transcript", "tail", key, "--url", url, "--limit", "3", "--json"))
    assert tail["transcripts"] == "sql" and tail["sessionId"] == entry.session_id
    assert tail["events"] == events[-3:] and tail["count"] == len(events[-3:])
    as_files = ("--transcripts", "files", "--sessions-dir", str(sessions))
    from_files = _json(run("transcript", "tail", key, "--url", url, *as_files, "--json"))
    assert from_files["transcripts"] == "files"
    assert from_files["events"] == events[-50:]
    table = run("transcript", "tail", key, "--url", url, "--limit", "2")
    assert table.exit_code == 0 and table.stdout.startswith(f"{key}: session {entry.session_id}")
    word = next(
        w for e in events if (text := message_text(e)) for w in text.split() if len(w) > 5
    ).strip(".,:;!?()")
    hits = _json(run("transcript", "search", word, "--url", url, "--json"))
    assert hits["count"] == len(hits["hits"]) >= 1 and hits["transcripts"] == "sql"
    assert all(word.casefold() in hit["snippet"].casefold() for hit in hits["hits"])
    same = _json(run("transcript", "search", word, "--url", url, *as_files, "--json"))
    # The files also hold topic transcripts that migrate left as files (it reports
    # them): every hit of the SQL tier is found in the files too.
    found_in_files = {(h["key"], h["sessionId"], h["position"]) for h in same["hits"]}
    assert found_in_files >= {(h["key"], h["sessionId"], h["position"]) for h in hits["hits"]}
    narrowed = _json(run("transcript", "search", word, "--url", url, "--key", key, "--json"))
    assert {hit["key"] for hit in narrowed["hits"]} <= {key}
    shown = run("transcript", "search", word, "--url", url, "--limit", "1")
    assert shown.exit_code == 0 and shown.stdout.startswith("Hits: 1 ")
    for bad in (
        ("transcript", "tail", "agent:main:nope", "--url", url),
        ("transcript", "search", '"(*', "--url", url),
        ("transcript", "search", word, "--url", url, "--key", "agent:main:nope"),
        ("transcript", "tail", key, "--url", url, "--transcripts", "disk"),
    ):
        done = run(*bad)
        assert done.exit_code == 1, bad
        assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
        assert "Traceback" not in done.stderr
    assert run("transcript", "tail", key, "--url", url, "--limit", "0").exit_code == 2


def test_export_writes_the_transcripts_and_copy_carries_them(
    sql_transcripts: tuple[GeneratedStateDir, str], tmp_path: Path
) -> None:
    state, url = sql_transcripts
    back = tmp_path / "back"
    done = _json(run("export", "--from", url, "--state-dir", str(back), "--json"))
    assert done["agents"][0]["transcriptsImported"] == state.transcripts["main"]
    exported = sorted((back / "agents" / "main" / "sessions").glob("*.jsonl"))
    originals = sorted(state.store_path("main").parent.glob("*.jsonl"))
    assert [p.read_bytes() for p in exported] == [p.read_bytes() for p in originals]
    copy_url = f"sqlite:///{tmp_path / 'copy.sqlite'}"
    copied = _json(run("copy", "--from", url, "--to", copy_url, "--json"))["agents"][0]
    assert copied["transcriptsImported"] == state.transcripts["main"]
    bare_url = f"sqlite:///{tmp_path / 'bare.sqlite'}"
    bare = _json(run("copy", "--from", url, "--to", bare_url, "--no-transcripts", "--json"))
    assert bare["agents"][0]["transcriptsImported"] == 0

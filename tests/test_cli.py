"""The command line: real processes, real exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sessionstore import __version__, current_revision, head_revision, open_store
from sessionstore.testing import GeneratedStateDir, generate_state_dir


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sessionstore", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**{k: v for k, v in os.environ.items() if k != "SESSIONSTORE_URL"}, **(env or {})},
    )


def test_version() -> None:
    done = run("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"sessionstore {__version__}"


def test_db_upgrade_current_check_downgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    done = run("db", "current", "--url", url)
    assert done.returncode == 0 and "current: empty" in done.stdout
    done = run("db", "check", "--url", url)
    assert done.returncode == 1
    assert "sessionstore db upgrade" in done.stderr and "Traceback" not in done.stderr
    done = run("db", "upgrade", "--url", url)
    assert done.returncode == 0, done.stderr
    assert f"empty -> {head_revision()}" in done.stdout
    assert current_revision(url) == head_revision()
    done = run("db", "check", env={"SESSIONSTORE_URL": url})
    assert done.returncode == 0 and "no drift" in done.stdout
    done = run("db", "downgrade", "--url", url, "base")
    assert done.returncode == 0 and current_revision(url) is None


def test_errors_are_one_line_without_the_password() -> None:
    done = run("db", "current", "--url", "postgresql+psycopg://u:hunter2@127.0.0.1:1/db")
    assert done.returncode == 1
    assert done.stderr.startswith("error: ")
    assert len(done.stderr.strip().splitlines()) == 1
    assert "hunter2" not in done.stderr + done.stdout
    assert "u:***@127.0.0.1:1" in done.stderr


def test_unknown_revision_is_an_error(tmp_path: Path) -> None:
    done = run("db", "downgrade", "--url", f"sqlite:///{tmp_path / 'x.db'}", "0042")
    assert done.returncode == 1
    assert "0042" in done.stderr and "Traceback" not in done.stderr


def test_a_plain_path_is_a_sqlite_file_and_reading_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state" / "sessions.db"
    done = run("db", "current", "--url", str(path))
    assert done.returncode == 0, done.stderr
    assert "current: empty" in done.stdout
    assert not path.exists()
    done = run("db", "upgrade", "--url", str(path))
    assert done.returncode == 0, done.stderr
    assert current_revision(f"sqlite:///{path}") == head_revision()


# -- migrate, list, show, info, export, copy ----------------------------------------


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.stderr == "" or "Traceback" not in done.stderr
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
    assert dry.returncode == 1 and not db.exists()
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
    assert done.returncode == 1
    report = _json(done)
    statuses = {agent["agentId"]: agent["status"] for agent in report["agents"]}
    assert statuses == {"broken": "FAILED", **dict.fromkeys(state.agents, "MIGRATED")}
    assert report["ok"] is False
    good = run(
        "migrate", "--state-dir", str(state.state_dir), "--agent", "main", "--to", f"sqlite:///{db}"
    )
    assert good.returncode == 0, good.stderr
    assert "SKIPPED" in good.stdout and "Traceback" not in good.stderr


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
    assert table.returncode == 0 and "Sessions listed: 3" in table.stdout
    key = page["sessions"][0]["key"]
    shown = _json(run("show", key, "--url", url, "--json"))
    assert shown["sessionId"] == page["sessions"][0]["sessionId"]
    missing = run("show", "agent:main:nope", "--url", url)
    assert missing.returncode == 1 and missing.stderr.startswith("error: ")
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
    assert done.returncode == 0, done.stderr
    assert _json(done)["agents"][0]["status"] == "EXPORTED"
    again = run("export", "--from", url, "--agent", "main", "--out", str(out))
    assert again.returncode == 1 and "--force" in again.stdout
    copied = run(
        "copy", "--from", str(out), "--to", f"sqlite:///{tmp_path / 'copy.sqlite'}", "--json"
    )
    assert copied.returncode == 0, copied.stderr
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
        assert done.returncode == 1, args
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
    assert done.returncode == 0, done.stderr
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
    assert found.returncode == 1
    wrong = _json(found)["agents"][0]["wrongCounts"]
    assert wrong == {"agent:main:main": {"messageCount": [5, 1]}}
    assert run(*args, "--repair").returncode == 0
    assert run(*args).returncode == 0

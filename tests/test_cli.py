"""The command line: real processes, real exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sessionstore import __version__, current_revision, head_revision


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


def test_every_command_has_help_with_an_example() -> None:
    for command in ("upgrade", "downgrade", "current", "check"):
        done = run("db", command, "--help")
        assert done.returncode == 0
        assert "Example: sessionstore db " + command in " ".join(done.stdout.split())


def test_a_plain_path_is_a_sqlite_file_and_reading_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state" / "sessions.db"
    done = run("db", "current", "--url", str(path))
    assert done.returncode == 0, done.stderr
    assert "current: empty" in done.stdout
    assert not path.exists()
    done = run("db", "upgrade", "--url", str(path))
    assert done.returncode == 0, done.stderr
    assert current_revision(f"sqlite:///{path}") == head_revision()

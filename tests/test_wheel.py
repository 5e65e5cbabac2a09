"""The newcomer's path: a wheel built from this checkout, installed with its dependencies
into a fresh virtual environment outside the checkout, does what the README says: the
command (`--help`, `--version`, `python -m sessionstore`), `db upgrade` of a new SQLite
file, `migrate` of a generated OpenClaw state directory, `list --json`, `export`, and
the README's quickstart, with the revisions and the type marker inside the wheel; and the
framework extras (`adk`, `openai-agents`, `pydantic-ai`), each adapter run from it.

It needs the package index for the dependencies: without it the test skips, saying
why, unless ``SESSIONSTORE_REQUIRE_SERVERS=1`` (set by CI), where it fails instead."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pytest

from sessionstore import __version__, head_revision
from tests.conftest import REQUIRE_SERVERS

ROOT = Path(__file__).resolve().parents[1]
#: A small dependency of the wheel that the reachability check downloads.
PROBE_PACKAGE = "annotated-types"

pytestmark = [pytest.mark.network, pytest.mark.slow]


def _require_package_index(tmp_path: Path) -> None:
    """Skip (or fail, where servers are required) unless pip, as configured here, can
    download a package from the index: ``pip download`` of one small dependency, with a
    short connection timeout, no retries and no cache."""
    probe = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--timeout",
        "10",
        "--retries",
        "0",
        "--dest",
        str(tmp_path / "probe"),
        PROBE_PACKAGE,
    ]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        problem = "pip download did not finish in 120 s"
    else:
        if done.returncode == 0:
            return
        said = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        where = [line for line in done.stdout.splitlines() if line.startswith("Looking in")]
        problem = "; ".join([*where, *said[-1:]]) or f"exit code {done.returncode}"
    message = f"package index not reachable (pip download {PROBE_PACKAGE}): {problem}"
    if REQUIRE_SERVERS:
        pytest.fail(message)
    pytest.skip(message)


def _run(*args: str | Path, cwd: Path) -> str:
    env = {
        name: value
        for name, value in os.environ.items()
        if name != "PYTHONPATH" and not name.startswith(("SESSIONSTORE_", "OPENCLAW_"))
    }
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env={**env, "COLUMNS": "100", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


def _json_of(command: Path, *args: str | Path, cwd: Path) -> Any:
    """What ``command *args --json`` prints, parsed."""
    return json.loads(_run(command, *args, "--json", cwd=cwd))


def _readme_quickstart() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quickstart = readme.split("## Quickstart", 1)[1]
    match = re.search(r"^```python\n(.*?)^```", quickstart, re.DOTALL | re.MULTILINE)
    assert match, "README.md has no Python block under Quickstart"
    return match.group(1)


def _build_wheel(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "build", "--wheel", "--outdir", dist, ROOT, cwd=ROOT)
    return next(dist.glob("sessionstore-*.whl"))


def test_wheel_installs_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    _require_package_index(tmp_path)
    wheel = _build_wheel(tmp_path)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    python, command = bin_dir / "python", bin_dir / "sessionstore"
    work = tmp_path / "elsewhere"
    work.mkdir()
    # the dependencies come from the package index, as for a user
    _run(python, "-m", "pip", "install", "--quiet", wheel, cwd=work)

    # the command, and python -m sessionstore: the same command
    usage = _run(command, "--help", cwd=work)
    assert "Usage: sessionstore [OPTIONS] COMMAND [ARGS]..." in usage
    for name in ("list", "show", "info", "migrate", "export", "copy", "cleanup", "check", "db"):
        # a row of the command list: the name, then its description (whatever frames it)
        row = rf"^[^\w\s]?\s*{name}\s{{2,}}\S"
        assert re.search(row, usage, re.MULTILINE), f"--help does not list {name}"
    module_usage = _run(python, "-m", "sessionstore", "--help", cwd=work)
    assert _same_help(module_usage) == _same_help(usage)
    assert _run(command, "--version", cwd=work).strip() == f"sessionstore {__version__}"

    # a new SQLite file, its schema from the revisions inside the wheel
    database = tmp_path / "new.db"
    out = _run(command, "db", "upgrade", "--url", f"sqlite:///{database}", cwd=work)
    assert f"empty -> {head_revision()}" in out

    # a small migration of a generated state directory, listed, exported back
    state = tmp_path / "state"
    generate = (
        "import sessionstore\n"
        "from sessionstore.testing import generate_state_dir\n"
        f"state = generate_state_dir({str(state)!r}, agents=('main', 'work'), "
        "sessions_per_agent=5, seed=7)\n"
        "print(sessionstore.__file__, state.entries['main'], state.entries['work'])\n"
    )
    where, *counted = _run(python, "-c", generate, cwd=work).split()
    assert where.startswith(str(env_dir)), f"imported from {where}, not the new environment"
    counts = [int(n) for n in counted]
    report = _json_of(command, "migrate", "--state-dir", state, "--all-agents", cwd=work)
    assert report["ok"] and [a["status"] for a in report["agents"]] == ["MIGRATED"] * 2
    store = state / "sessionstore.db"
    listing = _json_of(command, "list", "--url", store, "--all-agents", cwd=work)
    assert listing["count"] == sum(counts) and not listing["hasMore"]
    assert {item["agent"] for item in listing["sessions"]} == {"main", "work"}
    back = tmp_path / "back"
    report = _json_of(
        command, "export", "--from", store, "--state-dir", back, "--all-agents", cwd=work
    )
    assert report["ok"] and [a["status"] for a in report["agents"]] == ["EXPORTED"] * 2
    exported = back / "agents" / "work" / "sessions" / "sessions.json"
    assert len(json.loads(exported.read_text(encoding="utf-8"))) == counts[1]

    # the README's quickstart, verbatim
    out = _run(python, "-c", _readme_quickstart(), cwd=work)
    assert out.splitlines()[0] == "Inbox 1200"
    assert (work / "sessions.db").exists()

    # the async API with no extra: SQLite on the store's worker threads, no greenlet
    async_script = (
        "import asyncio\n"
        "from sessionstore import open_async_store\n"
        "async def main():\n"
        "    async with open_async_store('async.db', auto_upgrade=True) as store:\n"
        "        await store.patch('agent:main:main', {'label': 'Async'})\n"
        "        print((await store.get('agent:main:main')).label, await store.count())\n"
        "asyncio.run(main())\n"
    )
    assert _run(python, "-c", async_script, cwd=work).split() == ["Async", "1"]

    # the wheel carries the revisions and the type marker
    listing_text = _run(python, "-m", "zipfile", "-l", wheel, cwd=work)
    assert "sessionstore/_alembic/versions/0001_create_sessions_table.py" in listing_text
    assert "sessionstore/py.typed" in listing_text


#: A script run in the environment the wheel's framework extras made: each adapter keeps a
#: session in one SQLite file, read back through a second object of its own.
FRAMEWORKS_SCRIPT = """
import asyncio
from google.adk.events import Event
from google.genai import types
from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, UserPromptPart
from sessionstore.integrations.adk import SessionStoreSessionService
from sessionstore.integrations.openai_agents import SessionStoreSession
from sessionstore.integrations.pydantic_ai import MessageHistory

async def main():
    async with SessionStoreSessionService("sqlite:///frameworks.db") as service:
        session = await service.create_session(app_name="app", user_id="u", state={"n": 1})
        content = types.Content(role="user", parts=[types.Part(text="hello")])
        await service.append_event(session, Event(author="user", content=content))
    async with SessionStoreSessionService("sqlite:///frameworks.db") as service:
        back = await service.get_session(app_name="app", user_id="u", session_id=session.id)
    print("adk", back.state["n"], back.events[0].content.parts[0].text)
    async with SessionStoreSession("chat", url="sqlite:///frameworks.db") as chat:
        await chat.add_items([{"role": "user", "content": "hi"}])
    async with SessionStoreSession("chat", url="sqlite:///frameworks.db") as chat:
        print("openai-agents", (await chat.get_items())[0]["content"])
    history = MessageHistory(url="sqlite:///frameworks.db")
    messages = [
        ModelRequest(parts=[UserPromptPart(content="ping")]),
        ModelResponse(parts=[TextPart(content="pong")]),
    ]
    await history.save("agent:main:pai", messages)
    loaded = await history.load("agent:main:pai", last=2)
    await history.close()
    print("pydantic-ai", loaded[-1].parts[0].content)

asyncio.run(main())
"""


def test_wheel_extras_install_the_framework_adapters(tmp_path: Path) -> None:
    """``pip install 'sessionstore[adk,openai-agents,pydantic-ai]'`` brings each
    framework and what its adapter needs (SQLAlchemy's asyncio support), and each
    adapter runs from the installed wheel."""
    _require_package_index(tmp_path)
    wheel = _build_wheel(tmp_path)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    work = tmp_path / "elsewhere"
    work.mkdir()
    _run(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        f"{wheel}[adk,openai-agents,pydantic-ai]",
        cwd=work,
    )
    out = _run(python, "-c", FRAMEWORKS_SCRIPT, cwd=work)
    assert out.splitlines() == ["adk 1 hello", "openai-agents hi", "pydantic-ai pong"]


def _same_help(text: str) -> list[str]:
    """Help text, compared line by line: the usage line names the program as it was
    started (``python -m sessionstore``, as ``python -m pip`` does)."""
    return [
        line.replace("python -m sessionstore", "sessionstore").rstrip()
        for line in text.splitlines()
    ]

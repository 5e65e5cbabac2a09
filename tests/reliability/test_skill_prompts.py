"""Skills prompts that OpenClaw keeps in files beside ``sessions.json`` survive every
path: migrate puts the prompt itself in the database, export and the JSON twin write
the files back the way OpenClaw reads them, and a missing or corrupt file is reported
per entry, its entry kept as it was.

``openclaw_reads`` is the check OpenClaw runs on load, written out here independently
of the code under test: what it returns is what OpenClaw keeps.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from sessionstore import SessionEntry, open_store
from sessionstore.cli import app
from sessionstore.openclaw.skillprompts import MAX_BLOB_BYTES, PromptBlobs, prompt_ref
from sessionstore.sql.schema import blobs
from sessionstore.transfer import Status, export, migrate
from tests.contract.backends import engine_of

PROMPT = "<available_skills>\n" + "weather: forecasts for a place and a day — ☀️\n" * 400
KEY = "agent:main:main"


def ref_of(prompt: str) -> dict[str, Any]:
    data = prompt.encode("utf-8")
    return {
        "version": 1,
        "algorithm": "sha256",
        "hash": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
    }


def blob_path(sessions_dir: Path, digest: str) -> Path:
    return sessions_dir / "skills-prompts" / "sha256" / digest[:2] / f"{digest}.txt"


def plant_blob(sessions_dir: Path, prompt: str) -> Path:
    """A prompt file as OpenClaw writes it."""
    path = blob_path(sessions_dir, ref_of(prompt)["hash"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(prompt.encode("utf-8"))
    path.chmod(0o600)
    return path


def entry(n: int, snapshot: Any) -> dict[str, Any]:
    return {"sessionId": f"s{n}", "updatedAt": 1_774_962_000_000 + n, "skillsSnapshot": snapshot}


def write_store(sessions_dir: Path, store: dict[str, Any]) -> Path:
    sessions_dir.mkdir(parents=True, exist_ok=True)
    path = sessions_dir / "sessions.json"
    path.write_text(json.dumps(store, indent=2, ensure_ascii=False))
    return path


def openclaw_state(root: Path) -> Path:
    """A state directory as OpenClaw leaves it: one prompt in a file, one short inline."""
    sessions = root / "agents" / "main" / "sessions"
    plant_blob(sessions, PROMPT)
    write_store(
        sessions,
        {
            KEY: entry(
                1, {"version": 3, "skills": [{"name": "weather"}], "promptRef": ref_of(PROMPT)}
            ),
            "agent:main:short": entry(2, {"prompt": "short", "version": 3}),
        },
    )
    return root


def openclaw_reads(store_path: Path) -> dict[str, Any]:
    """What OpenClaw keeps of each entry's ``skillsSnapshot`` on load: the prompt, or
    ``None`` where it drops the snapshot."""
    kept: dict[str, Any] = {}
    for key, value in json.loads(store_path.read_text()).items():
        snapshot = value.get("skillsSnapshot")
        if isinstance(snapshot.get("prompt"), str):
            kept[key] = snapshot["prompt"]
            continue
        ref, kept[key] = snapshot.get("promptRef"), None
        if not (
            isinstance(ref, dict)
            and ref.get("version") == 1
            and ref.get("algorithm") == "sha256"
            and re.fullmatch("[a-f0-9]{64}", str(ref.get("hash")))
            and isinstance(ref.get("bytes"), int | float)
            and math.isfinite(ref["bytes"])
            and 0 <= ref["bytes"] <= 512 * 1024
        ):
            continue
        path = blob_path(store_path.parent, ref["hash"])
        if not path.is_file() or path.stat().st_size != ref["bytes"]:
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        if ref_of(text) == ref:
            kept[key] = text
    return kept


def sessions_of(root: Path) -> Path:
    return root / "agents" / "main" / "sessions"


def assert_written_the_openclaw_way(store_path: Path, *, made_dirs: bool = True) -> None:
    """The prompt is in its file (right bytes, sha256 and mode), the entry names it;
    directories made for it are private, as the store's own."""
    raw = json.loads(store_path.read_text())
    snapshot = raw[KEY]["skillsSnapshot"]
    assert "prompt" not in snapshot
    assert snapshot["promptRef"] == ref_of(PROMPT)
    path = blob_path(store_path.parent, ref_of(PROMPT)["hash"])
    assert not path.is_symlink() and path.read_bytes() == PROMPT.encode("utf-8")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == ref_of(PROMPT)["hash"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for directory in (path.parent, path.parent.parent, path.parent.parent.parent):
        assert not made_dirs or stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert raw["agent:main:short"]["skillsSnapshot"] == {"prompt": "short", "version": 3}
    assert openclaw_reads(store_path) == {KEY: PROMPT, "agent:main:short": "short"}


# -- migrate: the database holds the prompt ------------------------------------------


def test_migrate_stores_the_prompt_itself_in_the_database(tmp_path: Path, sql_target: str) -> None:
    state = openclaw_state(tmp_path / "state")
    report = migrate(state, sql_target)
    assert [a.status for a in report.agents] == [Status.MIGRATED], report.to_dict()
    assert not report.agents[0].warnings
    with open_store(sql_target) as store:
        got = store.get(KEY)
        assert got is not None
        assert got.to_dict()["skillsSnapshot"] == {
            "version": 3,
            "skills": [{"name": "weather"}],
            "prompt": PROMPT,
        }
        # the SQL backends keep the prompt out of line, once, by its sha256
        with engine_of(store) as engine, engine.connect() as conn:
            bodies = [row.body for row in conn.execute(select(blobs)).all()]
        assert [orjson.loads(body) for body in bodies] == [PROMPT]


def test_migrating_again_fills_in_prompts_an_earlier_migrate_left_out(
    tmp_path: Path, sqlite_url: str
) -> None:
    state = openclaw_state(tmp_path / "state")
    raw = json.loads((sessions_of(state) / "sessions.json").read_text())
    with open_store(sqlite_url, auto_upgrade=True) as store:  # what migrate stored before
        store.put_many(raw.items())
    report = migrate(state, sqlite_url)
    assert report.agents[0].status is Status.MIGRATED and report.agents[0].imported == 1
    with open_store(sqlite_url) as store:
        got = store.get(KEY)
        assert got is not None and got.to_dict()["skillsSnapshot"]["prompt"] == PROMPT


# -- export: files OpenClaw reads back intact -----------------------------------------


@pytest.fixture
def database(tmp_path: Path) -> str:
    """A SQLite database migrated from an OpenClaw state directory."""
    url = f"sqlite:///{tmp_path / 'sessions.db'}"
    report = migrate(openclaw_state(tmp_path / "state"), url)
    assert report.agents[0].status is Status.MIGRATED, report.to_dict()
    return url


def test_export_to_a_new_state_dir_writes_the_prompt_files(tmp_path: Path, database: str) -> None:
    new = tmp_path / "new"
    report = export(database, state_dir=new)
    assert [a.status for a in report.agents] == [Status.EXPORTED], report.to_dict()
    assert not report.agents[0].warnings
    assert_written_the_openclaw_way(sessions_of(new) / "sessions.json")


def test_export_out_file_writes_the_prompt_files_beside_it(tmp_path: Path, database: str) -> None:
    out = tmp_path / "elsewhere" / "sessions.json"
    report = export(database, out=out, agents=["main"])
    assert [a.status for a in report.agents] == [Status.EXPORTED], report.to_dict()
    assert_written_the_openclaw_way(out)


def test_export_reports_an_entry_whose_prompt_is_nowhere(tmp_path: Path, sqlite_url: str) -> None:
    with open_store(sqlite_url, auto_upgrade=True) as store:  # a promptRef alone
        store.put(KEY, entry(1, {"version": 3, "promptRef": ref_of(PROMPT)}))
    report = export(sqlite_url, state_dir=tmp_path / "new")
    agent = report.agents[0]
    assert agent.status is Status.EXPORTED
    assert len(agent.warnings) == 1 and agent.warnings[0].startswith(f"{KEY!r}: ")
    assert "is missing" in agent.warnings[0]


# -- the JSON twin -------------------------------------------------------------------


def test_json_twin_reads_prompts_back_and_writes_them_out(tmp_path: Path) -> None:
    path = sessions_of(openclaw_state(tmp_path)) / "sessions.json"
    with open_store(path) as store:
        got = store.get(KEY)
        assert got is not None and got.to_dict()["skillsSnapshot"]["prompt"] == PROMPT
        before = path.stat()
        store.put(KEY, got)  # a write that changes nothing is skipped
        store.delete_many(["agent:main:absent"])
        after = path.stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
        assert_written_the_openclaw_way(path, made_dirs=False)

        other = PROMPT.replace("weather", "calendar")
        changed = got.with_fields(skillsSnapshot={"prompt": other, "version": 4})
        store.put("agent:main:other", changed)
    assert openclaw_reads(path)["agent:main:other"] == other
    assert json.loads(path.read_text())["agent:main:other"]["skillsSnapshot"] == {
        "promptRef": ref_of(other),
        "version": 4,
    }
    with open_store(path) as again:  # twin -> file -> twin: the same entries
        assert again.get("agent:main:other") == changed
        assert again.get(KEY) == got


def test_prompts_move_out_exactly_when_openclaw_moves_them(tmp_path: Path) -> None:
    cases = {
        "agent:main:511": "é" * 511,  # 1,022 bytes, but 511 JavaScript characters
        "agent:main:emoji": "😀" * 300,  # 300 code points, 600 JavaScript characters
        "agent:main:huge": "p" * (MAX_BLOB_BYTES + 1),  # over the file limit
    }
    path = tmp_path / "sessions.json"
    with open_store(path) as store:
        for n, (key, prompt) in enumerate(cases.items()):
            store.put(key, entry(n, {"prompt": prompt}))
    raw = json.loads(path.read_text())
    assert raw["agent:main:511"]["skillsSnapshot"] == {"prompt": "é" * 511}
    assert raw["agent:main:emoji"]["skillsSnapshot"] == {"promptRef": ref_of("😀" * 300)}
    assert raw["agent:main:huge"]["skillsSnapshot"]["prompt"] == cases["agent:main:huge"]
    assert openclaw_reads(path) == cases
    assert prompt_ref("😀" * 300) == ref_of("😀" * 300) and prompt_ref("é" * 511) is None


# -- missing, corrupt and hostile files ------------------------------------------------


def hostile_state(root: Path) -> tuple[Path, dict[str, str]]:
    """A state directory whose entries name prompt files in every bad way, beside one
    good one; returns it and, per bad key, a word of the reason it must be reported."""
    sessions = sessions_of(root)
    good = plant_blob(sessions, PROMPT)
    outside = root / "outside"
    outside.mkdir(parents=True)
    symlinked, corrupt, truncated, fifo, planted = (
        PROMPT.replace("weather", word) for word in ("links", "rot", "cut", "pipe", "planted")
    )
    link = blob_path(sessions, ref_of(symlinked)["hash"])
    link.parent.mkdir(parents=True)
    (outside / "real.txt").write_text(symlinked)
    link.symlink_to(outside / "real.txt")
    plant_blob(sessions, corrupt).write_bytes(corrupt.replace("rot", "rat").encode())
    plant_blob(sessions, truncated).write_bytes(truncated.encode()[:-1])
    pipe = blob_path(sessions, ref_of(fifo)["hash"])
    pipe.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(pipe)
    # a hash that climbs out of the sessions directory, with a valid file where it leads
    escape = "../../../../outside/x"
    (outside / "x.txt").write_text(planted)
    huge = "p" * (MAX_BLOB_BYTES + 1)
    plant_blob(sessions, huge)
    refs = {
        "agent:main:missing": (ref_of(PROMPT.upper()), "is missing"),
        "agent:main:symlink": (ref_of(symlinked), "symbolic link"),
        "agent:main:corrupt": (ref_of(corrupt), "sha256"),
        "agent:main:truncated": (ref_of(truncated), "bytes"),
        "agent:main:fifo": (ref_of(fifo), "not a regular file"),
        "agent:main:escape": ({**ref_of(planted), "hash": escape}, "hex digits"),
        "agent:main:huge": (ref_of(huge), "524288"),
        "agent:main:version": ({**ref_of(PROMPT), "version": 2}, "version 1"),
    }
    store = {KEY: entry(0, {"promptRef": ref_of(PROMPT)})}
    for n, (key, (ref, _)) in enumerate(refs.items(), start=1):
        store[key] = entry(n, {"version": 3, "promptRef": ref})
    write_store(sessions, store)
    assert good.exists()
    return root, {key: why for key, (_, why) in refs.items()}


def assert_reported(lines: list[str], expected: dict[str, str]) -> None:
    for key, why in expected.items():
        mine = [line for line in lines if line.startswith(f"{key!r}: ")]
        assert len(mine) == 1 and why in mine[0], (key, why, lines)


def test_migrate_reports_each_bad_prompt_file_and_keeps_its_entry(
    tmp_path: Path, sqlite_url: str
) -> None:
    state, expected = hostile_state(tmp_path / "state")
    source = json.loads((sessions_of(state) / "sessions.json").read_text())
    report = migrate(state, sqlite_url)
    agent = report.agents[0]
    assert agent.status is Status.MIGRATED and agent.imported == len(source), report.to_dict()
    assert_reported(agent.warnings, expected)
    assert len(agent.warnings) == len(expected)
    with open_store(sqlite_url) as store:
        for key in expected:  # kept exactly as the file has it: nothing lost
            got = store.get(key)
            assert got is not None and got.to_dict() == source[key]
        good = store.get(KEY)
        assert good is not None and good.to_dict()["skillsSnapshot"] == {"prompt": PROMPT}


def test_json_twin_warns_about_each_bad_prompt_file_and_keeps_its_entry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state, expected = hostile_state(tmp_path)
    path = sessions_of(state) / "sessions.json"
    source = json.loads(path.read_text())
    with caplog.at_level(logging.WARNING), open_store(path) as store:
        assert {key: e.to_dict() for key, e in store.iter_entries() if key in expected} == {
            key: source[key] for key in expected
        }
        store.put("agent:main:new", {"sessionId": "n", "updatedAt": 1})
    messages = [m for r in caplog.records if "skills prompt not loaded" in (m := r.getMessage())]
    assert messages, caplog.text
    for message in messages:  # each names every bad file, each reason on its key's line
        assert message.startswith(f"{path}: "), message
        # the file's path, then one "'key': reason" per entry, joined with "; "
        lines = re.split(r"; (?='[^']+': )", message.removeprefix(f"{path}: "))
        assert_reported(lines, expected)
        assert len(lines) == len(expected), lines
    written = json.loads(path.read_text())
    assert {key: written[key] for key in source} == source  # the promptRefs untouched
    assert (tmp_path / "outside" / "real.txt").read_text().startswith("<available_skills>")


def test_a_fifo_in_place_of_a_prompt_file_does_not_block(tmp_path: Path) -> None:
    state, _ = hostile_state(tmp_path)
    script = (
        "import sys\n"
        "from sessionstore.openclaw.statedir import discover_agents, load_agent\n"
        "print('\\n'.join(load_agent(discover_agents(sys.argv[1])[0]).warnings))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(state)],
        capture_output=True,
        text=True,
        timeout=120,  # a guard against a hang, not a measurement
        check=True,
    )
    assert "'agent:main:fifo': " in done.stdout and "not a regular file" in done.stdout


def test_prompt_paths_are_built_only_from_sha256_digests(tmp_path: Path) -> None:
    prompts = PromptBlobs(tmp_path)
    for bad in ("../" * 8 + "etc/passwd", "A" * 64, "a" * 63, "a" * 64 + "\n"):
        with pytest.raises(ValueError, match="not a sha256 digest"):
            prompts.path(bad)
    assert prompts.path("a" * 64) == blob_path(tmp_path, "a" * 64)


def test_json_twin_never_writes_through_a_link_in_the_way(tmp_path: Path) -> None:
    """A symbolic link planted where the prompt file goes is left alone; the prompt is
    kept inline, which OpenClaw reads as well."""
    outside = tmp_path / "outside.txt"
    outside.write_text("not yours")
    sessions = tmp_path / "sessions"
    link = blob_path(sessions, ref_of(PROMPT)["hash"])
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    path = sessions / "sessions.json"
    with open_store(path) as store:
        store.put(KEY, entry(1, {"prompt": PROMPT}))
    assert outside.read_text() == "not yours" and link.is_symlink()
    assert json.loads(path.read_text())[KEY]["skillsSnapshot"] == {"prompt": PROMPT}
    with open_store(path) as store:
        assert store.get(KEY) == SessionEntry.from_dict(entry(1, {"prompt": PROMPT}))


def test_the_cli_prints_each_bad_prompt_file_as_a_warning(tmp_path: Path) -> None:
    state, expected = hostile_state(tmp_path / "state")
    target = f"sqlite:///{tmp_path / 'sessions.db'}"
    done = CliRunner().invoke(app, ["migrate", "--state-dir", str(state), "--to", target])
    assert done.exit_code == 0, done.output
    warnings = [line for line in done.output.splitlines() if ": warning: " in line]
    assert len(warnings) == len(expected), done.output
    assert_reported([line.partition(": warning: ")[2] for line in warnings], expected)

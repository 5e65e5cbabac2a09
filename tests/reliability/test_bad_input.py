"""Bad input in a ``sessions.json``: entries OpenClaw keeps, lone UTF-16 surrogates,
FIFOs, devices, huge and deeply nested files. Each gets one clear error (or is kept),
never a crash, a hang or a changed file."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sessionstore import CorruptStoreError, InvalidEntryError, StoreUnavailableError, open_store
from sessionstore.backends.jsonfile import JsonFileStore
from sessionstore.openclaw.statedir import read_store_file
from sessionstore.openclaw.storefile import read_store_bytes
from sessionstore.transfer import copy, export, migrate

T0 = 1_774_962_000_000
# The three entries of the issue that OpenClaw's loader keeps and sessionstore refused.
KEPT_BY_OPENCLAW: dict[str, dict[str, Any]] = {
    "agent:main:fraction": {"sessionId": "a", "updatedAt": 1796126700520.5},
    "agent:main:no-time": {"sessionId": "b"},
    "agent:main:negative": {"sessionId": "c", "updatedAt": T0, "inputTokens": -5},
}


def _state_dir(tmp_path: Path, entries: dict[str, Any]) -> Path:
    sessions = tmp_path / "state" / "agents" / "main" / "sessions"
    sessions.mkdir(parents=True)
    # ensure_ascii: lone surrogates are written as escapes, as JSON.stringify does
    (sessions / "sessions.json").write_text(json.dumps(entries, indent=2))
    return tmp_path / "state"


def _fingerprint(path: Path) -> tuple[int, int, bytes]:
    st = path.lstat()
    return st.st_ino, st.st_mtime_ns, path.read_bytes() if path.is_file() else b""


# -- item 4: entries OpenClaw keeps ------------------------------------------------


@pytest.mark.parametrize("target", ["sqlite", "json"])
def test_entries_openclaw_keeps_survive_migrate_and_export(tmp_path: Path, target: str) -> None:
    state = _state_dir(tmp_path, KEPT_BY_OPENCLAW)
    url = str(tmp_path / ("out.db" if target == "sqlite" else "out/sessions.json"))
    report = migrate(state, url)
    [agent] = report.agents
    assert agent.rejected == [] and agent.imported == 3 and report.ok
    out = tmp_path / "exported.json"
    assert export(url, out=out).ok
    assert json.loads(out.read_text()) == KEPT_BY_OPENCLAW


def test_values_openclaw_resets_on_load_are_normalised_as_it_does(tmp_path: Path) -> None:
    entries = {
        "agent:main:text-time": {"sessionId": "d", "updatedAt": "yesterday"},
        "agent:main:padded": {"sessionId": " e ", "updatedAt": 1, "sessionFile": 7},
    }
    state = _state_dir(tmp_path, entries)
    [agent] = migrate(state, tmp_path / "out.db").agents
    assert agent.rejected == [] and agent.imported == 2
    with open_store(tmp_path / "out.db") as store:
        assert store.get("agent:main:text-time").to_dict() == {"sessionId": "d", "updatedAt": 0}  # type: ignore[union-attr]
        assert store.get("agent:main:padded").to_dict() == {"sessionId": "e", "updatedAt": 1}  # type: ignore[union-attr]


def test_unsafe_session_ids_are_still_refused_and_reported(tmp_path: Path) -> None:
    # OpenClaw drops the first and keeps the second without its sessionId; sessionstore
    # needs a sessionId that is a safe file name, so it refuses both, by key.
    entries = {
        "agent:main:escape": {"sessionId": "../../etc/passwd", "updatedAt": 1},
        "agent:main:colon": {"sessionId": "a:b", "updatedAt": 1},
        "agent:main:ok": {"sessionId": "ok", "updatedAt": 1},
    }
    state = _state_dir(tmp_path, entries)
    [agent] = migrate(state, tmp_path / "out.db", accept_rejected=True).agents
    assert sorted(key for key, _ in agent.rejected) == ["agent:main:colon", "agent:main:escape"]
    assert agent.imported == 1


# -- item 5: lone UTF-16 surrogates ---------------------------------------------------


def test_an_entry_with_lone_surrogates_migrates_and_copies_with_the_rest(tmp_path: Path) -> None:
    entries = {
        "agent:main:cut": {"sessionId": "cut", "updatedAt": 2, "label": "cut \ud83d"},
        "agent:main:good": {"sessionId": "good", "updatedAt": 1, "label": "ok"},
    }
    state = _state_dir(tmp_path, entries)
    for name in ("a.db", "a/sessions.json"):
        report = migrate(state, tmp_path / name)
        assert report.ok and report.agents[0].imported == 2, report.to_dict()
    assert copy(tmp_path / "a.db", tmp_path / "b.db").ok
    assert copy(tmp_path / "b.db", tmp_path / "c/sessions.json").ok
    for name in ("a.db", "b.db", "a/sessions.json", "c/sessions.json"):
        with open_store(tmp_path / name) as store:
            assert {k: e.to_dict() for k, e in store.iter_entries()} == entries, name


# -- item 9: files that are not regular, or too large ---------------------------------


def _in_child(call: Callable[[], object]) -> str:
    """What ``call`` returns or raises, run in a child process; "blocked" if it has not
    answered within a minute (the child is then killed, so a hang cannot hang the run)."""
    parent, child = multiprocessing.Pipe()

    def run() -> None:
        try:
            child.send(repr(call()))
        except Exception as exc:  # the error is the answer
            child.send(f"{type(exc).__name__}: {exc}")

    process = multiprocessing.get_context("fork").Process(target=run)
    process.start()
    try:
        return str(parent.recv()) if parent.poll(60) else "blocked"
    finally:
        process.kill()
        process.join()


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    state = _state_dir(tmp_path, {})
    fifo = state / "agents" / "main" / "sessions" / "sessions.json"
    fifo.unlink()
    os.mkfifo(fifo)  # no writer ever opens it: a blocking open would wait forever
    refused = f"StoreUnavailableError: {fifo} is a FIFO, not a regular file; it was left untouched"
    assert _in_child(lambda: read_store_file(fifo)) == refused
    assert _in_child(lambda: JsonFileStore(fifo).get("agent:main:main")) == refused
    assert (
        _in_child(lambda: JsonFileStore(fifo).put("agent:main:main", {"sessionId": "s"})) == refused
    )

    def migrated() -> object:
        [agent] = migrate(state, tmp_path / "out.db").agents
        return (agent.status.value, agent.error)

    assert _in_child(migrated) == repr(("FAILED", refused.partition(": ")[2]))
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_a_symlink_to_dev_zero_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "sessions.json"
    link.symlink_to("/dev/zero")
    with pytest.raises(StoreUnavailableError, match="a character device, not a regular file"):
        read_store_file(link)
    with pytest.raises(StoreUnavailableError, match="a character device"):
        JsonFileStore(link).count()
    with pytest.raises(StoreUnavailableError, match="a character device"):
        JsonFileStore(link).put("agent:main:main", {"sessionId": "s"})
    assert link.is_symlink()


#: The address space of the child that opens a 3 GiB file: reading it whole cannot fit.
CHILD_ADDRESS_SPACE = 320 * 1024 * 1024
#: At most this much may be read (``rchar`` of ``/proc/self/io``) while refusing it.
READ_AT_MOST = 16 * 1024**2

_REFUSE_HUGE = textwrap.dedent(
    """
    import json, resource, sys
    from sessionstore import CorruptStoreError
    from sessionstore.backends.jsonfile import JsonFileStore
    from sessionstore.openclaw.statedir import read_store_file

    def read_so_far():
        with open("/proc/self/io") as fh:
            return int(next(line for line in fh if line.startswith("rchar:")).split()[1])

    path, limit = sys.argv[1], int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    errors, read = [], []
    for call in (lambda: read_store_file(path), lambda: JsonFileStore(path).get("agent:main:main")):
        start = read_so_far()
        try:
            call()
        except CorruptStoreError as exc:
            errors.append(str(exc))
        read.append(read_so_far() - start)
    print(json.dumps({"errors": errors, "read": read}))
    """
)


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "sessions.json"
    with open(path, "wb") as fh:  # sparse: 3 GB of holes, no disk used
        fh.truncate(3 * 1024**3)
    before = path.stat().st_mtime_ns
    # In a child whose address space cannot hold the file, counting the bytes it reads.
    done = subprocess.run(
        [sys.executable, "-c", _REFUSE_HUGE, str(path), str(CHILD_ADDRESS_SPACE)],
        capture_output=True,
        text=True,
        timeout=120,  # a safety net only
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    [direct, twin] = result["errors"]
    assert re.search(r"3,221,225,472 bytes, over the limit", direct), direct
    assert "over the limit of 2,147,483,648" in twin, twin
    assert all(n < READ_AT_MOST for n in result["read"]), result["read"]  # refused unread
    assert path.stat().st_mtime_ns == before


def test_the_size_limit_can_be_set(tmp_path: Path) -> None:
    path = tmp_path / "sessions.json"
    with open(path, "wb") as fh:
        fh.truncate(4096)  # a sparse file over a small limit
    with pytest.raises(CorruptStoreError, match="4,096 bytes, over the limit of 1,000"):
        read_store_file(path, max_bytes=1000)
    with pytest.raises(CorruptStoreError, match=r"over the limit of 1,000 .*max_store_bytes"):
        JsonFileStore(path, max_store_bytes=1000).put("agent:main:main", {"sessionId": "s"})
    assert path.stat().st_size == 4096 and path.read_bytes() == bytes(4096)
    path.write_text('{"agent:main:main": {"sessionId": "s"}}')
    assert read_store_bytes(path, max_bytes=1000) == path.read_bytes()


# -- item 11: deep nesting --------------------------------------------------------------


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_a_file_nested_too_deep_is_a_corrupt_store(tmp_path: Path, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    state = _state_dir(tmp_path, {})
    path = state / "agents" / "main" / "sessions" / "sessions.json"
    path.write_text(opener * 100_000 + closer * 100_000)
    before = _fingerprint(path)
    report = migrate(state, tmp_path / "out.db")
    [agent] = report.agents
    assert not report.ok and agent.status == "FAILED"
    assert agent.error == (
        f"{path} is not valid JSON (arrays or objects nested too deeply to parse); "
        "it was left untouched"
    )
    store = JsonFileStore(path)
    with pytest.raises(CorruptStoreError, match="nested too deeply"):
        store.get("agent:main:main")
    with pytest.raises(CorruptStoreError, match="nested too deeply"):
        store.put("agent:main:main", {"sessionId": "s"})
    assert _fingerprint(path) == before


def test_a_deeply_nested_entry_is_refused_alone(tmp_path: Path) -> None:
    deep = "[" * 500 + "]" * 500  # parses, but deeper than an entry may be
    good = {"sessionId": "good", "updatedAt": 1}
    state = _state_dir(tmp_path, {})
    path = state / "agents" / "main" / "sessions" / "sessions.json"
    path.write_text(
        '{"agent:main:deep": {"sessionId": "deep", "updatedAt": 1, "x": ' + deep + "},"
        ' "agent:main:good": ' + json.dumps(good) + "}"
    )
    before = _fingerprint(path)
    [agent] = migrate(state, tmp_path / "out.db", accept_rejected=True).agents
    assert agent.imported == 1
    assert agent.rejected == [
        ("agent:main:deep", "entry: Value error, x: nested deeper than 128 levels")
    ]
    with JsonFileStore(path) as store:
        assert [key for key, _ in store.iter_entries()] == ["agent:main:good"]
    assert _fingerprint(path) == before
    with pytest.raises(InvalidEntryError, match="nested deeper"):
        JsonFileStore(tmp_path / "other.json").put(
            "k", json.loads('{"sessionId": "s", "x": ' + deep + "}")
        )

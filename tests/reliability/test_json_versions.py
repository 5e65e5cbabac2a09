"""The JSON twin's versions (``sessions.json.versions``): they never repeat for a key,
also when OpenClaw rewrites ``sessions.json`` between our writes, when the sidecar is
missing, corrupt or not a file, and when a write dies between the sidecar and the file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

from sessionstore import SessionEntry, StaleEntryError
from sessionstore.backends.jsonfile import JsonFileStore
from sessionstore.openclaw.storefile import serialise_store

T0 = 1_774_962_000_000
A, B = "agent:main:a", "agent:main:b"


def entry(label: str) -> SessionEntry:
    return SessionEntry.from_dict({"sessionId": "s", "updatedAt": T0, "label": label})


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "sessions.json"


def openclaw_writes(path: Path, changes: dict[str, object]) -> None:
    """Rewrite sessions.json as OpenClaw does (temp file, rename), with no lock."""
    raw = orjson.loads(path.read_bytes())
    raw.update(changes)
    tmp = path.with_name(f"{path.name}.openclaw.tmp")
    tmp.write_bytes(serialise_store(raw))
    os.replace(tmp, path)


def test_an_entry_openclaw_changed_gets_a_version_never_handed_out(path: Path) -> None:
    with JsonFileStore(path) as store:
        seen = [store.put(A, entry("a")), store.put(A, entry("b"))]
        kept = store.put(B, entry("untouched"))
        openclaw_writes(path, {A: entry("a").to_dict()})  # the first entry again
        external = store.version(A)
        assert external not in seen
        assert store.version(B) == kept  # rewritten unchanged: same version
        with pytest.raises(StaleEntryError):
            store.put(A, entry("lost"), expected_version=seen[0])
        again = store.put(A, entry("a"), expected_version=external)
        assert again not in [*seen, external]
        assert store.version(B) == kept
        assert store.get(A) == entry("a")


@pytest.mark.parametrize("damage", ["missing", "garbage", "wrong shape", "fifo"])
def test_a_lost_or_damaged_sidecar_loses_nothing_and_is_rebuilt(path: Path, damage: str) -> None:
    sidecar = path.with_name("sessions.json.versions")
    with JsonFileStore(path) as store:
        seen = {A: [store.put(A, entry("a"))], B: [store.put(B, entry("b"))]}
    sidecar.unlink()
    if damage == "garbage":
        sidecar.write_bytes(b"\x00not json{")
    elif damage == "wrong shape":
        sidecar.write_bytes(b'{"next": "x", "entries": []}')
    elif damage == "fifo":
        os.mkfifo(sidecar)
    with JsonFileStore(path) as store:
        assert dict(store.iter_entries()) == {A: entry("a"), B: entry("b")}
        for key in (A, B):
            assert store.version(key) not in seen[key]
            seen[key].append(store.version(key))
        new = store.put(A, entry("a"), expected_version=store.version(A))
        assert new not in seen[A]
        assert store.version(B) == seen[B][-1]
    assert sidecar.is_file() and orjson.loads(sidecar.read_bytes())["entries"].keys() == {A, B}


def test_a_write_that_dies_between_sidecar_and_file_repeats_no_version(path: Path) -> None:
    """The child may write small files only (RLIMIT_FSIZE): the sidecar lands, the
    larger sessions.json does not."""
    with JsonFileStore(path) as store:
        seen = {A: [store.put(A, entry("a"))], B: [store.put(B, entry("b"))]}
    before = path.read_bytes()
    child = textwrap.dedent(
        f"""
        import resource, signal
        from sessionstore import SessionEntry, StoreUnavailableError
        from sessionstore.backends.jsonfile import JsonFileStore
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        big = SessionEntry.from_dict({{"sessionId": "s", "updatedAt": 1, "label": "x" * 60000}})
        with JsonFileStore({str(path)!r}) as store:
            resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
            try:
                store.put({A!r}, big)
            except StoreUnavailableError as exc:
                print("refused:", exc)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", child],
        capture_output=True,
        text=True,
        timeout=120,  # a safety net only
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "refused: cannot write" in done.stdout
    assert path.read_bytes() == before  # the put was not acknowledged and did not land
    with JsonFileStore(path) as store:
        assert store.get(A) == entry("a")
        assert store.version(B) == seen[B][-1]
        assert store.version(A) not in seen[A]
        seen[A].append(store.version(A))
        assert store.put(A, entry("a")) not in seen[A]


def test_a_write_whose_versions_file_cannot_be_written_is_forgotten(path: Path) -> None:
    """The child may not write a byte (RLIMIT_FSIZE 1): the sidecar, written first,
    fails. The same store must then read the file as it is, not the refused change."""
    with JsonFileStore(path) as store:
        store.put(A, entry("a"))
    before = path.read_bytes()
    child = textwrap.dedent(
        f"""
        import resource, signal
        from sessionstore import StoreUnavailableError
        from sessionstore.backends.jsonfile import JsonFileStore
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        with JsonFileStore({str(path)!r}) as store:
            resource.setrlimit(resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))
            try:
                store.put({B!r}, {{"sessionId": "b", "updatedAt": 2}})
            except StoreUnavailableError as exc:
                print("refused:", "versions" in str(exc))
            resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
            print("after:", store.get({B!r}), store.count())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", child],
        capture_output=True,
        text=True,
        timeout=120,  # a safety net only
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "refused: True" in done.stdout
    assert "after: None 1" in done.stdout  # not the write that failed
    assert path.read_bytes() == before

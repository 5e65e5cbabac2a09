"""A writer killed with SIGKILL at a random moment loses no acknowledged write and
leaves a store that opens, checks clean and takes the next writer at once.

Each backend runs 50 trials on one store, so the store recovers from a kill again and
again while it grows. A trial forks a writer (which opens its own store), waits for
its first acknowledged put plus a random 10-150 ms, kills it, and checks the store.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from sessionstore import SessionEntry, StoreLockedError, open_store, upgrade
from sessionstore.backends.jsonfile import LOCK_TIMEOUT_S
from sessionstore.backends.sql import SqlStore
from tests.reliability.workloads import (
    BASE_MS,
    COUNTER_KEY,
    crash_entry,
    crash_key,
    crash_writer,
    paused_json_writer,
)

TRIALS = 50
SEED = 20_260_331
#: A bound on how long a freshly forked writer may take to acknowledge its first put or
#: to reach its pause point, so that a broken test fails instead of hanging. The
#: writers wait for no lock (their lock timeout is 0): a lock that is not taken over at
#: once shows up as the writer's StoreLockedError, not as this timeout.
FIRST_ACK_TIMEOUT_S = LOCK_TIMEOUT_S + 20
#: The lock timeout of every writer after a kill: a single try at the lock, no waiting,
#: so a write succeeds only if the lock the killed writer held is free at once.
NO_WAIT = 0.0
KEY_PREFIX = crash_key(0)[:-1]

fork = multiprocessing.get_context("fork")


@pytest.fixture(params=["sqlite", "json"])
def crash_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store on SQLite (upgraded) or the JSON twin."""
    if request.param == "json":
        return str(tmp_path / "agents" / "main" / "sessions" / "sessions.json")
    url = f"sqlite:///{tmp_path / 'sessions.db'}"
    upgrade(url)
    return url


def _ack(message: object) -> int:
    """An acknowledged index from the writer; a string is the writer's traceback."""
    if isinstance(message, str):
        pytest.fail(f"the writer failed:\n{message}")
    assert isinstance(message, int), message
    return message


def _write_until_killed(target: str, delay_s: float) -> list[int]:
    """Fork a :func:`crash_writer`, kill it ``delay_s`` after its first acknowledged put,
    and return every index it acknowledged."""
    reader, writer = fork.Pipe(duplex=False)
    with closing(reader):
        proc = fork.Process(target=crash_writer, args=(target, writer, NO_WAIT), daemon=True)
        proc.start()
        writer.close()
        try:
            if not reader.poll(FIRST_ACK_TIMEOUT_S):
                pytest.fail(f"the writer acknowledged nothing in {FIRST_ACK_TIMEOUT_S:g}s")
            acks = [_ack(reader.recv())]
            deadline = time.monotonic() + delay_s
            while (remaining := deadline - time.monotonic()) > 0:
                if reader.poll(remaining):
                    acks.append(_ack(reader.recv()))
            assert proc.pid is not None
            os.kill(proc.pid, signal.SIGKILL)
            while True:  # what was sent before the kill is still in the pipe
                try:
                    acks.append(_ack(reader.recv()))
                except EOFError:
                    break
        finally:
            if proc.is_alive():
                proc.kill()
            proc.join()  # reaped: the pid in a left-over lock file now names no process
        assert proc.exitcode == -signal.SIGKILL, "the writer stopped before it was killed"
        proc.close()
    return acks


@dataclass
class _Progress:
    """What the trials so far have established."""

    counter: int = 0  # keys the writers finished (the counter entry's totalTokens)
    last_ack: int = -1


def _check_store(target: str, progress: _Progress) -> None:
    """The store opens, is consistent with every acknowledgement, and (SQLite) passes
    ``PRAGMA integrity_check``; updates ``progress.counter``."""
    with open_store(target) as store:
        if isinstance(store, SqlStore):
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalars().all() == ["ok"]
        stored = dict(store.iter_entries())
        assert store.count() == len(stored)

    counter_entry = stored.pop(COUNTER_KEY, None)
    counter = 0 if counter_entry is None else counter_entry.total_tokens or 0
    assert counter_entry in (
        None,
        SessionEntry(session_id="counter", updated_at=BASE_MS, total_tokens=counter),
    )
    last = progress.last_ack
    # The counter advances after the ack of its key: it is at the last ack or one past it.
    assert last <= counter <= last + 1, (last, counter)
    assert all(key.startswith(KEY_PREFIX) for key in stored), sorted(stored)
    present = {int(key.removeprefix(KEY_PREFIX)) for key in stored}
    required = set(range(max(last, counter - 1) + 1))
    # Every acknowledged or counted key is there; the only other one may be the key
    # whose put was in flight when the writer was killed.
    assert required <= present <= required | {counter}, sorted(present ^ required)
    for i in present:
        assert stored[crash_key(i)] == crash_entry(i), i
    progress.counter = counter


def _check_json_file(path: Path) -> None:
    """The file parses as one complete JSON object holding only the writer's keys."""
    raw = json.loads(path.read_bytes())
    assert isinstance(raw, dict)
    for key, value in raw.items():
        assert key == COUNTER_KEY or key.startswith(KEY_PREFIX), key
        assert isinstance(value, dict), key


@pytest.mark.slow
def test_killed_writers_lose_no_acknowledged_write(crash_target: str) -> None:
    """50 writers in turn are SIGKILLed at random moments on one store: after each,
    the store opens, SQLite's integrity check says ok, the JSON file is a complete
    object, every acknowledged key is present with its exact content, and the next
    writer is never held up by a lock the killed one held: its lock timeout is 0, so
    it would fail with StoreLockedError before its first acknowledgement."""
    rng = random.Random(SEED)
    json_path = None if "://" in crash_target else Path(crash_target)
    progress = _Progress()
    for trial in range(TRIALS):
        acks = _write_until_killed(crash_target, rng.uniform(0.010, 0.150))
        # Each writer resumes at the counter and acknowledges consecutive keys.
        assert acks == list(range(progress.counter, progress.counter + len(acks))), trial
        progress.last_ack = acks[-1]
        if json_path is not None:
            _check_json_file(json_path)
        _check_store(crash_target, progress)

    assert progress.counter >= TRIALS
    if json_path is not None:
        left = sorted(p.name for p in json_path.parent.iterdir() if p.name.endswith(".tmp"))
        assert len(left) <= 1, left  # at most the last killed writer's, not yet swept


@pytest.fixture
def json_path(tmp_path: Path) -> Path:
    """A JSON twin holding one entry."""
    path = tmp_path / "agents" / "main" / "sessions" / "sessions.json"
    with open_store(path) as store:
        store.put("agent:main:main", SessionEntry(session_id="main", updated_at=BASE_MS))
    return path


def _kill_paused_writer(
    path: Path, key: str, at: str, while_paused: Callable[[], None] | None = None
) -> None:
    """Fork a :func:`paused_json_writer`, wait until it pauses at ``at``, call
    ``while_paused`` (if given), then SIGKILL it."""
    reader, writer = fork.Pipe(duplex=False)
    with closing(reader):
        proc = fork.Process(
            target=paused_json_writer, args=(str(path), writer, key, at), daemon=True
        )
        proc.start()
        writer.close()
        try:
            assert reader.poll(FIRST_ACK_TIMEOUT_S), f"the writer never reached {at!r}"
            assert reader.recv() == "paused"
            if while_paused is not None:
                while_paused()
            assert proc.pid is not None
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            if proc.is_alive():
                proc.kill()
            proc.join()
        assert proc.exitcode == -signal.SIGKILL
        proc.close()


def _put_without_waiting(path: Path, name: str) -> None:
    """Put ``agent:main:<name>`` with a lock timeout of 0: one try at the lock and no
    wait, so it raises StoreLockedError unless the lock is free at that moment."""
    entry = SessionEntry(session_id=name, updated_at=BASE_MS)
    with open_store(path, lock_timeout=NO_WAIT) as store:
        store.put(f"agent:main:{name}", entry)
        assert store.get(f"agent:main:{name}") == entry


def _assert_locked_out(path: Path) -> None:
    """While the paused writer holds the lock, a put that does not wait is refused:
    so :func:`_put_without_waiting` succeeds only on a lock that is free."""
    before = path.read_bytes()
    with pytest.raises(StoreLockedError):
        _put_without_waiting(path, "refused")
    assert path.read_bytes() == before


def test_lock_of_a_killed_json_writer_is_taken_over_at_once(json_path: Path) -> None:
    """A JSON-twin writer killed while it holds the lock leaves the lock file behind,
    naming its pid; the next writer gets the lock at once (the pid is dead) instead of
    waiting the 10 s lock timeout: with a lock timeout of 0 it takes the lock on its
    first try, where it is refused while the writer is alive. The killed writer's
    unfinished update is not in the file, and no lock file is left after the next."""
    lock = Path(f"{json_path}.lock")
    for round_ in range(3):
        _kill_paused_writer(
            json_path, f"agent:main:held{round_}", "locked", lambda: _assert_locked_out(json_path)
        )
        assert lock.exists()

        _put_without_waiting(json_path, f"after{round_}")

        assert not lock.exists()
        raw = json.loads(json_path.read_bytes())
        assert sorted(raw) == sorted(
            ["agent:main:main", *(f"agent:main:after{n}" for n in range(round_ + 1))]
        )


def test_a_writer_killed_while_taking_the_lock_does_not_block_the_next(
    json_path: Path,
) -> None:
    """A writer killed while taking the lock (holding the directory's flock, its lock
    file written but not linked into place) leaves no lock file, and the next writer
    is not held up: it takes the lock on its first try (a lock timeout of 0), where it
    is refused while the writer is alive."""
    _kill_paused_writer(
        json_path, "agent:main:held", "taking-lock", lambda: _assert_locked_out(json_path)
    )
    assert not Path(f"{json_path}.lock").exists()

    _put_without_waiting(json_path, "after")

    assert sorted(json.loads(json_path.read_bytes())) == ["agent:main:after", "agent:main:main"]
    assert not Path(f"{json_path}.lock").exists()


def test_temp_file_of_a_killed_json_writer_is_cleaned_up(json_path: Path) -> None:
    """A writer killed between writing its temp file and renaming it over
    ``sessions.json`` leaves the file intact, and the next write removes the temp file."""
    before = json_path.read_bytes()
    _kill_paused_writer(json_path, "agent:main:held", "temp-written")
    assert json_path.read_bytes() == before

    _put_without_waiting(json_path, "after")

    assert sorted(json.loads(json_path.read_bytes())) == ["agent:main:after", "agent:main:main"]
    left = sorted(p.name for p in json_path.parent.iterdir() if p.name.endswith(".tmp"))
    assert left == [], left

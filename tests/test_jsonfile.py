"""The JSON twin keeps OpenClaw's exact file format, writes atomically and privately,
skips unchanged writes, notices other writers, and never overwrites a file it
cannot read."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sessionstore import (
    CorruptStoreError,
    SessionEntry,
    StoreLockedError,
    StoreUnavailableError,
    open_store,
)
from sessionstore.backends.jsonfile import JsonFileStore
from sessionstore.openclaw import writelock
from sessionstore.openclaw.writelock import STORE_STALE_S, start_time
from tests.lock_holder import SIGNAL_TIMEOUT_S, lock_held, watching_for_a_wait

T0 = 1_774_962_000_000

# What OpenClaw's JSON.stringify(store, null, 2) writes for this store.
OPENCLAW_TEXT = """{
  "agent:main:main": {
    "updatedAt": 1774962000000,
    "sessionId": "3f2b9c1e-7a44-4c0e-9d1f-2b6f0a8c5e11",
    "lastThreadId": 42,
    "deliveryContext": {
      "channel": "telegram",
      "threadId": 42
    },
    "skills": [],
    "origin": {},
    "label": "Grüße 👋"
  },
  "agent:main:telegram:group:-100:topic:7": {
    "sessionId": "9c0d6a7e",
    "updatedAt": 1774958400000,
    "lastThreadId": "7",
    "estimatedCostUsd": 0.125
  }
}"""


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "agents" / "main" / "sessions" / "sessions.json"


def _open(path: Path, lock_timeout: float | None = None) -> JsonFileStore:
    store = open_store(path, lock_timeout=lock_timeout)
    assert isinstance(store, JsonFileStore)
    return store


def test_reads_openclaw_files_and_writes_the_same_format(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(OPENCLAW_TEXT, encoding="utf-8")
    with _open(path) as store:
        assert store.count() == 2
        main = store.get("agent:main:main")
        assert main is not None and main.last_thread_id == 42
        topic = store.get("agent:main:telegram:group:-100:topic:7")
        assert topic is not None and topic.last_thread_id == "7"
        # Rewriting an entry with the same content keeps the file byte for byte.
        store.put("agent:main:telegram:group:-100:topic:7", topic)
        assert path.read_text(encoding="utf-8") == OPENCLAW_TEXT


def test_new_file_is_two_space_indented_without_trailing_newline(path: Path) -> None:
    with _open(path) as store:
        store.put(
            "agent:main:main",
            SessionEntry.from_dict(
                {"sessionId": "s1", "updatedAt": T0, "nested": {"a": [1, "ü"]}, "empty": {}}
            ),
        )
    assert path.read_text(encoding="utf-8") == (
        '{\n  "agent:main:main": {\n    "sessionId": "s1",\n    "updatedAt": 1774962000000,\n'
        '    "nested": {\n      "a": [\n        1,\n        "ü"\n      ]\n    },\n'
        '    "empty": {}\n  }\n}'
    )


def test_files_and_directories_are_private(path: Path) -> None:
    with _open(path) as store:
        store.put("k", SessionEntry(session_id="s", updated_at=T0))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # no temp file and no lock file left
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "sessions.json",
        "sessions.json.versions",
    ]
    assert stat.S_IMODE(path.with_name("sessions.json.versions").stat().st_mode) == 0o600


def test_unchanged_writes_are_skipped(path: Path) -> None:
    with _open(path) as store:
        entry = SessionEntry(session_id="s", updated_at=T0)
        store.put("k", entry)
        before = path.stat()
        store.put("k", entry)
        store.put_many([("k", entry)])
        store.update("k", lambda e: e)
        after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_changes_by_another_writer_are_seen(path: Path) -> None:
    with _open(path) as first, _open(path) as second:
        first.put("k", SessionEntry(session_id="s", updated_at=T0))
        assert second.get("k") is not None
        second.put("k2", SessionEntry(session_id="s2", updated_at=T0))
        first.put("k3", SessionEntry(session_id="s3", updated_at=T0))  # re-reads under the lock
        assert second.count() == 3
        path.write_text('{"k": {"sessionId": "edited", "updatedAt": 5}}', encoding="utf-8")
        assert first.get("k").session_id == "edited"  # type: ignore[union-attr]
        assert first.count() == 1


CORRUPT = {
    "empty": b"",
    "truncated": OPENCLAW_TEXT.encode()[:-40],
    "invalid utf-8": b'{"k": {"sessionId": "\xff\xfe", "updatedAt": 1}}',
    "array root": b'[{"sessionId": "s", "updatedAt": 1}]',
    "comments": b'{\n  // hand edit\n  "k": {"sessionId": "s", "updatedAt": 1}\n}',
    "trailing comma": b'{"k": {"sessionId": "s", "updatedAt": 1},}',
    "null root": b"null",
    "duplicate keys": b'{"k": {"sessionId": "a", "updatedAt": 1}, "k": {"sessionId": "b"}}',
    "NaN literal": b'{"k": {"sessionId": "s", "updatedAt": 1, "cost": NaN}}',
    "two documents": b'{"k": {"sessionId": "s", "updatedAt": 1}}{}',
}


@pytest.mark.parametrize("content", CORRUPT.values(), ids=CORRUPT.keys())
def test_corrupt_files_are_reported_and_never_overwritten(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with _open(path) as store:
        with pytest.raises(CorruptStoreError, match="left untouched"):
            store.get("k")
        with pytest.raises(CorruptStoreError):
            store.put("k", SessionEntry(session_id="s", updated_at=T0))
        with pytest.raises(CorruptStoreError):
            store.patch("k", {"label": "x"})
        with pytest.raises(CorruptStoreError):
            store.delete("k")
    assert path.read_bytes() == content


def test_a_utf8_bom_is_accepted(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xef\xbb\xbf" + OPENCLAW_TEXT.encode())
    with _open(path) as store:
        assert store.count() == 2


def test_invalid_entries_are_skipped_but_kept_in_the_file(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(
        '{"bad": {"sessionId": "../etc/passwd", "updatedAt": 1}, "odd": 7,'
        ' "good": {"sessionId": "s", "updatedAt": 1}}',
        encoding="utf-8",
    )
    with caplog.at_level(logging.WARNING), _open(path) as store:
        assert store.get("bad") is None
        assert [item.key for item in store.list().items] == ["good"]
        store.put("new", SessionEntry(session_id="n", updated_at=2))
    assert "'bad'" in caplog.text and "'odd'" in caplog.text
    text = path.read_text(encoding="utf-8")
    assert '"../etc/passwd"' in text and '"odd": 7' in text


def test_a_held_lock_is_waited_for_then_times_out_with_a_clear_error(path: Path) -> None:
    with _open(path, lock_timeout=0.2) as store:
        store.put("k", SessionEntry(session_id="s", updated_at=T0))
        before = path.read_bytes()
        lock_file = Path(f"{path}.lock")
        with (
            lock_held(path) as holder,
            watching_for_a_wait(lock_file) as waited,
            pytest.raises(StoreLockedError, match=rf"sessions\.json\.lock.*pid {holder.pid}"),
        ):
            store.put("k", SessionEntry(session_id="changed", updated_at=T0))
        assert waited.is_set()
        assert path.read_bytes() == before
        assert store.get("k").session_id == "s"  # type: ignore[union-attr]
    assert not lock_file.exists()


def test_an_unwritable_location_is_reported(tmp_path: Path) -> None:
    (tmp_path / "agents").write_text("a file where a directory should be")
    with _open(tmp_path / "agents" / "sessions.json") as store:
        with pytest.raises(StoreUnavailableError, match="cannot read"):
            store.get("k")
        with pytest.raises(StoreUnavailableError, match="cannot"):
            store.put("k", SessionEntry(session_id="s", updated_at=T0))


def test_no_lock_file_is_left_behind(path: Path) -> None:
    def failing(entry: SessionEntry | None) -> SessionEntry:
        raise ValueError("the updater failed")

    with _open(path) as store:
        entry = SessionEntry(session_id="s", updated_at=T0)
        store.put("k", entry)
        store.put_many([("k2", entry), ("k3", entry)])
        store.patch("k", {"label": "x"})
        store.update("k2", lambda e: entry)
        with pytest.raises(ValueError, match="updater failed"):
            store.update("k3", failing)
        store.delete("k3")
        store.transcripts.append("k", [{"type": "message", "message": {"role": "user"}}])
    assert not [p.name for p in path.parent.iterdir() if p.name.endswith(".lock")]


def test_a_killed_holders_lock_is_taken_over_at_once(path: Path) -> None:
    lock_file = Path(f"{path}.lock")
    with lock_held(path) as holder:
        holder.kill()
        holder.wait()
    assert lock_file.exists()  # left behind by the killed process, naming its pid
    with _open(path, lock_timeout=0) as store:  # one try, no wait
        store.put("k", SessionEntry(session_id="s", updated_at=T0))
        assert store.get("k") is not None
    assert not lock_file.exists()


def test_a_live_holder_is_waited_for(path: Path) -> None:
    """The holder writes the file just before it releases the lock, and releases it only
    once the writer has found the lock held: a writer that did not wait (or did not
    re-read under the lock) would lose the holder's entry or its own."""
    holders_write = (path, '{"holder": {"sessionId": "h", "updatedAt": 1}}')
    lock_file = Path(f"{path}.lock")
    with (
        _open(path, lock_timeout=SIGNAL_TIMEOUT_S) as store,
        ThreadPoolExecutor(1) as pool,
    ):
        with lock_held(path, then_write=holders_write), watching_for_a_wait(lock_file) as waited:
            put = pool.submit(store.put, "k", SessionEntry(session_id="s", updated_at=T0))
            assert waited.wait(SIGNAL_TIMEOUT_S), "the writer never tried the lock"
            assert not put.done() and not path.exists()  # nothing written without the lock
        put.result()
        assert sorted(item.key for item in store.list().items) == ["holder", "k"]
    assert not lock_file.exists()


def _no_such_pid() -> int:
    return int(Path("/proc/sys/kernel/pid_max").read_text()) + 1


def _iso(seconds_ago: float) -> str:
    when = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _payload(**fields: Any) -> bytes:
    return json.dumps(fields, indent=2).encode()


@pytest.fixture
def live_pid() -> Iterator[int]:
    """A process that stays alive until the test ends."""
    with subprocess.Popen([sys.executable, "-c", "input()"], stdin=subprocess.PIPE) as child:
        yield child.pid
        child.communicate(b"\n")


#: Lock files OpenClaw itself would judge stale and remove: (payload, age of the mtime).
STALE_LOCKS: dict[str, Callable[[int], tuple[bytes, float]]] = {
    "dead pid": lambda live: (_payload(pid=_no_such_pid(), createdAt=_iso(0)), 0),
    "recycled pid": lambda live: (
        _payload(pid=live, createdAt=_iso(0), starttime=(start_time(live) or 0) + 1),
        0,
    ),
    "createdAt too old": lambda live: (_payload(pid=live, createdAt=_iso(3600)), 0),
    "garbage, old": lambda live: (b"\x00not json", 3600),
    "empty, old": lambda live: (b"", 3600),
    "no pid, too old": lambda live: (_payload(createdAt=_iso(3600)), 0),
    "another namespace, too old": lambda live: (
        _payload(pid=live, createdAt=_iso(3600), pidns="pid:[1]"),
        0,
    ),
}
#: Lock files that are held, by OpenClaw's rules and the pid namespace's.
HELD_LOCKS: dict[str, Callable[[int], tuple[bytes, float]]] = {
    "live pid": lambda live: (
        _payload(pid=live, createdAt=_iso(0), starttime=start_time(live)),
        0,
    ),
    "live pid, no starttime": lambda live: (_payload(pid=live, createdAt=_iso(0)), 0),
    "empty, fresh": lambda live: (b"", 0),
    "garbage, fresh": lambda live: (b"{", 0),
    "no pid, fresh createdAt": lambda live: (_payload(createdAt=_iso(0)), 0),
    "live pid, no createdAt, fresh": lambda live: (_payload(pid=live), 0),
    "another namespace's pid": lambda live: (
        _payload(pid=_no_such_pid(), createdAt=_iso(0), pidns="pid:[1]"),
        0,
    ),
}


def _plant_lock(path: Path, content: bytes, mtime_age: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_file = Path(f"{path}.lock")
    lock_file.write_bytes(content)
    old = time.time() - mtime_age
    os.utime(lock_file, (old, old))
    return lock_file


@pytest.mark.parametrize("make", STALE_LOCKS.values(), ids=STALE_LOCKS.keys())
def test_a_stale_lock_file_is_taken_over_at_once(
    path: Path, live_pid: int, make: Callable[[int], tuple[bytes, float]]
) -> None:
    lock_file = _plant_lock(path, *make(live_pid))
    with _open(path, lock_timeout=0) as store:  # one try, no wait
        store.put("k", SessionEntry(session_id="s", updated_at=T0))
    assert not lock_file.exists()


@pytest.mark.parametrize("make", HELD_LOCKS.values(), ids=HELD_LOCKS.keys())
def test_a_held_lock_file_is_left_alone(
    path: Path, live_pid: int, make: Callable[[int], tuple[bytes, float]]
) -> None:
    content, mtime_age = make(live_pid)
    lock_file = _plant_lock(path, content, mtime_age)
    with _open(path, lock_timeout=0) as store, pytest.raises(StoreLockedError):
        store.put("k", SessionEntry(session_id="s", updated_at=T0))
    assert lock_file.read_bytes() == content
    assert not path.exists()


def test_lone_surrogates_from_javascript_survive_a_rewrite(path: Path) -> None:
    """JavaScript strings cut inside an emoji hold lone surrogates; JSON.stringify writes
    them as escapes. They are kept, and written back the same way."""
    path.parent.mkdir(parents=True)
    path.write_text('{"k": {"sessionId": "s", "updatedAt": 1, "label": "cut \\ud83d"}}')
    with _open(path) as store:
        assert store.get("k").label == "cut \ud83d"  # type: ignore[union-attr]
        store.put("other", SessionEntry(session_id="o", updated_at=2))
    text = path.read_text(encoding="utf-8")
    assert '"label": "cut \\ud83d"' in text
    with _open(path) as store:
        assert store.count() == 2


@pytest.mark.usefixtures("no_hang")  # a FIFO opened for reading would block
@pytest.mark.parametrize("planted", ["fifo", "symlink"])
def test_something_else_in_the_lock_files_place_is_refused(path: Path, planted: str) -> None:
    path.parent.mkdir(parents=True)
    lock_file = Path(f"{path}.lock")
    if planted == "fifo":
        os.mkfifo(lock_file)
    else:
        lock_file.symlink_to(path.parent / "elsewhere")
    with _open(path, lock_timeout=0) as store, pytest.raises(StoreUnavailableError, match="lock"):
        store.put("k", SessionEntry(session_id="s", updated_at=T0))
    assert lock_file.is_symlink() or lock_file.is_fifo()
    assert not path.exists()


def test_one_store_reached_by_two_paths_is_locked_once(path: Path, tmp_path: Path) -> None:
    """The lock is this process's own by the file's real name: reached through a
    symbolic link, it is still held, not taken over as if its holder were gone."""
    path.parent.mkdir(parents=True)
    linked = tmp_path / "linked"
    linked.symlink_to(path.parent)
    with _open(path) as store, _open(linked / path.name, lock_timeout=0) as other:

        def put_through_the_link(entry: SessionEntry | None) -> SessionEntry:
            with pytest.raises(StoreLockedError):
                other.put("k2", SessionEntry(session_id="s2", updated_at=T0))
            return SessionEntry(session_id="s", updated_at=T0)

        with ThreadPoolExecutor(1) as pool:
            store.update("k", lambda e: pool.submit(put_through_the_link, e).result())
        assert [item.key for item in store.list().items] == ["k"]


def test_a_lock_another_thread_takes_as_it_is_let_go_stays_held(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread that lets go of the lock can be followed at once by another thread of
    the same process. The first must not then forget that the process holds the lock:
    a third thread took it over as an orphan of this process, and two held it."""
    path.parent.mkdir(parents=True)
    let_go, taken, first_done, third_tried = (threading.Event() for _ in range(4))
    release = writelock._release

    def release_then_wait(lock: str, identity: tuple[int, int]) -> None:
        release(lock, identity)  # the file is gone: the next thread may take the lock
        let_go.set()
        assert taken.wait(SIGNAL_TIMEOUT_S)

    monkeypatch.setattr(writelock, "_release", release_then_wait)

    def first() -> None:
        with writelock.write_lock(path, timeout=0, stale_s=STORE_STALE_S):
            pass
        first_done.set()

    def second() -> None:
        assert let_go.wait(SIGNAL_TIMEOUT_S)
        with writelock.write_lock(path, timeout=SIGNAL_TIMEOUT_S, stale_s=STORE_STALE_S):
            taken.set()
            assert third_tried.wait(SIGNAL_TIMEOUT_S)

    with ThreadPoolExecutor(2) as pool:
        running = [pool.submit(first), pool.submit(second)]
        assert first_done.wait(SIGNAL_TIMEOUT_S)
        try:
            with (
                pytest.raises(StoreLockedError, match="held by another process"),
                writelock.write_lock(path, timeout=0, stale_s=STORE_STALE_S),
            ):
                pass
        finally:
            third_tried.set()
        for done in running:
            done.result(SIGNAL_TIMEOUT_S)
    assert not Path(f"{path}.lock").exists()


def test_the_temp_files_of_killed_lock_takers_are_swept(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where no unnamed file can be made, the lock is written to a named temp file
    first; one left by a writer killed before it removed it goes at the next take, and
    a live writer's stays."""
    path.parent.mkdir(parents=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    left = path.parent / f"{path.name}.lock.{dead.stdout.strip()}.0badc0de.tmp"
    live = path.parent / f"{path.name}.lock.{os.getpid()}.0badc0de.tmp"
    for planted in (left, live):
        planted.write_text("{}")
    monkeypatch.delattr(os, "O_TMPFILE")
    with writelock.write_lock(path, timeout=0, stale_s=STORE_STALE_S):
        assert Path(f"{path}.lock").is_file()
    assert not left.exists()
    assert live.exists()
    assert not Path(f"{path}.lock").exists()

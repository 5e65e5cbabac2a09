"""The JSON twin keeps OpenClaw's exact file format, writes atomically and privately,
skips unchanged writes, notices other writers, and never overwrites a file it
cannot read."""

from __future__ import annotations

import logging
import stat
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from filelock import FileLock

from sessionstore import (
    CorruptStoreError,
    SessionEntry,
    StoreLockedError,
    StoreUnavailableError,
    open_store,
)
from sessionstore.backends.jsonfile import JsonFileStore

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
    # no temp file left; the lock file stays (an OS lock is taken on it), private too
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "sessions.json",
        "sessions.json.lock",
        "sessions.json.versions",
    ]
    assert stat.S_IMODE(path.with_name("sessions.json.versions").stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(f"{path}.lock").stat().st_mode) == 0o600


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


def test_a_held_lock_times_out_with_a_clear_error(path: Path) -> None:
    with _open(path, lock_timeout=0.2) as store:
        store.put("k", SessionEntry(session_id="s", updated_at=T0))
        before = path.read_bytes()
        with (
            FileLock(f"{path}.lock"),
            pytest.raises(StoreLockedError, match=r"sessions\.json\.lock"),
        ):
            store.put("k", SessionEntry(session_id="changed", updated_at=T0))
        assert path.read_bytes() == before
        assert store.get("k").session_id == "s"  # type: ignore[union-attr]


def test_an_unwritable_location_is_reported(tmp_path: Path) -> None:
    (tmp_path / "agents").write_text("a file where a directory should be")
    with _open(tmp_path / "agents" / "sessions.json") as store:
        with pytest.raises(StoreUnavailableError, match="cannot read"):
            store.get("k")
        with pytest.raises(StoreUnavailableError, match="cannot"):
            store.put("k", SessionEntry(session_id="s", updated_at=T0))


def test_a_dead_holders_lock_is_taken_over(path: Path) -> None:
    path.parent.mkdir(parents=True)
    with subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, f"{path}.lock"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        holder.kill()
    assert Path(f"{path}.lock").exists()  # left behind by the killed process
    with _open(path, lock_timeout=5) as store:
        store.put("k", SessionEntry(session_id="s", updated_at=T0))
        assert store.get("k") is not None


class _WaitingForLock(logging.Handler):
    """Set once filelock logs (at DEBUG, on each poll) that an attempt to take
    ``lock_file`` found it held and the caller is waiting to try again."""

    def __init__(self, lock_file: Path) -> None:
        super().__init__(logging.DEBUG)
        self.lock_file = lock_file
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if " not acquired on " in message and self.lock_file.name in message:
            self.event.set()


#: Bounds on waits for signals that come at once, so that a broken test fails instead
#: of hanging; nothing is timed.
SIGNAL_TIMEOUT_S = 60.0


def test_a_live_holder_is_waited_for(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The holder writes the file just before it releases the lock, and releases it only
    once the writer has found the lock held: a writer that did not wait (or did not
    re-read under the lock) would lose the holder's entry or its own."""
    path.parent.mkdir(parents=True)
    lock_file = Path(f"{path}.lock")
    waiting = _WaitingForLock(lock_file)
    filelock_log = logging.getLogger("filelock")
    with (
        subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(lock_file), str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        ) as holder,
        caplog.at_level(logging.DEBUG, logger="filelock"),
        _open(path, lock_timeout=SIGNAL_TIMEOUT_S) as store,
        ThreadPoolExecutor(1) as pool,
    ):
        assert holder.stdin is not None and holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        filelock_log.addHandler(waiting)
        try:
            put = pool.submit(store.put, "k", SessionEntry(session_id="s", updated_at=T0))
            assert waiting.event.wait(SIGNAL_TIMEOUT_S), "the writer never tried the lock"
            assert not put.done() and not path.exists()  # nothing written without the lock
        finally:
            filelock_log.removeHandler(waiting)
            holder.stdin.write("release\n")
            holder.stdin.close()
        put.result()
        assert sorted(item.key for item in store.list().items) == ["holder", "k"]
    assert holder.returncode == 0


# argv: the lock file, and optionally a sessions.json to write before releasing the lock
# (as another writer would). The lock is held until a line (or end of file) on stdin.
HOLD_LOCK = """
import sys
from filelock import FileLock
lock = FileLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
sys.stdin.readline()
if len(sys.argv) > 2:
    with open(sys.argv[2], "w") as fh:
        fh.write('{"holder": {"sessionId": "h", "updatedAt": 1}}')
lock.release()
"""


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

"""The twin's and the files tier's locks against OpenClaw's own.

OpenClaw 2026.3.31 takes ``sessions.json.lock`` around every store write and
``<file>.jsonl.lock`` around transcript writes (created with ``O_EXCL``, removed after).
sessionstore takes the same files the same way, so each waits for the other, neither
waits for a dead holder, and nothing is left behind (OpenClaw 2026.7.35 leaves no lock
file at all).

Nothing is timed. Each side says when it holds a lock; OpenClaw says it is waiting
once its second try at the file fails (its first failure, judged stale, would have
removed the file and its second try would have succeeded), sessionstore in its log.
OpenClaw reads its input on stdin, so it is told to go on through a FIFO.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pytest

from sessionstore import open_store
from sessionstore.openclaw.transcripts import Transcripts
from tests.interop.openclaw import OpenClaw, release_dir, result_of
from tests.lock_holder import SIGNAL_TIMEOUT_S, lock_held, watching_for_a_wait

#: Recent: OpenClaw's maintenance prunes entries idle for 30 days.
NOW = int(time.time() * 1000)
TWIN_KEY = "agent:main:twin"
OPENCLAW_KEY = "agent:main:openclaw"

#: Tells the test (once) that OpenClaw's second try at a lock file failed.
_REPORT_WAITING = """
const fsp = (await import('node:fs/promises')).default;
const realOpen = fsp.open;
let refused = 0;
fsp.open = async (file, flags, ...rest) => {
  try {
    return await realOpen.call(fsp, file, flags, ...rest);
  } catch (err) {
    if (err.code === 'EEXIST' && String(file).endsWith('.lock') && ++refused === 2) {
      emit('waiting');
    }
    throw err;
  }
};
"""
#: Waits for a line on the FIFO ``data.go``.
_WAIT_FOR_GO = """
const waitForGo = async () => {
  const fh = await (await import('node:fs/promises')).open(data.go, 'r');
  await fh.read(Buffer.alloc(16), 0, 16);
  await fh.close();
};
"""
_UPDATE = """
const path = store.resolveStorePath(undefined, { agentId: 'main' });
await store.updateSessionStore(path, (s) => { s[data.key] = data.entry; });
emit({ loaded: store.loadSessionStore(path) });
"""
_LOAD = "emit(store.loadSessionStore(data.path));"
_HOLD_THEN_UPDATE = """
const path = store.resolveStorePath(undefined, { agentId: 'main' });
await store.updateSessionStore(path, async (s) => {
  emit('holding');
  await waitForGo();
  s[data.key] = data.entry;
});
emit({ loaded: store.loadSessionStore(path) });
"""
#: OpenClaw's transcript writing: its session write lock around pi's SessionManager.
_TRANSCRIPT_WRITER = """
const { pathToFileURL } = await import('node:url');
const { acquireSessionWriteLock } = await (async () => {
  const chunk = await import(pathToFileURL(data.lockModule).href);
  return { acquireSessionWriteLock: chunk.t };
})();
const { SessionManager } = await import('@mariozechner/pi-coding-agent');
const lock = await acquireSessionWriteLock({ sessionFile: data.file });
try {
  if (data.hold) { emit('holding'); await waitForGo(); }
  SessionManager.open(data.file).appendMessage({
    role: 'assistant', content: [{ type: 'text', text: data.text }],
    api: 'openai-responses', provider: 'openclaw', model: 'delivery-mirror',
    usage: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, totalTokens: 0,
      cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, total: 0 } },
    stopReason: 'stop', timestamp: Date.now(),
  });
} finally {
  await lock.release();
}
emit({ texts: SessionManager.open(data.file).getEntries()
  .filter((e) => e.type === 'message')
  .map((e) => typeof e.message.content === 'string' ? e.message.content
    : e.message.content.map((c) => c.text).join('')) });
"""

# argv: sessions.json. Holds the twin's lock inside an update, says "holding" and
# writes agent:main:twin when told to go on (a line on stdin).
_TWIN_HOLDER = f"""
import sys
from sessionstore import open_store
def hold(entry):
    print("holding", flush=True)
    sys.stdin.readline()
    return {{"sessionId": "twin", "updatedAt": {NOW}}}
with open_store(sys.argv[1]) as store:
    store.update({TWIN_KEY!r}, hold)
"""
# argv: sessions directory, sessionId. Appends "from the files tier" through the
# files tier; says "holding" under the transcript's lock and appends when told to.
_TRANSCRIPT_HOLDER = f"""
import sys
from unittest import mock
from sessionstore.openclaw.transcripts import Transcripts
real = Transcripts._append_locked
def pausing(self, *args, **kwargs):
    print("holding", flush=True)
    sys.stdin.readline()
    return real(self, *args, **kwargs)
entry = {{"sessionId": sys.argv[2], "updatedAt": {NOW}}}
event = {{"type": "message", "message": {{"role": "user", "content": "from the files tier"}}}}
with mock.patch.object(Transcripts, "_append_locked", pausing):
    Transcripts(sys.argv[1]).append(entry, [event])
"""


def _sessions(state_dir: Path) -> Path:
    return state_dir / "agents" / "main" / "sessions"


def _entry(name: str) -> dict[str, Any]:
    return {"sessionId": name, "updatedAt": NOW}


@contextmanager
def _python_holder(script: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    with subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdin is not None and holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        yield holder
    assert holder.returncode in (0, -9), holder.returncode


def _go(holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None
    holder.stdin.write("go\n")
    holder.stdin.close()
    assert holder.wait(SIGNAL_TIMEOUT_S) == 0


@contextmanager
def _go_line(directory: Path) -> Iterator[tuple[Path, Callable[[], None]]]:
    """A FIFO an OpenClaw script waits on for a line, and the call that writes it (to
    make before the script is waited for). Kept open until the end, so that the line
    is there whenever the script opens the FIFO."""
    go = directory / "go"
    os.mkfifo(go)
    fd = os.open(go, os.O_RDWR)  # on Linux never blocks, and keeps the line until read
    sent: list[bool] = []

    def send() -> None:
        if not sent:
            os.write(fd, b"go\n")
            sent.append(True)

    try:
        yield go, send
    finally:
        os.close(fd)


def _next_result(stdout: IO[bytes] | None) -> Any:
    """The next value the spawned script emits (its log lines skipped)."""
    assert stdout is not None
    for line in stdout:
        value = result_of(line)
        if value is not None:
            return value
    raise AssertionError("the OpenClaw script ended without a result")


def _finish(process: subprocess.Popen[bytes]) -> Any:
    """The script's next result, once it has ended well."""
    result = _next_result(process.stdout)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.read()
    errors = process.stderr.read().decode(errors="replace")
    assert process.wait(SIGNAL_TIMEOUT_S) == 0, errors
    return result


def _lock_module(openclaw: OpenClaw) -> str:
    (chunk,) = (release_dir(openclaw.version) / "node_modules/openclaw/dist").glob(
        "session-write-lock-*.js"
    )
    return str(chunk)


def _no_locks(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*.lock"))


def _seed(openclaw: OpenClaw, state_dir: Path) -> Path:
    """An OpenClaw-written store; returns its path."""
    openclaw.run(_UPDATE, state_dir, {"key": "agent:main:main", "entry": _entry("main")})
    return _sessions(state_dir) / "sessions.json"


def test_openclaw_waits_for_the_twins_lock(openclaw_lock: OpenClaw, state_dir: Path) -> None:
    path = _seed(openclaw_lock, state_dir)
    data = {"key": OPENCLAW_KEY, "entry": _entry("openclaw")}
    with (
        _python_holder(_TWIN_HOLDER, str(path)) as twin,
        openclaw_lock.spawn(_REPORT_WAITING + _UPDATE, state_dir, data) as openclaw,
    ):
        assert _next_result(openclaw.stdout) == "waiting"
        assert json.loads(Path(f"{path}.lock").read_bytes())["pid"] == twin.pid
        _go(twin)
        loaded = _finish(openclaw)["loaded"]
    assert sorted(loaded) == sorted(["agent:main:main", TWIN_KEY, OPENCLAW_KEY])
    assert _no_locks(state_dir) == []


def test_the_twin_waits_for_openclaws_lock(
    openclaw_lock: OpenClaw, state_dir: Path, tmp_path: Path
) -> None:
    path = _seed(openclaw_lock, state_dir)
    data: dict[str, Any] = {"key": OPENCLAW_KEY, "entry": _entry("openclaw")}
    with (
        _go_line(tmp_path) as (go, send_go),
        openclaw_lock.spawn(
            _WAIT_FOR_GO + _HOLD_THEN_UPDATE, state_dir, {**data, "go": str(go)}
        ) as openclaw,
        open_store(path, lock_timeout=SIGNAL_TIMEOUT_S) as store,
        ThreadPoolExecutor(1) as pool,
    ):
        try:
            assert _next_result(openclaw.stdout) == "holding"
            with watching_for_a_wait(Path(f"{path}.lock")) as waited:
                put = pool.submit(store.put, TWIN_KEY, _entry("twin"))
                assert waited.wait(SIGNAL_TIMEOUT_S), "the twin never found the lock held"
        finally:
            send_go()  # before OpenClaw is waited for, whatever happened
        put.result()
        assert sorted(_finish(openclaw)["loaded"]) == sorted(["agent:main:main", OPENCLAW_KEY])
    loaded = openclaw_lock.run(
        "emit(store.loadSessionStore(data.path));", state_dir, {"path": str(path)}
    )
    assert sorted(loaded) == sorted(["agent:main:main", TWIN_KEY, OPENCLAW_KEY])
    assert _no_locks(state_dir) == []


def test_openclaw_takes_over_a_killed_twin_writers_lock(
    openclaw_lock: OpenClaw, state_dir: Path
) -> None:
    path = _seed(openclaw_lock, state_dir)
    with _python_holder(_TWIN_HOLDER, str(path)) as twin:
        twin.kill()
        twin.wait()
    assert Path(f"{path}.lock").exists()  # left by the killed writer, naming its pid
    # OpenClaw fails a write after 10 s of waiting; this one succeeds.
    loaded = openclaw_lock.run(_UPDATE, state_dir, {"key": OPENCLAW_KEY, "entry": _entry("o")})
    assert sorted(loaded["loaded"]) == sorted(["agent:main:main", OPENCLAW_KEY])
    assert _no_locks(state_dir) == []


@pytest.fixture
def transcript(openclaw_lock: OpenClaw, state_dir: Path) -> Path:
    """A transcript started by the files tier, in an OpenClaw-written state directory."""
    _seed(openclaw_lock, state_dir)
    transcripts = Transcripts(_sessions(state_dir))
    event = {"type": "message", "message": {"role": "user", "content": "first"}}
    transcripts.append(_entry("sess-1"), [event])
    return transcripts.path(_entry("sess-1"))


def test_openclaw_waits_for_the_files_tiers_transcript_lock(
    openclaw_lock: OpenClaw, state_dir: Path, transcript: Path
) -> None:
    data = {"file": str(transcript), "lockModule": _lock_module(openclaw_lock), "text": "oc"}
    with _python_holder(_TRANSCRIPT_HOLDER, str(transcript.parent), "sess-1") as files_tier:
        spawned = openclaw_lock.spawn(_REPORT_WAITING + _TRANSCRIPT_WRITER, state_dir, data)
        with spawned as openclaw:
            assert _next_result(openclaw.stdout) == "waiting"
            _go(files_tier)
            texts = _finish(openclaw)["texts"]
    assert texts == ["first", "from the files tier", "oc"]
    assert _no_locks(state_dir) == []


def test_the_files_tier_waits_for_openclaws_transcript_lock(
    openclaw_lock: OpenClaw, state_dir: Path, transcript: Path, tmp_path: Path
) -> None:
    data: dict[str, Any] = {
        "file": str(transcript),
        "lockModule": _lock_module(openclaw_lock),
        "text": "oc",
        "hold": True,
    }
    transcripts = Transcripts(transcript.parent, lock_timeout=SIGNAL_TIMEOUT_S)
    event = {"type": "message", "message": {"role": "user", "content": "after"}}
    with (
        _go_line(tmp_path) as (go, send_go),
        openclaw_lock.spawn(
            _WAIT_FOR_GO + _TRANSCRIPT_WRITER, state_dir, {**data, "go": str(go)}
        ) as openclaw,
        ThreadPoolExecutor(1) as pool,
    ):
        try:
            assert _next_result(openclaw.stdout) == "holding"
            with watching_for_a_wait(Path(f"{transcript}.lock")) as waited:
                append = pool.submit(transcripts.append, _entry("sess-1"), [event])
                assert waited.wait(SIGNAL_TIMEOUT_S), "the files tier never found the lock held"
        finally:
            send_go()  # before OpenClaw is waited for, whatever happened
        assert append.result().written == 1
        assert _finish(openclaw)["texts"] == ["first", "oc"]
    data = {"file": str(transcript), "lockModule": _lock_module(openclaw_lock), "text": "last"}
    texts = openclaw_lock.run(_TRANSCRIPT_WRITER, state_dir, data)["texts"]
    assert texts == ["first", "oc", "after", "last"]
    assert _no_locks(state_dir) == []


def test_no_lock_file_is_left_in_a_json_era_state_dir(
    openclaw_json: OpenClaw, state_dir: Path, tmp_path: Path
) -> None:
    path = _seed(openclaw_json, state_dir)
    event = {"type": "message", "message": {"role": "user", "content": "hi"}}
    with open_store(path) as store:
        store.put(TWIN_KEY, _entry("twin"))
        store.patch(TWIN_KEY, {"label": "x"})
        store.transcripts.append(TWIN_KEY, [event])
        store.delete("agent:main:main")
    with lock_held(path) as holder:  # a killed writer's lock: taken over, then removed
        holder.kill()
        holder.wait()
    with open_store(path, lock_timeout=0) as store:
        store.put(OPENCLAW_KEY, _entry("again"))
    loaded = openclaw_json.run(
        "emit(store.loadSessionStore(data.path));", state_dir, {"path": str(path)}
    )
    assert sorted(loaded) == sorted([TWIN_KEY, OPENCLAW_KEY])
    assert _no_locks(state_dir) == []

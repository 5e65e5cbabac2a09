"""OpenClaw's write lock: ``<file>.lock``, created exclusively and removed on release.

OpenClaw (the early-2026 releases) guards ``sessions.json`` and each ``.jsonl``
transcript this way: it creates ``<file>.lock`` with ``O_EXCL``, writes
``{"pid", "createdAt", "starttime"}`` into it (2-space JSON) and removes it when done.
A process that finds the file judges it: stale when the pid is missing, dead or
recycled (its start time differs) or ``createdAt`` is older than the stale age; a
payload whose only faults are a missing pid or ``createdAt`` (an empty or unparseable
file, say) is stale only once its mtime is older than the stale age. A stale lock is
removed and the create tried again; a held one is polled for until the timeout.

:func:`write_lock` speaks the same protocol, so that sessionstore and OpenClaw exclude
each other, and nothing is left behind. Two things make it safe where a plain
``O_EXCL`` file is not:

- the lock file appears with its payload already in it (written to an unnamed file,
  then linked into place, which fails if the name exists), so a writer killed while
  taking the lock never leaves an empty file that others must wait 30 s for;
- create-or-reclaim runs under ``flock`` on the directory itself (no extra file): the
  kernel drops it if its holder dies, and it is held only while the lock is taken,
  never while it is held. Two sessionstore processes cannot both remove one stale
  lock and each take the lock. (An OpenClaw process does not take that ``flock``;
  between it and us the reclaim is as safe as between two OpenClaw processes.)

Pids are only meaningful in one pid namespace: our payload also names ours
(``pidns``, ignored by OpenClaw), and a lock from another namespace (another
container sharing the directory) is held until its ``createdAt`` is too old. A
payload without ``pidns`` (OpenClaw's) is judged by its pid here, as OpenClaw does.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import glob
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sessionstore.errors import StoreLockedError, StoreUnavailableError
from sessionstore.files import open_regular

__all__ = ["STORE_STALE_S", "TRANSCRIPT_STALE_S", "process_alive", "start_time", "write_lock"]

log = logging.getLogger(__name__)

#: OpenClaw's stale age for ``sessions.json.lock`` (``withSessionStoreLock``).
STORE_STALE_S = 30.0
#: OpenClaw's stale age for a transcript's lock (``acquireSessionWriteLock``'s default).
TRANSCRIPT_STALE_S = 1800.0
#: How often a held lock is tried again: often, as writes are short (a back-off to
#: OpenClaw's 50 ms cut the throughput of 8 contending twin writers by 3 to 6 times).
_POLL_S = 0.005

#: The locks this process holds: lock path -> [owning thread, depth] (re-entrant).
_held: dict[str, list[int]] = {}
_held_mutex = threading.Lock()


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (not a zombie) in our pid namespace."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by someone else
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
            return not any(line.split()[1:2] == ["Z"] for line in fh if line.startswith("State:"))
    except OSError:
        return True  # no /proc: kill() said it exists


def start_time(pid: int) -> int | None:
    """Field 22 of ``/proc/<pid>/stat`` (clock ticks since boot), as OpenClaw reads it."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode(errors="replace")
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 1 :].split()
    return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None


@functools.lru_cache(maxsize=1)
def _own_start_time(pid: int) -> int | None:
    """This process's start time, read once per pid (a forked child has its own)."""
    return start_time(pid)


@functools.lru_cache(maxsize=1)
def _pid_namespace() -> str | None:
    # A process never changes its pid namespace (unshare(2) moves only its children).
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _payload() -> bytes:
    """What this process writes into a lock file: OpenClaw's fields, then ``pidns``."""
    now = datetime.now(UTC)
    data: dict[str, Any] = {
        "pid": os.getpid(),
        "createdAt": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
    }
    if (started := _own_start_time(os.getpid())) is not None:
        data["starttime"] = started
    if (namespace := _pid_namespace()) is not None:
        data["pidns"] = namespace
    return json.dumps(data, indent=2).encode()


def _number(value: Any) -> int | None:
    """A non-negative integer as JavaScript's ``Number.isInteger`` sees one (``7.0`` is)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if type(value) is int and value >= 0 else None


@dataclass(frozen=True)
class _Found:
    """A lock file found in place, as read: its identity, its holder, whether stale."""

    identity: tuple[int, int]  # (st_dev, st_ino)
    pid: int | None
    stale: bool


def _judge(lock: str, stale_s: float) -> _Found | None:
    """Read and judge the lock file by OpenClaw's rules; ``None`` if it is gone."""
    try:  # never waits on a FIFO, nor follows a link, planted in its place
        fd = open_regular(lock, follow_symlinks=False)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        raw = fh.read(4096)
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None
    payload = parsed if isinstance(parsed, dict) else {}
    pid = _number(payload.get("pid")) or None
    created = payload.get("createdAt")
    created_s: float | None = None
    if isinstance(created, str):
        with contextlib.suppress(ValueError):
            created_s = datetime.fromisoformat(created).timestamp()
    now = time.time()
    starttime = _number(payload.get("starttime"))
    namespace = payload.get("pidns")
    # OpenClaw's reasons: dead or recycled pid, too old (stale at once); missing pid,
    # invalid createdAt (stale only with an old mtime); None: no reason.
    pid_reason: str | None = None
    if pid is None:
        pid_reason = "missing"
    elif isinstance(namespace, str) and namespace != _pid_namespace():
        pass  # another namespace's pid says nothing here: only the age can tell
    elif pid == os.getpid():
        with _held_mutex:  # ours only if this process holds it now
            pid_reason = None if lock in _held else "dead"
    elif not process_alive(pid):
        pid_reason = "dead"
    else:
        current = start_time(pid)
        if starttime is not None and current is not None and current != starttime:
            pid_reason = "recycled"
    age_reason = "invalid" if created_s is None else "old" if now - created_s > stale_s else None
    reasons = {pid_reason, age_reason} - {None}
    if reasons <= {"missing", "invalid"}:
        stale = bool(reasons) and now - st.st_mtime > stale_s
    else:
        stale = True
    return _Found((st.st_dev, st.st_ino), pid, stale)


def _link_new(lock: str, payload: bytes) -> tuple[int, int] | None:
    """Put a complete lock file at ``lock``; its identity, or ``None`` if one is there."""
    directory = os.path.dirname(lock)
    try:
        fd = os.open(directory, os.O_TMPFILE | os.O_WRONLY, 0o600)
    except (AttributeError, OSError):
        fd = None  # no unnamed files here (not Linux, or the file system): use a name
    if fd is not None:
        try:
            os.write(fd, payload)
            st = os.fstat(fd)
            try:
                os.link(f"/proc/self/fd/{fd}", lock)
            except FileExistsError:
                return None
            except OSError:
                pass  # no /proc: fall back to a named temp file
            else:
                return (st.st_dev, st.st_ino)
        finally:
            os.close(fd)
    _sweep_dead_writers_temps(lock)
    temp = f"{lock}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, payload)
        st = os.fstat(fd)
        os.close(fd)
        try:
            os.link(temp, lock)
        except FileExistsError:
            return None
        return (st.st_dev, st.st_ino)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp)


def _sweep_dead_writers_temps(lock: str) -> None:
    """Remove the ``<lock>.<pid>.<hex>.tmp`` files of writers killed before they
    removed them (only where the named-file way is used; a live writer's stay)."""
    prefix = f"{os.path.basename(lock)}."
    for tmp in glob.glob(f"{glob.escape(lock)}.*.tmp"):
        pid = os.path.basename(tmp).removeprefix(prefix).split(".")[0]
        if pid.isdigit() and not process_alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


@contextlib.contextmanager
def _directory_lock(directory: str, deadline: float) -> Iterator[bool]:
    """Hold ``flock`` on ``directory`` (polled until ``deadline``); yields whether held.

    Where directories cannot be locked (some network file systems) it yields ``True``
    without a lock: the link still makes creation exclusive.
    """
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(_POLL_S / 10)  # held for a few system calls only
            except OSError as exc:
                if exc.errno not in (errno.EBADF, errno.ENOLCK, errno.EINVAL, errno.ENOTSUP):
                    raise
                break
        yield True
    finally:
        os.close(fd)  # drops the flock


def _try_take(lock: str, stale_s: float) -> tuple[int, int] | _Found | None:
    """One create-or-reclaim, under the directory lock: the new lock's identity, or the
    live lock found in place (``None`` when there is none now: try again at once)."""
    found = _judge(lock, stale_s)  # again: another process may have taken it meanwhile
    if found is not None and not found.stale:
        return found
    if found is not None:
        # Remove only the file judged: OpenClaw may have replaced it meanwhile.
        try:
            st = os.stat(lock)
        except FileNotFoundError:
            st = None
        if st is not None and (st.st_dev, st.st_ino) == found.identity:
            log.warning("%s: removed a stale lock (pid %s)", lock, found.pid)
            os.unlink(lock)
    identity = _link_new(lock, _payload())  # createdAt: now, not when the wait began
    if identity is not None:
        return identity
    found = _judge(lock, stale_s)  # created by OpenClaw just now
    return found if found is not None and not found.stale else None


@contextlib.contextmanager
def write_lock(
    target: str | os.PathLike[str], *, timeout: float, stale_s: float, what: str = "lock"
) -> Iterator[None]:
    """Hold ``<target>.lock`` as OpenClaw does; re-entrant within a thread.

    A held lock is polled for up to ``timeout`` seconds (0: one try), then
    :class:`StoreLockedError` names the file; another ``OSError`` is a
    :class:`StoreUnavailableError`. ``what`` names the lock in those errors.
    """
    # One name for the file however it is reached, as OpenClaw names it: the lock is
    # known as this process's own by that name.
    directory, name = os.path.split(os.path.abspath(target))
    lock = os.path.join(os.path.realpath(directory), f"{name}.lock")
    me = threading.get_ident()
    with _held_mutex:
        mine = _held.get(lock)
        if mine is not None and mine[0] == me:
            mine[1] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _held_mutex:
                _held[lock][1] -= 1
        return
    identity = _acquire(lock, timeout, stale_s, what)
    try:
        yield
    finally:
        _release(lock, identity)
        with _held_mutex:
            # Another thread may have taken the lock the moment the file went, and
            # registered it: that entry is not ours to remove.
            if _held.get(lock, [None])[0] == me:
                del _held[lock]


def _acquire(lock: str, timeout: float, stale_s: float, what: str) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    directory = os.path.dirname(lock)
    waited = False
    try:
        while True:
            # A held lock is seen without the directory lock: waiters only read.
            found = _judge(lock, stale_s)
            if found is None or found.stale:
                with _directory_lock(directory, deadline) as locked:
                    taken = _try_take(lock, stale_s) if locked else None
                    if isinstance(taken, tuple):
                        with _held_mutex:
                            _held[lock] = [threading.get_ident(), 1]
                        return taken
                if locked and taken is None:
                    continue  # reclaimed a stale lock, or it vanished: try again at once
                found = taken
            if found is not None and not waited:
                log.debug("%s: held by pid %s, waiting", lock, found.pid)
                waited = True
            if time.monotonic() >= deadline:
                who = f" (pid {found.pid})" if found is not None and found.pid else ""
                raise StoreLockedError(
                    f"timed out after {timeout:g}s waiting for the {what} {lock}, "
                    f"held by another process{who}"
                )
            time.sleep(_POLL_S)
    except OSError as exc:
        raise StoreUnavailableError(f"cannot lock {lock}: {exc.strerror or exc}") from exc


def _release(lock: str, identity: tuple[int, int]) -> None:
    """Remove the lock file if it is still ours (OpenClaw may have judged it stale)."""
    try:
        st = os.stat(lock)
        if (st.st_dev, st.st_ino) == identity:
            os.unlink(lock)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("%s: could not remove the lock: %s", lock, exc.strerror or exc)

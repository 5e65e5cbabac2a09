"""Concurrent workloads shared by the reliability tests and ``benchmarks/concurrency.py``.

Every workload is a plain top-level function ``fn(*args, start)`` so that worker
processes started with the ``spawn`` context can import it: it opens its store, calls
``start()`` and does its work once every worker is ready. :class:`WorkerPool` runs one
call per process and releases them all at once; any exception in a worker is raised
in the parent as :class:`WorkerError` with the worker's traceback.

:func:`crash_writer` and :func:`paused_json_writer` are the writers that the crash
tests kill with SIGKILL.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Generic, Self, TypeVar
from unittest import mock

from sessionstore import SessionEntry, StaleEntryError, open_store

__all__ = [
    "BASE_MS",
    "COUNTER_KEY",
    "CasOutcome",
    "WorkerError",
    "WorkerPool",
    "WorkerRun",
    "cas_contender",
    "crash_entry",
    "crash_key",
    "crash_writer",
    "paused_json_writer",
    "random_key_increments",
    "run_workers",
    "shared_key_increments",
    "workload_keys",
]

T = TypeVar("T")

#: The ``updatedAt`` of every entry the workloads write (2026-03-31T13:00:00Z).
BASE_MS = 1_774_962_000_000
#: How long a worker waits for the start signal before giving up.
START_TIMEOUT_S = 120.0
#: How long :meth:`WorkerPool.close` lets its workers finish before killing them.
STOP_TIMEOUT_S = 10.0
#: The crash writer's counter entry: ``totalTokens`` is how many keys it has finished.
COUNTER_KEY = "agent:main:crash:counter"

StartSignal = Callable[[], None]


class WorkerError(RuntimeError):
    """A worker process raised, died or did not finish in time."""


@dataclass(frozen=True)
class WorkerRun(Generic[T]):
    """The outcome of :meth:`WorkerPool.run`: one result per worker, in order."""

    results: list[T]
    #: Seconds from the start signal to the last result.
    wall_seconds: float


@dataclass(frozen=True)
class CasOutcome:
    """One compare-and-set contender's result."""

    label: str
    won: bool
    #: The version ``put`` returned, for the winner.
    new_version: int | None = None
    #: ``StaleEntryError.current_version``, for a loser.
    current_version: int | None = None


def _increment(session_id: str, entry: SessionEntry | None) -> SessionEntry:
    if entry is None:
        return SessionEntry(session_id=session_id, updated_at=BASE_MS, total_tokens=1)
    return entry.with_fields(total_tokens=(entry.total_tokens or 0) + 1)


def workload_keys(count: int) -> list[str]:
    """The keys the random-key workload spreads its increments over."""
    return [f"agent:main:random:k{n:02d}" for n in range(count)]


def shared_key_increments(target: str, key: str, updates: int, start: StartSignal) -> int:
    """Open the store, wait for the start, then add 1 to ``totalTokens`` of ``key``
    ``updates`` times with :meth:`update`; returns how many increments were made."""
    session_id = key.rsplit(":", 1)[-1]
    with open_store(target) as store:
        store.count()  # connect (and fail) before the start, not during the timed run
        start()
        for _ in range(updates):
            store.update(key, partial(_increment, session_id))
    return updates


def random_key_increments(
    target: str, keys: Sequence[str], updates: int, seed: int, start: StartSignal
) -> dict[str, int]:
    """Like :func:`shared_key_increments` on a key drawn at random from ``keys`` each
    time; returns how many increments this worker made on each key."""
    rng = random.Random(seed)
    counts: Counter[str] = Counter()
    with open_store(target) as store:
        store.count()
        start()
        for _ in range(updates):
            key = rng.choice(keys)
            session_id = key.rsplit(":", 1)[-1]
            store.update(key, partial(_increment, session_id))
            counts[key] += 1
    return dict(counts)


def cas_contender(
    target: str, key: str, expected_version: int, label: str, start: StartSignal
) -> CasOutcome:
    """Try one ``put(key, ..., expected_version=...)`` of an entry labelled ``label``
    right after the start; a :class:`StaleEntryError` is a lost race, not a failure."""
    entry = SessionEntry(session_id="cas", updated_at=BASE_MS, label=label)
    with open_store(target) as store:
        _, seen = store.get_with_version(key)
        if seen != expected_version:
            raise AssertionError(
                f"{key} is at version {seen} before the race, not {expected_version}"
            )
        start()
        try:
            version = store.put(key, entry, expected_version=expected_version)
        except StaleEntryError as exc:
            return CasOutcome(label, won=False, current_version=exc.current_version)
    return CasOutcome(label, won=True, new_version=version)


# -- running workers in processes -------------------------------------------------------


def _serve(conn: Connection) -> None:
    """A worker process: run ``(fn, args)`` jobs from ``conn`` until told to stop.

    ``fn(*args, start)`` must call ``start()`` once it is ready; that reports "ready"
    and blocks until the parent sends "go". The result, or the traceback of whatever
    ``fn`` raised, is sent back.
    """

    def start() -> None:
        conn.send(("ready", None))
        if not conn.poll(START_TIMEOUT_S):
            raise TimeoutError(f"no start signal within {START_TIMEOUT_S:g}s")
        signal = conn.recv()
        if signal != "go":
            raise RuntimeError(f"expected the start signal, got {signal!r}")

    with conn:
        while True:
            try:
                job = conn.recv()
            except EOFError:
                return
            if job is None:
                return
            fn, args = job
            try:
                reply = ("ok", fn(*args, start))
            except BaseException:
                reply = ("error", traceback.format_exc())
            try:
                conn.send(reply)
            except OSError:  # the parent gave up on this run and closed the pipe
                return


class WorkerPool:
    """``size`` spawned worker processes that run workloads together.

    The processes are started on first use and reused by later runs, so the cost of
    starting interpreters is paid once. After any failed run they are killed and
    started afresh by the next run.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._ctx = multiprocessing.get_context("spawn")
        self._procs: list[BaseProcess] = []
        self._conns: list[Connection] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _start(self) -> None:
        for index in range(self.size):
            parent, child = self._ctx.Pipe()
            proc = self._ctx.Process(
                target=_serve, args=(child,), name=f"worker-{index}", daemon=True
            )
            self._conns.append(parent)
            self._procs.append(proc)
            proc.start()
            child.close()

    def run(
        self, fn: Callable[..., T], calls: Sequence[tuple[Any, ...]], *, timeout: float = 300.0
    ) -> WorkerRun[T]:
        """Run ``fn(*args, start)`` for every ``args`` in ``calls``, each in its own
        process, all released at once when the last one is ready.

        Raises :class:`WorkerError` if a worker raises or dies, or if the run takes
        longer than ``timeout`` seconds.
        """
        if not 1 <= len(calls) <= self.size:
            raise ValueError(f"{len(calls)} calls for a pool of {self.size} processes")
        if not self._procs:
            self._start()
        deadline = time.monotonic() + timeout
        conns = self._conns[: len(calls)]
        try:
            for conn, args in zip(conns, calls, strict=True):
                conn.send((fn, args))
            self._receive(conns, "ready", deadline)
            for conn in conns:
                conn.send("go")
            began = time.perf_counter()
            results = self._receive(conns, "ok", deadline)
            wall = time.perf_counter() - began
        except BaseException:
            self.close()
            raise
        return WorkerRun([results[i] for i in range(len(calls))], wall)

    def _receive(self, conns: Sequence[Connection], kind: str, deadline: float) -> dict[int, Any]:
        """One ``kind`` message from every connection in ``conns``, by worker index."""
        received: dict[int, Any] = {}
        pending = {conn: index for index, conn in enumerate(conns)}
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                waiting = sorted(pending.values())
                raise WorkerError(f"workers {waiting} sent no {kind!r} message in time")
            for ready in wait(list(pending), timeout=remaining):
                assert isinstance(ready, Connection)
                index = pending.pop(ready)
                try:
                    tag, payload = ready.recv()
                except EOFError:
                    proc = self._procs[index]
                    proc.join(5)
                    raise WorkerError(
                        f"{proc.name} exited with code {proc.exitcode} before sending {kind!r}"
                    ) from None
                if tag == "error":
                    raise WorkerError(f"worker-{index} failed:\n{payload}")
                if tag != kind:
                    raise WorkerError(f"worker-{index} sent {tag!r}, expected {kind!r}")
                received[index] = payload
        return received

    def close(self) -> None:
        """Stop the workers (killing any that do not stop in time) and release them."""
        for conn in self._conns:
            with suppress(OSError):
                conn.send(None)
            conn.close()  # a worker still waiting for a job or the start signal sees EOF
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for proc in self._procs:
            proc.join(max(deadline - time.monotonic(), 0.0))
            if proc.is_alive():
                proc.kill()
                proc.join()
            proc.close()
        self._procs, self._conns = [], []


def run_workers(
    fn: Callable[..., T], calls: Sequence[tuple[Any, ...]], *, timeout: float = 300.0
) -> WorkerRun[T]:
    """:meth:`WorkerPool.run` on a pool of its own, closed afterwards."""
    with WorkerPool(len(calls)) as pool:
        return pool.run(fn, calls, timeout=timeout)


# -- the writer that the crash tests kill -----------------------------------------------


def crash_key(i: int) -> str:
    """The key of the crash writer's ``i``-th entry."""
    return f"agent:main:crash:k{i}"


def crash_entry(i: int) -> SessionEntry:
    """The exact entry the crash writer stores under :func:`crash_key` ``(i)``."""
    return SessionEntry(
        session_id=f"s{i}",
        updated_at=BASE_MS + i,
        total_tokens=i,
        label=f"crash entry {i}",
        note=f"entry {i} " * 20,  # an unknown field, kept verbatim
    )


def _advance_counter(i: int, entry: SessionEntry | None) -> SessionEntry:
    done = 0 if entry is None else entry.total_tokens
    if done != i:
        raise AssertionError(f"the counter says {done} keys are done, the writer is at {i}")
    return SessionEntry(session_id="counter", updated_at=BASE_MS, total_tokens=i + 1)


def crash_writer(target: str, acks: Connection, lock_timeout: float | None = None) -> None:
    """Write until killed: for i = counter, counter + 1, ...: ``put`` :func:`crash_key`
    ``(i)``, send ``i`` on ``acks`` (the put is acknowledged), then advance the counter
    entry to ``i + 1`` with :meth:`update`. Sends a traceback string if anything raises.

    So after a kill, with ``a`` the last acknowledged ``i`` and ``c`` the counter:
    ``a <= c <= a + 1``, keys ``0 .. max(a, c - 1)`` are stored, and none above ``c``.
    """
    try:
        with open_store(target, lock_timeout=lock_timeout) as store:
            counter = store.get(COUNTER_KEY)
            i = 0 if counter is None else counter.total_tokens or 0
            while True:
                store.put(crash_key(i), crash_entry(i))
                acks.send(i)
                store.update(COUNTER_KEY, partial(_advance_counter, i))
                i += 1
    except BaseException:
        acks.send(traceback.format_exc())
        raise
    finally:
        acks.close()


def _pause(conn: Connection) -> None:
    conn.send("paused")
    threading.Event().wait()  # until killed
    raise AssertionError("unreachable: a paused writer is killed")


def paused_json_writer(target: str, conn: Connection, key: str, at: str) -> None:
    """Start a JSON-twin ``update(key, ...)``, send "paused" on ``conn`` at the point
    ``at`` and block there until killed:

    - ``"locked"``: inside the update function, holding the lock;
    - ``"taking-lock"``: taking the lock, under the directory's ``flock``, its lock
      file written but not yet linked into place;
    - ``"temp-written"``: the new file is written to its temp file, not yet renamed.
    """
    real_link, real_replace = os.link, os.replace

    def pausing_link(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if at == "taking-lock" and str(dst).endswith(".lock"):
            _pause(conn)
        real_link(src, dst, *args, **kwargs)

    def pausing_replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if at == "temp-written" and str(src).endswith(".tmp"):
            _pause(conn)
        real_replace(src, dst, *args, **kwargs)

    def pausing_update(entry: SessionEntry | None) -> SessionEntry:
        if at == "locked":
            _pause(conn)
        return SessionEntry(session_id="paused", updated_at=BASE_MS)

    if at not in ("locked", "taking-lock", "temp-written"):
        raise ValueError(f"unknown pause point {at!r}")
    with (
        mock.patch("os.link", pausing_link),
        mock.patch("os.replace", pausing_replace),
        open_store(target) as store,
    ):
        store.update(key, pausing_update)

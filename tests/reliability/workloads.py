"""Concurrent workloads shared by the reliability tests and ``benchmarks/concurrency.py``.

Every workload is a plain top-level function so that child processes started with the
``spawn`` context can import it. :func:`run_workers` starts one process per argument
tuple, lets each open its store, releases them all at once with an event, and returns
their results; any exception in a worker is raised in the parent as
:class:`WorkerError` with the worker's traceback.

:func:`crash_writer` is the writer that the crash tests kill with SIGKILL.
"""

from __future__ import annotations

import multiprocessing
import random
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from typing import Any, Generic, TypeVar

from sessionstore import SessionEntry, StaleEntryError, open_store

__all__ = [
    "BASE_MS",
    "COUNTER_KEY",
    "CasOutcome",
    "WorkerError",
    "WorkerRun",
    "cas_contender",
    "crash_entry",
    "crash_key",
    "crash_writer",
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
#: The crash writer's counter entry: ``totalTokens`` is how many keys it has finished.
COUNTER_KEY = "agent:main:crash:counter"

StartSignal = Callable[[], None]


class WorkerError(RuntimeError):
    """A worker process raised, died or did not finish in time."""


@dataclass(frozen=True)
class WorkerRun(Generic[T]):
    """What :func:`run_workers` returns: one result per worker, in order."""

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
            store.update(key, lambda entry: _increment(session_id, entry))
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
            store.update(key, lambda entry, sid=session_id: _increment(sid, entry))
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


def _child(fn: Callable[..., Any], args: tuple[Any, ...], conn: Connection, go: Event) -> None:
    """Run ``fn(*args, start)`` in a worker process and send back its result or traceback."""

    def start() -> None:
        conn.send(("ready", None))
        if not go.wait(START_TIMEOUT_S):
            raise TimeoutError(f"no start signal within {START_TIMEOUT_S:g}s")

    try:
        result = fn(*args, start)
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    else:
        conn.send(("ok", result))
    finally:
        conn.close()


def _receive(
    conns: dict[Connection, int],
    procs: Sequence[BaseProcess],
    kind: str,
    deadline: float,
) -> dict[int, Any]:
    """Wait for one ``kind`` message from every worker in ``conns``; raise on any failure."""
    received: dict[int, Any] = {}
    pending = dict(conns)
    while pending:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            waiting = sorted(pending.values())
            raise WorkerError(f"workers {waiting} sent no {kind!r} message in time")
        for conn in wait(list(pending), timeout=remaining):
            assert isinstance(conn, Connection)
            index = pending.pop(conn)
            try:
                tag, payload = conn.recv()
            except EOFError:
                procs[index].join(5)
                raise WorkerError(
                    f"worker {index} exited with code {procs[index].exitcode} "
                    f"before sending {kind!r}"
                ) from None
            if tag == "error":
                raise WorkerError(f"worker {index} failed:\n{payload}")
            if tag != kind:
                raise WorkerError(f"worker {index} sent {tag!r}, expected {kind!r}")
            received[index] = payload
    return received


def run_workers(
    fn: Callable[..., T], calls: Sequence[tuple[Any, ...]], *, timeout: float = 300.0
) -> WorkerRun[T]:
    """Run ``fn(*args, start)`` in one spawned process per ``args`` in ``calls``.

    Every worker calls ``start()`` once it is ready; all are released together when
    the last one is. Raises :class:`WorkerError` if a worker raises or dies, or if the
    workers take longer than ``timeout`` seconds in all.
    """
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    procs: list[BaseProcess] = []
    conns: dict[Connection, int] = {}
    deadline = time.monotonic() + timeout
    try:
        for index, args in enumerate(calls):
            receiver, sender = ctx.Pipe(duplex=False)
            conns[receiver] = index
            proc = ctx.Process(
                target=_child, args=(fn, args, sender, go), name=f"worker-{index}", daemon=True
            )
            procs.append(proc)
            proc.start()
            sender.close()
        _receive(conns, procs, "ready", deadline)
        go.set()
        began = time.perf_counter()
        results = _receive(conns, procs, "ok", deadline)
        wall = time.perf_counter() - began
        for proc in procs:
            proc.join(max(deadline - time.monotonic(), 1.0))
            if proc.exitcode != 0:
                raise WorkerError(f"{proc.name} exited with code {proc.exitcode}")
        return WorkerRun([results[i] for i in range(len(calls))], wall)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
            proc.join()
            proc.close()
        for conn in conns:
            conn.close()


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
                store.update(COUNTER_KEY, lambda entry, i=i: _advance_counter(i, entry))
                i += 1
    except BaseException:
        acks.send(traceback.format_exc())
        raise
    finally:
        acks.close()

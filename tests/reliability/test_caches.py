"""A long-running process: every process-wide cache stays within its size.

The caches are found, not listed: every module-level container and ``lru_cache`` of
every loaded ``sessionstore`` module is measured before and after a workload that
opens and closes 1,000 stores and iterates and lists 1,000 times with varied batch
sizes and filters (more shapes than any cache keeps). A container that grew must be
one of the declared caches, and each cache must be within its bound. Repeated shapes
must hit: 1,000 more stores doing the same work compile nothing new.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sessionstore import open_store
from sessionstore.backends import sqlite as sqlite_backend
from sessionstore.contract import FilterArgs, SupportsMaintenance
from sessionstore.sql import blobs, statements, upgrade

CYCLES = 1_000
ENTRIES = 30


def _maxsize(cached: Any) -> int:
    """The bound an ``lru_cache`` was given (None, unbounded, fails the test)."""
    maxsize = cached.cache_parameters()["maxsize"]
    assert isinstance(maxsize, int), f"{cached.__qualname__} is unbounded"
    return maxsize


#: Each process-wide cache and its bound, read from the code that enforces it.
BOUNDED: dict[str, Callable[[], int]] = {
    "sessionstore.backends.sqlite._compiled": lambda: sqlite_backend._COMPILED_MAX,
    "sessionstore.backends.sqlite._expanded": lambda: sqlite_backend._COMPILED_MAX,
    "sessionstore.sql.statements._SHAPED": lambda: statements._SHAPED_MAX,
    "sessionstore.sql.statements.upsert": lambda: _maxsize(statements.upsert),
    "sessionstore.sql.statements.blob_upsert": lambda: _maxsize(statements.blob_upsert),
    "sessionstore.sql.blobs._STRING_BLOBS": lambda: blobs._STRING_BLOBS_MAX,
    "sessionstore.sql.upgrade._scripts": lambda: _maxsize(upgrade._scripts),
}


def _size(value: Any) -> int | None:
    """The number of items a cache-like module attribute holds (None: not one)."""
    if isinstance(value, functools._lru_cache_wrapper):
        return int(value.cache_info().currsize)
    if isinstance(value, dict | list | set | bytearray):
        return len(value)
    return None


def _containers() -> dict[str, int]:
    """Every module-level container and lru_cache of the loaded sessionstore modules,
    by the name of the module that defines it."""
    found: dict[int, tuple[str, int]] = {}
    for name, module in list(sys.modules.items()):
        if name != "sessionstore" and not name.startswith("sessionstore."):
            continue
        for attribute, value in vars(module).items():
            size = _size(value)
            if size is not None and id(value) not in found:
                defined = getattr(value, "__qualname__", None)
                where = f"{value.__module__}.{defined}" if callable(value) else None
                found[id(value)] = (where or f"{name}.{attribute}", size)
    return dict(found.values())


def _filters(i: int) -> FilterArgs:
    """A different combination of filters for each ``i`` (and so many shapes)."""
    choices: list[FilterArgs] = [
        {"channel": "slack"},
        {"status": "done"},
        {"label_prefix": f"l{i}"},
        {"archived": i % 2 == 0},
        {"updated_after": i},
        {"updated_before": 10**13 - i},
        {"chat_type": "direct"},
        {"spawned_by": "agent:main:main"},
    ]
    chosen: FilterArgs = {}
    for bit, choice in enumerate(choices):
        if i >> bit & 1:
            chosen.update(choice)
    return chosen


@pytest.fixture
def url(tmp_path: Path) -> str:
    target = f"sqlite:///{tmp_path / 'sessions.db'}"
    with open_store(target, auto_upgrade=True) as store:
        store.put_many(
            [
                (f"agent:main:k{i:03}", {"sessionId": f"s{i}", "updatedAt": i, "label": f"l{i}"})
                for i in range(ENTRIES)
            ]
        )
    return target


def _same_work(url: str, i: int) -> None:
    with open_store(url) as store:
        store.put(f"agent:main:k{i % ENTRIES:03}", {"sessionId": f"s{i}", "updatedAt": i})
        store.get("agent:main:k000")
        assert len(list(store.iter_entries(batch_size=10))) == ENTRIES
        store.list(limit=5, channel="slack")
        store.delete_many(["agent:main:gone"])
        assert isinstance(store, SupportsMaintenance)
        store.collect_blobs()  # its time is a parameter, not part of the statement


@pytest.mark.slow
def test_process_wide_caches_stay_bounded(url: str) -> None:
    _same_work(url, 0)  # load every module the workload uses
    before = _containers()
    for i in range(CYCLES):
        _same_work(url, i)
    with open_store(url) as store:
        for i in range(CYCLES):
            batch = 1 + i  # 1,000 batch sizes: 1,000 shapes of the iteration statement
            assert len(list(store.iter_entries(batch_size=batch))) == ENTRIES
            if i % 10 == 0:  # 100 distinct skills prompts, each stored out of line
                prompt = f"prompt {i} " + "p" * 2_000
                entry = {"sessionId": "p", "updatedAt": i, "skillsSnapshot": {"prompt": prompt}}
                store.put("agent:main:k000", entry)
            page = store.list(limit=1 + i % 50, order="asc" if i % 3 else "desc", **_filters(i))
            if page.next_cursor is not None:
                store.list(limit=1 + i % 50, cursor=page.next_cursor, **_filters(i))
    after = _containers()

    grew = {name for name, size in after.items() if size > before.get(name, 0)}
    assert grew <= BOUNDED.keys(), f"unbounded containers grew: {grew - BOUNDED.keys()}"
    for name, bound in BOUNDED.items():
        assert name in after, f"{name} is gone: update BOUNDED"
        assert after[name] <= bound(), f"{name} holds {after[name]} > {bound()}"
    # the workload used more shapes than the caches keep, so the bounds were reached
    assert after["sessionstore.sql.statements._SHAPED"] == statements._SHAPED_MAX


def test_repeated_shapes_compile_once(url: str) -> None:
    _same_work(url, 0)
    compiled = sqlite_backend._compiled.cache_info().misses
    expanded = sqlite_backend._expanded.cache_info().misses
    shapes = dict(statements._SHAPED)
    for i in range(CYCLES):
        _same_work(url, i)
    assert sqlite_backend._compiled.cache_info().misses == compiled
    assert sqlite_backend._expanded.cache_info().misses == expanded
    assert shapes == statements._SHAPED
    assert upgrade._scripts.cache_info().currsize == 1


def _open_descriptors_of(path: Path) -> int:
    """How many of this process's file descriptors are open on ``path``."""
    found = 0
    for fd in Path("/proc/self/fd").iterdir():
        try:
            found += Path(os.readlink(fd)) == path
        except OSError:  # closed meanwhile (the descriptor of iterdir itself)
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_connections_of_threads_that_ended_are_closed(tmp_path: Path) -> None:
    # A server thread pool replaces its threads; each used the store once.
    path = tmp_path / "sessions.db"
    with open_store(path, auto_upgrade=True) as store:
        store.put("agent:main:main", {"sessionId": "s1", "updatedAt": 1})
        held = []
        for _ in range(50):
            worker = threading.Thread(target=store.get, args=("agent:main:main",))
            worker.start()
            worker.join()
            held.append(_open_descriptors_of(path))
        assert store.get("agent:main:main") is not None
    # This thread's connection and the last worker's (plus one descriptor SQLite keeps
    # from a closed connection while others lock the file), not one per worker.
    assert max(held) <= 3 and held[-1] == held[2]

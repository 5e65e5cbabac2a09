"""Many OS processes writing one store at once lose no update and break no
compare-and-set, on every backend."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from sessionstore import SessionEntry, open_store
from tests.reliability.workloads import (
    BASE_MS,
    WorkerPool,
    cas_contender,
    random_key_increments,
    shared_key_increments,
    workload_keys,
)

PROCESSES = 8
UPDATES = 500


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    """8 spawned worker processes, shared by the tests of this module."""
    with WorkerPool(PROCESSES) as workers:
        yield workers


@pytest.mark.slow
def test_shared_key_increments_are_never_lost(target: str, pool: WorkerPool) -> None:
    """8 processes x 500 ``update`` increments of one key end at exactly 4000."""
    key = "agent:main:shared"
    run = pool.run(shared_key_increments, [(target, key, UPDATES)] * PROCESSES)

    assert run.results == [UPDATES] * PROCESSES
    with open_store(target) as store:
        entry = store.get(key)
        assert entry is not None
        assert entry.total_tokens == PROCESSES * UPDATES
        assert entry.session_id == "shared"
        assert store.count() == 1


@pytest.mark.slow
def test_random_key_increments_are_never_lost(target: str, pool: WorkerPool) -> None:
    """8 processes x 500 increments spread over 20 keys: every key holds exactly the
    number of increments the workers made on it, and the sum is 4000."""
    keys = workload_keys(20)
    run = pool.run(
        random_key_increments,
        [(target, keys, UPDATES, seed) for seed in range(PROCESSES)],
    )

    made: Counter[str] = Counter()
    for counts in run.results:
        made.update(counts)
    assert made.total() == PROCESSES * UPDATES
    with open_store(target) as store:
        stored = {key: entry.total_tokens for key, entry in store.iter_entries()}
    assert stored == dict(made)
    assert sum(value or 0 for value in stored.values()) == PROCESSES * UPDATES


def test_concurrent_compare_and_set_has_exactly_one_winner(target: str, pool: WorkerPool) -> None:
    """8 processes ``put`` with the same ``expected_version`` at once: exactly one
    wins, every other one gets ``StaleEntryError`` naming the winner's version, and
    the winner's entry is what is stored."""
    key = "agent:main:cas"
    with open_store(target) as store:
        store.put(key, SessionEntry(session_id="cas", updated_at=BASE_MS, label="original"))
        _, version = store.get_with_version(key)
    assert version != 0

    run = pool.run(cas_contender, [(target, key, version, f"writer {n}") for n in range(PROCESSES)])

    winners = [outcome for outcome in run.results if outcome.won]
    losers = [outcome for outcome in run.results if not outcome.won]
    assert len(winners) == 1, run.results
    (winner,) = winners
    with open_store(target) as store:
        stored, final_version = store.get_with_version(key)
    assert stored == SessionEntry(session_id="cas", updated_at=BASE_MS, label=winner.label)
    assert winner.new_version == final_version != version
    assert len(losers) == PROCESSES - 1
    for loser in losers:
        assert loser.current_version != version
        assert loser.current_version == final_version

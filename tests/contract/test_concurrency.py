"""The contract, concurrency: threads here; processes in the reliability suite."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sessionstore import SessionStore, StaleEntryError
from tests.conftest import StoreFactory
from tests.contract.helpers import KEY, entry, increment


def test_concurrent_updates_lose_nothing(make_store: StoreFactory) -> None:
    stores = [make_store() for _ in range(4)]
    rounds = 25

    def work(store: SessionStore) -> None:
        for _ in range(rounds):
            store.update(KEY, increment)

    with ThreadPoolExecutor(len(stores)) as pool:
        list(pool.map(work, stores))
    final = stores[0].get(KEY)
    assert final is not None
    assert final.total_tokens == len(stores) * rounds


def test_concurrent_compare_and_set_has_one_winner(make_store: StoreFactory) -> None:
    stores = [make_store() for _ in range(4)]
    version = stores[0].put(KEY, entry(label="start"))
    barrier = threading.Barrier(len(stores))

    def attempt(n: int) -> int | None:
        """None if this writer won, else the current version it was told about."""
        barrier.wait()
        try:
            stores[n].put(KEY, entry(label=f"writer {n}"), expected_version=version)
        except StaleEntryError as exc:
            return exc.current_version
        return None

    with ThreadPoolExecutor(len(stores)) as pool:
        results = list(pool.map(attempt, range(len(stores))))
    assert results.count(None) == 1
    winner = results.index(None)
    assert all(current not in (None, version) for n, current in enumerate(results) if n != winner)
    assert stores[0].get(KEY) == entry(label=f"writer {winner}")


def test_versions_never_repeat_while_puts_and_deletes_of_one_key_race(
    make_store: StoreFactory,
) -> None:
    # A row created again after a delete must start above every version the key had,
    # also when the delete commits while the put is under way.
    writer, deleter = make_store(), make_store()
    rounds = 40
    returned: list[int] = []
    start = threading.Barrier(2)

    def put_all() -> None:
        start.wait()
        for n in range(rounds):
            returned.append(writer.put(KEY, entry(label=f"put {n}")))

    def delete_all() -> None:
        start.wait()
        for _ in range(rounds):
            deleter.delete(KEY)

    with ThreadPoolExecutor(2) as pool:
        for done in [pool.submit(put_all), pool.submit(delete_all)]:
            done.result()
    assert len(set(returned)) == rounds, sorted(returned)
    final = writer.put(KEY, entry(label="last"))
    assert final not in returned


def test_one_store_shared_by_threads_reads_entries_with_their_own_versions(
    make_store: StoreFactory,
) -> None:
    """Compare-and-set loops of threads sharing one store: a version read with an entry
    is that entry's, so every write that wins counts and none is lost."""
    store = make_store()
    store.put(KEY, entry(total_tokens=0))
    threads, rounds = 4, 30

    def work(n: int) -> None:
        done = 0
        while done < rounds:
            if n % 2:
                current, version = store.get_with_version(KEY)
            else:
                current, version = store.get_many_with_versions([KEY])[KEY]
            assert current is not None and current.total_tokens is not None
            try:
                store.put_many(
                    [(KEY, current.with_fields(totalTokens=current.total_tokens + 1))],
                    expected_versions={KEY: version},
                )
            except StaleEntryError:
                continue
            done += 1

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))
    final = store.get(KEY)
    assert final is not None and final.total_tokens == threads * rounds

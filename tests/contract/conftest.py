"""Runs the contract suite on both APIs and applies each backend's known divergences
(``tests/contract/backends.py``).

Every store a contract test opens (``store``, ``make_store``, ``transcript_store``,
``make_transcript_store``) comes once from :func:`sessionstore.open_store` (``sync``)
and once from :func:`sessionstore.open_async_store` (``async``, awaited on a loop
thread through :class:`~tests.contract.blocking.BlockingStore`): test ids end in
``-sync`` or ``-async``. Exactly the (test, backend, API) triples of the registry are
marked ``xfail(strict=True)`` with the reason, so a divergence fixed without updating
the registry fails the suite (XPASS strict). The same for the (tier, backend) pairs of
the transcript suite."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from sessionstore import SessionStore, open_async_store, open_store
from tests.conftest import StoreFactory
from tests.contract.backends import BACKENDS, SYNC_API_ONLY, TRANSCRIPT_PAIRS
from tests.contract.blocking import BlockingStore, LoopThread

__all__ = ["TranscriptStoreFactory"]

HERE = Path(__file__).parent


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest) -> str:
    """The API a contract test runs through: ``sync`` or ``async``."""
    return str(request.param)


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    """The event loop of the test's async stores, on a thread of its own."""
    loop = LoopThread()
    yield loop
    loop.stop()


@pytest.fixture
def open_through(api: str, request: pytest.FixtureRequest) -> Callable[..., SessionStore]:
    """``open_store`` for the sync API; for the async one, ``open_async_store`` seen
    through :class:`BlockingStore` (the loop is started only then)."""
    if api == "sync":
        return open_store
    # Set up here, so that it is torn down after the fixtures that close the stores.
    loop: LoopThread = request.getfixturevalue("loop_thread")

    def open_async(target: str, **options: object) -> SessionStore:
        store = BlockingStore(open_async_store(target, **options), loop)  # type: ignore[arg-type]
        loop.run(store.async_store.sync_store())  # opened now, as open_store does
        return store  # type: ignore[return-value]

    return open_async


@pytest.fixture
def make_store(target: str, open_through: Callable[..., SessionStore]) -> Iterator[StoreFactory]:
    """Opens stores on this test's target through its API; all are closed at the end."""
    opened: list[SessionStore] = []

    def factory(**options: object) -> SessionStore:
        store = open_through(target, **options)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


#: Opens another store of the test's (tier, backend) pair: ``factory(agent_id="other")``.
TranscriptStoreFactory = Callable[..., SessionStore]


@pytest.fixture(params=[pair.param() for pair in TRANSCRIPT_PAIRS.values()])
def transcript_pair(request: pytest.FixtureRequest) -> str:
    """The (tier, backend) pair a transcript contract test runs on, ``files-json`` ..."""
    return str(request.param)


@pytest.fixture
def make_transcript_store(
    transcript_pair: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    open_through: Callable[..., SessionStore],
) -> Iterator[TranscriptStoreFactory]:
    """Opens stores of this test's pair (one database per test, shared by the stores
    it opens); all are closed at the end."""
    opened: list[SessionStore] = []

    def factory(*, agent_id: str = "main") -> SessionStore:
        pair = TRANSCRIPT_PAIRS[transcript_pair]
        store = pair.open(request, tmp_path, agent_id=agent_id, opener=open_through)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def transcript_store(make_transcript_store: TranscriptStoreFactory) -> SessionStore:
    """A fresh store of agent ``main`` whose ``transcripts`` are the pair's tier."""
    return make_transcript_store()


def divergences_of(item: pytest.Item) -> Mapping[str, str]:
    """The known divergences of the backend or transcript pair ``item`` runs on."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "transcript_pair" in callspec.params:
        return TRANSCRIPT_PAIRS[str(callspec.params["transcript_pair"])].divergences
    backend = backend_of(item)
    return {} if backend is None else BACKENDS[backend].divergences


def _api_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return None if callspec is None else callspec.params.get("api")


def _name(item: pytest.Item) -> str:
    return str(getattr(item, "originalname", item.name))


def backend_of(item: pytest.Item) -> str | None:
    """The backend a contract test runs on, if it is parametrized over backends."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    for name in ("backend", "sql_backend"):
        if name in callspec.params:
            return str(callspec.params[name])
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    sync_only = [
        item for item in items if _api_of(item) == "async" and _name(item) in SYNC_API_ONLY
    ]
    if sync_only:
        config.hook.pytest_deselected(items=sync_only)
        items[:] = [item for item in items if item not in sync_only]
    for item in items:
        if not item.path.is_relative_to(HERE):
            continue
        reason = divergences_of(item).get(getattr(item, "originalname", item.name))
        if reason is not None:
            # raises: the divergence is the contract's assertion failing, not a crash
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason, raises=AssertionError))

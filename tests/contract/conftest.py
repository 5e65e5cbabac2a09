"""Applies each backend's known divergences (``tests/contract/backends.py``): exactly
those (test, backend) pairs are marked ``xfail(strict=True)`` with the reason, so a
divergence fixed without updating the registry fails the suite (XPASS strict)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contract.backends import BACKENDS

HERE = Path(__file__).parent


def backend_of(item: pytest.Item) -> str | None:
    """The backend a contract test runs on, if it is parametrized over backends."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    for name in ("backend", "sql_backend"):
        if name in callspec.params:
            return str(callspec.params[name])
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not item.path.is_relative_to(HERE):
            continue
        backend = backend_of(item)
        if backend is None:
            continue
        reason = BACKENDS[backend].divergences.get(getattr(item, "originalname", item.name))
        if reason is not None:
            # raises: the divergence is the contract's assertion failing, not a crash
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason, raises=AssertionError))

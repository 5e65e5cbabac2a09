"""What the framework adapters' tests share: the kinds of store they run on, and a
bounded ``asyncio.run``."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from tests.contract.backends import backend_params

T = TypeVar("T")

#: The safety net of every test, in seconds: a passing run takes a small part of it.
SAFETY_S = 120


@pytest.fixture(params=backend_params(["json", "sqlite", "postgresql", "mysql"]))
def backend(request: pytest.FixtureRequest) -> str:
    """The JSON twin (files tier), a SQLite file, PostgreSQL, MySQL (SQL tier)."""
    return str(request.param)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)``, given up after :data:`SAFETY_S`."""

    async def bounded() -> T:
        async with asyncio.timeout(SAFETY_S):
            return await coro

    return asyncio.run(bounded())

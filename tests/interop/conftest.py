"""Fixtures of the interop suite: the OpenClaw releases that judge sessionstore.

Each test here is marked ``interop``; ``make test`` leaves them out and ``make interop``
installs the releases and runs them. A release that is not installed skips its tests
with the reason, unless ``SESSIONSTORE_REQUIRE_INTEROP=1`` (set by CI), where they fail
instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.interop.openclaw import JSON_ERA, LOCK_ERA, SQLITE_ERA, OpenClaw, missing_reason

REQUIRE_INTEROP = os.environ.get("SESSIONSTORE_REQUIRE_INTEROP") == "1"
_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(pytest.mark.interop)


def _release(version: str) -> OpenClaw:
    reason = missing_reason(version)
    if reason is not None:
        if REQUIRE_INTEROP:
            pytest.fail(reason)
        pytest.skip(reason)
    return OpenClaw(version)


@pytest.fixture(scope="session")
def openclaw_json() -> OpenClaw:
    """The JSON era: OpenClaw 2026.7.35 (``sessions.json``, no lock file)."""
    return _release(JSON_ERA)


@pytest.fixture(scope="session")
def openclaw_sqlite() -> OpenClaw:
    """The SQLite era: OpenClaw 2026.9.6 (``agent/openclaw-agent.sqlite``)."""
    return _release(SQLITE_ERA)


@pytest.fixture(scope="session")
def openclaw_lock() -> OpenClaw:
    """The early-2026 design: OpenClaw 2026.3.31, which takes ``sessions.json.lock``."""
    return _release(LOCK_ERA)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """An OpenClaw state directory that does not exist yet."""
    return tmp_path / "state"

"""The registry itself (``tests/contract/backends.py``): each backend opens the store
it names, and every known divergence names a contract test and says why."""

from __future__ import annotations

import ast
from pathlib import Path

from sessionstore import SessionStore
from tests.contract.backends import BACKENDS
from tests.contract.blocking import behind

HERE = Path(__file__).parent


def test_each_backend_opens_its_store_class(store: SessionStore, backend: str) -> None:
    assert type(behind(store)) is BACKENDS[backend].store_class


def test_every_divergence_names_a_contract_test_and_a_reason() -> None:
    tests = {
        node.name
        for path in HERE.glob("test_*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    }
    for backend in BACKENDS.values():
        for name, reason in backend.divergences.items():
            assert name in tests, f"{backend.name}: no contract test {name}"
            assert reason.strip(), f"{backend.name}: {name} needs a reason"

"""``import sessionstore`` is light: the public names are loaded on first use, so a JSON
twin user never loads SQLAlchemy, Alembic or pydantic-settings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import sessionstore

HEAVY = ("sqlalchemy", "alembic", "pydantic_settings")


def _loaded_after(code: str) -> list[str]:
    """The heavy modules in ``sys.modules`` after a fresh interpreter runs ``code``."""
    probe = (
        f"{code}\nimport sys, json\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


def test_importing_the_package_loads_no_database_layer() -> None:
    assert _loaded_after("import sessionstore") == []


def test_the_json_twin_works_without_the_database_layer(tmp_path: Path) -> None:
    path = tmp_path / "sessions.json"
    code = (
        "from sessionstore import open_store, SessionEntry\n"
        f"with open_store({str(path)!r}) as store:\n"
        "    store.put('agent:main:main', SessionEntry(session_id='s', updated_at=1))\n"
        "    assert store.get('agent:main:main').session_id == 's'\n"
        "    assert [i.key for i in store.list().items] == ['agent:main:main']\n"
    )
    assert _loaded_after(code) == []
    assert path.exists()


def test_opening_a_database_loads_it_on_demand(tmp_path: Path) -> None:
    code = (
        "from sessionstore import open_store\n"
        f"open_store({str(tmp_path / 's.db')!r}, auto_upgrade=True).close()\n"
    )
    assert "sqlalchemy" in _loaded_after(code)


def test_every_public_name_resolves_to_its_own_definition() -> None:
    """Each lazy export names the module that defines it (not one that re-exports it),
    so the name it returns is the object itself."""
    for name in sessionstore.__all__:
        value = getattr(sessionstore, name)
        if name != "__version__" and hasattr(value, "__module__"):
            assert value.__module__ == sessionstore._EXPORTS[name], name
    assert sessionstore.__version__.count(".") >= 2

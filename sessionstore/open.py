"""Opening a store: :func:`open_store`, the one place that names the backends.

A target is a URL or a path. Its form chooses the backend, and a backend's module is
imported only when a store of it is opened, so a JSON-twin user never loads
SQLAlchemy:

- ``json:///abs/sessions.json`` or a path ending in ``.json``: the JSON twin,
  :class:`~sessionstore.backends.jsonfile.JsonFileStore`;
- ``sqlite:///path.db`` or any other plain path: a SQLite file,
  :class:`~sessionstore.backends.sqlite.SqliteStore`;
- any other SQLAlchemy URL (PostgreSQL, MySQL/MariaDB, SQLite in memory):
  :class:`~sessionstore.backends.sql.SqlStore`.

``sqlite+pysqlite:///path.db`` names SQLite through SQLAlchemy explicitly (the SQL
backend), for tools that want the engine.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "sessions.json")
>>> with open_store(path) as store:
...     _ = store.put("agent:main:main", {"sessionId": "s1", "updatedAt": 1})
...     store.count()
1
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from sessionstore.contract import SessionStore
from sessionstore.entry import MAX_ENTRY_BYTES

__all__ = ["backend_of", "database_url", "is_json_target", "open_store"]

#: Backend name -> (module, class). Imported on first use (see module docstring).
BACKENDS = {
    "json": ("sessionstore.backends.jsonfile", "JsonFileStore"),
    "sqlite": ("sessionstore.backends.sqlite", "SqliteStore"),
    "sql": ("sessionstore.backends.sql", "SqlStore"),
}


def is_json_target(target: str | Path) -> bool:
    """Whether ``open_store`` opens ``target`` as the JSON twin.

    The scheme decides first: a URL is never taken for a path, whatever it ends in.

    >>> is_json_target("json:///srv/sessions.json"), is_json_target("sqlite:///s.db")
    (True, False)
    >>> is_json_target("sqlite:///srv/a.json"), is_json_target("/srv/a.json")
    (False, True)
    """
    text = str(target)
    if "://" in text:
        return text.startswith("json://")
    return text.endswith(".json")


def database_url(target: str | Path) -> str:
    """A database URL for a URL or a plain path (a SQLite file).

    >>> database_url("postgresql+psycopg://db/app")
    'postgresql+psycopg://db/app'
    >>> database_url("/srv/state/sessions.db")
    'sqlite:////srv/state/sessions.db'
    """
    text = str(target)
    return text if "://" in text else f"sqlite:///{Path(text).absolute()}"


def backend_of(target: str | Path) -> str:
    """The name (a key of :data:`BACKENDS`) of the backend that opens ``target``.

    >>> [backend_of(t) for t in ("a.json", "s.db", "sqlite+pysqlite:///s.db", "mysql://h/d")]
    ['json', 'sqlite', 'sql', 'sql']
    >>> backend_of("sqlite://")  # in memory
    'sql'
    """
    if is_json_target(target):
        return "json"
    scheme, _, rest = database_url(target).partition("://")
    database = rest.removeprefix("/").partition("?")[0]
    # SqliteStore opens plain files; a database in memory lives in one connection,
    # which SQLAlchemy's pool keeps, and file: URIs need the URI flag it sets.
    plain_file = database not in ("", ":memory:") and not database.startswith("file:")
    return "sqlite" if scheme == "sqlite" and plain_file else "sql"


def _backend(name: str) -> Any:
    module, cls = BACKENDS[name]
    return getattr(importlib.import_module(module), cls)


def open_store(
    target: str | Path,
    *,
    agent_id: str = "main",
    auto_upgrade: bool = False,
    lock_timeout: float | None = None,
    engine_options: Mapping[str, Any] | None = None,
    max_entry_bytes: int = MAX_ENTRY_BYTES,
    read_only: bool = False,
    transcripts: Literal["files", "sql"] | None = None,
    transcripts_dir: str | os.PathLike[str] | None = None,
) -> SessionStore:
    """Open a store by URL or path (see the module docstring for the forms).

    A database whose schema is behind the newest revision is refused with
    :class:`~sessionstore.errors.SchemaOutdatedError` unless ``auto_upgrade=True``.
    Options that do not apply to the chosen backend are ignored, so switching backends
    is changing the URL alone: ``lock_timeout`` (seconds, default 10) is the JSON
    twin's wait for its lock file; ``engine_options`` go to SQLAlchemy's
    ``create_engine`` for the SQL backend; ``read_only=True`` opens a SQLite file
    read-only (``SqliteStore``: writes are refused, the file is left as it was found,
    nothing is created). Entries larger than ``max_entry_bytes`` of JSON are refused by
    every backend.

    ``transcripts`` chooses where ``store.transcripts`` keeps the conversations:
    ``"files"``, OpenClaw's ``<sessionId>.jsonl`` files in ``transcripts_dir``, or
    ``"sql"``, tables in the same database as the index. ``None`` is each backend's
    default: files for the JSON twin (which only has files; ``"sql"`` is refused there),
    ``"sql"`` for a database. ``transcripts_dir`` is the files' directory: by default
    that of the twin's ``sessions.json`` (OpenClaw's sessions directory); a database
    needs it with ``transcripts="files"``.

    >>> import os, tempfile
    >>> directory = tempfile.mkdtemp()
    >>> with open_store(os.path.join(directory, "sessions.json")) as twin:
    ...     type(twin).__name__
    'JsonFileStore'
    >>> with open_store(os.path.join(directory, "sessions.db"), auto_upgrade=True) as db:
    ...     type(db).__name__, db.url.startswith("sqlite:///")
    ('SqliteStore', True)
    """
    name = backend_of(target)
    options: dict[str, Any] = {"agent_id": agent_id, "max_entry_bytes": max_entry_bytes}
    if transcripts is not None:
        options["transcripts"] = transcripts
    if transcripts_dir is not None:
        options["transcripts_dir"] = transcripts_dir
    if name == "json":
        location = str(target).removeprefix("json://")
        if lock_timeout is not None:
            options["lock_timeout"] = lock_timeout
    else:
        location = database_url(target)
        options["auto_upgrade"] = auto_upgrade
        if name == "sql":
            options["engine_options"] = engine_options
        elif read_only:
            options["read_only"] = True
    store: SessionStore = _backend(name)(location, **options)
    return store

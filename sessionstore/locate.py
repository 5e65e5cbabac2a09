"""Which store, which agent, which file: the one resolver the CLI, ``transfer`` and
``settings`` share.

A store is named three ways, and :class:`Location` tells them apart:

- a **database** (a URL or a SQLite file): one store for every agent;
- **one** ``sessions.json`` (``json:///…`` or a path ending in ``.json``): one agent's,
  named by its place in a state directory (``agents/<id>/sessions/sessions.json``);
- the **state directory's** ``sessions.json`` files (store type ``json``): one file
  per agent, ``<state>/agents/<id>/sessions/sessions.json``.

>>> where = locate(store_type="JSON", state_dir=Path("/srv/openclaw"))
>>> where.kind, where.target_for("work")
('json-dir', '/srv/openclaw/agents/work/sessions/sessions.json')
>>> locate(url="sqlite:///s.db", state_dir=Path("/srv")).target_for("work")
'sqlite:///s.db'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from sessionstore.contract import SessionStore, SupportsAgents
from sessionstore.entry import validate_agent_id
from sessionstore.errors import InvalidArgumentError, SchemaOutdatedError, StoreUnavailableError
from sessionstore.open import database_url, is_json_target, open_store
from sessionstore.openclaw.statedir import (
    DEFAULT_AGENT_ID,
    agent_of_store_path,
    discover_agents,
    sessions_dir,
    store_path,
    store_pattern,
)
from sessionstore.sql.engine import mask_url, sqlite_file, sqlite_in_memory

__all__ = [
    "Location",
    "default_target",
    "describe_target",
    "locate",
    "open_existing",
    "require_database",
    "require_persistent",
    "source_agents",
    "store_type_of",
]

Kind = Literal["database", "json-file", "json-dir"]


def default_target(state_dir: str | os.PathLike[str]) -> str:
    """The embedded default: ``sessionstore.db`` (SQLite) in the state directory."""
    return database_url(Path(state_dir).absolute() / "sessionstore.db")


def describe_target(target: str | Path) -> str:
    """A target fit for messages: a file path as it is, a database URL password-masked.

    >>> describe_target("postgresql+psycopg://bob:secret@db/app")
    'postgresql+psycopg://bob:***@db/app'
    """
    text = str(target)
    return text if is_json_target(text) else mask_url(database_url(text))


def store_type_of(target: str | Path) -> str:
    """``json`` for the JSON twin, else the database's backend name (``sqlite``,
    ``postgresql``, ``mysql``).

    >>> store_type_of("a.json"), store_type_of("mysql+pymysql://h/d")
    ('json', 'mysql')
    """
    if is_json_target(target):
        return "json"
    return make_url(database_url(target)).get_backend_name()


def _missing_sqlite_file(target: str | Path) -> Path | None:
    """The SQLite file ``target`` names, if it does not exist."""
    if is_json_target(target):
        return None
    path = sqlite_file(database_url(target))
    return path if path is not None and not path.exists() else None


def require_database(target: str | Path) -> None:
    """A missing SQLite file is an error, with how to create it (reading creates
    nothing)."""
    path = _missing_sqlite_file(target)
    if path is not None:
        raise StoreUnavailableError(
            f"no database at {path}: create it from an OpenClaw state directory with "
            "`sessionstore migrate --state-dir DIR`, or empty with `sessionstore db upgrade`"
        )


def require_persistent(target: str | Path) -> None:
    """Refuse a SQLite database in memory as the place to keep sessions: everything
    written to it vanishes when the process ends.

    >>> try:
    ...     require_persistent("sqlite://")
    ... except InvalidArgumentError as exc:
    ...     print(str(exc)[:32])
    sqlite:// names no database path
    >>> require_persistent("sqlite:///srv/sessionstore.db")  # a file: fine
    """
    if is_json_target(target):
        return
    try:
        in_memory = sqlite_in_memory(database_url(target))
    except ArgumentError:
        return  # not a URL of any database: opening it says so
    if in_memory:
        raise InvalidArgumentError(
            f"{target} names no database path: a SQLite database in "
            "memory vanishes when the command ends; name a file, e.g. "
            "sqlite:///path/to/sessionstore.db"
        )


def open_existing(target: str, agent_id: str) -> SessionStore | None:
    """The store at ``target`` if it already exists, creating nothing (dry runs);
    ``None`` when there is no database or no schema yet."""
    if _missing_sqlite_file(target) is not None:
        return None
    try:
        return open_store(target, agent_id=agent_id)
    except SchemaOutdatedError:
        return None  # no schema yet: every entry would be new


def _file_agent(target: str) -> str | None:
    return agent_of_store_path(target.removeprefix("json://"))


def source_agents(source: str) -> list[str]:
    """Every agent a store holds: a database's agents, or the one of a ``sessions.json``."""
    if is_json_target(source):
        return [_file_agent(source) or DEFAULT_AGENT_ID]
    require_database(source)
    with open_store(source) as store:
        return store.agent_ids() if isinstance(store, SupportsAgents) else [store.agent_id]


@dataclass(frozen=True)
class Location:
    """Where the sessions of a command live (see the module docstring)."""

    kind: Kind
    #: the URL or path as given; for ``json-dir``, the default agent's file
    target: str
    state_dir: Path
    default_agent: str = DEFAULT_AGENT_ID
    #: the embedded default (store type ``sqlite``): created on first use
    embedded: bool = False

    def target_for(self, agent_id: str) -> str:
        """The URL or path of ``agent_id``'s store."""
        if self.kind == "json-dir":
            return str(store_path(self.state_dir, agent_id))
        return self.target

    def describe(self) -> str:
        """The store for messages (a state directory's files by their pattern)."""
        if self.kind == "json-dir":
            return str(store_pattern(self.state_dir))
        return describe_target(self.target)

    def agents(self, chosen: list[str] | None = None, *, every: bool = False) -> list[str]:
        """The agents a command works on: ``chosen``, ``every`` agent stored, or the
        default one. A ``sessions.json`` inside a state directory names its agent."""
        if chosen and every:
            raise InvalidArgumentError("use --agent or --all-agents, not both")
        if self.kind == "json-file":
            named = _file_agent(self.target)
            wanted = [validate_agent_id(a) for a in chosen or [named or self.default_agent]]
            if named is not None and wanted != [named]:
                raise InvalidArgumentError(
                    f"{self.target} holds the sessions of agent {named!r} only, "
                    f"not {', '.join(repr(a) for a in wanted)}"
                )
            return wanted
        if chosen:
            return [validate_agent_id(a) for a in chosen]
        if not every:
            return [self.default_agent]
        if self.kind == "json-dir":
            return [source.agent_id for source in discover_agents(self.state_dir)]
        return source_agents(self.target)

    def open(self, agent_id: str, *, read_only: bool = False) -> SessionStore:
        """Open ``agent_id``'s store for reading and maintenance; creates nothing.
        ``read_only``: for a command that only reads, so that a SQLite file, maybe
        another application's, is left exactly as it was. A state directory's
        ``sessions.json`` keeps its transcripts where OpenClaw does, as files in the
        agent's sessions directory; a database keeps its own default (``sql``)."""
        target = self.target_for(agent_id)
        require_database(target)
        if self.kind == "json-dir":
            return open_store(
                target,
                agent_id=agent_id,
                read_only=read_only,
                transcripts="files",
                transcripts_dir=sessions_dir(self.state_dir, agent_id),
            )
        return open_store(target, agent_id=agent_id, read_only=read_only)


def locate(
    *,
    state_dir: Path,
    url: str | None = None,
    store_type: str = "sqlite",
    agent_id: str = DEFAULT_AGENT_ID,
) -> Location:
    """The :class:`Location` that a URL (which wins) or a store type names:
    ``sqlite`` (``sessionstore.db`` in the state directory), ``json`` (the state
    directory's files) or a database URL. Store types are case-insensitive."""
    if url:
        kind: Kind = "json-file" if is_json_target(url) else "database"
        return Location(kind, url, state_dir, agent_id)
    chosen = store_type.strip()
    if chosen.lower() == "sqlite":
        return Location("database", default_target(state_dir), state_dir, agent_id, embedded=True)
    if chosen.lower() == "json":
        return Location("json-dir", str(store_path(state_dir, agent_id)), state_dir, agent_id)
    if "://" in chosen:
        return Location("database", chosen, state_dir, agent_id)
    raise InvalidArgumentError(
        f"store type must be 'sqlite', 'json' or a database URL, got {store_type!r}"
    )

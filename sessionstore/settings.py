"""Opening a store from configuration: :class:`Settings` and :func:`open_configured`.

Settings come from arguments or from the environment: ``SESSIONSTORE_STORE_TYPE``
(``sqlite``, the default, ``json`` or a database URL), ``SESSIONSTORE_STATE_DIR``
(else OpenClaw's ``OPENCLAW_STATE_DIR``, else ``~/.openclaw``),
``SESSIONSTORE_AGENT_ID``, ``SESSIONSTORE_URL`` (a URL that wins over the type) and
``SESSIONSTORE_TRANSCRIPTS`` (``files`` or ``sql``: where the transcripts are).

>>> import tempfile
>>> settings = Settings(state_dir=tempfile.mkdtemp(), agent_id="work")
>>> settings.target().endswith("sessionstore.db")
True
>>> with open_configured(settings) as store:
...     store.count()
0
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from sessionstore.contract import (
    ImportRecord,
    SessionStore,
    SupportsImportRecords,
    TranscriptTier,
)
from sessionstore.entry import validate_agent_id
from sessionstore.errors import InvalidArgumentError, SessionStoreError
from sessionstore.locate import Location, locate
from sessionstore.open import open_store
from sessionstore.openclaw.merge import now_ms
from sessionstore.openclaw.statedir import legacy_store_path, sessions_dir, store_path
from sessionstore.transfer import Checksum, Status, migrate

__all__ = ["Settings", "open_configured"]

log = logging.getLogger(__name__)


class Settings(BaseSettings):
    """Where a store lives and which agent it serves.

    Fields not given come from the ``SESSIONSTORE_*`` environment variables.

    >>> settings = Settings(state_dir="/srv/openclaw", agent_id="work", store_type="json")
    >>> settings.target()
    '/srv/openclaw/agents/work/sessions/sessions.json'
    """

    model_config = SettingsConfigDict(
        env_prefix="SESSIONSTORE_", frozen=True, populate_by_name=True
    )

    #: ``sqlite`` (a file in the state directory), ``json`` (the agent's own
    #: ``sessions.json``) or a database URL
    store_type: str = "sqlite"
    #: OpenClaw's state directory
    state_dir: Path = Field(
        default=Path("~/.openclaw"),
        validation_alias=AliasChoices("SESSIONSTORE_STATE_DIR", "OPENCLAW_STATE_DIR"),
    )
    agent_id: str = "main"
    #: a database URL that wins over ``store_type``
    url: str | None = None
    #: where transcripts are: ``files`` (``.jsonl`` in the agent's sessions directory)
    #: or ``sql`` (the database's own tables); ``None``: files for a state directory's
    #: stores (its ``sessionstore.db`` included), ``sql`` for a database named by URL
    transcripts: TranscriptTier | None = None

    @field_validator("state_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("agent_id")
    @classmethod
    def _agent(cls, value: str) -> str:
        return validate_agent_id(value)

    @field_validator("transcripts", mode="before")
    @classmethod
    def _tier(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower() or None
        if value not in (None, "files", "sql"):
            raise InvalidArgumentError(f"transcripts must be 'files' or 'sql', got {value!r}")
        return value

    def location(self) -> Location:
        """Where the store these settings name lives (see :mod:`sessionstore.locate`)."""
        return locate(
            state_dir=self.state_dir,
            url=self.url,
            store_type=self.store_type,
            agent_id=self.agent_id,
        )

    def target(self) -> str:
        """The URL or path of the store these settings name, for their agent."""
        return self.location().target

    def transcript_options(self, agent_id: str | None = None) -> dict[str, Any]:
        """The ``transcripts``/``transcripts_dir`` options of
        :func:`~sessionstore.open.open_store` for ``agent_id``'s store (default: the
        settings' agent): a state directory keeps transcripts where OpenClaw does, in
        ``<state>/agents/<id>/sessions``, its ``sessionstore.db`` too; a database named
        by URL keeps them in its own tables; :attr:`transcripts` chooses otherwise.

        >>> Settings(state_dir="/srv/openclaw").transcript_options()["transcripts_dir"]
        PosixPath('/srv/openclaw/agents/main/sessions')
        >>> Settings(url="postgresql+psycopg://db/app").transcript_options()
        {'transcripts': 'sql'}
        """
        location = self.location()
        agent = validate_agent_id(agent_id or self.agent_id)
        tier = self.transcripts
        if tier is None:
            by_url = location.kind == "database" and not location.embedded
            tier = "sql" if by_url else "files"
        if tier == "sql":
            return {"transcripts": "sql"}
        if location.kind == "json-file":
            return {"transcripts": "files"}  # beside that sessions.json
        return {"transcripts": "files", "transcripts_dir": sessions_dir(self.state_dir, agent)}


def _driver_missing(url: str) -> ImportError | None:
    """The ImportError of the URL's database driver, if it cannot be imported."""
    try:
        make_url(url).get_dialect().import_dbapi()
    except ImportError as exc:
        return exc
    except ArgumentError as exc:
        raise InvalidArgumentError("not a database URL (expected dialect+driver://...)") from exc
    return None


def open_configured(settings: Settings | None = None, **options: Any) -> SessionStore:
    """Open the store that ``settings`` (default: from the environment) name.

    With the default ``sqlite`` type the database is created on first use, and an
    existing ``sessions.json`` of the agent is imported into it once, verified, and
    left in place. If the database driver cannot be imported, the agent's
    ``sessions.json`` (the JSON twin) is opened instead, with a warning. A database
    that is corrupt or unreachable is an error, never a fallback: that would fork the
    data. ``options`` go to :func:`~sessionstore.open.open_store`; the transcripts are
    where :meth:`Settings.transcript_options` says unless ``options`` name them.

    >>> import json, tempfile
    >>> from pathlib import Path
    >>> state = Path(tempfile.mkdtemp())
    >>> sessions = state / "agents" / "main" / "sessions"
    >>> sessions.mkdir(parents=True)
    >>> _ = (sessions / "sessions.json").write_text(
    ...     json.dumps({"agent:main:main": {"sessionId": "s1", "updatedAt": 1}})
    ... )
    >>> with open_configured(Settings(state_dir=state)) as store:  # imports sessions.json once
    ...     store.count(), (state / "sessionstore.db").exists()
    (1, True)
    """
    settings = settings or Settings()
    location = settings.location()
    target = location.target
    for name, value in settings.transcript_options().items():
        options.setdefault(name, value)
    if location.kind != "database":
        return open_store(target, agent_id=settings.agent_id, **options)
    json_path = store_path(settings.state_dir, settings.agent_id)
    missing = _driver_missing(target)
    if missing is not None:
        log.warning(
            "the database driver for %s cannot be imported (%s); using %s instead",
            make_url(target).drivername,
            missing,
            json_path,
        )
        # the twin keeps its transcripts as files, beside it (OpenClaw's place)
        options.update(transcripts="files", transcripts_dir=json_path.parent)
        return open_store(json_path, agent_id=settings.agent_id, **options)
    options.setdefault("auto_upgrade", location.embedded)
    store = open_store(target, agent_id=settings.agent_id, **options)
    if location.embedded and isinstance(store, SupportsImportRecords):
        try:
            _import_once(store, settings, target)
        except BaseException:
            store.close()
            raise
    return store


def _import_once(store: SupportsImportRecords, settings: Settings, target: str) -> None:
    """Import the agent's ``sessions.json`` on the first open of the embedded store."""
    has_source = store_path(settings.state_dir, settings.agent_id).exists() or (
        legacy_store_path(settings.state_dir).exists()
    )
    if not has_source or store.last_import() is not None:
        return
    report = migrate(settings.state_dir, target, agents=[settings.agent_id])
    agent = report.agents[0]
    if agent.status is Status.NO_DATA:  # remember it, so the files are not read again
        empty = Checksum()
        store.record_import(
            ImportRecord(settings.agent_id, agent.source, 0, empty.hexdigest(), now_ms())
        )
    if agent.status is Status.FAILED:
        raise SessionStoreError(
            f"could not import the sessions of agent {settings.agent_id!r} on first open: "
            f"{agent.error}. Fix the source, or run `sessionstore migrate` to see details"
        )
    if agent.status is Status.PARTIAL:
        log.warning(
            "%d sessions of agent %r in %s failed validation and were not imported "
            "(run `sessionstore migrate --dry-run --json` to see which and why)",
            len(agent.rejected),
            settings.agent_id,
            agent.source,
        )
    log.info(
        "imported %d sessions of agent %r from %s into %s",
        agent.imported,
        settings.agent_id,
        agent.source,
        agent.target,
    )

"""sessionstore: a fast, correct store for AI-assistant chat sessions.

A hot index of session metadata in SQL (SQLite, PostgreSQL, MySQL/MariaDB) or in
OpenClaw's own ``sessions.json`` (the JSON twin), behind one contract.

>>> import sessionstore
>>> sorted(sessionstore.__all__)[:3]
['CorruptStoreError', 'DEFAULT_PAGE_SIZE', 'Filters']
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from sessionstore.entry import SessionEntry, SessionPage, SessionSummary
from sessionstore.errors import (
    CorruptStoreError,
    InvalidArgumentError,
    InvalidEntryError,
    SchemaOutdatedError,
    SessionStoreError,
    StaleEntryError,
    StoreLockedError,
    StoreUnavailableError,
)
from sessionstore.openclaw.transcripts import Transcripts, append_to_session
from sessionstore.settings import Settings, open_configured
from sessionstore.sql.upgrade import current_revision, downgrade, head_revision, upgrade
from sessionstore.store import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Filters, SessionStore, open_store

try:
    __version__ = _version("sessionstore")
except PackageNotFoundError:  # running from a checkout that is not installed
    __version__ = "0.0.0"

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "CorruptStoreError",
    "Filters",
    "InvalidArgumentError",
    "InvalidEntryError",
    "SchemaOutdatedError",
    "SessionEntry",
    "SessionPage",
    "SessionStore",
    "SessionStoreError",
    "SessionSummary",
    "Settings",
    "StaleEntryError",
    "StoreLockedError",
    "StoreUnavailableError",
    "Transcripts",
    "__version__",
    "append_to_session",
    "current_revision",
    "downgrade",
    "head_revision",
    "open_configured",
    "open_store",
    "upgrade",
]

"""Alembic environment shared by `alembic ...`, `sessionstore db ...` and upgrade().

URL precedence: a connection (or engine) passed in ``config.attributes["connection"]``, then
``-x url=...``, then the SESSIONSTORE_URL environment variable, then the ini file.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection, Engine

from sessionstore.sql.engine import WRITE, create_sql_engine
from sessionstore.sql.schema import VERSION_TABLE, is_search_object, metadata
from sessionstore.sql.upgrade import schema_lock

config = context.config
if config.config_file_name is not None and config.attributes.get("connection") is None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get("SESSIONSTORE_URL")
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise SystemExit(
            "no database URL: pass `-x url=sqlite:///sessions.db` or set SESSIONSTORE_URL"
        )
    return url


def _described(name: str | None, type_: str, _parent: object) -> bool:
    """Whether the models describe ``name``: the full-text search is built by each
    database its own way (revisions 0006 and 0007), so the drift check leaves it out."""
    return type_ not in ("table", "index", "column") or not is_search_object(name)


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        compare_type=True,
        compare_server_default=True,
        include_name=_described,
        **kwargs,
    )


def _run(connection: Connection) -> None:
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()
else:
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        _run(given)  # the caller owns the connection, its transaction and the schema lock
    else:
        # An engine given by a test harness (pytest-alembic), or our own from the URL.
        engine = given if isinstance(given, Engine) else create_sql_engine(_url())
        try:
            with (
                engine.connect().execution_options(**WRITE) as connection,
                schema_lock(connection, engine.url),  # one schema change at a time
            ):
                _run(connection)
                connection.commit()
        finally:
            if engine is not given:
                engine.dispose()

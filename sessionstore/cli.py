"""The ``sessionstore`` command: a thin shell over the library.

Every command prints one clear line and exits non-zero on failure (no traceback);
database URLs are always shown with the password masked.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated

import typer

from sessionstore import __version__
from sessionstore.errors import SessionStoreError
from sessionstore.sql import upgrade as schema
from sessionstore.sql.engine import database_url, mask_url

__all__ = ["app", "main"]

app = typer.Typer(
    help="Store AI-assistant chat sessions in SQL, with OpenClaw's sessions.json as a twin.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db = typer.Typer(
    help="Manage the database schema (Alembic revisions shipped with sessionstore).",
    no_args_is_help=True,
)
app.add_typer(db, name="db")

Url = Annotated[
    str,
    typer.Option(
        "--url",
        envvar="SESSIONSTORE_URL",
        help="Database URL or SQLite file, e.g. sqlite:///sessions.db (or set SESSIONSTORE_URL).",
        show_default=False,
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sessionstore {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Store AI-assistant chat sessions in SQL, with OpenClaw's sessions.json as a twin."""


def _move(url: str, step: Callable[[str, str], None], revision: str) -> None:
    """Run an upgrade or downgrade and say where the database went."""
    before = schema.current_revision(url)
    step(url, revision)
    after = schema.current_revision(url)
    typer.echo(f"{mask_url(url)}: {before or 'empty'} -> {after or 'empty'}")


@db.command("upgrade")
def db_upgrade(
    url: Url,
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Upgrade the schema (creates it on an empty database).

    Example: sessionstore db upgrade --url sqlite:///state/sessions.db
    """
    _move(database_url(url), schema.upgrade, revision)


@db.command("downgrade")
def db_downgrade(
    url: Url,
    revision: Annotated[str, typer.Argument(help="Target revision; 'base' removes every table.")],
) -> None:
    """Downgrade the schema to REVISION.

    Example: sessionstore db downgrade --url sqlite:///state/sessions.db base
    """
    _move(database_url(url), schema.downgrade, revision)


@db.command("current")
def db_current(url: Url) -> None:
    """Show the database's revision and the newest one this version knows.

    Example: sessionstore db current --url sqlite:///state/sessions.db
    """
    url = database_url(url)
    current = schema.current_revision(url)
    head = schema.head_revision()
    state = "up to date" if current == head else "behind: run `sessionstore db upgrade`"
    typer.echo(f"current: {current or 'empty'}  head: {head}  ({state})")


@db.command("check")
def db_check(url: Url) -> None:
    """Exit 0 if the database is at head and matches the models, 1 otherwise.

    Example: sessionstore db check --url sqlite:///state/sessions.db
    """
    url = database_url(url)
    schema.check(url)
    typer.echo(f"{mask_url(url)}: schema at {schema.head_revision()}, no drift")


def main() -> None:
    """Entry point of the ``sessionstore`` script and ``python -m sessionstore``."""
    try:
        app()
    except SessionStoreError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)

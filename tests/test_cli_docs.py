"""docs/cli.md cannot drift from the command line: every command has a section, every
option its --help lists is mentioned in that section, and every command's help shows an
example."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from sessionstore.cli import app

CLI_MD = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def subcommands(group: Any, prefix: str = "") -> dict[str, Any]:
    """Every command below ``group`` by its full name ("list", "db upgrade"), groups
    included, found recursively."""
    found = {}
    for name, command in getattr(group, "commands", {}).items():
        found[prefix + name] = command
        found.update(subcommands(command, f"{prefix}{name} "))
    return found


COMMANDS = subcommands(typer.main.get_command(app))
LEAVES = [name for name, command in COMMANDS.items() if not hasattr(command, "commands")]


def section(name: str) -> str:
    """The text under ``## sessionstore <name>``, up to the next level-2 heading."""
    text = CLI_MD.read_text(encoding="utf-8")
    heading = f"\n## sessionstore {name}\n"
    assert heading in text, f"docs/cli.md has no heading '## sessionstore {name}'"
    return re.split(r"^## ", text.split(heading, 1)[1], flags=re.MULTILINE)[0]


def help_text(name: str) -> str:
    done = CliRunner().invoke(app, [*name.split(), "--help"], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    return done.output


def test_commands_are_found() -> None:
    assert {"list", "show", "info", "migrate", "db", "db upgrade"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_a_section(name: str) -> None:
    assert section(name).strip()


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_is_in_its_section(name: str) -> None:
    options = [
        option
        for param in COMMANDS[name].params
        if param.param_type_name == "option" and not param.hidden
        for option in (*param.opts, *param.secondary_opts)
        if option.startswith("--")
    ]
    listed, documented = help_text(name), section(name)
    for option in options:
        assert option in listed, f"sessionstore {name} --help does not list {option}"
        assert re.search(rf"{option}(?![\w-])", documented), (
            f"docs/cli.md, section 'sessionstore {name}', does not mention {option}"
        )


@pytest.mark.parametrize("name", LEAVES)
def test_every_command_shows_an_example(name: str) -> None:
    assert "Example: sessionstore" in help_text(name)

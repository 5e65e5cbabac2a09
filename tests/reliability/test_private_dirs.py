"""Every directory the store creates on the way to a file is private (0700), the parents
included: ``mkdir(parents=True, mode=0o700)`` gives the mode to the last one only.

The SQLite file's directories are checked in ``test_sqlite_faults.py``; these are the
JSON twin's, the transcripts' and those an export makes.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from sessionstore import open_store
from sessionstore.openclaw.transcripts import Transcripts
from sessionstore.transfer import Status, export

ENTRY = {"sessionId": "s1", "updatedAt": 1}
HELLO = {"type": "message", "message": {"role": "user", "content": "hi"}}


# Under the common umask 022 a directory made without a mode is 0755, not 0700.
pytestmark = pytest.mark.usefixtures("usual_umask")


def _modes(root: Path, *names: str) -> dict[str, str]:
    return {name: oct(stat.S_IMODE((root / name).stat().st_mode)) for name in names}


def test_the_json_twin_makes_every_missing_directory_private(tmp_path: Path) -> None:
    with open_store(tmp_path / "a" / "b" / "c" / "sessions.json") as store:
        store.put("agent:main:main", ENTRY)
    assert _modes(tmp_path, "a", "a/b", "a/b/c") == dict.fromkeys(("a", "a/b", "a/b/c"), "0o700")


def test_transcripts_make_every_missing_directory_private(tmp_path: Path) -> None:
    Transcripts(tmp_path / "a" / "b" / "sessions").append(ENTRY, [HELLO])
    names = ("a", "a/b", "a/b/sessions")
    assert _modes(tmp_path, *names) == dict.fromkeys(names, "0o700")


def test_an_export_to_a_new_state_directory_makes_it_private(tmp_path: Path) -> None:
    source = tmp_path / "source.json"
    with open_store(source) as store:
        store.put("agent:main:main", ENTRY)
    report = export(source, state_dir=tmp_path / "state")
    assert [agent.status for agent in report.agents] == [Status.EXPORTED]
    names = ("state", "state/agents", "state/agents/main", "state/agents/main/sessions")
    assert _modes(tmp_path, *names) == dict.fromkeys(names, "0o700")

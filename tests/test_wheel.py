"""A wheel built from this checkout works in a fresh virtual environment outside it:
the command, the programmatic upgrade (migrations ship in the wheel) and the import."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

from sessionstore import head_revision

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str | Path, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SESSIONSTORE_URL")}
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


def test_wheel_installs_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "build", "--wheel", "--outdir", dist, ROOT, cwd=ROOT)
    wheel = next(dist.glob("sessionstore-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    work = tmp_path / "elsewhere"
    work.mkdir()
    _run(bin_dir / "python", "-m", "pip", "install", "--quiet", wheel, cwd=work)

    database = tmp_path / "x.db"
    out = _run(
        bin_dir / "sessionstore", "db", "upgrade", "--url", f"sqlite:///{database}", cwd=work
    )
    assert f"empty -> {head_revision()}" in out
    code = (
        "import sessionstore, pathlib\n"
        "assert 'site-packages' in sessionstore.__file__\n"
        f"s = sessionstore.open_store('sqlite:///{database}')\n"
        "s.put('agent:main:main', sessionstore.SessionEntry(session_id='s1', updated_at=1))\n"
        "print(s.count(), sessionstore.head_revision())\n"
        "s.close()\n"
    )
    assert _run(bin_dir / "python", "-c", code, cwd=work).split() == ["1", head_revision()]
    # the wheel carries the revisions and the type marker
    listing = _run(bin_dir / "python", "-m", "zipfile", "-l", wheel, cwd=work)
    assert "sessionstore/_alembic/versions/0001_create_sessions_table.py" in listing
    assert "sessionstore/py.typed" in listing

"""The benchmark of OpenClaw 2026.9.6 beside sessionstore runs end to end on a few
entries. Its figures are not checked: timing belongs to the benchmark itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.openclaw_peer import HEADING, OPERATIONS
from benchmarks.suite import MIN_SAMPLES
from tests.interop.openclaw import OpenClaw

ROOT = Path(__file__).resolve().parents[2]
PAGE = "# Benchmarks\n\n## Latency\n\nfigures\n\n## Notes\n\n- a note\n"


def _bench(tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "benchmarks/openclaw_peer.py", "--sizes", "60",
         "--repeats", str(MIN_SAMPLES), "--budget", "0", "--out", str(tmp_path / "peer.json"),
         "--markdown", str(tmp_path / "benchmarks.md")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_both_stores_are_timed_on_the_same_entries(
    openclaw_sqlite: OpenClaw, tmp_path: Path
) -> None:
    (tmp_path / "benchmarks.md").write_text(PAGE, encoding="utf-8")
    done = _bench(tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    (run,) = json.loads((tmp_path / "peer.json").read_text())["runs"]
    assert run["n"] == 60
    for side in ("openclaw", "sessionstore"):
        latency = run[side]["latency"]
        assert set(latency) == set(OPERATIONS)
        assert all(stat["samples"] >= MIN_SAMPLES for stat in latency.values())
    assert run["notes"] == ["N = 60: the 20 sampled entries read back alike on both sides."]
    page = (tmp_path / "benchmarks.md").read_text(encoding="utf-8")
    # The section goes before the notes, and the rest of the page stays as it was.
    assert page.index("## Latency") < page.index(HEADING) < page.index("## Notes")
    assert page.replace(page[page.index(HEADING) : page.index("## Notes")], "") == PAGE


def test_without_openclaw_it_says_why_and_writes_nothing(tmp_path: Path) -> None:
    done = _bench(tmp_path, {"SESSIONSTORE_INTEROP_CACHE": str(tmp_path / "empty")})
    assert done.returncode == 0, done.stderr
    assert "not run" in done.stdout and "make interop" in done.stdout
    assert not (tmp_path / "peer.json").exists() and not (tmp_path / "benchmarks.md").exists()

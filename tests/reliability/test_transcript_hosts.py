"""Several hosts, one PostgreSQL: four processes that share nothing but the database
URL (each its own interpreter, HOME, TMPDIR and working directory) append to one
session and page it at the same time. Afterwards no event is lost or duplicated, the
sequence is gap-free, and everything each host read was a prefix of the final order.

Each host is this module run as a program (``python -m``): it connects, says
``ready``, waits for ``go`` on its stdin, works, and prints what it saw as JSON.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

import pytest
from sqlalchemy import text

from sessionstore import TRANSCRIPT_START, TranscriptStore, open_store, upgrade
from tests.contract.backends import engine_of

HOSTS = 4
APPENDS = 60
#: How often (in appends) a host reads the whole transcript, alternating directions.
READ_EVERY = 6
KEY = "agent:main:shared"
ROOT = Path(__file__).resolve().parents[2]
#: The safety net against a hang, in seconds: never reached by a passing run.
HANG_LIMIT_S = 300.0


def _forward(transcripts: TranscriptStore) -> list[str]:
    """Every event id, oldest first, read page after page from the beginning."""
    ids: list[str] = []
    cursor: str | None = TRANSCRIPT_START
    while cursor is not None:
        page = transcripts.page(KEY, after=cursor, limit=7)
        ids += [event["id"] for event in page.items]
        cursor = page.next_cursor
    return ids


def _backward(transcripts: TranscriptStore) -> list[str]:
    """Every event id up to the newest at the first read, read newest first."""
    ids: list[str] = []
    page = transcripts.page(KEY, limit=7)
    while True:
        ids += [event["id"] for event in page.items]
        if page.next_cursor is None:
            return ids[::-1]
        page = transcripts.page(KEY, before=page.next_cursor, limit=7)


def host(url: str, number: int) -> None:
    """One host: append APPENDS events (each retried once), reading the transcript
    every READ_EVERY appends; prints ``{"observed": [...], "home": ..., "tmp": ...}``."""
    with open_store(url) as store:
        transcripts = store.transcripts
        transcripts.count(KEY)  # connected before the start
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            raise SystemExit("no start signal")
        observed: list[list[str]] = []
        for n in range(APPENDS):
            event = {
                "type": "message",
                "id": f"h{number}-{n}",
                "message": {"role": "user", "content": f"host {number} turn {n}"},
            }
            assert transcripts.append(KEY, [event]).written == 1
            assert transcripts.append(KEY, [event]).skipped == 1  # a retry after a crash
            if n % READ_EVERY == 0:
                read = _forward if n // READ_EVERY % 2 == 0 else _backward
                observed.append(read(transcripts))
        observed.append(_forward(transcripts))
    report = {
        "observed": observed,
        "home": os.environ["HOME"],
        "tmp": tempfile.gettempdir(),
    }
    print(json.dumps(report), flush=True)


def _line(stream: IO[str], deadline_s: float) -> str:
    """The next line of a host's output, failing instead of hanging."""
    ready, _, _ = select.select([stream], [], [], deadline_s)
    if not ready:
        raise TimeoutError(f"a host said nothing for {deadline_s:g}s")
    return stream.readline()


def _start_host(url: str, number: int, base: Path) -> subprocess.Popen[str]:
    place = base / f"host{number}"
    home, tmp = place / "home", place / "tmp"
    home.mkdir(parents=True)
    tmp.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.test_transcript_hosts", url, str(number)],
        cwd=place,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.postgres
@pytest.mark.slow
def test_hosts_sharing_one_postgresql_lose_nothing(postgresql_url: str, tmp_path: Path) -> None:
    upgrade(postgresql_url)
    with open_store(postgresql_url) as store:
        store.put(KEY, {"sessionId": "shared", "updatedAt": 1})
    hosts = [_start_host(postgresql_url, n, tmp_path) for n in range(HOSTS)]
    reports: list[dict[str, Any]] = []
    try:
        for proc in hosts:
            assert proc.stdout is not None
            said = _line(proc.stdout, HANG_LIMIT_S)
            assert said.strip() == "ready", said + (proc.stderr.read() if proc.stderr else "")
        for proc in hosts:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in hosts:
            out, err = proc.communicate(timeout=HANG_LIMIT_S)
            assert proc.returncode == 0, err
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in hosts:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    # nothing shared but the URL
    assert len({report["home"] for report in reports}) == HOSTS
    assert len({report["tmp"] for report in reports}) == HOSTS
    with open_store(postgresql_url) as store:
        final = _forward(store.transcripts)
        expected = {f"h{n}-{i}" for n in range(HOSTS) for i in range(APPENDS)}
        assert len(final) == len(expected) == HOSTS * APPENDS  # no duplicate
        assert set(final) == expected  # nothing lost
        for n in range(HOSTS):  # each host's events in the order it appended them
            assert [i for i in final if i.startswith(f"h{n}-")] == [
                f"h{n}-{i}" for i in range(APPENDS)
            ]
        with engine_of(store) as engine, engine.connect() as conn:
            seqs = [row[0] for row in conn.execute(text("SELECT seq FROM transcript_events"))]
        assert sorted(seqs) == list(range(HOSTS * APPENDS + 1))  # the header is 0
        entry = store.get(KEY)
        assert entry is not None and entry.message_count == HOSTS * APPENDS
        assert store.transcripts.count(KEY) == HOSTS * APPENDS
    reads = [seen for report in reports for seen in report["observed"]]
    assert len(reads) == HOSTS * (APPENDS // READ_EVERY + 1)
    for seen in reads:
        assert seen == final[: len(seen)]  # a prefix of the final order
    assert max(len(seen) for seen in reads) == len(final)


if __name__ == "__main__":
    host(sys.argv[1], int(sys.argv[2]))

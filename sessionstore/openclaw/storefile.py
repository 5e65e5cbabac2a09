"""OpenClaw's ``sessions.json`` as bytes: the guarded reader, the strict parser and the
serialiser that writes it as OpenClaw does (``JSON.stringify(store, null, 2)``).

Both the JSON twin and the state-directory reader use these, so a file is read and
written the same way everywhere.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, BinaryIO

from sessionstore.entry import dumps_json
from sessionstore.errors import CorruptStoreError, StoreUnavailableError
from sessionstore.files import NotRegularFileError, open_regular

__all__ = [
    "BOM",
    "MAX_STORE_BYTES",
    "DuplicateKeyError",
    "open_store_file",
    "parse_store_text",
    "read_bounded",
    "read_store_bytes",
    "serialise_store",
]

#: A UTF-8 byte-order mark, which hand-edited files sometimes start with.
BOM = b"\xef\xbb\xbf"
#: Largest ``sessions.json`` read (``max_store_bytes``): far above real stores, whose
#: entries are a few KB each, and a bound on the memory a stray file can take.
MAX_STORE_BYTES = 2 * 1024**3
_CHUNK = 1024 * 1024


def open_store_file(path: str | os.PathLike[str]) -> BinaryIO | None:
    """Open a ``sessions.json`` for reading; ``None`` when it does not exist.

    Only a regular file is read (:func:`~sessionstore.files.open_regular`): a FIFO, a
    device (a symlink to ``/dev/zero``) or a directory raises
    :class:`StoreUnavailableError`, without waiting for a FIFO's writer.

    >>> open_store_file("/dev/null")
    Traceback (most recent call last):
    ...
    sessionstore.errors.StoreUnavailableError: /dev/null is a character device, not a ...
    """
    try:
        fd = open_regular(path)
    except FileNotFoundError:
        return None
    except NotRegularFileError as exc:
        raise StoreUnavailableError(
            f"{path} is {exc.kind}, not a regular file; it was left untouched"
        ) from exc
    except OSError as exc:
        raise StoreUnavailableError(f"cannot read {path}: {exc.strerror}") from exc
    return open(fd, "rb", closefd=True)


def read_bounded(
    fh: BinaryIO, path: str | os.PathLike[str], max_bytes: int = MAX_STORE_BYTES
) -> bytes:
    """The content of a file opened by :func:`open_store_file`, at most ``max_bytes``:
    a larger file raises :class:`CorruptStoreError` without being read whole."""
    try:
        size = os.fstat(fh.fileno()).st_size
        text = b""
        if size <= max_bytes:
            # sized by the file, so a small store never asks for a max_bytes buffer
            text = fh.read(size + 1)
            while len(text) <= max_bytes:  # the file grew while being read
                more = fh.read(min(_CHUNK, max_bytes + 1 - len(text)))
                if not more:
                    break
                text += more
    except OSError as exc:
        raise StoreUnavailableError(f"cannot read {path}: {exc.strerror}") from exc
    if size > max_bytes or len(text) > max_bytes:
        raise CorruptStoreError(
            f"{path} is {max(size, len(text)):,} bytes, over the limit of {max_bytes:,} "
            "for a sessions store (max_store_bytes); it was left untouched"
        )
    return text


def read_store_bytes(
    path: str | os.PathLike[str], max_bytes: int = MAX_STORE_BYTES
) -> bytes | None:
    """A ``sessions.json``'s bytes, guarded as above; ``None`` when it does not exist.

    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "sessions.json"
    >>> _ = path.write_text("{}")
    >>> read_store_bytes(path), read_store_bytes(path.with_name("missing.json"))
    (b'{}', None)
    """
    fh = open_store_file(path)
    if fh is None:
        return None
    with fh:
        return read_bounded(fh, path, max_bytes)


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise DuplicateKeyError(f"duplicate key {duplicate!r}")
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def parse_store_text(text: bytes) -> Any:
    """Parse a ``sessions.json``: strict JSON in UTF-8 (a leading BOM is allowed).

    Duplicate keys are refused rather than silently dropped: whatever the next write
    would keep, it would lose the other copy. Raises ``ValueError`` saying what is wrong,
    also for nesting too deep to parse.

    >>> parse_store_text(b'{"a": 1, "a": 2}')
    Traceback (most recent call last):
    ...
    sessionstore.openclaw.storefile.DuplicateKeyError: duplicate key 'a'
    """
    try:
        body = text.removeprefix(BOM).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8: {exc}") from exc
    try:
        return json.loads(body, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("arrays or objects nested too deeply to parse") from None


def serialise_store(raw: Mapping[str, Any]) -> bytes:
    r"""The store as ``JSON.stringify(store, null, 2)`` writes it: 2-space indent, UTF-8.

    >>> serialise_store({"k": "\ud83d"})
    b'{\n  "k": "\\ud83d"\n}'
    """
    # Lone UTF-16 surrogates (a JavaScript string cut inside an emoji) are written as
    # JSON escapes, as JSON.stringify does.
    return dumps_json(raw, indent=True)

"""The store's files, handled safely: only regular files are opened, files are replaced
atomically and durably, and the directories the store makes are private (0700).

Every module that reads or writes a file of its own (``sessions.json``, its versions
sidecar, the skills-prompt files, transcripts, exports, a SQLite file's directory) goes
through these, so each of these rules is written once.
"""

from __future__ import annotations

import os
import stat
import uuid
from contextlib import suppress
from pathlib import Path

__all__ = [
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "NotRegularFileError",
    "fsync_directory",
    "make_private_dirs",
    "open_regular",
    "write_atomically",
]

#: The mode of the directories the store creates.
PRIVATE_DIR_MODE = 0o700
#: The mode of the files the store creates.
PRIVATE_FILE_MODE = 0o600

_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a directory",
    stat.S_IFSOCK: "a socket",
}


class NotRegularFileError(OSError):
    """What :func:`open_regular` found is not a regular file; ``kind`` says what it is
    (``"a FIFO"``, ``"a character device"``, ...)."""

    def __init__(self, path: str | os.PathLike[str], mode: int) -> None:
        self.kind = _KINDS.get(stat.S_IFMT(mode), "not a file")
        super().__init__(f"{os.fspath(path)} is {self.kind}, not a regular file")
        # for a caller that reports any OSError as "cannot read <path>: <strerror>"
        self.strerror = f"{self.kind}, not a regular file"


def open_regular(
    path: str | os.PathLike[str],
    flags: int = os.O_RDONLY,
    *,
    follow_symlinks: bool = True,
    dir_fd: int | None = None,
) -> int:
    """A descriptor on ``path`` (relative to ``dir_fd`` if given), which must be a
    regular file; a file created by ``O_CREAT`` in ``flags`` gets mode 0600.

    The open never waits (``O_NONBLOCK``: a read-only open of a FIFO waits for a
    writer), and the type is checked on the opened descriptor, so nothing swapped in
    after a check is used; the descriptor is then made blocking again. Raises
    :class:`NotRegularFileError` for a FIFO, a device or a directory, and ``OSError``
    (``ELOOP``) for a symbolic link when not ``follow_symlinks``.

    >>> open_regular("/dev/null")
    Traceback (most recent call last):
    ...
    sessionstore.files.NotRegularFileError: /dev/null is a character device, not a regular file
    """
    flags |= os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_symlinks else os.O_NOFOLLOW)
    fd = os.open(path, flags, PRIVATE_FILE_MODE, dir_fd=dir_fd)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(path, mode)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Make the entries of ``directory`` durable: a rename or a new file in it survives
    a crash once this returns."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    dir_fd: int | None = None,
    sync_directory: bool = True,
    sync_data: bool = True,
) -> os.stat_result:
    """Replace ``path`` (a name in ``dir_fd`` if given) with ``data``, all or nothing,
    and return the new file's stat.

    The data goes to a new temporary file beside it, ``<name>.<pid>.<hex>.tmp`` (mode
    0600, as OpenClaw names its own), which is fsynced and renamed over ``path``; then
    the directory is fsynced, unless ``sync_directory`` is false because the caller
    syncs it after a later rename. ``sync_data=False`` skips the fsync of the data, for
    a file that may be lost in a power failure (it is rebuilt, never trusted). A failure
    removes the temporary file and leaves ``path`` as it was.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.json"
    >>> _ = write_atomically(path, b"{}")
    >>> path.read_bytes(), oct(path.stat().st_mode & 0o777), len(list(path.parent.iterdir()))
    (b'{}', '0o600', 1)
    """
    if dir_fd is None:
        parent = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            name = os.path.basename(path)
            return write_atomically(
                name, data, dir_fd=parent, sync_directory=sync_directory, sync_data=sync_data
            )
        finally:
            os.close(parent)
    name = os.fspath(path)
    tmp = f"{name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, PRIVATE_FILE_MODE, dir_fd=dir_fd)
    try:
        try:
            os.fchmod(fd, PRIVATE_FILE_MODE)  # exactly 0600, whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if sync_data:
                os.fsync(fd)
            written = os.fstat(fd)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    if sync_directory:
        os.fsync(dir_fd)
    return written


def make_private_dirs(directory: str | os.PathLike[str]) -> None:
    """Create ``directory`` and its missing parents, each with mode 0700.

    ``Path.mkdir(parents=True, mode=...)`` and ``os.makedirs`` give the mode to the
    last directory only, and the parents they create get the default (0755).
    Directories that exist are left as they are.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> make_private_dirs(root / "a" / "b")
    >>> [oct((root / name).stat().st_mode & 0o777) for name in ("a", "a/b")]
    ['0o700', '0o700']
    """
    path = Path(directory)
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    for new in reversed(missing):
        new.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)

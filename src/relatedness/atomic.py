"""The only module that publishes files: write to a temp file, fsync, then ``os.replace``.

A reader therefore sees either the previous complete file or the new complete file under a
final name, never a half-written one, even if the process is killed mid-write. Published files
get the permissions a plain ``open(path, "w")`` would give them (``0o666`` less the umask), not
the ``0o600`` of ``tempfile.mkstemp``: model files, diffs and precompute output are read by
other users (the web server), and a site chooses who with its umask (:func:`file_mode`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

__all__ = [
    "TEMP_PREFIX",
    "atomic_directory",
    "atomic_write",
    "file_mode",
    "fsync_dir",
    "sha256_file",
    "sweep_stale_temp",
    "write_new",
]

#: Temp files start with this, so a later run can recognise and sweep what a killed run left.
TEMP_PREFIX = ".tmp-"

_UMASK: int | None = None


def file_mode() -> int:
    """The permissions a plain ``open(path, "w")`` would give a new file (0o666 & ~umask).

    Temp files from ``tempfile.mkstemp`` are 0o600; published files must be readable by the
    site (often another user), so they are published with the mode the umask allows. The
    umask is read once per process (a server does not change it while it runs).
    """
    global _UMASK
    if _UMASK is None:
        try:  # Linux: read it without changing it (os.umask() would race with other threads)
            with open("/proc/self/status", encoding="ascii") as status:
                _UMASK = next(
                    int(line.split()[1], 8) for line in status if line.startswith("Umask:")
                )
        except (OSError, StopIteration, ValueError, IndexError):
            _UMASK = os.umask(0o022)
            os.umask(_UMASK)
    return 0o666 & ~_UMASK


def fsync_dir(directory: Path) -> None:
    """Flush a directory entry (the rename itself) to disk where the OS allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """Open a temp file beside ``path``; on success publish it as ``path``.

    The file is published with :func:`file_mode` (the umask's permissions). On any exception
    the temp file is removed and ``path`` is left as it was.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_write(target, "w", encoding="utf-8") as f:
    ...     _ = f.write("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX + path.name + ".", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            if hasattr(os, "fchmod"):  # not on Windows, where mkstemp's mode is not 0o600
                os.fchmod(handle.fileno(), file_mode())
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def sweep_stale_temp(directory: str | Path, *, directories: bool = False) -> int:
    """Remove temp files a killed run left in ``directory``; return how many.

    With ``directories`` also the temp directories (:func:`atomic_directory`'s staging): only
    for a caller that holds the directory's lock, since another writer's staging directory is
    a temp directory too until it is published.
    """
    removed = 0
    directory = Path(directory)
    if not directory.is_dir():
        return 0
    for entry in directory.iterdir():
        if not entry.name.startswith(TEMP_PREFIX):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                if directories:
                    shutil.rmtree(entry)
                    removed += 1
            else:
                entry.unlink()
                removed += 1
    return removed


def write_new(path: str | Path, data: bytes | Callable[[IO[bytes]], object]) -> None:
    """Create ``path`` (it must not exist), write ``data`` and fsync it.

    ``data`` is the bytes, or a function that writes them to the binary handle it is given
    (``lambda f: numpy.save(f, array)``: a large array is not copied into memory first).

    For files inside a staging directory of :func:`atomic_directory`: nobody reads them
    under a final name until the directory is published, so no temp file of their own is
    needed. They get the umask's permissions, like every published file.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    with os.fdopen(fd, "wb") as handle:
        if isinstance(data, bytes | bytearray | memoryview):
            handle.write(data)
        else:
            data(handle)
        handle.flush()
        os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """A staging directory beside ``path``; on success it is renamed to ``path`` in one step.

    ``path`` must not exist (``rename`` cannot replace a non-empty directory: publish a new
    directory under a new name and switch a pointer to it, as model saves and precompute runs
    do). The staging directory is named ``.tmp-<name>.<random>``, so a later writer that holds
    the parent's lock sweeps what a killed one left (:func:`sweep_stale_temp`). On any
    exception it is removed and nothing appears under ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "v-1"
    >>> with atomic_directory(target) as staging:
    ...     write_new(staging / "a.txt", b"done")
    >>> (target / "a.txt").read_bytes()
    b'done'
    """
    path = Path(path)
    staging = path.parent / f"{TEMP_PREFIX}{path.name}.{secrets.token_hex(4)}"
    os.mkdir(staging)  # 0o777 less the umask, like any directory the site creates
    try:
        yield staging
        fsync_dir(staging)
        os.rename(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_dir(path.parent)


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks (model files and output shards alike)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()

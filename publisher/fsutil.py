"""Files and folders: atomic writes (a reader never sees half a file, unchanged bytes are never
rewritten) and folders that are checked and created with a clear error naming the config key."""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from pathlib import Path

from .errors import PathError

_O_NEW = os.O_WRONLY | os.O_CREAT | os.O_TRUNC


def write_atomic(path: Path, data: bytes | Sequence[bytes], *, durable: bool = True) -> bool:
    """Write `data` to `path` via a temp file and a rename; return False if it was unchanged.

    `data`: the bytes, or pieces of them, written in order with writev (a feed document is
    hundreds of entries the renderer keeps anyway: joined first, they were copied once more).
    The rename alone guarantees that readers and a crashed writer never leave half a file.
    `durable` adds an fsync before the rename, so the bytes also survive a power cut; output
    that is rebuilt from the store anyway (feeds) can skip that cost. A failed write (a full
    disk) raises PathError naming the file and leaves the previous file as it was.
    """
    pieces = [data] if isinstance(data, (bytes, bytearray, memoryview)) else data
    try:
        if path.stat().st_size == sum(map(len, pieces)) and path.read_bytes() == b"".join(pieces):
            return False
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise _write_error(path, exc) from None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        try:
            fd = os.open(tmp, _O_NEW, 0o644)
        except FileNotFoundError:  # a new folder: made by the first file written into it
            make_folder(path.parent)
            fd = os.open(tmp, _O_NEW, 0o644)
        try:
            _write_all(fd, pieces)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _write_error(path, exc) from None
        raise
    return True


_IOV_MAX = 1024  # pieces one writev takes (POSIX allows as few as 16: Linux takes 1024)


def _write_all(fd: int, pieces: Sequence[bytes]) -> None:
    """Every piece, in order, however few bytes each write takes."""
    views: list[bytes | memoryview] = list(pieces)
    first = 0
    while first < len(views):
        chunk = views[first:first + _IOV_MAX]
        done = os.writev(fd, chunk)
        if done == sum(map(len, chunk)):  # the usual case: all of them
            first += len(chunk)
            continue
        while done >= len(views[first]):  # past the pieces written, into the one written in part
            done -= len(views[first])
            first += 1
        views[first] = memoryview(views[first])[done:]


def _write_error(path: Path, exc: OSError) -> PathError:
    if exc.errno == errno.ENOSPC:
        return PathError(f"{path}: cannot write: the disk is full",
                         "free some space there; the previous file is unchanged")
    return PathError(f"{path}: cannot write: {exc.strerror or exc}")


def folder_problem(path: Path) -> str | None:
    """Why `path` can be neither used nor created as a folder, or None. Creates nothing: an
    existing folder is fine; otherwise its nearest existing ancestor must be a writable folder."""
    if path.is_dir():
        return None
    if path.exists() or path.is_symlink():
        return f"{path} is a file, not a folder"
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{ancestor} is a file, not a folder"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"{ancestor} is not writable"
    return None


def make_folder(path: Path, key: str = "") -> Path:
    """Create `path` (and its parents); PathError names the config key and why it failed."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        why = folder_problem(path) or exc.strerror or str(exc)
        if key:
            raise PathError(f"{key}: cannot create the folder {path}: {why}",
                            f"create it, or point {key} to a folder that can be") from None
        raise PathError(f"{path}: cannot create the folder: {why}") from None
    return path

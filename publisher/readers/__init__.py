"""Seed readers: one seed file in, its content (`SeedContent`, no identity) out.

`read_seed` does every I/O check (size, encoding, symlinks, files still being written) and
hands the text to a pure parser chosen by suffix: `parse_scraped` (`*.txt`) or
`parse_markdown` (`*.md`).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path, PurePath

from ..errors import SeedError
from ..model import SeedContent, Site
from ..seedfiles import SEED_SUFFIXES, is_seed_candidate
from .markdown import parse_markdown
from .scraped import parse_scraped

__all__ = [
    "SEED_SUFFIXES",
    "is_seed_candidate",
    "parse_markdown",
    "parse_scraped",
    "read_seed",
    "seed_source",
]

_PARSERS: dict[str, Callable[..., SeedContent]] = {  # (text, source, site, *, utf8) -> content
    ".txt": parse_scraped,
    ".md": parse_markdown,
}
def seed_source(path: Path, seeds_dir: Path) -> str:
    """The seed's path relative to the seeds folder, as a posix string (its stable key)."""
    n = len(seeds_dir.parts)
    rest = path.parts[n:]
    if path.parts[:n] == seeds_dir.parts and rest and os.pardir not in rest:  # the usual case
        return "/".join(rest)
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(seeds_dir))
    if relative == os.curdir or relative.split(os.sep, 1)[0] == os.pardir:
        raise SeedError(_one_line(str(path)), "not inside the seeds folder")
    return PurePath(relative).as_posix()


def read_seed(
    path: Path | str, seeds_dir: Path, site: Site, max_bytes: int = 5_000_000
) -> SeedContent:
    """Read, check and parse one seed; SeedError (one line, with the reason) if it cannot.

    `path` may be a str (as the build's workers get it): when it is plainly `seeds_dir/source`
    no Path is made of it (`_plain_source`), which is a good share of reading a small seed.
    """
    source = _plain_source(path, seeds_dir) if type(path) is str else None
    if source is None:  # a Path, or a name that is not plainly `seeds_dir/source`
        path = path if isinstance(path, Path) else Path(path)
        source = seed_source(path, seeds_dir)
        suffix = path.suffix
    else:
        suffix = _suffix(source.rpartition("/")[2])
    parser = _PARSERS.get(suffix.lower())
    if parser is None:
        raise _error(path, f"not a seed file (expected {' or '.join(SEED_SUFFIXES)})")
    if type(path) is str or type(path) is _PLAIN_PATH:
        data = _read_bytes_fd(path, seeds_dir, source, max_bytes)
    else:  # a Path subclass may define its own stat() and open(): honour them
        data = _read_bytes(path, seeds_dir, max_bytes)
    text = _decode(path, data)
    try:
        return parser(text, source, site, utf8=data)
    except SeedError as exc:  # the parsers name the source; the operator wants the path
        raise type(exc)(_one_line(str(path)), exc.reason, exc.hint) from None


_PLAIN_PATH = type(Path())


def _plain_source(name: str, seeds_dir: Path) -> str | None:
    """`seed_source(Path(name), seeds_dir)` if `name` is `seeds_dir/source` written as
    `str(Path(name))` writes it (no empty, `.` or `..` part, no final slash: messages that
    name `name` then read as they would with a Path), else None: ask `seed_source`."""
    if type(seeds_dir) is not _PLAIN_PATH:
        return None
    folder = os.fspath(seeds_dir)
    if folder == os.curdir:
        return None
    prefix = folder if folder.endswith(os.sep) else folder + os.sep
    if not name.startswith(prefix):
        return None
    source = name[len(prefix) :]
    if not source or source[0] == "/" or source[-1] == "/" or "//" in source:
        return None
    if "/." in "/" + source and not {".", ".."}.isdisjoint(source.split("/")):
        return None
    return source


def _suffix(name: str) -> str:
    """`PurePath(name).suffix` of a file name."""
    i = name.rfind(".")
    return name[i:] if 0 < i < len(name) - 1 else ""
# O_NONBLOCK: opening a FIFO must not hang (fstat then refuses it); O_NOFOLLOW: a symlink as
# the last part fails to open (ELOOP), and takes the checked route instead.
_O_READ = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _read_bytes_fd(path: Path | str, seeds_dir: Path, source: str, max_bytes: int) -> bytes:
    """`_read_bytes` in the fewest system calls: open, fstat, read, fstat, close.

    The file is inside the seeds folder when no part of its path below `seeds_dir` is a
    symlink: its real path is then the seeds folder's real path plus `source`, and neither
    real path needs resolving. When a part is a symlink (or the path is not simply
    `seeds_dir/source`), `_read_bytes` resolves and compares them. "Still being written"
    compares fstat before and after the read of the same open file, and the length read.
    """
    try:
        fd = _open_below(os.fspath(path), os.fspath(seeds_dir), source)
    except OSError as exc:
        raise _error(path, f"cannot read: {exc.strerror or exc}") from None
    if fd is None:
        return _read_bytes(path if isinstance(path, Path) else Path(path), seeds_dir, max_bytes)
    try:
        try:
            before = os.fstat(fd)
            _check_size(path, before, max_bytes)
            data = os.read(fd, before.st_size + 1)  # +1: notice a file that grew meanwhile
            after = os.fstat(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise _error(path, f"cannot read: {exc.strerror or exc}") from None
    _check_unchanged(path, before, after, data)
    return data


def _open_below(name: str, folder: str, source: str) -> int | None:
    """An fd for `name` if it is `folder/source` with no symlink below `folder`, else None."""
    prefix = folder if folder.endswith(os.sep) else folder + os.sep
    if not _O_NOFOLLOW or not name.startswith(prefix) or name[len(prefix) :] != source:
        return None
    if "/" in source:  # the folders between the seeds folder and the file
        parts = source.split("/")
        for i in range(1, len(parts)):
            if stat.S_ISLNK(os.lstat(prefix + "/".join(parts[:i])).st_mode):
                return None
    try:
        return os.open(name, _O_READ | _O_NOFOLLOW)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK) and os.path.islink(name):
            return None
        raise


def _read_bytes(path: Path, seeds_dir: Path, max_bytes: int) -> bytes:
    """The file's bytes, after the symlink, size and stability checks."""
    try:
        root = os.path.realpath(seeds_dir)
        if os.path.commonpath((os.path.realpath(path), root)) != root:
            raise _error(path, "symlink points outside the seeds folder")
        before = path.stat()
        _check_size(path, before, max_bytes)
        with path.open("rb", buffering=0) as fh:
            data = fh.read(before.st_size + 1)  # +1: notice a file that grew meanwhile
        after = path.stat()
    except OSError as exc:
        raise _error(path, f"cannot read: {exc.strerror or exc}") from None
    _check_unchanged(path, before, after, data)
    return data


def _check_size(path: Path, before: os.stat_result, max_bytes: int) -> None:
    if not stat.S_ISREG(before.st_mode):
        raise _error(path, "not a regular file")
    if before.st_size == 0:
        raise _error(path, "empty file")
    if before.st_size > max_bytes:
        raise _error(path, f"too large: {before.st_size} bytes (limit {max_bytes})")


def _check_unchanged(
    path: Path, before: os.stat_result, after: os.stat_result, data: bytes
) -> None:
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or len(
        data
    ) != before.st_size:
        raise _error(path, "still being written (size or time changed while reading)")


def _decode(path: Path | str, data: bytes) -> str:
    """UTF-8 text of a seed; binary and non-UTF-8 files are refused, blank files too."""
    if b"\x00" in data:
        raise _error(path, "binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start]
        raise _error(path, f"not UTF-8: invalid byte 0x{bad:02x} at offset {exc.start}") from None
    first = text[:1]  # most seeds start with a letter: skip copying the text to strip it
    if (first in ("", "\ufeff") or first.isspace()) and not text.lstrip("\ufeff").strip():
        raise _error(path, "empty file (only whitespace)")
    return text


def _error(path: Path | str, reason: str) -> SeedError:
    return SeedError(_one_line(str(path)), reason)


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")

"""Which files in the seeds folder are seeds, and their size and mtime (stdlib only: cheap to import)."""

from __future__ import annotations

import os
import threading
from array import array
from itertools import chain
from operator import itemgetter
from pathlib import Path, PurePath
from typing import NamedTuple

from .errors import SeedError

SEED_SUFFIXES = (".txt", ".md")
_TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".swp", ".swo", ".swx", ".crdownload", ".download")


class SeedFile(NamedTuple):
    """A seed as scanned (a named tuple: a build makes one per seed, and a frozen dataclass
    costs several times as much to create)."""

    source: str  # path relative to the seeds folder, posix style: the seed's stable key
    path: str
    size: int
    mtime_ns: int


def is_seed_candidate(path: PurePath | str) -> bool:
    """A seed worth reading: a known suffix, not hidden, not an editor/download temp file."""
    return _is_seed_name(path.name if isinstance(path, PurePath) else os.path.basename(path))


def _is_seed_name(name: str) -> bool:
    # A name ending in a seed suffix cannot also end in a temp suffix or "~": only the
    # leading character is left to check.
    return name.lower().endswith(SEED_SUFFIXES) and name[:1] not in _NOT_FIRST


_NOT_FIRST = ("", ".", "#", "~")
_new = tuple.__new__
_source = itemgetter(0)  # builds a SeedFile without the named tuple's Python-level __new__


def scan_seed_files(seeds_dir: Path) -> tuple[list[SeedFile], list[SeedError]]:
    """Every seed candidate below `seeds_dir`, sorted by source, and the ones that cannot be
    stat'ed. (One `stat` per seed and nothing else: at 100,000 seeds this is most of what a
    build with nothing to do costs. Each folder is listed through its descriptor, so every
    stat is an `fstatat` relative to it, not a lookup of the whole path; the stats of a big
    folder are shared with a forked child, see `_stat_all`.)"""
    files: list[SeedFile] = []
    errors: list[SeedError] = []
    if not seeds_dir.is_dir():
        return files, [SeedError(str(seeds_dir), "seeds folder not found")]
    append = files.append
    pending = [("", str(seeds_dir))]
    while pending:
        prefix, folder = pending.pop()
        base = f"{folder}{os.sep}"
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            errors.append(SeedError(folder, f"cannot read: {exc.strerror}"))
            continue
        try:
            names = []
            with os.scandir(fd) as entries:
                for entry in entries:
                    name = entry.name
                    try:
                        if entry.is_dir(follow_symlinks=False):  # the d_type: no system call
                            if not name.startswith("."):
                                pending.append((f"{prefix}{name}/", base + name))
                            continue
                    except OSError as exc:
                        errors.append(SeedError(base + name, f"cannot read: {exc.strerror}"))
                        continue
                    if name.lower().endswith(SEED_SUFFIXES) and name[:1] not in _NOT_FIRST:
                        names.append(name)
            for name, (size, mtime_ns) in zip(names, _stat_all(fd, names)):
                if size < 0:
                    errors.append(SeedError(base + name, f"cannot read: {os.strerror(mtime_ns)}"))
                    continue
                append(_new(SeedFile, (prefix + name, base + name, size, mtime_ns)))
        finally:
            os.close(fd)
    files.sort(key=_source)  # a stable order whatever order the folder gives
    errors.sort(key=lambda e: e.path)
    return files, errors


SPLIT_STATS = 20_000  # a folder with more seeds than this has its stats taken by two processes


def _stat_all(fd: int, names: list[str]) -> list[tuple[int, int]]:
    """(size, mtime_ns) of each name in the folder open as `fd`; (-1, errno) for one that
    cannot be stat'ed. On this kind of VM a `stat` costs ~2.4 us, most of a 100,000-seed
    scan: with more than SPLIT_STATS names and no other thread running (forking a threaded
    process is unsafe), a forked child stats the second half while this process does the
    first, and sends its results back as one array of integers (-> 0.15 s instead of 0.25).
    Threads do not help: the GIL hand-offs around each short system call cost more."""
    if len(names) <= SPLIT_STATS or not hasattr(os, "fork") or threading.active_count() > 1:
        return _stats(fd, names)
    half = len(names) // 2
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return _stats(fd, names)
    if pid == 0:  # the child: stat, write, leave without running any cleanup of the parent's
        status = 1
        try:
            os.close(read_end)
            found = array("q", chain.from_iterable(_stats(fd, names[half:])))
            view = memoryview(found.tobytes())
            while view:
                view = view[os.write(write_end, view):]
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        mine = _stats(fd, names[:half])
        chunks = []
        while chunk := os.read(read_end, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
    theirs = array("q")
    theirs.frombytes(b"".join(chunks))
    if status != 0 or len(theirs) != 2 * (len(names) - half):
        return mine + _stats(fd, names[half:])  # the child failed: take them here
    return mine + list(zip(theirs[::2], theirs[1::2]))


def _stats(fd: int, names: list[str]) -> list[tuple[int, int]]:
    found = []
    append = found.append
    stat = os.stat
    for name in names:
        try:
            result = stat(name, dir_fd=fd)
        except OSError as exc:
            append((-1, exc.errno or 0))
            continue
        append((result.st_size, result.st_mtime_ns))
    return found

"""Which files in the seeds folder are seeds, and their size and mtime (stdlib only: cheap to import)."""

from __future__ import annotations

import os
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
    stat is an `fstatat` relative to it, not a lookup of the whole path.)"""
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
            with os.scandir(fd) as entries:
                for entry in entries:
                    name = entry.name
                    try:
                        if entry.is_dir(follow_symlinks=False):  # the d_type: no system call
                            if not name.startswith("."):
                                pending.append((f"{prefix}{name}/", base + name))
                            continue
                        if not name.lower().endswith(SEED_SUFFIXES) or name[:1] in _NOT_FIRST:
                            continue
                        stat = entry.stat()
                    except OSError as exc:
                        errors.append(SeedError(base + name, f"cannot read: {exc.strerror}"))
                        continue
                    append(_new(SeedFile, (prefix + name, base + name, stat.st_size,
                                           stat.st_mtime_ns)))
        finally:
            os.close(fd)
    files.sort(key=_source)  # a stable order whatever order the folder gives
    errors.sort(key=lambda e: e.path)
    return files, errors

"""Which files in the seeds folder are seeds, and their size and mtime (stdlib only: cheap to import)."""

from __future__ import annotations

import os
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
    lower = name.lower()
    return (
        lower.endswith(SEED_SUFFIXES)
        and not name.startswith((".", "#", "~"))
        and not lower.endswith(_TEMP_SUFFIXES)
        and not name.endswith("~")
    )


def scan_seed_files(seeds_dir: Path) -> tuple[list[SeedFile], list[SeedError]]:
    """Every seed candidate below `seeds_dir` in a stable order, and the ones that cannot be stat'ed."""
    files: list[SeedFile] = []
    errors: list[SeedError] = []
    if not seeds_dir.is_dir():
        return files, [SeedError(str(seeds_dir), "seeds folder not found")]
    pending = [("", str(seeds_dir))]
    while pending:
        prefix, folder = pending.pop()
        with os.scandir(folder) as entries:
            found = sorted(entries, key=lambda e: e.name)
        subfolders = []
        for entry in found:
            try:
                if entry.is_dir() and not entry.is_symlink():
                    if not entry.name.startswith("."):
                        subfolders.append((f"{prefix}{entry.name}/", entry.path))
                    continue
                if not _is_seed_name(entry.name):
                    continue
                stat = entry.stat()
            except OSError as exc:
                errors.append(SeedError(entry.path, f"cannot read: {exc.strerror}"))
                continue
            files.append(SeedFile(prefix + entry.name, entry.path, stat.st_size, stat.st_mtime_ns))
        pending.extend(reversed(subfolders))
    return files, errors

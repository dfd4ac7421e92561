"""Which files in the seeds folder are seeds, and their size and mtime (stdlib only: cheap to import)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePath

from .errors import SeedError

SEED_SUFFIXES = (".txt", ".md")
_TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".swp", ".swo", ".swx", ".crdownload", ".download")


@dataclass(frozen=True)
class SeedFile:
    source: str  # path relative to the seeds folder, posix style: the seed's stable key
    path: Path
    size: int
    mtime_ns: int


def is_seed_candidate(path: PurePath | str) -> bool:
    """A seed worth reading: a known suffix, not hidden, not an editor/download temp file."""
    name = PurePath(path).name
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
    for folder, dirs, names in os.walk(seeds_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        prefix = Path(folder).relative_to(seeds_dir).as_posix()
        for name in sorted(names):
            if not is_seed_candidate(name):
                continue
            path = Path(folder) / name
            try:
                stat = path.stat()
            except OSError as exc:
                errors.append(SeedError(str(path), f"cannot read: {exc.strerror}"))
                continue
            source = name if prefix == "." else f"{prefix}/{name}"
            files.append(SeedFile(source, path, stat.st_size, stat.st_mtime_ns))
    return files, errors

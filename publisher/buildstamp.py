"""The record of the last complete build (`build-feeds`, `tick`, a pass of `run`), so a rebuild with nothing changed is instant.

Like a build tool's log: it holds a key of every input (the config file, every seed's size and
mtime, the publisher version) and the size and mtime of every feed written. When the key and the
outputs still match, nothing could be re-parsed or re-rendered, and the store is not even opened.
Standard library only, so checking it costs no heavy imports.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .config import Settings
from .seedfiles import SeedFile


@dataclass
class BuildStamp:
    key: str
    outputs: dict[str, list[int]]  # path below feeds/ -> [size, mtime_ns]
    articles: int
    skipped: list[list[str]] = field(default_factory=list)  # [path, reason] of pages skipped
    failed: list[list[str]] = field(default_factory=list)  # [path, reason] of seeds failed
    notes: list[str] = field(default_factory=list)  # note lines of that build


def stamp_path(settings: Settings) -> Path | None:
    if settings.database.url:  # a shared database: other machines change it, no stamp
        return None
    return settings.database_path.with_name(
        settings.database_path.name + ".build.json")


def input_key(settings: Settings, files: list[SeedFile]) -> str:
    digest = hashlib.sha256()
    config = settings.config_path.read_bytes() if settings.config_path else b"defaults"
    digest.update(f"{__version__}\0{settings.root}\0".encode())
    digest.update(config)
    digest.update("".join([f"\0{f.source}\0{f.size}\0{f.mtime_ns}" for f in files]).encode())
    return digest.hexdigest()


def feed_outputs(feeds_dir: Path) -> dict[str, list[int]]:
    found = {}
    top = str(feeds_dir)
    for folder, _dirs, names in os.walk(top):
        below = os.path.relpath(folder, top).replace(os.sep, "/")
        prefix = "" if below == "." else f"{below}/"
        for name in names:
            if name.startswith("."):
                continue
            stat = os.stat(os.path.join(folder, name))
            found[prefix + name] = [stat.st_size, stat.st_mtime_ns]
    return found


def load_if_fresh(settings: Settings, key: str) -> BuildStamp | None:
    """The last build's stamp if its inputs and outputs are exactly as they are now."""
    path = stamp_path(settings)
    if path is None or not settings.database_path.exists():
        return None
    try:
        stamp = BuildStamp(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    if stamp.key != key or not all(len(pair) == 2 for pair in stamp.skipped + stamp.failed):
        return None
    feeds = f"{settings.feeds_dir}{os.sep}"  # os.stat on strings: a Path per output cost 3x
    stat = os.stat
    for relative, (size, mtime_ns) in stamp.outputs.items():
        try:
            found = stat(feeds + relative)
        except OSError:
            return None
        if found.st_size != size or found.st_mtime_ns != mtime_ns:
            return None
    return stamp


def save(settings: Settings, stamp: BuildStamp) -> None:
    from .fsutil import write_atomic

    path = stamp_path(settings)
    if path is not None:
        write_atomic(path, json.dumps(stamp.__dict__, sort_keys=True).encode(), durable=False)


def forget(settings: Settings) -> None:
    path = stamp_path(settings)
    if path is not None:
        path.unlink(missing_ok=True)

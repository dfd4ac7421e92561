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
from array import array
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from pathlib import Path

from . import __version__
from .config import Settings
from .seedfiles import SeedFile

_source = itemgetter(0)
_size_mtime = itemgetter(2, 3)


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
    # every seed's source, then every (size, mtime) as 64-bit integers: C loops, no formatting
    digest.update("\0".join(map(_source, files)).encode("utf-8", "surrogateescape"))
    digest.update(array("q", chain.from_iterable(map(_size_mtime, files))).tobytes())
    return digest.hexdigest()


def feed_outputs(feeds_dir: Path) -> dict[str, list[int]]:
    """Every file below `feeds_dir` (hidden ones left out): relative path -> [size, mtime_ns].
    One scandir walk (a DirEntry's stat, no path objects): at 100,000 articles there are
    30,000 outputs, and this walk is how a build learns which exist."""
    found: dict[str, list[int]] = {}
    pending = [("", str(feeds_dir))]
    while pending:
        prefix, folder = pending.pop()
        try:
            entries = os.scandir(folder)
        except FileNotFoundError:
            continue
        with entries:
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    pending.append((f"{prefix}{name}/", entry.path))
                    continue
                try:
                    stat = entry.stat()
                except OSError:
                    continue
                found[prefix + name] = [stat.st_size, stat.st_mtime_ns]
    return found


def refresh_outputs(feeds_dir: Path, outputs: dict[str, list[int]], written: list[str],
                    removed_folders: list[str]) -> dict[str, list[int]]:
    """`outputs` (as `feed_outputs` gave them before a build) after that build wrote `written`
    and removed `removed_folders`: what a walk would give now, without walking again."""
    gone = tuple(f"{folder}/" for folder in removed_folders)
    found = {path: pair for path, pair in outputs.items() if not path.startswith(gone)} \
        if gone else dict(outputs)
    top = f"{feeds_dir}{os.sep}"
    for relative in written:
        try:
            stat = os.stat(top + relative)
        except OSError:
            found.pop(relative, None)
            continue
        found[relative] = [stat.st_size, stat.st_mtime_ns]
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


def save(settings: Settings, stamp: BuildStamp, files: list[SeedFile]) -> None:
    """Record a complete build: its stamp, and beside it the seeds it saw (`last_seeds`)."""
    from .fsutil import write_atomic

    path = stamp_path(settings)
    if path is not None:
        sources = "\0".join(map(_source, files)).encode("utf-8", "surrogateescape")
        pairs = array("q", chain.from_iterable(map(_size_mtime, files))).tobytes()
        header = f"{_SEEDS_FORMAT} {__version__} {stamp.key} {len(sources)}\n".encode()
        write_atomic(_seeds_path(path), header + sources + pairs, durable=False)
        write_atomic(path, json.dumps(stamp.__dict__, sort_keys=True).encode(), durable=False)


def last_seeds(settings: Settings) -> dict[str, tuple[int, int]] | None:
    """source -> (size, mtime_ns) of every seed the last complete build saw, while its stamp
    stands (a build removes the stamp before it changes anything, and writes it again only
    once complete) and it was made by this version; None otherwise. What the store then holds
    of each of those seeds is what that build left: a scan need only read the others."""
    path = stamp_path(settings)
    if path is None:
        return None
    try:
        key = json.loads(path.read_bytes())["key"]
        data = _seeds_path(path).read_bytes()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    head, _, body = data.partition(b"\n")
    fields = head.decode("ascii", "replace").split(" ")
    if len(fields) != 4 or fields[:3] != [_SEEDS_FORMAT, __version__, key] \
            or not fields[3].isdigit():
        return None
    size = int(fields[3])
    pairs = array("q")
    try:
        pairs.frombytes(body[size:])
    except ValueError:
        return None
    sources = body[:size].decode("utf-8", "surrogateescape").split("\0") if size else []
    if len(pairs) != 2 * len(sources):
        return None
    return dict(zip(sources, zip(pairs[::2], pairs[1::2])))


def forget(settings: Settings) -> None:
    path = stamp_path(settings)
    if path is not None:
        path.unlink(missing_ok=True)
        _seeds_path(path).unlink(missing_ok=True)


_SEEDS_FORMAT = "publisher-seeds-1"


def _seeds_path(stamp: Path) -> Path:
    return stamp.with_name(stamp.name.removesuffix(".json") + ".seeds")

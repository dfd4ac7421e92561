"""The record of the last complete build (`build-feeds`, `tick`, a pass of `run`), so a rebuild with nothing changed is instant.

Like a build tool's log: it holds a key of every input (the config file, every seed's size and
mtime, the publisher version) and the size and mtime of every feed written. When the key and the
outputs still match, nothing could be re-parsed or re-rendered, and the store is not even opened.
Standard library only, so checking it costs no heavy imports.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from . import __version__
from .config import Settings
from .seedfiles import SeedFiles



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


class SeedListing(NamedTuple):
    """Every seed's source joined by NULs, and every (size, mtime) as 64-bit integers, in the
    order the scan listed them: what the key hashes and `last_build` gives back."""

    sources: str
    pairs: bytes

    @classmethod
    def of(cls, files: SeedFiles) -> SeedListing:
        return cls(files.sources_text(), files.pairs_bytes())


def input_key(settings: Settings, listing: SeedListing) -> str:
    digest = hashlib.sha256(settings_key(settings).encode())
    digest.update(listing.sources.encode("utf-8", "surrogateescape"))
    digest.update(listing.pairs)
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


def outputs_left(feeds_dir: Path, outputs: dict[str, list[int]]) -> dict[str, list[int]]:
    """`feed_outputs` after a complete build that left `outputs`, by one stat per output: the
    files since removed are left out, the ones since changed have their new size and mtime
    (files put there by others are not looked for: no build wrote them). At 100,000 articles
    this is 10,000 stats instead of a walk of 3,500 folders."""
    found: dict[str, list[int]] = {}
    top = f"{feeds_dir}{os.sep}"
    stat = os.stat
    for relative in outputs:
        try:
            result = stat(top + relative)
        except OSError:
            continue
        found[relative] = [result.st_size, result.st_mtime_ns]
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


def recorded(settings: Settings) -> dict[str, Any] | None:
    """The last complete build's stamp as written (read once per build: `load_if_fresh` and
    `last_build` take it), or None."""
    path = stamp_path(settings)
    if path is None or not settings.database_path.exists():
        return None
    try:
        record = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def load_if_fresh(settings: Settings, key: str, record: dict[str, Any] | None) -> BuildStamp | None:
    """The last build's stamp (`record`) if its inputs and outputs are exactly as they are now."""
    if record is None:
        return None
    try:
        stamp = BuildStamp(**record)
    except TypeError:
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


@dataclass(frozen=True)
class LastBuild:
    """What the last complete build saw and planned, while its stamp stands (a build removes
    the stamp before it changes anything and writes it again only once complete) and it was
    made by this version: the store then holds each of those seeds as that build left it."""

    seeds: dict[str, tuple[int, int]]  # source -> (size, mtime_ns)
    outputs: dict[str, list[int]]  # every file below feeds/ it left: path -> [size, mtime_ns]
    # its feed plan as `pipeline` recorded it (plain values), None if the settings changed since
    plan: object | None


def save(settings: Settings, stamp: BuildStamp, listing: SeedListing,
         plan: object | None = None) -> None:
    """Record a complete build: its stamp, and beside it what `last_build` gives back (`plan`:
    plain values the standard library's marshal can write)."""
    from .fsutil import write_atomic

    path = stamp_path(settings)
    if path is None:
        return
    record = (_LAST_FORMAT, __version__, stamp.key, settings_key(settings), listing.sources,
              listing.pairs, plan)
    write_atomic(_last_path(path), marshal.dumps(record), durable=False)
    write_atomic(path, json.dumps(stamp.__dict__, sort_keys=True).encode(), durable=False)


def last_build(settings: Settings, stamp: dict[str, Any] | None) -> LastBuild | None:
    """The last complete build (see `LastBuild`; `stamp` as `recorded` read it), or None."""
    path = stamp_path(settings)
    if path is None or stamp is None:
        return None
    try:
        key, outputs = stamp["key"], stamp["outputs"]
        record = marshal.loads(_last_path(path).read_bytes())
        form, version, made_for, settings_made, sources, pairs_bytes, plan = record
        if (form, version, made_for) != (_LAST_FORMAT, __version__, key):
            return None
        pairs = array("q")
        pairs.frombytes(pairs_bytes)
    except (OSError, ValueError, KeyError, TypeError, EOFError):
        return None
    names = sources.split("\0") if sources else []
    if len(pairs) != 2 * len(names):
        return None
    return LastBuild(dict(zip(names, zip(pairs[::2], pairs[1::2]))), outputs,
                     plan if settings_made == settings_key(settings) else None)


def settings_key(settings: Settings) -> str:
    """Changes whenever the settings could change a feed document (the config file's bytes)."""
    config = settings.config_path.read_bytes() if settings.config_path else b"defaults"
    return hashlib.sha256(f"{__version__}\0{settings.root}\0".encode() + config).hexdigest()


def forget(settings: Settings) -> None:
    path = stamp_path(settings)
    if path is not None:
        path.unlink(missing_ok=True)
        _last_path(path).unlink(missing_ok=True)


_LAST_FORMAT = "publisher-last-build-1"


def _last_path(stamp: Path) -> Path:
    """Beside the stamp: publisher.db.build.last (marshal: the standard library's fastest
    reader of 100,000s of strings)."""
    return stamp.with_name(stamp.name.removesuffix(".json") + ".last")

"""Which files in the seeds folder are seeds, and their size and mtime; and reading the ones to
parse ahead of the parser (stdlib only: cheap to import)."""

from __future__ import annotations

import os
import stat
import threading
from array import array
from collections.abc import Iterator, Sequence
from itertools import compress, repeat
from operator import itemgetter, ne
from pathlib import Path, PurePath
from typing import NamedTuple, overload

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


class SeedFiles(Sequence[SeedFile]):
    """The seeds of one scan: a sequence of `SeedFile`, sorted by source.

    Held as columns in the order the folders listed them (their sources, and every size and
    mtime as 64-bit integers): the `SeedFile`s and their sorted order are made the first time
    they are asked for. A build whose stamp shows nothing changed only hashes the columns
    (`sources_text`, `pairs_bytes`), and at 100,000 seeds making and sorting the records cost
    more than the stats. The folders list their names in the same order for as long as none
    is added or removed there, so the columns hash the same from one scan to the next."""

    __slots__ = ("_root", "_sources", "_pairs", "_sorted", "_index")

    def __init__(self, root: str, sources: list[str], pairs: array[int]) -> None:
        self._root = root
        self._sources = sources  # as listed
        self._pairs = pairs  # size, mtime_ns of each of them
        self._sorted: list[SeedFile] | None = None
        self._index: dict[str, int] | None = None

    def sources(self) -> list[str]:
        """Every source, in the order listed (not to be changed)."""
        return self._sources

    def find(self, source: str) -> SeedFile | None:
        """The seed `source` names, if scanned."""
        if self._index is None:
            self._index = dict(zip(self._sources, range(len(self._sources))))
        at = self._index.get(source)
        return None if at is None else self._file(at)

    def changed_since(self, seen: dict[str, tuple[int, int]]) -> list[SeedFile]:
        """The seeds whose (size, mtime_ns) is not what `seen` holds for their source (the new
        ones included), sorted by source: C-level loops over the columns, a record only for
        each of those."""
        pairs = self._pairs
        differ = compress(range(len(self._sources)),
                          map(ne, map(seen.get, self._sources), zip(pairs[::2], pairs[1::2])))
        return sorted(map(self._file, differ), key=_source)

    def _file(self, at: int) -> SeedFile:
        source = self._sources[at]
        local = source if os.sep == "/" else source.replace("/", os.sep)
        return _new(SeedFile, (source, f"{self._root}{os.sep}{local}", self._pairs[2 * at],
                               self._pairs[2 * at + 1]))

    def sources_text(self) -> str:
        """Every source, NUL-separated, in the order listed."""
        return "\0".join(self._sources)

    def pairs_bytes(self) -> bytes:
        """Every (size, mtime_ns), in the order listed, as 64-bit integers."""
        return self._pairs.tobytes()

    def _files(self) -> list[SeedFile]:
        if self._sorted is None:  # a stable order whatever order the folder gives
            self._sorted = sorted(map(self._file, range(len(self._sources))), key=_source)
        return self._sorted

    def __len__(self) -> int:
        return len(self._sources)

    @overload
    def __getitem__(self, index: int) -> SeedFile: ...

    @overload
    def __getitem__(self, index: slice) -> list[SeedFile]: ...

    def __getitem__(self, index: int | slice) -> SeedFile | list[SeedFile]:
        return self._files()[index]

    def __iter__(self) -> Iterator[SeedFile]:
        return iter(self._files())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SeedFiles):
            return self._files() == other._files()
        return isinstance(other, list) and self._files() == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SeedFiles({self._files()!r})"


def scan_seed_files(seeds_dir: Path) -> tuple[SeedFiles, list[SeedError]]:
    """Every seed candidate below `seeds_dir` (`SeedFiles`: sorted by source), and the ones
    that cannot be stat'ed. (One `stat` per entry and nothing else: at 100,000 seeds this is
    most of what a build with nothing to do costs. Each folder is listed through its
    descriptor, so every stat is an `fstatat` relative to it, not a lookup of the whole path,
    and the stat tells the folders in it from the files; the stats of a big folder are shared
    with a forked child, see `_stat_all`.)"""
    root = str(seeds_dir)
    sources: list[str] = []
    pairs = array("q")
    errors: list[SeedError] = []
    if not seeds_dir.is_dir():
        return SeedFiles(root, sources, pairs), [SeedError(root, "seeds folder not found")]
    pending = [("", root)]
    while pending:
        prefix, folder = pending.pop()
        base = f"{folder}{os.sep}"
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            errors.append(SeedError(folder, f"cannot read: {exc.strerror}"))
            continue
        try:
            try:
                names = os.listdir(fd)
            except OSError as exc:
                errors.append(SeedError(folder, f"cannot read: {exc.strerror}"))
                continue
            seeds = _seed_names(names)
            # The other names may be folders (a stat each: there are few of them), taken in
            # the order listed: a set's order changes with every process's string hashes.
            others: list[str] = []
            if len(seeds) != len(names):
                chosen = set(seeds)
                others = [name for name in names if name not in chosen]
            for name in others:
                if name.startswith("."):
                    continue
                try:
                    if stat.S_ISDIR(os.lstat(name, dir_fd=fd).st_mode):
                        pending.append((f"{prefix}{name}/", base + name))
                except OSError:
                    continue
            found = _stat_all(fd, seeds)
            if min(found[::2], default=0) >= 0:  # every one a readable file: C-level copies
                sources.extend(seeds if not prefix else [prefix + name for name in seeds])
                pairs.extend(found)
                continue
            for k, name in enumerate(seeds):
                size, mtime_ns = found[2 * k], found[2 * k + 1]
                if size == _FOLDER:  # a folder whose name ends like a seed's
                    if not os.path.islink(base + name):
                        pending.append((f"{prefix}{name}/", base + name))
                elif size < 0:
                    errors.append(SeedError(base + name, f"cannot read: {os.strerror(mtime_ns)}"))
                else:
                    sources.append(prefix + name)
                    pairs.extend((size, mtime_ns))
        finally:
            os.close(fd)
    errors.sort(key=lambda e: e.path)
    return SeedFiles(root, sources, pairs), errors


def _seed_names(names: list[str]) -> list[str]:
    """The names worth reading (`_is_seed_name`), in the order given; C-level scans for the
    usual folder where every name ends in a lower-case seed suffix."""
    if all(map(str.endswith, names, repeat(SEED_SUFFIXES))) and not any(
            map(str.startswith, names, repeat(_NOT_FIRST[1:]))):
        return names
    return [name for name in names if _is_seed_name(name)]


SPLIT_STATS = 20_000  # a folder with more seeds than this has its stats taken by two processes


def _stat_all(fd: int, names: list[str]) -> array[int]:
    """`_stats` of the names in the folder open as `fd`. On this kind of VM a `stat` costs ~2.4 us, most of a 100,000-seed
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
            view = memoryview(_stats(fd, names[half:]).tobytes())
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
        theirs = _stats(fd, names[half:])  # the child failed: take them here
    mine.extend(theirs)
    return mine


def _stats(fd: int, names: list[str]) -> array[int]:
    """size, mtime_ns of each name in turn; -1, errno for one that cannot be stat'ed, and
    _FOLDER, 0 for a folder."""
    found = array("q")
    append = found.append
    stat_of = os.stat
    for name in names:
        try:
            result = stat_of(name, dir_fd=fd)
        except OSError as exc:
            append(-1)
            append(exc.errno or 0)
            continue
        if result.st_mode & 0o170000 == 0o040000:  # S_ISDIR, without a call
            append(_FOLDER)
            append(0)
            continue
        append(result.st_size)
        append(result.st_mtime_ns)
    return found


_FOLDER = -2


class Readahead:
    """Asks the kernel to read the seeds about to be parsed before they are: a thread that
    goes through `files` in order with `posix_fadvise(WILLNEED)`, at most `window` bytes ahead
    of what the caller says it has `consumed`, so many reads are on their way at once.

    A cold build otherwise reads one small file at a time: on this VM's disk 100,000 seeds
    (650 MB) took 8 s read one by one, and 1.6 s after a WILLNEED pass over all of them; the
    parsing workers spent a third of the ingest waiting. Only advice: a file it cannot open or
    advise (gone, a symlink, a FIFO: opened without waiting for a writer) is read as usual when
    its turn comes, and one larger than `max_bytes` (refused unread) is passed over, its bytes
    counted in the window all the same. A context manager: leaving it stops the thread."""

    def __init__(self, files: Sequence[SeedFile], max_bytes: int, window: int = 64 << 20) -> None:
        self._files = files
        self._max_bytes = max_bytes
        self._window = window
        self._consumed = 0  # bytes of `files` the caller is done with (its thread adds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="seed-readahead", daemon=True)

    def __enter__(self) -> Readahead:
        if hasattr(os, "posix_fadvise"):
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def consumed(self, size: int) -> None:
        self._consumed += size

    def _run(self) -> None:
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(
            os, "O_NOCTTY", 0)
        advised, window, stopping = 0, self._window, self._stop
        for f in self._files:
            while advised - self._consumed > window:
                if stopping.wait(0.01):
                    return
            if stopping.is_set():
                return
            advised += f.size
            if f.size > self._max_bytes or f.size == 0:
                continue
            try:
                fd = os.open(f.path, flags)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
            except OSError:
                pass
            finally:
                os.close(fd)

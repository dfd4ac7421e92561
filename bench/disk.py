"""The disk's file-creation rate, and waiting for it to settle before a benchmark writes files.

On this machine's disk (ext4 without a journal) creating a file scans past the inodes freed
nearby shortly before (the kernel's `recently_deleted`), so for minutes after a big delete (the
end of the previous benchmark run, say) writing many small files runs 5-8 times slower.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

SETTLED = 5000  # files/s: below this the disk is still slow from a recent delete (usually 7,000+)


def file_floor(folder: Path, count: int, size: int) -> float:
    """Files per second this disk takes right now (write + rename, nothing else). The files stay
    until the caller deletes `folder`: deleting them now would slow down what comes next."""
    folder.mkdir(parents=True)
    data = b"x" * size
    started = time.perf_counter()
    for n in range(count):
        tmp = folder / f".{n}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, folder / f"{n}.eml")
    return count / (time.perf_counter() - started)


def wait_for_disk(folder: Path, size: int = 27_500, waits: int = 8, pause: float = 20.0) -> float:
    """Probe the file-creation rate in `folder`; while it is below SETTLED, say so and wait
    (at most `waits` times `pause` seconds). Returns the last rate measured."""
    for attempt in range(waits + 1):
        # Written back first: ext4 counts an inode freed within 30 s as recently deleted, or
        # within 5.5 minutes while its inode table block is still dirty.
        os.sync()
        rate = file_floor(folder / f"probe{attempt}", 1000, size)
        if rate >= SETTLED or attempt == waits:
            return rate
        print(f"disk still slow from a recent delete ({rate:.0f} files/s, usually 7,000 or more): "
              f"waiting {pause:.0f} s", flush=True)
        time.sleep(pause)
    return rate


def evict(folder: Path) -> int:
    """Write back every file below `folder` and drop it from the page cache (the files stay on
    disk); returns how many files. A benchmark's earlier runs otherwise keep the memory full of
    their output: on this VM a 10,000-seed build took ~40% more CPU (5.4 s rather than 3.8 s)
    once earlier runs' files filled the page cache, since every page it writes then has to be
    reclaimed first. Unprivileged: `posix_fadvise(POSIX_FADV_DONTNEED)` on files we own."""
    os.sync()  # only clean pages can be dropped
    count = 0
    for parent, _, names in os.walk(folder):
        for name in names:
            try:
                fd = os.open(os.path.join(parent, name), os.O_RDONLY)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                count += 1
            finally:
                os.close(fd)
    return count

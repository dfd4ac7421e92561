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
        rate = file_floor(folder / f"probe{attempt}", 1000, size)
        if rate >= SETTLED or attempt == waits:
            return rate
        print(f"disk still slow from a recent delete ({rate:.0f} files/s, usually 7,000 or more): "
              f"waiting {pause:.0f} s", flush=True)
        time.sleep(pause)
    return rate

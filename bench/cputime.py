"""CPU seconds of other processes (a database server, an SMTP sink), for per-message figures.

Linux /proc: a process's own user + system time and its reaped children's, plus the same for
every live descendant, so a backend that exits between two readings is still counted (its time
moves into its parent's children's time). None where /proc cannot tell (another OS, no rights).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of pid and its reaped children)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
    return int(fields[1]), sum(int(v) for v in fields[11:15]) / TICK


def tree_cpu(root: int) -> float | None:
    """CPU seconds used so far by `root` and its descendants (live or reaped)."""
    if _stat(root) is None:
        return None
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _stat(int(entry))
            if found is not None:
                parents[int(entry)], times[int(entry)] = found
    total = 0.0
    for pid, cpu in times.items():
        at = pid
        while at > 1 and at != root:
            at = parents.get(at, 0)
        if at == root:
            total += cpu
    return total


def machine_cpu() -> float | None:
    """CPU-seconds the whole machine has been busy (every core, every process: /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(v) for v in fields]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / TICK  # all but idle and iowait


def postmaster_pid(data_directory: str) -> int | None:
    """The PostgreSQL server of a data directory (its postmaster.pid file), when readable."""
    try:
        return int(Path(data_directory, "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def settle(cpu: Callable[[], float | None], idle: float = 0.05, window: float = 0.5,
           limit: float = 60.0) -> float:
    """Wait (at most `limit` s) until `cpu()` grows by less than `idle` CPU-seconds per second
    over `window` s (e.g. a database server done with autovacuum and checkpoints); the seconds
    waited."""
    started = time.monotonic()
    before = cpu()
    if before is None:
        return 0.0
    while time.monotonic() - started < limit:
        time.sleep(window)
        after = cpu()
        if after is None or after - before < idle * window:
            break
        before = after
    return time.monotonic() - started

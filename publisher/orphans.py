"""Worker processes end with their parent, however the parent ends (even `kill -9`).

A forked worker shares the parent's open files, the instance lock's flock among them: a worker
outliving its parent would keep the lock (and the next `tick` out) for as long as it runs. On
Linux the kernel sends the worker SIGKILL when the parent dies (`PR_SET_PDEATHSIG`, through
ctypes); elsewhere a thread notices the parent is gone (its pid changes) within a second.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
POLL_SECONDS = 0.5


def die_with_parent() -> None:
    """Call first thing in a worker process (a pool's initializer)."""
    parent = multiprocessing.parent_process()
    expected = parent.pid if parent is not None else os.getppid()
    if not (sys.platform.startswith("linux") and _prctl_deathsig(signal.SIGKILL)):
        threading.Thread(target=_watch, args=(expected,), name="parent-watch",
                         daemon=True).start()
    if os.getppid() != expected:  # the parent died before the signal was armed
        os._exit(1)


def _prctl_deathsig(signum: int) -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(expected: int) -> None:
    while os.getppid() == expected:
        threading.Event().wait(POLL_SECONDS)
    os._exit(1)

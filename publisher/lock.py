"""One publisher process per state database: an flock on a file next to the database.

The kernel drops an flock when the process holding it ends, however it ends (SIGKILL, crash,
power loss), so a stale lock cannot exist; the pid written into the file is only there to
name the holder in the message.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from .config import Settings
from .errors import LockedError


def lock_path(settings: Settings) -> Path:
    """`state/publisher.db.lock` for a SQLite file; `publisher.lock` in the project otherwise
    (PostgreSQL's instance lock is an advisory lock: `Database.instance_lock()`)."""
    if settings.database.url:
        return settings.root / "publisher.lock"
    db = settings.database_path
    return db.with_name(db.name + ".lock")


class InstanceLock:
    """`with InstanceLock(path):` or acquire()/release(); LockedError when another holds it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_pid(fd)
            os.close(fd)
            who = f"process {holder}" if holder else "another process"
            raise LockedError(
                f"another publisher is already running against this state database: {who} "
                f"holds {self.path}",
                "stop it first, or wait for it to finish",
            ) from None
        except OSError as exc:
            os.close(fd)
            raise LockedError(f"{self.path}: cannot lock: {exc.strerror}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            # Empty the pid first: the file stays (removing it would race with a new locker).
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def lock_holder(path: Path) -> int | None:
    """The pid of the live process holding the lock, or None when nobody holds it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _holder_pid(fd: int, wait: float = 0.5) -> int | None:
    """The holder writes its pid just after taking the lock: give it that moment."""
    deadline = time.monotonic() + wait
    while (pid := _read_pid(fd)) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return pid


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None

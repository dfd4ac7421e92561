"""Progress of a long command on stderr: a bar on a terminal, otherwise one line now and then.

On a terminal (stderr is a TTY) a click progress bar with counts; in a log (cron, systemd,
a pipe) one line `LABEL: DONE/TOTAL (P%)[, R/s]` each time another tenth is done or
`interval` seconds have passed since the last line, whichever comes first.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any, Callable

import click

LOG_INTERVAL = 10.0  # seconds between two progress lines in a log, at most


class Progress:
    """`with Progress("Sending digests", "send-digests") as p: p.total(n); p.done(k)`."""

    def __init__(self, label: str, name: str, *, stream: IO[str] | None = None,
                 clock: Callable[[], float] = time.monotonic, minimum: int = 1) -> None:
        self.label = label
        self.name = name
        self.stream = stream or sys.stderr
        self.clock = clock
        self.minimum = minimum  # fewer items than this: nothing shown
        self.count = 0
        self.length = 0
        self.bar: Any = None
        self.started = 0.0
        self.last_line = 0.0
        self.next_tenth = 1

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None

    def total(self, length: int) -> None:
        """The number of items to expect (may be called again when it grows)."""
        self.length = length
        if length < self.minimum:
            return
        self.started = self.last_line = self.clock()
        if self.bar is None and self.stream.isatty():
            self.bar = click.progressbar(length=length, label=self.label, file=self.stream,
                                         show_pos=True, show_percent=True)
            self.bar.__enter__()

    def done(self, count: int) -> None:
        """`count` items are done so far."""
        step = count - self.count
        self.count = count
        if self.length < self.minimum or step <= 0:
            return
        if self.bar is not None:
            self.bar.update(step)
            return
        now = self.clock()
        tenth = count * 10 // max(self.length, 1)
        if tenth >= self.next_tenth or now - self.last_line >= LOG_INTERVAL:
            self.next_tenth = tenth + 1
            self.last_line = now
            elapsed = now - self.started
            rate = f", {count / elapsed:.0f}/s" if elapsed >= 1 else ""
            shown = min(count, self.length)
            click.echo(f"{self.name}: {shown}/{self.length} ({100 * shown // self.length}%)"
                       f"{rate}", file=self.stream)

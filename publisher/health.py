"""Is the daemon alive? Its heartbeat is the end of its newest pass, which `run` records every
`schedule.scan_interval`; older than 3 intervals means stopped, stuck or dead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .config import Settings
from .store import Connection
from .store import observe

STALE_AFTER_INTERVALS = 3


@dataclass(frozen=True)
class Heartbeat:
    last_pass: datetime | None  # None: no pass was ever recorded (a web-only store)
    age: float | None  # seconds since then
    limit: float  # seconds after which it is stale

    @property
    def healthy(self) -> bool:
        return self.age is None or self.age <= self.limit

    def describe(self) -> str:
        if self.last_pass is None or self.age is None:
            return "no pass recorded yet"
        state = "healthy" if self.healthy else "STALE"
        return (f"last pass {self.age:.0f} s ago, {state} (stale after {self.limit:g} s: "
                f"{STALE_AFTER_INTERVALS} x schedule.scan_interval)")

    def as_dict(self) -> dict[str, object]:
        return {"last_pass": self.last_pass.isoformat() if self.last_pass else None,
                "age_seconds": None if self.age is None else round(self.age, 3),
                "stale_after_seconds": self.limit, "healthy": self.healthy}


def heartbeat(conn: Connection, settings: Settings, now: datetime) -> Heartbeat:
    last = observe.last_pass_finished(conn)
    limit = STALE_AFTER_INTERVALS * settings.schedule.scan_interval
    age = None if last is None else max(0.0, (now - last).total_seconds())
    return Heartbeat(last, age, limit)

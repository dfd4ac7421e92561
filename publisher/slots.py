"""When daily and weekly digests are due: slot times in the schedule's time zone, DST-correct.

A slot is a wall-clock time (`07:00`, `mon 07:00`) in `schedule.timezone`. Each local day
(or week) has exactly one slot: a time skipped by a spring-forward change is taken at the same
offset as the moment before (02:30 becomes 03:30), and a time that happens twice at a
fall-back change is taken the first time. Pure functions; `now` is always passed in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from .config import Settings
from .errors import ConfigError

SLOT_CADENCES = ("daily", "weekly")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class SlotRule:
    cadence: str  # "daily" or "weekly"
    at: time
    weekday: int | None  # 0 = Monday, for weekly
    tz: ZoneInfo

    def describe(self) -> str:
        day = f"{WEEKDAYS[self.weekday]} " if self.weekday is not None else ""
        return f"{day}{self.at.strftime('%H:%M')} {self.tz.key}"


def parse_rules(settings: Settings) -> dict[str, SlotRule]:
    """The daily and weekly rules of the settings; ConfigError names the bad key."""
    tz = settings.schedule_timezone
    daily = _parse_time("schedule.daily_at", settings.schedule.daily_at)
    text = settings.schedule.weekly_at.strip().lower()
    parts = text.split()
    if len(parts) != 2 or parts[0][:3] not in WEEKDAYS:
        raise ConfigError(
            f"schedule.weekly_at must look like 'mon 07:00', not {settings.schedule.weekly_at!r}"
        )
    weekly = _parse_time("schedule.weekly_at", parts[1])
    if settings.schedule.max_lateness_hours <= 0:
        raise ConfigError("schedule.max_lateness_hours must be positive")
    return {
        "daily": SlotRule("daily", daily, None, tz),
        "weekly": SlotRule("weekly", weekly, WEEKDAYS.index(parts[0][:3]), tz),
    }


def _parse_time(key: str, text: str) -> time:
    m = _TIME.match(text.strip())
    if not m:
        raise ConfigError(f"{key} must be a 24-hour time like '07:00', not {text!r}")
    return time(int(m.group(1)), int(m.group(2)))


def slot_on(rule: SlotRule, day: date) -> datetime:
    """The rule's moment on a local calendar day, as an aware UTC datetime."""
    local = datetime.combine(day, rule.at, tzinfo=rule.tz)  # fold=0: first of two, or pre-gap offset
    return local.astimezone(timezone.utc)


def _days_back(rule: SlotRule, local_day: date) -> date:
    """The latest day on or before `local_day` that has a slot."""
    if rule.weekday is None:
        return local_day
    return local_day - timedelta(days=(local_day.weekday() - rule.weekday) % 7)


def latest_slot(rule: SlotRule, now: datetime) -> datetime:
    """The most recent slot at or before `now`."""
    day = _days_back(rule, now.astimezone(rule.tz).date())
    step = timedelta(days=1 if rule.weekday is None else 7)
    slot = slot_on(rule, day)
    while slot > now:
        day -= step
        slot = slot_on(rule, day)
    return slot


def next_slot(rule: SlotRule, now: datetime) -> datetime:
    """The first slot strictly after `now`."""
    day = _days_back(rule, now.astimezone(rule.tz).date())
    step = timedelta(days=1 if rule.weekday is None else 7)
    slot = slot_on(rule, day)
    while slot <= now:
        day += step
        slot = slot_on(rule, day)
    return slot

"""When daily and weekly digests are due: slot times in the schedule's time zone, DST-correct.

A slot is a wall-clock time (`07:00`, `mon 07:00`) in `schedule.timezone`. Each local day
(or week) has exactly one slot: a time skipped by a spring-forward change is taken at the same
offset as the moment before (02:30 becomes 03:30), and a time that happens twice at a
fall-back change is taken the first time. Pure functions; `now` is always passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from .config import WEEKDAYS, Settings

SLOT_CADENCES = ("daily", "weekly")


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
    """The daily and weekly rules of the (already checked) settings."""
    tz = settings.schedule_timezone
    day, at = settings.schedule.weekly_at.split()
    return {
        "daily": SlotRule("daily", time.fromisoformat(settings.schedule.daily_at), None, tz),
        "weekly": SlotRule("weekly", time.fromisoformat(at), WEEKDAYS.index(day), tz),
    }


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

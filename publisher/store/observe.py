"""Read-only queries for watching the publisher from outside: the heartbeat and the metrics."""

from __future__ import annotations

from datetime import datetime

from .db import Connection, parse_utc, utc_text
from .runs import last_runs

STAGES = ("feeds", "digests")


def last_pass_finished(conn: Connection) -> datetime | None:
    """When the newest finished pass (of `run` or `tick`) ended: the daemon's heartbeat."""
    value = conn.scalar("SELECT max(finished_at) FROM scheduler_runs")
    return parse_utc(value) if value else None


def last_stage_success(conn: Connection, look_back: int = 500) -> dict[str, datetime]:
    """stage -> end of the newest pass in which that stage succeeded (among the recent ones)."""
    found: dict[str, datetime] = {}
    for run in last_runs(conn, look_back):
        if run.finished_at is None:
            continue
        for stage, state in (run.details.get("stages") or {}).items():
            if state == "ok" and stage not in found:
                found[stage] = run.finished_at
        if len(found) == len(STAGES):
            break
    return found


def sent_since(conn: Connection, since: datetime) -> int:
    return int(conn.scalar("SELECT count(*) FROM deliveries WHERE state = 'sent' AND sent_at >= ?",
                           (utc_text(since),)) or 0)


def oldest_unfinished(conn: Connection) -> datetime | None:
    """When the oldest delivery still waiting (queued, or being sent) was planned."""
    value = conn.scalar(
        "SELECT min(created_at) FROM deliveries WHERE state IN ('queued', 'sending')")
    return parse_utc(value) if value else None


def mail_event_totals(conn: Connection) -> dict[str, int]:
    """kind ("hard_bounce", "soft_bounce", "complaint", "unsubscribe") -> events ever recorded."""
    return {str(k): int(n) for k, n in
            conn.execute("SELECT kind, count(*) FROM mail_events GROUP BY kind").all()}


def feed_count(conn: Connection) -> int:
    return int(conn.scalar("SELECT count(*) FROM feed_outputs") or 0)

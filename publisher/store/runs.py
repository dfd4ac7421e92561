"""The scheduler's own records: seeds still settling, passes run, digest slots done.

APScheduler keeps nothing we rely on; these tables are the truth the daemon and `tick`
reconcile against, and what `publisher status` reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import Connection, delete, func, insert, select, update

from .db import parse_utc, utc_text
from .tables import schedule_slots, scheduler_runs, seed_watch

KEEP_RUNS = 500  # older pass records are pruned


# --- seeds still settling ---------------------------------------------------------------------

@dataclass(frozen=True)
class Observation:
    size: int
    mtime_ns: int
    seen_at: datetime


def watched_seeds(conn: Connection) -> dict[str, Observation]:
    return {
        r.source: Observation(r.size, r.mtime_ns, parse_utc(r.seen_at))
        for r in conn.execute(select(seed_watch))
    }


def replace_watched_seeds(conn: Connection, observations: dict[str, Observation]) -> None:
    """The unsettled seeds of the latest scan replace the previous list."""
    conn.execute(delete(seed_watch))
    if observations:
        conn.execute(
            insert(seed_watch),
            [{"source": s, "size": o.size, "mtime_ns": o.mtime_ns, "seen_at": utc_text(o.seen_at)}
             for s, o in observations.items()],
        )


# --- passes -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunRecord:
    id: int
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    summary: str
    details: dict[str, Any]


def start_run(conn: Connection, trigger: str, now: datetime) -> int:
    result = conn.execute(
        insert(scheduler_runs).values(
            trigger=trigger, started_at=utc_text(now), finished_at=None, outcome="running",
            summary="", details="{}",
        )
    )
    return int(result.inserted_primary_key[0])


def finish_run(
    conn: Connection, run_id: int, now: datetime, outcome: str, summary: str,
    details: dict[str, Any],
) -> None:
    conn.execute(
        update(scheduler_runs).where(scheduler_runs.c.id == run_id).values(
            finished_at=utc_text(now), outcome=outcome, summary=summary,
            details=json.dumps(details, sort_keys=True, default=str),
        )
    )
    oldest_kept = conn.scalar(
        select(scheduler_runs.c.id).order_by(scheduler_runs.c.id.desc()).offset(KEEP_RUNS).limit(1)
    )
    if oldest_kept is not None:
        conn.execute(delete(scheduler_runs).where(scheduler_runs.c.id <= oldest_kept))


def last_runs(conn: Connection, limit: int = 1) -> list[RunRecord]:
    rows = conn.execute(select(scheduler_runs).order_by(scheduler_runs.c.id.desc()).limit(limit))
    return [_run(r) for r in rows]


def last_finished_run(conn: Connection) -> RunRecord | None:
    row = conn.execute(
        select(scheduler_runs).where(scheduler_runs.c.finished_at.is_not(None))
        .order_by(scheduler_runs.c.id.desc()).limit(1)
    ).first()
    return _run(row) if row else None


def _run(r) -> RunRecord:  # type: ignore[no-untyped-def]
    return RunRecord(
        id=r.id, trigger=r.trigger, started_at=parse_utc(r.started_at),
        finished_at=parse_utc(r.finished_at) if r.finished_at else None,
        outcome=r.outcome, summary=r.summary, details=json.loads(r.details or "{}"),
    )


# --- digest slots -----------------------------------------------------------------------------

@dataclass(frozen=True)
class SlotRecord:
    cadence: str
    slot_at: datetime
    status: str  # "sent" or "skipped"
    recorded_at: datetime
    detail: str


def slot_done(conn: Connection, cadence: str, slot_at: datetime) -> bool:
    return conn.scalar(
        select(func.count()).select_from(schedule_slots).where(
            schedule_slots.c.cadence == cadence, schedule_slots.c.slot_at == utc_text(slot_at)
        )
    ) > 0


def record_slot(
    conn: Connection, cadence: str, slot_at: datetime, status: str, now: datetime, detail: str
) -> None:
    """Mark a slot handled; recording it twice keeps the first record."""
    if slot_done(conn, cadence, slot_at):
        return
    conn.execute(
        insert(schedule_slots).values(
            cadence=cadence, slot_at=utc_text(slot_at), status=status, recorded_at=utc_text(now),
            detail=detail,
        )
    )


def last_slots(conn: Connection, cadences: Iterable[str]) -> dict[str, SlotRecord]:
    found: dict[str, SlotRecord] = {}
    for cadence in cadences:
        row = conn.execute(
            select(schedule_slots).where(schedule_slots.c.cadence == cadence)
            .order_by(schedule_slots.c.slot_at.desc()).limit(1)
        ).first()
        if row:
            found[cadence] = SlotRecord(row.cadence, parse_utc(row.slot_at), row.status,
                                        parse_utc(row.recorded_at), row.detail)
    return found

"""The scheduler's own records: seeds still settling, passes run, digest slots done.

APScheduler keeps nothing we rely on; these tables are the truth the daemon and `tick`
reconcile against, and what `publisher status` reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from .db import Connection, parse_utc, utc_text

KEEP_RUNS = 500  # older pass records are pruned


# --- seeds still settling ---------------------------------------------------------------------

@dataclass(frozen=True)
class Observation:
    size: int
    mtime_ns: int
    seen_at: datetime


def watched_seeds(conn: Connection) -> dict[str, Observation]:
    return {
        source: Observation(size, mtime_ns, parse_utc(seen_at))
        for source, size, mtime_ns, seen_at in conn.execute(
            "SELECT source, size, mtime_ns, seen_at FROM seed_watch")
    }


def replace_watched_seeds(conn: Connection, observations: dict[str, Observation]) -> None:
    """The unsettled seeds of the latest scan replace the previous list."""
    conn.execute("DELETE FROM seed_watch")
    if observations:
        conn.executemany(
            "INSERT INTO seed_watch (source, size, mtime_ns, seen_at) VALUES (?, ?, ?, ?)",
            [(s, o.size, o.mtime_ns, utc_text(o.seen_at)) for s, o in observations.items()],
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


_RUN_COLUMNS = 'id, "trigger", started_at, finished_at, outcome, summary, details'


def start_run(conn: Connection, trigger: str, now: datetime) -> int:
    return conn.insert(
        'INSERT INTO scheduler_runs ("trigger", started_at, finished_at, outcome, summary, details) '
        "VALUES (?, ?, NULL, 'running', '', '{}') RETURNING id", (trigger, utc_text(now)))


def finish_run(
    conn: Connection, run_id: int, now: datetime, outcome: str, summary: str,
    details: dict[str, Any],
) -> None:
    conn.execute(
        "UPDATE scheduler_runs SET finished_at = ?, outcome = ?, summary = ?, details = ? "
        "WHERE id = ?",
        (utc_text(now), outcome, summary, json.dumps(details, sort_keys=True, default=str), run_id))
    oldest_kept = conn.scalar(
        "SELECT id FROM scheduler_runs ORDER BY id DESC LIMIT 1 OFFSET ?", (KEEP_RUNS,))
    if oldest_kept is not None:
        conn.execute("DELETE FROM scheduler_runs WHERE id <= ?", (oldest_kept,))


def last_runs(conn: Connection, limit: int = 1) -> list[RunRecord]:
    rows = conn.execute(f"SELECT {_RUN_COLUMNS} FROM scheduler_runs ORDER BY id DESC LIMIT ?",
                        (limit,))
    return [_run(r) for r in rows]


def _run(r: tuple) -> RunRecord:  # type: ignore[type-arg]
    id_, trigger, started_at, finished_at, outcome, summary, details = r
    return RunRecord(
        id=id_, trigger=trigger, started_at=parse_utc(started_at),
        finished_at=parse_utc(finished_at) if finished_at else None,
        outcome=outcome, summary=summary, details=json.loads(details or "{}"),
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
    """Handled for good: sent or skipped (a slot only `planned` still has deliveries to make)."""
    return conn.scalar(
        "SELECT count(*) FROM schedule_slots WHERE cadence = ? AND slot_at = ? "
        "AND status <> 'planned'", (cadence, utc_text(slot_at))) > 0


def slot_claimed(conn: Connection, cadence: str, slot_at: datetime) -> bool:
    """Planned (or handled) already, by any process: its digests are never planned again."""
    return conn.scalar(
        "SELECT count(*) FROM schedule_slots WHERE cadence = ? AND slot_at = ?",
        (cadence, utc_text(slot_at))) > 0


def claim_slot(conn: Connection, cadence: str, slot_at: datetime, now: datetime) -> bool:
    """Record that this transaction planned the slot (status `planned`); False if a record
    existed. Call it in the planning transaction, under the planner lock."""
    return conn.execute(
        "INSERT INTO schedule_slots (cadence, slot_at, status, recorded_at, detail) "
        "VALUES (?, ?, 'planned', ?, '') ON CONFLICT (cadence, slot_at) DO NOTHING",
        (cadence, utc_text(slot_at), utc_text(now))).rowcount == 1


def record_slot(
    conn: Connection, cadence: str, slot_at: datetime, status: str, now: datetime, detail: str
) -> None:
    """Mark a slot handled (`sent` or `skipped`); a `planned` record is completed, any other
    record is kept as it was."""
    conn.execute(
        "INSERT INTO schedule_slots (cadence, slot_at, status, recorded_at, detail) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (cadence, slot_at) DO UPDATE SET "
        "status = excluded.status, recorded_at = excluded.recorded_at, detail = excluded.detail "
        "WHERE schedule_slots.status = 'planned'",
        (cadence, utc_text(slot_at), status, utc_text(now), detail))


def last_slots(conn: Connection, cadences: Iterable[str]) -> dict[str, SlotRecord]:
    found: dict[str, SlotRecord] = {}
    for cadence in cadences:
        row = conn.execute(
            "SELECT cadence, slot_at, status, recorded_at, detail FROM schedule_slots "
            "WHERE cadence = ? ORDER BY slot_at DESC LIMIT 1", (cadence,)).first()
        if row:
            found[cadence] = SlotRecord(row[0], parse_utc(row[1]), row[2], parse_utc(row[3]),
                                        row[4])
    return found

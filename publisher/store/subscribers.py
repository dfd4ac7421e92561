"""Subscribers: add, find, change status and cadence, list (streamed)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Iterator, Sequence

from ..model import Subscriber
from .db import Connection, parse_utc, utc_text

# Every column of `subscribers`, in the order `_subscriber()` unpacks them.
_COLUMNS = ("id, email, email_key, name, cadence, categories, status, created_at, confirmed_at, "
            "last_digest_at, failures")
_SELECT = f"SELECT {_COLUMNS} FROM subscribers"


def add_subscriber(
    conn: Connection, email: str, *, name: str, cadence: str, categories: tuple[str, ...],
    status: str, now: datetime,
) -> Subscriber:
    """Insert a new subscriber; the caller checks first that the address is not known."""
    new_id = conn.insert(
        "INSERT INTO subscribers (email, email_key, name, cadence, categories, status, created_at, "
        "confirmed_at, last_digest_at, failures) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, 0) "
        "RETURNING id",
        (email, email.casefold(), name, cadence, json.dumps(list(categories)), status,
         utc_text(now), utc_text(now) if status == "active" else None),
    )
    found = get_subscriber(conn, new_id)
    assert found is not None
    return found


def add_subscribers(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk insert (imports, benchmarks): each row a dict of `subscribers` columns, without id."""
    if rows:
        conn.executemany(
            "INSERT INTO subscribers (email, email_key, name, cadence, categories, status, "
            "created_at, confirmed_at, last_digest_at, failures) VALUES (:email, :email_key, "
            ":name, :cadence, :categories, :status, :created_at, :confirmed_at, :last_digest_at, "
            ":failures)", rows)


def get_subscriber(conn: Connection, subscriber_id: int) -> Subscriber | None:
    row = conn.execute(f"{_SELECT} WHERE id = ?", (subscriber_id,)).first()
    return _subscriber(row) if row else None


def find_subscriber(conn: Connection, email: str) -> Subscriber | None:
    row = conn.execute(f"{_SELECT} WHERE email_key = ?", (email.casefold(),)).first()
    return _subscriber(row) if row else None


def iter_subscribers(
    conn: Connection, *, status: str | None = None, cadence: str | None = None,
    after_id: int = 0, batch: int = 1000,
) -> Iterator[Subscriber]:
    """Every matching subscriber by id, fetched in batches so memory stays flat."""
    sql = f"{_SELECT} WHERE id > :after"
    if status:
        sql += " AND status = :status"
    if cadence:
        sql += " AND cadence = :cadence"
    sql += " ORDER BY id LIMIT :batch"
    params: dict[str, object] = {"status": status, "cadence": cadence, "batch": batch}
    while True:
        params["after"] = after_id
        rows = conn.execute(sql, params).all()
        if not rows:
            return
        for row in rows:
            yield _subscriber(row)
        after_id = rows[-1][0]


def set_status(conn: Connection, subscriber_id: int, status: str, now: datetime) -> None:
    if status == "active":
        conn.execute("UPDATE subscribers SET status = ?, confirmed_at = ?, failures = 0 "
                     "WHERE id = ?", (status, utc_text(now), subscriber_id))
    else:
        conn.execute("UPDATE subscribers SET status = ? WHERE id = ?", (status, subscriber_id))


def set_preferences(
    conn: Connection, subscriber_id: int, *, cadence: str | None = None,
    categories: tuple[str, ...] | None = None, name: str | None = None,
) -> None:
    values: dict[str, object] = {}
    if cadence is not None:
        values["cadence"] = cadence
    if categories is not None:
        values["categories"] = json.dumps(list(categories))
    if name is not None:
        values["name"] = name
    if values:
        assignments = ", ".join(f"{column} = :{column}" for column in values)  # fixed names
        conn.execute(f"UPDATE subscribers SET {assignments} WHERE id = :id",
                     {**values, "id": subscriber_id})


def record_failure(conn: Connection, subscriber_id: int, bounce_after: int) -> bool:
    """Count a permanent failure; return True when the subscriber is now `bouncing`."""
    conn.execute("UPDATE subscribers SET failures = failures + 1 WHERE id = ?", (subscriber_id,))
    failures = conn.scalar("SELECT failures FROM subscribers WHERE id = ?", (subscriber_id,))
    if failures is not None and failures >= bounce_after:
        conn.execute("UPDATE subscribers SET status = 'bouncing' WHERE id = ?", (subscriber_id,))
        return True
    return False


def count_by(conn: Connection) -> dict[tuple[str, str], int]:
    """(status, cadence) -> count."""
    rows = conn.execute(
        "SELECT status, cadence, count(*) FROM subscribers GROUP BY status, cadence")
    return {(status, cadence): n for status, cadence, n in rows}


def delete_subscriber(conn: Connection, subscriber_id: int) -> None:
    """Erase a subscriber (their ledger rows first: see store.deliveries.forget_subscriber)."""
    conn.execute("DELETE FROM subscribers WHERE id = ?", (subscriber_id,))


def _subscriber(r: tuple) -> Subscriber:  # type: ignore[type-arg]
    (id_, email, _key, name, cadence, categories, status, created_at, confirmed_at,
     last_digest_at, failures) = r
    return Subscriber(
        id=id_, email=email, name=name, cadence=cadence,
        categories=tuple(json.loads(categories)), status=status,
        created_at=parse_utc(created_at),
        confirmed_at=parse_utc(confirmed_at) if confirmed_at else None,
        last_digest_at=parse_utc(last_digest_at) if last_digest_at else None,
        failures=failures,
    )

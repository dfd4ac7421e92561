"""Subscribers: add, find, change status and cadence, list (streamed)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Container, Iterator, Sequence

from ..model import Subscriber
from .db import Connection, parse_utc, utc_text

# Every column of `subscribers`, in the order `_subscriber()` unpacks them.
_COLUMNS = ("id, email, email_key, name, cadence, categories, status, created_at, confirmed_at, "
            "last_digest_at, failures, soft_bounces, status_serial")
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
    after_id: int = 0, batch: int = 1000, skip: Container[int] = (),
) -> Iterator[Subscriber]:
    """Every matching subscriber by id, fetched in batches so memory stays flat; none whose id
    is in `skip`. With `skip`, each batch's ids come first (from the index alone) and only
    the rows of the others are read: a planner that finds everyone still busy reads 20,000
    ids in 20 ms instead of 20,000 rows in 600."""
    where = " WHERE id > :after"
    if status:
        where += " AND status = :status"
    if cadence:
        where += " AND cadence = :cadence"
    sql = f"{_SELECT}{where} ORDER BY id LIMIT :batch"
    ids_sql = f"SELECT id FROM subscribers{where} ORDER BY id LIMIT :batch"
    # the rows between two ids of a batch (the same filters)
    span_sql = f"{_SELECT}{where} AND id <= :last ORDER BY id"
    params: dict[str, object] = {"status": status, "cadence": cadence, "batch": batch}
    while True:
        params["after"] = after_id
        if not skip:
            rows = conn.execute(sql, params).all()
            if not rows:
                return
            for row in rows:
                yield _subscriber(row)
            after_id = rows[-1][0]
            continue
        ids = conn.scalars(ids_sql, params)
        if not ids:
            return
        wanted = [i for i in ids if i not in skip]
        if wanted:
            rows = conn.execute(span_sql, {**params, "after": wanted[0] - 1,
                                           "last": wanted[-1]}).all()
            for row in rows:
                if row[0] not in skip:
                    yield _subscriber(row)
        after_id = ids[-1]


def set_status(conn: Connection, subscriber_id: int, status: str, now: datetime) -> None:
    """Change the status (and its serial, which outdates every confirmation link issued before)."""
    if status == "active":
        conn.execute("UPDATE subscribers SET status = ?, confirmed_at = ?, failures = 0, "
                     "soft_bounces = 0, status_serial = status_serial + 1 WHERE id = ?",
                     (status, utc_text(now), subscriber_id))
    else:
        conn.execute("UPDATE subscribers SET status = ?, status_serial = status_serial + 1 "
                     "WHERE id = ?", (status, subscriber_id))


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
    """Count a permanent failure; return True when the subscriber is now `bouncing` (only an
    `active` subscriber becomes bouncing: an unsubscribed or complained one stays so)."""
    conn.execute("UPDATE subscribers SET failures = failures + 1 WHERE id = ?", (subscriber_id,))
    changed = conn.execute(
        "UPDATE subscribers SET status = 'bouncing', status_serial = status_serial + 1 "
        "WHERE id = ? AND status = 'active' AND failures >= ?", (subscriber_id, bounce_after))
    return changed.rowcount > 0


def activate_at_serial(conn: Connection, subscriber_id: int, serial: int, now: datetime) -> bool:
    """Active, if the status has not changed since `serial` (a confirmation link's check)."""
    changed = conn.execute(
        "UPDATE subscribers SET status = 'active', confirmed_at = ?, failures = 0, "
        "soft_bounces = 0, status_serial = status_serial + 1 WHERE id = ? AND status_serial = ?",
        (utc_text(now), subscriber_id, serial))
    return changed.rowcount > 0


def raise_failures(conn: Connection, subscriber_id: int, failures: int) -> None:
    conn.execute("UPDATE subscribers SET failures = ? WHERE id = ? AND failures < ?",
                 (failures, subscriber_id, failures))


def record_soft_bounce(conn: Connection, subscriber_id: int) -> None:
    conn.execute("UPDATE subscribers SET soft_bounces = soft_bounces + 1 WHERE id = ?",
                 (subscriber_id,))


def count_by(conn: Connection) -> dict[tuple[str, str], int]:
    """(status, cadence) -> count."""
    rows = conn.execute(
        "SELECT status, cadence, count(*) FROM subscribers GROUP BY status, cadence")
    return {(status, cadence): n for status, cadence, n in rows}


def delete_subscriber(conn: Connection, subscriber_id: int) -> None:
    """Erase a subscriber (their ledger rows first: see store.deliveries.forget_subscriber)."""
    conn.execute("DELETE FROM subscribers WHERE id = ?", (subscriber_id,))


_decoded_categories: dict[str, tuple[str, ...]] = {}


def _categories(text: str) -> tuple[str, ...]:
    """A subscriber's stored category list (JSON), decoded once per distinct text: planning
    reads every subscriber, and nearly all of them have one of a few lists ('[]' mostly);
    decoding each row's anew was 13% of planning 100,000."""
    found = _decoded_categories.get(text)
    if found is None:
        found = tuple(json.loads(text))
        if len(_decoded_categories) < 4096:
            _decoded_categories[text] = found
    return found


def _subscriber(r: tuple) -> Subscriber:  # type: ignore[type-arg]
    (id_, email, _key, name, cadence, categories, status, created_at, confirmed_at,
     last_digest_at, failures, soft_bounces, status_serial) = r
    return Subscriber(
        id=id_, email=email, name=name, cadence=cadence,
        categories=_categories(categories), status=status,
        created_at=parse_utc(created_at),
        confirmed_at=parse_utc(confirmed_at) if confirmed_at else None,
        last_digest_at=parse_utc(last_digest_at) if last_digest_at else None,
        failures=failures, soft_bounces=soft_bounces, status_serial=status_serial,
    )

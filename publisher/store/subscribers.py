"""Subscribers: add, find, change status and cadence, list (streamed)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Iterator

from sqlalchemy import Connection, delete, func, insert, select, update

from ..model import Subscriber
from .db import parse_utc, utc_text
from .tables import subscribers


def add_subscriber(
    conn: Connection, email: str, *, name: str, cadence: str, categories: tuple[str, ...],
    status: str, now: datetime,
) -> Subscriber:
    """Insert a new subscriber; the caller checks first that the address is not known."""
    result = conn.execute(
        insert(subscribers).values(
            email=email, email_key=email.casefold(), name=name, cadence=cadence,
            categories=json.dumps(list(categories)), status=status, created_at=utc_text(now),
            confirmed_at=utc_text(now) if status == "active" else None,
            last_digest_at=None, failures=0,
        )
    )
    found = get_subscriber(conn, result.inserted_primary_key[0])
    assert found is not None
    return found


def get_subscriber(conn: Connection, subscriber_id: int) -> Subscriber | None:
    row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).first()
    return _subscriber(row) if row else None


def find_subscriber(conn: Connection, email: str) -> Subscriber | None:
    row = conn.execute(
        select(subscribers).where(subscribers.c.email_key == email.casefold())
    ).first()
    return _subscriber(row) if row else None


def iter_subscribers(
    conn: Connection, *, status: str | None = None, cadence: str | None = None,
    after_id: int = 0, batch: int = 1000,
) -> Iterator[Subscriber]:
    """Every matching subscriber by id, fetched in batches so memory stays flat."""
    while True:
        query = select(subscribers).where(subscribers.c.id > after_id)
        if status:
            query = query.where(subscribers.c.status == status)
        if cadence:
            query = query.where(subscribers.c.cadence == cadence)
        rows = conn.execute(query.order_by(subscribers.c.id).limit(batch)).all()
        if not rows:
            return
        for row in rows:
            yield _subscriber(row)
        after_id = rows[-1].id


def set_status(conn: Connection, subscriber_id: int, status: str, now: datetime) -> None:
    values: dict[str, object] = {"status": status}
    if status == "active":
        values["confirmed_at"] = utc_text(now)
        values["failures"] = 0
    conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id).values(**values))


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
        conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id).values(**values))


def set_last_digest(conn: Connection, subscriber_id: int, moment: datetime) -> None:
    conn.execute(
        update(subscribers).where(subscribers.c.id == subscriber_id)
        .values(last_digest_at=utc_text(moment))
    )


def record_failure(conn: Connection, subscriber_id: int, bounce_after: int) -> bool:
    """Count a permanent failure; return True when the subscriber is now `bouncing`."""
    conn.execute(
        update(subscribers).where(subscribers.c.id == subscriber_id)
        .values(failures=subscribers.c.failures + 1)
    )
    failures = conn.scalar(select(subscribers.c.failures).where(subscribers.c.id == subscriber_id))
    if failures is not None and failures >= bounce_after:
        conn.execute(
            update(subscribers).where(subscribers.c.id == subscriber_id).values(status="bouncing")
        )
        return True
    return False


def reset_failures(conn: Connection, subscriber_id: int) -> None:
    conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id).values(failures=0))


def count_by(conn: Connection) -> dict[tuple[str, str], int]:
    """(status, cadence) -> count."""
    query = select(subscribers.c.status, subscribers.c.cadence, func.count()).group_by(
        subscribers.c.status, subscribers.c.cadence
    )
    return {(status, cadence): n for status, cadence, n in conn.execute(query)}


def delete_subscriber(conn: Connection, subscriber_id: int) -> None:
    """Erase a subscriber (their ledger rows first: see store.deliveries.forget_subscriber)."""
    conn.execute(delete(subscribers).where(subscribers.c.id == subscriber_id))


def _subscriber(r) -> Subscriber:  # type: ignore[no-untyped-def]
    return Subscriber(
        id=r.id, email=r.email, name=r.name, cadence=r.cadence,
        categories=tuple(json.loads(r.categories)), status=r.status,
        created_at=parse_utc(r.created_at),
        confirmed_at=parse_utc(r.confirmed_at) if r.confirmed_at else None,
        last_digest_at=parse_utc(r.last_digest_at) if r.last_digest_at else None,
        failures=r.failures,
    )

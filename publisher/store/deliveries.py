"""The digest ledger: one `digests` row per distinct digest content, one `deliveries` row per
(subscriber, digest) with its state (`queued`, `sent`, `failed`).

The crash-safety contract lives in these statements: a delivery is planned (`queued`) in one
transaction before anything is sent, and marked `sent` together with the subscriber's new
watermark in one transaction right after the server accepted the message.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Iterator, Sequence

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from .db import parse_utc, utc_text
from .tables import deliveries, digests, subscribers

STATES = ("queued", "sent", "failed")


@dataclass(frozen=True)
class DigestRow:
    id: int
    cadence: str
    article_ids: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    subscriber_id: int
    digest_id: int
    state: str
    attempts: int
    message_id: str
    last_error: str
    watermark: datetime
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None


def content_key(article_ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(article_ids).encode("utf-8")).hexdigest()


def get_or_create_digest(
    conn: Connection, article_ids: Sequence[str], cadence: str, now: datetime
) -> DigestRow:
    """The digest row for exactly these articles (in this order), created if new."""
    key = content_key(article_ids)
    row = conn.execute(select(digests).where(digests.c.content_key == key)).first()
    if row is None:
        conn.execute(insert(digests).values(
            content_key=key, cadence=cadence, article_ids=json.dumps(list(article_ids)),
            created_at=utc_text(now),
        ))
        row = conn.execute(select(digests).where(digests.c.content_key == key)).one()
    return _digest(row)


def select_digest_by_key(key: str):  # type: ignore[no-untyped-def]
    return select(digests).where(digests.c.content_key == key)


def get_digest(conn: Connection, digest_id: int) -> DigestRow | None:
    row = conn.execute(select(digests).where(digests.c.id == digest_id)).first()
    return _digest(row) if row else None


def plan_delivery(
    conn: Connection, subscriber_id: int, digest_id: int, message_id: str, watermark: datetime,
    now: datetime,
) -> bool:
    """Queue one delivery; idempotent per (subscriber, digest). A failed one is queued again.

    Returns True when a row is (now) queued, False when it was already sent.
    """
    existing = conn.execute(
        select(deliveries.c.id, deliveries.c.state).where(
            deliveries.c.subscriber_id == subscriber_id, deliveries.c.digest_id == digest_id)
    ).first()
    if existing is None:
        try:
            with conn.begin_nested():
                conn.execute(insert(deliveries).values(
                    subscriber_id=subscriber_id, digest_id=digest_id, state="queued", attempts=0,
                    message_id=message_id, last_error="", watermark=utc_text(watermark),
                    created_at=utc_text(now), updated_at=utc_text(now), sent_at=None,
                ))
        except IntegrityError:  # planned concurrently by another run: theirs stands
            return True
        return True
    if existing.state == "sent":
        return False
    conn.execute(update(deliveries).where(deliveries.c.id == existing.id).values(
        state="queued", attempts=0, watermark=utc_text(watermark), updated_at=utc_text(now)))
    return True


@dataclass(frozen=True)
class Planned:
    subscriber_id: int
    digest_id: int
    message_id: str


def plan_deliveries(conn: Connection, planned: Sequence[Planned], watermark: datetime,
                    now: datetime) -> int:
    """Queue many deliveries at once (see `plan_delivery`); return how many are now queued."""
    if not planned:
        return 0
    sub_ids = sorted({p.subscriber_id for p in planned})
    digest_ids = sorted({p.digest_id for p in planned})
    existing = {
        (r.subscriber_id, r.digest_id): (r.id, r.state)
        for r in conn.execute(
            select(deliveries.c.id, deliveries.c.subscriber_id, deliveries.c.digest_id,
                   deliveries.c.state)
            .where(deliveries.c.subscriber_id.in_(sub_ids), deliveries.c.digest_id.in_(digest_ids)))
    }
    stamp, mark = utc_text(now), utc_text(watermark)
    rows, queued = [], 0
    for p in planned:
        found = existing.get((p.subscriber_id, p.digest_id))
        if found is None:
            rows.append({"subscriber_id": p.subscriber_id, "digest_id": p.digest_id,
                         "state": "queued", "attempts": 0, "message_id": p.message_id,
                         "last_error": "", "watermark": mark, "created_at": stamp,
                         "updated_at": stamp, "sent_at": None})
            queued += 1
        elif found[1] != "sent":
            conn.execute(update(deliveries).where(deliveries.c.id == found[0]).values(
                state="queued", attempts=0, watermark=mark, updated_at=stamp))
            queued += 1
    if rows:
        conn.execute(insert(deliveries), rows)
    return queued


def subscribers_with_queued(conn: Connection) -> set[int]:
    return set(conn.scalars(
        select(deliveries.c.subscriber_id).where(deliveries.c.state == "queued").distinct()))


def count_queued(conn: Connection) -> int:
    return conn.scalar(
        select(func.count()).select_from(deliveries).where(deliveries.c.state == "queued")) or 0


@dataclass(frozen=True)
class QueuedDelivery:
    delivery: DeliveryRow
    email: str
    name: str
    cadence: str
    status: str  # the subscriber's status now


def iter_queued(conn_factory, batch: int = 500) -> Iterator[QueuedDelivery]:  # type: ignore[no-untyped-def]
    """Queued deliveries with their subscriber, ordered by (digest, id), fetched in batches (each
    in a short transaction from `conn_factory()`): a digest's messages come together, memory
    stays flat, and rows marked meanwhile are not fetched again.
    """
    after: tuple[int, int] = (0, 0)
    columns = [*deliveries.c, subscribers.c.email, subscribers.c.name.label("subscriber_name"),
               subscribers.c.cadence, subscribers.c.status]
    while True:
        with conn_factory() as conn:
            rows = conn.execute(
                select(*columns)
                .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
                .where(deliveries.c.state == "queued",
                       or_(deliveries.c.digest_id > after[0],
                           and_(deliveries.c.digest_id == after[0], deliveries.c.id > after[1])))
                .order_by(deliveries.c.digest_id, deliveries.c.id)
                .limit(batch)
            ).all()
        if not rows:
            return
        for row in rows:
            yield QueuedDelivery(_delivery(row), row.email, row.subscriber_name, row.cadence,
                                 row.status)
        after = (rows[-1].digest_id, rows[-1].id)


_MARK_SENT = text(
    "UPDATE deliveries SET state = 'sent', attempts = :attempts, last_error = '', "
    "updated_at = :now, sent_at = :now WHERE id = :id")
_MOVE_WATERMARK = text(
    "UPDATE subscribers SET last_digest_at = :watermark, failures = 0 WHERE id = :id")


def mark_sent(conn: Connection, delivery: DeliveryRow, now: datetime) -> None:
    """Sent: the ledger row, the subscriber's watermark and failure count, in one transaction.

    Plain SQL (portable) because this runs once per message on the hot path."""
    stamp = utc_text(now)
    conn.execute(_MARK_SENT, {"attempts": delivery.attempts + 1, "now": stamp, "id": delivery.id})
    conn.execute(_MOVE_WATERMARK, {"watermark": utc_text(delivery.watermark),
                                   "id": delivery.subscriber_id})


def mark_sent_many(conn: Connection, sent: Sequence[DeliveryRow], now: datetime) -> None:
    """`mark_sent` for many deliveries at once (for idempotent senders such as the outbox)."""
    if not sent:
        return
    stamp = utc_text(now)
    conn.execute(_MARK_SENT, [{"attempts": d.attempts + 1, "now": stamp, "id": d.id} for d in sent])
    conn.execute(_MOVE_WATERMARK, [{"watermark": utc_text(d.watermark), "id": d.subscriber_id}
                                   for d in sent])


def mark_attempt(conn: Connection, delivery_id: int, attempts: int, error: str, now: datetime,
                 *, failed: bool) -> None:
    """A failed attempt: still `queued` (to retry) or `failed` for good."""
    conn.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(
        state="failed" if failed else "queued", attempts=attempts, last_error=error[:1000],
        updated_at=utc_text(now)))


def deliveries_for(conn: Connection, subscriber_id: int) -> list[DeliveryRow]:
    rows = conn.execute(select(deliveries).where(deliveries.c.subscriber_id == subscriber_id)
                        .order_by(deliveries.c.id))
    return [_delivery(r) for r in rows]


def count_by_state(conn: Connection) -> dict[str, int]:
    query = select(deliveries.c.state, func.count()).group_by(deliveries.c.state)
    return {state: n for state, n in conn.execute(query)}


def forget_subscriber(conn: Connection, subscriber_id: int) -> None:
    """Erase a subscriber's ledger rows (before deleting the subscriber)."""
    conn.execute(delete(deliveries).where(deliveries.c.subscriber_id == subscriber_id))


def _digest(r) -> DigestRow:  # type: ignore[no-untyped-def]
    return DigestRow(r.id, r.cadence, tuple(json.loads(r.article_ids)), parse_utc(r.created_at))


def _delivery(r) -> DeliveryRow:  # type: ignore[no-untyped-def]
    return DeliveryRow(
        id=r.id, subscriber_id=r.subscriber_id, digest_id=r.digest_id, state=r.state,
        attempts=r.attempts, message_id=r.message_id, last_error=r.last_error,
        watermark=parse_utc(r.watermark), created_at=parse_utc(r.created_at),
        updated_at=parse_utc(r.updated_at), sent_at=parse_utc(r.sent_at) if r.sent_at else None,
    )

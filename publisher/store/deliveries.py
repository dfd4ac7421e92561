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

from .db import Connection, parse_utc, utc_text


_DIGEST_COLUMNS = "id, cadence, article_ids, created_at"  # as `_digest()` unpacks them
# Every column of `deliveries`, in the order `_delivery()` unpacks them.
_DELIVERY_COLUMNS = ("id, subscriber_id, digest_id, state, attempts, message_id, last_error, "
                     "watermark, created_at, updated_at, sent_at")
_INSERT_DELIVERY = (
    "INSERT INTO deliveries (subscriber_id, digest_id, state, attempts, message_id, last_error, "
    "watermark, created_at, updated_at, sent_at) "
    "VALUES (?, ?, 'queued', 0, ?, '', ?, ?, ?, NULL) "
    "ON CONFLICT (subscriber_id, digest_id) DO NOTHING")
_REQUEUE = ("UPDATE deliveries SET state = 'queued', attempts = 0, watermark = ?, updated_at = ? "
            "WHERE id = ?")


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
    sql = f"SELECT {_DIGEST_COLUMNS} FROM digests WHERE content_key = ?"
    row = conn.execute(sql, (key,)).first()
    if row is None:
        conn.execute(
            "INSERT INTO digests (content_key, cadence, article_ids, created_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (content_key) DO NOTHING",
            (key, cadence, json.dumps(list(article_ids)), utc_text(now)))
        row = conn.execute(sql, (key,)).one()
    return _digest(row)


def digest_id_for(conn: Connection, article_ids: Sequence[str]) -> int | None:
    """The id of the digest of exactly these articles (in this order), if one was planned."""
    return conn.scalar("SELECT id FROM digests WHERE content_key = ?", (content_key(article_ids),))


def get_digest(conn: Connection, digest_id: int) -> DigestRow | None:
    row = conn.execute(f"SELECT {_DIGEST_COLUMNS} FROM digests WHERE id = ?", (digest_id,)).first()
    return _digest(row) if row else None


def plan_delivery(
    conn: Connection, subscriber_id: int, digest_id: int, message_id: str, watermark: datetime,
    now: datetime,
) -> bool:
    """Queue one delivery; idempotent per (subscriber, digest). A failed one is queued again.

    Returns True when a row is (now) queued, False when it was already sent.
    """
    existing = conn.execute(
        "SELECT id, state FROM deliveries WHERE subscriber_id = ? AND digest_id = ?",
        (subscriber_id, digest_id)).first()
    if existing is None:  # planned concurrently by another run: theirs stands
        conn.execute(_INSERT_DELIVERY, (subscriber_id, digest_id, message_id, utc_text(watermark),
                                        utc_text(now), utc_text(now)))
        return True
    if existing[1] == "sent":
        return False
    conn.execute(_REQUEUE, (utc_text(watermark), utc_text(now), existing[0]))
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
    existing: dict[tuple[int, int], tuple[int, str]] = {}
    for digest_chunk in _chunks(digest_ids, 100):
        for sub_chunk in _chunks(sub_ids, 500 - len(digest_chunk)):
            rows = conn.execute(
                "SELECT id, subscriber_id, digest_id, state FROM deliveries "
                f"WHERE subscriber_id IN ({_marks(sub_chunk)}) "
                f"AND digest_id IN ({_marks(digest_chunk)})", [*sub_chunk, *digest_chunk])
            for id_, subscriber_id, digest_id, state in rows:
                existing[subscriber_id, digest_id] = (id_, state)
    stamp, mark = utc_text(now), utc_text(watermark)
    rows_new, requeue = [], []
    for p in planned:
        found = existing.get((p.subscriber_id, p.digest_id))
        if found is None:
            rows_new.append((p.subscriber_id, p.digest_id, p.message_id, mark, stamp, stamp))
        elif found[1] != "sent":
            requeue.append((mark, stamp, found[0]))
    if requeue:
        conn.executemany(_REQUEUE, requeue)
    if rows_new:
        conn.executemany(_INSERT_DELIVERY, rows_new)
    return len(rows_new) + len(requeue)


def subscribers_with_queued(conn: Connection) -> set[int]:
    return set(conn.scalars(
        "SELECT DISTINCT subscriber_id FROM deliveries WHERE state = 'queued'"))


def count_queued(conn: Connection) -> int:
    return conn.scalar("SELECT count(*) FROM deliveries WHERE state = 'queued'") or 0


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
    columns = ", ".join(f"d.{c}" for c in _DELIVERY_COLUMNS.split(", "))
    sql = (f"SELECT {columns}, s.email, s.name, s.cadence, s.status FROM deliveries d "
           "JOIN subscribers s ON s.id = d.subscriber_id "
           "WHERE d.state = 'queued' AND (d.digest_id > ? OR (d.digest_id = ? AND d.id > ?)) "
           "ORDER BY d.digest_id, d.id LIMIT ?")
    while True:
        with conn_factory() as conn:
            rows = conn.execute(sql, (after[0], after[0], after[1], batch)).all()
        if not rows:
            return
        for row in rows:
            yield QueuedDelivery(_delivery(row[:11]), *row[11:])
        last = rows[-1]
        after = (last[2], last[0])


_MARK_SENT = (
    "UPDATE deliveries SET state = 'sent', attempts = :attempts, last_error = '', "
    "updated_at = :now, sent_at = :now WHERE id = :id")
_MOVE_WATERMARK = (
    "UPDATE subscribers SET last_digest_at = :watermark, failures = 0, soft_bounces = 0 WHERE id = :id")


def mark_sent_many(conn: Connection, sent: Sequence[tuple[DeliveryRow, int]],
                   now: datetime) -> None:
    """Sent: the ledger rows (each with the attempts made before this one), the subscribers'
    watermarks and failure counts, in one transaction."""
    if not sent:
        return
    stamp = utc_text(now)
    conn.executemany(_MARK_SENT, [{"attempts": attempts + 1, "now": stamp, "id": d.id}
                                  for d, attempts in sent])
    conn.executemany(_MOVE_WATERMARK, [{"watermark": utc_text(d.watermark), "id": d.subscriber_id}
                                       for d, _ in sent])


def mark_attempt(conn: Connection, delivery_id: int, attempts: int, error: str, now: datetime,
                 *, failed: bool) -> None:
    """A failed attempt: still `queued` (to retry) or `failed` for good."""
    conn.execute(
        "UPDATE deliveries SET state = ?, attempts = ?, last_error = ?, updated_at = ? "
        "WHERE id = ?",
        ("failed" if failed else "queued", attempts, error[:1000], utc_text(now), delivery_id))


def deliveries_for(conn: Connection, subscriber_id: int) -> list[DeliveryRow]:
    rows = conn.execute(
        f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE subscriber_id = ? ORDER BY id",
        (subscriber_id,))
    return [_delivery(r) for r in rows]


def count_by_state(conn: Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT state, count(*) FROM deliveries GROUP BY state").all())


def forget_subscriber(conn: Connection, subscriber_id: int) -> None:
    """Erase a subscriber's ledger rows (before deleting the subscriber)."""
    conn.execute("DELETE FROM deliveries WHERE subscriber_id = ?", (subscriber_id,))


def _digest(r: tuple) -> DigestRow:  # type: ignore[type-arg]
    id_, cadence, article_ids, created_at = r
    return DigestRow(id_, cadence, tuple(json.loads(article_ids)), parse_utc(created_at))


def _delivery(r: tuple) -> DeliveryRow:  # type: ignore[type-arg]
    (id_, subscriber_id, digest_id, state, attempts, message_id, last_error, watermark,
     created_at, updated_at, sent_at) = r
    return DeliveryRow(
        id=id_, subscriber_id=subscriber_id, digest_id=digest_id, state=state,
        attempts=attempts, message_id=message_id, last_error=last_error,
        watermark=parse_utc(watermark), created_at=parse_utc(created_at),
        updated_at=parse_utc(updated_at), sent_at=parse_utc(sent_at) if sent_at else None,
    )


def _marks(items: Sequence[object]) -> str:
    return ", ".join("?" * len(items))


def _chunks(items: list, size: int):  # type: ignore[no-untyped-def]
    for start in range(0, len(items), size):
        yield items[start:start + size]

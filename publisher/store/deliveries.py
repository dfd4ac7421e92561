"""The digest ledger: one `digests` row per distinct digest content, one `deliveries` row per
(subscriber, digest) with its state: `queued -> sending (owner, lease_until) -> sent | failed`.

The exactly-once contract lives in these statements, for any number of sender processes:

- planning holds the planner lock (`lock_planning`, a row of `store_locks` updated first in the
  planning transaction), so one process plans at a time and sees what the others planned;
- a sender claims a few rows at a time (`claim_deliveries`: one statement, in a write
  transaction), re-reading each subscriber's status in that transaction; rows of subscribers
  no longer active are closed there and then, so an unsubscribe committed before the claim
  means no mail;
- a claimed row is marked `sent` (with the subscriber's watermark, which only moves forward)
  by its owner right after the server accepted the message; the other outcomes too, by the
  owner only;
- a lease that expired (its owner died) is claimable again: the message in flight at the
  crash is sent again with the same Message-ID, and nothing else needs resuming.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Iterator, Sequence

from .db import Connection, Done, parse_utc, utc_text


_DIGEST_COLUMNS = "id, cadence, article_ids, created_at"  # as `_digest()` unpacks them
# Every column of `deliveries`, in the order `_delivery()` unpacks them.
_DELIVERY_COLUMNS = ("id, subscriber_id, digest_id, state, attempts, message_id, last_error, "
                     "watermark, created_at, updated_at, sent_at")
_INSERT_DELIVERY = (
    "INSERT INTO deliveries (subscriber_id, digest_id, state, attempts, message_id, last_error, "
    "watermark, created_at, updated_at, sent_at, owner, lease_until) "
    "VALUES (?, ?, 'queued', 0, ?, '', ?, ?, ?, NULL, '', NULL) "
    "ON CONFLICT (subscriber_id, digest_id) DO NOTHING")
_REQUEUE = ("UPDATE deliveries SET state = 'queued', attempts = 0, watermark = ?, updated_at = ?, "
            "owner = '', lease_until = NULL WHERE id = ? AND state = 'failed'")
UNFINISHED = ("queued", "sending")


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
    if existing[1] == "failed":
        conn.execute(_REQUEUE, (utc_text(watermark), utc_text(now), existing[0]))
    return True


@dataclass(frozen=True)
class Planned:
    subscriber_id: int
    digest_id: int
    message_id: str


def plan_deliveries(conn: Connection, planned: Sequence[Planned], watermark: datetime,
                    now: datetime) -> int:
    """Queue many deliveries at once (see `plan_delivery`); return how many are now queued.

    One multi-row `INSERT ... ON CONFLICT (subscriber_id, digest_id) DO UPDATE ... WHERE failed
    RETURNING id` per `PLAN_ROWS` rows: new rows are inserted, failed ones queued again, sent
    (and unfinished) ones left alone; the rows returned are the ones now queued. No reads."""
    stamp, mark = utc_text(now), utc_text(watermark)
    queued = 0
    for start in range(0, len(planned), PLAN_ROWS):
        chunk = planned[start:start + PLAN_ROWS]
        params: list[object] = []
        for p in chunk:
            params += (p.subscriber_id, p.digest_id, p.message_id, mark, stamp, stamp)
        queued += len(conn.execute(_plan_sql(len(chunk)), params).all())
    return queued


PLAN_ROWS = 500  # rows per planning INSERT (6 parameters each)
_PLAN_ROW = "(?, ?, 'queued', 0, ?, '', ?, ?, ?, NULL, '', NULL)"
_plan_texts: dict[int, str] = {}


def _plan_sql(rows: int) -> str:
    text = _plan_texts.get(rows)
    if text is None:
        text = _plan_texts[rows] = (
            "INSERT INTO deliveries (subscriber_id, digest_id, state, attempts, message_id, "
            "last_error, watermark, created_at, updated_at, sent_at, owner, lease_until) "
            f"VALUES {', '.join([_PLAN_ROW] * rows)} "
            "ON CONFLICT (subscriber_id, digest_id) DO UPDATE SET state = 'queued', "
            "attempts = 0, watermark = excluded.watermark, updated_at = excluded.updated_at, "
            "owner = '', lease_until = NULL WHERE deliveries.state = 'failed' RETURNING id")
    return text


def lock_planning(conn: Connection, holder: str, now: datetime) -> None:
    """Take the planner lock for the rest of this transaction (one planner per store).

    A write to the lock's row, first in the transaction: on SQLite that write starts the
    transaction with `BEGIN IMMEDIATE` (one writer at a time), on PostgreSQL it holds the row
    lock until commit; either way a second planner waits here and then reads what the first one
    committed.
    """
    conn.execute("UPDATE store_locks SET holder = ?, taken_at = ? WHERE name = 'planner'",
                 (holder, utc_text(now)))


def subscribers_with_unfinished(conn: Connection) -> set[int]:
    """Subscribers with a delivery still queued or being sent (not planned again meanwhile)."""
    return set(conn.scalars(
        "SELECT DISTINCT subscriber_id FROM deliveries WHERE state IN ('queued', 'sending')"))


def count_unfinished(conn: Connection) -> int:
    return conn.scalar(
        "SELECT count(*) FROM deliveries WHERE state IN ('queued', 'sending')") or 0


@dataclass(frozen=True)
class QueuedDelivery:
    delivery: DeliveryRow
    email: str
    name: str
    cadence: str
    status: str  # the subscriber's status now


# The claim, SQLite: under the database's write lock (`BEGIN IMMEDIATE`, one writer at a time)
# a few statements in turn; PostgreSQL: one statement (`_PG_CLAIM`, atomic in itself) that
# skips the rows another sender is claiming (FOR UPDATE SKIP LOCKED), reads each subscriber's
# status, closes the rows of those no longer active and returns the rest: one round trip.
_CLAIM = ("UPDATE deliveries SET state = 'sending', owner = ?, lease_until = ?, updated_at = ? "
          "WHERE id IN (SELECT id FROM deliveries WHERE {where} "
          "ORDER BY digest_id, id LIMIT ?) RETURNING id")
_CLAIMABLE = {
    "queued": "state = 'queued'",
    # its owner died (or hung); never one's own (a retry waiting, or the message in flight)
    "expired": "state = 'sending' AND lease_until < ? AND owner <> ?",
}
_CLAIMED_ROWS = (
    "SELECT {columns}, s.email, s.name, s.cadence, s.status FROM deliveries d "
    "JOIN subscribers s ON s.id = d.subscriber_id WHERE d.id IN ({marks}) "
    "ORDER BY d.digest_id, d.id")
_CLOSE_INACTIVE = (
    "UPDATE deliveries SET state = 'failed', last_error = ?, updated_at = ?, owner = '', "
    "lease_until = NULL WHERE id = ?")
_PG_CLAIM_CTES = (
    "expired AS (SELECT id FROM deliveries WHERE state = 'sending' AND lease_until < :now "
    "AND owner <> :owner ORDER BY digest_id, id LIMIT {limit} FOR UPDATE SKIP LOCKED), "
    "queued AS (SELECT id FROM deliveries WHERE state = 'queued' "
    "ORDER BY digest_id, id LIMIT {limit} FOR UPDATE SKIP LOCKED), "
    "chosen AS (SELECT id FROM (SELECT id, 0 AS k FROM expired UNION ALL "
    "SELECT id, 1 AS k FROM queued) c ORDER BY k LIMIT {limit})")
_PG_CLAIM_UPDATE = (
    "UPDATE deliveries d SET "
    "state = CASE WHEN s.status = 'active' THEN 'sending' ELSE 'failed' END, "
    "owner = CASE WHEN s.status = 'active' THEN :owner ELSE '' END, "
    "lease_until = CASE WHEN s.status = 'active' THEN :until END, "
    "last_error = CASE WHEN s.status = 'active' THEN d.last_error "
    "ELSE 'subscriber is ' || s.status END, updated_at = :now "
    "FROM chosen, subscribers s WHERE d.id = chosen.id AND s.id = d.subscriber_id "
    "RETURNING {columns}, s.email, s.name, s.cadence, s.status")
_PG_CLAIM = f"WITH {_PG_CLAIM_CTES} {_PG_CLAIM_UPDATE}"


def _pg_claimed(rows: list[tuple]) -> tuple[list[QueuedDelivery], int]:  # type: ignore[type-arg]
    rows.sort(key=lambda r: (r[2], r[0]))  # (digest_id, id)
    claimed = [QueuedDelivery(_delivery(row[:11]), *row[11:]) for row in rows]
    active = [item for item in claimed if item.status == "active"]
    return active, len(claimed) - len(active)


def _postgres(conn: Connection) -> bool:
    return getattr(conn, "dialect", "sqlite") == "postgresql"


def claim_deliveries(conn: Connection, owner: str, now: datetime, lease_until: datetime,
                     limit: int) -> tuple[list[QueuedDelivery], int]:
    """Claim up to `limit` deliveries for `owner` (expired leases first, then queued rows, in
    (digest, id) order); return those whose subscriber is active *now*, in the claiming
    transaction, and how many others were claimed and closed.

    Rows of subscribers who are no longer active are closed (`failed`, "subscriber is ...") in
    the same transaction. Inside `conn.begin()` or not (then it is a transaction of its own);
    on SQLite the claim is the transaction's first write, so it runs under `BEGIN IMMEDIATE`.
    """
    stamp, until = utc_text(now), utc_text(lease_until)
    if _postgres(conn):
        columns = ", ".join(f"d.{c}" for c in _DELIVERY_COLUMNS.split(", "))
        # the limit is written into the text (an int): the generic plan then knows it too
        return _pg_claimed(conn.execute(_PG_CLAIM.format(columns=columns, limit=int(limit)), {
            "now": stamp, "owner": owner, "until": until}).all())
    if not conn.in_transaction:
        with conn.begin():
            return claim_deliveries(conn, owner, now, lease_until, limit)
    ids: list[int] = []
    for kind in ("expired", "queued"):
        if len(ids) >= limit:
            break
        sql = _CLAIM.format(where=_CLAIMABLE[kind])
        params: list[object] = [owner, until, stamp]
        if kind == "expired":
            params += (stamp, owner)
        params.append(limit - len(ids))
        ids += conn.execute(sql, params).scalars()
    if not ids:
        return [], 0
    columns = ", ".join(f"d.{c}" for c in _DELIVERY_COLUMNS.split(", "))
    rows = conn.execute(_CLAIMED_ROWS.format(columns=columns, marks=_marks(ids)), ids).all()
    claimed, closed = [], []
    for row in rows:
        item = QueuedDelivery(_delivery(row[:11]), *row[11:])
        if item.status == "active":
            claimed.append(item)
        else:
            closed.append((f"subscriber is {item.status}", stamp, item.delivery.id))
    if closed:
        conn.executemany(_CLOSE_INACTIVE, closed)
    return claimed, len(closed)


def record_and_claim(conn: Connection, sent: Sequence[tuple[DeliveryRow, int]], owner: str,
                     sent_at: datetime, now: datetime, lease_until: datetime, limit: int
                     ) -> tuple[list[QueuedDelivery], int]:
    """`mark_sent_many(sent)`, then `claim_deliveries`: on SQLite in one transaction (one
    commit), on PostgreSQL in one statement (one round trip)."""
    if _postgres(conn):
        if not sent:
            return claim_deliveries(conn, owner, now, lease_until, limit)
        params = _sent_params(sent, owner, sent_at)
        params.update(now=utc_text(now), until=utc_text(lease_until))
        return _pg_claimed(conn.execute(_pg_mark_sent(len(sent), int(limit)), params).all())
    with conn.begin():
        # the claim first: it is the write that takes the lock (BEGIN IMMEDIATE)
        claimed = claim_deliveries(conn, owner, now, lease_until, limit)
        mark_sent_many(conn, sent, owner, sent_at)
    return claimed


class Recording:
    """`submit_record_and_claim`'s statement in flight: `fileno()` to poll (None: done),
    `done()`, and `result()`: (claimed, closed) as `claim_deliveries` returns them."""

    __slots__ = ("pending", "claims")

    def __init__(self, pending, claims: bool) -> None:  # type: ignore[no-untyped-def]
        self.pending = pending
        self.claims = claims  # a claim rides along

    def fileno(self) -> int | None:
        return self.pending.fileno()

    def done(self) -> bool:
        return bool(self.pending.done())

    def result(self) -> tuple[list[QueuedDelivery], int]:
        value = self.pending.result()
        return _pg_claimed(value) if isinstance(value, list) else value


def records_in_background(conn: Connection) -> bool:
    """Does `submit_record_and_claim` return before the record is made (PostgreSQL), or make
    it at once (SQLite)?"""
    return _postgres(conn)


def submit_record_and_claim(conn: Connection, sent: Sequence[tuple[DeliveryRow, int]],
                            owner: str, sent_at: datetime, now: datetime,
                            lease_until: datetime, limit: int) -> Recording:
    """`record_and_claim` (with `limit` 0: `mark_sent_many` alone) sent without waiting for it:
    on PostgreSQL the one statement runs while the caller goes on (outside a transaction);
    SQLite records (and claims) at once."""
    if not _postgres(conn):
        if limit:
            return Recording(Done(record_and_claim(conn, sent, owner, sent_at, now,
                                                   lease_until, limit)), True)
        mark_sent_many(conn, sent, owner, sent_at)
        return Recording(Done(([], 0)), False)
    params = _sent_params(sent, owner, sent_at)
    if limit:
        params.update(now=utc_text(now), until=utc_text(lease_until))
    return Recording(conn.submit(_pg_mark_sent(len(sent), int(limit)), params), bool(limit))


def release_claims(conn: Connection, owner: str, now: datetime) -> int:
    """Give back what `owner` claimed and did not finish (queued again, for anyone)."""
    return conn.execute(
        "UPDATE deliveries SET state = 'queued', owner = '', lease_until = NULL, updated_at = ? "
        "WHERE state = 'sending' AND owner = ?", (utc_text(now), owner)).rowcount


def extend_claim(conn: Connection, delivery_id: int, owner: str, lease_until: datetime) -> None:
    conn.execute("UPDATE deliveries SET lease_until = ? WHERE id = ? AND owner = ? "
                 "AND state = 'sending'", (utc_text(lease_until), delivery_id, owner))


_MARK_SENT = (
    "UPDATE deliveries SET state = 'sent', attempts = :attempts, last_error = '', "
    "updated_at = :now, sent_at = :now, owner = '', lease_until = NULL "
    "WHERE id = :id AND owner = :owner AND state = 'sending'")
# The watermark only moves forward (two digests for one subscriber may be marked in any order).
_MOVE_WATERMARK = (
    "UPDATE subscribers SET last_digest_at = :watermark, failures = 0, soft_bounces = 0 WHERE id = :id "
    "AND (last_digest_at IS NULL OR last_digest_at < :watermark)")
# PostgreSQL: both in one statement (one round trip, atomic in itself), for the rows that were
# still `owner`'s to mark.
_PG_SENT_CTES = (
    "v (id, attempts) AS (VALUES {rows}), "
    "sent AS (UPDATE deliveries d SET state = 'sent', attempts = v.attempts, last_error = '', "
    "updated_at = :sent_at, sent_at = :sent_at, owner = '', lease_until = NULL FROM v "
    "WHERE d.id = v.id AND d.owner = :owner AND d.state = 'sending' "
    "RETURNING d.subscriber_id, d.watermark), "
    "latest AS (SELECT subscriber_id, max(watermark) AS watermark FROM sent "
    "GROUP BY subscriber_id)")
_PG_MOVE_WATERMARKS = (
    "UPDATE subscribers s SET last_digest_at = latest.watermark, failures = 0, "
    "soft_bounces = 0 FROM latest WHERE s.id = latest.subscriber_id "
    "AND (s.last_digest_at IS NULL OR s.last_digest_at < latest.watermark)")
_PG_MARK_SENT = f"WITH {_PG_SENT_CTES} {_PG_MOVE_WATERMARKS}"
# Both in one statement (one round trip): the rows marked sent are `owner`'s, the rows claimed
# queued or someone else's expired ones, so no row is changed twice.
_PG_RECORD_AND_CLAIM = (f"WITH {_PG_SENT_CTES}, moved AS ({_PG_MOVE_WATERMARKS} RETURNING s.id), "
                        f"{_PG_CLAIM_CTES} {_PG_CLAIM_UPDATE}")


_pg_texts: dict[tuple[str, int, int], str] = {}


def _pg_mark_sent(rows: int, claim: int = 0) -> str:
    """The statement for `rows` sent rows (a VALUES list of that length, so that PostgreSQL's
    generic plan of the prepared statement is as good as a custom one and it stops planning it
    anew), with a claim of `claim` rows after them when `claim`."""
    key = ("mark", rows, claim)
    text = _pg_texts.get(key)
    if text is None:
        values = ", ".join(f"(:i{n}::bigint, :a{n}::bigint)" for n in range(rows))
        columns = ", ".join(f"d.{c}" for c in _DELIVERY_COLUMNS.split(", "))
        template = _PG_RECORD_AND_CLAIM if claim else _PG_MARK_SENT
        text = _pg_texts[key] = template.format(rows=values, limit=claim, columns=columns)
    return text


def _sent_params(sent: Sequence[tuple[DeliveryRow, int]], owner: str, sent_at: datetime
                 ) -> dict[str, object]:
    params: dict[str, object] = {"sent_at": utc_text(sent_at), "owner": owner}
    for n, (d, attempts) in enumerate(sent):
        params[f"i{n}"], params[f"a{n}"] = d.id, attempts + 1
    return params


def mark_sent_many(conn: Connection, sent: Sequence[tuple[DeliveryRow, int]], owner: str,
                   now: datetime) -> None:
    """Sent: `owner`'s claimed rows (each with the attempts made before this one), the
    subscribers' watermarks and failure counts, in one transaction (the caller's, or one of
    its own)."""
    if not sent:
        return
    stamp = utc_text(now)
    if _postgres(conn):
        conn.execute(_pg_mark_sent(len(sent)), _sent_params(sent, owner, now))
        return
    if not conn.in_transaction:
        with conn.begin():
            return mark_sent_many(conn, sent, owner, now)
    conn.executemany(_MARK_SENT, [{"attempts": attempts + 1, "now": stamp, "id": d.id,
                                   "owner": owner} for d, attempts in sent])
    conn.executemany(_MOVE_WATERMARK, [{"watermark": utc_text(d.watermark), "id": d.subscriber_id}
                                       for d, _ in sent])


def mark_attempt(conn: Connection, delivery_id: int, attempts: int, error: str, now: datetime,
                 *, failed: bool, owner: str | None = None,
                 lease_until: datetime | None = None) -> None:
    """A failed attempt: `failed` for good, or not: then still claimed by `owner` until
    `lease_until` (a retry by this run), or queued again for anyone (`lease_until` None)."""
    if failed:
        state, lease, new_owner = "failed", None, ""
    elif lease_until is not None:
        state, lease, new_owner = "sending", utc_text(lease_until), owner or ""
    else:
        state, lease, new_owner = "queued", None, ""
    sql = ("UPDATE deliveries SET state = ?, attempts = ?, last_error = ?, updated_at = ?, "
           "owner = ?, lease_until = ? WHERE id = ?")
    params: list[object] = [state, attempts, error[:1000], utc_text(now), new_owner, lease,
                            delivery_id]
    if owner is not None:  # only our own claim
        sql += " AND owner = ? AND state = 'sending'"
        params.append(owner)
    conn.execute(sql, params)


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


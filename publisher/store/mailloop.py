"""What came back from the mail: bounce/complaint/unsubscribe events, and the record of every
inbound message acted on (so each is acted on once, even when a run is killed midway)."""

from __future__ import annotations

from datetime import datetime

from .db import Connection, utc_text

EVENT_KINDS = ("hard_bounce", "soft_bounce", "complaint", "unsubscribe")


def add_event(conn: Connection, *, subscriber_id: int | None, digest_id: int | None, kind: str,
              origin: str, detail: str, now: datetime) -> None:
    assert kind in EVENT_KINDS, kind
    conn.execute(
        "INSERT INTO mail_events (subscriber_id, digest_id, kind, origin, detail, at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (subscriber_id, digest_id, kind, origin, detail[:500], utc_text(now)))


def claim_inbound(conn: Connection, message_key: str, kind: str, detail: str,
                  now: datetime) -> bool:
    """Record that this message is being acted on (in the caller's transaction): False when an
    earlier run already did (then the caller does nothing but file the message away)."""
    result = conn.execute(
        "INSERT INTO inbound_messages (message_key, kind, detail, processed_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (message_key) DO NOTHING",
        (message_key, kind, detail[:500], utc_text(now)))
    return result.rowcount > 0


def inbound_seen(conn: Connection, message_key: str) -> bool:
    return conn.scalar("SELECT 1 FROM inbound_messages WHERE message_key = ?",
                       (message_key,)) is not None


def hard_bounce_streak(conn: Connection, subscriber_id: int, limit: int) -> int:
    """How many of the subscriber's most recent sent digests (at most `limit`) hard-bounced, in
    a row, newest first: a sent digest with no bounce report ends the streak."""
    rows = conn.execute(
        "SELECT d.digest_id, EXISTS (SELECT 1 FROM mail_events e WHERE e.subscriber_id = "
        "d.subscriber_id AND e.digest_id = d.digest_id AND e.kind = 'hard_bounce') "
        "FROM deliveries d WHERE d.subscriber_id = ? AND d.state = 'sent' "
        "ORDER BY d.sent_at DESC, d.id DESC LIMIT ?", (subscriber_id, limit)).all()
    streak = 0
    for _digest_id, bounced in rows:
        if not bounced:
            break
        streak += 1
    return streak


def latest_sent_digest(conn: Connection, subscriber_id: int) -> int | None:
    return conn.scalar(
        "SELECT digest_id FROM deliveries WHERE subscriber_id = ? AND state = 'sent' "
        "ORDER BY sent_at DESC, id DESC LIMIT 1", (subscriber_id,))


def was_sent(conn: Connection, subscriber_id: int, digest_id: int) -> bool:
    return conn.scalar(
        "SELECT 1 FROM deliveries WHERE subscriber_id = ? AND digest_id = ? AND state = 'sent'",
        (subscriber_id, digest_id)) is not None


def rates_since(conn: Connection, since: datetime) -> dict[str, int]:
    """Digests handed to the server (sent, or refused for good) since `since`, and the
    bounces, complaints and unsubscribes recorded since then (one event per report)."""
    stamp = utc_text(since)
    sent = conn.scalar(
        "SELECT count(*) FROM deliveries WHERE (state = 'sent' AND sent_at >= ?) "
        "OR (state = 'failed' AND updated_at >= ?)", (stamp, stamp)) or 0
    counts = dict(conn.execute(
        "SELECT kind, count(*) FROM mail_events WHERE at >= ? GROUP BY kind", (stamp,)).all())
    return {"sent": sent, "hard_bounces": counts.get("hard_bounce", 0),
            "soft_bounces": counts.get("soft_bounce", 0),
            "complaints": counts.get("complaint", 0),
            "unsubscribes": counts.get("unsubscribe", 0)}

"""Table definitions. Dates are stored as ISO 8601 text in UTC (portable, sortable)."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, MetaData, Table, Text, UniqueConstraint

metadata = MetaData()

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("applied_at", Text, nullable=False),
)

articles = Table(
    "articles",
    metadata,
    Column("id", Text, primary_key=True),
    Column("source", Text, nullable=False, unique=True),
    Column("slug", Text, nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("guid", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("authors", Text, nullable=False),  # JSON list
    Column("published", Text, nullable=False),
    Column("updated", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("credit", Text, nullable=False),
    Column("translation_note", Text, nullable=False),
    Column("body_html", Text, nullable=False),
    Column("related", Text, nullable=False),  # JSON list of teasers
    Column("language", Text, nullable=False),
    Column("content_hash", Text, nullable=False),
    Column("first_seen", Text, nullable=False),
    Column("deleted_at", Text, nullable=True),
)
Index("articles_first_seen", articles.c.first_seen)

seed_files = Table(
    "seed_files",
    metadata,
    Column("source", Text, primary_key=True),
    Column("size", Integer, nullable=False),
    Column("mtime_ns", Integer, nullable=False),
    Column("status", Text, nullable=False),  # "ok", "skipped" or "failed"
    Column("message", Text, nullable=False),
    Column("checked_at", Text, nullable=False),
)

feed_outputs = Table(
    "feed_outputs",
    metadata,
    Column("path", Text, primary_key=True),  # folder below feeds/, "" for the site feed
    Column("fingerprint", Text, nullable=False),
    Column("written_at", Text, nullable=False),
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", Text, nullable=False),
    Column("email_key", Text, nullable=False, unique=True),  # casefolded: no duplicates by case
    Column("name", Text, nullable=False),
    Column("cadence", Text, nullable=False),
    Column("categories", Text, nullable=False),  # JSON list; empty: all
    Column("status", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("confirmed_at", Text, nullable=True),
    Column("last_digest_at", Text, nullable=True),
    Column("failures", Integer, nullable=False),
)
Index("subscribers_status_cadence", subscribers.c.status, subscribers.c.cadence)

# --- scheduler (migration 5): what the daemon and `tick` observed and did, for `status` ---

seed_watch = Table(
    "seed_watch",
    metadata,
    Column("source", Text, primary_key=True),  # a seed not yet settled when last scanned
    Column("size", Integer, nullable=False),
    Column("mtime_ns", Integer, nullable=False),
    Column("seen_at", Text, nullable=False),  # first scan that saw exactly this size and mtime
)

scheduler_runs = Table(
    "scheduler_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("trigger", Text, nullable=False),  # "tick", "scan", "daily", "weekly", "startup"
    Column("started_at", Text, nullable=False),
    Column("finished_at", Text, nullable=True),  # NULL: still running, or killed
    Column("outcome", Text, nullable=False),  # "running", "ok", "partial", "interrupted", "error"
    Column("summary", Text, nullable=False),  # one line, for `status`
    Column("details", Text, nullable=False),  # JSON object
)
Index("scheduler_runs_started", scheduler_runs.c.started_at)

schedule_slots = Table(
    "schedule_slots",
    metadata,
    Column("cadence", Text, primary_key=True),  # "daily" or "weekly"
    Column("slot_at", Text, primary_key=True),  # the scheduled moment, UTC
    Column("status", Text, nullable=False),  # "sent" or "skipped"
    Column("recorded_at", Text, nullable=False),
    Column("detail", Text, nullable=False),
)

digests = Table(
    "digests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("content_key", Text, nullable=False, unique=True),  # sha256 of the article ids
    Column("cadence", Text, nullable=False),  # cadence of the run that first planned it
    Column("article_ids", Text, nullable=False),  # JSON list, newest first
    Column("created_at", Text, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"),
           nullable=False),
    Column("digest_id", Integer, ForeignKey("digests.id"), nullable=False),
    Column("state", Text, nullable=False),  # "queued", "sent" or "failed"
    Column("attempts", Integer, nullable=False),
    Column("message_id", Text, nullable=False),
    Column("last_error", Text, nullable=False),
    Column("watermark", Text, nullable=False),  # the subscriber's last_digest_at once sent
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    Column("sent_at", Text, nullable=True),
    UniqueConstraint("subscriber_id", "digest_id", name="deliveries_subscriber_digest"),
)
Index("deliveries_state_digest", deliveries.c.state, deliveries.c.digest_id, deliveries.c.id)

confirmation_mails = Table(  # the web's record of confirmation mails: one row per address
    "confirmation_mails",
    metadata,
    Column("email_key", Text, primary_key=True),  # casefolded address, like subscribers.email_key
    Column("last_sent_at", Text, nullable=False),
    Column("sends", Integer, nullable=False),
)

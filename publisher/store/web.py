"""What the web pages read and the little they write: article pages, confirmation-mail cooldowns,
per-client rate limits (in the store, so every `serve` process of it counts the same requests)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Sequence
from zoneinfo import ZoneInfo

from ..model import Article, Teaser, slugify
from . import search as search_store
from .articles import (
    _SELECT_ARTICLES, _article, _chunks, _marks, count_articles, feed_index, get_articles,
)
from .db import Connection, parse_utc, utc_text


@dataclass(frozen=True)
class Page:
    """One page of an article listing, newest first."""

    articles: tuple[Article, ...]
    number: int  # 1-based
    has_next: bool


def article_page(conn: Connection, tz: ZoneInfo, number: int, size: int) -> tuple[Page, int]:
    """The `number`th page of live articles, newest first (published, updated, id), and how
    many live articles there are in all."""
    rows = conn.execute(
        f"{_SELECT_ARTICLES} WHERE deleted_at IS NULL "
        "ORDER BY published DESC, updated DESC, id LIMIT ? OFFSET ?",
        (size + 1, (number - 1) * size))
    found = [_article(r, tz) for r in rows]
    return Page(tuple(found[:size]), number, len(found) > size), count_articles(conn)


def live_article_by_slug(conn: Connection, slug: str, tz: ZoneInfo) -> Article | None:
    row = conn.execute(f"{_SELECT_ARTICLES} WHERE slug = ? AND deleted_at IS NULL",
                       (slug,)).first()
    return _article(row, tz) if row else None


def live_slugs(conn: Connection, slugs: list[str]) -> set[str]:
    """Which of these slugs belong to a live article."""
    found: set[str] = set()
    for chunk in _chunks(list(slugs), 500):
        found.update(conn.scalars(
            f"SELECT slug FROM articles WHERE slug IN ({_marks(chunk)}) AND deleted_at IS NULL",
            chunk))
    return found


def related_slugs(conn: Connection, teasers: Sequence[Teaser]) -> dict[str, str]:
    """teaser title -> slug of the live article it names, for the teasers we have.

    An article is found by the slug its title gives (what WordPress does), or else by its
    title through the search index (a slug that differs from the title's, e.g. a WordPress
    slug edited after publication), compared exactly once found.
    """
    by_slug = {slugify(t.title): t.title for t in teasers}
    found = {by_slug[s]: s for s in live_slugs(conn, list(by_slug))}
    for teaser in teasers:
        if teaser.title not in found:
            slug = search_store.slug_by_title(conn, teaser.title)
            if slug:
                found[teaser.title] = slug
    return found


def section_page(
    conn: Connection, tz: ZoneInfo, kind: str, slug: str, number: int, size: int
) -> tuple[str, Page, int] | None:
    """(display name, page, articles in all) of a category or author by slug, as the feeds
    group them; None if it has no live article.

    Grouping by slug in Python mirrors `pipeline.select_feeds`, so a section page always lists
    exactly the articles of its feed (and more, further back).
    """
    name = ""
    ids: list[str] = []
    for row in feed_index(conn):
        names = [row.category] if kind == "category" else list(row.authors)
        for candidate in names:
            if candidate and slugify(candidate) == slug:
                name = name or candidate
                ids.append(row.id)
                break
    if not ids:
        return None
    start = (number - 1) * size
    chosen = ids[start:start + size]
    found = get_articles(conn, chosen, tz)
    page = Page(tuple(found[i] for i in chosen if i in found), number, len(ids) > start + size)
    return name, page, len(ids)


def categories(conn: Connection) -> list[str]:
    """Every category with a live article, by name."""
    return conn.scalars(
        "SELECT category FROM articles WHERE deleted_at IS NULL AND category <> '' "
        "GROUP BY category ORDER BY lower(category)")


def claim_confirmation_mail(
    conn: Connection, email_key: str, now: datetime, cooldown_seconds: float
) -> bool:
    """Reserve the right to send one confirmation mail to `email_key` now.

    False when one was sent (or claimed) less than `cooldown_seconds` ago: send nothing. Atomic:
    the first statement writes, so of two concurrent requests only one gets the claim.
    """
    cutoff = utc_text(now - timedelta(seconds=cooldown_seconds))
    stamp = utc_text(now)
    result = conn.execute(
        "UPDATE confirmation_mails SET last_sent_at = ?, sends = sends + 1 "
        "WHERE email_key = ? AND last_sent_at <= ?", (stamp, email_key, cutoff))
    if result.rowcount == 1:
        return True
    result = conn.execute(  # no row yet; if one exists it is recent
        "INSERT INTO confirmation_mails (email_key, last_sent_at, sends) VALUES (?, ?, 1) "
        "ON CONFLICT (email_key) DO NOTHING", (email_key, stamp))
    return result.rowcount == 1


def release_confirmation_mail(conn: Connection, email_key: str) -> None:
    """Undo a claim whose mail could not be sent, so the visitor may try again at once."""
    conn.execute(
        "UPDATE confirmation_mails SET last_sent_at = ?, sends = sends - 1 WHERE email_key = ?",
        (utc_text(_EPOCH), email_key))


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def take_rate_slot(conn: Connection, scope: str, client: str, now: datetime, limit: int,
                   window_seconds: float) -> bool:
    """Count one request of `client` in `scope` now, unless it already made `limit` in the
    last `window_seconds` (a sliding log): True when allowed. Inside a transaction; requests
    of one scope take turns (`serialize`), so two processes never both take the last slot.
    Events out of the window are deleted on the way."""
    conn.serialize(f"rate:{scope}")
    cutoff = utc_text(now - timedelta(seconds=window_seconds))
    conn.execute("DELETE FROM rate_events WHERE scope = ? AND at <= ?", (scope, cutoff))
    used = conn.scalar("SELECT count(*) FROM rate_events WHERE scope = ? AND client = ?",
                       (scope, client))
    if used >= limit:
        return False
    conn.execute("INSERT INTO rate_events (scope, client, at) VALUES (?, ?, ?)",
                 (scope, client, utc_text(now)))
    return True


@dataclass(frozen=True)
class SentDigest:
    """A digest that went out to at least one subscriber, for the public archive."""

    id: int
    sent_at: datetime
    article_ids: tuple[str, ...]
    first_title: str


def sent_digests(conn: Connection, tz: ZoneInfo, number: int, size: int
                 ) -> tuple[list[SentDigest], int]:
    """A page of sent digests, newest first, and how many there are in all."""
    rows = conn.execute(
        "SELECT g.id, g.article_ids, min(d.sent_at) AS first_sent "
        "FROM digests g JOIN deliveries d ON d.digest_id = g.id "
        "WHERE d.state = 'sent' GROUP BY g.id, g.article_ids "
        "ORDER BY first_sent DESC, g.id DESC LIMIT ? OFFSET ?",
        (size + 1, (number - 1) * size)).all()
    firsts = [json.loads(article_ids)[:1] for _, article_ids, _ in rows[:size]]
    wanted = [ids[0] for ids in firsts if ids]
    titles = dict(conn.execute(f"SELECT id, title FROM articles WHERE id IN ({_marks(wanted)})",
                               wanted).all()) if wanted else {}
    found = [
        SentDigest(id_, parse_utc(first_sent).astimezone(tz),
                   tuple(json.loads(article_ids)), titles.get(ids[0], "") if ids else "")
        for (id_, article_ids, first_sent), ids in zip(rows[:size], firsts)
    ]
    total = conn.scalar("SELECT count(DISTINCT digest_id) FROM deliveries WHERE state = 'sent'")
    return found, total or 0


def digest_was_sent(conn: Connection, digest_id: int) -> bool:
    row = conn.execute("SELECT id FROM deliveries WHERE digest_id = ? AND state = 'sent' LIMIT 1",
                       (digest_id,)).first()
    return row is not None

"""What the web pages read and the little they write: article pages, confirmation-mail cooldowns."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..model import Article, slugify
from .articles import _article, feed_index, get_articles
from .db import parse_utc, utc_text
from .tables import articles, confirmation_mails, deliveries, digests


@dataclass(frozen=True)
class Page:
    """One page of an article listing, newest first."""

    articles: tuple[Article, ...]
    number: int  # 1-based
    has_next: bool


def article_page(conn: Connection, tz: ZoneInfo, number: int, size: int) -> Page:
    """The `number`th page of live articles, newest first (published, updated, id)."""
    query = (
        select(articles)
        .where(articles.c.deleted_at.is_(None))
        .order_by(articles.c.published.desc(), articles.c.updated.desc(), articles.c.id)
        .offset((number - 1) * size)
        .limit(size + 1)
    )
    rows = [_article(r, tz) for r in conn.execute(query)]
    return Page(tuple(rows[:size]), number, len(rows) > size)


def live_article_by_slug(conn: Connection, slug: str, tz: ZoneInfo) -> Article | None:
    row = conn.execute(
        select(articles).where(articles.c.slug == slug, articles.c.deleted_at.is_(None))
    ).first()
    return _article(row, tz) if row else None


def live_slugs(conn: Connection, slugs: list[str]) -> set[str]:
    """Which of these slugs belong to a live article (to link related teasers)."""
    if not slugs:
        return set()
    query = select(articles.c.slug).where(
        articles.c.slug.in_(slugs), articles.c.deleted_at.is_(None)
    )
    return set(conn.scalars(query))


def section_page(
    conn: Connection, tz: ZoneInfo, kind: str, slug: str, number: int, size: int
) -> tuple[str, Page] | None:
    """(display name, page) of a category or author by slug, as the feeds group them; None if empty.

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
    return name, Page(tuple(found[i] for i in chosen if i in found), number, len(ids) > start + size)


def categories(conn: Connection) -> list[str]:
    """Every category with a live article, by name."""
    query = (
        select(articles.c.category)
        .where(articles.c.deleted_at.is_(None), articles.c.category != "")
        .group_by(articles.c.category)
        .order_by(func.lower(articles.c.category))
    )
    return list(conn.scalars(query))


def claim_confirmation_mail(
    conn: Connection, email_key: str, now: datetime, cooldown_seconds: float
) -> bool:
    """Reserve the right to send one confirmation mail to `email_key` now.

    False when one was sent (or claimed) less than `cooldown_seconds` ago: send nothing. Atomic:
    the first statement writes, so of two concurrent requests only one gets the claim.
    """
    cutoff = utc_text(now - timedelta(seconds=cooldown_seconds))
    result = conn.execute(
        update(confirmation_mails)
        .where(confirmation_mails.c.email_key == email_key,
               confirmation_mails.c.last_sent_at <= cutoff)
        .values(last_sent_at=utc_text(now), sends=confirmation_mails.c.sends + 1)
    )
    if result.rowcount == 1:
        return True
    try:
        with conn.begin_nested():
            conn.execute(insert(confirmation_mails).values(
                email_key=email_key, last_sent_at=utc_text(now), sends=1))
    except IntegrityError:  # a recent row exists
        return False
    return True


def release_confirmation_mail(conn: Connection, email_key: str) -> None:
    """Undo a claim whose mail could not be sent, so the visitor may try again at once."""
    conn.execute(
        update(confirmation_mails).where(confirmation_mails.c.email_key == email_key)
        .values(last_sent_at=utc_text(_EPOCH), sends=confirmation_mails.c.sends - 1)
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class SentDigest:
    """A digest that went out to at least one subscriber, for the public archive."""

    id: int
    sent_at: datetime
    article_ids: tuple[str, ...]
    first_title: str


def sent_digests(conn: Connection, tz: ZoneInfo, number: int, size: int
                 ) -> tuple[list[SentDigest], bool]:
    """A page of sent digests, newest first, and whether there are more."""
    first_sent = func.min(deliveries.c.sent_at).label("first_sent")
    query = (
        select(digests.c.id, digests.c.article_ids, first_sent)
        .join(deliveries, deliveries.c.digest_id == digests.c.id)
        .where(deliveries.c.state == "sent")
        .group_by(digests.c.id, digests.c.article_ids)
        .order_by(first_sent.desc(), digests.c.id.desc())
        .offset((number - 1) * size)
        .limit(size + 1)
    )
    rows = conn.execute(query).all()
    firsts = [json.loads(r.article_ids)[:1] for r in rows[:size]]
    wanted = [ids[0] for ids in firsts if ids]
    titles = dict(conn.execute(select(articles.c.id, articles.c.title)
                               .where(articles.c.id.in_(wanted))).all()) if wanted else {}
    found = [
        SentDigest(r.id, parse_utc(r.first_sent).astimezone(tz),
                   tuple(json.loads(r.article_ids)), titles.get(ids[0], "") if ids else "")
        for r, ids in zip(rows[:size], firsts)
    ]
    return found, len(rows) > size


def digest_was_sent(conn: Connection, digest_id: int) -> bool:
    query = select(deliveries.c.id).where(
        deliveries.c.digest_id == digest_id, deliveries.c.state == "sent").limit(1)
    return conn.execute(query).first() is not None

"""Articles, the seed files they come from, and the fingerprints of the feeds written from them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Iterable, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, delete, func, insert, select, update

from ..model import Article, Teaser
from .db import parse_utc, utc_text
from .tables import articles, feed_outputs, seed_files


@dataclass(frozen=True)
class SeedFileState:
    source: str
    size: int
    mtime_ns: int
    status: str
    message: str


@dataclass(frozen=True)
class FeedIndexRow:
    """What feed selection needs of an article, without its body (cheap to load by the 10,000)."""

    id: str
    category: str
    authors: tuple[str, ...]
    content_hash: str
    updated: str  # as stored: ISO 8601 in UTC


def seed_states(conn: Connection) -> dict[str, SeedFileState]:
    query = select(seed_files.c.source, seed_files.c.size, seed_files.c.mtime_ns,
                   seed_files.c.status, seed_files.c.message)
    return {row[0]: SeedFileState(*row) for row in conn.execute(query).all()}


def record_seed_states(conn: Connection, states: Sequence[SeedFileState], now: datetime) -> None:
    if not states:
        return
    sources = [s.source for s in states]
    for chunk in _chunks(sources, 500):
        conn.execute(delete(seed_files).where(seed_files.c.source.in_(chunk)))
    conn.execute(
        insert(seed_files),
        [
            {"source": s.source, "size": s.size, "mtime_ns": s.mtime_ns, "status": s.status,
             "message": s.message, "checked_at": utc_text(now)}
            for s in states
        ],
    )


def forget_seed_files(conn: Connection, sources: Iterable[str]) -> None:
    for chunk in _chunks(list(sources), 500):
        conn.execute(delete(seed_files).where(seed_files.c.source.in_(chunk)))


@dataclass(frozen=True)
class StoredIdentity:
    """What an article keeps across corrections of its seed."""

    id: str
    slug: str
    guid: str
    content_hash: str
    first_seen: datetime
    deleted: bool


def identities_by_source(conn: Connection) -> dict[str, StoredIdentity]:
    """source -> identity, for every article ever stored (deleted ones too)."""
    rows = conn.execute(
        select(articles.c.source, articles.c.id, articles.c.slug, articles.c.guid,
               articles.c.content_hash, articles.c.first_seen, articles.c.deleted_at)
    )
    return {source: StoredIdentity(id_, slug, guid, hash_, parse_utc(first_seen), deleted is not None)
            for source, id_, slug, guid, hash_, first_seen, deleted in rows.all()}


def taken_slugs(conn: Connection) -> dict[str, str]:
    """slug -> source, for every article ever stored (deleted ones keep their slug)."""
    return dict(conn.execute(select(articles.c.slug, articles.c.source)).all())


def insert_articles(conn: Connection, new: Sequence[Article]) -> None:
    if new:
        conn.execute(insert(articles), [_row(a) for a in new])


def update_articles(conn: Connection, changed: Sequence[Article]) -> None:
    """Overwrite content, keeping identity columns (id, slug, url, guid, first_seen)."""
    for article in changed:
        row = _row(article)
        for key in ("id", "slug", "url", "guid", "first_seen", "source"):
            row.pop(key)
        row["deleted_at"] = None
        conn.execute(update(articles).where(articles.c.id == article.id).values(**row))


def mark_deleted(conn: Connection, sources: Iterable[str], now: datetime) -> int:
    count = 0
    for chunk in _chunks(list(sources), 500):
        result = conn.execute(
            update(articles)
            .where(articles.c.source.in_(chunk), articles.c.deleted_at.is_(None))
            .values(deleted_at=utc_text(now))
        )
        count += result.rowcount
    return count


def feed_index(conn: Connection) -> list[FeedIndexRow]:
    """Every live article's selection fields, newest first (published, then updated, then id)."""
    query = (
        select(articles.c.id, articles.c.category, articles.c.authors, articles.c.content_hash,
               articles.c.updated)
        .where(articles.c.deleted_at.is_(None))
        .order_by(articles.c.published.desc(), articles.c.updated.desc(), articles.c.id)
    )
    authors: dict[str, tuple[str, ...]] = {}  # most articles share a few author lists
    rows = []
    for id_, category, author_json, hash_, updated in conn.execute(query).all():
        names = authors.get(author_json)
        if names is None:
            names = authors[author_json] = tuple(json.loads(author_json))
        rows.append(FeedIndexRow(id_, category, names, hash_, updated))
    return rows


def get_articles(conn: Connection, ids: Sequence[str], tz: ZoneInfo) -> dict[str, Article]:
    found: dict[str, Article] = {}
    for chunk in _chunks(list(ids), 500):
        for r in conn.execute(select(articles).where(articles.c.id.in_(chunk))):
            found[r.id] = _article(r, tz)
    return found


def find_article(conn: Connection, key: str, tz: ZoneInfo) -> Article | None:
    """By id, slug or source file name."""
    row = conn.execute(
        select(articles).where(
            (articles.c.id == key) | (articles.c.slug == key) | (articles.c.source == key)
        )
    ).first()
    return _article(row, tz) if row else None


def list_articles(conn: Connection, tz: ZoneInfo, limit: int | None = None) -> list[Article]:
    query = (
        select(articles)
        .where(articles.c.deleted_at.is_(None))
        .order_by(articles.c.published.desc(), articles.c.updated.desc(), articles.c.id)
        .limit(limit)
    )
    return [_article(r, tz) for r in conn.execute(query)]


def articles_first_seen_after(
    conn: Connection, after: datetime | None, until: datetime, tz: ZoneInfo
) -> list[Article]:
    """Live articles taken in during (after, until], newest first: what a digest may hold."""
    query = select(articles).where(
        articles.c.deleted_at.is_(None), articles.c.first_seen <= utc_text(until)
    )
    if after is not None:
        query = query.where(articles.c.first_seen > utc_text(after))
    query = query.order_by(articles.c.published.desc(), articles.c.first_seen.desc(), articles.c.id)
    return [_article(r, tz) for r in conn.execute(query)]


def count_articles(conn: Connection) -> int:
    return conn.scalar(select(func.count()).select_from(articles).where(articles.c.deleted_at.is_(None))) or 0


def feed_fingerprints(conn: Connection) -> dict[str, str]:
    return {r.path: r.fingerprint for r in conn.execute(select(feed_outputs))}


def record_feed_fingerprints(conn: Connection, prints: dict[str, str], now: datetime) -> None:
    conn.execute(delete(feed_outputs))
    if prints:
        conn.execute(
            insert(feed_outputs),
            [{"path": p, "fingerprint": f, "written_at": utc_text(now)} for p, f in prints.items()],
        )


def _row(a: Article) -> dict[str, object]:
    return {
        "id": a.id, "source": a.source, "slug": a.slug, "url": a.url, "guid": a.guid,
        "title": a.title, "summary": a.summary, "authors": json.dumps(list(a.authors)),
        "published": utc_text(a.published), "updated": utc_text(a.updated),
        "category": a.category, "credit": a.credit, "translation_note": a.translation_note,
        "body_html": a.body_html, "related": json.dumps([_teaser_json(t) for t in a.related]),
        "language": a.language, "content_hash": a.content_hash,
        "first_seen": utc_text(a.first_seen) if a.first_seen else utc_text(a.published),
        "deleted_at": None,
    }


def _teaser_json(t: Teaser) -> dict[str, object]:
    return {"title": t.title, "summary": t.summary, "authors": list(t.authors),
            "published": t.published.isoformat() if t.published else None,
            "image_description": t.image_description}


def _article(r, tz: ZoneInfo) -> Article:  # type: ignore[no-untyped-def]
    related = tuple(
        Teaser(t["title"], t["summary"], tuple(t["authors"]),
               date.fromisoformat(t["published"]) if t["published"] else None,
               t["image_description"])
        for t in json.loads(r.related)
    )
    return Article(
        id=r.id, slug=r.slug, url=r.url, guid=r.guid, title=r.title, summary=r.summary,
        authors=tuple(json.loads(r.authors)),
        published=parse_utc(r.published).astimezone(tz), updated=parse_utc(r.updated).astimezone(tz),
        category=r.category, credit=r.credit, translation_note=r.translation_note,
        body_html=r.body_html, related=related, source=r.source, content_hash=r.content_hash,
        language=r.language, first_seen=parse_utc(r.first_seen),
    )


def _chunks(items: list, size: int):  # type: ignore[no-untyped-def]
    for start in range(0, len(items), size):
        yield items[start:start + size]

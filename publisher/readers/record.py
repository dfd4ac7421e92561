"""Turn parsed fields into an `Article`: the identity rules every reader shares."""

from __future__ import annotations

from datetime import datetime

from ..model import Article, Site, Teaser, content_hash, short_id, slugify, tag_uri


def make_article(
    *,
    text: str,
    source: str,
    site: Site,
    title: str,
    published: datetime,
    summary: str = "",
    authors: tuple[str, ...] = (),
    category: str = "",
    credit: str = "",
    translation_note: str = "",
    body_html: str = "",
    related: tuple[Teaser, ...] = (),
    language: str = "",
    slug: str = "",
    updated: datetime | None = None,
) -> Article:
    """An article with id, slug, url, guid and content hash derived from source, title, date."""
    slug = slugify(slug or title)
    return Article(
        id=short_id(source),
        slug=slug,
        url=site.url(f"{slug}/"),
        guid=tag_uri(site, published.date(), slug),
        title=title,
        summary=summary,
        authors=authors,
        published=published,
        updated=updated or published,
        category=category,
        credit=credit,
        translation_note=translation_note,
        body_html=body_html,
        related=related,
        source=source,
        content_hash=content_hash(text),
        language=language,
    )

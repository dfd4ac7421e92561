"""Turn parsed fields into an `Article`: the identity rules every reader shares."""

from __future__ import annotations

from datetime import datetime
from hashlib import sha256 as _sha256

from ..model import (
    DATE_FIRST_SEEN,
    DATE_FROM_PAGE,
    Article,
    Site,
    Teaser,
    content_hash,
    short_id,
    slugify,
    tag_uri,
)


def make_article(
    *,
    text: str,
    text_utf8: bytes | None = None,
    source: str,
    site: Site,
    title: str,
    published: datetime | None,
    summary: str = "",
    authors: tuple[str, ...] = (),
    category: str = "",
    credit: str = "",
    caption: str = "",
    translation_note: str = "",
    body_html: str = "",
    related: tuple[Teaser, ...] = (),
    language: str = "",
    slug: str = "",
    updated: datetime | None = None,
) -> Article:
    """An article with id, slug, url, guid and content hash derived from source, title, date.

    `published` None: the page printed no date. The article then says `date_source`
    "first-seen" and has no guid yet: the pipeline dates it when it first takes it in.

    `text_utf8`, if given, is `text` encoded as UTF-8: hashed as is instead of encoding again.
    """
    slug = slugify(slug or title)
    return Article(
        id=short_id(source),
        slug=slug,
        url=site.url(f"{slug}/"),
        guid=tag_uri(site, published.date(), slug) if published is not None else "",
        title=title,
        summary=summary,
        authors=authors,
        published=published,
        updated=updated or published,
        category=category,
        credit=credit,
        caption=caption,
        translation_note=translation_note,
        body_html=body_html,
        related=related,
        source=source,
        content_hash=content_hash(text) if text_utf8 is None else _sha256(text_utf8).hexdigest(),
        language=language,
        date_source=DATE_FROM_PAGE if published is not None else DATE_FIRST_SEEN,
    )

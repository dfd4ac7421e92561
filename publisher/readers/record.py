"""Turn parsed fields into a `SeedContent`: what every reader hands the pipeline."""

from __future__ import annotations

from datetime import datetime
from hashlib import sha256 as _sha256

from ..errors import SeedError
from ..model import DATE_FIRST_SEEN, DATE_FROM_PAGE, SeedContent, Site, Teaser, content_hash, page_hash, slugify

TITLE_MAX = 500  # characters: a longer "title" is a page read wrongly, not a headline
NAME_MAX = 200  # characters of an author's or a category's name


def make_content(
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
) -> SeedContent:
    """The seed's content and its content hash; `slug` the one it asks for (else its title's).

    `published` None: the page printed no date. The content then says `date_source`
    "first-seen": the pipeline dates it when it first takes it in.

    No identity: id, url, guid and the final slug are the pipeline's (`pipeline.identify`).
    `text_utf8`, if given, is `text` encoded as UTF-8: hashed as is instead of encoding again.
    SeedError for a title over TITLE_MAX characters or a name over NAME_MAX: it would go into
    URLs, folder names and mail subjects.
    """
    if len(title) > TITLE_MAX:
        raise SeedError(source, f"the title is {len(title):,} characters long (at most {TITLE_MAX}): "
                        "is the first line of the page its headline?")
    for kind, name in (("category", category), *(("author", a) for a in authors)):
        if len(name) > NAME_MAX:
            raise SeedError(source, f"the {kind} name is {len(name):,} characters long "
                            f"(at most {NAME_MAX}): {name[:40]}…")
    return SeedContent(
        page_hash=page_hash(title, published, body_html),
        source=source,
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
        content_hash=content_hash(text) if text_utf8 is None else _sha256(text_utf8).hexdigest(),
        language=language,
        slug=slugify(slug or title),
        date_source=DATE_FROM_PAGE if published is not None else DATE_FIRST_SEEN,
    )

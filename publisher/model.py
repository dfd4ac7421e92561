"""Frozen records that flow between the stages, and the id/slug helpers they rely on."""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from functools import cached_property, lru_cache
from datetime import date, datetime, timezone
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Site:
    """The publication: what every feed, page and mail says about where it comes from."""

    title: str
    base_url: str  # no trailing slash
    timezone: ZoneInfo
    language: str = "en"
    description: str = ""

    @cached_property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or "localhost"

    def url(self, path: str) -> str:
        """Absolute url for a site path such as `/feeds/atom.xml` or `slug/`."""
        return f"{self.base_url}/{path.lstrip('/')}"


DATE_FROM_PAGE = "page"  # the page's own date line
DATE_FIRST_SEEN = "first-seen"  # no date on the page: when the publisher first took it in


@dataclass(frozen=True)
class Teaser:
    """A related-article teaser printed under an article."""

    title: str
    summary: str = ""
    authors: tuple[str, ...] = ()
    published: date | None = None
    image_description: str = ""


@dataclass(frozen=True)
class SeedContent:
    """What a reader finds in one seed: content only.

    Identity (id, slug, url, guid, first_seen) is not the reader's business: the pipeline
    assigns it (`pipeline.identify`) and the store keeps it. `slug` is the slug the seed asks
    for (front matter `slug`, else its title), which the pipeline may make unique.
    """

    source: str  # path relative to the seeds folder
    title: str
    summary: str
    authors: tuple[str, ...]
    published: datetime | None  # None: the page printed no date (`date_source` "first-seen")
    updated: datetime | None  # the seed's own `updated`, else `published`
    category: str
    credit: str
    translation_note: str
    body_html: str
    related: tuple[Teaser, ...]
    content_hash: str
    language: str = ""
    slug: str = ""
    caption: str = ""
    date_source: str = DATE_FROM_PAGE
    page_hash: str = ""  # see `page_hash`: computed by the reader (in the parsing worker)


def page_hash(title: str, published: datetime | None, body_html: str) -> str:
    """What makes two seeds the same page: equal title, date and body (the date as the store
    writes it, ISO 8601 in UTC with microseconds; None for a page that prints no date)."""
    when = "" if published is None else published.astimezone(timezone.utc).isoformat(
        timespec="microseconds")
    return hashlib.sha256(f"{title}\0{when}\0{body_html}".encode()).hexdigest()


@dataclass(frozen=True)
class Article:
    """One published article.

    `id`, `slug`, `url` and `guid` are identity: assigned at first ingest and kept by the store
    for as long as the same source file exists, whatever later corrections do to the title.
    """

    id: str
    slug: str
    url: str
    guid: str
    title: str
    summary: str
    authors: tuple[str, ...]
    # None only on an undated page fresh from a reader (`date_source` "first-seen", `guid` "");
    # the pipeline dates it by the moment it was first taken in.
    published: datetime | None
    updated: datetime | None
    category: str
    credit: str
    translation_note: str
    body_html: str
    related: tuple[Teaser, ...]
    source: str  # path relative to the seeds folder
    content_hash: str
    language: str = ""
    first_seen: datetime | None = None  # when the publisher first took it in (set by the store)
    caption: str = ""  # the lead image's description, printed under it (not a credit)
    date_source: str = DATE_FROM_PAGE  # or DATE_FIRST_SEEN: the page printed no date
    page_hash: str = ""  # see `page_hash`: '' when not known yet (the store computes it)

    @property
    def full_html(self) -> str:
        """The body as published in feeds and pages: credit first, translation note last.

        The caption is not part of it: the article page prints it in its own place."""
        parts = []
        if self.credit:
            parts.append(f"<p><em>Image: {html.escape(self.credit)}</em></p>")
        parts.append(self.body_html)
        if self.translation_note:
            parts.append(f"<p><em>{html.escape(self.translation_note)}</em></p>")
        return "\n".join(p for p in parts if p)


CADENCES = ("immediate", "daily", "weekly")
SUBSCRIBER_STATUSES = ("pending", "active", "unsubscribed", "bouncing", "complained")


@dataclass(frozen=True)
class Subscriber:
    """Someone who gets digests by mail. `email` is stored as given, matched case-insensitively."""

    id: int
    email: str
    name: str
    cadence: str  # one of CADENCES
    categories: tuple[str, ...]  # empty: every category
    status: str  # one of SUBSCRIBER_STATUSES
    created_at: datetime
    confirmed_at: datetime | None = None
    last_digest_at: datetime | None = None  # up to when articles have been sent to them
    failures: int = 0  # permanent delivery failures (hard bounces) since the last delivered digest
    soft_bounces: int = 0  # temporary failures reported since the last delivered digest
    status_serial: int = 0  # +1 on every status change (confirmation links name the one they saw)


@dataclass(frozen=True)
class FeedSpec:
    """One feed family (site-wide, a category or an author) and the articles in it."""

    kind: str  # "site", "category" or "author"
    key: str  # "" for site, else the category or author name
    slug: str  # "" for site
    title: str
    path: str  # folder below feeds/, "" for the site feed
    articles: tuple[Article, ...] = field(default=())


ARCHIVE_FOLDER = "archive"  # archive page n of a feed: {feed folder}/archive/{n}/atom.xml


@dataclass(frozen=True)
class FeedLinks:
    """Where a document sits in its feed: the links it carries besides its entries.

    `page` 0 is the live (subscription) document, n >= 1 archive page n (1 the oldest);
    `pages` is how many archive pages the feed has, the newest being page `pages`. The live
    document links to the newest page (`prev-archive`, JSON `next_url`); page n to n-1
    (`prev-archive`, `next_url`), to n+1 (`next-archive`) and to the live one (`current`).
    `hubs` (WebSub) go on the live document only.
    """

    page: int = 0
    pages: int = 0
    hubs: tuple[str, ...] = ()


def document_folder(spec: FeedSpec, page: int = 0) -> str:
    """The folder below feeds/ of a spec's live document (page 0) or archive page `page`."""
    folder = spec.path.strip("/")
    if page:
        folder = f"{folder}/{ARCHIVE_FOLDER}/{page}".lstrip("/")
    return folder


_NON_SLUG = re.compile(r"[^a-z0-9]+")


SLUG_MAX = 80  # characters: a slug is a URL path segment and a folder name (categories/<slug>/)
_SLUG_HASH = 8  # hex digits that end a slug cut to SLUG_MAX


@lru_cache(maxsize=8192)
def slugify(text: str) -> str:
    """Lower-case ASCII slug: other scripts transliterated (anyascii: "Забастовка" ->
    "zabastovka", "北京" -> "beijing"), accents folded, every other run of characters one `-`.
    At most SLUG_MAX characters: a longer one is cut and ends with a short hash of the whole,
    so two long titles that begin alike keep apart."""
    text = text.replace("’", "").replace("'", "")
    if not text.isascii():
        from anyascii import anyascii

        text = anyascii(unicodedata.normalize("NFC", text)).replace("'", "")
    slug = _NON_SLUG.sub("-", text.lower()).strip("-") or "untitled"
    if len(slug) > SLUG_MAX:
        digest = hashlib.sha256(slug.encode("ascii")).hexdigest()[:_SLUG_HASH]
        slug = f"{slug[:SLUG_MAX - _SLUG_HASH - 1].rstrip('-')}-{digest}"
    return slug


def short_id(text: str) -> str:
    """A stable 16-hex id for a source path or any other key."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def tag_uri(site: Site, published: date, slug: str) -> str:
    """RFC 4151 tag URI, like Django's get_tag_uri: never changes once assigned."""
    return f"tag:{site.host},{published.isoformat()}:/{slug}/"


def article_dict(article: Article) -> dict[str, object]:
    """Every field of an article as JSON-ready values (dates in ISO 8601)."""
    data = asdict(article)
    for key in ("published", "updated", "first_seen"):
        value = data[key]
        data[key] = value.isoformat() if value else None
    data["authors"] = list(article.authors)
    data["related"] = [
        {**asdict(t), "authors": list(t.authors),
         "published": t.published.isoformat() if t.published else None}
        for t in article.related
    ]
    return data

"""Render feeds: Atom 1.0 and RSS 2.0 (with feedgen), JSON Feed 1.1 and an OPML list.

Pure functions from records to bytes; the only importer of feedgen. Every date comes from the
articles, never from the clock, so the same input always gives byte-identical output.

A feed is one live document (`feeds/.../atom.xml`, the newest entries) and its RFC 5005 archive
pages (`feeds/.../archive/<n>/atom.xml`, 1 the oldest): which entries go where is decided by
`feedplan`; here each document is rendered with the links of its place (`FeedLinks`).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from email.utils import format_datetime
from functools import wraps
from importlib import resources
from typing import NamedTuple, TypeVar

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator

from .model import ARCHIVE_FOLDER, Article, FeedLinks, FeedSpec, Site, document_folder

T = TypeVar("T")

GENERATOR = "publisher"
# The `updated` of a feed with no entries: a constant, so empty feeds are deterministic too.
EMPTY_FEED_DATE = datetime(1970, 1, 1, tzinfo=timezone.utc)
# RFC 4151 needs a date in the tagging entity; any fixed one works as long as it never changes.
FEED_ID_DATE = "2000"

ATOM_TYPE = "application/atom+xml"
RSS_TYPE = "application/rss+xml"
JSON_TYPE = "application/feed+json"
OPML_TYPE = "text/x-opml"
OPML_NAME = "index.opml"
HISTORY_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005 (fh:archive)
# Written into feeds/ and named by every Atom and RSS document, so a browser that still runs
# XSLT shows a readable page when feeds/ is served as static files.
STYLESHEET_NAME = "feed.xsl"

# Everything XML 1.0 forbids (C0 controls but tab/LF/CR, lone surrogates, U+FFFE/U+FFFF).
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_KIND_ORDER = {"site": 0, "category": 1, "author": 2}


def _html_text(text: str) -> str:
    """Text as HTML that shows exactly that text (`&`, `<`, `>` escaped)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clean(text: str) -> str:
    """Drop characters XML cannot carry: one of them would make lxml reject the whole feed."""
    return _NOT_XML_CHAR.sub("", text)


def clean_inputs(spec: FeedSpec, site: Site, feeds_url: str) -> tuple[FeedSpec, Site, str]:
    """The same inputs with every text field passed through `clean`."""
    articles = tuple(
        replace(
            a,
            url=clean(a.url),
            guid=clean(a.guid),
            title=clean(a.title),
            summary=clean(a.summary),
            authors=tuple(clean(name) for name in a.authors),
            category=clean(a.category),
            credit=clean(a.credit),
            translation_note=clean(a.translation_note),
            body_html=clean(a.body_html),
            language=clean(a.language),
        )
        for a in spec.articles
    )
    spec = replace(
        spec,
        title=clean(spec.title),
        slug=clean(spec.slug),
        path=clean(spec.path),
        articles=articles,
    )
    site = replace(
        site,
        title=clean(site.title),
        base_url=clean(site.base_url),
        language=clean(site.language),
        description=clean(site.description),
    )
    return spec, site, clean(feeds_url)


LIVE = FeedLinks()
Renderer = Callable[[FeedSpec, Site, str, FeedLinks], bytes]


def _xml_safe(
    render: Callable[[FeedSpec, Site, str, FeedLinks], T]
) -> Callable[[FeedSpec, Site, str, FeedLinks], T]:
    """Render; if lxml refuses a string (control character, lone surrogate), clean and render again.

    lxml checks every string it is given anyway, so clean input costs nothing extra, whereas a
    regex pass over every article body would cost more than feedgen's whole rendering.
    """

    @wraps(render)
    def render_safely(spec: FeedSpec, site: Site, feeds_url: str, links: FeedLinks = LIVE) -> T:
        try:
            return render(spec, site, feeds_url, links)
        except ValueError:  # lxml's "must be XML compatible", UnicodeEncodeError for surrogates
            return render(*clean_inputs(spec, site, feeds_url), links)

    return render_safely


# --- urls, ids and dates shared by every format -------------------------------------------


def feed_url(spec: FeedSpec, feeds_url: str, name: str, page: int = 0) -> str:
    """Absolute url of one of a spec's files, e.g. `{feeds_url}/authors/ana/atom.xml`
    (`page` n: the file of archive page n, `{feeds_url}/authors/ana/archive/n/atom.xml`)."""
    folder = f"{feeds_url.rstrip('/')}/{document_folder(spec, page)}".rstrip("/")
    return f"{folder}/{name}"


def stylesheet_pi(folder: str) -> bytes:
    """The `<?xml-stylesheet?>` line of a document in `folder` (below feeds/): a relative href,
    so the page works wherever feeds/ is hosted (browsers apply same-origin XSLT only)."""
    depth = len([part for part in folder.split("/") if part])
    return f'<?xml-stylesheet type="text/xsl" href="{"../" * depth}{STYLESHEET_NAME}"?>\n'.encode()


def with_stylesheet(xml: bytes, folder: str) -> bytes:
    """`xml` with the stylesheet line after its XML declaration."""
    head, sep, rest = xml.partition(b"\n")
    return head + sep + stylesheet_pi(folder) + rest


def stylesheet() -> bytes:
    """The XSL the documents name (publisher/feed.xsl)."""
    return resources.files(__package__).joinpath(STYLESHEET_NAME).read_bytes()


def history_links(
    spec: FeedSpec, feeds_url: str, name: str, links: FeedLinks
) -> list[tuple[str, str]]:
    """RFC 5005 (rel, href) pairs of a document in format `name`, plus its WebSub hubs."""
    found = []
    if links.page == 0:
        found += [("hub", hub) for hub in links.hubs]
        if links.pages:
            found.append(("prev-archive", feed_url(spec, feeds_url, name, links.pages)))
        return found
    found.append(("current", feed_url(spec, feeds_url, name)))
    if links.page > 1:
        found.append(("prev-archive", feed_url(spec, feeds_url, name, links.page - 1)))
    if links.page < links.pages:
        found.append(("next-archive", feed_url(spec, feeds_url, name, links.page + 1)))
    return found


def home_url(spec: FeedSpec, site: Site) -> str:
    """The site page a feed mirrors (WordPress-style archive pages for category/author)."""
    if spec.kind == "category" and spec.slug:
        return site.url(f"category/{spec.slug}/")
    if spec.kind == "author" and spec.slug:
        return site.url(f"author/{spec.slug}/")
    return site.url("")


def feed_id(spec: FeedSpec, site: Site) -> str:
    """Stable tag URI naming the feed, independent of where its files are served."""
    path = spec.path.strip("/")
    return (
        f"tag:{site.host},{FEED_ID_DATE}:feed/{path}"
        if path
        else f"tag:{site.host},{FEED_ID_DATE}:feed"
    )


def aware(moment: datetime, site: Site) -> datetime:
    """feedgen rejects naive datetimes; read a naive one as site-local time."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=site.timezone)


def feed_updated(articles: Iterable[Article], site: Site) -> datetime:
    """The newest `updated` among the entries, or a fixed date for an empty feed."""
    return max((aware(a.updated, site) for a in articles), default=EMPTY_FEED_DATE)


def feed_title(spec: FeedSpec, site: Site) -> str:
    """feedgen refuses an empty title."""
    return spec.title or site.title or site.host


def description(spec: FeedSpec, site: Site) -> str:
    """RSS requires a non-empty channel description."""
    return site.description or feed_title(spec, site)


# --- Atom and RSS via feedgen -------------------------------------------------------------


_DC = "http://purl.org/dc/elements/1.1/"


class _DcNamespace(BaseExtension):
    """Declares dc: on the RSS root, for the items' dc:creator."""

    def extend_ns(self):  # type: ignore[no-untyped-def]
        return {"dc": _DC}


class _History(BaseExtension):
    """Feed-level RFC 5005 and WebSub links, and `fh:archive` on archive pages.

    feedgen writes only the self link into RSS (and accepts these rels for Atom but would then
    repeat them for RSS), so both formats get them from here: `<link>` in Atom, `<atom:link>`
    in the RSS channel, before the entries.
    """

    links: dict[str, list[tuple[str, str]]] | None = None  # format name -> (rel, href)
    archive = False

    def extend_ns(self):  # type: ignore[no-untyped-def]
        return {"fh": HISTORY_NS} if self.archive else {}

    def _add(self, parent, name: str, tag: str, media_type: str):  # type: ignore[no-untyped-def]
        for rel, href in (self.links or {}).get(name, ()):
            attrs = {"href": href, "rel": rel}
            if rel != "hub":
                attrs["type"] = media_type
            parent.append(parent.makeelement(tag, attrs))
        if self.archive:
            parent.append(parent.makeelement(f"{{{HISTORY_NS}}}archive", {}))
        return parent

    def extend_atom(self, feed):  # type: ignore[no-untyped-def]
        self._add(feed, "atom.xml", "link", ATOM_TYPE)  # feedgen's Atom tags are unqualified
        return feed

    def extend_rss(self, feed):  # type: ignore[no-untyped-def]
        self._add(feed.find("channel"), "rss.xml", "{http://www.w3.org/2005/Atom}link", RSS_TYPE)
        return feed


def _generator(spec: FeedSpec, site: Site) -> FeedGenerator:
    """Feed-level fields shared by Atom and RSS, with every clock-based default overridden.

    The links differ per format: see `_set_links`.
    """
    updated = feed_updated(spec.articles, site)
    fg = FeedGenerator()
    fg.id(feed_id(spec, site))
    fg.title(feed_title(spec, site))
    fg.subtitle(description(spec, site))
    fg.language(site.language)
    fg.generator(GENERATOR)
    fg.updated(updated)
    fg.lastBuildDate(updated)
    fg.pubDate(updated)
    return fg


def _set_links(
    fg: FeedGenerator, spec: FeedSpec, site: Site, feeds_url: str, name: str, media_type: str,
    page: int,
) -> None:
    """The document's own url (`rel="self"`) and the page it mirrors, replacing any links set
    before.

    RSS takes the last link as <channel><link>: self first, then the page.
    """
    fg.link(href=feed_url(spec, feeds_url, name, page), rel="self", type=media_type,
            replace=True)
    fg.link(href=home_url(spec, site), rel="alternate", type="text/html")


def _document(spec: FeedSpec, site: Site, feeds_url: str, links: FeedLinks) -> FeedGenerator:
    """The feed-level part of a document, one feedgen document for both Atom and RSS; the
    entries are written by `_atom_entry` and `_rss_item` and spliced in (`_with_entries`)."""
    fg = _generator(spec, site)
    fg.register_extension("creator", _DcNamespace, BaseEntryExtension, atom=False, rss=True)
    if links != LIVE:
        fg.register_extension("history", _History, BaseEntryExtension)
        fg.history.archive = links.page > 0
        fg.history.links = {name: history_links(spec, feeds_url, name, links)
                            for name in ("atom.xml", "rss.xml")}
    if any(not a.authors for a in spec.articles):
        # RFC 4287 4.1.1: a feed needs an author unless every entry has one. Without an email
        # address feedgen writes no RSS author.
        fg.author({"name": site.title or site.host})
    return fg


# --- entries: written directly, the bytes feedgen gives at a fraction of its cost -----------
#
# feedgen builds every entry as dicts and then an lxml tree, which took most of the build's
# time once archive pages put every article into three documents. An entry is a few text
# fields with two escaping rules, so it is written here exactly as lxml serialises feedgen's
# tree (tests/feedgen_reference.py renders both ways and compares the bytes). A character XML
# cannot carry raises ValueError, as lxml does (`_xml_bytes`), so `_xml_safe` cleans and
# renders again.

# In UTF-8, the C0 controls XML forbids are single bytes no other character's encoding holds.
_NOT_XML_BYTES = bytes(c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D))


def _flagging(found: bytes) -> bytes:
    """A bytes.translate table that changes exactly the bytes of `found`: `raw.translate(t)
    != raw` tells whether `raw` holds any of them at half the cost of deleting them
    (translate's loop without deletions is the simpler one, and the comparison of the
    unchanged result, the same object, is free)."""
    return bytes(c ^ 0x40 if c in found else c for c in range(256))


_NOT_XML_FLAGS = _flagging(_NOT_XML_BYTES)


def _xml_bytes(text: str) -> bytes:
    """`text` in UTF-8, or ValueError if it holds a character XML cannot carry: one C-level
    pass over the bytes (a regular expression over every body cost more than the writing)."""
    raw = text.encode("utf-8")  # UnicodeEncodeError (a ValueError) for lone surrogates
    if raw.translate(_NOT_XML_FLAGS) != raw or _has_nonchar(text):
        raise ValueError("All strings must be XML compatible")
    return raw


def _has_nonchar(text: str) -> bool:
    """U+FFFE or U+FFFF in `text`: looked for in the text, where an ASCII or Latin-1 one
    answers at once (their `in` needs no scan), not in its UTF-8 bytes."""
    return not text.isascii() and ("\ufffe" in text or "\uffff" in text)


def _text(value: str) -> str:
    """Element text as libxml2 escapes it (checked for XML characters by `_xml_bytes`)."""
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    if "\r" in value:
        value = value.replace("\r", "&#13;")
    return value


def _attr(value: str) -> str:
    """An attribute value (between double quotes) as libxml2 escapes it."""
    value = _text(value)
    for char, ref in (('"', "&quot;"), ("\n", "&#10;"), ("\t", "&#9;")):
        if char in value:
            value = value.replace(char, ref)
    return value


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _rfc822(moment: datetime, iso: str | None = None) -> str:
    """feedgen's RSS date: strftime('%a, %d %b %Y %H:%M:%S %z') in the C locale (written out:
    strftime cost a third of an RSS item). `iso`: `moment.isoformat()`, when the caller has it
    (cut up, it is most of this date)."""
    if iso is not None and len(iso) == 25 and iso[19] in "+-":  # whole seconds and minutes
        return (f"{_DAYS[moment.weekday()]}, {iso[8:10]} {_MONTHS[int(iso[5:7]) - 1]} "
                f"{iso[:4]} {iso[11:19]} {iso[19:22]}{iso[23:]}")
    offset = moment.utcoffset()
    seconds = int(offset.total_seconds()) if offset is not None else 0
    if offset is None or seconds % 60 or offset.microseconds:
        zone = f"{moment:%z}"  # none, or an offset with seconds: strftime's own spelling
    else:
        sign, minutes = ("-", -seconds // 60) if seconds < 0 else ("+", seconds // 60)
        zone = f"{sign}{minutes // 60:02d}{minutes % 60:02d}"
    return (f"{_DAYS[moment.weekday()]}, {moment.day:02d} {_MONTHS[moment.month - 1]} "
            f"{moment.year:04d} {moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} "
            f"{zone}")


def _dates(article: Article, site: Site) -> tuple[str, str]:
    """The article's published and updated moments as its entries write them (ISO 8601)."""
    return aware(article.published, site).isoformat(), aware(article.updated, site).isoformat()


def _atom_entry(
    article: Article, site: Site, body: str | None = None, dates: tuple[str, str] | None = None
) -> str:
    """`body`: the article's `full_html` already escaped by `_text`, and `dates`: its `_dates`,
    when the caller has them."""
    published, updated = dates or _dates(article, site)
    lang = article.language
    parts = [f'  <entry xml:lang="{_attr(lang)}">\n' if lang and lang != site.language
             else "  <entry>\n",
             f"    <id>{_text(article.guid)}</id>\n"
             f"    <title>{_text(article.title or article.url)}</title>\n"
             f"    <updated>{updated}</updated>\n"]
    for name in article.authors:
        if name:
            parts.append(f"    <author>\n      <name>{_text(name)}</name>\n    </author>\n")
    body = _text(article.full_html) if body is None else body
    parts.append(f'    <content type="html">{body}</content>\n' if body
                 else '    <content type="html"/>\n')
    if article.summary:
        parts.append(f"    <summary>{_text(article.summary)}</summary>\n")
    if article.category:
        parts.append(f'    <category term="{_attr(article.category)}"/>\n')
    parts.append(f"    <published>{published}</published>\n"
                 f'    <link href="{_attr(article.url)}" rel="alternate" type="text/html"/>\n'
                 "  </entry>\n")
    return "".join(parts)


def _rss_item(
    article: Article, site: Site, body: str | None = None, dates: tuple[str, str] | None = None
) -> str:
    """An RSS item: the summary as description and the full text as content:encoded, or the
    full text as description when there is no summary. Co-authors share one dc:creator (with
    one element each, feedparser's `author` and newsboat show only the last); RSS's own
    <author> must be an email address, which we don't publish."""
    parts = [f"    <item>\n      <title>{_text(article.title or article.url)}</title>\n"]
    if article.url:
        parts.append(f"      <link>{_text(article.url)}</link>\n")
    body = _text(article.full_html) if body is None else body
    if article.summary:
        # RSS <description> is read as HTML, and the summary is text: it goes in escaped.
        parts.append(f"      <description>{_text(_html_text(article.summary))}</description>\n"
                     f"      <content:encoded>{body}</content:encoded>\n")
    else:
        parts.append(f"      <description>{body}</description>\n")
    parts.append(f'      <guid isPermaLink="false">{_text(article.guid)}</guid>\n')
    if article.category:
        parts.append(f"      <category>{_text(article.category)}</category>\n")
    published = aware(article.published, site)
    parts.append(f"      <pubDate>{_rfc822(published, dates[0] if dates else None)}</pubDate>\n")
    names = ", ".join(article.authors)
    if names:
        parts.append(f"      <dc:creator>{_text(names)}</dc:creator>\n")
    parts.append("    </item>\n")
    return "".join(parts)


def _with_entries(head: bytes, close: bytes, entries: list[bytes]) -> list[bytes]:
    """The feed-level document `head`, which ends in `close`, with the entries before it, as
    pieces (the entries are most of the document: joined only if the caller must)."""
    if not entries:
        return [head]
    if not head.endswith(close):
        raise AssertionError(f"feedgen document does not end in {close!r}")
    return [head[:-len(close)], *entries, close]


def _atom_parts(
    fg: FeedGenerator, spec: FeedSpec, site: Site, feeds_url: str, links: FeedLinks,
    entries: list[bytes] | None = None,
) -> list[bytes]:
    _set_links(fg, spec, site, feeds_url, "atom.xml", ATOM_TYPE, links.page)
    if entries is None:
        entries = [_xml_bytes(_atom_entry(a, site)) for a in spec.articles]
    head = with_stylesheet(fg.atom_str(pretty=True), document_folder(spec, links.page))
    return _with_entries(head, b"</feed>\n", entries)


def _rss_parts(
    fg: FeedGenerator, spec: FeedSpec, site: Site, feeds_url: str, links: FeedLinks,
    items: list[bytes] | None = None,
) -> list[bytes]:
    """RSS 2.0 with content:encoded for the full text and dc:creator for authors."""
    _set_links(fg, spec, site, feeds_url, "rss.xml", RSS_TYPE, links.page)
    if items is None:
        items = [_xml_bytes(_rss_item(a, site)) for a in spec.articles]
    head = with_stylesheet(fg.rss_str(pretty=True), document_folder(spec, links.page))
    return _with_entries(head, b"  </channel>\n</rss>\n", items)


@_xml_safe
def render_atom(spec: FeedSpec, site: Site, feeds_url: str, links: FeedLinks = LIVE) -> bytes:
    """Atom 1.0, entries in the order given (the caller sorts them newest first)."""
    fg = _document(spec, site, feeds_url, links)
    return b"".join(_atom_parts(fg, spec, site, feeds_url, links))


@_xml_safe
def render_rss(spec: FeedSpec, site: Site, feeds_url: str, links: FeedLinks = LIVE) -> bytes:
    """RSS 2.0, entries in the order given."""
    fg = _document(spec, site, feeds_url, links)
    return b"".join(_rss_parts(fg, spec, site, feeds_url, links))


@_xml_safe
def _render_atom_and_rss(
    spec: FeedSpec, site: Site, feeds_url: str, links: FeedLinks = LIVE
) -> tuple[bytes, bytes]:
    fg = _document(spec, site, feeds_url, links)
    return (b"".join(_atom_parts(fg, spec, site, feeds_url, links)),
            b"".join(_rss_parts(fg, spec, site, feeds_url, links)))


# --- JSON Feed ----------------------------------------------------------------------------


def _json_text(
    spec: FeedSpec, site: Site, feeds_url: str, links: FeedLinks, items: list[str] | None = None
) -> str:
    """`feed_url` is the live document's on every page too: it names the feed. Each page's
    `next_url` is the next older page (JSON Feed's paging), so following them from the live
    document reaches every entry."""
    older = links.pages if links.page == 0 else links.page - 1
    doc: dict[str, object] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": feed_title(spec, site),
        "home_page_url": home_url(spec, site),
        "feed_url": feed_url(spec, feeds_url, "feed.json"),
        "description": description(spec, site),
        **({"next_url": feed_url(spec, feeds_url, "feed.json", older)} if older > 0 else {}),
        **({"language": site.language} if site.language else {}),
        **({"hubs": [{"type": "WebSub", "url": hub} for hub in links.hubs]}
           if links.hubs and links.page == 0 else {}),
    }
    if items is None:
        items = [_json_item_text(a, site) for a in spec.articles]
    return _json_document(doc, items)


def _json_item_text(article: Article, site: Site) -> str:
    """One item as one line of JSON: the text `json.dumps(item, ensure_ascii=False)` gives,
    written field by field with json's own C string encoder (`indent=` would use the far slower
    pure-Python encoder, and a dict per item cost more than the rest of the item).

    The body, most of the item, is encoded by `_json_string`.
    """
    before, after = _json_item_parts(article, site)
    return before + _json_string(article.full_html) + after


def _json_item_parts(
    article: Article, site: Site, dates: tuple[str, str] | None = None
) -> tuple[str, str]:
    """A JSON Feed item's text before and after its `content_html` string (`dates`: the
    article's `_dates`, when the caller has them)."""
    published, updated = dates or _dates(article, site)
    fields = [f'"summary": {_json_str(article.summary)}'] if article.summary else []
    fields.append(f'"date_published": "{published}"')
    fields.append(f'"date_modified": "{updated}"')
    if article.authors:
        names = ", ".join(f'{{"name": {_json_str(name)}}}' for name in article.authors)
        fields.append(f'"authors": [{names}]')
    if article.language:
        fields.append(f'"language": {_json_str(article.language)}')
    if article.category:
        fields.append(f'"tags": [{_json_str(article.category)}]')
    return (f'{{"id": {_json_str(article.guid)}, "url": {_json_str(article.url)}, '
            f'"title": {_json_str(article.title or article.url)}, "content_html": ',
            ", " + ", ".join(fields) + "}")


_json_str = json.encoder.encode_basestring  # json.dumps(text, ensure_ascii=False), in C


# What json escapes but the newlines, which are many: a text with none of it needs only those.
_JSON_ESCAPES = _flagging(bytes(c for c in range(0x20) if c != 0x0A) + b'"\\')


def _json_string(text: str) -> str:
    """`json.dumps(text, ensure_ascii=False)`, several times faster for the usual article body.

    With ensure_ascii=False json escapes `"`, `\\` and the C0 controls only, and copies every
    other character (lone surrogates too). In UTF-8 those are single bytes that no other
    character's encoding contains, so one C-level pass over the bytes finds them all.
    """
    raw = text.encode("utf-8", "surrogatepass")
    if raw.translate(_JSON_ESCAPES) == raw:
        return '"' + text.replace("\n", "\\n") + '"'
    return json.dumps(text, ensure_ascii=False)


def _json_document(head: dict[str, object], items: list[str]) -> str:
    """Readable JSON, one item (already encoded) per line."""
    lines = [f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}"
             for key, value in head.items()]
    body = ",\n    ".join(items)
    lines.append(f'  "items": [\n    {body}\n  ]' if items else '  "items": []')
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _json_needs_cleaning(text: str) -> bool:
    """Cheap test on the output: with ensure_ascii=False, json escapes only C0 controls as \\u00XX.

    A false alarm (a literal backslash-u in an article) only costs one more rendering. Lone
    surrogates, which cannot be encoded, are caught by `render_json`'s one encoding.
    """
    return "\\u00" in text or "\ufffe" in text or "\uffff" in text


def render_json(spec: FeedSpec, site: Site, feeds_url: str, links: FeedLinks = LIVE) -> bytes:
    """JSON Feed 1.1; keys in a fixed order, UTF-8, ending with a newline.

    Cleaned like the XML feeds, so every format shows the same text.
    """
    text = _json_text(spec, site, feeds_url, links)
    if not _json_needs_cleaning(text):
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates
            pass
    return _json_text(*clean_inputs(spec, site, feeds_url), links).encode("utf-8")


FORMATS: dict[str, tuple[str, Renderer]] = {
    "atom.xml": (ATOM_TYPE, render_atom),
    "rss.xml": (RSS_TYPE, render_rss),
    "feed.json": (JSON_TYPE, render_json),
}


# Each article's entry as Atom, RSS and JSON Feed bytes, by id, kept by the caller across the
# documents of one build (an article is in its site, category and author documents): see
# `_Entry`.
class _Entry(NamedTuple):
    """One article's entry in the three formats, as the pieces before and after its body
    (`atom_before + xml_body + atom_after` is its Atom entry; the RSS item holds the same
    `xml_body`, escaped once for both; `json_before + json_body + json_after` its JSON Feed
    item)."""

    atom_before: bytes
    xml_body: bytes
    atom_after: bytes
    rss_before: bytes
    rss_after: bytes
    json_before: bytes
    json_body: bytes
    json_after: bytes


EntryMemo = dict[str, _Entry]
_BODY = "\x00"  # the body's place while an entry is cut around it: XML cannot carry it
# What json escapes but the newline: absent (the usual body), escaping is three replaces.
_JSON_C0_FLAGS = _flagging(bytes(c for c in range(0x20) if c != 0x0A))


def _around_body(entry: str, body: str) -> tuple[str, str]:
    """The text before and after the body `_BODY` stands for (`entry` whole and '' when the
    entry has no body); ValueError if the entry holds the stand-in elsewhere too (a character
    XML cannot carry)."""
    if not body:
        return entry, ""
    before, sep, after = entry.partition(_BODY)
    if not sep or _BODY in after:
        raise ValueError("All strings must be XML compatible")
    return before, after


def _body_bytes(text: str) -> tuple[bytes, bytes]:
    """`text` (an article's `full_html`) escaped as XML element text and as a JSON string, in
    UTF-8: the bytes `_xml_bytes(_text(text))` and `_json_string(text)` give. ValueError where
    `_xml_bytes` raises or the JSON Feed text would need cleaning (`_json_needs_cleaning`).

    Escaped as bytes, from one encoding: `&<>`, `"`, `\\` and the newline are single bytes in
    UTF-8 that no other character's encoding holds, and bytes.replace is several times faster
    than str.replace."""
    raw = text.encode("utf-8")  # UnicodeEncodeError (a ValueError) for lone surrogates
    if _has_nonchar(text):
        raise ValueError("All strings must be XML compatible")
    if raw.translate(_JSON_C0_FLAGS) != raw:  # a tab, CR or control
        json_text = json.dumps(text, ensure_ascii=False)
        if _json_needs_cleaning(json_text):
            raise ValueError("JSON Feed text to clean")
        return _xml_bytes(_text(text)), json_text.encode("utf-8")
    escaped = raw.replace(b"&", b"&amp;").replace(b"<", b"&lt;").replace(b">", b"&gt;")
    if b"\\" in raw:
        if b"\\u00" in raw:  # `_json_needs_cleaning` would take it for an escaped control
            raise ValueError("JSON Feed text to clean")
        raw = raw.replace(b"\\", b"\\\\")
    return escaped, b'"' + raw.replace(b'"', b'\\"').replace(b"\n", b"\\n") + b'"'


def _entry(article: Article, site: Site) -> _Entry:
    """`article`'s entry in every format; ValueError for a character XML cannot carry or JSON
    Feed text to clean (the caller then renders the document the plain way, which cleans)."""
    xml_body, json_body = _body_bytes(article.full_html)
    place = _BODY if xml_body else ""
    dates = _dates(article, site)  # both ISO 8601 strings once, for Atom, RSS and JSON Feed
    atom_before, atom_after = _around_body(_atom_entry(article, site, place, dates), place)
    # The RSS item holds no text the Atom entry does not (its summary only escaped once
    # more), so the Atom entry's check for characters XML cannot carry covers both.
    rss_before, rss_after = _around_body(_rss_item(article, site, place, dates), place)
    json_before, json_after = _json_item_parts(article, site, dates)
    if _json_needs_cleaning(json_before) or _json_needs_cleaning(json_after):
        raise ValueError("JSON Feed text to clean")
    return _Entry(_xml_bytes(atom_before), xml_body, _xml_bytes(atom_after),
                  rss_before.encode("utf-8"), rss_after.encode("utf-8"),
                  json_before.encode("utf-8"), json_body,
                  json_after.encode("utf-8"))  # fails for lone surrogates


def render_files(
    spec: FeedSpec, site: Site, feeds_url: str, links: FeedLinks = LIVE,
    memo: EntryMemo | None = None, *, clean: bool = True, joined: bool = True,
) -> dict[str, bytes] | dict[str, list[bytes]]:
    """The bytes of one document in the three formats, by file name: the same as each format's
    renderer gives, with Atom and RSS rendered from one feedgen document. With `memo`, every
    entry is written once for all the documents it is in: an article already in `memo` needs
    only its `id`, `updated` and `authors`. A character XML cannot carry sends the document
    down the plain path, which cleans the inputs and needs whole articles; `clean=False`
    raises ValueError instead (the caller loads them and calls again). `joined=False`: each
    file as the list of pieces it is made of (for `fsutil.write_atomic`, which writes them
    without joining them: most of them are the memo's)."""
    if memo is not None:
        try:
            parts = _render_files_memo(spec, site, feeds_url, links, memo)
        except ValueError:  # a character XML cannot carry: the plain path cleans the inputs
            if not clean:
                raise
        else:
            return parts if not joined else {
                name: b"".join(pieces) for name, pieces in parts.items()}
    atom, rss = _render_atom_and_rss(spec, site, feeds_url, links)
    files = {"atom.xml": atom, "rss.xml": rss,
             "feed.json": render_json(spec, site, feeds_url, links)}
    return files if joined else {name: [data] for name, data in files.items()}


def _render_files_memo(
    spec: FeedSpec, site: Site, feeds_url: str, links: FeedLinks, memo: EntryMemo
) -> dict[str, list[bytes]]:
    entries = []
    for article in spec.articles:
        entry = memo.get(article.id)
        if entry is None:
            entry = memo[article.id] = _entry(article, site)
        entries.append(entry)
    fg = _document(spec, site, feeds_url, links)
    atom = _atom_parts(fg, spec, site, feeds_url, links,
                       [piece for e in entries for piece in (e[0], e[1], e[2])])
    rss = _rss_parts(fg, spec, site, feeds_url, links,
                     [piece for e in entries for piece in (e[3], e[1], e[4])])
    # The JSON document around the items: the items' place holds a marker, then their bytes.
    marker = "\x00items\x00"
    frame = _json_text(spec, site, feeds_url, links, [marker] if entries else [])
    if _json_needs_cleaning(frame.replace(marker, "")):
        raise ValueError("JSON Feed text to clean")
    if not entries:
        return {"atom.xml": atom, "rss.xml": rss, "feed.json": [frame.encode("utf-8")]}
    before, after = frame.encode("utf-8").split(marker.encode("utf-8"))
    pieces = [before]
    for e in entries:
        pieces += (e[5], e[6], e[7], _JSON_ITEM_SEPARATOR)
    pieces[-1] = after
    return {"atom.xml": atom, "rss.xml": rss, "feed.json": pieces}


_JSON_ITEM_SEPARATOR = b",\n    "  # as `_json_document` joins the items


_FORMAT_LABELS = {"atom.xml": "Atom", "rss.xml": "RSS", "feed.json": "JSON Feed"}


# --- OPML ---------------------------------------------------------------------------------

# One OPML file per format, each listing every feed once: index.opml (Atom) is the one to import.
OPML_FILES = {"index.opml": "atom.xml", "index-rss.opml": "rss.xml", "index-json.opml": "feed.json"}
_OPML_GROUPS = {"category": "Categories", "author": "Authors"}


def ordered_specs(specs: Sequence[FeedSpec]) -> list[FeedSpec]:
    """Site feed first, then categories, then authors; the given order within each kind."""
    return sorted(specs, key=lambda s: _KIND_ORDER.get(s.kind, len(_KIND_ORDER)))


def _opml_feed(parent: ET.Element, spec: FeedSpec, site: Site, feeds_url: str, name: str) -> None:
    title = clean(feed_title(spec, site))
    ET.SubElement(
        parent,
        "outline",
        type="rss",
        text=title,
        title=title,
        xmlUrl=clean(feed_url(spec, feeds_url, name)),
        htmlUrl=clean(home_url(spec, site)),
    )


def render_opml(
    specs: Sequence[FeedSpec], site: Site, feeds_url: str, *, name: str = "atom.xml",
    updated: datetime | None = None,
) -> bytes:
    """OPML 2.0 listing every spec's feed in one format (`name`, a key of FORMATS) once: the
    site feed, then a "Categories" and an "Authors" folder.

    `dateCreated` is `updated`, the newest entry's date (the caller knows it from the store;
    by default the newest among the specs' articles), so an unchanged site gives the same bytes.
    Written with the standard library, which does not refuse control characters: clean always.
    """
    ordered = ordered_specs(specs)
    if updated is None:
        updated = max((feed_updated(s.articles, site) for s in ordered), default=EMPTY_FEED_DATE)
    label = "" if name == "atom.xml" else f" ({_FORMAT_LABELS[name]})"
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = clean(f"{site.title} feeds{label}")
    ET.SubElement(head, "dateCreated").text = format_datetime(
        aware(updated, site).astimezone(site.timezone))
    ET.SubElement(head, "ownerId").text = clean(site.url(""))
    body = ET.SubElement(root, "body")
    folders: dict[str, ET.Element] = {}
    for spec in ordered:
        parent = body
        if spec.kind in _OPML_GROUPS:
            group = _OPML_GROUPS[spec.kind]
            if group not in folders:
                folders[group] = ET.SubElement(body, "outline", text=group, title=group)
            parent = folders[group]
        _opml_feed(parent, spec, site, feeds_url, name)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def render_opml_files(
    specs: Sequence[FeedSpec], site: Site, feeds_url: str, updated: datetime | None = None
) -> dict[str, bytes]:
    """Every OPML file by name (see OPML_FILES)."""
    return {opml: render_opml(specs, site, feeds_url, name=name, updated=updated)
            for opml, name in OPML_FILES.items()}

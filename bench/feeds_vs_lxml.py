"""Time feeds.render_atom against a plain lxml writer of the same Atom document.

    .venv/bin/python bench/feeds_vs_lxml.py [feeds] [entries] [body_bytes]

Default: 200 feeds x 50 entries, ~6 kB of HTML per article. The budget is render_atom <= 1.5x
the lxml baseline. The baseline lives here only: the package ships one writer (feedgen).
"""

from __future__ import annotations

import gc
import sys
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from lxml import etree

from publisher import feeds
from publisher.model import Article, FeedSpec, Site, slugify, tag_uri

ATOM = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
FEEDS_URL = "https://www.leftvoice.org/feeds"
SITE = Site(
    "Left Voice",
    "https://www.leftvoice.org",
    ZoneInfo("America/New_York"),
    description="Real news for real people",
)


def make_specs(n_feeds: int, n_entries: int, body_bytes: int) -> list[FeedSpec]:
    paragraph = "<p>Workers in São Paulo & beyond said “enough” — <em>again</em>.</p>\n"
    body = paragraph * max(1, body_bytes // len(paragraph))
    start = datetime(2024, 1, 1, 8, tzinfo=SITE.timezone)
    specs = []
    for f in range(n_feeds):
        articles = []
        for e in range(n_entries):
            published = start + timedelta(hours=f * n_entries + e)
            slug = slugify(f"article {f} {e}")
            articles.append(
                Article(
                    id=slug,
                    slug=slug,
                    url=SITE.url(f"{slug}/"),
                    guid=tag_uri(SITE, published.date(), slug),
                    title=f"Article {e} of feed {f}: strikes & <solidarity>",
                    summary="A short summary.",
                    authors=("Ana Pérez", "Bob O'Neil"),
                    published=published,
                    updated=published + timedelta(minutes=5),
                    category="Labor",
                    credit="Mídia NINJA",
                    translation_note="Translated by Zoë.",
                    body_html=body,
                    related=(),
                    source=f"{slug}.md",
                    content_hash="0" * 64,
                )
            )
        articles.reverse()
        specs.append(
            FeedSpec(
                "category",
                f"Cat {f}",
                f"cat-{f}",
                f"Left Voice – Cat {f}",
                f"categories/cat-{f}",
                tuple(articles),
            )
        )
    return specs


def _sub(
    parent: etree._Element, tag: str, text: str | None = None, **attrib: str
) -> etree._Element:
    el = etree.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = text
    return el


def lxml_atom(spec: FeedSpec, site: Site, feeds_url: str) -> bytes:
    """The same Atom document, written directly with lxml (main() checks it is byte-identical)."""
    feed = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM})
    feed.set(XML_LANG, site.language)
    a = f"{{{ATOM}}}"
    _sub(feed, a + "id", feeds.feed_id(spec, site))
    _sub(feed, a + "title", spec.title)
    _sub(feed, a + "updated", max(x.updated for x in spec.articles).isoformat())
    _sub(
        feed,
        a + "link",
        href=feeds.feed_url(spec, feeds_url, "atom.xml"),
        rel="self",
        type="application/atom+xml",
    )
    _sub(feed, a + "link", href=feeds.home_url(spec, site), rel="alternate", type="text/html")
    _sub(feed, a + "generator", "publisher")
    _sub(feed, a + "subtitle", site.description)
    for art in spec.articles:
        entry = _sub(feed, a + "entry")
        _sub(entry, a + "id", art.guid)
        _sub(entry, a + "title", art.title)
        _sub(entry, a + "updated", art.updated.isoformat())
        for name in art.authors:
            _sub(_sub(entry, a + "author"), a + "name", name)
        _sub(entry, a + "content", art.full_html, type="html")
        _sub(entry, a + "summary", art.summary)
        _sub(entry, a + "category", term=art.category)
        _sub(entry, a + "published", art.published.isoformat())
        _sub(entry, a + "link", href=art.url, rel="alternate", type="text/html")
    return etree.tostring(feed, pretty_print=True, encoding="UTF-8", xml_declaration=True)


def compare(
    specs: list[FeedSpec], site: Site, feeds_url: str, rounds: int = 7
) -> tuple[float, float]:
    """CPU seconds of (render_atom, the lxml writer) for all `specs`, each the sum over the
    specs of the best of `rounds` timings of that spec.

    The two writers take turns on every spec, and each spec's best timing is kept, so a burst
    of load from elsewhere on this shared machine (which moved whole-run timings by ±20%) hits
    both alike and drops out. The garbage collector is off, as in the build's feed workers:
    with it on, its passes over every object the process holds are charged to whichever
    writer allocates more.
    """
    clock = time.process_time
    ours = [float("inf")] * len(specs)
    base = [float("inf")] * len(specs)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        writers = [(feeds.render_atom, ours), (lxml_atom, base)]
        for _ in range(rounds):
            writers.reverse()  # neither writer always goes first
            for k, spec in enumerate(specs):
                for writer, best in writers:
                    start = clock()
                    writer(spec, site, feeds_url)
                    best[k] = min(best[k], clock() - start)
    finally:
        if was_enabled:
            gc.enable()
    return sum(ours), sum(base)


def main() -> None:
    n_feeds, n_entries, body = (
        int(x) for x in (sys.argv[1:] + ["200", "50", "6000"][len(sys.argv) - 1 :])
    )
    specs = make_specs(n_feeds, n_entries, body)
    assert lxml_atom(specs[0], SITE, FEEDS_URL) == feeds.render_atom(specs[0], SITE, FEEDS_URL)
    ours, base = compare(specs, SITE, FEEDS_URL)
    size = len(feeds.render_atom(specs[0], SITE, FEEDS_URL))
    print(f"{n_feeds} feeds x {n_entries} entries, ~{body} B body, {size} B per feed")
    print(f"lxml baseline  {base:.3f} s")
    print(f"render_atom    {ours:.3f} s")
    print(f"ratio          {ours / base:.2f}x (budget 1.50x)")


if __name__ == "__main__":
    main()

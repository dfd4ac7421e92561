"""Feed rendering: Atom, RSS, JSON Feed and OPML.

Golden files live in tests/golden/feeds/ (same layout as the published feeds/ folder).
They are compared byte for byte; to regenerate them on purpose, run

    UPDATE_GOLDEN=1 pytest tests/test_feeds.py

and read the diff before committing it.
"""

from __future__ import annotations

import html
import json
import os
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import pytest
from lxml import etree

from publisher import feeds
from publisher.model import Article, FeedSpec, Site, slugify, tag_uri

HERE = Path(__file__).parent
GOLDEN = HERE / "golden" / "feeds"
ATOM_RNG = HERE / "schemas" / "atom.rng"
FEEDS_URL = "https://www.leftvoice.org/feeds"

NS = {
    "a": "http://www.w3.org/2005/Atom",
    "dc": "http://purl.org/dc/elements/1.1/",
    "content": "http://purl.org/rss/1.0/modules/content/",
}
NY = ZoneInfo("America/New_York")
SITE = Site(
    title="Left Voice",
    base_url="https://www.leftvoice.org",
    timezone=NY,
    language="en",
    description="Real news for real people – «socialist» views",
)
# RFC 3339 date-time with a mandatory offset (what the W3C validator checks for Atom).
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def make_article(
    title: str,
    *,
    published: datetime,
    updated: datetime | None = None,
    authors: tuple[str, ...] = ("Ana Pérez",),
    category: str = "Labor",
    summary: str = "A short summary.",
    credit: str = "",
    translation_note: str = "",
    body_html: str = "<p>Body text.</p>",
) -> Article:
    slug = slugify(title)
    return Article(
        id=slug,
        slug=slug,
        url=SITE.url(f"{slug}/"),
        guid=tag_uri(SITE, published.date(), slug),
        title=title,
        summary=summary,
        authors=authors,
        published=published,
        updated=updated or published,
        category=category,
        credit=credit,
        translation_note=translation_note,
        body_html=body_html,
        related=(),
        source=f"{slug}.md",
        content_hash="0" * 64,
    )


STRIKE = make_article(
    "Strikes & “solidarity”: <Workers> in São Paulo",
    published=datetime(2024, 3, 5, 9, 30, tzinfo=NY),
    updated=datetime(2024, 3, 6, 14, 0, tzinfo=NY),
    authors=("Ana Pérez", "Bob O'Neil"),
    summary='Workers said "enough" – and 10 < 20 & rising.',
    credit="Mídia NINJA",
    translation_note="Translated from Portuguese by Zoë Müller.",
    body_html='<p>Strikers marched on <a href="https://www.leftvoice.org/">Avenida Paulista</a>.</p>',
)
RENT = make_article(
    'Rent "caps" < real control',
    published=datetime(2024, 3, 1, 8, 0, tzinfo=NY),
    authors=("Bob O'Neil",),
    category="Housing",
    body_html="<p>Caps &amp; loopholes.</p>",
)
EDITORIAL = make_article(
    "Editorial: ¿Qué hacer?",
    published=datetime(2024, 2, 20, 18, 15, tzinfo=timezone.utc),
    authors=(),
    category="",
    summary="",
)
ARTICLES = (STRIKE, RENT, EDITORIAL)

SITE_SPEC = FeedSpec("site", "", "", "Left Voice", "", ARTICLES)
LABOR = FeedSpec("category", "Labor", "labor", "Left Voice – Labor", "categories/labor", (STRIKE,))
HOUSING = FeedSpec(
    "category", "Housing", "housing", "Left Voice – Housing", "categories/housing", (RENT,)
)
ANA = FeedSpec(
    "author", "Ana Pérez", "ana-perez", "Left Voice – Ana Pérez", "authors/ana-perez", (STRIKE,)
)
BOB = FeedSpec(
    "author",
    "Bob O'Neil",
    "bob-oneil",
    "Left Voice – Bob O'Neil",
    "authors/bob-oneil",
    (STRIKE, RENT),
)
EMPTY = FeedSpec("category", "Empty", "empty", "Left Voice – Empty", "categories/empty", ())
ALL_SPECS = (SITE_SPEC, LABOR, HOUSING, ANA, BOB, EMPTY)


def render(name: str, spec: FeedSpec, links: feeds.FeedLinks = feeds.LIVE) -> bytes:
    return feeds.FORMATS[name][1](spec, SITE, FEEDS_URL, links)


# Every place a document can have: live (alone, with archive and hubs), oldest, middle and
# newest archive page.
PLACES = [feeds.LIVE, feeds.FeedLinks(0, 3, ("https://hub.example.org/",)),
          feeds.FeedLinks(1, 3), feeds.FeedLinks(2, 3), feeds.FeedLinks(3, 3)]
PLACE_IDS = ["live", "live-archived-hubs", "page-1", "page-2", "page-3"]


# --- golden files ---------------------------------------------------------------------------

GOLDEN_CASES = [
    (f"{spec.path}/{name}".lstrip("/"), spec, name)
    for spec in (SITE_SPEC, LABOR)
    for name in feeds.FORMATS
]


def check_golden(relative: str, actual: bytes) -> None:
    path = GOLDEN / relative
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual)
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1"
    assert actual == path.read_bytes(), f"{relative} differs from its golden file"


@pytest.mark.parametrize(
    ("relative", "spec", "name"), GOLDEN_CASES, ids=[c[0] for c in GOLDEN_CASES]
)
def test_feed_matches_golden_file(relative: str, spec: FeedSpec, name: str) -> None:
    check_golden(relative, render(name, spec))


@pytest.mark.parametrize("name", list(feeds.FORMATS))
def test_archive_page_matches_golden_file(name: str) -> None:
    """Page 2 of 3 of the Labor feed: fh:archive, current, prev- and next-archive links."""
    files = feeds.render_files(LABOR, SITE, FEEDS_URL, feeds.FeedLinks(page=2, pages=3))
    check_golden(f"categories/labor/archive/2/{name}", files[name])


@pytest.mark.parametrize("name", list(feeds.FORMATS))
def test_live_feed_with_hubs_and_archive_matches_golden_file(name: str) -> None:
    links = feeds.FeedLinks(page=0, pages=3, hubs=("https://hub.example.org/",))
    check_golden(f"with-hubs/{name}", feeds.render_files(SITE_SPEC, SITE, FEEDS_URL, links)[name])


def test_opml_matches_golden_file() -> None:
    check_golden(feeds.OPML_NAME, feeds.render_opml(ALL_SPECS, SITE, FEEDS_URL))


# --- determinism ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(feeds.FORMATS))
@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.path or "site")
def test_rendering_twice_is_byte_identical(name: str, spec: FeedSpec) -> None:
    assert render(name, spec) == render(name, spec)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.path or "site")
def test_the_build_renders_each_spec_exactly_as_each_format_alone(spec: FeedSpec) -> None:
    # render_files builds Atom and RSS from one feedgen document: nothing may leak between them
    files = feeds.render_files(spec, SITE, FEEDS_URL)
    assert files == {name: render(name, spec) for name in feeds.FORMATS}
    atom = etree.fromstring(files["atom.xml"])
    assert atom.xpath("//a:link[@rel='self']/@href", namespaces=NS) == [
        feeds.feed_url(spec, FEEDS_URL, "atom.xml")]
    assert all(link.get("rel") for link in atom.iterfind(".//a:link", namespaces=NS))
    assert b"dc:creator" not in files["atom.xml"] and b"<author>" not in files["rss.xml"]


def test_the_build_cleans_atom_and_rss_like_each_format_alone() -> None:
    spec, site = dirty_inputs()
    files = feeds.render_files(spec, site, "https://example.org/feeds")
    assert files == {name: renderer(spec, site, "https://example.org/feeds")
                     for name, (_, renderer) in feeds.FORMATS.items()}
    assert b"Verticaltab" in files["atom.xml"] and b"Verticaltab" in files["rss.xml"]


def test_feed_dates_come_from_the_articles_never_the_clock() -> None:
    newest = STRIKE.updated  # the newest `updated` in the site feed
    atom = etree.fromstring(render("atom.xml", SITE_SPEC))
    assert atom.findtext("a:updated", namespaces=NS) == newest.isoformat()
    rss = etree.fromstring(render("rss.xml", SITE_SPEC))
    for tag in ("lastBuildDate", "pubDate"):
        assert parsedate_to_datetime(rss.findtext(f"channel/{tag}")) == newest
    allowed = {d.isoformat() for a in ARTICLES for d in (a.published, a.updated)}
    stamped = atom.xpath("//a:updated/text() | //a:published/text()", namespaces=NS)
    assert set(stamped) <= allowed


def test_empty_feed_gets_a_fixed_date() -> None:
    atom = etree.fromstring(render("atom.xml", EMPTY))
    assert atom.findtext("a:updated", namespaces=NS) == feeds.EMPTY_FEED_DATE.isoformat()
    assert atom.findall("a:entry", NS) == []
    rss = etree.fromstring(render("rss.xml", EMPTY))
    assert parsedate_to_datetime(rss.findtext("channel/lastBuildDate")) == feeds.EMPTY_FEED_DATE
    assert json.loads(render("feed.json", EMPTY))["items"] == []


def test_entries_keep_the_given_order() -> None:
    oldest_first = FeedSpec("site", "", "", "Left Voice", "", (EDITORIAL, STRIKE, RENT))
    for name in ("atom.xml", "rss.xml"):
        parsed = feedparser.parse(render(name, oldest_first))
        assert [e.id for e in parsed.entries] == [EDITORIAL.guid, STRIKE.guid, RENT.guid]
    items = json.loads(render("feed.json", oldest_first))["items"]
    assert [i["id"] for i in items] == [EDITORIAL.guid, STRIKE.guid, RENT.guid]


# --- Atom -----------------------------------------------------------------------------------


def test_atom_reads_back_with_feedparser() -> None:
    parsed = feedparser.parse(render("atom.xml", SITE_SPEC))
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    feed = parsed.feed
    assert feed.title == "Left Voice"
    assert feed.subtitle == SITE.description
    assert feed.id == "tag:www.leftvoice.org,2000:feed"
    assert feed.language == "en"
    assert feed.generator == "publisher"
    links = {(link.rel, link.type): link.href for link in feed.links}
    assert links == {
        ("self", "application/atom+xml"): f"{FEEDS_URL}/atom.xml",
        ("alternate", "text/html"): "https://www.leftvoice.org/",
    }
    assert len(parsed.entries) == 3

    strike = parsed.entries[0]
    assert strike.title == STRIKE.title
    assert strike.id == STRIKE.guid
    assert strike.link == STRIKE.url
    assert [(link.rel, link.type, link.href) for link in strike.links] == [
        ("alternate", "text/html", STRIKE.url)
    ]
    assert [a.name for a in strike.authors] == ["Ana Pérez", "Bob O'Neil"]
    assert [t.term for t in strike.tags] == ["Labor"]
    assert strike.summary == STRIKE.summary
    assert strike.content[0].type == "text/html"
    assert strike.content[0].value == STRIKE.full_html
    assert "Mídia NINJA" in strike.content[0].value
    assert "Translated from Portuguese" in strike.content[0].value
    assert strike.published == STRIKE.published.isoformat()
    assert strike.updated == STRIKE.updated.isoformat()


def test_atom_entry_links_carry_rel_and_type() -> None:
    """feedgen 1.0 drops rel/type on entry links; feeds.py puts them back."""
    atom = etree.fromstring(render("atom.xml", SITE_SPEC))
    for link in atom.iterfind("a:entry/a:link", NS):
        assert link.get("rel") == "alternate"
        assert link.get("type") == "text/html"


def test_atom_feed_has_an_author_when_an_entry_has_none() -> None:
    """RFC 4287 4.1.1: an author on the feed, or on every entry."""
    with_anonymous = etree.fromstring(render("atom.xml", SITE_SPEC))
    assert with_anonymous.xpath("a:author/a:name/text()", namespaces=NS) == ["Left Voice"]
    all_credited = etree.fromstring(render("atom.xml", BOB))
    assert all_credited.findall("a:author", NS) == []
    parsed = feedparser.parse(render("atom.xml", SITE_SPEC))
    assert parsed.feed.author == "Left Voice"  # readers fall back to it for the editorial


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.path or "site")
def test_atom_is_valid_against_rfc4287_schema(spec: FeedSpec) -> None:
    schema = etree.RelaxNG(etree.parse(str(ATOM_RNG)))
    doc = etree.fromstring(render("atom.xml", spec))
    assert schema.validate(doc), schema.error_log


def test_atom_schema_rejects_an_invalid_feed() -> None:
    """Guards the schema itself: a feed without id/updated must fail."""
    schema = etree.RelaxNG(etree.parse(str(ATOM_RNG)))
    bad = etree.fromstring(b'<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title></feed>')
    assert not schema.validate(bad)


# --- RSS ------------------------------------------------------------------------------------


def test_rss_reads_back_with_feedparser() -> None:
    parsed = feedparser.parse(render("rss.xml", SITE_SPEC))
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "rss20"
    assert parsed.feed.title == "Left Voice"
    assert parsed.feed.link == "https://www.leftvoice.org/"
    assert parsed.feed.subtitle == SITE.description
    assert parsed.feed.language == "en"

    strike = parsed.entries[0]
    assert strike.title == STRIKE.title
    assert strike.link == STRIKE.url
    assert strike.id == STRIKE.guid
    assert strike.guidislink is False
    # RSS <description> is HTML: the summary, text, is in it escaped (issue 11)
    assert strike.summary_detail.type == "text/html"
    assert strike.summary == 'Workers said "enough" – and 10 &lt; 20 &amp; rising.'
    assert html.unescape(strike.summary) == STRIKE.summary
    assert strike.content[0].value == STRIKE.full_html
    assert [t.term for t in strike.tags] == ["Labor"]
    assert strike.author == "Ana Pérez, Bob O'Neil"  # one dc:creator: readers show the last only
    assert datetime(*strike.published_parsed[:6], tzinfo=timezone.utc) == STRIKE.published


@pytest.mark.parametrize(
    "dek",
    ['Workers rally <img src=x onerror="alert(1)"> at the port',
     "<script>alert(1)</script> & <b>bold</b> claims", "Wages &amp; rents: 10 < 20"],
)
def test_rss_description_carries_the_summary_as_text(dek: str) -> None:
    """A dek with markup in it is text: feedparser must not see (and render) an element."""
    article = replace(STRIKE, summary=dek)
    spec = replace(SITE_SPEC, articles=(article,))
    rss = feedparser.parse(render("rss.xml", spec))
    assert not rss.bozo, rss.get("bozo_exception")
    entry = rss.entries[0]
    assert "<img" not in entry.summary and "<script" not in entry.summary
    assert "<b>" not in entry.summary
    assert html.unescape(entry.summary) == dek  # every character of the text, as text
    atom = feedparser.parse(render("atom.xml", spec)).entries[0]
    assert atom.summary_detail.type == "text/plain" and atom.summary == dek
    feed = json.loads(render("feed.json", spec))
    assert feed["items"][0]["summary"] == dek


def test_rss_structure() -> None:
    rss = etree.fromstring(render("rss.xml", SITE_SPEC))
    assert rss.get("version") == "2.0"
    channel = rss.find("channel")
    self_link = channel.find("a:link", NS)
    assert self_link.attrib == {
        "href": f"{FEEDS_URL}/rss.xml",
        "rel": "self",
        "type": "application/rss+xml",
    }
    items = channel.findall("item")
    assert [i.findtext("guid") for i in items] == [a.guid for a in ARTICLES]
    assert {i.find("guid").get("isPermaLink") for i in items} == {"false"}
    assert [c.text for c in items[0].findall("dc:creator", NS)] == ["Ana Pérez, Bob O'Neil"]
    assert [c.text for c in items[1].findall("dc:creator", NS)] == ["Bob O'Neil"]
    assert items[2].findall("dc:creator", NS) == []
    assert items[0].findtext("content:encoded", namespaces=NS) == STRIKE.full_html
    assert items[0].findtext("description") == html.escape(STRIKE.summary, quote=False)
    assert items[0].find("author") is None  # RSS <author> must be an email: not used
    # No summary: the description falls back to the full text rather than vanishing.
    assert items[2].findtext("description") == EDITORIAL.full_html
    assert items[2].findall("category") == []


# --- JSON Feed ------------------------------------------------------------------------------


def test_json_feed_has_the_required_fields() -> None:
    raw = render("feed.json", SITE_SPEC)
    assert "São Paulo".encode() in raw  # ensure_ascii=False
    doc = json.loads(raw)
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert doc["title"] == "Left Voice"
    assert doc["home_page_url"] == "https://www.leftvoice.org/"
    assert doc["feed_url"] == f"{FEEDS_URL}/feed.json"
    assert doc["language"] == "en"
    assert isinstance(doc["items"], list) and len(doc["items"]) == 3
    for item in doc["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert "content_html" in item or "content_text" in item
        for key in ("date_published", "date_modified"):
            assert RFC3339.match(item[key]), item[key]
    strike = doc["items"][0]
    assert strike == {
        "id": STRIKE.guid,
        "url": STRIKE.url,
        "title": STRIKE.title,
        "content_html": STRIKE.full_html,
        "summary": STRIKE.summary,
        "date_published": "2024-03-05T09:30:00-05:00",
        "date_modified": "2024-03-06T14:00:00-05:00",
        "authors": [{"name": "Ana Pérez"}, {"name": "Bob O'Neil"}],
        "tags": ["Labor"],
    }
    editorial = doc["items"][2]
    assert "authors" not in editorial and "tags" not in editorial and "summary" not in editorial


# --- category and author feeds, urls ---------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "home"),
    [
        (SITE_SPEC, "https://www.leftvoice.org/"),
        (LABOR, "https://www.leftvoice.org/category/labor/"),
        (ANA, "https://www.leftvoice.org/author/ana-perez/"),
    ],
    ids=["site", "category", "author"],
)
def test_feed_urls_and_ids_follow_the_spec_path(spec: FeedSpec, home: str) -> None:
    folder = f"{FEEDS_URL}/{spec.path}".rstrip("/")
    atom = feedparser.parse(render("atom.xml", spec)).feed
    assert {link.rel: link.href for link in atom.links} == {
        "self": f"{folder}/atom.xml",
        "alternate": home,
    }
    assert atom.id == f"tag:www.leftvoice.org,2000:feed/{spec.path}".rstrip("/")
    rss = etree.fromstring(render("rss.xml", spec))
    assert rss.findtext("channel/link") == home
    assert rss.find("channel/a:link", NS).get("href") == f"{folder}/rss.xml"
    doc = json.loads(render("feed.json", spec))
    assert (doc["home_page_url"], doc["feed_url"]) == (home, f"{folder}/feed.json")


def test_formats_table() -> None:
    assert {name: media for name, (media, _) in feeds.FORMATS.items()} == {
        "atom.xml": "application/atom+xml",
        "rss.xml": "application/rss+xml",
        "feed.json": "application/feed+json",
    }


# --- robustness -----------------------------------------------------------------------------


def dirty_inputs() -> tuple[FeedSpec, Site]:
    """A feed whose every text field holds characters XML cannot carry."""
    dirty = make_article(
        "Vertical\x0btab",
        published=datetime(2024, 1, 1, tzinfo=timezone.utc),
        authors=("Nul\x00l Author",),
        category="Bad\x1fcat",
        summary="Sum\x08mary",
        body_html="<p>Body\x0c\ud800</p>",
    )
    site = Site("Site\x01", "https://example.org", timezone.utc, description="Desc\x0b")
    return FeedSpec("site", "", "", "Feed\x0b title", "", (dirty,)), site


def test_control_characters_never_break_the_build() -> None:
    spec, site = dirty_inputs()
    for name, (_, renderer) in feeds.FORMATS.items():
        out = renderer(spec, site, "https://example.org/feeds")
        parsed = feedparser.parse(out) if name != "feed.json" else None
        if parsed is not None:
            assert not parsed.bozo, (name, parsed.get("bozo_exception"))
            assert parsed.entries[0].title == "Verticaltab"
            assert parsed.feed.title == "Feed title"
        else:
            item = json.loads(out)["items"][0]
            assert item["title"] == "Verticaltab"
            assert item["authors"] == [{"name": "Null Author"}]
    opml = etree.fromstring(feeds.render_opml([spec], site, "https://example.org/feeds"))
    assert opml.findtext("head/title") == "Site feeds"
    assert opml.find("body/outline").get("text") == "Feed title"


def test_empty_titles_fall_back_instead_of_failing() -> None:
    untitled = make_article("x", published=datetime(2024, 1, 1, tzinfo=timezone.utc))
    untitled = replace(untitled, title="\x0b")  # nothing left once cleaned
    spec = FeedSpec("site", "", "", "", "", (untitled,))
    site = replace(SITE, description="")
    for name in ("atom.xml", "rss.xml"):
        parsed = feedparser.parse(feeds.FORMATS[name][1](spec, site, FEEDS_URL))
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert parsed.feed.title == "Left Voice"
        assert parsed.entries[0].title == untitled.url
    doc = json.loads(render("feed.json", spec))
    assert doc["title"] == "Left Voice" and doc["items"][0]["title"] == untitled.url


def test_an_entry_in_another_language_is_marked() -> None:
    spanish = replace(
        make_article("¿Qué hacer?", published=datetime(2024, 1, 1, tzinfo=timezone.utc)),
        language="es",
    )
    spec = FeedSpec("site", "", "", "Left Voice", "", (spanish, RENT))
    atom = etree.fromstring(render("atom.xml", spec))
    langs = [
        e.get("{http://www.w3.org/XML/1998/namespace}lang") for e in atom.iterfind("a:entry", NS)
    ]
    assert langs == ["es", None]
    assert etree.RelaxNG(etree.parse(str(ATOM_RNG))).validate(atom)
    assert json.loads(render("feed.json", spec))["items"][0]["language"] == "es"


def test_naive_dates_are_read_as_site_time() -> None:
    naive = make_article("Naive", published=datetime(2024, 6, 1, 12, 0))
    out = render("atom.xml", FeedSpec("site", "", "", "Left Voice", "", (naive,)))
    entry = feedparser.parse(out).entries[0]
    assert entry.published == "2024-06-01T12:00:00-04:00"


# --- rules the W3C feed validator applies -----------------------------------------------------


@pytest.mark.parametrize("links", PLACES, ids=PLACE_IDS)
@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.path or "site")
def test_atom_follows_feed_validator_rules(spec: FeedSpec, links: feeds.FeedLinks) -> None:
    atom = etree.fromstring(render("atom.xml", spec, links))
    for date in atom.xpath("//a:updated/text() | //a:published/text()", namespaces=NS):
        assert RFC3339.match(date), date
    for href in atom.xpath("//a:link/@href", namespaces=NS):
        assert href.startswith("https://"), href
    ids = atom.xpath("//a:id/text()", namespaces=NS)
    assert len(ids) == len(set(ids)) and all(i.startswith("tag:") for i in ids)
    self_links = atom.xpath("a:link[@rel='self']", namespaces=NS)
    assert len(self_links) == 1
    assert self_links[0].get("href") == feeds.feed_url(spec, FEEDS_URL, "atom.xml", links.page)
    assert self_links[0].get("type") == "application/atom+xml"
    for rel in ("current", "prev-archive", "next-archive", "hub"):
        assert len(atom.xpath(f"a:link[@rel='{rel}']", namespaces=NS)) <= 1
    assert (atom.find("{http://purl.org/syndication/history/1.0}archive") is not None) == (
        links.page > 0)
    assert len(atom.xpath("a:link[@rel='alternate'][@type='text/html']", namespaces=NS)) == 1
    for entry in atom.iterfind("a:entry", NS):
        assert entry.find("a:content", NS).get("type") == "html"
        assert len(entry.xpath("a:link[@rel='alternate']", namespaces=NS)) == 1
    has_feed_author = atom.find("a:author", NS) is not None
    assert has_feed_author or all(
        e.find("a:author", NS) is not None for e in atom.iterfind("a:entry", NS)
    )


@pytest.mark.parametrize("links", PLACES, ids=PLACE_IDS)
@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.path or "site")
def test_rss_follows_feed_validator_rules(spec: FeedSpec, links: feeds.FeedLinks) -> None:
    rss = etree.fromstring(render("rss.xml", spec, links))
    channel = rss.find("channel")
    for required in ("title", "link", "description"):
        assert channel.findtext(required), required
    for date in rss.xpath("//pubDate/text() | //lastBuildDate/text()"):
        assert parsedate_to_datetime(date).tzinfo is not None, date
        assert re.match(
            r"^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}$", date
        ), date
    for url in rss.xpath(
        "//item/link/text() | channel/link/text() | //a:link/@href", namespaces=NS
    ):
        assert url.startswith("https://"), url
    guids = rss.xpath("//item/guid/text()")
    assert len(guids) == len(set(guids)) == len(spec.articles)
    assert channel.findtext("language") == "en"
    self_links = channel.xpath("a:link[@rel='self']/@href", namespaces=NS)
    assert self_links == [feeds.feed_url(spec, FEEDS_URL, "rss.xml", links.page)]


@pytest.mark.parametrize("links", PLACES, ids=PLACE_IDS)
@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.path or "site")
def test_every_place_reads_back_and_validates(spec: FeedSpec, links: feeds.FeedLinks) -> None:
    schema = etree.RelaxNG(etree.parse(str(ATOM_RNG)))
    files = feeds.render_files(spec, SITE, FEEDS_URL, links)
    assert schema.validate(etree.fromstring(files["atom.xml"])), schema.error_log
    for name in ("atom.xml", "rss.xml"):
        parsed = feedparser.parse(files[name])
        assert not parsed.bozo, (name, parsed.get("bozo_exception"))
        assert [e.id for e in parsed.entries] == [a.guid for a in spec.articles]
    doc = json.loads(files["feed.json"])
    older = links.pages if links.page == 0 else links.page - 1
    assert doc.get("next_url") == (
        feeds.feed_url(spec, FEEDS_URL, "feed.json", older) if older else None)
    assert doc["feed_url"] == feeds.feed_url(spec, FEEDS_URL, "feed.json")


# --- OPML -----------------------------------------------------------------------------------


def test_opml_lists_every_feed_once_site_first_then_categories_then_authors() -> None:
    shuffled = (ANA, LABOR, SITE_SPEC, BOB, HOUSING)
    opml = etree.fromstring(feeds.render_opml(shuffled, SITE, FEEDS_URL))
    assert opml.get("version") == "2.0"
    assert opml.findtext("head/title") == "Left Voice feeds"
    assert parsedate_to_datetime(opml.findtext("head/dateCreated")) == STRIKE.updated
    top = opml.findall("body/outline")
    assert [o.get("text") for o in top] == ["Left Voice", "Categories", "Authors"]
    assert top[0].get("xmlUrl") == f"{FEEDS_URL}/atom.xml"
    assert [o.get("text") for o in top[1]] == [LABOR.title, HOUSING.title]
    assert [o.get("text") for o in top[2]] == [ANA.title, BOB.title]
    feeds_listed = opml.xpath("//outline[@xmlUrl]")
    assert [o.get("xmlUrl") for o in feeds_listed] == [
        feeds.feed_url(s, FEEDS_URL, "atom.xml") for s in (SITE_SPEC, LABOR, HOUSING, ANA, BOB)]
    assert {o.get("type") for o in feeds_listed} == {"rss"}
    assert top[1][0].get("htmlUrl") == "https://www.leftvoice.org/category/labor/"
    assert feeds.render_opml(shuffled, SITE, FEEDS_URL) == feeds.render_opml(
        shuffled, SITE, FEEDS_URL
    )


def test_opml_files_one_per_format_each_feed_once() -> None:
    files = feeds.render_opml_files(ALL_SPECS, SITE, FEEDS_URL)
    assert list(files) == ["index.opml", "index-rss.opml", "index-json.opml"]
    for opml_name, feed_name in feeds.OPML_FILES.items():
        urls = etree.fromstring(files[opml_name]).xpath("//outline/@xmlUrl")
        assert urls == [feeds.feed_url(s, FEEDS_URL, feed_name)
                        for s in feeds.ordered_specs(ALL_SPECS)], opml_name
    assert etree.fromstring(files["index-rss.opml"]).findtext("head/title") == (
        "Left Voice feeds (RSS)")


def test_opml_date_is_the_given_newest_entry_date_not_1970() -> None:
    bare = [replace(s, articles=()) for s in ALL_SPECS]  # the build hands specs without articles
    newest = datetime(2024, 3, 6, 19, 0, tzinfo=timezone.utc)
    opml = etree.fromstring(feeds.render_opml(bare, SITE, FEEDS_URL, updated=newest))
    assert parsedate_to_datetime(opml.findtext("head/dateCreated")) == newest


@pytest.mark.parametrize("text", [
    "", "<p>a</p>\n<p>b</p>", 'say "hi"', "back\\slash", "tab\there", "cr\r\nlf", "\x00\x1f\x7f",
    "café – «x» \u2028 \u00a0 \U0001F600", "lone \ud800", "\ufffe\uffff", "\x85 next line",
])
def test_json_string_equals_json_dumps(text: str) -> None:
    assert feeds._json_string(text) == json.dumps(text, ensure_ascii=False)


# --- the entry writer gives the bytes feedgen gives ----------------------------------------


def tricky_articles() -> tuple[Article, ...]:
    """Every field shape the writer handles differently: escapes, CR/LF/tab, quotes in
    attributes, empty body and summary, no category, a nameless co-author, another language,
    UTC and local offsets, astral characters."""
    base = make_article("Plain", published=datetime(2024, 1, 2, 3, 4, 5, tzinfo=NY))
    return (
        base,
        replace(base, id="b", guid="tag:x,2024:b&<>", title='Q "quoted" \'single\' & <tag> >',
                summary="line\r\nbreak\ttab", body_html="<p>a\r\nb\tc &amp; d</p>",
                category='Cat "q" & <x>\ttab', url='https://e.org/?a=1&b="2"'),
        replace(base, id="c", body_html="", credit="", translation_note="", summary=""),
        replace(base, id="d", summary="", category="", authors=("", "Zoë 😀", "")),
        replace(base, id="e", language="es", authors=(), title=""),
        replace(base, id="f", language="en", published=datetime(2023, 12, 31, 23, 59, 59,
                                                                tzinfo=timezone.utc)),
        replace(base, id="g", credit="Foto & <co>", translation_note="Traducción “x”",
                summary="\U0001F600 ]]> end", body_html="<![CDATA[ x ]]> ]]>"),
    )


@pytest.mark.parametrize("links", PLACES, ids=PLACE_IDS)
def test_entries_are_written_exactly_as_feedgen_writes_them(links: feeds.FeedLinks) -> None:
    from feedgen_reference import reference_atom_and_rss

    for articles in (tricky_articles(), ARTICLES, ()):
        spec = FeedSpec("category", "Labor", "labor", "Left Voice – Labor", "categories/labor",
                        articles)
        atom, rss = feeds._render_atom_and_rss(spec, SITE, FEEDS_URL, links)
        ref_atom, ref_rss = reference_atom_and_rss(spec, SITE, FEEDS_URL, links)
        assert atom == ref_atom
        assert rss == ref_rss


def test_dirty_entries_are_cleaned_like_feedgen_cleans_them() -> None:
    from feedgen_reference import reference_atom_and_rss

    spec, site = dirty_inputs()
    atom, rss = feeds._render_atom_and_rss(spec, site, "https://example.org/feeds")
    assert (atom, rss) == reference_atom_and_rss(*feeds.clean_inputs(spec, site,
                                                                     "https://example.org/feeds"))


@pytest.mark.parametrize("moment", [
    datetime(2024, 3, 5, 9, 30, tzinfo=NY), datetime(2024, 7, 4, 0, 0, tzinfo=NY),
    datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone.utc),
    datetime(2024, 2, 29, 12, 0, tzinfo=ZoneInfo("Asia/Kolkata")),
])
def test_rss_dates_are_feedgens(moment: datetime) -> None:
    from feedgen.util import formatRFC2822

    assert feeds._rfc822(moment) == formatRFC2822(moment)
    assert feeds._rfc822(moment, moment.isoformat()) == formatRFC2822(moment)


@pytest.mark.parametrize("moment", [
    datetime(2024, 3, 5, 9, 30, 1, 250, tzinfo=NY),  # microseconds
    datetime(1900, 1, 1, tzinfo=timezone(timedelta(minutes=-19, seconds=-32))),  # seconds
    datetime(2099, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=5, minutes=45))),
    datetime(2024, 11, 3, 1, 30, tzinfo=NY, fold=1),
])
def test_rss_dates_cut_from_iso_8601_are_feedgens(moment: datetime) -> None:
    from feedgen.util import formatRFC2822

    assert feeds._rfc822(moment, moment.isoformat()) == formatRFC2822(moment)


def test_a_memo_shared_by_documents_gives_the_same_bytes() -> None:
    memo: feeds.EntryMemo = {}
    dirty, dirty_site = dirty_inputs()
    for spec, links in [(SITE_SPEC, feeds.LIVE), (LABOR, feeds.FeedLinks(2, 3)),
                        (BOB, feeds.FeedLinks(0, 1, ("https://hub.example.org/",))),
                        (SITE_SPEC, feeds.FeedLinks(1, 1))]:
        assert feeds.render_files(spec, SITE, FEEDS_URL, links, memo) == feeds.render_files(
            spec, SITE, FEEDS_URL, links)
    assert set(memo) == {a.id for a in ARTICLES}
    cleaned = feeds.render_files(dirty, dirty_site, "https://example.org/feeds", memo=memo)
    assert cleaned == feeds.render_files(dirty, dirty_site, "https://example.org/feeds")
    assert b"Verticaltab" in cleaned["atom.xml"]


# Bodies the memo's byte-level escaping treats differently: nothing to escape, quotes and
# backslashes (a literal backslash-u00 is what JSON Feed's cleaning check looks for), tab and CR
# (json's short escapes), controls XML cannot carry (\b and \f get short JSON escapes too),
# U+FFFE, a lone surrogate, and text beyond Latin-1.
MEMO_BODIES = [
    "", "<p>plain</p>\n<p>two</p>", '<a href="x?a=1&amp;b=2">q "x" \\ y</a>', "a \\u00e9 b",
    "tab\there", "cr\r\nlf", "bs\bx", "ff\fx", "nul\x00x", "non\ufffechar", "lone \ud800",
    "café – “quotes” \u2028 😀 <b>&</b>", "\\", '"',
]


@pytest.mark.parametrize("body", MEMO_BODIES)
def test_entries_from_the_memo_are_the_plain_renderers_bytes(body: str) -> None:
    others = tricky_articles()
    odd = replace(others[0], id="odd", body_html=body)
    for articles in ((odd,), (odd, *others), (*others, odd)):
        memo: feeds.EntryMemo = {}
        spec = replace(LABOR, articles=articles)
        for links in (feeds.LIVE, feeds.FeedLinks(2, 3)):
            assert feeds.render_files(spec, SITE, FEEDS_URL, links, memo) == {
                name: renderer(spec, SITE, FEEDS_URL, links)
                for name, (_, renderer) in feeds.FORMATS.items()}


@pytest.mark.parametrize("moment", [
    datetime(2024, 1, 5, 3, 4, 5, tzinfo=timezone.utc),
    datetime(2024, 7, 5, 23, 59, 0, tzinfo=ZoneInfo("America/New_York")),
    datetime(2024, 7, 5, 1, 2, 3, tzinfo=ZoneInfo("Asia/Kolkata")),
    datetime(2024, 7, 5, 1, 2, 3, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
    datetime(1890, 1, 1, tzinfo=ZoneInfo("Europe/Amsterdam")),  # an offset with seconds
])
def test_rss_dates_are_spelled_as_strftime_spells_them(moment):  # type: ignore[no-untyped-def]
    from publisher.feeds import _rfc822

    assert _rfc822(moment) == moment.strftime("%a, %d %b %Y %H:%M:%S %z")

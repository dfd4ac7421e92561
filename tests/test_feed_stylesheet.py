"""feeds/ hosted as static files: the Atom and RSS documents name feeds/feed.xsl, which turns
them into a readable page where the browser still runs XSLT.

Checked with lxml's XSLT (libxslt, the engine Chromium uses) on every live and archive
document of a real build, and in headless Chromium over a plain static file server, with
screenshots at 1280 and 375 px in test-output/screenshots/ (looked at when changing the XSL).
Feed readers still get the XML: feedparser and newsboat read the same files.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest
from lxml import etree, html

from publisher import feeds

from conftest import REAL_SEEDS, REPO, Project, static_http

CHROMIUM = "/usr/bin/chromium"
SHOTS = REPO / "test-output" / "screenshots"
FEEDS_URL = "https://www.leftvoice.org/feeds"
CARAVAN = "A Migrant Caravan Breaks Through Police Blockade in Mexico. Let Them All In"
ESPIONAGE = "U.S. and Mexico Compiled Information on Journalists and Activists on Migrant Caravan"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The two real seeds, one entry per live document, one per archive page."""
    project = Project(tmp_path_factory.mktemp("xsl"))
    project.seeds.mkdir()
    for seed in sorted(REAL_SEEDS.glob("*.txt")):
        (project.seeds / seed.name).write_bytes(seed.read_bytes())
    project.write_config("\n[feeds]\nmax_entries = 1\narchive_page_size = 1\n")
    project.run("build-feeds", check=True)
    return project


def transform(path: Path) -> html.HtmlElement:
    doc = etree.parse(str(path))
    pi = doc.getroot().getprevious()
    assert isinstance(pi, etree._ProcessingInstruction) and pi.target == "xml-stylesheet"
    xsl_path = (path.parent / pi.get("href")).resolve()
    assert xsl_path.name == "feed.xsl" and xsl_path.parent.name == "feeds"
    result = etree.XSLT(etree.parse(str(xsl_path)))(doc)
    return html.fromstring(str(result))


def documents(project: Project) -> list[Path]:
    return sorted(p for p in project.feeds.rglob("*.xml"))


def test_the_stylesheet_is_written_once_into_feeds(built: Project) -> None:
    assert (built.feeds / "feed.xsl").read_bytes() == feeds.stylesheet()
    again = built.run("build-feeds", check=True)
    assert "0 written" in again.stdout  # unchanged: not rewritten


def test_every_atom_and_rss_document_names_the_stylesheet_relative_to_itself(
    built: Project
) -> None:
    docs = documents(built)
    assert {"atom.xml", "rss.xml", "archive/1/atom.xml", "categories/latin-america/rss.xml",
            "authors/left-voice/archive/1/rss.xml"} <= {
        p.relative_to(built.feeds).as_posix() for p in docs}
    for path in docs:
        depth = len(path.relative_to(built.feeds).parts) - 1
        second_line = path.read_bytes().split(b"\n")[1]
        assert second_line == (b'<?xml-stylesheet type="text/xsl" href="' + b"../" * depth
                               + b'feed.xsl"?>'), path


@pytest.mark.parametrize("name", ["atom.xml", "rss.xml"])
def test_the_live_feed_reads_as_a_page(built: Project, name: str) -> None:
    page = transform(built.feeds / name)
    fmt = "Atom" if name == "atom.xml" else "RSS"
    assert page.findtext(".//title") == f"Left Voice ({fmt} feed)"
    assert page.findtext(".//h1") == "Left Voice"
    assert "This is a feed" in page.text_content()
    assert page.get_element_by_id("feed-url").get("value") == f"{FEEDS_URL}/{name}"
    readers = [a.text for a in page.find_class("reader")]
    assert readers == ["Feedly", "Inoreader", "NewsBlur", "The Old Reader"]
    (teaser,) = page.find_class("teaser")
    assert teaser.findtext(".//h3/a") == CARAVAN
    assert teaser.find(".//h3/a").get("href").startswith("https://www.leftvoice.org/a-migrant")
    assert teaser.find_class("byline")[0].text_content().split() == [
        "Left", "Voice", "·", "October", "26,", "2021"]
    assert teaser.find_class("summary")[0].text_content().startswith(
        "On Saturday, October 23, a migrant caravan left the city of Tapachula, in Mexico’s")
    links = {a.text: a.get("href") for a in page.iterfind(".//nav[@class='pager']/a")}
    assert links == {"Older →": f"{FEEDS_URL}/archive/2/{name}"}


@pytest.mark.parametrize("name", ["atom.xml", "rss.xml"])
def test_an_archive_page_reads_as_a_page_that_subscribes_to_the_live_feed(
    built: Project, name: str
) -> None:
    page = transform(built.feeds / "archive/1" / name)
    assert "archive page" in page.find_class("eyebrow")[0].text_content()
    assert page.get_element_by_id("feed-url").get("value") == f"{FEEDS_URL}/{name}"
    assert [t.findtext(".//h3/a") for t in page.find_class("teaser")] == [ESPIONAGE]
    byline = page.find_class("byline")[0].text_content().split()
    assert byline[-3:] == ["March", "13,", "2019"]
    links = {a.text: a.get("href") for a in page.iterfind(".//nav[@class='pager']/a")}
    assert links == {"← Newer": f"{FEEDS_URL}/archive/2/{name}"}


def test_every_document_transforms_and_stays_a_valid_feed(built: Project) -> None:
    for path in documents(built):
        page = transform(path)
        assert page.findtext(".//h1"), path
        assert len(page.find_class("teaser")) == len(feedparser.parse(path.read_bytes()).entries)
        parsed = feedparser.parse(path.read_bytes())
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))


# --- real reader and real browser over a plain static file server ----------------------------


@pytest.fixture(scope="module")
def static_server(built: Project) -> Iterator[str]:
    with static_http(built.feeds) as url:
        yield url


@pytest.mark.parametrize("feed", ["atom.xml", "archive/1/rss.xml"])
def test_newsboat_still_reads_the_styled_documents(
    static_server: str, tmp_path: Path, feed: str
) -> None:
    urls = tmp_path / "urls"
    urls.write_text(f"{static_server}/{feed}\n")
    cache = tmp_path / "cache.db"
    subprocess.run(["newsboat", "-u", str(urls), "-c", str(cache), "-C", "/dev/null", "-x",
                    "reload"], check=True, timeout=60, capture_output=True)
    with sqlite3.connect(cache) as db:
        titles = [row[0] for row in db.execute("SELECT title FROM rss_item")]
    assert titles == [CARAVAN if feed == "atom.xml" else ESPIONAGE]


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium missing")
@pytest.mark.parametrize("feed", ["atom.xml", "rss.xml", "archive/1/atom.xml"])
def test_chromium_shows_the_page_at_desktop_and_phone_widths(
    static_server: str, feed: str
) -> None:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    stem = "xsl-" + feed.replace("/", "-").replace(".xml", "")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            for label, width in (("desktop", 1280), ("phone", 375)):
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.goto(f"{static_server}/{feed}")
                assert page.locator("h1").inner_text() == "Left Voice"
                assert page.locator("#feed-url").input_value().endswith(
                    "/" + feed.rsplit("/", 1)[-1])
                assert page.locator(".teaser h3 a").count() == 1
                # Nothing wider than the screen: the page reads on a phone without scrolling sideways.
                scroll_width = page.evaluate("document.documentElement.scrollWidth")
                assert scroll_width <= width, (label, scroll_width)
                page.screenshot(path=str(SHOTS / f"{stem}-{label}.png"), full_page=True)
                page.close()
        finally:
            browser.close()


def test_markup_in_a_summary_shows_as_text_in_both_formats() -> None:
    from datetime import datetime, timezone

    from publisher.model import Article, FeedSpec, Site

    site = Site("Left Voice", "https://www.leftvoice.org", timezone.utc)
    dek = '<script>alert(1)</script> & 10 < 20 "quoted"'
    when = datetime(2024, 1, 1, tzinfo=timezone.utc)
    article = Article(id="a", slug="a", url="https://www.leftvoice.org/a/", guid="tag:x,2024:a",
                      title="A", summary=dek, authors=(), published=when, updated=when,
                      category="", credit="", translation_note="", body_html="<p>b</p>",
                      related=(), source="a.txt", content_hash="0")
    spec = FeedSpec("site", "", "", "Left Voice", "", (article,))
    xsl = etree.XSLT(etree.fromstring(feeds.stylesheet()))
    for name, data in feeds.render_files(spec, site, FEEDS_URL).items():
        if name == "feed.json":
            continue
        page = html.fromstring(str(xsl(etree.fromstring(data))))
        (summary,) = page.find_class("summary")
        assert summary.text_content() == dek, name
        assert page.findall(".//script") == [], name

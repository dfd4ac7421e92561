"""Feeds over HTTP for people and for readers: the feed page a browser gets, the bytes every
other client gets, /feeds/, and the WordPress feed addresses (301 to our feeds).

Against `publisher serve`'s app on waitress over a real socket (see test_web.py's `call`);
feed readers are feedparser and a real newsboat.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import quote, urlsplit

import feedparser
import pytest

from conftest import WebSite
from test_web import call

# What Chromium sends when someone clicks a link to the feed or types its address.
NAVIGATE = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
              "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
    "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Sec-Fetch-Site": "same-origin",
    "Sec-Fetch-User": "?1", "Upgrade-Insecure-Requests": "1",
}
# What readers and tools send.
READERS = {
    "none": {},
    "curl": {"Accept": "*/*", "User-Agent": "curl/8.5.0"},
    "feedparser": {"Accept": "application/atom+xml,application/rdf+xml,application/rss+xml,"
                             "application/x-netcdf,application/xml;q=0.9,text/xml;q=0.2,*/*;q=0.1",
                   "User-Agent": "feedparser/6.0.11 +https://github.com/kurtmckee/feedparser/"},
    "html-accept-without-fetch-metadata": {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
    "navigate-asking-for-a-feed": {**NAVIGATE, "Accept": "application/atom+xml,text/html;q=0.9"},
    "fetch-from-a-page": {"Accept": "text/html,*/*", "Sec-Fetch-Mode": "cors",
                          "Sec-Fetch-Dest": "empty"},
}


@pytest.fixture
def site(make_web_site) -> WebSite:  # type: ignore[no-untyped-def]
    return make_web_site()


def feed_files(site: WebSite) -> list[str]:
    root = site.project.feeds
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() and p.suffix in (".xml", ".json", ".opml"))


def vary(reply) -> set[str]:  # type: ignore[no-untyped-def]
    return {v.strip().lower() for v in reply.header("Vary").split(",")}


@pytest.mark.parametrize("client", sorted(READERS))
def test_readers_get_the_feed_bytes_exactly(site: WebSite, client: str) -> None:
    for path in feed_files(site):
        reply = call(site, "GET", f"/feeds/{path}", READERS[client])
        assert reply.status == 200, (client, path)
        assert reply.body == (site.project.feeds / path).read_bytes(), (client, path)
        assert not reply.header("Content-Type").startswith("text/html"), (client, path)
        assert {"accept", "sec-fetch-mode", "accept-encoding"} <= vary(reply), (client, path)


def test_feedparser_reads_what_it_is_served(site: WebSite) -> None:
    for path in ("atom.xml", "rss.xml", "categories/latin-america/atom.xml"):
        reply = call(site, "GET", f"/feeds/{path}", READERS["feedparser"])
        parsed = feedparser.parse(reply.body)
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
        assert len(parsed.entries) == 2, path


def test_a_browser_navigating_to_a_feed_gets_a_page(site: WebSite) -> None:
    reply = call(site, "GET", "/feeds/atom.xml", NAVIGATE)
    assert reply.status == 200
    assert reply.header("Content-Type") == "text/html; charset=utf-8"
    assert {"accept", "sec-fetch-mode"} <= vary(reply)
    page = reply.text
    assert "<h1>Left Voice</h1>" in page
    assert "This is a feed" in page and "feed reader" in page
    # The address to copy is the feed's own (its rel=self), in a field with a copy button.
    feed_url = "https://www.leftvoice.org/feeds/atom.xml"
    assert f'id="feed-url" class="feed-url" type="url" value="{feed_url}" readonly' in page
    assert 'data-copy="feed-url"' in page
    encoded = quote(feed_url, safe="")
    assert f'href="https://feedly.com/i/subscription/feed%2F{encoded}"' in page
    assert f'href="https://www.inoreader.com/?add_feed={encoded}"' in page
    assert f'href="https://www.newsblur.com/?url={encoded}"' in page
    # The entries, newest first, with their dates and plain-text summaries.
    titles = re.findall(r'<h3><a href="[^"]+">([^<]+)</a></h3>', page)
    assert titles == [
        "A Migrant Caravan Breaks Through Police Blockade in Mexico. Let Them All In",
        "U.S. and Mexico Compiled Information on Journalists and Activists on Migrant Caravan"]
    assert '<time datetime="2021-10-26T00:00:00-04:00">October 26, 2021</time>' in page
    assert '<time datetime="2019-03-13T00:00:00-04:00">March 13, 2019</time>' in page
    assert "On Saturday, October 23, a migrant caravan left the city of Tapachula" in page
    assert "&lt;p&gt;" not in page and "&amp;lt;" not in page
    # Its one script is our own file, allowed by this page's policy alone.
    assert '<script src="/static/feed.js" defer></script>' in page
    assert "script-src 'self'" in reply.header("Content-Security-Policy")
    assert "script-src 'none'" in call(site, "GET", "/").header("Content-Security-Policy")
    script = call(site, "GET", "/static/feed.js")
    assert script.status == 200 and script.header("Content-Type").startswith("text/javascript")


@pytest.mark.parametrize("path", ["rss.xml", "feed.json", "authors/left-voice/atom.xml",
                                  "categories/latin-america/rss.xml"])
def test_every_format_has_its_page(site: WebSite, path: str) -> None:
    reply = call(site, "GET", f"/feeds/{path}", NAVIGATE)
    assert reply.header("Content-Type") == "text/html; charset=utf-8", path
    assert f'value="https://www.leftvoice.org/feeds/{path}"' in reply.text
    assert reply.text.count('<article class="teaser">') == 2
    assert "October 26, 2021" in reply.text
    assert "&lt;p&gt;" not in reply.text


def test_feeds_page_lists_every_feed(site: WebSite) -> None:
    reply = call(site, "GET", "/feeds/")
    assert reply.status == 200 and reply.header("Content-Type") == "text/html; charset=utf-8"
    folders = [""] + [f"{family}/{p.name}/" for family in ("categories", "authors")
                      for p in sorted((site.project.feeds / family).iterdir())]
    for folder in folders:
        for name in ("atom.xml", "rss.xml", "feed.json"):
            assert f'href="/feeds/{folder}{name}"' in reply.text, folder + name
    assert 'href="/category/latin-america/"' in reply.text
    assert 'href="/author/left-voice/"' in reply.text
    assert 'href="/feeds/index.opml" download' in reply.text
    assert '<link rel="canonical" href="' + site.url + '/feeds/">' in reply.text
    # The menu's "Feeds" goes here, not to the raw OPML.
    assert '<a href="/feeds/">Feeds</a>' in call(site, "GET", "/").text
    # A browser opening the OPML sees the same list; an importer gets the file.
    opml_page = call(site, "GET", "/feeds/index.opml", NAVIGATE)
    assert opml_page.header("Content-Type") == "text/html; charset=utf-8"
    assert "<h1>Feeds</h1>" in opml_page.text
    opml = call(site, "GET", "/feeds/index.opml")
    assert opml.body == (site.project.feeds / "index.opml").read_bytes()


# --- WordPress addresses -------------------------------------------------------------------

WORDPRESS = {
    "/feed/": "rss.xml",
    "/feed/rss2/": "rss.xml",
    "/feed/rss/": "rss.xml",
    "/feed/rdf/": "rss.xml",
    "/feed/atom/": "atom.xml",
    "/category/latin-america/feed/": "categories/latin-america/rss.xml",
    "/category/latin-america/feed/atom/": "categories/latin-america/atom.xml",
    "/author/left-voice/feed/": "authors/left-voice/rss.xml",
    "/author/left-voice/feed/atom/": "authors/left-voice/atom.xml",
    "/?feed=rss2": "rss.xml",
    "/?feed=rss": "rss.xml",
    "/?feed=atom": "atom.xml",
    "/?feed=rss2&category_name=latin-america": "categories/latin-america/rss.xml",
    "/?feed=atom&author_name=left-voice": "authors/left-voice/atom.xml",
}


@pytest.mark.parametrize("old", sorted(WORDPRESS))
def test_wordpress_feed_addresses_move_permanently(site: WebSite, old: str) -> None:
    reply = call(site, "GET", old, {"Host": "evil.example"})
    assert reply.status == 301, old
    assert reply.header("Location") == f"{site.url}/feeds/{WORDPRESS[old]}"


@pytest.mark.parametrize("old", ["/category/no-such-section/feed/", "/author/nobody/feed/",
                                 "/feed/unknown/", "/?feed=podcast", "/tag/x/feed/",
                                 "/?feed=rss2&category_name=..%2F..%2Fconfig.toml"])
def test_wordpress_addresses_we_have_no_feed_for_are_404(site: WebSite, old: str) -> None:
    assert call(site, "GET", old).status == 404, old


def test_home_page_without_feed_query_is_the_home_page(site: WebSite) -> None:
    assert call(site, "GET", "/?page=1").status == 200


@pytest.mark.parametrize("old", ["/feed/", "/feed", "/category/latin-america/feed/",
                                 "/author/left-voice/feed/atom/", "/?feed=rss2"])
def test_newsboat_follows_the_redirect(site: WebSite, tmp_path: Path, old: str) -> None:
    urls = tmp_path / "urls"
    urls.write_text(f"{site.url}{old}\n")
    cache = tmp_path / "cache.db"
    subprocess.run(["newsboat", "-u", str(urls), "-c", str(cache), "-C", "/dev/null",
                    "-x", "reload"], check=True, timeout=60, capture_output=True)
    with sqlite3.connect(cache) as db:
        titles = [r[0] for r in db.execute("SELECT title FROM rss_item ORDER BY pubDate DESC")]
        feed_title = db.execute("SELECT title FROM rss_feed").fetchone()[0]
    assert feed_title in ("Left Voice", "Left Voice: Latin America", "Left Voice: Left Voice")
    assert titles == [
        "A Migrant Caravan Breaks Through Police Blockade in Mexico. Let Them All In",
        "U.S. and Mexico Compiled Information on Journalists and Activists on Migrant Caravan"]


def test_trailing_slash_redirects_use_public_url_not_host(site: WebSite) -> None:
    for path, target in (("/category/latin-america", "/category/latin-america/"),
                         ("/digests", "/digests/"), ("/feed", "/feed/"),
                         ("/author/left-voice?page=1", "/author/left-voice/?page=1")):
        for host in ("evil.example", "evil.example:8080", site.url.removeprefix("http://")):
            reply = call(site, "GET", path, {"Host": host, "X-Forwarded-Host": "evil.example"})
            assert reply.status == 308, (path, host)
            assert reply.header("Location") == site.url + target, (path, host)
            assert b"evil.example" not in reply.body
    assert urlsplit(site.url).hostname == "127.0.0.1"


def test_archive_pages_read_well_too(project, make_web_site) -> None:  # type: ignore[no-untyped-def]
    import os
    import time

    for n in range(1, 6):
        seed = project.seeds / f"note-{n}.md"
        seed.write_text(f'---\ntitle: "Dispatch {n}"\ndate: 2023-01-{n:02d}\n'
                        f"author: Ana Paz\n---\n\nNotes, day {n}.\n", encoding="utf-8")
        old = time.time() - 3600
        os.utime(seed, (old, old))
    site = make_web_site(feeds={"max_entries": 2, "archive_page_size": 2})
    live = call(site, "GET", "/feeds/atom.xml", NAVIGATE).text
    older = re.search(r'<a rel="prev" href="([^"]+)">Older →</a>', live)
    assert older, "the live feed's page links its newest archive page"
    assert older.group(1).startswith("/feeds/archive/")  # on this server
    seen = re.findall(r"<h3><a [^>]+>([^<]+)</a></h3>", live)
    href = older.group(1)
    while href:  # follow every archive page, as a reader would
        reply = call(site, "GET", href, NAVIGATE)
        assert reply.header("Content-Type") == "text/html; charset=utf-8", href
        assert ('href="/feeds/atom.xml">← Latest</a>' in reply.text
                or 'rel="next" href="/feeds/archive/' in reply.text), href
        seen += re.findall(r"<h3><a [^>]+>([^<]+)</a></h3>", reply.text)
        raw = call(site, "GET", href)
        assert raw.body == (site.project.feeds / href.removeprefix("/feeds/")).read_bytes()
        nxt = re.search(r'<a rel="prev" href="([^"]+)">Older →</a>', reply.text)
        href = nxt.group(1) if nxt else ""
    assert sorted(seen) == sorted([f"Dispatch {n}" for n in range(1, 6)] + [
        "A Migrant Caravan Breaks Through Police Blockade in Mexico. Let Them All In",
        "U.S. and Mexico Compiled Information on Journalists and Activists on Migrant Caravan"])

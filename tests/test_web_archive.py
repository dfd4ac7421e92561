"""Archive pages like a news site's: canonical and social metadata, numbered pages, related
teasers linked to the articles we have, and full-text search (/search?q=).

The project holds the two real seeds plus Markdown seeds written by each test; the real app
serves it on waitress (see test_web.py's `call`).
"""

from __future__ import annotations

import html
import os
import re
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from markupsafe import escape

from conftest import Project, WebSite
from test_web import call

from publisher.store import search as search_store
from publisher.web.paging import pager

MILEI = "The Fight against Javier Milei Has Set The Stage For a Whole New Wave of Struggle"
CRISIS = "Crisis for Javier Milei as Austerity Bill Is Defeated"
CARAVAN = "A Migrant Caravan Breaks Through Police Blockade in Mexico. Let Them All In"
ESPIONAGE = "U.S. and Mexico Compiled Information on Journalists and Activists on Migrant Caravan"


def write_seed(project: Project, name: str, title: str, body: str, date: str,
               slug: str = "", category: str = "Argentina", summary: str = "") -> Path:
    front = [f'title: "{title}"', f"date: {date}", "author: Ana Paz", f"category: {category}"]
    if slug:
        front.append(f"slug: {slug}")
    if summary:
        front.append(f'summary: "{summary}"')
    path = project.seeds / name
    path.write_text("---\n" + "\n".join(front) + "\n---\n\n" + body + "\n", encoding="utf-8")
    old = time.time() - 3600  # settled long ago
    os.utime(path, (old, old))
    return path


def links(page: str) -> list[tuple[str, str]]:
    return [(href, html.unescape(text)) for href, text in
            re.findall(r'<h2><a href="([^"]+)">([^<]+)</a></h2>', page)]


def meta(page: str, key: str) -> str:
    found = re.search(rf'<meta (?:property|name)="{re.escape(key)}" content="([^"]*)">', page)
    return html.unescape(found.group(1)) if found else ""


@pytest.fixture
def site(project: Project, make_web_site) -> WebSite:  # type: ignore[no-untyped-def]
    write_seed(project, "milei.md", MILEI, "Workers across Argentina marched against the "
               "austerity plan. The general strike shut the ports.", "2024-03-20",
               slug="milei-new-wave")  # not the slug its title gives
    write_seed(project, "crisis.md", CRISIS, "The omnibus bill failed in Congress after "
               "weeks of protests in Buenos Aires.", "2024-02-07",
               summary="Milei's omnibus bill is defeated.")
    for n in range(1, 8):
        write_seed(project, f"note-{n}.md", f"Dispatch number {n}",
                   f"Notes from the picket line, day {n}."
                   + ("\n\nNothing about the omnibus here." if n == 7 else ""),
                   f"2023-01-{n:02d}", category="Notes")
    return make_web_site(web={"page_size": 1})


# --- canonical, Open Graph, Twitter ----------------------------------------------------------


def test_article_page_metadata(site: WebSite) -> None:
    page = call(site, "GET", "/milei-new-wave/", {"Host": "evil.example"}).text
    assert f'<link rel="canonical" href="{site.url}/milei-new-wave/">' in page
    assert meta(page, "og:url") == f"{site.url}/milei-new-wave/"
    assert meta(page, "og:type") == "article"
    assert meta(page, "og:title") == MILEI
    assert meta(page, "og:site_name") == "Left Voice"
    assert meta(page, "og:description").startswith("Workers across Argentina marched")
    assert meta(page, "description") == meta(page, "og:description")
    assert meta(page, "twitter:card") == "summary"
    assert meta(page, "twitter:title") == MILEI
    assert meta(page, "twitter:description") == meta(page, "og:description")
    assert meta(page, "article:published_time").startswith("2024-03-20T00:00:00")
    assert meta(page, "article:section") == "Argentina"
    assert meta(page, "article:author") == "Ana Paz"
    assert "evil.example" not in page


def test_listing_pages_metadata(site: WebSite) -> None:
    home = call(site, "GET", "/").text
    assert f'<link rel="canonical" href="{site.url}/">' in home
    assert meta(home, "og:type") == "website" and meta(home, "og:title") == "Left Voice"
    second = call(site, "GET", "/category/notes/?page=2").text
    assert f'<link rel="canonical" href="{site.url}/category/notes/?page=2">' in second
    assert meta(second, "og:title") == "Left Voice: Notes"


# --- numbered pager --------------------------------------------------------------------------


def test_pager_numbers() -> None:
    assert pager(1, 1).slots == (1,)
    assert pager(1, 3).slots == (1, 2, 3)
    assert pager(6, 11).slots == (1, None, 4, 5, 6, 7, 8, None, 11)
    assert pager(5, 11).slots == (1, 2, 3, 4, 5, 6, 7, None, 11)
    assert pager(4, 11).slots == (1, 2, 3, 4, 5, 6, None, 11)  # no gap for one page
    assert pager(11, 11).slots == (1, None, 9, 10, 11)
    assert not pager(1, 4).has_prev and pager(1, 4).has_next
    assert pager(4, 4).has_prev and not pager(4, 4).has_next


def pager_of(page: str) -> list[str]:
    """The pager's numbers as shown, the current one in brackets, gaps as …."""
    nav = re.search(r'<nav class="pager".*?</nav>', page, re.S)
    assert nav, "no pager"
    return [gap or (f"[{n}]" if current else n) for current, n, gap in re.findall(
        r'<li(?: class="gap" aria-hidden="true")?>(?:<a (aria-current="page" )?href="[^"]*">'
        r'(\d+)</a>|(…))</li>', nav.group(0))]


def test_home_pages_are_numbered(site: WebSite) -> None:
    # 11 articles, one a page.
    first = call(site, "GET", "/").text
    assert pager_of(first) == ["[1]", "2", "3", "…", "11"]
    assert 'aria-current="page" href="/">1</a>' in first
    assert 'rel="next" href="/?page=2"' in first and 'rel="prev"' not in first
    middle = call(site, "GET", "/?page=6").text
    assert pager_of(middle) == ["1", "…", "4", "5", "[6]", "7", "8", "…", "11"]
    assert 'rel="prev" href="/?page=5"' in middle and 'rel="next" href="/?page=7"' in middle
    assert 'href="/">1</a>' in middle  # page 1 is the plain address
    last = call(site, "GET", "/?page=11").text
    assert pager_of(last) == ["1", "…", "9", "10", "[11]"]
    assert 'rel="next"' not in last.split('<nav class="pager"')[1]
    assert call(site, "GET", "/?page=12").status == 404
    assert call(site, "GET", "/?page=0").status == 404
    # Section pages too, keeping their own path.
    notes = call(site, "GET", "/category/notes/?page=3").text
    assert 'href="/category/notes/?page=2">2</a>' in notes
    assert 'aria-current="page" href="/category/notes/?page=3">3</a>' in notes
    assert 'href="/category/notes/?page=7">7</a>' in notes
    assert call(site, "GET", "/category/notes/?page=8").status == 404


# --- related teasers -------------------------------------------------------------------------


def related(page: str) -> dict[str, str | None]:
    aside = page.split('<aside class="related"', 1)[1].split("</aside>", 1)[0]
    found: dict[str, str | None] = {}
    for heading in re.findall(r"<h3>(.*?)</h3>", aside, re.S):
        link = re.match(r'<a href="([^"]+)">(.*)</a>$', heading)
        title = html.unescape(link.group(2) if link else heading)
        found[title] = link.group(1) if link else None
    return found


def test_related_teasers_link_to_articles_in_the_store(site: WebSite) -> None:
    espionage = related(call(site, "GET", "/u-s-and-mexico-compiled-information-on-journalists-"
                              "and-activists-on-mig-cf1117ac/").text)
    assert espionage[MILEI] == "/milei-new-wave/"  # found by its title
    assert espionage[CRISIS] == "/crisis-for-javier-milei-as-austerity-bill-is-defeated/"
    assert espionage["Aaron Bushnell’s Cry of Despair in the Face of Genocide"] is None
    assert len(espionage) == 8
    caravan = related(call(site, "GET", "/a-migrant-caravan-breaks-through-police-blockade-"
                            "in-mexico-let-them-all-in/").text)
    assert caravan[MILEI] == "/milei-new-wave/"
    assert [t for t, href in caravan.items() if href] == [MILEI]
    # The linked page is the article.
    assert f"<h1>{MILEI}</h1>" in call(site, "GET", "/milei-new-wave/").text


def test_related_link_goes_when_the_article_does(site: WebSite) -> None:
    (site.project.seeds / "milei.md").unlink()
    site.project.run("build-feeds", check=True)
    site.clock.advance(60)
    espionage = related(call(site, "GET", "/u-s-and-mexico-compiled-information-on-journalists-"
                              "and-activists-on-mig-cf1117ac/").text)
    assert espionage[MILEI] is None
    assert espionage[CRISIS] is not None


# --- search ----------------------------------------------------------------------------------


def search(site: WebSite, query: str, page: int = 1) -> tuple[int, str]:
    path = f"/search?q={quote(query)}" + (f"&page={page}" if page > 1 else "")
    reply = call(site, "GET", path)
    return reply.status, reply.text


def test_search_finds_titles_summaries_and_bodies(site: WebSite) -> None:
    status, page = search(site, "omnibus")
    assert status == 200
    assert "2 articles match “omnibus”, page 1 of 2." in page
    # Ranked: the article whose body is about the bill before a note that mentions the word.
    assert links(page) == [("/crisis-for-javier-milei-as-austerity-bill-is-defeated/", CRISIS)]
    assert links(search(site, "omnibus", 2)[1]) == [("/dispatch-number-7/", "Dispatch number 7")]
    assert search(site, "omnibus", 3)[0] == 404
    # A title word outranks the same word in a body.
    status, page = search(site, "caravan")
    titles = [t for _, t in links(page)]
    assert titles and set(titles) <= {CARAVAN, ESPIONAGE}
    assert "1 article matches “Tapachula”" in search(site, "Tapachula")[1]
    assert [t for _, t in links(search(site, "general strike ports")[1])] == [MILEI]
    assert "No article matches “picket generalstrike”" in search(site, "picket generalstrike")[1]
    # Stemming and accents: "marching" finds "marched", "Buenos Aíres" finds "Buenos Aires".
    assert [t for _, t in links(search(site, "marching")[1])] == [MILEI]
    assert [t for _, t in links(search(site, "Buenos Aíres")[1])] == [CRISIS]
    # Quoted phrases are phrases.
    assert "1 article matches" in search(site, '"picket line, day 3"')[1]


@pytest.mark.parametrize("query", [
    '"', '""', "*", "OR", "a OR b", "NEAR(a b)", "title:omnibus", "omnibus*", "-omnibus",
    "(omnibus", "omnibus)", "^omnibus", "x' OR '1'='1", "'; DROP TABLE articles; --",
    "<script>alert(1)</script>", "\\", "%", "&amp;", "a" * 5000, "\u202e", "omnibus AND",
])
def test_search_query_is_data_never_syntax(site: WebSite, query: str) -> None:
    status, page = search(site, query)
    assert status == 200, query
    assert "<script>alert(1)" not in page
    shown = " ".join(query.split())[:200]
    if shown:  # said back, escaped
        assert f"“{escape(shown)}”" in page, query
    assert call(site, "GET", "/").status == 200  # the articles are all still there


def test_match_expression_quotes_every_term() -> None:
    assert search_store.match_expression("caravan") == '"caravan"'
    assert search_store.match_expression('general "strike now" OR') == \
        '"general" "strike now" "OR"'
    assert search_store.match_expression('say "hi') == '"say" """hi"'
    assert search_store.match_expression("*** ---") is None
    assert search_store.match_expression("   ") is None


def test_search_box_on_every_page_and_empty_search(site: WebSite) -> None:
    home = call(site, "GET", "/").text
    assert '<form class="search-box" role="search" action="/search" method="get">' in home
    status, page = search(site, "")
    assert status == 200 and "results-count" not in page
    assert page.count('type="search"') == 1  # the page's own box, not the masthead's too
    reply = call(site, "GET", "/search?q=omnibus")
    assert reply.header("X-Robots-Tag") == "noindex"


def test_search_follows_changes_and_deletions(site: WebSite, project: Project) -> None:
    assert "1 article matches" in search(site, "Tapachula")[1]
    write_seed(project, "crisis.md", CRISIS, "The bill was rewritten overnight by the "
               "senators; zeppelin.", "2024-02-07")
    (project.seeds / "note-1.md").unlink()
    project.run("build-feeds", check=True)
    site.clock.advance(60)
    assert [t for _, t in links(search(site, "zeppelin")[1])] == [CRISIS]
    assert "2 articles match “omnibus”" not in search(site, "omnibus")[1]
    assert "Dispatch number 1" not in search(site, "picket")[1]
    assert "6 articles match “picket”" in search(site, "picket")[1]

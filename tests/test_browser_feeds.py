"""Feeds, search and the archive pager in a real headless Chromium (Debian's, via Playwright).

A reader clicks "Feeds" in the menu, opens a feed, sees a page (not XML), copies the address
with the button and finds the one-click reader links; a script on the same page fetching the
same address gets the XML. Then a search from the masthead box. Screenshots at 1280 and 375 px
go to test-output/screenshots/ (feed-*, feeds-*, search-*).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import feedparser
import pytest

from conftest import WebSite
from test_browser import CHROMIUM, WIDTHS, browser, shoot  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium missing")


@pytest.fixture
def site(project, make_web_site) -> WebSite:  # type: ignore[no-untyped-def]
    for n in range(1, 6):  # enough articles for a numbered pager at 2 a page
        seed = project.seeds / f"note-{n}.md"
        seed.write_text(f'---\ntitle: "Dispatch from the picket line, day {n}"\n'
                        f"date: 2023-01-{n:02d}\nauthor: Ana Paz\ncategory: Notes\n---\n\n"
                        f"Notes from the picket line, day {n}.\n", encoding="utf-8")
        old = time.time() - 3600
        os.utime(seed, (old, old))
    return make_web_site(web={"page_size": 2})


def test_feeds_read_well_in_chromium(site: WebSite, browser) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    contexts = {name: browser.new_context(viewport=size, device_scale_factor=1,
                                          is_mobile=name == "phone")
                for name, size in WIDTHS.items()}
    contexts["desktop"].grant_permissions(["clipboard-read", "clipboard-write"],
                                          origin=site.url)
    pages = {name: context.new_page() for name, context in contexts.items()}
    errors: list[str] = []
    for page in pages.values():
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
    desktop = pages["desktop"]

    # The menu's "Feeds" leads to a page listing every feed.
    for page in pages.values():
        page.goto(site.url + "/")
        page.get_by_role("link", name="Feeds", exact=True).click()
        page.wait_for_load_state()
    assert desktop.url == site.url + "/feeds/"
    assert desktop.locator("h1").inner_text() == "Feeds"
    assert desktop.locator(".feed-list li").count() == len(list(
        (site.project.feeds / "categories").iterdir())) + len(list(
            (site.project.feeds / "authors").iterdir())) + 1
    shoot(pages, "feeds")
    assert_fits(pages)

    # Opening a feed shows a page for people.
    for page in pages.values():
        page.locator(".feed-list .feed-title").first.click()
        page.wait_for_load_state()
    assert desktop.url == site.url + "/feeds/atom.xml"
    assert desktop.locator("h1").inner_text() == "Left Voice"
    assert "This is a feed" in desktop.locator(".feed-about").inner_text()
    entries = desktop.locator(".feed-entries .teaser")
    assert entries.count() == 7
    assert "Dispatch from the picket line, day 5" in entries.first.inner_text()
    assert "January 5, 2023" in entries.first.inner_text()
    assert "October 26, 2021" in entries.nth(5).inner_text()
    assert desktop.locator(".reader", has_text="Feedly").get_attribute("href").startswith(
        "https://feedly.com/i/subscription/feed%2F")
    shoot(pages, "feed")
    assert_fits(pages)

    # The copy button (shown by the script) puts the feed's address on the clipboard.
    button = desktop.get_by_role("button", name="Copy address")
    assert button.is_visible()
    button.click()
    desktop.wait_for_function("document.querySelector('.copy-status').textContent.length > 0")
    assert desktop.evaluate("navigator.clipboard.readText()") == \
        "https://www.leftvoice.org/feeds/atom.xml"
    assert "Copied" in desktop.locator(".copy-status").inner_text()

    # A script fetching the same address (not a navigation) gets the feed itself.
    fetched = desktop.evaluate(
        "fetch('/feeds/atom.xml').then(r => r.text().then(t => [r.headers.get('content-type'), t]))")
    assert fetched[0].startswith("application/atom+xml")
    assert fetched[1].encode() == (site.project.feeds / "atom.xml").read_bytes()
    assert not feedparser.parse(fetched[1]).bozo

    # Search from the masthead box; results are numbered pages.
    for page in pages.values():
        page.goto(site.url + "/")
        page.get_by_role("searchbox", name="Search the articles").fill("picket line")
        page.get_by_role("button", name="Search", exact=True).click()
        page.wait_for_load_state()
    assert "5 articles match" in desktop.locator(".results-count").inner_text()
    assert desktop.locator(".teaser").count() == 2
    assert desktop.locator('.pager [aria-current="page"]').inner_text() == "1"
    shoot(pages, "search")
    assert_fits(pages)
    desktop.locator(".pager .numbers a", has_text="3").click()
    desktop.wait_for_load_state()
    assert desktop.locator(".teaser").count() == 1
    assert desktop.locator("#search-q").input_value() == "picket line"

    # The home page's numbered pager.
    for page in pages.values():
        page.goto(site.url + "/?page=2")
    shoot(pages, "home-pager")
    assert_fits(pages)
    assert desktop.locator(".pager .numbers li").all_inner_texts() == ["1", "2", "3", "4"]

    assert errors == [], errors  # no CSP violations, no script errors
    for context in contexts.values():
        context.close()


def assert_fits(pages: dict) -> None:  # type: ignore[type-arg]
    for name, page in pages.items():  # nothing sticks out sideways on a phone
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (name, page.url, overflow)

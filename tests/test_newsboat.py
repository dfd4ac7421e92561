"""A real feed reader: newsboat fetches the built feeds over HTTP and shows every article."""

from __future__ import annotations

import sqlite3
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import Project, static_http

CARAVAN = "A Migrant Caravan Breaks Through Police Blockade in Mexico. Let Them All In"
ESPIONAGE = "U.S. and Mexico Compiled Information on Journalists and Activists on Migrant Caravan"


@pytest.fixture
def served_feeds(project: Project):  # type: ignore[no-untyped-def]
    project.run("build-feeds", check=True)
    with static_http(project.feeds) as url:
        yield url


@pytest.mark.parametrize("feed", ["atom.xml", "rss.xml", "categories/latin-america/atom.xml"])
def test_newsboat_shows_every_article_in_full(served_feeds: str, tmp_path: Path, feed: str) -> None:
    urls = tmp_path / "urls"
    urls.write_text(f"{served_feeds}/{feed}\n")
    cache = tmp_path / "cache.db"
    subprocess.run(["newsboat", "-u", str(urls), "-c", str(cache), "-C", "/dev/null", "-x", "reload"],
                   check=True, timeout=60, capture_output=True)
    with sqlite3.connect(cache) as db:
        items = db.execute(
            "SELECT title, author, pubDate, content, url FROM rss_item ORDER BY pubDate DESC").fetchall()
        feed_title = db.execute("SELECT title FROM rss_feed").fetchone()[0]
    assert feed_title in ("Left Voice", "Left Voice: Latin America")
    assert [i[0] for i in items] == [CARAVAN, ESPIONAGE]
    assert [i[1] for i in items] == ["Left Voice", "Left Voice"]
    assert [datetime.fromtimestamp(i[2], timezone.utc).isoformat() for i in items] == [
        "2021-10-26T04:00:00+00:00", "2019-03-13T04:00:00+00:00"]
    caravan_body, espionage_body = items[0][3], items[1][3]
    assert "On Saturday, October 23, a migrant caravan left the city of Tapachula" in caravan_body
    assert "<h2>Let Them All In</h2>" in caravan_body
    assert "Let them in!" in caravan_body
    assert "John Moore / Getty Images" in espionage_body
    assert "Translated by Oscar Fernandez" in espionage_body
    assert items[0][4] == ("https://www.leftvoice.org/"
                           "a-migrant-caravan-breaks-through-police-blockade-in-mexico-let-them-all-in/")


def test_newsboat_imports_each_feed_once_from_the_opml(project: Project, tmp_path: Path) -> None:
    """index.opml lists every feed once (Atom); its folders become newsboat tags."""
    project.run("build-feeds", check=True)
    for opml, suffix in (("index.opml", "atom.xml"), ("index-rss.opml", "rss.xml"),
                         ("index-json.opml", "feed.json")):
        urls = tmp_path / f"urls-{opml}"
        urls.write_text("")
        subprocess.run(["newsboat", "-u", str(urls), "-c", str(tmp_path / "cache.db"),
                        "-C", "/dev/null", "-i", str(project.feeds / opml)],
                       check=True, timeout=60, capture_output=True)
        assert urls.read_text().splitlines() == [
            f"https://www.leftvoice.org/feeds/{suffix}",
            f'https://www.leftvoice.org/feeds/categories/latin-america/{suffix} "Categories"',
            f'https://www.leftvoice.org/feeds/authors/left-voice/{suffix} "Authors"',
        ], opml

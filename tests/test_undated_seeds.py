"""Pages that print no date (issue 11): published, dated by the moment they were first seen."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import feedparser

from publisher import pipeline
from publisher.config import load_settings
from publisher.store import articles as article_store
from publisher.store import open_database

from conftest import FIXTURE_SEEDS, Project

T0 = datetime(2026, 11, 20, 3, 30, tzinfo=timezone.utc)  # still Nov 19 in New York
SLUG = "nurses-at-mount-sinai-vote-to-authorize-a-strike"
NOTE = "no date line: published with the date it was first seen"


def test_undated_seed_is_published_with_its_first_seen_date(project: Project) -> None:
    shutil.copyfile(FIXTURE_SEEDS / "undated_no_author.txt", project.seeds / "undated.txt")
    settings = load_settings(project.config, environ={})
    # no settle time: the seed is written at the real time, `now` is T0
    settings = replace(settings, schedule=replace(settings.schedule, settle_seconds=0))
    engine = open_database(settings.database_path)
    tz = settings.site_record.timezone
    report = pipeline.ingest(engine, settings, T0)
    assert (len(report.new), report.failed, report.skipped) == (3, [], [])
    assert [(str(n.path), n.reason) for n in report.undated] == [
        (str(project.seeds / "undated.txt"), NOTE)]
    with engine.begin() as conn:
        article = article_store.find_article(conn, "undated.txt", tz)
    assert article is not None
    assert (article.published, article.updated, article.first_seen) == (T0, T0, T0)
    assert article.date_source == "first-seen"
    assert article.authors == ()
    assert article.guid == f"tag:www.leftvoice.org,2026-11-19:/{SLUG}/"  # the site's day

    # A correction keeps the first-seen date; only `updated` moves.
    seed = project.seeds / "undated.txt"
    seed.write_text(seed.read_text(encoding="utf-8").replace("in writing.", "in a contract."),
                    encoding="utf-8")
    later = T0 + timedelta(days=2)
    again = pipeline.ingest(engine, settings, later)
    assert (again.new, len(again.updated)) == ([], 1)
    assert [n.reason for n in again.undated] == [NOTE]
    with engine.begin() as conn:
        corrected = article_store.find_article(conn, "undated.txt", tz)
    assert corrected is not None
    assert (corrected.published, corrected.updated, corrected.first_seen) == (T0, later, T0)
    assert (corrected.guid, corrected.date_source) == (article.guid, "first-seen")
    assert "in a contract." in corrected.body_html

    # Unchanged: no note, nothing re-dated.
    quiet = pipeline.ingest(engine, settings, later + timedelta(hours=1))
    assert (quiet.new, quiet.updated, quiet.undated) == ([], [], [])

    pipeline.build_feeds(engine, settings, later)
    parsed = feedparser.parse((project.feeds / "atom.xml").read_bytes())
    assert not parsed.bozo
    entry = next(e for e in parsed.entries if e.title.startswith("Nurses"))
    assert entry.published == "2026-11-19T22:30:00-05:00"
    assert entry.id == article.guid


def test_build_feeds_warns_and_articles_show_says_first_seen(project: Project) -> None:
    shutil.copyfile(FIXTURE_SEEDS / "undated_no_author_spanish.txt", project.seeds / "paro.txt")
    before = datetime.now(timezone.utc).replace(microsecond=0)
    result = project.run("build-feeds")
    after = datetime.now(timezone.utc)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [f"warning: {project.seeds / 'paro.txt'}: {NOTE}"]
    assert result.stdout.splitlines()[0] == (
        "articles: 3 new, 0 updated, 0 unchanged, 0 removed, 0 skipped, 0 failed")
    shown = json.loads(project.run("articles", "show", "paro.txt", "--json", check=True).stdout)
    assert shown["date_source"] == "first-seen"
    assert shown["authors"] == []
    assert shown["published"] == shown["updated"]
    published = datetime.fromisoformat(shown["published"])
    assert before <= published <= after
    assert datetime.fromisoformat(shown["first_seen"]) == published
    plain = project.run("articles", "show", "paro.txt", check=True).stdout
    assert 'date_source: "first-seen"' in plain.splitlines()
    dated = project.run("articles", "show", "000_68e055715ac20893.txt", check=True).stdout
    assert 'date_source: "page"' in dated.splitlines()
    rebuilt = project.run("build-feeds", check=True)  # nothing taken in again: no warning
    assert rebuilt.stderr == ""


def test_article_page_shows_the_caption_and_first_seen_date(project: Project,
                                                             make_web_site) -> None:  # type: ignore[no-untyped-def]
    """The caption is printed on the article page in its own place, not as the body's start."""
    from test_web import call

    shutil.copyfile(FIXTURE_SEEDS / "caption_in_credit_slot.txt", project.seeds / "cuny.txt")
    shutil.copyfile(FIXTURE_SEEDS / "undated_no_author.txt", project.seeds / "undated.txt")
    site = make_web_site()
    page = call(site, "GET", "/cuny-faculty-rally-for-a-contract/")
    assert page.status == 200
    caption = ("A banner reads &#34;Real Wages Or We Strike&#34; at a rally for CUNY, which is "
               "experiencing cuts from Mayor Eric Adams and Governor Kathy Hochul.")
    assert f'<p class="caption">{caption}</p>' in page.text
    body = page.text.split('<div class="body">', 1)[1]
    assert body.lstrip().startswith("<p>Hundreds of faculty and staff marched")
    undated = call(site, "GET", f"/{SLUG}/")
    assert undated.status == 200
    assert "By " not in undated.text.split('class="byline">', 1)[1].split("</p>", 1)[0]


def test_author_page_with_one_teaser_is_a_listing_warning(project: Project) -> None:
    """Was `error: … no share bar` and exit 1; now skipped with the listing warning."""
    shutil.copyfile(FIXTURE_SEEDS / "author_page_single_teaser.txt", project.seeds / "author.txt")
    result = project.run("build-feeds")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"warning: {project.seeds / 'author.txt'}: section listing page, not an article: skipped"]
    assert "1 skipped, 0 failed" in result.stdout.splitlines()[0]

"""Ingest and feed building against a real SQLite store, with the clock passed in."""

from __future__ import annotations

import shutil
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import feedparser

from publisher import pipeline
from publisher.config import load_settings
from publisher.store import articles as article_store
from publisher.store import open_store

from conftest import FIXTURE_SEEDS, Project

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
CARAVAN = "000_68e055715ac20893.txt"
CARAVAN_SLUG = "a-migrant-caravan-breaks-through-police-blockade-in-mexico-let-them-all-in"


def _open(project: Project):  # type: ignore[no-untyped-def]
    """Settings with no settle time: the seeds are written at the real time, `now` is T0."""
    settings = load_settings(project.config, environ={})
    settings = replace(settings, schedule=replace(settings.schedule, settle_seconds=0))
    return settings, open_store(settings)


def _entries(project: Project) -> list[feedparser.FeedParserDict]:
    parsed = feedparser.parse((project.feeds / "atom.xml").read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed.entries


def test_first_ingest_stores_every_article_with_its_identity(project: Project) -> None:
    settings, engine = _open(project)
    report = pipeline.ingest(engine, settings, T0)
    assert (len(report.new), len(report.updated), report.unchanged, report.failed) == (2, 0, 0, [])
    with engine.begin() as conn:
        stored = article_store.list_articles(conn, settings.site_record.timezone)
    assert [a.slug for a in stored] == [
        CARAVAN_SLUG,
        "u-s-and-mexico-compiled-information-on-journalists-and-activists-on-mig-cf1117ac",
    ]
    assert stored[0].url == f"https://www.leftvoice.org/{CARAVAN_SLUG}/"
    assert stored[0].guid == f"tag:www.leftvoice.org,2021-10-26:/{CARAVAN_SLUG}/"
    assert stored[0].first_seen == T0
    assert stored[0].updated == stored[0].published
    assert stored[0].published.isoformat() == "2021-10-26T00:00:00-04:00"


def test_unchanged_seeds_change_nothing(project: Project) -> None:
    settings, engine = _open(project)
    pipeline.ingest(engine, settings, T0)
    pipeline.build_feeds(engine, settings, T0)
    again = pipeline.ingest(engine, settings, T0 + timedelta(hours=1))
    assert (again.new, again.updated, again.unchanged, again.to_parse) == ([], [], 2, 0)
    feeds = pipeline.build_feeds(engine, settings, T0 + timedelta(hours=1))
    assert feeds.written == []
    assert feeds.unchanged == 13  # 3 feeds x 3 formats + 3 OPML files + feed.xsl


def test_corrected_title_updates_in_place(project: Project) -> None:
    settings, engine = _open(project)
    pipeline.ingest(engine, settings, T0)
    pipeline.build_feeds(engine, settings, T0)
    seed = project.seeds / CARAVAN
    seed.write_text(seed.read_text().replace(
        "Police Blockade in Mexico. Let Them All In", "Police Blockade in Mexico: Let Them All In!"))
    later = T0 + timedelta(days=1)
    report = pipeline.ingest(engine, settings, later)
    assert (len(report.new), len(report.updated)) == (0, 1)
    feeds = pipeline.build_feeds(engine, settings, later)
    assert "atom.xml" in feeds.written
    entries = _entries(project)
    assert len(entries) == 2
    fixed = entries[0]
    assert fixed.title == "A Migrant Caravan Breaks Through Police Blockade in Mexico: Let Them All In!"
    assert fixed.id == f"tag:www.leftvoice.org,2021-10-26:/{CARAVAN_SLUG}/"
    assert fixed.link == f"https://www.leftvoice.org/{CARAVAN_SLUG}/"
    assert fixed.updated == "2026-11-21T07:00:00-05:00"
    assert fixed.published == "2021-10-26T00:00:00-04:00"


def test_deleted_seed_leaves_the_feeds(project: Project) -> None:
    settings, engine = _open(project)
    pipeline.ingest(engine, settings, T0)
    pipeline.build_feeds(engine, settings, T0)
    (project.seeds / CARAVAN).unlink()
    report = pipeline.ingest(engine, settings, T0 + timedelta(hours=1))
    assert report.deleted == 1
    pipeline.build_feeds(engine, settings, T0 + timedelta(hours=1))
    assert [e.title for e in _entries(project)] == [
        "U.S. and Mexico Compiled Information on Journalists and Activists on Migrant Caravan"
    ]


def test_same_title_twice_gets_a_second_slug(project: Project) -> None:
    settings, engine = _open(project)
    # Same title, another page (the body differs): a second article. (The same page twice is
    # one article: tests/test_ingest_safety.py.)
    text = (project.seeds / CARAVAN).read_text(encoding="utf-8")
    (project.seeds / "copy_of_caravan.txt").write_text(
        text.replace("Let Them All In\n\nIn the face", "Let Them All In\n\nAnd so, in the face"),
        encoding="utf-8")
    pipeline.ingest(engine, settings, T0)
    with engine.begin() as conn:
        slugs = sorted(a.slug for a in article_store.list_articles(conn, settings.site_record.timezone))
    assert slugs == [CARAVAN_SLUG, f"{CARAVAN_SLUG}-2",
                     "u-s-and-mexico-compiled-information-on-journalists-and-activists-on-mig-cf1117ac"]


def test_one_broken_seed_never_stops_the_others(project: Project) -> None:
    settings, engine = _open(project)
    (project.seeds / "broken.txt").write_bytes(b"\xff\xfe\x00binary")
    (project.seeds / "empty.txt").write_bytes(b"")
    report = pipeline.ingest(engine, settings, T0)
    assert len(report.new) == 2
    assert sorted(Path(e.path).name for e in report.failed) == ["broken.txt", "empty.txt"]
    assert all("\n" not in str(e) for e in report.failed)


def test_feed_groups_per_category_and_author(project: Project) -> None:
    settings, engine = _open(project)
    for name in ("multiple_authors_oxford_comma.txt",):
        if (FIXTURE_SEEDS / name).exists():
            shutil.copyfile(FIXTURE_SEEDS / name, project.seeds / name)
    pipeline.ingest(engine, settings, T0)
    pipeline.build_feeds(engine, settings, T0)
    category = feedparser.parse((project.feeds / "categories/latin-america/atom.xml").read_bytes())
    assert category.feed.title == "Left Voice: Latin America"
    assert {e.title for e in category.entries} >= {
        "A Migrant Caravan Breaks Through Police Blockade in Mexico. Let Them All In"}
    author = feedparser.parse((project.feeds / "authors/left-voice/rss.xml").read_bytes())
    assert author.feed.title == "Left Voice: Left Voice"
    assert len(author.entries) == 2


def test_max_entries_caps_every_feed(project: Project) -> None:
    project.write_config("\n[feeds]\nmax_entries = 1\n")
    settings, engine = _open(project)
    pipeline.ingest(engine, settings, T0)
    pipeline.build_feeds(engine, settings, T0)
    assert [e.title for e in _entries(project)] == [
        "A Migrant Caravan Breaks Through Police Blockade in Mexico. Let Them All In"]


def _many_parts(project: Project) -> None:
    """Enough seeds (each with an author of its own) for the process pools, and 2 workers."""
    original = (project.seeds / CARAVAN).read_text()
    for n in range(pipeline.PARALLEL_THRESHOLD + 20):
        text = original.replace("Let Them All In\n", f"Let Them All In, part {n}\n", 1)
        text = text.replace("\nLeft Voice\n\nOctober 26, 2021", f"\nWriter {n}\n\nOctober 26, 2021", 1)
        (project.seeds / f"part_{n:04d}.txt").write_text(text)
    project.write_config("\n[feeds]\nworkers = 2\n")


def test_many_seeds_go_through_the_worker_pools(project: Project) -> None:
    """Enough seeds and feeds to use the process pools: the same records as one process."""
    _many_parts(project)
    settings, engine = _open(project)
    report = pipeline.ingest(engine, settings, T0)
    assert (len(report.new), report.failed) == (pipeline.PARALLEL_THRESHOLD + 22, [])
    feeds = pipeline.build_feeds(engine, settings, T0)
    # site and category feed: 50 live entries and 372 in 4 archive pages each; 421 authors
    assert len(feeds.written) == 3 * (1 + 1 + 1 + pipeline.PARALLEL_THRESHOLD + 20 + 2 * 4) + 4
    with engine.begin() as conn:
        stored = article_store.list_articles(conn, settings.site_record.timezone)
    assert len({a.slug for a in stored}) == len(stored)
    author = feedparser.parse((project.feeds / "authors/writer-7/atom.xml").read_bytes())
    assert [e.title for e in author.entries] == [
        "A Migrant Caravan Breaks Through Police Blockade in Mexico. Let Them All In, part 7"]
    assert author.entries[0].author == "Writer 7"


def test_a_build_parses_and_writes_feeds_with_one_set_of_worker_processes(
        project: Project, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Started to parse (before the ingest fills the main process), the same workers then
    write the feeds, and are gone when the build returns."""
    import concurrent.futures

    _many_parts(project)
    settings, engine = _open(project)
    pools: list[concurrent.futures.ProcessPoolExecutor] = []

    class Counted(concurrent.futures.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            pools.append(self)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Counted)
    report = pipeline.build(engine, settings, T0)
    assert (len(report.ingest.new), report.ingest.failed) == (pipeline.PARALLEL_THRESHOLD + 22, [])
    assert report.feeds is not None
    assert len(report.feeds.written) > 3 * pipeline.FEED_PARALLEL_THRESHOLD  # the workers' path
    assert len(pools) == 1
    assert pools[0]._shutdown_thread and not pools[0]._processes  # shut down, none left


def test_the_seeds_to_parse_are_read_ahead_of_the_workers_once_each_in_order(
        project: Project, advised_files: list[str]) -> None:
    """A cold ingest asks the kernel for the seeds before the workers open them (one small
    read at a time left them waiting a third of a 100,000-seed ingest); a seed parsed again
    later is read ahead again, one unchanged is not."""
    _many_parts(project)
    advised = advised_files
    settings, engine = _open(project)
    report = pipeline.ingest(engine, settings, T0)
    assert len(report.new) == pipeline.PARALLEL_THRESHOLD + 22
    assert advised == sorted(path.name for path in project.seeds.iterdir())
    assert "seed-readahead" not in {t.name for t in threading.enumerate()}  # stopped
    advised.clear()
    for n in range(pipeline.PARALLEL_THRESHOLD + 5):  # changed: parsed (and read ahead) again
        path = project.seeds / f"part_{n:04d}.txt"
        path.write_text(path.read_text().replace("Let Them All In,", "Let Them In,", 1))
    report = pipeline.ingest(engine, settings, T0 + timedelta(hours=1))
    assert len(report.updated) == pipeline.PARALLEL_THRESHOLD + 5
    assert advised == [f"part_{n:04d}.txt" for n in range(pipeline.PARALLEL_THRESHOLD + 5)]


def test_the_workers_run_at_a_lower_priority_than_the_build_that_stores_what_they_parse(
        project: Project) -> None:
    """The main process stores what the workers parse: with the processor shared fairly among
    the three it fell behind and finished the ingest alone. The workers are niced instead."""
    import os

    settings, _ = _open(project)
    own = os.nice(0)
    with pipeline.Workers(settings) as workers:
        niceness = {workers.executor().submit(os.nice, 0).result() for _ in range(8)}
    assert niceness == {min(19, own + pipeline.WORKER_NICENESS)}
    assert os.nice(0) == own  # this process keeps its own


def test_the_parsing_workers_hand_their_results_over_through_a_1_mb_pipe(project: Project) -> None:
    """A chunk of parsed seeds (~900 KB) goes into the pipe in one write, rather than 64 KB at
    a time as this process reads them."""
    import fcntl

    settings, _ = _open(project)
    allowed = int(Path("/proc/sys/fs/pipe-max-size").read_text())
    with pipeline.Workers(settings) as workers:
        reader = workers.executor()._result_queue._reader  # type: ignore[attr-defined]
        size = fcntl.fcntl(reader.fileno(), fcntl.F_GETPIPE_SZ)  # type: ignore[attr-defined]
    assert pipeline.RESULT_PIPE_BYTES == 1 << 20
    assert size == (pipeline.RESULT_PIPE_BYTES if allowed >= pipeline.RESULT_PIPE_BYTES else 65536)


def test_the_rows_parsing_workers_send_are_the_rows_of_the_articles_identify_makes(
        tmp_path: Path) -> None:
    """What a worker sends back (`ContentRow`, plain text) plus `assign_identity` is stored as
    exactly the row `identify`'s Article is: every fixture seed, new and then corrected (a
    known article, moved to another file, its page undated or not)."""
    from publisher import readers
    from publisher.errors import SeedError
    from publisher.store import open_database

    project = Project(tmp_path)
    project.write_config()
    settings = load_settings(project.config, environ={})
    site = settings.site_record
    contents = []
    for path in sorted(FIXTURE_SEEDS.iterdir()):
        try:
            contents.append(readers.read_seed(path, FIXTURE_SEEDS, site, 10**7))
        except SeedError:
            continue
    assert len(contents) > 25 and any(c.published is None for c in contents)
    stores = [open_database(tmp_path / f"{name}.db") for name in ("rows", "articles")]
    later = T0 + timedelta(days=3)
    for now, known in ((T0, False), (later, True)):
        taken_rows: dict[str, str] = {}
        taken_articles: dict[str, str] = {}
        rows, articles = [], []
        for content in contents:
            identity = None
            if known:  # as stored by the first pass: corrected, moved to another file
                with stores[0].begin() as conn:
                    identity = article_store.identities_by_source(conn)[content.source]
                content = replace(content, source=f"moved/{content.source}",
                                  content_hash="0" * 64)
            row = article_store.ContentRow.of(content)
            rows.append(article_store.article_row(row, *pipeline.assign_identity(
                row, identity, taken_rows, site, now)))
            articles.append(pipeline.identify(content, identity, taken_articles, site, now))
        with stores[0].begin() as conn:
            (article_store.update_rows if known else article_store.insert_rows)(conn, rows)
        with stores[1].begin() as conn:
            (article_store.update_articles if known else article_store.insert_articles)(
                conn, articles)
        tables = []
        for store in stores:
            with store.begin() as conn:
                tables.append(conn.execute("SELECT * FROM articles ORDER BY id").all())
        assert len(tables[0]) == len(contents) and tables[0] == tables[1]
    assert {r[1] for r in tables[0]} == {f"moved/{c.source}" for c in contents}


def test_json_columns_hold_what_json_dumps_gives() -> None:
    import json
    from datetime import date

    from publisher.model import Teaser

    tricky = ['Quote "q" \\ back', "Ünïcödé – “curly” ✊", "tab\tnew\nline\x01", ""]
    teasers = (
        Teaser(tricky[0], tricky[1], (tricky[2], "B"), date(2021, 10, 25), tricky[1]),
        Teaser("No date", "", (), None, ""),
    )
    expected = json.dumps([
        {"title": t.title, "summary": t.summary, "authors": list(t.authors),
         "published": t.published.isoformat() if t.published else None,
         "image_description": t.image_description} for t in teasers])
    assert article_store.related_json(teasers) == expected
    assert article_store.related_json(()) == "[]"
    assert json.loads(expected)[0]["authors"] == [tricky[2], "B"]
    for names in ((), ("Ana",), tuple(tricky)):
        assert article_store._json_names(names) == json.dumps(list(names))


def test_opml_date_is_the_newest_entry_date(project: Project) -> None:
    from email.utils import parsedate_to_datetime

    from lxml import etree

    settings, engine = _open(project)
    pipeline.ingest(engine, settings, T0)
    pipeline.build_feeds(engine, settings, T0)
    for name in ("index.opml", "index-rss.opml", "index-json.opml"):
        opml = etree.fromstring((project.feeds / name).read_bytes())
        created = parsedate_to_datetime(opml.findtext("head/dateCreated"))
        assert created.isoformat() == "2021-10-26T00:00:00-04:00", name  # the caravan article

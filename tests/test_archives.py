"""Full history (RFC 5005): live documents stay small, archive pages hold every older entry.

The articles go straight into a real SQLite store (parsing 10,000 seeds would test the readers,
not the archive); the feeds are built by the pipeline and read back from feeds/ with lxml and
feedparser, following the links a reader would follow.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from publisher import feedplan, pipeline
from publisher.config import load_settings
from publisher.model import Article, tag_uri
from publisher.store import articles as article_store
from publisher.store import open_database
from publisher.store.articles import FeedIndexRow

from conftest import Project

HERE = Path(__file__).parent
ATOM_RNG = HERE / "schemas" / "atom.rng"
FEEDS_URL = "https://www.leftvoice.org/feeds"
NS = {"a": "http://www.w3.org/2005/Atom", "fh": "http://purl.org/syndication/history/1.0"}
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
CATEGORIES = ["Labor", "Europe", "Ideas", "Housing", "Culture"]
AUTHORS = [f"Writer {n}" for n in range(12)]


def article(n: int, first_seen: datetime, published: datetime | None = None) -> Article:
    published = published or datetime(2015, 1, 1, tzinfo=timezone.utc) + timedelta(hours=7 * n)
    slug = f"story-{n}"
    site_url = "https://www.leftvoice.org"
    from publisher.model import Site

    site = Site("Left Voice", site_url, timezone.utc)
    return Article(
        id=slug, slug=slug, url=f"{site_url}/{slug}/", guid=tag_uri(site, published.date(), slug),
        title=f"Story {n}", summary=f"Summary of story {n}.",
        authors=(AUTHORS[n % len(AUTHORS)],), published=published, updated=published,
        category=CATEGORIES[n % len(CATEGORIES)], credit="", translation_note="",
        body_html=f"<p>Body {n}.</p>", related=(), source=f"{slug}.txt",
        content_hash=f"{n:064d}", first_seen=first_seen,
    )


class Store:
    """A project whose store is filled directly, built by `pipeline.build_feeds`."""

    def __init__(self, project: Project, **feeds: int) -> None:
        extra = "".join(f"{k} = {v}\n" for k, v in feeds.items())
        project.write_config(f"\n[feeds]\n{extra}")
        self.project = project
        self.settings = load_settings(project.config, environ={})
        self.engine = open_database(self.settings.database_path)

    def add(self, articles: list[Article]) -> None:
        with self.engine.begin() as conn:
            article_store.insert_articles(conn, articles)

    def remove(self, article_id: str, when: datetime) -> None:
        with self.engine.begin() as conn:
            assert article_store.mark_deleted(conn, [f"{article_id}.txt"], when) == 1

    def build(self, when: datetime = T0) -> pipeline.FeedReport:
        return pipeline.build_feeds(self.engine, self.settings, when)

    def live_guids(self) -> set[str]:
        with self.engine.begin() as conn:
            return {a.guid for a in article_store.list_articles(conn, timezone.utc)}

    def path_of(self, url: str) -> Path:
        assert url.startswith(FEEDS_URL + "/"), url
        return self.project.feeds / url[len(FEEDS_URL) + 1:]


def follow_xml(store: Store, start: str) -> tuple[list[str], list[str]]:
    """(entry ids, document urls) from the live document back along prev-archive."""
    ids, docs, url = [], [], f"{FEEDS_URL}/{start}"
    while url:
        assert url not in docs, f"loop at {url}"
        docs.append(url)
        root = etree.parse(str(store.path_of(url))).getroot()
        if root.tag == "rss":
            channel = root.find("channel")
            ids += channel.xpath("item/guid/text()")
            prev = channel.xpath("a:link[@rel='prev-archive']/@href", namespaces=NS)
        else:
            ids += root.xpath("a:entry/a:id/text()", namespaces=NS)
            prev = root.xpath("a:link[@rel='prev-archive']/@href", namespaces=NS)
        assert len(prev) <= 1
        url = prev[0] if prev else ""
    return ids, docs


def follow_json(store: Store, start: str) -> tuple[list[str], list[str]]:
    ids, docs, url = [], [], f"{FEEDS_URL}/{start}"
    while url:
        assert url not in docs, f"loop at {url}"
        docs.append(url)
        doc = json.loads(store.path_of(url).read_text(encoding="utf-8"))
        assert doc["feed_url"] == f"{FEEDS_URL}/{start}"
        ids += [item["id"] for item in doc["items"]]
        url = doc.get("next_url", "")
    return ids, docs


# --- 10,000 articles: every one exactly once, following the links --------------------------


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Store:
    project = Project(tmp_path_factory.mktemp("archives"))
    project.seeds.mkdir()
    store = Store(project, max_entries=50, archive_page_size=100, workers=2)
    # Added in three batches, each first seen later; dates interleave across the batches.
    for batch in range(3):
        when = T0 + timedelta(days=batch)
        store.add([article(n, when) for n in range(batch, 10_000, 3)])
    store.build()
    return store


@pytest.mark.parametrize("start", ["atom.xml", "rss.xml"])
def test_following_prev_archive_from_the_live_feed_gives_every_article_once(
    big: Store, start: str
) -> None:
    ids, docs = follow_xml(big, start)
    assert len(ids) == len(set(ids)) == 10_000
    assert set(ids) == big.live_guids()
    assert len(docs) == 1 + 100  # the live document and 9,950 entries in pages of 100
    first = etree.parse(str(big.path_of(docs[0]))).getroot()
    assert len(first.xpath("//a:entry | //item", namespaces=NS)) == 50


def test_following_next_url_from_the_live_json_feed_gives_every_article_once(big: Store) -> None:
    ids, docs = follow_json(big, "feed.json")
    assert len(ids) == len(set(ids)) == 10_000
    assert set(ids) == big.live_guids()
    assert len(docs) == 101


@pytest.mark.parametrize("family", ["categories/labor", "authors/writer-7"])
def test_category_and_author_feeds_have_their_own_full_history(big: Store, family: str) -> None:
    with big.engine.begin() as conn:
        stored = article_store.list_articles(conn, timezone.utc)
    expected = {a.guid for a in stored
                if f"categories/{a.category.lower()}" == family
                or f"authors/{a.authors[0].lower().replace(' ', '-')}" == family}
    for start in ("atom.xml", "rss.xml", "feed.json"):
        follow = follow_json if start == "feed.json" else follow_xml
        ids, _ = follow(big, f"{family}/{start}")
        assert len(ids) == len(set(ids)) and set(ids) == expected, start


def test_archive_pages_link_both_ways_and_back_to_the_live_feed(big: Store) -> None:
    ids, docs = follow_xml(big, "atom.xml")
    pages = docs[1:][::-1]  # oldest first
    assert pages[0] == f"{FEEDS_URL}/archive/1/atom.xml"
    assert pages[-1] == f"{FEEDS_URL}/archive/100/atom.xml"
    for n, url in enumerate(pages, 1):
        root = etree.parse(str(big.path_of(url))).getroot()
        assert root.find("fh:archive", NS) is not None
        links = {link.get("rel"): link.get("href") for link in root.iterfind("a:link", NS)}
        assert links["self"] == url
        assert links["current"] == f"{FEEDS_URL}/atom.xml"
        assert links.get("prev-archive") == (pages[n - 2] if n > 1 else None)
        assert links.get("next-archive") == (pages[n] if n < len(pages) else None)
    live = etree.parse(str(big.project.feeds / "atom.xml")).getroot()
    assert live.find("fh:archive", NS) is None


def test_pages_are_cut_in_the_order_articles_were_added(big: Store) -> None:
    """Oldest-added first: page 1 starts with the first batch's oldest story."""
    page1 = etree.parse(str(big.project.feeds / "archive/1/atom.xml")).getroot()
    titles = page1.xpath("a:entry/a:title/text()", namespaces=NS)
    assert len(titles) == 100
    assert titles[-1] == "Story 0" and titles[0] == "Story 297"  # newest first within a page
    live = etree.parse(str(big.project.feeds / "atom.xml")).getroot()
    assert live.xpath("a:entry/a:title/text()", namespaces=NS)[0] == "Story 9998"


# --- every document passes the checks readers apply -----------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Store:
    project = Project(tmp_path_factory.mktemp("small-archives"))
    project.seeds.mkdir()
    store = Store(project, max_entries=5, archive_page_size=4)
    store.add([article(n, T0) for n in range(23)])  # 18 archived: pages of 4, 4, 4, 4, 2
    store.build()
    return store


def all_documents(store: Store) -> list[Path]:
    return sorted(p for p in store.project.feeds.rglob("*") if p.name in ("atom.xml", "rss.xml"))


def test_every_live_and_archive_document_is_valid(small: Store) -> None:
    schema = etree.RelaxNG(etree.parse(str(ATOM_RNG)))
    docs = all_documents(small)
    assert any("/archive/" in str(p) for p in docs) and any("/authors/" in str(p) for p in docs)
    for path in docs:
        parsed = feedparser.parse(path.read_bytes())
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
        if path.name == "atom.xml":
            assert schema.validate(etree.parse(str(path))), (path, schema.error_log)
    for path in small.project.feeds.rglob("feed.json"):
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert doc["version"] == "https://jsonfeed.org/version/1.1"
        assert doc.get("next_url") != doc["feed_url"]


def test_small_feed_pages(small: Store) -> None:
    ids, docs = follow_xml(small, "atom.xml")
    assert [d.removeprefix(FEEDS_URL) for d in docs] == [
        "/atom.xml", "/archive/5/atom.xml", "/archive/4/atom.xml", "/archive/3/atom.xml",
        "/archive/2/atom.xml", "/archive/1/atom.xml"]
    assert len(ids) == len(set(ids)) == 23
    rss = feedparser.parse((small.project.feeds / "archive/2/rss.xml").read_bytes())
    rels = {link.rel: link.href for link in rss.feed.links}
    assert rels["prev-archive"] == f"{FEEDS_URL}/archive/1/rss.xml"
    assert rels["next-archive"] == f"{FEEDS_URL}/archive/3/rss.xml"
    assert rels["current"] == f"{FEEDS_URL}/rss.xml"


# --- stability: what a rebuild rewrites ------------------------------------------------------


def test_rebuilds_write_only_what_changed(tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.seeds.mkdir()
    store = Store(project, max_entries=10, archive_page_size=20)
    store.add([article(n, T0) for n in range(200)])  # 190 archived: pages 1-9 full, 10 half
    store.build()
    pages = {p.relative_to(project.feeds).as_posix(): p.stat().st_mtime_ns
             for p in project.feeds.rglob("*") if p.is_file()}

    again = store.build(T0 + timedelta(hours=1))
    assert again.written == [] and again.removed == []
    assert {p: (project.feeds / p).stat().st_mtime_ns for p in pages} == pages

    # One new article: the live documents and the newest page of each feed it is in, no more.
    store.add([article(200, T0 + timedelta(days=1), published=T0)])
    one_new = store.build(T0 + timedelta(days=1))
    changed_folders = {path.rsplit("/", 1)[0] if "/" in path else "" for path in one_new.written}
    # story 200 is in Labor (40 before: 30 archived, page 2 half full) and by Writer 8 (16
    # before: 6 archived on page 1); the site feed had 190 archived, page 10 half full.
    assert changed_folders == {"", "archive/10", "categories/labor", "categories/labor/archive/2",
                               "authors/writer-8", "authors/writer-8/archive/1"}
    assert {"index.opml", "index-rss.opml", "index-json.opml"} <= set(one_new.written)

    # An old article removed: only the page it was on, in each of its feeds.
    store.remove("story-3", T0 + timedelta(days=2))
    removal = store.build(T0 + timedelta(days=2))
    assert sorted({p.rsplit("/", 1)[0] for p in removal.written}) == [
        "archive/1", "authors/writer-3/archive/1", "categories/housing/archive/1"]
    assert removal.removed == []
    ids, _ = follow_xml(store, "atom.xml")
    assert len(ids) == len(set(ids)) == 200 and set(ids) == store.live_guids()


def test_a_page_that_fills_gets_its_next_link_once_and_never_changes_again(
    tmp_path: Path
) -> None:
    project = Project(tmp_path)
    project.seeds.mkdir()
    store = Store(project, max_entries=2, archive_page_size=3)
    store.add([article(n, T0) for n in range(4)])  # 2 archived: page 1 holds 2 of 3 places
    store.build()
    assert not (project.feeds / "archive/2").exists()
    store.add([article(4, T0 + timedelta(days=1))])  # page 1 full: page 2 starts, empty
    filled = store.build(T0 + timedelta(days=1))
    assert {"archive/1/atom.xml", "archive/2/atom.xml"} <= set(filled.written)
    page1 = (project.feeds / "archive/1/atom.xml").read_bytes()
    assert f'href="{FEEDS_URL}/archive/2/atom.xml" rel="next-archive"'.encode() in page1
    page2 = etree.parse(str(project.feeds / "archive/2/atom.xml")).getroot()
    assert page2.findall("a:entry", NS) == []
    for n in range(5, 9):
        store.add([article(n, T0 + timedelta(days=n))])
        written = store.build(T0 + timedelta(days=n)).written
        assert not any(p.startswith("archive/1/") for p in written), (n, written)
    assert (project.feeds / "archive/1/atom.xml").read_bytes() == page1
    ids, _ = follow_xml(store, "atom.xml")
    assert sorted(ids) == sorted(store.live_guids())


def test_pages_left_empty_at_the_newest_end_are_removed(tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.seeds.mkdir()
    store = Store(project, max_entries=2, archive_page_size=2)
    store.add([article(n, T0) for n in range(5)])  # 3 archived: page 1 full, page 2 half
    store.build()
    assert (project.feeds / "archive/2/atom.xml").exists()
    for n in (4, 3, 2):  # the live ones go; the archived ones move up into the live feed
        store.remove(f"story-{n}", T0 + timedelta(hours=n))
    report = store.build(T0 + timedelta(days=1))
    assert "archive/2" in report.removed
    assert not (project.feeds / "archive/2").exists()
    ids, docs = follow_xml(store, "atom.xml")
    assert sorted(ids) == sorted(store.live_guids()) and len(ids) == 2
    assert len(docs) == 1  # what is left fits the live document


# --- the plan itself --------------------------------------------------------------------------


def rows(n: int, deleted: set[int] = frozenset()) -> list[FeedIndexRow]:  # type: ignore[assignment]
    """n rows newest first, as feed_log gives them: row k was added k-th."""
    return [FeedIndexRow.of(f"a{k}", "", (), "h", "u", k in deleted) for k in range(n - 1, -1, -1)]


def plan(n: int, max_entries: int, page_size: int, deleted: set[int] = frozenset()):  # type: ignore[no-untyped-def,assignment]
    from publisher.model import Site

    site = Site("S", "https://s.example", timezone.utc)
    ((_spec, docs, _tail),) = feedplan.plan_feeds(rows(n, deleted), site, FEEDS_URL,
                                           max_entries=max_entries, page_size=page_size)
    return [(d.links.page, d.links.pages, [int(i[1:]) for i in d.ids]) for d in docs]


def test_plan_small_feed_has_no_archive() -> None:
    assert plan(3, 5, 2) == [(0, 0, [2, 1, 0])]
    assert plan(5, 5, 2) == [(0, 0, [4, 3, 2, 1, 0])]


def test_plan_cuts_pages_from_the_oldest() -> None:
    assert plan(10, 3, 3) == [
        (0, 3, [9, 8, 7]), (1, 3, [2, 1, 0]), (2, 3, [5, 4, 3]), (3, 3, [6])]
    # A full newest page is followed by an empty one, so it never needs a new link later.
    assert plan(9, 3, 3) == [(0, 3, [8, 7, 6]), (1, 3, [2, 1, 0]), (2, 3, [5, 4, 3]), (3, 3, [])]


def test_plan_a_removed_article_leaves_a_gap() -> None:
    assert plan(10, 3, 3, deleted={4}) == [
        (0, 3, [9, 8, 7]), (1, 3, [2, 1, 0]), (2, 3, [5, 3]), (3, 3, [6])]
    # removed from the live end: the newest archived entry moves up into the live document
    assert plan(10, 3, 3, deleted={9}) == [
        (0, 3, [8, 7, 6]), (1, 3, [2, 1, 0]), (2, 3, [5, 4, 3]), (3, 3, [])]


def test_plan_fingerprints_of_full_pages_do_not_move_when_articles_are_added() -> None:
    from publisher.model import Site

    site = Site("S", "https://s.example", timezone.utc)

    def prints(n: int) -> dict[str, str]:
        ((_spec, docs, _tail),) = feedplan.plan_feeds(rows(n), site, FEEDS_URL, max_entries=3,
                                                      page_size=3)
        return {d.folder: d.fingerprint for d in docs}

    before, after = prints(10), prints(11)
    assert {k for k in after if before.get(k) != after[k]} == {"", "archive/3"}
    before, after = prints(11), prints(12)  # page 3 fills: page 4 starts
    assert {k for k in after if before.get(k) != after[k]} == {"", "archive/3", "archive/4"}


def test_extending_a_plan_with_added_articles_plans_what_a_whole_plan_plans() -> None:
    extended = sum(_extend_and_compare(seed) for seed in range(60))
    assert extended >= 60  # of the 240 passes: most start no new feed
def _extend_and_compare(seed: int) -> int:
    """`extend_plan` (a pass that only added articles) against `plan_feeds` of the whole log:
    the documents it plans again are the whole plan's, the ones it leaves have the prints they
    had, and nothing else exists; its tails are the whole plan's tails."""
    import random

    from publisher.model import Site

    rng = random.Random(seed)
    site = Site("S", "https://s.example", timezone.utc)
    names = ["Ana", "Ben", "Cy"]

    def row(k: int, deleted: bool = False) -> FeedIndexRow:
        return FeedIndexRow.of(f"a{k}", rng.choice(["", "Labor", "Politics"]),
                               tuple(rng.sample(names, rng.choice((0, 1, 1, 2)))),
                               f"h{k}", f"u{k}", deleted)

    max_entries, page_size = rng.randint(1, 5), rng.randint(1, 6)
    log: list[FeedIndexRow] = []  # newest first
    extended_some = 0
    for _ in range(4):  # a few passes, each only adding articles
        settings = {"max_entries": max_entries, "page_size": page_size}
        before = feedplan.plan_feeds(log, site, FEEDS_URL, **settings)
        added = [row(len(log) + k, deleted=False) for k in range(rng.randint(0, 7))][::-1]
        if rng.random() < 0.5 and log:  # removals happen in other passes, before this one
            gone = rng.randrange(len(log))
            log[gone] = log[gone]._replace(deleted=True)
            before = feedplan.plan_feeds(log, site, FEEDS_URL, **settings)
        log = added + log
        whole = feedplan.plan_feeds(log, site, FEEDS_URL, **settings)
        by_id = {r.id: r for r in log}
        asked = []
        extended = feedplan.extend_plan([p.tail for p in before], added,
                                        lambda ids: asked.append(ids) or [by_id[i] for i in ids],
                                        site, FEEDS_URL, **settings)
        assert len(asked) <= 1
        if {(p.spec.kind, p.spec.slug) for p in whole} != {(p.spec.kind, p.spec.slug)
                                                            for p in before}:
            assert extended is None  # a new feed (or one back): planned whole
            continue
        assert extended is not None
        old_prints = {d.folder: d.fingerprint for p in before for d in p.docs}
        whole_prints = {d.folder: d.fingerprint for p in whole for d in p.docs}
        replanned = {d.folder: d.fingerprint for p in extended for d in p.docs}
        assert {f: whole_prints[f] for f in replanned} == replanned
        assert {**old_prints, **replanned} == whole_prints
        assert [p.spec for p in extended] == [p.spec for p in whole]
        assert [p.tail for p in extended] == [p.tail for p in whole]
        whole_docs = {d.folder: d for p in whole for d in p.docs}
        assert all(whole_docs[d.folder] == d for p in extended for d in p.docs)
        extended_some += 1
    return extended_some


def test_a_feed_worker_cleans_an_article_xml_cannot_carry(tmp_path: Path) -> None:
    """Workers keep only the entries of articles they rendered; a document holding an article
    with a character XML cannot carry is rendered again from whole articles, cleaned."""
    project = Project(tmp_path)
    project.seeds.mkdir()
    store = Store(project, max_entries=5, archive_page_size=5, workers=2)
    when = T0 - timedelta(days=30)
    arts = [article(n, when + timedelta(minutes=n)) for n in range(120)]
    arts[57] = replace(arts[57], title="Story\x0b 57", body_html="<p>Body\x0c 57.</p>")
    store.add(arts)
    report = store.build()
    assert len(report.written) > 3 * pipeline.FEED_PARALLEL_THRESHOLD  # the workers' path
    found: dict[str, str] = {}
    for path in sorted(project.feeds.rglob("atom.xml")):
        root = etree.parse(str(path)).getroot()
        for entry in root.iterfind("a:entry", NS):
            found.setdefault(entry.findtext("a:id", namespaces=NS), entry.findtext(
                "a:title", namespaces=NS))
    assert len(found) == 120
    assert found[arts[57].guid] == "Story 57"
    assert found[arts[3].guid] == "Story 3"


def test_a_feed_worker_renders_each_entry_once_and_forgets_what_no_later_document_needs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One worker's run of documents: every article is in its site, category and author
    documents, rendered once; an article is dropped as soon as the last of them is written,
    so the run ends holding nothing. With a cache smaller than the run needs, the files are
    the same bytes."""
    from publisher import feeds

    project = Project(tmp_path)
    project.seeds.mkdir()
    store = Store(project, max_entries=5, archive_page_size=10, workers=2)
    store.add([article(n, T0 - timedelta(days=30) + timedelta(minutes=n)) for n in range(240)])
    settings, site = store.settings, store.settings.site_record
    with store.engine.begin() as conn:
        log = article_store.feed_log(conn)
    docs = [doc for feed in feedplan.plan_feeds(
        log, site, settings.feeds_url, max_entries=5, page_size=10, hubs=[]) for doc in feed.docs]
    rendered: list[str] = []
    entry = feeds._entry
    monkeypatch.setattr(feeds, "_entry", lambda a, s: rendered.append(a.id) or entry(a, s))
    monkeypatch.setattr(pipeline._WorkerState, "database", (settings.database_path, ""))
    outputs = {}
    for cache, folder in ((10_000, tmp_path / "whole"), (30, tmp_path / "small")):
        monkeypatch.setattr(pipeline, "WORKER_CACHE", cache)
        monkeypatch.setattr(pipeline._WorkerState, "articles", {})
        monkeypatch.setattr(pipeline._WorkerState, "entries", {})
        rendered.clear()
        written, unchanged = pipeline._write_feed_task((docs, site, settings.feeds_url, folder))
        assert unchanged == 0 and len(written) == 3 * len(docs)
        if cache == 10_000:
            assert sorted(rendered) == sorted(f"story-{n}" for n in range(240))  # each once
        else:
            assert len(rendered) > 240
        assert pipeline._WorkerState.articles == {} and pipeline._WorkerState.entries == {}
        outputs[cache] = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*.*")}
    assert len(outputs[30]) == 3 * len(docs) and outputs[30] == outputs[10_000]


def test_feed_runs_keep_the_documents_in_order_and_shrink_so_the_workers_finish_together() -> None:
    """The documents are cut into runs of consecutive ones (articles shared by neighbours stay
    one worker's), `n` per share of RUN_SHARES for `n` workers, largest first: the last runs
    are small, so whichever worker is free takes them and neither waits long for the other."""
    class Doc:  # all `_runs` looks at
        def __init__(self, n: int) -> None:
            self.ids = [f"a{n}-{k}" for k in range(9)]

    docs = [Doc(n) for n in range(1000)]
    runs = pipeline._runs(docs, 2)  # type: ignore[arg-type]
    assert [doc for run in runs for doc in run] == docs  # every one once, in order
    assert [len(run) for run in runs] == [350, 350, 100, 100, 35, 35, 15, 15]
    four = pipeline._runs(docs, 4)  # type: ignore[arg-type]
    assert len(four) == 16 and [doc for run in four for doc in run] == docs
    assert [len(run) for run in four[:4]] == [175] * 4 and [len(run) for run in four[-4:]] == [8, 7, 8, 7]
    assert pipeline._runs(docs[:1], 2) == [docs[:1], [], [], [], [], [], [], []]  # type: ignore[arg-type]

"""The verbs: ingest seeds into the store, build the feeds. Stages are wired here and only here."""

from __future__ import annotations

import gc
import logging
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator, Sequence

from .store import Database

from . import feedplan, orphans, websub
from .config import Settings
from .errors import NotAnArticle, SeedError
from .feeds import ARCHIVE_FOLDER, FORMATS, render_files, render_opml_files
from .fsutil import make_folder, write_atomic
from .model import Article, FeedSpec, Site, slugify, tag_uri
from .readers import read_seed
from .seedfiles import SeedFile, scan_seed_files
from .store import articles as article_store
from .store import open_database
from .store.articles import ArticleRow
from .store.db import parse_utc, utc_text

Progress = Callable[[int], None]
_websub_log = logging.getLogger("publisher.websub")
_websub_log.addHandler(logging.NullHandler())  # the CLI prints the lines itself
STORE_BATCH = 1000  # parsed seeds written per transaction (fewer towards the end: see ingest)
PARALLEL_THRESHOLD = 400  # below this many seeds to parse, a process pool costs more than it saves
FEED_PARALLEL_THRESHOLD = 40  # the same for feed families to render
FEED_TASK = 8  # feed documents per task handed to a worker
WORKER_CACHE = 4000  # articles a feed worker keeps loaded between tasks, at most


@dataclass
class IngestReport:
    new: list[str] = field(default_factory=list)  # article ids
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    deleted: int = 0
    skipped: list[SeedError] = field(default_factory=list)  # pages that are not articles
    failed: list[SeedError] = field(default_factory=list)
    to_parse: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.new or self.updated or self.deleted)


@dataclass
class FeedReport:
    written: list[str] = field(default_factory=list)  # paths relative to feeds/
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    pings: list[websub.PingResult] = field(default_factory=list)  # one per WebSub hub


def ingest(
    engine: Database, settings: Settings, now: datetime, progress: Progress | None = None,
    on_plan: Callable[[int], None] | None = None, *,
    settled: Callable[[str, int, int], bool] | None = None,
    scanned: tuple[list[SeedFile], list[SeedError]] | None = None,
) -> IngestReport:
    """Read new and changed seeds into the store; forget deleted ones. One bad seed stops nothing.

    `settled(source, size, mtime_ns)`: when given, a new or changed seed is read only if it
    returns True; the others are left as they are (not read, not deleted) for a later pass.
    `scanned`: the result of `scan_seed_files` if the caller has just made it.
    """
    site = settings.site_record
    seeds_dir = settings.seeds_dir
    report = IngestReport()
    files, unreadable = scanned or scan_seed_files(seeds_dir)
    report.failed += unreadable
    with engine.begin() as conn:
        known = article_store.seed_states(conn)
        identities = article_store.identities_by_source(conn)
    todo = [
        f for f in files
        if not ((s := known.get(f.source)) and s.status == "ok" and s.size == f.size
                and s.mtime_ns == f.mtime_ns and f.source in identities
                and not identities[f.source].deleted)
    ]
    if settled is not None:
        todo = [f for f in todo if settled(f.source, f.size, f.mtime_ns)]
    todo.sort(key=lambda f: f.source)  # slug clashes resolve in source order, every time
    report.unchanged = len(files) - len(todo)
    report.to_parse = len(todo)
    if on_plan:
        on_plan(len(todo))
    taken = {identity.slug: source for source, identity in identities.items()}
    batch = _StoreBatch()
    # Results are stored in batches while the workers parse on, so the writes overlap the parsing.
    # Batches shrink towards the end: what is left to store once the last seed is parsed, with
    # every worker idle, is a short transaction.
    with closing(_parse_iter(todo, seeds_dir, site, settings)) as results:
        for done, (seed, result) in enumerate(zip(todo, results), 1):
            batch.add(seed, result, identities.get(seed.source), taken, site, now, report)
            if progress:
                progress(1)
            left = len(todo) - done
            if len(batch.states) >= min(STORE_BATCH, max(100, left // 4)):
                batch.flush(engine, now, report)
                batch = _StoreBatch()
    batch.flush(engine, now, report)

    present = {f.source for f in files}
    gone = [source for source in identities if source not in present]
    with engine.begin() as conn:
        report.deleted = article_store.mark_deleted(conn, gone, now)
        article_store.forget_seed_files(conn, [s for s in known if s not in present])
    return report


@dataclass
class _StoreBatch:
    """Parsed seeds waiting to be written to the store in one transaction."""

    states: list[article_store.SeedFileState] = field(default_factory=list)
    new: list[ArticleRow] = field(default_factory=list)
    corrected: list[ArticleRow] = field(default_factory=list)

    def add(
        self, seed: SeedFile, result: ArticleRow | SeedError,
        identity: article_store.StoredIdentity | None, taken: dict[str, str], site: Site,
        now: datetime, report: IngestReport,
    ) -> None:
        status, message = "ok", ""
        if isinstance(result, NotAnArticle):
            report.skipped.append(result)
            status, message = "skipped", result.reason
        elif isinstance(result, SeedError):
            report.failed.append(result)
            status, message = "failed", result.reason
        elif identity is None:
            self.new.append(_assign_identity(result, taken, site, now))
        elif identity.content_hash != result["content_hash"] or identity.deleted:
            self.corrected.append(_keep_identity(result, identity, site, now))
        else:
            report.unchanged += 1
        self.states.append(
            article_store.SeedFileState(seed.source, seed.size, seed.mtime_ns, status, message))

    def flush(self, engine: Database, now: datetime, report: IngestReport) -> None:
        if not self.states:
            return
        with engine.begin() as conn:
            article_store.insert_rows(conn, self.new)
            article_store.update_rows(conn, self.corrected)
            article_store.record_seed_states(conn, self.states, now)
        report.new += [str(row["id"]) for row in self.new]
        report.updated += [str(row["id"]) for row in self.corrected]


def build_feeds(
    engine: Database, settings: Settings, now: datetime
) -> FeedReport:
    """Write every feed document (live and archive pages) whose entries changed since the last
    build; remove feeds left empty and archive pages no longer planned."""
    site = settings.site_record
    feeds_dir = make_folder(settings.feeds_dir, "paths.feeds")
    report = FeedReport()
    with engine.begin() as conn:
        log = article_store.feed_log(conn)
        previous = article_store.feed_fingerprints(conn)
    planned = feedplan.plan_feeds(
        log, site, settings.feeds_url, max_entries=settings.feeds.max_entries,
        page_size=settings.feeds.archive_page_size, hubs=settings.feeds.websub_hubs)
    docs = [doc for _, family in planned for doc in family]
    prints = {doc.folder: doc.fingerprint for doc in docs}
    stale = [doc for doc in docs
             if previous.get(doc.folder) != doc.fingerprint
             or not _outputs_exist(feeds_dir, doc.folder)]
    workers = settings.feeds.workers or os.cpu_count() or 1
    if len(stale) < FEED_PARALLEL_THRESHOLD or workers == 1:
        with engine.begin() as conn:
            records = article_store.get_articles(
                conn, sorted({i for doc in stale for i in doc.ids}), site.timezone,
                with_related=False)
        results = [_render_feeds(stale, records, site, settings.feeds_url, feeds_dir)]
    else:
        # Small tasks, taken by whichever worker is free, keep both cores busy to the end; each
        # worker reads its articles from the store itself (cheaper than pickling them over).
        tasks = [(stale[k:k + FEED_TASK], site, settings.feeds_url, feeds_dir)
                 for k in range(0, len(stale), FEED_TASK)]
        with _worker_pool(workers, settings.database_path) as pool:
            results = list(pool.map(_write_feed_task, tasks))
    for written, unchanged in results:
        report.written += written
        report.unchanged += unchanged
    report.unchanged += len(FORMATS) * (len(docs) - len(stale))
    newest = max((row.updated for row in log if not row.deleted), default=None)  # UTC text
    opml_files = render_opml_files([spec for spec, _ in planned], site, settings.feeds_url,
                                   parse_utc(newest) if newest else None)
    for name, opml in opml_files.items():
        if write_atomic(feeds_dir / name, opml, durable=False):
            report.written.append(name)
        else:
            report.unchanged += 1
    report.removed = _remove_stale_feeds(feeds_dir, {spec.path for spec, _ in planned})
    report.removed += _remove_stale_pages(feeds_dir, previous, prints, report.removed)
    with engine.begin() as conn:
        article_store.record_feed_fingerprints(conn, prints, now)
    report.pings = _announce(settings, report.written)
    return report


def _announce(settings: Settings, written: list[str]) -> list[websub.PingResult]:
    """Tell the WebSub hubs of every live feed document this build rewrote (archive pages
    are not subscribed to); one log line per hub."""
    hubs = settings.feeds.websub_hubs
    changed = [f"{settings.feeds_url}/{path}" for path in written
               if path.rsplit("/", 1)[-1] in FORMATS and f"/{ARCHIVE_FOLDER}/" not in f"/{path}"]
    results = websub.ping_hubs(hubs, changed, timeout=settings.feeds.websub_timeout)
    for result in results:
        _websub_log.log(logging.INFO if result.ok else logging.WARNING, "%s", result.line())
    return results


def select_feeds(
    index: Sequence[article_store.FeedIndexRow], site: Site, max_entries: int
) -> list[tuple[FeedSpec, list[str]]]:
    """The site feed, then one per category, then one per author, each with its newest ids
    (`index` newest first, as `feed_index` gives it): every feed's live entries."""
    return [(spec, [row.id for row in rows if not row.deleted][:max_entries])
            for spec, rows in feedplan.group_feeds(index, site)]


def _outputs_exist(feeds_dir: Path, folder: str) -> bool:
    return all((feeds_dir / folder / name).is_file() for name in FORMATS)


def _remove_stale_pages(
    feeds_dir: Path, previous: dict[str, str], planned: dict[str, str], removed: list[str]
) -> list[str]:
    """Archive pages the last build wrote that are no longer planned (all their places
    emptied at the newest end), unless their whole feed went already."""
    gone = []
    for folder in sorted(set(previous) - set(planned)):
        if f"/{ARCHIVE_FOLDER}/" not in f"/{folder}" or any(
                folder.startswith(f"{feed}/") for feed in removed):
            continue
        shutil.rmtree(feeds_dir / folder, ignore_errors=True)
        gone.append(folder)
    return gone


def _remove_stale_feeds(feeds_dir: Path, live: set[str]) -> list[str]:
    removed = []
    for family in ("categories", "authors"):
        parent = feeds_dir / family
        if not parent.is_dir():
            continue
        for folder in sorted(parent.iterdir()):
            relative = f"{family}/{folder.name}"
            if folder.is_dir() and relative not in live:
                shutil.rmtree(folder)
                removed.append(relative)
    return removed


def _parse_iter(
    todo: Sequence[SeedFile], seeds_dir: Path, site: Site, settings: Settings,
) -> Iterator[ArticleRow | SeedError]:
    """Every seed read, in order, over a process pool when there are enough to pay for one."""
    # Paths travel as strings: a Path costs more to build and to pickle than reading it saves.
    jobs = [(f.path, seeds_dir, site, settings.feeds.max_seed_bytes) for f in todo]
    workers = settings.feeds.workers or os.cpu_count() or 1
    if len(jobs) < PARALLEL_THRESHOLD or workers == 1:
        yield from map(_parse_one, jobs)
        return
    with _worker_pool(workers) as pool:
        yield from pool.map(_parse_one, jobs, chunksize=max(1, min(64, len(jobs) // (4 * workers))))


def _worker_pool(workers: int, database: Path | None = None) -> ProcessPoolExecutor:
    """Processes for CPU-bound batch work (feed workers read articles from `database`)."""
    return ProcessPoolExecutor(max_workers=workers, initializer=_start_worker,
                               initargs=(database,))


class _WorkerState:
    """What a feed worker process keeps between its tasks."""

    database: Path | None = None
    articles: dict[str, Article] = {}  # loaded so far: a task often needs the same ones again


def _start_worker(database: Path | None) -> None:
    orphans.die_with_parent()  # a killed parent leaves no worker (nor its inherited lock) behind
    # The garbage collector is off: workers only build acyclic records and exit, and the
    # collector's passes over them cost more than 10%.
    gc.disable()
    _WorkerState.database = database
    _WorkerState.articles = {}


def _write_feed_task(
    task: tuple[list[feedplan.Document], Site, str, Path],
) -> tuple[list[str], int]:
    """In a worker process: load the task's articles not yet loaded, then render and write."""
    docs, site, feeds_url, feeds_dir = task
    loaded = _WorkerState.articles
    missing = sorted({i for doc in docs for i in doc.ids if i not in loaded})
    if len(loaded) + len(missing) > WORKER_CACHE:
        loaded.clear()  # archive pages share few articles: keep the memory bounded
        missing = sorted({i for doc in docs for i in doc.ids})
    if missing:
        assert _WorkerState.database is not None
        engine = open_database(_WorkerState.database)
        try:
            with engine.begin() as conn:
                loaded.update(article_store.get_articles(conn, missing, site.timezone,
                                                         with_related=False))
        finally:
            engine.dispose()
    return _render_feeds(docs, loaded, site, feeds_url, feeds_dir)


def _render_feeds(
    docs: Sequence[feedplan.Document], records: dict[str, Article], site: Site,
    feeds_url: str, feeds_dir: Path,
) -> tuple[list[str], int]:
    """Render and write each document's three files; (files written, files unchanged)."""
    written, unchanged = [], 0
    for doc in docs:
        full = replace(doc.spec, articles=tuple(records[i] for i in doc.ids))
        for name, data in render_files(full, site, feeds_url, doc.links).items():
            relative = f"{doc.folder}/{name}".lstrip("/")
            if write_atomic(feeds_dir / relative, data, durable=False):
                written.append(relative)
            else:
                unchanged += 1
    return written, unchanged


def _parse_one(job: tuple[str, Path, Site, int]) -> ArticleRow | SeedError:
    """Read one seed (in a worker process): the article as a store row, which pickles cheaply."""
    name, seeds_dir, site, max_bytes = job
    path = Path(name)
    try:
        return article_store.article_row(read_seed(path, seeds_dir, site, max_bytes))
    except SeedError as exc:
        return exc
    except Exception as exc:  # a reader bug must not stop the other seeds
        return SeedError(str(path), f"cannot parse: {type(exc).__name__}: {exc}")


def _assign_identity(
    row: ArticleRow, taken: dict[str, str], site: Site, now: datetime
) -> ArticleRow:
    """A new article's unique slug (`-2`, `-3`, … on a clash; `taken` is updated) and its
    permanent url and id."""
    source, base = str(row["source"]), str(row["slug"])
    slug, n = base, 1
    while taken.get(slug, source) != source:
        n += 1
        slug = f"{base}-{n}"
    taken[slug] = source
    row = {**row, "first_seen": utc_text(now)}
    if slug != base:
        day = parse_utc(str(row["published"])).astimezone(site.timezone).date()
        row.update(slug=slug, url=site.url(f"{slug}/"), guid=tag_uri(site, day, slug))
    return row


def _keep_identity(
    row: ArticleRow, identity: article_store.StoredIdentity, site: Site, now: datetime
) -> ArticleRow:
    """A corrected article keeps its id, slug, url and guid; only `updated` moves."""
    return {
        **row, "id": identity.id, "slug": identity.slug, "url": site.url(f"{identity.slug}/"),
        "guid": identity.guid, "first_seen": utc_text(identity.first_seen),
        "updated": max(utc_text(now), str(row["published"])),
    }

"""The verbs: ingest seeds into the store, build the feeds. Stages are wired here and only here."""

from __future__ import annotations

import gc
import logging
import os
import shutil
import threading
import time
from contextlib import AbstractContextManager, closing, nullcontext
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from heapq import heapify, heappop, heappush
from pathlib import Path
from typing import (TYPE_CHECKING, Callable, Generic, Iterable, Iterator, NamedTuple, Sequence,
                    TypeVar)

from .store import Database

from . import buildstamp, feedplan
from .config import Settings
from .errors import ConfigError, NotAnArticle, SeedError
from .fsutil import make_folder, write_atomic
from .model import DATE_FIRST_SEEN, SLUG_MAX, Article, FeedSpec, SeedContent, Site, short_id, tag_uri
from .seedfiles import Readahead, SeedFile, SeedFiles, scan_seed_files
from .store import articles as article_store
from .store import open_database
from .store import runs as run_store
from .store.db import Connection, parse_utc, utc_text

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    from .feeds import EntryMemo

    from . import websub

# The stages (readers, feeds: Markdown, feedgen, lxml) are imported where first used, so a
# build that finds nothing changed (the build stamp) costs none of their import time.

Progress = Callable[[int], None]
_websub_log = logging.getLogger("publisher.websub")
_websub_log.addHandler(logging.NullHandler())  # the CLI prints the lines itself
V = TypeVar("V")
PARTIAL_SCAN_LIMIT = 32  # seeds differing from the last complete build, for a partial scan
# Parsed seeds written per transaction (fewer towards the end: see ingest). Each transaction
# writes every index page its rows touch; at 100,000 articles 1,000 rows touched most pages of the
# four indexes in random order (id, slug, feed order, feed log), 5,000 rows share them.
STORE_BATCH = 5000
PARALLEL_THRESHOLD = 400  # below this many seeds to parse, a process pool costs more than it saves
FEED_PARALLEL_THRESHOLD = 40  # the same for feed families to render
FEED_TASK = 8  # feed documents per task handed to a worker
WORKER_CACHE = 5000  # articles a feed worker keeps (their entries, ~13 kB each), at most
UNDATED_NOTE = "no date line: published with the date it was first seen"


@dataclass
class SeedScan:
    """One look at the seeds folder, compared with the store: the pass's one change rule.

    A seed is unchanged when the store recorded it with the same size and mtime (and, if it
    was an article, the article is still live); any other seed is new or changed, and is
    taken once settled: untouched for `schedule.settle_seconds` by its mtime, or seen
    unchanged by our own scans that long (an mtime in the future, e.g. a skewed clock).
    """

    files: SeedFiles
    unreadable: list[SeedError]
    todo: list[SeedFile] = field(default_factory=list)  # new or changed, settled: to parse
    new: list[str] = field(default_factory=list)  # sources, of `todo`
    changed: list[str] = field(default_factory=list)
    settling: list[SeedFile] = field(default_factory=list)  # new or changed, not settled
    settle_at: datetime | None = None  # earliest moment a settling seed may be taken
    gone: list[str] = field(default_factory=list)  # sources of live articles without a file
    unchanged: int = 0
    missing: bool = False
    # The store's records the scan compared with, handed on to `ingest` (read once per pass).
    # All of them, or (`partial`, see `scan`) those of the seeds this pass concerns.
    known: dict[str, article_store.SeedFileState] = field(default_factory=dict, repr=False)
    identities: dict[str, article_store.StoredIdentity] = field(default_factory=dict, repr=False)
    partial: bool = False

    @property
    def deleted(self) -> list[str]:
        return self.gone

    @property
    def settling_sources(self) -> list[str]:
        return [f.source for f in self.settling]


@dataclass
class IngestReport:
    new: list[str] = field(default_factory=list)  # article ids
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    deleted: int = 0
    skipped: list[SeedError] = field(default_factory=list)  # pages that are not articles
    undated: list[SeedError] = field(default_factory=list)  # published, dated by first seen
    failed: list[SeedError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # seeds settling, the same page twice
    to_parse: int = 0
    settling: int = 0  # seeds left for a later pass
    refused: int = 0  # removals not made: more than feeds.max_removal_fraction of...
    live: int = 0  # ...the articles published before this pass

    @property
    def changed(self) -> bool:
        return bool(self.new or self.updated or self.deleted)

    @property
    def refusal(self) -> str:
        """One line saying why nothing was removed, or ''."""
        if not self.refused:
            return ""
        return (f"{self.refused} of {self.live} published articles have no seed file any more: "
                f"more than feeds.max_removal_fraction, so none was removed (check the seeds "
                f"folder; run with --prune to remove them)")

    @property
    def complete(self) -> bool:
        """Every seed taken and every removal made: the next pass may use the build stamp."""
        return not (self.settling or self.refused)


@dataclass
class FeedReport:
    written: list[str] = field(default_factory=list)  # paths relative to feeds/
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    pings: list[websub.PingResult] = field(default_factory=list)  # one per WebSub hub
    # every file below feeds/ after the build: relative path -> [size, mtime_ns] (the stamp's)
    outputs: dict[str, list[int]] = field(default_factory=dict, repr=False)
    plan: feedplan.PlanMemory | None = field(default=None, repr=False)  # kept for the next build


@dataclass
class BuildReport:
    """One pass of the one ingest path: scan, ingest, feeds."""

    scan: SeedScan
    ingest: IngestReport
    feeds: FeedReport | None = None
    fast: bool = False  # nothing changed since the last complete build: nothing was opened


class SeedsFolderMissing(ConfigError):
    """The seeds folder does not exist: nothing is read, removed or written."""


def settle_wait(settings: Settings) -> float:
    """How long a one-shot command waits for seeds still settling before leaving them."""
    return min(3 * settings.schedule.settle_seconds + 1, 30.0)


def check_seeds_folder(settings: Settings) -> None:
    if not settings.seeds_dir.is_dir():
        raise SeedsFolderMissing(
            f"{settings.seeds_dir}: seeds folder not found (paths.seeds); nothing was changed",
            "create it, or point paths.seeds at the folder of seed files")


def scan(
    engine: Database, settings: Settings, now: datetime,
    scanned: tuple[SeedFiles, list[SeedError]] | None = None,
    last: dict[str, tuple[int, int]] | None = None,
) -> SeedScan:
    """Scan the seeds folder (unless `scanned` is given) and sort every seed by the change rule;
    remember the seeds still settling, so a later scan can tell how long they were stable.

    `last`: the seeds the last complete build saw (`buildstamp.last_build`). The store holds
    each of them as that build left it, so when few differ now (PARTIAL_SCAN_LIMIT), only
    the records of those few are read (and of every seed that was not an article), not one
    per seed: `known` and `identities` then hold just those (`partial`)."""
    check_seeds_folder(settings)
    files, unreadable = scanned or scan_seed_files(settings.seeds_dir)
    settle = timedelta(seconds=settings.schedule.settle_seconds)
    look_at = files
    concern: list[str] | None = None
    present: set[str] | _SeedPaths | None = None
    if last is not None:  # only the seeds that differ from what the last complete build saw
        look_at = files.changed_since(last)
        missing: list[str] = []
        if len(files) != len(last) or look_at:
            present = set(files.sources())
            missing = sorted(last.keys() - present)
        concern = [f.source for f in look_at] + missing
        if len(concern) > PARTIAL_SCAN_LIMIT:
            look_at, concern = files, None
    with engine.begin() as conn:
        watched = run_store.watched_seeds(conn)
        if concern is not None:
            known = article_store.seed_states_of(conn, concern)
            copied = [s.message for s in known.values() if s.status == "duplicate"]
            identities = article_store.identities_of(conn, concern, copied)
        else:
            known = article_store.seed_states(conn)
            identities = article_store.identities_by_source(conn)
            if any(not i.page_hash for i in identities.values()):  # stored by an older version
                article_store.fill_page_hashes(conn)
                identities = article_store.identities_by_source(conn)
    result = SeedScan(files, unreadable, known=known, identities=identities,
                      partial=concern is not None, unchanged=len(files) - len(look_at))
    still: dict[str, run_store.Observation] = {}
    for f in look_at:
        state = known.get(f.source)
        if state is not None and state.size == f.size and state.mtime_ns == f.mtime_ns and (
                state.status != "ok" or ((i := identities.get(f.source)) and not i.deleted)):
            result.unchanged += 1
            continue
        seen = watched.get(f.source)
        seen_at = seen.seen_at if seen and (seen.size, seen.mtime_ns) == (f.size, f.mtime_ns) \
            else now
        modified = datetime.fromtimestamp(f.mtime_ns / 1e9, timezone.utc)
        if now - modified >= settle or now - seen_at >= settle:
            result.todo.append(f)
            (result.new if state is None else result.changed).append(f.source)
        else:
            result.settling.append(f)
            still[f.source] = run_store.Observation(f.size, f.mtime_ns, seen_at)
            ready = min(modified, seen_at) + settle
            result.settle_at = ready if result.settle_at is None else min(result.settle_at, ready)
    if present is None:  # (the identities of every seed gone are at hand)
        present = _SeedPaths(files) if result.partial else set(files.sources())
    result.gone = sorted(s for s, i in identities.items() if not i.deleted and s not in present)
    if still or watched:
        with engine.begin() as conn:
            run_store.replace_watched_seeds(conn, still)
    return result


def ingest(
    engine: Database, settings: Settings, now: datetime, progress: Progress | None = None,
    on_plan: Callable[[int], None] | None = None, *,
    seeds: SeedScan | None = None, prune: bool = False, workers: Workers | None = None,
) -> IngestReport:
    """Read new and changed seeds into the store; unpublish the ones whose file is gone.
    One bad seed stops nothing.

    `seeds`: this pass's `scan` (made here if not given). Seeds still settling are left for a
    later pass, with a note. Removals are refused (all of them, with `refusal` saying why)
    when they would take away more than `feeds.max_removal_fraction` of the published
    articles, unless `prune`. A seed showing the same page (title, date, body) as a live
    article is that article: noted, not published twice; when the article's own file goes,
    the copy holds it. `workers`: the build's worker processes (started here if needed and not
    given).
    """
    site = settings.site_record
    seeds_dir = settings.seeds_dir
    seeds = seeds or scan(engine, settings, now)
    report = IngestReport(unchanged=seeds.unchanged, settling=len(seeds.settling))
    report.failed += seeds.unreadable
    for f in seeds.settling:
        report.notes.append(f"{f.path}: changed less than {settings.schedule.settle_seconds:g} s "
                            f"ago (schedule.settle_seconds): left for the next pass")
    known, identities = seeds.known, dict(seeds.identities)
    by_id = {i.id: i for i in identities.values()}
    paths: _SeedPaths | dict[str, str]
    if seeds.partial:  # a few records: look their seeds up rather than index every seed
        paths = _SeedPaths(seeds.files)
        remembered = [f for f in map(paths.file, sorted(known)) if f is not None]
    else:
        paths, remembered = {f.source: f.path for f in seeds.files}, seeds.files
    todo = list(seeds.todo)
    # A gone article whose page another seed repeats stays, held by that seed from now on.
    copies = {s.message: source for source, s in sorted(known.items())
              if s.status == "duplicate" and source in paths}
    if seeds.gone:  # the published articles before this pass, for `max_removal_fraction`
        if seeds.partial:
            with engine.begin() as conn:
                report.live = article_store.live_count(conn)
        else:
            report.live = sum(1 for i in identities.values() if not i.deleted)
    gone = []
    reading = {f.source for f in todo}
    for source in seeds.gone:
        holder = copies.get(identities[source].id)
        if holder is None:
            gone.append(source)
            continue
        identities[holder] = identities.pop(source)
        if holder not in reading:  # read again, as the article's seed from now on
            reading.add(holder)
            todo.append(_SeedPaths(seeds.files).file(holder))  # type: ignore[arg-type]
            report.unchanged -= 1
    # Remembered outcomes of the seeds not read again: failures stay failures until changed.
    for f in remembered:
        state = known.get(f.source)
        if state is None or f.source in reading or (state.size, state.mtime_ns) != (
                f.size, f.mtime_ns):
            continue
        if state.status == "ok":
            continue
        report.unchanged -= 1  # counted by the scan, but not an article
        if state.status == "failed":
            report.failed.append(SeedError(f.path, state.message))
        elif state.status == "skipped":
            report.skipped.append(NotAnArticle(f.path, state.message))
        elif state.status == "duplicate" and state.message in by_id:
            report.notes.append(_duplicate_note(f.path, paths, by_id[state.message]))
    todo.sort(key=lambda f: f.source)  # slug clashes resolve in source order, every time
    report.to_parse = len(todo)
    if on_plan:
        on_plan(len(todo))
    taken: _Lookup[str] | dict[str, str]
    pages: _Lookup[article_store.StoredIdentity] | dict[str, article_store.StoredIdentity]
    if seeds.partial:  # the store is asked about the slugs and pages of the few seeds read
        taken = _Lookup(engine, article_store.source_of_slug)
        pages = _Lookup(engine, article_store.live_identity_of_page)
    else:
        taken = {identity.slug: source for source, identity in identities.items()}
        pages = {i.page_hash: i for i in identities.values() if not i.deleted and i.page_hash}
    gone_pages = {identities[s].page_hash: s for s in gone if identities[s].page_hash}
    batch = _StoreBatch()
    # Results are stored in batches while the workers parse on, so the writes overlap the parsing.
    # Batches shrink towards the end: what is left to store once the last seed is parsed, with
    # every worker idle, is a short transaction.
    with Workers.given(workers, settings) as pool, engine.bulk() as conn, \
            closing(_parse_iter(todo, seeds_dir, site, settings, pool)) as results:
        for done, (seed, result) in enumerate(zip(todo, results), 1):
            batch.add(seed, result, identities, taken, pages, gone_pages, paths, site, now, report)
            if progress:
                progress(1)
            left = len(todo) - done
            if len(batch.states) >= min(STORE_BATCH, max(100, left // 4)):
                batch.flush(conn, now, report)
                batch = _StoreBatch()
        batch.flush(conn, now, report)

    gone = [s for s in gone if s in identities and not identities[s].deleted
            and identities[s].source == s]
    limit = settings.feeds.max_removal_fraction * report.live
    if gone and len(gone) > limit and not prune:
        report.refused = len(gone)
        return report
    with engine.begin() as conn:
        report.deleted = article_store.mark_deleted(conn, gone, now)
        article_store.forget_seed_files(conn, [s for s in known if s not in paths])
    return report


class _SeedPaths:
    """source -> path of the scanned seeds, for a pass that looks up a few."""

    def __init__(self, files: SeedFiles) -> None:
        self._files = files

    def file(self, source: str) -> SeedFile | None:
        return self._files.find(source)

    def get(self, source: str, default: str | None = None) -> str | None:
        found = self.file(source)
        return default if found is None else found.path

    def __contains__(self, source: object) -> bool:
        return isinstance(source, str) and self.file(source) is not None


class _Lookup(Generic[V]):
    """The part of a store-wide mapping (slug -> seed, page -> live article) that a partial
    pass needs: each key asked of the store once, the pass's own additions kept."""

    def __init__(self, engine: Database, fetch: Callable[[Connection, str], V | None]) -> None:
        self._engine, self._fetch = engine, fetch
        self._found: dict[str, V | None] = {}

    def get(self, key: str, default: V | None = None) -> V | None:
        if key not in self._found:
            with self._engine.begin() as conn:
                self._found[key] = self._fetch(conn, key)
        found = self._found[key]
        return default if found is None else found

    def __setitem__(self, key: str, value: V) -> None:
        self._found[key] = value


def _duplicate_note(path: str, paths: dict[str, str], article: article_store.StoredIdentity) -> str:
    original = paths.get(article.source, article.source)
    return (f"{path}: the same page (title, date and body) as {original}: one article, "
            f"published once")


@dataclass
class _StoreBatch:
    """Parsed seeds waiting to be written to the store in one transaction."""

    states: list[article_store.SeedFileState] = field(default_factory=list)
    new: list[article_store.ArticleRow] = field(default_factory=list)
    corrected: list[article_store.ArticleRow] = field(default_factory=list)
    new_ids: list[str] = field(default_factory=list)
    corrected_ids: list[str] = field(default_factory=list)

    def add(
        self, seed: SeedFile, result: article_store.ContentRow | SeedError,
        identities: dict[str, article_store.StoredIdentity], taken: dict[str, str],
        pages: dict[str, article_store.StoredIdentity], gone_pages: dict[str, str],
        paths: dict[str, str], site: Site, now: datetime, report: IngestReport,
    ) -> None:
        status, message = "ok", ""
        identity = identities.get(seed.source)
        if isinstance(result, NotAnArticle):
            report.skipped.append(result)
            status, message = "skipped", result.reason
        elif isinstance(result, SeedError):
            report.failed.append(result)
            status, message = "failed", result.reason
        elif identity is None and (same := pages.get(page := result.page_hash)) is not None \
                and same.source != seed.source and same.source not in gone_pages.values():
            report.notes.append(_duplicate_note(seed.path, paths, same))
            status, message = "duplicate", same.id
        else:
            page = result.page_hash
            if identity is None and (old := gone_pages.pop(page, None)):
                identity = identities.pop(old)  # the same page under a new name: moved
            given: Identity | None = None
            if identity is None:
                given = assign_identity(result, None, taken, site, now)
                self.new.append(article_store.article_row(result, *given))
                self.new_ids.append(given.id)
            elif identity.content_hash != result.content_hash or identity.deleted \
                    or identity.source != seed.source:
                given = assign_identity(result, identity, taken, site, now)
                self.corrected.append(article_store.article_row(result, *given))
                self.corrected_ids.append(given.id)
            else:
                report.unchanged += 1
            if given is not None:
                identity = article_store.StoredIdentity(
                    given.id, given.slug, given.guid, result.content_hash, given.first_seen,
                    False, page, seed.source)
                identities[seed.source] = identity
                pages[page] = identity
                if result.date_source == DATE_FIRST_SEEN:  # dated by when it was first seen
                    report.undated.append(SeedError(seed.path, UNDATED_NOTE))
        self.states.append(
            article_store.SeedFileState(seed.source, seed.size, seed.mtime_ns, status, message))

    def flush(self, conn: Connection, now: datetime, report: IngestReport) -> None:
        if not self.states:
            return
        with conn.begin():
            article_store.insert_rows(conn, self.new)
            article_store.update_rows(conn, self.corrected)
            article_store.record_seed_states(conn, self.states, now)
        report.new += self.new_ids
        report.updated += self.corrected_ids


class Identity(NamedTuple):
    """What `assign_identity` decides for an article, dates as UTC text (as stored)."""

    id: str
    slug: str
    url: str
    guid: str
    published: str
    updated: str
    first_seen: str


def assign_identity(
    content: article_store.ContentRow, identity: article_store.StoredIdentity | None,
    taken: dict[str, str], site: Site, now: datetime,
) -> Identity:
    """The one place an article's identity is decided.

    A new article (`identity` None) gets its id from its seed's path, the slug it asks for made
    unique (`-2`, `-3`, … on a clash, in source order; `taken` is updated), and from them its
    permanent url and tag: guid; `first_seen` is `now`. A known one (corrected, moved to
    another file, or back after a removal) keeps its id, slug, url, guid and first_seen; only
    `updated` moves, to `now`. A page that prints no date is dated by the moment it was first
    taken in.
    """
    if identity is None:
        base = content.slug
        slug, n = base, 1
        while taken.get(slug, content.source) != content.source:
            n += 1
            suffix = f"-{n}"  # within SLUG_MAX, as every slug
            slug = f"{base[:SLUG_MAX - len(suffix)].rstrip('-')}{suffix}"
        taken[slug] = content.source
        seen = utc_text(now)
        if content.published:
            published, day = content.published, date.fromisoformat(content.day)
        else:
            published, day = seen, now.astimezone(site.timezone).date()
        return Identity(short_id(content.source), slug, site.url(f"{slug}/"),
                        tag_uri(site, day, slug), published, content.updated or published, seen)
    seen = utc_text(identity.first_seen)
    published = content.published or seen
    return Identity(identity.id, identity.slug, site.url(f"{identity.slug}/"), identity.guid,
                    published, max(utc_text(now), published), seen)  # UTC text sorts as time


def identify(
    content: SeedContent, identity: article_store.StoredIdentity | None, taken: dict[str, str],
    site: Site, now: datetime,
) -> Article:
    """A reader's content as the article `assign_identity` makes it."""
    given = assign_identity(article_store.ContentRow.of(content), identity, taken, site, now)
    tz = site.timezone
    return Article(
        id=given.id, slug=given.slug, url=given.url, guid=given.guid, title=content.title,
        summary=content.summary, authors=content.authors,
        published=parse_utc(given.published).astimezone(tz),
        updated=parse_utc(given.updated).astimezone(tz), category=content.category,
        credit=content.credit, translation_note=content.translation_note,
        body_html=content.body_html, related=content.related, source=content.source,
        content_hash=content.content_hash, language=content.language,
        first_seen=parse_utc(given.first_seen), caption=content.caption,
        date_source=content.date_source, page_hash=content.page_hash,
    )


def build(
    engine: Database, settings: Settings, now: datetime, *, clock: Callable[[], datetime] | None = None,
    wait: float = 0.0, stop: threading.Event | None = None, prune: bool = False,
    progress: Progress | None = None, on_plan: Callable[[int], None] | None = None,
    feeds: bool = True, on_ingest: Callable[[SeedScan, IngestReport], None] | None = None,
) -> BuildReport:
    """The one ingest path of `build-feeds`, `ingest`'s big brother, `tick` and `run`: scan the
    seeds once, and unless the build stamp shows nothing changed since the last complete
    build, ingest and write the feeds.

    `wait`: seconds to wait (on `clock`, interrupted by `stop`) for seeds still settling,
    scanning again, before leaving them for a later pass. SeedsFolderMissing if the seeds
    folder does not exist (nothing is changed). `feeds=False`: ingest only (`publisher ingest`).
    `on_ingest(scan, report)` is called once the store is up to date, before the feeds are
    written (which may fail, e.g. on a full disk, and raise).
    """
    check_seeds_folder(settings)
    scanned = scan_seed_files(settings.seeds_dir)
    files, unreadable = scanned
    listing = buildstamp.SeedListing.of(files)
    key = buildstamp.input_key(settings, listing)
    recorded = buildstamp.recorded(settings)
    stamp = None if unreadable or not feeds else buildstamp.load_if_fresh(settings, key, recorded)
    if stamp is not None:
        return BuildReport(
            SeedScan(files, unreadable, unchanged=len(files)),
            IngestReport(
                unchanged=stamp.articles, notes=list(stamp.notes),
                skipped=[NotAnArticle(path, reason) for path, reason in stamp.skipped],
                failed=[SeedError(path, reason) for path, reason in stamp.failed]),
            FeedReport(unchanged=len(stamp.outputs)), fast=True)
    collect = gc.isenabled()
    gc.disable()  # a batch of acyclic records: collection passes are pure overhead
    try:
        last = buildstamp.last_build(settings, recorded)
        buildstamp.forget(settings)
        seeds = scan(engine, settings, now, scanned, last.seeds if last else None)
        deadline = time.monotonic() + wait
        while seeds.settling and seeds.settle_at and not (stop and stop.is_set()):
            delay = (seeds.settle_at - now).total_seconds() + 0.05
            if delay > deadline - time.monotonic():
                break
            if stop is not None:
                if stop.wait(max(delay, 0.05)):
                    break
            else:
                time.sleep(max(delay, 0.05))
            now = clock() if clock else now + timedelta(seconds=max(delay, 0.05))
            scanned = scan_seed_files(settings.seeds_dir)
            listing = buildstamp.SeedListing.of(scanned[0])
            key = buildstamp.input_key(settings, listing)
            seeds = scan(engine, settings, now, scanned, last.seeds if last else None)
        with Workers(settings) as workers:  # one set for parsing and then the feeds
            report = ingest(engine, settings, now, progress, on_plan, seeds=seeds, prune=prune,
                            workers=workers)
            if on_ingest:
                on_ingest(seeds, report)
            # The store's records the scan read (100,000s of them) are ingest's alone: freed
            # before feed workers are forked (if parsing did not start them), they are not
            # copied into every worker's memory.
            seeds.known, seeds.identities = {}, {}
            if report.to_parse >= PARALLEL_THRESHOLD:  # a big ingest: its memory is freed now
                _trim_heap()
            if not feeds:
                return BuildReport(seeds, report)
            memory = feedplan.PlanMemory.from_record(last.plan) \
                if last is not None and last.plan is not None else None
            only_added = seeds.partial and memory is not None and not report.updated \
                and not report.deleted
            written = build_feeds(engine, settings, now,
                                  added=(memory, report.new) if only_added else None,  # type: ignore[arg-type]
                                  outputs=last.outputs if last is not None else None,
                                  workers=workers)
        if report.complete and not seeds.unreadable:
            buildstamp.save(settings, buildstamp.BuildStamp(
                key=key, outputs=written.outputs,
                articles=report.unchanged + len(report.new) + len(report.updated),
                notes=report.notes,
                skipped=[[e.path, e.reason] for e in report.skipped],
                failed=[[e.path, e.reason] for e in report.failed]), listing,
                written.plan.record() if written.plan else None)
    finally:
        if collect:
            gc.enable()
    return BuildReport(seeds, report, written)


def _trim_heap() -> None:
    """Give the heap's free pages back to the system (glibc's malloc_trim; elsewhere nothing):
    freed, the ingest's records and page cache (or the feed log) stay in the process's memory
    otherwise, next to the feed workers' (100 MB at 100,000 seeds)."""
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def build_feeds(
    engine: Database, settings: Settings, now: datetime, *,
    added: tuple[feedplan.PlanMemory, list[str]] | None = None,
    outputs: dict[str, list[int]] | None = None, workers: Workers | None = None,
) -> FeedReport:
    """Write every feed document (live and archive pages) whose entries changed since the last
    build; remove feeds left empty and archive pages no longer planned.

    `added`: the last build's plan and the ids of the articles this pass added, when adding
    them is all it changed in the store: then only the feeds they are in are planned again
    (`feedplan.extend_plan`), unless something asks for the whole plan. `outputs`: the files
    below feeds/ the last complete build left (its stamp's): then what is there is stat'ed,
    not walked. `workers`: the build's worker processes (started here if needed and not
    given)."""
    from .feeds import FORMATS, STYLESHEET_NAME, render_opml_files, stylesheet

    site = settings.site_record
    feeds_dir = make_folder(settings.feeds_dir, "paths.feeds")
    report = FeedReport()
    present = buildstamp.feed_outputs(feeds_dir) if outputs is None \
        else buildstamp.outputs_left(feeds_dir, outputs)  # the one look at what is there
    options = {"max_entries": settings.feeds.max_entries,
               "page_size": settings.feeds.archive_page_size, "hubs": settings.feeds.websub_hubs}
    log: list[article_store.FeedIndexRow] | None = None
    with engine.begin() as conn:
        previous = article_store.feed_fingerprints(conn)
        extended = _extended_plan(conn, added, previous, present, settings, options) \
            if added is not None else None
        prints: dict[str, str] = {}
        if extended is None:
            log = article_store.feed_log(conn)
            planned = feedplan.plan_feeds(log, site, settings.feeds_url, **options)
            newest = max((row.updated for row in log if not row.deleted), default=None)
        else:  # the documents not planned again keep their prints
            planned, newest, prints = extended.feeds, extended.newest_updated, dict(previous)
        newest_seen = article_store.newest_first_seen(conn)
    docs = [doc for feed in planned for doc in feed.docs]
    prints.update((doc.folder, doc.fingerprint) for doc in docs)
    stale = [doc for doc in docs
             if previous.get(doc.folder) != doc.fingerprint
             or not _outputs_exist(present, doc.folder)]
    if log is not None:
        # Documents in the order their articles were added, so consecutive ones (and each
        # worker's tasks) share articles: every article is in its site, category and author
        # documents.
        place = {row.id: n for n, row in enumerate(log)}
        stale.sort(key=lambda doc: place[doc.ids[len(doc.ids) // 2]] if doc.ids else -1,
                   reverse=True)
        del log, place  # 100,000s of rows: not kept while the workers hold their articles
    count = Workers.count_for(settings)
    if len(stale) < FEED_PARALLEL_THRESHOLD or count == 1:
        with engine.begin() as conn:
            records = article_store.get_articles(
                conn, sorted({i for doc in stale for i in doc.ids}), site.timezone,
                whole=False)
        results = [_render_feeds(stale, records, site, settings.feeds_url, feeds_dir)]
    else:
        # Each task is a run of consecutive documents (`_runs`: a few, largest first), so the
        # documents sharing an article are mostly one worker's and each entry is written
        # once: handing out small tasks to whichever worker was free rendered a quarter of
        # the entries twice. Each worker reads its articles from the store itself (cheaper
        # than pickling them over), a few documents at a time.
        tasks = [(run, site, settings.feeds_url, feeds_dir)
                 for run in _runs(stale, count) if run]
        _trim_heap()  # what this process freed is not kept next to the workers' articles
        with Workers.given(workers, settings) as pool:
            results = list(pool.executor().map(_write_feed_task, tasks))
    for written, unchanged in results:
        report.written += written
        report.unchanged += unchanged
    report.unchanged += len(FORMATS) * (len(prints) - len(stale))
    opml_files = render_opml_files([feed.spec for feed in planned], site, settings.feeds_url,
                                   parse_utc(newest) if newest else None)
    for name, opml in [*opml_files.items(), (STYLESHEET_NAME, stylesheet())]:
        if write_atomic(feeds_dir / name, opml, durable=False):
            report.written.append(name)
        else:
            report.unchanged += 1
    report.removed = _remove_stale_feeds(feeds_dir, {feed.spec.path for feed in planned})
    report.removed += _remove_stale_pages(feeds_dir, previous, prints, report.removed)
    report.outputs = buildstamp.refresh_outputs(feeds_dir, present, report.written,
                                                report.removed)
    with engine.begin() as conn:
        article_store.record_feed_fingerprints(conn, prints, now, previous)
    report.pings = _announce(settings, report.written)
    if newest_seen is not None:
        report.plan = feedplan.PlanMemory(newest_seen, newest,
                                          tuple(feed.tail for feed in planned))
    return report


class _Extended(NamedTuple):
    feeds: list[feedplan.PlannedFeed]
    newest_updated: str | None


def _extended_plan(
    conn: Connection, added: tuple[feedplan.PlanMemory, list[str]], previous: dict[str, str],
    present: dict[str, list[int]], settings: Settings, options: dict,  # type: ignore[type-arg]
) -> _Extended | None:
    """The plan after a pass that only added articles (see `build_feeds`), or None for the
    whole plan: when they are not all at the new end of the log, or a document the last build
    wrote is missing from feeds/, or they start a feed."""
    memory, ids = added
    rows = article_store.feed_rows(conn, ids)
    if len(rows) != len(ids) or any(row.deleted for row in rows) \
            or set(article_store.seen_since(conn, memory.newest_seen)) != set(ids) \
            or not all(_outputs_exist(present, folder) for folder in previous):
        return None
    planned = feedplan.extend_plan(
        memory.tails, rows, lambda wanted: article_store.feed_rows(conn, wanted), settings.site_record,
        settings.feeds_url, **options)
    if planned is None:
        return None
    updated = [row.updated for row in rows]
    newest = max([u for u in (memory.newest_updated, *updated) if u], default=None)
    return _Extended(planned, newest)


def _announce(settings: Settings, written: list[str]) -> list[websub.PingResult]:
    """Tell the WebSub hubs of every live feed document this build rewrote (archive pages
    are not subscribed to); one log line per hub."""
    from .feeds import ARCHIVE_FOLDER, FORMATS

    hubs = settings.feeds.websub_hubs
    if not hubs:  # (nor its HTTP client's import, for a build that pings nobody)
        return []
    changed = [f"{settings.feeds_url}/{path}" for path in written
               if path.rsplit("/", 1)[-1] in FORMATS and f"/{ARCHIVE_FOLDER}/" not in f"/{path}"]
    from . import websub

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


def _outputs_exist(present: dict[str, list[int]], folder: str) -> bool:
    from .feeds import FORMATS

    prefix = f"{folder}/" if folder else ""
    return all(f"{prefix}{name}" in present for name in FORMATS)


def _remove_stale_pages(
    feeds_dir: Path, previous: dict[str, str], planned: dict[str, str], removed: list[str]
) -> list[str]:
    """Archive pages the last build wrote that are no longer planned (all their places
    emptied at the newest end), unless their whole feed went already."""
    from .feeds import ARCHIVE_FOLDER

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
    todo: Sequence[SeedFile], seeds_dir: Path, site: Site, settings: Settings, workers: Workers,
) -> Iterator[article_store.ContentRow | SeedError]:
    """Every seed read, in order, over the worker processes when there are enough to pay for
    them."""
    # Paths travel as strings: a Path costs more to build and to pickle than reading it saves.
    jobs = [(f.path, seeds_dir, site, settings.feeds.max_seed_bytes) for f in todo]
    if len(jobs) < PARALLEL_THRESHOLD:
        yield from map(_parse_one, jobs)
        return
    results = map(_parse_one, jobs) if workers.count == 1 else workers.executor().map(
        _parse_one, jobs, chunksize=max(1, min(PARSE_CHUNK, len(jobs) // (4 * workers.count))))
    # Started once the workers are (forked without this thread), the disk reads ahead of them.
    with Readahead(todo, settings.feeds.max_seed_bytes) as ahead:
        for seed, result in zip(todo, results):
            yield result
            ahead.consumed(seed.size)


# Seeds a parsing worker takes at a time, and the size of the pipe their results come back
# through (one message a chunk, ~900 KB for 128 seeds; 1 MB is Linux's pipe-max-size for
# unprivileged processes). Through the default 64 KB pipe a worker spent ~18% of the ingest
# blocked handing its results over: each 64 KB waited for this process's result thread to
# get the GIL back from the thread storing them. With the wide pipe a chunk goes in one
# write, and at 128 seeds rather than 64 half as many hand-overs (jobs, results) are made:
# alternated `publisher ingest` runs of 10,000 seeds, 2.07 s against 2.19 s (medians of 8).
PARSE_CHUNK = 128
RESULT_PIPE_BYTES = 1 << 20


def _widen_result_pipe(pool: ProcessPoolExecutor) -> None:
    """Make the pipe `pool`'s workers send their results through RESULT_PIPE_BYTES large
    (Linux; elsewhere, or where the system allows less, it stays as it is)."""
    try:
        import fcntl

        reader = pool._result_queue._reader  # type: ignore[attr-defined]
        fcntl.fcntl(reader.fileno(), fcntl.F_SETPIPE_SZ, RESULT_PIPE_BYTES)  # type: ignore[attr-defined]
    except (ImportError, AttributeError, OSError):
        pass


class Workers:
    """The worker processes of one build (`feeds.workers`, default one per core) for its
    CPU-bound stages: started the first time a stage has enough work for them, and kept for
    the next one. A cold build starts them to parse, before the ingest fills this process with
    records and freed memory: forked after it, the feed workers shared those pages and copied
    them as they went (76 MB more at 100,000 seeds, with the ingest's page cache)."""

    def __init__(self, settings: Settings) -> None:
        self.count = self.count_for(settings)
        # feed workers read the articles from the store themselves
        self._database = (settings.database_target, settings.secrets.database_password)
        self._pool: ProcessPoolExecutor | None = None

    @staticmethod
    def count_for(settings: Settings) -> int:
        return settings.feeds.workers or os.cpu_count() or 1

    @staticmethod
    def given(workers: Workers | None, settings: Settings) -> AbstractContextManager[Workers]:
        """`workers` as they are (their owner closes them), or a new set closed afterwards."""
        return nullcontext(workers) if workers is not None else Workers(settings)

    def executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            from concurrent.futures import ProcessPoolExecutor

            from . import feeds, readers  # noqa: F401 - imported once here, not in every worker
            self._pool = ProcessPoolExecutor(max_workers=self.count, initializer=_start_worker,
                                             initargs=(self._database,))
            _widen_result_pipe(self._pool)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.shutdown(cancel_futures=True)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _WorkerState:
    """What a feed worker process keeps between its tasks."""

    database: tuple[str | Path, str] | None = None  # the store's path or URL, and password
    # loaded so far (a task often needs the same ones again); once rendered, a stand-in
    articles: dict[str, Article | _Rendered] = {}
    entries: EntryMemo = {}  # their entries, written once


def _start_worker(database: tuple[str | Path, str] | None) -> None:
    from . import orphans

    orphans.die_with_parent()  # a killed parent leaves no worker (nor its inherited lock) behind
    try:
        os.nice(WORKER_NICENESS)
    except OSError:  # (raising one's niceness is always allowed; a platform may not have it)
        pass
    # The garbage collector is off: workers only build acyclic records and exit, and the
    # collector's passes over them cost more than 10%.
    gc.disable()
    _WorkerState.database = database
    _WorkerState.articles = {}
    _WorkerState.entries = {}


# The workers yield the processor to the build's main process (and to a server on the same
# machine): during the ingest the main process stores what they parse, and as one of three
# processes on two cores it got too little to keep up, so results piled up and the ingest
# ended with it storing the backlog alone (~1 s at 100,000 seeds) while the workers idled.
# Four alternated cold 100,000-seed builds each way: 33-38 s (median 37) niced, 29-49 s
# (median 42) not, with 8.4 rather than 11.4 processor-seconds left idle (medians).
WORKER_NICENESS = 10

# A feed worker's runs, as shares of all the entries to write, largest first: each worker takes
# the next run as it becomes free, so the last ones (small) even out what the workers were
# slower or faster at (two equal runs, one each, left one worker idle for the last 1.7 s of
# ~10 s at 100,000 seeds; with the last two at 5% of the entries each, one still worked alone
# for 0.5-1.2 s of ~18 s: they are 1.5% now). Each cut costs a little: the documents on
# either side of it share articles, which both workers then load and render.
RUN_SHARES = (0.70, 0.20, 0.07, 0.03)


def _runs(docs: list[feedplan.Document], n: int) -> list[list[feedplan.Document]]:
    """`docs` cut into runs of consecutive documents: for each of `RUN_SHARES`, `n` runs that
    together hold that share of the entries (as near as whole documents allow)."""
    total = sum(len(doc.ids) + 1 for doc in docs)
    bounds, share = [], 0.0
    for part in RUN_SHARES:
        for k in range(1, n + 1):
            bounds.append((share + part * k / n) * total)
        share += part
    runs: list[list[feedplan.Document]] = [[] for _ in bounds]
    done, at = 0, 0
    for doc in docs:
        while at < len(bounds) - 1 and done >= bounds[at]:
            at += 1
        runs[at].append(doc)
        done += len(doc.ids) + 1
    return runs


def _write_feed_task(
    task: tuple[list[feedplan.Document], Site, str, Path],
) -> tuple[list[str], int]:
    """In a worker process: a run of documents, `FEED_TASK` at a time, with one connection to
    the store."""
    docs, site, feeds_url, feeds_dir = task
    assert _WorkerState.database is not None
    target, password = _WorkerState.database
    engine = open_database(target, password=password or None)
    written: list[str] = []
    unchanged = 0
    batches = [docs[k:k + FEED_TASK] for k in range(0, len(docs), FEED_TASK)]
    cache = _Uses(batches)
    try:
        for batch in batches:
            more, same = _write_feed_batch(engine, batch, site, feeds_url, feeds_dir, cache)
            written += more
            unchanged += same
    finally:
        engine.dispose()
    return written, unchanged


class _Uses:
    """Which batches of a feed worker's run hold each article, for what it keeps: an article
    no batch still to write holds is forgotten at once, and when the articles kept must make
    room, the ones needed again last go first (the batch order is known in advance: this
    loads 13% fewer articles at 100,000 than forgetting the ones loaded first)."""

    def __init__(self, batches: list[list[feedplan.Document]]) -> None:
        self.batch = 0  # the batch being written
        self.ahead: dict[str, list[int]] = {}  # per article, the batches holding it, last first
        for n in range(len(batches) - 1, -1, -1):
            for i in {i for doc in batches[n] for i in doc.ids}:
                self.ahead.setdefault(i, []).append(n)
        # (-next batch, id) of the articles kept; stale once that is not its next batch
        self._heap: list[tuple[int, str]] = []

    def make_room(self, loaded: dict[str, object], count: int) -> list[str]:
        """Up to `count` of the ids in `loaded` needed again last (none the current batch
        needs)."""
        heap, ahead, gone = self._heap, self.ahead, []
        while heap and len(gone) < count:
            neg, i = heappop(heap)
            nexts = ahead.get(i)
            if i in loaded and nexts and nexts[-1] == -neg and -neg != self.batch:
                gone.append(i)
        return gone

    def done(self, needed: Iterable[str], loaded: dict[str, object]) -> list[str]:
        """The current batch is written: the ids of `needed` no later batch holds."""
        heap, ahead, finished = self._heap, self.ahead, []
        for i in needed:
            nexts = ahead[i]
            nexts.pop()
            if nexts:
                heappush(heap, (-nexts[-1], i))
            else:
                del ahead[i]
                finished.append(i)
        self.batch += 1
        if len(heap) > 2 * len(loaded) + 1000:  # mostly stale: only the kept ones' next uses
            heap[:] = [(-ahead[i][-1], i) for i in loaded if i in ahead]
            heapify(heap)
        return finished


class _Rendered(NamedTuple):
    """What a document needs of an article whose entries a feed worker has written already
    (they are in its memo): the whole article is not kept."""

    id: str
    updated: datetime
    authors: tuple[str, ...]


def _write_feed_batch(
    engine: Database, docs: list[feedplan.Document], site: Site, feeds_url: str,
    feeds_dir: Path, uses: _Uses,
) -> tuple[list[str], int]:
    """Load the documents' articles not rendered yet, then render and write them; forget the
    articles no later batch needs (`uses`: the run's batches, this one the current)."""
    loaded, memo = _WorkerState.articles, _WorkerState.entries
    needed = {i for doc in docs for i in doc.ids}
    missing = sorted(i for i in needed if i not in loaded)
    excess = len(loaded) + len(missing) - WORKER_CACHE
    if excess > 0:  # keep the memory bounded
        for old in uses.make_room(loaded, excess):
            del loaded[old]
            memo.pop(old, None)

    def load(ids: Iterable[str]) -> dict[str, Article]:
        with engine.begin() as conn:
            return article_store.get_articles(conn, sorted(ids), site.timezone, whole=False)

    if missing:
        loaded.update(load(missing))
    result = _render_feeds(docs, loaded, site, feeds_url, feeds_dir, memo, load)
    for i in uses.done(needed, loaded):  # in no batch still to write
        loaded.pop(i, None)
        memo.pop(i, None)
    for i in needed:
        record = loaded.get(i)  # rendered: from now on only its entries are kept
        if isinstance(record, Article) and i in memo:
            loaded[i] = _Rendered(record.id, record.updated, record.authors)
    return result


def _render_feeds(
    docs: Sequence[feedplan.Document], records: dict[str, Article | _Rendered], site: Site,
    feeds_url: str, feeds_dir: Path, memo: EntryMemo | None = None,
    load: Callable[[Iterable[str]], dict[str, Article]] | None = None,
) -> tuple[list[str], int]:
    """Render and write each document's three files; (files written, files unchanged).

    `memo` keeps each article's entry texts for the next documents it is in; `records` may hold
    `_Rendered` stand-ins for articles in `memo`, and `load` then gives the whole articles for
    a document that needs them (one with a character XML cannot carry)."""
    from .feeds import render_files

    memo = {} if memo is None else memo
    written, unchanged = [], 0
    for doc in docs:
        full = replace(doc.spec, articles=tuple(records[i] for i in doc.ids))
        try:
            files = render_files(full, site, feeds_url, doc.links, memo, clean=load is None,
                                 joined=False)
        except ValueError:
            assert load is not None
            whole = load(doc.ids)
            full = replace(doc.spec, articles=tuple(whole[i] for i in doc.ids))
            files = render_files(full, site, feeds_url, doc.links, joined=False)
        for name, pieces in files.items():
            relative = f"{doc.folder}/{name}".lstrip("/")
            if write_atomic(feeds_dir / relative, pieces, durable=False):
                written.append(relative)
            else:
                unchanged += 1
    return written, unchanged


def _parse_one(job: tuple[str, Path, Site, int]) -> article_store.ContentRow | SeedError:
    """Read one seed (in a worker process): its content as the store writes it, or the reason
    it cannot be read."""
    from . import readers

    name, seeds_dir, site, max_bytes = job
    try:  # the name as it is: read_seed makes a Path of it only if it must
        return article_store.ContentRow.of(readers.read_seed(name, seeds_dir, site, max_bytes))
    except SeedError as exc:
        return exc
    except Exception as exc:  # a reader bug must not stop the other seeds
        return SeedError(str(Path(name)), f"cannot parse: {type(exc).__name__}: {exc}")

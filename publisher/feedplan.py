"""Which feed documents there are and which entries each holds: every feed's live document and
its RFC 5005 archive pages. Pure: rows in, documents (ids and fingerprints) out.

A feed is the site's articles in the order they were added (first seen, then published, then
id), removed ones kept as gaps. Its live document holds the newest `max_entries` articles;
everything older is cut, from the oldest, into archive pages of `page_size` places each.
Because a new article always joins at the new end, a page that is full never changes again:

- page n holds places (n-1)*page_size .. n*page_size - 1, page 1 the oldest;
- the newest page is the one still filling (it may be empty for a moment: when the one
  before it has just filled, so that page could get its `next-archive` link once and for all);
- a removed article leaves a gap, so only the page it was on changes;
- an article corrected in place stays where it is (its page is rewritten with the new text),
  unless its publication date changed within a batch first seen at the same moment.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from . import __version__
from .model import FeedLinks, FeedSpec, Site, document_folder, slugify
from .store.articles import FeedIndexRow

_KIND_ORDER = {"site": 0, "category": 1, "author": 2}
_FOLDERS = {"site": "", "category": "categories/{}", "author": "authors/{}"}


@dataclass(frozen=True)
class Document:
    """One feed document: its feed, its place (live or archive page) and its entries."""

    spec: FeedSpec  # without articles
    links: FeedLinks
    ids: tuple[str, ...]  # newest first
    fingerprint: str  # changes whenever any byte of its three files could

    @property
    def folder(self) -> str:
        """Below feeds/: "" for the site's live document, "archive/3", "authors/ana/archive/1"."""
        return document_folder(self.spec, self.links.page)


def group_feeds(
    rows: Sequence[FeedIndexRow], site: Site
) -> list[tuple[FeedSpec, list[FeedIndexRow]]]:
    """The site feed, then one per category, then one per author, each with its rows in the
    order given (removed articles included where they belonged). A feed exists while at least
    one of its articles is not removed; its name is spelled as in its first such row."""
    groups: dict[tuple[str, str], list[FeedIndexRow]] = {("site", ""): list(rows)}
    names: dict[tuple[str, str], str] = {}
    keys_of: dict[tuple[str, tuple[str, ...]], list[tuple[tuple[str, str], str]]] = {}
    for row in rows:
        pairs = keys_of.get((row.category, row.authors))  # few distinct: slugified once each
        if pairs is None:
            pairs = [(("category", slugify(row.category)), row.category)] if row.category else []
            pairs += [(("author", slugify(author)), author) for author in row.authors]
            keys_of[row.category, row.authors] = pairs
        for key, name in pairs:
            if not row.deleted:
                names.setdefault(key, name)
            groups.setdefault(key, []).append(row)
    specs = []
    for (kind, slug), members in sorted(groups.items(),
                                        key=lambda kv: (_KIND_ORDER[kv[0][0]], kv[0][1])):
        if kind != "site" and (kind, slug) not in names:
            continue  # every article of it removed
        name = names.get((kind, slug), "")
        title = site.title if kind == "site" else f"{site.title}: {name}"
        spec = FeedSpec(kind=kind, key=name, slug=slug, title=title,
                        path=_FOLDERS[kind].format(slug))
        specs.append((spec, members))
    return specs


@dataclass(frozen=True)
class FeedTail:
    """What a later pass that only adds articles needs of a feed as planned now: its places,
    and its rows from the first place of the page holding its oldest live entry (from place 0
    while it has no archive page), oldest first. Those are all that pass can change."""

    spec: FeedSpec
    places: int  # rows in the feed, removed ones included
    first: int  # place of ids[0]: a multiple of the page size
    archived: bool  # a live row before `first`
    ids: tuple[str, ...]


@dataclass(frozen=True)
class PlanMemory:
    """A build's plan, as far as a later pass that only adds articles needs it (kept beside
    the build stamp as plain values: `record`, `from_record`)."""

    newest_seen: str  # the store's latest first_seen then (UTC text)
    newest_updated: str | None  # the latest `updated` of a live article (OPML's dateCreated)
    tails: tuple[FeedTail, ...]

    def record(self) -> tuple:  # type: ignore[type-arg]
        return (self.newest_seen, self.newest_updated, [
            (t.spec.kind, t.spec.key, t.spec.slug, t.spec.title, t.spec.path, t.places, t.first,
             t.archived, t.ids) for t in self.tails])

    @classmethod
    def from_record(cls, record: object) -> PlanMemory | None:
        try:
            newest_seen, newest_updated, feeds = record  # type: ignore[misc]
            return cls(newest_seen, newest_updated, tuple(
                FeedTail(FeedSpec(kind, name, slug, title, folder), places, first, archived,
                         tuple(ids))
                for kind, name, slug, title, folder, places, first, archived, ids in feeds))
        except (TypeError, ValueError):
            return None


class PlannedFeed(NamedTuple):
    spec: FeedSpec
    docs: list[Document]  # live first; after `extend_plan`, only the documents it re-planned
    tail: FeedTail


def plan_feed(
    spec: FeedSpec, rows: Sequence[FeedIndexRow], max_entries: int, page_size: int,
    hubs: tuple[str, ...], base: str, *, first: int = 0, archived: bool = False,
) -> tuple[list[Document], FeedTail]:
    """A feed's live document, then its archive pages oldest first, and its tail. `rows`
    newest first: all of the feed's, or (`first` > 0) those from place `first` on, of a
    feed with a live row before `first` if `archived`; then only the pages from the one
    holding place `first` are planned (the ones before it are full: they never change)."""
    log = rows[::-1]  # oldest first: a row's index is its place - first
    live: list[FeedIndexRow] = []
    start = len(log)  # index of the oldest live entry
    for index in range(len(log) - 1, -1, -1):
        if len(live) == max_entries:
            break
        if not log[index].deleted:
            live.append(log[index])
            start = index
    before = archived  # a live row before `first`
    archived = before or any(not row.deleted for row in log[:start])
    pages = (first + start) // page_size + 1 if archived else 0
    docs = [_document(spec, FeedLinks(0, pages, hubs), live, base)]
    for page in range(first // page_size + 1, pages + 1):
        members = log[(page - 1) * page_size - first:min(page * page_size, first + start) - first]
        entries = [row for row in reversed(members) if not row.deleted]
        docs.append(_document(spec, FeedLinks(page, pages), entries, base))
    # (an append-only pass moves the oldest live entry only newer: from `first` > 0 on, the
    # feed stays archived)
    cut = (first + start) // page_size * page_size - first if archived else 0
    tail = FeedTail(spec, first + len(log), first + cut,
                    before or any(not row.deleted for row in log[:cut]),
                    tuple(row.id for row in log[cut:]))
    return docs, tail


def plan_feeds(
    rows: Sequence[FeedIndexRow], site: Site, feeds_url: str, *, max_entries: int,
    page_size: int, hubs: Sequence[str] = (),
) -> list[PlannedFeed]:
    """Every feed with its documents (live first). `rows` as `feed_log` gives them."""
    planned = []
    for spec, members in group_feeds(rows, site):
        base = _base_print(spec, site, feeds_url)
        planned.append(PlannedFeed(spec, *plan_feed(spec, members, max_entries, page_size,
                                                    tuple(hubs), base)))
    return planned


def extend_plan(
    tails: Sequence[FeedTail], added: Sequence[FeedIndexRow],
    rows_of: Callable[[list[str]], Sequence[FeedIndexRow]], site: Site, feeds_url: str, *,
    max_entries: int, page_size: int, hubs: Sequence[str] = (),
) -> list[PlannedFeed] | None:
    """`plan_feeds` after a pass that only added articles, at the new end of the log (`added`,
    newest first), to the feeds planned before (`tails`, from a plan with the same settings).
    Only the feeds the new articles are in are planned again, from their tails (whose rows
    `rows_of(ids)` gives, asked once); the others keep their documents (empty `docs`). None
    when a new article starts a feed, or spells a feed's name otherwise (every document of it
    changes): then plan them all."""
    added_to = {(spec.kind, spec.slug): (spec, members) for spec, members in group_feeds(added, site)}
    tail_of = {(tail.spec.kind, tail.spec.slug): tail for tail in tails}
    if not added_to.keys() <= tail_of.keys():  # a new feed, or one back whose removed
        return None  # articles still hold their places
    rows = {row.id: row for row in rows_of(sorted({i for key in added_to for i in tail_of[key].ids}))}
    planned = []
    for tail in tails:
        spec, members = added_to.pop((tail.spec.kind, tail.spec.slug), (None, None))
        if spec is None or members is None:
            planned.append(PlannedFeed(tail.spec, [], tail))
            continue
        if spec.key != tail.spec.key:
            return None
        older = [rows[i] for i in reversed(tail.ids)]
        planned.append(PlannedFeed(spec, *plan_feed(
            spec, members + older, max_entries, page_size, tuple(hubs),
            _base_print(spec, site, feeds_url), first=tail.first, archived=tail.archived)))
    return planned


def _base_print(spec: FeedSpec, site: Site, feeds_url: str) -> str:
    """What every document of a feed depends on besides its entries and links."""
    return json.dumps([__version__, site.title, site.base_url, site.language, site.description,
                       str(site.timezone), feeds_url, spec.kind, spec.key, spec.title,
                       spec.path])


def _document(
    spec: FeedSpec, links: FeedLinks, entries: Sequence[FeedIndexRow], base: str
) -> Document:
    # Page n's links depend only on whether it is the newest, so a full page keeps its print.
    place = [links.pages] if links.page == 0 else [links.page, links.page < links.pages]
    digest = hashlib.sha256(f"{base}\n{place}\n{list(links.hubs)}\n".encode())
    digest.update("\n".join([r.line for r in entries]).encode())
    return Document(spec, links, tuple(r.id for r in entries), digest.hexdigest())

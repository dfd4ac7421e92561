"""Articles, the seed files they come from, and the fingerprints of the feeds written from them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Iterable, NamedTuple, Sequence
from zoneinfo import ZoneInfo

from ..model import DATE_FIRST_SEEN, Article, SeedContent, Teaser, page_hash
from .db import Connection, parse_utc, utc_text

# Every column of `articles`, in the order `_article()` unpacks them.
ARTICLE_COLUMNS = ("id, source, slug, url, guid, title, summary, authors, published, updated, "
                   "category, credit, translation_note, body_html, related, language, "
                   "content_hash, first_seen, deleted_at, page_hash, caption, date_source")
_Row = dict[str, object]  # column -> value, as `_row` makes it: private to the store
_SELECT_ARTICLES = f"SELECT {ARTICLE_COLUMNS} FROM articles"
_NEWEST_FIRST = "ORDER BY published DESC, updated DESC, id"
_INSERT_ARTICLE = (
    f"INSERT INTO articles ({ARTICLE_COLUMNS}) VALUES (:id, :source, :slug, :url, :guid, :title, "
    ":summary, :authors, :published, :updated, :category, :credit, :translation_note, "
    ":body_html, :related, :language, :content_hash, :first_seen, :deleted_at, :page_hash, "
    ":caption, :date_source)")
_INSERT_ROW = f"INSERT INTO articles ({ARTICLE_COLUMNS}) VALUES ({', '.join('?' * 22)})"
_UPDATE_ROW = (
    "UPDATE articles SET source = ?, title = ?, summary = ?, authors = ?, published = ?, "
    "updated = ?, category = ?, credit = ?, translation_note = ?, body_html = ?, related = ?, "
    "language = ?, content_hash = ?, page_hash = ?, caption = ?, date_source = ?, "
    "deleted_at = NULL WHERE id = ?")
_UPDATE_ARTICLE = (
    "UPDATE articles SET source = :source, title = :title, summary = :summary, authors = :authors, "
    "published = :published, updated = :updated, category = :category, credit = :credit, "
    "translation_note = :translation_note, body_html = :body_html, related = :related, "
    "language = :language, content_hash = :content_hash, page_hash = :page_hash, "
    "caption = :caption, date_source = :date_source, deleted_at = NULL WHERE id = :id")


class SeedFileState(NamedTuple):  # named tuples: a pass reads one per seed (100,000s)
    source: str
    size: int
    mtime_ns: int
    status: str
    message: str


class FeedIndexRow(NamedTuple):
    """What feed selection needs of an article, without its body (cheap to load by the
    100,000: a named tuple, made from the row as it comes)."""

    id: str
    category: str
    authors: tuple[str, ...]
    content_hash: str
    updated: str  # as stored: ISO 8601 in UTC
    deleted: bool
    line: str  # its part of a feed document's fingerprint (see `feedplan`), made once per row

    @classmethod
    def of(cls, id_: str, category: str, authors: tuple[str, ...], content_hash: str,
           updated: str, deleted: bool = False) -> FeedIndexRow:
        return cls(id_, category, authors, content_hash, updated, deleted,
                   f"{id_}\t{content_hash}\t{updated}")


def seed_states(conn: Connection) -> dict[str, SeedFileState]:
    make = SeedFileState._make
    rows = conn.execute("SELECT source, size, mtime_ns, status, message FROM seed_files").all()
    return {row[0]: make(row) for row in rows}


def seed_states_of(conn: Connection, sources: Sequence[str]) -> dict[str, SeedFileState]:
    """`seed_states` of these sources only, and of every seed whose outcome was not an
    article (failed, skipped, a duplicate: few, and reported again by every pass)."""
    make = SeedFileState._make
    found = {row[0]: make(row) for row in conn.execute(
        "SELECT source, size, mtime_ns, status, message FROM seed_files WHERE status <> 'ok'"
    ).all()}
    for chunk in _chunks(list(sources), 500):
        found.update((row[0], make(row)) for row in conn.execute(
            "SELECT source, size, mtime_ns, status, message FROM seed_files "
            f"WHERE source IN ({_marks(chunk)})", chunk).all())
    return found


def record_seed_states(conn: Connection, states: Sequence[SeedFileState], now: datetime) -> None:
    if not states:
        return
    forget_seed_files(conn, [s.source for s in states])
    stamp = utc_text(now)
    conn.executemany(
        "INSERT INTO seed_files (source, size, mtime_ns, status, message, checked_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(s.source, s.size, s.mtime_ns, s.status, s.message, stamp) for s in states],
    )


def forget_seed_files(conn: Connection, sources: Iterable[str]) -> None:
    for chunk in _chunks(list(sources), 500):
        conn.execute(f"DELETE FROM seed_files WHERE source IN ({_marks(chunk)})", chunk)


class StoredIdentity(NamedTuple):
    """What an article keeps across corrections of its seed (and a move to another file)."""

    id: str
    slug: str
    guid: str
    content_hash: str
    seen: str  # first seen, as stored (UTC text): parsed only for the few articles that need it
    deleted: bool
    page_hash: str = ""  # see `page_hash`: '' for rows stored before it existed
    source: str = ""

    @property
    def first_seen(self) -> datetime:
        return parse_utc(self.seen)


def identities_by_source(conn: Connection) -> dict[str, StoredIdentity]:
    """source -> identity, for every article ever stored (deleted ones too). Read by every
    ingest: the rows come from the identity index in the tuple's own order, nothing parsed."""
    make = StoredIdentity._make
    return {row[7]: make(row) for row in conn.execute(_IDENTITY).all()}


_IDENTITY = ("SELECT id, slug, guid, content_hash, first_seen, deleted_at IS NOT NULL, page_hash, "
             "source FROM articles")


def identities_of(conn: Connection, sources: Sequence[str], ids: Sequence[str] = ()
                  ) -> dict[str, StoredIdentity]:
    """`identities_by_source` of the articles of these sources and of these ids only."""
    make = StoredIdentity._make
    found: dict[str, StoredIdentity] = {}
    for column, keys in (("source", sources), ("id", ids)):
        for chunk in _chunks(list(keys), 500):
            found.update((row[7], make(row)) for row in conn.execute(
                f"{_IDENTITY} WHERE {column} IN ({_marks(chunk)})", chunk).all())
    return found


def live_count(conn: Connection) -> int:
    return int(conn.scalar("SELECT count(*) FROM articles WHERE deleted_at IS NULL"))


def source_of_slug(conn: Connection, slug: str) -> str | None:
    """The seed of the article (live or removed) holding this slug, or None."""
    return conn.scalar("SELECT source FROM articles WHERE slug = ?", [slug])


def live_identity_of_page(conn: Connection, page: str) -> StoredIdentity | None:
    """The live article showing this page (see `page_hash`), or None. No index: a scan of the
    identity index (~20 ms at 100,000 articles), for the few new seeds of a small pass."""
    row = conn.execute(f"{_IDENTITY} WHERE page_hash = ? AND deleted_at IS NULL LIMIT 1",
                       [page]).first()
    return None if row is None else StoredIdentity._make(row)


def fill_page_hashes(conn: Connection) -> int:
    """Compute `page_hash` for the rows stored before the column existed; how many."""
    rows = conn.execute(
        "SELECT id, title, published, body_html, date_source FROM articles "
        "WHERE page_hash = ''").all()
    conn.executemany("UPDATE articles SET page_hash = ? WHERE id = ?", [
        (page_hash(title, None if dated == DATE_FIRST_SEEN else parse_utc(published), body), id_)
        for id_, title, published, body, dated in rows])
    return len(rows)


class ContentRow(NamedTuple):
    """A seed's content (`SeedContent`, no identity) as the `articles` columns hold it.

    Made where the seed is parsed (a worker process): plain text, cheap to send to the main
    process (a SeedContent's zoned dates and teasers cost five times as much to pickle and
    unpickle), with nothing left there to encode. The pipeline adds the identity
    (`article_row`)."""

    source: str
    slug: str  # the one the seed asks for
    published: str  # UTC text; '' when the page prints no date
    day: str  # the published date as the page gives it (ISO 8601), or '': the tag: guid's date
    updated: str  # UTC text; '' when the same as published
    title: str
    summary: str
    authors: str  # the column's JSON
    category: str
    credit: str
    translation_note: str
    body_html: str
    related: str  # the column's JSON
    language: str
    content_hash: str
    page_hash: str
    caption: str
    date_source: str

    @classmethod
    def of(cls, c: SeedContent) -> ContentRow:
        published = utc_text(c.published) if c.published is not None else ""
        return cls(
            c.source, c.slug, published, c.published.date().isoformat() if c.published else "",
            "" if c.updated is None or c.updated == c.published else utc_text(c.updated),
            c.title, c.summary, _json_names(c.authors), c.category, c.credit,
            c.translation_note, c.body_html, related_json(c.related), c.language,
            c.content_hash, c.page_hash or page_hash(c.title, c.published, c.body_html),
            c.caption, c.date_source)


ArticleRow = tuple  # type: ignore[type-arg]  # an article as `articles` holds it (`article_row`)


def article_row(content: ContentRow, id_: str, slug: str, url: str, guid: str, published: str,
                updated: str, first_seen: str) -> ArticleRow:
    """The row of an article: its content and the identity the pipeline gave it (dates as UTC
    text)."""
    c = content
    return (id_, c.source, slug, url, guid, c.title, c.summary, c.authors, published, updated,
            c.category, c.credit, c.translation_note, c.body_html, c.related, c.language,
            c.content_hash, first_seen, None, c.page_hash, c.caption, c.date_source)


def insert_rows(conn: Connection, rows: Sequence[ArticleRow]) -> None:
    if rows:
        conn.executemany(_INSERT_ROW, rows)


def update_rows(conn: Connection, rows: Sequence[ArticleRow]) -> None:
    """Overwrite content and source, keeping identity columns (id, slug, url, guid, first_seen)."""
    if rows:
        conn.executemany(_UPDATE_ROW, [
            (r[1], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15], r[16],
             r[19], r[20], r[21], r[0]) for r in rows])


def insert_articles(conn: Connection, new: Sequence[Article]) -> None:
    if new:
        conn.executemany(_INSERT_ARTICLE, [_row(a) for a in new])


def update_articles(conn: Connection, changed: Sequence[Article]) -> None:
    """Overwrite content and source, keeping identity columns (id, slug, url, guid, first_seen)."""
    if changed:
        conn.executemany(_UPDATE_ARTICLE, [_row(a) for a in changed])


def mark_deleted(conn: Connection, sources: Iterable[str], now: datetime) -> int:
    count = 0
    stamp = utc_text(now)
    for chunk in _chunks(list(sources), 500):
        result = conn.execute(
            f"UPDATE articles SET deleted_at = ? WHERE source IN ({_marks(chunk)}) "
            "AND deleted_at IS NULL", [stamp, *chunk])
        count += result.rowcount
    return count


def feed_index(conn: Connection) -> list[FeedIndexRow]:
    """Every live article's selection fields, newest first (published, then updated, then id)."""
    rows = conn.execute(
        "SELECT id, category, authors, content_hash, updated FROM articles "
        f"WHERE deleted_at IS NULL {_NEWEST_FIRST}").all()
    authors: dict[str, tuple[str, ...]] = {}  # most articles share a few author lists
    found = []
    append = found.append
    for id_, category, author_json, hash_, updated in rows:
        names = authors.get(author_json)
        if names is None:
            names = authors[author_json] = tuple(json.loads(author_json))
        append(FeedIndexRow.of(id_, category, names, hash_, updated))
    return found


def feed_log(conn: Connection) -> list[FeedIndexRow]:
    """Every article ever stored, removed ones too (`deleted`), in the order they were added,
    newest first: first seen, then published, then id. The feeds' archive pages are cut from
    this order, so an article's place in it never moves (see `feedplan`). Read from the
    covering index `articles_feed_log` (migration 13), never from the rows themselves."""
    return _feed_rows(conn.execute(f"{_FEED_ROW} FROM articles {_LOG_ORDER}").all())


def feed_rows(conn: Connection, ids: Sequence[str]) -> list[FeedIndexRow]:
    """`feed_log`'s rows of these articles only, in its order."""
    rows: list[tuple] = []  # type: ignore[type-arg]
    for chunk in _chunks(list(ids), 500):
        rows += conn.execute(f"{_FEED_ROW}, first_seen, published FROM articles "
                             f"WHERE id IN ({_marks(chunk)})", chunk).all()
    rows.sort(key=lambda row: row[0])  # then by published and first seen, newest first:
    rows.sort(key=lambda row: (row[7], row[6]), reverse=True)  # the log's order (stable)
    return _feed_rows(rows)


def newest_first_seen(conn: Connection) -> str | None:
    return conn.scalar("SELECT max(first_seen) FROM articles")


def seen_since(conn: Connection, moment: str) -> list[str]:
    """The articles first seen after `moment` (UTC text, as stored)."""
    return conn.scalars("SELECT id FROM articles WHERE first_seen > ?", [moment])


_FEED_ROW = ("SELECT id, category, authors, content_hash, updated, "
             "deleted_at IS NOT NULL")
_LOG_ORDER = "ORDER BY first_seen DESC, published DESC, id"


def _feed_rows(rows: Sequence[tuple]) -> list[FeedIndexRow]:  # type: ignore[type-arg]
    authors: dict[str, tuple[str, ...]] = {}  # most articles share a few author lists
    of = FeedIndexRow.of
    found = []
    append = found.append
    for row in rows:
        names = authors.get(row[2])
        if names is None:
            names = authors[row[2]] = tuple(json.loads(row[2]))
        append(of(row[0], row[1], names, row[3], row[4], bool(row[5])))
    return found


def get_articles(
    conn: Connection, ids: Sequence[str], tz: ZoneInfo, *, whole: bool = True
) -> dict[str, Article]:
    """Articles by id; `whole=False`: only what the feeds show of them (no teasers, source,
    slug, hashes, caption or first-seen time: a third less to read and build by the 100,000)."""
    found: dict[str, Article] = {}
    select = _SELECT_ARTICLES if whole else _SELECT_FEED_ARTICLES
    make = _FeedArticles(tz) if not whole else lambda r: _article(r, tz)
    for chunk in _chunks(list(ids), 500):
        for r in conn.execute(f"{select} WHERE id IN ({_marks(chunk)})", chunk):
            found[r[0]] = make(r)
    return found


def find_article(conn: Connection, key: str, tz: ZoneInfo) -> Article | None:
    """By id, slug or source file name."""
    row = conn.execute(f"{_SELECT_ARTICLES} WHERE id = :key OR slug = :key OR source = :key",
                       {"key": key}).first()
    return _article(row, tz) if row else None


def list_articles(conn: Connection, tz: ZoneInfo, limit: int | None = None) -> list[Article]:
    sql = f"{_SELECT_ARTICLES} WHERE deleted_at IS NULL {_NEWEST_FIRST}"
    if limit is not None:
        return [_article(r, tz) for r in conn.execute(f"{sql} LIMIT ?", (limit,))]
    return [_article(r, tz) for r in conn.execute(sql)]


def articles_first_seen_after(
    conn: Connection, after: datetime | None, until: datetime, tz: ZoneInfo
) -> list[Article]:
    """Live articles taken in during (after, until], newest first: what a digest may hold."""
    sql = f"{_SELECT_ARTICLES} WHERE deleted_at IS NULL AND first_seen <= :until"
    if after is not None:
        sql += " AND first_seen > :after"
    sql += " ORDER BY published DESC, first_seen DESC, id"
    params = {"until": utc_text(until), "after": utc_text(after) if after is not None else None}
    return [_article(r, tz) for r in conn.execute(sql, params)]


def count_articles(conn: Connection) -> int:
    return conn.scalar("SELECT count(*) FROM articles WHERE deleted_at IS NULL") or 0


def feed_fingerprints(conn: Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT path, fingerprint FROM feed_outputs").all())


def record_feed_fingerprints(conn: Connection, prints: dict[str, str], now: datetime,
                             previous: dict[str, str] | None = None) -> None:
    """Make `prints` the recorded fingerprints. `previous`: what `feed_fingerprints` gave
    before, so that only the documents whose print changed are written and the ones gone
    deleted (a build changes a few of 10,000s); without it, all are written again."""
    if previous is None:
        conn.execute("DELETE FROM feed_outputs")
        previous = {}
    for chunk in _chunks([path for path in previous if path not in prints], 500):
        conn.execute(f"DELETE FROM feed_outputs WHERE path IN ({_marks(chunk)})", chunk)
    stamp = utc_text(now)
    changed = [(p, f, stamp) for p, f in prints.items() if previous.get(p) != f]
    if changed:
        conn.executemany(
            "INSERT INTO feed_outputs (path, fingerprint, written_at) VALUES (?, ?, ?) "
            "ON CONFLICT (path) DO UPDATE SET fingerprint = excluded.fingerprint, "
            "written_at = excluded.written_at", changed)


def _row(a: Article) -> _Row:
    """An article as the store writes it (dated: the pipeline dates an undated page)."""
    published = utc_text(a.published)  # a new article's updated and first_seen are the same
    return {
        "id": a.id, "source": a.source, "slug": a.slug, "url": a.url, "guid": a.guid,
        "title": a.title, "summary": a.summary, "authors": _json_names(a.authors),
        "published": published,
        "updated": published if a.updated == a.published or a.updated is None
        else utc_text(a.updated),
        "category": a.category, "credit": a.credit, "translation_note": a.translation_note,
        "body_html": a.body_html, "related": related_json(a.related),
        "language": a.language, "content_hash": a.content_hash,
        "first_seen": utc_text(a.first_seen) if a.first_seen else published,
        "deleted_at": None, "caption": a.caption, "date_source": a.date_source,
        "page_hash": a.page_hash or page_hash(
            a.title, None if a.date_source == DATE_FIRST_SEEN else a.published, a.body_html),
    }


# The JSON columns hold exactly what `json.dumps` gives (default settings), written with its C
# string encoder: json.dumps builds a new encoder on every call, which cost more than the text.
_json_str = json.encoder.encode_basestring_ascii


def _json_names(names: Sequence[str]) -> str:
    """`json.dumps(list(names))`."""
    return "[" + ", ".join(map(_json_str, names)) + "]"


def related_json(teasers: Sequence[Teaser]) -> str:
    """The `related` column: `json.dumps` of a list of teaser objects (see `_article`)."""
    return "[" + ", ".join(
        f'{{"title": {_json_str(t.title)}, "summary": {_json_str(t.summary)}, '
        f'"authors": {_json_names(t.authors)}, '
        f'"published": {_json_str(t.published.isoformat()) if t.published else "null"}, '
        f'"image_description": {_json_str(t.image_description)}}}'
        for t in teasers
    ) + "]"


def _article(r: tuple, tz: ZoneInfo) -> Article:  # type: ignore[type-arg]
    """An `articles` row (columns as `ARTICLE_COLUMNS`) as an Article."""
    (id_, source, slug, url, guid, title, summary, authors, published, updated, category, credit,
     translation_note, body_html, related_json, language, content_hash, first_seen, _deleted,
     page, caption, date_source) = r
    related = tuple(
        Teaser(t["title"], t["summary"], tuple(t["authors"]),
               date.fromisoformat(t["published"]) if t["published"] else None,
               t["image_description"])
        for t in json.loads(related_json)
    )
    return Article(
        id=id_, slug=slug, url=url, guid=guid, title=title, summary=summary,
        authors=tuple(json.loads(authors)),
        published=parse_utc(published).astimezone(tz), updated=parse_utc(updated).astimezone(tz),
        category=category, credit=credit, translation_note=translation_note,
        body_html=body_html, related=related, source=source, content_hash=content_hash,
        language=language, first_seen=parse_utc(first_seen), caption=caption,
        date_source=date_source, page_hash=page,
    )


_FEED_COLUMNS = ("id, url, guid, title, summary, authors, published, updated, category, credit, "
                 "translation_note, body_html, language")
_SELECT_FEED_ARTICLES = f"SELECT {_FEED_COLUMNS} FROM articles"


class _FeedArticles:
    """Rows of `_FEED_COLUMNS` as Articles holding what feeds show (the rest empty). Many
    articles share their authors and, dated by day, their dates: each spelling is decoded once."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.names: dict[str, tuple[str, ...]] = {}
        self.moments: dict[str, datetime] = {}

    def moment(self, text: str) -> datetime:
        found = self.moments.get(text)
        if found is None:
            found = self.moments[text] = parse_utc(text).astimezone(self.tz)
        return found

    def __call__(self, r: tuple) -> Article:  # type: ignore[type-arg]
        (id_, url, guid, title, summary, authors, published, updated, category, credit,
         translation_note, body_html, language) = r
        names = self.names.get(authors)
        if names is None:
            names = self.names[authors] = tuple(json.loads(authors))
        return Article(
            id_, "", url, guid, title, summary, names, self.moment(published),
            self.moment(updated), category, credit, translation_note, body_html, (), "", "",
            language)


def _marks(items: Sequence[object]) -> str:
    """`?, ?, ?` for an IN list of these items."""
    return ", ".join("?" * len(items))


def _chunks(items: list, size: int):  # type: ignore[no-untyped-def]
    for start in range(0, len(items), size):
        yield items[start:start + size]

"""Full-text search over live articles: titles, summaries and bodies (SQLite FTS5, or
PostgreSQL's full-text search: a weighted tsvector with a GIN index, `websearch_to_tsquery`).

The index (`article_search`, one row per live article, `search_entries` saying which article
and which version each row holds) is brought up to date by `refresh_search_index`, in batches,
from the articles table: ingesting pays nothing for it (an FTS5 insert costs ~0.1 ms per
article, a third of a 100,000-seed build's budget), the first searches after a large ingest do
the work instead. Bodies are indexed as text, without their markup.

`match_expression(query)` turns what a visitor typed into an FTS5 expression that can only
mean "all these words" (every word or "quoted phrase" becomes a quoted string), so no input is
ever FTS5 syntax; on PostgreSQL the same quoted terms go to `websearch_to_tsquery`, which
never fails on any input. Ranking: bm25 (SQLite) or ts_rank (PostgreSQL), titles weighing
most, then summaries, then bodies. Both stem English words; accents are folded before
indexing and querying (PostgreSQL needs no `unaccent` extension for it).
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from typing import Sequence
from zoneinfo import ZoneInfo

from ..model import Article
from .articles import _chunks, _marks, get_articles
from .db import Connection

MAX_QUERY_CHARS = 200
MAX_TERMS = 12
REFRESH_BATCH = 500
WEIGHTS = "10.0, 4.0, 1.0"  # bm25 weights of title, summary, body
PG_CONFIG = "english"  # PostgreSQL text search configuration (stemming, stop words)
PG_WEIGHTS = "'{0.05, 0.1, 0.4, 1.0}'"  # ts_rank weights of D, C (body), B (summary), A (title)
_PG_DOCUMENT = (f"setweight(to_tsvector('{PG_CONFIG}', ?), 'A') || "
                f"setweight(to_tsvector('{PG_CONFIG}', ?), 'B') || "
                f"setweight(to_tsvector('{PG_CONFIG}', ?), 'C')")
_PG_QUERY = f"websearch_to_tsquery('{PG_CONFIG}', ?)"

_TERM = re.compile(r'"([^"]*)"|(\S+)')
_WORD = re.compile(r"\w", re.UNICODE)
_TAG = re.compile(r"<[^>]*>")
_DROP = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)


def match_expression(query: str) -> str | None:
    """An FTS5 expression for all the words and quoted phrases of `query`; None if it has
    none (only punctuation, or empty)."""
    terms = []
    for phrase, word in _TERM.findall(query[:MAX_QUERY_CHARS]):
        term = phrase or word
        if _WORD.search(term):
            terms.append('"' + term.replace('"', '""') + '"')
    return " ".join(terms[:MAX_TERMS]) or None


def indexed_text(markup: str) -> str:
    """What a body says, for the index: tags and script/style contents dropped, entities read."""
    return html.unescape(_TAG.sub(" ", _DROP.sub(" ", markup)))


def fold(text: str) -> str:
    """Accents off (`Aíres` -> `Aires`), for PostgreSQL documents and queries alike."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _postgres(conn: Connection) -> bool:
    return getattr(conn, "dialect", "sqlite") == "postgresql"


@dataclass(frozen=True)
class Results:
    articles: tuple[Article, ...]
    total: int  # matching articles in all
    unindexed: int  # live articles not searchable yet (the index is catching up)


def search_articles(conn: Connection, query: str, tz: ZoneInfo, number: int, size: int,
                    unindexed: int = 0) -> Results:
    """The `number`th page of live articles matching `query`, best first."""
    expression = match_expression(query)
    if expression is None:
        return Results((), 0, unindexed)
    if _postgres(conn):
        expression = fold(expression)
        joined = ("FROM search_entries s JOIN articles a ON a.id = s.article_id "
                  f"WHERE s.document @@ {_PG_QUERY} AND a.deleted_at IS NULL")
        rank = f"ts_rank({PG_WEIGHTS}, s.document, {_PG_QUERY}) DESC"
        params: tuple = (expression, expression)
    else:
        joined = ("FROM article_search JOIN search_entries s ON s.id = article_search.rowid "
                  "JOIN articles a ON a.id = s.article_id "
                  "WHERE article_search MATCH ? AND a.deleted_at IS NULL")
        rank = f"bm25(article_search, {WEIGHTS})"
        params = (expression,)
    total = conn.scalar(f"SELECT count(*) {joined}", params[:1]) or 0
    ids = conn.scalars(
        f"SELECT a.id {joined} ORDER BY {rank}, a.published DESC, a.id LIMIT ? OFFSET ?",
        (*params, size, (number - 1) * size))
    found = get_articles(conn, ids, tz)
    return Results(tuple(found[i] for i in ids if i in found), total, unindexed)


def slug_by_title(conn: Connection, title: str) -> str | None:
    """The slug of the live article with exactly this title (spacing and case aside)."""
    words = match_expression(title.replace('"', " "))
    if words is None:
        return None
    wanted = _same(title)
    if _postgres(conn):
        rows = conn.execute(
            "SELECT a.slug, a.title FROM search_entries s JOIN articles a ON a.id = s.article_id "
            f"WHERE s.document @@ {_PG_QUERY} AND a.deleted_at IS NULL LIMIT 50",
            (fold(words),)).all()
    else:
        rows = conn.execute(
            "SELECT a.slug, a.title FROM article_search "
            "JOIN search_entries s ON s.id = article_search.rowid "
            "JOIN articles a ON a.id = s.article_id "
            "WHERE article_search MATCH ? AND a.deleted_at IS NULL LIMIT 50",
            (f"title : ({words})",)).all()
    return next((slug for slug, found in rows if _same(found) == wanted), None)


def _same(title: str) -> str:
    return " ".join(title.split()).casefold()


def refresh_search_index(conn: Connection, limit: int = 5000) -> int:
    """Drop index rows of articles deleted or changed since, then index up to `limit` live
    articles not in the index (newest first). Returns how many are still left to index."""
    gone = conn.execute(
        "SELECT s.id FROM search_entries s LEFT JOIN articles a ON a.id = s.article_id "
        "WHERE a.id IS NULL OR a.deleted_at IS NOT NULL OR a.content_hash <> s.content_hash"
    ).scalars()
    for chunk in _chunks(gone, 500):
        if not _postgres(conn):
            conn.execute(f"DELETE FROM article_search WHERE rowid IN ({_marks(chunk)})", chunk)
        conn.execute(f"DELETE FROM search_entries WHERE id IN ({_marks(chunk)})", chunk)
    missing = conn.scalars(
        "SELECT a.id FROM articles a LEFT JOIN search_entries s ON s.article_id = a.id "
        "WHERE a.deleted_at IS NULL AND s.id IS NULL "
        "ORDER BY a.published DESC, a.id LIMIT ?", (limit + 1,))
    for chunk in _chunks(missing[:limit], REFRESH_BATCH):
        _index(conn, chunk)
    if len(missing) <= limit:
        return 0
    return conn.scalar(
        "SELECT count(*) FROM articles a LEFT JOIN search_entries s ON s.article_id = a.id "
        "WHERE a.deleted_at IS NULL AND s.id IS NULL") or 0


def _index(conn: Connection, ids: Sequence[str]) -> None:
    rows = conn.execute(
        "SELECT id, content_hash, title, summary, body_html, credit, translation_note "
        f"FROM articles WHERE id IN ({_marks(ids)})", list(ids)).all()
    postgres = _postgres(conn)
    for id_, content_hash, title, summary, body_html, credit, note in rows:
        body = " ".join(p for p in (credit, indexed_text(body_html), note) if p)
        if postgres:
            conn.execute(
                "INSERT INTO search_entries (article_id, content_hash, document) "
                f"VALUES (?, ?, {_PG_DOCUMENT})",
                (id_, content_hash, fold(title), fold(summary), fold(body)))
            continue
        rowid = conn.scalar(
            "INSERT INTO search_entries (article_id, content_hash) VALUES (?, ?) RETURNING id",
            (id_, content_hash))
        conn.execute("INSERT INTO article_search (rowid, title, summary, body) VALUES (?, ?, ?, ?)",
                     (rowid, title, summary, body))

"""/search?q=: live articles matching every word typed, best first, paged.

The index catches up with the store before a search or an article page (`IndexKeeper`: a
bounded batch, at most every 30 s); the query reaches the store as data only.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Callable

from flask import Blueprint, Flask, Response, abort, current_app, render_template, request

from ..store import Database
from ..store import search as search_store
from .paging import page_count, page_number, pager

bp = Blueprint("search", __name__)
log = logging.getLogger("publisher.web")

REFRESH_PER_REQUEST = 2000  # articles indexed at most while one visitor waits
REFRESH_INTERVAL = 30.0  # seconds between two looks for changed articles


class IndexKeeper:
    """Keeps one app's search index caught up with the store, looking for changes at most
    every `interval` seconds (by the app's clock) and indexing at most `batch` articles a
    time, so searches and article pages never wait long for it."""

    def __init__(self, engine: Database, clock: Callable[[], datetime],
                 interval: float = REFRESH_INTERVAL, batch: int = REFRESH_PER_REQUEST) -> None:
        self._engine = engine
        self._clock = clock
        self._interval = interval
        self._batch = batch
        self._lock = threading.Lock()
        self._checked: datetime | None = None
        self._left = 0

    def refresh(self) -> int:
        """Articles still to index after this call."""
        now = self._clock()
        with self._lock:
            recent = (self._checked is not None
                      and (now - self._checked).total_seconds() < self._interval)
            if recent and not self._left:
                return 0
            try:
                with self._engine.begin() as conn:
                    self._left = search_store.refresh_search_index(conn, self._batch)
            except Exception as exc:  # a busy store: search what is indexed, try again later
                log.warning("search index not refreshed: %s", exc)
            self._checked = now
            return self._left


def install(app: Flask, engine: Database, clock: Callable[[], datetime]) -> None:
    app.extensions["publisher.search"] = IndexKeeper(engine, clock)


def keeper() -> IndexKeeper:
    return current_app.extensions["publisher.search"]  # type: ignore[no-any-return]


@bp.get("/search")
def search() -> Response:
    web = current_app.extensions["publisher"]
    query = " ".join(request.args.get("q", "").split())[: search_store.MAX_QUERY_CHARS]
    number = page_number()
    size = web.settings.web.page_size
    results = None
    if query:
        unindexed = keeper().refresh()
        with web.engine.connect() as conn:
            results = search_store.search_articles(
                conn, query, web.settings.site_record.timezone, number, size, unindexed)
        if number > page_count(results.total, size):
            abort(404)
    pages = page_count(results.total if results else 0, size)
    body = render_template("search.html", query=query, results=results,
                           pager=pager(number, pages))
    # Result pages are not pages of the site: kept out of search engines and shared caches.
    return Response(body, content_type="text/html; charset=utf-8", headers={
        "Cache-Control": "private, max-age=60", "X-Robots-Tag": "noindex"})

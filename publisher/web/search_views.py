"""/search?q=: live articles matching every word typed, best first, paged.

The index catches up with the store before each search (a bounded batch, see
`store.search.refresh_search_index`); the query reaches the store as data only.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, current_app, render_template, request

from ..store import search as search_store
from .paging import page_count, page_number, pager

bp = Blueprint("search", __name__)
log = logging.getLogger("publisher.web")

REFRESH_PER_REQUEST = 2000  # articles indexed at most while one visitor waits


@bp.get("/search")
def search() -> Response:
    web = current_app.extensions["publisher"]
    query = " ".join(request.args.get("q", "").split())[: search_store.MAX_QUERY_CHARS]
    number = page_number()
    size = web.settings.web.page_size
    results = None
    if query:
        with web.engine.begin() as conn:
            unindexed = search_store.refresh_search_index(conn, REFRESH_PER_REQUEST)
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

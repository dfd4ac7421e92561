"""The archive of sent digests: /digests/ and /digests/<id>/ (the "view in browser" link).

A digest page is the digest's own HTML as mailed, without personal links (rendered by
`sending.render_archived_digest`). Only digests that went out to someone are public.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response, abort, render_template

from ..store import web as web_store
from ..subscriptions import ROUTES
from .paging import page_count, page_number, pager

if TYPE_CHECKING:
    from .app import Web

# Mail HTML carries inline styles (premailer); everything else stays as strict as elsewhere.
DIGEST_CSP = (
    "default-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline'; "
    "script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def register(app: Flask, web: Web) -> None:
    tz = web.settings.site_record.timezone

    @app.get(ROUTES["archive"])
    def digest_archive() -> str:
        number = page_number()
        size = web.settings.web.page_size
        with web.engine.connect() as conn:
            found, total = web_store.sent_digests(conn, tz, number, size)
        pages = page_count(total, size)
        if number > pages:
            abort(404)
        return render_template("digests.html", digests=found, pager=pager(number, pages),
                               canonical=web.absolute("digests/")
                               + (f"?page={number}" if number > 1 else ""))

    @app.get(ROUTES["view"])
    def digest_page(digest_id: int) -> Response:
        from ..sending import render_archived_digest  # noqa: PLC0415 - the digest stack, lazily

        with web.engine.connect() as conn:
            sent = web_store.digest_was_sent(conn, digest_id)
        html = render_archived_digest(web.engine, web.settings, digest_id) if sent else None
        if html is None:
            abort(404)
        return Response(html, content_type="text/html; charset=utf-8",
                        headers={"Content-Security-Policy": DIGEST_CSP,
                                 "Cache-Control": "public, max-age=300"})

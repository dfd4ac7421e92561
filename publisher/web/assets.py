"""The site's own static files: the stylesheet and the feed page's script (both overridable
from the project's templates/web/ folder), and a cheap answer for /favicon.ico."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, request

bp = Blueprint("assets", __name__)

ASSETS = {"style.css": "text/css; charset=utf-8", "feed.js": "text/javascript; charset=utf-8"}


def _asset(name: str) -> Response:
    web = current_app.extensions["publisher"]
    path = web.find_template_file(name)
    if path is None:
        abort(404)
    return web.files.response(request, path, 3600, ASSETS[name])


@bp.get("/static/style.css")
def stylesheet() -> Response:
    return _asset("style.css")


@bp.get("/static/feed.js")
def feed_script() -> Response:
    return _asset("feed.js")


@bp.get("/favicon.ico")
def favicon() -> Response:
    """No icon, said cheaply (pages say `rel=icon href=data:,`; mail HTML pages do not)."""
    return Response(status=204, headers={"Cache-Control": "public, max-age=86400"})

"""WordPress feed addresses, redirected (301) to our feeds, so subscribers of the old site stay.

WordPress answers `/feed/` (RSS 2.0), `/feed/atom/`, `/feed/rss2/`, `/feed/rss/`, `/feed/rdf/`,
the same below `/category/<slug>/` and `/author/<slug>/`, and `/?feed=rss2` (or `atom`, with
`category_name=` / `author_name=`). Each goes to the matching file under /feeds/, by absolute
url built from `web.public_url`; a section or author we have no feed for is 404.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, redirect, request

bp = Blueprint("wordpress", __name__)

# WordPress feed type -> our file. RSS 0.92 and RDF readers all read RSS 2.0.
FEED_FILES = {"": "rss.xml", "rss2": "rss.xml", "rss": "rss.xml", "rdf": "rss.xml",
              "atom": "atom.xml"}
FAMILIES = {"category": "categories", "author": "authors"}


def target(kind: str, slug: str, feed_type: str) -> str | None:
    """The path below /feeds/ a WordPress feed address stands for, or None."""
    name = FEED_FILES.get(feed_type)
    if name is None:
        return None
    if kind == "site":
        return name
    if not slug or "/" in slug or slug.startswith("."):
        return None
    return f"{FAMILIES[kind]}/{slug}/{name}"


def _moved(path: str | None) -> Response:
    web = current_app.extensions["publisher"]
    if path is None or not (web.settings.feeds_dir / path).is_file():
        abort(404)
    response = redirect(web.absolute(f"feeds/{path}"), code=301)
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.get("/feed/", defaults={"feed_type": ""})
@bp.get("/feed/<feed_type>/")
def site_feed(feed_type: str) -> Response:
    return _moved(target("site", "", feed_type))


@bp.get("/category/<slug>/feed/", defaults={"feed_type": ""})
@bp.get("/category/<slug>/feed/<feed_type>/")
def category_feed(slug: str, feed_type: str) -> Response:
    return _moved(target("category", slug, feed_type))


@bp.get("/author/<slug>/feed/", defaults={"feed_type": ""})
@bp.get("/author/<slug>/feed/<feed_type>/")
def author_feed(slug: str, feed_type: str) -> Response:
    return _moved(target("author", slug, feed_type))


@bp.before_app_request
def query_feed() -> Response | None:
    """`/?feed=rss2` and friends: WordPress's feed addresses without pretty permalinks."""
    if request.path != "/" or "feed" not in request.args:
        return None
    args = request.args
    if args.get("category_name"):
        return _moved(target("category", args["category_name"], args["feed"]))
    if args.get("author_name"):
        return _moved(target("author", args["author_name"], args["feed"]))
    return _moved(target("site", "", args["feed"]))

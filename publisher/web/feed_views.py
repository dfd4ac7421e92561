"""Feeds on the web: /feeds/ (every feed), /feeds/<file> (the bytes, or a page for browsers).

A feed reader, curl or a script gets the file exactly as written under feeds/. A browser that
navigates to a feed (see `feed_page.wants_page`) gets a page that says what a feed is, offers
the address to copy and one-click links for common readers, and lists the entries. Both
answers carry `Vary` with the headers the choice is made on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, render_template, request, url_for

from ..feeds import FORMATS, OPML_NAME
from ..feedplan import group_feeds
from ..store import articles as article_store
from .feed_page import VARY, FeedDocument, read_feed, reader_links, wants_page
from .feeds import resolve_inside
from .security import CONTENT_SECURITY_POLICY

bp = Blueprint("feeds", __name__)

# The feed page runs one script of our own (the copy button); nothing else changes.
FEED_PAGE_CSP = CONTENT_SECURITY_POLICY.replace("script-src 'none'", "script-src 'self'")
FEED_SUFFIXES = (".xml", ".json")
FORMAT_LABELS = {"atom.xml": "Atom", "rss.xml": "RSS", "feed.json": "JSON Feed"}
KIND_HEADINGS = (("site", "Everything"), ("category", "Sections"), ("author", "Authors"))


@dataclass(frozen=True)
class ListedFeed:
    kind: str
    title: str
    name: str  # the category or author ("" for the site feed)
    folder: str  # below /feeds/
    archive_href: str  # the HTML archive page of the same articles


def _web():  # type: ignore[no-untyped-def]
    return current_app.extensions["publisher"]


@bp.get("/feeds/")
def index() -> Response:
    return _index_page()


@bp.get("/feeds/<path:subpath>")
def feed_file(subpath: str) -> Response:
    web = _web()
    path = resolve_inside(web.settings.feeds_dir, subpath)
    if path is None:
        abort(404)
    if wants_page(request.headers):
        if path.name.endswith(".opml"):
            return _varied(_index_page())
        if path.name.endswith(FEED_SUFFIXES):
            document = read_feed(path.name, path.read_bytes())
            if document is not None:
                return _varied(_feed_page(subpath, document))
    response = web.files.response(request, path, web.settings.web.feed_max_age)
    return _varied(response) if path.name.endswith((*FEED_SUFFIXES, ".opml")) else response


def _feed_page(subpath: str, document: FeedDocument) -> Response:
    web = _web()
    served = web.absolute(f"feeds/{subpath}")
    feed_url = document.self_url or served
    folder = subpath.rsplit("/", 1)[0] if "/" in subpath else ""
    siblings = [(FORMAT_LABELS[name], url_for("feeds.feed_file",
                                              subpath=f"{folder}/{name}" if folder else name))
                for name in FORMATS if (web.settings.feeds_dir / folder / name).is_file()]
    local = web.settings.feeds_url + "/"
    document = replace(document, **{  # archive links stay on this server
        key: url_for("feeds.feed_file", subpath=value.removeprefix(local))
        for key in ("older_url", "newer_url", "current_url")
        if (value := getattr(document, key)).startswith(local)})
    body = render_template(
        "feed.html", feed=document, feed_url=feed_url, readers=reader_links(feed_url),
        formats=siblings, canonical=served,
    )
    return Response(body, content_type="text/html; charset=utf-8", headers={
        "Content-Security-Policy": FEED_PAGE_CSP,
        "Cache-Control": f"public, max-age={web.settings.web.feed_max_age}",
    })


def _index_page() -> Response:
    web = _web()
    listed = listed_feeds()
    groups = [(heading, [f for f in listed if f.kind == kind]) for kind, heading in KIND_HEADINGS]
    feeds_dir: Path = web.settings.feeds_dir
    opml = sorted(p.name for p in feeds_dir.glob("*.opml") if p.is_file()) \
        if feeds_dir.is_dir() else []
    opml.sort(key=lambda name: name != OPML_NAME)  # the main list first
    body = render_template("feeds.html", groups=[g for g in groups if g[1]], opml=opml,
                           canonical=web.absolute("feeds/"))
    return Response(body, content_type="text/html; charset=utf-8")


def listed_feeds() -> list[ListedFeed]:
    """Every feed the last build wrote, in the build's order (site, sections, authors)."""
    web = _web()
    site = web.settings.site_record
    with web.engine.connect() as conn:
        index = article_store.feed_index(conn)
    found = []
    for spec, _ in group_feeds(index, site):
        if not (web.settings.feeds_dir / spec.path / "atom.xml").is_file():
            continue
        archive = {"site": url_for("archive.home"),
                   "category": url_for("archive.category", slug=spec.slug),
                   "author": url_for("archive.author", slug=spec.slug)}[spec.kind]
        found.append(ListedFeed(spec.kind, spec.title, spec.key, spec.path, archive))
    return found


def _varied(response: Response) -> Response:
    """Caches must keep the page and the feed apart (and gzip apart, as before)."""
    vary = [v.strip() for v in response.headers.get("Vary", "").split(",") if v.strip()]
    response.headers["Vary"] = ", ".join([*vary, *(v for v in VARY.split(", ") if v not in vary)])
    return response

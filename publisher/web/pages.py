"""Reading pages: home, article, category and author archives, feeds, stylesheet, digest archive."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, Response, abort, render_template, request, url_for
from markupsafe import Markup

from ..model import Article, slugify
from ..store import web as web_store
from .feeds import resolve_inside

if TYPE_CHECKING:
    from .app import Web

FEED_FORMATS = (  # (file name, media type, label) in the order pages list them
    ("atom.xml", "application/atom+xml", "Atom"),
    ("rss.xml", "application/rss+xml", "RSS"),
    ("feed.json", "application/feed+json", "JSON Feed"),
)
MAX_PAGE = 10_000


@dataclass(frozen=True)
class FeedLink:
    href: str
    media_type: str
    label: str
    title: str


def feed_links(folder: str, title: str) -> list[FeedLink]:
    """Links to the three feeds in `folder` below /feeds/ ("" for the site feeds)."""
    prefix = f"{folder}/" if folder else ""
    return [
        FeedLink(url_for("feed_file", subpath=f"{prefix}{name}"), media_type, label,
                 f"{title} ({label})")
        for name, media_type, label in FEED_FORMATS
    ]


_TAG = re.compile(r"<[^>]+>")
_ELLIPSIS = ("[…]", "[...]", "…", "...")


def repeats_body(summary: str, body_html: str) -> bool:
    """True when the summary is just the body's opening words (a scraped excerpt): not worth
    printing twice on the article page."""
    words = summary.split()
    if not words:
        return True
    text = " ".join(html.unescape(_TAG.sub(" ", body_html[: len(summary) * 4 + 2000])).split())
    short = " ".join(words)
    for mark in _ELLIPSIS:
        short = short.removesuffix(mark).rstrip()
    return text.startswith(short)


def _page_number() -> int:
    raw = request.args.get("page", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        abort(404)
    return int(raw)


def register(app: Flask, web: Web) -> None:
    settings = web.settings
    tz = settings.site_record.timezone
    size = settings.web.page_size

    @app.template_filter("date")
    def format_date(moment) -> str:  # type: ignore[no-untyped-def]
        return f"{moment:%B} {moment.day}, {moment.year}"

    @app.template_global()
    def article_href(article: Article) -> str:
        return url_for("article", slug=article.slug)

    @app.template_global()
    def author_href(name: str) -> str:
        return url_for("author", slug=slugify(name))

    @app.template_global()
    def category_href(name: str) -> str:
        return url_for("category", slug=slugify(name))

    @app.get("/")
    def home() -> str:
        number = _page_number()
        with web.engine.connect() as conn:
            page = web_store.article_page(conn, tz, number, size)
        if number > 1 and not page.articles:
            abort(404)
        return render_template("home.html", page=page, heading=None,
                               feeds=feed_links("", settings.site.title))

    @app.get("/<slug>/")
    def article(slug: str) -> str:
        with web.engine.connect() as conn:
            found = web_store.live_article_by_slug(conn, slug, tz)
            if found is None:
                abort(404)
            wanted = {slugify(t.title): t for t in found.related}
            linked = web_store.live_slugs(conn, list(wanted))
        related = [(t, url_for("article", slug=s) if s in linked else None)
                   for s, t in wanted.items()]
        category_feeds = (feed_links(f"categories/{slugify(found.category)}",
                                     f"{settings.site.title}: {found.category}")
                          if found.category else [])
        return render_template(
            "article.html", article=found, body=Markup(found.full_html), related=related,
            show_summary=not repeats_body(found.summary, found.body_html),
            feeds=feed_links("", settings.site.title) + category_feeds,
        )

    def section(kind: str, slug: str) -> str:
        number = _page_number()
        with web.engine.connect() as conn:
            found = web_store.section_page(conn, tz, kind, slug, number, size)
        if found is None:
            abort(404)
        name, page = found
        folder = f"categories/{slug}" if kind == "category" else f"authors/{slug}"
        return render_template(
            "home.html", page=page, heading=name, kind=kind,
            feeds=feed_links(folder, f"{settings.site.title}: {name}"),
        )

    @app.get("/category/<slug>/")
    def category(slug: str) -> str:
        return section("category", slug)

    @app.get("/author/<slug>/")
    def author(slug: str) -> str:
        return section("author", slug)

    @app.get("/feeds/<path:subpath>")
    def feed_file(subpath: str) -> Response:
        path = resolve_inside(settings.feeds_dir, subpath)
        if path is None:
            abort(404)
        return web.files.response(request, path, settings.web.feed_max_age)

    @app.get("/static/style.css")
    def stylesheet() -> Response:
        path = web.find_template_file("style.css")
        if path is None:
            abort(404)
        return web.files.response(request, path, 3600, "text/css; charset=utf-8")

    @app.get("/favicon.ico")
    def favicon() -> Response:
        """No icon, said cheaply (pages say `rel=icon href=data:,`; mail HTML pages do not)."""
        return Response(status=204, headers={"Cache-Control": "public, max-age=86400"})

    from . import digests  # noqa: PLC0415

    digests.register(app, web)

"""The reading side of the site, as blueprints registered by `register(app, web)`:

- `archive` (here): home, article, category and author pages, with canonical urls, Open Graph
  and Twitter-card metadata and a numbered pager;
- `search` (`search_views.py`): /search?q=;
- `feeds` (`feed_views.py`): /feeds/ and the feed files (or their page, for browsers);
- `wordpress` (`wordpress.py`): the old site's feed addresses, redirected;
- `assets` (`assets.py`): stylesheet, script, favicon;
- and the digest archive (`digests.py`).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Blueprint, Flask, abort, current_app, render_template, request, url_for
from markupsafe import Markup

from ..model import Article, slugify
from ..store import web as web_store
from . import search_views
from .paging import page_count, page_number, pager

if TYPE_CHECKING:
    from .app import Web

bp = Blueprint("archive", __name__)

FEED_FORMATS = (  # (file name, media type, label) in the order pages list them
    ("atom.xml", "application/atom+xml", "Atom"),
    ("rss.xml", "application/rss+xml", "RSS"),
    ("feed.json", "application/feed+json", "JSON Feed"),
)


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
        FeedLink(url_for("feeds.feed_file", subpath=f"{prefix}{name}"), media_type, label,
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


def _web() -> Web:
    return current_app.extensions["publisher"]  # type: ignore[no-any-return]


def canonical_url(path: str, number: int = 1) -> str:
    """This page's address under `web.public_url` (never the request's Host)."""
    url = _web().absolute(path)
    return f"{url}?page={number}" if number > 1 else url


# --- template helpers ------------------------------------------------------------------------


@bp.app_template_filter("date")
def format_date(moment) -> str:  # type: ignore[no-untyped-def]
    return f"{moment:%B} {moment.day}, {moment.year}"


@bp.app_template_global()
def article_href(article: Article) -> str:
    return url_for("archive.article", slug=article.slug)


@bp.app_template_global()
def author_href(name: str) -> str:
    return url_for("archive.author", slug=slugify(name))


@bp.app_template_global()
def category_href(name: str) -> str:
    return url_for("archive.category", slug=slugify(name))


@bp.app_template_global()
def page_href(number: int) -> str:
    """The same listing (and query) at another page number."""
    args = {k: v for k, v in request.args.items() if k != "page"}
    if number > 1:
        args["page"] = str(number)
    return url_for(request.endpoint or "archive.home", **(request.view_args or {}), **args)


# --- views -----------------------------------------------------------------------------------


@bp.get("/")
def home() -> str:
    web = _web()
    number = page_number()
    with web.engine.connect() as conn:
        page, total = web_store.article_page(conn, web.settings.site_record.timezone, number,
                                             web.settings.web.page_size)
    return _listing(page, total, heading=None, kind="site", folder="",
                    title=web.settings.site.title, path="")


@bp.get("/<slug>/")
def article(slug: str) -> str:
    web = _web()
    with web.engine.connect() as conn:
        found = web_store.live_article_by_slug(conn, slug, web.settings.site_record.timezone)
    if found is None:
        abort(404)
    if found.related:
        search_views.keeper().refresh()  # related teasers are found by title in the index
    with web.engine.connect() as conn:
        linked = web_store.related_slugs(conn, found.related)
    related = [(t, url_for("archive.article", slug=linked[t.title]) if t.title in linked else None)
               for t in found.related]
    site_title = web.settings.site.title
    category_feeds = (feed_links(f"categories/{slugify(found.category)}",
                                 f"{site_title}: {found.category}") if found.category else [])
    return render_template(
        "article.html", article=found, body=Markup(found.full_html), related=related,
        show_summary=not repeats_body(found.summary, found.body_html),
        feeds=feed_links("", site_title) + category_feeds,
        canonical=canonical_url(f"{found.slug}/"), og_type="article", og_title=found.title,
        description=found.summary,
    )


def _section(kind: str, slug: str) -> str:
    web = _web()
    number = page_number()
    with web.engine.connect() as conn:
        found = web_store.section_page(conn, web.settings.site_record.timezone, kind, slug,
                                       number, web.settings.web.page_size)
    if found is None:
        abort(404)
    name, page, total = found
    folder = f"categories/{slug}" if kind == "category" else f"authors/{slug}"
    return _listing(page, total, heading=name, kind=kind, folder=folder,
                    title=f"{web.settings.site.title}: {name}", path=f"{kind}/{slug}/")


def _listing(page: web_store.Page, total: int, *, heading: str | None, kind: str, folder: str,
             title: str, path: str) -> str:
    size = _web().settings.web.page_size
    pages = page_count(total, size)
    if page.number > pages:
        abort(404)
    return render_template(
        "home.html", page=page, heading=heading, kind=kind, feeds=feed_links(folder, title),
        pager=pager(page.number, pages), total=total,
        canonical=canonical_url(path, page.number), og_type="website", og_title=title,
    )


@bp.get("/category/<slug>/")
def category(slug: str) -> str:
    return _section("category", slug)


@bp.get("/author/<slug>/")
def author(slug: str) -> str:
    return _section("author", slug)


def register(app: Flask, web: Web) -> None:
    """Every reading blueprint (the subscribe views register themselves)."""
    from . import assets, digests, feed_views, wordpress  # noqa: PLC0415

    search_views.install(app, web.engine, web.now)
    app.register_blueprint(wordpress.bp)  # first: its /category/<slug>/feed/ beats /<slug>/
    app.register_blueprint(bp)
    app.register_blueprint(search_views.bp)
    app.register_blueprint(feed_views.bp)
    app.register_blueprint(assets.bp)
    digests.register(app, web)

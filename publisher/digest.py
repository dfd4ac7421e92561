"""Digests: choose the articles a subscriber gets, render subject, HTML and plain text.

The only importer of Jinja2 and premailer. Rendering happens once per distinct digest content:
the per-subscriber parts (greeting, address, cadence, unsubscribe and manage links) are left as
placeholders (`PLACEHOLDERS`) that `Personal.fill_html` / `Personal.fill_text` replace later, so
the costly CSS inlining never runs per subscriber.

The HTML comes out in few long lines (`long_lines`: at most `HTML_LINE` octets, broken only at
whitespace or before a tag), so mail can carry it as `8bit` rather than quoted-printable: fewer,
longer lines are what SMTP servers handle fastest.

Article titles and summaries are data: text, shown as the very characters they hold (a `<` in
a title is a `<`, never the start of a tag), and everything is autoescaped by Jinja2. Only the
article body is HTML: when it stands in for a missing summary it is reduced to its text (the
content of `<script>`/`<style>` elements dropped).
"""

from __future__ import annotations

import html
import logging
import re
import textwrap
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Iterable, Sequence

import jinja2
import premailer
from markupsafe import Markup

from .config import Settings
from .errors import ConfigError
from .model import Article
from .subscriptions import view_url

BUILTIN_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
HTML_TEMPLATE = "digest.html.j2"
TEXT_TEMPLATE = "digest.txt.j2"
STYLESHEET = "digest.css"
WIDTH = 72
SUMMARY_MAX = 600
HTML_LINE = 990  # octets per HTML line at most (mail allows 998: RFC 5322 section 2.1.1)
PLACEHOLDER_ROOM = 256  # octets a line keeps free for each placeholder's value

PLACEHOLDERS = {
    "greeting": "@@PUB_GREETING@@",
    "email": "@@PUB_EMAIL@@",
    "cadence": "@@PUB_CADENCE@@",
    "unsubscribe_url": "@@PUB_UNSUBSCRIBE_URL@@",
    "manage_url": "@@PUB_MANAGE_URL@@",
}

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class DigestItem:
    """What a digest shows of one article: plain text only, never markup."""

    title: str
    url: str
    authors: str
    date: str
    category: str
    summary: str


@dataclass(frozen=True)
class RenderedDigest:
    """One digest content, rendered and CSS-inlined, with personal parts as placeholders."""

    digest_id: str
    subject: str
    preheader: str
    html: str
    text: str
    article_ids: tuple[str, ...]


@dataclass(frozen=True)
class Personal:
    """The parts of a digest that differ per subscriber."""

    greeting: str  # e.g. "Hi Ana,"
    email: str
    cadence: str
    unsubscribe_url: str
    manage_url: str

    def text_values(self) -> dict[str, str]:
        return {PLACEHOLDERS["greeting"]: self.greeting, PLACEHOLDERS["email"]: self.email,
                PLACEHOLDERS["cadence"]: self.cadence,
                PLACEHOLDERS["unsubscribe_url"]: self.unsubscribe_url,
                PLACEHOLDERS["manage_url"]: self.manage_url}

    def html_values(self) -> dict[str, str]:
        esc = html.escape
        return {PLACEHOLDERS["greeting"]: esc(self.greeting, quote=False),
                PLACEHOLDERS["email"]: esc(self.email, quote=False),
                PLACEHOLDERS["cadence"]: esc(self.cadence, quote=False),
                PLACEHOLDERS["unsubscribe_url"]: esc(self.unsubscribe_url),
                PLACEHOLDERS["manage_url"]: esc(self.manage_url)}

    def fill_html(self, document: str) -> str:
        esc = html.escape
        return (document
                .replace(PLACEHOLDERS["greeting"], esc(self.greeting, quote=False))
                .replace(PLACEHOLDERS["email"], esc(self.email, quote=False))
                .replace(PLACEHOLDERS["cadence"], esc(self.cadence, quote=False))
                .replace(PLACEHOLDERS["unsubscribe_url"], esc(self.unsubscribe_url))
                .replace(PLACEHOLDERS["manage_url"], esc(self.manage_url)))

    def fill_text(self, document: str) -> str:
        return (document
                .replace(PLACEHOLDERS["greeting"], self.greeting)
                .replace(PLACEHOLDERS["email"], self.email)
                .replace(PLACEHOLDERS["cadence"], self.cadence)
                .replace(PLACEHOLDERS["unsubscribe_url"], self.unsubscribe_url)
                .replace(PLACEHOLDERS["manage_url"], self.manage_url))


def greeting_for(name: str) -> str:
    name = clean_line(name)
    return f"Hi {name}," if name else "Hello,"


# --- choosing articles -------------------------------------------------------------------------

def matches(article: Article, categories: Sequence[str]) -> bool:
    if not categories:
        return True
    wanted = {c.casefold() for c in categories}
    return article.category.casefold() in wanted


def select_articles(
    new: Iterable[Article], categories: Sequence[str], limit: int,
    backfill: Iterable[Article] = (), backfill_count: int = 0,
) -> list[Article]:
    """New articles matching the categories (plus up to `backfill_count` older ones), newest
    first, at most `limit`."""
    if categories:
        wanted = {c.casefold() for c in categories}
        chosen = [a for a in new if a.category.casefold() in wanted]
    else:
        chosen = list(new)
    if backfill_count > 0:
        seen = {a.id for a in chosen}
        older = [a for a in backfill if a.id not in seen and matches(a, categories)]
        chosen += older[:backfill_count]
    chosen.sort(key=lambda a: (a.published, a.first_seen or a.published, a.id), reverse=True)
    return chosen[:limit]


# --- text hygiene ------------------------------------------------------------------------------

class _TextExtractor(HTMLParser):
    DROP = {"script", "style", "noscript", "template", "iframe", "object", "svg", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.depth = 0

    def handle_starttag(self, tag: str, attrs) -> None:  # type: ignore[no-untyped-def]
        if tag in self.DROP:
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.DROP and self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if not self.depth:
            self.parts.append(data)


def plain_text(value: str) -> str:
    """Any markup reduced to its visible text (script/style contents dropped), one line."""
    if "<" in value or "&" in value:
        parser = _TextExtractor()
        parser.feed(value)
        parser.close()
        value = "".join(parser.parts)
    return clean_line(value)


def clean_line(value: str) -> str:
    return _SPACE.sub(" ", _CONTROL.sub(" ", value)).strip()


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return f"{cut}…"


def _safe_url(url: str, fallback: str) -> str:
    url = clean_line(url)
    return url if url.startswith(("https://", "http://")) and " " not in url else fallback


def digest_item(article: Article, base_url: str) -> DigestItem:
    """What a digest shows of an article. Title, summary, authors and category are text, and
    stay exactly that text (`<más>` included: never parsed as HTML; Jinja2 escapes them);
    only the body, the summary's fallback, is HTML reduced to its text."""
    summary = clean_line(article.summary) or plain_text(article.body_html)
    return DigestItem(
        title=clean_line(article.title) or "Untitled",
        url=_safe_url(article.url, base_url),
        authors=", ".join(a for a in (clean_line(x) for x in article.authors) if a),
        date=f"{article.published:%B} {article.published.day}, {article.published.year}",
        category=clean_line(article.category),
        summary=_shorten(summary, SUMMARY_MAX),
    )


def subject_for(items: Sequence[DigestItem], settings: Settings) -> str:
    values = {"site": settings.site.title, "count": len(items),
              "title": items[0].title if items else ""}
    pattern = settings.digest.subject_single if len(items) == 1 else settings.digest.subject_many
    return clean_line(pattern.format(**values))  # checked with these names at load


def _wrap(text: str, width: int = WIDTH, indent: str = "") -> str:
    return textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False)


def _link(url: str, label: str, width: int = WIDTH) -> str:
    """`Label: url` on one line when it fits, else the url on its own line (never broken)."""
    line = f"{label}: {url}"
    return line if len(line) <= width else f"{label}:\n{url}"


# --- rendering ---------------------------------------------------------------------------------

class DigestRenderer:
    """Renders digests with the project's templates (falling back to the built-in ones).

    `inline_calls` counts premailer runs: one per distinct digest content.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.site = settings.site_record
        self.public_url = settings.web.public_url.rstrip("/")
        loaders: list[jinja2.BaseLoader] = []
        if settings.templates_dir.is_dir():
            loaders.append(jinja2.FileSystemLoader(str(settings.templates_dir)))
        loaders.append(jinja2.FileSystemLoader(str(BUILTIN_TEMPLATES)))
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=lambda name: bool(name) and not name.endswith(".txt.j2"),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["wrap"] = _wrap
        self.env.filters["link"] = _link
        self.inline_calls = 0
        try:
            self._html = self.env.get_template(HTML_TEMPLATE)
            self._text = self.env.get_template(TEXT_TEMPLATE)
            css_source = self.env.loader.get_source(self.env, STYLESHEET)[0]  # type: ignore[union-attr]
        except jinja2.TemplateNotFound as exc:
            raise ConfigError(f"digest template not found: {exc.name}",
                              f"looked in {settings.templates_dir} and {BUILTIN_TEMPLATES}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(f"{exc.filename}:{exc.lineno}: template error: {exc.message}") from None
        self._css = Markup(css_source.replace("</", "<\\/"))

    def view_url(self, digest_id: str) -> str:
        return view_url(self.public_url, digest_id)

    def context(self, digest_id: str, articles: Sequence[Article], now: datetime) -> dict:
        items = [digest_item(a, self.site.base_url) for a in articles]
        subject = subject_for(items, self.settings)
        local = now.astimezone(self.site.timezone)
        headline = f"{len(items)} new article{'s' if len(items) != 1 else ''}"
        preheader = _shorten(" · ".join(i.title for i in items), 140)
        return {
            "site": {"title": clean_line(self.site.title), "url": self.site.base_url,
                     "description": clean_line(self.site.description),
                     "language": self.site.language},
            "subject": subject,
            "headline": headline,
            "date": f"{local:%B} {local.day}, {local.year}",
            "preheader": preheader,
            "items": items,
            "view_url": self.view_url(digest_id),
            "css": self._css,
            **PLACEHOLDERS,
        }

    def render_uninlined(self, digest_id: str, articles: Sequence[Article], now: datetime
                         ) -> tuple[str, str, str, str]:
        """(subject, preheader, html, text) with Jinja2 alone: no CSS inlining."""
        ctx = self.context(digest_id, articles, now)
        return ctx["subject"], ctx["preheader"], self._html.render(ctx), self._text.render(ctx)

    def render(self, digest_id: str | int, articles: Sequence[Article], now: datetime
               ) -> RenderedDigest:
        digest_id = str(digest_id)
        subject, preheader, document, text = self.render_uninlined(digest_id, articles, now)
        return RenderedDigest(
            digest_id=digest_id, subject=subject, preheader=preheader,
            html=long_lines(self.inline(document)), text=_normalise_text(text),
            article_ids=tuple(a.id for a in articles),
        )

    def inline(self, document: str) -> str:
        """The stylesheet inlined into style attributes; media queries kept in a <style>."""
        self.inline_calls += 1
        inliner = premailer.Premailer(
            document, allow_network=False, disable_validation=True, remove_classes=False,
            cssutils_logging_level=logging.CRITICAL, disable_link_rewrites=True,
            strip_important=False, keep_style_tags=False,
        )
        out = inliner.transform(pretty_print=False)
        if not out.lstrip().lower().startswith("<!doctype"):
            out = "<!DOCTYPE html>\n" + out
        return out


_PLACEHOLDER_MARK = "@@PUB_"


def _octets(piece: str) -> int:
    """UTF-8 length, with `PLACEHOLDER_ROOM` for each placeholder (filled in later)."""
    size = len(piece.encode("utf-8"))
    if _PLACEHOLDER_MARK in piece:
        for placeholder in PLACEHOLDERS.values():
            size += piece.count(placeholder) * (PLACEHOLDER_ROOM - len(placeholder))
    return size


def _split_long(line: str, limit: int) -> list[str]:
    """A line of more than `limit` octets cut at spaces (the space becomes the line break) or,
    with no space to cut at, before a tag. A piece with neither stays long (mail then sends
    the part quoted-printable)."""
    pieces: list[str] = []
    data = line.encode("utf-8")
    room = limit - (_octets(line) - len(data))  # what the placeholders leave
    while len(data) > room:
        cut = data.rfind(b" ", 1, room + 1)
        skip = 1
        if cut <= 0:
            cut = data.rfind(b"<", 1, room + 1)
            skip = 0
        if cut <= 0:  # nothing to cut at within the limit: the first chance after it
            spaces = [i for i in (data.find(b" ", room), data.find(b"<", room)) if i > 0]
            if not spaces:
                break
            cut = min(spaces)
            skip = 1 if data[cut:cut + 1] == b" " else 0
        pieces.append(data[:cut].decode("utf-8"))
        data = data[cut + skip:]
    pieces.append(data.decode("utf-8"))
    return pieces


def long_lines(document: str, limit: int = HTML_LINE) -> str:
    """HTML in few long lines: line breaks become single spaces (the same whitespace to HTML:
    there is no <pre> in a digest) unless the line would pass `limit` octets."""
    lines: list[str] = []
    current: list[str] = []
    size = -1
    for source in document.split("\n"):
        source = source.strip()
        if not source:
            continue
        octets = _octets(source)
        for piece in _split_long(source, limit) if octets > limit else (source,):
            octets = _octets(piece)
            if current and size + 1 + octets > limit:
                lines.append(" ".join(current))
                current, size = [], -1
            current.append(piece)
            size += 1 + octets
    if current:
        lines.append(" ".join(current))
    return "\n".join(lines) + "\n"


def _normalise_text(text: str) -> str:
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:  # at most one blank line in a row
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip("\n") + "\n"

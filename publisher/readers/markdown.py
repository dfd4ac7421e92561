"""Reader for Markdown seeds (`*.md`) with TOML (`+++`) or YAML (`---`) front matter.

Raw HTML in the Markdown is shown as text, never passed through, links keep only safe
schemes, and entities are resolved so the output is well-formed in any feed.

`cmarkgfm` and `yaml` cost time to import and only Markdown seeds need them: they are
imported on first use, so builds of scraped pages never pay for them.
"""

from __future__ import annotations

import html
import re
import tomllib
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..errors import NotAnArticle, SeedError
from ..model import SeedContent, Site
from .record import make_content
from .text import (
    detect_language,
    normalize_text,
    normalized_utf8,
    parse_date,
    split_authors,
    truncate,
)

_FRONT_MATTER = re.compile(r"(\+\+\+|---)[ \t]*\n(.*?)(?:^|\n)\1[ \t]*(?:\n|\Z)", re.DOTALL)
_FIELDS = (
    "title date updated authors author category summary slug credit language translation_note"
).split()
_TEXT_FIELDS = ("category", "summary", "slug", "credit", "language", "translation_note")
# Hugo's and Jekyll's own front matter, so their content folders can be pointed at: read
# (`categories` and `description` stand in for category and summary, `lastmod` for updated,
# `publishDate` for date; `draft = true` and Jekyll's `published: false` are skipped), or
# accepted and not used (tags, aliases, weight, layout...).
_SITE_GENERATOR_FIELDS = (
    "categories tags description lastmod publishDate draft published expiryDate aliases weight "
    "layout type url permalink images image series keywords toc menu linkTitle headless outputs "
    "resources cascade markup isCJKLanguage sitemap build params excerpt comments "
    "featured_image cover showToc hidden"
).split()
_KNOWN = frozenset(_FIELDS + _SITE_GENERATOR_FIELDS)
_FIRST_P = re.compile(r"<p>(.*?)</p>", re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_SAFE_SCHEMES = ("http:", "https:", "mailto:", "ftp:")
_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.-]*:)")


def parse_markdown(text: str, source: str, site: Site, *, utf8: bytes | None = None) -> SeedContent:
    """Parse one Markdown seed; SeedError when the front matter is missing or wrong.

    `utf8`, if given, must be the UTF-8 encoding of `text` (saves encoding it again).
    """
    text, utf8 = normalized_utf8(text, utf8)
    if source.replace("\\", "/").rsplit("/", 1)[-1].lower() == "_index.md":
        raise NotAnArticle(source, "a Hugo section page (_index.md), not an article: skipped")
    meta, body = split_front_matter(text, source)
    unknown = sorted(set(meta) - _KNOWN)
    if unknown:
        raise SeedError(
            source, f"unknown front matter key {unknown[0]!r}", f"known: {', '.join(_FIELDS)}"
        )
    if meta.get("draft") is True:
        raise NotAnArticle(source, "a draft (draft = true): skipped")
    if meta.get("published") is False:
        raise NotAnArticle(source, "not published (published: false): skipped")
    title = _text(meta, "title", source).strip()
    if not title:
        raise SeedError(source, "front matter has no title")
    date_key = "date" if meta.get("date") not in (None, "") else "publishDate"
    if meta.get(date_key) in (None, ""):
        raise SeedError(source, "front matter has no date")
    published = _datetime(meta[date_key], site.timezone, source, date_key)
    updated_key = "updated" if "updated" in meta else "lastmod"
    updated = _datetime(meta[updated_key], site.timezone, source, updated_key) \
        if meta.get(updated_key) not in (None, "") else None
    fields = {key: _text(meta, key, source).strip() for key in _TEXT_FIELDS}
    fields["category"] = fields["category"] or _first_category(meta, source)
    fields["summary"] = fields["summary"] or _text(meta, "description", source).strip()
    body_html = render_markdown(body)
    return make_content(
        text=text,
        text_utf8=utf8,
        source=source,
        site=site,
        title=title,
        published=published,
        updated=updated,
        summary=fields["summary"] or _summary_from(body_html),
        authors=_authors(meta, source),
        category=fields["category"],
        credit=fields["credit"],
        translation_note=fields["translation_note"],
        body_html=body_html,
        language=fields["language"] or detect_language(body, site.language),
        slug=fields["slug"],
    )


def split_front_matter(text: str, source: str) -> tuple[dict[str, Any], str]:
    """(front matter mapping, Markdown body) of a seed starting with `+++` or `---`."""
    m = _FRONT_MATTER.match(text.lstrip("\n"))
    if m is None:
        raise SeedError(source, "no front matter: start the file with +++ (TOML) or --- (YAML)")
    fence, raw = m.group(1), m.group(2)
    import yaml  # lazily: see the module docstring

    try:
        meta = tomllib.loads(raw) if fence == "+++" else yaml.safe_load(raw)
    except tomllib.TOMLDecodeError as exc:
        raise SeedError(source, f"front matter is not valid TOML: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise SeedError(source, f"front matter is not valid YAML: {problem}{where}") from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise SeedError(source, "front matter must be a table of key = value pairs")
    return meta, text.lstrip("\n")[m.end() :]


def _text(meta: dict[str, Any], key: str, source: str) -> str:
    value = meta.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise SeedError(source, f"front matter {key} must be text, not {type(value).__name__}")
    return " ".join(str(value).split())


def _datetime(value: Any, tz: ZoneInfo, source: str, key: str) -> datetime:
    """A date means 00:00 in the site's zone; a naive datetime is in the site's zone."""
    if isinstance(value, str):
        text = value.strip()
        day = parse_date(text)
        try:
            value = datetime.fromisoformat(text) if day is None else day
        except ValueError:
            raise SeedError(source, f"front matter {key} is not a date: {text!r}") from None
    if isinstance(value, datetime):
        return value.replace(tzinfo=tz) if value.tzinfo is None else value.astimezone(tz)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=tz)
    raise SeedError(source, f"front matter {key} is not a date: {value!r}")


def _first_category(meta: dict[str, Any], source: str) -> str:
    """Hugo's and Jekyll's `categories` (a list, or one name): the first is the category."""
    value = meta.get("categories")
    if value is None or value == []:
        return ""
    if isinstance(value, list):
        value = value[0]
    if not isinstance(value, str):
        raise SeedError(source, "front matter categories must be a name or a list of names")
    return " ".join(value.split())


def _authors(meta: dict[str, Any], source: str) -> tuple[str, ...]:
    value = meta.get("authors", meta.get("author"))
    if value is None:
        return ()
    if isinstance(value, str):
        return split_authors(" ".join(value.split()))
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(name for name in (" ".join(v.split()) for v in value) if name)
    raise SeedError(source, "front matter authors must be a name or a list of names")


def _summary_from(body_html: str) -> str:
    """The first paragraph's text, cut at about 300 characters."""
    m = _FIRST_P.search(body_html)
    return truncate(html.unescape(_TAG.sub("", m.group(1)))) if m else ""


# CommonMark with GitHub's tables, strikethrough and bare-URL links, by cmark-gfm: GitHub's C
# parser, linear in its input by design (a 1 MB line of `[` takes ~0.5 s; Python-Markdown took
# 70 s for 16,000, and markdown-it-py, linear too, 26 s for the megabyte).
_EXTENSIONS = ("table", "strikethrough", "autolink")
# Raw HTML is text: every `<` that does not open an autolink (`<https://...>`, `<a@b.org>`) is
# given to the parser as a private-use character, so no tag, comment or HTML block can start,
# and turned back into `&lt;` (or its URL escape) in the output.
_LT = "\ue000"
_NOT_AUTOLINK_LT = re.compile(
    r"<(?!(?:[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*|[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9]"
    r"(?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)>)")
_URL_ATTRIBUTE = re.compile(r' (href|src)="([^"]*)"')
_IMAGE_WITHOUT_SOURCE = re.compile(r'<img alt="([^"]*)" />')


def render_markdown(body: str) -> str:
    """Markdown to HTML (XHTML-style empty tags) without raw HTML, links only to safe schemes,
    every entity resolved or escaped."""
    import cmarkgfm  # lazily: see the module docstring
    from cmarkgfm.cmark import Options

    source = _NOT_AUTOLINK_LT.sub(_LT, body.replace(_LT, "\ufffd"))
    rendered = cmarkgfm.markdown_to_html_with_extensions(
        source, options=Options.CMARK_OPT_VALIDATE_UTF8, extensions=list(_EXTENSIONS))
    rendered = rendered.replace(_LT, "&lt;").replace("%EE%80%80", "%3C")
    rendered = _URL_ATTRIBUTE.sub(_safe_url, rendered)
    rendered = _IMAGE_WITHOUT_SOURCE.sub(r"\1", rendered)  # its unsafe src gone: the alt text
    # cmark resolves every entity itself (an unknown one stays as written: `&amp;bogus;`) and
    # writes only &amp; &lt; &gt; &quot;; but `&#1;` comes out as a character XML cannot carry.
    return normalize_text(rendered).strip()


def _safe_url(m: re.Match[str]) -> str:
    """An href/src kept only with an http(s)/mailto/ftp scheme or none (a relative link):
    cmark's safe mode already empties `javascript:` and the like, this also drops `data:`."""
    value = m.group(2)
    scheme = _SCHEME.match(value)
    if not value or (scheme and scheme.group(1).lower() not in _SAFE_SCHEMES):
        return ""
    return m.group(0)



"""Reader for Markdown seeds (`*.md`) with TOML (`+++`) or YAML (`---`) front matter.

Raw HTML in the Markdown is shown as text, never passed through, links keep only safe
schemes, and entities are resolved so the output is well-formed in any feed.

`markdown` and `yaml` cost ~40 ms to import and only Markdown seeds need them: they are
imported on first use, so builds of scraped pages never pay for them.
"""

from __future__ import annotations

import html
import re
import threading
import tomllib
import xml.etree.ElementTree as ET
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..errors import SeedError
from ..model import SeedContent, Site
from .record import make_content
from .text import (
    detect_language,
    escape,
    normalize_text,
    normalized_utf8,
    parse_date,
    split_authors,
    truncate,
)

if TYPE_CHECKING:
    import markdown as md_lib
    from markdown.extensions import Extension

_FRONT_MATTER = re.compile(r"(\+\+\+|---)[ \t]*\n(.*?)(?:^|\n)\1[ \t]*(?:\n|\Z)", re.DOTALL)
_FIELDS = (
    "title date updated authors author category summary slug credit language translation_note"
).split()
_TEXT_FIELDS = ("category", "summary", "slug", "credit", "language", "translation_note")
_ENTITY = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{0,31});")
_XML_ENTITIES = frozenset(("amp", "lt", "gt", "quot", "apos"))
_FIRST_P = re.compile(r"<p>(.*?)</p>", re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_SAFE_SCHEMES = ("http:", "https:", "mailto:", "ftp:")
_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.-]*:)")


def parse_markdown(text: str, source: str, site: Site, *, utf8: bytes | None = None) -> SeedContent:
    """Parse one Markdown seed; SeedError when the front matter is missing or wrong.

    `utf8`, if given, must be the UTF-8 encoding of `text` (saves encoding it again).
    """
    text, utf8 = normalized_utf8(text, utf8)
    meta, body = split_front_matter(text, source)
    unknown = sorted(set(meta) - set(_FIELDS))
    if unknown:
        raise SeedError(
            source, f"unknown front matter key {unknown[0]!r}", f"known: {', '.join(_FIELDS)}"
        )
    title = _text(meta, "title", source).strip()
    if not title:
        raise SeedError(source, "front matter has no title")
    if meta.get("date") in (None, ""):
        raise SeedError(source, "front matter has no date")
    published = _datetime(meta["date"], site.timezone, source, "date")
    updated = _datetime(meta["updated"], site.timezone, source, "updated") if "updated" in meta else None
    fields = {key: _text(meta, key, source).strip() for key in _TEXT_FIELDS}
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


def _no_raw_html() -> Extension:
    """An extension that shows raw HTML as text and drops links with unsafe schemes."""
    from markdown.extensions import Extension
    from markdown.treeprocessors import Treeprocessor

    class SafeLinks(Treeprocessor):
        """Drop href/src values whose scheme is not http(s)/mailto/ftp (e.g. `javascript:`)."""

        def run(self, root: ET.Element) -> None:
            for el in root.iter():
                for attr in ("href", "src"):
                    value = el.get(attr)
                    if value is not None:
                        m = _SCHEME.match(value)
                        if m and m.group(1).lower() not in _SAFE_SCHEMES:
                            del el.attrib[attr]

    class NoRawHtml(Extension):
        """Treat raw HTML blocks and inline tags as text, so Markdown escapes them."""

        def extendMarkdown(self, md: md_lib.Markdown) -> None:  # noqa: N802 (Markdown's API)
            md.preprocessors.deregister("html_block")
            md.inlinePatterns.deregister("html")
            md.treeprocessors.register(SafeLinks(md), "safe_links", 5)

    return NoRawHtml()


# Building a Markdown converter costs ~1.5 ms, converting a seed ~0.1 ms: keep one per thread.
# It is a cache only (reset before every use), so results never depend on earlier seeds.
_local = threading.local()


def _converter() -> md_lib.Markdown:
    converter = getattr(_local, "converter", None)
    if converter is None:
        import markdown as md_lib  # lazily: see the module docstring

        converter = md_lib.Markdown(
            extensions=["fenced_code", "tables", "sane_lists", _no_raw_html()],
            output_format="xhtml",  # `<br />`: well-formed XML too
        )
        _local.converter = converter
    return converter.reset()


def render_markdown(body: str) -> str:
    """Markdown to HTML without raw HTML, with every entity resolved or escaped."""
    return _ENTITY.sub(_fix_entity, _converter().convert(body)).strip()


def _fix_entity(m: re.Match[str]) -> str:
    """Keep XML's five entities; resolve the others to characters (or escape them)."""
    name = m.group(1)
    if name in _XML_ENTITIES:
        return m.group(0)
    char = html.unescape(m.group(0))
    if char == m.group(0):
        return "&amp;" + m.group(0)[1:]
    return escape(normalize_text(char))

"""The feed page a browser gets instead of raw XML: who asks for it, and what it shows.

Pure functions: `wants_page(headers)` decides from the request headers alone, `read_feed(name,
body)` turns one of our feed documents (Atom, RSS 2.0, JSON Feed; live or archive) into the
few fields the page prints, `reader_links(url)` gives the one-click subscribe links.
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Mapping
from urllib.parse import quote

ATOM = "{http://www.w3.org/2005/Atom}"
_DC_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"
SUMMARY_CHARS = 320

# (name, url template): the feed url goes in percent-encoded. One table, so a reader that
# changes its address is fixed in one place.
READERS = (
    ("Feedly", "https://feedly.com/i/subscription/feed%2F{url}"),
    ("Inoreader", "https://www.inoreader.com/?add_feed={url}"),
    ("NewsBlur", "https://www.newsblur.com/?url={url}"),
    ("The Old Reader", "https://theoldreader.com/feeds/subscribe?url={url}"),
)


def wants_page(headers: Mapping[str, str]) -> bool:
    """True for a browser navigating to the address (a click, the address bar, a bookmark).

    It says so with `Sec-Fetch-Mode: navigate` or `Sec-Fetch-Dest: document`, and lists
    `text/html` first in `Accept`. Feed readers, curl and fetch() calls send neither, and get
    the feed itself.
    """
    navigating = (headers.get("Sec-Fetch-Mode", "").strip().lower() == "navigate"
                  or headers.get("Sec-Fetch-Dest", "").strip().lower() == "document")
    if not navigating:
        return False
    first = headers.get("Accept", "").split(",", 1)[0]
    return first.split(";", 1)[0].strip().lower() == "text/html"


# Response headers the choice depends on: caches keep the two variants apart.
VARY = "Accept, Sec-Fetch-Mode, Sec-Fetch-Dest"


@dataclass(frozen=True)
class Entry:
    title: str
    url: str
    published: datetime | None
    authors: tuple[str, ...]
    summary: str  # plain text, shortened


@dataclass(frozen=True)
class FeedDocument:
    format: str  # "Atom", "RSS" or "JSON Feed"
    title: str
    description: str
    self_url: str  # the address a reader subscribes to ("" if the document does not say)
    home_url: str
    entries: tuple[Entry, ...]
    older_url: str = ""  # RFC 5005 prev-archive / JSON Feed next_url, when there is one
    newer_url: str = ""  # RFC 5005 next-archive
    current_url: str = ""  # RFC 5005 current: the live feed an archive page belongs to


def read_feed(name: str, body: bytes) -> FeedDocument | None:
    """The page's view of a feed file; None for anything that is not a feed we can read."""
    try:
        if name.endswith(".json"):
            return _read_json(json.loads(body))
        root = ET.fromstring(body)
    except (ValueError, ET.ParseError):
        return None
    if root.tag == f"{ATOM}feed":
        return _read_atom(root)
    if root.tag == "rss" and root.find("channel") is not None:
        return _read_rss(root.find("channel"))  # type: ignore[arg-type]
    return None


def reader_links(feed_url: str) -> list[tuple[str, str]]:
    encoded = quote(feed_url, safe="")
    return [(name, template.format(url=encoded)) for name, template in READERS]


# --- the three formats ---------------------------------------------------------------------


def _read_atom(feed: ET.Element) -> FeedDocument:
    links = _atom_links(feed)
    entries = []
    for entry in feed.findall(f"{ATOM}entry"):
        summary = entry.find(f"{ATOM}summary")
        if summary is None:
            summary = entry.find(f"{ATOM}content")
        text = _atom_text(summary)
        entries.append(Entry(
            title=_atom_text(entry.find(f"{ATOM}title")),
            url=_atom_links(entry).get("alternate", ""),
            published=_iso(_text(entry.find(f"{ATOM}published"))
                           or _text(entry.find(f"{ATOM}updated"))),
            authors=tuple(_text(a.find(f"{ATOM}name")) for a in entry.findall(f"{ATOM}author")),
            summary=_shorten(text),
        ))
    return FeedDocument(
        format="Atom", title=_atom_text(feed.find(f"{ATOM}title")),
        description=_atom_text(feed.find(f"{ATOM}subtitle")),
        self_url=links.get("self", ""), home_url=links.get("alternate", ""),
        entries=tuple(entries), older_url=links.get("prev-archive", ""),
        newer_url=links.get("next-archive", ""), current_url=links.get("current", ""),
    )


def _read_rss(channel: ET.Element) -> FeedDocument:
    links = _atom_links(channel)
    entries = []
    for item in channel.findall("item"):
        description = item.find("description")
        entries.append(Entry(
            title=_text(item.find("title")),
            url=_text(item.find("link")),
            published=_rfc822(_text(item.find("pubDate"))),
            authors=tuple(_text(a) for a in item.findall(_DC_CREATOR)),
            summary=_shorten(_plain(_text(description))),
        ))
    return FeedDocument(
        format="RSS", title=_text(channel.find("title")),
        description=_text(channel.find("description")),
        self_url=links.get("self", ""), home_url=_text(channel.find("link")),
        entries=tuple(entries), older_url=links.get("prev-archive", ""),
        newer_url=links.get("next-archive", ""), current_url=links.get("current", ""),
    )


def _read_json(data: object) -> FeedDocument | None:
    if not isinstance(data, dict) or "jsonfeed.org" not in str(data.get("version", "")):
        return None
    entries = []
    for item in data.get("items") or []:
        if not isinstance(item, dict):
            continue
        text = item.get("summary") or _plain(str(item.get("content_html") or "")) \
            or str(item.get("content_text") or "")
        entries.append(Entry(
            title=str(item.get("title") or ""),
            url=str(item.get("url") or ""),
            published=_iso(str(item.get("date_published") or item.get("date_modified") or "")),
            authors=tuple(str(a.get("name", "")) for a in item.get("authors") or []
                          if isinstance(a, dict)),
            summary=_shorten(str(text)),
        ))
    return FeedDocument(
        format="JSON Feed", title=str(data.get("title") or ""),
        description=str(data.get("description") or ""),
        self_url=str(data.get("feed_url") or ""), home_url=str(data.get("home_page_url") or ""),
        entries=tuple(entries), older_url=str(data.get("next_url") or ""),
    )


# --- small readers -------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def _text(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _atom_text(element: ET.Element | None) -> str:
    """An Atom text construct as plain text (type="html" is unescaped once and stripped)."""
    if element is None:
        return ""
    if element.get("type") == "xhtml":
        return _SPACE.sub(" ", "".join(element.itertext())).strip()
    value = element.text or ""
    return _plain(value) if element.get("type") == "html" else _SPACE.sub(" ", value).strip()


def _atom_links(element: ET.Element) -> dict[str, str]:
    """rel -> href of the element's Atom links (RSS carries them as atom:link too)."""
    found: dict[str, str] = {}
    for link in element.findall(f"{ATOM}link"):
        found.setdefault(link.get("rel", "alternate"), link.get("href", ""))
    return found


def _plain(markup: str) -> str:
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", markup))).strip()


def _shorten(text: str) -> str:
    if len(text) <= SUMMARY_CHARS:
        return text
    cut = text[:SUMMARY_CHARS].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return f"{cut}…"


def _iso(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def _rfc822(value: str) -> datetime | None:
    try:
        return parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None

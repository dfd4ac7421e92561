"""Reader for pages scraped as plain text (`*.txt`): header, body, author box, teasers.

The page, with blank lines skipped, reads:

    Facebook Instagram Twitter YouTube        navigation (optional)
    Title
    Dek                                       one paragraph, may end in `[…]` (optional)
    Author[, Author and Author]
    October 26, 2021
    Facebook Twitter Share                    first share bar
    Credit                                    `X / Getty Images`, `Photo by X` (optional)
    Body paragraphs and sub-headings          promo lines dropped, `Translated by …` kept aside
    Facebook Twitter Share                    last share bar
    Author name(s), bio sentence(s), social links
    Category
    Teasers: [image description] title, dek, [author], [date]
"""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import lru_cache
from itertools import compress, repeat
from operator import itemgetter

from ..errors import NotAnArticle, SeedError
from ..model import SeedContent, Site, Teaser
from .record import make_content
from .text import (
    clean_summary,
    detect_language,
    ends_sentence,
    escape,
    normalized_utf8,
    parse_date,
    split_authors,
    truncate,
)

_SOCIAL = frozenset(
    "facebook twitter x instagram youtube tiktok linkedin website email e-mail mastodon bluesky "
    "threads telegram whatsapp reddit rss".split()
)
_SHARE = re.compile(r"(?:(?:Facebook|Twitter|X|WhatsApp|Email|LinkedIn|Telegram|Reddit)\s+)+Share")
_CREDIT = re.compile(
    r"(?:(?:cover |featured |header )?(?:photo(?:graph)?s?|image|picture|illustration|video|"
    r"graphic|art(?:work)?|drawing|cartoon|design|credit|foto|imagen|ilustración)"
    r"(?: credits?)?(?:\s+by\b|\s*:))\s*\S",
    re.IGNORECASE,
)
_SLASH_CREDIT = re.compile(r"[^/]{2,80} / [^/]{2,60}")
_AGENCY = re.compile(
    r"\b(?:Getty Images|AP Photo|AFP|Reuters|EFE|Shutterstock|Wikimedia Commons|Unsplash|"
    r"Flickr|Creative Commons|NurPhoto|Sipa|Anadolu)\b"
)
_TRANSLATION = re.compile(
    r"(?:translated|translation|originally published|first published|"
    r"this (?:article|piece|interview) (?:was )?(?:originally |first )?(?:published|appeared))\b",
    re.IGNORECASE,
)
_PROMO = "get your copy of"
_MAX_HEADING = 100  # characters: a longer line is a paragraph
_PARTICLES = frozenset("and & de da das do dos del della di du la le van von der den y e".split())


def parse_scraped(text: str, source: str, site: Site, *, utf8: bytes | None = None) -> SeedContent:
    """Parse one scraped article page; NotAnArticle for listings, SeedError if unparseable.

    `utf8`, if given, must be the UTF-8 encoding of `text` (`read_seed` passes the bytes it
    decoded): it saves encoding the text again to check and hash it.
    """
    text, utf8 = normalized_utf8(text, utf8)
    lines, attached = _lines(text)
    if not lines:
        raise SeedError(source, "empty file")
    dates = _dates(lines)
    shares = _shares(lines)
    if not shares:
        if sum(1 for day in dates if day is not None) >= 2:
            raise NotAnArticle(source, "section listing page, not an article: skipped")
        raise SeedError(source, "no share bar: not an article page")

    title_at = 1 if _is_social_line(lines[0]) else 0
    day, date_at = _header_date(dates, title_at, shares[0], source)
    title = lines[title_at]
    dek, author_line = _dek_and_byline(lines[title_at + 1 : date_at])
    authors = split_authors(author_line) if author_line else ()
    known = {name.casefold() for name in (author_line, *authors) if name}
    credit, body_lines, box_at = _body(lines, attached, shares, known, source)
    body_lines, note = _split_translation_note(body_lines)
    category_at = _skip_author_box(lines, box_at, known)
    category = ""
    if category_at < len(lines) and dates[category_at] is None and _is_category(lines[category_at]):
        category, category_at = lines[category_at], category_at + 1

    return make_content(
        text=text,
        text_utf8=utf8,
        source=source,
        site=site,
        title=title,
        published=datetime(day.year, day.month, day.day, tzinfo=site.timezone),
        summary=clean_summary(dek) if dek else _first_paragraph(body_lines),
        authors=authors,
        category=category,
        credit=credit,
        translation_note=note,
        body_html=render_body(body_lines),
        related=parse_teasers(lines, attached, dates, category_at),
        language=detect_language(" ".join((title, dek, *body_lines[:6])), site.language),
    )


def _body(
    lines: list[str], attached: list[bool], shares: list[int], known: set[str], source: str
) -> tuple[str, list[str], int]:
    """(credit, body lines without promos, index where the author box starts)."""
    first, last = shares[0], shares[-1]
    start, credit = first + 1, ""
    if start < len(lines) and start != last and _is_credit(lines[start], attached[start]):
        credit, start = lines[start], start + 1
    if first == last:  # one share bar: only a page without body (a video) is understood
        if not _is_box_start(lines, start, known):
            raise SeedError(source, "only one share bar: cannot tell the body from the author box")
        return credit, [], start
    body = lines[start:last]
    # Drop promo lines and any share bar in between. Only lines starting with g/G can be
    # promos (no other character lower-cases to "g"): a C-level scan finds the few to check.
    drop = {i - start for i in shares if start <= i < last}
    drop.update(
        k
        for k in compress(range(len(body)), map(str.startswith, body, repeat(("g", "G"))))
        if body[k][: len(_PROMO)].lower() == _PROMO
    )
    if drop:
        body = [line for k, line in enumerate(body) if k not in drop]
    return credit, body, last + 1


def _lines(text: str) -> tuple[list[str], list[bool]]:
    """Non-blank stripped lines, and for each whether it directly follows the previous one."""
    stripped = list(map(str.strip, text.split("\n")))
    lines = list(filter(None, stripped))
    # attached[k]: the raw line before the k-th non-blank one exists and is not blank.
    attached = list(compress((False, *map(bool, stripped)), stripped))
    return lines, attached


def _dates(lines: list[str]) -> list[date | None]:
    """For each line its date if it is a date line (`parse_date`), else None."""
    dates: list[date | None] = [None] * len(lines)
    # parse_date wants a final digit: look only at those lines (a C-level scan).
    for i in compress(range(len(lines)), map(str.isdigit, map(itemgetter(-1), lines))):
        dates[i] = parse_date(lines[i])
    return dates


def _shares(lines: list[str]) -> list[int]:
    """Indexes of the share bars (`_is_share`), found with a C-level scan for "Share" first."""
    return [
        i
        for i in compress(range(len(lines)), map(str.endswith, lines, repeat("Share")))
        if _is_share(lines[i])
    ]


def _header_date(
    dates: list[date | None], title_at: int, first: int, source: str
) -> tuple[date, int]:
    """The page date: the last date line between the title and the first share bar."""
    for i in range(first - 1, title_at, -1):
        day = dates[i]
        if day is not None:
            return day, i
    if title_at >= first:
        raise SeedError(source, "no title before the share bar")
    raise SeedError(source, "no date line found")


def _dek_and_byline(between: list[str]) -> tuple[str, str]:
    """Split the lines between title and date into (dek, author line); either may be ""."""
    if not between:
        return "", ""
    if len(between) == 1:
        only = between[0]
        return ("", only) if _is_byline(only) else (only, "")
    return " ".join(between[:-1]), between[-1]


def _is_byline(line: str) -> bool:
    return not ends_sentence(line) and line.count(" ") < 12


def _is_share(line: str) -> bool:
    """The share bar printed above and below the body: `Facebook Twitter Share`."""
    return line.endswith("Share") and _SHARE.fullmatch(line) is not None


def _is_social_line(line: str) -> bool:
    """`Facebook Instagram Twitter YouTube`, `Twitter Instagram`: only social network names."""
    words = line.lower().split()
    return len(words) <= 12 and all(w in _SOCIAL for w in words)


def _is_credit(line: str, attached: bool) -> bool:
    """A picture credit as printed under the share bar: `Photo by X`, `X / Getty Images`."""
    if len(line) > 200:
        return False
    if _CREDIT.match(line):
        return True
    if line.count(" ") >= 15 or ends_sentence(line):
        return False
    return attached or bool(_SLASH_CREDIT.fullmatch(line) or _AGENCY.search(line))


def _split_translation_note(body: list[str]) -> tuple[list[str], str]:
    """Move closing `Translated by … Originally published …` lines out of the body."""
    notes: list[str] = []
    while body and _TRANSLATION.match(body[-1]):
        notes.insert(0, body.pop())
    return body, " ".join(notes)


def _is_heading(line: str) -> bool:
    """A short line without final punctuation that does not start lower case: a sub-heading."""
    return (
        len(line) <= _MAX_HEADING
        and line.count(" ") < 14
        and not ends_sentence(line)
        and not line[0].islower()
        and "://" not in line
    )


def render_body(body: list[str]) -> str:
    """`<p>`/`<h2>` elements, escaped, one per line; the last line is never a heading."""
    if not body:
        return ""
    # One escape pass over all lines (escaping adds no newline); headings are checked only
    # among lines short enough to be one; runs of paragraphs are joined in one C call each.
    joined = "\n".join(body)
    escaped = escape(joined)
    lines = body if escaped is joined else escaped.split("\n")
    n = len(body)
    heads = [
        i
        for i in compress(range(n - 1), map(_MAX_HEADING.__ge__, map(len, body)))
        if _is_heading(body[i])
    ]
    if not heads:
        return "<p>" + "</p>\n<p>".join(lines) + "</p>"
    html, start = [], 0
    for i in heads:
        if i > start:
            html.append("<p>" + "</p>\n<p>".join(lines[start:i]) + "</p>")
        html.append(f"<h2>{lines[i]}</h2>")
        start = i + 1
    html.append("<p>" + "</p>\n<p>".join(lines[start:]) + "</p>")  # the last line: a <p>
    return "\n".join(html)


def _first_paragraph(body: list[str]) -> str:
    for i, line in enumerate(body):
        if not (i < len(body) - 1 and _is_heading(line)):
            return truncate(line)
    return ""


def _is_bio(line: str) -> bool:
    return ends_sentence(line) or line.count(" ") >= 14


def _is_box_start(lines: list[str], i: int, known: set[str]) -> bool:
    """Does the author box start at i: a known author, or a name followed by a bio?"""
    if i >= len(lines):
        return False
    if lines[i].casefold() in known:
        return True
    return _is_name(lines[i]) and i + 1 < len(lines) and _is_bio(lines[i + 1])


def _skip_author_box(lines: list[str], i: int, known: set[str]) -> int:
    """Index of the first line after the author box (names, bios, social-link lines)."""
    if not _is_box_start(lines, i, known):
        return i
    i += 1
    while i < len(lines):
        line = lines[i]
        if not (line.casefold() in known or _is_bio(line) or _is_social_line(line)):
            break
        i += 1
    return i


def _is_category(line: str) -> bool:
    return line.count(" ") < 6 and not ends_sentence(line)


@lru_cache(maxsize=4096)  # names repeat across a site's seeds (bylines, teasers)
def _is_name(line: str) -> bool:
    """`Madeleine Freeman`, `Ana de la Cruz, Bo Li and Cy Wu`: capitalised words and particles."""
    words = line.replace(",", " ").split()
    return (
        0 < len(words) <= 12
        and not ends_sentence(line)
        and all(w[0].isupper() or w in _PARTICLES for w in words)
    )


def _is_dek(line: str) -> bool:
    return ends_sentence(line) or line.count(" ") >= 20


def parse_teasers(
    lines: list[str], attached: list[bool], dates: list[date | None], i: int
) -> tuple[Teaser, ...]:
    """Teasers from line i on: [image description] title, dek, [author], [date].

    `dates[k]` is the date of line k if it is a date line, else None.
    """
    teasers: list[Teaser] = []
    n = len(lines)
    while i < n:
        if dates[i] is not None:  # a stray date: nothing to attach it to
            i += 1
            continue
        image = ""
        if _has_image(lines, attached, dates, i):
            image, i = lines[i], i + 1
        title, i = lines[i], i + 1
        summary = ""
        if i < n and dates[i] is None and not _is_author(lines, dates, i, need_date=True):
            summary, i = clean_summary(lines[i]), i + 1
        authors: tuple[str, ...] = ()
        if i < n and _is_author(lines, dates, i, need_date=False):
            authors, i = split_authors(lines[i]), i + 1
        published = dates[i] if i < n else None
        if published is not None:
            i += 1
        if summary or authors or published:  # a lone short line ("Load more") is no teaser
            teasers.append(Teaser(title, summary, authors, published, image))
    return tuple(teasers)


def _has_image(lines: list[str], attached: list[bool], dates: list[date | None], i: int) -> bool:
    """Is line i an image description, i.e. is line i+1 the title and i+2 the dek?"""
    if i + 1 >= len(lines) or dates[i + 1] is not None:
        return False
    if attached[i] and i > 0 and dates[i - 1] is not None:
        return True  # glued to the previous teaser's date line, as the site prints it
    return (
        i + 2 < len(lines)
        and dates[i + 2] is None
        and not _is_dek(lines[i + 1])
        and _is_dek(lines[i + 2])
    )


def _is_author(lines: list[str], dates: list[date | None], i: int, need_date: bool) -> bool:
    """Is line i a teaser's author line (followed by a date, or by a title rather than a dek)?"""
    line = lines[i]
    if line.count(" ") >= 8 or not _is_name(line):
        return False
    if i + 1 >= len(lines):
        return not need_date
    if dates[i + 1] is not None:
        return True
    return not need_date and not _is_dek(lines[i + 1])

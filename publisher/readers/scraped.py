"""Reader for pages scraped as plain text (`*.txt`): header, body, author box, teasers.

The page, with blank lines skipped, reads:

    Facebook Instagram Twitter YouTube        navigation (optional)
    Title
    Dek                                       one paragraph, may end in `[…]` (optional)
    Author[, Author and Author]               (optional)
    October 26, 2021                          (optional: else dated when first seen)
    Facebook Twitter Share                    first share bar
    Caption or credit                         the image's description or `X / Getty Images`,
                                              `Photo by X` (optional; a caption is glued
                                              to the share bar)
    Body paragraphs and sub-headings          promo lines dropped, translation notes at the
                                              top and `Translated by …` at the end kept aside
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
# Notes on where an article first appeared, at the top of the body (and at its end).
_NOTE = re.compile(
    r"(?:this (?:article|piece|interview|text|essay|statement|note|post|report|speech) "
    r"(?:is|was) (?:an? )?(?:adaptation|adapted|translation|translated|originally|first|"
    r"published|republished|excerpt)"
    r"|(?:a version of )?this (?:article|piece|interview) (?:first |originally )?appeared"
    r"|adapted from|translated (?:from|by)\b|translation (?:by|from)\b|translation:"
    r"|originally published|first published|published originally"
    r"|(?:esta|este) (?:nota|artículo|articulo|texto|entrevista|declaración|columna|discurso) "
    r"(?:se publicó|fue publicad[oa]|es una (?:adaptación|traducción)|fue traducid[oa]|"
    r"se publico|apareció)"
    r"|publicad[oa] originalmente|originalmente publicad[oa]|traducción(?::| de\b| por\b)"
    r"|traducid[oa] (?:por|del)\b)",
    re.IGNORECASE,
)
# A separator: a line without letters or digits (`*`, `***`, `—`, `* * *`).
_RULE_LINE = re.compile(r"[\W_]+")
# `Listen on Spotify`, `Watch it on YouTube`, `Subscribe on …`: a line of links.
_LINK_LINE = re.compile(
    r"(?:listen|watch|subscribe|follow|download|escucha|mira|seguinos|síguenos|suscr\w*)\b"
    r".{0,40}\b(?:on|at|en)\b",
    re.IGNORECASE,
)
# Words a title capitalises that no name has: `Let Them All In` is a heading, not a person.
_TITLE_WORDS = frozenset(
    "a an the of in on at to for from with by about into over under after before against "
    "between through and or but nor not no is are was were be been it its we our us they "
    "their them you your he she his her i my me all this that these those what when where "
    "why how who which let lets do does did can will must should could would new more than "
    "as up out down off now here there one two three four five six seven eight nine ten "
    "los las un una en con por para que es son se su sus al lo".split()
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
        if _is_listing(lines, dates):
            raise NotAnArticle(source, "section listing page, not an article: skipped")
        raise SeedError(source, "no share bar: not an article page")

    title_at = 1 if _is_social_line(lines[0]) else 0
    if title_at >= shares[0]:
        raise SeedError(source, "no title before the share bar")
    day, date_at = _header_date(dates, title_at, shares[0])
    title = lines[title_at]
    dek, author_line = _dek_and_byline(lines[title_at + 1 : date_at], dated=day is not None)
    authors = split_authors(author_line) if author_line else ()
    known = {name.casefold() for name in (author_line, *authors) if name}
    caption, credit, body_lines, glued, box_at = _body(lines, attached, shares, known, source)
    body_lines, glued, note = _split_translation_notes(body_lines, glued)
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
        published=None if day is None else datetime(day.year, day.month, day.day,
                                                     tzinfo=site.timezone),
        summary=clean_summary(dek) if dek else _first_paragraph(body_lines, glued),
        authors=authors,
        category=category,
        credit=credit,
        caption=caption,
        translation_note=note,
        body_html=render_body(
            body_lines, glued, to_escape=b"&" in utf8 or b"<" in utf8 or b">" in utf8
        ),
        related=parse_teasers(lines, attached, dates, category_at),
        language=detect_language(" ".join((title, dek, *body_lines[:6])), site.language),
    )


def _body(
    lines: list[str], attached: list[bool], shares: list[int], known: set[str], source: str
) -> tuple[str, str, list[str], list[bool], int]:
    """(caption, credit, body lines without promos, for each whether it is glued to the one
    before (a hard-wrapped paragraph), index where the author box starts)."""
    first, last = shares[0], shares[-1]
    start, caption, credit = first + 1, "", ""
    if start < len(lines) and start != last:
        line, glued = lines[start], attached[start]
        if _is_credit(line, glued):
            credit, start = line, start + 1
        elif glued and _is_caption(line):  # an image description printed as its figcaption
            caption, start = line, start + 1
            if start < len(lines) and start != last and attached[start] and _is_credit(
                lines[start], True
            ):
                credit, start = lines[start], start + 1
    if first == last:  # one share bar: only a page without body (a video) is understood
        if not _is_box_start(lines, start, known):
            raise SeedError(source, "only one share bar: cannot tell the body from the author box")
        return caption, credit, [], [], start
    body = lines[start:last]
    glue = attached[start:last]
    if glue:
        glue[0] = False
    # Drop promo lines and any share bar in between. Only lines starting with g/G can be
    # promos (no other character lower-cases to "g"): a C-level scan finds the few to check.
    drop = {i - start for i in shares if start <= i < last}
    drop.update(
        k
        for k in compress(range(len(body)), map(str.startswith, body, repeat(("g", "G"))))
        if body[k][: len(_PROMO)].lower() == _PROMO
    )
    if drop:
        keep = [k for k in range(len(body)) if k not in drop]
        glue = [glue[k] and k - 1 not in drop for k in keep]
        body = [body[k] for k in keep]
    return caption, credit, body, glue, last + 1


def _is_listing(lines: list[str], dates: list[date | None]) -> bool:
    """Is a page without share bar a listing: two teasers or more, or an author page with a
    single teaser (name, bio, then title, dek, author, date, and at most two lines after)?"""
    dated = [i for i in range(len(lines)) if dates[i] is not None]
    return len(dated) >= 2 or (len(dated) == 1 and dated[0] >= 2 and len(lines) - dated[0] <= 3)


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


def _header_date(dates: list[date | None], title_at: int, first: int) -> tuple[date | None, int]:
    """The page date: the last date line between the title and the first share bar, and its
    index; (None, index of the share bar) when the page printed no date."""
    for i in range(first - 1, title_at, -1):
        day = dates[i]
        if day is not None:
            return day, i
    return None, first


def _dek_and_byline(between: list[str], dated: bool = True) -> tuple[str, str]:
    """Split the lines between title and date into (dek, author line); either may be "".

    Without a date line the author line, if any, is the last line before the share bar, and
    only if it reads as names: a dek can be short and unpunctuated too.
    """
    if not between:
        return "", ""
    last = between[-1]
    if not dated:
        if _is_byline(last) and _is_name(last):
            return " ".join(between[:-1]), last
        return " ".join(between), ""
    if len(between) == 1:
        return ("", last) if _is_byline(last) else (last, "")
    return " ".join(between[:-1]), last


def _is_byline(line: str) -> bool:
    return not ends_sentence(line) and line.count(" ") < 12


@lru_cache(maxsize=256)  # a site prints the same few share bars on every page
def _is_share(line: str) -> bool:
    """The share bar printed above and below the body: `Facebook Twitter Share`."""
    return line.endswith("Share") and _SHARE.fullmatch(line) is not None


@lru_cache(maxsize=1024)  # the navigation line and the author box's lines repeat
def _is_social_line(line: str) -> bool:
    """`Facebook Instagram Twitter YouTube`, `Twitter Instagram`: only social network names."""
    words = line.lower().split()
    return len(words) <= 12 and _SOCIAL.issuperset(words)


def _is_credit(line: str, attached: bool) -> bool:
    """A picture credit as printed under the share bar: `Photo by X`, `X / Getty Images`.

    Without a prefix, a line glued to the share bar is a credit only if it reads as names
    (`Luigi Morris`); any other glued line is the image's description (`_is_caption`).
    """
    if len(line) > 200:
        return False
    if _CREDIT.match(line):
        return True
    if line.count(" ") >= 15 or ends_sentence(line):
        return False
    if _SLASH_CREDIT.fullmatch(line) or _AGENCY.search(line):
        return True
    return attached and _is_name(line)


def _is_caption(line: str) -> bool:
    """An image description in the credit slot: a line of text glued to the share bar."""
    return len(line) <= 400 and not _is_share(line) and parse_date(line) is None


def _split_translation_notes(
    body: list[str], glued: list[bool]
) -> tuple[list[str], list[bool], str]:
    """Move translation and adaptation notes out of the body: lines at its top
    (`This article is an adaptation of …`, `Esta nota se publicó en inglés originalmente en …`)
    and closing lines (`Translated by … Originally published …`). The note keeps their order.
    """
    top = 0
    while top < len(body) - 1 and not (top + 1 < len(glued) and glued[top + 1]) and _is_top_note(
        body[top]
    ):
        top += 1
    end = len(body)
    while end > top and _is_end_note(body[end - 1]) and not glued[end - 1]:
        end -= 1
    if top == 0 and end == len(body):
        return body, glued, ""
    notes = body[:top] + body[end:]
    glue = glued[top:end]
    if glue:
        glue[0] = False
    return body[top:end], glue, " ".join(notes)


# What a note's first words are (case-folded), before `_NOTE` or `_TRANSLATION` can match.
_NOTE_STARTS = ("transl", "origin", "first", "this ", "a version", "adapted", "published",
                "esta ", "este ", "publicad", "traduc")


def _is_top_note(line: str) -> bool:
    return (
        len(line) <= 400
        and line[:12].casefold().startswith(_NOTE_STARTS)
        and _NOTE.match(line) is not None
    )


def _is_end_note(line: str) -> bool:
    return line[:12].casefold().startswith(_NOTE_STARTS) and (
        _TRANSLATION.match(line) is not None or _is_top_note(line)
    )


# The kinds of body line (`_kind`): every line is a paragraph unless evidence says otherwise.
# The first three render as a plain <p>; `render_body` picks out the others (> _NAME).
_P, _LINK, _NAME, _HEADING, _CREDIT_LINE, _RULE = range(6)
# What a line starts with (case-folded) before `_CREDIT` or `_LINK_LINE` can match it: a cheap
# test that spares most lines the regular expression.
_CREDIT_STARTS = ("cover ", "featured ", "header ", "photo", "image", "picture", "illustration",
                  "video", "graphic", "art", "drawing", "cartoon", "design", "credit", "foto",
                  "imagen", "ilustración")
_LINK_STARTS = ("listen", "watch", "subscribe", "follow", "download", "escucha", "mira",
                "seguinos", "síguenos", "suscr")
_CREDIT_FIRST = frozenset("cfhpivgadCFHPIVGAD")  # first letters of _CREDIT_STARTS
_LINK_FIRST = frozenset("lwsfdemLWSFDEM")  # ... and of _LINK_STARTS
_MAX_SHORT = 200  # characters: a longer line is always a paragraph
_STANDIN = "." * (_MAX_SHORT + 1)  # stands for a paragraph of several lines in `_kinds`


def _kind(line: str) -> int:
    """What a line standing alone (blank lines around it) may be: a sub-heading candidate, a
    name (`Ana Ruiz, Oakland`, a byline), a credit, a separator, a link line or a paragraph.

    Cheapest tests first: the shape of a heading (short, no final punctuation, not lower case)
    is checked before the separator and link tests, which only a line of that shape needs
    (a sentence is a paragraph either way).
    """
    if len(line) > _MAX_SHORT:
        return _P
    first = line[0]
    if (
        first in _CREDIT_FIRST
        and line.casefold().startswith(_CREDIT_STARTS)
        and _CREDIT.match(line)
    ) or (" / " in line and _SLASH_CREDIT.fullmatch(line) and _AGENCY.search(line)):
        return _CREDIT_LINE
    if (
        len(line) > _MAX_HEADING
        or line.count(" ") >= 14
        or first.islower()
        or ends_sentence(line)
    ):
        return _P
    if not first.isalnum() and _RULE_LINE.fullmatch(line):
        return _RULE
    folded = line.casefold()
    if (
        " | " in line
        or "://" in line
        or "www." in folded
        or (first in _LINK_FIRST and folded.startswith(_LINK_STARTS) and _LINK_LINE.match(line))
    ):
        return _LINK
    # Most headings hold a word no name has (`of`, `the`, `In`): no need to look closer.
    if " by " not in line and not _TITLE_WORDS.isdisjoint(folded.partition(", ")[0].split()):
        return _HEADING
    return _NAME if _is_person(line) else _HEADING


def _is_heading(line: str) -> bool:
    """Could the line, on its own, be a sub-heading: short, no final punctuation, not lower
    case, not a name, a credit, a separator or a link line? (`_kinds` also wants context.)"""
    return _kind(line) == _HEADING


def _kinds(body: list[str]) -> list[int]:
    """The kind of each line of a body whose lines are all separate paragraphs.

    A heading candidate is a sub-heading only when it is followed by a paragraph, directly or
    after one more candidate (a sub-sub-heading), in a run with at most one name: three or more
    short lines in a row, or two names, are a list (signatories, a table of contents). The last
    line is never a heading.
    """
    n = len(body)
    kinds = [_P] * n
    short = list(compress(range(n), map(_MAX_SHORT.__ge__, map(len, body))))
    runs: list[list[int]] = []  # runs of consecutive heading candidates and names
    last = -2
    for i in short:
        kind = kinds[i] = _kind(body[i])
        if kind == _HEADING or kind == _NAME:
            if last == i - 1:
                runs[-1].append(i)
            else:
                runs.append([i])
            last = i
    if not runs:
        return kinds
    if kinds[-1] == _HEADING:  # the last line: never a heading, so it ends a run as a <p>
        kinds[-1] = _P
        runs[-1].pop()
    for run in runs:
        if not run:
            continue
        j = run[-1] + 1
        size = len(run)
        if (
            j >= n
            or kinds[j] == _RULE  # not followed by a paragraph (or a credit)
            or kinds[j] == _LINK
            or size >= 3
            or (size == 2 and kinds[run[0]] == kinds[run[1]] == _NAME)
        ):
            for k in run:
                kinds[k] = _P
    return kinds


def _units(body: list[str], glued: list[bool]) -> list[tuple[int, int]]:
    """(start, end) of each paragraph: lines glued to the one before belong to its paragraph."""
    starts = [k for k in range(len(body)) if not glued[k]]
    return list(zip(starts, [*starts[1:], len(body)]))


def _join(raw: list[str], lines: list[str]) -> str:
    """Glued lines as one paragraph: a hard-wrapped line (the next starts lower case, or it
    fills a line of 60+ characters mid-sentence) goes on with a space, any other line
    (names one per line, an address, a line that reads like a title) ends with <br>."""
    out = [lines[0]]
    for k in range(1, len(raw)):
        prev = raw[k - 1]
        wrapped = raw[k][:1].islower() or (len(prev) >= 60 and not ends_sentence(prev))
        out.append(" " if wrapped else "<br>\n")
        out.append(lines[k])
    return "".join(out)


_OPEN = {_P: "<p>", _HEADING: "<h2>", _NAME: "<p>", _CREDIT_LINE: '<p class="credit">',
         _LINK: "<p>"}  # _RULE: <hr>
_CLOSE = {_P: "</p>", _HEADING: "</h2>", _NAME: "</p>", _CREDIT_LINE: "</p>", _LINK: "</p>"}


def render_body(
    body: list[str], glued: list[bool] | None = None, *, to_escape: bool = True
) -> str:
    """The body as HTML, escaped: one `<p>` per paragraph (glued lines are one paragraph),
    `<h2>` sub-headings, `<p class="credit">` credits, `<hr>` for separator lines.

    `to_escape` False: the caller knows that no line holds `&`, `<` or `>` (`parse_scraped`
    looks for them in the page's bytes, three C-level byte scans, much cheaper than
    escaping a text that has a character beyond Latin-1)."""
    if not body:
        return ""
    # One escape pass over all lines (escaping adds no newline); runs of plain paragraphs
    # are joined in one C call each.
    lines = body
    if to_escape:
        joined = "\n".join(body)
        escaped = escape(joined)
        if escaped is not joined:
            lines = escaped.split("\n")
    if glued is not None and any(glued):
        return _render_units(body, lines, glued)
    kinds = _kinds(body)
    special = list(compress(range(len(kinds)), map(_NAME.__lt__, kinds)))
    if not special:
        return "<p>" + "</p>\n<p>".join(lines) + "</p>"
    html, start = [], 0
    for i in special:
        if i > start:
            html.append("<p>" + "</p>\n<p>".join(lines[start:i]) + "</p>")
        kind = kinds[i]
        html.append("<hr>" if kind == _RULE else f"{_OPEN[kind]}{lines[i]}{_CLOSE[kind]}")
        start = i + 1
    if start < len(lines):
        html.append("<p>" + "</p>\n<p>".join(lines[start:]) + "</p>")
    return "\n".join(html)


def _render_units(body: list[str], lines: list[str], glued: list[bool]) -> str:
    """`render_body` for a body with hard-wrapped paragraphs or lists of lines."""
    units = _units(body, glued)
    # Kinds as if each paragraph were one line; a paragraph of several lines is a paragraph.
    kinds = _kinds([body[a] if b - a == 1 else _STANDIN for a, b in units])
    html = []
    for (a, b), kind in zip(units, kinds):
        if b - a > 1:
            html.append("<p>" + _join(body[a:b], lines[a:b]) + "</p>")
        elif kind == _RULE:
            html.append("<hr>")
        else:
            html.append(f"{_OPEN[kind]}{lines[a]}{_CLOSE[kind]}")
    return "\n".join(html)


def _first_paragraph(body: list[str], glued: list[bool] | None = None) -> str:
    """The first paragraph of text (not a heading, credit, separator or link line)."""
    if glued is not None and any(glued):
        units = _units(body, glued)
        paragraphs = [" ".join(body[a:b]) if b - a > 1 else body[a] for a, b in units]
        kinds = _kinds([p if b - a == 1 else _STANDIN for p, (a, b) in zip(paragraphs, units)])
    else:
        paragraphs, kinds = body, _kinds(body)
    for text, kind in zip(paragraphs, kinds):
        if kind in (_P, _NAME):
            return truncate(text)
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


@lru_cache(maxsize=4096)
def _is_person(line: str) -> bool:
    """`Ana Ruiz`, `Ana de la Cruz, Oakland`, `Why We Strike, by Olivia Wood`: a name (and a
    place), or a title with its byline, as in a list of signatories or a table of contents."""
    if " by " in line:
        head, _, tail = line.rpartition(" by ")
        if head and len(tail.split()) >= 2 and _is_name(tail):
            return True
    name, _, place = line.partition(", ")
    words = name.split()
    if not 2 <= len(words) <= 5 or not _TITLE_WORDS.isdisjoint(name.lower().split()):
        return False
    if not all(w[0].isupper() or w in _PARTICLES for w in words):
        return False
    return not place or (len(place.split()) <= 5 and _is_name(place))


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

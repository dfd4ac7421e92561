"""Small pure text helpers shared by the seed readers (no I/O, no third-party imports)."""

from __future__ import annotations

import html
import re
from collections import Counter
from datetime import date
from functools import lru_cache
from itertools import chain, compress, islice, product
from operator import eq

# Characters XML 1.0 forbids (feedgen/lxml refuse them): C0 controls except TAB/LF/CR, DEL,
# the non-characters U+FFFE/U+FFFF and (lone) surrogates, which a str can only hold if it
# was decoded with surrogateescape/surrogatepass.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")
_ASCII_ILLEGAL = bytes((*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F))
_SUSPECT_BYTES = _ASCII_ILLEGAL + b"\r\xef"  # see is_normal_utf8

MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
# `October 26, 2021`, `Oct. 26, 2021`, `Sept 3 2020`: a whole line, nothing else.
_DATE = re.compile(r"([A-Za-z]{3,9})\.? (\d{1,2}),? (\d{4})")
MAX_DATE_LINE = 20  # characters: no longer line is a date

# Sentence-final punctuation, looked for after stripping closing quotes and brackets.
_CLOSERS = "\"'”’»)]"
_SENTENCE_END = frozenset(".!?…:;,")
_AUTHOR_SPLIT = re.compile(r"\s*,\s*(?:and\s+|&\s*)?|\s+and\s+|\s*&\s*")
_ELLIPSIS_TAIL = re.compile(r"\s*(?:\[\s*(?:…|\.\.\.)\s*\]|…|\.\.\.)$")


def normalize_text(text: str) -> str:
    """Strip a BOM, turn CRLF/CR into LF and drop every character XML cannot carry."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _ILLEGAL.sub("", text) if _has_illegal(text) else text


def normalized_utf8(text: str, data: bytes | None = None) -> tuple[str, bytes]:
    """`normalize_text(text)` and its UTF-8 bytes.

    `data`, if given, must be the UTF-8 encoding of `text` (what `read_seed` decoded): when it
    shows nothing to normalise, both come back as they are, without another pass over the text.
    """
    if data is None:
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: normalize_text drops them
            data = b""
    if data and is_normal_utf8(data):
        return text, data
    text = normalize_text(text)
    return text, text.encode("utf-8")


def is_normal_utf8(data: bytes) -> bool:
    """True if `data`, valid UTF-8, surely decodes to a text `normalize_text` leaves unchanged.

    One C-level pass: no ASCII control but TAB/LF, no CR, and no 0xEF byte, the lead byte of
    a BOM and of the non-characters U+FFFE/U+FFFF (and, rarely in articles, of the rest of
    U+F000-U+FFFF). Strict UTF-8 holds no surrogates. False means "look closer", not "unclean".
    """
    return len(data.translate(None, _SUSPECT_BYTES)) == len(data)


def _has_illegal(text: str) -> bool:
    """Fast check for `_ILLEGAL` (a regex scan of non-ASCII text costs about 3x more)."""
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:  # only surrogates fail to encode
        return True
    return (
        len(raw.translate(None, _ASCII_ILLEGAL)) != len(raw) or "\ufffe" in text or "\uffff" in text
    )


def parse_date(line: str) -> date | None:
    """The date of a line that is only an English date (`October 26, 2021`), else None.

    Only a line shaped like a date (short, a letter first, a digit last) reaches the cache,
    so that no other line (`Section 3 of the story 12`) fills it and pushes the date lines
    out of it."""
    if len(line) > MAX_DATE_LINE or not line[-1:].isdigit() or not line[:1].isalpha():
        return None
    return _parse_date_line(line)


@lru_cache(maxsize=8192)  # date lines repeat across a site's seeds (teasers): ~10x faster;
# 8192: the days of 20 years of articles
def _parse_date_line(line: str) -> date | None:
    m = _DATE.fullmatch(line)
    if m is None:
        return None
    month = MONTHS.get(m.group(1).lower())
    if month is None:
        return None
    try:
        return date(int(m.group(3)), month, int(m.group(2)))
    except ValueError:
        return None


def ends_sentence(line: str) -> bool:
    """True if the line ends like a sentence (after any closing quotes or brackets)."""
    stripped = line.rstrip(_CLOSERS)
    return bool(stripped) and stripped[-1] in _SENTENCE_END


@lru_cache(maxsize=4096)  # so do author lines
def split_authors(line: str) -> tuple[str, ...]:
    """`A`, `A and B`, `A, B and C`, `A, B, and C`, `A & B` -> a tuple of names."""
    line = line.strip()
    if line[:3].lower() == "by ":
        line = line[3:]
    return tuple(name for name in _AUTHOR_SPLIT.split(line) if name)


def clean_summary(text: str) -> str:
    """A dek cut by the site (`… their […]`) ends in a plain `…` with no space before it."""
    text = text.strip()
    if text.endswith(("]", "…", "...")):
        # The tail is made of whitespace, brackets, dots and `…` only: start the (leftmost)
        # search where that run starts instead of trying every position of a long dek.
        start = len(text)
        while start and (text[start - 1] in "[]…." or text[start - 1].isspace()):
            start -= 1
        m = _ELLIPSIS_TAIL.search(text, start)
        if m is not None:
            return text[: m.start()] + "…"
    return text


def truncate(text: str, limit: int = 300) -> str:
    """`text` cut at a word boundary to at most `limit` characters, ending in `…` if cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
    return cut.rstrip(" ,;:.-–—") + "…"


def escape(text: str) -> str:
    """HTML-escape text content (quotes need no escaping outside attributes)."""
    return html.escape(text, quote=False)


# A few frequent, language-specific words each; counted as " word " in the lowered sample.
_STOPWORDS: dict[str, tuple[str, ...]] = {
    "en": ("the", "and", "of", "is", "that", "with", "for", "was"),
    "es": ("el", "los", "las", "del", "y", "una", "con", "por"),
    "pt": ("os", "da", "dos", "das", "em", "uma", "não", "com"),
    "fr": ("le", "les", "des", "du", "et", "est", "une", "dans"),
    "de": ("der", "die", "das", "und", "ist", "nicht", "ein", "mit"),
}
_LANGUAGES_OF = {
    word: tuple(lang for lang, words in _STOPWORDS.items() if word in words)
    for words in _STOPWORDS.values()
    for word in words
}


def _spellings(word: str) -> set[str]:
    """Every string whose `.lower()` is `word`: each letter in either case.

    No other character lower-cases to a letter of a stopword (tests check all of Unicode),
    so looking words up here equals lower-casing the whole sample first, at no cost.
    """
    return {"".join(p) for p in product(*(dict.fromkeys((c, c.upper())) for c in word))}


_STOPWORD_OF = {spelling: word for word in _LANGUAGES_OF for spelling in _spellings(word)}


def detect_language(text: str, site_language: str, sample: int = 1500) -> str:
    """A cheap stopword vote over the start of `text`: a language code, or "" for the site's.

    A stopword's votes are the non-overlapping matches of " word " in the sample's words,
    lower-cased and joined by single spaces (`str.count`, as first written). Two matches
    overlap only where the same word comes twice in a row, so unless a stopword directly
    follows itself, a vote is the number of times the word occurs; otherwise a loop over
    the stopwords found skips every second word of a run, as `str.count` does.
    """
    words = text[:sample].split()
    found = list(filter(None, map(_STOPWORD_OF.get, words)))  # one C-level pass
    # A run needs the same stopword twice in a row among those found (and then next to each
    # other in the text): most samples have none, and need no positions.
    if not any(map(eq, found, islice(found, 1, None))):
        votes = Counter(chain.from_iterable(map(_LANGUAGES_OF.__getitem__, found)))
    else:
        at = list(compress(range(len(words)), map(_STOPWORD_OF.__contains__, words)))
        votes = Counter()
        previous, previous_word, counted = -2, "", False
        for i, word in zip(at, found):
            counted = not (counted and previous == i - 1 and previous_word == word)
            if counted:
                votes.update(_LANGUAGES_OF[word])
            previous, previous_word = i, word
    best = max(_STOPWORDS, key=votes.__getitem__)  # the first of equals, as the table orders
    if votes[best] < 5 or best == site_language.split("-")[0].lower():
        return ""
    return best

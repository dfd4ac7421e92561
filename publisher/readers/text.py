"""Small pure text helpers shared by the seed readers (no I/O, no third-party imports)."""

from __future__ import annotations

import html
import re
from collections import Counter
from datetime import date

# Characters XML 1.0 forbids (feedgen/lxml refuse them): C0 controls except TAB/LF/CR, DEL,
# the non-characters U+FFFE/U+FFFF and (lone) surrogates, which a str can only hold if it
# was decoded with surrogateescape/surrogatepass.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")
_NEWLINES = re.compile("\r\n?")

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
        text = _NEWLINES.sub("\n", text)
    return _ILLEGAL.sub("", text)


def parse_date(line: str) -> date | None:
    """The date of a line that is only an English date (`October 26, 2021`), else None."""
    if len(line) > 20 or not line[:1].isalpha():
        return None
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
        cut = _ELLIPSIS_TAIL.sub("", text)
        if cut != text:
            return cut + "…"
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


_STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the and of to is that for with are was this from have it be which their they has were "
        "not".split()
    ),
    "es": frozenset(
        "el los las del y una con su al lo como más pero sus fue este esta también porque muy "
        "entre hay".split()
    ),
    "pt": frozenset(
        "os da dos das em um uma com não na ao são foi também pela pelo seu sua".split()
    ),
    "fr": frozenset(
        "le les des du et est une pour qui dans sur pas au aux ce cette sont avec nous ils "
        "elle".split()
    ),
    "de": frozenset(
        "der die das und ist nicht ein eine zu den mit von sich auf für im dem auch wir wird "
        "sind".split()
    ),
}
_WORD = re.compile(r"[^\W\d_]+")


def detect_language(text: str, site_language: str, sample: int = 3000) -> str:
    """A cheap stopword vote over the start of `text`: a language code, or "" for the site's."""
    seen = Counter(_WORD.findall(text[:sample].lower()))
    counts = {lang: sum(seen[w] for w in words if w in seen) for lang, words in _STOPWORDS.items()}
    best = max(counts, key=counts.__getitem__)
    if counts[best] < 5 or best == site_language.split("-")[0].lower():
        return ""
    return best

"""The readers' fast paths give exactly what the plain way of writing them gives.

Each test holds the first, obvious version of a helper as the reference and compares on
random inputs built to hit the edge cases (runs of a word, CR, BOM, controls, escapes).
"""

from __future__ import annotations

import html
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from publisher.errors import SeedError
from publisher.model import Site, content_hash
from publisher.readers import parse_scraped, read_seed
from publisher.readers import scraped
from publisher.readers.scraped import (
    _CREDIT_LINE,
    _HEADING,
    _RULE,
    _kind,
    _kinds,
    render_body,
)
from publisher.readers.text import ends_sentence
from publisher.readers.text import (
    clean_summary,
    detect_language,
    normalize_text,
    normalized_utf8,
)

SEEDS = Path(__file__).parent / "seeds"
REAL = Path(__file__).resolve().parent.parent / "seeds"
SITE = Site("Left Voice", "https://www.leftvoice.org", ZoneInfo("America/New_York"))
GOOD = SEEDS / "credit_photo_by.txt"

# --- the reference versions ------------------------------------------------------------------

_STOPWORDS = {
    "en": ("the", "and", "of", "is", "that", "with", "for", "was"),
    "es": ("el", "los", "las", "del", "y", "una", "con", "por"),
    "pt": ("os", "da", "dos", "das", "em", "uma", "não", "com"),
    "fr": ("le", "les", "des", "du", "et", "est", "une", "dans"),
    "de": ("der", "die", "das", "und", "ist", "nicht", "ein", "mit"),
}


def language_reference(text: str, site_language: str, sample: int = 1500) -> str:
    padded = f" {' '.join(text[:sample].lower().split())} "
    counts = {
        lang: sum(padded.count(f" {w} ") for w in words) for lang, words in _STOPWORDS.items()
    }
    best = max(counts, key=counts.__getitem__)
    if counts[best] < 5 or best == site_language.split("-")[0].lower():
        return ""
    return best


_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")


def normalize_reference(text: str) -> str:
    if text.startswith("\ufeff"):
        text = text[1:]
    return _ILLEGAL.sub("", re.sub("\r\n?", "\n", text))


_ELLIPSIS_TAIL = re.compile(r"\s*(?:\[\s*(?:…|\.\.\.)\s*\]|…|\.\.\.)$")


def clean_summary_reference(text: str) -> str:
    text = text.strip()
    if text.endswith(("]", "…", "...")):
        cut = _ELLIPSIS_TAIL.sub("", text)
        if cut != text:
            return cut + "…"
    return text


_TAGS = {"heading": ("<h2>", "</h2>"), "credit": ('<p class="credit">', "</p>")}


def render_reference(body: list[str]) -> str:
    """One element per line, each escaped on its own, as the line's kind says."""
    out = []
    for line, kind in zip(body, _kinds(body)):
        name = {_HEADING: "heading", _CREDIT_LINE: "credit", _RULE: "rule"}.get(kind, "p")
        if name == "rule":
            out.append("<hr>")
            continue
        start, end = _TAGS.get(name, ("<p>", "</p>"))
        out.append(f"{start}{html.escape(line, quote=False)}{end}")
    return "\n".join(out)


# --- comparisons -----------------------------------------------------------------------------

WORDS = [w for words in _STOPWORDS.values() for w in words] + [
    "The", "THE", "NÃO", "Não", "strike", "union", "the.", "(the", "Der", "y", "a", "x",
]
SPACES = [" ", " ", " ", "  ", "\t", "\n", "\xa0", "\u2028", " \u3000 "]


@pytest.mark.parametrize("seed", range(6))
def test_language_vote_counts_like_str_count(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(400):
        parts = []
        for _ in range(rng.randrange(0, 400)):
            word = rng.choice(WORDS)
            parts.append(word)
            if rng.random() < 0.3:  # runs of one word: "the the the"
                parts.extend([word] * rng.randrange(1, 4))
        spaces = [rng.choice(SPACES) for _ in parts]
        text = "".join(w + s for w, s in zip(parts, spaces))
        sample = rng.choice((1500, 1500, 40, 5000))
        for site_language in ("en", "es-AR", "de"):
            assert detect_language(text, site_language, sample) == language_reference(
                text, site_language, sample
            ), text


def test_language_vote_on_the_seeds() -> None:
    for path in [*sorted(SEEDS.glob("*.txt")), *sorted(REAL.glob("*.txt"))]:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for site_language in ("en", "es", "pt"):
            assert detect_language(text, site_language) == language_reference(text, site_language)


TAILS = ["", " ", "  ", "\xa0", "[…]", "[ … ]", "[...]", "…", "...", "....", "]", "[", ".",
         " [\u2009…\u2009]", "x", "…]", "[…", "[… ]\n", "……", "a...", " . . ."]


def test_clean_summary_matches_the_tail_regex() -> None:
    rng = random.Random(7)
    for _ in range(20_000):
        text = "".join(rng.choice(TAILS) for _ in range(rng.randrange(0, 6)))
        if rng.random() < 0.5:
            text = "A dek that was cut, like" + text
        assert clean_summary(text) == clean_summary_reference(text), repr(text)


PIECES = ["a", "é", "Ω", "line", "\n", "\r\n", "\r", "\ufeff", "\x00", "\x0b", "\x1f", "\x7f",
          "\t", "\ufffe", "\uffff", "\uff21", "\uf8ff", "\ue000", "’", "😀", "\ud800", " "]


def test_normalized_utf8_agrees_with_normalize_text() -> None:
    rng = random.Random(3)
    for _ in range(20_000):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randrange(0, 12)))
        wanted = normalize_reference(text)
        assert normalize_text(text) == wanted, repr(text)
        got, utf8 = normalized_utf8(text)
        assert (got, utf8) == (wanted, wanted.encode("utf-8")), repr(text)
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            continue
        assert normalized_utf8(text, data) == (wanted, wanted.encode("utf-8")), repr(text)


BODY_LINES = ["Short Heading", "A sentence.", "Tom & Jerry <3", "x" * 100, "X" * 101,
              "lower case start", "See https://example.org", "Q&A: What Now?", "A <b>tag</b>",
              "Photo: Ana & Bo", "***", "Ana Ruiz, Oakland", "Listen on Spotify | Apple"]


def test_render_body_matches_one_line_at_a_time() -> None:
    rng = random.Random(5)
    for _ in range(5_000):
        body = [rng.choice(BODY_LINES) for _ in range(rng.randrange(0, 8))]
        assert render_body(body) == render_reference(body), body
        assert render_body(body, [False] * len(body)) == render_reference(body), body



def test_render_body_unescaped_when_nothing_to_escape() -> None:
    """`to_escape=False` (the page's bytes hold no `&`, `<`, `>`) renders as escaping would."""
    plain = [line for line in BODY_LINES if not set("&<>") & set(line)]
    rng = random.Random(7)
    for _ in range(3_000):
        body = [rng.choice(plain) for _ in range(rng.randrange(0, 8))]
        glued = [False] + [rng.random() < 0.3 for _ in body[1:]]
        assert render_body(body, to_escape=False) == render_body(body), body
        assert render_body(body, glued, to_escape=False) == render_body(body, glued), body


def test_parse_scraped_escapes_when_the_page_has_markup_characters() -> None:
    text = GOOD.read_text(encoding="utf-8")
    for odd in ("Q&A with the strikers.", "Wages < rent.", "Rent > wages.", "A <b>tag</b>."):
        page = text.replace("Dockworkers at the port stopped work on Monday morning.", odd)
        assert odd in page
        article = parse_scraped(page, "x.txt", SITE)
        assert f"<p>{html.escape(odd, quote=False)}</p>" in article.body_html
        assert parse_scraped(page, "x.txt", SITE, utf8=page.encode("utf-8")) == article

def kind_reference(line: str) -> int:
    """`_kind` as first written: every expression tried in turn, no prefix checks."""
    if len(line) > scraped._MAX_SHORT:
        return scraped._P
    if scraped._CREDIT.match(line) or (
        scraped._SLASH_CREDIT.fullmatch(line) and scraped._AGENCY.search(line)
    ):
        return scraped._CREDIT_LINE
    if len(line) > 100 or line.count(" ") >= 14 or line[0].islower() or ends_sentence(line):
        return scraped._P
    if scraped._RULE_LINE.fullmatch(line):
        return scraped._RULE
    if " | " in line or "://" in line or "www." in line.casefold() or scraped._LINK_LINE.match(
        line
    ):
        return scraped._LINK
    return scraped._NAME if scraped._is_person.__wrapped__(line) else scraped._HEADING


HEADS = ["Photo: ", "PHOTO by ", "Foto: ", "Image credit: ", "Ilustración: ", "Cover photo: ",
         "Featured image by ", "Listen on ", "Watch it on ", "Escucha en ", "Suscríbete en ",
         "Síguenos en ", "***", "—", "* * *", "", "Ana Ruiz", "Section of the", "The Myth",
         "Why We Strike, by Olivia Wood", "www.", "https://x.org", "Art", "Artwork: ", "Design",
         "Credits: ", "drawing: ", "Video", "Follow", "Download the ", "Mira ", "x" * 120]
TAILS = ["Greta Lind", "Spotify | Apple", "Reuters / AFP", "X / Getty Images", ".", "",
         "Oakland", ", New York", " of the people", " by Ana Ruiz", ":", " Left Voice", "?"]


def test_line_kind_prefix_checks_change_nothing() -> None:
    rng = random.Random(8)
    for _ in range(20_000):
        line = (rng.choice(HEADS) + rng.choice(TAILS)).strip() or "x"
        assert _kind(line) == kind_reference(line), line


def test_render_body_glued_lines_are_one_paragraph() -> None:
    rng = random.Random(6)
    for _ in range(2_000):
        body = [rng.choice(BODY_LINES) for _ in range(rng.randrange(1, 8))]
        glued = [False] + [rng.random() < 0.3 for _ in body[1:]]
        starts = [k for k, g in enumerate(glued) if not g]
        units = [body[a:b] for a, b in zip(starts, [*starts[1:], len(body)])]
        # A paragraph of one line renders as that line would; several lines are one <p>.
        standin = "A paragraph of several lines stands in here. " * 5  # a long <p>
        expected = render_reference([u[0] if len(u) == 1 else standin for u in units]).split("\n")
        for k, unit in enumerate(units):
            if len(unit) > 1:
                text = html.escape(unit[0], quote=False)
                for prev, line in zip(unit, unit[1:]):
                    wrapped = line[:1].islower() or (
                        len(prev) >= 60 and prev.rstrip("\"'”’»)]")[-1:] not in ".!?…:;,")
                    text += (" " if wrapped else "<br>\n") + html.escape(line, quote=False)
                expected[k] = f"<p>{text}</p>"
        assert render_body(body, glued) == "\n".join(expected), (body, glued)


@pytest.mark.parametrize(
    "path",
    [SEEDS / "control_characters_crlf_bom.txt", *sorted(REAL.glob("*.txt"))],
    ids=lambda p: p.name,
)
def test_content_hash_is_the_hash_of_the_normalised_text(path: Path) -> None:
    article = read_seed(path, path.parent, SITE)
    text = normalize_reference(path.read_text(encoding="utf-8"))
    assert article.content_hash == content_hash(text)
    assert parse_scraped(path.read_text(encoding="utf-8"), article.source, SITE) == article


# --- I/O: the route without realpath ---------------------------------------------------------


def test_str_and_path_and_subclass_read_the_same(tmp_path: Path) -> None:
    class OwnPath(type(Path())):  # type: ignore[misc]
        """A Path subclass takes the route through its own stat() and open()."""

    seeds = tmp_path / "seeds"
    (seeds / "2024").mkdir(parents=True)
    shutil.copy(GOOD, seeds / "2024" / "a.txt")
    plain = read_seed(seeds / "2024" / "a.txt", seeds, SITE)
    assert plain.source == "2024/a.txt"
    assert read_seed(str(seeds / "2024" / "a.txt"), seeds, SITE) == plain
    assert read_seed(OwnPath(seeds / "2024" / "a.txt"), seeds, SITE) == plain


def test_symlinked_folder_inside_is_read_and_outside_refused(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    (seeds / "real").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(GOOD, seeds / "real" / "a.txt")
    shutil.copy(GOOD, tmp_path / "elsewhere" / "b.txt")
    (seeds / "alias").symlink_to(seeds / "real")
    (seeds / "out").symlink_to(tmp_path / "elsewhere")
    assert read_seed(seeds / "alias" / "a.txt", seeds, SITE).source == "alias/a.txt"
    with pytest.raises(SeedError) as info:
        read_seed(seeds / "out" / "b.txt", seeds, SITE)
    assert info.value.reason == "symlink points outside the seeds folder"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.txt")
    with pytest.raises(SeedError) as info:
        read_seed(tmp_path / "pipe.txt", tmp_path, SITE)
    assert info.value.reason == "not a regular file"


def test_scraped_only_use_never_imports_markdown_or_yaml() -> None:
    code = (
        "import sys; from pathlib import Path; from zoneinfo import ZoneInfo;"
        "from publisher.model import Site; from publisher.readers import read_seed;"
        f"p = Path({str(GOOD)!r});"
        "read_seed(p, p.parent, Site('x', 'https://x.org', ZoneInfo('UTC')));"
        "print(sorted({'markdown', 'yaml'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_only_the_listed_spellings_lower_case_to_a_stopword() -> None:
    """detect_language looks words up without lower-casing: no other character may map in."""
    from publisher.readers.text import _STOPWORD_OF

    letters = set("".join(_STOPWORD_OF.values()))
    spelled = set("".join(_STOPWORD_OF))
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        lowered = char.lower()
        if char not in spelled and any(c in letters for c in lowered):
            # only İ (-> "i̇", two characters) may: the dot above is in no stopword
            assert len(lowered) > 1 and not set(lowered[1:]) & letters, hex(code)
        assert char.isspace() == lowered.isspace() or len(lowered) > 1, hex(code)
        assert not lowered.startswith("g") or char in "gG", hex(code)  # promo lines: `_body`

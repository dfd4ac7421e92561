"""The Markdown reader: TOML/YAML front matter, safe rendering, clear errors."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from publisher.errors import NotAnArticle, SeedError
from publisher.model import Site
from publisher.pipeline import identify
from publisher.readers import parse_markdown, read_seed

SEEDS = Path(__file__).parent / "seeds"
NEW_YORK = ZoneInfo("America/New_York")
SITE = Site("Left Voice", "https://www.leftvoice.org", NEW_YORK)


def read(name: str):  # type: ignore[no-untyped-def]
    return read_seed(SEEDS / name, SEEDS, SITE)


def well_formed(fragment: str) -> None:
    ET.fromstring(f"<div>{fragment}</div>")


def md(front: str, body: str = "Text.") -> str:
    return f"+++\n{front}\n+++\n\n{body}\n"


def test_toml_front_matter() -> None:
    article = read("markdown_toml_front_matter.md")
    assert article.title == "Solidarity With the Rail Workers"
    assert article.published == datetime(2024, 3, 1, tzinfo=NEW_YORK)
    assert article.authors == ("Ana Ruiz", "Ben Cole")
    assert article.category == "Labor Movement"
    assert article.credit == "Photo by Luigi Morris"
    assert article.slug == "solidarity-with-the-rail-workers"
    assert article.summary.startswith("Rail workers voted to strike on Friday")
    assert "<h2>What They Want</h2>" in article.body_html
    assert "<li>Paid sick days</li>" in article.body_html
    assert '<a href="https://www.leftvoice.org/">' in article.body_html
    assert article.related == ()
    assert article.language == ""
    well_formed(article.body_html)


def test_yaml_front_matter() -> None:
    article = read("markdown_yaml_front_matter.md")
    assert article.title == "Los trabajadores de la salud paran en Madrid"
    assert article.published == datetime(2024, 3, 2, 18, 30, tzinfo=NEW_YORK)  # naive: site tz
    assert article.authors == ("Cy Wu",)
    assert article.summary == "A short summary written by hand."
    assert article.slug == "health-workers-strike-madrid"
    assert identify(article, None, {}, SITE, datetime(2026, 1, 1, tzinfo=NEW_YORK)).guid == (
        "tag:www.leftvoice.org,2024-03-02:/health-workers-strike-madrid/")
    assert article.language == "es"
    well_formed(article.body_html)


def test_raw_html_is_escaped_not_passed_through() -> None:
    article = read("markdown_raw_html_escaped.md")
    body = article.body_html
    assert "<script" not in body and "<style" not in body and "<div" not in body
    assert "&lt;script&gt;" in body
    assert "javascript:" not in body and "data:" not in body
    assert "<img" not in body and "<p>an image</p>" in body  # no image left without a source
    assert '<a href="https://example.org/?a=1&amp;b=2">a good one</a>' in body
    assert "—" in body and "\u00a0" in body  # named entities resolved to characters
    assert "&amp;bogus;" in body  # unknown entities shown as written
    assert "&#1;" not in body and "\x01" not in body
    well_formed(body)
    assert article.published == datetime(2024, 3, 3, 9, tzinfo=timezone(timedelta(hours=-5)))
    assert article.published.tzinfo == NEW_YORK


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("markdown_missing_title.md", "front matter has no title"),
        ("markdown_missing_date.md", "front matter has no date"),
        ("markdown_no_front_matter.md",
         "no front matter: start the file with +++ (TOML) or --- (YAML)"),
        ("markdown_unknown_key.md", "unknown front matter key 'catgory'"),
    ],
)
def test_bad_front_matter(name: str, reason: str) -> None:
    with pytest.raises(SeedError) as info:
        read(name)
    assert info.value.reason == reason
    assert "\n" not in str(info.value)


def test_bad_toml_says_where() -> None:
    with pytest.raises(SeedError) as info:
        read("markdown_bad_toml.md")
    assert info.value.reason.startswith("front matter is not valid TOML: ")
    assert "line 1" in info.value.reason


def test_bad_yaml_says_where() -> None:
    with pytest.raises(SeedError) as info:
        parse_markdown("---\ntitle: [unclosed\ndate: 2024-01-01\n---\nText\n", "a.md", SITE)
    assert info.value.reason.startswith("front matter is not valid YAML: ")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-01", datetime(2024, 3, 1, tzinfo=NEW_YORK)),
        ('"2024-03-01"', datetime(2024, 3, 1, tzinfo=NEW_YORK)),
        ("2024-03-01T10:15:00", datetime(2024, 3, 1, 10, 15, tzinfo=NEW_YORK)),
        ("2024-03-01T15:15:00Z", datetime(2024, 3, 1, 10, 15, tzinfo=NEW_YORK)),
        ('"2024-03-01 10:15"', datetime(2024, 3, 1, 10, 15, tzinfo=NEW_YORK)),
        ('"March 1, 2024"', datetime(2024, 3, 1, tzinfo=NEW_YORK)),
    ],
)
def test_dates(value: str, expected: datetime) -> None:
    article = parse_markdown(md(f'title = "T"\ndate = {value}'), "a.md", SITE)
    assert article.published == expected
    assert article.published.tzinfo is not None
    assert article.updated == article.published


def test_bad_date() -> None:
    with pytest.raises(SeedError, match="date is not a date: 'soon'"):
        parse_markdown(md('title = "T"\ndate = "soon"'), "a.md", SITE)


def test_authors_forms() -> None:
    one = parse_markdown(md('title = "T"\ndate = 2024-01-01\nauthor = "A B"'), "a.md", SITE)
    assert one.authors == ("A B",)
    many = parse_markdown(md('title = "T"\ndate = 2024-01-01\nauthors = "A, B, and C"'), "a", SITE)
    assert many.authors == ("A", "B", "C")
    with pytest.raises(SeedError, match="authors must be"):
        parse_markdown(md('title = "T"\ndate = 2024-01-01\nauthors = 3'), "a.md", SITE)


def test_default_summary_is_cut_at_a_word() -> None:
    body = "word " * 200
    article = parse_markdown(md('title = "T"\ndate = 2024-01-01', body), "a.md", SITE)
    assert article.summary.endswith("word…")
    assert len(article.summary) <= 301


def test_yaml_with_crlf_and_bom() -> None:
    text = "\ufeff---\r\ntitle: Hello\r\ndate: 2024-01-01\r\n---\r\n\r\nBody\x0b text.\r\n"
    article = parse_markdown(text, "a.md", SITE)
    assert article.title == "Hello"
    assert article.body_html == "<p>Body text.</p>"


def test_converter_reuse_does_not_leak_between_seeds() -> None:
    first = parse_markdown(md('title = "A"\ndate = 2024-01-01', "See [x][1].\n\n[1]: https://a.example/"), "a", SITE)
    second = parse_markdown(md('title = "B"\ndate = 2024-01-01', "See [x][1]."), "b", SITE)
    assert "https://a.example/" in first.body_html
    assert "https://a.example/" not in second.body_html


def test_common_markdown_is_well_formed() -> None:
    body = (
        "Line one  \nline two\n\n---\n\n```python\nif a < b and c > d: print('&')\n```\n\n"
        "| a | b |\n|---|---|\n| 1 < 2 | x & y |\n\n1. one\n2. two\n\n> quote\n\n"
        "`<code>` and *em* and **strong** ![pic](https://example.org/p.png)"
    )
    article = parse_markdown(md('title = "T"\ndate = 2024-01-01', body), "a.md", SITE)
    well_formed(article.body_html)
    assert "<br />" in article.body_html and "<hr />" in article.body_html
    assert "<table>" in article.body_html and "<blockquote>" in article.body_html
    assert "&lt;code&gt;" in article.body_html


# --- Issue 11 §2: a parser linear in its input; Hugo and Jekyll content folders ---------------

PATHOLOGICAL = {  # 1 MB each: inputs that made Python-Markdown (and regex parsers) superlinear
    "brackets": "[" * 1_000_000,
    "images": "![" * 500_000,
    "nested brackets": "[[" * 250_000 + "]]" * 250_000,
    "unclosed links": "[a](" * 250_000,
    "emphasis runs": "*a" * 500_000,
    "angle brackets": "<" * 1_000_000,
    "references": "[x]: y\n" * 142_857,
    "one long paragraph": "a\n" * 500_000,
}


@pytest.mark.parametrize("kind", sorted(PATHOLOGICAL))
def test_a_1_mb_pathological_seed_parses_in_under_2_s(kind: str) -> None:
    import time

    text = md('title = "Hostile"\ndate = 2024-01-01', PATHOLOGICAL[kind])
    assert len(text) > 1_000_000
    start = time.process_time()
    article = parse_markdown(text, "hostile.md", SITE)
    elapsed = time.process_time() - start
    assert elapsed < 2.0, f"{kind}: {elapsed:.2f} s"
    assert article.title == "Hostile"
    assert article.body_html.startswith("<p>") or kind == "references"  # definitions only
    well_formed(article.body_html)


def test_a_hugo_content_folder_is_read(tmp_path: Path) -> None:
    content = tmp_path / "content"
    (content / "posts" / "2026").mkdir(parents=True)
    (content / "_index.md").write_text('+++\ntitle = "Home"\n+++\n', encoding="utf-8")
    (content / "posts" / "_index.md").write_text("---\ntitle: Posts\n---\n", encoding="utf-8")
    (content / "posts" / "2026" / "strike.md").write_text(
        '+++\ntitle = "The Strike Holds"\ndate = 2026-11-02T10:00:00-05:00\n'
        'lastmod = 2026-11-03T08:00:00-05:00\ndescription = "Day two at the port."\n'
        'categories = ["Labor", "Ports"]\ntags = ["strike", "ports"]\nauthor = ["Ana Ruiz", "Ben Cole"]\n'
        'aliases = ["/old/strike/"]\nweight = 3\ndraft = false\n+++\n\nThe picket held.\n',
        encoding="utf-8")
    (content / "posts" / "2026" / "draft.md").write_text(
        '+++\ntitle = "Not Yet"\ndate = 2026-11-04\ndraft = true\n+++\n\nSoon.\n', encoding="utf-8")
    (content / "posts" / "2026" / "jekyll.md").write_text(
        "---\nlayout: post\ntitle: From Jekyll\ndate: 2026-11-05 09:30:00 -0500\n"
        "categories: Politics\ntags: [a, b]\nauthor: Carla Diaz\nexcerpt: Short.\n---\n\nBody.\n",
        encoding="utf-8")
    (content / "posts" / "2026" / "unpublished.md").write_text(
        "---\ntitle: Hidden\ndate: 2026-11-06\npublished: false\n---\n\nNo.\n", encoding="utf-8")
    strike = read_seed(content / "posts" / "2026" / "strike.md", content, SITE)
    assert (strike.title, strike.summary, strike.category, strike.authors) == (
        "The Strike Holds", "Day two at the port.", "Labor", ("Ana Ruiz", "Ben Cole"))
    assert strike.published == datetime(2026, 11, 2, 10, tzinfo=NEW_YORK)
    assert strike.updated == datetime(2026, 11, 3, 8, tzinfo=NEW_YORK)
    jekyll = read_seed(content / "posts" / "2026" / "jekyll.md", content, SITE)
    assert (jekyll.title, jekyll.category, jekyll.authors) == ("From Jekyll", "Politics", ("Carla Diaz",))
    assert jekyll.published == datetime(2026, 11, 5, 9, 30, tzinfo=NEW_YORK)
    for name, reason in [("_index.md", "a Hugo section page (_index.md), not an article: skipped"),
                         ("posts/_index.md", "a Hugo section page (_index.md), not an article: skipped"),
                         ("posts/2026/draft.md", "a draft (draft = true): skipped"),
                         ("posts/2026/unpublished.md", "not published (published: false): skipped")]:
        with pytest.raises(NotAnArticle) as info:
            read_seed(content / name, content, SITE)
        assert info.value.reason == reason

"""Digest selection and rendering: articles chosen, hostile content neutralised, golden files."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from publisher.digest import (PLACEHOLDERS, DigestRenderer, Personal, plain_text,
                              select_articles)
from publisher.mail import Letter, MessageTemplate, Recipient
from test_digest_support import T0, make_article, make_settings

GOLDEN = Path(__file__).parent / "golden" / "digest"


@pytest.fixture
def settings(tmp_path):  # type: ignore[no-untyped-def]
    return make_settings(tmp_path)


def test_select_filters_categories_case_insensitively_newest_first_and_caps():
    arts = [make_article(i, T0, category=c, published=T0 - timedelta(days=10 - i))
            for i, c in enumerate(["Labor", "Politics", "labor", "Culture", "LABOR"])]
    chosen = select_articles(arts, ("labor",), limit=2)
    assert [a.id for a in chosen] == [arts[4].id, arts[2].id]
    assert [a.id for a in select_articles(arts, (), limit=10)] == [a.id for a in reversed(arts)]


def test_select_backfill_adds_older_articles():
    new = [make_article(1, T0)]
    older = [make_article(2, T0 - timedelta(days=3), published=T0 - timedelta(days=5)),
             make_article(3, T0 - timedelta(days=4), published=T0 - timedelta(days=6))]
    chosen = select_articles(new, (), 10, backfill=older, backfill_count=1)
    assert [a.id for a in chosen] == [new[0].id, older[0].id]


def test_plain_text_drops_script_and_style_content():
    assert plain_text("<style>body{display:none}</style>Hi <b>there</b><script>alert(1)</script>") \
        == "Hi there"
    assert plain_text("A &amp; B\x0b\r\nC") == "A & B C"


def hostile_articles():  # type: ignore[no-untyped-def]
    return [
        make_article(1, T0, title="<script>alert('x')</script>Strike <b>wins</b> {{ 7*7 }}",
                     summary="<style>*{color:red}</style>Workers <i>won</i> {% raw %}"
                             " & more <img src=http://evil.example/t.gif>"),
        make_article(2, T0, title="Title\r\nBcc: evil@x", category="Politics",
                     summary="<a href=\"javascript:alert(1)\">click</a> ordinary text"),
    ]


def test_hostile_article_html_never_reaches_the_mail(settings):  # type: ignore[no-untyped-def]
    """Titles and summaries are text: markup in them is shown as the characters it is made of,
    escaped in the HTML part, never live (issue 11: plain text is never parsed as HTML)."""
    rendered = DigestRenderer(settings).render(7, hostile_articles(), T0)
    from lxml import html as lxml_html

    lowered = rendered.html.lower()
    document = lxml_html.fromstring(rendered.html)
    assert document.xpath("//script | //img | //i | //b | //body//style") == []
    assert [a for a in document.xpath("//a/@href") if "javascript" in a] == []
    assert "<script" not in lowered and "<img" not in lowered
    assert lowered.count("<style") == 1  # ours: only the media queries that cannot be inlined
    assert "{{ 7*7 }}" in rendered.html and "49" not in rendered.html  # data, not template code
    assert "&lt;script&gt;alert('x')&lt;/script&gt;Strike &lt;b&gt;wins&lt;/b&gt;" in rendered.html
    assert "&lt;img src=http://evil.example/t.gif&gt;" in rendered.html
    assert "<script>alert('x')</script>Strike <b>wins</b> {{ 7*7 }}" in rendered.text
    assert "Bcc: evil@x" not in rendered.text.splitlines()
    assert "Bcc: evil@x" not in rendered.subject.splitlines() and "\n" not in rendered.subject


@pytest.mark.parametrize("title", ["Paro general ‹más> de cien mil", "Paro general <más> de cien mil",
                                   "Tom & Jerry &amp; <b>co</b>"])
def test_title_text_is_kept_in_subject_text_and_html(settings, title):  # type: ignore[no-untyped-def]
    """A title is text: `<más>` survives in the subject, the text part and the HTML part."""
    import html as html_lib

    rendered = DigestRenderer(settings).render(8, [make_article(1, T0, title=title)], T0)
    assert rendered.subject == title  # subject_single is "{title}"
    assert title in rendered.text
    assert html_lib.escape(title, quote=False) in rendered.html


def test_render_has_links_placeholders_and_structure(settings):  # type: ignore[no-untyped-def]
    arts = [make_article(i, T0, published=T0 - timedelta(days=i)) for i in range(1, 4)]
    renderer = DigestRenderer(settings)
    rendered = renderer.render(12, arts, T0)
    assert renderer.inline_calls == 1
    assert rendered.subject == "Left Voice: 3 new articles"
    html = rendered.html
    assert html.startswith("<!DOCTYPE html>")
    assert 'name="color-scheme"' in html and "prefers-color-scheme: dark" in html
    assert "max-width: 620px" in html and 'class="preheader"' in html
    assert "https://news.example.org/digests/12/" in html
    for key, placeholder in PLACEHOLDERS.items():
        assert placeholder in html, key
        assert placeholder in rendered.text, key
    hrefs = re.findall(r'href="([^"]+)"', html)
    assert all(h.startswith(("https://", "@@PUB_")) for h in hrefs), hrefs
    for a in arts:
        assert html.count(f'href="{a.url}"') == 2  # title and "Read more"
        assert a.url in rendered.text
    assert 'style="' in html  # inlined
    assert "<table" in html and "<script" not in html


def test_text_part_wrapped_at_72(settings):  # type: ignore[no-untyped-def]
    long = " ".join(["solidarity"] * 80)
    rendered = DigestRenderer(settings).render(1, [make_article(1, T0, title=long, summary=long)], T0)
    personal = Personal("Hi Ana,", "ana@example.com", "daily", "https://news.example.org/u/x",
                        "https://news.example.org/m/y")
    for line in personal.fill_text(rendered.text).splitlines():
        assert len(line) <= 72 or " " not in line, line


def test_single_article_subject_is_its_title(settings):  # type: ignore[no-untyped-def]
    rendered = DigestRenderer(settings).render(1, [make_article(1, T0, title="One & only")], T0)
    assert rendered.subject == "One & only"


def _normalise_eml(data: bytes) -> str:
    text = data.decode("utf-8")
    text = re.sub(r"=_digest_[0-9a-f]+", "=_digest_BOUNDARY", text)
    text = re.sub(r"(?m)^Date: .*$", "Date: DATE", text)
    return re.sub(r"(?m)^Message-ID: .*$", "Message-ID: <MESSAGE-ID>", text)


def test_golden_digest(settings):  # type: ignore[no-untyped-def]
    arts = [
        make_article(1, T0, title="Amazon workers walk out in Staten Island", category="Labor",
                     summary="Hundreds of workers stopped work on Friday, demanding an end to "
                             "forced overtime and a raise that matches inflation.",
                     authors=("Ana Ruiz", "Ben Ode"), published=T0 - timedelta(hours=5)),
        make_article(2, T0, title="Mexico: teachers’ strike enters its third week",
                     category="Latin America", summary="The CNTE says it will not go back.",
                     published=T0 - timedelta(days=1)),
    ]
    rendered = DigestRenderer(settings).render(42, arts, T0)
    personal = Personal("Hi Ana,", "ana@example.com", "daily",
                        "https://news.example.org/unsubscribe/TOKEN",
                        "https://news.example.org/manage/TOKEN")
    recipient = Recipient("ana@example.com", "Ana", "<digest-42.1@www.leftvoice.org>",
                          "https://news.example.org/unsubscribe/TOKEN",
                          "mailto:unsubscribe@www.leftvoice.org?subject=unsubscribe-TOKEN",
                          personal.text_values(), personal.html_values())
    letter = Letter("digest@leftvoice.org", "Left Voice", rendered.subject, T0,
                    "Left Voice digest <digest.www.leftvoice.org>", rendered.text, rendered.html,
                    placeholders=tuple(PLACEHOLDERS.values()))
    outputs = {
        "digest.html": personal.fill_html(rendered.html),
        "digest.txt": personal.fill_text(rendered.text),
        "digest.eml": _normalise_eml(MessageTemplate(letter).render(recipient)),
    }
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for name, value in outputs.items():
            (GOLDEN / name).write_text(value, encoding="utf-8", newline="")
    for name, value in outputs.items():
        expected = (GOLDEN / name).read_bytes().decode("utf-8")
        assert value == expected, f"{name} differs from the golden file (UPDATE_GOLDEN=1 to regenerate)"
    data = MessageTemplate(letter).render(recipient)
    assert data.count(b"Content-Transfer-Encoding: 8bit\r\n") == 2
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    message = message_from_bytes(data, policy=policy.default)
    plain = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert plain == outputs["digest.txt"]
    html_part = message.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert html_part == outputs["digest.html"].rstrip("\n") + "\n"


def _message(settings, articles, name: str = "Ana"):  # type: ignore[no-untyped-def]
    rendered = DigestRenderer(settings).render(9, articles, T0)
    personal = Personal(f"Hi {name},", "ana@example.com", "daily",
                        "https://news.example.org/unsubscribe/TOKEN",
                        "https://news.example.org/manage/TOKEN")
    recipient = Recipient("ana@example.com", name, "<digest-9.1@www.leftvoice.org>",
                          "https://news.example.org/unsubscribe/TOKEN",
                          "mailto:unsubscribe@www.leftvoice.org?subject=unsubscribe-TOKEN",
                          personal.text_values(), personal.html_values())
    letter = Letter("digest@leftvoice.org", "Left Voice", rendered.subject, T0,
                    "Left Voice digest <digest.www.leftvoice.org>", rendered.text, rendered.html,
                    placeholders=tuple(PLACEHOLDERS.values()))
    data = MessageTemplate(letter).render(recipient)
    return data, personal.fill_text(rendered.text), personal.fill_html(rendered.html)


def _parts(data: bytes):  # type: ignore[no-untyped-def]
    message = message_from_bytes(data, policy=policy.default)
    return [(part["Content-Transfer-Encoding"],
             part.get_content().replace("\r\n", "\n")) for part in message.iter_parts()]


def test_html_comes_in_long_lines_of_at_most_990_octets(settings):  # type: ignore[no-untyped-def]
    arts = [make_article(i, T0, summary="Workers ünïted " * 30) for i in range(1, 11)]
    rendered = DigestRenderer(settings).render(3, arts, T0)
    lengths = [len(line.encode()) for line in rendered.html.splitlines()]
    assert max(lengths) <= 990 and sum(lengths) / len(lengths) > 600, lengths
    data, text, html = _message(settings, arts)
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    assert _parts(data) == [("8bit", text), ("8bit", html.rstrip("\n") + "\n")]


@pytest.mark.parametrize("where", ["title", "summary", "url"])
def test_a_3000_character_word_keeps_every_line_within_998_octets(settings, where):  # type: ignore[no-untyped-def]
    word = "Ü" * 3000 if where != "url" else "https://www.leftvoice.org/" + "x" * 3000
    article = make_article(1, T0, title=word if where == "title" else "",
                           summary=word if where == "summary" else "")
    if where == "url":
        from dataclasses import replace

        article = replace(article, url=word)
    others = [make_article(n, T0) for n in (2, 3)]
    data, text, html = _message(settings, [article, *others])
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    parts = _parts(data)
    assert [content for _, content in parts] == [text, html.rstrip("\n") + "\n"]
    assert word[:2000] in text or where == "summary"  # a summary is shortened to 600 characters
    assert ("quoted-printable" in {cte for cte, _ in parts})


def test_a_huge_name_sends_that_subscriber_quoted_printable(settings):  # type: ignore[no-untyped-def]
    arts = [make_article(1, T0)]
    data, text, html = _message(settings, arts, name="Zoë" * 400)
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    assert _parts(data) == [("quoted-printable", text),
                            ("quoted-printable", html.rstrip("\n") + "\n")]
    data, text, html = _message(settings, arts, name="Zoë")
    assert _parts(data) == [("8bit", text), ("8bit", html.rstrip("\n") + "\n")]

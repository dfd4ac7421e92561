"""The scraped-page reader: the two real seeds exactly, then one fixture per variant."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from publisher.errors import NotAnArticle, SeedError
from publisher.model import Article, Site, Teaser, content_hash, short_id
from publisher.pipeline import identify
from publisher.readers import parse_scraped, read_seed

SEEDS = Path(__file__).parent / "seeds"
NEW_YORK = ZoneInfo("America/New_York")
SITE = Site("Left Voice", "https://www.leftvoice.org", NEW_YORK)


def read(name: str) -> Article:
    return read_seed(SEEDS / name, SEEDS, SITE)


def paragraphs(article: Article) -> list[str]:
    return re.findall(r"<p>(.*?)</p>", article.body_html)


def headings(article: Article) -> list[str]:
    return re.findall(r"<h2>(.*?)</h2>", article.body_html)


def body_lines(article: Article) -> list[str]:
    return re.findall(r"<(?:p|h2)>(.*?)</(?:p|h2)>", article.body_html)


def assert_no_page_furniture(article: Article) -> None:
    body = article.body_html
    for junk in ("Facebook", "Share", "Militant journalism"):
        assert junk not in body
    lines = body_lines(article)
    assert "Latin America" not in lines
    for teaser in article.related:
        assert teaser.title not in body
    if article.credit:
        assert article.credit not in body
    if article.translation_note:
        assert article.translation_note not in body


# --- seed 000: a migrant caravan -----------------------------------------------------------

CARAVAN_TEASERS = [
    ("‘You Have to Change Things from the Root’: Interview With a Young Immigrant",
     ("Left Voice",), date(2024, 4, 5), ""),
    ("48 Years After the Military Coup, Tens of Thousands in Argentina Take to the Streets "
     "Against Denialism and the Far Right",
     ("Madeleine Freeman",), date(2024, 3, 25),
     "A square in Argentina is full of protesters holding red banners"),
    ("Declaration: End Imperialist Intervention in Haiti, Solidarity with the Haitian People",
     (), None, ""),
    ("The Fight against Javier Milei Has Set The Stage For a Whole New Wave of Struggle",
     ("Tatiana Cozzarelli",), date(2024, 2, 9), ""),
    ("Thousands of Police Deployed to Shut Down Congress on Palestine in Berlin",
     ("Nathaniel Flakin",), date(2024, 4, 12), ""),
    ("Liberal Towns in New Jersey Are Increasing Attacks on Pro-Palestine Activists",
     ("Samuel Karlin",), date(2024, 4, 12), ""),
    ("“We Shouldn’t Let this Stop Us”: Suspended Columbia Student Activist Speaks Out",
     ("Left Voice",), date(2024, 4, 11), ""),
    ("Fired by a German University for Solidarity with Palestine — Interview with Nancy Fraser",
     ("Nathaniel Flakin",), date(2024, 4, 10), ""),
]


@pytest.fixture(scope="module")
def caravan() -> Article:
    return read("real_caravan_breaks_blockade.txt")


def test_caravan_identity(caravan: Article) -> None:
    slug = "a-migrant-caravan-breaks-through-police-blockade-in-mexico-let-them-all-in"
    assert caravan.title == (
        "A Migrant Caravan Breaks Through Police Blockade in Mexico. Let Them All In"
    )
    assert caravan.slug == slug  # the slug it asks for
    assert caravan.source == "real_caravan_breaks_blockade.txt"
    assert not hasattr(caravan, "url") and not hasattr(caravan, "id")  # content only
    # Identity is the pipeline's, decided in one place.
    now = datetime(2026, 11, 20, 12, tzinfo=ZoneInfo("UTC"))
    article = identify(caravan, None, {}, SITE, now)
    assert article.url == f"https://www.leftvoice.org/{slug}/"
    assert article.guid == f"tag:www.leftvoice.org,2021-10-26:/{slug}/"
    assert article.id == short_id("real_caravan_breaks_blockade.txt")
    assert article.first_seen == now


def test_caravan_header(caravan: Article) -> None:
    assert caravan.summary.startswith("On Saturday, October 23, a migrant caravan left")
    assert caravan.summary.endswith("aim of continuing their…")
    assert caravan.authors == ("Left Voice",)
    assert caravan.published == datetime(2021, 10, 26, tzinfo=NEW_YORK)
    assert caravan.published.isoformat() == "2021-10-26T00:00:00-04:00"
    assert caravan.updated == caravan.published
    assert caravan.category == "Latin America"
    assert caravan.credit == ""
    assert caravan.translation_note == ""
    assert caravan.language == ""


def test_caravan_body(caravan: Article) -> None:
    assert headings(caravan) == [
        "Imperialist Repression against Migrants, Imperialist Profits from Migrants",
        "Let Them All In",
    ]
    assert "<h2>Imperialist Repression against Migrants, Imperialist Profits from Migrants</h2>" \
        in caravan.body_html
    assert "<h2>Let Them All In</h2>" in caravan.body_html
    paras = paragraphs(caravan)
    assert paras[0].startswith("On Saturday, October 23")
    assert paras[0].endswith("continuing their journey to the United States.")
    assert paras[-1] == "Let them in!"
    assert caravan.body_html.endswith("<p>Let them in!</p>")
    assert len(paras) == 10
    assert_no_page_furniture(caravan)


def test_caravan_teasers(caravan: Article) -> None:
    got = [(t.title, t.authors, t.published, t.image_description) for t in caravan.related]
    assert got == CARAVAN_TEASERS
    assert all(isinstance(t, Teaser) and t.summary for t in caravan.related)
    assert caravan.related[0].summary.startswith("Left Voice interviewed a 23-year-old")
    assert caravan.related[2].summary.startswith("The “Multinational Security Support Mission”")


# --- seed 003: espionage, translated -------------------------------------------------------

ESPIONAGE_TEASERS = [
    ("The Fight against Javier Milei Has Set The Stage For a Whole New Wave of Struggle",
     ("Tatiana Cozzarelli",), date(2024, 2, 9), ""),
    ("Defying Repression: Socialist Electeds in Argentina Show Us What Revolutionary "
     "Parliamentarism Looks Like", ("Nathaniel Flakin",), date(2024, 2, 9), ""),
    ("Crisis for Javier Milei as Austerity Bill Is Defeated", ("Otto Fors",), date(2024, 2, 7), ""),
    ("“Internationalism is About What We’re Doing Here”: Speech Outside the Argentinian "
     "Consulate in NYC", ("Luigi Morris",), date(2024, 2, 1), ""),
    ("To Achieve Black Liberation, Class Independence Is Key", ("Tristan Taylor",),
     date(2024, 2, 29),
     'Black UAW workers, a black-and-white image, holding signs that say "UAW ON STRIKE."'),
    ("CUNY Faculty and Staff Have Gone One Year Without a Contract —\u00a0It’s Time to Strike",
     ("Olivia Wood",), date(2024, 2, 29),
     'A banner reads "Real Wages Or We Strike" at a rally for CUNY, which is experiencing cuts '
     "from Mayor Eric Adams and Governor Kathy Hochul."),
    ("Aaron Bushnell’s Cry of Despair in the Face of Genocide", ("Enzo Tresso",),
     date(2024, 2, 28), "Aaron Bushnell, who self-immolated in protest of the genocide in Palestine."),
    ("U.S. Higher Education Is Being Gutted, but We Can Fight Back", ("Olivia Wood",),
     date(2024, 2, 28),
     'Florida governor Ron DeSantis stands at a podium that reds "Higher Education Reform"'),
]


@pytest.fixture(scope="module")
def espionage() -> Article:
    return read("real_espionage_translated.txt")


def test_espionage(espionage: Article) -> None:
    slug = "u-s-and-mexico-compiled-information-on-journalists-and-activists-on-migrant-caravan"
    assert espionage.title == (
        "U.S. and Mexico Compiled Information on Journalists and Activists on Migrant Caravan"
    )
    assert espionage.slug == slug
    assert identify(espionage, None, {}, SITE, datetime.now(NEW_YORK)).guid == (
        f"tag:www.leftvoice.org,2019-03-13:/{slug}/")
    assert espionage.published == datetime(2019, 3, 13, tzinfo=NEW_YORK)
    assert espionage.summary.startswith("A new espionage scandal")
    assert espionage.authors == ("Left Voice",)
    assert espionage.category == "Latin America"
    assert espionage.credit == "John Moore / Getty Images"
    assert espionage.translation_note == (
        "Translated by Oscar Fernandez. Originally published on La Izquierda Diario- Mexico"
    )
    assert headings(espionage) == []
    paras = paragraphs(espionage)
    assert paras[0].startswith("According to an internal document obtained by NBC")
    assert paras[-1].startswith("While Mexican President")
    assert len(paras) == 8
    assert_no_page_furniture(espionage)


def test_espionage_teasers(espionage: Article) -> None:
    got = [(t.title, t.authors, t.published, t.image_description) for t in espionage.related]
    assert got == ESPIONAGE_TEASERS


def test_full_html_puts_credit_first_and_note_last(espionage: Article) -> None:
    html = identify(espionage, None, {}, SITE, datetime.now(NEW_YORK)).full_html
    assert html.startswith("<p><em>Image: John Moore / Getty Images</em></p>\n<p>According")
    assert html.endswith("La Izquierda Diario- Mexico</em></p>")


# --- variants --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "credit"),
    [
        ("credit_photo_by.txt", "Photo by Luigi Morris"),
        ("credit_photo_colon.txt", "Photo: Reuters / Jane Doe"),
        ("credit_illustration.txt", "Illustration: Sou Mi"),
        ("video_article_empty_body.txt", "Video by Luigi Morris"),
        ("real_espionage_translated.txt", "John Moore / Getty Images"),
    ],
)
def test_credit_is_kept_as_written_and_not_in_body(name: str, credit: str) -> None:
    article = read(name)
    assert article.credit == credit
    assert credit not in article.body_html


@pytest.mark.parametrize(
    ("name", "authors"),
    [
        ("multiple_authors_oxford_comma.txt", ("Ana Ruiz", "Ben Cole", "Cy Wu")),
        ("multiple_authors_no_oxford_comma.txt", ("Ana Ruiz", "Ben Cole", "Cy Wu")),
        ("multiple_authors_and.txt", ("Ana Ruiz", "Ben Cole")),
    ],
)
def test_multiple_authors(name: str, authors: tuple[str, ...]) -> None:
    article = read(name)
    assert article.authors == authors
    assert article.category  # the author box (one bio per author) was skipped
    assert all(a not in article.body_html for a in authors)


def test_multiple_author_boxes_each_with_a_bio() -> None:
    article = read("multiple_authors_and.txt")
    assert article.category == "Climate Change"
    assert article.body_html == "<p>Millions marched for the climate last week.</p>"


def test_video_article_has_an_empty_body() -> None:
    article = read("video_article_empty_body.txt")
    assert article.body_html == ""
    assert article.title == "[VIDEO] Thousands March in New York for Palestine"
    assert article.category == "Video"
    assert [t.title for t in article.related] == [
        "Liberal Towns in New Jersey Are Increasing Attacks on Pro-Palestine Activists"
    ]
    assert identify(article, None, {}, SITE, datetime.now(NEW_YORK)).full_html == (
        "<p><em>Image: Video by Luigi Morris</em></p>")


def test_author_box_bio_and_social_links_never_in_body() -> None:
    article = read("author_box_real_bio.txt")
    assert article.category == "Politics"
    assert "Olivia is a writer" not in article.body_html
    assert "Instagram" not in article.body_html
    assert paragraphs(article)[-1].startswith("Five years later")
    assert [t.authors for t in article.related] == [("Otto Fors",)]


def test_promo_line_is_dropped() -> None:
    article = read("promo_line_in_body.txt")
    assert "Get your copy" not in article.body_html
    assert paragraphs(article) == [
        "Rents rose by a fifth in three years.",
        "Tenants are organizing building by building.",
    ]


def test_translation_note_is_kept_aside() -> None:
    article = read("translated_by_note.txt")
    assert article.translation_note == (
        "Translated by Scott Cooper. Originally published in Spanish on August 29 in "
        "La Izquierda Diario."
    )
    assert "Translated" not in article.body_html
    assert article.authors == ("La Izquierda Diario Chile",)
    assert article.category == "Latin America"


def test_title_with_quotes_colon_and_video_tag() -> None:
    article = read("title_with_quotes_colon_video.txt")
    assert article.title == "“We Shouldn’t Let This Stop Us”: Students & Workers Speak Out [VIDEO]"
    assert article.slug == "we-shouldnt-let-this-stop-us-students-workers-speak-out-video"
    assert article.summary == (
        "Students and workers explain why they joined the encampment <and why they stay>."
    )
    assert article.body_html == (
        "<p>The encampment entered its sixth day on Monday &amp; shows no sign of ending.</p>"
    )


def test_spanish_article_gets_its_language() -> None:
    article = read("spanish_article.txt")
    assert article.language == "es"
    assert paragraphs(article)[-1] == "¡Que los dejen entrar a todos!"
    assert headings(article) == []


def test_english_article_on_a_spanish_site_says_english() -> None:
    site = Site("La Izquierda Diario", "https://www.laizquierdadiario.com", NEW_YORK, "es")
    text = (SEEDS / "real_caravan_breaks_blockade.txt").read_text(encoding="utf-8")
    assert parse_scraped(text, "x.txt", site).language == "en"
    spanish = (SEEDS / "spanish_article.txt").read_text(encoding="utf-8")
    assert parse_scraped(spanish, "x.txt", site).language == ""


def test_dek_equal_to_first_paragraph_stays_in_both() -> None:
    article = read("dek_equals_first_paragraph.txt")
    first = "Workers at the Amazon warehouse in Bessemer, Alabama, are voting for the third time"
    assert article.summary.startswith(first)
    assert paragraphs(article)[0].startswith(first)
    assert len(paragraphs(article)) == 2


def test_no_dek_takes_the_summary_from_the_first_paragraph() -> None:
    article = read("no_dek_byline_only.txt")
    assert article.authors == ("Left Voice",)
    assert article.summary == "We condemn the attack on the picket line this morning."
    assert article.category == "Statements"


def test_sub_heading_rule() -> None:
    article = read("headings_and_punctuation.txt")
    assert headings(article) == [
        "The Myth of the “Balanced Budget”",
        "Where Does the Money Go",
        "Follow the money (1942–64)",
    ]
    paras = paragraphs(article)
    assert "What Is to Be Done?" in paras  # ends with `?`
    assert "A line that ends with a colon:" in paras
    assert "first, cut the police budget; second, fund the schools" in paras  # lower case
    assert paras[-1] == "The Last Line Looks Like a Heading"  # never a heading


def test_control_characters_bom_and_crlf_are_cleaned() -> None:
    article = read("control_characters_crlf_bom.txt")
    assert article.title == "Control Characters in the Title"
    assert article.summary == "A dek with a DEL and a non-character  here."
    assert paragraphs(article) == [
        "Body with a bell and an escape character.",
        "Old Mac line ending above.",
    ]
    everything = repr(article)
    for bad in ("\\x0b", "\\x0c", "\\x7f", "\\x07", "\\x1b", "\\ufffe", "\\ufeff", "\\r"):
        assert bad not in everything
    assert article.category == "Latin America"


def test_lone_surrogates_are_removed() -> None:
    text = (SEEDS / "credit_photo_by.txt").read_text(encoding="utf-8")
    article = parse_scraped(text.replace("Heat", "He\ud800at"), "x.txt", SITE)
    assert article.title == "Workers at the Port Walk Out Over Heat"


def test_section_listing_page_is_not_an_article() -> None:
    with pytest.raises(NotAnArticle) as info:
        read("section_listing_page.txt")
    assert info.value.reason == "section listing page, not an article: skipped"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("no_date_line.txt", "no date line found"),
        ("no_share_bar.txt", "no share bar: not an article page"),
    ],
)
def test_unparseable_pages(name: str, reason: str) -> None:
    with pytest.raises(SeedError) as info:
        read(name)
    assert not isinstance(info.value, NotAnArticle)
    assert info.value.reason == reason
    assert str(info.value) == f"{SEEDS / name}: {reason}"


def test_one_share_bar_with_a_body_is_refused() -> None:
    text = (SEEDS / "credit_photo_by.txt").read_text(encoding="utf-8")
    first, rest = text.split("Facebook Twitter Share", 1)
    broken = first + "Facebook Twitter Share" + rest.replace("Facebook Twitter Share", "")
    with pytest.raises(SeedError, match="only one share bar"):
        parse_scraped(broken, "x.txt", SITE)


def test_any_correction_changes_the_content_hash_not_the_id() -> None:
    text = (SEEDS / "real_caravan_breaks_blockade.txt").read_text(encoding="utf-8")
    before = parse_scraped(text, "a.txt", SITE)
    after = parse_scraped(text.replace("Let them in!", "Let them all in!"), "a.txt", SITE)
    assert before.content_hash == content_hash(text)
    assert after.content_hash != before.content_hash
    assert (after.source, after.slug) == (before.source, before.slug)


def test_parsing_is_deterministic() -> None:
    text = (SEEDS / "real_espionage_translated.txt").read_text(encoding="utf-8")
    assert parse_scraped(text, "a.txt", SITE) == parse_scraped(text, "a.txt", SITE)


def test_video_page_with_a_single_share_bar() -> None:
    article = read("video_single_share_bar.txt")
    assert (article.body_html, article.credit, article.category) == (
        "", "Video by Luigi Morris", "Video"
    )
    assert article.related == ()

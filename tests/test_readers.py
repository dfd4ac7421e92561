"""The scraped-page reader: the two real seeds exactly, then one fixture per variant."""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from publisher.errors import NotAnArticle, SeedError
from publisher.model import Article, Site, Teaser, content_hash, short_id
from publisher.pipeline import identify
from publisher.readers import parse_scraped, read_seed
from publisher.readers.scraped import render_body

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
    whole = "u-s-and-mexico-compiled-information-on-journalists-and-activists-on-migrant-caravan"
    slug = whole[:71] + "-" + hashlib.sha256(whole.encode()).hexdigest()[:8]  # 84 -> 80 characters
    assert slug == "u-s-and-mexico-compiled-information-on-journalists-and-activists-on-mig-cf1117ac"
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


# --- issue 11: the site's real page variants --------------------------------------------------

def assert_article(article: Article, **expected: object) -> None:
    """Every named field exactly; the rest of the header checked by the caller."""
    got = {key: getattr(article, key) for key in expected}
    assert got == expected


def test_page_with_an_author_but_no_date_is_dated_by_first_seen() -> None:
    """Was refused with `no date line found`; now published, dated when first taken in."""
    assert_article(
        read("no_date_line.txt"),
        title="An Article Without a Date",
        summary="The scraper lost the date line of this page.",
        authors=("Left Voice",),
        published=None, updated=None, date_source="first-seen",
        caption="", credit="", translation_note="",
        body_html="<p>Some text.</p>",
        category="Latin America",
    )


def test_no_author_and_no_date_dek_then_share_bar() -> None:
    article = read("undated_no_author.txt")
    assert_article(
        article,
        title="Nurses at Mount Sinai Vote to Authorize a Strike",
        summary="Ninety-eight percent voted yes after months of talks over staffing ratios went "
                "nowhere.",
        authors=(),
        published=None, updated=None, date_source="first-seen",
        caption="", credit="", translation_note="",
        body_html=(
            "<p>The vote closed on Thursday night, and the result was announced at a rally "
            "outside the hospital on Friday morning.</p>\n"
            "<p>Nurses say the hospital has refused to put safe staffing ratios in writing.</p>"
        ),
        category="Labor Movement",
        language="",
    )
    assert [(t.title, t.authors, t.published) for t in article.related] == [
        ("Amazon Workers in Bessemer Vote Again", ("Left Voice",), date(2022, 2, 4))]
    assert article.slug == "nurses-at-mount-sinai-vote-to-authorize-a-strike"


def test_no_author_and_no_date_in_spanish() -> None:
    assert_article(
        read("undated_no_author_spanish.txt"),
        title="Trabajadores de aplicaciones paran en Ciudad de México",
        summary="Los repartidores exigen un salario mínimo por hora y seguro médico para todos "
                "los que trabajan en la calle.",
        authors=(),
        published=None, date_source="first-seen",
        caption="", credit="", translation_note="",
        body_html=(
            "<p>El paro comenzó el lunes a las ocho de la mañana con una caravana de motos por "
            "la avenida Reforma.</p>\n"
            "<p>Los repartidores dicen que las empresas les cobran por cada pedido y no les dan "
            "ningún tipo de protección.</p>\n"
            "<p>La organización del paro se hizo por grupos de mensajería, barrio por barrio, y "
            "la próxima asamblea será el domingo en el Monumento a la Revolución.</p>"
        ),
        category="México",
        language="es",
        related=(),
    )


def test_dated_pages_say_their_date_comes_from_the_page() -> None:
    for name in ("real_caravan_breaks_blockade.txt", "no_dek_byline_only.txt",
                 "dek_equals_first_paragraph.txt"):
        article = read(name)
        assert article.date_source == "page"
        assert article.published is not None


def test_caption_in_the_credit_slot_is_the_image_caption() -> None:
    caption = ('A banner reads "Real Wages Or We Strike" at a rally for CUNY, which is '
               "experiencing cuts from Mayor Eric Adams and Governor Kathy Hochul.")
    article = read("caption_in_credit_slot.txt")
    assert_article(
        article,
        title="CUNY Faculty Rally for a Contract",
        summary="Faculty and staff marched on City Hall a year after their contract expired.",
        authors=("Olivia Wood",),
        published=datetime(2024, 2, 29, tzinfo=NEW_YORK), date_source="page",
        caption=caption, credit="", translation_note="",
        body_html=(
            "<p>Hundreds of faculty and staff marched from the Graduate Center to City Hall on "
            "Wednesday.</p>\n"
            "<p>The union says it is ready to call a strike authorization vote this spring.</p>"
        ),
        category="Education",
    )
    full_html = identify(article, None, {}, SITE, datetime.now(NEW_YORK)).full_html
    assert "Real Wages" not in full_html  # the page prints it in its own place


def test_caption_then_credit_link_line_and_separators() -> None:
    assert_article(
        read("caption_then_credit.txt"),
        title="All That's Left: Why Tenants Are Organizing",
        authors=("Left Voice",),
        published=datetime(2024, 3, 8, tzinfo=NEW_YORK), date_source="page",
        caption="All That's Left, the podcast from Left Voice.",
        credit="Image: Sam Carliner",
        translation_note="",
        body_html=(
            "<p>Listen on Spotify | Apple Podcasts | Online</p>\n"
            "<p>Rents in New York have risen faster than wages for a decade.</p>\n"
            "<hr>\n"
            "<p>Tenants in three buildings in Flatbush have withheld rent since January.</p>\n"
            "<hr>\n"
            "<p>What the landlords fear is that it spreads.</p>\n"
            "<hr>\n"
            "<p>Subscribe to the podcast wherever you listen.</p>"
        ),
        category="Podcast",
    )


@pytest.mark.parametrize(
    ("name", "credit"),
    [
        ("credit_foto_spanish.txt", "Foto: Enfoque Rojo"),
        ("credits_inside_body.txt", "Image: Nathaniel Flakin"),
    ],
)
def test_prefixed_credits_stay_credits(name: str, credit: str) -> None:
    article = read(name)
    assert (article.credit, article.caption) == (credit, "")
    assert credit not in article.body_html


def test_credit_lines_inside_the_body_are_credits_not_headings() -> None:
    assert_article(
        read("credits_inside_body.txt"),
        title="Thousands March for Palestine in Berlin",
        authors=("Nathaniel Flakin",),
        published=datetime(2024, 4, 13, tzinfo=NEW_YORK),
        caption="", credit="Image: Nathaniel Flakin", translation_note="",
        body_html=(
            "<p>The march started at Hermannplatz with a few hundred people.</p>\n"
            '<p class="credit">Photo: Greta Lind</p>\n'
            "<p>By the time it reached Kottbusser Tor there were several thousand.</p>\n"
            '<p class="credit">Video: Left Voice</p>\n'
            '<p class="credit">Foto: Enfoque Rojo / AFP</p>\n'
            "<p>Police arrested eleven people on the way.</p>"
        ),
        category="Europe",
    )


def test_hard_wrapped_paragraphs_are_one_paragraph() -> None:
    assert_article(
        read("hard_wrapped_paragraphs.txt"),
        title="The Strike Kitchen Needs Hands",
        authors=("Left Voice",),
        published=datetime(2024, 6, 3, tzinfo=NEW_YORK),
        caption="", credit="", translation_note="",
        body_html=(
            "<p>If you can help with the kitchen, please write to the strike committee before "
            "Friday.</p>\n"
            "<p>Bring What You Can<br>\n"
            "We need rice, beans, oil and coffee, and someone with a van on Saturday "
            "mornings.</p>\n"
            "<p>The committee meets every evening at six in the union hall on Forty-Third "
            "Street, and anyone who wants to help is welcome.</p>\n"
            "<p>Strike Committee<br>\nLocal 1199 Hall<br>\n310 West 43rd Street</p>\n"
            "<p>Thank you.</p>"
        ),
        category="Labor Movement",
    )


def test_list_of_signatories_has_no_headings() -> None:
    assert_article(
        read("list_of_signatories.txt"),
        title="Open Letter: Drop the Charges Against the Campus Protesters",
        authors=("Left Voice",),
        published=datetime(2024, 5, 6, tzinfo=NEW_YORK),
        body_html=(
            "<p>We, the undersigned, ask the university to drop the charges against the "
            "students arrested last week.</p>\n"
            "<p>Signatories</p>\n"
            "<p>Ana Ruiz, Oakland</p>\n"
            "<p>Ben Cole, Detroit</p>\n"
            "<p>Chloé Moreau, New York</p>\n"
            "<p>Dario Silva, San Juan</p>\n"
            "<p>More signatures are added every day.</p>"
        ),
        category="Statements",
    )


def test_table_of_contents_with_bylines_has_no_headings() -> None:
    assert_article(
        read("magazine_contents.txt"),
        title="Left Voice Magazine No. 7: The Return of the Strike",
        summary="Our new issue is out: strikes, unions and the road ahead.",
        authors=("Left Voice",),
        body_html=(
            "<p>The seventh issue of our magazine is out.</p>\n"
            "<p>In This Issue</p>\n"
            "<p>The Year of the Strike</p>\n"
            "<p>Tatiana Cozzarelli</p>\n"
            "<p>Why the UAW Won</p>\n"
            "<p>Otto Fors</p>\n"
            "<p>Teachers Against Austerity, by Olivia Wood</p>\n"
            "<p>Order a copy from our website.</p>"
        ),
        category="Magazine",
    )


def test_adaptation_note_at_the_top_goes_to_the_translation_note() -> None:
    assert_article(
        read("adaptation_note_at_top.txt"),
        title="Argentina's Congress Passes Milei's Labor Reform",
        authors=("Left Voice",),
        translation_note="This article is an adaptation of an article originally published in "
                         "La Izquierda Diario.",
        body_html=(
            "<p>The Senate passed the bill on Thursday after a night of protests outside "
            "Congress.</p>\n"
            "<p>Unions have called a general strike for next week.</p>"
        ),
        category="Latin America",
    )


def test_spanish_translation_notes_at_top_and_end() -> None:
    assert_article(
        read("translation_note_at_top_spanish.txt"),
        title="Huelga en las automotrices de Estados Unidos",
        authors=("Left Voice",),
        published=datetime(2023, 9, 16, tzinfo=NEW_YORK),
        translation_note="Esta nota se publicó en inglés originalmente en Left Voice. "
                         "Traducción: Juan Andrés Gallardo",
        body_html=(
            "<p>Los trabajadores de Ford, General Motors y Stellantis salieron a la huelga el "
            "viernes.</p>\n"
            "<p>El sindicato pide un aumento del cuarenta por ciento y el fin de las "
            "categorías.</p>"
        ),
        category="Estados Unidos",
        language="es",
    )


def test_author_page_with_a_single_teaser_is_a_listing() -> None:
    with pytest.raises(NotAnArticle) as info:
        read("author_page_single_teaser.txt")
    assert info.value.reason == "section listing page, not an article: skipped"


@pytest.mark.parametrize(
    ("line", "heading"),
    [
        ("Let Them All In", True),  # title case, but no name
        ("Where Does the Money Go", True),
        ("Listen on Spotify | Apple Podcasts | Online", False),
        ("Watch it on YouTube", False),
        ("See https://example.org", False),
        ("*", False), ("***", False), ("—", False), ("* * *", False),
        ("Photo: Greta Lind", False), ("Video by Left Voice", False),
        ("John Moore / Getty Images", False),
        ("Ana Ruiz, Oakland", False), ("Greta Lind", False),
        ("Teachers Against Austerity, by Olivia Wood", False),
        ("What Is to Be Done?", False), ("lower case start", False),
    ],
)
def test_sub_heading_evidence_line_by_line(line: str, heading: bool) -> None:
    body = [line, "A paragraph follows, as it does after a sub-heading."]
    html = render_body(body)
    assert html.startswith("<h2>") is heading, html


def test_a_heading_needs_a_paragraph_after_it() -> None:
    assert render_body(["Short Title", "***", "A paragraph."]) == (
        "<p>Short Title</p>\n<hr>\n<p>A paragraph.</p>")
    assert render_body(["Short Title", "Listen on Spotify | Apple", "A paragraph."]) == (
        "<p>Short Title</p>\n<p>Listen on Spotify | Apple</p>\n<p>A paragraph.</p>")
    assert render_body(["One Short Line", "Two Short Lines", "Three Short Lines", "Text."]) == (
        "<p>One Short Line</p>\n<p>Two Short Lines</p>\n<p>Three Short Lines</p>\n"
        "<p>Text.</p>")


def test_a_heading_before_a_hard_wrapped_paragraph() -> None:
    assert render_body(["Let Them All In", "The border is a wall", "against workers."],
                       [False, False, True]) == (
        "<h2>Let Them All In</h2>\n<p>The border is a wall against workers.</p>")
    assert render_body(["Let Them All In", "Strike Committee", "Local 1199 Hall"],
                       [False, False, True]) == (
        "<h2>Let Them All In</h2>\n<p>Strike Committee<br>\nLocal 1199 Hall</p>")

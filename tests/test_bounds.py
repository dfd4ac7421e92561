"""Issue 11 §2, bounds: slugs are real transliterations and at most 80 characters (a cut one
ends in a hash of the whole), an over-long title or name is an error naming the file, and no
input makes a path the file system refuses."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import REAL_SEEDS, Project

from publisher.model import SLUG_MAX, slugify


@pytest.mark.parametrize(("title", "slug"), [
    ("Забастовка в Москве", "zabastovka-v-moskve"),
    ("北京 工人 罢工", "beijing-gongren-bagong"),
    ("Ελληνικά νέα", "ellinika-nea"),
    ("Straße und Æther", "strasse-und-aether"),
    ("Huelga general: ¡más de cien mil!", "huelga-general-mas-de-cien-mil"),
    ("Workers’ strike", "workers-strike"),
    ("¿?", "untitled"),
])
def test_slugs_are_transliterations(title: str, slug: str) -> None:
    assert slugify(title) == slug


def test_a_cut_slug_is_80_characters_and_keeps_two_long_titles_apart() -> None:
    first = slugify("The strike " + "goes on and on " * 20 + "in Detroit")
    second = slugify("The strike " + "goes on and on " * 20 + "in Chicago")
    assert SLUG_MAX == 80 and len(first) <= 80 and len(second) <= 80
    assert first != second and first[:-8] == second[:-8]  # the same words, another hash
    assert first.startswith("the-strike-goes-on-and-on-") and first[-9] == "-"
    assert all(c in "0123456789abcdef" for c in first[-8:] + second[-8:])
    assert slugify("x" * 300_000) == "x" * 71 + "-" + slugify("x" * 300_000)[-8:]


def _scraped(title: str, category: str = "Labor", author: str = "Ana Ruiz") -> str:
    return (f"{title}\nWorkers at the port walked out on Monday.\n{author}\nNovember 20, 2026\n"
            "Facebook Twitter Share\nThe picket held all day, and the union said it would hold "
            f"as long as it takes.\nA second paragraph follows here.\nFacebook Twitter Share\n"
            f"{category}\n")


def test_an_over_long_title_is_one_error_naming_the_file_and_the_rest_is_published(
        project: Project) -> None:
    project.write_config("[schedule]\nsettle_seconds = 0\n")
    long_one = project.seeds / "long-title.txt"
    long_one.write_text(_scraped("x" * 300_000), encoding="utf-8")
    fine = project.seeds / "fine.txt"
    fine.write_text(_scraped("Забастовка в порту"), encoding="utf-8")
    result = project.run("build-feeds", "--json")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: {long_one}: the title is 300,000 characters long (at most 500): "
        "is the first line of the page its headline?"]
    summary = json.loads(result.stdout)
    assert summary["articles"]["new"] == 1 + len(list(REAL_SEEDS.glob("*.txt")))
    assert [f["file"] for f in summary["articles"]["failed"]] == [str(long_one)]
    shown = json.loads(project.run("articles", "list", "--json").stdout)
    assert "zabastovka-v-portu" in {a["slug"] for a in shown}
    assert all(len(a["slug"]) <= 80 for a in shown)


def test_over_long_names_never_make_a_path_the_file_system_refuses(project: Project) -> None:
    project.write_config("[schedule]\nsettle_seconds = 0\n")
    (project.seeds / "names.txt").write_text(
        _scraped("Long names", category="Labor " + "и" * 190, author="Ana " + "Ruiz" * 40),
        encoding="utf-8")
    result = project.run("build-feeds")
    assert result.returncode == 0, result.stderr
    for path in project.feeds.rglob("*"):
        assert all(len(part) <= 80 for part in path.relative_to(project.feeds).parts), path
    folders = {p.name for p in (project.feeds / "categories").iterdir()}
    assert any(name.startswith("labor-iiiiii") and len(name) == 80 for name in folders), folders
    assert os.path.getsize(project.feeds / "atom.xml") > 0


def test_a_second_article_with_an_80_character_slug_gets_a_numbered_one_as_long(
        project: Project) -> None:
    project.write_config("[schedule]\nsettle_seconds = 0\n")
    title = "A very long headline about the strike " * 4
    for name, body in (("one.txt", "It held."), ("two.txt", "It held again.")):  # two pages
        (project.seeds / name).write_text(_scraped(title.strip()).replace(
            "A second paragraph follows here.", body), encoding="utf-8")
    assert project.run("build-feeds").returncode == 0
    shown = json.loads(project.run("articles", "list", "--json").stdout)
    slugs = sorted(a["slug"] for a in shown if a["slug"].startswith("a-very-long"))
    base = slugify(title)
    assert len(base) == 80 and slugs == sorted([base, base[:78].rstrip("-") + "-2"])

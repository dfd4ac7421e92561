"""`publisher build-feeds`, `ingest` and `articles` driven as a subprocess, as an operator would."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import feedparser
from lxml import etree

from conftest import FIXTURE_SEEDS, Project

CARAVAN_TITLE = "A Migrant Caravan Breaks Through Police Blockade in Mexico. Let Them All In"
ESPIONAGE_TITLE = "U.S. and Mexico Compiled Information on Journalists and Activists on Migrant Caravan"
FEED_FILES = sorted([
    "atom.xml", "rss.xml", "feed.json", "index.opml", "index-rss.opml", "index-json.opml", "feed.xsl",
    "categories/latin-america/atom.xml", "categories/latin-america/rss.xml",
    "categories/latin-america/feed.json",
    "authors/left-voice/atom.xml", "authors/left-voice/rss.xml", "authors/left-voice/feed.json",
])


def _tree(project: Project) -> dict[str, bytes]:
    return {p.relative_to(project.feeds).as_posix(): p.read_bytes()
            for p in sorted(project.feeds.rglob("*")) if p.is_file()}


def test_build_feeds_writes_every_feed_and_summarises(project: Project) -> None:
    result = project.run("build-feeds", check=True)
    assert result.stdout.splitlines() == [
        "articles: 2 new, 0 updated, 0 unchanged, 0 removed, 0 skipped, 0 failed",
        f"feeds: 13 written, 0 unchanged, 0 removed, in {project.feeds}",
    ]
    assert result.stderr == ""
    assert sorted(_tree(project)) == FEED_FILES
    atom = feedparser.parse((project.feeds / "atom.xml").read_bytes())
    assert not atom.bozo
    assert [e.title for e in atom.entries] == [CARAVAN_TITLE, ESPIONAGE_TITLE]
    rss = etree.fromstring((project.feeds / "rss.xml").read_bytes())
    assert rss.findtext("channel/title") == "Left Voice"
    feed = json.loads((project.feeds / "feed.json").read_text())
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert [i["title"] for i in feed["items"]] == [CARAVAN_TITLE, ESPIONAGE_TITLE]


def test_rebuild_is_byte_identical_and_leaves_mtimes(project: Project) -> None:
    project.run("build-feeds", check=True)
    first = _tree(project)
    mtimes = {p: os.stat(project.feeds / p).st_mtime_ns for p in first}
    again = project.run("build-feeds", check=True)
    assert "feeds: 0 written, 13 unchanged" in again.stdout
    assert _tree(project) == first
    assert {p: os.stat(project.feeds / p).st_mtime_ns for p in first} == mtimes


def test_fresh_store_gives_the_same_bytes(project: Project, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    project.run("build-feeds", check=True)
    first = _tree(project)
    shutil.rmtree(project.root / "state")
    shutil.rmtree(project.feeds)
    project.run("build-feeds", check=True)
    assert _tree(project) == first


def test_bad_seeds_are_named_on_stderr_and_the_rest_published(project: Project) -> None:
    (project.seeds / "binary.txt").write_bytes(b"\x00\x01\x02\x03")
    (project.seeds / "latin1.txt").write_bytes("Caf\xe9 con leche\n".encode("latin-1"))
    (project.seeds / "empty.txt").write_bytes(b"")
    result = project.run("build-feeds")
    assert result.returncode == 1
    errors = result.stderr.splitlines()
    assert len(errors) == 3
    for name in ("binary.txt", "latin1.txt", "empty.txt"):
        assert any(line.startswith("error: ") and name in line for line in errors), errors
    assert "2 new" in result.stdout and "3 failed" in result.stdout
    atom = feedparser.parse((project.feeds / "atom.xml").read_bytes())
    assert len(atom.entries) == 2


def test_listing_page_is_a_warning_not_a_failure(project: Project) -> None:
    shutil.copyfile(FIXTURE_SEEDS / "section_listing_page.txt", project.seeds / "listing.txt")
    result = project.run("build-feeds")
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("warning: ")
    assert "listing.txt" in result.stderr and "not an article" in result.stderr
    assert "1 skipped" in result.stdout


def test_articles_list_and_show_as_json(project: Project) -> None:
    project.run("ingest", check=True)
    listed = json.loads(project.run("articles", "list", "--json", check=True).stdout)
    assert [a["title"] for a in listed] == [CARAVAN_TITLE, ESPIONAGE_TITLE]
    first = listed[0]
    assert set(first) >= {"id", "slug", "url", "title", "summary", "authors", "published", "updated",
                          "category", "credit", "translation_note", "body_html", "related",
                          "source", "content_hash"}
    assert first["published"] == "2021-10-26T00:00:00-04:00"
    shown = json.loads(project.run("articles", "show", first["id"], "--json", check=True).stdout)
    assert shown == first
    by_slug = project.run("articles", "show", first["slug"], check=True).stdout
    assert by_slug.splitlines()[0] == CARAVAN_TITLE
    missing = project.run("articles", "show", "nope")
    assert missing.returncode == 1
    assert "no article" in missing.stderr


def test_config_error_is_one_line_and_exit_2(project: Project) -> None:
    project.write_config("\n[feeds]\nmax_entries = \"many\"\n")
    result = project.run("build-feeds")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "feeds.max_entries must be an integer" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_command_has_help(project: Project) -> None:
    top = project.run("--help", check=True).stdout
    commands = [line.split()[0] for line in top.split("Commands:")[1].splitlines() if line.strip()]
    assert {"build-feeds", "ingest", "articles"} <= set(commands)
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for command in commands:
        text = project.run(command, "--help", check=True).stdout
        assert "Usage:" in text and len(text.splitlines()) > 3
        assert f"publisher {command}" in readme, f"{command} not documented in README"


def test_rebuild_after_losing_a_feed_file_rewrites_just_that_file(project: Project) -> None:
    project.run("build-feeds", check=True)
    before = _tree(project)
    (project.feeds / "categories/latin-america/rss.xml").unlink()
    result = project.run("build-feeds", check=True)
    assert "feeds: 1 written, 12 unchanged" in result.stdout
    assert _tree(project) == before


def test_touched_seed_is_checked_again_but_changes_nothing(project: Project) -> None:
    project.run("build-feeds", check=True)
    before = _tree(project)
    seed = project.seeds / "000_68e055715ac20893.txt"
    os.utime(seed, ns=(seed.stat().st_atime_ns, seed.stat().st_mtime_ns + 10**9))
    result = project.run("build-feeds", check=True)
    assert result.stdout.splitlines()[0] == (
        "articles: 0 new, 0 updated, 2 unchanged, 0 removed, 0 skipped, 0 failed")
    assert _tree(project) == before


def test_failed_seed_is_reported_again_on_every_build(project: Project) -> None:
    (project.seeds / "binary.txt").write_bytes(b"\x00\x01")
    first = project.run("build-feeds")
    second = project.run("build-feeds")
    assert first.returncode == second.returncode == 1
    assert first.stderr == second.stderr
    assert "binary.txt" in second.stderr
    assert "1 failed" in second.stdout


def test_ingest_json_prints_the_new_records_then_nothing(project: Project) -> None:
    (project.seeds / "empty.txt").write_bytes(b"")
    first = project.run("ingest", "--json")
    assert first.returncode == 1
    report = json.loads(first.stdout)
    assert [a["title"] for a in report["new"]] == [CARAVAN_TITLE, ESPIONAGE_TITLE]
    assert report["new"][1]["credit"] == "John Moore / Getty Images"
    assert report["failed"] == [{"file": str(project.seeds / "empty.txt"), "reason": "empty file"}]
    (project.seeds / "empty.txt").unlink()
    second = json.loads(project.run("ingest", "--json", check=True).stdout)
    assert (second["new"], second["updated"], second["unchanged"]) == ([], [], 2)


def test_opml_date_created_is_the_newest_entry_date(project: Project) -> None:
    from email.utils import parsedate_to_datetime

    project.run("build-feeds", check=True)
    opml = etree.fromstring((project.feeds / "index.opml").read_bytes())
    created = parsedate_to_datetime(opml.findtext("head/dateCreated"))
    newest = max(e.updated_parsed for e in feedparser.parse(
        (project.feeds / "atom.xml").read_bytes()).entries)
    assert created.utctimetuple()[:6] == newest[:6]
    assert created.year == 2021

"""Nothing is unpublished by accident: a missing or emptied seeds folder, mass removals, seeds
still being written, the same page saved twice. Driven as an operator would, by subprocess."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from pathlib import Path

import feedparser

from conftest import FIXTURE_SEEDS, Project

CARAVAN = "000_68e055715ac20893.txt"
ESPIONAGE = "003_d7e79264b6abe123.txt"
EXTRA = ("credit_photo_by.txt", "spanish_article.txt", "translated_by_note.txt")


def _tree(project: Project) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(project.feeds).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(project.feeds.rglob("*")) if p.is_file()}


def _titles(project: Project) -> list[str]:
    listed = json.loads(project.run("articles", "list", "--json", check=True).stdout)
    return sorted(a["source"] for a in listed)


def _counts(stdout: str) -> dict[str, int]:
    """Every `N word` of the summary lines, all of them checked to be never negative."""
    found = {f"{line.split(':')[0]} {word}": int(n)
             for line in stdout.splitlines() if line.startswith(("articles:", "feeds:"))
             for n, word in re.findall(r"(-?\d+) (\w+)", line)}
    assert all(n >= 0 for n in found.values()), stdout
    return found


def _old(path: Path, seconds: float = 3600) -> None:
    """Date a seed's mtime back: saved a while ago, long settled."""
    moment = time.time() - seconds
    os.utime(path, (moment, moment))


def _add_extra(project: Project) -> None:
    for name in EXTRA:
        _old(project.add_seed(FIXTURE_SEEDS / name))


def test_missing_seeds_folder_is_an_error_that_changes_nothing(project: Project) -> None:
    project.run("build-feeds", check=True)
    before = _tree(project)
    project.seeds.rename(project.root / "seeds.moved")
    result = project.run("build-feeds")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert str(project.seeds) in result.stderr and "paths.seeds" in result.stderr
    assert _tree(project) == before
    assert _titles(project) == [CARAVAN, ESPIONAGE]
    ingest = project.run("ingest")
    assert ingest.returncode == 2 and ingest.stderr.count("\n") == 1
    assert _titles(project) == [CARAVAN, ESPIONAGE]


def test_empty_seeds_folder_removes_nothing_unless_prune(project: Project) -> None:
    project.run("build-feeds", check=True)
    before = _tree(project)
    for seed in project.seeds.iterdir():
        seed.unlink()
    result = project.run("build-feeds")
    assert result.returncode == 1
    counts = _counts(result.stdout)
    assert counts["articles removed"] == 0
    warning = [line for line in result.stderr.splitlines() if "feeds.max_removal_fraction" in line]
    assert len(warning) == 1 and "--prune" in warning[0] and "2 of 2" in warning[0], result.stderr
    assert _tree(project) == before
    assert _titles(project) == [CARAVAN, ESPIONAGE]
    again = project.run("build-feeds")  # said again on every build, still nothing removed
    assert again.returncode == 1 and "feeds.max_removal_fraction" in again.stderr
    assert _titles(project) == [CARAVAN, ESPIONAGE]

    pruned = project.run("build-feeds", "--prune", check=True)
    assert _counts(pruned.stdout)["articles removed"] == 2
    assert _titles(project) == []
    assert feedparser.parse((project.feeds / "atom.xml").read_bytes()).entries == []


def test_tick_keeps_the_articles_of_an_emptied_folder_too(project: Project) -> None:
    project.run("build-feeds", check=True)
    before = _tree(project)
    for seed in project.seeds.iterdir():
        seed.unlink()
    result = project.run("tick", "--now", "2026-11-20T12:00:00+00:00",
                         env={"PUBLISHER_SECRET_KEY": "0123456789abcdef0123456789abcdef"})
    assert result.returncode == 1, result.stderr
    assert "feeds.max_removal_fraction" in result.stderr
    assert _titles(project) == [CARAVAN, ESPIONAGE]
    assert _tree(project) == before


def test_removals_one_by_one_still_work_but_most_at_once_do_not(project: Project) -> None:
    _add_extra(project)
    project.run("build-feeds", check=True)
    assert len(_titles(project)) == 5
    (project.seeds / CARAVAN).unlink()
    one = project.run("build-feeds", check=True)
    assert _counts(one.stdout)["articles removed"] == 1
    assert len(_titles(project)) == 4
    for name in EXTRA:  # 3 of 4: more than half
        (project.seeds / name).unlink()
    refused = project.run("build-feeds")
    assert refused.returncode == 1
    assert _counts(refused.stdout)["articles removed"] == 0
    assert "3 of 4" in refused.stderr and "--prune" in refused.stderr
    assert len(_titles(project)) == 4
    # Something new meanwhile is still published: only the removals wait.
    _old(project.add_seed(FIXTURE_SEEDS / "multiple_authors_and.txt"))
    newer = project.run("build-feeds")
    assert _counts(newer.stdout)["articles new"] == 1
    assert len(_titles(project)) == 5
    pruned = project.run("build-feeds", "--prune", check=True)
    assert _counts(pruned.stdout)["articles removed"] == 3
    assert _titles(project) == [ESPIONAGE, "multiple_authors_and.txt"]


def test_max_removal_fraction_is_a_setting(project: Project) -> None:
    project.write_config("\n[feeds]\nmax_removal_fraction = 1.0\n")
    project.run("build-feeds", check=True)
    for seed in project.seeds.iterdir():
        seed.unlink()
    result = project.run("build-feeds", check=True)
    assert _counts(result.stdout)["articles removed"] == 2
    project.write_config("\n[feeds]\nmax_removal_fraction = 1.5\n")
    bad = project.run("build-feeds")
    assert bad.returncode == 2 and "feeds.max_removal_fraction" in bad.stderr


def test_a_seed_still_being_written_is_left_for_the_next_pass(project: Project) -> None:
    project.write_config("\n[schedule]\nsettle_seconds = 1\n")
    for seed in project.seeds.iterdir():
        _old(seed)
    project.run("build-feeds", check=True)
    growing = project.seeds / "growing.txt"
    full = (FIXTURE_SEEDS / "credit_photo_by.txt").read_text(encoding="utf-8")
    half = len(full) // 2
    growing.write_text(full[:half], encoding="utf-8")
    stop = threading.Event()

    def append() -> None:  # a slow download: a byte every 0.2 s until stopped
        with growing.open("a", encoding="utf-8") as fh:
            for i in range(100):
                if stop.wait(0.2):
                    return
                fh.write(" ")
                fh.flush()

    writer = threading.Thread(target=append)
    writer.start()
    try:
        result = project.run("build-feeds", check=True)
        ingest = project.run("ingest", check=True)
    finally:
        stop.set()
        writer.join()
    for output in (result, ingest):
        notes = [line for line in output.stderr.splitlines() if "growing.txt" in line]
        assert len(notes) == 1 and notes[0].startswith("note: "), output.stderr
        assert "next" in notes[0]
        assert _counts(output.stdout)["articles new"] == 0
    assert "growing.txt" not in _titles(project)
    growing.write_text(full, encoding="utf-8")
    _old(growing)
    done = project.run("build-feeds", check=True)
    assert _counts(done.stdout)["articles new"] == 1
    assert "growing.txt" in _titles(project)


def test_same_page_under_a_second_name_is_the_same_article(project: Project) -> None:
    project.run("build-feeds", check=True)
    copy = project.seeds / "caravan-saved-again.txt"
    shutil.copy2(project.seeds / CARAVAN, copy)
    result = project.run("build-feeds", check=True)
    counts = _counts(result.stdout)
    assert (counts["articles new"], counts["articles removed"]) == (0, 0)
    notes = [line for line in result.stderr.splitlines() if "caravan-saved-again.txt" in line]
    assert len(notes) == 1 and notes[0].startswith("note: ") and CARAVAN in notes[0], result.stderr
    assert _titles(project) == [CARAVAN, ESPIONAGE]
    entries = feedparser.parse((project.feeds / "atom.xml").read_bytes()).entries
    assert len(entries) == 2
    ids_before = [e.id for e in entries]

    # Removing either file unpublishes nothing: the other one still holds the article.
    (project.seeds / CARAVAN).unlink()
    moved = project.run("build-feeds", check=True)
    assert _counts(moved.stdout)["articles removed"] == 0
    assert _titles(project) == [ESPIONAGE, "caravan-saved-again.txt"]
    entries = feedparser.parse((project.feeds / "atom.xml").read_bytes()).entries
    assert [e.id for e in entries] == ids_before

    shutil.copy2(copy, project.seeds / CARAVAN)
    back = project.run("build-feeds", check=True)
    assert _counts(back.stdout)["articles new"] == 0
    copy.unlink()
    gone = project.run("build-feeds", check=True)
    assert _counts(gone.stdout)["articles removed"] == 0
    assert [e.id for e in feedparser.parse((project.feeds / "atom.xml").read_bytes()).entries] \
        == ids_before


def test_the_same_page_twice_in_one_build_is_one_article(project: Project) -> None:
    shutil.copy2(project.seeds / CARAVAN, project.seeds / "zz-copy.txt")
    result = project.run("build-feeds", check=True)
    assert _counts(result.stdout)["articles new"] == 2
    assert "zz-copy.txt" in result.stderr and CARAVAN in result.stderr
    assert _titles(project) == [CARAVAN, ESPIONAGE]

"""A build after a complete one reads only the store records of the seeds that differ from
what that build saw (`buildstamp.last_build`, `pipeline.scan(last=...)`). The proof that this
changes nothing: two copies of one project go through the same edits (new, corrected, the same
page twice, moved, removed, broken, the original of a duplicate removed, back again), one
building as it does, the other with the record of the last build's seeds taken away before each
build (so it reads every record): the reports, the store and every feed byte are the same."""

from __future__ import annotations

import random
import shutil
import sqlite3
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from publisher import buildstamp, pipeline
from publisher.config import load_settings
from publisher.store import articles as article_store
from publisher.store import open_store

from conftest import REAL_SEEDS, Project

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from bench_feeds import seed_text  # noqa: E402

CARAVAN = "000_68e055715ac20893.txt"


def _project(root: Path) -> Project:
    project = Project(root)
    project.seeds.mkdir(parents=True)
    for seed in sorted(REAL_SEEDS.glob("*.txt")):
        shutil.copy2(seed, project.seeds / seed.name)
    for n in range(8):
        (project.seeds / f"s{n}.txt").write_text(seed_text(n, random.Random(n)), encoding="utf-8")
    project.write_config("[feeds]\nmax_entries = 1\narchive_page_size = 2\n")  # archive pages
    return project


def _edits(seeds: Path) -> list[tuple[str, object]]:
    """(what, edit) pairs; each edit changes the seeds folder of one copy."""
    def write(name: str, n: int):  # type: ignore[no-untyped-def]
        return lambda: (seeds / name).write_text(seed_text(n, random.Random(n)), encoding="utf-8")

    def sibling(name: str, of: int, n: int):  # type: ignore[no-untyped-def]
        """A new article by the same authors in the same category as seed `of` (no new feed)."""
        text = seed_text(of, random.Random(of))
        return lambda: (seeds / name).write_text(
            text.replace(f"Synthetic article {of}:", f"Synthetic article {n}:")
                .replace(f"story {of}", f"story {n}"), encoding="utf-8")

    def correct() -> None:
        path = seeds / "s1.txt"
        path.write_text(path.read_text(encoding="utf-8").replace("Section 3", "Section three"),
                        encoding="utf-8")

    return [
        ("nothing", lambda: None),
        ("a new seed", sibling("s100.txt", 5, 100)),
        ("a new seed starting feeds", write("s103.txt", 103)),
        ("a new seed, a feed file gone", lambda: (
            (seeds.parent / "feeds" / "archive" / "1" / "atom.xml").unlink(),
            sibling("s104.txt", 6, 104)())),
        ("a corrected seed", correct),
        ("the same page twice", lambda: shutil.copyfile(seeds / "s2.txt", seeds / "s2-copy.txt")),
        ("a moved seed", lambda: (seeds / "s3.txt").rename(seeds / "s3-moved.txt")),
        ("a removed seed", lambda: (seeds / "s4.txt").unlink()),
        ("a broken seed", lambda: (seeds / "broken.txt").write_bytes(b"\xff\xfe\x00 not text")),
        ("the original of a duplicate removed", lambda: (seeds / "s2.txt").unlink()),
        ("a removed seed back", write("s4.txt", 4)),
        ("two new seeds and a correction", lambda: (write("s101.txt", 101)(),
                                                    write("s102.txt", 102)(), correct())),
    ]


def _state(project: Project) -> tuple[list, list, dict[str, bytes]]:  # type: ignore[type-arg]
    with sqlite3.connect(project.database) as db:
        articles = db.execute(
            "SELECT id, source, slug, url, guid, title, content_hash, page_hash, first_seen, "
            "updated, deleted_at FROM articles ORDER BY id").fetchall()
        seeds = db.execute("SELECT source, size, status, message FROM seed_files "
                           "ORDER BY source").fetchall()
    feeds = {str(p.relative_to(project.feeds)): p.read_bytes()
             for p in sorted(project.feeds.rglob("*")) if p.is_file()}
    return articles, seeds, feeds


def _summary(report: pipeline.BuildReport, root: Path) -> tuple:  # type: ignore[type-arg]
    ingest = report.ingest
    return (len(ingest.new), len(ingest.updated), ingest.unchanged, ingest.deleted,
            [(e.path.replace(str(root), ""), e.reason) for e in ingest.failed + ingest.skipped],
            [note.replace(str(root), "") for note in ingest.notes], ingest.live,
            sorted(report.feeds.written) if report.feeds else None)


def _calls(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """A list that grows by one at each call of the store's function `name`."""
    calls: list[int] = []
    real = getattr(article_store, name)

    def counted(conn):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(conn)

    monkeypatch.setattr(article_store, name, counted)
    return calls


def test_a_partial_scan_builds_what_a_full_scan_builds(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    partial, full = _project(tmp_path / "partial"), _project(tmp_path / "full")
    full_reads = _calls(monkeypatch, "identities_by_source")  # every identity read
    whole_plans = _calls(monkeypatch, "feed_log")  # the whole log read, to plan every feed
    copies = []
    for project in (partial, full):
        settings = load_settings(project.config, environ={})
        settings = replace(settings, schedule=replace(settings.schedule, settle_seconds=0))
        copies.append((project, settings, open_store(settings), _edits(project.seeds)))
    now = datetime.now(timezone.utc) + timedelta(minutes=1)
    for step in range(len(copies[0][3])):
        results = []
        for project, settings, engine, edits in copies:
            what, edit = edits[step]
            edit()  # type: ignore[operator]
            if project is full:
                buildstamp.stamp_path(settings).with_suffix(".last").unlink(missing_ok=True)
            before, plans = len(full_reads), len(whole_plans)
            report = pipeline.build(engine, settings, now)
            read_all = len(full_reads) > before
            results.append((_summary(report, project.root), _state(project), read_all, report.fast,
                            len(whole_plans) > plans))
        (p_summary, p_state, p_all, p_fast, p_whole), (f_summary, f_state, f_all, f_fast,
                                                       f_whole) = results
        assert p_summary == f_summary, what
        assert p_state[0] == f_state[0], what
        assert p_state[1] == f_state[1], what
        assert p_state[2] == f_state[2], what
        if step == 0:
            assert p_all and f_all  # the first build reads everything, of course
        elif what == "nothing":
            assert p_fast and f_fast
        else:
            assert not p_all, f"{what}: the partial copy read every identity"
            assert f_all and f_whole, what
            # only adding articles (or none): only the feeds they are in are planned again
            assert p_whole == (what in ("a new seed starting feeds", "a new seed, a feed file gone",
                                        "a corrected seed", "a moved seed", "a removed seed",
                                        "the original of a duplicate removed",
                                        "a removed seed back",
                                        "two new seeds and a correction")), what
        now += timedelta(minutes=5)
    articles, seeds, feeds = _state(partial)
    live = {row[1]: row for row in articles if row[10] is None}
    assert "s3-moved.txt" in live and "s3.txt" not in live  # moved: the same article
    assert "s4.txt" in live and "s2-copy.txt" in live and "s2.txt" not in live
    assert ("broken.txt", len(b"\xff\xfe\x00 not text")) in [(s[0], s[1]) for s in seeds
                                                            if s[2] != "ok"]
    assert len(live) == 2 + 8 + 5 and "atom.xml" in feeds
    assert "archive/7/atom.xml" in feeds  # 15 articles, 1 live: 14 archived in pages of 2
    assert "archive/1/atom.xml" in feeds  # (written again)
    assert any(path.startswith("authors/") and "/archive/1/" in path for path in feeds)

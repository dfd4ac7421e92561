"""The seeds folder scan: the stats of a big folder shared with a forked child give exactly
what one process gives, unreadable entries included."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from publisher import seedfiles
from publisher.seedfiles import scan_seed_files

from conftest import wait_for


def _folder(root: Path) -> Path:
    seeds = root / "seeds"
    (seeds / "sub").mkdir(parents=True)
    for n in range(57):
        path = seeds / f"{n:03d}.txt"
        path.write_text("x" * n, encoding="utf-8")
        os.utime(path, ns=(1_700_000_000_000_000_000 + n, 1_700_000_000_000_000_000 + n * 7))
    (seeds / "sub" / "deep.md").write_text("deep", encoding="utf-8")
    (seeds / "notes.tmp").write_text("not a seed", encoding="utf-8")
    (seeds / ".hidden.txt").write_text("not a seed", encoding="utf-8")
    (seeds / "030b-gone.txt").symlink_to(root / "nowhere.txt")  # cannot be stat'ed
    return seeds


def test_split_stats_give_what_one_process_gives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seeds = _folder(tmp_path)
    whole = scan_seed_files(seeds)
    forks = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(seedfiles, "SPLIT_STATS", 10)
    monkeypatch.setattr(os, "fork", fork)
    # (threads other tests of this session left running would stop the split: not this test's)
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    split = scan_seed_files(seeds)
    assert len(forks) == 1  # the 58 names of the top folder were shared; sub/ has one
    files, errors = split
    assert files == whole[0]
    assert [(e.path, e.reason) for e in errors] == [(e.path, e.reason) for e in whole[1]]
    assert [f.source for f in files][:3] == ["000.txt", "001.txt", "002.txt"]
    assert files[-1].source == "sub/deep.md" and len(files) == 58
    assert (files[5].size, files[5].mtime_ns) == (5, 1_700_000_000_000_000_035)
    assert [(e.path, e.reason) for e in errors] == [
        (str(seeds / "030b-gone.txt"), "cannot read: No such file or directory")]


def test_no_fork_while_other_threads_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seeds = _folder(tmp_path)
    monkeypatch.setattr(seedfiles, "SPLIT_STATS", 10)

    def refuse() -> int:
        raise AssertionError("forked a process with other threads running")

    monkeypatch.setattr(os, "fork", refuse)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        files, errors = scan_seed_files(seeds)
    finally:
        stop.set()
        other.join()
    assert len(files) == 58 and len(errors) == 1


def test_folders_are_told_from_files_by_their_stat(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    (seeds / "2024.md" / "inner").mkdir(parents=True)  # a folder named like a seed
    (seeds / "2024.md" / "inner" / "a.txt").write_text("a", encoding="utf-8")
    (seeds / ".git").mkdir()
    (seeds / ".git" / "hidden.txt").write_text("not a seed", encoding="utf-8")
    (seeds / "plain").mkdir()
    (seeds / "plain" / "B.TXT").write_text("bb", encoding="utf-8")
    (seeds / "top.txt").write_text("top", encoding="utf-8")
    (seeds / "linked.md").symlink_to(seeds / "plain")  # a link to a folder: not followed
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "far.txt").write_text("far", encoding="utf-8")
    (seeds / "outside").symlink_to(tmp_path / "elsewhere")
    files, errors = scan_seed_files(seeds)
    assert [(f.source, f.path, f.size) for f in files] == [
        ("2024.md/inner/a.txt", str(seeds / "2024.md" / "inner" / "a.txt"), 1),
        ("plain/B.TXT", str(seeds / "plain" / "B.TXT"), 2),
        ("top.txt", str(seeds / "top.txt"), 3),
    ]
    assert errors == []
    assert files[-1] == files[2] and len(files) == 3 and files[:2] == list(files)[:2]


def test_the_listing_of_an_unchanged_folder_is_the_same_every_scan(tmp_path: Path) -> None:
    seeds = _folder(tmp_path)
    first, _ = scan_seed_files(seeds)
    again, _ = scan_seed_files(seeds)
    assert (first.sources_text(), first.pairs_bytes()) == (again.sources_text(), again.pairs_bytes())
    assert first == again and first.sources_text().count("\0") == len(first) - 1
    (seeds / "050.txt").write_text("changed!", encoding="utf-8")
    changed, _ = scan_seed_files(seeds)
    assert changed.sources_text() == first.sources_text()
    assert changed.pairs_bytes() != first.pairs_bytes()
    assert next(f for f in changed if f.source == "050.txt").size == 8
    (seeds / "new.txt").write_text("new", encoding="utf-8")
    grown, _ = scan_seed_files(seeds)
    assert [f.source for f in grown] == sorted([f.source for f in first] + ["new.txt"])


def test_the_listing_of_a_tree_of_folders_is_the_same_in_every_process(tmp_path: Path) -> None:
    import subprocess
    import sys

    seeds = tmp_path / "seeds"
    for year in range(2015, 2027):
        (seeds / str(year)).mkdir(parents=True)
        for n in range(3):
            (seeds / str(year) / f"{n}.txt").write_text(f"{year}-{n}", encoding="utf-8")
    (seeds / "top.txt").write_text("top", encoding="utf-8")
    show = ("import sys; from pathlib import Path; from publisher.seedfiles import scan_seed_files; "
            "files, _ = scan_seed_files(Path(sys.argv[1])); print(repr(files.sources_text()))")
    listings = {subprocess.run([sys.executable, "-c", show, str(seeds)], capture_output=True, text=True,
                               check=True, env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout
                for seed in range(6)}
    assert len(listings) == 1  # the build stamp's key hashes this listing
    assert listings.pop().count("\\x00") == 12 * 3


def test_readahead_advises_the_seeds_in_order_within_its_window(
        tmp_path: Path, advised_files: list[str]) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for n in range(10):
        (seeds / f"{n}.txt").write_bytes(b"x" * 1000)
    (seeds / "3.txt").write_bytes(b"x" * 5000)  # over max_bytes: refused unread, not advised
    os.remove(seeds / "5.txt")  # gone since the scan: read (and reported) in its turn
    os.remove(seeds / "6.txt")
    os.mkfifo(seeds / "6.txt")  # a FIFO: opening it must not wait for a writer
    files = [seedfiles.SeedFile(f"{n}.txt", str(seeds / f"{n}.txt"),
                                5000 if n == 3 else 1000, 0) for n in range(10)]
    calls = advised_files
    with seedfiles.Readahead(files, max_bytes=4000, window=2500) as ahead:
        wait_for(lambda: calls == ["0.txt", "1.txt", "2.txt"], 5, "the first 3 files")
        time.sleep(0.1)
        assert calls == ["0.txt", "1.txt", "2.txt"]  # 3,000 bytes advised: no further
        ahead.consumed(1000)
        ahead.consumed(1000)
        # 3.txt is passed over (over max_bytes), but its 5,000 bytes count against the window
        time.sleep(0.1)
        assert calls == ["0.txt", "1.txt", "2.txt"]
        ahead.consumed(1000 + 5000)  # 8,000 of 11,000 advised after 6.txt
        wait_for(lambda: calls[-1:] == ["6.txt"], 5, "6.txt")
        time.sleep(0.1)
        assert calls[-2:] == ["4.txt", "6.txt"]
        ahead.consumed(3000)
        wait_for(lambda: calls[-1:] == ["9.txt"], 5, "9.txt")
    assert calls == ["0.txt", "1.txt", "2.txt", "4.txt", "6.txt", "7.txt", "8.txt", "9.txt"]


def test_leaving_readahead_stops_it(tmp_path: Path, advised_files: list[str]) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    files = []
    for n in range(5):
        (seeds / f"{n}.txt").write_bytes(b"x" * 100)
        files.append(seedfiles.SeedFile(f"{n}.txt", str(seeds / f"{n}.txt"), 100, 0))
    calls = advised_files
    with seedfiles.Readahead(files, max_bytes=1000, window=150):
        wait_for(lambda: len(calls) == 2, 5, "2 files")
    assert not any(t.name == "seed-readahead" for t in threading.enumerate())
    assert calls == ["0.txt", "1.txt"]

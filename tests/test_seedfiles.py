"""The seeds folder scan: the stats of a big folder shared with a forked child give exactly
what one process gives, unreadable entries included."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from publisher import seedfiles
from publisher.seedfiles import scan_seed_files


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

"""fsutil.write_atomic with the file given as pieces (how feed documents are written)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from publisher import fsutil


def pieces_of(n: int) -> list[bytes]:
    """`n` pieces of different sizes, some empty."""
    return [b"" if k % 7 == 3 else f"<piece {k}>".encode() * (k % 5 + 1) for k in range(n)]


@pytest.mark.parametrize("count", [0, 1, 3, fsutil._IOV_MAX - 1, fsutil._IOV_MAX,
                                   fsutil._IOV_MAX + 1, 3 * fsutil._IOV_MAX + 17])
def test_pieces_are_written_in_order(tmp_path: Path, count: int) -> None:
    parts = pieces_of(count)
    path = tmp_path / "feed" / "atom.xml"  # its folder made by the first write
    assert fsutil.write_atomic(path, parts, durable=False) is True
    assert path.read_bytes() == b"".join(parts)
    assert os.listdir(path.parent) == ["atom.xml"]  # no temp file left


def test_short_writes_continue_where_they_stopped(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.writev
    calls = []

    def at_most_seven_bytes(fd: int, buffers: list[memoryview]) -> int:
        calls.append(len(buffers))
        budget, short = 7, []
        for buffer in buffers:
            short.append(buffer[:budget])
            budget -= len(short[-1])
            if not budget:
                break
        return real(fd, short)

    monkeypatch.setattr(os, "writev", at_most_seven_bytes)
    parts = pieces_of(2 * fsutil._IOV_MAX + 5)
    path = tmp_path / "feed.json"
    assert fsutil.write_atomic(path, parts, durable=True)
    assert path.read_bytes() == b"".join(parts)
    assert len(calls) >= len(b"".join(parts)) // 7
    assert max(calls) <= fsutil._IOV_MAX


def test_the_same_pieces_again_write_nothing(tmp_path: Path) -> None:
    parts = pieces_of(40)
    path = tmp_path / "rss.xml"
    assert fsutil.write_atomic(path, parts)
    before = path.stat()
    assert fsutil.write_atomic(path, [b"".join(parts)]) is False  # however they are cut
    assert fsutil.write_atomic(path, b"".join(parts)) is False
    assert path.stat().st_ino == before.st_ino and path.stat().st_mtime_ns == before.st_mtime_ns
    changed = [*parts[:-1], parts[-1][:-1] + b"!"]  # same size, other bytes
    assert fsutil.write_atomic(path, changed)
    assert path.read_bytes() == b"".join(changed)

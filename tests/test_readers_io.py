"""read_seed's I/O checks and is_seed_candidate: every bad file gives a one-line SeedError."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from publisher.errors import SeedError
from publisher.model import Site
from publisher.readers import SEED_SUFFIXES, is_seed_candidate, read_seed, seed_source

SEEDS = Path(__file__).parent / "seeds"
SITE = Site("Left Voice", "https://www.leftvoice.org", ZoneInfo("America/New_York"))
GOOD = SEEDS / "credit_photo_by.txt"


def reason_for(path: Path, seeds_dir: Path = SEEDS, **kwargs: Any) -> str:
    with pytest.raises(SeedError) as info:
        read_seed(path, seeds_dir, SITE, **kwargs)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(str(path).replace("\n", "\\n"))
    return info.value.reason


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.txt", "empty file"),
        ("whitespace_only.txt", "empty file (only whitespace)"),
        ("binary_nul_bytes.txt", "binary file (contains NUL bytes)"),
        ("latin1_encoded.txt", "not UTF-8: invalid byte 0xe9 at offset 39"),
    ],
)
def test_bad_files(name: str, reason: str) -> None:
    assert reason_for(SEEDS / name) == reason


def test_oversized_is_refused_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    with big.open("wb") as fh:
        fh.truncate(5_000_001)  # sparse: costs no disk
    assert reason_for(big, tmp_path) == "too large: 5000001 bytes (limit 5000000)"
    assert reason_for(GOOD, SEEDS, max_bytes=100).startswith("too large: ")


def test_symlink_inside_is_read_and_keeps_its_own_source(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    (seeds / "2024").mkdir(parents=True)
    shutil.copy(GOOD, seeds / "original.txt")
    (seeds / "2024" / "link.txt").symlink_to(seeds / "original.txt")
    article = read_seed(seeds / "2024" / "link.txt", seeds, SITE)
    assert article.source == "2024/link.txt"
    assert article.title == "Workers at the Port Walk Out Over Heat"


def test_symlink_outside_the_seeds_folder_is_refused(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(GOOD, tmp_path / "secret.txt")
    (seeds / "link.txt").symlink_to(tmp_path / "secret.txt")
    assert reason_for(seeds / "link.txt", seeds) == "symlink points outside the seeds folder"
    (seeds / "up.txt").symlink_to("../secret.txt")
    assert reason_for(seeds / "up.txt", seeds) == "symlink points outside the seeds folder"


def test_broken_symlink_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "gone.txt")
    assert reason_for(tmp_path / "dangling.txt", tmp_path).startswith("cannot read: ")
    assert reason_for(tmp_path / "missing.txt", tmp_path).startswith("cannot read: ")


def test_directory_and_unknown_suffix(tmp_path: Path) -> None:
    (tmp_path / "folder.txt").mkdir()
    assert reason_for(tmp_path / "folder.txt", tmp_path) == "not a regular file"
    (tmp_path / "notes.rst").write_text("hello", encoding="utf-8")
    assert reason_for(tmp_path / "notes.rst", tmp_path).startswith("not a seed file")


def test_outside_the_seeds_folder(tmp_path: Path) -> None:
    assert reason_for(GOOD, tmp_path) == "not inside the seeds folder"


class GrowingPath(type(Path())):  # type: ignore[misc]
    """A real file whose second stat() sees it grown, as if a writer were still appending."""

    calls = 0

    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        result = super().stat(follow_symlinks=follow_symlinks)
        GrowingPath.calls += 1
        if GrowingPath.calls > 1:
            fields = list(result)
            fields[6] += 10  # st_size
            return os.stat_result(fields)
        return result


def test_file_still_being_written() -> None:
    path = GrowingPath(GOOD)
    assert reason_for(path) == "still being written (size or time changed while reading)"


def test_file_still_being_written_for_real(tmp_path: Path) -> None:
    """The file changes between the first stat and the read: the length check catches it."""
    seed = tmp_path / "a.txt"
    shutil.copy(GOOD, seed)

    class TruncatedOnOpen(type(Path())):  # type: ignore[misc]
        def open(self, *args: Any, **kwargs: Any) -> Any:
            with open(seed, "ab") as fh:  # the writer appends after our first stat
                fh.write(b"more text\n")
            return super().open(*args, **kwargs)

    assert reason_for(TruncatedOnOpen(seed), tmp_path).startswith("still being written")


def test_error_message_is_one_line_even_for_odd_names(tmp_path: Path) -> None:
    odd = tmp_path / "bad\nname.txt"
    odd.write_bytes(b"")
    assert reason_for(odd, tmp_path) == "empty file"


def test_parser_errors_name_the_path() -> None:
    with pytest.raises(SeedError) as info:
        read_seed(SEEDS / "no_share_bar.txt", SEEDS, SITE)
    assert info.value.path == str(SEEDS / "no_share_bar.txt")


def test_good_seed_source_is_relative_posix(monkeypatch: pytest.MonkeyPatch) -> None:
    assert read_seed(GOOD, SEEDS, SITE).source == "credit_photo_by.txt"
    monkeypatch.chdir(SEEDS.parent)
    relative = read_seed(Path("seeds/credit_photo_by.txt"), Path("seeds"), SITE)
    assert relative.source == "credit_photo_by.txt"
    mixed = read_seed(Path("seeds/credit_photo_by.txt"), SEEDS, SITE)
    assert mixed.source == "credit_photo_by.txt"


@pytest.mark.parametrize(
    ("name", "wanted"),
    [
        ("article.txt", True),
        ("article.md", True),
        ("ARTICLE.TXT", True),
        ("2024/article.md", True),
        (".hidden.txt", False),
        (".#article.txt", False),
        ("#article.txt#", False),
        ("article.txt~", False),
        ("article.txt.tmp", False),
        ("article.tmp", False),
        ("article.txt.part", False),
        ("article.md.swp", False),
        (".article.md.swp", False),
        ("article.rst", False),
        ("article", False),
    ],
)
def test_is_seed_candidate(name: str, wanted: bool) -> None:
    assert is_seed_candidate(Path(name)) is wanted
    assert is_seed_candidate(name) is wanted


def test_seed_suffixes() -> None:
    assert SEED_SUFFIXES == (".txt", ".md")


def test_seed_source() -> None:
    assert seed_source(Path("/a/seeds/2024/x.txt"), Path("/a/seeds")) == "2024/x.txt"
    assert seed_source(Path("/a/seeds/sub/../x.txt"), Path("/a/seeds")) == "x.txt"
    with pytest.raises(SeedError, match="not inside the seeds folder"):
        seed_source(Path("/a/seeds/../other/x.txt"), Path("/a/seeds"))
    with pytest.raises(SeedError, match="not inside the seeds folder"):
        seed_source(Path("/a/seeds"), Path("/a/seeds"))


def _outcome(path: Any, seeds_dir: Path) -> tuple[str, object]:
    try:
        return "content", read_seed(path, seeds_dir, SITE)
    except SeedError as exc:
        return type(exc).__name__, (str(exc), exc.path, exc.reason, exc.hint)


def test_a_name_as_str_reads_as_its_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The build's workers pass seed names as str: read_seed skips making a Path of a plain
    `seeds_dir/source` name, and must give exactly what the Path gives, for every spelling."""
    seeds = tmp_path / "seeds"
    (seeds / "2024").mkdir(parents=True)
    shutil.copy(GOOD, seeds / "good.txt")
    shutil.copy(GOOD, seeds / "2024" / "deep.TXT")
    shutil.copy(SEEDS / "no_share_bar.txt", seeds / "bad.txt")
    shutil.copy(GOOD, seeds / ".txt")  # no suffix: a file named ".txt"
    shutil.copy(GOOD, seeds / "dot.txt.")
    (seeds / "empty.md").write_bytes(b"")
    (seeds / "folder.txt").mkdir()
    (seeds / "linked").symlink_to(seeds / "2024")
    (seeds / "up.txt").symlink_to(GOOD)
    sources = ["good.txt", "2024/deep.TXT", "bad.txt", ".txt", "dot.txt.", "empty.md",
               "folder.txt", "linked/deep.TXT", "up.txt", "missing.txt", "notes.rst", "2024"]
    monkeypatch.chdir(tmp_path)
    for folder in (seeds, Path("seeds"), Path("."), Path(str(seeds) + "/")):
        top = str(folder)
        for source in sources:
            names = [f"{top}/{source}", f"{top}//{source}", f"{top}/./{source}",
                     f"{top}/../seeds/{source}", f"./{top}/{source}", f"{top}/{source}/"]
            for name in names:
                assert _outcome(name, folder) == _outcome(Path(name), folder), (folder, name)
    assert _outcome(f"{seeds}/good.txt", seeds)[1].source == "good.txt"  # type: ignore[union-attr]
    assert _outcome(f"{seeds}/linked/deep.TXT", seeds)[1].source == "linked/deep.TXT"  # type: ignore[union-attr]
    assert _outcome(f"{seeds}/bad.txt", seeds)[1][0].startswith(f"{seeds}/bad.txt: ")  # type: ignore[index]

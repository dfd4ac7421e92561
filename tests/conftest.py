"""Shared fixtures. Each fixture builds real things: files, SQLite databases, processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REAL_SEEDS = REPO / "seeds"
FIXTURE_SEEDS = Path(__file__).resolve().parent / "seeds"
PUBLISHER = [sys.executable, "-m", "publisher"]


class Project:
    """A throwaway publisher project: config.toml, seeds/, and the folders it writes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.seeds = root / "seeds"
        self.feeds = root / "feeds"
        self.config = root / "config.toml"
        self.database = root / "state" / "publisher.db"
        self.outbox = root / "outbox"

    def write_config(self, extra: str = "") -> None:
        self.config.write_text(
            '[site]\ntitle = "Left Voice"\nbase_url = "https://www.leftvoice.org"\n'
            'description = "Militant journalism, revolutionary politics."\n'
            'timezone = "America/New_York"\n' + extra,
            encoding="utf-8",
        )

    def run(self, *args: str, check: bool = False, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run the publisher CLI as a subprocess in this project."""
        full_env = {**os.environ, "PUBLISHER_CONFIG": str(self.config), **(env or {})}
        result = subprocess.run(
            [*PUBLISHER, *args], cwd=self.root, env=full_env, capture_output=True, text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"publisher {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def add_seed(self, source: Path, name: str | None = None) -> Path:
        target = self.seeds / (name or source.name)
        shutil.copyfile(source, target)
        return target


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A project with the two real seeds and a config pointing everything into tmp_path."""
    proj = Project(tmp_path)
    proj.seeds.mkdir()
    for seed in sorted(REAL_SEEDS.glob("*.txt")):
        shutil.copyfile(seed, proj.seeds / seed.name)
    proj.write_config()
    return proj

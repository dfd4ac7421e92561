"""What every command needs: settings, the database and the clock, opened lazily once."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..config import DEFAULT_CONFIG_NAME, Settings, find_config, load_settings
from ..errors import ConfigError
from ..fsutil import folder_problem, make_folder

if TYPE_CHECKING:
    from ..store import Database


class App:
    def __init__(self, config_path: str | None) -> None:
        self._config_path = config_path
        self._engine: Database | None = None

    @cached_property
    def settings(self) -> Settings:
        path = find_config(self._config_path, os.environ)
        settings = load_settings(path)
        if path is None and not settings.seeds_dir.is_dir():
            raise ConfigError(
                f"no {DEFAULT_CONFIG_NAME} and no {settings.paths.seeds}/ folder in {Path.cwd()}: "
                "nothing to publish here, nothing was created",
                "run this in the project folder, or give --config FILE or PUBLISHER_CONFIG")
        check_folders(settings)
        return settings

    @property
    def engine(self) -> Database:
        if self._engine is None:
            from ..store import open_store  # only commands that need it open it

            if not self.settings.database.url:
                make_folder(self.settings.database_path.parent, "paths.database")
            self._engine = open_store(self.settings)
        return self._engine

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def output_folders(settings: Settings) -> dict[str, Path]:
    """The folders the configuration makes the publisher write into, by config key."""
    folders = {"paths.feeds": settings.feeds_dir}
    if not settings.database.url:  # a SQLite file (PostgreSQL needs no folder)
        folders["paths.database"] = settings.database_path.parent
    if settings.mail.sender == "outbox":
        folders["paths.outbox"] = settings.outbox_dir
    return folders


def check_folders(settings: Settings) -> None:
    """Every output folder exists or can be created (nothing is created here)."""
    where = str(settings.config_path) if settings.config_path else "defaults"
    problems = [f"{where}: {key} cannot be created: {why} "
                f"(point {key} to a folder that exists or can be created)"
                for key, folder in output_folders(settings).items()
                if (why := folder_problem(folder))]
    if problems:
        raise ConfigError("\n".join(problems))


pass_app = click.make_pass_decorator(App)

"""What every command needs: settings, the database and the clock, opened lazily once."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from functools import cached_property

from typing import TYPE_CHECKING

import click

from ..config import Settings, find_config, load_settings

if TYPE_CHECKING:
    from ..store import Database


class App:
    def __init__(self, config_path: str | None) -> None:
        self._config_path = config_path
        self._engine: Database | None = None

    @cached_property
    def settings(self) -> Settings:
        return load_settings(find_config(self._config_path, os.environ))

    @property
    def engine(self) -> Database:
        if self._engine is None:
            from ..store import open_database  # only commands that need it open it

            self._engine = open_database(self.settings.database_path,
                                         self.settings.database.busy_timeout)
        return self._engine

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


pass_app = click.make_pass_decorator(App)

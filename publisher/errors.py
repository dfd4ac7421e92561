"""Exceptions the library raises; the CLI turns them into one-line messages and exit codes."""

from __future__ import annotations


class PublisherError(Exception):
    """An expected problem, reported to the operator without a traceback."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (self.__class__, (self.message, self.hint))

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(PublisherError):
    """The configuration file or environment is wrong."""


class PathError(PublisherError):
    """A folder or file the configuration names cannot be created or written (disk full,
    a file where a folder should be, a read-only disk)."""


class SeedError(PublisherError):
    """One seed file cannot be read; the others are still published."""

    def __init__(self, path: str, reason: str, hint: str = "") -> None:
        super().__init__(f"{path}: {reason}", hint)
        self.path = path
        self.reason = reason

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (self.__class__, (self.path, self.reason, self.hint))


class NotAnArticle(SeedError):
    """The seed is a page of the site that is not an article (e.g. a section listing): a warning."""


class StoreError(PublisherError):
    """The state database cannot be opened or is in an unexpected state."""


class DatabaseBusy(StoreError):
    """Another process held the state database's write lock longer than database.busy_timeout:
    nothing was changed; try again later (the CLI exits 1, the web answers 503)."""


class SendError(PublisherError):
    """A message could not be delivered."""


class LockedError(PublisherError):
    """Another publisher process holds the state database."""

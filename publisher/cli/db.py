"""`publisher db`: the state database itself (copy it to another database)."""

from __future__ import annotations

import click

from ..errors import ConfigError
from .app import App, pass_app


@click.group("db")
def db() -> None:
    """The state database: `db copy --to postgresql://...` moves a deployment."""


@db.command("copy")
@click.option("--to", "target", required=True, metavar="URL_OR_PATH",
              help="The empty database to copy into: postgresql://user@host/dbname, or a "
              "SQLite file path. Its password comes from PGPASSWORD or "
              "PUBLISHER_DATABASE_PASSWORD, never from the url.")
@pass_app
def copy(app: App, target: str) -> None:
    """Copy every table of the configured store into another, empty database.

    The target is created/migrated first; the copy is one transaction there (a failure leaves
    it as it was), read from one snapshot of the source. Stop the publisher's writers (run,
    tick, send-digests, serve) while copying, then point database.url (or
    PUBLISHER_DATABASE_URL) at the new database.
    """
    from ..config import database_url
    from ..store import open_database
    from ..store.copy import copy_store

    settings = app.settings
    if "://" in target:
        try:
            database_url(target)
        except ValueError as exc:
            raise ConfigError(f"--to: {exc}") from None
        destination: object = target
    else:
        destination = settings.path(target)
    source = app.engine
    if str(destination) == str(settings.database_target):
        raise ConfigError("--to: that is the configured store itself",
                          "give another database")
    into = open_database(destination, settings.database.busy_timeout,  # type: ignore[arg-type]
                         settings.secrets.database_password or None)
    try:
        def progress(table: str, rows: int) -> None:
            click.echo(f"  {table}: {rows} rows", err=True)

        click.echo(f"copying {source.display} -> {into.display}", err=True)
        copied = copy_store(source, into, progress)
    finally:
        into.dispose()
    click.echo(f"copied {sum(copied.values())} rows in {len(copied)} tables to {into.display}")

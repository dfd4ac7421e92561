"""The `publisher` command: the only place that prints, and where errors become exit codes.

Exit codes: 0 success; 1 finished, but some input failed (a seed, a recipient); 2 bad usage,
configuration or state (nothing was done); 3 another publisher process holds the state database.
"""

from __future__ import annotations

import importlib
import sys

import click

from ..errors import DatabaseBusy, LockedError, PublisherError
from .app import App

# command name -> "module:attribute" below publisher.cli; imported only when the command runs,
# so a quick command does not pay for the libraries of the others.
COMMANDS = {
    "build-feeds": "feeds:build_feeds",
    "ingest": "feeds:ingest",
    "articles": "feeds:articles",
    "subscribers": "digests:subscribers",
    "send-digests": "digests:send_digests",
    "digest": "digests:digest",
    "inbound": "inbound:inbound",
    "run": "daemon:run",
    "tick": "daemon:tick",
    "status": "daemon:status",
    "serve": "web:serve",
    "db": "db:db",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name].split(":")
        return getattr(importlib.import_module(f".{module}", __name__), attribute)


EXIT_USAGE = 2
EXIT_LOCKED = 3


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--config", "config_path", metavar="PATH", envvar="PUBLISHER_CONFIG",
    help="Config file (default: ./config.toml if present, else built-in defaults). "
    "Env: PUBLISHER_CONFIG.",
)
@click.version_option(package_name="publisher")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Publish seed articles as Atom, RSS and JSON feeds and as email digests.

    Secrets come from the environment only: PUBLISHER_SMTP_PASSWORD, PUBLISHER_SECRET_KEY.
    """
    ctx.obj = App(config_path)
    ctx.call_on_close(ctx.obj.close)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except LockedError as exc:
        report(exc)
        sys.exit(EXIT_LOCKED)
    except DatabaseBusy as exc:  # nothing half-done: the transaction was rolled back
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except PublisherError as exc:
        report(exc)
        sys.exit(EXIT_USAGE)
    except OSError as exc:  # the environment (a disk, a folder), not a bug: still one line
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"error: {where}{exc.strerror or exc}", err=True)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


def report(exc: PublisherError) -> None:
    """One `error:` line per problem (a config file may have several)."""
    for line in str(exc).splitlines():
        click.echo(f"error: {line}", err=True)

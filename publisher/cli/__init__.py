"""The `publisher` command: the only place that prints, and where errors become exit codes.

Exit codes: 0 success; 1 finished, but some input failed (a seed, a recipient); 2 bad usage,
configuration or state (nothing was done); 3 another publisher process holds the state database.
"""

from __future__ import annotations

import sys

import click

from ..errors import LockedError, PublisherError
from .app import App
from .digests import digest, send_digests, subscribers
from .daemon import run, status, tick
from .feeds import articles, build_feeds, ingest
from .web import serve

EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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


for command in (build_feeds, ingest, articles):
    cli.add_command(command)
for command in (run, tick, status):
    cli.add_command(command)
for command in (subscribers, send_digests, digest):
    cli.add_command(command)
cli.add_command(serve)


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
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_LOCKED)
    except PublisherError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)

"""`publisher serve`: the web app on waitress."""

from __future__ import annotations

import logging
import sys
from typing import Callable, Iterable

import click

from ..config import public_url_warnings
from .app import App, pass_app
from .logs import formatter, log_format_option


def _configure_logging(log_format: str = "text") -> None:
    """Access log and app events as lines on stderr (the only place the server prints): plain
    text, or one JSON object per line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format, "%(message)s"))
    access = logging.getLogger("publisher.web.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False
    events = logging.StreamHandler(sys.stderr)
    events.setFormatter(formatter(log_format, "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("publisher.web", "waitress"):
        logger = logging.getLogger(name)
        logger.addHandler(events)
        logger.setLevel(logging.INFO)


class _Deferred:
    """The WSGI app, set once the server has its address (the app's links depend on it)."""

    app: Callable[..., Iterable[bytes]]

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:  # type: ignore[type-arg]
        return self.app(environ, start_response)


@click.command("serve")
@click.option("--host", default=None, metavar="ADDRESS",
              help="Address to listen on (default: web.host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port to listen on (default: web.port, 8080; 0 picks a free one).")
@log_format_option
@pass_app
def serve(app: App, host: str | None, port: int | None, log_format: str) -> None:
    """Serve the feeds, the web archive and the subscribe / manage / unsubscribe pages.

    Feeds are the files under the feeds folder (run build-feeds to write them), at /feeds/.
    Links in pages and mails use web.public_url. Needs PUBLISHER_SECRET_KEY. Stops gracefully
    on SIGTERM or Ctrl-C: requests in flight are finished first.
    """
    from ..web import Server, create_app, serve_until_signalled  # noqa: PLC0415 - Flask loads only here

    settings = app.settings
    web = settings.web
    deferred = _Deferred()  # listen first: a busy port or a wrong address fails before anything
    server = Server(deferred, host or web.host, web.port if port is None else port,
                    threads=web.threads, max_request_bytes=web.max_request_bytes)
    settings = settings.serving(server.host, server.port)  # an unset public url follows them
    web = settings.web
    deferred.app = create_app(settings, app.engine, now=app.now)
    _configure_logging(log_format)
    for warning in public_url_warnings(settings, server.host, server.port):
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"serving {settings.site.title} on {server.url} (public url {web.public_url}); "
               f"feeds from {settings.feeds_dir}", err=True)
    signal_name = serve_until_signalled(server)
    click.echo(f"stopped ({signal_name})", err=True)

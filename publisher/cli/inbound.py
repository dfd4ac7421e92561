"""`publisher inbound`: act on the bounces, complaints and mailto unsubscribes that came back."""

from __future__ import annotations

import sys

import click

from .app import App, pass_app


@click.command("inbound")
@click.option("--maildir", metavar="PATH", default=None, help="Read this Maildir folder.")
@click.option("--mbox", metavar="PATH", default=None, help="Read this mbox file.")
@click.option("--imap", "imap_url", metavar="URL", default=None,
              help="Read this IMAP folder: imaps://user@host[:port]/FOLDER "
              "(password from PUBLISHER_IMAP_PASSWORD).")
@pass_app
def inbound(app: App, maildir: str | None, mbox: str | None, imap_url: str | None) -> None:
    """Read what came back to the bounce and unsubscribe addresses and act on it.

    DSN bounces (5.x.x hard: the subscriber is `bouncing` after mail.bounce_after digests in a
    row; 4.x.x soft: counted), non-standard bounces, ARF spam complaints (`complained` at once),
    mailto unsubscribes. Auto-replies and not-spam reports are filed away unchanged. Each
    acted-on message is moved to the processed folder (inbound.processed_folder) and recorded
    by Message-ID, so none is acted on twice, even after a crash. Anything unrecognised is left
    in place, one line on stderr saying why. Without an option: the mailbox of [inbound].
    Exits 0 (also when some were left in place), 2 when the mailbox cannot be read.
    """
    from .. import inbound as inbound_mail  # noqa: PLC0415 - imaplib etc. only when needed

    if sum(1 for v in (maildir, mbox, imap_url) if v) > 1:
        click.echo("error: give one of --maildir, --mbox, --imap", err=True)
        sys.exit(2)
    if imap_url:
        from ..config import mailbox_url  # noqa: PLC0415

        try:
            mailbox_url(imap_url)
        except ValueError as exc:
            click.echo(f"error: --imap {exc}", err=True)
            sys.exit(2)
    source = inbound_mail.open_source(app.settings, maildir=maildir, mbox=mbox,
                                      imap_url=imap_url)
    report = inbound_mail.run_inbound(app.engine, app.settings, source, app.now())
    for line in report.changes:
        click.echo(line)
    for line in report.left:
        click.echo(f"left in place: {line}", err=True)
    click.echo(report.summary())

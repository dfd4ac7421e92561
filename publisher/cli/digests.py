"""Commands for mail: `subscribers add/remove/list/import/export`, `send-digests`,
`digest preview`."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import click

from .. import sending
from .. import subscriptions
from ..fsutil import write_atomic
from ..model import CADENCES, SUBSCRIBER_STATUSES
from .app import App, pass_app
from .progress import Progress

PROGRESS_MIN = 50  # a bar or progress lines from this many items


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


# --- subscribers -------------------------------------------------------------------------------

@click.group("subscribers")
def subscribers() -> None:
    """Manage who gets the email digests.

    Addresses are validated (no DNS lookups) and stored normalised; they are matched without
    regard to case, so one address is never subscribed twice. A bouncing or complained address
    is never made active again here: only by the reader's own fresh confirmation on the web.
    """


@subscribers.command("add")
@click.argument("email")
@click.option("--name", default="", help="The subscriber's name, used in the greeting.")
@click.option("--cadence", type=click.Choice(CADENCES), default=subscriptions.DEFAULT_CADENCE,
              show_default=True, help="How often they get a digest.")
@click.option("--category", "categories", multiple=True, metavar="NAME",
              help="Only articles of this category (repeat for several; default: all).")
@click.option("--allow-new-category", is_flag=True,
              help="Accept a category that no article has yet.")
@pass_app
def add(app: App, email: str, name: str, cadence: str, categories: tuple[str, ...],
        allow_new_category: bool) -> None:
    """Subscribe EMAIL as `active` right away (the operator vouches for the address).

    An address that is known but pending or unsubscribed is reactivated with these settings.
    A category must be one that an article has (matched without regard to case), unless
    --allow-new-category. Exits 1 when the address is invalid, already active, bouncing or
    complained, or a category is unknown.
    """
    cats = subscriptions.normalise_categories(categories)
    try:
        with app.engine.begin() as conn:
            action, sub = subscriptions.add(conn, email, name=name, cadence=cadence,
                                            categories=cats, now=app.now(),
                                            allow_new_category=allow_new_category)
    except subscriptions.SubscriptionError as exc:
        _fail(str(exc))
    if action == "reactivated":
        click.echo(f"reactivated {sub.email} ({cadence})")
    else:
        cats = sub.categories
        click.echo(f"subscribed {sub.email} ({cadence}{'; ' + ', '.join(cats) if cats else ''})")


@subscribers.command("remove")
@click.argument("email")
@click.option("--delete", "erase", is_flag=True,
              help="Erase the subscriber and their delivery history instead of marking them "
              "unsubscribed.")
@pass_app
def remove(app: App, email: str, erase: bool) -> None:
    """Unsubscribe EMAIL: marked `unsubscribed` (kept, so the history stays and no digest is
    sent again); with --delete the record and its delivery rows are erased.

    Exits 1 when the address is not known.
    """
    try:
        with app.engine.begin() as conn:
            found = subscriptions.remove(conn, email, app.now(), erase=erase)
    except subscriptions.SubscriptionError as exc:
        _fail(str(exc))
    click.echo(f"{'deleted' if erase else 'unsubscribed'} {found.email}")


@subscribers.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print full records as a JSON array.")
@click.option("--status", type=click.Choice(SUBSCRIBER_STATUSES), default=None,
              help="Only subscribers with this status.")
@pass_app
def list_subscribers(app: App, as_json: bool, status: str | None) -> None:
    """List subscribers by id: address, status, cadence, categories, name."""
    from ..store import subscribers as subscriber_store  # noqa: PLC0415

    with app.engine.begin() as conn:
        if as_json:
            click.echo("[", nl=False)
            for n, s in enumerate(subscriber_store.iter_subscribers(conn, status=status)):
                prefix = "," if n else ""
                click.echo(prefix + "\n  " + json.dumps(subscriptions.as_dict(s),
                                                        ensure_ascii=False), nl=False)
            click.echo("\n]")
            return
        for s in subscriber_store.iter_subscribers(conn, status=status):
            cats = ",".join(s.categories) or "all"
            click.echo(f"{s.email}\t{s.status}\t{s.cadence}\t{cats}\t{s.name}")


@subscribers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--allow-new-category", is_flag=True,
              help="Accept categories that no article has yet.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@pass_app
def import_subscribers(app: App, file: Path, allow_new_category: bool, as_json: bool) -> None:
    """Add subscribers from a CSV file: our own format (`email,name,cadence,categories,status`,
    as written by `export`) or an export of Mailchimp, Substack, Ghost or listmonk, recognised
    by its header.

    Ours: `categories` is a `;`-separated list (empty: all); an empty cadence means daily; an
    empty status means active. The others: their statuses are kept (unsubscribed, cleaned,
    bounced, complained, disabled or blocklisted addresses are never imported as active).
    A row with a category that no article has is bad, unless --allow-new-category.
    Each bad row is reported on stderr as FILE:LINE: reason and skipped; the rest are imported.
    Addresses already known are left unchanged, except that an export saying one is
    unsubscribed, cleaned or complained suppresses it. Exits 1 if any row was bad.
    """
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"{file}: cannot read: {exc}")
    try:
        with app.engine.begin() as conn, Progress("Importing", "subscribers import",
                                                  minimum=PROGRESS_MIN) as progress:
            progress.total(max(0, len(text.splitlines()) - 1))  # rows, near enough
            report = subscriptions.import_export(conn, text, app.now(), progress=progress.done,
                                                 allow_new_category=allow_new_category)
    except subscriptions.SubscriptionError as exc:
        _fail(f"{file}:{exc}")  # "1: the header ..."
    for problem in report.problems:
        click.echo(f"{file}:{problem}", err=True)
    if as_json:
        click.echo(json.dumps({
            "file": str(file), "format": report.format, "imported": report.imported,
            "added": report.added, "known": report.known, "suppressed": report.suppressed,
            "problems": [f"{file}:{p}" for p in report.problems],
        }, indent=2))
    else:
        click.echo(report.summary())
    sys.exit(1 if report.problems else 0)


@subscribers.command("export")
@pass_app
def export_subscribers(app: App) -> None:
    """Write every subscriber as CSV to stdout (`email,name,cadence,categories,status`),
    readable by `subscribers import`."""
    out = csv.writer(sys.stdout, lineterminator="\n")
    with app.engine.begin() as conn:
        for row in subscriptions.export_rows(conn):
            out.writerow(row)


# --- sending -----------------------------------------------------------------------------------

@click.command("send-digests")
@click.option("--cadence", type=click.Choice(CADENCES), default=None,
              help="Only subscribers with this cadence, all of them now (the schedule decides "
              "when). Default: every cadence, each subscriber when due (daily: 20 h after the "
              "last digest, weekly: 6.5 days).")
@click.option("--dry-run", is_flag=True, help="Count what would be sent; send and record nothing.")
@click.option("--explain", is_flag=True,
              help="With --dry-run: one line per subscriber saying what would be sent, or why "
              "nothing (not due, nothing new, no matching category, suppressed).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@pass_app
def send_digests(app: App, cadence: str | None, dry_run: bool, explain: bool,
                 as_json: bool) -> None:
    """Send every due digest (mail.sender: outbox folder or SMTP) and print a summary.

    Each subscriber gets the articles taken in since their last digest that match their
    categories; nothing new, no mail. Deliveries are recorded in a ledger: a killed run is safely
    resumed by running this again. Failed deliveries are printed on stderr, one line each.
    Exits 1 when any delivery failed or sending had to stop.
    Needs PUBLISHER_SECRET_KEY (for the unsubscribe links) and, for SMTP with a username,
    PUBLISHER_SMTP_PASSWORD.
    """
    if explain and not dry_run:
        click.echo("error: --explain goes with --dry-run", err=True)
        sys.exit(2)
    if explain:
        for address, why in sending.explain_digests(app.engine, app.settings, app.now(),
                                                    cadence):
            click.echo(f"{address}: {why}")
    with Progress("Sending digests", "send-digests", minimum=PROGRESS_MIN) as progress:
        def advance(done: int, total: int) -> None:
            if total != progress.length:
                progress.total(total)
            progress.done(done)

        report = sending.send_digests(app.engine, app.settings, app.now(), cadence=cadence,
                                      dry_run=dry_run, progress=advance)
    for line in report.errors:
        click.echo(f"error: {line}", err=True)
    for address in report.bouncing:
        click.echo(f"warning: {address} is now bouncing: no more digests until reactivated",
                   err=True)
    if report.fatal:
        click.echo(f"error: sending stopped: {report.fatal}", err=True)
    if as_json:
        click.echo(json.dumps({
            "dry_run": report.dry_run, "sent": report.sent, "skipped": report.skipped,
            "retried": report.retried, "failed": report.failed, "planned": report.planned,
            "resumed": report.resumed, "left": report.left, "digests": report.digests,
            "errors": report.errors, "bouncing": report.bouncing, "fatal": report.fatal or None,
            "interrupted": report.interrupted,
        }, indent=2, ensure_ascii=False))
    else:
        click.echo(report.summary())
    sys.exit(0 if report.ok else 1)


@click.group("digest")
def digest() -> None:
    """Look at digests without sending them."""


@digest.command("preview")
@click.option("--subscriber", "email", metavar="EMAIL", default=None,
              help="The digest this subscriber would get now (default: a sample of the newest "
              "articles for a made-up reader).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("digest-preview"), show_default=True,
              help="Folder for digest.html, digest.txt and digest.eml.")
@pass_app
def preview(app: App, email: str | None, out_dir: Path) -> None:
    """Write digest.html, digest.txt and digest.eml of a digest; nothing is sent or recorded.

    Open digest.html in a browser, digest.eml in a mail client.
    """
    result = sending.preview_digest(app.engine, app.settings, app.now(), email)
    if result.note:
        click.echo(f"note: {result.note}", err=True)
    write_atomic(out_dir / "digest.html", result.html.encode("utf-8"))
    write_atomic(out_dir / "digest.txt", result.text.encode("utf-8"))
    write_atomic(out_dir / "digest.eml", result.eml)
    click.echo(f"{result.subject!r} for {result.recipient}: {len(result.article_ids)} articles "
               f"in {out_dir}/digest.html, digest.txt, digest.eml")


@digest.command("send-test")
@click.option("--to", "to", metavar="ADDRESS", required=True, help="Where to send the test.")
@click.option("--subscriber", "email", metavar="EMAIL", default=None,
              help="The digest this subscriber would get now (default: a sample of the newest "
              "articles).")
@pass_app
def send_test(app: App, to: str, email: str | None) -> None:
    """Send a real digest to an editor (ADDRESS) through mail.sender, without recording a
    delivery: nobody's watermark moves, and its links name no subscriber.

    Exits 1 when the server refused it, 2 when the address or the subscriber is not valid.
    """
    from ..errors import SendError  # noqa: PLC0415

    try:
        result = sending.send_test(app.engine, app.settings, app.now(), to, email)
    except subscriptions.BadAddress as exc:
        click.echo(f"error: --to: {exc}", err=True)
        sys.exit(2)
    except SendError as exc:
        click.echo(f"error: test digest not sent to {to}: {exc}", err=True)
        sys.exit(1)
    if result.note:
        click.echo(f"note: {result.note}", err=True)
    click.echo(f"sent {result.subject!r} ({len(result.article_ids)} articles) to {result.recipient}")

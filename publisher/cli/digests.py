"""Commands for mail: `subscribers add/remove/list/import/export`, `send-digests`,
`digest preview`."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import click
from email_validator import EmailNotValidError, validate_email

from .. import sending
from ..fsutil import write_atomic
from ..model import CADENCES, SUBSCRIBER_STATUSES, Subscriber
from ..store import deliveries as ledger
from ..store import subscribers as subscriber_store
from .app import App, pass_app

CSV_FIELDS = ("email", "name", "cadence", "categories", "status")
DEFAULT_CADENCE = "daily"


class BadAddress(ValueError):
    pass


def normalise_email(address: str) -> str:
    """The normalised address (no DNS lookups); ASCII only (no SMTPUTF8 support)."""
    try:
        return validate_email(address.strip(), check_deliverability=False,
                              allow_smtputf8=False).normalized
    except EmailNotValidError as exc:
        raise BadAddress(f"invalid address {address!r}: {exc}") from None


def _categories(values: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for value in values:
        for part in value.replace(";", ",").split(","):
            part = " ".join(part.split())
            if part and part.casefold() not in seen:
                seen[part.casefold()] = part
    return tuple(seen.values())


def _subscriber_dict(s: Subscriber) -> dict[str, object]:
    return {
        "id": s.id, "email": s.email, "name": s.name, "cadence": s.cadence,
        "categories": list(s.categories), "status": s.status,
        "created_at": s.created_at.isoformat(),
        "confirmed_at": s.confirmed_at.isoformat() if s.confirmed_at else None,
        "last_digest_at": s.last_digest_at.isoformat() if s.last_digest_at else None,
        "failures": s.failures,
    }


# --- subscribers -------------------------------------------------------------------------------

@click.group("subscribers")
def subscribers() -> None:
    """Manage who gets the email digests.

    Addresses are validated (no DNS lookups) and stored normalised; they are matched without
    regard to case, so one address is never subscribed twice.
    """


@subscribers.command("add")
@click.argument("email")
@click.option("--name", default="", help="The subscriber's name, used in the greeting.")
@click.option("--cadence", type=click.Choice(CADENCES), default=DEFAULT_CADENCE, show_default=True,
              help="How often they get a digest.")
@click.option("--category", "categories", multiple=True, metavar="NAME",
              help="Only articles of this category (repeat for several; default: all).")
@pass_app
def add(app: App, email: str, name: str, cadence: str, categories: tuple[str, ...]) -> None:
    """Subscribe EMAIL as `active` right away (the operator vouches for the address).

    An address that is known but unsubscribed or bouncing is reactivated with these settings.
    Exits 1 when the address is invalid or already active.
    """
    try:
        address = normalise_email(email)
    except BadAddress as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    cats = _categories(categories)
    now = app.now()
    with app.engine.begin() as conn:
        existing = subscriber_store.find_subscriber(conn, address)
        if existing is not None and existing.status == "active":
            click.echo(f"error: {existing.email} is already subscribed", err=True)
            sys.exit(1)
        if existing is not None:
            subscriber_store.set_preferences(conn, existing.id, cadence=cadence, categories=cats,
                                             name=name)
            subscriber_store.set_status(conn, existing.id, "active", now)
            click.echo(f"reactivated {existing.email} ({cadence})")
            return
        subscriber_store.add_subscriber(conn, address, name=name, cadence=cadence,
                                        categories=cats, status="active", now=now)
    click.echo(f"subscribed {address} ({cadence}"
               f"{'; ' + ', '.join(cats) if cats else ''})")


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
    with app.engine.begin() as conn:
        found = subscriber_store.find_subscriber(conn, email.strip())
        if found is None:
            click.echo(f"error: no subscriber {email.strip()}", err=True)
            sys.exit(1)
        if erase:
            ledger.forget_subscriber(conn, found.id)
            subscriber_store.delete_subscriber(conn, found.id)
            click.echo(f"deleted {found.email}")
        else:
            subscriber_store.set_status(conn, found.id, "unsubscribed", app.now())
            click.echo(f"unsubscribed {found.email}")


@subscribers.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print full records as a JSON array.")
@click.option("--status", type=click.Choice(SUBSCRIBER_STATUSES), default=None,
              help="Only subscribers with this status.")
@pass_app
def list_subscribers(app: App, as_json: bool, status: str | None) -> None:
    """List subscribers by id: address, status, cadence, categories, name."""
    with app.engine.begin() as conn:
        if as_json:
            click.echo("[", nl=False)
            for n, s in enumerate(subscriber_store.iter_subscribers(conn, status=status)):
                prefix = "," if n else ""
                click.echo(prefix + "\n  " + json.dumps(_subscriber_dict(s), ensure_ascii=False),
                           nl=False)
            click.echo("\n]")
            return
        for s in subscriber_store.iter_subscribers(conn, status=status):
            cats = ",".join(s.categories) or "all"
            click.echo(f"{s.email}\t{s.status}\t{s.cadence}\t{cats}\t{s.name}")


@subscribers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_app
def import_subscribers(app: App, file: Path) -> None:
    """Add subscribers from a CSV file with the header `email,name,cadence,categories`.

    `categories` is a `;`-separated list (empty: all); an empty cadence means daily; an optional
    `status` column (as written by `export`) is honoured, otherwise rows are imported `active`.
    Each bad row is reported on stderr as FILE:LINE: reason and skipped; the rest are imported.
    Addresses already known are left unchanged (reported as a warning). Exits 1 if any row was bad.
    """
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        click.echo(f"error: {file}: cannot read: {exc}", err=True)
        sys.exit(1)
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "email" not in [f.strip().lower() for f in reader.fieldnames]:
        click.echo(f"error: {file}:1: the header must name at least an `email` column", err=True)
        sys.exit(1)
    reader.fieldnames = [f.strip().lower() for f in reader.fieldnames]
    bad = added = known = 0
    seen: set[str] = set()
    now = app.now()
    with app.engine.begin() as conn:
        for row in reader:
            line = reader.line_num
            try:
                if None in row:
                    raise BadAddress("too many fields")
                address = normalise_email(row.get("email") or "")
                cadence = (row.get("cadence") or "").strip() or DEFAULT_CADENCE
                if cadence not in CADENCES:
                    raise BadAddress(f"unknown cadence {cadence!r} (one of {', '.join(CADENCES)})")
                status = (row.get("status") or "").strip() or "active"
                if status not in SUBSCRIBER_STATUSES:
                    raise BadAddress(f"unknown status {status!r}")
                if address.casefold() in seen:
                    raise BadAddress(f"{address} appears twice in the file")
            except BadAddress as exc:
                click.echo(f"{file}:{line}: {exc}", err=True)
                bad += 1
                continue
            seen.add(address.casefold())
            if subscriber_store.find_subscriber(conn, address) is not None:
                click.echo(f"{file}:{line}: warning: {address} is already known; left unchanged",
                           err=True)
                known += 1
                continue
            subscriber_store.add_subscriber(
                conn, address, name=" ".join((row.get("name") or "").split()), cadence=cadence,
                categories=_categories([row.get("categories") or ""]), status=status, now=now)
            added += 1
    click.echo(f"subscribers: {added} imported, {known} already known, {bad} bad rows")
    sys.exit(1 if bad else 0)


@subscribers.command("export")
@pass_app
def export_subscribers(app: App) -> None:
    """Write every subscriber as CSV to stdout (`email,name,cadence,categories,status`),
    readable by `subscribers import`."""
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(CSV_FIELDS)
    with app.engine.begin() as conn:
        for s in subscriber_store.iter_subscribers(conn):
            out.writerow([s.email, s.name, s.cadence, ";".join(s.categories), s.status])


# --- sending -----------------------------------------------------------------------------------

@click.command("send-digests")
@click.option("--cadence", type=click.Choice(CADENCES), default=None,
              help="Only subscribers with this cadence, all of them now (the schedule decides "
              "when). Default: every cadence, each subscriber when due (daily: 20 h after the "
              "last digest, weekly: 6.5 days).")
@click.option("--dry-run", is_flag=True, help="Count what would be sent; send and record nothing.")
@pass_app
def send_digests(app: App, cadence: str | None, dry_run: bool) -> None:
    """Send every due digest (mail.sender: outbox folder or SMTP) and print a summary.

    Each subscriber gets the articles taken in since their last digest that match their
    categories; nothing new, no mail. Deliveries are recorded in a ledger: a killed run is safely
    resumed by running this again. Failed deliveries are printed on stderr, one line each.
    Exits 1 when any delivery failed or sending had to stop.
    Needs PUBLISHER_SECRET_KEY (for the unsubscribe links) and, for SMTP with a username,
    PUBLISHER_SMTP_PASSWORD.
    """
    report = sending.send_digests(app.engine, app.settings, app.now(), cadence=cadence,
                                  dry_run=dry_run)
    for line in report.errors:
        click.echo(f"error: {line}", err=True)
    for address in report.bouncing:
        click.echo(f"warning: {address} is now bouncing: no more digests until reactivated",
                   err=True)
    if report.fatal:
        click.echo(f"error: sending stopped: {report.fatal}", err=True)
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

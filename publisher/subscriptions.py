"""The subscriber's life, in one place: the address rule, subscribe, confirm, preferences,
unsubscribe, bounce, complain, reactivate, import; and the one table of personal links
(confirm, manage, unsubscribe, view in browser), Message-IDs and VERP return paths, from which
the web's routes are declared too. The CLI and the web only parse and render.

Statuses: `pending` (asked, not confirmed), `active` (gets digests), `unsubscribed`, `bouncing`
(hard bounces on `mail.bounce_after` digests in a row), `complained` (a spam report).

Suppression: a `bouncing` or `complained` address is never made active again by
`subscribers add`, an import, or the manage page: only by a fresh double opt-in (a confirmation
link mailed after the suppression and clicked). A confirmation link names the status serial it
was issued at; every status change increments the serial, so a link used once (or one issued
before an unsubscribe) never applies again.

Functions taking a `Connection` run in the caller's transaction.
"""

from __future__ import annotations

import csv
import dataclasses
import hmac
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Iterable, Iterator

from . import tokens
from .addresses import subscriber_address
from .errors import PublisherError
from .model import CADENCES, SUBSCRIBER_STATUSES, Subscriber
from .store import Connection
from .store import mailloop
from .store import subscribers as subscriber_store
from .store import web as web_store

STATUSES = SUBSCRIBER_STATUSES
SUPPRESSED = ("bouncing", "complained")  # only a fresh confirmation makes these active again
DEFAULT_CADENCE = "daily"
MAX_ADDRESS_LENGTH = 254


class SubscriptionError(PublisherError):
    """A subscription change that cannot be made (one line for the operator)."""


class BadAddress(SubscriptionError):
    """Not a valid email address."""


class Suppressed(SubscriptionError):
    """The address bounced or complained: only a fresh double opt-in makes it active again."""


# --- the address and the preferences ------------------------------------------------------------

def normalise_address(raw: str) -> str:
    """The address as stored (domain lower-cased, IDNA as ASCII), or BadAddress: the one rule
    for the CLI, imports and the web. No DNS lookups; ASCII local parts only (no SMTPUTF8
    support in the senders)."""
    address = (raw or "").strip()
    if not address:
        raise BadAddress("empty address")
    if len(address) > MAX_ADDRESS_LENGTH:
        raise BadAddress(f"invalid address {address[:40]!r}...: longer than "
                         f"{MAX_ADDRESS_LENGTH} characters")
    try:
        return subscriber_address(address)
    except ValueError as exc:
        raise BadAddress(f"invalid address {address!r}: {exc}") from None


def normalise_categories(values: Iterable[str]) -> tuple[str, ...]:
    """Categories from repeated options or `;`/`,`-separated cells: trimmed, de-duplicated
    without regard to case, first spelling kept."""
    seen: dict[str, str] = {}
    for value in values:
        for part in (value or "").replace(";", ",").split(","):
            part = " ".join(part.split())
            if part and part.casefold() not in seen:
                seen[part.casefold()] = part
    return tuple(seen.values())


def check_cadence(cadence: str) -> str:
    cadence = (cadence or "").strip() or DEFAULT_CADENCE
    if cadence not in CADENCES:
        raise SubscriptionError(f"unknown cadence {cadence!r} (one of {', '.join(CADENCES)})")
    return cadence


def check_categories(conn: Connection, categories: tuple[str, ...], *,
                     allow_new: bool = False, known: list[str] | None = None) -> tuple[str, ...]:
    """The categories as the articles spell them; a category no article has is an error that
    lists the known ones, unless `allow_new` (accepting one ahead of its first article)."""
    if not categories:
        return ()
    known = web_store.categories(conn) if known is None else known
    by_key = {c.casefold(): c for c in known}
    out = []
    for category in categories:
        found = by_key.get(category.casefold())
        if found is None and not allow_new:
            raise SubscriptionError(
                f"unknown category {category!r} (known: {', '.join(known) or 'none yet'})",
                "--allow-new-category accepts one before any article has it")
        out.append(found or category)
    return tuple(dict.fromkeys(out))


# --- personal links, Message-IDs, return paths ---------------------------------------------------

# name -> (token purpose or "", the web route). The web declares its routes from this table and
# every link in a mail is built from it: one place where a link's shape is decided.
ROUTES = {
    "confirm": "/confirm/<token>",
    "manage": "/manage/<token>",
    "unsubscribe": "/unsubscribe/<token>",
    "view": "/digests/<int:digest_id>/",
    "archive": "/digests/",
}
TOKEN_PURPOSES = ("confirm", "manage", "unsubscribe")
UNSUBSCRIBE_SUBJECT = "unsubscribe-"  # mailto:...?subject=unsubscribe-<token>
VERP_PURPOSE = "verp"
VERP_MAC_HEX = 20


def path_for(name: str, **values: object) -> str:
    """A route of ROUTES with its placeholders filled: path_for("manage", token="...")."""
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), ROUTES[name])


@dataclass(frozen=True)
class PersonalLinks:
    unsubscribe_token: str
    unsubscribe_url: str
    manage_url: str
    unsubscribe_mailto: str  # full mailto: uri carrying the unsubscribe token


class Links:
    """Every personal link, Message-ID and return path of one configuration.

    `public_url`: where the web is served; `secret`: PUBLISHER_SECRET_KEY; `domain`: the
    Message-ID domain; `unsubscribe_address`: where mailto unsubscribes go; `bounce_address`:
    the envelope sender, `bounces@domain`, made `bounces+<token>@domain` per delivery.
    """

    def __init__(self, public_url: str, secret: str, domain: str, unsubscribe_address: str = "",
                 bounce_address: str = "") -> None:
        self.base = public_url.rstrip("/")
        self.secret = secret
        self.domain = domain
        self.unsubscribe_address = unsubscribe_address or f"unsubscribe@{domain}"
        self.bounce_address = bounce_address
        self._mailto = f"mailto:{self.unsubscribe_address}?subject={UNSUBSCRIBE_SUBJECT}"

    @classmethod
    def from_settings(cls, settings) -> "Links":  # type: ignore[no-untyped-def]
        return cls(settings.web.public_url, settings.secrets.secret_key,
                   settings.message_id_domain, settings.mail.unsubscribe_mailto,
                   settings.bounce_address)

    def url(self, name: str, **values: object) -> str:
        return self.base + path_for(name, **values)

    def token(self, purpose: str, value: str) -> str:
        assert purpose in TOKEN_PURPOSES or purpose == VERP_PURPOSE, purpose
        return tokens.sign(self.secret, purpose, value)

    def personal(self, subscriber_id: int) -> PersonalLinks:
        sid = str(subscriber_id)
        unsub = self.token("unsubscribe", sid)
        return PersonalLinks(unsubscribe_token=unsub,
                             unsubscribe_url=self.url("unsubscribe", token=unsub),
                             manage_url=self.url("manage", token=self.token("manage", sid)),
                             unsubscribe_mailto=self._mailto + unsub)

    def manage_url(self, subscriber_id: int) -> str:
        return self.url("manage", token=self.token("manage", str(subscriber_id)))

    def view_url(self, digest_id: int | str) -> str:
        return view_url(self.base, digest_id)

    def confirm_token(self, subscriber: Subscriber, now: datetime) -> str:
        return self.token("confirm",
                          f"{subscriber.id}:{int(now.timestamp())}:{subscriber.status_serial}")

    def confirm_url(self, subscriber: Subscriber, now: datetime) -> str:
        return self.url("confirm", token=self.confirm_token(subscriber, now))

    def message_id(self, digest_id: int | str, subscriber_id: int) -> str:
        return message_id(self.domain, digest_id, subscriber_id)

    def return_path(self, digest_id: int, subscriber_id: int) -> str:
        """The VERP envelope sender of one delivery: `bounces+<digest>-<subscriber>-<mac>@...`
        (lower-case hex: it survives servers that change the case of local parts)."""
        local, _, domain = self.bounce_address.rpartition("@")
        value = f"{digest_id}-{subscriber_id}"
        return f"{local}+{value}-{self._verp_mac(value)}@{domain}"

    def _verp_mac(self, value: str) -> str:
        key = tokens.require_secret(self.secret)
        return tokens.purpose_mac(key, VERP_PURPOSE, value).hex()[:VERP_MAC_HEX]

    def parse_return_path(self, address: str) -> tuple[int, int] | None:
        """(digest id, subscriber id) of a VERP address this configuration made, else None."""
        local = address.strip().strip("<>").rpartition("@")[0].lower()
        _, plus, tag = local.partition("+")
        match = re.fullmatch(r"(\d+)-(\d+)-([0-9a-f]+)", tag) if plus else None
        if not match:
            return None
        value = f"{match.group(1)}-{match.group(2)}"
        if not hmac.compare_digest(match.group(3), self._verp_mac(value)):
            return None
        return int(match.group(1)), int(match.group(2))

    def subscriber_id_from(self, purpose: str, token: str) -> int | None:
        """The subscriber id a manage/unsubscribe token names, or None when it is not valid."""
        try:
            value = tokens.unsign(self.secret, purpose, token)
        except tokens.BadToken:
            return None
        return int(value) if value.isdigit() and value == str(int(value)) else None


def view_url(public_url: str, digest_id: int | str) -> str:
    """The "view in browser" page of a digest; a preview (no archived digest yet) links to the
    archive of sent digests, a page that exists."""
    if isinstance(digest_id, int) or str(digest_id).isdigit():
        return public_url.rstrip("/") + path_for("view", digest_id=digest_id)
    return public_url.rstrip("/") + path_for("archive")


_MESSAGE_ID = re.compile(r"<digest-(\d+)\.(\d+)@([^>]+)>")


def message_id(domain: str, digest_id: int | str, subscriber_id: int) -> str:
    """A digest delivery's Message-ID: the same on every resend, so a duplicate is one mail."""
    return f"<digest-{digest_id}.{subscriber_id}@{domain}>"


def parse_message_id(value: str, domain: str) -> tuple[int, int] | None:
    """(digest id, subscriber id) of a Message-ID made by `message_id` for this domain."""
    match = _MESSAGE_ID.search(value or "")
    if not match or match.group(3).lower() != domain.lower():
        return None
    return int(match.group(1)), int(match.group(2))


def confirmation_message_id(domain: str, subscriber_id: int, now: datetime) -> str:
    return f"<confirm-{subscriber_id}.{int(now.timestamp())}@{domain}>"


# --- the lifecycle ----------------------------------------------------------------------------

def find(conn: Connection, address: str) -> Subscriber | None:
    try:
        return subscriber_store.find_subscriber(conn, normalise_address(address))
    except BadAddress:
        return subscriber_store.find_subscriber(conn, address.strip())


def get(conn: Connection, subscriber_id: int) -> Subscriber | None:
    return subscriber_store.get_subscriber(conn, subscriber_id)


def add(conn: Connection, address: str, *, name: str, cadence: str,
        categories: tuple[str, ...], now: datetime,
        allow_new_category: bool = False) -> tuple[str, Subscriber]:
    """The operator subscribes an address as `active` (they vouch for it): ("subscribed" |
    "reactivated", the subscriber). A pending or unsubscribed address is reactivated; an active
    one is an error; a bouncing or complained one raises Suppressed."""
    address = normalise_address(address)
    cadence = check_cadence(cadence)
    categories = check_categories(conn, categories, allow_new=allow_new_category)
    existing = subscriber_store.find_subscriber(conn, address)
    if existing is None:
        return "subscribed", subscriber_store.add_subscriber(
            conn, address, name=name, cadence=cadence, categories=categories, status="active",
            now=now)
    if existing.status == "active":
        raise SubscriptionError(f"{existing.email} is already subscribed")
    if existing.status in SUPPRESSED:
        raise Suppressed(
            f"{existing.email} is {existing.status}: it is not made active again without a "
            "fresh confirmation", "the reader can subscribe again on the web and confirm by mail")
    subscriber_store.set_preferences(conn, existing.id, cadence=cadence, categories=categories,
                                     name=name)
    subscriber_store.set_status(conn, existing.id, "active", now)
    return "reactivated", _reload(conn, existing.id)


def request(conn: Connection, address: str, *, cadence: str, categories: tuple[str, ...],
            now: datetime) -> Subscriber | None:
    """Someone asks on the web: the subscriber to mail a confirmation link to (new ones are
    `pending`; any other non-active status stays as it is until the link is used), or None when
    the address is already active (nothing changes)."""
    address = normalise_address(address)
    cadence = check_cadence(cadence)
    existing = subscriber_store.find_subscriber(conn, address)
    if existing is None:
        return subscriber_store.add_subscriber(conn, address, name="", cadence=cadence,
                                               categories=categories, status="pending", now=now)
    if existing.status == "active":
        return None
    subscriber_store.set_preferences(conn, existing.id, cadence=cadence, categories=categories)
    return _reload(conn, existing.id)


@dataclass(frozen=True)
class Confirmation:
    """A checked confirmation link: `state` is "ok" (can be used), "done" (already used, the
    subscriber is active), "expired" or "used" (outdated by a later status change)."""

    state: str
    subscriber: Subscriber | None = None
    serial: int = 0


def check_confirmation(conn: Connection, links: Links, token: str, now: datetime,
                       max_age: float) -> Confirmation | None:
    """The state of a confirmation link, or None when it is forged or malformed."""
    try:
        value = tokens.unsign(links.secret, "confirm", token)
    except tokens.BadToken:
        return None
    parts = value.split(":")
    if len(parts) == 2:
        parts.append("0")  # links mailed before the serial existed
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    subscriber_id, issued, serial = (int(p) for p in parts)
    if now.timestamp() - issued > max_age:
        return Confirmation("expired")
    found = subscriber_store.get_subscriber(conn, subscriber_id)
    if found is None:
        return None
    if found.status_serial != serial:
        return Confirmation("done" if found.status == "active" else "used", found, serial)
    return Confirmation("done" if found.status == "active" else "ok", found, serial)


def confirm(conn: Connection, confirmation: Confirmation, now: datetime) -> bool:
    """Use a checked "ok" link: the subscriber becomes active. False when the status changed
    in between (the link is then outdated)."""
    if confirmation.state != "ok" or confirmation.subscriber is None:
        return False
    return subscriber_store.activate_at_serial(conn, confirmation.subscriber.id,
                                               confirmation.serial, now)


def update_preferences(conn: Connection, subscriber_id: int, *, cadence: str | None = None,
                       categories: tuple[str, ...] | None = None, name: str | None = None) -> None:
    if cadence is not None:
        cadence = check_cadence(cadence)
    subscriber_store.set_preferences(conn, subscriber_id, cadence=cadence,
                                     categories=categories, name=name)


def unsubscribe(conn: Connection, subscriber: Subscriber, now: datetime, *,
                origin: str = "web", digest_id: int | None = None) -> bool:
    """Unsubscribe (a complained or bouncing address keeps that stronger status); True when the
    status changed."""
    if subscriber.status in ("unsubscribed", *SUPPRESSED):
        return False
    subscriber_store.set_status(conn, subscriber.id, "unsubscribed", now)
    mailloop.add_event(conn, subscriber_id=subscriber.id, digest_id=digest_id,
                       kind="unsubscribe", origin=origin, detail="", now=now)
    return True


def resubscribe(conn: Connection, subscriber: Subscriber, now: datetime) -> bool:
    """From the manage page (the link came in a mail to this address): an unsubscribed or
    pending subscriber is active again. False for a suppressed one: that takes a fresh
    confirmation (the caller mails one)."""
    if subscriber.status == "active":
        return True
    if subscriber.status in SUPPRESSED:
        return False
    subscriber_store.set_status(conn, subscriber.id, "active", now)
    return True


def remove(conn: Connection, address: str, now: datetime, *, erase: bool) -> Subscriber:
    from .store import deliveries as ledger  # noqa: PLC0415 - only erasing needs the ledger

    found = find(conn, address)
    if found is None:
        raise SubscriptionError(f"no subscriber {address.strip()}")
    if erase:
        ledger.forget_subscriber(conn, found.id)
        subscriber_store.delete_subscriber(conn, found.id)
    elif found.status != "unsubscribed":
        subscriber_store.set_status(conn, found.id, "unsubscribed", now)
    return found


def hard_bounce(conn: Connection, subscriber_id: int, now: datetime, *, bounce_after: int,
                digest_id: int | None, origin: str, detail: str) -> bool:
    """A permanent failure for one delivery. True when the subscriber is now `bouncing`.

    From the SMTP session (`origin="smtp"`), the ledger counts failures in a row (a delivered
    digest resets the count). From a bounce report (`origin="inbound"`, days later), the count
    is the number of the subscriber's latest sent digests that all hard-bounced: a sent digest
    with no report ends the streak, so reports arriving after the next digest still count."""
    found = subscriber_store.get_subscriber(conn, subscriber_id)
    if found is None:
        return False
    if origin == "inbound" and digest_id is None:
        digest_id = mailloop.latest_sent_digest(conn, subscriber_id)
    mailloop.add_event(conn, subscriber_id=subscriber_id, digest_id=digest_id,
                       kind="hard_bounce", origin=origin, detail=detail, now=now)
    if origin == "smtp":
        return subscriber_store.record_failure(conn, subscriber_id, bounce_after)
    streak = mailloop.hard_bounce_streak(conn, subscriber_id, bounce_after)
    subscriber_store.raise_failures(conn, subscriber_id, streak)
    if found.status == "active" and streak >= bounce_after:
        subscriber_store.set_status(conn, subscriber_id, "bouncing", now)
        return True
    return False


def soft_bounce(conn: Connection, subscriber_id: int, now: datetime, *,
                digest_id: int | None, origin: str, detail: str) -> None:
    """A temporary failure reported: counted (separately), the status never changes."""
    subscriber_store.record_soft_bounce(conn, subscriber_id)
    mailloop.add_event(conn, subscriber_id=subscriber_id, digest_id=digest_id,
                       kind="soft_bounce", origin=origin, detail=detail, now=now)


def complain(conn: Connection, subscriber_id: int, now: datetime, *, digest_id: int | None,
             detail: str) -> bool:
    """A spam complaint (ARF abuse report): `complained` at once, no more mail. True when the
    status changed."""
    found = subscriber_store.get_subscriber(conn, subscriber_id)
    if found is None:
        return False
    mailloop.add_event(conn, subscriber_id=subscriber_id, digest_id=digest_id,
                       kind="complaint", origin="inbound", detail=detail, now=now)
    if found.status == "complained":
        return False
    subscriber_store.set_status(conn, subscriber_id, "complained", now)
    return True


def _reload(conn: Connection, subscriber_id: int) -> Subscriber:
    found = subscriber_store.get_subscriber(conn, subscriber_id)
    assert found is not None
    return found


# --- imports ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportRow:
    line: int
    email: str
    name: str
    cadence: str
    categories: tuple[str, ...]
    status: str


@dataclass
class ImportReport:
    format: str = "publisher"
    added: dict[str, int] = field(default_factory=dict)  # status -> new subscribers
    known: int = 0  # already known, left unchanged
    suppressed: int = 0  # already known, set unsubscribed/bouncing/complained by the export
    problems: list[str] = field(default_factory=list)  # "LINE: reason", one per bad row

    @property
    def imported(self) -> int:
        return sum(self.added.values())

    def summary(self) -> str:
        by_status = ", ".join(f"{n} {status}" for status, n in sorted(self.added.items()))
        return (f"subscribers ({self.format} export): {self.imported} imported"
                f"{' (' + by_status + ')' if by_status else ''}, {self.known} already known, "
                f"{self.suppressed} known and now suppressed, {len(self.problems)} bad rows")


# Each export format: how to recognise its header, and how to read one row into
# (email, name, status, categories). Statuses map onto ours; nothing that an export says is
# unsubscribed, cleaned, bounced or complained is ever imported as `active`.
def _truthy(value: str) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes", "y", "t")


def _mailchimp(row: dict[str, str]) -> tuple[str, str, str, str]:
    name = " ".join(p for p in (row.get("first name", ""), row.get("last name", "")) if p)
    status = (row.get("status") or "").strip().lower()
    reason = (row.get("unsub_reason") or "").lower()
    if not status:  # the per-status files of "Export audience" differ by their columns
        status = ("cleaned" if row.get("clean_time") else
                  "unsubscribed" if row.get("unsub_time") else "subscribed")
    if status == "unsubscribed" and ("abuse" in reason or "spam" in reason):
        status = "complained"
    mapped = {"subscribed": "active", "unsubscribed": "unsubscribed", "cleaned": "bouncing",
              "pending": "pending", "complained": "complained", "transactional": "unsubscribed",
              "archived": "unsubscribed", "nonsubscribed": "unsubscribed"}
    return row.get("email address", ""), name, mapped.get(status, f"?{status}"), ""


def _substack(row: dict[str, str]) -> tuple[str, str, str, str]:
    status = "unsubscribed" if _truthy(row.get("email_disabled", "")) else "active"
    return row.get("email", ""), row.get("name", ""), status, ""


def _ghost(row: dict[str, str]) -> tuple[str, str, str, str]:
    subscribed = row.get("subscribed_to_emails", "")
    status = "active" if _truthy(subscribed) else "unsubscribed"
    if (row.get("deleted_at") or "").strip():
        status = "unsubscribed"
    return row.get("email", ""), row.get("name", ""), status, ""


def _listmonk(row: dict[str, str]) -> tuple[str, str, str, str]:
    status = (row.get("status") or "").strip().lower()
    mapped = {"enabled": "active", "disabled": "unsubscribed", "blocklisted": "unsubscribed"}
    return row.get("email", ""), row.get("name", ""), mapped.get(status, f"?{status}"), ""


def _ours(row: dict[str, str]) -> tuple[str, str, str, str]:
    status = (row.get("status") or "").strip().lower() or "active"
    if status not in STATUSES:
        status = f"?{status}"
    return row.get("email", ""), row.get("name", ""), status, row.get("categories", "")


EXPORT_FORMATS = (  # (name, columns that identify it, reader), tried in order
    ("mailchimp", ("email address",), _mailchimp),
    ("substack", ("email", "active_subscription"), _substack),
    ("ghost", ("email", "subscribed_to_emails"), _ghost),
    ("listmonk", ("uuid", "email", "status", "attributes"), _listmonk),
    ("publisher", ("email",), _ours),
)


def read_export(text: str) -> tuple[str, Iterator[ImportRow | tuple[int, str]]]:
    """(format name, rows): each an ImportRow, or (line, reason) for a bad one. Raises
    SubscriptionError when the header names no email column."""
    reader = csv.DictReader(io.StringIO(text))
    header = [(f or "").strip().lower() for f in (reader.fieldnames or [])]
    for name, needed, read in EXPORT_FORMATS:
        if all(column in header for column in needed):
            break
    else:
        raise SubscriptionError("1: the header must name an email column (`email`, or "
                                "`Email Address` in a Mailchimp export)")
    reader.fieldnames = header
    cadence_column = name == "publisher"

    def rows() -> Iterator[ImportRow | tuple[int, str]]:
        seen: set[str] = set()
        for row in reader:
            line = reader.line_num
            try:
                if None in row:
                    raise SubscriptionError("too many fields")
                cells = {k: (v or "").strip() for k, v in row.items()}
                raw_email, person, status, cats = read(cells)
                if status.startswith("?"):
                    raise SubscriptionError(f"unknown status {status[1:]!r}")
                address = normalise_address(raw_email)
                cadence = check_cadence(cells.get("cadence", "") if cadence_column else "")
                if address.casefold() in seen:
                    raise SubscriptionError(f"{address} appears twice in the file")
            except SubscriptionError as exc:
                yield (line, str(exc))
                continue
            seen.add(address.casefold())
            yield ImportRow(line=line, email=address, name=" ".join(person.split()),
                            cadence=cadence, categories=normalise_categories([cats]),
                            status=status)

    return name, rows()


def import_export(conn: Connection, text: str, now: datetime,
                  progress: Callable[[int], None] | None = None, *,
                  allow_new_category: bool = False) -> ImportReport:
    """Import a CSV export (ours, Mailchimp, Substack, Ghost, listmonk). New addresses get the
    export's status; a known address is left unchanged, except that an export saying it is
    unsubscribed, cleaned or complained suppresses an active or pending one (an import never
    makes anyone active who is not)."""
    fmt, rows = read_export(text)
    report = ImportReport(format=fmt)
    known = web_store.categories(conn)
    for done, item in enumerate(rows, 1):
        if progress is not None:
            progress(done)
        if isinstance(item, tuple):
            report.problems.append(f"{item[0]}: {item[1]}")
            continue
        existing = subscriber_store.find_subscriber(conn, item.email)
        if existing is None:
            try:  # (a known address is left as it is, categories and all)
                item = dataclasses.replace(item, categories=check_categories(
                    conn, item.categories, allow_new=allow_new_category, known=known))
            except SubscriptionError as exc:
                report.problems.append(f"{item.line}: {exc}")
                continue
            subscriber_store.add_subscriber(conn, item.email, name=item.name,
                                            cadence=item.cadence, categories=item.categories,
                                            status=item.status, now=now)
            report.added[item.status] = report.added.get(item.status, 0) + 1
        elif (item.status in ("unsubscribed", *SUPPRESSED)
              and existing.status in ("active", "pending")):
            subscriber_store.set_status(conn, existing.id, item.status, now)
            report.suppressed += 1
        else:
            report.known += 1
    return report


def export_rows(conn: Connection) -> Iterator[list[str]]:
    """Our CSV format, header first: readable by `import_export`."""
    yield ["email", "name", "cadence", "categories", "status"]
    for s in subscriber_store.iter_subscribers(conn):
        yield [s.email, s.name, s.cadence, ";".join(s.categories), s.status]


def as_dict(s: Subscriber) -> dict[str, object]:
    return {
        "id": s.id, "email": s.email, "name": s.name, "cadence": s.cadence,
        "categories": list(s.categories), "status": s.status,
        "created_at": s.created_at.isoformat(),
        "confirmed_at": s.confirmed_at.isoformat() if s.confirmed_at else None,
        "last_digest_at": s.last_digest_at.isoformat() if s.last_digest_at else None,
        "failures": s.failures, "soft_bounces": s.soft_bounces,
    }


def rates(conn: Connection, now: datetime, days: int = 30) -> dict[str, object]:
    """Bounce and complaint rates over the last `days` days, with the warnings of the mailbox
    providers' thresholds (2% bounces, 0.1% complaints)."""
    counts = mailloop.rates_since(conn, now - timedelta(days=days))
    sent = counts["sent"]
    bounce_rate = counts["hard_bounces"] / sent if sent else 0.0
    complaint_rate = counts["complaints"] / sent if sent else 0.0
    warnings = []
    if bounce_rate > BOUNCE_WARNING:
        warnings.append(f"bounce rate {bounce_rate:.2%} over {days} days is above "
                        f"{BOUNCE_WARNING:.0%}: mailbox providers will send digests to spam")
    if complaint_rate > COMPLAINT_WARNING:
        warnings.append(f"complaint rate {complaint_rate:.2%} over {days} days is above "
                        f"{COMPLAINT_WARNING:.1%}: Gmail and Yahoo throttle senders past 0.3%")
    return {"days": days, **counts, "bounce_rate": round(bounce_rate, 5),
            "complaint_rate": round(complaint_rate, 5), "warnings": warnings}


BOUNCE_WARNING = 0.02
COMPLAINT_WARNING = 0.001

"""`publisher inbound`: read what came back (a Maildir, an mbox file or an IMAP folder) and act.

For each message: classify it (`inbound_classify`, pure), map it to one delivery (the VERP
return path it was sent to, else the original's Message-ID inside it, else the failed address),
and act through `subscriptions` (hard/soft bounce, complaint, unsubscribe). The action and the
record of the message (by Message-ID, in `inbound_messages`) are one transaction; only after it
committed is the message filed away (moved to the processed folder). A run killed in between
finds the record next time and only files the message: each message is acted on once.

Unrecognised messages, and reports that name no subscriber, are left where they are, counted,
with one line each saying why. Nothing is ever deleted unread: Maildir files are renamed into
the processed Maildir++ folder, mbox messages are moved to `<file>.processed`, IMAP messages
are moved (MOVE, or COPY then delete) to the processed folder.
"""

from __future__ import annotations

import hashlib
import imaplib
import mailbox
import os
import re
import socket
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator, Protocol
from urllib.parse import unquote, urlsplit

from . import subscriptions
from .config import Settings
from .errors import PublisherError
from .inbound_classify import Verdict, classify
from .store import Connection, Database
from .store import mailloop
from .store import subscribers as subscriber_store

ACTED = ("hard_bounce", "soft_bounce", "complaint", "unsubscribe")


class InboundError(PublisherError):
    """The mailbox cannot be read (missing folder, login refused, server unreachable)."""


@dataclass
class InboundReport:
    counts: dict[str, int] = field(default_factory=dict)  # verdict kind -> messages
    already: int = 0  # acted on by an earlier run (only filed away now)
    left: list[str] = field(default_factory=list)  # one line per message left in place
    changes: list[str] = field(default_factory=list)  # one line per status change

    def count(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def summary(self) -> str:
        c = self.counts
        return (f"inbound: {sum(c.values())} messages: {c.get('hard_bounce', 0)} hard bounces, "
                f"{c.get('soft_bounce', 0)} soft bounces, {c.get('complaint', 0)} complaints, "
                f"{c.get('unsubscribe', 0)} unsubscribes, "
                f"{c.get('ignored', 0) + c.get('not_spam', 0)} ignored, "
                f"{len(self.left)} left in place, {self.already} already processed")


# --- acting on one message ----------------------------------------------------------------

def message_key(data: bytes, verdict: Verdict) -> str:
    """The message's own Message-ID, else a hash of its bytes."""
    if verdict.message_id:
        return verdict.message_id[:300]
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Target:
    subscriber_id: int
    digest_id: int | None
    how: str  # "return path", "Message-ID", "address", "token"


def find_target(conn: Connection, links: subscriptions.Links, verdict: Verdict) -> Target | None:
    """The one delivery (or at least the subscriber) a report is about."""
    if verdict.kind == "unsubscribe":
        found = links.subscriber_id_from("unsubscribe", verdict.token)
        return Target(found, None, "token") if found is not None else None
    for address in verdict.delivered_to:
        pair = links.parse_return_path(address)
        if pair is not None and subscriber_store.get_subscriber(conn, pair[1]) is not None:
            return Target(pair[1], pair[0], "return path")
    for value in verdict.original_ids:
        pair = subscriptions.parse_message_id(value, links.domain)
        if pair is not None and subscriber_store.get_subscriber(conn, pair[1]) is not None:
            return Target(pair[1], pair[0], "Message-ID")
    for address in verdict.recipients:
        found = subscriptions.find(conn, address)
        if found is not None:
            return Target(found.id, None, "address")
    return None


def process(db: Database, settings: Settings, data: bytes, now: datetime,
            report: InboundReport, links: subscriptions.Links | None = None, *,
            where: str = "") -> bool:
    """Act on one message; True when it is done with (to be filed away), False when it is left
    in place (its line, naming `where` it is and its Message-ID, is in `report.left`)."""
    links = links or subscriptions.Links.from_settings(settings)
    verdict = classify(data)
    key = message_key(data, verdict)
    named = f"{where} ({key})" if where else key
    if verdict.kind == "unrecognised":
        report.count("unrecognised")
        report.left.append(f"{named}: {verdict.reason}")
        return False
    with db.begin() as conn:
        if mailloop.inbound_seen(conn, key):
            report.already += 1
            return True
        target = find_target(conn, links, verdict) if verdict.kind in ACTED else None
        if verdict.kind in ACTED and target is None:
            report.count("unrecognised")
            why = ("an unsubscribe whose token is not valid" if verdict.kind == "unsubscribe"
                   else f"{verdict.reason}; it names no subscriber")
            report.left.append(f"{named}: {why}")
            return False
        if not mailloop.claim_inbound(conn, key, verdict.kind, verdict.reason, now):
            report.already += 1  # another process got there first
            return True
        report.count(verdict.kind)
        if target is not None:
            line = _act(conn, settings, verdict, target, now)
            if line:
                report.changes.append(line)
    return True


def _act(conn: Connection, settings: Settings, verdict: Verdict, target: Target,
         now: datetime) -> str:
    sub = subscriber_store.get_subscriber(conn, target.subscriber_id)
    assert sub is not None
    detail = f"{verdict.reason} (matched by {target.how})"
    if verdict.kind == "hard_bounce":
        if subscriptions.hard_bounce(conn, sub.id, now, bounce_after=settings.mail.bounce_after,
                                     digest_id=target.digest_id, origin="inbound", detail=detail):
            return f"{sub.email} is now bouncing: {verdict.reason}"
    elif verdict.kind == "soft_bounce":
        subscriptions.soft_bounce(conn, sub.id, now, digest_id=target.digest_id,
                                  origin="inbound", detail=detail)
    elif verdict.kind == "complaint":
        if subscriptions.complain(conn, sub.id, now, digest_id=target.digest_id, detail=detail):
            return f"{sub.email} complained: no more digests"
    elif verdict.kind == "unsubscribe":
        if subscriptions.unsubscribe(conn, sub, now, origin="mailto"):
            return f"{sub.email} unsubscribed by mail"
    return ""


def run_inbound(db: Database, settings: Settings, source: "Source", now: datetime) -> InboundReport:
    """Every message of the source, each acted on once and then filed away."""
    report = InboundReport()
    links = subscriptions.Links.from_settings(settings)
    try:
        for message in source.messages():
            if process(db, settings, message.data, now, report, links, where=message.where):
                message.done()
    finally:
        source.close()
    return report


# --- mailboxes -------------------------------------------------------------------------------

@dataclass
class Message:
    data: bytes
    done: Callable[[], None]  # file it away (after it was acted on)
    where: str = ""  # where it is, for the operator: a file, an mbox message, an IMAP UID


class Source(Protocol):
    def messages(self) -> Iterator[Message]: ...
    def close(self) -> None: ...


class MaildirSource:
    """A Maildir; acted-on messages are renamed into the Maildir++ folder `.<processed>`."""

    def __init__(self, path: Path, processed: str) -> None:
        if not (path / "cur").is_dir() or not (path / "new").is_dir():
            raise InboundError(f"{path}: not a Maildir (no cur/ and new/ folders)",
                               "give the folder that holds cur/, new/ and tmp/")
        self.path = path
        self.target = path / f".{processed}"

    def messages(self) -> Iterator[Message]:
        for sub in ("new", "cur"):
            for name in sorted(os.listdir(self.path / sub)):
                if name.startswith("."):
                    continue
                file = self.path / sub / name
                try:
                    data = file.read_bytes()
                except FileNotFoundError:  # moved meanwhile
                    continue
                yield Message(data, lambda file=file: self._move(file), str(file))

    def _move(self, file: Path) -> None:
        for sub in ("cur", "new", "tmp"):
            (self.target / sub).mkdir(parents=True, exist_ok=True)
        base = file.name.split(":2,")[0]
        flags = file.name.split(":2,")[1] if ":2," in file.name else ""
        os.replace(file, self.target / "cur" / f"{base}:2,{''.join(sorted(set(flags + 'S')))}")

    def close(self) -> None:
        pass


class MboxSource:
    """An mbox file; acted-on messages are appended to `<file>.processed`, then removed (the
    file is locked while we work, and rewritten by the mailbox module at the end)."""

    def __init__(self, path: Path, processed: str) -> None:
        if not path.is_file():
            raise InboundError(f"{path}: no such mbox file")
        self.path = path
        self.box = mailbox.mbox(path, create=False)
        self.done_box = mailbox.mbox(path.with_name(f"{path.name}.{processed}"))
        self.box.lock()
        self.remove: list[str] = []

    def messages(self) -> Iterator[Message]:
        for key in list(self.box.keys()):
            data = self.box.get_bytes(key, from_=False)
            yield Message(data, lambda key=key, data=data: self._move(key, data),
                          f"{self.path} message {int(key) + 1}")

    def _move(self, key: str, data: bytes) -> None:
        self.done_box.add(self.box.get_message(key))
        self.done_box.flush()
        self.remove.append(key)

    def close(self) -> None:
        try:
            for key in self.remove:
                self.box.discard(key)
            self.box.flush()
        finally:
            self.box.unlock()
            self.box.close()
            self.done_box.close()


class ImapSource:
    """An IMAP folder (`imaps://user@host:port/FOLDER`; `imap://` on the loopback only).
    Messages are read with BODY.PEEK (nothing marked seen); acted-on ones are moved to the
    processed folder (created if missing). The server's certificate is checked against the
    system's CAs, or only those of `ca_file` (inbound.ca_file) when given."""

    def __init__(self, url: str, password: str, processed: str, timeout: float = 30.0,
                 ca_file: Path | None = None) -> None:
        parts = urlsplit(url)
        self.folder = unquote(parts.path.lstrip("/")) or "INBOX"
        self.processed = processed
        host = parts.hostname or ""
        try:
            if parts.scheme == "imaps":
                self.imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    host, parts.port or 993, ssl_context=tls_context(ca_file), timeout=timeout)
            else:
                self.imap = imaplib.IMAP4(host, parts.port or 143, timeout=timeout)
        except ssl.SSLCertVerificationError as exc:
            hint = (f"it is not signed by a CA in inbound.ca_file {ca_file}" if ca_file else
                    "set inbound.ca_file to the PEM file of the CA that signed it")
            raise InboundError(f"{host}: the IMAP server's TLS certificate is not trusted: "
                               f"{exc.verify_message or _text(exc)}", hint) from None
        except (OSError, imaplib.IMAP4.error) as exc:
            raise InboundError(f"{host}: cannot reach the IMAP server: {exc}",
                               "check inbound.imap_url") from None
        try:
            self.imap.login(unquote(parts.username or ""), password)
        except imaplib.IMAP4.error as exc:
            self.imap.shutdown()
            raise InboundError(f"{host}: IMAP login refused for {parts.username}: "
                               f"{_text(exc)}", "check PUBLISHER_IMAP_PASSWORD") from None
        status, detail = self.imap.select(_quote(self.folder))
        if status != "OK":
            self.close()
            raise InboundError(f"{host}: no IMAP folder {self.folder!r}: {_text(detail)}")
        status, caps = self.imap.capability()  # the list after login (it grows)
        listed = caps[-1].decode("ascii", "replace").upper().split() if status == "OK" else []
        self.can_move = "MOVE" in listed
        self._created = False

    def messages(self) -> Iterator[Message]:
        status, found = self.imap.uid("SEARCH", None, "ALL")  # type: ignore[arg-type]
        if status != "OK":
            raise InboundError(f"IMAP SEARCH failed: {_text(found)}")
        for uid in (found[0] or b"").split():
            status, parts = self.imap.uid("FETCH", uid, "(BODY.PEEK[])")  # type: ignore[arg-type]
            data = next((p[1] for p in parts if isinstance(p, tuple)), None)
            if status != "OK" or not isinstance(data, bytes):
                continue
            yield Message(data, lambda uid=uid: self._move(uid),
                          f"IMAP {self.folder} UID {uid.decode('ascii', 'replace')}")

    def _move(self, uid: bytes) -> None:
        if not self._created:
            self.imap.create(_quote(self.processed))  # "already exists" is fine
            self._created = True
        if self.can_move:
            status, detail = self.imap.uid("MOVE", uid, _quote(self.processed))  # type: ignore[arg-type]
        else:
            status, detail = self.imap.uid("COPY", uid, _quote(self.processed))  # type: ignore[arg-type]
            if status == "OK":
                self.imap.uid("STORE", uid, "+FLAGS", "(\\Seen \\Deleted)")  # type: ignore[arg-type]
                self.imap.expunge()
        if status != "OK":
            raise InboundError(f"IMAP: cannot move a message to {self.processed!r}: "
                               f"{_text(detail)}")

    def close(self) -> None:
        try:
            self.imap.logout()
        except (OSError, imaplib.IMAP4.error, socket.error):
            pass


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """A client context that checks certificates and host names: against the system's CAs, or
    only those in `ca_file` (a PEM file)."""
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:  # a file that holds no PEM certificate
        raise InboundError(f"inbound.ca_file {ca_file}: no CA certificate could be read from it "
                           f"({_text(exc)})", "give a PEM file of the CA that signed the IMAP "
                           "server's certificate") from None


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(value: object) -> str:
    if isinstance(value, list):
        value = b" ".join(v for v in value if isinstance(v, bytes))
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return re.sub(r"\s+", " ", str(value)).strip()


def open_source(settings: Settings, *, maildir: str | None = None, mbox: str | None = None,
                imap_url: str | None = None) -> Source:
    """The mailbox given on the command line, else the one configured in [inbound]."""
    inbound = settings.inbound
    if not (maildir or mbox or imap_url):
        maildir = settings.path(inbound.maildir) if inbound.maildir else None  # type: ignore[assignment]
        mbox = settings.path(inbound.mbox) if inbound.mbox else None  # type: ignore[assignment]
        imap_url = inbound.imap_url or None
    if maildir:
        return MaildirSource(Path(maildir), inbound.processed_folder)
    if mbox:
        return MboxSource(Path(mbox), inbound.processed_folder)
    if imap_url:
        if not settings.secrets.imap_password:
            raise InboundError("PUBLISHER_IMAP_PASSWORD is not set",
                               "export the IMAP password in the environment")
        return ImapSource(imap_url, settings.secrets.imap_password, inbound.processed_folder,
                          ca_file=settings.path(inbound.ca_file) if inbound.ca_file else None)
    raise InboundError("no inbound mailbox: give --maildir, --mbox or --imap",
                       "or set inbound.maildir, inbound.mbox or inbound.imap_url in the config")


def configured(settings: Settings) -> bool:
    i = settings.inbound
    return bool(i.maildir or i.mbox or i.imap_url)

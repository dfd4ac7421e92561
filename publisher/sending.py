"""The digest verbs: `send_digests` (plan, then deliver with a ledger) and `preview_digest`.

Exactly once, with any number of sender processes (`send-digests`, `tick`, `run`) on one store:

1. Plan, under the store's planner lock (one planner at a time, see `ledger.lock_planning`), in
   one transaction: for every due active subscriber with something new and nothing unfinished
   (queued or being sent), find or create the digest row for exactly those articles and queue
   one delivery row per (subscriber, digest), carrying the watermark the subscriber moves to
   once it is sent. A daily or weekly slot is claimed in that same transaction: a slot is
   planned once per store, by whichever process gets there first.
2. Deliver: claim a few deliveries at a time (`queued`, or `sending` with an expired lease),
   checking each subscriber's status in the claiming transaction; send; once the server
   accepted a message, and before that connection is given another one, mark it sent and move
   the watermark (results that arrive together, at most one per connection, share that
   transaction; the idempotent outbox is recorded in larger batches). Only the claim's owner
   records its outcome. Over SMTP the recording statement runs while the other connections
   go on (`ledger.submit_record_and_claim`); the connection that sent those messages waits,
   idle, until the database has committed it.

A sender killed between "accepted" and "marked sent" leaves its claims to expire
(`mail.lease_seconds`); whoever claims them next sends those messages again (at most one per
connection), with the same Message-ID (derived from the digest and subscriber ids); nobody is
skipped. `stop` ends a run the orderly way: messages in flight are finished and recorded, the
claims not yet sent are given back at once.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import math
import os
import queue
import re
import secrets
import select
import socket
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Sequence

from .store import Connection, Database

from . import subscriptions, tokens
from .config import Settings
from .digest import (PLACEHOLDERS, DigestRenderer, Personal, RenderedDigest, greeting_for,
                     select_articles)
from .errors import PublisherError, SendError
from .mail import (DkimSigner, FatalSendError, Letter, MessageTemplate, PermanentFailure,
                   Recipient, Sender, SmtpConfig, TemporaryFailure, Unavailable, make_sender)
from .model import CADENCES, Article, Subscriber
from .store import articles as article_store
from .store import deliveries as ledger
from .store import runs as run_store
from .store import subscribers as subscriber_store

# Without --cadence a subscriber is due when this long has passed since their last digest.
DUE_AFTER = {"immediate": timedelta(0), "daily": timedelta(hours=20),
             "weekly": timedelta(days=6, hours=12)}
RENDER_CACHE = 8  # rendered digests kept while sending (queued rows come grouped by digest)
CANDIDATE_CACHE = 16
CHOICE_CACHE = 4096  # article choices kept while planning (by watermark and categories)
PLAN_BATCH = 500  # deliveries queued per INSERT
SENT_BATCH = 500  # outbox deliveries recorded per transaction
CLAIM_OUTBOX = 100  # deliveries claimed at a time by the (idempotent) outbox
CLAIM_PER_CONNECTION = 2  # ... and per SMTP connection


@dataclass
class SendReport:
    sent: int = 0
    skipped: int = 0  # subscribers with nothing new (or not due)
    retried: int = 0  # attempts that failed temporarily and were tried again
    failed: int = 0  # deliveries that failed for good in this run
    planned: int = 0  # deliveries queued by this run
    resumed: int = 0  # deliveries unfinished (queued, or being sent) when this run planned
    slot_planned: bool = False  # this run planned the slot it was given
    left: int = 0  # deliveries still unfinished at the end (others' claims, unexpired leases)
    digests: int = 0  # distinct digest contents rendered (= premailer runs)
    bouncing: list[str] = field(default_factory=list)  # addresses now marked bouncing
    errors: list[str] = field(default_factory=list)  # one line per failed delivery
    fatal: str = ""  # why the run stopped early (queued rows wait for the next run)
    interrupted: bool = False  # `stop` was set: what was not sent yet stays queued
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and not self.fatal

    def summary(self) -> str:
        if self.dry_run:
            return (f"digests (dry run): {self.sent} would be sent, {self.skipped} skipped, "
                    f"{self.digests} distinct")
        return (f"digests: {self.sent} sent, {self.skipped} skipped, {self.retried} retried, "
                f"{self.failed} failed")


@dataclass(frozen=True)
class Preview:
    subject: str
    html: str
    text: str
    eml: bytes
    recipient: str
    article_ids: tuple[str, ...]
    note: str = ""


# --- small helpers shared by the verbs ---------------------------------------------------------

def message_id(settings: Settings, digest_id: int | str, subscriber_id: int) -> str:
    return subscriptions.message_id(settings.message_id_domain, digest_id, subscriber_id)


def personal_links(settings: Settings, subscriber_id: int, secret: str | None = None
                   ) -> tuple[str, str, str]:
    """(unsubscribe token, unsubscribe url, manage url) for one subscriber."""
    links = subscriptions.Links.from_settings(settings)
    if secret is not None:
        links.secret = secret
    p = links.personal(subscriber_id)
    return p.unsubscribe_token, p.unsubscribe_url, p.manage_url


def _letter(settings: Settings, rendered: RenderedDigest, now: datetime) -> Letter:
    return Letter(
        from_address=settings.mail.from_address, from_name=settings.mail.from_name,
        subject=rendered.subject, date=now, list_id=_list_id(settings),
        text=rendered.text, html=rendered.html, reply_to=settings.mail.reply_to,
        placeholders=tuple(PLACEHOLDERS.values()),
    )


def _list_id(settings: Settings) -> str:
    return f"{settings.site.title} digest <digest.{settings.message_id_domain}>"


def _personal(links: tuple[str, str, str], name: str, email: str, cadence: str) -> Personal:
    return Personal(greeting=greeting_for(name), email=email, cadence=cadence,
                    unsubscribe_url=links[1], manage_url=links[2])


class _MessageIds:
    """`message_id` with the domain looked up once (it is parsed from the config)."""

    def __init__(self, settings: Settings) -> None:
        self.domain = settings.message_id_domain

    def __call__(self, digest_id: int | str, subscriber_id: int) -> str:
        return subscriptions.message_id(self.domain, digest_id, subscriber_id)


class _Recipients:
    """`_recipient` for the send loop: what is the same for every subscriber looked up once."""

    def __init__(self, settings: Settings) -> None:
        self.links = subscriptions.Links.from_settings(settings)

    def __call__(self, digest_id: int, subscriber_id: int, email: str, name: str,
                 cadence: str) -> Recipient:
        links = self.links.personal(subscriber_id)
        personal = Personal(greeting=greeting_for(name), email=email, cadence=cadence,
                            unsubscribe_url=links.unsubscribe_url, manage_url=links.manage_url)
        return Recipient(email=email, name=name,
                         message_id=self.links.message_id(digest_id, subscriber_id),
                         unsubscribe_url=links.unsubscribe_url,
                         unsubscribe_mailto=links.unsubscribe_mailto,
                         text_values=personal.text_values(), html_values=personal.html_values())


def _recipient(settings: Settings, digest_id: int | str, subscriber_id: int, email: str,
               name: str, cadence: str, links: tuple[str, str, str]) -> Recipient:
    token, unsub_url, _ = links
    personal = _personal(links, name, email, cadence)
    mailto = subscriptions.Links.from_settings(settings).unsubscribe_address
    return Recipient(
        email=email, name=name, message_id=message_id(settings, digest_id, subscriber_id),
        unsubscribe_url=unsub_url,
        unsubscribe_mailto=f"mailto:{mailto}?subject={subscriptions.UNSUBSCRIBE_SUBJECT}{token}",
        text_values=personal.text_values(), html_values=personal.html_values(),
    )


def _signer(settings: Settings) -> DkimSigner | None:
    if not settings.mail.dkim_key_file:
        return None
    domain = settings.mail.from_address.rpartition("@")[2]
    return DkimSigner(settings.path(settings.mail.dkim_key_file), settings.mail.dkim_selector,
                      domain)


def sender_for(settings: Settings, signer: DkimSigner | None = None) -> Sender:
    """The configured sender; `signer` signs again a message converted for a server without
    8BITMIME (the conversion drops the signature)."""
    m = settings.mail
    smtp = SmtpConfig(host=m.smtp_host, port=m.smtp_port, security=m.smtp_security,
                      username=m.smtp_username, password=settings.secrets.smtp_password,
                      timeout=m.smtp_timeout)
    return make_sender(m.sender, outbox=settings.outbox_dir, smtp=smtp,
                       connections=m.connections, outbox_fsync=m.outbox_fsync,
                       resign=signer.sign if signer else None)


def _check_settings(settings: Settings) -> None:
    """The environment a send needs (the settings themselves were checked at load)."""
    tokens.require_secret(settings.secrets.secret_key)


# --- choosing what is due ----------------------------------------------------------------------

class _Candidates:
    """Articles taken in after a watermark, cached by watermark (most subscribers share one)."""

    def __init__(self, conn: Connection, settings: Settings, now: datetime) -> None:
        self.conn = conn
        self.now = now
        self.tz = settings.site_record.timezone
        self.cache: OrderedDict[datetime | None, list[Article]] = OrderedDict()
        # (watermark, first digest?, categories) -> the articles chosen (see `_articles_for`)
        self.choices: dict[tuple[datetime, bool, tuple[str, ...]], list[Article]] = {}

    def after(self, moment: datetime | None) -> list[Article]:
        if moment in self.cache:
            self.cache.move_to_end(moment)
            return self.cache[moment]
        found = article_store.articles_first_seen_after(self.conn, moment, self.now, self.tz)
        self.cache[moment] = found
        if len(self.cache) > CANDIDATE_CACHE:
            self.cache.popitem(last=False)
        return found


def _due(subscriber: Subscriber, now: datetime) -> bool:
    last = subscriber.last_digest_at
    return last is None or now - last >= DUE_AFTER.get(subscriber.cadence, timedelta(0))


def _articles_for(subscriber: Subscriber, settings: Settings, now: datetime,
                  candidates: _Candidates) -> list[Article]:
    """The articles of `subscriber`'s next digest (a list shared by the subscribers with the
    same watermark and categories: read it, do not change it)."""
    watermark = subscriber.last_digest_at or subscriber.created_at
    if watermark >= now:
        return []
    first = subscriber.last_digest_at is None
    key = (watermark, first, subscriber.categories)
    found = candidates.choices.get(key)
    if found is not None:
        return found
    backfill: Sequence[Article] = ()
    if first and settings.digest.backfill > 0:
        backfill = [a for a in candidates.after(None) if a.first_seen and a.first_seen <= watermark]
    found = select_articles(candidates.after(watermark), subscriber.categories,
                            settings.digest.max_articles, backfill, settings.digest.backfill)
    if len(candidates.choices) >= CHOICE_CACHE:
        candidates.choices.clear()
    candidates.choices[key] = found
    return found


def _subscribers(conn: Connection, cadence: str | None, busy: set[int]):  # type: ignore[no-untyped-def]
    """The active subscribers of `cadence` (every one: None) but the `busy` ones (a delivery
    queued or being sent: they get nothing new until it is done)."""
    return subscriber_store.iter_subscribers(conn, status="active", cadence=cadence, skip=busy)


# --- send_digests ------------------------------------------------------------------------------

def send_digests(
    engine: Database, settings: Settings, now: datetime, cadence: str | None = None,
    dry_run: bool = False, sender: Sender | None = None,
    sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
    renderer: DigestRenderer | None = None, stop: threading.Event | None = None,
    until: datetime | None = None, slot: datetime | None = None,
    wall: Callable[[], datetime] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SendReport:
    """Plan and send every digest that is due; return what happened.

    `cadence=None` takes every cadence, each subscriber only when due (daily: 20 h after their
    last digest, weekly: 6.5 days, immediate: always); with a cadence, every active subscriber of
    that cadence with something new (the scheduler decides when a cadence is due).

    `until` (default `now`) is the end of the period planned: articles taken in up to then, and
    the watermark subscribers move to; `now` is the send time (the Date header, the ledger's
    times). The scheduler plans a slot's period with `until=slot_at`.

    `slot`: plan the `cadence` digest of this daily/weekly slot, unless some process (this one
    or another) already did; the claim is part of the planning transaction. The queued
    deliveries are sent either way.

    `wall`: the clock leases are measured by (default: the system's UTC time). Not `now`: the
    scheduler's `now` is the slot time, and every sender of the store must agree on when a
    lease expires.

    `stop`: once set, no new delivery is taken (checked while planning and before each queued
    row); the messages in flight are finished and recorded, the rest stays queued for the next
    run, and the report says `interrupted`.

    `progress(done, total)` is called as deliveries finish (sent or failed for good).
    With a sender that is not idempotent (SMTP), the run takes no new delivery once
    `mail.run_timeout` seconds have passed: the rest stays queued and `fatal` says so.
    """
    if cadence is not None and cadence not in CADENCES:
        raise PublisherError(f"unknown cadence {cadence!r}", f"one of {', '.join(CADENCES)}")
    _check_settings(settings)
    until = now if until is None else until
    stop = stop or threading.Event()
    report = SendReport(dry_run=dry_run)
    if dry_run:
        return _dry_run(engine, settings, until, cadence, report)
    renderer = renderer or DigestRenderer(settings)
    calls_before = renderer.inline_calls
    signer = _signer(settings)
    owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    _plan(engine, settings, now, until, cadence, report, stop, owner, slot)
    if not stop.is_set():
        delivery = _Delivery(engine, settings, now, sender or sender_for(settings, signer),
                             renderer, signer, report, sleep, clock, stop, owner,
                             wall or _utc_now)
        delivery.progress = progress
        delivery.run()
        with engine.connect() as conn:
            report.left = ledger.count_unfinished(conn)
    report.interrupted = stop.is_set()
    report.digests = renderer.inline_calls - calls_before
    return report


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _plan(engine: Database, settings: Settings, now: datetime, until: datetime,
          cadence: str | None, report: SendReport, stop: threading.Event, owner: str,
          slot: datetime | None) -> None:
    ids_for = _MessageIds(settings)
    with engine.begin() as conn:
        ledger.lock_planning(conn, owner, now)  # first: the others' plans are committed
        report.resumed = ledger.count_unfinished(conn)
        if slot is not None and cadence is not None and run_store.slot_claimed(conn, cadence,
                                                                                 slot):
            return  # planned by someone else (or earlier): only deliver
        busy = ledger.subscribers_with_unfinished(conn)
        candidates = _Candidates(conn, settings, until)
        digest_ids: OrderedDict[tuple[str, ...], int] = OrderedDict()
        batch: list[ledger.Planned] = []
        for sub in _subscribers(conn, cadence, busy):
            if stop.is_set():  # what is planned so far is queued; the rest, next time
                break
            if cadence is None and not _due(sub, until):
                report.skipped += 1
                continue
            chosen = _articles_for(sub, settings, until, candidates)
            if not chosen:
                report.skipped += 1
                continue
            ids = tuple(a.id for a in chosen)
            digest_id = digest_ids.get(ids)
            if digest_id is None:
                digest_id = ledger.get_or_create_digest(conn, ids, sub.cadence, now).id
                digest_ids[ids] = digest_id
                if len(digest_ids) > 256:
                    digest_ids.popitem(last=False)
            batch.append(ledger.Planned(sub.id, digest_id, ids_for(digest_id, sub.id)))
            if len(batch) >= PLAN_BATCH:
                report.planned += ledger.plan_deliveries(conn, batch, until, now)
                batch = []
        report.planned += ledger.plan_deliveries(conn, batch, until, now)
        if slot is not None and cadence is not None and not stop.is_set():
            run_store.claim_slot(conn, cadence, slot, now)
            report.slot_planned = True


def _dry_run(engine: Database, settings: Settings, now: datetime, cadence: str | None,
             report: SendReport) -> SendReport:
    contents: set[tuple[str, ...]] = set()
    with engine.begin() as conn:
        busy = ledger.subscribers_with_unfinished(conn)
        report.sent = ledger.count_unfinished(conn)
        report.resumed = report.sent
        candidates = _Candidates(conn, settings, now)
        for sub in _subscribers(conn, cadence, busy):
            chosen = (_articles_for(sub, settings, now, candidates)
                      if cadence is not None or _due(sub, now) else [])
            if chosen:
                report.sent += 1
                contents.add(tuple(a.id for a in chosen))
            else:
                report.skipped += 1
    report.digests = len(contents)
    return report


def explain_digests(engine: Database, settings: Settings, now: datetime,
                    cadence: str | None = None) -> list[tuple[str, str]]:
    """(address, why) for every subscriber of the cadence: what a send now would do for them
    (`send-digests --dry-run --explain`); nothing is sent or recorded."""
    out: list[tuple[str, str]] = []
    with engine.begin() as conn:
        busy = ledger.subscribers_with_unfinished(conn)
        candidates = _Candidates(conn, settings, now)
        for sub in subscriber_store.iter_subscribers(conn, cadence=cadence):
            out.append((sub.email, _why(sub, settings, now, cadence, busy, candidates)))
    return out


def _why(sub: Subscriber, settings: Settings, now: datetime, cadence: str | None,
         busy: set[int], candidates: "_Candidates") -> str:
    if sub.status in subscriptions.SUPPRESSED:
        return f"suppressed: {sub.status}"
    if sub.status != "active":
        return {"pending": "not confirmed yet (pending)"}.get(sub.status, sub.status)
    if sub.id in busy:
        return "a delivery is already queued (sent by the next run)"
    if cadence is None and not _due(sub, now):
        due_at = (sub.last_digest_at or now) + DUE_AFTER.get(sub.cadence, timedelta(0))
        return f"not due: {sub.cadence}, last digest {_stamp(sub.last_digest_at)}, next from " \
            f"{_stamp(due_at)}"
    chosen = _articles_for(sub, settings, now, candidates)
    if chosen:
        return f"would get {len(chosen)} article{'s' if len(chosen) != 1 else ''}"
    watermark = sub.last_digest_at or sub.created_at
    if not candidates.after(watermark):
        since = "their last digest" if sub.last_digest_at else "they subscribed"
        return f"nothing new since {since} ({_stamp(watermark)})"
    return f"no new article in their categories ({', '.join(sub.categories)})"


def _stamp(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


@dataclass
class _Job:
    item: ledger.QueuedDelivery
    attempts: int
    data: bytes = b""
    envelope_from: str = ""  # the VERP return path of this delivery


SERVER_REFUSAL_AFTER = 5  # recipients refused the same way, none accepted: a server problem
SERVER_REFUSAL_DOMAINS = 2  # ... at at least this many recipient domains
_ADDRESSES = re.compile(r"<[^>]*>|\S+@\S+")


def _reply_key(message: str) -> str:
    """An SMTP refusal without the addresses in it: the same for every recipient when it is
    the relay speaking (`554 5.7.1 Relay access denied`), not the recipient's mailbox."""
    return " ".join(_ADDRESSES.sub("", message).split()).lower()


class _RefusalWatch:
    """A relay that refuses every recipient the same way (554 relay access denied, 451 for
    everyone) is a server problem, not bounces. Until the first message is accepted, permanent
    refusals are held back (not recorded); when `SERVER_REFUSAL_AFTER` recipients at
    `SERVER_REFUSAL_DOMAINS` or more domains got the same reply, the run stops. The first
    accepted message, or a different reply, releases what was held to be recorded as usual."""

    def __init__(self) -> None:
        self.watching = True
        self.reply = ""
        self.recipients: set[str] = set()
        self.held: list[tuple[_Job, BaseException]] = []

    def accepted(self) -> list[tuple[_Job, BaseException]]:
        """A message went through: stop watching; what was held is to be recorded."""
        self.watching = False
        held, self.held = self.held, []
        return held

    def refused(self, job: _Job, error: BaseException) -> str:
        """"record" (as usual), "hold" (a permanent refusal kept back) or "stop"."""
        if not self.watching:
            return "record"
        key = _reply_key(str(error))
        if self.reply and key != self.reply:  # replies differ: the recipients speak
            self.watching = False
            return "record"
        self.reply = key
        self.recipients.add(job.item.email.casefold())
        domains = {address.rpartition("@")[2] for address in self.recipients}
        if (len(self.recipients) >= SERVER_REFUSAL_AFTER
                and len(domains) >= SERVER_REFUSAL_DOMAINS):
            return "stop"
        if isinstance(error, PermanentFailure):
            self.held.append((job, error))
            return "hold"
        return "record"


class _Delivery:
    """The delivery loop: this thread claims deliveries, builds messages and records results;
    `connections` worker threads each hold one session (connection) and only send."""

    def __init__(self, engine: Database, settings: Settings, now: datetime, sender: Sender,
                 renderer: DigestRenderer, signer: DkimSigner | None, report: SendReport,
                 sleep: Callable[[float], None], clock: Callable[[], float],
                 stop: threading.Event, owner: str, wall: Callable[[], datetime]) -> None:
        self.engine = engine
        self.wall = wall
        self.stop = stop
        self.owner = owner
        # waiting (retry backoff, rate limit) ends early when `stop` is set
        self.wait = stop.wait if sleep is time.sleep else sleep
        self.recipient = _Recipients(settings)
        self.settings = settings
        self.now = now
        self.sender = sender
        self.renderer = renderer
        self.signer = signer
        self.report = report
        self.sleep = sleep
        self.clock = clock
        self.started = clock()
        self.lease = timedelta(seconds=settings.mail.lease_seconds)
        self.templates: OrderedDict[int, MessageTemplate | None] = OrderedDict()
        self.workers = max(1, int(getattr(sender, "connections", 1) or 1))
        self.rate = settings.mail.rate_limit
        self.next_slot = 0.0
        self.envelope_from = settings.mail.from_address
        self.links = subscriptions.Links.from_settings(settings)  # VERP return paths
        self.refusals = _RefusalWatch()
        self.transparent = False  # messages built dot-stuffed (for _PollPool)
        self.drained = False  # a claim found nothing left: no more claims this run
        # An idempotent sender (the outbox) lets us record sent rows in batches: a crash before
        # the batch is recorded only rewrites the same files. SMTP rows are recorded before the
        # connection that sent them gets another message (the results that came in together,
        # at most one per connection, in one transaction).
        self.batch_sent = bool(getattr(sender, "idempotent", False))
        self.claim_size = (CLAIM_OUTBOX if self.batch_sent
                           else CLAIM_PER_CONNECTION * self.workers)
        self.pending_sent: list[tuple[ledger.DeliveryRow, int]] = []  # (row, attempts before)
        self.pending_jobs: list[_Job] = []  # their jobs (the connections waiting for the record)
        self.recording: ledger.Recording | None = None  # a record statement in flight
        self.recording_jobs: list[_Job] = []
        self.pool: _ThreadPool | _InlinePool | _PollPool | None = None
        self.claimed: deque[ledger.QueuedDelivery] = deque()
        self.progress: Callable[[int, int], None] | None = None
        budget = settings.mail.run_timeout
        self.deadline = self.started + budget if budget > 0 and not self.batch_sent else math.inf

    def out_of_time(self) -> bool:
        """Past `mail.run_timeout`: take nothing new (said once, in the report's `fatal`)."""
        if self.clock() < self.deadline:
            return False
        if not self.report.fatal:
            self.report.fatal = (f"mail.run_timeout ({self.settings.mail.run_timeout:g} s) is "
                                 "spent; the undelivered digests stay queued for the next run")
        return True

    def advance(self) -> None:
        if self.progress is not None:
            r = self.report
            self.progress(r.sent + r.failed, max(r.planned + r.resumed, r.sent + r.failed))

    def moment(self) -> datetime:
        """The wall-clock time leases are measured by (the same for every sender)."""
        return self.wall()

    # -- claims
    def claim(self) -> bool:
        """Claim the next few deliveries (recording pending sent rows in the same transaction);
        False when there is nothing left to claim."""
        self.finish_recording(wait=True)
        while True:
            moment = self.moment()
            items, closed = ledger.record_and_claim(self.conn, self.pending_sent, self.owner,
                                                    self.now, moment, moment + self.lease,
                                                    self.claim_size)
            self.pending_sent = []
            self._recorded(self.pending_jobs)
            self.pending_jobs = []
            self.claimed.extend(items)
            if items:
                return True
            if not closed:  # (a batch of unsubscribed ones only: claim on)
                self.drained = True
                return False

    def release(self) -> None:
        """Give back the claims not sent (stopping, or a fatal error): queued for anyone."""
        self.finish_recording(wait=True)
        self.claimed.clear()
        with self.conn.begin():
            ledger.release_claims(self.conn, self.owner, self.moment())

    # -- per message
    def template(self, digest_id: int) -> MessageTemplate | None:
        if digest_id in self.templates:
            self.templates.move_to_end(digest_id)
            return self.templates[digest_id]
        with self.engine.begin() as conn:
            digest = ledger.get_digest(conn, digest_id)
            found = (article_store.get_articles(conn, digest.article_ids,
                                                self.settings.site_record.timezone)
                     if digest else {})
        live = [found[i] for i in (digest.article_ids if digest else ()) if i in found]
        template = None
        if live:
            rendered = self.renderer.render(digest_id, live, self.now)
            template = MessageTemplate(_letter(self.settings, rendered, self.now))
        self.templates[digest_id] = template
        if len(self.templates) > RENDER_CACHE:
            self.templates.popitem(last=False)
        return template

    def build(self, item: ledger.QueuedDelivery) -> bytes | str:
        """The message bytes, or why this delivery cannot be made."""
        if item.status != "active":
            return f"subscriber is {item.status}"
        template = self.template(item.delivery.digest_id)
        if template is None:
            return "every article of this digest was withdrawn"
        d = item.delivery
        recipient = self.recipient(d.digest_id, d.subscriber_id, item.email, item.name,
                                   item.cadence)
        try:
            data = template.render(recipient, stuffed=self.transparent)
        except SendError as exc:
            return str(exc)
        return self.signer.sign(data) if self.signer else data

    # -- results, one transaction each, right after the server answered
    def record(self, job: _Job, error: BaseException | None) -> float | None:
        """Record an outcome; return the delay before the next attempt, or None when done.
        Raises FatalSendError (after recording) when sending must stop."""
        d = job.item.delivery
        now = self.now
        if error is None:  # recorded by flush_sent: now (SMTP) or in batches (the outbox)
            if self.refusals.watching:
                self.record_held(self.refusals.accepted())
            self.pending_sent.append((d, job.attempts))
            self.pending_jobs.append(job)
            self.report.sent += 1
            if len(self.pending_sent) >= SENT_BATCH:
                self.flush_sent()
            return None
        owner = self.owner
        message = str(error)
        if isinstance(error, FatalSendError):  # not this recipient's fault: queued again
            with self.conn.begin():
                ledger.mark_attempt(self.conn, d.id, job.attempts, message, now, failed=False,
                                    owner=owner)
            raise error
        if isinstance(error, (PermanentFailure, TemporaryFailure)) and \
                not isinstance(error, Unavailable):
            verdict = self.refusals.refused(job, error)
            if verdict == "hold":
                return None
            if verdict == "stop":
                self.give_back_held(job)
                raise FatalSendError(
                    f"the server refused every recipient the same way ({str(error)[:120]}): "
                    "a server problem, not bounces",
                    "nothing was marked bouncing; the digests stay queued for the next run")
            self.record_held(self.refusals.accepted() if not self.refusals.watching else [])
        job.attempts += 1
        if isinstance(error, TemporaryFailure) and job.attempts < self.settings.mail.max_attempts:
            delays = self.settings.mail.retry_delays or [0.0]
            delay = delays[min(job.attempts - 1, len(delays) - 1)]
            # still ours while we wait to try again (and for a lease after that)
            until = self.moment() + timedelta(seconds=delay) + self.lease
            with self.conn.begin():
                ledger.mark_attempt(self.conn, d.id, job.attempts, message, now, failed=False,
                                    owner=owner, lease_until=until)
            self.report.retried += 1
            return delay
        if isinstance(error, Unavailable):  # server down: queued again for the next run
            with self.conn.begin():
                ledger.mark_attempt(self.conn, d.id, job.attempts, message, now, failed=False,
                                    owner=owner)
            raise FatalSendError(message, "the undelivered digests stay queued for the next run")
        if isinstance(error, TemporaryFailure) and self.refusals.watching:
            # out of tries before any message was accepted: maybe the server, not this
            # recipient; held back like a permanent refusal (recorded once it is clear)
            job.attempts -= 1
            self.refusals.held.append((job, error))
            return None
        with self.conn.begin():
            ledger.mark_attempt(self.conn, d.id, job.attempts, message, now, failed=True,
                                owner=owner)
            if isinstance(error, PermanentFailure):
                if subscriptions.hard_bounce(self.conn, d.subscriber_id, now,
                                             bounce_after=self.settings.mail.bounce_after,
                                             digest_id=d.digest_id, origin="smtp",
                                             detail=message):
                    self.report.bouncing.append(job.item.email)
        self.report.failed += 1
        self.report.errors.append(f"{job.item.email}: {message}")
        return None

    def record_held(self, held: list[tuple[_Job, BaseException]]) -> None:
        """Record the refusals held back while watching for a server-wide refusal."""
        for job, error in held:
            self.record(job, error)

    def give_back_held(self, current: _Job) -> None:
        """A server-wide refusal: the held deliveries (and this one) go back unrecorded."""
        held, self.refusals.held = self.refusals.held, []
        self.claimed.extend(job.item for job, _ in held)
        self.claimed.append(current.item)

    def flush_sent(self) -> None:
        self.finish_recording(wait=True)
        if self.pending_sent:
            ledger.mark_sent_many(self.conn, self.pending_sent, self.owner, self.now)
            self.pending_sent = []
            self._recorded(self.pending_jobs)
            self.pending_jobs = []

    # -- recording while the other connections work (SMTP through _PollPool)
    def start_recording(self, stopping: bool, lazy: bool = False) -> None:
        """Send the statement recording the pending sent rows, unless one is in flight (then
        they go with the next); the next claim rides along when few claims are left.
        `lazy`: only once it is needed, so that more rows share a statement: a connection
        waits for it (its next message is written up to the final "."), none is sending, or
        every connection has a message to record."""
        if self.recording is not None or not self.pending_sent:
            return
        pool = self.pool
        if lazy and isinstance(pool, _PollPool) and not pool.parked() and pool.busy and \
                len(self.pending_sent) < self.workers:
            return
        claim = (self.claim_size if len(self.claimed) < self.claim_size and not self.drained
                 and not stopping else 0)
        moment = self.moment()
        self.recording = ledger.submit_record_and_claim(
            self.conn, self.pending_sent, self.owner, self.now, moment, moment + self.lease,
            claim)
        self.recording_jobs, self.pending_jobs = self.pending_jobs, []
        self.pending_sent = []
        if self.recording.fileno() is None:  # (SQLite: recorded already)
            self.finish_recording(wait=False)

    def finish_recording(self, wait: bool) -> None:
        """The statement in flight, if it is done (or waiting for it): claims taken, and the
        connections of the messages it recorded free for the next ones."""
        recording = self.recording
        if recording is None or not (wait or recording.done()):
            return
        self.recording = None
        jobs, self.recording_jobs = self.recording_jobs, []
        items, closed = recording.result()
        self._recorded(jobs)
        if recording.claims:
            self.claimed.extend(items)
            if not items and not closed:
                self.drained = True

    def _recorded(self, jobs: list[_Job]) -> None:
        if jobs and isinstance(self.pool, _PollPool):
            self.pool.release(jobs)

    def fail_unbuildable(self, item: ledger.QueuedDelivery, reason: str) -> None:
        with self.conn.begin():
            ledger.mark_attempt(self.conn, item.delivery.id, item.delivery.attempts, reason,
                                self.now, failed=True, owner=self.owner)
        if item.status == "active":
            self.report.failed += 1
            self.report.errors.append(f"{item.email}: {reason}")

    def throttle(self) -> None:
        if self.rate <= 0:
            return
        now = self.clock()
        self.next_slot = max(self.next_slot, now)
        if self.next_slot > now:
            self.wait(self.next_slot - now)
        self.next_slot += 1.0 / self.rate

    # -- the loop
    def run(self) -> None:
        pool: _ThreadPool | _InlinePool | _PollPool
        if self.workers == 1:  # no thread hand-offs: build, send, record in turn
            pool = _InlinePool(self.sender, self.envelope_from)
        elif getattr(self.sender, "pollable", False):  # SMTP: no threads either
            # messages rendered dot-stuffed (a signed one is stuffed by the session)
            self.transparent = self.signer is None
            pool = _PollPool(self.sender, self.envelope_from, self.workers,
                             self.settings.mail.smtp_timeout, self.transparent,
                             hold=not self.batch_sent)
        else:
            pool = _ThreadPool(self.sender, self.envelope_from, self.workers)
        self.conn = self.engine.connect()  # one connection claims and records everything
        self.pool = pool
        try:
            self._loop(pool)
            if self.refusals.held and not self.report.fatal:  # fewer than the threshold
                self.record_held(self.refusals.accepted())
            self.flush_sent()
            self.release()
        finally:
            pool.close(max(5.0, self.settings.mail.smtp_timeout + 5))
            self.conn.close()

    def _next(self) -> ledger.QueuedDelivery | None:
        if not self.claimed and self.recording is not None and self.recording.claims:
            self.finish_recording(wait=True)  # (the claim that rode along)
        if not self.claimed and (self.drained or not self.claim()):
            return None
        return self.claimed.popleft()

    def _loop(self, pool: "_ThreadPool | _InlinePool | _PollPool") -> None:
        retries: list[tuple[float, int, _Job]] = []
        order = itertools.count()
        in_flight = 0
        # one message per connection at a time: a kill can then duplicate at most one message
        # per connection (accepted by the server, not yet marked sent)
        window = self.workers
        stopping = False
        exhausted = False
        ready: _Job | None = None  # claimed and built, not sent yet
        holding = isinstance(pool, _PollPool) and pool.hold
        while True:
            while not stopping and in_flight < window:
                if self.stop.is_set() or self.out_of_time():  # the rest is given back,
                    stopping = True  # untouched, for the next run
                    break
                job = None
                if retries and retries[0][0] <= self.clock():
                    job = heapq.heappop(retries)[2]
                elif ready is not None:
                    job, ready = ready, None
                elif not exhausted:
                    job = self._new_job()
                    if job is None:
                        exhausted = True
                        continue
                if job is None:
                    break
                self.throttle()
                if self.stop.is_set():  # set while waiting for the rate limit: not sent
                    stopping = True
                    self.claimed.appendleft(job.item)  # (given back with the rest)
                    break
                pool.put(job)
                in_flight += 1
            if in_flight == 0 and holding and pool.held():  # waiting for their records only
                self.finish_recording(wait=True)
                self.start_recording(stopping)
                continue
            if in_flight == 0:
                if stopping or (exhausted and not retries and ready is None):
                    break
                if retries:
                    self.wait(max(0.0, min(retries[0][0], self.deadline) - self.clock()))
                continue
            if ready is None and not exhausted and not stopping:
                # the next message is claimed and built while the connections are busy, so a
                # connection that finishes gets it as soon as its result is recorded
                ready = self._new_job()
                exhausted = ready is None
            if holding:  # (a message waiting for its "." needs its predecessor recorded)
                self.start_recording(stopping, lazy=True)
            results = (pool.results(self.recording.fileno() if self.recording else None)
                       if holding else pool.results())
            in_flight -= len(results)
            for job, error in results:
                try:
                    delay = self.record(job, error)
                except FatalSendError as exc:
                    stopping = True
                    self.report.fatal = self.report.fatal or str(exc)
                    continue
                if delay is not None:
                    heapq.heappush(retries, (self.clock() + delay, next(order), job))
                else:
                    self.advance()
            if holding:
                self.finish_recording(wait=False)
                self.start_recording(stopping, lazy=True)
            elif not self.batch_sent:
                if self.pending_sent and not self.claimed and not self.drained and not stopping:
                    self.claim()  # the next claim records them (one transaction, one statement)
                else:
                    self.flush_sent()
        if retries:  # stopped while these waited for another attempt: anyone's again
            self.claimed.extend(job.item for _, _, job in retries)
        if ready is not None:  # built, never sent: given back with the other claims
            self.claimed.appendleft(ready.item)

    def _new_job(self) -> _Job | None:
        """The next claimed delivery, built (the unbuildable ones recorded as failed on the
        way); None when nothing is left to claim."""
        while True:
            item = self._next()
            if item is None:
                return None
            built = self.build(item)
            if isinstance(built, str):
                self.fail_unbuildable(item, built)
                continue
            d = item.delivery
            return _Job(item, d.attempts, built,
                        self.links.return_path(d.digest_id, d.subscriber_id))


def _send(session_holder: list, sender: Sender, envelope_from: str, job: _Job):  # type: ignore[type-arg]
    try:
        if not session_holder:
            session_holder.append(sender.open())
        session_holder[0].send(job.envelope_from or envelope_from, job.item.email, job.data,
                               job.item.delivery.message_id)
        return (job, None)
    except SendError as exc:
        return (job, exc)
    except Exception as exc:  # a sender bug must not hang the loop
        return (job, TemporaryFailure(f"{type(exc).__name__}: {exc}"))


def _close_session(session_holder: list) -> None:  # type: ignore[type-arg]
    for session in session_holder:
        try:
            session.close()
        except Exception:  # noqa: BLE001 (closing is best effort)
            pass
    session_holder.clear()


class _InlinePool:
    """One session, used from the calling thread."""

    def __init__(self, sender: Sender, envelope_from: str) -> None:
        self.sender = sender
        self.envelope_from = envelope_from
        self.session: list = []  # type: ignore[type-arg]
        self.done: list = []  # type: ignore[type-arg]

    def put(self, job: _Job) -> None:
        self.done.append(_send(self.session, self.sender, self.envelope_from, job))

    def results(self):  # type: ignore[no-untyped-def]
        """The outcomes so far (at least one; put() sends at once)."""
        done, self.done = self.done, []
        return done

    def close(self, timeout: float) -> None:
        _close_session(self.session)


class _ThreadPool:
    """`n` threads, each with its own session (connection) kept open for many messages."""

    def __init__(self, sender: Sender, envelope_from: str, n: int) -> None:
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.done: queue.SimpleQueue = queue.SimpleQueue()
        self.threads = [threading.Thread(target=self._work, args=(sender, envelope_from),
                                         name=f"sender-{i}", daemon=True) for i in range(n)]
        for thread in self.threads:
            thread.start()

    def _work(self, sender: Sender, envelope_from: str) -> None:
        session: list = []  # type: ignore[type-arg]
        try:
            while (job := self.jobs.get()) is not None:
                self.done.put(_send(session, sender, envelope_from, job))
        finally:
            _close_session(session)

    def put(self, job: _Job) -> None:
        self.jobs.put(job)

    def results(self):  # type: ignore[no-untyped-def]
        """The next outcome (waiting for it) and any others already in."""
        done = [self.done.get()]
        while True:
            try:
                done.append(self.done.get_nowait())
            except queue.Empty:
                return done

    def close(self, timeout: float) -> None:
        for _ in self.threads:
            self.jobs.put(None)
        for thread in self.threads:
            thread.join(timeout=timeout)


class _PollPool:
    """`n` sessions of a pollable sender (SMTP) driven from the calling thread: `put()` writes
    a message's first commands on an idle session, `results()` waits (poll) for the replies
    and writes the next steps as they come, until at least one message is done. The same
    outcomes as `_ThreadPool`, without a thread hand-off (and a GIL switch) per message."""

    def __init__(self, sender: Sender, envelope_from: str, n: int, timeout: float,
                 transparent: bool = False, hold: bool = False) -> None:
        self.sender = sender
        # `hold`: a session whose message was accepted is held until `release()` (its caller
        # has recorded that message); meanwhile it may take the next message all but its
        # final ".", which waits for that release (`begin(hold_end=True)`): a session never
        # has two accepted messages that are not recorded.
        self.hold = hold
        # (keyed by id(job); the values keep the jobs alive, so an id is never reused meanwhile)
        self._held: dict[int, tuple[_Job, object]] = {}  # id(job) -> (job, its session)
        self._waiting: dict[int, tuple[_Job, object]] = {}  # held job -> session sending next
        self._after: dict[int, tuple[_Job, _Job]] = {}  # job -> (it, the held job it waits for)
        self._parked: dict[int, tuple[object, _Job, int]] = {}  # id(session) -> (.., job, fd)
        self.transparent = transparent  # the jobs' messages are dot-stuffed
        self.envelope_from = envelope_from
        self.timeout = timeout
        self.idle = [sender.open() for _ in range(n)]  # sessions connect on first use
        self.busy: dict[int, tuple[object, _Job, float]] = {}  # fd -> (session, job, deadline)
        self.poller = select.poll()
        self.done: list[tuple[_Job, BaseException | None]] = []

    def put(self, job: _Job) -> None:
        """Start `job` on an idle session, else on a held one (its final "." held back)."""
        if self.idle:
            session, after = self.idle.pop(), None
        else:
            _, (after, session) = self._held.popitem()
            self._waiting[id(after)] = (after, session)
            self._after[id(job)] = (job, after)
        try:
            session.begin(job.envelope_from or self.envelope_from,  # type: ignore[attr-defined]
                          job.item.email, job.data, self.transparent, hold_end=after is not None)
            fd = session.fileno()  # type: ignore[attr-defined]
        except BaseException as exc:  # noqa: BLE001 (classified as _send does)
            self._finish(session, job, exc)
            return
        self.busy[fd] = (session, job, time.monotonic() + self.timeout)
        self.poller.register(fd, select.POLLIN)

    def _finish(self, session: object, job: _Job, error: BaseException | None) -> None:
        if error is not None and not isinstance(error, SendError):
            if not isinstance(error, Exception):
                raise error
            error = TemporaryFailure(f"{type(error).__name__}: {error}")
        self.done.append((job, error))
        _, after = self._after.pop(id(job), (None, None))
        if after is not None and self._waiting.pop(id(after), None) is not None:
            # failed before its "." could go: the session is still held for that message
            self._held[id(after)] = (after, session)
        elif error is None and self.hold:
            self._held[id(job)] = (job, session)
        else:
            self.idle.append(session)

    def held(self) -> int:
        return len(self._held) + len(self._waiting)

    def parked(self) -> int:
        """Sessions waiting, all but the final "." written, for a record (see `release`)."""
        return len(self._parked)

    def release(self, jobs: list[_Job]) -> None:
        """These (accepted) jobs are recorded: their sessions may take, or end, the next."""
        for job in jobs:
            held = self._held.pop(id(job), None)
            if held is not None:
                self.idle.append(held[1])
                continue
            waiting = self._waiting.pop(id(job), None)
            if waiting is None:
                continue
            session = waiting[1]
            parked = self._parked.pop(id(session), None)
            try:
                resumed = session.release_end()  # type: ignore[attr-defined]
            except BaseException as exc:  # noqa: BLE001 (the connection is lost)
                if parked is not None:
                    self._finish(session, parked[1], exc)
                continue
            if parked is not None and resumed:
                self.busy[parked[2]] = (session, parked[1], time.monotonic() + self.timeout)
                self.poller.register(parked[2], select.POLLIN)

    def results(self, also: int | None = None):  # type: ignore[no-untyped-def]
        """The next outcomes (waiting for at least one); with `also` (a file descriptor),
        possibly none: `also` became readable first."""
        if also is not None:
            self.poller.register(also, select.POLLIN)
        try:
            return self._results(also)
        finally:
            if also is not None:
                self.poller.unregister(also)

    def _results(self, also: int | None):  # type: ignore[no-untyped-def]
        back = False  # return even with nothing done: `also` is readable, or a session parked
        while not self.done and not back:
            now = time.monotonic()
            # (no session busy: only `also` to wait for)
            wait = min((deadline for _, _, deadline in self.busy.values()),
                       default=now + self.timeout) - now
            for fd, _ in self.poller.poll(max(0, math.ceil(wait * 1000))):
                if fd == also:
                    back = True
                    continue
                session, job, _ = self.busy[fd]
                try:
                    finished = session.advance()  # type: ignore[attr-defined]
                except BaseException as exc:  # noqa: BLE001
                    self._end(fd)
                    self._finish(session, job, exc)
                    continue
                if finished:
                    self._end(fd)
                    self._finish(session, job, None)
                elif session.parked:  # type: ignore[attr-defined]
                    self._end(fd)  # (nothing to read until release() ends the message)
                    self._parked[id(session)] = (session, job, fd)
                    back = True  # (the caller is to send the record it waits for)
                else:  # (the session may have written its next step: a new deadline)
                    self.busy[fd] = (session, job, time.monotonic() + self.timeout)
            now = time.monotonic()
            for fd, (session, job, deadline) in list(self.busy.items()):
                if deadline <= now:  # no answer in time: that connection is given up
                    self._end(fd)
                    _close_session([session])
                    self._finish(session, job, TemporaryFailure("connection lost: timed out"))
        done, self.done = self.done, []
        return done

    def _end(self, fd: int) -> None:
        del self.busy[fd]
        self.poller.unregister(fd)

    def close(self, timeout: float) -> None:
        sessions = self.idle + [session for _, session in self._held.values()] + [
            session for session, _, _ in self.busy.values()] + [
            session for session, _, _ in self._parked.values()]
        self.idle, self.busy, self._held, self._parked = [], {}, {}, {}
        _close_session(sessions)


# --- preview and archive -----------------------------------------------------------------------

def preview_digest(engine: Database, settings: Settings, now: datetime,
                   subscriber_email: str | None = None, to: str | None = None) -> Preview:
    """The digest a subscriber would get now (or a sample of the newest articles), as HTML, text
    and a complete .eml; nothing is sent or recorded. With `to` (a test mail for an editor) the
    message is addressed there, with a Message-ID of its own and links that name no one."""
    renderer = DigestRenderer(settings)
    tz = settings.site_record.timezone
    note = ""
    latest: list[Article] = []
    with engine.begin() as conn:
        if subscriber_email:
            sub = subscriber_store.find_subscriber(conn, subscriber_email)
            if sub is None:
                raise PublisherError(f"no subscriber {subscriber_email}")
            chosen = _articles_for(sub, settings, now, _Candidates(conn, settings, now))
            if not chosen:
                note = f"nothing new for {sub.email}: showing the latest articles instead"
                latest = article_store.list_articles(conn, tz, 200)
                chosen = select_articles(latest, sub.categories, settings.digest.max_articles)
            if not chosen and latest:
                raise PublisherError(
                    f"no article matches the categories of {sub.email} "
                    f"({', '.join(sub.categories)})",
                    "change them with the manage link, or wait for an article in them")
            sub_id, email, name, cadence = sub.id, sub.email, sub.name, sub.cadence
        else:
            chosen = article_store.list_articles(conn, tz, settings.digest.max_articles)
            sub_id, email, name, cadence = 0, "reader@example.com", "Reader", "daily"
        if not chosen:
            raise PublisherError("no articles to preview", "run `publisher ingest` first")
        ids = tuple(a.id for a in chosen)
        existing = ledger.digest_id_for(conn, ids)  # the archived digest with this content
    digest_id: int | str = existing if existing is not None else "preview"
    rendered = renderer.render(digest_id, chosen, now)
    secret = settings.secrets.secret_key
    if len(secret) >= 16:
        links = personal_links(settings, sub_id)
    else:
        base = settings.web.public_url.rstrip("/")
        note = note or "PUBLISHER_SECRET_KEY is not set: links carry a dummy token"
        links = ("preview", f"{base}/unsubscribe/preview", f"{base}/manage/preview")
    if to is not None:  # an editor's copy: never a working link to someone's subscription
        sub_id, email = 0, to
        if len(secret) >= 16:
            links = personal_links(settings, 0)
    recipient = _recipient(settings, digest_id, sub_id, email, name, cadence, links)
    if to is not None:
        recipient = dataclasses.replace(recipient, message_id=subscriptions.message_id(
            settings.message_id_domain, f"test{int(now.timestamp())}", 0))
    data = MessageTemplate(_letter(settings, rendered, now)).render(recipient)
    personal = _personal(links, name, email, cadence)
    return Preview(subject=rendered.subject, html=personal.fill_html(rendered.html),
                   text=personal.fill_text(rendered.text), eml=data, recipient=email,
                   article_ids=ids, note=note)


def send_test(engine: Database, settings: Settings, now: datetime, to: str,
              subscriber_email: str | None = None, sender: Sender | None = None) -> Preview:
    """Mail the digest `subscriber_email` would get now (or a sample) to `to`, an editor;
    nothing is recorded (no delivery, no watermark). Raises SendError when it is not sent."""
    address = subscriptions.normalise_address(to)
    _check_settings(settings)
    preview = preview_digest(engine, settings, now, subscriber_email, to=address)
    session = (sender or sender_for(settings, _signer(settings))).open()
    try:
        data = preview.eml
        signer = _signer(settings)
        session.send(settings.mail.from_address, address, signer.sign(data) if signer else data,
                     subscriptions.message_id(settings.message_id_domain,
                                              f"test{int(now.timestamp())}", 0))
    finally:
        session.close()
    return preview


def render_archived_digest(engine: Database, settings: Settings, digest_id: int,
                           now: datetime | None = None) -> str | None:
    """The HTML of a sent digest for `/digests/{id}/` (no personal links), or None."""
    with engine.begin() as conn:
        digest = ledger.get_digest(conn, digest_id)
        if digest is None:
            return None
        found = article_store.get_articles(conn, digest.article_ids,
                                           settings.site_record.timezone)
    live = [found[i] for i in digest.article_ids if i in found]
    if not live:
        return None
    rendered = DigestRenderer(settings).render(digest_id, live, now or digest.created_at)
    base = settings.web.public_url.rstrip("/")
    neutral = Personal(greeting="Hello,", email="a reader", cadence=digest.cadence,
                       unsubscribe_url=f"{base}/", manage_url=f"{base}/")
    return neutral.fill_html(rendered.html)

"""The one reconciliation pass behind `publisher tick` and every job of `publisher run`.

A pass compares the world (seed files, the clock) with our own tables and does what is missing:

1. scan the seeds folder: new, changed and deleted seeds; a new or changed file is taken only
   once its size and mtime have been stable for `schedule.settle_seconds`;
2. on a change: ingest the settled files, rebuild the feeds;
3. send `immediate` digests (new articles, or a send left unfinished earlier);
4. for `daily` and `weekly`: if the latest slot at `now` is not recorded as done, send it (or
   skip it, logged, when it is older than `schedule.max_lateness_hours`), then record it.

Every step is safe to repeat: running a pass twice does nothing the second time, and a pass
killed half-way is finished by the next one. What is sent to whom, exactly once, is the
business of `sending.send_digests`; this module only decides when.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Protocol


from . import pipeline, sending, slots
from .config import Settings
from .errors import PublisherError, StoreError
from .store import Database
from .store import runs as run_store
from .store import subscribers as subscriber_store

log = logging.getLogger("publisher.reconcile")


# --- digests: the narrow interface the pass needs ---------------------------------------------

@dataclass
class DigestOutcome:
    """What one call of the digest sender did."""

    cadence: str
    sent: int = 0
    failed: int = 0
    queued: int = 0  # deliveries left for a later retry
    resumed: int = 0  # deliveries left queued by an earlier run, finished by this one
    interrupted: bool = False  # stopped by `stop` before the end: the slot is not done
    detail: str = ""

    def summary(self) -> str:
        text = f"{self.sent} sent, {self.failed} failed"
        if self.queued:
            text += f", {self.queued} queued for retry"
        if self.interrupted:
            text += ", interrupted"
        return text


class DigestSender(Protocol):
    def __call__(self, cadence: str, now: datetime, stop: threading.Event) -> DigestOutcome:
        """Send the `cadence` digests due at `now` (for daily/weekly: the slot time)."""


def library_sender(engine: Database, settings: Settings) -> DigestSender:
    """`sending.send_digests`, adapted to the scheduler.

    Stopping: `send_digests` gets the `stop` event; once set it takes no new delivery, records
    the messages in flight and returns `interrupted`; the rest stays queued in the ledger for the
    next pass.
    """

    def send(cadence: str, now: datetime, stop: threading.Event) -> DigestOutcome:
        # daily/weekly: `now` is the slot, planned once per store whoever gets there first
        slot = now if cadence in slots.SLOT_CADENCES else None
        report = sending.send_digests(engine, settings, now, cadence=cadence, stop=stop,
                                      slot=slot)
        fatal = str(report.fatal or "")
        return DigestOutcome(
            cadence,
            sent=report.sent,
            failed=report.failed,
            queued=report.left,  # e.g. a dead sender's claims, until their lease expires
            resumed=report.resumed,
            interrupted=report.interrupted or stop.is_set() or bool(fatal),
            detail="" if stop.is_set() else fatal,
        )

    return send


# --- scan -------------------------------------------------------------------------------------

@dataclass
class ScanResult:
    """What the pass's one scan found (see `pipeline.scan`), for the log and `status`."""

    files: int = 0
    new: list[str] = field(default_factory=list)  # settled, taken now
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    settling: list[str] = field(default_factory=list)  # new or changed, not stable long enough
    settle_at: datetime | None = None  # earliest moment a settling file may be taken
    missing: bool = False  # the seeds folder does not exist

    @classmethod
    def of(cls, seeds: pipeline.SeedScan) -> ScanResult:
        return cls(len(seeds.files), list(seeds.new), list(seeds.changed), list(seeds.gone),
                   [f.source for f in seeds.settling], seeds.settle_at)

    @property
    def changes(self) -> bool:
        return bool(self.new or self.changed or self.deleted)

    def summary(self) -> str:
        if self.missing:
            return "seeds folder not found"
        return (f"{self.files} seeds: {len(self.new)} new, {len(self.changed)} changed, "
                f"{len(self.deleted)} deleted, {len(self.settling)} settling")


# --- the pass ---------------------------------------------------------------------------------

@dataclass
class SlotDecision:
    cadence: str
    slot_at: datetime
    action: str  # "sent", "skipped" or "interrupted"
    detail: str


@dataclass
class PassReport:
    trigger: str
    started: datetime
    scan: ScanResult | None = None
    ingest: pipeline.IngestReport | None = None
    feeds: pipeline.FeedReport | None = None
    digests: list[DigestOutcome] = field(default_factory=list)
    slots: list[SlotDecision] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    interrupted: bool = False
    stages: dict[str, str] = field(default_factory=dict)  # "feeds"/"digests" -> "ok" | "failed"

    @property
    def outcome(self) -> str:
        if self.errors:
            return "error"
        if self.interrupted:
            return "interrupted"
        failed = (self.ingest is not None and (self.ingest.failed or self.ingest.refused)) or any(
            d.failed for d in self.digests)
        return "partial" if failed else "ok"

    def summary(self) -> str:
        parts = [f"scan: {self.scan.summary()}" if self.scan else "scan: not run"]
        if self.ingest is not None:
            i = self.ingest
            parts.append(f"articles: {len(i.new)} new, {len(i.updated)} updated, "
                         f"{i.deleted} removed, {len(i.failed)} failed")
        if self.feeds is not None:
            parts.append(f"feeds: {len(self.feeds.written)} written")
        for d in self.digests:
            parts.append(f"{d.cadence}: {d.summary()}")
        for s in self.slots:
            if s.action != "sent":
                parts.append(f"{s.cadence} slot {s.action}")
        if self.errors:
            parts.append(f"error: {self.errors[0]}")
        return "; ".join(parts)

    def details(self) -> dict[str, Any]:
        scan = self.scan
        return {
            "scan": None if scan is None else {
                "files": scan.files, "new": scan.new, "changed": scan.changed,
                "deleted": scan.deleted, "settling": scan.settling, "missing": scan.missing,
            },
            "ingest": None if self.ingest is None else {
                "new": len(self.ingest.new), "updated": len(self.ingest.updated),
                "deleted": self.ingest.deleted, "failed": [str(e) for e in self.ingest.failed],
                "skipped": len(self.ingest.skipped),
            },
            "feeds": None if self.feeds is None else {
                "written": len(self.feeds.written), "removed": len(self.feeds.removed),
            },
            "digests": [asdict(d) for d in self.digests],
            "slots": [{**asdict(s), "slot_at": s.slot_at.isoformat()} for s in self.slots],
            "errors": self.errors,
            "interrupted": self.interrupted,
            "stages": self.stages,
        }


class Reconciler:
    """Holds what passes share within one process; the truth stays in the tables.

    Thread-safe: the daemon's jobs may call it from several threads (see the two lanes).
    """

    def __init__(
        self, engine: Database, settings: Settings, *, send: DigestSender | None = None,
        stop: threading.Event | None = None, clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.rules = slots.parse_rules(settings)
        self.send = send or library_sender(engine, settings)
        self.stop = stop or threading.Event()
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        # Two lanes, so a long digest send never holds up the feeds: scan/ingest/feeds, and
        # digests (one send loop at a time: two loops would share the ledger's queued rows).
        self._feeds_lane = threading.Lock()
        self._digest_lane = threading.Lock()
        # Immediate digests are pending while `_wanted` > `_done`: a send may have been cut
        # short before this process started, and every ingest with new articles adds one.
        self._immediate_wanted = 1
        self._immediate_done = 0
        self._last_error = ""
        self._missing_warned = False
        self._local = threading.local()

    def run_pass(
        self, now: datetime, trigger: str = "tick", *, settle_wait: float = 0.0,
        feeds: bool = True, digests: bool = True,
    ) -> PassReport:
        """One reconciliation at `now` (both lanes unless told). Never raises for an expected
        problem.

        `settle_wait`: seconds this pass may wait for settling seeds and scan again (for
        `tick`, which has no next scan a few seconds later); the daemon passes 0.
        """
        report = PassReport(trigger, now)
        if self.stop.is_set():  # e.g. queued behind a pass that was told to stop
            report.interrupted = True
            return report
        self._local.t0 = (now, time.monotonic())
        with self.engine.begin() as conn:
            run_id = run_store.start_run(conn, trigger, now)
        try:
            # Each stage fails alone: feeds on a full disk still let the digests go out for
            # what is stored, and a digest failure never stops the feeds.
            if feeds:
                with self._feeds_lane:
                    self._stage(report, "feeds", self._feeds, report, now, settle_wait)
            if digests and not self.stop.is_set():
                with self._digest_lane:
                    self._stage(report, "digests", self._digests, report, now)
        finally:
            report.interrupted = report.interrupted or self.stop.is_set()
            try:
                with self.engine.begin() as conn:
                    run_store.finish_run(conn, run_id, self._elapsed(), report.outcome,
                                         report.summary(), report.details())
            except StoreError as exc:
                log.error("cannot record the pass: %s", _one_line(exc))
        return report

    def _stage(self, report: PassReport, name: str, run: Callable[..., None], *args: Any) -> None:
        """Run one stage; its failure is recorded under its name, and the pass goes on."""
        try:
            run(*args)
        except PublisherError as exc:
            problem = str(exc)
            log.error("%s: %s", name, problem)
        except Exception as exc:  # a bug: keep the daemon alive, show where
            problem = f"{type(exc).__name__}: {exc}"
            log.exception("%s stage failed unexpectedly", name)
        else:
            report.stages.setdefault(name, "ok")
            return
        report.stages[name] = "failed"
        report.errors.append(f"{name}: {problem}")

    def digests_due(self, now: datetime) -> bool:
        """Is there digest work at `now`: immediate ones pending, or a slot not yet handled?"""
        if self._immediate_wanted > self._immediate_done:
            return True
        with self.engine.begin() as conn:
            return any(
                not run_store.slot_done(conn, c, slots.latest_slot(self.rules[c], now))
                for c in slots.SLOT_CADENCES
            )

    # The feeds lane: the pipeline's one ingest path (scan, settle, ingest, feeds).
    def _feeds(self, report: PassReport, now: datetime, settle_wait: float) -> None:
        try:
            built = pipeline.build(self.engine, self.settings, now, clock=self.clock,
                                   wait=settle_wait, stop=self.stop,
                                   on_ingest=lambda seeds, ingest: self._ingested(
                                       report, seeds, ingest))
        except pipeline.SeedsFolderMissing as exc:
            report.errors.append(f"feeds: {exc}")  # and no scan: `tick` exits 2, as build-feeds
            report.stages["feeds"] = "failed"
            level = logging.DEBUG if self._missing_warned else logging.ERROR
            log.log(level, "scan: %s", exc)
            self._missing_warned = True
            return
        self._missing_warned = False
        if built.fast:
            report.scan = ScanResult.of(built.scan)
            log.debug("scan: %s (nothing changed since the last build)", report.scan.summary())
            return
        feeds = report.feeds = built.feeds
        if feeds is not None:
            level = logging.INFO if feeds.written or feeds.removed else logging.DEBUG
            log.log(level, "feeds: %d written, %d unchanged, %d removed, in %s",
                    len(feeds.written), feeds.unchanged, len(feeds.removed),
                    self.settings.feeds_dir)

    def _ingested(
        self, report: PassReport, seeds: pipeline.SeedScan, ingest: pipeline.IngestReport
    ) -> None:
        scan = report.scan = ScanResult.of(seeds)
        log.log(logging.INFO if scan.changes or scan.settling else logging.DEBUG,
                "scan: %s", scan.summary())
        report.ingest = ingest
        for note in ingest.notes:
            log.info("seed: %s", note)
        for warning in ingest.skipped:
            log.warning("seed skipped: %s", warning)
        for warning in ingest.undated:
            log.warning("seed: %s", warning)
        for error in ingest.failed:
            log.error("seed failed: %s", error)
        if ingest.refusal:
            log.warning("ingest: %s", ingest.refusal)
        if ingest.changed or ingest.to_parse:
            log.info("ingest: %d new, %d updated, %d removed, %d skipped, %d failed",
                     len(ingest.new), len(ingest.updated), ingest.deleted, len(ingest.skipped),
                     len(ingest.failed))
        if ingest.new:
            self._immediate_wanted += 1

    # The digest lane: immediate digests, then the daily and weekly slots.
    def _digests(self, report: PassReport, now: datetime) -> None:
        wanted = self._immediate_wanted
        if wanted > self._immediate_done:
            outcome = self._send("immediate", now, report)
            if outcome.resumed and not outcome.interrupted:
                # Subscribers busy with a resumed delivery were not planned: plan them now.
                outcome = self._send("immediate", now, report)
            if not outcome.interrupted and not outcome.queued:
                self._immediate_done = wanted  # later ingests keep it pending
        for cadence in slots.SLOT_CADENCES:
            if self.stop.is_set():
                break
            self._slot(cadence, now, report)

    def _slot(self, cadence: str, now: datetime, report: PassReport) -> None:
        slot_at = slots.latest_slot(self.rules[cadence], now)
        with self.engine.begin() as conn:
            if run_store.slot_done(conn, cadence, slot_at):
                return
        local = slot_at.astimezone(self.rules[cadence].tz).strftime("%a %Y-%m-%d %H:%M %Z")
        late = now - slot_at
        max_late = timedelta(hours=self.settings.schedule.max_lateness_hours)
        if late > max_late:
            detail = (f"{late.total_seconds() / 3600:.1f} h late "
                      f"(schedule.max_lateness_hours = {self.settings.schedule.max_lateness_hours:g})")
            with self.engine.begin() as conn:
                run_store.record_slot(conn, cadence, slot_at, "skipped", now, detail)
            report.slots.append(SlotDecision(cadence, slot_at, "skipped", detail))
            # A warning when someone missed that digest; with nobody on that cadence (a new
            # install started days after the last slot, say) nothing was lost.
            level = logging.WARNING if self._has_readers(cadence) else logging.INFO
            log.log(level, "%s digest of %s skipped: %s; its articles go in the next one",
                    cadence, local, detail)
            return
        log.info("%s digest of %s is due (%.0f min late)", cadence, local,
                 late.total_seconds() / 60)
        outcome = self._send(cadence, slot_at, report)
        if outcome.interrupted:
            report.slots.append(SlotDecision(cadence, slot_at, "interrupted", outcome.summary()))
        else:
            with self.engine.begin() as conn:
                run_store.record_slot(conn, cadence, slot_at, "sent", self._elapsed(),
                                      outcome.summary())
            report.slots.append(SlotDecision(cadence, slot_at, "sent", outcome.summary()))

    def _has_readers(self, cadence: str) -> bool:
        """Whether an active subscriber gets `cadence` digests."""
        with self.engine.begin() as conn:
            return subscriber_store.count_by(conn).get(("active", cadence), 0) > 0

    def _send(self, cadence: str, now: datetime, report: PassReport) -> DigestOutcome:
        try:
            outcome = self.send(cadence, now, self.stop)
        except PublisherError as exc:  # e.g. no secret key: the feeds still go out
            outcome = DigestOutcome(cadence, interrupted=True, detail=str(exc))
        report.digests.append(outcome)
        if outcome.detail:  # stopped early for a reason other than our stop: retried next pass
            report.errors.append(f"{cadence} digests: {outcome.detail}")
            report.stages["digests"] = "failed"
            # The same problem every scan would flood the log: say it once, then on change.
            level = logging.DEBUG if self._last_error == outcome.detail else logging.ERROR
            self._last_error = outcome.detail
            log.log(level, "digests %s: %s; %s", cadence, outcome.summary(), outcome.detail)
            return outcome
        if not outcome.interrupted:
            self._last_error = ""
        level = logging.INFO if (outcome.sent or outcome.failed or outcome.queued) else logging.DEBUG
        if outcome.failed:
            level = logging.WARNING
        log.log(level, "digests %s: %s", cadence, outcome.summary())
        if outcome.interrupted:
            report.interrupted = True
        return outcome

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no pass is running; False if one still is after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        for lane in (self._feeds_lane, self._digest_lane):
            if not lane.acquire(timeout=max(0.0, deadline - time.monotonic())):
                return False
            lane.release()
        return True

    def _elapsed(self) -> datetime:
        """The pass's `now` moved on by the time spent since (a controlled clock stays sane)."""
        start, t0 = self._local.t0
        return start + timedelta(seconds=time.monotonic() - t0)

    def next_runs(self, now: datetime) -> dict[str, datetime]:
        return {c: slots.next_slot(self.rules[c], now) for c in slots.SLOT_CADENCES}


def _one_line(exc: BaseException) -> str:
    return " ".join(str(getattr(exc, "orig", None) or exc).split())

"""`publisher run`: APScheduler 3.x jobs that wake the reconciliation pass at the right times.

APScheduler only decides when to wake up; every job runs the same `Reconciler.run_pass`, which
works out what is due from our own tables. So a wake-up that is missed (the machine slept, a
long send held the worker) or doubled costs nothing: the next pass does what is missing.

Jobs (three worker threads; the Reconciler's two lanes keep one feeds pass and one digest
send loop at a time, so a long weekly send never holds up the feeds):

- `scan`: every `schedule.scan_interval` seconds, first run at start-up (the catch-up pass):
  the feeds lane (scan, settle, ingest, feeds), then it wakes `digests` if anything is due.
  `coalesce=True` (many missed runs become one), `max_instances=1`, and
  `misfire_grace_time` one interval: a scan later than that is dropped, the next one comes.
  Brought forward when a seed is settling, and (with watchdog) when the seeds folder changes.
- `digests`: the digest lane (immediate digests, then any daily/weekly slot due); woken by
  scans, and hourly as a safety net. `misfire_grace_time=None`, `coalesce=True`.
- `inbound`: every `inbound.interval` seconds when an inbound mailbox is configured: reads
  the bounces, complaints and mailto unsubscribes (`publisher.inbound`); first run at start-up.
- `daily`, `weekly`: a date job at the next slot from `slots.next_slot`, re-armed after every
  pass, so the wake-up times and the due-ness rule are the same code (DST included); runs the
  digest lane. `misfire_grace_time=None`: however late the wake-up, the pass itself decides
  (and skips a slot older than `schedule.max_lateness_hours`).

Jobs live in the default memory job store: nothing is shared with another process, nothing
stale is loaded at start-up.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from datetime import datetime, timedelta, timezone
from types import FrameType
from typing import Callable

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from . import inbound, slots
from .config import Settings
from .errors import PublisherError
from .reconcile import PassReport, Reconciler

log = logging.getLogger("publisher.schedule")


class _QuietOverlap(logging.Filter):
    """APScheduler warns on every scan tick that falls inside a long pass: expected, dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances" not in record.getMessage()


class Daemon:
    def __init__(
        self, reconciler: Reconciler, settings: Settings, *,
        clock: Callable[[], datetime] | None = None, watch: bool = True,
    ) -> None:
        self.reconciler = reconciler
        self.settings = settings
        self.stop = reconciler.stop
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.scheduler = BlockingScheduler(
            timezone=timezone.utc,
            # One thread per lane-ish: scan, digests, and a slot wake-up; the Reconciler's
            # locks keep one feeds pass and one send loop at a time.
            executors={"default": ThreadPoolExecutor(max_workers=3)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        self.watch = watch  # also react to file events (watchdog); polling works alone
        self._observer = None
        self._announced = False  # "next runs" at INFO once after start-up, then per slot
        logging.getLogger("apscheduler.scheduler").addFilter(_QuietOverlap())
        logging.getLogger("apscheduler.executors.default").addFilter(_QuietOverlap())

    # --- lifecycle --------------------------------------------------------------------------

    def run(self) -> None:
        """Block until SIGTERM/SIGINT; then finish the message in flight and return."""
        s = self.settings.schedule
        interval = s.scan_interval
        now = self.clock()
        self.scheduler.add_job(
            self._job, IntervalTrigger(seconds=interval, timezone=timezone.utc), args=["scan"],
            id="scan", name="scan", next_run_time=now,  # the catch-up pass, at once
            misfire_grace_time=max(1, int(interval)),
        )
        self.scheduler.add_job(
            self._job, IntervalTrigger(hours=1, timezone=timezone.utc), args=["digests"],
            id="digests", name="digests", next_run_time=None,  # woken by scans (and hourly)
            misfire_grace_time=None,
        )
        if inbound.configured(self.settings):
            self.scheduler.add_job(
                self._inbound, IntervalTrigger(seconds=self.settings.inbound.interval,
                                               timezone=timezone.utc),
                id="inbound", name="inbound", next_run_time=now,
                misfire_grace_time=max(1, int(self.settings.inbound.interval)),
            )
        self._arm_slots(now)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        rules = self.reconciler.rules
        log.info("started: pid %d, scan every %g s (settle %g s), daily at %s, weekly at %s, "
                 "max lateness %g h", os.getpid(), interval, s.settle_seconds,
                 rules["daily"].describe(), rules["weekly"].describe(), s.max_lateness_hours)
        self._start_watcher()
        try:
            if not self.stop.is_set():
                self.scheduler.start()  # returns once shutdown() was called
        finally:
            self._stop_watcher()
            if self.scheduler.state != STATE_STOPPED:
                self.scheduler.shutdown(wait=False)
            if not self.reconciler.wait_idle(timeout=30):
                log.warning("a pass is still running after 30 s; exiting anyway")
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info("stopped")

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.stop.is_set():
            log.info("%s again: already stopping", name)
            return
        self.stop.set()  # first: a second signal may interrupt the logging below
        log.info("%s: stopping (finishing the message in flight)", name)
        # Not from inside the handler: the main thread may be inside the scheduler's loop.
        threading.Thread(target=self._shutdown, name="shutdown", daemon=True).start()

    def _shutdown(self) -> None:
        try:
            self.scheduler.shutdown(wait=False)
        except Exception:  # already stopped  # noqa: BLE001
            pass

    # --- jobs -------------------------------------------------------------------------------

    def _job(self, trigger: str) -> None:
        """scan: the feeds lane, then wake `digests` if anything is due; the others: digests."""
        scan = trigger == "scan"
        report = self.reconciler.run_pass(self.clock(), trigger, feeds=scan, digests=not scan)
        if self.stop.is_set():
            return
        now = self.clock()
        if scan and self.reconciler.digests_due(now):
            self.wake("digests", now)
        self._after(report, now)

    def _inbound(self) -> None:
        """Poll the inbound mailbox (bounces, complaints, mailto unsubscribes) once."""
        if self.stop.is_set():
            return
        try:
            source = inbound.open_source(self.settings)
            report = inbound.run_inbound(self.reconciler.engine, self.settings, source,
                                         self.clock())
        except PublisherError as exc:
            log.error("inbound: %s", exc)
            return
        for line in report.changes:
            log.info("inbound: %s", line)
        for line in report.left:
            log.debug("inbound: left in place: %s", line)
        log.info("%s", report.summary())

    def _after(self, report: PassReport, now: datetime) -> None:
        if report.scan is not None and report.scan.settle_at is not None:
            self.wake_scan(report.scan.settle_at + timedelta(milliseconds=50))
        self._arm_slots(now)
        runs = self.next_runs()
        level = logging.INFO if report.trigger in slots.SLOT_CADENCES or not self._announced \
            else logging.DEBUG
        self._announced = True
        log.log(level, "next runs: %s", ", ".join(f"{k} {_local(v, self.reconciler.rules)}"
                                                  for k, v in runs.items()))

    def wake_scan(self, at: datetime) -> None:
        self.wake("scan", at)

    def wake(self, job_id: str, at: datetime) -> None:
        """Bring a job's next run forward to `at` (never pushes it back)."""
        job = self.scheduler.get_job(job_id)
        if job is None or self.stop.is_set():
            return
        current = getattr(job, "next_run_time", None)  # a pending job (not started) has none
        if current is None or at < current:
            try:
                self.scheduler.modify_job(job_id, next_run_time=at)
            except Exception:  # the scheduler is shutting down  # noqa: BLE001
                pass

    def _arm_slots(self, now: datetime) -> None:
        for cadence in slots.SLOT_CADENCES:
            at = slots.next_slot(self.reconciler.rules[cadence], now)
            job = self.scheduler.get_job(cadence)
            if job is not None and job.next_run_time == at:
                continue
            self.scheduler.add_job(
                self._job, DateTrigger(run_date=at, timezone=timezone.utc), args=[cadence],
                id=cadence, name=f"{cadence} digests", replace_existing=True,
                misfire_grace_time=None,
            )

    def next_runs(self) -> dict[str, datetime]:
        return {job.id: job.next_run_time for job in self.scheduler.get_jobs()
                if job.next_run_time is not None}

    # --- optional instant reaction to file events -------------------------------------------

    def _start_watcher(self) -> None:
        if not self.watch or not self.settings.seeds_dir.is_dir():
            return
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            log.info("watchdog not installed: polling only")
            return
        daemon = self
        delay = timedelta(seconds=self.settings.schedule.settle_seconds + 0.1)

        class Poke(FileSystemEventHandler):
            def on_any_event(self, event) -> None:  # type: ignore[no-untyped-def]
                if not event.is_directory:
                    daemon.wake_scan(daemon.clock() + delay)

        try:
            observer = Observer()
            observer.schedule(Poke(), str(self.settings.seeds_dir), recursive=True)
            observer.daemon = True
            observer.start()
        except OSError as exc:  # e.g. inotify watch limit reached: polling still works
            log.warning("file events unavailable (%s): polling only", exc)
            return
        self._observer = observer

    def _stop_watcher(self) -> None:
        if self._observer is not None:
            self._observer.stop()
        self._observer = None


def _local(moment: datetime, rules: dict[str, slots.SlotRule]) -> str:
    tz = rules["daily"].tz
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")

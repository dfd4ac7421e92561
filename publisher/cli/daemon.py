"""Commands that run unattended: `run` (the daemon), `tick` (one pass, for cron), `status`."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import FrameType
from typing import Any

import click

from .. import slots, subscriptions
from ..config import public_url_warnings
from ..errors import ConfigError, PathError, PublisherError, StoreError
from ..fsutil import make_folder
from ..health import heartbeat
from ..model import CADENCES, SUBSCRIBER_STATUSES
from ..reconcile import Reconciler
from ..store import articles as article_store
from ..store import runs as run_store
from ..store import subscribers as subscriber_store
from ..tokens import require_secret
from .app import App, output_folders, pass_app
from .logs import TEXT_FORMAT, formatter, log_format_option

LOG_FORMAT = TEXT_FORMAT
LOG_LEVELS = ("debug", "info", "warning", "error")


def setup_logging(level: str, log_file: str | None, log_format: str = "text") -> None:
    """One line per event, with a timestamp, to stderr and optionally to a file."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        try:
            Path(log_file).parent.mkdir(parents=True, exist_ok=True)
            handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"--log-file {log_file}: cannot open: {exc.strerror}") from None
    line_format = formatter(log_format, LOG_FORMAT)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        handler.setFormatter(line_format)
        root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper()))
    # APScheduler's own "Running job ..." lines add nothing to ours unless debugging.
    logging.getLogger("apscheduler").setLevel(
        logging.DEBUG if level == "debug" else logging.WARNING)
    logging.getLogger("watchdog").setLevel(logging.WARNING)
    logging.getLogger("MARKDOWN").setLevel(logging.WARNING)


def _log_options(func):  # type: ignore[no-untyped-def]
    func = click.option("--log-file", metavar="PATH",
                        help="Also append the log lines to this file.")(func)
    func = click.option("--log-level", type=click.Choice(LOG_LEVELS), default="info",
                        show_default=True, help="Least important events to log.")(func)
    return log_format_option(func)


def _lock(app: App):  # type: ignore[no-untyped-def]
    """The store's instance lock (SQLite: an flock; PostgreSQL: an advisory lock), held."""
    lock = app.engine.instance_lock()
    lock.acquire()  # LockedError -> exit 3 in cli.main
    return lock


@click.command("run")
@_log_options
@pass_app
def run(app: App, log_level: str, log_file: str | None, log_format: str) -> None:
    """Run unattended: scan the seeds, publish feeds, send digests on their schedule.

    Scans every schedule.scan_interval seconds (a seed is taken once its size and time have
    been stable for schedule.settle_seconds), sends immediate digests for new articles, daily
    digests at schedule.daily_at and weekly ones at schedule.weekly_at. A digest missed while
    the process was down is sent once at start-up, unless older than
    schedule.max_lateness_hours. SIGTERM or SIGINT: the message in flight is finished and
    recorded, then the process exits 0. Only one `run` or `tick` per state database
    (exit 3 otherwise).
    """
    from ..schedule import Daemon  # APScheduler is only needed here

    setup_logging(log_level, log_file, log_format)
    ready_to_run(app)
    lock = _lock(app)
    web = app.settings.web
    for warning in public_url_warnings(app.settings, web.host, web.port):
        logging.getLogger("publisher.run").warning("%s", warning)
    try:
        reconciler = Reconciler(app.engine, app.settings, clock=app.now)
        Daemon(reconciler, app.settings, clock=app.now).run()
    finally:
        lock.release()


def ready_to_run(app: App) -> None:
    """Refuse to start the daemon without what its passes will need: the secret key for the
    links in mails, writable output folders, a state database that answers."""
    settings = app.settings
    require_secret(settings.secrets.secret_key)
    for key, folder in output_folders(settings).items():
        make_folder(folder, key)
        probe = folder / f".publisher-probe-{os.getpid()}"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise PathError(f"{key}: cannot write in the folder {folder}: {exc.strerror}",
                            f"make it writable, or point {key} elsewhere") from None
    try:
        with app.engine.connect() as conn:
            conn.execute("SELECT 1")
    except PublisherError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the backend raises: one line
        raise StoreError(f"the state database does not answer: {' '.join(str(exc).split())}",
                         "check database.url" if settings.database.url
                         else "check paths.database") from None


@click.command("tick")
@_log_options
@click.option("--now", "now_text", metavar="ISO-TIME", hidden=True,
              help="Pretend it is this moment (tests).")
@pass_app
def tick(app: App, log_level: str, log_file: str | None, log_format: str,
         now_text: str | None) -> None:
    """One full reconciliation pass, then exit: for cron or a systemd timer.

    The same pass as `run` makes: scan (waiting a little for seeds still being written),
    ingest, feeds, immediate digests, and the daily/weekly digests that are due. Exits 0
    when all went well, 1 when a seed or a delivery failed, 3 when another publisher holds
    the state database. SIGTERM/SIGINT stop it after the message in flight.
    """
    setup_logging(log_level, log_file, log_format)
    lock = _lock(app)
    now = _parse_now(now_text) if now_text else app.now()
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("publisher.tick").info(
            "%s: stopping after the message in flight", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        reconciler = Reconciler(app.engine, app.settings, stop=stop,
                                clock=(lambda: now) if now_text else app.now)
        wait = 0.0 if now_text else min(3 * app.settings.schedule.settle_seconds + 1, 30.0)
        report = reconciler.run_pass(now, "tick", settle_wait=wait)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        lock.release()
    logging.getLogger("publisher.tick").info("done: %s", report.summary())
    if report.errors:
        sys.exit(2 if not report.scan else 1)
    sys.exit(1 if report.outcome == "partial" else 0)


def _parse_now(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 time: {text!r}", param_hint="--now") from None
    if moment.tzinfo is None:
        raise click.BadParameter("give a time zone offset", param_hint="--now")
    return moment.astimezone(timezone.utc)


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_app
def status(app: App, as_json: bool) -> None:
    """What the publisher last did and will do next: scans, articles, subscribers, deliveries."""
    data = collect_status(app)
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    click.echo(format_status(data))


def collect_status(app: App) -> dict[str, Any]:
    settings = app.settings
    now = app.now()
    tz = settings.schedule_timezone
    engine = app.engine
    found = engine.lock_holder()
    holder = None if found is None else (found.pid or -1)
    data: dict[str, Any] = {
        "now": now.isoformat(),
        "database": engine.display,
        "backend": engine.backend,
        "process": {"running": found is not None, "pid": found.pid if found else None,
                    "host": found.host if found else None},
    }
    with app.engine.begin() as conn:
        recent = run_store.last_runs(conn, 200)
        newest = article_store.list_articles(conn, settings.site_record.timezone, limit=1)
        total = article_store.count_articles(conn)
        counts = subscriber_store.count_by(conn)
        slot_records = run_store.last_slots(conn, slots.SLOT_CADENCES)
        deliveries = _delivery_counts(conn)
        beat = heartbeat(conn, settings, now)
        mail_rates = subscriptions.rates(conn, now)
    data["heartbeat"] = beat.as_dict()
    finished = [r for r in recent if r.finished_at is not None]
    last = next((r for r in finished if r.details.get("scan")), None)
    last_digests = next((r for r in finished if r.details.get("digests")), None)
    data["last_scan"] = None if last is None else {**_run_json(last), "scan": last.details["scan"]}
    data["last_digests"] = None if last_digests is None else {
        **_run_json(last_digests), "digests": last_digests.details["digests"]}
    running = [r for r in recent if r.finished_at is None]
    data["running"] = [] if holder is None else [
        {"trigger": r.trigger, "started_at": r.started_at.isoformat()} for r in running[:3]]
    data["articles"] = {
        "total": total,
        "newest": None if not newest else {
            "id": newest[0].id, "title": newest[0].title,
            "published": newest[0].published.isoformat()},
    }
    by_status = {s: {c: counts.get((s, c), 0) for c in CADENCES} for s in SUBSCRIBER_STATUSES}
    for (s, c), n in counts.items():  # values outside the known sets are shown too
        by_status.setdefault(s, {}).setdefault(c, n)
    data["subscribers"] = by_status
    data["deliveries"] = deliveries
    data["mail_rates"] = mail_rates  # bounces and complaints over the last 30 days
    rules = slots.parse_rules(settings)  # checked settings: cannot fail
    nxt: dict[str, Any] = {}
    if last is not None and holder is not None:
        nxt["scan"] = _after(last.started_at, settings.schedule.scan_interval, now).isoformat()
    for cadence, rule in rules.items():
        nxt[cadence] = slots.next_slot(rule, now).astimezone(tz).isoformat()
    data["next_runs"] = nxt
    data["last_slots"] = {
        c: {"slot_at": r.slot_at.astimezone(tz).isoformat(), "status": r.status, "detail": r.detail}
        for c, r in slot_records.items()
    }
    return data


def _describe_beat(beat: dict[str, Any]) -> str:
    if beat["last_pass"] is None:
        return "no pass recorded yet"
    state = "healthy" if beat["healthy"] else "STALE: the daemon makes no passes"
    return (f"last pass {beat['age_seconds']:.0f} s ago ({beat['last_pass']}), {state} "
            f"(stale after {beat['stale_after_seconds']:g} s)")


def _run_json(run: run_store.RunRecord | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {"trigger": run.trigger, "started_at": run.started_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "outcome": run.outcome, "summary": run.summary,
            "stages": run.details.get("stages", {})}


def _after(start: datetime, interval: float, now: datetime) -> datetime:
    moment = start + timedelta(seconds=interval)
    return moment if moment > now else now


def _delivery_counts(conn) -> dict[str, Any] | None:  # type: ignore[no-untyped-def]
    """Queued/failed deliveries from the digest ledger, when that ledger exists."""
    try:
        from ..store import deliveries as delivery_store  # the digest engineer's module
    except ImportError:
        return None
    for name in ("count_by_state", "count_by_status", "counts"):
        fn = getattr(delivery_store, name, None)
        if fn is not None:
            try:
                counts = {"queued": 0, "sent": 0, "failed": 0}
                counts.update({str(k): int(v) for k, v in dict(fn(conn)).items()})
                return counts
            except Exception:  # noqa: BLE001 - an older/newer ledger shape: leave it out
                return None
    return None


def format_status(data: dict[str, Any]) -> str:
    lines = []
    proc = data["process"]
    lines.append(f"database: {data['database']} ({data['backend']})")
    where = f" on {proc['host']}" if proc.get("host") else ""
    lines.append("process: " + (f"running (pid {proc['pid']}{where})"
                                if proc["running"] else "not running"))
    beat = data.get("heartbeat")
    if beat is not None:
        lines.append("heartbeat: " + _describe_beat(beat))
    for key, label in (("last_scan", "last scan"), ("last_digests", "last digests")):
        run = data[key]
        if run is None:
            lines.append(f"{label}: never")
        else:
            lines.append(f"{label}: {run['finished_at']} ({run['trigger']}, {run['outcome']}): "
                         f"{run['summary']}")
    for run in data["running"]:
        lines.append(f"running now: {run['trigger']} pass since {run['started_at']}")
    art = data["articles"]
    newest = art["newest"]
    lines.append(f"articles: {art['total']}" + (
        f", newest {newest['published'][:10]} {newest['title']}" if newest else ""))
    lines.append("subscribers:")
    for st, by_cadence in data["subscribers"].items():
        total = sum(by_cadence.values())
        detail = ", ".join(f"{c} {n}" for c, n in by_cadence.items())
        lines.append(f"  {st:<13} {total:>6}  ({detail})")
    deliveries = data["deliveries"]
    if deliveries is None:
        lines.append("deliveries: no delivery ledger yet")
    else:
        lines.append("deliveries: " + ", ".join(f"{k} {v}" for k, v in deliveries.items()))
    r = data["mail_rates"]
    lines.append(f"last {r['days']} days: {r['sent']} sent, {r['hard_bounces']} bounced "
                 f"({r['bounce_rate']:.2%}), {r['complaints']} complaints "
                 f"({r['complaint_rate']:.2%}), {r['soft_bounces']} soft bounces, "
                 f"{r['unsubscribes']} unsubscribes")
    for warning in r["warnings"]:
        lines.append(f"warning: {warning}")
    for cadence, rec in data["last_slots"].items():
        lines.append(f"last {cadence} digest: {rec['slot_at']} {rec['status']} ({rec['detail']})")
    lines.append("next runs: " + ", ".join(f"{k} {v}" for k, v in data["next_runs"].items()))
    return "\n".join(lines)

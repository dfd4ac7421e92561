"""When digests are due, the settle rule, and the reconciliation pass, on a controlled clock.

No sleeping for a day: every pass gets its `now`. The digest sender is either a recording
stand-in passed through the Reconciler's `send` parameter (to test due-ness alone) or the real
`sending.send_digests` writing to an outbox folder (to test "sent once" end to end).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from publisher import slots
from publisher.config import Settings, load_settings
from publisher.errors import LockedError
from publisher.lock import InstanceLock, lock_holder
from publisher.pipeline import scan as scan_seeds
from publisher.reconcile import DigestOutcome, Reconciler
from publisher.store import open_store
from publisher.store import runs as run_store

NY = ZoneInfo("America/New_York")
UTC = timezone.utc
REPO = Path(__file__).resolve().parent.parent


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)


def rules(daily: str = "07:00", weekly: str = "mon 07:00", tz: str = "") -> dict[str, slots.SlotRule]:
    settings = load_settings(None)
    settings = replace(settings, schedule=replace(settings.schedule, daily_at=daily,
                                                  weekly_at=weekly, timezone=tz))
    return slots.parse_rules(settings)


# --- slot times -------------------------------------------------------------------------------

def test_daily_slot_is_local_wall_time_on_both_sides_of_dst() -> None:
    daily = rules()["daily"]
    # 2026-03-08: clocks go forward in New York; 07:00 is 12:00 UTC before, 11:00 UTC after.
    assert slots.latest_slot(daily, local(2026, 3, 7, 9)) == datetime(2026, 3, 7, 12, tzinfo=UTC)
    assert slots.latest_slot(daily, local(2026, 3, 8, 9)) == datetime(2026, 3, 8, 11, tzinfo=UTC)
    assert slots.next_slot(daily, local(2026, 3, 8, 6, 59)) == datetime(2026, 3, 8, 11, tzinfo=UTC)
    # 2026-11-01: clocks go back.
    assert slots.latest_slot(daily, local(2026, 11, 1, 9)) == datetime(2026, 11, 1, 12, tzinfo=UTC)
    assert slots.next_slot(daily, local(2026, 10, 31, 8)) == datetime(2026, 11, 1, 12, tzinfo=UTC)


def test_slot_in_the_spring_gap_and_the_repeated_hour_happens_once() -> None:
    gap = rules(daily="02:30")["daily"]
    # 02:30 does not exist on 2026-03-08: taken at the pre-change offset, i.e. 03:30 EDT.
    assert slots.next_slot(gap, local(2026, 3, 8, 0)) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    twice = rules(daily="01:30")["daily"]
    # 01:30 happens twice on 2026-11-01: only the first counts.
    first = slots.next_slot(twice, local(2026, 11, 1, 0))
    assert first == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert slots.next_slot(twice, first) == datetime(2026, 11, 2, 6, 30, tzinfo=UTC)


def test_weekly_slot_and_schedule_timezone() -> None:
    weekly = rules()["weekly"]
    sunday_night = local(2026, 11, 29, 23)
    assert slots.latest_slot(weekly, sunday_night) == local(2026, 11, 23, 7).astimezone(UTC)
    assert slots.next_slot(weekly, sunday_night) == local(2026, 11, 30, 7).astimezone(UTC)
    berlin = rules(weekly="fri 18:00", tz="Europe/Berlin")["weekly"]
    assert slots.next_slot(berlin, datetime(2026, 3, 26, tzinfo=UTC)) == datetime(
        2026, 3, 27, 17, tzinfo=UTC)
    assert slots.next_slot(berlin, datetime(2026, 3, 28, tzinfo=UTC)) == datetime(
        2026, 4, 3, 16, tzinfo=UTC)  # after the European change: UTC+2


# --- passes with a recording sender -----------------------------------------------------------

class Recorder:
    """Stands in for the digest sender: records (cadence, now) per call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, datetime]] = []
        self.interrupt: set[str] = set()

    def __call__(self, cadence: str, now: datetime, stop: threading.Event) -> DigestOutcome:
        self.calls.append((cadence, now))
        return DigestOutcome(cadence, sent=1, interrupted=cadence in self.interrupt)

    def slots_sent(self, cadence: str) -> list[datetime]:
        return [n for c, n in self.calls if c == cadence]


def make_settings(root: Path, **schedule: object) -> Settings:
    (root / "seeds").mkdir(exist_ok=True)
    (root / "config.toml").write_text(
        '[site]\nbase_url = "https://www.leftvoice.org"\ntimezone = "America/New_York"\n',
        encoding="utf-8")
    settings = load_settings(root / "config.toml", database_env())
    return replace(settings, schedule=replace(settings.schedule, **schedule))


def database_env() -> dict[str, str]:
    """The test's PostgreSQL database, when the backend fixture chose one."""
    url = os.environ.get("PUBLISHER_DATABASE_URL")
    return {"PUBLISHER_DATABASE_URL": url} if url else {}


@pytest.fixture
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path)
    engine = open_store(settings)
    recorder = Recorder()
    yield settings, engine, recorder
    engine.dispose()


def test_due_digest_is_sent_once_and_a_second_pass_sends_nothing(world) -> None:  # type: ignore[no-untyped-def]
    settings, engine, recorder = world
    r = Reconciler(engine, settings, send=recorder)
    r.run_pass(local(2026, 11, 24, 6, 59))  # Tuesday, before the slot: yesterday's slot is due
    first = recorder.slots_sent("daily")
    assert first == [local(2026, 11, 23, 7).astimezone(UTC)]
    r.run_pass(local(2026, 11, 24, 7, 0, 30))
    r.run_pass(local(2026, 11, 24, 7, 1))
    assert recorder.slots_sent("daily") == first + [local(2026, 11, 24, 7).astimezone(UTC)]
    # A new process (another tick) finds the slot recorded: nothing again.
    Reconciler(engine, settings, send=recorder).run_pass(local(2026, 11, 24, 9))
    assert len(recorder.slots_sent("daily")) == 2


def test_downtime_across_two_send_times_sends_one_digest(world) -> None:  # type: ignore[no-untyped-def]
    settings, engine, recorder = world
    Reconciler(engine, settings, send=recorder).run_pass(local(2026, 11, 24, 7, 5))
    # Down from Tuesday 07:05 to Thursday 09:00: Wednesday's and Thursday's slots were missed.
    Reconciler(engine, settings, send=recorder).run_pass(local(2026, 11, 26, 9))
    assert recorder.slots_sent("daily") == [local(2026, 11, 24, 7).astimezone(UTC),
                                            local(2026, 11, 26, 7).astimezone(UTC)]


def test_a_skipped_slot_is_a_warning_only_when_someone_gets_that_cadence(world, caplog) -> None:  # type: ignore[no-untyped-def]
    """A new install started days after the last weekly slot lost nobody a digest: no warning
    (the CLI's `run` printed one on most days of the week). With a weekly reader it warns."""
    from publisher.store import subscribers as subscriber_store

    settings, engine, recorder = world
    caplog.set_level(logging.INFO, logger="publisher")

    def skip_levels(day: str) -> list[str]:
        return [r.levelname for r in caplog.records
                if f"weekly digest of {day} 07:00 EST skipped: 50.0 h late" in r.getMessage()]

    Reconciler(engine, settings, send=recorder).run_pass(local(2026, 11, 25, 9))
    assert skip_levels("Mon 2026-11-23") == ["INFO"]
    with engine.begin() as conn:
        subscriber_store.add_subscriber(conn, "weekly@example.org", name="W", cadence="weekly",
                                        categories=(), status="active", now=local(2026, 11, 25, 9))
    Reconciler(engine, settings, send=recorder).run_pass(local(2026, 12, 2, 9))
    assert skip_levels("Mon 2026-11-30") == ["WARNING"]
    assert recorder.slots_sent("weekly") == []


def test_slot_older_than_max_lateness_is_skipped_and_logged(world, caplog) -> None:  # type: ignore[no-untyped-def]
    settings, engine, recorder = world
    caplog.set_level(logging.INFO, logger="publisher")
    # Wednesday 09:00: Monday's weekly slot is 50 h old (> 36 h); the daily one is 2 h old.
    report = Reconciler(engine, settings, send=recorder).run_pass(local(2026, 11, 25, 9))
    assert recorder.slots_sent("weekly") == []
    assert recorder.slots_sent("daily") == [local(2026, 11, 25, 7).astimezone(UTC)]
    assert [(s.cadence, s.action) for s in report.slots] == [("daily", "sent"), ("weekly", "skipped")]
    assert any("weekly digest of Mon 2026-11-23 07:00 EST skipped: 50.0 h late" in m
               for m in caplog.messages)
    with engine.begin() as conn:
        assert run_store.last_slots(conn, ["weekly"])["weekly"].status == "skipped"
    # Skipped is recorded: no second log line, no late send.
    caplog.clear()
    Reconciler(engine, settings, send=recorder).run_pass(local(2026, 11, 25, 10))
    assert not any("skipped" in m for m in caplog.messages)


def test_weekly_slot_across_dst_change_is_due_at_local_time(world) -> None:  # type: ignore[no-untyped-def]
    settings, engine, recorder = world
    r = Reconciler(engine, settings, send=recorder)
    r.run_pass(local(2026, 3, 2, 7, 1))  # Monday before the change (EST)
    r.run_pass(local(2026, 3, 9, 6, 59))  # Monday after (EDT), a minute early: nothing yet
    r.run_pass(local(2026, 3, 9, 7, 0, 1))
    assert recorder.slots_sent("weekly") == [datetime(2026, 3, 2, 12, tzinfo=UTC),
                                             datetime(2026, 3, 9, 11, tzinfo=UTC)]


def test_interrupted_slot_is_not_recorded_and_the_next_pass_finishes_it(world) -> None:  # type: ignore[no-untyped-def]
    settings, engine, recorder = world
    recorder.interrupt = {"daily"}
    r = Reconciler(engine, settings, send=recorder)
    report = r.run_pass(local(2026, 11, 24, 7, 1))
    assert report.interrupted and report.outcome == "interrupted"
    recorder.interrupt = set()
    Reconciler(engine, settings, send=recorder).run_pass(local(2026, 11, 24, 7, 2))
    slot = local(2026, 11, 24, 7).astimezone(UTC)
    assert recorder.slots_sent("daily") == [slot, slot]  # same slot time: the ledger dedups
    Reconciler(engine, settings, send=recorder).run_pass(local(2026, 11, 24, 7, 3))
    assert len(recorder.slots_sent("daily")) == 2


def test_a_stopped_reconciler_does_nothing(world) -> None:  # type: ignore[no-untyped-def]
    settings, engine, recorder = world
    stop = threading.Event()
    stop.set()
    report = Reconciler(engine, settings, send=recorder, stop=stop).run_pass(local(2026, 11, 24, 8))
    assert report.interrupted and recorder.calls == []


def test_pass_is_recorded_for_status(world) -> None:  # type: ignore[no-untyped-def]
    settings, engine, recorder = world
    shutil.copyfile(next((REPO / "seeds").glob("*.txt")), settings.seeds_dir / "a.txt")
    os.utime(settings.seeds_dir / "a.txt", (1e9, 1e9))  # long settled
    Reconciler(engine, settings, send=recorder).run_pass(local(2026, 11, 24, 8), "scan")
    with engine.begin() as conn:
        (run,) = run_store.last_runs(conn)
    assert run.trigger == "scan" and run.outcome == "ok"
    assert run.details["scan"]["new"] == ["a.txt"]
    assert run.summary.startswith("scan: 1 seeds: 1 new")


# --- the settle rule --------------------------------------------------------------------------

def test_a_seed_is_taken_only_once_stable_for_settle_seconds(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, settle_seconds=5.0)
    engine = open_store(settings)
    seed = settings.seeds_dir / "a.md"
    seed.write_text("+++\ntitle = \"A\"\ndate = 2026-11-20\n+++\n\nhalf", encoding="utf-8")
    written = datetime.fromtimestamp(seed.stat().st_mtime_ns / 1e9, UTC)
    assert scan_seeds(engine, settings, written + timedelta(seconds=1)).settling_sources == ["a.md"]
    scan = scan_seeds(engine, settings, written + timedelta(seconds=5))
    assert scan.new == ["a.md"] and not scan.settling

    # A file whose mtime lies in the future (clock skew) settles once our scans saw it unchanged.
    future = written + timedelta(hours=1)
    os.utime(seed, ns=(seed.stat().st_atime_ns, int(future.timestamp() * 1e9)))
    assert scan_seeds(engine, settings, written + timedelta(seconds=10)).settling_sources == ["a.md"]
    assert scan_seeds(engine, settings, written + timedelta(seconds=12)).settling_sources == ["a.md"]
    assert scan_seeds(engine, settings, written + timedelta(seconds=15)).new == ["a.md"]
    engine.dispose()


def test_deleted_and_changed_seeds_are_found(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, settle_seconds=1.0)
    engine = open_store(settings)
    recorder = Recorder()
    for name in ("a", "b"):
        path = settings.seeds_dir / f"{name}.md"
        path.write_text(f"+++\ntitle = \"{name}\"\ndate = 2026-11-20\n+++\n\nText {name}.\n",
                        encoding="utf-8")
        os.utime(path, (1e9, 1e9))
    now = datetime.now(UTC)
    report = Reconciler(engine, settings, send=recorder).run_pass(now)
    assert report.ingest is not None and len(report.ingest.new) == 2
    (settings.seeds_dir / "a.md").unlink()
    b = settings.seeds_dir / "b.md"
    b.write_text("+++\ntitle = \"b\"\ndate = 2026-11-20\n+++\n\nText b, corrected.\n", encoding="utf-8")
    os.utime(b, (2e9, 2e9))  # far from `now`: settled by its mtime... in the future: not yet
    scan = scan_seeds(engine, settings, now)
    assert scan.deleted == ["a.md"] and scan.settling_sources == ["b.md"]
    os.utime(b, (1.5e9, 1.5e9))
    report = Reconciler(engine, settings, send=recorder).run_pass(now)
    assert report.ingest is not None
    assert report.ingest.deleted == 1 and len(report.ingest.updated) == 1
    engine.dispose()


# --- the lock ---------------------------------------------------------------------------------

def test_lock_is_exclusive_and_names_its_holder(tmp_path: Path) -> None:
    path = tmp_path / "state" / "publisher.db.lock"
    with InstanceLock(path):
        assert lock_holder(path) == os.getpid()
        with pytest.raises(LockedError, match=f"process {os.getpid()} holds"):
            InstanceLock(path).acquire()
    assert lock_holder(path) is None
    with InstanceLock(path):  # free again
        pass


def test_the_stores_instance_lock_is_exclusive_and_names_its_holder(tmp_path: Path) -> None:
    """SQLite: the flock next to the file; PostgreSQL: an advisory lock on its own session."""
    engine = open_store(make_settings(tmp_path))
    try:
        assert engine.lock_holder() is None
        with engine.instance_lock():
            holder = engine.lock_holder()
            assert holder is not None and holder.pid == os.getpid()
            with pytest.raises(LockedError, match=f"process {os.getpid()}"):
                engine.instance_lock().acquire()
        assert engine.lock_holder() is None
        with engine.instance_lock():  # free again
            pass
    finally:
        engine.dispose()


# --- with the real digest sender (outbox) -----------------------------------------------------

from publisher import sending  # noqa: E402  (the real sender: a missing module fails, never skips)


def test_real_daily_digest_sent_once_per_slot_including_downtime(tmp_path: Path) -> None:
    from publisher import pipeline
    from publisher.store import subscribers as subscriber_store

    settings = make_settings(tmp_path)
    settings = replace(settings, secrets=replace(settings.secrets, secret_key="k" * 32))
    engine = open_store(settings)
    created = local(2026, 11, 23, 12)
    with engine.begin() as conn:
        for n in range(3):
            subscriber_store.add_subscriber(conn, f"d{n}@example.org", name="", cadence="daily",
                                            categories=(), status="active", now=created)
        subscriber_store.add_subscriber(conn, "i@example.org", name="", cadence="immediate",
                                        categories=(), status="active", now=created)

    def add_article(name: str, when: datetime) -> None:
        path = settings.seeds_dir / f"{name}.md"
        path.write_text(f"+++\ntitle = \"{name}\"\ndate = 2026-11-20\n+++\n\nAbout {name}.\n",
                        encoding="utf-8")
        os.utime(path, (1e9, 1e9))
        pipeline.ingest(engine, settings, when)  # first_seen = when

    def mails() -> list[Path]:
        return sorted(settings.outbox_dir.rglob("*.eml")) if settings.outbox_dir.exists() else []

    add_article("monday-evening", local(2026, 11, 23, 18))
    r = Reconciler(engine, settings)
    r.run_pass(local(2026, 11, 23, 18, 1))
    assert len(mails()) == 1  # the immediate subscriber; daily ones wait for 07:00
    r.run_pass(local(2026, 11, 24, 7, 1))
    assert len(mails()) == 4  # one daily digest each
    r.run_pass(local(2026, 11, 24, 7, 2))
    Reconciler(engine, settings).run_pass(local(2026, 11, 24, 12))
    assert len(mails()) == 4  # a second pass sends nothing

    add_article("tuesday", local(2026, 11, 24, 10))
    # Down from Tuesday 12:00 to Thursday 08:00: one daily digest, not two.
    Reconciler(engine, settings).run_pass(local(2026, 11, 26, 8))
    assert len(mails()) == 4 + 1 + 3
    engine.dispose()

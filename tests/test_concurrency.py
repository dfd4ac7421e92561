"""Several real publisher processes on one store, a real SMTP server (aiosmtpd on 127.0.0.1)
counting what each recipient received: exactly once with any mix of senders, kill -9 of
senders, an unsubscribe during a send, planners racing for a slot, a held write lock.

The assertions count the messages the server accepted, never our own ledger. Every test that
takes `backend` runs on SQLite and on PostgreSQL (a throwaway cluster, see conftest.py).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from publisher.config import load_settings
from publisher.store import deliveries as ledger
from publisher.store import open_database
from publisher.store import runs as run_store
from publisher.store import subscribers as subscriber_store
from publisher.store.db import utc_text
from conftest import wait_for
from test_digest_support import SECRET

PUBLISHER = [sys.executable, "-m", "publisher"]


class World:
    """A project folder with a config for the given SMTP server, articles and subscribers."""

    def __init__(self, root: Path, smtp, *, connections: int = 2, lease: float = 300.0,  # type: ignore[no-untyped-def]
                 extra: str = "", daily_at: str | None = None, backend=None,
                 busy_timeout: float | None = None) -> None:
        self.root = root
        self.url = backend.url if backend is not None else None
        database = ""
        if self.url:
            database += f'url = "{self.url}"\n'
        if busy_timeout is not None:
            database += f"busy_timeout = {busy_timeout}\n"
        if database:
            extra += "[database]\n" + database
        self.smtp = smtp
        (root / "seeds").mkdir(exist_ok=True)
        now = datetime.now(timezone.utc)
        daily = daily_at or (now + timedelta(hours=12)).strftime("%H:%M")  # none in a test
        weekday = (now + timedelta(days=3)).strftime("%a").lower()
        self.config = root / "config.toml"
        self.config.write_text(
            '[site]\nbase_url = "https://www.leftvoice.org"\ntimezone = "UTC"\n'
            f'[schedule]\ndaily_at = "{daily}"\nweekly_at = "{weekday} {daily}"\n'
            'settle_seconds = 0\n'
            f'[mail]\nsender = "smtp"\nsmtp_host = "{smtp.host}"\nsmtp_port = {smtp.port}\n'
            f'smtp_timeout = 10\nconnections = {connections}\nretry_delays = [0.1]\n'
            f'lease_seconds = {lease}\n' + extra, encoding="utf-8")
        self.env = {**os.environ, "PUBLISHER_CONFIG": str(self.config),
                    "PUBLISHER_SECRET_KEY": SECRET}
        self.settings = load_settings(self.config, self.env)
        self.connections = connections

    def engine(self, busy_timeout: float | None = None):  # type: ignore[no-untyped-def]
        target = self.url or self.settings.database_path
        if busy_timeout is None:
            return open_database(target)
        return open_database(target, busy_timeout)

    def populate(self, subscribers: int, cadence: str = "immediate",
                 article_times: tuple[datetime, ...] | None = None) -> list[str]:
        """Articles from real seeds (`publisher ingest`), taken in at `article_times`, and
        `subscribers` active subscribers who joined two days before the first of them."""
        now = datetime.now(timezone.utc)
        times = article_times or (now - timedelta(hours=1), now - timedelta(minutes=30))
        for n in range(len(times)):
            seed = self.root / "seeds" / f"story-{n}.md"
            seed.write_text(f'+++\ntitle = "Story number {n}"\ndate = 2026-11-20\n'
                            f'authors = ["Test Writer"]\ncategory = "Labor"\n+++\n\n'
                            f'The picket held all day, story {n}.\n', encoding="utf-8")
            os.utime(seed, (1e9, 1e9))  # settled long ago
        ingest = self.run("ingest")
        assert ingest.returncode == 0, ingest.stderr
        engine = self.engine()
        emails = [f"reader{n:05d}@example.com" for n in range(subscribers)]
        with engine.begin() as conn:
            for n, moment in enumerate(times):  # when the publisher took each one in
                assert conn.execute("UPDATE articles SET first_seen = ? WHERE source = ?",
                                    (utc_text(moment), f"story-{n}.md")).rowcount == 1
            for address in emails:
                subscriber_store.add_subscriber(conn, address, name="", cadence=cadence,
                                                categories=(), status="active",
                                                now=min(times) - timedelta(days=2))
        engine.dispose()
        return emails

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([*PUBLISHER, *args], cwd=self.root, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*PUBLISHER, *args], cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def ledger(self) -> Counter[str]:
        engine = self.engine()
        with engine.begin() as conn:
            counts = Counter(ledger.count_by_state(conn))
        engine.dispose()
        return counts

    def unfinished(self) -> int:
        counts = self.ledger()
        return counts["queued"] + counts["sending"]


def received(smtp) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """recipient -> the Message-IDs of every message the server accepted for them."""
    out: dict[str, list[str]] = {}
    for msg in smtp.parsed():
        out.setdefault(msg["To"].addresses[0].addr_spec, []).append(msg["Message-ID"])
    return out


SENDERS = {
    "send-digests": ("send-digests",),
    "send-digests --cadence immediate": ("send-digests", "--cadence", "immediate"),
    "tick": ("tick",),
    "run": ("run",),
}


# --- 4 senders at once ------------------------------------------------------------------------

@pytest.mark.parametrize("mix", [
    ("send-digests", "send-digests", "send-digests --cadence immediate", "tick"),
    ("run", "send-digests", "send-digests", "send-digests --cadence immediate"),
])
def test_four_senders_at_once_deliver_each_digest_exactly_once(tmp_path, smtp_server, mix, backend):  # type: ignore[no-untyped-def]
    world = World(tmp_path, smtp_server, backend=backend)
    emails = world.populate(2000)
    procs = [world.start(*SENDERS[name]) for name in mix]
    finite = [p for name, p in zip(mix, procs) if name != "run"]
    for proc in finite:
        proc.wait(120)
    wait_for(lambda: len(smtp_server.messages) >= 2000 and world.unfinished() == 0, 60,
             "every subscriber's digest")
    for name, proc in zip(mix, procs):
        if name == "run":
            time.sleep(1.0)  # anything it would still (wrongly) send arrives meanwhile
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)
    for name, proc in zip(mix, procs):
        _, err = proc.communicate()
        assert proc.returncode == 0, f"{name}: {err}"
        assert "Traceback" not in err, f"{name}: {err}"
    got = received(smtp_server)
    assert sorted(got) == emails
    copies = Counter(len(ids) for ids in got.values())
    assert copies == {1: 2000}, copies
    assert world.ledger() == {"sent": 2000}


# --- kill -9 of senders, restarted until done -------------------------------------------------

def test_random_kill_9_of_four_senders_loses_nothing_and_duplicates_only_in_flight(  # type: ignore[no-untyped-def]
        tmp_path, smtp_server, backend):
    world = World(tmp_path, smtp_server, lease=1.0, backend=backend)
    emails = world.populate(2000)
    smtp_server.delay = 0.002  # ~4 s of sending for four senders: kills land mid-send
    lanes = ["send-digests", "send-digests --cadence immediate", "send-digests", "tick"]
    rng = random.Random(20261201)
    procs: list[subprocess.Popen[str] | None] = [None] * len(lanes)
    kill_at: list[float | None] = [None] * len(lanes)
    kills = 0
    allowance = 0  # at most one message per connection was in flight at each kill
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for i, name in enumerate(lanes):
            proc = procs[i]
            if proc is not None and proc.poll() is None:
                at = kill_at[i]
                if at is not None and time.monotonic() >= at:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    kills += 1
                    allowance += world.connections
                    procs[i] = None
                continue
            if proc is not None:
                _, err = proc.communicate()
                assert proc.returncode == 0, f"{name}: {err}"
                procs[i] = None
        if all(p is None for p in procs):
            if world.unfinished() == 0 and len(smtp_server.messages) >= len(emails):
                break
            for i, name in enumerate(lanes):
                procs[i] = world.start(*SENDERS[name])
                kill_at[i] = (time.monotonic() + rng.uniform(0.4, 1.6)
                              if kills < 8 and rng.random() < 0.8 else None)
        time.sleep(0.02)
    else:
        raise AssertionError(f"not done after 120 s: {world.ledger()}")
    assert kills >= 3, "the senders finished too fast to be killed"
    got = received(smtp_server)
    assert sorted(got) == emails, f"lost: {sorted(set(emails) - set(got))[:10]}"
    extra = sum(len(ids) - 1 for ids in got.values())
    assert extra <= allowance, f"{extra} extra copies for {kills} kills"
    assert all(len(set(ids)) == 1 for ids in got.values())  # a resend has the same Message-ID
    assert world.ledger() == {"sent": 2000}
    print(f"{kills} kills, {extra} extra copies (allowed {allowance})")


# --- unsubscribe during a send ----------------------------------------------------------------

def test_an_unsubscribe_committed_during_a_send_stops_that_message(tmp_path, smtp_server, backend):  # type: ignore[no-untyped-def]
    from publisher import subscriptions
    from publisher.web import Server, create_app

    from conftest import free_port

    port = free_port()
    world = World(tmp_path, smtp_server, connections=1, backend=backend,
                  extra=f'[web]\npublic_url = "http://127.0.0.1:{port}"\nport = {port}\n')
    emails = world.populate(1000)
    engine = world.engine()
    server = Server(create_app(world.settings, engine), "127.0.0.1", port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    links = subscriptions.Links.from_settings(world.settings)
    smtp_server.delay = 0.002
    # subscribers are sent in id order: the last 100 are far from what is claimed at the time
    late = list(range(901, 1001))
    try:
        proc = world.start("send-digests")
        wait_for(lambda: len(smtp_server.messages) >= 100, 60, "the first 100 mails")
        import http.client

        for sid in late[:50]:  # one-click POST (RFC 8058), as a mail client does it
            url = links.personal(sid).unsubscribe_url.split(f":{port}", 1)[1]
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", url, body=b"List-Unsubscribe=One-Click",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert conn.getresponse().status == 200
            conn.close()
        with engine.begin() as conn:  # and through the store
            for sid in late[50:]:
                subscriber_store.set_status(conn, sid, "unsubscribed", datetime.now(timezone.utc))
        at_unsubscribe = len(smtp_server.messages)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    finally:
        server.stop(wait=5)
        thread.join(5)
        engine.dispose()
    assert at_unsubscribe < 800, "the send was nearly over before the unsubscribes"
    got = received(smtp_server)
    gone = {emails[sid - 1] for sid in late}
    assert not gone & set(got), sorted(gone & set(got))[:5]
    assert sorted(got) == sorted(set(emails) - gone)
    assert all(len(ids) == 1 for ids in got.values())


# --- planners racing ----------------------------------------------------------------------------

def test_planners_at_once_plan_one_digest_per_subscriber_and_slot(tmp_path, smtp_server, backend):  # type: ignore[no-untyped-def]
    now = datetime.now(timezone.utc)
    slot_local = now - timedelta(minutes=3)
    world = World(tmp_path, smtp_server, daily_at=slot_local.strftime("%H:%M"), backend=backend)
    slot = slot_local.replace(second=0, microsecond=0)
    # one article before the slot, one after it: the slot's digest and a "send now" digest
    # differ, so two planners that both planned would send two different digests
    emails = world.populate(500, cadence="daily",
                            article_times=(slot - timedelta(hours=1), slot + timedelta(seconds=30)))
    procs = [world.start(*args) for args in
             (("tick",), ("send-digests",), ("send-digests",), ("send-digests",))]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    again = world.run("tick")  # the slot is done: nothing more
    assert again.returncode == 0, again.stderr
    got = received(smtp_server)
    assert sorted(got) == emails
    assert Counter(len(ids) for ids in got.values()) == {1: 500}
    engine = world.engine()
    with engine.begin() as conn:
        rows = [r for n in range(1, 501) for r in ledger.deliveries_for(conn, n)]
        slots = conn.execute("SELECT cadence, slot_at, status FROM schedule_slots "
                             "WHERE cadence = 'daily'").all()
        subs = list(subscriber_store.iter_subscribers(conn))
    engine.dispose()
    assert len(rows) == 500 and {r.state for r in rows} == {"sent"}
    assert len(slots) == 1 and slots[0][2] == "sent", slots
    by_sub = {r.subscriber_id: r for r in rows}
    assert all(s.last_digest_at == by_sub[s.id].watermark for s in subs)


PLANNER = """
import json, os, sys, time
from datetime import datetime, timezone
from pathlib import Path
from publisher import sending
from publisher.config import load_settings
from publisher.store import open_database
settings = load_settings(Path(sys.argv[1]))
engine = open_database(settings.database.url or settings.database_path)
go = Path(sys.argv[3])
while not go.exists():  # every planner starts at the same moment
    time.sleep(0.001)
if sys.argv[2] == "now":  # `send-digests`: every cadence, when due, up to now
    r = sending.send_digests(engine, settings, datetime.now(timezone.utc))
else:  # the scheduler's daily slot
    slot = datetime.fromisoformat(sys.argv[2])
    r = sending.send_digests(engine, settings, slot, cadence="daily", slot=slot)
print(json.dumps({"planned": r.planned, "slot_planned": r.slot_planned, "sent": r.sent}))
"""


def test_planners_started_at_the_same_moment_plan_one_digest_per_subscriber(tmp_path, smtp_server, backend):  # type: ignore[no-untyped-def]
    world = World(tmp_path, smtp_server, backend=backend)
    slot = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=5)
    emails = world.populate(1500, cadence="daily",
                            article_times=(slot - timedelta(hours=1), slot + timedelta(minutes=1)))
    go = tmp_path / "go"
    modes = [slot.isoformat(), "now", slot.isoformat(), "now"]
    procs = [subprocess.Popen([sys.executable, "-c", PLANNER, str(world.config), mode, str(go)],
                              env=world.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for mode in modes]
    time.sleep(2.0)  # imported and waiting
    go.touch()
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        reports.append(json.loads(out))
    slot_reports = [r for r, m in zip(reports, modes) if m != "now"]
    assert sorted(r["slot_planned"] for r in slot_reports) == [False, True]
    assert sum(r["planned"] for r in reports) == 1500
    got = received(smtp_server)
    assert sorted(got) == emails
    assert Counter(len(ids) for ids in got.values()) == {1: 1500}
    engine = world.engine()
    with engine.begin() as conn:
        assert run_store.slot_claimed(conn, "daily", slot)
        per_subscriber = Counter(r.subscriber_id for n in range(1, 1501)
                                 for r in ledger.deliveries_for(conn, n))
    engine.dispose()
    assert set(per_subscriber.values()) == {1}


def test_the_watermark_never_moves_backwards(tmp_path, smtp_server, backend):  # type: ignore[no-untyped-def]
    world = World(tmp_path, smtp_server, backend=backend)
    world.populate(1, cadence="daily")
    engine = world.engine()
    later, earlier = datetime(2030, 1, 2, tzinfo=timezone.utc), datetime(2030, 1, 1,
                                                                           tzinfo=timezone.utc)
    with engine.begin() as conn:
        a = ledger.get_or_create_digest(conn, ["a000000000000001"], "daily", earlier)
        b = ledger.get_or_create_digest(conn, ["a000000000000002"], "daily", earlier)
        ledger.plan_delivery(conn, 1, a.id, "<a@x>", later, earlier)
        ledger.plan_delivery(conn, 1, b.id, "<b@x>", earlier, earlier)
        claimed, _ = ledger.claim_deliveries(conn, "me", earlier, later, 10)
    by_digest = {c.delivery.digest_id: c.delivery for c in claimed}
    with engine.begin() as conn:  # the later watermark is recorded first
        ledger.mark_sent_many(conn, [(by_digest[a.id], 0)], "me", later)
        ledger.mark_sent_many(conn, [(by_digest[b.id], 0)], "me", later)
        sub = subscriber_store.get_subscriber(conn, 1)
    engine.dispose()
    assert sub is not None and sub.last_digest_at == later


def test_an_expired_lease_goes_to_another_sender_never_back_to_its_own_owner(tmp_path, smtp_server, backend):  # type: ignore[no-untyped-def]
    """The owner of a claim whose lease ran out (a retry waiting, a slow server) still holds
    the message in memory: claiming it again would send it twice from one process."""
    world = World(tmp_path, smtp_server, backend=backend)
    world.populate(2, cadence="daily")
    engine = world.engine()
    t0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
    with engine.begin() as conn:
        digest = ledger.get_or_create_digest(conn, ["a000000000000001"], "daily", t0)
        for sid in (1, 2):
            ledger.plan_delivery(conn, sid, digest.id, f"<{sid}@x>", t0, t0)
        mine, _ = ledger.claim_deliveries(conn, "me", t0, t0 + timedelta(seconds=1), 10)
    later = t0 + timedelta(minutes=5)  # both leases expired
    with engine.begin() as conn:
        again, closed = ledger.claim_deliveries(conn, "me", later, later + timedelta(hours=1), 10)
        theirs, _ = ledger.claim_deliveries(conn, "other", later, later + timedelta(hours=1), 10)
    engine.dispose()
    assert len(mine) == 2 and (again, closed) == ([], 0)
    assert sorted(c.delivery.subscriber_id for c in theirs) == [1, 2]


def test_recording_sent_rows_and_claiming_the_next_ones_at_once(tmp_path, smtp_server, backend):  # type: ignore[no-untyped-def]
    world = World(tmp_path, smtp_server, backend=backend)
    world.populate(5, cadence="daily")
    engine = world.engine()
    t0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
    mark = t0 + timedelta(hours=2)
    with engine.begin() as conn:
        digest = ledger.get_or_create_digest(conn, ["a000000000000001"], "daily", t0)
        for sid in range(1, 6):
            ledger.plan_delivery(conn, sid, digest.id, f"<{sid}@x>", mark, t0)
        subscriber_store.set_status(conn, 4, "unsubscribed", t0)
    conn = engine.connect()
    try:
        first, _ = ledger.claim_deliveries(conn, "me", t0, t0 + timedelta(hours=1), 2)
        sent = [(item.delivery, 0) for item in first]
        rest, closed = ledger.record_and_claim(conn, sent, "me", t0, t0,
                                               t0 + timedelta(hours=1), 10)
        rows = {sid: ledger.deliveries_for(conn, sid)[0] for sid in range(1, 6)}
        subs = {sid: subscriber_store.get_subscriber(conn, sid) for sid in range(1, 6)}
    finally:
        conn.close()
        engine.dispose()
    assert [i.delivery.subscriber_id for i in first] == [1, 2]
    assert [i.delivery.subscriber_id for i in rest] == [3, 5] and closed == 1
    assert [rows[s].state for s in range(1, 6)] == ["sent", "sent", "sending", "failed", "sending"]
    assert rows[1].attempts == 1 and rows[4].last_error == "subscriber is unsubscribed"
    assert [subs[s].last_digest_at for s in range(1, 6)] == [mark, mark, None, None, None]


# --- a busy database ----------------------------------------------------------------------------

HOLD_LOCK = """
import sys, time
target = sys.argv[1]
if "://" in target:  # PostgreSQL: hold the rows every writer here needs
    import psycopg
    conn = psycopg.connect(target)
    conn.execute("UPDATE store_locks SET holder = 'someone else'")
    conn.execute("UPDATE subscribers SET name = name")
else:  # SQLite: the one write lock
    import sqlite3
    conn = sqlite3.connect(target, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE store_locks SET holder = 'someone else'")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
conn.rollback()
"""


def test_a_held_write_lock_gives_one_clean_line_exit_1_and_the_web_503(tmp_path, smtp_server, backend):  # type: ignore[no-untyped-def]
    from publisher.web import Server, create_app

    from conftest import free_port

    port = free_port()
    world = World(tmp_path, smtp_server, backend=backend, busy_timeout=1,
                  extra=f'[web]\npublic_url = '
                        f'"http://127.0.0.1:{port}"\nport = {port}\n')
    world.populate(20)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK,
                               world.url or str(world.settings.database_path), "30"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        started = time.monotonic()
        result = world.run("send-digests")
        waited = time.monotonic() - started
        assert result.returncode == 1, result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: the state database is busy (another process has "
                                   "held a write lock for 1 s): "), lines[0]
        if not world.url:
            assert str(world.settings.database_path) in lines[0]
        assert waited >= 1  # it waited the configured bound before giving up...
        assert holder.poll() is None  # ...and did not wait for the holder to let go
        assert smtp_server.messages == []
        # the web: 503 with Retry-After, never 500
        engine = world.engine(busy_timeout=1)
        server = Server(create_app(world.settings, engine), "127.0.0.1", port)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            import http.client

            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            token = _unsubscribe_path(world, port, 1)
            conn.request("POST", token, body=b"List-Unsubscribe=One-Click",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
            reply = conn.getresponse()
            reply.read()
            assert reply.status == 503
            assert int(reply.getheader("Retry-After")) > 0
            conn.close()
        finally:
            server.stop(wait=5)
            thread.join(5)
            engine.dispose()
    finally:
        holder.kill()
        holder.wait()
    assert world.ledger() == {}  # nothing half-done: no plan was committed
    engine = world.engine()
    with engine.begin() as conn:
        assert subscriber_store.get_subscriber(conn, 1).status == "active"
    engine.dispose()
    # once the lock is gone, the same command does it all
    done = world.run("send-digests")
    assert done.returncode == 0, done.stderr
    assert len(received(smtp_server)) == 20


def _unsubscribe_path(world: World, port: int, subscriber_id: int) -> str:
    from publisher import subscriptions

    url = subscriptions.Links.from_settings(world.settings).personal(subscriber_id).unsubscribe_url
    return url.split(f":{port}", 1)[1]


# --- orphans: kill -9 the main process of a parallel build --------------------------------------

def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_kill_9_of_a_parallel_build_leaves_no_worker_and_the_next_tick_runs(tmp_path, smtp_server, backend):  # type: ignore[no-untyped-def]
    world = World(tmp_path, smtp_server, extra="[feeds]\nworkers = 2\n", backend=backend)
    body = " ".join(["Workers walked out at dawn and the picket held all day."] * 30)
    seeds = tmp_path / "seeds"
    for n in range(3000):
        (seeds / f"strike-{n:04d}.md").write_text(
            f'+++\ntitle = "Strike day {n}"\ndate = 2026-11-20\nauthors = ["Test Writer"]\n'
            f'category = "Labor"\n+++\n\n{body} {n}\n', encoding="utf-8")
        os.utime(seeds / f"strike-{n:04d}.md", (1e9, 1e9))  # settled long ago
    proc = world.start("tick")
    workers: set[int] = set()

    def parsing() -> bool:
        workers.update(_children(proc.pid))
        return len(workers) >= 2 or proc.poll() is not None

    wait_for(parsing, 60, "the worker processes")
    assert proc.poll() is None and len(workers) >= 2, "the build ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = time.monotonic()
    wait_for(lambda: not any(_alive(p) for p in workers), 2.0, "the workers to die")
    assert time.monotonic() - killed < 2.0
    status = world.run("status", "--json")
    assert status.returncode == 0, status.stderr
    process = json.loads(status.stdout)["process"]
    assert (process["running"], process["pid"]) == (False, None), process
    again = world.run("tick", timeout=180)  # not exit 3: nobody holds the lock any more
    assert again.returncode == 0, again.stderr
    assert "another publisher" not in again.stderr

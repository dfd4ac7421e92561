"""`publisher run` / `tick` as real processes, with a real SMTP server on 127.0.0.1 (aiosmtpd).

Each test starts the daemon with a 1 s scan interval in a throwaway project, does what an
operator or a crash would do (drop a seed, write one slowly, SIGKILL, SIGTERM, start a second
copy) and checks the feeds, the mails the server received and the ledger.
"""

from __future__ import annotations

import asyncio
import email
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")

from publisher.store import open_database  # noqa: E402
from publisher.store import subscribers as subscriber_store  # noqa: E402
from conftest import wait_for  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PUBLISHER = [sys.executable, "-m", "publisher"]
SECRET = "s3cret-key-for-tests-0123456789"
pytestmark = pytest.mark.skipif(
    not (REPO / "publisher" / "sending.py").exists(), reason="publisher.sending not there yet")


class Inbox:
    """aiosmtpd handler: keeps (recipient, Message-ID, Subject) of every accepted mail."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.mails: list[tuple[str, str, str]] = []
        self.delay = 0.0

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if self.delay:
            await asyncio.sleep(self.delay)
        msg = email.message_from_bytes(envelope.content)
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.mails.append((rcpt, msg["Message-ID"], msg["Subject"]))
        return "250 OK"

    def count(self) -> int:
        with self.lock:
            return len(self.mails)

    def by_recipient(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        with self.lock:
            for rcpt, mid, _ in self.mails:
                found.setdefault(rcpt, []).append(mid)
        return found


@pytest.fixture
def smtp():  # type: ignore[no-untyped-def]
    inbox = Inbox()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = aiosmtpd_controller.Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    inbox.port = port  # type: ignore[attr-defined]
    yield inbox
    controller.stop()


class Daemonised:
    """A throwaway project driven through the `publisher` command."""

    def __init__(self, root: Path, smtp_port: int, settle: float = 1.0) -> None:
        self.root = root
        self.seeds = root / "seeds"
        self.seeds.mkdir()
        for seed in sorted((REPO / "seeds").glob("*.txt")):
            shutil.copyfile(seed, self.seeds / seed.name)
            os.utime(self.seeds / seed.name, (1e9, 1e9))
        # Digest slots twelve hours away, so none falls inside a test.
        later = (datetime.now(timezone.utc) + timedelta(hours=12)).strftime("%H:%M")
        weekday = (datetime.now(timezone.utc) + timedelta(days=3)).strftime("%a").lower()
        (root / "config.toml").write_text(
            '[site]\nbase_url = "https://www.leftvoice.org"\ntimezone = "UTC"\n'
            f'[schedule]\nscan_interval = 1\nsettle_seconds = {settle}\n'
            f'daily_at = "{later}"\nweekly_at = "{weekday} {later}"\n'
            f'[mail]\nsender = "smtp"\nsmtp_host = "127.0.0.1"\nsmtp_port = {smtp_port}\n'
            'smtp_timeout = 10\nretry_delays = [0.2]\nlease_seconds = 2\n',
            encoding="utf-8")
        self.env = {**os.environ, "PUBLISHER_CONFIG": str(root / "config.toml"),
                    "PUBLISHER_SECRET_KEY": SECRET}
        self.procs: list[subprocess.Popen[str]] = []

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*PUBLISHER, *args], cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def start(self, *args: str) -> subprocess.Popen[str]:
        log = open(self.root / f"daemon-{len(self.procs)}.log", "w")  # noqa: SIM115
        proc = subprocess.Popen([*PUBLISHER, "run", *args], cwd=self.root, env=self.env,
                                stdout=log, stderr=subprocess.STDOUT, text=True)
        proc.log_path = Path(log.name)  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def log(self, proc: subprocess.Popen[str]) -> str:
        return proc.log_path.read_text(encoding="utf-8")  # type: ignore[attr-defined]

    def wait_log(self, proc: subprocess.Popen[str], text: str, timeout: float = 10) -> None:
        wait_for(lambda: text in self.log(proc), timeout, f"{text!r} in the daemon log:\n"
                 + self.log(proc))

    def add_subscribers(self, cadence: str, count: int, prefix: str) -> list[str]:
        engine = self.store()
        now = datetime.now(timezone.utc)
        emails = [f"{prefix}{n}@example.org" for n in range(count)]
        with engine.begin() as conn:
            for address in emails:
                subscriber_store.add_subscriber(conn, address, name="", cadence=cadence,
                                                categories=(), status="active", now=now)
        engine.dispose()
        return emails

    def store(self):  # type: ignore[no-untyped-def]
        """The project's store: its SQLite file, or the test's PostgreSQL database."""
        return open_database(os.environ.get("PUBLISHER_DATABASE_URL")
                             or self.root / "state" / "publisher.db")

    def new_seed(self, name: str, title: str) -> Path:
        path = self.seeds / name
        tmp = self.root / f"{name}.tmp"
        tmp.write_text(markdown_seed(title), encoding="utf-8")
        os.replace(tmp, path)
        return path

    def ledger(self) -> Counter[str]:
        engine = self.store()
        with engine.begin() as conn:
            found = Counter({state: n for state, n in conn.execute(
                "SELECT state, count(*) FROM deliveries GROUP BY state")})
        engine.dispose()
        return found

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)


def markdown_seed(title: str, body: str = "") -> str:
    body = body or " ".join(["Workers walked out at dawn and the picket held all day."] * 20)
    return (f'+++\ntitle = "{title}"\ndate = 2026-11-20\nauthors = ["Test Writer"]\n'
            f'category = "Labor"\n+++\n\n{body}\n')


@pytest.fixture
def proj(tmp_path: Path, smtp: Inbox):  # type: ignore[no-untyped-def]
    p = Daemonised(tmp_path, smtp.port)  # type: ignore[attr-defined]
    first = p.cli("tick")  # the existing seeds, before anyone subscribes
    assert first.returncode == 0, first.stderr
    yield p
    p.stop_all()


def test_new_seed_reaches_feed_and_immediate_inboxes_once(proj: Daemonised, smtp: Inbox) -> None:
    immediate = proj.add_subscribers("immediate", 3, "now")
    daily = proj.add_subscribers("daily", 2, "day")
    proc = proj.start()
    proj.wait_log(proc, "next runs:")
    proj.new_seed("strike.md", "Dockers strike at dawn")
    atom = proj.root / "feeds" / "atom.xml"
    wait_for(lambda: "Dockers strike at dawn" in atom.read_text(encoding="utf-8"), 15,
             "the Atom feed to hold the new article")
    wait_for(lambda: all(r in smtp.by_recipient() for r in immediate), 15,
             "every immediate subscriber's mail")
    time.sleep(2)  # a few more scans: nothing else may arrive
    got = smtp.by_recipient()
    assert {r: len(m) for r, m in got.items()} == {r: 1 for r in immediate}
    assert not any(r in got for r in daily)
    assert all("Dockers strike at dawn" in subject for _, _, subject in smtp.mails)

    status = proj.cli("status", "--json")
    import json  # noqa: PLC0415

    data = json.loads(status.stdout)
    assert data["process"]["running"] and data["process"]["pid"] == proc.pid
    assert data["articles"]["total"] == 3
    assert data["subscribers"]["active"] == {"immediate": 3, "daily": 2, "weekly": 0}
    assert data["deliveries"] == {"queued": 0, "sent": 3, "failed": 0}
    assert data["last_scan"]["scan"]["files"] == 3
    assert data["last_digests"]["outcome"] == "ok"
    assert set(data["next_runs"]) >= {"scan", "daily", "weekly"}

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(5) == 0
    log = proj.log(proc)
    assert "Traceback" not in log
    for event in ("scan: ", "ingest: 1 new", "feeds: ", "digests immediate: 3 sent", "stopped"):
        assert event in log, event


def test_seed_written_slowly_is_ingested_once_complete(proj: Daemonised) -> None:
    proc = proj.start()
    proj.wait_log(proc, "next runs:")
    path = proj.seeds / "slow.md"
    text = markdown_seed("Slowly written", " ".join(f"part{n}" for n in range(40)) + " THE-END")
    chunks = [text[i:i + 60] for i in range(0, len(text), 60)]
    step = 2.5 / len(chunks)  # about 2.5 s in all, far longer than a scan interval
    with path.open("w", encoding="utf-8") as fh:
        for chunk in chunks:
            fh.write(chunk)
            fh.flush()
            time.sleep(step)
    shown = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        shown = proj.cli("articles", "show", "slow.md", "--json")
        if shown.returncode == 0:
            break
        time.sleep(0.3)
    assert shown is not None and shown.returncode == 0, proj.log(proc)
    assert "THE-END" in shown.stdout
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(5) == 0
    log = proj.log(proc)
    assert log.count("ingest: 1 new") == 1, log
    assert "updated" not in log.replace("0 updated", ""), log
    assert "seed failed" not in log, log


def test_second_daemon_exits_at_once_and_lock_dies_with_sigkill(proj: Daemonised) -> None:
    a, b = proj.start(), proj.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and a.poll() is None and b.poll() is None:
        time.sleep(0.05)
    loser, winner = (a, b) if a.poll() is not None else (b, a)
    assert loser.wait(5) == 3
    assert "another publisher is already running" in proj.log(loser)
    assert f"process {winner.pid} holds" in proj.log(loser)
    tick = proj.cli("tick")
    assert tick.returncode == 3 and "another publisher is already running" in tick.stderr
    winner.kill()
    winner.wait(5)
    c = proj.start()
    proj.wait_log(c, "next runs:")
    assert c.poll() is None
    c.send_signal(signal.SIGINT)
    assert c.wait(5) == 0


def test_sigkill_while_sending_to_200_then_restart_sends_each_exactly_once(
    proj: Daemonised, smtp: Inbox,
) -> None:
    readers = proj.add_subscribers("immediate", 200, "r")
    smtp.delay = 0.01
    proc = proj.start()
    proj.wait_log(proc, "next runs:")
    proj.new_seed("raid.md", "Raid on the union hall")
    wait_for(lambda: smtp.count() >= 60, 20, "the first 60 mails")
    proc.kill()
    proc.wait(5)
    partial = smtp.count()
    assert partial < 200, "the kill came too late to test anything"
    smtp.delay = 0
    again = proj.start()
    wait_for(lambda: set(smtp.by_recipient()) >= set(readers), 20, "every reader's mail")
    # The delivery in flight at the kill was accepted by the server but not recorded: it stays
    # claimed by the dead run until its lease runs out, then is sent again and recorded.
    wait_for(lambda: proj.ledger() == Counter({"sent": 200}), 30, "every delivery recorded")
    again.send_signal(signal.SIGTERM)
    assert again.wait(5) == 0
    got = smtp.by_recipient()
    twice = {r: ids for r, ids in got.items() if len(ids) > 1}
    assert len(twice) <= 1, twice  # at most the one in flight at the kill...
    for ids in twice.values():
        assert len(ids) == 2 and ids[0] == ids[1]  # ...and then with the same Message-ID
    assert proj.ledger() == Counter({"sent": 200})


def test_sigterm_during_send_exits_fast_and_loses_nothing(proj: Daemonised, smtp: Inbox) -> None:
    readers = proj.add_subscribers("immediate", 200, "t")
    smtp.delay = 0.04
    proc = proj.start()
    proj.wait_log(proc, "next runs:")
    proj.new_seed("vote.md", "Strike vote passes")
    wait_for(lambda: smtp.count() >= 20, 20, "the first 20 mails")
    # A long send does not hold up the feeds: a second article is published meanwhile.
    proj.new_seed("count.md", "The count is in")
    atom = proj.root / "feeds" / "atom.xml"
    wait_for(lambda: "The count is in" in atom.read_text(encoding="utf-8"), 5,
             "the feed to be rebuilt during the send")
    assert smtp.count() < 200
    sent_at = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(5) == 0
    assert time.monotonic() - sent_at < 5
    delivered = smtp.count()
    assert delivered < 200
    ledger = proj.ledger()
    assert ledger["sent"] == delivered  # every accepted mail is recorded, none beyond
    assert ledger["sent"] + ledger["queued"] == 200 and not ledger["failed"]
    log = proj.log(proc)
    assert "SIGTERM: stopping" in log and "Traceback" not in log
    smtp.delay = 0
    rest = proj.cli("tick")  # the same pass, once: finishes the queued ones
    assert rest.returncode == 0, rest.stderr
    got = smtp.by_recipient()
    assert sorted(got) == sorted(readers)
    # The first digest, then one with the second article: two distinct mails, none repeated.
    assert all(len(ids) == 2 and len(set(ids)) == 2 for ids in got.values()), got


def test_tick_is_one_pass_with_log_file_exit_codes_and_status(proj: Daemonised) -> None:
    seed = proj.new_seed("march.md", "March on the capitol")
    os.utime(seed, (1e9, 1e9))
    log_file = proj.root / "logs" / "tick.log"
    first = proj.cli("tick", "--log-file", str(log_file))
    assert first.returncode == 0, first.stderr
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert any("ingest: 1 new" in line for line in lines)
    assert all(line[:4].isdigit() for line in lines)  # every line starts with its timestamp
    again = proj.cli("tick", "--log-level", "warning")
    assert again.returncode == 0 and again.stderr == ""  # nothing to do, nothing to say

    broken = proj.seeds / "broken.md"
    broken.write_text("no front matter here\n", encoding="utf-8")
    os.utime(broken, (1e9, 1e9))
    failed = proj.cli("tick")
    assert failed.returncode == 1
    assert "seed failed:" in failed.stderr and "no front matter" in failed.stderr
    assert "Traceback" not in failed.stderr

    status = proj.cli("status")
    assert status.returncode == 0, status.stderr
    text = status.stdout
    assert "process: not running" in text
    assert "last scan: " in text and "(tick, partial)" in text and "1 failed" in text
    assert "deliveries: queued 0, sent 0, failed 0" in text
    assert "articles: 3, newest" in text
    assert "next runs: daily " in text

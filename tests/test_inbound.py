"""`publisher inbound` over Maildir and mbox: digests really sent through a local SMTP server
(aiosmtpd) with VERP return paths, reports made from the corpus for those deliveries, then the
command run as a subprocess; statuses, filing and exactly-once (also after kill -9)."""

from __future__ import annotations

import mailbox
import os
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from publisher import sending, subscriptions
from publisher.store import mailloop

from test_digest_support import (SECRET, T0, add_articles, add_subscriber, get_subscriber,
                                 make_article, make_settings, open_engine)
from test_inbound_classify import corpus

ENV = {**os.environ, "PUBLISHER_SECRET_KEY": SECRET}


class World:
    """Settings, store and SMTP server, with one digest sent to each of `addresses`."""

    def __init__(self, root: Path, smtp_server, addresses: list[str], **mail) -> None:  # type: ignore[no-untyped-def]
        self.root = root
        self.smtp = smtp_server
        self.settings = make_settings(root, mail={"sender": "smtp", "smtp_host": smtp_server.host,
                                                  "smtp_port": smtp_server.port, **mail})
        self.engine = open_engine(self.settings)
        self.subs = {a: add_subscriber(self.engine, a, now=T0 - timedelta(days=2))
                     for a in addresses}
        self.round = 0
        self.send()

    def send(self) -> None:
        """A new article and a digest to everyone active."""
        self.round += 1
        add_articles(self.engine, [make_article(self.round, T0 + timedelta(days=self.round - 1))])
        report = sending.send_digests(self.engine, self.settings,
                                      T0 + timedelta(days=self.round - 1, hours=1))
        assert report.ok, report.errors

    def sent_to(self, address: str, index: int = -1) -> tuple[str, str]:
        """(envelope sender, Message-ID) of a digest sent to `address`."""
        found = [(mail_from, message_from_bytes(data, policy=policy.default)["Message-ID"])
                 for mail_from, rcpts, data in self.smtp.messages if rcpts == [address]]
        return found[index]

    def report(self, name: str, address: str, index: int = -1, **extra: str) -> bytes:
        """A corpus report about that delivery, with a Message-ID of its own (as each real
        report has)."""
        return_path, message_id = self.sent_to(address, index)
        data = corpus(name, RETURN_PATH=return_path, MESSAGE_ID=message_id, RECIPIENT=address,
                      **extra)
        self.reports = getattr(self, "reports", 0) + 1
        head, sep, body = data.partition(b"\n\n")
        head = re.sub(rb"(?im)^(Message-I[dD]: <)", rb"\g<1>%d." % self.reports, head, count=1)
        return head + sep + body

    def status(self, address: str) -> str:
        return get_subscriber(self.engine, self.subs[address].id).status

    def inbound(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "publisher", "--config", str(self.root / "config.toml"),
             "inbound", *args], capture_output=True, text=True, env=ENV, timeout=120)


@pytest.fixture
def world(tmp_path, smtp_server, backend):  # type: ignore[no-untyped-def]
    made = World(tmp_path, smtp_server, ["hard@example.org", "angry@example.org",
                                         "leaving@example.org", "fine@example.org"],
                 bounce_after=1)
    assert made.engine.backend == backend.name  # the store the test means, not a fallback
    yield made
    made.engine.dispose()


def make_maildir(path: Path, messages: dict[str, bytes]) -> Path:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    for name, data in messages.items():
        (path / "new" / name).write_bytes(data)
    return path


def test_digests_go_out_with_a_verp_return_path(world) -> None:  # type: ignore[no-untyped-def]
    return_path, message_id = world.sent_to("hard@example.org")
    links = subscriptions.Links.from_settings(world.settings)
    digest_id, subscriber_id = links.parse_return_path(return_path)
    assert subscriber_id == world.subs["hard@example.org"].id
    assert return_path.startswith("bounces+") and return_path.endswith("@leftvoice.org")
    assert message_id == links.message_id(digest_id, subscriber_id)


def test_maildir_bounces_complaints_unsubscribes_and_the_rest(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    unsub = subscriptions.Links.from_settings(world.settings).personal(
        world.subs["leaving@example.org"].id).unsubscribe_token
    box = make_maildir(tmp_path / "Maildir", {
        "1.dsn": world.report("dsn_postfix_user_unknown.eml", "hard@example.org"),
        "2.arf": world.report("arf_outlook_jmrp_abuse_redacted.eml", "angry@example.org"),
        "3.unsub": world.report("unsubscribe_mailto_subject.eml", "leaving@example.org",
                                UNSUB_TOKEN=unsub),
        "4.vacation": world.report("autoreply_vacation.eml", "fine@example.org"),
        "5.human": world.report("human_reply.eml", "fine@example.org"),
        "6.garbage": corpus("garbage_binary.eml"),
        "7.soft": world.report("dsn_postfix_mailbox_full_delayed.eml", "fine@example.org"),
    })
    result = world.inbound("--maildir", str(box))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "hard@example.org is now bouncing: DSN 5.1.1 for hard@example.org: smtp; 550 5.1.1 "
        "<hard@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
        "angry@example.org complained: no more digests",
        "leaving@example.org unsubscribed by mail",
        "inbound: 7 messages: 1 hard bounces, 1 soft bounces, 1 complaints, 1 unsubscribes, "
        "1 ignored, 2 left in place, 0 already processed",
    ]
    left = result.stderr.splitlines()
    assert len(left) == 2 and all(line.startswith("left in place: ") for line in left)
    assert "neither a bounce, a complaint nor an unsubscribe" in left[0]
    assert "not a mail message" in left[1]
    # each line names where the message is, so the operator can look at it
    assert left[0].startswith(f"left in place: {box / 'new' / '5.human'} (")
    assert left[1].startswith(f"left in place: {box / 'new' / '6.garbage'} (sha256:")
    assert [world.status(a) for a in world.subs] == ["bouncing", "complained", "unsubscribed",
                                                     "active"]
    fine = get_subscriber(world.engine, world.subs["fine@example.org"].id)
    assert (fine.soft_bounces, fine.failures) == (1, 0)
    # Acted-on and ignored messages are filed in the processed folder, nothing is deleted.
    assert sorted(os.listdir(box / "new")) == ["5.human", "6.garbage"]
    filed = sorted(n.split(":")[0] for n in os.listdir(box / ".processed" / "cur"))
    assert filed == ["1.dsn", "2.arf", "3.unsub", "4.vacation", "7.soft"]
    # The next send skips them; a second run acts on nothing again.
    world.send()
    latest = {rcpts[0] for _, rcpts, _ in world.smtp.messages[-4:]}
    assert "fine@example.org" in latest
    assert world.smtp.messages[-1][1] == ["fine@example.org"]
    assert len(world.smtp.messages) == 5
    again = world.inbound("--maildir", str(box))
    assert again.stdout.splitlines()[-1].endswith("2 left in place, 0 already processed")


def test_mbox(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bounces.mbox"
    box = mailbox.mbox(path)
    for data in (world.report("dsn_gmail_no_such_user.eml", "hard@example.org"),
                 world.report("arf_yahoo_abuse.eml", "angry@example.org"),
                 world.report("human_reply.eml", "fine@example.org")):
        box.add(mailbox.mboxMessage(data))
    box.flush()
    box.close()
    result = world.inbound("--mbox", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        "inbound: 3 messages: 1 hard bounces, 0 soft bounces, 1 complaints, 0 unsubscribes, "
        "0 ignored, 1 left in place, 0 already processed")
    assert (world.status("hard@example.org"), world.status("angry@example.org")) == \
        ("bouncing", "complained")
    assert result.stderr.startswith(f"left in place: {path} message 3 (")
    remaining = mailbox.mbox(path)
    assert [m["Subject"] for m in remaining] == ["Re: Left Voice: 3 new articles"]
    processed = mailbox.mbox(tmp_path / "bounces.mbox.processed")
    assert len(processed) == 2


def test_a_report_found_only_by_message_id_or_address(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Reports to the plain bounce address (no VERP tag) still map to the delivery."""
    _, message_id = world.sent_to("hard@example.org")
    by_id = corpus("dsn_exim_multipart_report.eml", RETURN_PATH="bounces@leftvoice.org",
                   MESSAGE_ID=message_id, RECIPIENT="someone-else@example.org")
    by_address = corpus("bounce_qmail.eml", RETURN_PATH="bounces@leftvoice.org",
                        MESSAGE_ID="<unknown@elsewhere>", RECIPIENT="angry@example.org")
    unknown = corpus("bounce_qmail.eml", RETURN_PATH="bounces@leftvoice.org",
                     MESSAGE_ID="<unknown@elsewhere>", RECIPIENT="stranger@example.org"
                     ).replace(b"12345.qmail@", b"67890.qmail@")
    box = make_maildir(tmp_path / "M", {"a": by_id, "b": by_address, "c": unknown})
    result = world.inbound("--maildir", str(box))
    assert (world.status("hard@example.org"), world.status("angry@example.org")) == \
        ("bouncing", "bouncing")
    assert "it names no subscriber" in result.stderr and os.listdir(box / "new") == ["c"]


def test_hard_bounces_count_digests_in_a_row(tmp_path, smtp_server) -> None:  # type: ignore[no-untyped-def]
    """bounce_after = 2: a report arriving after the next digest was accepted still counts;
    a digest with no report in between starts the count again."""
    w = World(tmp_path, smtp_server, ["a@example.org", "b@example.org"], bounce_after=2)
    w.send()  # two digests each
    box = make_maildir(tmp_path / "M", {
        "a1": w.report("dsn_postfix_user_unknown.eml", "a@example.org", 0),
        "b1": w.report("dsn_postfix_user_unknown.eml", "b@example.org", 0),
    })
    w.inbound("--maildir", str(box))
    assert (w.status("a@example.org"), w.status("b@example.org")) == ("active", "active")
    a2 = w.report("dsn_gmail_no_such_user.eml", "a@example.org", 1)
    (box / "new" / "a2").write_bytes(a2)
    w.inbound("--maildir", str(box))
    assert w.status("a@example.org") == "bouncing"
    w.send()  # b's second digest got no report; the third bounces: one in a row
    (box / "new" / "b3").write_bytes(w.report("dsn_gmail_no_such_user.eml", "b@example.org", 2))
    w.inbound("--maildir", str(box))
    b = get_subscriber(w.engine, w.subs["b@example.org"].id)
    assert (b.status, b.failures) == ("active", 1)
    w.engine.dispose()


def test_kill_9_mid_run_acts_on_nothing_twice(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """300 delay reports (soft bounces: each one counted) with distinct Message-IDs; the run is
    killed after some were recorded; a second run finishes: every report counted exactly once,
    every message filed."""
    template = world.report("dsn_postfix_mailbox_full_delayed.eml", "fine@example.org")
    own = re.search(rb"Message-Id: (<[^>]+>)", template).group(1)
    n = 300
    box = make_maildir(tmp_path / "M", {
        f"{i:04d}.dsn": template.replace(own, f"<delay-{i}@mx.leftvoice.org>".encode())
        for i in range(n)})
    proc = subprocess.Popen(
        [sys.executable, "-m", "publisher", "--config", str(world.root / "config.toml"),
         "inbound", "--maildir", str(box)], env=ENV, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    recorded = 0
    while time.monotonic() < deadline and proc.poll() is None:
        with world.engine.begin() as probe:  # the store seam: the SQLite file or PostgreSQL
            recorded = probe.scalar("SELECT count(*) FROM inbound_messages")
        if recorded >= 20:
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 20 <= recorded < n, "the run must be killed midway"
    result = world.inbound("--maildir", str(box))
    assert result.returncode == 0, result.stderr
    fine = get_subscriber(world.engine, world.subs["fine@example.org"].id)
    assert fine.soft_bounces == n
    with world.engine.begin() as conn:
        assert mailloop.rates_since(conn, T0 - timedelta(days=30))["soft_bounces"] == n
        events = conn.scalar("SELECT count(*) FROM mail_events WHERE kind = 'soft_bounce'")
    assert events == n
    assert os.listdir(box / "new") == []
    assert len(os.listdir(box / ".processed" / "cur")) == n


def test_no_mailbox_is_a_usage_error(world) -> None:  # type: ignore[no-untyped-def]
    result = world.inbound()
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: no inbound mailbox: give --maildir, --mbox or --imap (or set inbound.maildir, "
        "inbound.mbox or inbound.imap_url in the config)"]
    missing = world.inbound("--maildir", str(world.root / "nope"))
    assert missing.returncode == 2 and "not a Maildir" in missing.stderr

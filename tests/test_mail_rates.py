"""Bounce and complaint rates over the last 30 days in `publisher status` and `--json`."""

from __future__ import annotations

import json
from datetime import timedelta
from email import message_from_bytes, policy

from publisher import subscriptions
from publisher.store import open_database

from test_digest_support import SECRET, T0
from test_inbound_classify import corpus

ENV = {"PUBLISHER_SECRET_KEY": SECRET}


def test_rates_and_warnings_in_status(project, tmp_path) -> None:  # type: ignore[no-untyped-def]
    project.write_config(f'[paths]\noutbox = "{project.outbox}"\n[mail]\nbounce_after = 1\n')
    for n in range(4):
        project.run("subscribers", "add", f"reader{n}@example.org", check=True)
    project.run("build-feeds", check=True)
    sent = project.run("send-digests", env=ENV, check=True)
    assert sent.stdout.startswith("digests: 4 sent")
    ids = {}
    for path in project.outbox.glob("*.eml"):
        mail = message_from_bytes(path.read_bytes(), policy=policy.default)
        ids[str(mail["To"])] = str(mail["Message-ID"])
    box = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    (box / "new" / "1").write_bytes(corpus(
        "dsn_postfix_user_unknown.eml", RETURN_PATH="bounces@leftvoice.org",
        MESSAGE_ID=ids["reader0@example.org"], RECIPIENT="reader0@example.org"))
    (box / "new" / "2").write_bytes(corpus(
        "arf_yahoo_abuse.eml", RETURN_PATH="bounces@leftvoice.org",
        MESSAGE_ID=ids["reader1@example.org"], RECIPIENT="reader1@example.org"))
    project.run("inbound", "--maildir", str(box), env=ENV, check=True)
    status = project.run("status", check=True).stdout.splitlines()
    assert "last 30 days: 4 sent, 1 bounced (25.00%), 1 complaints (25.00%), 0 soft bounces, " \
        "0 unsubscribes" in status
    assert "warning: bounce rate 25.00% over 30 days is above 2%: mailbox providers will send " \
        "digests to spam" in status
    assert any(line.startswith("warning: complaint rate 25.00% over 30 days is above 0.1%")
               for line in status)
    data = json.loads(project.run("status", "--json", check=True).stdout)["mail_rates"]
    assert (data["sent"], data["hard_bounces"], data["complaints"]) == (4, 1, 1)
    assert (data["bounce_rate"], data["complaint_rate"]) == (0.25, 0.25)
    assert len(data["warnings"]) == 2


def test_rates_count_only_the_last_30_days(tmp_path, backend) -> None:  # type: ignore[no-untyped-def]
    db = open_database(backend.url or tmp_path / "state.db")
    with db.begin() as conn:
        _, sub = subscriptions.add(conn, "a@example.org", name="", cadence="daily",
                                   categories=(), now=T0)
        subscriptions.complain(conn, sub.id, T0, digest_id=None, detail="old")
        fresh = subscriptions.rates(conn, T0 + timedelta(days=10))
        old = subscriptions.rates(conn, T0 + timedelta(days=31))
    db.dispose()
    assert fresh["complaints"] == 1 and old["complaints"] == 0
    assert old["warnings"] == [] and fresh["sent"] == 0 and fresh["complaint_rate"] == 0.0

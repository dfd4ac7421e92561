"""`send-digests --dry-run --explain`: per subscriber, what would be sent or why nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

from publisher import sending

from test_digest_support import (SECRET, T0, add_articles, add_subscriber, make_article,
                                 make_settings, open_engine)


def test_explain_says_why_per_subscriber(tmp_path, backend) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, mail={"sender": "outbox"})
    engine = open_engine(settings)
    assert engine.backend == backend.name
    before = T0 - timedelta(days=2)
    add_subscriber(engine, "gets@example.org", now=before)
    add_subscriber(engine, "picky@example.org", categories=("Gardening",), now=before)
    add_subscriber(engine, "late@example.org", now=T0 + timedelta(hours=2))
    for address, status in (("gone@example.org", "bouncing"), ("angry@example.org", "complained"),
                            ("new@example.org", "pending")):
        add_subscriber(engine, address, now=before, status=status)
    add_articles(engine, [make_article(1, T0 + timedelta(hours=1), category="Labor")])
    now = T0 + timedelta(hours=3)
    assert sending.explain_digests(engine, settings, now) == [
        ("gets@example.org", "would get 1 article"),
        ("picky@example.org", "no new article in their categories (Gardening)"),
        ("late@example.org", "nothing new since they subscribed (2026-03-01 14:00 UTC)"),
        ("gone@example.org", "suppressed: bouncing"),
        ("angry@example.org", "suppressed: complained"),
        ("new@example.org", "not confirmed yet (pending)"),
    ]
    report = sending.send_digests(engine, settings, now)
    assert report.sent == 1
    why = dict(sending.explain_digests(engine, settings, now + timedelta(hours=1)))
    assert why["gets@example.org"] == ("not due: daily, last digest 2026-03-01 15:00 UTC, "
                                       "next from 2026-03-02 11:00 UTC")
    engine.dispose()


def test_cli_explain_lines_then_the_summary(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, mail={"sender": "outbox"})
    engine = open_engine(settings)
    add_subscriber(engine, "late@example.org", now=T0)
    engine.dispose()
    env = {**os.environ, "PUBLISHER_SECRET_KEY": SECRET}
    base = [sys.executable, "-m", "publisher", "--config", str(tmp_path / "config.toml"),
            "send-digests"]
    result = subprocess.run([*base, "--dry-run", "--explain"], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("late@example.org: nothing new since they subscribed")
    assert lines[-1].startswith("digests (dry run): 0 would be sent, 1 skipped")
    alone = subprocess.run([*base, "--explain"], capture_output=True, text=True, env=env,
                           timeout=60)
    assert alone.returncode == 2 and alone.stderr.strip() == "error: --explain goes with --dry-run"


def test_send_test_mails_an_editor_and_records_nothing(tmp_path, smtp_server) -> None:  # type: ignore[no-untyped-def]
    from email import message_from_bytes, policy

    from publisher import subscriptions
    from publisher.store import deliveries as ledger
    from test_digest_support import get_subscriber

    settings = make_settings(tmp_path, mail={"sender": "smtp", "smtp_host": smtp_server.host,
                                             "smtp_port": smtp_server.port})
    engine = open_engine(settings)
    reader = add_subscriber(engine, "reader@example.org", now=T0 - timedelta(days=1))
    add_articles(engine, [make_article(1, T0 + timedelta(hours=1))])
    env = {**os.environ, "PUBLISHER_SECRET_KEY": SECRET}
    result = subprocess.run(
        [sys.executable, "-m", "publisher", "--config", str(tmp_path / "config.toml"), "digest",
         "send-test", "--to", "Editor@LeftVoice.org", "--subscriber", "reader@example.org"],
        capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == \
        "sent 'Article number 1' (1 articles) to Editor@leftvoice.org"
    ((mail_from, rcpts, data),) = smtp_server.messages
    assert rcpts == ["Editor@leftvoice.org"]
    mail = message_from_bytes(data, policy=policy.default)
    assert mail["To"] == "Editor@leftvoice.org" and mail["Subject"] == "Article number 1"
    links = subscriptions.Links.from_settings(settings)
    unsubscribe = mail["List-Unsubscribe"].split("<")[1].split(">")[0]
    assert links.subscriber_id_from("unsubscribe", unsubscribe.rsplit("/", 1)[1]) == 0
    with engine.begin() as conn:
        assert ledger.count_by_state(conn) == {}
    assert get_subscriber(engine, reader.id).last_digest_at is None
    report = sending.send_digests(engine, settings, T0 + timedelta(hours=2))
    assert report.sent == 1  # the reader still gets their digest
    engine.dispose()

"""A relay refusing every recipient the same way is a server problem, not bounces: the run
stops after a few, with one line, and nobody is marked bouncing (real SMTP server)."""

from __future__ import annotations

import subprocess
import sys
import os
from datetime import timedelta

import pytest

from publisher import sending
from publisher.store import deliveries as ledger
from test_digest_support import (SECRET, T0, add_articles, add_subscriber, get_subscriber,
                                 make_article, make_settings, open_engine)

ADDRESSES = [f"reader{n}@{domain}" for n in range(4)
             for domain in ("example.org", "example.net", "example.com")]


@pytest.fixture
def world(tmp_path, smtp_server):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, mail={"sender": "smtp", "smtp_host": smtp_server.host,
                                             "smtp_port": smtp_server.port, "smtp_timeout": 5.0,
                                             "bounce_after": 1})
    engine = open_engine(settings)
    add_articles(engine, [make_article(1, T0 + timedelta(hours=1))])
    subs = [add_subscriber(engine, a) for a in ADDRESSES]
    yield settings, engine, smtp_server, subs
    engine.dispose()


@pytest.mark.parametrize("reply", ["554 5.7.1 <{rcpt}>: Relay access denied",
                                   "451 4.3.0 Temporary server error, try again later"])
def test_every_recipient_refused_the_same_way_stops_the_run(world, reply: str) -> None:  # type: ignore[no-untyped-def]
    settings, engine, server, subs = world
    for address in ADDRESSES:
        server.rcpt_replies[address] = [reply.format(rcpt=address)] * 10
    report = sending.send_digests(engine, settings, T0 + timedelta(hours=2))
    assert report.fatal.startswith("the server refused every recipient the same way (")
    assert "a server problem, not bounces" in report.fatal
    assert (report.sent, report.failed, report.bouncing) == (0, 0, [])
    assert all(get_subscriber(engine, s.id).status == "active" for s in subs)
    assert all(get_subscriber(engine, s.id).failures == 0 for s in subs)
    with engine.begin() as conn:
        assert ledger.count_by_state(conn).get("failed", 0) == 0
    refused = sum(len(server.rcpt_replies[a]) < 10 for a in ADDRESSES)
    assert refused <= 6  # stopped after a few, not the whole list


def test_the_cli_says_it_in_one_line_and_exits_1(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings, engine, server, subs = world
    for address in ADDRESSES:
        server.rcpt_replies[address] = ["554 5.7.1 Relay access denied"] * 10
    result = subprocess.run(
        [sys.executable, "-m", "publisher", "--config", str(tmp_path / "config.toml"),
         "send-digests"], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PUBLISHER_SECRET_KEY": SECRET})
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: sending stopped: the server refused every recipient the same way (554 5.7.1 "
        "Relay access denied): a server problem, not bounces (nothing was marked bouncing; the "
        "digests stay queued for the next run)"]
    assert all(get_subscriber(engine, s.id).status == "active" for s in subs)
    # Fixed relay: the next run sends everything that stayed queued.
    server.rcpt_replies.clear()
    report = sending.send_digests(engine, settings, T0 + timedelta(hours=3))
    assert report.sent == len(ADDRESSES) and report.ok


def test_refusals_that_differ_or_come_after_an_accept_are_bounces(world) -> None:  # type: ignore[no-untyped-def]
    settings, engine, server, subs = world
    dead = ADDRESSES[:3]  # the first ones refused (held back), then someone is accepted
    for address in dead:
        server.rcpt_replies[address] = ["550 5.1.1 User unknown"]
    report = sending.send_digests(engine, settings, T0 + timedelta(hours=2))
    assert (report.sent, report.failed) == (len(ADDRESSES) - 3, 3)
    assert sorted(report.bouncing) == sorted(dead)
    assert [get_subscriber(engine, s.id).status for s in subs[:4]] == [
        "bouncing", "bouncing", "bouncing", "active"]

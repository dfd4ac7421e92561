"""send_digests against a real SMTP server (aiosmtpd on 127.0.0.1): delivery, ledger, faults."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import pytest

from publisher import sending, tokens
from publisher.store import deliveries as ledger
from publisher.store import articles as article_store
from test_digest_support import (SECRET, T0, add_articles, add_subscriber, get_subscriber,
                                 make_article, make_settings, open_engine)

H1 = T0 + timedelta(hours=1)
H2 = T0 + timedelta(hours=2)


def smtp_settings(tmp_path, server, **mail):  # type: ignore[no-untyped-def]
    return make_settings(tmp_path, mail={"sender": "smtp", "smtp_host": server.host,
                                         "smtp_port": server.port, "smtp_timeout": 5.0, **mail})


@pytest.fixture
def world(tmp_path, smtp_server):  # type: ignore[no-untyped-def]
    settings = smtp_settings(tmp_path, smtp_server)
    engine = open_engine(settings)
    add_articles(engine, [make_article(1, H1, category="Labor", published=T0 - timedelta(days=1)),
                          make_article(2, H1, category="Politics", published=T0 - timedelta(days=2))])
    yield settings, engine, smtp_server
    engine.dispose()


def by_recipient(server):  # type: ignore[no-untyped-def]
    out: dict[str, list] = {}
    for msg in server.parsed():
        out.setdefault(str(msg["To"].addresses[0].addr_spec), []).append(msg)
    return out


def test_digests_arrive_with_headers_parts_links_and_tokens(world):  # type: ignore[no-untyped-def]
    settings, engine, server = world
    ana = add_subscriber(engine, "ana@example.com", name="Ana")
    bob = add_subscriber(engine, "bob@example.com", categories=("politics",), cadence="weekly")
    report = sending.send_digests(engine, settings, H2)
    assert (report.sent, report.skipped, report.failed, report.digests) == (2, 0, 0, 2)
    got = by_recipient(server)
    assert sorted(got) == ["ana@example.com", "bob@example.com"]
    msg = got["ana@example.com"][0]
    assert msg["Subject"] == "Left Voice: 2 new articles"
    assert got["bob@example.com"][0]["Subject"] == "Article number 2"
    assert msg["From"] == "Left Voice <digest@leftvoice.org>"
    assert msg["Message-ID"] == f"<digest-1.{ana.id}@www.leftvoice.org>"
    assert msg["List-Id"] == "Left Voice digest <digest.www.leftvoice.org>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsub = re.fullmatch(r"<https://news\.example\.org/unsubscribe/([\w.-]+)>, "
                         r"<mailto:unsubscribe@www\.leftvoice\.org\?subject=unsubscribe-([\w.-]+)>",
                         msg["List-Unsubscribe"])
    assert unsub and unsub.group(1) == unsub.group(2)
    token = unsub.group(1)
    assert tokens.unsign(SECRET, "unsubscribe", token) == str(ana.id)
    with pytest.raises(tokens.BadToken):
        tokens.unsign(SECRET, "unsubscribe", token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    with pytest.raises(tokens.BadToken):
        tokens.unsign(SECRET, "manage", token)
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "Hi Ana," in text and "Hi Ana," in html
    assert f"https://news.example.org/unsubscribe/{token}" in text
    assert f'href="https://news.example.org/unsubscribe/{token}"' in html
    manage = re.search(r'href="https://news\.example\.org/manage/([\w.-]+)"', html).group(1)
    assert tokens.unsign(SECRET, "manage", manage) == str(ana.id)
    assert 'href="https://news.example.org/digests/1/"' in html
    for n in (1, 2):
        assert f"https://www.leftvoice.org/article-{n}/" in text
        assert f'href="https://www.leftvoice.org/article-{n}/"' in html
    assert all(h.startswith("https://") for h in re.findall(r'href="([^"]+)"', html))
    assert get_subscriber(engine, ana.id).last_digest_at == H2
    assert get_subscriber(engine, bob.id).last_digest_at == H2


def test_watermark_no_new_no_mail_and_corrections_not_resent(world):  # type: ignore[no-untyped-def]
    settings, engine, server = world
    add_subscriber(engine, "ana@example.com", cadence="immediate")
    assert sending.send_digests(engine, settings, H2).sent == 1
    again = sending.send_digests(engine, settings, H2 + timedelta(hours=1))
    assert (again.sent, again.skipped) == (0, 1)
    corrected = make_article(1, H1, title="Corrected title")
    with engine.begin() as conn:
        article_store.update_articles(conn, [corrected])
    add_articles(engine, [make_article(3, H2 + timedelta(hours=2))])
    third = sending.send_digests(engine, settings, H2 + timedelta(hours=3))
    assert third.sent == 1
    last = server.parsed()[-1]
    assert last["Subject"] == "Article number 3"
    assert "Corrected title" not in last.get_body(("plain",)).get_content()
    assert len(server.messages) == 2


def test_new_subscriber_gets_only_later_articles_or_backfill(tmp_path, smtp_server):  # type: ignore[no-untyped-def]
    settings = smtp_settings(tmp_path, smtp_server)
    engine = open_engine(settings)
    add_articles(engine, [make_article(1, T0 - timedelta(days=2)),
                          make_article(2, T0 - timedelta(days=1))])
    add_subscriber(engine, "late@example.com", now=T0)
    assert sending.send_digests(engine, settings, H2).sent == 0
    add_articles(engine, [make_article(3, H1)])
    sending.send_digests(engine, settings, H2)
    assert [m["Subject"] for m in smtp_server.parsed()] == ["Article number 3"]
    backfilled = make_settings(tmp_path, digest={"backfill": 1},
                               mail={"sender": "smtp", "smtp_host": smtp_server.host,
                                     "smtp_port": smtp_server.port})
    add_subscriber(engine, "fresh@example.com", now=T0)
    sending.send_digests(engine, backfilled, H2)
    fresh = by_recipient(smtp_server)["fresh@example.com"][0]
    text = fresh.get_body(("plain",)).get_content()
    assert "Article number 3" in text and "Article number 2" in text
    assert "Article number 1" not in text


def test_451_then_250_is_retried(world):  # type: ignore[no-untyped-def]
    settings, engine, server = world
    add_subscriber(engine, "ana@example.com")
    server.rcpt_replies["ana@example.com"] = ["451 4.7.1 Greylisted, try again"]
    report = sending.send_digests(engine, settings, H2)
    assert (report.sent, report.retried, report.failed) == (1, 1, 0)
    with engine.begin() as conn:
        (row,) = ledger.deliveries_for(conn, 1)
    assert (row.state, row.attempts) == ("sent", 2)


def test_550_fails_only_that_recipient_and_bounces_after_n(world):  # type: ignore[no-untyped-def]
    settings, engine, server = world
    bad = add_subscriber(engine, "gone@example.com")
    add_subscriber(engine, "ana@example.com")
    add_subscriber(engine, "bob@example.com")
    server.rcpt_replies["gone@example.com"] = ["550 5.1.1 No such user"] * 3
    report = sending.send_digests(engine, settings, H2)
    assert (report.sent, report.failed) == (2, 1)
    assert report.errors == ["gone@example.com: 550 5.1.1 No such user"]
    assert sorted(by_recipient(server)) == ["ana@example.com", "bob@example.com"]
    assert get_subscriber(engine, bad.id).last_digest_at is None  # watermark not moved
    for hour in (3, 4):
        sending.send_digests(engine, settings, T0 + timedelta(hours=hour))
    sub = get_subscriber(engine, bad.id)
    assert (sub.status, sub.failures) == ("bouncing", 3)
    later = sending.send_digests(engine, settings, T0 + timedelta(hours=5))
    assert later.sent == later.failed == 0  # bouncing subscribers are skipped


def test_connection_dropped_after_data_is_retried(world):  # type: ignore[no-untyped-def]
    settings, engine, server = world
    add_subscriber(engine, "ana@example.com")
    add_subscriber(engine, "bob@example.com")
    server.drop_after_data.add("ana@example.com")
    report = sending.send_digests(engine, settings, H2)
    assert (report.sent, report.retried, report.failed) == (2, 1, 0)
    assert sorted(by_recipient(server)) == ["ana@example.com", "bob@example.com"]


def test_silent_server_times_out_and_leaves_deliveries_queued(tmp_path, silent_smtp_server):  # type: ignore[no-untyped-def]
    host, port = silent_smtp_server
    settings = make_settings(tmp_path, mail={"sender": "smtp", "smtp_host": host,
                                             "smtp_port": port, "smtp_timeout": 0.3,
                                             "max_attempts": 2})
    engine = open_engine(settings)
    add_articles(engine, [make_article(1, H1)])
    add_subscriber(engine, "ana@example.com")
    started = time.monotonic()
    report = sending.send_digests(engine, settings, H2)
    assert time.monotonic() - started < 5
    assert report.sent == 0 and report.failed == 0
    assert "timed out" in report.fatal
    with engine.begin() as conn:
        (row,) = ledger.deliveries_for(conn, 1)
    assert row.state == "queued"  # the next run will send it


def test_four_connections_and_rate_limit(tmp_path, smtp_server):  # type: ignore[no-untyped-def]
    settings = smtp_settings(tmp_path, smtp_server, connections=4, rate_limit=200.0)
    engine = open_engine(settings)
    add_articles(engine, [make_article(1, H1)])
    for n in range(40):
        add_subscriber(engine, f"reader{n}@example.com", name=f"Reader {n}")
    started = time.monotonic()
    report = sending.send_digests(engine, settings, H2)
    elapsed = time.monotonic() - started
    assert report.sent == 40 and report.digests == 1
    assert elapsed >= 39 / 200 * 0.9  # the rate limit holds
    assert smtp_server.connections == 4  # one reused connection per worker
    assert len({m["Message-ID"] for m in smtp_server.parsed()}) == 40


def test_dry_run_sends_and_records_nothing(world):  # type: ignore[no-untyped-def]
    settings, engine, server = world
    add_subscriber(engine, "ana@example.com")
    report = sending.send_digests(engine, settings, H2, dry_run=True)
    assert (report.sent, report.skipped) == (1, 0)
    assert server.messages == []
    with engine.begin() as conn:
        assert ledger.count_by_state(conn) == {}
    assert get_subscriber(engine, 1).last_digest_at is None


def test_unsubscribed_between_plan_and_send_gets_nothing(world):  # type: ignore[no-untyped-def]
    settings, engine, server = world
    from publisher.store import subscribers as subscriber_store

    ana = add_subscriber(engine, "ana@example.com")
    with engine.begin() as conn:  # a plan left by an interrupted run
        digest = ledger.get_or_create_digest(conn, ["a000000000000001"], "daily", H2)
        ledger.plan_delivery(conn, ana.id, digest.id, "<x@y>", H2, H2)
        subscriber_store.set_status(conn, ana.id, "unsubscribed", H2)
    report = sending.send_digests(engine, settings, H2)
    assert report.sent == 0 and server.messages == []


def test_missing_secret_is_a_clear_error(tmp_path):  # type: ignore[no-untyped-def]
    from test_digest_support import write_config

    from publisher.config import load_settings
    from publisher.errors import ConfigError

    settings = load_settings(write_config(tmp_path), {})
    with pytest.raises(ConfigError, match="PUBLISHER_SECRET_KEY"):
        sending.send_digests(open_engine(settings), settings, H2)


def test_daily_subscriber_not_due_without_cadence_but_sent_with_it(world):  # type: ignore[no-untyped-def]
    settings, engine, server = world
    add_subscriber(engine, "ana@example.com", cadence="daily")
    assert sending.send_digests(engine, settings, H2).sent == 1
    add_articles(engine, [make_article(3, H2 + timedelta(minutes=5))])
    later = H2 + timedelta(hours=1)
    assert sending.send_digests(engine, settings, later).sent == 0  # not due for 20 h
    assert sending.send_digests(engine, settings, later, cadence="daily").sent == 1


class _StopAfter:
    """A sender that sets `stop` once `count` messages have been accepted."""

    def __init__(self, inner, stop, count: int) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.stop, self.count = inner, stop, count
        self.connections = inner.connections
        self.lock = threading.Lock()
        self.accepted = 0

    def open(self):  # type: ignore[no-untyped-def]
        session = self.inner.open()
        outer = self

        class Session:
            def send(self, *args) -> None:  # type: ignore[no-untyped-def]
                session.send(*args)
                with outer.lock:
                    outer.accepted += 1
                    if outer.accepted >= outer.count:
                        outer.stop.set()

            def close(self) -> None:
                session.close()

        return Session()


@pytest.mark.parametrize("connections", [1, 4])
def test_stop_finishes_the_messages_in_flight_and_leaves_the_rest_queued(
        tmp_path, smtp_server, connections):  # type: ignore[no-untyped-def]
    settings = smtp_settings(tmp_path, smtp_server, connections=connections)
    engine = open_engine(settings)
    add_articles(engine, [make_article(1, H1)])
    for n in range(30):
        add_subscriber(engine, f"reader{n}@example.com")
    stop = threading.Event()
    sender = _StopAfter(sending.sender_for(settings), stop, 5)
    report = sending.send_digests(engine, settings, H2, sender=sender, stop=stop)
    assert report.interrupted and not report.fatal and report.failed == 0
    assert 5 <= report.sent <= 5 + connections - 1  # those in flight when stop was set
    assert report.sent == len(smtp_server.messages) == sender.accepted
    with engine.begin() as conn:
        rows = [r for n in range(1, 31) for r in ledger.deliveries_for(conn, n)]
    assert sum(r.state == "sent" for r in rows) == report.sent
    queued = [r for r in rows if r.state == "queued"]
    assert len(queued) == 30 - report.sent
    assert all(r.attempts == 0 and r.last_error == "" for r in queued)  # never attempted
    rest = sending.send_digests(engine, settings, H2)
    assert (rest.sent, rest.resumed, rest.interrupted) == (30 - report.sent, 30 - report.sent,
                                                          False)
    got = by_recipient(smtp_server)
    assert len(got) == 30 and all(len(v) == 1 for v in got.values())


def test_stop_set_before_the_run_plans_and_sends_nothing(world):  # type: ignore[no-untyped-def]
    settings, engine, server = world
    add_subscriber(engine, "ana@example.com")
    stop = threading.Event()
    stop.set()
    report = sending.send_digests(engine, settings, H2, stop=stop)
    assert report.interrupted and (report.sent, report.planned) == (0, 0)
    assert server.messages == []
    assert sending.send_digests(engine, settings, H2).sent == 1


def test_until_plans_the_period_while_date_is_the_send_time(world):  # type: ignore[no-untyped-def]
    settings, engine, server = world
    ana = add_subscriber(engine, "ana@example.com")
    add_articles(engine, [make_article(3, H2 + timedelta(minutes=30))])  # after the period
    sent_at = H2 + timedelta(hours=1)
    report = sending.send_digests(engine, settings, sent_at, cadence="daily", until=H2)
    assert report.sent == 1
    (msg,) = server.parsed()
    assert msg["Date"].datetime == sent_at
    text = msg.get_body(("plain",)).get_content()
    assert "Article number 1" in text and "Article number 3" not in text
    assert get_subscriber(engine, ana.id).last_digest_at == H2  # article 3 comes next time


def test_8bitmime_is_used_when_offered(world):  # type: ignore[no-untyped-def]
    settings, engine, server = world
    add_subscriber(engine, "zoe@example.com", name="Zoë")
    assert sending.send_digests(engine, settings, H2).sent == 1
    (options,) = server.mail_options
    assert "BODY=8BITMIME" in options
    (data,) = [m for _, _, m in server.messages]
    assert not data.isascii() and data.count(b"Content-Transfer-Encoding: 8bit\r\n") == 2


def test_without_8bitmime_the_message_goes_quoted_printable(tmp_path, smtp_server):  # type: ignore[no-untyped-def]
    smtp_server.eight_bit = False
    settings = smtp_settings(tmp_path, smtp_server)
    engine = open_engine(settings)
    add_articles(engine, [make_article(1, H1, title="Grève générale · día 3")])
    add_subscriber(engine, "zoe@example.com", name="Zoë")
    assert sending.send_digests(engine, settings, H2).sent == 1
    assert server_options_plain(smtp_server)
    (data,) = [m for _, _, m in smtp_server.messages]
    assert data.isascii() and b"8bit" not in data
    body = data.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76
    (msg,) = smtp_server.parsed()
    assert msg["To"].addresses[0].display_name == "Zoë"
    for part in msg.iter_parts():
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        assert "Grève générale · día 3" in part.get_content()
        assert "Hi Zoë," in part.get_content()


def server_options_plain(server) -> bool:  # type: ignore[no-untyped-def]
    return all("BODY=8BITMIME" not in options for options in server.mail_options)


def test_without_8bitmime_a_dkim_signature_is_made_for_the_converted_message(tmp_path, smtp_server):  # type: ignore[no-untyped-def]
    import base64
    import subprocess

    import dkim

    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = base64.b64encode(subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True,
        capture_output=True).stdout)
    smtp_server.eight_bit = False
    settings = smtp_settings(tmp_path, smtp_server, dkim_key_file=str(key), dkim_selector="mail")
    engine = open_engine(settings)
    add_articles(engine, [make_article(1, H1, title="Grève générale")])
    add_subscriber(engine, "zoe@example.com", name="Zoë")
    assert sending.send_digests(engine, settings, H2).sent == 1
    (data,) = [m for _, _, m in smtp_server.messages]
    assert data.isascii() and data.count(b"DKIM-Signature:") == 1
    assert dkim.verify(data, dnsfunc=lambda name, timeout=5: b"v=DKIM1; k=rsa; p=" + public)

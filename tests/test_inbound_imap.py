"""`publisher inbound --imap` against a real Dovecot, and the whole mail loop end to end:
digests sent through a local SMTP server -> some turned into DSNs and ARF reports delivered
to the IMAP mailbox -> `publisher inbound` -> statuses -> the next send skips them; and
`publisher run` polling the configured mailbox."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from publisher import subscriptions

from conftest import Dovecot
from test_inbound import World

IMAP_ENV = {"PUBLISHER_IMAP_PASSWORD": Dovecot.PASSWORD}


def inbound(world: World, *args: str, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "publisher", "--config", str(world.root / "config.toml"),
         "inbound", *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PUBLISHER_SECRET_KEY": "test-secret-key-0123456789abcdef",
             **(env if env is not None else IMAP_ENV)})


def test_imap_acts_moves_to_processed_and_leaves_the_rest(tmp_path, smtp_server, dovecot) -> None:  # type: ignore[no-untyped-def]
    world = World(tmp_path, smtp_server, ["hard@example.org", "angry@example.org",
                                          "fine@example.org"], bounce_after=1)
    dovecot.append(world.report("dsn_outlook_recipient_not_found.eml", "hard@example.org"))
    dovecot.append(world.report("arf_yahoo_abuse.eml", "angry@example.org"))
    dovecot.append(world.report("autoreply_outlook_out_of_office.eml", "fine@example.org"))
    dovecot.append(world.report("human_reply.eml", "fine@example.org"))
    result = inbound(world, "--imap", dovecot.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        "inbound: 4 messages: 1 hard bounces, 0 soft bounces, 1 complaints, 0 unsubscribes, "
        "1 ignored, 1 left in place, 0 already processed")
    assert [world.status(a) for a in world.subs] == ["bouncing", "complained", "active"]
    assert result.stderr.startswith("left in place: IMAP INBOX UID 4 (")
    left = dovecot.folder("INBOX")
    assert len(left) == 1 and b"Great piece on the strike" in left[0][1]
    assert b"\\Seen" not in left[0][0]  # read with BODY.PEEK: still unread for a person
    filed = dovecot.folder("processed")
    assert len(filed) == 3 and all(b"\\Deleted" not in flags for flags, _ in filed)
    again = inbound(world, "--imap", dovecot.url)
    assert again.stdout.splitlines()[-1].endswith("1 left in place, 0 already processed")
    world.engine.dispose()


def test_imap_login_problems_are_one_line(tmp_path, smtp_server, dovecot) -> None:  # type: ignore[no-untyped-def]
    world = World(tmp_path, smtp_server, ["a@example.org"])
    wrong = inbound(world, "--imap", dovecot.url, env={"PUBLISHER_IMAP_PASSWORD": "nope"})
    assert wrong.returncode == 2
    assert len(wrong.stderr.splitlines()) == 1
    assert wrong.stderr.startswith("error: 127.0.0.1: IMAP login refused for bounces")
    unset = inbound(world, "--imap", dovecot.url, env={})
    assert unset.stderr.splitlines() == [
        "error: PUBLISHER_IMAP_PASSWORD is not set (export the IMAP password in the environment)"]
    plain = inbound(world, "--imap", "imap://bounces@mail.example.org/INBOX")
    assert plain.returncode == 2 and "must use imaps://" in plain.stderr
    world.engine.dispose()


def test_the_whole_loop(tmp_path, smtp_server, dovecot) -> None:  # type: ignore[no-untyped-def]
    """Send -> reports into the IMAP mailbox -> inbound (configured in [inbound]) -> statuses
    -> the next send skips exactly those."""
    addresses = [f"reader{n}@example.org" for n in range(8)]
    world = World(tmp_path, smtp_server, addresses, bounce_after=1)
    with open(world.root / "config.toml", "a", encoding="utf-8") as config:
        config.write(f'[inbound]\nimap_url = "{dovecot.url}"\n')
    links = subscriptions.Links.from_settings(world.settings)
    # The "remote side": some digests bounce, one is reported as spam, one reader unsubscribes
    # by mail, one is away; the rest were delivered.
    for mail_from, rcpts, data in list(smtp_server.messages):
        (rcpt,) = rcpts
        if rcpt in ("reader0@example.org", "reader1@example.org"):
            dovecot.append(world.report("dsn_gmail_no_such_user.eml", rcpt))
        elif rcpt == "reader2@example.org":
            dovecot.append(world.report("arf_outlook_jmrp_abuse_redacted.eml", rcpt))
        elif rcpt == "reader3@example.org":
            token = links.personal(world.subs[rcpt].id).unsubscribe_token
            dovecot.append(world.report("unsubscribe_plus_address.eml", rcpt, UNSUB_TOKEN=token))
        elif rcpt == "reader4@example.org":
            dovecot.append(world.report("autoreply_vacation.eml", rcpt))
        elif rcpt == "reader5@example.org":
            dovecot.append(world.report("dsn_postfix_mailbox_full_delayed.eml", rcpt))
    result = inbound(world)
    assert result.returncode == 0, result.stderr
    assert [world.status(a) for a in addresses] == [
        "bouncing", "bouncing", "complained", "unsubscribed", "active", "active", "active",
        "active"]
    before = len(smtp_server.messages)
    world.send()
    assert sorted(r for _, (r,), _ in smtp_server.messages[before:]) == addresses[4:]
    assert dovecot.folder("INBOX") == []
    world.engine.dispose()


def test_run_polls_the_configured_mailbox(tmp_path, smtp_server, dovecot) -> None:  # type: ignore[no-untyped-def]
    world = World(tmp_path, smtp_server, ["hard@example.org"], bounce_after=1)
    with open(world.root / "config.toml", "a", encoding="utf-8") as config:
        config.write(f'[inbound]\nimap_url = "{dovecot.url}"\ninterval = 0.5\n'
                     '[schedule]\nscan_interval = 30\n')
    (world.root / "seeds").mkdir()
    log = open(world.root / "daemon.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "publisher", "--config", str(world.root / "config.toml"), "run"],
        cwd=world.root, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "PUBLISHER_SECRET_KEY": "test-secret-key-0123456789abcdef",
             **IMAP_ENV})
    try:
        time.sleep(1.0)  # the daemon is up and has polled an empty mailbox at least once
        dovecot.append(world.report("dsn_postfix_user_unknown.eml", "hard@example.org"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and world.status("hard@example.org") != "bouncing":
            time.sleep(0.1)
        assert world.status("hard@example.org") == "bouncing", \
            (world.root / "daemon.log").read_text()
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    text = (world.root / "daemon.log").read_text()
    assert "inbound: hard@example.org is now bouncing" in text
    assert dovecot.folder("INBOX") == [] and len(dovecot.folder("processed")) == 1
    world.engine.dispose()


# --- IMAPS: the server's self-signed certificate, trusted through inbound.ca_file or not -------

def with_inbound(world: World, table: str) -> None:
    with open(world.root / "config.toml", "a", encoding="utf-8") as config:
        config.write(f"[inbound]\n{table}")


def test_imaps_with_the_servers_certificate_trusted(tmp_path, smtp_server, dovecot) -> None:  # type: ignore[no-untyped-def]
    world = World(tmp_path, smtp_server, ["hard@example.org", "fine@example.org"],
                  bounce_after=1)
    (world.root / "imap-ca.pem").write_bytes(dovecot.ca_file.read_bytes())
    with_inbound(world, 'ca_file = "imap-ca.pem"\n')  # relative to the config file
    dovecot.append(world.report("dsn_postfix_user_unknown.eml", "hard@example.org"))
    dovecot.append(world.report("human_reply.eml", "fine@example.org"))
    result = inbound(world, "--imap", dovecot.imaps_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        "inbound: 2 messages: 1 hard bounces, 0 soft bounces, 0 complaints, 0 unsubscribes, "
        "0 ignored, 1 left in place, 0 already processed")
    assert [world.status(a) for a in world.subs] == ["bouncing", "active"]
    assert len(dovecot.folder("INBOX")) == 1 and len(dovecot.folder("processed")) == 1
    world.engine.dispose()


def test_imaps_with_an_untrusted_certificate_is_one_line_and_reads_nothing(tmp_path, smtp_server, dovecot) -> None:  # type: ignore[no-untyped-def]
    from conftest import self_signed_certificate

    world = World(tmp_path, smtp_server, ["hard@example.org"], bounce_after=1)
    dovecot.append(world.report("dsn_postfix_user_unknown.eml", "hard@example.org"))
    config = (world.root / "config.toml").read_text(encoding="utf-8")
    # The system's CAs never signed a certificate made a moment ago.
    untrusted = inbound(world, "--imap", dovecot.imaps_url)
    assert untrusted.returncode == 2
    assert untrusted.stderr.splitlines() == [
        "error: 127.0.0.1: the IMAP server's TLS certificate is not trusted: self-signed "
        "certificate (set inbound.ca_file to the PEM file of the CA that signed it)"]
    # Another CA file: still refused, the hint names the file.
    other, _ = self_signed_certificate(tmp_path / "other")
    with_inbound(world, f'ca_file = "{other}"\n')
    wrong_ca = inbound(world, "--imap", dovecot.imaps_url)
    assert wrong_ca.returncode == 2
    assert wrong_ca.stderr.splitlines() == [
        "error: 127.0.0.1: the IMAP server's TLS certificate is not trusted: self-signed "
        f"certificate (it is not signed by a CA in inbound.ca_file {other})"]
    # A file that holds no certificate, and one that does not exist.
    (tmp_path / "not-pem.txt").write_text("hello\n", encoding="utf-8")
    (world.root / "config.toml").write_text(
        config + f'[inbound]\nca_file = "{tmp_path / "not-pem.txt"}"\n', encoding="utf-8")
    garbage = inbound(world, "--imap", dovecot.imaps_url)
    assert garbage.returncode == 2 and len(garbage.stderr.splitlines()) == 1
    assert garbage.stderr.startswith(
        f"error: inbound.ca_file {tmp_path / 'not-pem.txt'}: no CA certificate could be read "
        "from it (")
    (world.root / "config.toml").write_text(config + '[inbound]\nca_file = "missing.pem"\n',
                                            encoding="utf-8")
    missing = inbound(world, "--imap", dovecot.imaps_url)
    assert missing.returncode == 2
    assert missing.stderr.splitlines() == [
        f"error: {world.root / 'config.toml'}: inbound.ca_file is not a file: "
        f"{world.root / 'missing.pem'} (give the PEM file of the CA that signed the IMAP "
        "server's certificate)"]
    # Nothing was read, nothing changed.
    assert world.status("hard@example.org") == "active"
    assert len(dovecot.folder("INBOX")) == 1 and dovecot.folder("processed") == []
    world.engine.dispose()

"""SMTP with PIPELINING (RFC 2920): MAIL, RCPT and DATA in one write, against a real server
(aiosmtpd offering PIPELINING; it reads pipelined commands in turn). Every outcome must be the
one the plain exchange gives: the same failures, the same bytes delivered, and the session
usable after a refusal."""

from __future__ import annotations

import socket
import threading

import pytest

from publisher.mail import (FatalSendError, PermanentFailure, SmtpConfig, SmtpSender,
                            TemporaryFailure)

MESSAGE = (b"From: digest@leftvoice.org\r\nTo: ana@example.com\r\nSubject: hi\r\n\r\n"
           b"Hello\r\n.a line starting with a dot\r\n..and two\r\nbye\r\n")
FROM = "digest@leftvoice.org"


@pytest.fixture
def server(smtp_server):  # type: ignore[no-untyped-def]
    smtp_server.pipelining = True
    return smtp_server


def session(server):  # type: ignore[no-untyped-def]
    return SmtpSender(SmtpConfig(server.host, server.port, timeout=5)).open()


def test_pipelined_session_delivers_the_same_bytes_and_is_used_for_many_messages(server):  # type: ignore[no-untyped-def]
    s = session(server)
    try:
        for n in range(3):
            s.send(FROM, f"reader{n}@example.com", MESSAGE, f"<m{n}@x>")
        assert s.pipelining and s.eight_bit
    finally:
        s.close()
    assert [(m[0], m[1]) for m in server.messages] == [
        (FROM, [f"reader{n}@example.com"]) for n in range(3)]
    assert all(m[2] == MESSAGE for m in server.messages)  # dot-stuffing undone by the server
    assert server.mail_options == [[f"SIZE={len(MESSAGE)}", "BODY=8BITMIME"]] * 3
    assert server.connections == 1


def test_plain_and_pipelined_sessions_deliver_identical_messages(smtp_server):  # type: ignore[no-untyped-def]
    for pipelining in (False, True):
        smtp_server.pipelining = pipelining
        s = session(smtp_server)
        try:
            s.send(FROM, "ana@example.com", MESSAGE, "<m@x>")
            assert s.pipelining is pipelining
        finally:
            s.close()
    plain, pipelined = smtp_server.messages
    assert plain == pipelined
    assert smtp_server.mail_options[0] == smtp_server.mail_options[1]


@pytest.mark.parametrize("reply, error", [
    ("550 5.1.1 No such user", PermanentFailure),
    ("451 4.7.1 Try again later", TemporaryFailure),
])
def test_refused_recipient_then_the_next_message_goes_through(server, reply, error):  # type: ignore[no-untyped-def]
    server.rcpt_replies["gone@example.com"] = [reply]
    s = session(server)
    try:
        with pytest.raises(error, match=reply[:3]):
            s.send(FROM, "gone@example.com", MESSAGE, "<m1@x>")
        s.send(FROM, "ana@example.com", MESSAGE, "<m2@x>")
    finally:
        s.close()
    assert [m[1] for m in server.messages] == [["ana@example.com"]]
    assert server.connections == 1  # the same connection, reset (RSET), not dropped


@pytest.mark.parametrize("reply, error", [
    ("554 5.7.1 Message rejected", PermanentFailure),
    ("452 4.3.1 Insufficient storage", TemporaryFailure),
])
def test_refused_message_after_data_then_the_next_goes_through(server, reply, error):  # type: ignore[no-untyped-def]
    server.data_replies["ana@example.com"] = [reply]
    s = session(server)
    try:
        with pytest.raises(error, match=reply[:3]):
            s.send(FROM, "ana@example.com", MESSAGE, "<m1@x>")
        s.send(FROM, "ben@example.com", MESSAGE, "<m2@x>")
    finally:
        s.close()
    assert [m[1] for m in server.messages] == [["ben@example.com"]]


def test_refused_sender_is_temporary_on_4xx_and_fatal_on_5xx(server):  # type: ignore[no-untyped-def]
    server.mail_replies = ["451 4.3.0 Sender check failed, try later", "553 5.7.1 Not yours"]
    s = session(server)
    try:
        with pytest.raises(TemporaryFailure, match="sender refused: 451"):
            s.send(FROM, "ana@example.com", MESSAGE, "<m1@x>")
        with pytest.raises(FatalSendError, match="sender digest@leftvoice.org refused: 553"):
            s.send(FROM, "ana@example.com", MESSAGE, "<m2@x>")
        s.send(FROM, "ana@example.com", MESSAGE, "<m3@x>")
    finally:
        s.close()
    assert len(server.messages) == 1


def test_connection_dropped_after_data_is_temporary_and_the_session_reconnects(server):  # type: ignore[no-untyped-def]
    server.drop_after_data.add("ana@example.com")
    s = session(server)
    try:
        with pytest.raises(TemporaryFailure, match="connection lost"):
            s.send(FROM, "ana@example.com", MESSAGE, "<m1@x>")
        s.send(FROM, "ana@example.com", MESSAGE, "<m1@x>")
    finally:
        s.close()
    assert [m[1] for m in server.messages] == [["ana@example.com"]]
    assert server.connections == 2


def test_a_server_that_answers_data_without_a_recipient_gets_no_message():  # type: ignore[no-untyped-def]
    """A broken server answers 354 to DATA although RCPT was refused: the client ends the
    (empty) message at once and reports the refusal; nothing of the message is sent."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"220 broken\r\n")
            buffer = b""
            replies = iter([b"250-broken\r\n250 PIPELINING\r\n", b"250 ok\r\n",
                            b"550 5.1.1 no such user\r\n", b"354 go on\r\n", b"554 no\r\n",
                            b"250 reset\r\n", b"221 bye\r\n"])
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
                received.append(chunk)
                while b"\r\n" in buffer:
                    line, buffer = buffer.split(b"\r\n", 1)
                    conn.sendall(next(replies, b""))
                    if line.upper().startswith(b"QUIT"):
                        return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    s = SmtpSender(SmtpConfig("127.0.0.1", listener.getsockname()[1], timeout=5)).open()
    try:
        with pytest.raises(PermanentFailure, match="550"):
            s.send(FROM, "gone@example.com", MESSAGE, "<m@x>")
    finally:
        s.close()
        thread.join(5)
        listener.close()
    sent = b"".join(received)
    assert b"MAIL FROM:<digest@leftvoice.org>\r\nRCPT TO:<gone@example.com>\r\nDATA\r\n" in sent
    assert b"\r\n.\r\nRSET\r\n" in sent.upper() and b"Hello" not in sent


def test_messages_rendered_dot_stuffed_equal_the_plain_ones_stuffed():  # type: ignore[no-untyped-def]
    """`render(stuffed=True)` (stuffed once per template) gives exactly the bytes of stuffing
    each plain message, whatever the values: ones starting a line with a dot, empty ones, ones
    that force quoted-printable; and `begin(transparent=True)` undoes it for a 7-bit server."""
    import random

    from publisher.mail import _UNSTUFF, Letter, MessageTemplate, Recipient, _dot_stuffed
    from test_digest_support import T0

    rng = random.Random(2920)
    words = ["@@A@@", "@@B@@", ".", "..", "x", "50%", "\n", "\n.", "\n\n", " ", "é", "--"]
    values = ["", ".", "..x", "Ana", "%b", "a" * 1200, "x\ny", ".\n.", "é.", " ."]
    for _ in range(400):
        text = "".join(rng.choice(words) for _ in range(rng.randrange(12)))
        html = "".join(rng.choice(words) for _ in range(rng.randrange(12)))
        template = MessageTemplate(Letter("digest@leftvoice.org", "Left Voice", "Hi", T0,
                                          "Left Voice digest <digest.leftvoice.org>", text, html,
                                          placeholders=("@@A@@", "@@B@@")))
        fill = {"@@A@@": rng.choice(values), "@@B@@": rng.choice(values)}
        recipient = Recipient("ana@example.com", "Ana", "<m@x>", "https://x/u", "mailto:u@x",
                              fill, fill)
        plain = template.render(recipient)
        stuffed = template.render(recipient, stuffed=True)
        assert stuffed == _dot_stuffed(plain), (text, html, fill)
        assert _UNSTUFF.sub(b"", stuffed) == plain


def test_a_transparent_message_to_a_server_without_8bitmime_arrives_intact(smtp_server):  # type: ignore[no-untyped-def]
    from publisher.mail import _dot_stuffed, to_seven_bit

    smtp_server.eight_bit = False
    message = MESSAGE.replace(b"Hello", "Héllo".encode())
    s = session(smtp_server)
    try:
        s.begin(FROM, "ana@example.com", _dot_stuffed(message), transparent=True)
        while not s.advance():
            pass
    finally:
        s.close()
    [(_, _, received)] = smtp_server.messages
    assert received == to_seven_bit(message)


@pytest.mark.parametrize("pipelining", [False, True])
def test_a_held_back_end_of_data_keeps_the_message_unaccepted_until_released(smtp_server, pipelining):  # type: ignore[no-untyped-def]
    # (the sender's overlap: the next message goes out while the last one is being recorded,
    # all but its final "."; until that goes the server cannot have accepted it)
    smtp_server.pipelining = pipelining
    s = session(smtp_server)
    try:
        s.send(FROM, "first@example.com", MESSAGE, "<m0@x>")
        s.begin(FROM, "second@example.com", MESSAGE, hold_end=True)
        while not s.parked:  # every step but the last: replies read, the body written
            assert s.advance() is False
        assert [m[1] for m in smtp_server.messages] == [["first@example.com"]]
        assert s.release_end() is True
        while not s.advance():
            pass
        # released before it parks: it does not park at all
        s.begin(FROM, "third@example.com", MESSAGE, hold_end=True)
        s.release_end()
        while not s.advance():
            assert not s.parked
    finally:
        s.close()
    assert [m[1] for m in smtp_server.messages] == [
        ["first@example.com"], ["second@example.com"], ["third@example.com"]]
    assert all(m[2] == MESSAGE for m in smtp_server.messages)

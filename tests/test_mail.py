"""Messages and senders: headers, parts, injection, DKIM, the outbox."""

from __future__ import annotations

import base64
import subprocess
from email import message_from_bytes, policy

import dkim
import pytest

from publisher.errors import ConfigError
from publisher.mail import (DkimSigner, Letter, MessageTemplate, OutboxSender, Recipient,
                            build_message, header_value, to_seven_bit)
from test_digest_support import T0


def letter(subject: str = "Left Voice: 2 new articles") -> Letter:
    return Letter("digest@leftvoice.org", "Left Voice", subject, T0,
                  "Left Voice digest <digest.leftvoice.org>",
                  "Hello @@NAME@@\nLine with ünïcode\n", "<p>Hello @@NAME@@ ü</p>\n",
                  placeholders=("@@NAME@@",))


def recipient(email: str = "ana@example.com", name: str = "Ana") -> Recipient:
    return Recipient(email, name, "<digest-1.1@leftvoice.org>", "https://x.example/unsubscribe/T",
                     "mailto:unsubscribe@leftvoice.org?subject=unsubscribe-T",
                     {"@@NAME@@": name}, {"@@NAME@@": name})


def parse(data: bytes):  # type: ignore[no-untyped-def]
    return message_from_bytes(data, policy=policy.default)


def test_message_structure_and_headers():
    data = build_message(letter(), recipient(name="Zoë Müller"))
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    msg = parse(data)
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in msg.iter_parts())
    assert msg["From"] == "Left Voice <digest@leftvoice.org>"
    assert msg["To"] == "Zoë Müller <ana@example.com>"
    assert msg["Subject"] == "Left Voice: 2 new articles"
    assert msg["Message-ID"] == "<digest-1.1@leftvoice.org>"
    assert msg["MIME-Version"] == "1.0"
    assert msg["List-Id"] == "Left Voice digest <digest.leftvoice.org>"
    assert msg["List-Unsubscribe"] == ("<https://x.example/unsubscribe/T>, "
                                       "<mailto:unsubscribe@leftvoice.org?subject=unsubscribe-T>")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Date"].datetime == T0
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == \
        "Hello Zoë Müller\nLine with ünïcode\n"
    assert "<p>Hello Zoë Müller ü</p>" in msg.get_body(("html",)).get_content()
    assert max(len(line) for line in data.split(b"\r\n")) <= 78


def test_template_render_equals_build_message():
    template = MessageTemplate(letter())
    assert template.render(recipient()) == build_message(letter(), recipient())


@pytest.mark.parametrize("title", ["Title\r\nBcc: evil@x", "Title\nBcc: evil@x", "Title\rBcc: evil@x",
                                   "Title\x0bBcc:\x00 evil@x", "Title\u2028Bcc: evil@x",
                                   "Title=?utf-8?q?=0D=0ABcc:_evil@x?="])
def test_header_injection_in_subject_and_name_is_neutralised(title):  # type: ignore[no-untyped-def]
    data = build_message(letter(subject=title), recipient(name=title))
    msg = parse(data)
    assert msg["Bcc"] is None
    assert "\r" not in msg["Subject"] and "\n" not in msg["Subject"]
    head = data.split(b"\r\n\r\n", 1)[0]
    assert not any(line.lower().startswith(b"bcc") for line in head.split(b"\r\n"))
    assert header_value(title).startswith("Title")


def test_long_non_ascii_subject_is_encoded_and_folded():
    subject = "Élections: " + "très longue ligne " * 12
    msg = parse(build_message(letter(subject=subject), recipient()))
    assert msg["Subject"] == " ".join(subject.split())


@pytest.fixture
def dkim_key(tmp_path):  # type: ignore[no-untyped-def]
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True,
                   capture_output=True)
    public = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
                            check=True, capture_output=True).stdout
    return key, base64.b64encode(public)


def test_dkim_signature_verifies_and_covers_list_unsubscribe(dkim_key):  # type: ignore[no-untyped-def]
    key, public = dkim_key
    signer = DkimSigner(key, "mail", "leftvoice.org")
    signed = signer.sign(build_message(letter(), recipient()))
    assert signed.startswith(b"DKIM-Signature:")
    record = b"v=DKIM1; k=rsa; p=" + public

    def dns(name, timeout=5):  # type: ignore[no-untyped-def]
        assert name == b"mail._domainkey.leftvoice.org."
        return record

    assert dkim.verify(signed, dnsfunc=dns)
    header = parse(signed)["DKIM-Signature"].replace(" ", "").lower()
    h_tag = [t for t in header.split(";") if t.startswith("h=")][0]
    assert "list-unsubscribe" in h_tag.split("=")[1].split(":")
    assert "list-unsubscribe-post" in h_tag.split("=")[1].split(":")
    tampered = signed.replace(b"unsubscribe/T>", b"unsubscribe/X>")
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_bad_dkim_key_is_a_config_error(tmp_path):  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(ConfigError):
        DkimSigner(bad, "mail", "leftvoice.org")
    with pytest.raises(ConfigError):
        DkimSigner(tmp_path / "missing.pem", "mail", "leftvoice.org")


def test_outbox_writes_atomically_named_by_message_id(tmp_path):  # type: ignore[no-untyped-def]
    sender = OutboxSender(tmp_path / "outbox")
    session = sender.open()
    data = build_message(letter(), recipient())
    session.send("digest@leftvoice.org", "ana@example.com", data, "<digest-1.1@leftvoice.org>")
    session.send("digest@leftvoice.org", "ana@example.com", data, "<digest-1.1@leftvoice.org>")
    files = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert files == ["digest-1.1@leftvoice.org.eml"]  # a resend replaces, never duplicates
    assert (tmp_path / "outbox" / files[0]).read_bytes() == data


def _filled(body: str, values: dict) -> str:  # type: ignore[type-arg]
    for key, value in values.items():
        body = body.replace(key, value)
    return body


def _personalised(body: str, values: dict) -> bytes:  # type: ignore[type-arg]
    lt = Letter("d@leftvoice.org", "", "s", T0, "l <l.example>", body, body,
                placeholders=("@@A@@", "@@B@@"))
    rc = Recipient("a@example.com", "", "<m@x>", "https://x/u", "mailto:u@x", values, values)
    return build_message(lt, rc)


def _decoded(data: bytes) -> list[tuple[str, str]]:
    return [(p["Content-Transfer-Encoding"], p.get_content().replace("\r\n", "\n"))
            for p in parse(data).iter_parts()]


def test_personalised_8bit_parts_round_trip_with_crlf_and_short_enough_lines():
    body = ("x" * 70 + "@@A@@" + "é" * 40 + "=" * 30 + "@@B@@\n") * 3 + "@@A@@" + " " * 3 + \
        "@@B@@ 100% %s %b"
    values = {"@@A@@": "Zoë " * 30 + "=?utf-8?q?x?= ", "@@B@@": "tail =\r\nBcc: x\x00"}
    data = _personalised(body, values)
    assert b"\n" not in data.replace(b"\r\n", b"") and b"\r" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    assert b"=3D" not in data and "é".encode() in data  # plain bytes, no quoted-printable
    expected = _filled(body, {**values, "@@B@@": "tail =  Bcc: x "}) + "\n"
    assert _decoded(data) == [("8bit", expected), ("8bit", expected)]


def test_a_line_over_998_octets_sends_the_part_quoted_printable():
    word = "x" * 3000
    data = _personalised(f"Hello @@A@@\n{word}\n", {"@@A@@": "Ana", "@@B@@": ""})
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    assert _decoded(data) == [("quoted-printable", f"Hello Ana\n{word}\n")] * 2


def test_a_value_that_would_overflow_its_line_sends_that_message_quoted_printable():
    body = "y" * 900 + " @@A@@\nshort\n"
    for name, encoding in (("Ana", "8bit"), ("Zoë" * 40, "quoted-printable")):
        data = _personalised(body, {"@@A@@": name})
        assert max(len(line) for line in data.split(b"\r\n")) <= 998
        assert _decoded(data) == [(encoding, body.replace("@@A@@", name))] * 2


def test_a_value_holding_the_boundary_cannot_end_the_part():
    body = "Hi @@A@@\n@@A@@\n"
    boundary = MessageTemplate(Letter("d@leftvoice.org", "", "s", T0, "l <l.example>", body,
                                      body, placeholders=("@@A@@", "@@B@@"))).boundary
    evil = f"--{boundary}--"
    data = _personalised(body, {"@@A@@": evil})
    assert data.count(f"--{boundary}".encode()) == 3  # two parts and the close
    assert _decoded(data) == [("quoted-printable", body.replace("@@A@@", evil))] * 2


def test_a_3000_character_ascii_subject_and_name_are_folded():
    word = "x" * 3000
    data = build_message(letter(subject=word), recipient(name=word))
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    msg = parse(data)
    assert msg["Subject"] == word
    # (the stdlib's address parser puts a space between adjacent encoded-words of a phrase,
    # which RFC 2047 section 6.2 says to ignore)
    assert "".join(msg["To"].addresses[0].display_name.split()) == word


def test_to_seven_bit_converts_8bit_parts_and_drops_a_dkim_signature():
    data = build_message(letter(), recipient(name="Zoë Müller"))
    signed = b"DKIM-Signature: v=1; a=rsa-sha256;\r\n b=abc\r\n" + data
    seven = to_seven_bit(signed)
    assert seven.isascii() and b"DKIM-Signature" not in seven
    assert max(len(line) for line in seven.split(b"\r\n")) <= 76
    assert seven.count(b"Content-Transfer-Encoding: quoted-printable\r\n") == 2
    before, after = parse(data), parse(seven)
    assert after["To"] == before["To"] and after["Subject"] == before["Subject"]
    assert [p.get_content() for p in after.iter_parts()] == \
        [p.get_content() for p in before.iter_parts()]
    head = data.split(b"\r\n\r\n", 1)[0]
    assert seven.startswith(head + b"\r\n\r\n")  # headers byte for byte


def test_dot_stuffing_gives_the_bytes_smtplib_would():
    import random
    import smtplib

    from publisher.mail import _dot_stuffed

    rng = random.Random(5321)
    samples = [b"", b".", b"..", b".a\r\n.b\r\n", b"a\r\n.\r\nb", b"x\n.y\r.z", b"\r\n.."]
    samples += [bytes(rng.choice(b".\r\nab") for _ in range(rng.randrange(16)))
                for _ in range(5000)]
    for sample in samples:
        assert _dot_stuffed(sample) == smtplib._quote_periods(sample), sample


def test_lines_starting_with_a_dot_arrive_unchanged_over_smtp(smtp_server):  # type: ignore[no-untyped-def]
    from publisher.mail import SmtpConfig, SmtpSender

    text = ".starts with a dot\n.\n..two dots\nmiddle . dot\n.\n"
    data = build_message(Letter("digest@leftvoice.org", "Left Voice", "Dots", T0,
                                "Left Voice digest <digest.leftvoice.org>", text,
                                "<p>.html</p>\n.<p>x</p>"), recipient())
    assert b"\r\n.\r\n" in data and data.startswith(b"From")
    session = SmtpSender(SmtpConfig(smtp_server.host, smtp_server.port, timeout=5)).open()
    try:
        session.send("digest@leftvoice.org", "ana@example.com", data, "<digest-1.1@leftvoice.org>")
    finally:
        session.close()
    [(mail_from, rcpt_tos, received)] = smtp_server.messages
    assert (mail_from, rcpt_tos) == ("digest@leftvoice.org", ["ana@example.com"])
    assert received == data
    assert parse(received).get_body(("plain",)).get_content().replace("\r\n", "\n") == text

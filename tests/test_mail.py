"""Messages and senders: headers, parts, injection, DKIM, the outbox."""

from __future__ import annotations

import base64
import subprocess
from email import message_from_bytes, policy

import dkim
import pytest

from publisher.errors import ConfigError
from publisher.mail import (DkimSigner, Letter, MessageTemplate, OutboxSender, Recipient,
                            build_message, header_value)
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


def test_personalised_quoted_printable_round_trips_with_short_lines():
    body = ("x" * 70 + "@@A@@" + "é" * 40 + "=" * 30 + "@@B@@\n") * 3 + "@@A@@" + " " * 3 + "@@B@@"
    values = {"@@A@@": "Zoë " * 30 + "=?utf-8?q?x?= ", "@@B@@": "tail ="}
    lt = Letter("d@leftvoice.org", "", "s", T0, "l <l.example>", body, body,
                placeholders=("@@A@@", "@@B@@"))
    rc = Recipient("a@example.com", "", "<m@x>", "https://x/u", "mailto:u@x", values, values)
    data = build_message(lt, rc)
    assert max(len(line) for line in data.split(b"\r\n")) <= 76
    expected = body
    for key, value in values.items():
        expected = expected.replace(key, value)
    msg = parse(data)
    for part in msg.iter_parts():
        assert part.get_content().replace("\r\n", "\n") == expected + "\n"

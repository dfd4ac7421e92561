"""Mail messages and the senders that deliver them. The only user of smtplib.

`build_message(letter, recipient)` is pure: bytes of a `multipart/alternative` message (text
first, then HTML, both UTF-8 quoted-printable, CRLF line ends). To build thousands of messages
fast, `MessageTemplate(letter)` does the per-digest work once (headers, folding, boundary) and
`MessageTemplate.render(recipient)` only fills in the per-subscriber parts and encodes the two
bodies (C-speed `binascii.b2a_qp`).

Senders hide behind one small interface, `Sender.open() -> Session`, `Session.send(...)`,
`Session.close()`: `OutboxSender` writes `.eml` files, `SmtpSender` talks SMTP. A session is used
by one thread; `Sender.connections` says how many sessions may run in parallel. Failures are
classified as `TemporaryFailure` (4xx, dropped connection, timeout: retry later),
`Unavailable` (cannot reach or talk to the server at all), `PermanentFailure` (5xx for this
recipient) or `FatalSendError` (configuration: authentication, TLS; stop the run).
"""

from __future__ import annotations

import binascii
import hashlib
import os
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Mapping, Protocol

from .errors import ConfigError, SendError

_HEADER_JUNK = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")


class TemporaryFailure(SendError):
    """Try again later: a 4xx reply, a dropped connection, a timeout."""


class Unavailable(TemporaryFailure):
    """The server cannot be reached or does not answer: nothing was sent."""


class PermanentFailure(SendError):
    """The server refused this recipient or message for good (5xx)."""


class FatalSendError(SendError):
    """Sending cannot work at all (authentication, TLS, sender refused): stop the run."""


def header_value(value: str) -> str:
    """A header value with CR, LF and every other control character replaced by a space."""
    return " ".join(_HEADER_JUNK.sub(" ", value).split())


# --- building messages -------------------------------------------------------------------------

@dataclass(frozen=True)
class Letter:
    """Everything that is the same for every recipient of one digest."""

    from_address: str
    from_name: str
    subject: str
    date: datetime
    list_id: str  # e.g. "Left Voice digest <digest.leftvoice.org>"
    text: str  # may hold placeholders, filled from Recipient.text_values
    html: str  # may hold placeholders, filled from Recipient.html_values
    reply_to: str = ""
    placeholders: tuple[str, ...] = ()  # the personal parts of text and html


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str
    message_id: str  # with angle brackets
    unsubscribe_url: str
    unsubscribe_mailto: str  # a full mailto: uri
    text_values: Mapping[str, str] = field(default_factory=dict)  # placeholder -> text
    html_values: Mapping[str, str] = field(default_factory=dict)  # placeholder -> escaped HTML


def _encode_header(name: str, value: str) -> bytes:
    value = header_value(value)
    # "=?" would let a recipient decode a literal encoded-word (and a CR LF in it): encode it.
    charset = "us-ascii" if value.isascii() and "=?" not in value else "utf-8"
    folded = Header(value, charset, header_name=name, maxlinelen=78).encode(linesep="\r\n")
    return f"{name}: {folded}\r\n".encode("ascii")


def _address(name: str, address: str) -> str:
    address = header_value(address)
    if not address.isascii():
        raise SendError(f"{address}: non-ASCII addresses are not supported")
    name = header_value(name)
    if not name:
        return address
    if "=?" in name:  # never let a literal encoded-word through: encode the whole name
        return f"{Header(name, 'utf-8').encode()} <{address}>"
    return formataddr((name, address), charset="utf-8")


def _address_header(name: str, display: str, address: str) -> bytes:
    value = _address(display, address).replace("\n", "\r\n")
    return f"{name}: {value}\r\n".encode("ascii")


_SOFT_BREAK = b"=\r\n"


def _qp_piece(text: str) -> bytes:
    """Quoted-printable for a piece of a body that may end in the middle of a line: then it
    ends with a soft line break, so any other encoded piece can follow (soft breaks decode to
    nothing, and every line stays within 76 characters)."""
    if not text:
        return b""
    encoded = binascii.b2a_qp(text.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")
    if encoded.endswith(b"\r\n"):
        return encoded
    head, sep, last = encoded.rpartition(b"\r\n")
    if len(last) >= 76:  # make room for the "=": split before, never inside, an =XX escape
        cut = 73
        while b"=" in last[cut - 2:cut]:
            cut -= 1
        last = last[:cut] + _SOFT_BREAK + last[cut:]
    return head + sep + last + _SOFT_BREAK


class _Body:
    """A body part encoded once; only the placeholders are encoded per recipient."""

    def __init__(self, text: str, placeholders: tuple[str, ...]) -> None:
        text = text.replace("\r\n", "\n").rstrip("\n") + "\n"
        self.pieces: list[bytes | str] = []
        if placeholders:
            pattern = re.compile("|".join(re.escape(p) for p in placeholders))
            pos = 0
            for match in pattern.finditer(text):
                self.pieces.append(_qp_piece(text[pos:match.start()]))
                self.pieces.append(match.group())
                pos = match.end()
            text = text[pos:]
        self.pieces.append(_qp_piece(text))

    def render(self, values: Mapping[str, str]) -> bytes:
        out = []
        for piece in self.pieces:
            if isinstance(piece, bytes):
                out.append(piece)
            else:
                out.append(_qp_piece(values.get(piece, piece).replace("\n", " ")))
        return b"".join(out)


class MessageTemplate:
    """The per-digest part of a message, prepared once; `render()` personalises it."""

    def __init__(self, letter: Letter) -> None:
        self.letter = letter
        digest = hashlib.sha256(f"{letter.subject}\0{letter.text}\0{letter.html}".encode()).hexdigest()
        # '=' never appears unencoded in quoted-printable, so "=_" can never occur in a body.
        self.boundary = f"=_digest_{digest[:32]}"
        head = [_address_header("From", letter.from_name, letter.from_address)]
        if letter.reply_to:
            head.append(_address_header("Reply-To", "", letter.reply_to))
        self._head_before_to = b"".join(head)
        self._head_after_to = b"".join([
            _encode_header("Subject", letter.subject),
            f"Date: {format_datetime(letter.date)}\r\n".encode("ascii"),
        ])
        self._list_headers = b"".join([
            b"MIME-Version: 1.0\r\n",
            _encode_header("List-Id", letter.list_id),
        ])
        self._tail_head = b"".join([
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
            f'Content-Type: multipart/alternative;\r\n boundary="{self.boundary}"\r\n\r\n'.encode(),
        ])
        b = self.boundary.encode("ascii")
        self._text_open = (b"--" + b + b"\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n"
                           b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")
        self._html_open = (b"\r\n--" + b + b"\r\nContent-Type: text/html; charset=\"utf-8\"\r\n"
                           b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")
        self._close = b"\r\n--" + b + b"--\r\n"
        self._text = _Body(letter.text, letter.placeholders)
        self._html = _Body(letter.html, letter.placeholders)

    def render(self, recipient: Recipient) -> bytes:
        message_id = header_value(recipient.message_id)
        unsubscribe = (f"List-Unsubscribe: <{header_value(recipient.unsubscribe_url)}>,\r\n"
                       f" <{header_value(recipient.unsubscribe_mailto)}>\r\n")
        text = self._text.render(recipient.text_values)
        body_html = self._html.render(recipient.html_values)
        return b"".join([
            self._head_before_to,
            _address_header("To", recipient.name, recipient.email),
            self._head_after_to,
            f"Message-ID: {message_id}\r\n".encode("ascii"),
            self._list_headers,
            unsubscribe.encode("ascii"),
            self._tail_head,
            self._text_open, text,
            self._html_open, body_html,
            self._close,
        ])


def build_message(letter: Letter, recipient: Recipient) -> bytes:
    """One complete message (RFC 5322 bytes, CRLF line ends)."""
    return MessageTemplate(letter).render(recipient)


class DkimSigner:
    """Adds a DKIM-Signature covering the identity and List-Unsubscribe headers."""

    HEADERS = (b"from", b"to", b"subject", b"date", b"message-id", b"mime-version",
               b"content-type", b"list-id", b"list-unsubscribe", b"list-unsubscribe-post")

    def __init__(self, key_file: Path, selector: str, domain: str) -> None:
        import dkim  # noqa: PLC0415 (only needed when a key is configured)

        try:
            self._key = key_file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{key_file}: cannot read the DKIM key: {exc.strerror}",
                              "check mail.dkim_key_file") from None
        self._dkim = dkim
        self.selector = selector.encode("ascii")
        self.domain = domain.encode("ascii")
        try:  # fail now, not at the first message
            self.sign(b"From: a@b.c\r\nTo: d@e.f\r\nSubject: x\r\n\r\nx\r\n")
        except Exception as exc:  # dkimpy raises several types for bad keys
            raise ConfigError(f"{key_file}: not a usable DKIM private key: {exc}") from None

    def sign(self, message: bytes) -> bytes:
        signature = self._dkim.sign(message, self.selector, self.domain, self._key,
                                    include_headers=list(self.HEADERS))
        return signature + message


# --- senders -----------------------------------------------------------------------------------

class Session(Protocol):
    def send(self, sender: str, recipient: str, message: bytes, message_id: str) -> None: ...

    def close(self) -> None: ...


class Sender(Protocol):
    connections: int  # sessions that may run in parallel
    # Optional `idempotent = True`: sending a Message-ID again replaces the earlier copy.

    def open(self) -> Session: ...


class OutboxSender:
    """Writes each message to `outbox/<message-id>.eml` atomically (temp file + rename).

    The file name comes from the Message-ID, so a message sent again after a crash replaces its
    earlier copy. `fsync=True` makes each file durable before it counts as sent (slower).
    """

    # Sending the same Message-ID again replaces the file: a resend is never a duplicate, so the
    # ledger may record outbox deliveries in batches.
    idempotent = True

    def __init__(self, folder: Path, fsync: bool = False, connections: int = 1) -> None:
        self.folder = folder
        self.fsync = fsync
        self.connections = connections

    def open(self) -> OutboxSender:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def path_for(self, message_id: str) -> Path:
        name = re.sub(r"[^A-Za-z0-9._@+-]", "_", message_id.strip("<>")) or "message"
        return self.folder / f"{name}.eml"

    def send(self, sender: str, recipient: str, message: bytes, message_id: str) -> None:
        path = self.path_for(message_id)
        tmp = path.with_name(f".{path.name}.tmp")  # one writer per Message-ID at a time
        try:
            try:
                with open(tmp, "wb") as handle:
                    handle.write(message)
                    if self.fsync:
                        handle.flush()
                        os.fsync(handle.fileno())
                os.replace(tmp, path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise FatalSendError(f"{self.folder}: cannot write to the outbox: {exc.strerror}",
                                 "check paths.outbox") from None

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: str = "none"  # "starttls", "ssl" or "none"
    username: str = ""
    password: str = ""
    timeout: float = 30.0
    local_hostname: str | None = None
    ssl_context: ssl.SSLContext | None = None


class SmtpSender:
    """SMTP delivery; each session keeps one connection open for many messages."""

    def __init__(self, config: SmtpConfig, connections: int = 1) -> None:
        self.config = config
        self.connections = connections

    def open(self) -> SmtpSession:
        return SmtpSession(self.config)


class SmtpSession:
    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        where = f"{c.host}:{c.port}"
        context = c.ssl_context or ssl.create_default_context()
        try:
            if c.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout,
                                                      local_hostname=c.local_hostname,
                                                      context=context)
            else:
                smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout,
                                    local_hostname=c.local_hostname)
            try:
                if c.security == "starttls":
                    smtp.starttls(context=context)
                if c.username:
                    smtp.login(c.username, c.password)
            except BaseException:
                _quietly_close(smtp)
                raise
        except smtplib.SMTPAuthenticationError as exc:
            raise FatalSendError(f"{where}: authentication failed: {_reply(exc)}",
                                 "check mail.smtp_username and PUBLISHER_SMTP_PASSWORD") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise FatalSendError(f"{where}: {exc}", "check mail.smtp_security") from None
        except ssl.SSLError as exc:
            raise FatalSendError(f"{where}: TLS failed: {exc}", "check mail.smtp_security") from None
        except smtplib.SMTPResponseException as exc:
            raise Unavailable(f"{where}: {_reply(exc)}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise Unavailable(f"{where}: cannot connect: {_describe(exc)}",
                              "check mail.smtp_host and mail.smtp_port") from None
        return smtp

    def send(self, sender: str, recipient: str, message: bytes, message_id: str) -> None:
        if self._smtp is None:
            self._smtp = self._connect()
        smtp = self._smtp
        try:
            refused = smtp.sendmail(sender, [recipient], message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients.get(recipient, (550, b"refused"))
            self._reset()
            raise _by_code(code, f"{recipient}: {code} {_text(text)}") from None
        except smtplib.SMTPSenderRefused as exc:
            self._reset()
            if 400 <= exc.smtp_code < 500:
                raise TemporaryFailure(f"sender refused: {_reply(exc)}") from None
            raise FatalSendError(f"sender {sender} refused: {_reply(exc)}",
                                 "check mail.from_address") from None
        except smtplib.SMTPResponseException as exc:  # SMTPDataError and others
            self._reset()
            raise _by_code(exc.smtp_code, f"{recipient}: {_reply(exc)}") from None
        except (smtplib.SMTPException, OSError) as exc:  # disconnected, timeout, reset
            self.close()
            raise TemporaryFailure(f"{recipient}: connection lost: {_describe(exc)}") from None
        if refused:  # cannot happen with one recipient, but never ignore the dict
            code, text = refused[recipient]
            raise _by_code(code, f"{recipient}: {code} {_text(text)}")

    def _reset(self) -> None:
        if self._smtp is None:
            return
        try:
            self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.close()

    def close(self) -> None:
        if self._smtp is not None:
            _quietly_close(self._smtp, quit=True)
            self._smtp = None


def _quietly_close(smtp: smtplib.SMTP, quit: bool = False) -> None:
    try:
        if quit:
            smtp.quit()
    except (smtplib.SMTPException, OSError):
        pass
    try:
        smtp.close()
    except (smtplib.SMTPException, OSError):
        pass


def _by_code(code: int, message: str) -> SendError:
    if 400 <= code < 500:
        return TemporaryFailure(message)
    return PermanentFailure(message)


def _text(value: bytes | str) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return header_value(value)


def _reply(exc: smtplib.SMTPResponseException) -> str:
    return f"{exc.smtp_code} {_text(exc.smtp_error)}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    return header_value(str(exc)) or type(exc).__name__


def make_sender(kind: str, *, outbox: Path, smtp: SmtpConfig, connections: int,
                outbox_fsync: bool = False) -> Sender:
    if kind == "smtp":
        return SmtpSender(smtp, connections)
    return OutboxSender(outbox, fsync=outbox_fsync, connections=1)


def parse_message_headers(data: bytes) -> Mapping[str, str]:
    """The header block of a message as a dict (for tests and previews)."""
    from email import message_from_bytes, policy  # noqa: PLC0415

    message = message_from_bytes(data, policy=policy.default)
    return {k: str(v) for k, v in message.items()}

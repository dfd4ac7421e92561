"""Mail messages and the senders that deliver them. The only user of smtplib.

`build_message(letter, recipient)` is pure: bytes of a `multipart/alternative` message (text
first, then HTML), both parts UTF-8 `8bit` with CRLF line ends and lines of at most 998 octets
(a part that cannot keep that, e.g. a 3,000-character word, goes quoted-printable). To build
thousands of messages fast, `MessageTemplate(letter)` does the per-digest work once (headers,
folding, boundary, the bodies split around their placeholders) and
`MessageTemplate.render(recipient)` only fills in the per-subscriber parts: a bytes substitution.

Senders hide behind one small interface, `Sender.open() -> Session`, `Session.send(...)`,
`Session.close()`: `OutboxSender` writes `.eml` files, `SmtpSender` talks SMTP (with
`BODY=8BITMIME` when the server offers 8BITMIME, RFC 6152; otherwise the message is converted to
quoted-printable for that connection, `to_seven_bit`). A session is used by one thread;
`Sender.connections` says how many sessions may run in parallel. Failures are classified as
`TemporaryFailure` (4xx, dropped connection, timeout: retry later), `Unavailable` (cannot reach
or talk to the server at all), `PermanentFailure` (5xx for this recipient) or `FatalSendError`
(configuration: authentication, TLS; stop the run).
"""

from __future__ import annotations

import binascii
import contextlib
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
from typing import Callable, Mapping, Protocol

from .errors import ConfigError, SendError
from .fsutil import make_folder

_HEADER_JUNK = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
# The invisible format characters (Unicode category Cf) that could hide or reorder what a header
# shows: bidi embeddings, overrides and isolates (U+202A-202E, U+2066-2069, U+200E/200F,
# U+061C), zero-width spaces, word joiners, soft hyphens. Kept: ZWNJ/ZWJ (U+200C/200D, needed by
# some scripts and emoji sequences) and the emoji tag characters (U+E0020-E007F).
_HEADER_FORMAT = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b\u200e\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001]+")


class TemporaryFailure(SendError):
    """Try again later: a 4xx reply, a dropped connection, a timeout."""


class Unavailable(TemporaryFailure):
    """The server cannot be reached or does not answer: nothing was sent."""


class PermanentFailure(SendError):
    """The server refused this recipient or message for good (5xx)."""


class FatalSendError(SendError):
    """Sending cannot work at all (authentication, TLS, sender refused): stop the run."""


def header_value(value: str) -> str:
    """A header value with CR, LF and every other control character replaced by a space, and
    bidi and other invisible format characters removed (a Subject cannot be shown reversed)."""
    if value.isascii() and value.isprintable():  # (no control or format character to strip)
        return " ".join(value.split())
    return " ".join(_HEADER_JUNK.sub(" ", _HEADER_FORMAT.sub("", value)).split())


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
    # A word too long to fold within 998 octets is encoded too (encoded-words fold anywhere).
    plain = value.isascii() and "=?" not in value and max(map(len, value.split()), default=0) < 900
    charset = "us-ascii" if plain else "utf-8"
    folded = Header(value, charset, header_name=name, maxlinelen=78).encode(linesep="\r\n")
    return f"{name}: {folded}\r\n".encode("ascii")


def _address(name: str, address: str) -> str:
    address = header_value(address)
    if not address.isascii():
        raise SendError(f"{address}: non-ASCII addresses are not supported")
    name = header_value(name)
    if not name:
        return address
    # Never let a literal encoded-word through; and fold a long name (formataddr does not).
    if "=?" in name or len(name) > 200:  # encode the whole name
        return f"{Header(name, 'utf-8').encode()}\n <{address}>"
    return formataddr((name, address), charset="utf-8")


def _address_header(name: str, display: str, address: str) -> bytes:
    value = _address(display, address).replace("\n", "\r\n")
    return f"{name}: {value}\r\n".encode("ascii")


MAX_LINE = 998  # octets per line, CRLF excluded (RFC 5322 section 2.1.1)
_VALUE_JUNK = {0: " ", 10: " ", 13: " "}  # NUL, LF, CR: never inside a filled-in value
_CTE = b"Content-Transfer-Encoding: "


def quoted_printable(body: bytes) -> bytes:
    """A CRLF body as quoted-printable: 7-bit, lines of at most 76 characters."""
    return binascii.b2a_qp(body, istext=True)


class _Body:
    """A body part, UTF-8 with CRLF line ends, split once around its placeholders.

    `render(values)` substitutes the placeholders (plain bytes) and returns `(data, False)`, to
    be sent as `8bit`. When a line would pass `MAX_LINE` octets, or the content holds the MIME
    boundary, it returns the quoted-printable form instead, `(data, True)`: a slow path for odd
    content (a 3,000-character word, a huge name), never for ordinary digests.
    """

    def __init__(self, text: str, placeholders: tuple[str, ...], boundary: bytes) -> None:
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
        data = (text.rstrip("\n") + "\n").encode("utf-8").replace(b"\n", b"\r\n")
        self.boundary = boundary
        self.slots: list[str] = []  # the placeholder filling each %b of `fmt`, in order
        pieces = [data]
        if placeholders:
            pattern = re.compile(b"(" + b"|".join(re.escape(p.encode("utf-8"))
                                                  for p in placeholders) + b")")
            pieces = pattern.split(data)
            self.slots = [p.decode("utf-8") for p in pieces[1::2]]
        self.names = tuple(dict.fromkeys(self.slots))
        statics = pieces[0::2]
        self.fmt = b"%b".join(p.replace(b"%", b"%%") for p in statics)
        # The same, dot-stuffed for SMTP (RFC 5321 4.5.2) once here rather than per message: a
        # value never holds a line break, so only the static text has lines to stuff, except
        # where a value starts a line (`line_starts`: one starting with "." or an empty one
        # there takes the slow path).
        stuffed = [_dot_stuffed(statics[0])] + [p.replace(b"\n.", b"\n..") for p in statics[1:]]
        self.fmt_stuffed = b"%b".join(p.replace(b"%", b"%%") for p in stuffed)
        self.line_starts: list[int] = []
        at_start = True  # the body begins a line
        for i, before in enumerate(statics[:-1]):
            at_start = before.endswith(b"\n") or (not before and at_start)
            if at_start:
                self.line_starts.append(i)
        # The lines holding placeholders: (their other octets, the placeholders in them).
        self.lines: list[tuple[int, tuple[str, ...]]] = []
        self.always_qp = False
        slot = 0
        line_len = 0
        line_slots: list[str] = []
        for n, piece in enumerate(pieces):
            if n % 2:  # a placeholder
                line_slots.append(self.slots[slot])
                slot += 1
                continue
            self.always_qp = self.always_qp or boundary in piece
            lines = piece.split(b"\r\n")
            for k, line in enumerate(lines):
                if k:  # the line before ended
                    self._line(line_len, line_slots)
                    line_len, line_slots = 0, []
                line_len += len(line)
        self._line(line_len, line_slots)

    def _line(self, length: int, slots: list[str]) -> None:
        if slots:
            self.lines.append((length, tuple(slots)))
        elif length > MAX_LINE:
            self.always_qp = True

    def render(self, values: Mapping[str, str], stuffed: bool = False) -> tuple[bytes, bool]:
        """(the body, quoted-printable?); `stuffed`: dot-stuffed for SMTP's DATA."""
        filled = {}
        for name in self.names:
            value = values.get(name, name)
            if not value.isprintable():  # (a printable value holds no NUL, CR or LF)
                value = value.translate(_VALUE_JUNK)
            filled[name] = value.encode("utf-8")
        args = tuple(filled[name] for name in self.slots)
        qp = self.always_qp
        if not qp and filled:
            for length, slots in self.lines:
                for name in slots:
                    length += len(filled[name])
                if length > MAX_LINE:
                    qp = True
                    break
            else:
                qp = any(self.boundary in value for value in filled.values())
        if qp:
            data = quoted_printable(self.fmt % args)
            return (_dot_stuffed(data) if stuffed else data, True)
        if not stuffed:
            return (self.fmt % args, False)
        if any(not args[i] or args[i][:1] == b"." for i in self.line_starts):
            return (_dot_stuffed(self.fmt % args), False)
        return (self.fmt_stuffed % args, False)


def _part_head(content_type: bytes, boundary: bytes, first: bool, encoding: bytes) -> bytes:
    return (b"" if first else b"\r\n") + b"--" + boundary + b"\r\nContent-Type: " + \
        content_type + b'; charset="utf-8"\r\n' + _CTE + encoding + b"\r\n\r\n"


class MessageTemplate:
    """The per-digest part of a message, prepared once; `render()` personalises it."""

    def __init__(self, letter: Letter) -> None:
        self.letter = letter
        digest = hashlib.sha256(f"{letter.subject}\0{letter.text}\0{letter.html}".encode()).hexdigest()
        # The content's own hash cannot occur in it; a part holding it anyway (or a filled-in
        # value holding it) goes quoted-printable, where "=_" never occurs.
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
        self._text_open = (_part_head(b"text/plain", b, True, b"8bit"),
                           _part_head(b"text/plain", b, True, b"quoted-printable"))
        self._html_open = (_part_head(b"text/html", b, False, b"8bit"),
                           _part_head(b"text/html", b, False, b"quoted-printable"))
        self._close = b"\r\n--" + b + b"--\r\n"
        self._text = _Body(letter.text, letter.placeholders, b)
        self._html = _Body(letter.html, letter.placeholders, b)

    def render(self, recipient: Recipient, stuffed: bool = False) -> bytes:
        """The message for `recipient`; `stuffed`: dot-stuffed for SMTP (no header line starts
        with a dot), as `SmtpSession.begin(..., transparent=True)` takes it."""
        message_id = header_value(recipient.message_id)
        unsubscribe = (f"List-Unsubscribe: <{header_value(recipient.unsubscribe_url)}>,\r\n"
                       f" <{header_value(recipient.unsubscribe_mailto)}>\r\n")
        text, text_qp = self._text.render(recipient.text_values, stuffed)
        body_html, html_qp = self._html.render(recipient.html_values, stuffed)
        return b"".join([
            self._head_before_to,
            _address_header("To", recipient.name, recipient.email),
            self._head_after_to,
            f"Message-ID: {message_id}\r\n".encode("ascii"),
            self._list_headers,
            unsubscribe.encode("ascii"),
            self._tail_head,
            self._text_open[text_qp], text,
            self._html_open[html_qp], body_html,
            self._close,
        ])


def build_message(letter: Letter, recipient: Recipient) -> bytes:
    """One complete message (RFC 5322 bytes, CRLF line ends)."""
    return MessageTemplate(letter).render(recipient)


_CTE_8BIT = re.compile(rb"(?im)^(Content-Transfer-Encoding:[ \t]*)8bit\b")
_MULTIPART = re.compile(rb'(?ims)^Content-Type:[ \t]*multipart/.*?boundary="?([^";\r\n]+)"?')


def to_seven_bit(message: bytes) -> bytes:
    """The message with every `8bit` part re-encoded as quoted-printable (for a server that
    does not offer 8BITMIME). A DKIM-Signature is dropped: the body it covers has changed."""
    head, _, body = message.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    kept: list[bytes] = []
    dropping = False
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = line.lower().startswith(b"dkim-signature:")
        if not dropping:
            kept.append(line)
    return _seven_bit_entity(b"\r\n".join(kept), body)


def _seven_bit_entity(head: bytes, body: bytes) -> bytes:
    multipart = _MULTIPART.search(head)
    if multipart:
        delimiter = b"\r\n--" + multipart.group(1)
        chunks = (b"\r\n" + body).split(delimiter)
        for n in range(1, len(chunks)):
            chunk = chunks[n]
            if chunk.startswith(b"--"):  # the close delimiter and the epilogue
                break
            eol = chunk.find(b"\r\n")
            if eol < 0:
                continue
            part_head, sep, part_body = chunk[eol + 2:].partition(b"\r\n\r\n")
            if sep:
                chunks[n] = chunk[:eol + 2] + _seven_bit_entity(part_head, part_body)
        head = _CTE_8BIT.sub(rb"\g<1>7bit", head)
        return head + b"\r\n\r\n" + delimiter.join(chunks)[2:]
    if _CTE_8BIT.search(head):
        head = _CTE_8BIT.sub(rb"\g<1>quoted-printable", head)
        body = quoted_printable(body)
    return head + b"\r\n\r\n" + body


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


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._@+-]")
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)


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

    def send(self, sender: str, recipient: str, message: bytes, message_id: str) -> None:
        name = _UNSAFE_NAME.sub("_", message_id.strip("<>")) or "message"
        folder = os.fspath(self.folder)
        path = f"{folder}/{name}.eml"
        tmp = f"{folder}/.{name}.eml.tmp"  # one writer per Message-ID at a time
        try:
            try:
                fd = os.open(tmp, _CREATE, 0o666)
                try:
                    view = memoryview(message)
                    while view:
                        view = view[os.write(fd, view):]
                    if self.fsync:
                        os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
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


# A plain `local@domain`, as the subscriber store keeps them: no display name, no brackets.
_PLAIN_ADDRESS = re.compile(r'[^\s<>()\[\]\\,;:"@]+@[^\s<>()\[\]\\,;:"@]+')


def _envelope_address(address: str) -> str:
    """`<address>` for MAIL FROM / RCPT TO. smtplib's `quoteaddr` runs every address through the
    email package's pure-Python parser, a sixth of the client's CPU per message; a plain
    address needs no parsing, anything else still gets it."""
    if _PLAIN_ADDRESS.fullmatch(address):
        return f"<{address}>"
    return smtplib.quoteaddr(address)


_UNSTUFF = re.compile(rb"(?m)^\.")  # undoes _dot_stuffed


def _dot_stuffed(message: bytes) -> bytes:
    """RFC 5321 4.5.2 transparency: a line starting with "." gets another one.

    The same bytes as smtplib's multiline `^[.]` substitution, which tries its pattern at every
    offset of the message (350 us for a 27 kB digest); and cheaper than `bytes.replace` when
    the pattern is rare (a digest has one or two such lines: a search, then one copy)."""
    at = message.find(b"\n.")
    if at < 0:
        return b"." + message if message[:1] == b"." else message
    parts = []
    start = 0
    while at >= 0:
        parts.append(message[start:at + 1])
        start = at + 1
        at = message.find(b"\n.", start)
    parts.append(message[start:])
    stuffed = b".".join(parts)
    return b"." + stuffed if stuffed[:1] == b"." else stuffed


class SmtpSender:
    """SMTP delivery; each session keeps one connection open for many messages.

    Messages are sent as they are (`8bit` parts) with `BODY=8BITMIME` to a server that offers
    8BITMIME; to one that does not, each is first converted by `to_seven_bit` and, as that drops
    a DKIM signature, signed again with `resign` when given.
    """

    # Its sessions can be driven from one thread: `begin()`, then `advance()` whenever
    # `fileno()` is readable (see SmtpSession).
    pollable = True

    def __init__(self, config: SmtpConfig, connections: int = 1,
                 resign: Callable[[bytes], bytes] | None = None) -> None:
        self.config = config
        self.connections = connections
        self.resign = resign

    def open(self) -> SmtpSession:
        return SmtpSession(self.config, self.resign)


class SmtpSession:
    def __init__(self, config: SmtpConfig, resign: Callable[[bytes], bytes] | None = None
                 ) -> None:
        self.config = config
        self.resign = resign
        self._smtp: smtplib.SMTP | None = None
        self.eight_bit = False  # the server offers 8BITMIME (known once connected)
        self.pipelining = False  # ... and PIPELINING (RFC 2920)
        self.size = False  # ... and SIZE (RFC 1870)
        self._buffer = b""  # what the server sent that is not parsed yet

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        where = f"{c.host}:{c.port}"
        # (a default context loads the system's certificates: 40 ms, only when TLS is used)
        context = c.ssl_context or (ssl.create_default_context() if c.security != "none"
                                    else None)
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
                smtp.ehlo_or_helo_if_needed()
                if smtp.sock is not None:  # a held-back final "." goes out at once (no Nagle
                    # wait for the ACK of the body, which the server delays)
                    smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.eight_bit = smtp.has_extn("8bitmime")
                self.pipelining = smtp.has_extn("pipelining")
                self.size = smtp.has_extn("size")
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

    # One mail transaction is a short script: (bytes to write, replies to read) steps. With
    # PIPELINING (RFC 2920) MAIL, RCPT and DATA go in one write and their three replies are read
    # together, then the message: two round trips instead of four. `send()` runs the script
    # blocking; a caller driving several sessions from one thread calls `begin()`, then
    # `advance()` each time `fileno()` is readable, until it returns True (or raises).

    def send(self, sender: str, recipient: str, message: bytes, message_id: str) -> None:
        self.begin(sender, recipient, message)
        while not self.advance():
            pass

    def fileno(self) -> int:
        """The connection's socket (valid between `begin()` and the end of the transaction)."""
        assert self._smtp is not None and self._smtp.sock is not None
        return self._smtp.sock.fileno()

    def begin(self, sender: str, recipient: str, message: bytes, transparent: bool = False,
              hold_end: bool = False) -> None:
        """Connect if need be and write the first commands of a mail transaction.
        `transparent`: the message is dot-stuffed already (`MessageTemplate.render(stuffed=True)`).
        `hold_end`: everything but the final "." is written, then the session waits (`parked`)
        until `release_end()`: the server cannot accept the message before that."""
        if self._smtp is None:
            self._smtp = self._connect()
            self._buffer = b""
        options: tuple[str, ...] = ("BODY=8BITMIME",)
        if not self.eight_bit:
            options = ()
            if transparent:
                message, transparent = _UNSTUFF.sub(b"", message), False
            message = to_seven_bit(message)
            if self.resign is not None:
                message = self.resign(message)
        if self.size:
            options = (f"SIZE={len(message)}", *options)  # (the order smtplib uses)
        extra = "".join(" " + o for o in options)
        encoding = self._smtp.command_encoding
        mail = f"MAIL FROM:{_envelope_address(sender)}{extra}\r\n".encode(encoding)
        rcpt = f"RCPT TO:{_envelope_address(recipient)}\r\n".encode(encoding)
        stuffed = message if transparent else _dot_stuffed(message)
        end = b".\r\n" if stuffed.endswith(b"\r\n") else b"\r\n.\r\n"
        body: tuple[bytes, int] = (stuffed + end, 1)
        self._end: tuple[bytes, int] | None = None  # the final ".", held back
        self._may_end = not hold_end
        self.parked = False  # all but the final "." written: waiting for release_end()
        if hold_end:
            body, self._end = (stuffed, 0), (end, 1)
        self._sender = sender
        self._replies: list[tuple[int, bytes]] = []
        self._refused: SendError | None = None
        if self.pipelining:
            self._script = [(mail + rcpt + b"DATA\r\n", 3), body]
        else:
            self._script = [(mail, 1), (rcpt, 1), (b"DATA\r\n", 1), body]
        self._step()

    def release_end(self) -> bool:
        """The final "." of a `hold_end` message may go: written now if the session is parked
        (True: a reply is due, poll `fileno()` again), else as soon as it gets there."""
        self._may_end = True
        if not self.parked or self._end is None:
            return False
        self.parked = False
        self._script, self._end = [self._end], None
        self._step()
        return True

    def _step(self) -> None:
        """Write the next step of the script."""
        data, replies = self._script.pop(0)
        self._wanted = len(self._replies) + replies
        try:
            assert self._smtp is not None and self._smtp.sock is not None
            self._smtp.sock.sendall(data)
        except OSError as exc:
            self.close()
            raise TemporaryFailure(f"connection lost: {_describe(exc)}") from None

    def advance(self) -> bool:
        """Read what the server said; True once the message is accepted. Raises the failure
        (the connection reset or closed as the case needs). Blocks until something arrives."""
        try:
            self._read_replies()
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise TemporaryFailure(f"connection lost: {_describe(exc)}") from None
        if len(self._replies) < self._wanted:
            return False
        if self._refused is None:
            self._refused = self._first_refusal()
            if self._refused is not None and len(self._replies) == 3 and \
                    self._replies[2][0] == 354:  # DATA taken without a sender or recipient:
                self._script = [(b".\r\n", 1)]  # end that (empty) message at once
                self._end = None
                self._step()
                return False
        if self._refused is not None:
            self._reset()
            raise self._refused
        while self._script or self._end is not None:
            if not self._script:  # only the held-back "." is left
                if not self._may_end:
                    self.parked = True
                    return False
                self._script, self._end = [self._end], None
            self._step()
            if len(self._replies) < self._wanted:
                return False
        return True

    def _read_replies(self) -> None:
        """Parse complete replies out of what has arrived (one recv, or more for TLS)."""
        assert self._smtp is not None and self._smtp.sock is not None
        sock = self._smtp.sock
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
            self._buffer += chunk
            if not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
                break
        lines: list[bytes] = []
        start = 0
        buffer = self._buffer
        while (end := buffer.find(b"\n", start)) >= 0:
            line = buffer[start:end + 1]
            start = end + 1
            lines.append(line[4:].strip(b" \t\r\n"))
            if line[3:4] != b"-":  # the last line of a reply
                try:
                    code = int(line[:3])
                except ValueError:
                    raise smtplib.SMTPServerDisconnected(
                        f"unreadable reply {line[:40]!r}") from None
                self._replies.append((code, b"\n".join(lines)))
                lines = []
                buffer, start = buffer[start:], 0
        self._buffer = buffer
        if len(buffer) > 65536:
            raise smtplib.SMTPServerDisconnected("reply line too long")

    def _first_refusal(self) -> SendError | None:
        """The first refusal among the replies: MAIL, RCPT, DATA (354), end of data."""
        r = self._replies
        if r[0][0] != 250:
            return _sender_refused(self._sender, *r[0])
        if len(r) > 1 and r[1][0] not in (250, 251):
            return _by_code(r[1][0], f"{r[1][0]} {_text(r[1][1])}")
        if len(r) > 2 and r[2][0] != 354:
            return _by_code(r[2][0], f"{r[2][0]} {_text(r[2][1])}")
        if len(r) > 3 and r[3][0] != 250:
            return _by_code(r[3][0], f"{r[3][0]} {_text(r[3][1])}")
        return None

    def _reset(self) -> None:
        if self._smtp is None:
            return
        try:
            self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.close()

    def close(self) -> None:
        if self._smtp is not None:
            # in the middle of a message's data a QUIT would be more data: the connection is
            # dropped (and the unfinished message with it)
            _quietly_close(self._smtp, quit=getattr(self, "_end", None) is None)
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


def _sender_refused(sender: str, code: int, text: bytes | str) -> SendError:
    if 400 <= code < 500:
        return TemporaryFailure(f"sender refused: {code} {_text(text)}")
    return FatalSendError(f"sender {sender} refused: {code} {_text(text)}",
                          "check mail.from_address")


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
                outbox_fsync: bool = False, resign: Callable[[bytes], bytes] | None = None
                ) -> Sender:
    """The sender of `kind`; the outbox folder is created here, so a folder that cannot be is a
    configuration error before anything is sent (PathError), not a failure per recipient."""
    if kind == "smtp":
        return SmtpSender(smtp, connections, resign)
    make_folder(outbox, "paths.outbox")
    return OutboxSender(outbox, fsync=outbox_fsync, connections=1)



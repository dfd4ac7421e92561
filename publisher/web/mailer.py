"""The one mail the web sends itself: the subscription confirmation (double opt-in).

The web sees "something that sends one message" (`ConfirmationSender`), so tests hand it a real
SMTP server or an outbox folder, and the app never knows which.
"""

from __future__ import annotations

from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Protocol

from ..config import Settings
from ..mail import Sender, header_value


class ConfirmationSender(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Deliver one message or raise (SendError or OSError)."""


def confirmation_message(
    settings: Settings, to: str, subject: str, text: str, html: str, now: datetime,
    message_id: str = "",
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = Address(header_value(settings.mail.from_name),
                              addr_spec=header_value(settings.mail.from_address))
    message["To"] = header_value(to)
    message["Subject"] = header_value(subject)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id or make_msgid("confirm", domain=settings.message_id_domain)
    if settings.mail.reply_to:
        message["Reply-To"] = header_value(settings.mail.reply_to)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


class SessionSender:
    """Adapts the digest senders of `publisher.mail` (outbox folder or SMTP): one session per
    confirmation mail, opened and closed around it."""

    def __init__(self, sender: Sender, from_address: str) -> None:
        self._sender = sender
        self._from = from_address

    def send(self, message: EmailMessage) -> None:
        data = message.as_bytes(policy=SMTP_POLICY)
        session = self._sender.open()
        try:
            session.send(self._from, parseaddr(str(message["To"]))[1], data,
                         str(message["Message-ID"]))
        finally:
            session.close()


def default_sender(settings: Settings) -> ConfirmationSender:
    """The sender `mail.sender` names (`outbox` or `smtp`), built as the digests build theirs."""
    from ..sending import sender_for  # noqa: PLC0415 - loads the digest stack only when needed

    return SessionSender(sender_for(settings), settings.mail.from_address)

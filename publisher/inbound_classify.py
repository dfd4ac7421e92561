"""What a message that came back is: pure (bytes in, a `Verdict` out; no store, no clock).

- DSNs (RFC 3464: `multipart/report; report-type=delivery-status`): a recipient with
  `Action: failed` and a `5.x.x` status is a hard bounce; `4.x.x` (or `Action: delayed`) a soft
  one; `delivered`/`relayed`/`expanded` notices change nothing.
- ARF (RFC 5965: `report-type=feedback-report`): `Feedback-Type: abuse` is a complaint;
  `not-spam` is recognised and changes nothing; other feedback types are left for a person.
- Mail to the `mailto:` unsubscribe address (RFC 8058 clients send it): the token in the subject
  (`unsubscribe-<token>`) or in the address (`unsubscribe+<token>@...`).
- Non-standard bounces (Exim's X-Failed-Recipients, qmail, old Postfix, Exchange, ...): Mailman's
  maintained detectors, `flufl.bounce` (imported by this module only).
- Auto-replies (`Auto-Submitted`, vacation and out-of-office responders): ignored.
- Anything else: `unrecognised`, with one line saying why; the caller leaves it in place.

Every verdict carries what maps it to one delivery: the addresses the report was sent to (the
VERP return path), the Message-IDs of the original found inside the report, and the failed or
complaining recipients as the report names them.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import re
from dataclasses import dataclass
from email.utils import getaddresses

from flufl.bounce import all_failures

KINDS = ("hard_bounce", "soft_bounce", "complaint", "not_spam", "unsubscribe", "ignored",
         "unrecognised")

_TOKEN = r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"
_SUBJECT_TOKEN = re.compile(r"unsubscribe-(" + _TOKEN + r")", re.IGNORECASE)
_ADDRESS_TOKEN = re.compile(r"^unsubscribe\+(" + _TOKEN + r")@", re.IGNORECASE)
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_MESSAGE_ID = re.compile(rb"^(?:Message-ID|Message-Id|Message-id|X-Original-Message-ID)"
                         rb":[ \t]*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)
_RETURN_PATH = re.compile(rb"^Return-Path:[ \t]*<([^>\r\n]+@[^>\r\n]+)>", re.IGNORECASE | re.MULTILINE)
_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|vacation|"
    r"abwesenheit|absence|r[ée]ponse automatique|autosvar|respuesta autom[áa]tica)",
    re.IGNORECASE)
# Headers naming the mailbox the message was delivered to (a VERP return path lands here).
_DELIVERY_HEADERS = ("delivered-to", "x-original-to", "envelope-to", "x-envelope-to", "to",
                     "x-rcpt-to")


@dataclass(frozen=True)
class Verdict:
    kind: str  # one of KINDS
    reason: str  # one line: what was found, or why nothing was recognised
    recipients: tuple[str, ...] = ()  # failed / complaining addresses, as the report names them
    delivered_to: tuple[str, ...] = ()  # where this message was sent (VERP return paths)
    original_ids: tuple[str, ...] = ()  # Message-IDs of the original mail inside the report
    token: str = ""  # the unsubscribe token of a mailto unsubscribe
    status: str = ""  # the DSN status code, e.g. "5.1.1"
    message_id: str = ""  # this message's own Message-ID


def classify(data: bytes) -> Verdict:
    """The verdict for one raw message (any bytes: garbage gives `unrecognised`)."""
    if not data.strip():
        return Verdict("unrecognised", "empty message")
    try:
        msg = email.message_from_bytes(data)  # compat32: what flufl.bounce expects
    except Exception as exc:  # noqa: BLE001 - the email package can fail on odd input
        return Verdict("unrecognised", f"not a mail message ({type(exc).__name__})")
    if not msg.keys():
        return Verdict("unrecognised", "not a mail message (no headers)")
    common = {
        "delivered_to": _delivered_to(msg) + _quoted_return_paths(data),
        "original_ids": _original_ids(data, msg),
        "message_id": str(msg.get("message-id", "")).strip(),
    }
    verdict = (_report(msg, common) or _unsubscribe(msg, common) or _nonstandard(msg, common)
               or _auto_reply(msg, common))
    if verdict is not None:
        return verdict
    subject = " ".join(str(msg.get("subject", "")).split())[:60]
    return Verdict("unrecognised", f"neither a bounce, a complaint nor an unsubscribe "
                   f"(from {_one_line(msg.get('from', '?'))!s}, subject {subject!r})", **common)


# --- reports (multipart/report) ---------------------------------------------------------------

def _report(msg: email.message.Message, common: dict) -> Verdict | None:  # type: ignore[type-arg]
    if msg.get_content_type() != "multipart/report":
        return None
    report_type = (msg.get_param("report-type") or "").lower()  # type: ignore[union-attr]
    if report_type == "delivery-status":
        return _dsn(msg, common)
    if report_type == "feedback-report":
        return _arf(msg, common)
    return None  # e.g. disposition-notification (read receipts): see the other rules


def _part(msg: email.message.Message, content_type: str) -> email.message.Message | None:
    for part in msg.walk():
        if part.get_content_type() == content_type:
            return part
    return None


def _field_blocks(part: email.message.Message) -> list[email.message.Message]:
    """The header blocks of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, email.message.Message)]
    text = payload if isinstance(payload, str) else ""
    if part.get("content-transfer-encoding", "").lower() in ("base64", "quoted-printable"):
        raw = part.get_payload(decode=True)
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else text
    blocks = re.split(r"\r?\n[ \t]*\r?\n", text.strip())
    return [email.message_from_string(b + "\n") for b in blocks if b.strip()]


def _address_field(value: object) -> str:
    """`rfc822; someone@example.org` -> `someone@example.org`."""
    text = str(value or "")
    _, _, address = text.rpartition(";") if ";" in text else ("", "", text)
    return address.strip().strip("<>").strip()


def _dsn(msg: email.message.Message, common: dict) -> Verdict:  # type: ignore[type-arg]
    part = _part(msg, "message/delivery-status")
    if part is None:
        return Verdict("unrecognised", "a delivery-status report without its "
                       "message/delivery-status part", **common)
    hard: list[tuple[str, str, str]] = []
    soft: list[tuple[str, str, str]] = []
    for block in _field_blocks(part)[1:] or _field_blocks(part):
        recipient = _address_field(block.get("final-recipient") or block.get("original-recipient"))
        if not recipient:
            continue
        action = str(block.get("action", "")).strip().lower()
        found = _STATUS.search(str(block.get("status", "")))
        status = ".".join(found.groups()) if found else ""
        diagnostic = _one_line(block.get("diagnostic-code", ""))
        if action in ("delivered", "relayed", "expanded"):
            continue
        if action == "failed" and status.startswith("5"):
            hard.append((recipient, status, diagnostic))
        elif action in ("failed", "delayed") and status.startswith("4") or action == "delayed":
            soft.append((recipient, status or "4.0.0", diagnostic))
        elif action == "failed":  # no usable status: a failure is permanent by definition
            hard.append((recipient, status or "5.0.0", diagnostic))
    chosen, kind = (hard, "hard_bounce") if hard else (soft, "soft_bounce")
    if not chosen:
        return Verdict("ignored", "a delivery-status report with no failed recipient "
                       "(delivered, relayed or expanded)", **common)
    recipient, status, diagnostic = chosen[0]
    return Verdict(kind, f"DSN {status} for {recipient}" + (f": {diagnostic}"[:200] if diagnostic
                                                              else ""),
                   recipients=tuple(r for r, _, _ in chosen), status=status, **common)


def _arf(msg: email.message.Message, common: dict) -> Verdict:  # type: ignore[type-arg]
    part = _part(msg, "message/feedback-report")
    if part is None:
        return Verdict("unrecognised", "a feedback report without its message/feedback-report "
                       "part", **common)
    fields: dict[str, str] = {}
    for block in _field_blocks(part):
        for key, value in block.items():
            fields.setdefault(key.lower(), str(value).strip())
    feedback = fields.get("feedback-type", "").lower()
    recipients = tuple(a for a in [_address_field(fields.get("original-rcpt-to", ""))] if a)
    if not recipients:
        original = _part(msg, "message/rfc822") or _part(msg, "text/rfc822-headers")
        headers = _original_headers(original) if original is not None else None
        if headers is not None:
            recipients = tuple(a for _, a in getaddresses(headers.get_all("to", [])) if "@" in a)
    source = fields.get("user-agent", "") or _one_line(msg.get("from", ""))
    if feedback == "abuse":
        return Verdict("complaint", f"ARF abuse report ({source[:80]})", recipients=recipients,
                       **common)
    if feedback == "not-spam":
        return Verdict("not_spam", f"ARF not-spam report ({source[:80]}): nothing to change",
                       recipients=recipients, **common)
    return Verdict("unrecognised", f"ARF feedback type {feedback or 'missing'!r} is not acted "
                   "on (only abuse and not-spam are)", recipients=recipients, **common)


def _original_headers(part: email.message.Message) -> email.message.Message | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], email.message.Message):
        return payload[0]
    if isinstance(payload, str):
        return email.message_from_string(payload)
    return None


# --- mailto unsubscribes ---------------------------------------------------------------------

def _unsubscribe(msg: email.message.Message, common: dict) -> Verdict | None:  # type: ignore[type-arg]
    for address in common["delivered_to"]:
        found = _ADDRESS_TOKEN.match(address)
        if found:
            return Verdict("unsubscribe", f"mailto unsubscribe to {address.split('+')[0]}+…",
                           token=found.group(1), recipients=_senders(msg), **common)
    subject = _one_line(msg.get("subject", ""))
    found = _SUBJECT_TOKEN.search(subject)
    if found:
        return Verdict("unsubscribe", "mailto unsubscribe (token in the subject)",
                       token=found.group(1), recipients=_senders(msg), **common)
    return None


def _senders(msg: email.message.Message) -> tuple[str, ...]:
    return tuple(a for _, a in getaddresses(msg.get_all("from", [])) if "@" in a)


# --- non-standard bounces, auto-replies -------------------------------------------------------

def _nonstandard(msg: email.message.Message, common: dict) -> Verdict | None:  # type: ignore[type-arg]
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # noqa: BLE001 - a detector choking on odd input is "not recognised"
        return None
    if permanent:
        recipients = tuple(sorted(a.decode("ascii", "replace") for a in permanent))
        return Verdict("hard_bounce", f"bounce ({_mailer(msg)}) for {', '.join(recipients)}",
                       recipients=recipients, status="5.0.0", **common)
    if temporary:
        recipients = tuple(sorted(a.decode("ascii", "replace") for a in temporary))
        return Verdict("soft_bounce", f"delay warning ({_mailer(msg)}) for "
                       f"{', '.join(recipients)}", recipients=recipients, status="4.0.0",
                       **common)
    return None


def _auto_reply(msg: email.message.Message, common: dict) -> Verdict | None:  # type: ignore[type-arg]
    auto = str(msg.get("auto-submitted", "")).strip().lower()
    if auto and auto != "no":
        return Verdict("ignored", f"auto-reply (Auto-Submitted: {auto[:40]})", **common)
    for header in ("x-autoreply", "x-autorespond", "x-autoresponder"):
        if msg.get(header):
            return Verdict("ignored", f"auto-reply ({header})", **common)
    if str(msg.get("precedence", "")).strip().lower() == "auto_reply":
        return Verdict("ignored", "auto-reply (Precedence: auto_reply)", **common)
    if _AUTO_SUBJECT.match(_one_line(msg.get("subject", ""))):
        return Verdict("ignored", "auto-reply (vacation / out-of-office subject)", **common)
    return None


# --- helpers -------------------------------------------------------------------------------

def _one_line(value: object) -> str:
    return " ".join(str(value or "").split())


def _mailer(msg: email.message.Message) -> str:
    return _one_line(msg.get("from", "unknown sender"))[:60]


def _delivered_to(msg: email.message.Message) -> tuple[str, ...]:
    found: list[str] = []
    for header in _DELIVERY_HEADERS:
        for _, address in getaddresses([str(v) for v in msg.get_all(header, [])]):
            if "@" in address and address not in found:
                found.append(address)
    return tuple(found)


def _original_ids(data: bytes, msg: email.message.Message) -> tuple[str, ...]:
    """Message-IDs inside the body (the original's headers quoted by the report), not the
    report's own."""
    own = str(msg.get("message-id", "")).strip()
    head_end = re.search(rb"\r?\n\r?\n", data)
    body = data[head_end.end():] if head_end else b""
    found: list[str] = []
    for match in _MESSAGE_ID.finditer(body):
        value = match.group(1).decode("ascii", "replace")
        if value != own and value not in found:
            found.append(value)
    return tuple(found)


def _quoted_return_paths(data: bytes) -> tuple[str, ...]:
    """Return-Path headers of the original quoted in the body (a feedback report is mailed to
    the feedback-loop address, but quotes the original with its VERP return path)."""
    head_end = re.search(rb"\r?\n\r?\n", data)
    body = data[head_end.end():] if head_end else b""
    return tuple(dict.fromkeys(m.group(1).decode("ascii", "replace")
                               for m in _RETURN_PATH.finditer(body)))

"""Email address syntax: the one importer of email-validator (no DNS: deliverability is off)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


def normalize_address(text: str) -> str:
    """The address in its normal form; ValueError says what is wrong with it."""
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


def subscriber_address(text: str) -> str:
    """A subscriber's address as stored: normalised, IDNA domains as ASCII, ASCII local parts
    only (the senders do not speak SMTPUTF8). ValueError says what is wrong with it."""
    try:
        checked = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    return checked.ascii_email or checked.normalized

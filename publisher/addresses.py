"""Email address syntax: the one importer of email-validator (no DNS: deliverability is off)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


def normalize_address(text: str) -> str:
    """The address in its normal form; ValueError says what is wrong with it."""
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None

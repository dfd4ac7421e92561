"""HMAC-signed tokens for links in mails (unsubscribe, manage, confirm), scoped by purpose.

A token is `<value>.<mac>` in URL-safe base64 without padding; the MAC covers the purpose too,
so a token made for one purpose never verifies for another. Only that one canonical encoding
is accepted (no padding, no extra characters, no other spelling of the same bytes).
"""

from __future__ import annotations

import base64
import hmac

from .errors import ConfigError, PublisherError

MAC_BYTES = 16


class BadToken(PublisherError):
    """Forged, tampered, truncated or wrong-purpose token."""


def require_secret(secret: str) -> bytes:
    if len(secret) < 16:
        raise ConfigError(
            "PUBLISHER_SECRET_KEY is not set (or shorter than 16 characters)",
            "export PUBLISHER_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')",
        )
    return secret.encode("utf-8")


def sign(secret: str, purpose: str, value: str) -> str:
    key = require_secret(secret)
    body = _b64(value.encode("utf-8"))
    return f"{body}.{_b64(_mac(key, purpose, body))}"


def unsign(secret: str, purpose: str, token: str) -> str:
    """The signed value, or BadToken."""
    key = require_secret(secret)
    body, _, mac = token.partition(".")
    try:
        given = base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        value = raw.decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise BadToken("malformed token") from None
    # One canonical spelling only: no padding, no stray characters (the decoder skips them), no
    # non-zero trailing bits; anything else is a different string naming the same bytes.
    if _b64(raw) != body or _b64(given) != mac:
        raise BadToken("token not in its canonical encoding")
    if not body or not hmac.compare_digest(given, _mac(key, purpose, body)):
        raise BadToken("invalid token")
    return value


def _mac(key: bytes, purpose: str, body: str) -> bytes:
    return purpose_mac(key, purpose, body)[:MAC_BYTES]


def purpose_mac(key: bytes, purpose: str, value: str) -> bytes:
    """HMAC-SHA256 under `key` of `purpose`, a NUL and `value` (UTF-8): the one keyed digest of
    the package (tokens, VERP addresses, rate-limit client keys), each purpose its own name."""
    return hmac.digest(key, f"{purpose}\0{value}".encode(), "sha256")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")

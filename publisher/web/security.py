"""Security plumbing for the web app: response headers, CSRF tokens, per-client rate limits.

CSRF uses a signed double submit: a random cookie (`csrf`, HttpOnly, SameSite=Strict) and a
hidden form field holding an HMAC of it under the site secret. A cross-site page can neither
read the cookie nor compute the field; POSTs that browsers label `Sec-Fetch-Site: cross-site`
are refused as well. The one-click unsubscribe POST (RFC 8058) is exempt by design: mail
providers send it without cookies, and its signed token is the authority.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Callable

from flask import Request, Response

from .. import tokens
from ..store import web as web_store

if TYPE_CHECKING:
    from ..store import Database

CSRF_COOKIE = "csrf"
CSRF_FIELD = "csrf_token"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: https:; style-src 'self'; script-src 'none'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


# On every response: the app's (add_security_headers) and the server's own errors (web.server).
SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    # Full urls (which may hold a signed token) never leave the site.
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "interest-cohort=(), browsing-topics=()"),
)


def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS:
        response.headers.setdefault(name, value)
    return response


class Csrf:
    """Issue and check the signed double-submit tokens of one app."""

    def __init__(self, secret: str, secure_cookie: bool) -> None:
        tokens.require_secret(secret)
        self._secret = secret
        self._secure = secure_cookie

    def field_for(self, cookie_value: str) -> str:
        return tokens.sign(self._secret, "csrf", cookie_value)

    def cookie_value(self, request: Request) -> tuple[str, bool]:
        """(value, is_new): the visitor's cookie, or a fresh one to set on the response."""
        value = request.cookies.get(CSRF_COOKIE, "")
        if 16 <= len(value) <= 64 and value.isalnum():
            return value, False
        return secrets.token_hex(16), True

    def set_cookie(self, response: Response, value: str) -> None:
        response.set_cookie(
            CSRF_COOKIE, value, httponly=True, samesite="Strict", secure=self._secure, path="/"
        )

    def check(self, request: Request) -> bool:
        if request.headers.get("Sec-Fetch-Site", "") == "cross-site":
            return False
        cookie = request.cookies.get(CSRF_COOKIE, "")
        field = request.form.get(CSRF_FIELD, "")
        if not cookie or not field:
            return False
        try:
            value = tokens.unsign(self._secret, "csrf", field)
        except tokens.BadToken:
            return False
        return hmac.compare_digest(value, cookie)


class RateLimiter:
    """At most `limit` requests per client address in any `window` seconds, counted in the store
    (`store.web.take_rate_slot`), so several `serve` processes behind one load balancer share
    the count. Addresses are never written down: each is stored as an HMAC under the site
    secret, and deleted once out of the window.
    """

    def __init__(self, engine: "Database", scope: str, limit: int, window: float,
                 secret: str, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._scope = scope
        self._limit = limit
        self._window = window
        self._key = hashlib.sha256(f"rate-limit\0{secret}".encode()).digest()
        self._clock = clock

    def client_key(self, address: str) -> str:
        return tokens.purpose_mac(self._key, self._scope, address).hex()[:32]

    def allow(self, address: str) -> bool:
        with self._engine.begin() as conn:
            return web_store.take_rate_slot(conn, self._scope, self.client_key(address),
                                            self._clock(), self._limit, self._window)

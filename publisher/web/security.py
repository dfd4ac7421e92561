"""Security plumbing for the web app: response headers, CSRF tokens, per-client rate limits.

CSRF uses a signed double submit: a random cookie (`csrf`, HttpOnly, SameSite=Strict) and a
hidden form field holding an HMAC of it under the site secret. A cross-site page can neither
read the cookie nor compute the field; POSTs that browsers label `Sec-Fetch-Site: cross-site`
are refused as well. The one-click unsubscribe POST (RFC 8058) is exempt by design: mail
providers send it without cookies, and its signed token is the authority.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from typing import Callable

from flask import Request, Response

from .. import tokens

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
    """At most `limit` events per key in any `window` seconds (a sliding log, in memory).

    In memory on purpose: client addresses are never written to disk. One process (waitress
    is one process with threads), so one limiter sees every request.
    """

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._max_keys = max_keys
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = self._clock()
        with self._lock:
            if len(self._events) >= self._max_keys:
                self._forget_idle(now)
            log = self._events.setdefault(key, deque())
            while log and log[0] <= now - self._window:
                log.popleft()
            if len(log) >= self._limit:
                return False
            log.append(now)
            return True

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, log in self._events.items() if not log or log[-1] <= now - self._window]:
            del self._events[key]
        if len(self._events) >= self._max_keys:  # still full: under attack, start over
            self._events.clear()

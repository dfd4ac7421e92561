"""The Flask application: `create_app(settings, engine, now=..., sender=...)`.

Everything a view needs lives on one `Web` object created here and handed to each module's
`register()`: no globals, and tests build as many independent apps as they like.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from flask import Flask, Response, redirect, render_template, request
from jinja2 import ChoiceLoader, FileSystemLoader
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect
from werkzeug.middleware.proxy_fix import ProxyFix

from ..config import Settings
from ..errors import DatabaseBusy
from ..health import heartbeat
from ..store import Database
from .feeds import FileServer
from .mailer import ConfirmationSender, default_sender
from .security import Csrf, RateLimiter, add_security_headers

Clock = Callable[[], datetime]

BUILTIN_TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "web"
log = logging.getLogger("publisher.web")


@dataclass
class Web:
    """The app's collaborators: settings, store, clock, mail sender and the security helpers."""

    settings: Settings
    engine: Database
    now: Clock
    sender: ConfirmationSender
    csrf: Csrf
    subscribe_limiter: RateLimiter
    files: FileServer
    template_dirs: tuple[Path, ...]

    @property
    def public_url(self) -> str:
        return self.settings.web.public_url.rstrip("/")

    def absolute(self, path: str) -> str:
        return f"{self.public_url}/{path.lstrip('/')}"

    def find_template_file(self, name: str) -> Path | None:
        for folder in self.template_dirs:
            candidate = folder / name
            if candidate.is_file():
                return candidate
        return None


def create_app(
    settings: Settings, engine: Database, now: Clock | None = None,
    sender: ConfirmationSender | None = None,
) -> Flask:
    """The web app for checked settings; raises ConfigError for a missing secret."""
    template_dirs = tuple(dict.fromkeys([settings.templates_dir / "web", BUILTIN_TEMPLATES]))
    clock = now or (lambda: datetime.now(timezone.utc))
    web = Web(
        settings=settings,
        engine=engine,
        now=clock,
        sender=sender or default_sender(settings),
        csrf=Csrf(settings.secrets.secret_key,
                  secure_cookie=settings.web.public_url.startswith("https://")),
        subscribe_limiter=RateLimiter(engine, "subscribe", settings.web.subscribe_per_ip, 3600.0,
                                      settings.secrets.secret_key, clock),
        files=FileServer(),
        template_dirs=template_dirs,
    )
    app = Flask("publisher.web", static_folder=None, template_folder=None)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.web.max_request_bytes,
        MAX_FORM_MEMORY_SIZE=settings.web.max_request_bytes,
        MAX_FORM_PARTS=200,
        TRAP_HTTP_EXCEPTIONS=False,
    )
    # Escape everything but plain-text mail bodies.
    app.jinja_options = {**app.jinja_options, "autoescape": _autoescape}
    app.jinja_loader = ChoiceLoader([FileSystemLoader(str(d)) for d in template_dirs])  # type: ignore[assignment]
    app.url_map.strict_slashes = True
    app.url_map.merge_slashes = False  # `//` is never redirected into a path that exists
    app.extensions["publisher"] = web
    if settings.web.proxy_hops:
        hops = settings.web.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    @app.context_processor
    def site_context() -> dict[str, object]:
        return {"site": settings.site_record, "site_title": settings.site.title}

    app.after_request(add_security_headers)
    app.after_request(lambda response: public_redirect(web, response))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if exc.code in (301, 302, 307, 308):
            return exc.get_response()  # type: ignore[return-value]
        body = render_template("error.html", code=exc.code, title=exc.name,
                               message=ERROR_MESSAGES.get(exc.code or 0, exc.description or ""))
        response = Response(body, status=exc.code, content_type="text/html; charset=utf-8")
        if exc.code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        if exc.code == 429:  # when to come back: as the raiser said, else the limits' window
            given = dict(exc.get_headers()).get("Retry-After")
            response.headers["Retry-After"] = given or str(RATE_LIMIT_RETRY_AFTER)
        return response

    @app.errorhandler(DatabaseBusy)
    def database_busy(exc: DatabaseBusy) -> Response:
        # another process (a long import, a sender) holds the write lock: not our bug, come back
        log.warning("%s %s: %s", request.method, request.path, exc.message)
        body = render_template("error.html", code=503, title="Busy",
                               message="We are busy right now. Please try again in a minute.")
        return Response(body, status=503, content_type="text/html; charset=utf-8",
                        headers={"Retry-After": str(RETRY_AFTER), "Cache-Control": "no-store"})

    @app.errorhandler(Exception)
    def server_error(exc: Exception) -> Response:
        log.exception("error handling %s %s", request.method, request.path)
        body = render_template("error.html", code=500, title="Server error",
                               message="Something went wrong on our side. Please try again later.")
        return Response(body, status=500, content_type="text/html; charset=utf-8")

    @app.get("/healthz")
    def healthz() -> Response:
        try:
            with engine.connect() as conn:
                conn.execute("SELECT 1")
        except Exception as exc:  # the check itself must never raise
            log.error("health check failed: %s", exc)
            return Response("database unavailable\n", status=503, content_type="text/plain")
        with engine.connect() as conn:
            beat = heartbeat(conn, settings, web.now())
        if not beat.healthy:  # the daemon stopped making passes
            return Response(f"daemon: {beat.describe()}\n", status=503, content_type="text/plain",
                            headers={"Cache-Control": "no-store"})
        return Response("ok\n", content_type="text/plain", headers={"Cache-Control": "no-store"})

    @app.get("/metrics")
    def metrics() -> Response:
        from ..metrics import CONTENT_TYPE, metrics_text  # noqa: PLC0415 - only when scraped

        return Response(metrics_text(engine, settings, web.now()), content_type=CONTENT_TYPE,
                        headers={"Cache-Control": "no-store"})

    from . import pages, subscribe  # noqa: PLC0415 - the views need the Web type defined above

    pages.register(app, web)
    subscribe.register(app, web)
    return app


RETRY_AFTER = 30  # seconds, in the 503 answered while the database is busy

RATE_LIMIT_RETRY_AFTER = 3600  # seconds: the rate limits count requests per hour

ERROR_MESSAGES = {
    400: "This link is not valid. It may have been mistyped, cut short or changed.",
    403: "This form has expired or was sent from another site. Go back, reload the page "
         "and try again.",
    404: "There is nothing at this address.",
    405: "This address does not accept that kind of request.",
    413: "That request was too large.",
    429: "Too many requests from your address. Please wait a while and try again.",
}


def public_redirect(web: Web, response: Response) -> Response:
    """A routing redirect (strict slashes: `/slug` -> `/slug/`) sent to the same path under
    `web.public_url`: werkzeug builds it from the request's Host header, which the client
    chose. (Flask answers routing redirects itself, past the error handlers.)"""
    routed = request.routing_exception
    if not isinstance(routed, RequestRedirect):
        return response
    moved = urlsplit(routed.new_url)
    path = moved.path.removeprefix(request.script_root) or "/"
    target = web.absolute(path) + (f"?{moved.query}" if moved.query else "")
    return redirect(target, code=routed.code)  # type: ignore[return-value]


def web_of(app: Flask) -> Web:
    return app.extensions["publisher"]  # type: ignore[no-any-return]


def _autoescape(name: str | None) -> bool:
    return name is None or not name.endswith(".txt")

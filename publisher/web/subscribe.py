"""Subscribe (double opt-in), confirm, manage and unsubscribe.

The rules (who may become active, which links are valid) live in `publisher.subscriptions`;
these views parse the request, call it, and render. The routes come from its `ROUTES` table.
Tokens (see `publisher.tokens`), each scoped by purpose:
- "confirm": `<subscriber id>:<unix time issued>:<status serial>`, valid for
  `web.confirm_max_age` seconds and only until the subscriber's status changes;
- "manage" and "unsubscribe": `<subscriber id>`, valid until the secret changes (they sit in
  every digest, and RFC 8058 wants the unsubscribe url to keep working).

GETs never change anything: mail gateways and link scanners follow links. Confirming takes a
button press (a POST), so a scanner fetching the confirmation link cannot subscribe anyone.
`POST /unsubscribe/<token>` is the RFC 8058 one-click endpoint: no cookie, no CSRF field, no
page needed; the signed token is the authority.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from flask import Flask, Response, abort, redirect, render_template, request, url_for

from .. import subscriptions
from ..model import CADENCES, Subscriber
from ..store import web as web_store
from .mailer import confirmation_message
from .security import CSRF_FIELD

if TYPE_CHECKING:
    from .app import Web

log = logging.getLogger("publisher.web")

DEFAULT_CADENCE = subscriptions.DEFAULT_CADENCE
CADENCE_LABELS = {
    "immediate": "As soon as an article is published",
    "daily": "Once a day",
    "weekly": "Once a week",
}
ONE_CLICK = "One-Click"
NO_STORE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}


def register(app: Flask, web: Web) -> None:
    settings = web.settings
    links = subscriptions.Links.from_settings(settings)
    routes = subscriptions.ROUTES

    def page(template: str, status: int = 200, **context: object) -> Response:
        """A no-store page whose forms carry the visitor's CSRF token."""
        cookie, new = web.csrf.cookie_value(request)
        body = render_template(template, csrf_field=CSRF_FIELD,
                               csrf_token=web.csrf.field_for(cookie), cadences=CADENCES,
                               cadence_labels=CADENCE_LABELS, **context)
        response = Response(body, status=status, headers=NO_STORE,
                            content_type="text/html; charset=utf-8")
        if new:
            web.csrf.set_cookie(response, cookie)
        return response

    def require_csrf() -> None:
        if not web.csrf.check(request):
            abort(403)

    def subscriber_from(purpose: str, token: str) -> Subscriber:
        """The subscriber a manage/unsubscribe token names, or 400."""
        subscriber_id = links.subscriber_id_from(purpose, token)
        if subscriber_id is None:
            abort(400)
        with web.engine.connect() as conn:
            found = subscriptions.get(conn, subscriber_id)
        if found is None:
            abort(400)
        return found

    def known_sections() -> list[str]:
        with web.engine.connect() as conn:
            return web_store.categories(conn)

    def chosen_preferences() -> tuple[str, tuple[str, ...]]:
        cadence = request.form.get("cadence", DEFAULT_CADENCE)
        if cadence not in CADENCES:
            abort(400)
        known = set(known_sections())
        sections = tuple(dict.fromkeys(s for s in request.form.getlist("section") if s in known))
        return cadence, sections

    # --- subscribe -------------------------------------------------------------------------

    @app.route("/subscribe/", methods=["GET", "POST"])
    def subscribe() -> Response:
        sections = known_sections()
        if request.method != "POST":  # GET, HEAD: show the page only
            return page("subscribe.html", sections=sections, email="", cadence=DEFAULT_CADENCE,
                        chosen=(), error="")
        require_csrf()
        cadence, chosen = chosen_preferences()
        raw = request.form.get("email", "").strip()
        try:
            email = subscriptions.normalise_address(raw)
        except subscriptions.BadAddress:
            return page("subscribe.html", status=400, sections=sections, email=raw,
                        cadence=cadence, chosen=chosen,
                        error="Please enter a valid email address, like name@example.org.")
        if not web.subscribe_limiter.allow(request.remote_addr or "unknown"):
            abort(429)
        request_confirmation(web, email, cadence, chosen)
        # The same page whatever the address's state: nobody learns who subscribes.
        return page("subscribe_done.html", email=email)

    # --- confirm ---------------------------------------------------------------------------

    @app.route(routes["confirm"], methods=["GET", "POST"])
    def confirm(token: str) -> Response:
        with web.engine.connect() as conn:
            checked = subscriptions.check_confirmation(conn, links, token, web.now(),
                                                       settings.web.confirm_max_age)
        if checked is None:
            abort(400)
        if checked.state in ("expired", "used"):
            return page("expired.html", status=400)
        subscriber = checked.subscriber
        assert subscriber is not None
        if request.method != "POST":  # GET, HEAD: show the page only
            return page("confirm.html", subscriber=subscriber, token=token)
        require_csrf()
        if checked.state == "ok":
            with web.engine.begin() as conn:
                done = subscriptions.confirm(conn, checked, web.now())
            if not done:  # the status changed since the page was shown
                return page("expired.html", status=400)
            log.info("subscriber %s confirmed", subscriber.id)
        return redirect(url_for("manage", token=manage_token(web, subscriber.id), done="confirmed"),
                        code=303)

    # --- manage ----------------------------------------------------------------------------

    @app.route(routes["manage"], methods=["GET", "POST"])
    def manage(token: str) -> Response:
        subscriber = subscriber_from("manage", token)
        if request.method != "POST":  # GET, HEAD: show the page only
            done = request.args.get("done", "")
            return page("manage.html", subscriber=subscriber, token=token,
                        sections=known_sections(), chosen=subscriber.categories,
                        done=done if done in MANAGE_MESSAGES else "",
                        message=MANAGE_MESSAGES.get(done, ""))
        require_csrf()
        action = request.form.get("action", "")
        now = web.now()
        outcome = {"save": "saved", "unsubscribe": "unsubscribed", "resubscribe": "resubscribed"}
        if action not in outcome:
            abort(400)
        done = outcome[action]
        with web.engine.begin() as conn:
            if action == "save":
                cadence, chosen = chosen_preferences()
                subscriptions.update_preferences(conn, subscriber.id, cadence=cadence,
                                                 categories=chosen)
            elif action == "unsubscribe":
                subscriptions.unsubscribe(conn, subscriber, now)
            elif not subscriptions.resubscribe(conn, subscriber, now):
                done = "confirm"  # suppressed: a fresh confirmation first
        if done == "confirm":
            request_confirmation(web, subscriber.email, subscriber.cadence, subscriber.categories)
        log.info("subscriber %s: %s", subscriber.id, action)
        return redirect(url_for("manage", token=token, done=done), code=303)

    # --- unsubscribe (RFC 8058) ------------------------------------------------------------

    @app.route(routes["unsubscribe"], methods=["GET", "POST"])
    def unsubscribe(token: str) -> Response:
        subscriber = subscriber_from("unsubscribe", token)
        manage_href = url_for("manage", token=manage_token(web, subscriber.id))
        if request.method != "POST":  # GET and HEAD never change anything
            return page("unsubscribe.html", subscriber=subscriber, token=token,
                        manage_href=manage_href)
        with web.engine.begin() as conn:
            changed = subscriptions.unsubscribe(conn, subscriber, web.now())
        if changed:
            log.info("subscriber %s unsubscribed (%s)", subscriber.id,
                     "one-click" if request.form.get("List-Unsubscribe") == ONE_CLICK else "page")
        if request.form.get("List-Unsubscribe") == ONE_CLICK:
            return Response("unsubscribed\n", content_type="text/plain; charset=utf-8",
                            headers=NO_STORE)
        return page("unsubscribed.html", subscriber=subscriber, manage_href=manage_href)


MANAGE_MESSAGES = {
    "confirmed": "Thank you: your subscription is confirmed.",
    "saved": "Your choices are saved.",
    "unsubscribed": "You are unsubscribed. You will get no more digests.",
    "resubscribed": "Welcome back: you are subscribed again.",
    "confirm": "We sent you a confirmation link: open it to get digests again.",
}


def manage_token(web: Web, subscriber_id: int) -> str:
    return subscriptions.Links.from_settings(web.settings).token("manage", str(subscriber_id))


def request_confirmation(web: Web, email: str, cadence: str, sections: tuple[str, ...]) -> None:
    """Record the request and mail a confirmation link, unless the address is already active or
    had one within `web.confirm_cooldown`. Silent either way: the caller shows the same page."""
    now = web.now()
    with web.engine.begin() as conn:
        subscriber = subscriptions.request(conn, email, cadence=cadence, categories=sections,
                                           now=now)
        if subscriber is None:
            return  # already active: changes nothing, mails nothing, reveals nothing
        email_key = subscriber.email.casefold()
        if not web_store.claim_confirmation_mail(conn, email_key, now,
                                                 web.settings.web.confirm_cooldown):
            log.info("confirmation for subscriber %s not sent: cooldown", subscriber.id)
            return
    link = web.absolute(subscriptions.path_for(
        "confirm", token=subscriptions.Links.from_settings(web.settings).confirm_token(
            subscriber, now)).lstrip("/"))
    context = {"link": link, "site_title": web.settings.site.title,
               "hours": max(1, web.settings.web.confirm_max_age // 3600)}
    message = confirmation_message(
        web.settings, subscriber.email,
        subject=f"Confirm your subscription to {web.settings.site.title}",
        text=render_template("confirm_mail.txt", **context),
        html=render_template("confirm_mail.html", **context),
        now=now, message_id=subscriptions.confirmation_message_id(
            web.settings.message_id_domain, subscriber.id, now),
    )
    started = time.monotonic()
    try:
        web.sender.send(message)
    except Exception as exc:  # noqa: BLE001 - any failure: let the visitor try again at once
        log.error("confirmation for subscriber %s not sent: %s", subscriber.id, exc)
        with web.engine.begin() as conn:
            web_store.release_confirmation_mail(conn, email_key)
        return
    log.info("confirmation sent to subscriber %s in %.2fs", subscriber.id,
             time.monotonic() - started)

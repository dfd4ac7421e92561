"""End to end in a real headless Chromium (Debian's, driven by Playwright; no browser download).

Home page -> an article -> subscribe -> the confirmation mail arrives at a local aiosmtpd
server -> its link -> confirm -> active; then a real digest is sent through the same SMTP
server by `publisher send-digests`, and its unsubscribe link unsubscribes. Screenshots of every
step at desktop (1280 px) and phone (375 px) widths go to test-output/screenshots/.
"""

from __future__ import annotations

import email
import re
import threading
from email import policy
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import REPO, WEB_SECRET, WebSite, free_port

from publisher.store import subscribers as subscriber_store

CHROMIUM = "/usr/bin/chromium"
SHOTS = REPO / "test-output" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 812}}

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium missing")


class Mailbox:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[email.message.EmailMessage] = []
        self._arrived = threading.Condition()
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        with self._arrived:
            self.messages.append(message)  # type: ignore[arg-type]
            self._arrived.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 15) -> list[email.message.EmailMessage]:
        with self._arrived:
            assert self._arrived.wait_for(lambda: len(self.messages) >= count, timeout), \
                f"{len(self.messages)} of {count} mails arrived"
            return list(self.messages)

    def stop(self) -> None:
        self._controller.stop()


@pytest.fixture
def mailbox():  # type: ignore[no-untyped-def]
    box = Mailbox()
    yield box
    box.stop()


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def shoot(pages: dict, name: str) -> None:  # type: ignore[type-arg]
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width_name, page in pages.items():
        stem = f"{name}-{WIDTHS[width_name]['width']}"
        page.screenshot(path=str(SHOTS / f"{stem}.png"), full_page=True)
        if width_name == "phone":  # what a phone shows first, at readable size
            page.screenshot(path=str(SHOTS / f"{stem}-top.png"))


def body_text(message: email.message.EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_read_subscribe_confirm_and_unsubscribe_in_chromium(
        make_web_site, mailbox: Mailbox, browser) -> None:  # type: ignore[no-untyped-def]
    site: WebSite = make_web_site(
        mail={"sender": "smtp", "smtp_host": "127.0.0.1", "smtp_port": mailbox.port,
              "smtp_timeout": 10},
        digest={"backfill": 10},
    )
    contexts = {name: browser.new_context(viewport=size, device_scale_factor=1,
                                          is_mobile=name == "phone")
                for name, size in WIDTHS.items()}
    pages = {name: context.new_page() for name, context in contexts.items()}
    errors: list[str] = []
    for page in pages.values():
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    desktop = pages["desktop"]

    # Home page: newest articles, feeds discoverable.
    for page in pages.values():
        page.goto(site.url + "/")
    assert desktop.locator(".teaser").count() >= 2
    assert desktop.locator('link[rel="alternate"][type="application/atom+xml"]').count() == 1
    assert desktop.title() == site.settings.site.title
    shoot(pages, "home")
    for name, page in pages.items():  # nothing sticks out sideways on a phone
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (name, overflow)

    # Follow an article.
    first = desktop.locator(".teaser h2 a").first
    title = first.inner_text()
    for page in pages.values():
        page.locator(".teaser h2 a").first.click()
        page.wait_for_load_state()
    assert desktop.locator("h1").inner_text() == title
    assert desktop.locator(".article .body p").count() > 3
    shoot(pages, "article")
    for name, page in pages.items():
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (name, overflow)

    # Subscribe (phone shows the form too; the desktop page does the real subscription).
    for page in pages.values():
        page.get_by_role("link", name="Subscribe").first.click()
        page.wait_for_load_state()
    shoot(pages, "subscribe-form")
    desktop.get_by_label("Your email address").fill("reader@example.org")
    desktop.get_by_label("As soon as an article is published").check()
    desktop.get_by_role("button", name="Subscribe").click()
    desktop.wait_for_load_state()
    assert "Check your inbox" in desktop.locator("h1").inner_text()
    pages["phone"].get_by_label("Your email address").fill("phone.reader@example.org")
    pages["phone"].get_by_role("button", name="Subscribe").click()
    pages["phone"].wait_for_load_state()
    shoot(pages, "subscribe-sent")

    # The confirmation mail, through real SMTP.
    mails = mailbox.wait_for(2)
    confirm_mail = next(m for m in mails if m["To"] == "reader@example.org")
    assert "Confirm" in confirm_mail["Subject"]
    link = re.search(r"http://\S+/confirm/\S+", body_text(confirm_mail)).group(0)  # type: ignore[union-attr]
    assert link.startswith(site.url)
    phone_mail = next(m for m in mails if m["To"] == "phone.reader@example.org")
    phone_link = re.search(r"http://\S+/confirm/\S+", body_text(phone_mail)).group(0)  # type: ignore[union-attr]
    desktop.goto(link)
    pages["phone"].goto(phone_link)
    assert subscriber(site, "reader@example.org").status == "pending"  # opening it is not enough
    shoot(pages, "confirm")
    for page in pages.values():
        page.get_by_role("button", name="Yes, subscribe me").click()
        page.wait_for_load_state()
    assert "confirmed" in desktop.locator(".flash").inner_text()
    assert desktop.locator(".status").inner_text() == "subscribed"
    shoot(pages, "subscribed")
    assert subscriber(site, "reader@example.org").status == "active"
    assert subscriber(site, "reader@example.org").cadence == "immediate"

    # A real digest through the same SMTP server, then its unsubscribe link.
    result = site.project.run("send-digests", "--cadence", "immediate",
                              env={"PUBLISHER_SECRET_KEY": WEB_SECRET})
    assert result.returncode == 0, result.stderr
    mails = mailbox.wait_for(3)
    digest = next(m for m in mails[2:] if m["To"] == "reader@example.org")
    unsubscribe_header = digest["List-Unsubscribe"]
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe_url = re.search(r"<(http[^>]+)>", unsubscribe_header).group(1)  # type: ignore[union-attr]
    html_part = digest.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert unsubscribe_url in html_part.replace("&amp;", "&")
    # The digest's "view in browser" link opens the public archive copy (no personal links).
    view_in_browser = re.search(r'href="(http://[^"]+/digests/\d+/)"', html_part)
    assert view_in_browser, "no view-in-browser link in the digest"
    for page in pages.values():
        page.goto(view_in_browser.group(1))
    assert title in desktop.locator("body").inner_text()
    assert "/unsubscribe/" not in desktop.content()
    shoot(pages, "digest")
    desktop.goto(site.url + "/digests/")
    assert desktop.locator(".digest-list li").count() == 1
    shoot({"desktop": desktop}, "digest-archive")

    for name, page in pages.items():
        page.goto(unsubscribe_url)
        assert "Unsubscribe?" in page.locator("h1").inner_text(), name
    shoot(pages, "unsubscribe")
    assert subscriber(site, "reader@example.org").status == "active"  # GET changed nothing
    desktop.get_by_role("button", name="Unsubscribe").click()
    desktop.wait_for_load_state()
    assert "You are unsubscribed" in desktop.locator("h1").inner_text()
    shoot({"desktop": desktop}, "unsubscribed")
    assert subscriber(site, "reader@example.org").status == "unsubscribed"
    assert urlsplit(unsubscribe_url).netloc == urlsplit(site.url).netloc

    assert errors == [], errors  # no CSP violations, no script errors
    for context in contexts.values():
        context.close()


def subscriber(site: WebSite, address: str):  # type: ignore[no-untyped-def]
    with site.engine.connect() as conn:
        return subscriber_store.find_subscriber(conn, address)


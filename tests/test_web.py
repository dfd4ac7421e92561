"""HTTP tests against `publisher serve`'s app on waitress, over a real socket (http.client).

The project is built by the real CLI (`build-feeds` on the real seeds); the server runs in a
thread with a clock the tests move. Mail goes to the outbox folder (the default sender).
"""

from __future__ import annotations

import email
import gzip
import http.client
import logging
import re
import time
from dataclasses import dataclass
from email import policy
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from publisher import tokens
from publisher.store import subscribers as subscriber_store

from conftest import WEB_SECRET, WebSite

FEED_TYPES = {
    "atom.xml": "application/atom+xml",
    "rss.xml": "application/rss+xml",
    "feed.json": "application/feed+json",
    "index.opml": "text/x-opml",
    "index-rss.opml": "text/x-opml",
    "index-json.opml": "text/x-opml",
    "feed.xsl": "text/xsl",
}


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def header(self, name: str) -> str:
        return self.headers.get(name, "")


def call(site: WebSite, method: str, path: str, headers: dict[str, str] | None = None,
         body: bytes | None = None) -> Reply:
    """One request with the path sent exactly as given (no client-side normalisation)."""
    conn = http.client.HTTPConnection("127.0.0.1", site.server.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


class Browser:
    """Just enough of a browser for form posts: keeps the CSRF cookie, reads hidden fields."""

    def __init__(self, site: WebSite) -> None:
        self.site = site
        self.cookies: dict[str, str] = {}

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def _keep_cookies(self, reply: Reply) -> None:
        for value in reply.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]

    def get(self, path: str) -> Reply:
        reply = call(self.site, "GET", path, self._headers())
        self._keep_cookies(reply)
        return reply

    def post(self, path: str, fields: list[tuple[str, str]] | dict[str, str],
             headers: dict[str, str] | None = None) -> Reply:
        body = urlencode(fields).encode()
        reply = call(self.site, "POST", path, self._headers(
            {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}), body)
        self._keep_cookies(reply)
        return reply

    def csrf(self, page: Reply) -> str:
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert match, "no CSRF field in the form"
        return match.group(1)

    def subscribe(self, address: str, cadence: str = "daily",
                  sections: tuple[str, ...] = ()) -> Reply:
        form = self.get("/subscribe/")
        fields = [("csrf_token", self.csrf(form)), ("email", address), ("cadence", cadence)]
        fields += [("section", s) for s in sections]
        return self.post("/subscribe/", fields)


def outbox_mails(site: WebSite) -> list[email.message.EmailMessage]:
    folder = site.project.outbox
    files = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns) if folder.exists() else []
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in files]  # type: ignore[misc]


def confirm_path(mail: email.message.EmailMessage) -> str:
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"https?://\S+/confirm/\S+", text)
    assert link, text
    return urlsplit(link.group(0)).path


def subscriber(site: WebSite, address: str):  # type: ignore[no-untyped-def]
    with site.engine.connect() as conn:
        return subscriber_store.find_subscriber(conn, address)


def add_active(site: WebSite, address: str = "reader@example.org"):  # type: ignore[no-untyped-def]
    with site.engine.begin() as conn:
        return subscriber_store.add_subscriber(
            conn, address, name="Reader", cadence="daily", categories=(), status="active",
            now=site.clock())


def token(purpose: str, value: object) -> str:
    return tokens.sign(WEB_SECRET, purpose, str(value))


@pytest.fixture
def site(make_web_site) -> WebSite:  # type: ignore[no-untyped-def]
    return make_web_site()


# --- feeds -----------------------------------------------------------------------------------


def feed_paths(site: WebSite) -> list[str]:
    root = site.project.feeds
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_every_feed_file_is_served_with_its_content_type(site: WebSite) -> None:
    paths = feed_paths(site)
    assert {"atom.xml", "rss.xml", "feed.json", "index.opml"} <= set(paths)
    assert any(p.startswith("categories/") for p in paths)
    assert any(p.startswith("authors/") for p in paths)
    for path in paths:
        reply = call(site, "GET", f"/feeds/{path}")
        assert reply.status == 200, path
        media_type = reply.header("Content-Type").split(";")[0]
        assert media_type == FEED_TYPES[Path(path).name], path
        assert reply.body == (site.project.feeds / path).read_bytes()
        assert reply.header("Cache-Control") == "public, max-age=300"
        assert reply.header("X-Content-Type-Options") == "nosniff"


def test_feed_max_age_comes_from_config(make_web_site) -> None:  # type: ignore[no-untyped-def]
    site = make_web_site(web={"feed_max_age": 42})
    assert call(site, "GET", "/feeds/atom.xml").header("Cache-Control") == "public, max-age=42"


def test_etag_and_last_modified_round_trip_to_304(site: WebSite) -> None:
    first = call(site, "GET", "/feeds/atom.xml")
    etag, modified = first.header("ETag"), first.header("Last-Modified")
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag), "a strong ETag"
    assert modified.endswith("GMT")
    again = call(site, "GET", "/feeds/atom.xml", {"If-None-Match": etag})
    assert again.status == 304 and again.body == b""
    assert again.header("ETag") == etag
    assert call(site, "GET", "/feeds/atom.xml", {"If-None-Match": f'"x", W/{etag}'}).status == 304
    assert call(site, "GET", "/feeds/atom.xml", {"If-Modified-Since": modified}).status == 304
    # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2)
    stale = call(site, "GET", "/feeds/atom.xml",
                 {"If-None-Match": '"0000"', "If-Modified-Since": modified})
    assert stale.status == 200 and stale.body == first.body
    older = call(site, "GET", "/feeds/atom.xml",
                 {"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert older.status == 200


def test_etag_changes_when_the_file_changes(site: WebSite) -> None:
    before = call(site, "GET", "/feeds/rss.xml").header("ETag")
    path = site.project.feeds / "rss.xml"
    path.write_bytes(path.read_bytes().replace(b"</channel>", b"<!-- x --></channel>"))
    after = call(site, "GET", "/feeds/rss.xml", {"If-None-Match": before})
    assert after.status == 200 and after.header("ETag") != before


def test_gzip_when_asked_with_its_own_etag(site: WebSite) -> None:
    plain = call(site, "GET", "/feeds/feed.json")
    zipped = call(site, "GET", "/feeds/feed.json", {"Accept-Encoding": "gzip, deflate, br"})
    assert zipped.header("Content-Encoding") == "gzip"
    assert gzip.decompress(zipped.body) == plain.body
    assert len(zipped.body) < len(plain.body)
    assert "Accept-Encoding" in zipped.header("Vary") and "Accept-Encoding" in plain.header("Vary")
    assert zipped.header("ETag") != plain.header("ETag")
    assert plain.header("Content-Encoding") == ""
    refused = call(site, "GET", "/feeds/feed.json", {"Accept-Encoding": "gzip;q=0, identity"})
    assert refused.header("Content-Encoding") == "" and refused.body == plain.body
    revalidated = call(site, "GET", "/feeds/feed.json",
                       {"Accept-Encoding": "gzip", "If-None-Match": zipped.header("ETag")})
    assert revalidated.status == 304


def test_head_gives_headers_without_body(site: WebSite) -> None:
    reply = call(site, "HEAD", "/feeds/atom.xml")
    assert reply.status == 200 and reply.body == b""
    assert reply.header("ETag") and reply.header("Content-Type").startswith("application/atom+xml")


TRAVERSALS = [
    "/feeds/../config.toml",
    "/feeds/%2e%2e/config.toml",
    "/feeds/%2E%2E/config.toml",
    "/feeds/..%2fconfig.toml",
    "/feeds/%2e%2e%2fconfig.toml",
    "/feeds/..%5cconfig.toml",
    "/feeds/..\\config.toml",
    "/feeds/categories/../../config.toml",
    "/feeds/categories/%2e%2e/%2e%2e/config.toml",
    "/feeds/%2fetc%2fpasswd",
    "/feeds//etc/passwd",
    "/feeds/../state/publisher.db",
    "/feeds/%252e%252e/config.toml",
    "/feeds/.%2e/config.toml",
    "/feeds/atom.xml%00.txt",
    "/feeds/.hidden",
    "/feeds/categories/",
    "/feeds/categories",
    "/../config.toml",
    "/%2e%2e/config.toml",
    "/static/../config.toml",
    "/static/%2e%2e%2f%2e%2e%2fconfig.toml",
]


def test_paths_that_leave_the_feeds_folder_are_404(site: WebSite) -> None:
    (site.project.feeds / ".hidden").write_text("secret", encoding="utf-8")
    for path in TRAVERSALS:
        reply = call(site, "GET", path)
        assert reply.status in (404, 400), (path, reply.status)
        assert b"[site]" not in reply.body and b"secret" not in reply.body
        assert b"SQLite format" not in reply.body and b"root:" not in reply.body


def test_symlink_out_of_the_feeds_folder_is_404(site: WebSite) -> None:
    (site.project.feeds / "escape.xml").symlink_to(site.project.config)
    assert call(site, "GET", "/feeds/escape.xml").status == 404


# --- pages -----------------------------------------------------------------------------------


def test_home_lists_articles_with_feed_autodiscovery(site: WebSite) -> None:
    reply = call(site, "GET", "/")
    assert reply.status == 200
    assert reply.header("Content-Type") == "text/html; charset=utf-8"
    html = reply.text
    for media_type, href in (("application/atom+xml", "/feeds/atom.xml"),
                             ("application/rss+xml", "/feeds/rss.xml"),
                             ("application/feed+json", "/feeds/feed.json")):
        assert re.search(rf'<link rel="alternate" type="{re.escape(media_type)}" title="[^"]+" '
                         rf'href="{re.escape(href)}">', html), media_type
    assert "A Migrant Caravan Breaks Through Police Blockade in Mexico" in html
    assert "<script" not in html


def test_article_page_has_full_body_credit_and_links(site: WebSite) -> None:
    from publisher.store import articles as article_store

    with site.engine.connect() as conn:
        articles = article_store.list_articles(conn, site.settings.site_record.timezone)
    assert articles
    for article in articles:
        reply = call(site, "GET", f"/{article.slug}/")
        assert reply.status == 200, article.slug
        assert article.full_html in reply.text  # the reader's safe HTML, unescaped
        assert f"<h1>{article.title}</h1>".replace("’", "’") in reply.text or article.title in reply.text
        for author in article.authors:
            assert author in reply.text
    assert call(site, "GET", f"/{articles[0].slug}").status == 308  # strict slash
    assert call(site, "GET", "/no-such-article/").status == 404


def test_category_and_author_pages_link_their_feeds(site: WebSite) -> None:
    for family, prefix in (("categories", "category"), ("authors", "author")):
        slugs = [p.name for p in (site.project.feeds / family).iterdir()]
        assert slugs
        for slug in slugs:
            reply = call(site, "GET", f"/{prefix}/{slug}/")
            assert reply.status == 200, (prefix, slug)
            assert f'href="/feeds/{family}/{slug}/atom.xml"' in reply.text
            assert f'href="/feeds/{family}/{slug}/rss.xml"' in reply.text
    assert call(site, "GET", "/category/no-such-section/").status == 404


def test_security_headers_everywhere(site: WebSite) -> None:
    for path in ("/", "/subscribe/", "/feeds/atom.xml", "/nope/", "/healthz"):
        reply = call(site, "GET", path)
        csp = reply.header("Content-Security-Policy")
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert reply.header("X-Content-Type-Options") == "nosniff"
        assert reply.header("X-Frame-Options") == "DENY"
        assert reply.header("Referrer-Policy") == "same-origin"


def test_healthz(site: WebSite) -> None:
    reply = call(site, "GET", "/healthz")
    assert (reply.status, reply.body) == (200, b"ok\n")


def test_stylesheet_is_served_and_cached(site: WebSite) -> None:
    reply = call(site, "GET", "/static/style.css")
    assert reply.status == 200 and reply.header("Content-Type").startswith("text/css")
    assert call(site, "GET", "/static/style.css",
                {"If-None-Match": reply.header("ETag")}).status == 304


def test_request_size_limit(site: WebSite) -> None:
    browser = Browser(site)
    form = browser.get("/subscribe/")
    reply = browser.post("/subscribe/", {"csrf_token": browser.csrf(form), "email": "a@b.org",
                                         "pad": "x" * 100_000})
    assert reply.status == 413


# --- subscribe, confirm ----------------------------------------------------------------------


def test_double_opt_in(site: WebSite) -> None:
    browser = Browser(site)
    reply = browser.subscribe("New.Reader@Example.org", cadence="weekly")
    assert reply.status == 200 and "Check your inbox" in reply.text
    assert reply.header("Cache-Control") == "no-store"
    pending = subscriber(site, "new.reader@example.org")
    assert pending.status == "pending" and pending.cadence == "weekly"
    (mail,) = outbox_mails(site)
    assert mail["To"] == "New.Reader@example.org"
    assert "Confirm" in mail["Subject"]
    path = confirm_path(mail)
    assert re.search(r"https?://127\.0\.0\.1:\d+/confirm/", mail.get_body(("plain",)).get_content())
    # A GET (a link scanner) shows a button and changes nothing.
    page = browser.get(path)
    assert page.status == 200 and "Yes, subscribe me" in page.text
    assert call(site, "HEAD", path).status == 200
    assert subscriber(site, "new.reader@example.org").status == "pending"
    done = browser.post(path, {"csrf_token": browser.csrf(page)})
    assert done.status == 303 and "/manage/" in done.header("Location")
    assert subscriber(site, "new.reader@example.org").status == "active"
    manage = browser.get(urlsplit(done.header("Location")).path + "?done=confirmed")
    assert "your subscription is confirmed" in manage.text and "subscribed" in manage.text


def test_confirm_post_needs_csrf(site: WebSite) -> None:
    browser = Browser(site)
    browser.subscribe("csrf@example.org")
    path = confirm_path(outbox_mails(site)[0])
    assert Browser(site).post(path, {}).status == 403
    assert subscriber(site, "csrf@example.org").status == "pending"


def test_resubscribing_an_active_address_changes_and_reveals_nothing(site: WebSite) -> None:
    add_active(site, "known@example.org")
    browser = Browser(site)
    known = browser.subscribe("known@example.org", cadence="weekly", sections=())
    unknown = browser.subscribe("unknown@example.org", cadence="weekly")
    assert known.status == unknown.status == 200
    strip = lambda r: re.sub(r"\w+@example\.org", "ADDRESS", r.text)  # noqa: E731
    assert strip(known) == strip(unknown)
    assert subscriber(site, "known@example.org").cadence == "daily"
    assert [m["To"] for m in outbox_mails(site)] == ["unknown@example.org"]


def test_one_confirmation_mail_per_cooldown(make_web_site) -> None:  # type: ignore[no-untyped-def]
    site = make_web_site(web={"confirm_cooldown": 600})
    browser = Browser(site)
    for _ in range(3):
        assert browser.subscribe("flood@example.org").status == 200
    assert len(outbox_mails(site)) == 1
    site.clock.advance(599)
    browser.subscribe("FLOOD@example.org")
    assert len(outbox_mails(site)) == 1
    site.clock.advance(2)
    browser.subscribe("flood@example.org")
    assert len(outbox_mails(site)) == 2


def test_per_ip_limit(make_web_site) -> None:  # type: ignore[no-untyped-def]
    site = make_web_site(web={"subscribe_per_ip": 3})
    browser = Browser(site)
    statuses = [browser.subscribe(f"a{i}@example.org").status for i in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert len(outbox_mails(site)) == 3


def test_invalid_address_is_refused_and_escaped(site: WebSite) -> None:
    reply = Browser(site).subscribe('<script>alert("x")</script>@x')
    assert reply.status == 400
    assert "<script>alert" not in reply.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;@x" in reply.text
    assert outbox_mails(site) == []


def test_subscribe_without_csrf_is_refused(site: WebSite) -> None:
    browser = Browser(site)
    form = browser.get("/subscribe/")
    assert browser.post("/subscribe/", {"email": "x@example.org"}).status == 403
    stranger = Browser(site)  # a field from someone else's page, without their cookie
    assert stranger.post("/subscribe/", {"csrf_token": browser.csrf(form),
                                         "email": "x@example.org"}).status == 403
    cross = browser.post("/subscribe/", {"csrf_token": browser.csrf(form), "email": "x@example.org"},
                         {"Sec-Fetch-Site": "cross-site"})
    assert cross.status == 403
    assert subscriber(site, "x@example.org") is None and outbox_mails(site) == []


def test_expired_confirmation_link(site: WebSite) -> None:
    browser = Browser(site)
    browser.subscribe("slow@example.org")
    path = confirm_path(outbox_mails(site)[0])
    site.clock.advance(site.settings.web.confirm_max_age + 1)
    page = browser.get(path)
    assert page.status == 400 and "expired" in page.text
    assert browser.post(path, {"csrf_token": browser.csrf(browser.get("/subscribe/"))}).status == 400
    assert subscriber(site, "slow@example.org").status == "pending"


def test_sections_are_limited_to_known_categories(site: WebSite) -> None:
    form = Browser(site).get("/subscribe/").text
    sections = re.findall(r'name="section" value="([^"]+)"', form)
    assert sections
    Browser(site).subscribe("picky@example.org", sections=(sections[0], "Not A Section"))
    assert subscriber(site, "picky@example.org").categories == (sections[0],)


# --- tokens, manage, unsubscribe -------------------------------------------------------------


def test_forged_tampered_and_wrong_purpose_tokens_are_400(site: WebSite) -> None:
    reader = add_active(site)
    good = token("unsubscribe", reader.id)
    tampered = good[:-2] + ("AA" if good[-2:] != "AA" else "BB")
    forged = tokens.sign("another-secret-0123456789abcdef", "unsubscribe", str(reader.id))
    other_value = tokens.sign(WEB_SECRET, "unsubscribe", str(reader.id) + "0")
    cases = [
        ("/unsubscribe/", tampered), ("/unsubscribe/", forged), ("/unsubscribe/", "garbage"),
        ("/unsubscribe/", token("manage", reader.id)), ("/unsubscribe/", token("confirm", reader.id)),
        ("/unsubscribe/", good.split(".")[0] + "."), ("/unsubscribe/", other_value),
        ("/manage/", good), ("/manage/", tampered), ("/confirm/", good),
        ("/confirm/", token("confirm", f"{reader.id}:x")),
    ]
    for prefix, value in cases:
        for method in ("GET", "POST"):
            body = b"List-Unsubscribe=One-Click"
            reply = call(site, method, prefix + value,
                         {"Content-Type": "application/x-www-form-urlencoded"},
                         body if method == "POST" else None)
            assert reply.status == 400, (prefix, value, method, reply.status)
    assert subscriber(site, "reader@example.org").status == "active"


def test_get_never_unsubscribes(site: WebSite) -> None:
    reader = add_active(site)
    path = f"/unsubscribe/{token('unsubscribe', reader.id)}"
    for method in ("GET", "HEAD", "GET"):
        assert call(site, method, path).status == 200
    page = call(site, "GET", path)
    assert "Unsubscribe?" in page.text and 'method="post"' in page.text
    assert page.header("Cache-Control") == "no-store"
    assert subscriber(site, "reader@example.org").status == "active"


@pytest.mark.parametrize("content_type,body", [
    ("application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click"),
    ("multipart/form-data; boundary=XyZ",
     b'--XyZ\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n'
     b"--XyZ--\r\n"),
])
def test_one_click_post_unsubscribes_at_once(site: WebSite, content_type: str, body: bytes) -> None:
    reader = add_active(site)
    path = f"/unsubscribe/{token('unsubscribe', reader.id)}"
    reply = call(site, "POST", path, {"Content-Type": content_type}, body)  # no cookie, no CSRF
    assert reply.status == 200
    assert subscriber(site, "reader@example.org").status == "unsubscribed"
    again = call(site, "POST", path, {"Content-Type": content_type}, body)
    assert again.status == 200  # idempotent
    assert subscriber(site, "reader@example.org").status == "unsubscribed"


def test_unsubscribe_button_on_the_page(site: WebSite) -> None:
    reader = add_active(site)
    browser = Browser(site)
    path = f"/unsubscribe/{token('unsubscribe', reader.id)}"
    browser.get(path)
    reply = browser.post(path, {})
    assert reply.status == 200 and "You are unsubscribed" in reply.text
    assert subscriber(site, "reader@example.org").status == "unsubscribed"


def test_manage_changes_cadence_sections_and_status(site: WebSite) -> None:
    reader = add_active(site)
    browser = Browser(site)
    path = f"/manage/{token('manage', reader.id)}"
    page = browser.get(path)
    assert page.status == 200 and "reader@example.org" in page.text
    sections = re.findall(r'name="section" value="([^"]+)"', page.text)
    csrf = browser.csrf(page)
    saved = browser.post(path, [("csrf_token", csrf), ("action", "save"), ("cadence", "weekly"),
                                ("section", sections[0])])
    assert saved.status == 303
    after = subscriber(site, "reader@example.org")
    assert (after.cadence, after.categories, after.status) == ("weekly", (sections[0],), "active")
    assert "Your choices are saved" in browser.get(urlsplit(saved.header("Location")).path
                                                   + "?done=saved").text
    assert browser.post(path, {"action": "unsubscribe"}).status == 403  # no CSRF field
    assert subscriber(site, "reader@example.org").status == "active"
    browser.post(path, {"csrf_token": csrf, "action": "unsubscribe"})
    assert subscriber(site, "reader@example.org").status == "unsubscribed"
    assert "Subscribe again" in browser.get(path).text
    browser.post(path, {"csrf_token": csrf, "action": "resubscribe"})
    assert subscriber(site, "reader@example.org").status == "active"


def test_links_from_a_digest_mail_work(site: WebSite) -> None:
    """The digest engineer's link builder and these pages agree on token purposes and values."""
    from publisher.sending import personal_links

    reader = add_active(site)
    _, unsubscribe_url, manage_url = personal_links(site.settings, reader.id, WEB_SECRET)
    assert unsubscribe_url.startswith(site.url) and manage_url.startswith(site.url)
    assert call(site, "GET", urlsplit(manage_url).path).status == 200
    reply = call(site, "POST", urlsplit(unsubscribe_url).path,
                 {"Content-Type": "application/x-www-form-urlencoded"},
                 b"List-Unsubscribe=One-Click")
    assert reply.status == 200
    assert subscriber(site, "reader@example.org").status == "unsubscribed"


def test_access_log_one_line_per_request_without_tokens(site: WebSite, caplog) -> None:  # type: ignore[no-untyped-def]
    reader = add_active(site)
    secret = token("unsubscribe", reader.id)
    with caplog.at_level(logging.INFO, logger="publisher.web.access"):
        call(site, "GET", "/feeds/atom.xml", {"User-Agent": "test-agent"})
        call(site, "GET", f"/unsubscribe/{secret}")
        # A line is written when waitress closes the response, just after the client has it.
        deadline = time.monotonic() + 5
        while len(access_lines(caplog)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    lines = access_lines(caplog)
    assert len(lines) == 2
    assert '"GET /feeds/atom.xml HTTP/1.1" 200' in lines[0] and '"test-agent"' in lines[0]
    assert "/unsubscribe/<token>" in lines[1] and secret not in lines[1]


def access_lines(caplog) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.getMessage() for r in caplog.records if r.name == "publisher.web.access"]


# --- suppression, links used once (publisher.subscriptions) ------------------------------------


def test_a_confirmation_link_used_once_cannot_undo_a_later_unsubscribe(site: WebSite) -> None:
    browser = Browser(site)
    browser.subscribe("once@example.org")
    path = confirm_path(outbox_mails(site)[0])
    page = browser.get(path)
    assert browser.post(path, {"csrf_token": browser.csrf(page)}).status == 303
    reader = subscriber(site, "once@example.org")
    call(site, "POST", f"/unsubscribe/{token('unsubscribe', reader.id)}",
         {"Content-Type": "application/x-www-form-urlencoded"}, b"List-Unsubscribe=One-Click")
    assert subscriber(site, "once@example.org").status == "unsubscribed"
    again = browser.get(path)
    assert again.status == 400 and "expired" in again.text
    assert browser.post(path, {"csrf_token": browser.csrf(browser.get("/subscribe/"))}).status == 400
    assert subscriber(site, "once@example.org").status == "unsubscribed"


@pytest.mark.parametrize("suppressed", ["bouncing", "complained"])
def test_a_suppressed_address_needs_a_fresh_confirmation(site: WebSite, suppressed: str) -> None:
    reader = add_active(site)
    with site.engine.begin() as conn:
        subscriber_store.set_status(conn, reader.id, suppressed, site.clock())
    browser = Browser(site)
    path = f"/manage/{token('manage', reader.id)}"
    page = browser.get(path)
    reply = browser.post(path, {"csrf_token": browser.csrf(page), "action": "resubscribe"})
    assert reply.status == 303 and "done=confirm" in reply.header("Location")
    assert subscriber(site, "reader@example.org").status == suppressed  # the manage link is not enough
    (mail,) = outbox_mails(site)
    assert mail["To"] == "reader@example.org"
    confirm = confirm_path(mail)
    form = browser.get(confirm)
    assert browser.post(confirm, {"csrf_token": browser.csrf(form)}).status == 303
    assert subscriber(site, "reader@example.org").status == "active"


def test_padded_tokens_are_400(site: WebSite) -> None:
    reader = add_active(site)
    for variant in (token("manage", reader.id) + "=", token("manage", reader.id) + "%3D%3D"):
        assert call(site, "GET", f"/manage/{variant}").status == 400

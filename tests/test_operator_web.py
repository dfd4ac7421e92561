"""The web server as an operator's neighbours see it: security headers on every response (the
server's own errors too), Retry-After on 429, and no bidi tricks in mail headers."""

from __future__ import annotations

import email
import email.policy
import socket

from conftest import Project, WebSite
from publisher.web.security import SECURITY_HEADERS
from test_web import Browser, outbox_mails


def _raw(site: WebSite, request: bytes) -> tuple[str, dict[str, str]]:
    """Send bytes as they are; (status line, headers) of the answer."""
    with socket.create_connection(("127.0.0.1", site.server.port), timeout=10) as conn:
        conn.sendall(request)
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
    head = reply.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return head[0], headers


def test_waitress_own_errors_carry_the_security_headers(make_web_site) -> None:  # type: ignore[no-untyped-def]
    site = make_web_site()
    too_large, headers = _raw(site, b"POST /subscribe/ HTTP/1.1\r\nHost: x\r\n"
                                    b"Content-Length: 999999\r\n\r\n")
    assert too_large == "HTTP/1.1 413 Request Entity Too Large"
    assert [(name, headers.get(name.lower())) for name, _ in SECURITY_HEADERS] == list(
        SECURITY_HEADERS)
    bad, headers = _raw(site, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
    assert bad == "HTTP/1.1 400 Bad Request"
    assert headers["content-security-policy"] == dict(SECURITY_HEADERS)["Content-Security-Policy"]
    assert headers["x-frame-options"] == "DENY"


def test_too_many_requests_says_when_to_come_back(make_web_site) -> None:  # type: ignore[no-untyped-def]
    site = make_web_site(web={"subscribe_per_ip": 2})
    browser = Browser(site)
    replies = [browser.subscribe(f"a{i}@example.org") for i in range(3)]
    assert [r.status for r in replies] == [200, 200, 429]
    assert replies[2].header("Retry-After") == "3600"
    assert replies[2].header("X-Content-Type-Options") == "nosniff"


def test_subject_loses_bidi_and_format_controls(project: Project) -> None:
    for seed in project.seeds.iterdir():
        seed.unlink()
    (project.seeds / "override.md").write_text(
        '+++\ntitle = "Strike \u202eekirts\u202c wins\u200b big\u2066!\u2069"\n'
        'date = 2026-11-20\nauthors = ["A Writer"]\ncategory = "Labor"\n+++\n\n'
        + "The picket held all day long and the bosses gave in. " * 10 + "\n",
        encoding="utf-8")
    env = {"PUBLISHER_SECRET_KEY": "operator-test-secret-0123456789"}
    project.run("subscribers", "add", "ana@example.org", "--cadence", "immediate", check=True,
                env=env)
    project.run("ingest", check=True)
    project.run("send-digests", check=True, env=env)
    (eml,) = project.outbox.glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "Strike ekirts wins big!"

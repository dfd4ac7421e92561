"""The web server as an operator's neighbours see it: security headers on every response (the
server's own errors too), Retry-After on 429, and no bidi tricks in mail headers."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from datetime import datetime

from prometheus_client.parser import text_string_to_metric_families

from conftest import PUBLISHER, Project, WebSite, free_port
from publisher.web.security import SECURITY_HEADERS
from test_web import Browser

SECRET = "operator-test-secret-0123456789"


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
    env = {"PUBLISHER_SECRET_KEY": SECRET}
    project.run("subscribers", "add", "ana@example.org", "--cadence", "immediate", check=True,
                env=env)
    project.run("ingest", check=True)
    project.run("send-digests", check=True, env=env)
    (eml,) = project.outbox.glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "Strike ekirts wins big!"


# --- metrics and the heartbeat -------------------------------------------------------------------

def _metrics(site_url_port: int) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """`/metrics` parsed with prometheus_client's own parser: name -> {labels: value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{site_url_port}/metrics", timeout=10) as reply:
        assert reply.headers["Content-Type"].startswith("text/plain; version=")
        text = reply.read().decode()
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_metrics_in_prometheus_text_format(make_web_site, project: Project) -> None:  # type: ignore[no-untyped-def]
    site = make_web_site(schedule={"settle_seconds": 0}, digest={"backfill": 5})
    env = {"PUBLISHER_SECRET_KEY": SECRET}
    for name in ("ana", "ben", "cy"):
        project.run("subscribers", "add", f"{name}@example.org", "--cadence", "immediate",
                    check=True, env=env)
    project.run("tick", check=True, env=env)
    last = json.loads(project.run("status", "--json", check=True, env=env).stdout)["last_scan"]
    finished = datetime.fromisoformat(last["finished_at"]).timestamp()
    feeds = len({p.parent for p in project.feeds.rglob("atom.xml")})
    m = _metrics(site.server.port)
    assert m["publisher_articles"] == {(): 2.0}
    assert m["publisher_feeds"] == {(): float(feeds)} and feeds >= 3
    assert m["publisher_deliveries"] == {(("state", "failed"),): 0.0, (("state", "queued"),): 0.0,
                                         (("state", "sending"),): 0.0, (("state", "sent"),): 3.0}
    assert m["publisher_messages_sent_total"] == {(): 3.0}
    assert m["publisher_messages_sent_per_second"] == {(): 3 / 60}  # the site's clock is earlier
    assert m["publisher_bounces_total"] == {(("kind", "hard"),): 0.0, (("kind", "soft"),): 0.0}
    assert m["publisher_complaints_total"] == {(): 0.0}
    assert m["publisher_subscribers"][(("status", "active"),)] == 3.0
    assert m["publisher_last_success_timestamp_seconds"] == {
        (("stage", "digests"),): finished, (("stage", "feeds"),): finished}
    assert m["publisher_digest_lag_seconds"] == {(): 0.0}
    assert m["publisher_last_pass_timestamp_seconds"] == {(): finished}
    assert m["publisher_daemon_healthy"] == {(): 1.0}
    assert all(name.startswith("publisher_") for name in m)


def _healthz(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _status(project: Project) -> dict:  # type: ignore[type-arg]
    result = project.run("status", "--json", check=True, env={"PUBLISHER_SECRET_KEY": SECRET})
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _wait(check, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_heartbeat_goes_stale_when_the_daemon_is_stopped(project: Project) -> None:
    port = free_port()
    project.write_config(f"[schedule]\nscan_interval = 0.5\nsettle_seconds = 0\n"
                         f"[web]\nport = {port}\n")
    env = {**os.environ, "PUBLISHER_CONFIG": str(project.config), "PUBLISHER_SECRET_KEY": SECRET}
    logs = project.root / "logs"
    logs.mkdir()
    with (logs / "run.log").open("w") as out1, (logs / "serve.log").open("w") as out2:
        daemon = subprocess.Popen([*PUBLISHER, "run"], cwd=project.root, env=env, stdout=out1,
                                  stderr=subprocess.STDOUT)
        server = subprocess.Popen([*PUBLISHER, "serve"], cwd=project.root, env=env, stdout=out2,
                                  stderr=subprocess.STDOUT)
    try:
        _wait(lambda: _status(project)["heartbeat"]["last_pass"] is not None)
        _wait(lambda: "serving " in (logs / "serve.log").read_text())
        assert _healthz(port) == (200, "ok\n")
        assert _status(project)["heartbeat"]["healthy"] is True
        daemon.send_signal(signal.SIGSTOP)
        time.sleep(2.5)  # more than 3 scan intervals without a pass
        beat = _status(project)["heartbeat"]
        assert (beat["healthy"], beat["stale_after_seconds"]) == (False, 1.5)
        assert beat["age_seconds"] > 1.5
        code, body = _healthz(port)
        assert code == 503
        assert re.fullmatch(r"daemon: last pass \d+ s ago, STALE \(stale after 1\.5 s: 3 x "
                            r"schedule\.scan_interval\)\n", body), body
        assert _metrics(port)["publisher_daemon_healthy"] == {(): 0.0}
        text = project.run("status", check=True, env={"PUBLISHER_SECRET_KEY": SECRET}).stdout
        assert "STALE: the daemon makes no passes" in text
        daemon.send_signal(signal.SIGCONT)
        _wait(lambda: _healthz(port) == (200, "ok\n"))
    finally:
        daemon.send_signal(signal.SIGCONT)
        for proc in (daemon, server):
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)

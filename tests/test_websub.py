"""WebSub: hub links in every format, and pings to real local hubs after a build changed feeds.

The hubs are real HTTP servers on 127.0.0.1 started by the test: one records the pings, one
answers 503 once before accepting, one is down (nothing listens) and one stalls (accepts the
connection and never answers). `publisher build-feeds` runs as a subprocess, as in production.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import feedparser
import pytest
from lxml import etree

from publisher import websub

from conftest import Project, free_port

FEEDS = "https://www.leftvoice.org/feeds"
LIVE_FEEDS = sorted(f"{FEEDS}/{folder}{name}" for folder in ("", "categories/latin-america/",
                                                             "authors/left-voice/")
                    for name in ("atom.xml", "rss.xml", "feed.json"))


class Hub:
    """A hub that records every publish ping; the first `fail_first` requests get a 503."""

    def __init__(self, fail_first: int = 0) -> None:
        self.pings: list[list[tuple[str, str]]] = []
        self.requests = 0
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length).decode("ascii")
                hub.requests += 1
                if hub.requests <= fail_first:
                    self.send_response(503)
                else:
                    assert self.headers["Content-Type"] == "application/x-www-form-urlencoded"
                    hub.pings.append(urllib.parse.parse_qsl(body))
                    self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def announced(self) -> list[str]:
        urls = []
        for ping in self.pings:
            assert ping[0] == ("hub.mode", "publish")
            urls += [value for key, value in ping[1:] if key == "hub.url"]
        return sorted(urls)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub() -> Iterator[Hub]:
    running = Hub()
    yield running
    running.close()


@pytest.fixture
def stalling_hub() -> Iterator[str]:
    """Accepts connections (the kernel does, from the backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    sock.close()


def configure(project: Project, *hubs: str, timeout: float = 0.5) -> None:
    project.write_config(f"\n[feeds]\nwebsub_hubs = {json.dumps(list(hubs))}\n"
                         f"websub_timeout = {timeout}\n")


def test_feeds_name_their_hubs_in_every_format(project: Project, hub: Hub) -> None:
    configure(project, hub.url, "https://pubsubhubbub.example.org/")
    project.run("build-feeds", check=True)
    hubs = [hub.url, "https://pubsubhubbub.example.org/"]
    atom = feedparser.parse((project.feeds / "atom.xml").read_bytes())
    assert not atom.bozo
    assert [link.href for link in atom.feed.links if link.rel == "hub"] == hubs
    rss = etree.parse(str(project.feeds / "rss.xml")).getroot()
    assert rss.xpath("channel/a:link[@rel='hub']/@href",
                     namespaces={"a": "http://www.w3.org/2005/Atom"}) == hubs
    assert not feedparser.parse((project.feeds / "rss.xml").read_bytes()).bozo
    doc = json.loads((project.feeds / "feed.json").read_text())
    assert doc["hubs"] == [{"type": "WebSub", "url": url} for url in hubs]


def test_a_build_that_changed_feeds_pings_each_hub_once_per_feed(
    project: Project, hub: Hub
) -> None:
    configure(project, hub.url)
    result = project.run("build-feeds", check=True)
    assert hub.announced() == LIVE_FEEDS
    assert len(hub.pings) == 1  # every changed feed in one request
    assert f"websub: {hub.url} told of 9 changed feeds (HTTP 204)" in result.stdout.splitlines()

    again = project.run("build-feeds", check=True)  # nothing changed: no ping
    assert len(hub.pings) == 1 and "websub" not in again.stdout + again.stderr

    seed = next(project.seeds.glob("000_*.txt"))
    seed.write_text(seed.read_text().replace("Let Them All In\n", "Let Them All In!\n", 1))
    project.run("build-feeds", check=True)
    assert sorted(hub.pings[1][1:]) == sorted(("hub.url", url) for url in LIVE_FEEDS)


def test_a_hub_that_is_down_or_stalls_never_blocks_the_build(
    project: Project, hub: Hub, stalling_hub: str
) -> None:
    down = f"http://127.0.0.1:{free_port()}/"
    configure(project, down, stalling_hub, hub.url, timeout=0.5)
    result = project.run("build-feeds", timeout=60)
    assert result.returncode == 0, result.stderr
    assert hub.announced() == LIVE_FEEDS  # the working hub still got its ping
    warnings = [line for line in result.stderr.splitlines() if "websub" in line]
    assert len(warnings) == 2, result.stderr
    assert warnings[0].startswith(f"warning: websub: {down} not reached after 3 attempts: ")
    assert "Connection" in warnings[0] and "refused" in warnings[0].lower()
    assert warnings[1].startswith(f"warning: websub: {stalling_hub} not reached after 3 attempts")
    assert "timed out" in warnings[1]
    assert (project.feeds / "atom.xml").exists()
    assert "feeds: 13 written" in result.stdout


def test_a_hub_error_is_retried() -> None:
    flaky = Hub(fail_first=1)
    try:
        (result,) = websub.ping_hubs([flaky.url], [f"{FEEDS}/atom.xml"], timeout=2)
    finally:
        flaky.close()
    assert (result.ok, result.attempts, result.detail) == (True, 2, "HTTP 204")
    assert flaky.announced() == [f"{FEEDS}/atom.xml"]


def test_a_hub_refusing_the_request_is_not_retried() -> None:
    class Refusing(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.send_response(400)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        (result,) = websub.ping_hubs([f"http://127.0.0.1:{server.server_address[1]}/"],
                                     [f"{FEEDS}/atom.xml"], timeout=2)
    finally:
        server.shutdown()
        server.server_close()
    assert (result.ok, result.attempts, result.detail) == (False, 1, "HTTP 400")


def test_many_changed_feeds_go_in_batches() -> None:
    hub = Hub()
    urls = [f"{FEEDS}/authors/a{n}/atom.xml" for n in range(websub.BATCH + 5)]
    try:
        (result,) = websub.ping_hubs([hub.url], urls, timeout=2)
    finally:
        hub.close()
    assert result.ok and result.urls == len(urls)
    assert [len(p) - 1 for p in hub.pings] == [websub.BATCH, 5]
    assert hub.announced() == sorted(urls)


def test_bad_hub_urls_are_refused_at_load(project: Project) -> None:
    project.write_config('\n[feeds]\nwebsub_hubs = ["ftp://hub.example/"]\n')
    result = project.run("build-feeds")
    assert result.returncode == 2
    assert "feeds.websub_hubs" in result.stderr and "http(s)" in result.stderr

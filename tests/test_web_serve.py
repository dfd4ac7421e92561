"""`publisher serve` as a real subprocess: startup, access log, graceful stop, and newsboat.

Like datasette's tests, the server is started as a process on a free port (`--port 0`) and
polled until it answers; it prints its address on stderr.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import PUBLISHER, WEB_SECRET, Project

from publisher.config import load_settings
from publisher.store import articles as article_store
from publisher.store import open_store


class Served:
    """A `publisher serve` process; its stderr (startup line, access log) goes to a file."""

    def __init__(self, project: Project, *args: str, env: dict[str, str] | None = None) -> None:
        taken = len(list(project.root.glob("serve*.log")))
        self.log_path = project.root / (f"serve-{taken}.log" if taken else "serve.log")
        self._log = self.log_path.open("wb")
        full_env = {**os.environ, "PUBLISHER_CONFIG": str(project.config),
                    "PUBLISHER_SECRET_KEY": WEB_SECRET, **(env or {})}
        self.process = subprocess.Popen([*PUBLISHER, "serve", "--port", "0", *args],
                                        cwd=project.root, env=full_env, stdout=self._log,
                                        stderr=subprocess.STDOUT)
        self.url = self._wait_for_address()

    def _wait_for_address(self) -> str:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            match = re.search(r"serving .* on (http://\S+) ", self.log)
            if match:
                return match.group(1)
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited {self.process.returncode}:\n{self.log}")
            time.sleep(0.05)
        raise AssertionError(f"serve did not start:\n{self.log}")

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def access_lines(self, path: str) -> list[str]:
        return [line for line in self.log.splitlines() if f'"GET {path} HTTP/' in line]

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


@pytest.fixture
def built(project: Project) -> Project:
    project.run("build-feeds", check=True)
    return project


def test_serve_answers_logs_and_stops_gracefully_on_sigterm(built: Project) -> None:
    served = Served(built)
    try:
        assert served.url.startswith("http://127.0.0.1:")  # loopback by default
        with urllib.request.urlopen(f"{served.url}/healthz", timeout=5) as response:
            assert response.read() == b"ok\n"
        with urllib.request.urlopen(f"{served.url}/feeds/atom.xml", timeout=5) as response:
            assert response.headers["Content-Type"].startswith("application/atom+xml")
    finally:
        code = served.stop(signal.SIGTERM)
    assert code == 0
    assert "stopped (SIGTERM)" in served.log
    (line,) = served.access_lines("/feeds/atom.xml")
    assert re.match(r'127\.0\.0\.1 - - \[[^\]]+\] "GET /feeds/atom.xml HTTP/1\.1" 200 \d+ ', line)


def test_serve_stops_on_sigint_and_finishes_a_request_in_flight(built: Project) -> None:
    import socket

    served = Served(built)
    host, port = served.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as client:
        # Half a request is in flight when the signal arrives; the rest follows.
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.3)
        served.process.send_signal(signal.SIGINT)
        time.sleep(0.3)
        client.sendall(b"Connection: close\r\n\r\n")
        reply = b""
        while chunk := client.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"ok\n")
    assert served.process.wait(15) == 0  # it stops of itself (on a busy machine, not at once)
    assert served.stop() == 0
    assert "stopped (SIGINT)" in served.log


def test_serve_refuses_to_start_without_a_secret(built: Project) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PUBLISHER_SECRET_KEY"}
    result = subprocess.run([*PUBLISHER, "serve", "--port", "0"], cwd=built.root,
                            env={**env, "PUBLISHER_CONFIG": str(built.config)},
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "PUBLISHER_SECRET_KEY" in result.stderr and "Traceback" not in result.stderr


def test_serve_rejects_a_bad_public_url(built: Project) -> None:
    built.write_config('[web]\npublic_url = "example.org"\n')
    result = built.run("serve", "--port", "0", env={"PUBLISHER_SECRET_KEY": WEB_SECRET},
                       timeout=30)
    assert result.returncode == 2 and "web.public_url" in result.stderr


# --- newsboat --------------------------------------------------------------------------------


def _text(markup: str) -> str:
    """Visible text of an HTML fragment, whitespace collapsed (to compare bodies)."""
    without_tags = re.sub(r"<[^>]+>", " ", markup)
    return " ".join(html.unescape(without_tags).split())


@pytest.mark.skipif(shutil.which("newsboat") is None, reason="newsboat is not installed")
def test_newsboat_polls_with_304_and_shows_every_article_in_full(built: Project,
                                                                 tmp_path: Path) -> None:
    served = Served(built)
    home = tmp_path / "newsboat"
    home.mkdir()
    feeds = ["/feeds/atom.xml", "/feeds/rss.xml"]
    (home / "urls").write_text("".join(f"{served.url}{f}\n" for f in feeds), encoding="utf-8")
    (home / "config").write_text("", encoding="utf-8")
    cache = home / "cache.db"

    def newsboat(*commands: str) -> str:
        result = subprocess.run(
            ["newsboat", "-u", str(home / "urls"), "-c", str(cache), "-C", str(home / "config"),
             "-x", *commands],
            env={**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home),
                 "XDG_DATA_HOME": str(home)},
            capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    try:
        # newsboat 2.21 stores a feed's ETag/Last-Modified only once the feed is in its cache,
        # and its very first fetch creates that row after trying to store them: one reload to
        # meet the feed, then the two polls under test.
        newsboat("reload")
        newsboat("reload")
        unread = newsboat("reload", "print-unread")
    finally:
        assert served.stop() == 0
    for feed in feeds:
        statuses = [line.split('" ')[1].split()[0] for line in served.access_lines(feed)]
        assert statuses == ["200", "200", "304"], (feed, statuses)
        assert all("newsboat/" in line for line in served.access_lines(feed))

    settings = load_settings(built.config, {})
    engine = open_store(settings)
    with engine.connect() as conn:
        articles = article_store.list_articles(conn, settings.site_record.timezone)
    engine.dispose()
    assert articles
    # The Atom and RSS entries share their ids, so newsboat shows each article once.
    assert re.search(rf"\b{len(articles)} unread articles", unread), unread

    db = sqlite3.connect(cache)
    rows = db.execute("SELECT guid, title, content FROM rss_item").fetchall()
    db.close()
    shown = {title: content for _guid, title, content in rows}
    assert len({guid for guid, _, _ in rows}) == len(articles)
    for article in articles:
        assert article.title in shown, article.title
        assert _text(article.body_html) in _text(shown[article.title]), article.title


def test_two_serve_processes_share_the_subscribe_limit_and_the_cooldown(project: Project) -> None:
    """Behind a load balancer: the per-address limit and the confirmation cooldown are counted
    in the store, so requests alternating between two processes meet the same limits."""
    from test_web import Browser

    project.write_config('[web]\nsubscribe_per_ip = 3\nconfirm_cooldown = 600\n'
                         f'[paths]\noutbox = "{project.outbox}"\n')
    project.run("build-feeds", check=True)
    servers = [Served(project), Served(project)]
    try:
        browsers = [Browser(_At(s.url)) for s in servers]
        first = [browsers[0].subscribe("same@example.org").status,
                 browsers[1].subscribe("same@example.org").status]
        assert first == [200, 200]
        assert len(list(project.outbox.glob("*.eml"))) == 1  # one mail: the cooldown is shared
        statuses = [browsers[n % 2].subscribe(f"other{n}@example.org").status for n in range(3)]
        assert statuses == [200, 429, 429]  # 3 per hour from this address, over both servers
    finally:
        for served in servers:
            served.stop()


class _At:
    """What test_web's Browser needs of a site: the port it listens on."""

    def __init__(self, url: str) -> None:
        self.server = type("S", (), {"port": int(url.rsplit(":", 1)[1].rstrip("/"))})()

"""Digest benchmark: N subscribers (default 10,000), 10 articles per digest.

Phases, each on a fresh copy of the same database:
  outbox (Jinja2 alone)  render without CSS inlining + personalise + write .eml files
  outbox                 render + premailer inline + personalise + write .eml files
  smtp x1 / smtp x4      the same over 1 and 4 connections to a local aiosmtpd (own process)

Prints messages per second, the ratio to the Jinja2-alone run, premailer calls (one per distinct
digest content) and the peak RSS (flat in N: subscribers are streamed).
Run: /work/venv/bin/python bench/bench_digest.py [--subscribers N] [--skip-smtp]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from disk import file_floor, wait_for_disk  # noqa: E402

from publisher import sending  # noqa: E402
from publisher.config import load_settings  # noqa: E402
from publisher.digest import DigestRenderer  # noqa: E402
from publisher.mail import OutboxSender, SmtpConfig, SmtpSender  # noqa: E402
from publisher.model import Article, content_hash  # noqa: E402
from publisher.store import articles as article_store  # noqa: E402
from publisher.store import open_database  # noqa: E402
from publisher.store import subscribers as subscriber_store  # noqa: E402

SECRET = "bench-secret-key-0123456789abcdef"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
CATEGORIES = ("Labor", "Politics", "Latin America")
SUMMARY = ("Workers at the plant walked out on Monday morning after management refused to "
           "negotiate over safety and wages; the union says the strike will continue until "
           "their demands are met, and solidarity actions are planned across the region. ") * 2


class NoInlineRenderer(DigestRenderer):
    """Jinja2 alone: the CSS stays in a <style> block."""

    def inline(self, document: str) -> str:
        self.inline_calls += 1
        return document


def article(n: int) -> Article:
    published = T0 - timedelta(hours=n)
    return Article(
        id=f"b{n:015d}", slug=f"bench-article-{n}", url=f"https://www.leftvoice.org/bench-{n}/",
        guid=f"tag:www.leftvoice.org,2026-03-01:/bench-{n}/",
        title=f"Bench article {n}: workers take over the factory floor",
        summary=SUMMARY, authors=("Ana Ruiz", "Ben Ode"), published=published, updated=published,
        category=CATEGORIES[n % len(CATEGORIES)], credit="", translation_note="",
        body_html=f"<p>{SUMMARY}</p>" * 5, related=(), source=f"bench-{n}.txt",
        content_hash=content_hash(str(n)), first_seen=T0,
    )


def build_database(root: Path, count: int) -> Path:
    root.mkdir(parents=True)
    config = root / "config.toml"
    config.write_text('[site]\ntitle = "Left Voice"\n[web]\npublic_url = "https://news.example.org"\n'
                      '[digest]\nmax_articles = 10\n', encoding="utf-8")
    settings = load_settings(config, {"PUBLISHER_SECRET_KEY": SECRET})
    engine = open_database(settings.database_path)
    with engine.begin() as conn:
        article_store.insert_articles(conn, [article(n) for n in range(30)])
        created = (T0 - timedelta(days=1)).isoformat()
        rows = []
        for n in range(count):
            cats = '[]' if n % 4 == 0 else f'["{CATEGORIES[n % 3]}"]'
            rows.append({"email": f"reader{n}@example.com", "email_key": f"reader{n}@example.com",
                         "name": f"Reader {n}", "cadence": "daily", "categories": cats,
                         "status": "active", "created_at": created, "confirmed_at": created,
                         "last_digest_at": None, "failures": 0})
            if len(rows) == 5000:
                subscriber_store.add_subscribers(conn, rows)
                rows = []
        if rows:
            subscriber_store.add_subscribers(conn, rows)
    engine.checkpoint()
    engine.dispose()
    return settings.database_path


def fresh_settings(base: Path, template_db: Path, name: str, mail: str = ""):  # type: ignore[no-untyped-def]
    root = base / name
    (root / "state").mkdir(parents=True)
    shutil.copyfile(template_db, root / "state" / "publisher.db")
    config = root / "config.toml"
    config.write_text('[site]\ntitle = "Left Voice"\n[web]\npublic_url = "https://news.example.org"\n'
                      f'[digest]\nmax_articles = 10\n[mail]\nretry_delays = [0.05]\n{mail}',
                      encoding="utf-8")
    return load_settings(config, {"PUBLISHER_SECRET_KEY": SECRET})


def run_phase(label: str, settings, sender, renderer_cls=DigestRenderer):  # type: ignore[no-untyped-def]
    engine = open_database(settings.database_path)
    renderer = renderer_cls(settings)
    started = time.perf_counter()
    report = sending.send_digests(engine, settings, T0 + timedelta(hours=1), cadence="daily",
                                  sender=sender, renderer=renderer)
    elapsed = time.perf_counter() - started
    engine.dispose()
    rate = report.sent / elapsed if elapsed else 0.0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{label:<24} {report.sent:>6} msgs in {elapsed:6.2f} s = {rate:7.0f} msgs/s   "
          f"premailer calls: {renderer.inline_calls if renderer_cls is DigestRenderer else 0:>2}   "
          f"distinct digests: {report.digests}   failed: {report.failed}   peak RSS {rss:.0f} MB",
          flush=True)
    if report.fatal:
        print(f"  fatal: {report.fatal}", flush=True)
    return rate


def smtp_ceiling(port: int, data: bytes, connections: int, count: int = 2000) -> float:
    """Messages/s that a minimal client gets through the same server with a message of the same
    size: raw sockets, the message dot-stuffed once beforehand, no ledger, rendering or
    personalising. What aiosmtpd (one Python process) can take on this machine right now."""
    import threading

    stuffed = data.replace(b"\n.", b"\n..") + b".\r\n"
    mail = f"MAIL FROM:<digest@leftvoice.org> SIZE={len(data)} BODY=8BITMIME\r\n".encode()

    def run(n: int) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            replies = sock.makefile("rb")

            def expect(code: bytes) -> None:
                line = replies.readline()
                while line[3:4] == b"-":
                    line = replies.readline()
                assert line[:3] == code, line

            expect(b"220")
            sock.sendall(b"EHLO bench.example\r\n")
            expect(b"250")
            for _ in range(n):
                sock.sendall(mail)
                expect(b"250")
                sock.sendall(b"RCPT TO:<reader@example.com>\r\n")
                expect(b"250")
                sock.sendall(b"DATA\r\n")
                expect(b"354")
                sock.sendall(stuffed)
                expect(b"250")
            sock.sendall(b"QUIT\r\n")

    threads = [threading.Thread(target=run, args=(count // connections,))
               for _ in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return count / (time.perf_counter() - started)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_smtp_server(port: int) -> subprocess.Popen:
    code = (
        "import asyncio, sys\n"
        "from aiosmtpd.controller import Controller\n"
        "class Sink:\n"
        "    async def handle_DATA(self, server, session, envelope):\n"
        "        return '250 OK'\n"
        f"c = Controller(Sink(), hostname='127.0.0.1', port={port})\n"
        "c.start()\nprint('ready', flush=True)\nsys.stdin.read()\nc.stop()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--skip-smtp", action="store_true")
    args = parser.parse_args()
    # A new folder of its own: on ext4 without a journal (this machine's disk), creating a file
    # scans past every inode freed nearby in the last 30 s or so, and a folder where a previous
    # run deleted its 40,000 messages stayed 5-8 times slower to write to for minutes.
    base = Path(tempfile.mkdtemp(prefix="bench-digest-"))
    try:
        print(f"{args.subscribers} subscribers, 10 articles per digest, in {base}", flush=True)
        template_db = build_database(base / "template", args.subscribers)
        wait_for_disk(base / "settle")
        floor = file_floor(base / "floor", min(args.subscribers, 5000), 27_500)
        print(f"disk floor now: {floor:.0f} files/s of 27,500 bytes (write + rename, nothing "
              f"else): the outbox cannot go faster", flush=True)
        plain = run_phase("outbox (Jinja2 alone)", fresh_settings(base, template_db, "plain"),
                          OutboxSender(base / "plain" / "outbox"), NoInlineRenderer)
        full = run_phase("outbox", fresh_settings(base, template_db, "outbox"),
                         OutboxSender(base / "outbox" / "outbox"))
        print(f"  ratio to Jinja2 alone: {full / plain:.2f}", flush=True)
        sample = next((base / "outbox" / "outbox").iterdir())
        if not args.skip_smtp:
            port = free_port()
            server = start_smtp_server(port)
            try:
                for n in (1, 4):
                    smtp = SmtpSender(SmtpConfig("127.0.0.1", port, timeout=30), connections=n)
                    rate = run_phase(f"smtp x{n}", fresh_settings(base, template_db, f"smtp{n}"),
                                     smtp)
                    print(f"  ratio to Jinja2 alone (outbox): {rate / plain:.2f}", flush=True)
                    ceiling = smtp_ceiling(port, sample.read_bytes(), n)
                    print(f"  a minimal raw-socket client to this aiosmtpd, {n} connection(s): "
                          f"{ceiling:.0f} msgs/s (the server's ceiling for this size); publisher "
                          f"reached {rate / ceiling:.0%} of it", flush=True)
            finally:
                assert server.stdin is not None
                server.stdin.close()
                server.wait(10)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()

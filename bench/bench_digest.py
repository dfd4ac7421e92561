"""Digest benchmark: N subscribers (default 10,000), 10 articles per digest.

Phases, each on a fresh copy of the same database (SQLite):
  outbox (Jinja2 alone)  render without CSS inlining + personalise + write .eml files
  outbox                 render + premailer inline + personalise + write .eml files
  smtp x1 / smtp x4      the same over 1 and 4 connections to a local aiosmtpd (own process)

Prints messages per second, the ratio to the Jinja2-alone run, premailer calls (one per distinct
digest content) and the peak RSS (flat in N: subscribers are streamed).

With `--senders N` (and `--database postgresql://...` for PostgreSQL; SQLite otherwise): 20,000
subscribers (`--sender-subscribers`), planned once, then sent by 1 and by N sender processes at
once, each over 4 SMTP connections, to a fast local sink (Postfix's smtp-sink, or aiosmtpd when
it is missing); each run next to a raw-socket client's ceiling to the same sink measured in
the same run, and planning 100,000 subscribers (`--plan-subscribers`) timed on that backend.
The PostgreSQL role needs CREATEDB: each phase gets its own database (CREATE DATABASE ...
TEMPLATE), dropped at the end.

Run: .venv/bin/python bench/bench_digest.py [--subscribers N] [--skip-smtp]
     .venv/bin/python bench/bench_digest.py --senders 2 [--database postgresql://...] [--skip-sqlite]
"""

from __future__ import annotations

import argparse
import os
import resource
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cputime import machine_cpu, postmaster_pid, settle, tree_cpu  # noqa: E402
from disk import file_floor, wait_for_disk  # noqa: E402

from publisher import sending  # noqa: E402
from publisher.config import load_settings  # noqa: E402
from publisher.digest import DigestRenderer  # noqa: E402
from publisher.mail import OutboxSender, SmtpConfig, SmtpSender  # noqa: E402
from publisher.model import Article, content_hash  # noqa: E402
from publisher.store import articles as article_store  # noqa: E402
from publisher.store import open_store  # noqa: E402
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


def build_database(root: Path, count: int, url: str = "") -> Path:
    """A store with 30 articles and `count` daily subscribers: the SQLite file in `root`, or
    the PostgreSQL database at `url`."""
    root.mkdir(parents=True)
    config = root / "config.toml"
    config.write_text('[site]\ntitle = "Left Voice"\n[web]\npublic_url = "https://news.example.org"\n'
                      '[digest]\nmax_articles = 10\n' + (f'[database]\nurl = "{url}"\n' if url else ""),
                      encoding="utf-8")
    settings = load_settings(config, {"PUBLISHER_SECRET_KEY": SECRET})
    engine = open_store(settings)
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
    engine = open_store(settings)
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


def smtp_ceiling(port: int, data: bytes, connections: int, count: int = 2000,
                 pipelining: bool = False) -> float:
    """Messages/s that a minimal client gets through the same server with a message of the same
    size: raw sockets, the message dot-stuffed once beforehand, no ledger, rendering or
    personalising. The baseline of the targets waits for each reply; `pipelining`: MAIL, RCPT
    and DATA in one write, as publisher sends them to a server offering PIPELINING (shown for
    comparison).

    One thread polls every connection (as publisher's sender does): threads blocking on each
    reply made the figure swing with the machine's load (the GIL handed between 4-8 threads at
    every reply), from 4,900 down to 1,100 msgs/s in one run."""
    stuffed = data.replace(b"\n.", b"\n..") + b".\r\n"
    mail = f"MAIL FROM:<digest@leftvoice.org> SIZE={len(data)} BODY=8BITMIME\r\n".encode()
    rcpt, data_cmd = b"RCPT TO:<reader@example.com>\r\n", b"DATA\r\n"
    # each message: (what to write, replies to read) in turn
    script = ([(mail + rcpt + data_cmd, 3), (stuffed, 1)] if pipelining else
              [(mail, 1), (rcpt, 1), (data_cmd, 1), (stuffed, 1)])
    socks = [socket.create_connection(("127.0.0.1", port), timeout=30)
             for _ in range(connections)]
    try:
        for sock in socks:  # greeting and EHLO, before the clock starts
            replies = sock.makefile("rb")
            _expect(replies, b"220")
            sock.sendall(b"EHLO bench.example\r\n")
            _expect(replies, b"250")
            replies.close()
        each = count // connections
        poller = select.poll()
        state = {}  # fd -> [socket, messages left, step, replies awaited, buffer]
        started = time.perf_counter()
        for sock in socks:
            sock.sendall(script[0][0])
            state[sock.fileno()] = [sock, each, 0, script[0][1], b""]
            poller.register(sock.fileno(), select.POLLIN)
        while state:
            for fd, _ in poller.poll(30_000):
                entry = state[fd]
                buffer = entry[4] + entry[0].recv(65536)
                while (end := buffer.find(b"\n")) >= 0:
                    line, buffer = buffer[:end + 1], buffer[end + 1:]
                    if line[3:4] == b"-":
                        continue
                    assert line[:1] in (b"2", b"3"), line
                    entry[3] -= 1
                entry[4] = buffer
                if entry[3]:
                    continue
                entry[2] += 1
                if entry[2] == len(script):
                    entry[1] -= 1
                    entry[2] = 0
                    if not entry[1]:
                        poller.unregister(fd)
                        del state[fd]
                        continue
                out, entry[3] = script[entry[2]]
                entry[0].sendall(out)  # (blocking sockets: poll says when to read)
        elapsed = time.perf_counter() - started
    finally:
        for sock in socks:
            sock.close()
    return each * connections / elapsed


def _expect(replies, code: bytes) -> None:  # type: ignore[no-untyped-def]
    line = replies.readline()
    while line[3:4] == b"-":
        line = replies.readline()
    assert line[:3] == code, line


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


# --- several senders, SQLite or PostgreSQL -----------------------------------------------------

class Databases:
    """Fresh stores for the phases: SQLite file copies, or PostgreSQL databases made from a
    template (CREATE DATABASE ... TEMPLATE), all dropped by `close()`."""

    def __init__(self, base: Path, url: str) -> None:
        self.base = base
        self.url = url
        self.made: list[str] = []
        self.admin = None
        if url:
            from publisher.store.postgres import PgDatabase

            self.admin = PgDatabase(url)  # the given database: only CREATE/DROP DATABASE in it

    def _sql(self, statement: str) -> None:
        assert self.admin is not None
        with self.admin.connect() as conn:
            conn.execute(statement)

    def _url(self, name: str) -> str:
        from urllib.parse import urlsplit, urlunsplit

        return urlunsplit(urlsplit(self.url)._replace(path=f"/{name}"))

    def template(self, name: str, count: int) -> str:
        """A store of `count` subscribers; its path or URL."""
        if not self.url:
            return str(build_database(self.base / name, count))
        db = f"bench_{os.getpid()}_{name}"
        self._sql(f"DROP DATABASE IF EXISTS {db}")
        self._sql(f"CREATE DATABASE {db}")
        self.made.append(db)
        build_database(self.base / name, count, self._url(db))
        return self._url(db)

    def server_pid(self) -> int | None:
        """The PostgreSQL server's process (for its CPU time), when this machine runs it."""
        if self.admin is None:
            return None
        with self.admin.connect() as conn:
            try:
                folder = conn.scalar("SHOW data_directory")
            except Exception:  # noqa: BLE001 - not a superuser: no server figures
                return None
        return postmaster_pid(folder)

    def checkpoint(self) -> None:
        if self.admin is not None:
            try:
                self._sql("CHECKPOINT")
            except Exception:  # noqa: BLE001 - not a superuser: the server checkpoints alone
                pass

    def copy(self, template: str, name: str) -> str:
        if not self.url:
            (self.base / name / "state").mkdir(parents=True)
            target = self.base / name / "state" / "publisher.db"
            shutil.copyfile(template, target)
            return str(target)
        db = f"bench_{os.getpid()}_{name}"
        self._sql(f"DROP DATABASE IF EXISTS {db}")
        self._sql(f"CREATE DATABASE {db} TEMPLATE {template.rsplit('/', 1)[1]}")
        self.made.append(db)
        return self._url(db)

    def close(self) -> None:
        for db in reversed(self.made):
            try:
                self._sql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            except Exception as exc:  # noqa: BLE001 - report and go on
                print(f"  (could not drop {db}: {exc})", flush=True)
        if self.admin is not None:
            self.admin.dispose()


def phase_config(base: Path, name: str, target: str, port: int = 25) -> Path:
    root = base / name
    root.mkdir(parents=True, exist_ok=True)
    config = root / "config.toml"
    database = (f'[database]\nurl = "{target}"\n' if "://" in target
                else f'[paths]\ndatabase = "{target}"\n')
    config.write_text(
        '[site]\ntitle = "Left Voice"\n[web]\npublic_url = "https://news.example.org"\n'
        '[digest]\nmax_articles = 10\n'
        f'[mail]\nsender = "smtp"\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\n'
        f'connections = 4\nretry_delays = [0.05]\n{database}', encoding="utf-8")
    return config


def plan_only(config: Path) -> tuple[int, float]:
    """Plan the daily digests of every subscriber (no sending); (planned, seconds)."""
    import threading

    settings = load_settings(config, {"PUBLISHER_SECRET_KEY": SECRET})
    engine = open_store(settings)
    try:
        report = sending.SendReport()
        started = time.perf_counter()
        sending._plan(engine, settings, T0 + timedelta(hours=1), T0 + timedelta(hours=1),
                      "daily", report, threading.Event(), "bench-planner", None)
        return report.planned, time.perf_counter() - started
    finally:
        engine.dispose()


def sender_process(config: str, ready, go, results) -> None:  # type: ignore[no-untyped-def]
    """One `send-digests` of its own (in a process started by spawn): 4 SMTP connections."""
    settings = load_settings(Path(config), {"PUBLISHER_SECRET_KEY": SECRET})
    engine = open_store(settings)
    sender = SmtpSender(SmtpConfig(settings.mail.smtp_host, settings.mail.smtp_port, timeout=30),
                        connections=settings.mail.connections)
    renderer = DigestRenderer(settings)
    ready.release()
    go.wait()
    started, cpu = time.perf_counter(), time.process_time()
    report = sending.send_digests(engine, settings, T0 + timedelta(hours=1), cadence="daily",
                                  sender=sender, renderer=renderer)
    results.put((report.sent, report.failed, time.perf_counter() - started, report.fatal,
                 time.process_time() - cpu))
    engine.dispose()


class Meters:
    """CPU seconds of the database server (PostgreSQL on this machine) and of the SMTP sink,
    and waiting for both to be idle before a timed phase."""

    def __init__(self, dbs: Databases, sink: subprocess.Popen) -> None:  # type: ignore[type-arg]
        self.dbs = dbs
        self.server = dbs.server_pid()
        self.sink = sink.pid

    def server_cpu(self) -> float | None:
        return tree_cpu(self.server) if self.server else None

    def sink_cpu(self) -> float | None:
        return tree_cpu(self.sink)

    def both(self) -> float | None:
        server, sink = self.server_cpu(), self.sink_cpu()
        return None if sink is None else sink + (server or 0.0)

    def settle(self) -> float:
        """A checkpoint, then wait until the server (autovacuum after the last phase, the copy
        of a template database) and the sink are idle: every phase starts from the same
        quiet state."""
        self.dbs.checkpoint()
        return settle(self.both)

    def snapshot(self) -> tuple[float | None, float | None, float, float | None]:
        return (self.server_cpu(), self.sink_cpu(), time.process_time(), machine_cpu())

    def per_message(self, before: tuple[float | None, float | None, float, float | None],
                    count: int, own: float) -> str:
        """Server and sink CPU per message since `before` (us), and what the rest of the
        machine used meanwhile (other work depresses every wall-clock figure); `own`: the
        CPU-seconds of the measured client."""
        server, sink, _, machine = self.snapshot()
        parts, known = [], own
        if server is not None and before[0] is not None:
            parts.append(f"database server {(server - before[0]) / count * 1e6:.0f}")
            known += server - before[0]
        if sink is not None and before[1] is not None:
            parts.append(f"sink {(sink - before[1]) / count * 1e6:.0f}")
            known += sink - before[1]
        if machine is not None and before[3] is not None:
            parts.append(f"other processes {max(0.0, machine - before[3] - known) / count * 1e6:.0f}")
        return ", ".join(parts) + " us/msg" if parts else ""


def ceiling(meters: Meters, port: int, sample: bytes, connections: int,
            pipelining: bool = False, runs: int = 3, count: int = 3000) -> tuple[float, str]:
    """The raw client's best of `runs` short runs, each from a quiet machine (`Meters.settle`);
    (msgs/s, a note on the runs and the CPU per message of the best one)."""
    rates: list[tuple[float, str]] = []
    for _ in range(runs):
        meters.settle()
        before = meters.snapshot()
        rate = smtp_ceiling(port, sample, connections, count, pipelining)
        own = time.process_time() - before[2]
        rates.append((rate, f"client {own / count * 1e6:.0f}, "
                            f"{meters.per_message(before, count, own)}"))
    best = max(rates)
    runs_text = ", ".join(f"{r:.0f}" for r, _ in rates)
    return best[0], f"best of {runs_text}; CPU {best[1]}"


def run_senders(label: str, config: Path, senders: int, meters: Meters) -> float:
    """`senders` processes send what is planned in the store of `config`; total msgs/s."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    ready, go, results = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=sender_process, args=(str(config), ready, go, results))
             for _ in range(senders)]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.acquire()
    waited = meters.settle()
    before = meters.snapshot()
    started = time.perf_counter()
    go.set()
    outcomes = [results.get(timeout=600) for _ in procs]
    elapsed = time.perf_counter() - started
    sent = sum(o[0] for o in outcomes)
    others = meters.per_message(before, sent, sum(o[4] for o in outcomes)) if sent else ""
    for proc in procs:
        proc.join(30)
    failed = sum(o[1] for o in outcomes)
    rate = sent / elapsed if elapsed else 0.0
    each = ", ".join(f"{o[0]}" for o in outcomes)
    cpu = sum(o[4] for o in outcomes) / sent * 1e6 if sent else 0.0
    print(f"{label:<24} {sent:>6} msgs in {elapsed:6.2f} s = {rate:7.0f} msgs/s   "
          f"per sender: {each}   failed: {failed}", flush=True)
    print(f"  CPU: sender {cpu:.0f} us/msg, {others} (waited {waited:.1f} s for a quiet "
          f"server first)", flush=True)
    for outcome in outcomes:
        if outcome[3]:
            print(f"  fatal: {outcome[3]}", flush=True)
    return rate


def start_sink(port: int) -> tuple[subprocess.Popen, str]:  # type: ignore[type-arg]
    """Postfix's smtp-sink on 127.0.0.1:port (aiosmtpd in its own process when missing)."""
    sink = shutil.which("smtp-sink") or ("/usr/sbin/smtp-sink"
                                         if Path("/usr/sbin/smtp-sink").exists() else None)
    if sink is None:
        return start_smtp_server(port), "aiosmtpd"
    command = [sink]
    if os.geteuid() == 0:
        command += ["-u", "nobody"]
    proc = subprocess.Popen([*command, f"127.0.0.1:{port}", "256"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, "smtp-sink"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("smtp-sink did not start")


def stop_sink(proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    if proc.stdin is not None:  # aiosmtpd: ends when its stdin closes
        proc.stdin.close()
    else:
        proc.terminate()
    proc.wait(10)


def several_senders(base: Path, url: str, senders: int, subscribers: int, plan_count: int,
                    sample: bytes | None) -> None:
    backend = "PostgreSQL" if url else "SQLite"
    print(f"\n{backend}: {subscribers} subscribers, 1 and {senders} sender processes x 4 SMTP "
          f"connections", flush=True)
    dbs = Databases(base / backend.lower(), url)
    port = free_port()
    sink, sink_name = start_sink(port)
    meters = Meters(dbs, sink)
    try:
        template = dbs.template("senders", subscribers)
        rates: dict[int, float] = {}
        for n in sorted({1, senders}):
            target = dbs.copy(template, f"senders{n}")
            config = phase_config(dbs.base, f"senders{n}", target, port)
            planned, seconds = plan_only(config)
            print(f"  planned {planned} in {seconds:.2f} s", flush=True)
            rates[n] = run_senders(f"{backend} x{n} sender(s)", config, n, meters)
            if sample is None:
                sample = message_sample(config)
        assert sample is not None
        # the baselines after the senders, each from a quiet server (see `ceiling`)
        ceiling4, note4 = ceiling(meters, port, sample, 4)
        print(f"raw-socket client to this {sink_name}, 4 connections: {ceiling4:.0f} msgs/s "
              f"({note4})", flush=True)
        if senders > 1:
            ceiling_n, note_n = ceiling(meters, port, sample, 4 * senders)
            print(f"raw-socket client, {4 * senders} connections: {ceiling_n:.0f} msgs/s "
                  f"({note_n}); {senders} senders reached {rates[senders] / ceiling_n:.0%} of it",
                  flush=True)
            print(f"  {senders} senders / 1 sender: {rates[senders] / rates[1]:.2f}x "
                  f"(target >= 1.5x)", flush=True)
        print(f"  each sender vs the raw client over 4 connections: 1 sender "
              f"{rates[1] / ceiling4:.0%}" + (f", {senders} senders "
                                              f"{rates[senders] / senders / ceiling4:.0%} each"
                                              if senders > 1 else "") + " (target >= 80%)",
              flush=True)
        if sink_name == "smtp-sink":  # (it offers PIPELINING, which publisher then uses)
            piped, note = ceiling(meters, port, sample, 4, pipelining=True)
            print(f"  (for comparison: a raw client using PIPELINING too, 4 connections: "
                  f"{piped:.0f} msgs/s ({note}); 1 sender reached {rates[1] / piped:.0%} of it)",
                  flush=True)
        plan_template = dbs.template("plan", plan_count)
        plan_target = dbs.copy(plan_template, "plan1")
        meters.settle()
        planned, seconds = plan_only(phase_config(dbs.base, "plan1", plan_target, port))
        print(f"{backend}: planning {planned} subscribers took {seconds:.2f} s (target <= 10 s)",
              flush=True)
    finally:
        stop_sink(sink)
        dbs.close()


def message_sample(config: Path) -> bytes:
    """One rendered digest message, for the raw client (the same size as the senders')."""
    settings = load_settings(config, {"PUBLISHER_SECRET_KEY": SECRET})
    engine = open_store(settings)
    try:
        return sending.preview_digest(engine, settings, T0 + timedelta(hours=1),
                                      "reader1@example.com").eml
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--skip-smtp", action="store_true")
    parser.add_argument("--database", default="", metavar="URL",
                        help="postgresql://... (a role with CREATEDB) for the --senders phases")
    parser.add_argument("--senders", type=int, default=0, metavar="N",
                        help="also send with 1 and N sender processes (4 connections each)")
    parser.add_argument("--sender-subscribers", type=int, default=20_000)
    parser.add_argument("--plan-subscribers", type=int, default=100_000)
    parser.add_argument("--skip-sqlite", action="store_true",
                        help="only the --senders phases (not the SQLite single-sender ones)")
    args = parser.parse_args()
    if args.database and not args.senders:
        parser.error("--database is for the --senders phases: give --senders N too")
    if args.skip_sqlite:
        base = Path(tempfile.mkdtemp(prefix="bench-digest-"))
        try:
            several_senders(base, args.database, args.senders, args.sender_subscribers,
                            args.plan_subscribers, None)
        finally:
            shutil.rmtree(base, ignore_errors=True)
        return
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
        if args.senders:
            several_senders(base, args.database, args.senders, args.sender_subscribers,
                            args.plan_subscribers, sample.read_bytes())
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()

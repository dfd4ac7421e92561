"""Shared fixtures. Each fixture builds real things: files, SQLite databases, processes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REAL_SEEDS = REPO / "seeds"
FIXTURE_SEEDS = Path(__file__).resolve().parent / "seeds"
PUBLISHER = [sys.executable, "-m", "publisher"]


class Project:
    """A throwaway publisher project: config.toml, seeds/, and the folders it writes.

    `database_url` set (the `backend` fixture on PostgreSQL): every config written points the
    store at that database (`[database] url`); `self.database` is then unused."""

    def __init__(self, root: Path, database_url: str | None = None) -> None:
        self.root = root
        self.database_url = database_url
        self.seeds = root / "seeds"
        self.feeds = root / "feeds"
        self.config = root / "config.toml"
        self.database = root / "state" / "publisher.db"
        self.outbox = root / "outbox"

    def write_config(self, extra: str = "") -> None:
        self.config.write_text(
            '[site]\ntitle = "Left Voice"\nbase_url = "https://www.leftvoice.org"\n'
            'description = "Militant journalism, revolutionary politics."\n'
            'timezone = "America/New_York"\n' + extra + self.database_table(),
            encoding="utf-8",
        )

    def database_table(self) -> str:
        """The `[database]` table of the config (empty on SQLite, the default)."""
        return f'\n[database]\nurl = "{self.database_url}"\n' if self.database_url else ""

    def open_store(self):  # type: ignore[no-untyped-def]
        """The project's store (SQLite file or PostgreSQL database), migrated."""
        from publisher.store import open_database

        return open_database(self.database_url or self.database)

    def run(self, *args: str, check: bool = False, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run the publisher CLI as a subprocess in this project."""
        full_env = {**os.environ, "PUBLISHER_CONFIG": str(self.config), **(env or {})}
        result = subprocess.run(
            [*PUBLISHER, *args], cwd=self.root, env=full_env, capture_output=True, text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"publisher {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def add_seed(self, source: Path, name: str | None = None) -> Path:
        target = self.seeds / (name or source.name)
        shutil.copyfile(source, target)
        return target


@pytest.fixture
def project(tmp_path: Path, backend: "Backend") -> Project:
    """A project with the two real seeds and a config pointing everything into tmp_path (and
    the store at the `backend`'s database)."""
    proj = Project(tmp_path, backend.url)
    proj.seeds.mkdir()
    for seed in sorted(REAL_SEEDS.glob("*.txt")):
        shutil.copy2(seed, proj.seeds / seed.name)  # its mtime too: long settled
    proj.write_config()
    return proj


# --- the store's two backends: SQLite files, and databases of a throwaway PostgreSQL cluster ----

# Test modules whose tests run on both backends (the store, sending, scheduler and web tests):
# every test in them that uses `backend` (directly or through `project`) runs twice.
BOTH_BACKENDS = ("test_store", "test_db", "test_sending", "test_schedule", "test_daemon",
                 "test_web", "test_subscribers", "test_pipeline", "test_digest_support",
                 "test_concurrency", "test_claims", "test_subscriptions", "test_inbound",
                 "test_mail_rates", "test_explain")
# ... except these, which never open a store (pure functions: a second run would test nothing).
ONE_BACKEND = ("test_inbound_classify",)
PG_TEMPLATE = "publisher_template"


class Backend:
    """Which store a test uses: `name` "sqlite" (url None: the project's file) or "postgresql"
    (url: a fresh database of its own, made from a migrated template)."""

    def __init__(self, name: str, url: str | None = None, cluster=None) -> None:  # type: ignore[no-untyped-def]
        self.name = name
        self.url = url
        self.cluster = cluster

    def __repr__(self) -> str:
        return f"Backend({self.name!r}, {self.url!r})"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        module = Path(str(metafunc.module.__file__)).stem
        if module.startswith(BOTH_BACKENDS) and module not in ONE_BACKEND:
            metafunc.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture(scope="session")
def pg_cluster():  # type: ignore[no-untyped-def]
    """A PostgreSQL 15 cluster for the whole session (initdb in a temp folder, free port), with
    a template database that has every migration applied."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from pgcluster import Cluster

    from publisher.store import open_database

    cluster = Cluster().start()
    try:
        cluster.sql(f"CREATE DATABASE {PG_TEMPLATE}")
        open_database(cluster.url_for(PG_TEMPLATE)).dispose()
        yield cluster
    finally:
        cluster.stop()


_pg_databases = iter(range(1, 1_000_000))


def fresh_pg_database(cluster) -> str:  # type: ignore[no-untyped-def]
    """The URL of a new, migrated, empty database (CREATE DATABASE ... TEMPLATE: ~20 ms)."""
    name = f"test_{os.getpid()}_{next(_pg_databases)}"
    cluster.sql(f"CREATE DATABASE {name} TEMPLATE {PG_TEMPLATE}")
    return cluster.url_for(name)


@pytest.fixture(autouse=True)
def _store_backend(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL, $PUBLISHER_DATABASE_URL points every store a test opens (configs written
    by the test helpers, `publisher` subprocesses) at the test's own database."""
    if backend.url:
        monkeypatch.setenv("PUBLISHER_DATABASE_URL", backend.url)
    else:
        monkeypatch.delenv("PUBLISHER_DATABASE_URL", raising=False)


@pytest.fixture
def backend(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """The store backend of this test: SQLite unless parametrised (see BOTH_BACKENDS)."""
    name = getattr(request, "param", "sqlite")
    if name == "sqlite":
        yield Backend("sqlite")
        return
    cluster = request.getfixturevalue("pg_cluster")
    url = fresh_pg_database(cluster)
    yield Backend("postgresql", url, cluster)
    dbname = url.rsplit("/", 1)[1]
    try:
        cluster.sql(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
    except Exception:  # noqa: BLE001 - the cluster goes at the end of the session anyway
        pass


# --- web: `publisher serve` in a thread, on a real socket -------------------------------------

WEB_SECRET = "test-secret-key-0123456789abcdef"


class FakeClock:
    """A clock the web app reads; tests move it forward instead of sleeping."""

    def __init__(self) -> None:
        from datetime import datetime, timezone

        self.moment = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.moment

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self.moment += timedelta(seconds=seconds)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(check, timeout: float, what: str, every: float = 0.05) -> None:  # type: ignore[no-untyped-def]
    """Poll `check` until it is true; AssertionError naming `what` after `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def advised_files(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files `posix_fadvise(fd, 0, 0, WILLNEED)` is called on in this process
    from now on, in order (the seeds' readahead: `seedfiles.Readahead`)."""
    calls: list[str] = []
    real = os.posix_fadvise

    def advise(fd: int, offset: int, length: int, advice: int) -> None:
        assert (offset, length, advice) == (0, 0, os.POSIX_FADV_WILLNEED)
        calls.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        real(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", advise)
    return calls


@contextlib.contextmanager
def static_http(folder: Path):  # type: ignore[no-untyped-def]
    """A plain static file server (`python -m http.server`) for `folder` on 127.0.0.1; its
    base url, once it accepts connections."""
    import socket

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def accepting() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    try:
        wait_for(accepting, 10, f"a static server for {folder}")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=5)


def toml_table(name: str, values: dict) -> str:  # type: ignore[type-arg]
    import json

    return f"[{name}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())


class WebSite:
    """A built project served by the real app on waitress, on 127.0.0.1 and a free port.

    `web.public_url` is the server's own address, so links in pages and mails lead back to it.
    """

    def __init__(self, project: Project, web: dict | None = None,  # type: ignore[type-arg]
                 **tables: dict) -> None:  # type: ignore[type-arg]
        import threading

        from publisher.config import load_settings
        from publisher.store import open_store
        from publisher.web import Server, create_app

        self.project = project
        self.clock = FakeClock()
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        web = {"public_url": self.url, "port": port, **(web or {})}
        tables.setdefault("paths", {}).setdefault("outbox", str(project.outbox))
        extra = toml_table("web", web) + "".join(toml_table(k, v) for k, v in tables.items())
        project.write_config(extra)
        project.run("build-feeds", check=True)
        self.settings = load_settings(project.config, {"PUBLISHER_SECRET_KEY": WEB_SECRET})
        self.engine = open_store(self.settings)
        self.app = create_app(self.settings, self.engine, now=self.clock)
        self.server = Server(self.app, "127.0.0.1", port)
        self._thread = threading.Thread(target=self.server.run, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.stop(wait=10)
        self._thread.join(10)
        self.engine.dispose()


@pytest.fixture
def make_web_site(project: Project):  # type: ignore[no-untyped-def]
    """Factory: make_web_site(web={...}, mail={...}, ...) -> a running WebSite, stopped after
    the test. Each keyword becomes a table of the project's config.toml.
    """
    sites: list[WebSite] = []

    def make(web: dict | None = None, **tables: dict) -> WebSite:  # type: ignore[type-arg]
        site = WebSite(project, web, **tables)
        sites.append(site)
        return site

    yield make
    for site in sites:
        site.close()


# --- SMTP servers for the digest tests (aiosmtpd on 127.0.0.1, scriptable faults) --------------

class SmtpServer:
    """A real SMTP server (aiosmtpd) on a free 127.0.0.1 port, recording what it accepts.

    Faults are scripted per recipient address:
    `rcpt_replies[address] = ["451 4.7.1 Try again later"]` answers RCPT with each reply in turn
    (then accepts); `data_replies[address]` does the same at the end of DATA;
    `drop_after_data.add(address)` closes the connection once, after DATA, without answering;
    `delay` seconds are spent on every accepted message; `eight_bit = False` stops offering
    8BITMIME; `pipelining = True` offers PIPELINING (RFC 2920); `mail_replies` answers the next
    MAIL commands with each reply in turn. `mail_options` lists the MAIL FROM parameters of each
    accepted message.
    """

    def __init__(self) -> None:
        import threading

        self.messages: list[tuple[str, list[str], bytes]] = []
        self.rcpt_replies: dict[str, list[str]] = {}
        self.data_replies: dict[str, list[str]] = {}
        self.drop_after_data: set[str] = set()
        self.delay = 0.0
        self.eight_bit = True
        self.pipelining = False
        self.mail_replies: list[str] = []
        self.mail_options: list[list[str]] = []
        self.connections = 0
        self.lock = threading.Lock()
        self.host = "127.0.0.1"
        self.port = _free_port()
        self.controller = None

    # aiosmtpd handler hooks
    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
        with self.lock:
            self.connections += 1
        session.host_name = hostname
        if not self.eight_bit:
            responses = [r for r in responses if "8BITMIME" not in r]
        if self.pipelining:  # aiosmtpd reads pipelined commands in turn anyway
            responses = [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # type: ignore[no-untyped-def]
        with self.lock:
            reply = self.mail_replies.pop(0) if self.mail_replies else None
        if reply:
            return reply
        from aiosmtpd.smtp import MISSING

        return MISSING  # aiosmtpd's own handling

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        with self.lock:
            script = self.rcpt_replies.get(address)
            reply = script.pop(0) if script else None
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        import asyncio

        rcpt = envelope.rcpt_tos[0] if envelope.rcpt_tos else ""
        with self.lock:
            if rcpt in self.drop_after_data:
                self.drop_after_data.discard(rcpt)
                drop = True
            else:
                drop = False
            script = self.data_replies.get(rcpt)
            reply = script.pop(0) if script else None
        if drop:
            server.transport.abort()
            return "421 closing"
        if reply:
            return reply
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                                  envelope.original_content or envelope.content))
            self.mail_options.append(list(envelope.mail_options))
        return "250 Message accepted for delivery"

    def start(self) -> "SmtpServer":
        from aiosmtpd.controller import Controller

        self.controller = Controller(self, hostname=self.host, port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()

    def parsed(self):  # type: ignore[no-untyped-def]
        from email import message_from_bytes, policy

        return [message_from_bytes(data, policy=policy.default) for _, _, data in self.messages]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server():  # type: ignore[no-untyped-def]
    """A running SmtpServer (see its docstring for scripting faults)."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def silent_smtp_server():  # type: ignore[no-untyped-def]
    """(host, port) of a server that accepts connections and never says a word."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    listener.close()


# --- a real IMAP server (Dovecot) on 127.0.0.1, for `publisher inbound --imap` -----------------

def self_signed_certificate(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """(certificate, key) PEM files of a fresh self-signed certificate for `host` (its own CA:
    trust it by naming the certificate as the CA file), made with the openssl command."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj",
         f"/CN={host}", "-addext", f"subjectAltName=IP:{host}",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,digitalSignature,keyCertSign"],
        check=True, capture_output=True, timeout=30)
    return cert, key


class Dovecot:
    """Debian's dovecot-imapd with a config in a temp folder, one user whose Maildir lives in
    that folder: IMAP on a free 127.0.0.1 port (plain login allowed: the loopback only; STARTTLS
    offered) and IMAPS on another (`tls_port`), with a self-signed certificate for 127.0.0.1
    (`ca_file`: trust it by naming it as the CA file).
    `append(data)` delivers a message to a folder, `folder(name)` lists what a folder holds.

    Dovecot runs in the foreground as this process's child, in a process group of its own: it
    gets SIGTERM when the test process dies, however it dies (`setpriv --pdeathsig`, i.e.
    PR_SET_PDEATHSIG), and `stop()` ends the whole group."""

    BINARY = "/usr/sbin/dovecot"
    USER = "bounces"
    PASSWORD = "imap-test-password"

    def __init__(self) -> None:
        import tempfile

        # Outside pytest's 0700 tmp folders: the mail processes run as an unprivileged user.
        self.root = Path(tempfile.mkdtemp(prefix="publisher-dovecot-"))
        self.root.chmod(0o755)
        self.port = _free_port()
        self.tls_port = _free_port()
        while self.tls_port == self.port:
            self.tls_port = _free_port()
        self.ca_file = self.root / "tls" / "cert.pem"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "Dovecot":
        import pwd
        import time

        root = self.root
        for sub in ("run", "state", "mail"):
            (root / sub).mkdir()
        if os.geteuid() == 0:
            owner = pwd.getpwnam("nobody")
            os.chown(root / "mail", owner.pw_uid, owner.pw_gid)
            users = "uid=nobody gid=nogroup"
            internal = ""
        else:  # a developer's own account runs everything
            me = pwd.getpwuid(os.getuid()).pw_name
            users = f"uid={os.getuid()} gid={os.getgid()}"
            internal = f"default_internal_user = {me}\ndefault_login_user = {me}\n"
        (root / "users").write_text(f"{self.USER}:{{PLAIN}}{self.PASSWORD}\n")
        cert, key = self_signed_certificate(root / "tls")
        (root / "dovecot.conf").write_text(f"""\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
instance_name = publisher-test-{self.port}
{internal}protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = {users} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
""")
        self.proc = subprocess.Popen(
            ["setpriv", "--pdeathsig", "SIGTERM", "--", self.BINARY, "-F", "-c",
             str(root / "dovecot.conf")], start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                self.client().logout()
                return self
            except OSError:
                time.sleep(0.05)
        log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
        self.stop()
        raise RuntimeError(f"dovecot did not start: {log}")

    @property
    def url(self) -> str:
        return f"imap://{self.USER}@127.0.0.1:{self.port}/INBOX"

    @property
    def imaps_url(self) -> str:
        return f"imaps://{self.USER}@127.0.0.1:{self.tls_port}/INBOX"

    def client(self):  # type: ignore[no-untyped-def]
        import imaplib

        imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        imap.login(self.USER, self.PASSWORD)
        return imap

    def append(self, data: bytes, folder: str = "INBOX") -> None:
        imap = self.client()
        try:
            status, detail = imap.append(folder, None, None, data)
            assert status == "OK", detail
        finally:
            imap.logout()

    def folder(self, name: str) -> list[tuple[bytes, bytes]]:
        """(flags, message bytes) of every message in a folder ([] when it does not exist)."""
        imap = self.client()
        try:
            status, _ = imap.select(f'"{name}"', readonly=True)
            if status != "OK":
                return []
            _, found = imap.uid("SEARCH", None, "ALL")
            out = []
            for uid in (found[0] or b"").split():
                _, parts = imap.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
                head, data = next(p for p in parts if isinstance(p, tuple))
                out.append((head, data))
            return out
        finally:
            imap.logout()

    def stop(self) -> None:
        import shutil

        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
            try:  # whatever of its group is left (the master's children)
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def dovecot():  # type: ignore[no-untyped-def]
    """A running Dovecot IMAP server (see `Dovecot`)."""
    server = Dovecot().start()
    yield server
    server.stop()

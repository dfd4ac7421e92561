"""Running the app on waitress: access log, in-flight accounting, graceful shutdown.

waitress is a mature, pure-Python production WSGI server (no compiled dependencies, no C
extensions to build, runs the same on every platform Python does); it buffers slow clients in
its I/O thread so the worker threads never wait on a slow reader.

Graceful shutdown: `stop()` (called from SIGTERM/SIGINT handlers by `serve_until_signalled`)
closes the listening socket at once, lets requests in flight finish and flush for up to
`grace` seconds, then stops the worker threads and closes every connection.
"""

from __future__ import annotations

import errno
import logging
import re
import signal
import socket
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ErrorTask

from ..errors import ConfigError
from .security import SECURITY_HEADERS

access_log = logging.getLogger("publisher.web.access")
log = logging.getLogger("publisher.web")

_TOKEN_PATH = re.compile(r"^(/(?:confirm|manage|unsubscribe)/)[^/?]+")
WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


def redact(path: str) -> str:
    """Signed tokens are credentials: keep them out of the access log."""
    return _TOKEN_PATH.sub(r"\1<token>", path)


class _Tracked:
    """The response body, counting bytes and telling the log when waitress is done with it."""

    def __init__(self, body: Iterable[bytes], done: Callable[[int], None]) -> None:
        self._body = body
        self._done = done
        self._sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._body:
            self._sent += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close:
                close()
        finally:
            self._done(self._sent)


class AccessLog:
    """WSGI middleware: one combined-log-format line per request (plus the time taken), and a
    count of requests in flight for the graceful shutdown."""

    def __init__(self, app: WSGIApp) -> None:
        self._app = app
        self._lock = threading.Lock()
        self.in_flight = 0

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = time.monotonic()
        status_holder: list[str] = ["500"]

        def recording_start(status: str, headers: list, exc_info: Any = None) -> Any:
            status_holder[0] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info)

        with self._lock:
            self.in_flight += 1

        def done(sent: int) -> None:
            with self._lock:
                self.in_flight -= 1
            path = redact(environ.get("PATH_INFO", ""))
            query = environ.get("QUERY_STRING", "")
            target = f"{environ.get('SCRIPT_NAME', '')}{path}{'?' + query if query else ''}"
            when = datetime.now(timezone.utc).strftime("%d/%b/%Y:%H:%M:%S %z")
            access_log.info(
                '%s - - [%s] "%s %s %s" %s %s "%s" "%s" %.1fms',
                environ.get("REMOTE_ADDR", "-"), when, environ.get("REQUEST_METHOD", "-"),
                target, environ.get("SERVER_PROTOCOL", "-"), status_holder[0], sent or "-",
                _quote(environ.get("HTTP_REFERER", "-")), _quote(environ.get("HTTP_USER_AGENT", "-")),
                (time.monotonic() - started) * 1000,
            )

        try:
            body = self._app(environ, recording_start)
        except BaseException:
            done(0)
            raise
        return _Tracked(body, done)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')[:300]


class _SecureErrorTask(ErrorTask):
    """waitress's own error answers (413 body too large, 400 bad request, 431 ...) carry the
    same security headers as the app's."""

    def execute(self) -> None:
        self.response_headers.extend(SECURITY_HEADERS)
        super().execute()


class _Channel(HTTPChannel):
    error_task_class = _SecureErrorTask


class Server:
    """One waitress server on one address; `run()` blocks until `stop()`."""

    def __init__(self, app: WSGIApp, host: str, port: int, *, threads: int = 4,
                 max_request_bytes: int = 65536, grace: float = 10.0) -> None:
        self.app = AccessLog(app)
        self._grace = grace
        self._stop = threading.Event()
        self._stopped = threading.Event()
        try:
            self._server = create_server(
                self.app, host=host, port=port, threads=threads, ident="publisher",
                max_request_body_size=max_request_bytes, max_request_header_size=65536,
                channel_timeout=60, expose_tracebacks=False, clear_untrusted_proxy_headers=True,
            )
        except OSError as exc:
            raise bind_error(host, port, exc) from None
        for dispatcher in list(self._server._map.values()):  # type: ignore[union-attr] # noqa: SLF001
            if isinstance(dispatcher, BaseWSGIServer):
                dispatcher.channel_class = _Channel  # type: ignore[misc]

    @property
    def host(self) -> str:
        return str(self._server.effective_host)  # type: ignore[union-attr]

    @property
    def port(self) -> int:
        return int(self._server.effective_port)  # type: ignore[union-attr]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def run(self) -> None:
        server = self._server
        socket_map = server._map  # type: ignore[union-attr] # noqa: SLF001 - waitress exposes no other handle
        try:
            while not self._stop.is_set():
                wasyncore.loop(timeout=0.2, map=socket_map, count=1)
            server.close()  # no new connections from here on
            deadline = time.monotonic() + self._grace
            # requests being handled, or still arriving (headers half read, or queued on a
            # connection): finished within the grace period
            while (self.app.in_flight or _arriving(socket_map)) and time.monotonic() < deadline:
                wasyncore.loop(timeout=0.05, map=socket_map, count=1)
            flush_until = time.monotonic() + 0.3  # let the last responses leave the buffers
            while socket_map and time.monotonic() < flush_until:
                wasyncore.loop(timeout=0.05, map=socket_map, count=1)
        finally:
            server.task_dispatcher.shutdown(cancel_pending=True, timeout=2)  # type: ignore[union-attr]
            wasyncore.close_all(socket_map)
            self._stopped.set()

    def stop(self, wait: float | None = None) -> None:
        """Ask `run()` to finish (safe from any thread or a signal handler)."""
        self._stop.set()
        if wait is not None:
            self._stopped.wait(wait)


def _arriving(socket_map: dict) -> bool:  # type: ignore[type-arg]
    """Is a request partly received, or received and not yet answered, on any connection?"""
    return any(getattr(channel, "request", None) is not None or getattr(channel, "requests", None)
               for channel in list(socket_map.values()))


def bind_error(host: str, port: int, exc: OSError) -> ConfigError:
    """One line for a listening socket that cannot be opened."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return ConfigError(f"{where}: the port is already in use by another program",
                           "stop it, or choose another port with --port or web.port")
    if exc.errno == errno.EADDRNOTAVAIL:
        return ConfigError(f"{host}: this machine has no such address",
                           "give one of its addresses with --host or web.host: 127.0.0.1, "
                           "or 0.0.0.0 for all")
    if exc.errno == errno.EACCES:
        return ConfigError(f"{where}: permission denied to listen there",
                           "ports below 1024 need privileges: choose another port")
    if isinstance(exc, socket.gaierror):
        return ConfigError(f"{host}: unknown host name", "give an address with --host or web.host")
    return ConfigError(f"{where}: cannot listen: {exc.strerror or exc}")


def serve_until_signalled(server: Server) -> str:
    """Run in the main thread until SIGTERM or SIGINT; return the name of the signal."""
    received: list[str] = []

    def handler(signum: int, _frame: object) -> None:
        received.append(signal.Signals(signum).name)
        server.stop()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return received[0] if received else "stop"

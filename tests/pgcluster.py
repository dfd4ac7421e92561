"""A throwaway PostgreSQL 15 cluster: initdb into a temp folder, postgres on a free port.

Used by the tests (a session fixture in conftest.py) and the benchmarks:

    python tests/pgcluster.py        # starts one, prints its URL, stops on Ctrl-C

The server runs as an unprivileged user: as root (CI), `nobody` through runuser (PostgreSQL
refuses to run as root); otherwise as the current user. Trust authentication on 127.0.0.1
and a Unix socket inside the folder; durability off (fsync, full-page writes), since the
cluster lives for one test session. The server gets SIGTERM when the process that started it
dies, however it dies (a kill -9 of pytest leaves no cluster behind): PR_SET_PDEATHSIG, set by
util-linux's `setpriv --pdeathsig` (runuser passes the SIGTERM on to postgres).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("PUBLISHER_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "publisher"
# Start the server as a child that the kernel signals when its parent dies (see above).
DIE_WITH_PARENT = ["setpriv", "--pdeathsig", "SIGTERM", "--"] if shutil.which("setpriv") else []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"{PG_BIN}/initdb not found: install the Debian package "
                               "postgresql (.ci/setup does)")
        self.folder = Path(tempfile.mkdtemp(prefix="publisher-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "nobody", "--"]
            shutil.chown(self.folder, "nobody")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def url_for(self, dbname: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> "Cluster":
        subprocess.run(
            [*self._as, str(PG_BIN / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
             "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"],
            check=True, capture_output=True, cwd=self.folder)
        log = self.folder / "postgres.log"
        with open(log, "wb") as out:
            if self._as:
                shutil.chown(log, "nobody")
            self.process = subprocess.Popen(
                [*DIE_WITH_PARENT, *self._as, str(PG_BIN / "postgres"), "-D", str(self.data),
                 "-p", str(self.port), "-h", "127.0.0.1", "-k", str(self.folder),
                 "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off",
                 "-c", "max_connections=300", "-c", "shared_buffers=64MB"],
                stdout=out, stderr=subprocess.STDOUT, cwd=self.folder, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"])
            if ready.returncode == 0:
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"postgres did not start: {log.read_text(errors='replace')[-2000:]}")

    def sql(self, statement: str, dbname: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url_for(dbname), autocommit=True) as conn:
            conn.execute(statement)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # "smart" shutdown; then fast, then kill
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)


if __name__ == "__main__":
    cluster = Cluster().start()
    print(cluster.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()

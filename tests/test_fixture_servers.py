"""The tests' own servers: what is appended to the Dovecot fixture comes back unchanged, and
neither Dovecot nor the PostgreSQL cluster outlives the test process: a process that started one
and is then killed with SIGKILL (no finalizer runs) leaves no server process or listener behind.
(No store here: one backend.)"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_inbound_classify import corpus

TESTS = Path(__file__).resolve().parent

STARTERS = {
    "dovecot": """
from conftest import Dovecot
server = Dovecot().start()
print(server.proc.pid, server.root, server.port, server.tls_port, flush=True)
""",
    "postgresql": """
from pgcluster import Cluster
server = Cluster().start()
print(server.process.pid, server.folder, server.port, flush=True)
""",
}


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a parent that no longer reaps is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def group_members(pgid: int) -> list[int]:
    """The live processes of a process group (each server starts one of its own)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


@pytest.mark.parametrize("server", sorted(STARTERS))
def test_a_server_dies_with_a_killed_test_process(server: str) -> None:
    script = (f"import sys, time\nsys.path.insert(0, {str(TESTS)!r})\n{STARTERS[server]}"
              "time.sleep(120)\n")
    starter = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pid, root = 0, ""
    try:
        pid_text, root, *port_texts = starter.stdout.readline().split()  # type: ignore[union-attr]
        pid, ports = int(pid_text), [int(p) for p in port_texts]
        assert alive(pid) and all(listening(p) for p in ports)
        assert len(group_members(pid)) >= 2  # the server and its children, in a group of its own
        os.kill(starter.pid, signal.SIGKILL)
        starter.wait(10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (
                alive(pid) or group_members(pid) or any(listening(p) for p in ports)):
            time.sleep(0.05)
        assert not alive(pid), f"{server} outlived the process that started it"
        assert group_members(pid) == []
        assert not any(listening(p) for p in ports)
    finally:
        if starter.poll() is None:
            starter.kill()
            starter.wait()
        if pid and group_members(pid):  # the test failed: do not leave it running either
            os.killpg(pid, signal.SIGKILL)
        if root:
            shutil.rmtree(root, ignore_errors=True)


def test_corpus_report_round_trips_through_imap_unchanged(dovecot) -> None:  # type: ignore[no-untyped-def]
    data = corpus("dsn_postfix_user_unknown.eml")
    dovecot.append(data)
    ((_, stored),) = dovecot.folder("INBOX")
    assert stored.replace(b"\r\n", b"\n") == data.replace(b"\r\n", b"\n")

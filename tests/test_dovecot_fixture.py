"""The Dovecot fixture itself (one backend: no store here): what is appended comes back
unchanged, and it never outlives the test process: a process that started one and is then
killed with SIGKILL (no finalizer runs) leaves no Dovecot listening behind."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from test_inbound_classify import corpus

TESTS = Path(__file__).resolve().parent

STARTER = f"""
import sys, time
sys.path.insert(0, {str(TESTS)!r})
from conftest import Dovecot
server = Dovecot().start()
print(server.proc.pid, server.port, server.tls_port, server.root, flush=True)
time.sleep(120)
"""


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


def test_dovecot_dies_with_a_killed_test_process() -> None:
    starter = subprocess.Popen([sys.executable, "-c", STARTER], stdout=subprocess.PIPE, text=True)
    pid, root = 0, ""
    try:
        line = starter.stdout.readline()  # type: ignore[union-attr]
        pid_text, port_text, tls_text, root = line.split()
        pid, port, tls_port = int(pid_text), int(port_text), int(tls_text)
        assert alive(pid) and listening(port) and listening(tls_port)
        assert len(group_members(pid)) >= 2  # the master and its children, in one group
        os.kill(starter.pid, signal.SIGKILL)
        starter.wait(10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (
                alive(pid) or group_members(pid) or listening(port) or listening(tls_port)):
            time.sleep(0.05)
        assert not alive(pid), "dovecot outlived the process that started it"
        assert group_members(pid) == []
        assert not listening(port) and not listening(tls_port)
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

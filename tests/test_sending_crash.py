"""Kill a real `publisher send-digests` process (SIGKILL) at random points, run it again until
every delivery is sent: every subscriber gets exactly one digest, except at most one per
connection and kill, which arrives twice with the same Message-ID. A killed run's claims are
taken over once their lease (here 1 s) expires."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from datetime import timedelta

from publisher.store import deliveries as ledger
from test_digest_support import (SECRET, T0, add_articles, add_subscriber, make_article,
                                 make_settings, open_engine)

SUBSCRIBERS = 150
KILLS = 6


@pytest.mark.parametrize("connections", [1, 4])
def test_sigkill_at_random_points_never_loses_and_duplicates_at_most_one_per_connection(
        tmp_path, smtp_server, connections):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, mail={"sender": "smtp", "smtp_host": smtp_server.host,
                                             "smtp_port": smtp_server.port, "smtp_timeout": 5.0,
                                             "connections": connections,
                                             "lease_seconds": 1.0})
    engine = open_engine(settings)
    add_articles(engine, [make_article(1, T0 - timedelta(hours=1)),
                          make_article(2, T0 - timedelta(minutes=30), category="Politics")])
    for n in range(SUBSCRIBERS):
        add_subscriber(engine, f"reader{n:03d}@example.com", name=f"Reader {n}",
                       categories=("politics",) if n % 3 == 0 else (),
                       now=T0 - timedelta(days=1))
    engine.dispose()
    # ~0.6 s of sending in all (over one connection): kills land before, during and after
    smtp_server.delay = 0.004 * connections
    env = {**os.environ, "PUBLISHER_CONFIG": str(settings.config_path),
           "PUBLISHER_SECRET_KEY": SECRET}
    command = [sys.executable, "-m", "publisher", "send-digests", "--cadence", "daily"]
    rng = random.Random(20260301 + connections)
    kills = 0
    runs = 0
    deadline = time.monotonic() + 50
    while True:
        runs += 1
        proc = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        if kills < KILLS:
            before = len(smtp_server.messages)
            # wait for sending to start (imports take a while), then kill at a random moment
            while len(smtp_server.messages) == before and proc.poll() is None \
                    and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.15))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                continue
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        if _unfinished(settings) == 0:
            break
        time.sleep(1.0)  # the killed runs' claims expire, then the next run takes them
    assert time.monotonic() < deadline
    assert kills >= 3, "the sends finished too fast to be killed"
    received = Counter()
    ids: dict[str, set[str]] = {}
    for msg in smtp_server.parsed():
        to = msg["To"].addresses[0].addr_spec
        received[to] += 1
        ids.setdefault(to, set()).add(msg["Message-ID"])
    expected = {f"reader{n:03d}@example.com" for n in range(SUBSCRIBERS)}
    assert set(received) == expected, f"missing: {sorted(expected - set(received))}"
    duplicated = sum(n - 1 for n in received.values())
    assert duplicated <= kills * connections, f"{duplicated} duplicates for {kills} kills"
    assert all(len(v) == 1 for v in ids.values())  # a resend carries the same Message-ID
    engine = open_engine(settings)
    with engine.begin() as conn:
        assert ledger.count_by_state(conn) == {"sent": SUBSCRIBERS}
    engine.dispose()
    print(f"{runs} runs, {kills} kills, {duplicated} duplicated")


def _unfinished(settings) -> int:  # type: ignore[no-untyped-def]
    engine = open_engine(settings)
    with engine.begin() as conn:
        counts = ledger.count_by_state(conn)
    engine.dispose()
    return counts.get("queued", 0) + counts.get("sending", 0)

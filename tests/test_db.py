"""The store's backend seam on both backends (SQLite file, PostgreSQL database): claims, locks,
error wrapping, `status`, `db copy`, and every command on each."""

from __future__ import annotations

import json
import os
import threading
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import PUBLISHER, WEB_SECRET, Backend, Project, fresh_pg_database
from test_digest_support import SECRET

from publisher.errors import DatabaseBusy, StoreError
from publisher.store import open_database
from publisher.store import runs as run_store
from publisher.store.copy import store_tables, table_rows

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
ENV = {"PUBLISHER_SECRET_KEY": SECRET}


@pytest.fixture
def engine(project: Project):  # type: ignore[no-untyped-def]
    database = project.open_store()
    yield database
    database.dispose()


def test_new_ids_come_from_returning_on_both(engine, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        first = run_store.start_run(conn, "tick", T0)
        second = run_store.start_run(conn, "tick", T0)
    assert second == first + 1
    assert engine.backend == backend.name


def test_a_bulk_connection_commits_each_transaction_and_is_not_pooled(engine, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    with engine.bulk() as conn:
        with conn.begin():
            first = run_store.start_run(conn, "tick", T0)
        with pytest.raises(RuntimeError):
            with conn.begin():
                run_store.start_run(conn, "tick", T0)
                raise RuntimeError("rolled back")
        with conn.begin():
            second = run_store.start_run(conn, "tick", T0)
        if backend.name == "sqlite":  # its page cache: 64 MiB, in KiB, for this connection only
            assert conn.scalar("PRAGMA cache_size") == -65536
            raw = conn.raw
    with engine.begin() as other:  # committed: another connection sees both
        assert other.scalars("SELECT id FROM scheduler_runs ORDER BY id") == [first, second]
        if backend.name == "sqlite":
            assert other.raw is not raw and other.scalar("PRAGMA cache_size") == -2000
    if backend.name == "sqlite":
        with pytest.raises(Exception, match="closed"):  # closed, not given back to the pool
            raw.execute("SELECT 1")


def test_claims_give_each_row_to_exactly_one_of_several_claimers(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        ids = {run_store.start_run(conn, "tick", T0) for _ in range(200)}
    got: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def claimer(name: str) -> None:
        mine = got.setdefault(name, [])
        try:
            while True:
                with engine.begin() as conn:
                    rows = conn.claim("scheduler_runs", "outcome = 'claimed', summary = :me",
                                      "t.outcome = 'running'", "t.id", 7, "id", {"me": name})
                if not rows:
                    return
                mine.extend(r[0] for r in rows)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(f"c{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    claimed = [i for rows in got.values() for i in rows]
    assert sorted(claimed) == sorted(ids)  # every row once, none twice
    with engine.connect() as conn:
        owners = dict(conn.execute("SELECT id, summary FROM scheduler_runs").all())
    assert all(owners[i] == name for name, rows in got.items() for i in rows)


def test_serialize_lets_one_transaction_at_a_time_through(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        run_id = run_store.start_run(conn, "tick", T0)
    inside: list[int] = []
    overlap: list[int] = []
    lock = threading.Lock()

    def bump() -> None:
        for _ in range(10):
            with engine.begin() as conn:
                conn.serialize("test")
                with lock:
                    inside.append(1)
                    if len(inside) > 1:
                        overlap.append(1)
                value = conn.scalar("SELECT summary FROM scheduler_runs WHERE id = ?", (run_id,))
                conn.execute("UPDATE scheduler_runs SET summary = ? WHERE id = ?",
                             (str(int(value or "0") + 1), run_id))
                with lock:
                    inside.pop()

    threads = [threading.Thread(target=bump) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    with engine.connect() as conn:
        assert conn.scalar("SELECT summary FROM scheduler_runs WHERE id = ?", (run_id,)) == "30"
    assert overlap == []


def test_driver_errors_leave_the_seam_as_store_errors(engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StoreError, match="state database"):
        with engine.begin() as conn:
            conn.execute("SELECT no_such_column FROM articles")
    with engine.begin() as conn:
        run_store.start_run(conn, "tick", T0)
    with pytest.raises(StoreError):  # the unique key: nothing of the transaction stays
        with engine.begin() as conn:
            conn.execute("INSERT INTO schedule_slots (cadence, slot_at, status, recorded_at, "
                         "detail) VALUES ('daily', 'x', 'sent', 'x', '')")
            conn.execute("INSERT INTO schedule_slots (cadence, slot_at, status, recorded_at, "
                         "detail) VALUES ('daily', 'x', 'sent', 'x', '')")
    with engine.connect() as conn:
        assert conn.scalar("SELECT count(*) FROM schedule_slots") == 0


def test_a_long_statement_with_many_placeholders_runs_and_is_numbered_once(engine, backend, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A multi-row INSERT of 600 rows (1,800 `?`, a literal '%' and a quoted '?'), then a
    `:name` statement with 60 names: the same rows come back on both backends. On PostgreSQL
    such a statement (over psycopg's 4,096-character, 50-parameter cache) must not go through
    psycopg's per-execute `%s` conversion (62% of planning 100,000 subscribers when it did)."""
    if backend.name == "postgresql":
        import psycopg._queries

        def converted(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise AssertionError("a long statement converted by psycopg on every execute")
        monkeypatch.setattr(psycopg._queries, "_query2pg_nocache", converted)
    rows = [(f"daily{n}", f"2026-03-{n % 28 + 1:02d}T00:00:00Z") for n in range(600)]
    values = ", ".join(["(?, ?, 'sent', '2026-03-01T00:00:00Z', '100% done?')"] * len(rows))
    sql = (f"INSERT INTO schedule_slots (cadence, slot_at, status, recorded_at, detail) "
           f"VALUES {values} RETURNING cadence")
    assert len(sql) > 4096
    with engine.begin() as conn:
        back = conn.execute(sql, [v for row in rows for v in row]).all()
    assert sorted(c for (c,) in back) == sorted(c for c, _ in rows)
    names = {f"c{n}": f"daily{n}" for n in range(60)}
    with engine.connect() as conn:
        found = conn.execute(
            "SELECT cadence, slot_at, detail FROM schedule_slots WHERE cadence IN ("
            + ", ".join(f":{k}" for k in names) + ") AND detail LIKE '100%' ORDER BY cadence",
            names).all()
    assert [tuple(r) for r in found] == sorted(
        (c, at, "100% done?") for c, at in rows[:60])


def test_a_submitted_statement_gives_its_rows_later_and_its_error_as_the_stores(engine, backend) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        first = run_store.start_run(conn, "tick", T0)
    conn = engine.connect()
    try:
        pending = conn.submit("UPDATE scheduler_runs SET summary = :s WHERE id = :id "
                              "RETURNING id, summary, finished_at, 2 = 2", {"s": "50%", "id": first})
        assert (pending.fileno() is None) == (backend.name == "sqlite")
        # another statement first: it waits for the submitted one, whose rows are kept
        assert conn.scalar("SELECT summary FROM scheduler_runs WHERE id = ?", (first,)) == "50%"
        assert pending.done()
        assert pending.result() == [(first, "50%", None, True)] == pending.result()
        again = conn.submit("SELECT ?, ?, ?", (7, "d'x", None))
        assert again.result() == [(7, "d'x", None)]
        failing = conn.submit("SELECT no_such_column FROM scheduler_runs")
        with pytest.raises(StoreError, match="no_such_column"):
            failing.result()
        with pytest.raises(StoreError, match="not inside a transaction"):
            with conn.begin():
                conn.submit("SELECT 1")
        assert conn.scalar("SELECT count(*) FROM scheduler_runs") == 1  # the connection works
    finally:
        conn.close()


def test_a_held_write_lock_is_database_busy_after_busy_timeout(project: Project, backend) -> None:  # type: ignore[no-untyped-def]
    holder = project.open_store()
    impatient = open_database(backend.url or project.database, 0.3)
    try:
        with holder.begin() as conn:
            run_id = run_store.start_run(conn, "tick", T0)
        with holder.begin() as conn:
            conn.execute("UPDATE scheduler_runs SET summary = 'held' WHERE id = ?", (run_id,))
            with pytest.raises(DatabaseBusy, match=r"busy \(another process has held a write "
                                                  r"lock for 0.3 s\)"):
                with impatient.begin() as other:
                    other.execute("UPDATE scheduler_runs SET summary = 'mine' WHERE id = ?",
                                  (run_id,))
        with impatient.connect() as conn:
            assert conn.scalar("SELECT summary FROM scheduler_runs WHERE id = ?",
                               (run_id,)) == "held"
    finally:
        impatient.dispose()
        holder.dispose()


def test_migrations_run_once_when_several_processes_open_a_new_store(tmp_path, backend) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    if backend.url:
        backend.cluster.sql(f"CREATE DATABASE fresh_{os.getpid()}")
        target = backend.cluster.url_for(f"fresh_{os.getpid()}")
    else:
        target = str(tmp_path / "new" / "publisher.db")
    code = ("import sys; from publisher.store import open_database; "
            "open_database(sys.argv[1]).dispose()")
    procs = [subprocess.Popen([sys.executable, "-c", code, target], stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    store = open_database(target)
    try:
        with store.connect() as conn:
            versions = conn.scalars("SELECT version FROM schema_migrations ORDER BY version")
    finally:
        store.dispose()
    from publisher.store.migrations import MIGRATIONS

    assert versions == [m[0] for m in MIGRATIONS]


# --- status ---------------------------------------------------------------------------------

def test_status_names_the_database_without_password_and_the_lock_holder(project, backend) -> None:  # type: ignore[no-untyped-def]
    env = {}
    if backend.url:  # trust authentication: a password in the environment's url is ignored
        env["PUBLISHER_DATABASE_URL"] = backend.url.replace("publisher@", "publisher:s3cret@")
    idle = json.loads(project.run("status", "--json", env=env, check=True).stdout)
    assert idle["process"] == {"running": False, "pid": None, "host": None}
    engine = project.open_store()
    try:
        with engine.instance_lock():
            data = json.loads(project.run("status", "--json", env=env, check=True).stdout)
            text = project.run("status", env=env, check=True).stdout
    finally:
        engine.dispose()
    assert data["process"]["running"] is True and data["process"]["pid"] == os.getpid()
    assert data["backend"] == backend.name
    if backend.url:
        assert data["database"] == backend.url.replace("publisher@", "publisher:***@")
        assert "s3cret" not in text and data["process"]["host"] == os.uname().nodename
        assert f"process: running (pid {os.getpid()} on {os.uname().nodename})" in text
    else:
        assert data["database"] == str(project.database)
        assert f"process: running (pid {os.getpid()})" in text
    assert f"database: {data['database']} ({backend.name})" in text


def test_a_second_daemon_is_refused_naming_the_holder(project) -> None:  # type: ignore[no-untyped-def]
    engine = project.open_store()
    try:
        with engine.instance_lock():
            second = project.run("tick", env=ENV)
    finally:
        engine.dispose()
    assert second.returncode == 3
    assert f"process {os.getpid()} holds" in second.stderr


# --- every command on this backend -------------------------------------------------------------

def test_every_command_works(project: Project, backend: Backend, tmp_path: Path) -> None:
    import re
    import subprocess
    import time

    project.write_config('[web]\nport = 0\n')
    project.run("subscribers", "add", "ana@example.org", "--cadence", "immediate", check=True)
    assert "ana@example.org" in project.run("subscribers", "list", check=True).stdout
    assert project.run("build-feeds", check=True).returncode == 0
    assert project.run("ingest", check=True).returncode == 0
    listed = project.run("articles", "list", check=True).stdout
    assert listed.strip()
    out = tmp_path / "preview"
    project.run("digest", "preview", "--subscriber", "ana@example.org", "--out", str(out),
                env=ENV, check=True)
    sent = project.run("send-digests", env=ENV, check=True)
    assert sent.stdout.startswith("digests: 1 sent"), sent.stdout + sent.stderr
    assert len(list(project.outbox.glob("*.eml"))) == 1
    assert project.run("tick", env=ENV, check=True).returncode == 0
    status = json.loads(project.run("status", "--json", check=True).stdout)
    assert status["backend"] == backend.name and status["deliveries"]["sent"] == 1
    if not backend.url:
        assert project.database.exists()
    else:
        assert not project.database.exists()  # nothing went to the SQLite default
    full_env = {**os.environ, "PUBLISHER_CONFIG": str(project.config), **ENV}
    log = tmp_path / "serve.log"
    with open(log, "wb") as sink:
        serve = subprocess.Popen([*PUBLISHER, "serve", "--port", "0"], cwd=project.root,
                                 env=full_env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        url = None
        while url is None and time.monotonic() < deadline:
            found = re.search(r"serving .* on (http://\S+) ", log.read_text(errors="replace"))
            url = found.group(1) if found else None
            time.sleep(0.05)
        assert url, log.read_text()
        with urllib.request.urlopen(f"{url}/", timeout=10) as reply:
            assert reply.status == 200
        with urllib.request.urlopen(f"{url}/digests/", timeout=10) as reply:
            assert reply.status == 200
        run = subprocess.Popen([*PUBLISHER, "run"], cwd=project.root, env=full_env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                data = json.loads(project.run("status", "--json", check=True).stdout)
                if data["process"]["running"]:
                    break
                time.sleep(0.1)
            assert data["process"]["pid"] == run.pid
        finally:
            run.terminate()
            assert run.wait(30) == 0, run.stdout.read() if run.stdout else ""
    finally:
        serve.terminate()
        serve.wait(30)


# --- db copy --------------------------------------------------------------------------------

def populate(project: Project) -> None:
    """A store with rows in (nearly) every table, made by the commands themselves."""
    for n in range(5):
        project.run("subscribers", "add", f"reader{n}@example.org", "--cadence", "immediate",
                    check=True)
    project.run("subscribers", "add", "weekly@example.org", "--cadence", "weekly", check=True)
    project.run("subscribers", "remove", "reader4@example.org", check=True)
    project.run("build-feeds", check=True)
    project.run("send-digests", env=ENV, check=True)
    project.run("tick", env=ENV, check=True)


def other_target(backend: Backend, tmp_path: Path, cluster_factory) -> str:  # type: ignore[no-untyped-def]
    """SQLite store -> a new PostgreSQL database; PostgreSQL store -> a new SQLite file."""
    if backend.url:
        return str(tmp_path / "copy" / "publisher.db")
    return fresh_pg_database(cluster_factory())


def test_db_copy_copies_every_table_row_for_row(project, backend, tmp_path, request) -> None:  # type: ignore[no-untyped-def]
    populate(project)
    target = other_target(backend, tmp_path, lambda: request.getfixturevalue("pg_cluster"))
    copied = project.run("db", "copy", "--to", target, check=True)
    source = project.open_store()
    dest = open_database(target)
    try:
        counts = {}
        for table in store_tables():
            rows = table_rows(source, table)
            assert table_rows(dest, table) == rows, table
            counts[table] = len(rows)
            assert f"  {table}: {len(rows)} rows" in copied.stderr
        assert all(counts[t] > 0 for t in ("articles", "seed_files", "feed_outputs",
                                            "subscribers", "digests", "deliveries",
                                            "scheduler_runs", "store_locks"))
        assert f"copied {sum(counts.values())} rows in {len(counts)} tables" in copied.stdout
        with dest.begin() as conn:  # new ids continue after the copied ones
            assert run_store.start_run(conn, "tick", T0) > max(
                r[0] for r in table_rows(source, "scheduler_runs"))
    finally:
        source.dispose()
        dest.dispose()
    # the copy works as the store: the commands run against it
    before = json.loads(project.run("status", "--json", check=True).stdout)
    if "://" in target:
        env = {"PUBLISHER_DATABASE_URL": target}
    else:
        project.database_url = None
        project.write_config(f'[paths]\ndatabase = "{target}"\n')
        env = {"PUBLISHER_DATABASE_URL": ""}
    after = json.loads(project.run("status", "--json", env=env, check=True).stdout)
    assert after["database"] != before["database"]
    for key in ("subscribers", "deliveries", "articles", "last_scan", "last_digests"):
        assert after[key] == before[key], key
    assert after["deliveries"]["sent"] == 5


def test_db_copy_refuses_a_target_that_has_data_and_a_password_in_the_url(project, backend, tmp_path, request) -> None:  # type: ignore[no-untyped-def]
    populate(project)
    target = other_target(backend, tmp_path, lambda: request.getfixturevalue("pg_cluster"))
    project.run("db", "copy", "--to", target, check=True)
    again = project.run("db", "copy", "--to", target)
    assert again.returncode == 2
    assert "already has rows: copy only into an empty database" in again.stderr
    assert "Traceback" not in again.stderr
    secret = project.run("db", "copy", "--to", "postgresql://u:pw@127.0.0.1:1/x")
    assert secret.returncode == 2 and "must not contain a password" in secret.stderr
    assert "pw@" not in secret.stderr


def test_an_unreachable_database_is_one_clear_line(project: Project) -> None:
    import time

    with socket_closed_port() as port:
        url = f"postgresql://publisher@127.0.0.1:{port}/nowhere"
        started = time.monotonic()
        result = project.run("status", env={"PUBLISHER_DATABASE_URL": url})
    assert time.monotonic() - started < 20
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"error: {url}: cannot open the state database: cannot connect:"), result.stderr
    assert "PGPASSWORD" in lines[0]


class socket_closed_port:
    """A local port nobody listens on (bound, never listening, for the block)."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return int(self.sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def test_a_new_sqlite_store_has_16k_pages_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    import sqlite3

    new = open_database(tmp_path / "new" / "publisher.db")
    with new.begin() as conn:
        assert conn.scalars("PRAGMA page_size") == [16384]
        assert conn.scalars("PRAGMA journal_mode") == ["wal"]
    new.dispose()
    old_path = tmp_path / "old.db"
    raw = sqlite3.connect(old_path)  # a store made before: 4 kB pages, not yet in WAL mode
    raw.execute("PRAGMA page_size=4096")
    raw.execute("CREATE TABLE kept (n INTEGER)")
    raw.execute("INSERT INTO kept VALUES (7)")
    raw.commit()
    raw.close()
    old = open_database(old_path)
    with old.begin() as conn:
        assert conn.scalars("PRAGMA page_size") == [4096]
        assert conn.scalars("SELECT n FROM kept") == [7]
        assert "articles" in conn.scalars("SELECT name FROM sqlite_master WHERE type = 'table'")
    old.dispose()


def test_a_bulk_connection_checkpoints_after_each_commit_so_the_log_stays_small(tmp_path: Path) -> None:
    """The bulk connection's checkpoints run in a thread of their own (SQLite's automatic ones
    are off on it): the write-ahead log still starts over, rather than growing with every
    transaction, and every row is in the database file once the connection is closed."""
    engine = open_database(tmp_path / "publisher.db")
    wal = tmp_path / "publisher.db-wal"
    payload = "x" * 4000
    sizes = []
    with engine.bulk() as conn:
        assert conn.scalar("PRAGMA wal_autocheckpoint") == 0
        conn.execute("CREATE TABLE blobs (n INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        for batch in range(40):  # 40 transactions of 100 rows of 4 kB: 16 MB written in all
            with conn.begin():
                conn.executemany("INSERT INTO blobs (n, body) VALUES (?, ?)",
                                 [(batch * 100 + k, payload) for k in range(100)])
            sizes.append(wal.stat().st_size)
    assert max(sizes) < 3 * 2**20, sizes  # about one transaction's pages, not 16 MB
    with engine.begin() as conn:
        assert conn.scalar("SELECT count(*) FROM blobs") == 4000
        assert conn.scalar("PRAGMA wal_autocheckpoint") == 1000  # other connections: as before
        # everything was copied back: a checkpoint now finds nothing left to copy
        busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").one()
        assert (busy, frames - copied) == (0, 0)
    engine.dispose()

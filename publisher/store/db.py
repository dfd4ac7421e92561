"""The backend seam: opening the state database, connections, transactions, locks, errors.

Two backends stand behind one small interface (`Database`, `Connection`, `Result`):

- SQLite (the default; the file at `paths.database`) through the standard `sqlite3`, in this
  module: the store's hot paths (a 10,000-seed build) go straight to the driver.
- PostgreSQL (`database.url = "postgresql://..."`) through psycopg 3 and psycopg_pool, in
  `postgres.py`, imported only when a PostgreSQL URL is opened.

No module outside `store/db.py` and `store/postgres.py` imports a driver; driver errors leave
the seam as `StoreError` (`DatabaseBusy` when a lock could not be had in time).

The SQL is written once, portable: sqlite3's `?` and `:name` placeholders (the PostgreSQL
backend rewrites them to `%s` / `%(name)s`, once per statement text), `INSERT ... ON CONFLICT`,
`INSERT ... RETURNING id` for new ids (never `lastrowid`), TEXT/INTEGER columns, dates as
ISO 8601 UTC text. Rows are plain tuples, unpacked by position.

Transactions (`Database.begin()`, `Connection.begin()`): committed when the block ends, rolled
back when it raises. On SQLite, reads run without taking any lock and the first writing
statement issues `BEGIN IMMEDIATE` (a writer waits for another process's writer, up to the
busy timeout, instead of failing when a read transaction tries to upgrade). `begin(immediate=
True)` takes the write lock at once; on PostgreSQL it takes a database-wide transaction lock
that only other `immediate` transactions wait for.

Serialising and claiming, the same on both:
- `conn.serialize(name)` inside a transaction: one transaction at a time per name until commit
  (SQLite: the database's write lock, which serialises every writer; PostgreSQL:
  `pg_advisory_xact_lock`). Planning and rate limits use it.
- `conn.claim(table, set_sql, where_sql, order_by, limit, returning, params)`: atomically move
  up to `limit` rows matching `where_sql` to `set_sql` and return `returning` of them (SQLite:
  one UPDATE under the write lock; PostgreSQL: `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE
  SKIP LOCKED)`, so concurrent claimers take different rows without waiting).
- `Database.instance_lock()`: one publisher daemon per store (SQLite: an flock on a file next to
  the database; PostgreSQL: `pg_try_advisory_lock` on a connection of its own). Both are
  released by the kernel/server the moment the holder dies. `Database.lock_holder()` names it.

A statement sent without waiting for it (`conn.submit(sql, params)`, outside a transaction,
its own transaction as every statement outside one is): a `Pending` whose `fileno()` a caller
may poll (None: already done) and whose `result()` gives the rows (waiting if need be). On
PostgreSQL the statement runs while the caller goes on (the sender records a message while
its other SMTP connections work); SQLite runs it at once. Any other use of the connection
waits for it first.

Migrations run once, under the database's lock (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: an
advisory transaction lock): concurrent openers wait, then find nothing left to do.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Self, Sequence
from urllib.parse import urlsplit, urlunsplit

from ..errors import DatabaseBusy, StoreError
from .migrations import MIGRATIONS, SCHEMA_MIGRATIONS, for_dialect

Params = Sequence[Any] | dict[str, Any]

POOL_SIZE = 8  # idle connections kept per Database (the web server and senders use threads)
BUSY_TIMEOUT = 30.0  # seconds a writer waits for another process's lock (database.busy_timeout)
# The page cache of a bulk-writing connection (see `Database.bulk`), in KiB: about the size of the
# articles' six indexes at 100,000 articles. With SQLite's default (2 MB) an ingest of 100,000
# seeds read most index pages back from the file for every transaction.
BULK_CACHE_KIB = 65536
# The page size of a new store (an existing one keeps its own): an article row is ~9 kB, so
# with SQLite's default 4 kB pages each row spilled onto overflow pages; with 16 kB pages
# inserting 30,000 articles cost 30% less CPU (1.7 -> 1.2 s) and reading them a little less.
PAGE_SIZE = 16384

_READ_VERBS = ("SELECT", "PRAGMA", "EXPLAIN", "VALUES")
_writes: dict[str, bool] = {}  # statement text -> writes? (a cache: statements are constants)


def _is_write(sql: str) -> bool:
    """Anything but a plain read counts as a write (a `WITH ... INSERT` must not run outside
    the transaction)."""
    found = _writes.get(sql)
    if found is None:
        found = _writes[sql] = not sql.lstrip()[:7].upper().startswith(_READ_VERBS)
    return found


def lock_key(name: str) -> int:
    """A stable signed 64-bit number for a lock name (PostgreSQL advisory lock keys)."""
    return int.from_bytes(hashlib.sha256(f"publisher:{name}".encode()).digest()[:8], "big",
                          signed=True)


@dataclass(frozen=True)
class LockHolder:
    """Who holds the instance lock: a process id, and on PostgreSQL the client's host."""

    pid: int | None
    host: str = ""


# --- errors -------------------------------------------------------------------------------------

def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def busy_error(where: str, timeout: float) -> DatabaseBusy:
    """The store's own error for "another process holds the lock" (after waiting `timeout`)."""
    return DatabaseBusy(
        f"the state database is busy (another process has held a write lock for {timeout:g} s): "
        f"{where}", "nothing was changed; try again once it is done, or raise "
        "database.busy_timeout")


def sqlite_error(exc: sqlite3.Error, database: "Database | None" = None,
                 action: str = "") -> StoreError:
    """A driver error as the store's own: DatabaseBusy for a lock not had in time."""
    text = _one_line(exc)
    if isinstance(exc, sqlite3.OperationalError) and (
            getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            or "database is locked" in text):
        return busy_error(database.path if database is not None else "the state database",
                          database.busy_timeout if database is not None else BUSY_TIMEOUT)
    prefix = f"{action}: " if action else ""
    error = StoreError(f"state database: {prefix}{text}")
    error.detail = text  # type: ignore[attr-defined]  # the driver's words alone
    return error


# --- SQLite -------------------------------------------------------------------------------------

class Result:
    """The rows of one statement: `.all()`, `.first()`, `.one()`, `.scalar()`, `.scalars()`,
    iteration, `.rowcount` and `.columns`. Rows are tuples."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def all(self) -> list[tuple[Any, ...]]:
        try:
            return self._cursor.fetchall()
        except sqlite3.Error as exc:
            raise sqlite_error(exc) from None

    def first(self) -> tuple[Any, ...] | None:
        try:
            row = self._cursor.fetchone()
        except sqlite3.Error as exc:
            raise sqlite_error(exc) from None
        self._cursor.close()
        return row

    def one(self) -> tuple[Any, ...]:
        row = self.first()
        if row is None:
            raise StoreError("expected one row, found none")
        return row

    def scalar(self) -> Any:
        row = self.first()
        return row[0] if row is not None else None

    def scalars(self) -> list[Any]:
        return [row[0] for row in self.all()]

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self._cursor)

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def columns(self) -> list[str]:
        return [d[0] for d in self._cursor.description or ()]


class Done:
    """A `Pending` that is finished: its value (or its error), at once (SQLite, or nothing to
    wait for)."""

    __slots__ = ("value", "error")

    def __init__(self, value: Any, error: StoreError | None = None) -> None:
        self.value = value
        self.error = error

    def fileno(self) -> int | None:
        return None

    def done(self) -> bool:
        return True

    def result(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


class PooledConnection:
    """What both backends' connections share: giving the raw connection back to the pool it
    came from (or closing it, when it has none) and the `with` protocol. Each backend's
    `close` ends its own transaction state first, then calls `_give_back`."""

    __slots__ = ()
    raw: Any
    _database: Any

    def _give_back(self) -> None:
        if self._database is not None:
            self._database._release(self.raw)
            self._database = None
        else:
            self.raw.close()

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Connection(PooledConnection):
    """One connection, used by one thread at a time (checked out of its `Database`'s pool).

    This class is the SQLite connection; `postgres.PgConnection` has the same methods.
    """

    __slots__ = ("raw", "_pending", "_database", "_origin", "_checkpointer")

    dialect = "sqlite"

    def __init__(self, raw: sqlite3.Connection, database: "Database | None" = None,
                 origin: "Database | None" = None) -> None:
        self.raw = raw
        self._pending = False  # inside begin(), no write yet: BEGIN IMMEDIATE before the first
        self._database = database  # the pool it goes back to (None: closed instead)
        self._origin = origin or database  # for messages (kept after close)
        self._checkpointer: _Checkpointer | None = None  # a bulk connection's (see `bulk`)

    def _begin_write(self) -> None:
        """BEGIN IMMEDIATE (sqlite3.Error as it comes), once the last checkpoint is done."""
        if self._checkpointer is not None:
            self._checkpointer.wait()
        self.raw.execute("BEGIN IMMEDIATE")
        self._pending = False

    def execute(self, sql: str, params: Params = ()) -> Result:
        try:
            if self._pending and _is_write(sql):
                self._begin_write()
            return Result(self.raw.execute(sql, params))
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self._origin) from None

    def executemany(self, sql: str, rows: Iterable[Params]) -> Result:
        try:
            if self._pending:
                self._begin_write()
            return Result(self.raw.executemany(sql, rows))
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self._origin) from None

    def scalar(self, sql: str, params: Params = ()) -> Any:
        return self.execute(sql, params).scalar()

    def scalars(self, sql: str, params: Params = ()) -> list[Any]:
        return self.execute(sql, params).scalars()

    def submit(self, sql: str, params: Params = ()) -> Done:
        """A statement of its own transaction, sent without waiting (see the module's doc): on
        SQLite it runs now; `result()` gives its rows."""
        if self.in_transaction:
            raise StoreError("submit() runs a statement of its own: not inside a transaction")
        try:
            with self.begin():
                return Done(self.execute(sql, params).all())
        except StoreError as exc:  # (raised by result(), as on PostgreSQL)
            return Done(None, exc)

    def insert(self, sql: str, params: Params = ()) -> int:
        """Run an `INSERT ... RETURNING id` and return the new id."""
        return int(self.execute(sql, params).one()[0])

    def serialize(self, name: str) -> None:
        """Inside a transaction: no other transaction that serializes on `name` runs until this
        one ends. SQLite: take the write lock now (it serialises every writer)."""
        if self._pending:
            try:
                self._begin_write()
            except sqlite3.Error as exc:
                raise sqlite_error(exc, self._origin) from None
        elif not self.raw.in_transaction:
            raise StoreError("serialize() needs a transaction (use `with db.begin() as conn:`)")

    def claim(self, table: str, set_sql: str, where_sql: str, order_by: str, limit: int,
              returning: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Atomically update up to `limit` rows of `table` (alias `t` in the clauses) matching
        `where_sql` (the first in `order_by` order) with `set_sql`; return `returning` of each,
        in no particular order. Two claimers never get the same row. Use inside `begin()`;
        params are `:name`; `set_sql` and `returning` name the columns without the alias."""
        self.serialize(f"claim:{table}")
        sql = (f"UPDATE {table} SET {set_sql} WHERE id IN (SELECT t.id FROM {table} t "
               f"WHERE {where_sql} ORDER BY {order_by} LIMIT :claim_limit) RETURNING {returning}")
        return self.execute(sql, {**(params or {}), "claim_limit": limit}).all()

    def reset_ids(self, table: str) -> None:
        """After rows were inserted with explicit ids (SQLite: nothing to do, the next id is
        always the largest plus one)."""

    @property
    def in_transaction(self) -> bool:
        return self._pending or self.raw.in_transaction

    @contextmanager
    def begin(self, immediate: bool = False) -> Iterator["Connection"]:
        """A transaction on this connection: commit on success, roll back on an exception."""
        if self.in_transaction:
            raise StoreError("a transaction is already open on this connection")
        if immediate:
            try:
                self._begin_write()
            except sqlite3.Error as exc:
                raise sqlite_error(exc, self._origin) from None
        else:
            self._pending = True
        try:
            yield self
        except BaseException:
            self._pending = False
            if self.raw.in_transaction:
                self.raw.rollback()
            raise
        self._pending = False
        if self.raw.in_transaction:
            try:
                self.raw.commit()
            except sqlite3.Error as exc:
                self.raw.rollback()
                raise sqlite_error(exc, self._origin, "commit") from None
            if self._checkpointer is not None:
                self._checkpointer.start()

    def close(self) -> None:
        """Give the connection back to its database's pool (or close it)."""
        self._pending = False
        if self.raw.in_transaction:
            self.raw.rollback()
        self._give_back()


class Database:
    """A SQLite database file shared by threads: each `begin()`/`connect()` checks a connection
    out of a small pool and gives it back afterwards, so a connection is used by one thread at a
    time and nested blocks get separate connections.

    `postgres.PgDatabase` has the same methods and attributes.
    """

    backend = "sqlite"

    def __init__(self, path: Path | str, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Database({self.path!r})"

    @property
    def display(self) -> str:
        """What `status` and messages show: the file, or the URL without its password."""
        return self.path

    def _acquire(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return _connect(self.path, self.busy_timeout)

    def _release(self, raw: sqlite3.Connection) -> None:
        with self._lock:
            if len(self._idle) < POOL_SIZE:
                self._idle.append(raw)
                return
        raw.close()

    def connect(self) -> Connection:
        """A connection outside any transaction (reads; `conn.begin()` for writes); use it as a
        context manager, or `close()` it, to give it back."""
        try:
            return Connection(self._acquire(), self)
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self) from None

    @contextmanager
    def begin(self, immediate: bool = False) -> Iterator[Connection]:
        """A connection in a transaction: committed when the block ends, rolled back if it raises."""
        conn = self.connect()
        try:
            with conn.begin(immediate):
                yield conn
        finally:
            conn.close()

    @contextmanager
    def bulk(self) -> Iterator[Connection]:
        """A connection for a long run of large write transactions (an ingest of many seeds):
        with a page cache of BULK_CACHE_KIB, so the indexes stay in memory from one transaction
        to the next, and closed at the end rather than pooled, so that memory goes with it."""
        try:
            raw = _connect(self.path, self.busy_timeout)
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self) from None
        conn = Connection(raw, None, origin=self)
        checkpointer = None
        try:
            conn.execute(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
            if self.path != ":memory:":
                checkpointer = conn._checkpointer = _Checkpointer(self.path, self.busy_timeout)
                conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's job now
            yield conn
        finally:
            conn.close()
            if checkpointer is not None:
                checkpointer.close()

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read-only connection that sees one moment of the database throughout (a deferred
        transaction: the first read fixes its snapshot of the write-ahead log)."""
        conn = self.connect()
        try:
            conn.raw.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.raw.rollback()
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self) from None
        finally:
            conn.close()

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file (SQLite only: copies stay small)."""
        with self.connect() as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").all()

    def dispose(self) -> None:
        """Close the idle pooled connections (connections in use close when given back)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for raw in idle:
            raw.close()

    # --- the instance lock: an flock on `<database>.lock` ---

    @property
    def lock_file(self) -> Path:
        return Path(self.path + ".lock")

    def instance_lock(self):  # type: ignore[no-untyped-def]
        """An unacquired lock object (`acquire()`/`release()`, or `with`); LockedError when
        another process holds it."""
        from ..lock import InstanceLock

        return InstanceLock(self.lock_file)

    def lock_holder(self) -> LockHolder | None:
        from ..lock import lock_holder

        pid = lock_holder(self.lock_file)
        return None if pid is None else LockHolder(pid if pid > 0 else None)

    def table_names(self) -> list[str]:
        with self.connect() as conn:
            return conn.scalars("SELECT name FROM sqlite_master WHERE type = 'table'")


class _Checkpointer:
    """A bulk connection's checkpoints, in a thread of their own: after each commit, the
    write-ahead log is copied back into the database file (and both are synced) while the
    writer prepares its next transaction, which waits for it only if it is not done yet (so
    the log starts over rather than growing). In the writer's own commit, as SQLite does by
    default, the copying and the syncs stopped the ingest for ~0.3 s per 10,000 articles.
    A checkpoint that fails (another process holds a lock) is left to the next one, or to
    the next connection's automatic checkpoint, as SQLite would."""

    def __init__(self, path: str, busy_timeout: float) -> None:
        self._path, self._busy_timeout = path, busy_timeout
        self._wanted = threading.Condition()
        self._busy = False
        self._closing = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Checkpoint now, in the thread (started the first time)."""
        with self._wanted:
            if self._closing:  # (its thread ended: the next connection's checkpoint will do)
                return
            self._busy = True
            self._wanted.notify()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint",
                                            daemon=True)
            self._thread.start()

    def wait(self) -> None:
        """Until the last checkpoint asked for is done."""
        with self._wanted:
            self._wanted.wait_for(lambda: not self._busy)

    def close(self) -> None:
        with self._wanted:
            self._closing = True
            self._wanted.notify_all()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        raw = None
        try:
            raw = _connect(self._path, self._busy_timeout)
            while True:
                with self._wanted:
                    self._wanted.wait_for(lambda: self._busy or self._closing)
                    if not self._busy:
                        return
                try:
                    raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    pass
                with self._wanted:
                    self._busy = False
                    self._wanted.notify_all()
        except sqlite3.Error:
            pass
        finally:
            with self._wanted:  # never leave the writer waiting
                self._busy = False
                self._closing = True
                self._wanted.notify_all()
            if raw is not None:
                raw.close()


def _connect(path: str, busy_timeout: float = BUSY_TIMEOUT) -> sqlite3.Connection:
    raw = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        # first: the WAL switch may wait for a lock
        raw.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        raw.execute(f"PRAGMA page_size={PAGE_SIZE}")  # before the file is made: WAL makes it
        _switch_to_wal(raw, busy_timeout)
        raw.execute("PRAGMA synchronous=NORMAL")
        raw.execute("PRAGMA foreign_keys=ON")
    except BaseException:
        raw.close()
        raise
    return raw


def _switch_to_wal(raw: sqlite3.Connection, busy_timeout: float) -> None:
    """`PRAGMA journal_mode=WAL`, tried again while another process holds the lock it needs.

    On a file that is not in WAL mode yet (a new store that several processes open at once)
    SQLite can answer "database is locked" at once, without waiting in the busy handler, so
    the wait is ours: up to `busy_timeout`, like every other lock."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            raw.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


# --- opening ------------------------------------------------------------------------------------

def is_url(target: str | Path) -> bool:
    return isinstance(target, str) and "://" in target


def redact(url: str) -> str:
    """The URL without its password (for messages and `status`)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "")
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[-1]}"))


def open_database(target: Path | str, busy_timeout: float = BUSY_TIMEOUT,
                  password: str | None = None) -> "Database":
    """The store at `target`, migrated: a SQLite file path (created with its folder), or a
    `postgresql://` URL (`password`, when given, comes from the environment). A statement
    waits up to `busy_timeout` seconds for another process's lock, then DatabaseBusy."""
    if is_url(target):
        scheme = str(target).split("://", 1)[0].lower()
        if scheme not in ("postgresql", "postgres"):
            raise StoreError(f"database.url: unsupported database {scheme}://",
                             "use postgresql://user@host/dbname, or leave it out for SQLite")
        from .postgres import PgDatabase

        database: Any = PgDatabase(str(target), password, busy_timeout)
    else:
        try:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{target}: cannot create the state database's folder: "
                             f"{exc.strerror}") from None
        database = Database(target, busy_timeout)
    try:
        migrate(database)
    except DatabaseBusy:
        database.dispose()
        raise
    except StoreError as exc:
        database.dispose()
        detail = getattr(exc, "detail", exc.message)
        raise StoreError(f"{database.display}: cannot open the state database: {detail}",
                         exc.hint) from None
    return database


def open_store(settings: Any) -> "Database":
    """The store a Settings object points at (`database.url` or `paths.database`)."""
    return open_database(settings.database_target, settings.database.busy_timeout,
                         settings.secrets.database_password or None)


def migrate(database: "Database") -> list[int]:
    """Apply every migration not yet recorded, once, under the database's lock; return the
    versions applied."""
    with database.connect() as conn:  # the usual case, up to date: no lock taken
        if _has_migrations_table(conn) and not _pending(conn):
            return []
    applied: list[int] = []
    with database.begin(immediate=True) as conn:  # one process migrates, the others wait
        conn.serialize("migrations")
        conn.execute(SCHEMA_MIGRATIONS)
        for version, name, statements in _pending(conn):
            for statement in statements:
                text = for_dialect(statement, getattr(conn, "dialect", "sqlite"))
                if text:  # "": nothing to do on this backend
                    conn.execute(text)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, utc_text(datetime.now(timezone.utc))),
            )
            applied.append(version)
    return applied


def _has_migrations_table(conn: Any) -> bool:
    if conn.dialect == "sqlite":
        return conn.scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                           "AND name = 'schema_migrations'") > 0
    return conn.scalar("SELECT to_regclass('schema_migrations') IS NOT NULL")


def _pending(conn: Connection) -> list[tuple[int, str, list[str]]]:
    done = set(conn.scalars("SELECT version FROM schema_migrations"))
    return [m for m in MIGRATIONS if m[0] not in done]


@contextmanager
def transaction(database: Database) -> Iterator[Connection]:
    with database.begin() as conn:
        yield conn


def utc_text(moment: datetime) -> str:
    """An aware datetime as sortable ISO 8601 text in UTC."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text)


def client_label() -> str:
    """Names this process to the database server (PostgreSQL `application_name`)."""
    return f"publisher pid={os.getpid()} host={os.uname().nodename}"[:63]


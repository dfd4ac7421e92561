"""Opening the database: connections, SQLite pragmas, migrations, transactions.

The store talks to SQLite through the standard library's `sqlite3` (SQLAlchemy cost ~0.5 s of
import time and doubled the cost of reading 10,000 rows). The SQL itself stays portable: plain
ANSI statements that PostgreSQL accepts too (`INSERT ... ON CONFLICT ... DO NOTHING/UPDATE`,
TEXT/INTEGER columns, dates as ISO 8601 UTC text); SQLite-only statements (PRAGMA) live in
`_connect()` alone.

Placeholders are sqlite3's named `:name` or qmark `?` style. A PostgreSQL adapter (psycopg)
would translate them to `%(name)s` / `%s` in its `Connection.execute`, and map the id column
type of `migrations.AUTO_ID`; nothing else in the store would change.

Rows are plain tuples (fastest to build and unpack); store functions unpack them by position.

Transactions (`Database.begin()`, `Connection.begin()`): reads run without taking any lock;
the first writing statement (INSERT/UPDATE/DELETE) issues `BEGIN IMMEDIATE` first, so a writer
waits for another process's writer (up to `busy_timeout`) instead of failing with "database is
locked" when a read transaction tries to upgrade. Everything from that write on is one
transaction: committed when the block ends, rolled back when it raises. This is the behaviour
the code had under SQLAlchemy with the pysqlite driver, with IMMEDIATE added. `begin(immediate=
True)` takes the write lock at once (migrations: check and apply atomically).
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from ..errors import DatabaseBusy, StoreError
from .migrations import MIGRATIONS, SCHEMA_MIGRATIONS, for_dialect

Params = Sequence[Any] | dict[str, Any]

POOL_SIZE = 8  # idle connections kept per Database (the web server and senders use threads)
BUSY_TIMEOUT = 30.0  # seconds a writer waits for another process's write lock (database.busy_timeout)

_READ_VERBS = ("SELECT", "PRAGMA", "EXPLAIN", "VALUES")
_writes: dict[str, bool] = {}  # statement text -> writes? (a cache: statements are constants)


def _is_write(sql: str) -> bool:
    """Anything but a plain read counts as a write (a `WITH ... INSERT` must not run outside
    the transaction)."""
    found = _writes.get(sql)
    if found is None:
        found = _writes[sql] = not sql.lstrip()[:7].upper().startswith(_READ_VERBS)
    return found


class Result:
    """The rows of one statement: `.all()`, `.first()`, `.one()`, `.scalar()`, `.scalars()`,
    iteration, `.rowcount` and `.lastrowid`. Rows are tuples."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    def all(self) -> list[tuple[Any, ...]]:
        return self._cursor.fetchall()

    def first(self) -> tuple[Any, ...] | None:
        row = self._cursor.fetchone()
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
        return [row[0] for row in self._cursor.fetchall()]

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self._cursor)

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid


def _busy_error(exc: sqlite3.OperationalError, database: "Database | None") -> BaseException:
    """The store's own error for "another process holds the write lock" (after the wait)."""
    if getattr(exc, "sqlite_errorcode", None) not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) \
            and "database is locked" not in str(exc):
        return exc
    path = database.path if database is not None else "the state database"
    timeout = database.busy_timeout if database is not None else BUSY_TIMEOUT
    return DatabaseBusy(
        f"the state database is busy (another process has held a write lock for {timeout:g} s): "
        f"{path}", "nothing was changed; try again once it is done, or raise "
        "database.busy_timeout")


class Connection:
    """One sqlite3 connection, used by one thread at a time (checked out of `Database`'s pool)."""

    __slots__ = ("raw", "_pending", "_database", "_origin")

    def __init__(self, raw: sqlite3.Connection, database: "Database | None" = None) -> None:
        self.raw = raw
        self._pending = False  # inside begin(), no write yet: BEGIN IMMEDIATE before the first
        self._database = database
        self._origin = database  # for messages (kept after close)

    dialect = "sqlite"

    def execute(self, sql: str, params: Params = ()) -> Result:
        try:
            if self._pending and _is_write(sql):
                self.raw.execute("BEGIN IMMEDIATE")
                self._pending = False
            return Result(self.raw.execute(sql, params))
        except sqlite3.OperationalError as exc:
            raise _busy_error(exc, self._origin) from None

    def executemany(self, sql: str, rows: Iterable[Params]) -> Result:
        try:
            if self._pending:
                self.raw.execute("BEGIN IMMEDIATE")
                self._pending = False
            return Result(self.raw.executemany(sql, rows))
        except sqlite3.OperationalError as exc:
            raise _busy_error(exc, self._origin) from None

    def scalar(self, sql: str, params: Params = ()) -> Any:
        return self.execute(sql, params).scalar()

    def scalars(self, sql: str, params: Params = ()) -> list[Any]:
        return self.execute(sql, params).scalars()

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
                self.raw.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise _busy_error(exc, self._origin) from None
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
            except sqlite3.OperationalError as exc:
                self.raw.rollback()
                raise _busy_error(exc, self._origin) from None

    def close(self) -> None:
        """Give the connection back to its database's pool (or close it)."""
        self._pending = False
        if self.raw.in_transaction:
            self.raw.rollback()
        if self._database is not None:
            self._database._release(self.raw)
            self._database = None
        else:
            self.raw.close()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Database:
    """A SQLite database file shared by threads: each `begin()`/`connect()` checks a connection
    out of a small pool and gives it back afterwards, so a connection is used by one thread at a
    time and nested blocks get separate connections (as with an SQLAlchemy Engine)."""

    def __init__(self, path: Path | str, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Database({self.path!r})"

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
        return Connection(self._acquire(), self)

    @contextmanager
    def begin(self, immediate: bool = False) -> Iterator[Connection]:
        """A connection in a transaction: committed when the block ends, rolled back if it raises."""
        conn = self.connect()
        try:
            with conn.begin(immediate):
                yield conn
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


def _connect(path: str, busy_timeout: float = BUSY_TIMEOUT) -> sqlite3.Connection:
    raw = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        # first: the WAL switch may wait for a lock
        raw.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA synchronous=NORMAL")
        raw.execute("PRAGMA foreign_keys=ON")
    except BaseException:
        raw.close()
        raise
    return raw


def open_database(path: Path | str, busy_timeout: float = BUSY_TIMEOUT) -> Database:
    """The SQLite database at `path` (created with its folder), migrated; writers wait up to
    `busy_timeout` seconds for another process's write lock, then raise DatabaseBusy."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    database = Database(path, busy_timeout)
    try:
        migrate(database)
    except DatabaseBusy:
        database.dispose()
        raise
    except sqlite3.Error as exc:
        database.dispose()
        message = " ".join(str(exc).split())
        raise StoreError(f"{path}: cannot open the state database: {message}") from None
    return database


def migrate(database: Database) -> list[int]:
    """Apply every migration not yet recorded; return the versions applied."""
    with database.connect() as conn:  # the usual case, up to date: no write lock taken
        try:
            if not _pending(conn):
                return []
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
    applied: list[int] = []
    with database.begin(immediate=True) as conn:  # one process migrates, the others wait
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

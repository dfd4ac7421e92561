"""The PostgreSQL backend: psycopg 3 with a psycopg_pool connection pool (see `db.py`).

The only importer of psycopg. Imported by `db.open_database()` only for a `postgresql://` URL,
so SQLite deployments never pay for it.

Same interface as the SQLite classes in `db.py`:
- statements keep sqlite3's `?` / `:name` placeholders and are rewritten, once per text, to
  PostgreSQL's `$1, $2, ...` (quoted text is left alone), run on a psycopg RawCursor;
- the migrations' DDL (CREATE TABLE, ALTER TABLE) is mapped once: INTEGER -> BIGINT
  (nanosecond mtimes), an `id INTEGER` primary key -> an identity column, TEXT -> TEXT COLLATE "C" (bytewise order, as SQLite
  compares, so ISO dates and names sort the same on both backends);
- connections run in autocommit; `begin()` issues BEGIN/COMMIT itself, so a read outside a
  transaction is its own short transaction, as on SQLite;
- a statement waits at most `database.busy_timeout` for a lock (`lock_timeout`), then
  `DatabaseBusy`;
- `submit()` sends a statement through libpq's asynchronous interface (prepared once per
  connection and text) and returns at once; `PgPending.result()` reads its rows when they have
  come (`fileno()` says when to look), decoded by column type (integers, booleans, text);
- the instance lock is a session advisory lock held on a connection of its own, released by
  the server the moment that connection ends (the holder exits or is killed). The connection
  names its process (`application_name`), which `lock_holder()` reads back.
"""

from __future__ import annotations

import re
import select
import weakref
from contextlib import contextmanager
from functools import partial
from typing import Any, Iterable, Iterator

import psycopg
import psycopg.errors
from psycopg import pq
from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import LockedError, DatabaseBusy, StoreError
from .db import (BUSY_TIMEOUT, POOL_SIZE, busy_error, LockHolder, Params, PooledConnection, Result,
                 client_label, lock_key, redact)

IMMEDIATE_KEY = lock_key("immediate")
INSTANCE_KEY = lock_key("instance")

# quoted text and `::` casts (left alone), `?`, `:name`
_TOKENS = re.compile(r"""('(?:[^']|'')*')|("(?:[^"]|"")*")|(::)|(\?)|:([A-Za-z_]\w*)""")
_ddl_texts: dict[str, str] = {}


def ddl_text(sql: str) -> str:
    """A statement without placeholders as PostgreSQL takes it: SQLite DDL mapped (cached)."""
    found = _ddl_texts.get(sql)
    if found is None:
        head = sql.lstrip()[:12].upper()
        found = _ddl_texts[sql] = _ddl(sql) if head in ("CREATE TABLE", "ALTER TABLE ") else sql
    return found


# Statements with placeholders are numbered here once per text and run on a psycopg RawCursor:
# handed psycopg's `%s`, psycopg numbers them itself on every execute and caches that only for
# a statement of at most 4,096 characters and 50 parameters, and for a 500-row planning INSERT
# (3,000 parameters) that was 62% of planning 100,000 subscribers.
_numbered_texts: dict[str, tuple[bytes, tuple[Any, ...]]] = {}


def numbered(sql: str) -> tuple[bytes, tuple[Any, ...]]:
    """sqlite3 placeholders to libpq's `$1, $2, ...` (a `:name` used twice is one number), and
    what fills each: the position of a `?` (int) or a name (str). Cached."""
    found = _numbered_texts.get(sql)
    if found is not None:
        return found
    keys: list[Any] = []
    positional = 0

    def swap(m: re.Match[str]) -> str:
        nonlocal positional
        if m.group(4):
            keys.append(positional)
            positional += 1
            return f"${len(keys)}"
        if m.group(5):
            if m.group(5) not in keys:
                keys.append(m.group(5))
            return f"${keys.index(m.group(5)) + 1}"
        return m.group(0)

    found = _numbered_texts[sql] = (_TOKENS.sub(swap, sql).encode("utf-8"), tuple(keys))
    return found


_INTEGER_TYPES = frozenset((20, 21, 23, 26))  # int8, int2, int4, oid
_BOOLEAN = 16
# The statements prepared by `submit()` on each server connection: (text, parameter types) ->
# statement name.
_prepared: "weakref.WeakKeyDictionary[psycopg.Connection, dict[tuple[bytes, tuple[int, ...]], bytes]]" = \
    weakref.WeakKeyDictionary()


def _wire_type(value: Any) -> int:
    """The parameter's type as execute() sends it: integers and booleans typed, text (and
    NULL) left for the server to infer from the statement."""
    if isinstance(value, bool):
        return _BOOLEAN
    return 20 if isinstance(value, int) else 0


def _wire(value: Any, encoding: str) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, (int, float)):
        return str(value).encode("ascii")
    return str(value).encode(encoding)


class PgPending:
    """A statement `submit()`ted on a connection: its result once the server has sent it."""

    __slots__ = ("_conn", "_rows", "_error")

    def __init__(self, conn: "PgConnection") -> None:
        self._conn = conn
        self._rows: list[tuple[Any, ...]] | None = None
        self._error: StoreError | None = None

    def fileno(self) -> int | None:
        """The socket to poll for reading while the statement runs (None once it is done)."""
        return None if self._finished else self._conn.raw.pgconn.socket

    @property
    def _finished(self) -> bool:
        return self._rows is not None or self._error is not None

    def done(self) -> bool:
        """Has the whole result arrived? (Reads what has come; never waits.)"""
        if self._finished:
            return True
        pgconn = self._conn.raw.pgconn
        try:
            pgconn.consume_input()
        except psycopg.Error as exc:
            self._fail(pg_error(exc, self._conn._origin))
            return True
        if pgconn.is_busy():
            return False
        self._collect()
        return True

    def result(self) -> list[tuple[Any, ...]]:
        """The rows (waiting for them); the statement's error as the store's."""
        while not self.done():
            poller = select.poll()
            poller.register(self._conn.raw.pgconn.socket, select.POLLIN)
            poller.poll()
        if self._error is not None:
            raise self._error
        assert self._rows is not None
        return self._rows

    def _fail(self, error: StoreError) -> None:
        self._error = error
        self._conn._submitted = None

    def _collect(self) -> None:
        pgconn = self._conn.raw.pgconn
        encoding = self._conn.raw.info.encoding
        rows: list[tuple[Any, ...]] = []
        error: StoreError | None = None
        while (res := pgconn.get_result()) is not None:
            if res.status == pq.ExecStatus.TUPLES_OK:
                types = [res.ftype(c) for c in range(res.nfields)]
                for r in range(res.ntuples):
                    row = []
                    for c, oid in enumerate(types):
                        value = res.get_value(r, c)
                        if value is None:
                            row.append(None)
                        elif oid in _INTEGER_TYPES:
                            row.append(int(value))
                        elif oid == _BOOLEAN:
                            row.append(value == b"t")
                        else:
                            row.append(value.decode(encoding))
                    rows.append(tuple(row))
            elif res.status != pq.ExecStatus.COMMAND_OK and error is None:
                error = pg_error(_driver_error(res, encoding), self._conn._origin)
        self._conn._submitted = None
        if error is not None:
            self._error = error
        else:
            self._rows = rows


def _driver_error(res: pq.abc.PGresult, encoding: str) -> psycopg.Error:
    """The psycopg exception a failed result stands for (e.g. LockNotAvailable)."""
    state = (res.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode("ascii")
    message = (res.error_message or b"").decode(encoding, "replace")
    try:
        return psycopg.errors.lookup(state)(message)
    except KeyError:
        return psycopg.DatabaseError(message)


_AUTO_ID = re.compile(r"\bid INTEGER NOT NULL,")


def _ddl(sql: str) -> str:
    if "PRIMARY KEY (id)" in sql:
        sql = _AUTO_ID.sub("id BIGINT GENERATED BY DEFAULT AS IDENTITY,", sql, count=1)
    sql = re.sub(r"\bINTEGER\b", "BIGINT", sql)
    return re.sub(r"\bTEXT\b", 'TEXT COLLATE "C"', sql)


def pg_error(exc: psycopg.Error, database: "PgDatabase | None" = None,
             action: str = "") -> StoreError:
    """A driver error as the store's own: DatabaseBusy for a lock not had in time."""
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        return busy_error(database.display if database else "the state database",
                          database.busy_timeout if database else BUSY_TIMEOUT)
    text = " ".join(str(exc).split())
    prefix = f"{action}: " if action else ""
    error = StoreError(f"state database: {prefix}{text}")
    error.detail = text  # type: ignore[attr-defined]  # the driver's words alone
    return error


class PgConnection(PooledConnection):
    """One pooled psycopg connection, used by one thread at a time."""

    __slots__ = ("raw", "_database", "_origin", "_in_tx", "_unbegun", "_submitted")

    dialect = "postgresql"

    def __init__(self, raw: psycopg.Connection, database: "PgDatabase | None") -> None:
        self.raw = raw
        self._database = database
        self._origin = database  # for messages (kept after close)
        self._in_tx = False
        self._unbegun = False  # in begin(), BEGIN not sent yet: it goes with the first statement
        self._submitted: PgPending | None = None  # a statement sent by submit(), not read yet

    def _settle(self) -> None:
        """Before any other use: the submitted statement's result read (kept for its caller)."""
        if self._submitted is not None:
            self._submitted.done() or self._submitted.result()

    def submit(self, sql: str, params: Params = ()) -> PgPending:
        """Send a statement (its own transaction) and return at once (see the module's doc)."""
        if self._in_tx:
            raise StoreError("submit() runs a statement of its own: not inside a transaction")
        self._settle()
        text, keys = numbered(sql)
        raw = self.raw
        encoding = raw.info.encoding
        given = [params[k] for k in keys]  # type: ignore[index,call-overload]
        values = [_wire(v, encoding) for v in given]
        types = tuple(_wire_type(v) for v in given)
        pgconn = raw.pgconn
        names = _prepared.setdefault(raw, {})
        try:
            name = names.get((text, types))
            if name is None:  # prepared once per connection (the server keeps its plan)
                name = f"publisher_submit_{len(names)}".encode("ascii")
                result = pgconn.prepare(name, text, types)
                if result.status != pq.ExecStatus.COMMAND_OK:
                    raise _driver_error(result, encoding)
                names[(text, types)] = name
            pgconn.send_query_prepared(name, values)
            while pgconn.flush():  # (rarely: the statement did not fit the socket at once)
                poller = select.poll()
                poller.register(pgconn.socket, select.POLLOUT)
                poller.poll()
        except psycopg.Error as exc:  # (raised by result(), as for an error while it runs)
            failed = PgPending(self)
            failed._error = pg_error(exc, self._origin)
            return failed
        pending = self._submitted = PgPending(self)
        return pending

    def execute(self, sql: str, params: Params = ()) -> Result:
        self._settle()
        native, keys = numbered(sql)
        if keys:
            values = [params[k] for k in keys]  # type: ignore[index,call-overload]
            run = partial(psycopg.RawCursor(self.raw).execute, native, values)
        else:
            run = partial(self.raw.execute, ddl_text(sql))
        try:
            if self._unbegun:  # BEGIN and this statement in one round trip
                self._unbegun = False
                with self.raw.pipeline():
                    self.raw.execute("BEGIN")
                    cursor = run()
                return Result(cursor)
            return Result(run())
        except psycopg.Error as exc:
            raise pg_error(exc, self._origin) from None

    def executemany(self, sql: str, rows: Iterable[Params]) -> Result:
        self._settle()
        native, keys = numbered(sql)
        values = ([row[k] for k in keys] for row in rows)  # type: ignore[index,call-overload]
        try:
            cursor = psycopg.RawCursor(self.raw)
            if self._unbegun:
                self._unbegun = False
                with self.raw.pipeline():
                    self.raw.execute("BEGIN")
                    cursor.executemany(native, values)
            else:
                cursor.executemany(native, values)
            return Result(cursor)
        except psycopg.Error as exc:
            raise pg_error(exc, self._origin) from None

    def scalar(self, sql: str, params: Params = ()) -> Any:
        return self.execute(sql, params).scalar()

    def scalars(self, sql: str, params: Params = ()) -> list[Any]:
        return self.execute(sql, params).scalars()

    def insert(self, sql: str, params: Params = ()) -> int:
        return int(self.execute(sql, params).one()[0])

    def serialize(self, name: str) -> None:
        if not self._in_tx:
            raise StoreError("serialize() needs a transaction (use `with db.begin() as conn:`)")
        self.execute("SELECT pg_advisory_xact_lock(?)", (lock_key(name),)).all()

    def claim(self, table: str, set_sql: str, where_sql: str, order_by: str, limit: int,
              returning: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        sql = (f"UPDATE {table} SET {set_sql} WHERE id IN (SELECT t.id FROM {table} t "
               f"WHERE {where_sql} ORDER BY {order_by} LIMIT :claim_limit "
               f"FOR UPDATE OF t SKIP LOCKED) RETURNING {returning}")
        return self.execute(sql, {**(params or {}), "claim_limit": limit}).all()

    def reset_ids(self, table: str) -> None:
        """After rows were inserted with explicit ids: new ids continue after the largest
        (tables whose id is an identity column; others have nothing to reset)."""
        sequence = self.scalar("SELECT pg_get_serial_sequence(?, 'id')", (table,))
        if sequence is not None:
            self.execute(f"SELECT setval(?, coalesce((SELECT max(id) FROM {table}), 0) + 1, "
                         "false)", (sequence,)).all()

    @property
    def in_transaction(self) -> bool:
        return self._in_tx

    @contextmanager
    def begin(self, immediate: bool = False) -> Iterator["PgConnection"]:
        if self._in_tx:
            raise StoreError("a transaction is already open on this connection")
        self._settle()
        self._in_tx = True
        self._unbegun = True  # sent with the first statement (one round trip fewer)
        try:
            if immediate:
                self.execute("SELECT pg_advisory_xact_lock(?)", (IMMEDIATE_KEY,)).all()
            yield self
        except BaseException:
            self._in_tx = False
            if not self._unbegun:
                self._rollback()
            self._unbegun = False
            raise
        self._in_tx = False
        if self._unbegun:  # nothing was run: nothing to commit
            self._unbegun = False
            return
        try:
            self.raw.execute("COMMIT")
        except psycopg.Error as exc:
            self._rollback()
            raise pg_error(exc, self._origin, "commit") from None

    def _rollback(self) -> None:
        try:
            self.raw.execute("ROLLBACK")
        except psycopg.Error:
            pass  # a broken connection: the pool discards it

    def close(self) -> None:
        try:
            self._settle()
        except StoreError:
            pass  # (its caller did not want it; a broken connection is the pool's to drop)
        if self._in_tx:
            self._in_tx = False
            if not self._unbegun:
                self._rollback()
            self._unbegun = False
        self._give_back()


class PgDatabase:
    """A PostgreSQL database shared by threads through a connection pool (opened lazily)."""

    backend = "postgresql"

    def __init__(self, url: str, password: str | None = None,
                 busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.url = url
        self.path = url  # what messages name
        self.busy_timeout = busy_timeout
        self._kwargs: dict[str, Any] = {"autocommit": True, "application_name": client_label()}
        if password:
            self._kwargs["password"] = password
        self._pool: ConnectionPool | None = None

    def __repr__(self) -> str:
        return f"PgDatabase({self.display!r})"

    @property
    def display(self) -> str:
        return redact(self.url)

    def _get_pool(self) -> ConnectionPool:
        if self._pool is None:
            try:  # first one plain connection: a wrong url or password fails at once, clearly
                psycopg.connect(self.url, connect_timeout=10, **self._kwargs).close()
            except psycopg.Error as exc:
                error = StoreError(f"{self.display}: cannot connect: "
                                   + " ".join(str(exc).split()),
                                   "check database.url (or PUBLISHER_DATABASE_URL) and the "
                                   "password in PGPASSWORD or PUBLISHER_DATABASE_PASSWORD")
                error.detail = "cannot connect: " + " ".join(str(exc).split())  # type: ignore[attr-defined]
                raise error from None
            pool = ConnectionPool(
                self.url, min_size=1, max_size=POOL_SIZE * 2, kwargs=self._kwargs,
                configure=self._configure, open=False, timeout=self._wait, name="publisher")
            try:
                pool.open(wait=True, timeout=self._wait)
            except PoolTimeout:
                pool.close()
                raise StoreError(f"{self.display}: cannot connect (timed out)") from None
            self._pool = pool
        return self._pool

    @property
    def _wait(self) -> float:
        """Seconds to wait for a pooled connection (at least 10: the server may be starting)."""
        return max(10.0, self.busy_timeout)

    def _configure(self, raw: psycopg.Connection) -> None:
        """Each new connection: waits for locks at most busy_timeout (0 in PostgreSQL is
        "forever", so 1 ms stands for "do not wait")."""
        raw.execute(f"SET lock_timeout = {max(1, int(self.busy_timeout * 1000))}")

    def _release(self, raw: psycopg.Connection) -> None:
        if self._pool is not None:
            self._pool.putconn(raw)
        else:
            raw.close()

    def connect(self) -> PgConnection:
        try:
            return PgConnection(self._get_pool().getconn(), self)
        except PoolTimeout:
            raise DatabaseBusy(f"{self.display}: no free database connection within "
                               f"{self._wait:g} s", "raise the server's max_connections, or "
                               "run fewer processes") from None

    @contextmanager
    def begin(self, immediate: bool = False) -> Iterator[PgConnection]:
        conn = self.connect()
        try:
            with conn.begin(immediate):
                yield conn
        finally:
            conn.close()

    @contextmanager
    def bulk(self) -> Iterator[PgConnection]:
        """A connection for a long run of large write transactions (the server sizes its own
        caches: an ordinary pooled connection)."""
        conn = self.connect()
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def snapshot(self) -> Iterator[PgConnection]:
        """A read-only connection that sees one moment of the database throughout."""
        conn = self.connect()
        try:
            with conn.begin():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield conn
        finally:
            conn.close()

    def checkpoint(self) -> None:
        """Nothing to do: the server manages its own write-ahead log."""

    def dispose(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def instance_lock(self) -> "PgInstanceLock":
        return PgInstanceLock(self)

    def lock_holder(self) -> LockHolder | None:
        with self.connect() as conn:
            row = conn.execute(
                "SELECT a.application_name, host(a.client_addr) FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                "AND l.granted AND l.classid = ?::bigint::oid AND l.objid = ?::bigint::oid "
                "AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database "
                "WHERE datname = current_database())", _key_halves(INSTANCE_KEY)).first()
        if row is None:
            return None
        return _holder(row[0] or "", row[1] or "")

    def table_names(self) -> list[str]:
        with self.connect() as conn:
            return conn.scalars("SELECT tablename FROM pg_tables WHERE schemaname = "
                                "current_schema()")

    def session(self) -> psycopg.Connection:
        """A connection outside the pool (the instance lock holds one for its lifetime)."""
        try:
            raw = psycopg.connect(self.url, connect_timeout=10, **self._kwargs)
            # notice a vanished client machine within ~30 s (a killed process at once)
            raw.execute("SET tcp_keepalives_idle = 10")
            raw.execute("SET tcp_keepalives_interval = 5")
            raw.execute("SET tcp_keepalives_count = 4")
            return raw
        except psycopg.Error as exc:
            raise pg_error(exc, self, f"{self.display}: cannot connect") from None


def _key_halves(key: int) -> tuple[int, int]:
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return unsigned >> 32, unsigned & 0xFFFFFFFF


def _holder(application_name: str, client_host: str) -> LockHolder:
    fields = dict(part.split("=", 1) for part in application_name.split() if "=" in part)
    pid = fields.get("pid", "")
    return LockHolder(int(pid) if pid.isdigit() else None, fields.get("host", client_host))


class PgInstanceLock:
    """`pg_try_advisory_lock` on a session of its own; LockedError when another holds it."""

    def __init__(self, database: PgDatabase) -> None:
        self.database = database
        self._raw: psycopg.Connection | None = None

    def acquire(self) -> None:
        raw = self.database.session()
        try:
            got = raw.execute("SELECT pg_try_advisory_lock(%s)", (INSTANCE_KEY,)).fetchone()
        except psycopg.Error as exc:
            raw.close()
            raise pg_error(exc, self.database, "instance lock") from None
        if not (got and got[0]):
            raw.close()
            holder = self.database.lock_holder()
            who = f"process {holder.pid}" if holder and holder.pid else "another process"
            where = f" from host {holder.host}" if holder and holder.host else ""
            raise LockedError(
                f"another publisher is already running against this state database: {who} "
                f"holds the instance lock of {self.database.display}{where}",
                "stop it first, or wait for it to finish")
        self._raw = raw

    def release(self) -> None:
        if self._raw is not None:
            try:
                self._raw.execute("SELECT pg_advisory_unlock(%s)", (INSTANCE_KEY,))
            except psycopg.Error:
                pass
            self._raw.close()
            self._raw = None

    def __enter__(self) -> "PgInstanceLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

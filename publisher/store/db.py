"""Opening the database: engine, SQLite pragmas, migrations, transactions."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from sqlalchemy import Connection, Engine, create_engine, event, insert, select
from sqlalchemy.exc import DatabaseError, OperationalError

from ..errors import StoreError
from . import tables
from .migrations import MIGRATIONS


def open_database(path: Path | str) -> Engine:
    """An engine for a SQLite file (created with its folder) or any SQLAlchemy url, migrated."""
    url = str(path)
    if "://" not in url:
        Path(url).parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{url}"
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        migrate(engine)
    except (OperationalError, DatabaseError) as exc:
        raise StoreError(f"{path}: cannot open the state database: {exc.orig}") from None
    return engine


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def migrate(engine: Engine) -> list[int]:
    """Apply every migration not yet recorded; return the versions applied."""
    applied: list[int] = []
    with engine.begin() as conn:
        tables.schema_migrations.create(conn, checkfirst=True)
        done = set(conn.scalars(select(tables.schema_migrations.c.version)))
        for version, name, apply in MIGRATIONS:
            if version in done:
                continue
            apply(conn)
            conn.execute(
                insert(tables.schema_migrations).values(
                    version=version, name=name, applied_at=utc_text(datetime.now(timezone.utc))
                )
            )
            applied.append(version)
    return applied


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    with engine.begin() as conn:
        yield conn


def utc_text(moment: datetime) -> str:
    """An aware datetime as sortable ISO 8601 text in UTC."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text)

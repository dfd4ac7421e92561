"""Copying a whole store to another database (`publisher db copy --to ...`): SQLite to
PostgreSQL to move a deployment, or back, or to another file.

Every table the migrations create is copied row by row, in migration order (parents before the
rows that point at them), inside one transaction on the target: a failure leaves the target as
it was. The source is read in one snapshot, so a copy taken while the publisher runs is
consistent. The target must be empty (freshly migrated); rows the migrations themselves write
(e.g. the planner lock's row) are replaced by the source's.

The full-text search index is not copied: its tables differ per backend (migrations.PerDialect)
and hold nothing but what the articles give; the web server fills the target's index again
from the copied articles (store/search.py).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any, Callable

from ..errors import StoreError
from .db import Database, open_database
from .migrations import MIGRATIONS

BATCH = 2000
_CREATE = re.compile(r"^\s*CREATE TABLE IF NOT EXISTS (\w+)", re.I)


def store_tables() -> list[str]:
    """Every table of the schema, in the order the migrations create them."""
    names: list[str] = []
    for _version, _name, statements in MIGRATIONS:
        for statement in statements:
            if not isinstance(statement, str):  # per-backend (search index): derived, not copied
                continue
            found = _CREATE.match(statement)
            if found and found.group(1) not in names:
                names.append(found.group(1))
    return names


def seeded_tables() -> set[str]:
    """Tables that a freshly migrated store already has rows in (written by migrations)."""
    with tempfile.TemporaryDirectory(prefix="publisher-copy-") as folder:
        empty = open_database(Path(folder) / "empty.db")
        try:
            with empty.connect() as conn:
                return {t for t in store_tables()
                        if conn.scalar(f"SELECT count(*) FROM {t}")}
        finally:
            empty.dispose()


def table_rows(database: Database, table: str) -> list[tuple[Any, ...]]:
    """Every row of `table`, in a stable order (for comparing two stores)."""
    with database.connect() as conn:
        return sorted(conn.execute(f"SELECT * FROM {table}").all(), key=_sort_key)


def _sort_key(row: tuple[Any, ...]) -> tuple[tuple[bool, str], ...]:
    return tuple((value is None, str(value)) for value in row)


def copy_store(source: Database, target: Database,
               progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Copy every table of `source` into the empty store `target`; return rows per table."""
    tables = store_tables()
    seeded = seeded_tables()
    copied: dict[str, int] = {}
    with source.snapshot() as src, target.begin() as dst:
        dst.serialize("migrations")  # nobody migrates or copies into it meanwhile
        for table in tables:
            if table not in seeded and dst.scalar(f"SELECT count(*) FROM {table}"):
                raise StoreError(
                    f"{target.display}: table {table} already has rows: copy only into an "
                    "empty database", "create a new database, or drop this one's tables first")
        for table in tables:
            if table in seeded:
                dst.execute(f"DELETE FROM {table}")
            result = src.execute(f"SELECT * FROM {table}")
            columns = ", ".join(f'"{c}"' for c in result.columns)
            marks = ", ".join("?" * len(result.columns))
            insert = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
            count = 0
            batch: list[tuple[Any, ...]] = []
            for row in result:
                batch.append(row)
                if len(batch) >= BATCH:
                    dst.executemany(insert, batch)
                    count += len(batch)
                    batch = []
            if batch:
                dst.executemany(insert, batch)
                count += len(batch)
            if "id" in result.columns:
                dst.reset_ids(table)
            copied[table] = count
            if progress is not None:
                progress(table, count)
    return copied

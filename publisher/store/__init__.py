"""Every SQL statement of the publisher: plain, portable SQL on SQLite or PostgreSQL (`db.py`).

`open_store(settings)` / `open_database(path_or_url)` give a migrated `Database`; the table modules take a
`Connection`, so the caller decides what one transaction covers (`with db.begin() as conn:`).
"""

from .db import Connection, Database, open_database, open_store, transaction

__all__ = ["Connection", "Database", "open_database", "open_store", "transaction"]

"""Every SQL statement of the publisher: plain, portable SQL through the standard `sqlite3`.

`open_database()` gives a `Database` with the schema migrated; the table modules take a
`Connection`, so the caller decides what one transaction covers (`with db.begin() as conn:`).
"""

from .db import Connection, Database, open_database, transaction

__all__ = ["Connection", "Database", "open_database", "transaction"]

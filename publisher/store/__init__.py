"""Every SQL statement of the publisher: SQLAlchemy Core, portable between SQLite and PostgreSQL.

`open_database()` gives an engine with the schema migrated; the table modules take a
`Connection`, so the caller decides what one transaction covers.
"""

from .db import open_database, transaction
from .tables import metadata

__all__ = ["open_database", "transaction", "metadata"]

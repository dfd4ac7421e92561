"""Schema migrations, applied in order, each recorded in `schema_migrations`.

Append new migrations at the end with the next number; never edit one that has shipped.
"""

from __future__ import annotations

from typing import Callable

from sqlalchemy import Connection

from . import tables


def _create(*names: str) -> Callable[[Connection], None]:
    def apply(conn: Connection) -> None:
        tables.metadata.create_all(conn, tables=[tables.metadata.tables[n] for n in names])

    return apply


MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "articles, seed files and feed outputs", _create("articles", "seed_files", "feed_outputs")),
    (2, "subscribers", _create("subscribers")),
    (3, "digests and deliveries", _create("digests", "deliveries")),
    (4, "web confirmation mails", _create("confirmation_mails")),
    (5, "scheduler: seed watch, runs, schedule slots",
     _create("seed_watch", "scheduler_runs", "schedule_slots")),
]

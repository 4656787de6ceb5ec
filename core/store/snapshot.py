"""A read-only look at the SQLite store without an event loop: the CLI's quick reads (`orch task list`, `orch task
show`) take it instead of the async store, whose asyncio and aiosqlite cost most of a short command's run.

It reads what the async store reads (orch.core.store.sqlite_reads), never writes, and is only for a file already
at the current schema: a missing or older file goes through the async store, which creates or migrates it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TypeVar

from orch.core.store.sqlite_reads import Read
from orch.core.store.sqlite_schema import MIGRATIONS

T = TypeVar("T")
# As the async store: wait for another process's write instead of failing at once.
BUSY_TIMEOUT_SECONDS = 30.0


class SqliteSnapshot:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    @classmethod
    def open(cls, path: Path) -> SqliteSnapshot | None:
        """The snapshot of the store at `path`; None when there is no file or its schema is not the current one."""
        if not path.is_file():
            return None
        db = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS)
        db.execute("PRAGMA query_only = ON")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version != len(MIGRATIONS):
            db.close()
            return None
        return cls(db)

    def read(self, query: Read[T]) -> T:
        return query.convert(self._db.execute(query.sql, query.params).fetchall())

    def close(self) -> None:
        self._db.close()

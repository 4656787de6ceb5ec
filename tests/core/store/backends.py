"""Every Store implementation the contract suite runs against, and how to open one on a given database.

A new implementation is one entry in BACKENDS, plus the fixture (in conftest.py) that gives each test an empty
database of its own. The writer subprocess of the contract suite opens its store through the same entry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from orch.core.store.base import Store
from orch.core.store.postgres import PostgresStore
from orch.core.store.sqlite import SqliteStore


@dataclass(frozen=True)
class Backend:
    name: str
    database_fixture: str  # the fixture giving the location (a path or a URL) of an empty database for one test
    open: Callable[[str], Awaitable[Store]]  # a new Store object, with its own connection, on that database


async def _open_sqlite(location: str) -> Store:
    return await SqliteStore.open(Path(location))


BACKENDS: dict[str, Backend] = {backend.name: backend for backend in (
    Backend("sqlite", "sqlite_database", _open_sqlite),
    Backend("postgres", "postgres_database", PostgresStore.open),  # the fixture is in tests/conftest.py
)}

"""Fixtures of the store tests: the contract suite's `store` runs once per implementation in backends.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from orch.core.store.base import Store

from tests.core.store.backends import BACKENDS, Backend

OpenStore = Callable[[], Awaitable[Store]]


@pytest.fixture
def sqlite_database(tmp_path: Path) -> str:
    return str(tmp_path / "store" / "orch.db")


@pytest.fixture(params=list(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Backend:
    return BACKENDS[request.param]


@pytest.fixture
def database(backend: Backend, request: pytest.FixtureRequest) -> str:
    """Where this test's empty database is, in the form `backend.open` takes."""
    location = request.getfixturevalue(backend.database_fixture)
    assert isinstance(location, str)
    return location


@pytest.fixture
async def open_store(backend: Backend, database: str) -> AsyncIterator[OpenStore]:
    """Opens another Store object on the test's database, as a second process would; all closed at the end."""
    opened: list[Store] = []

    async def open_another() -> Store:
        store = await backend.open(database)
        opened.append(store)
        return store

    yield open_another
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store: OpenStore) -> Store:
    return await open_store()

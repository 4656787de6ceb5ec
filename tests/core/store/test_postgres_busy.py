"""A PostgreSQL store whose rows another connection keeps locked says Busy — one line, nothing changed — once its
lock timeout (or a statement_timeout the URL sets) runs out, as the SQLite store does for a locked file; and the
same write goes through once the lock is gone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

import psycopg
import pytest
from orch.core.errors import Busy
from orch.core.store.postgres import PostgresStore
from orch.core.tasks.models import NewTask, TaskStatus


@pytest.fixture
async def other(postgres_database: str) -> AsyncIterator[psycopg.AsyncConnection[tuple[object, ...]]]:
    """Another process's connection, which will hold a lock."""
    async with await psycopg.AsyncConnection.connect(postgres_database, autocommit=True) as conn:
        yield conn


@pytest.mark.parametrize("timeout", ["lock_timeout", "statement_timeout"])
async def test_a_lock_held_past_the_timeout_is_busy_and_changes_nothing(
        postgres_database: str, other: psycopg.AsyncConnection[tuple[object, ...]], timeout: str) -> None:
    if timeout == "lock_timeout":
        store = await PostgresStore.open(postgres_database, lock_timeout=0.2)
    else:
        # A server-side statement_timeout the operator set in the URL, shorter than orch's lock timeout.
        url = f"{postgres_database}&options={quote('-c statement_timeout=200')}"
        store = await PostgresStore.open(url, lock_timeout=30)
    try:
        task = await store.create_task(NewTask("locked"))
        async with other.transaction():
            await other.execute("SELECT id FROM tasks WHERE id = %s FOR UPDATE", (task.id,))
            with pytest.raises(Busy) as raised:
                await store.transition(task.id, TaskStatus.CANCELLED)
            assert str(raised.value).startswith("the store is busy: ")
            assert "\n" not in str(raised.value) and str(raised.value).endswith("nothing was changed, try again")
        after = await store.get_task(task.id)
        assert after is not None and after.status is TaskStatus.NEW
        assert await store.transition(task.id, TaskStatus.CANCELLED) is not None
    finally:
        await store.close()

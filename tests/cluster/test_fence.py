"""The lease fence: a worker's store writes only about tasks its host holds; once another host takes a task over,
the first one's writes about it are refused by the database, in the writing transaction."""

from __future__ import annotations

import psycopg
import pytest
from orch.core.cluster.db import ClusterDb
from orch.core.store.postgres import PostgresStore
from orch.core.tasks.models import Chunk, NewTask, TaskStatus

FENCE = "OR001"  # the SQLSTATE the fence raises


async def test_a_host_that_lost_the_lease_writes_nothing_about_the_task(postgres_database: str) -> None:
    serve = await PostgresStore.open(postgres_database)
    first = await PostgresStore.open(postgres_database, fence_host="w1")
    second = await PostgresStore.open(postgres_database, fence_host="w2")
    leases = await ClusterDb.open(postgres_database)
    try:
        task = await serve.create_task(NewTask("moved"))
        assert await leases.take_lease(task.id, "w1") == (1, None)
        await first.append_chunks([Chunk(task.id, 1, "from w1", 1.0)], attempt=1, byte_offset=8)
        with pytest.raises(psycopg.Error) as refused:
            await second.append_chunks([Chunk(task.id, 2, "w2 before its lease", 2.0)], attempt=1, byte_offset=9)
        assert refused.value.sqlstate == FENCE

        assert await leases.take_lease(task.id, "w2") == (2, "w1")
        for write in (first.append_chunks([Chunk(task.id, 2, "stale", 2.0)], attempt=1, byte_offset=16),
                      first.transition(task.id, TaskStatus.DONE), first.update_task(task.id, summary="stale")):
            with pytest.raises(psycopg.Error) as refused:
                await write
            assert refused.value.sqlstate == FENCE
        await second.append_chunks([Chunk(task.id, 2, "from w2", 3.0)], attempt=1, byte_offset=20)
        assert [chunk.content for chunk in await serve.chunks_after(task.id, 0)] == ["from w1", "from w2"]
        assert await serve.capture_offset(task.id, 1) == 20
        # serve and the CLI write without a host: never fenced.
        assert (await serve.transition(task.id, TaskStatus.CANCELLED)) is not None
    finally:
        for store in (serve, first, second):
            await store.close()
        await leases.close()

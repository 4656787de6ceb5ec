"""Reading a task's stored output: chunks by sequence number, the source of truth every follower reads from."""

from __future__ import annotations

from orch.core.store.base import Store
from orch.core.tasks.models import Chunk


class OutputService:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def after(self, task_id: int, after_seq: int, limit: int = 1000) -> list[Chunk]:
        """The chunks with seq > after_seq, in order, at most `limit`."""
        return await self._store.chunks_after(task_id, after_seq, limit)

    async def last_seq(self, task_id: int) -> int:
        """The seq of the task's newest chunk (0 when it has printed nothing)."""
        return await self._store.last_seq(task_id)

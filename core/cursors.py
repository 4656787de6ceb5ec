"""Small named positions a transport keeps between runs (Telegram's update offset), stored in orch's store."""

from __future__ import annotations

from orch.core.store.base import Store


class Cursors:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def get(self, key: str) -> str | None:
        return await self._store.kv_get(key)

    async def set(self, key: str, value: str) -> None:
        await self._store.kv_set(key, value)

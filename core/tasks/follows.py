"""Which chats follow which tasks, and how far each has been sent: kept in the store, so a restart of
`orch serve` continues every follow where it stopped."""

from __future__ import annotations

from orch.core.store.base import Follow, Store


class FollowService:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def add(self, transport: str, chat_id: str, task_id: int, after_seq: int) -> None:
        """Follow from just after `after_seq`; a follow that exists already keeps its position."""
        await self._store.add_follow(transport, chat_id, task_id, after_seq)

    async def remove(self, transport: str, chat_id: str, task_id: int) -> bool:
        return await self._store.remove_follow(transport, chat_id, task_id)

    async def all(self, transport: str | None = None) -> list[Follow]:
        return await self._store.list_follows(transport=transport)

    async def delivered(self, transport: str, chat_id: str, task_id: int, seq: int) -> None:
        """Everything up to `seq` reached the chat (never moves a follow backwards)."""
        await self._store.set_follow_seq(transport, chat_id, task_id, seq)

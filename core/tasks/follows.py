"""Which chats follow which tasks, and how far each has been sent: kept in the store, so a restart of
`orch serve` continues every follow where it stopped."""

from __future__ import annotations

from orch.core.errors import UserError
from orch.core.store.base import Store
from orch.core.store.records import Follow

NOTIFY_LEVELS = ("all", "errors", "none")
_NOTIFY_KEY = "notify.{transport}.{chat}"


class FollowService:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def notify_level(self, transport: str, chat_id: str) -> str:
        """What a chat is told of the tasks it follows: all status changes, errors only (a task that needs a
        person), or none (`/notify`)."""
        return await self._store.kv_get(_NOTIFY_KEY.format(transport=transport, chat=chat_id)) or "all"

    async def set_notify_level(self, transport: str, chat_id: str, level: str) -> None:
        if level not in NOTIFY_LEVELS:
            raise UserError(f"notify takes {', '.join(NOTIFY_LEVELS)}, not {level!r}")
        await self._store.kv_set(_NOTIFY_KEY.format(transport=transport, chat=chat_id), level)

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

"""The Transport seam."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol

from orch.bot.chat import Capabilities, ChatRef, CommandSink


class CursorStore(Protocol):
    """Where a transport keeps how far it has read its service's updates (orch.db's kv table in serve)."""

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str) -> None: ...


class KeyValueStore(Protocol):
    async def kv_get(self, key: str) -> str | None: ...

    async def kv_set(self, key: str, value: str) -> None: ...


class KvCursor:
    """A CursorStore over the store's kv_get/kv_set, so a transport gets its cursor without the Store."""

    def __init__(self, store: KeyValueStore) -> None:
        self._store = store

    async def get(self, key: str) -> str | None:
        return await self._store.kv_get(key)

    async def set(self, key: str, value: str) -> None:
        await self._store.kv_set(key, value)


class Transport(ABC):
    """One chat service inside `orch serve`.

    start() returns once the transport is receiving (its own background tasks do the work) and hands every
    command it receives to the sink; stop() ends them. Implements bot.chat.ChatPort.
    """

    name: str
    capabilities: Capabilities

    @abstractmethod
    async def start(self, sink: CommandSink) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    def is_allowed(self, chat: ChatRef) -> bool: ...

    @abstractmethod
    async def send(self, chat_id: str, text: str, *, preformatted: bool = False) -> str: ...

    @abstractmethod
    async def edit(self, chat_id: str, message_id: str, text: str, *, preformatted: bool = False) -> None: ...

    def rendered_length(self, text: str, preformatted: bool) -> int:
        return len(text)

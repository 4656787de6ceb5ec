"""The Transport seam."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol

from orch.bot.chat import Capabilities, ChatRef, CommandSink


class CursorStore(Protocol):
    """Where a transport keeps how far it has read its service's updates (orch.core.cursors in serve)."""

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str) -> None: ...


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

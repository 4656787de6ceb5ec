"""Outboxes: how followed output and notices reach one transport's chats.

LineOutbox serves transports without message limits (the terminal): each line goes out at once as
`[N] line`. Chat services with limits get MessageOutbox (bot/message_outbox.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from orch.bot.chat import ChatPort


class Outbox(ABC):
    @abstractmethod
    async def output(self, chat_id: str, task_id: int, lines: Sequence[str]) -> None:
        """Queue lines of a task's output for a chat; returns once they are accepted (not necessarily sent)."""

    @abstractmethod
    async def notice(self, chat_id: str, text: str) -> None:
        """Queue a plain message, delivered after every output line queued before it."""

    async def flush(self) -> None:
        """Wait until everything queued has been delivered."""

    async def close(self) -> None:
        """Deliver what is queued, then stop."""


class LineOutbox(Outbox):
    def __init__(self, port: ChatPort) -> None:
        self._port = port

    async def output(self, chat_id: str, task_id: int, lines: Sequence[str]) -> None:
        if lines:
            await self._port.send(chat_id, "\n".join(f"[{task_id}] {line}" for line in lines))

    async def notice(self, chat_id: str, text: str) -> None:
        await self._port.send(chat_id, text)

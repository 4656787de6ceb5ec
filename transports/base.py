"""The Transport seam: what every chat service (stdout, Telegram, Discord) implements for `orch serve`.

A transport receives commands and renders, measures and sends text; splitting and pacing are its outbox's
(bot/outbox.py), which every reply, notice, output line and file goes through (Discord's answers to its
interactions aside: they have a channel of their own, see transports/discord/transport.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Protocol

from orch.bot.chat import Button, Capabilities, ChatRef, CommandSink, Mention
from orch.bot.outbox import Outbox


class Unreachable(Exception):
    """Raised by Transport.start when the chat service cannot be reached (no network, a wrong base_url, its
    servers failing): nothing of the transport is left running, and starting again later may work."""


class CursorStore(Protocol):
    """Where a transport keeps how far it has read its service's updates (orch.core.cursors in serve)."""

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str) -> None: ...


class Transport(ABC):
    """One chat service inside `orch serve`.

    start() returns once the transport is receiving (its own background tasks do the work), hands every
    command it receives to the sink and delivers the replies through `outbox`, the one BotApp was given for
    this transport; stop() ends them. Implements bot.chat.ChatPort.
    """

    name: str
    capabilities: Capabilities

    @abstractmethod
    async def start(self, sink: CommandSink, outbox: Outbox) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    def is_allowed(self, chat: ChatRef) -> bool: ...

    def allow_hint(self, chat: ChatRef) -> str:
        """What a refused chat is told besides the refusal: its ids and the keys to add them to. A transport that
        refuses nobody (the terminal) has nothing to say."""
        return ""

    @abstractmethod
    async def send(self, chat_id: str, text: str, *, preformatted: bool = False,
                   buttons: Sequence[Button] = (), mention: Mention | None = None) -> str: ...

    @abstractmethod
    async def edit(self, chat_id: str, message_id: str, text: str, *, preformatted: bool = False,
                   buttons: Sequence[Button] = ()) -> None: ...

    @abstractmethod
    async def send_file(self, chat_id: str, filename: str, data: bytes, caption: str) -> str: ...

    @abstractmethod
    def min_interval(self, chat_id: str) -> float: ...

    def rendered_length(self, text: str, preformatted: bool) -> int:
        return len(text)

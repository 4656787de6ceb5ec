"""The bot as transports see it: one CommandSink that runs commands and keeps chats following their tasks.

BotApp only wires the parts together — bot.dispatch runs commands, bot.follows pumps task output to chats,
bot.announce tells chosen chats about tasks that scheduled jobs create, bot.threads knows which chat messages
are about which task — over the transports attached to it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping
from typing import Protocol

from orch.bot.announce import JobAnnouncer
from orch.bot.chat import ChatPort, ChatRef, Reply
from orch.bot.commands import COMMANDS
from orch.bot.dispatch import NOT_ALLOWED, Dispatcher
from orch.bot.follows import FollowPumps
from orch.bot.outbox import LineOutbox, Outbox
from orch.bot.threads import TaskMessages
from orch.core.events import EventHub
from orch.core.services import Services

__all__ = ["NOT_ALLOWED", "BotApp", "OutboxFactory"]

OutboxFactory = Callable[[ChatPort], Outbox]

log = logging.getLogger("orch.bot")


class EngineStatus(Protocol):
    """The engine as /status sees it."""

    def status_lines(self) -> list[str]: ...


class BotApp:
    def __init__(self, services: Services, engine: EngineStatus, hub: EventHub,
                 outbox_factory: OutboxFactory | None = None) -> None:
        self.engine = engine  # whose lines /status shows, asked at each /status
        self._outbox_factory = outbox_factory
        # The parts read these as transports are attached; each is the one record of what is attached.
        self._ports: dict[str, ChatPort] = {}
        self._outboxes: dict[str, Outbox] = {}
        self._messages = TaskMessages(services.tasks)
        self._follows = FollowPumps(services, hub, self._outboxes, self._messages)
        self._dispatcher = Dispatcher(COMMANDS, services, self._follows, self._ports,
                                      lambda: self.engine.status_lines())
        self._announcer = JobAnnouncer(services, hub, self._outboxes, self._follows)

    def attach(self, port: ChatPort, outbox: Outbox | None = None, *, jobs_chat: str | None = None) -> None:
        """Serve a transport. `jobs_chat`: a chat of it that hears about, and follows, tasks scheduled jobs create."""
        self._ports[port.name] = port
        if outbox is None:
            outbox = self._outbox_factory(port) if self._outbox_factory else LineOutbox(port)
        self._outboxes[port.name] = outbox
        outbox.report_sent(functools.partial(self._messages.sent, port.name))
        if jobs_chat is not None:
            self._announcer.add_chat(ChatRef(port.name, jobs_chat))

    async def start(self) -> None:
        """Continue every persisted follow of the attached transports from where it stopped; hear jobs fire."""
        await self._follows.resume()
        self._announcer.start()

    async def drain(self, seconds: float) -> None:
        """Stop queueing task output, then wait up to `seconds` for the outboxes to deliver what is queued.

        Serve calls it while the transports still run, so what is queued at shutdown goes out before they close:
        a follow counts its lines delivered once they are queued, so a line lost from an outbox is not sent again
        at the next start, and nor is a notice or a reply.
        """
        await self._announcer.stop()
        await self._follows.stop()
        try:
            await asyncio.wait_for(asyncio.gather(*(outbox.flush() for outbox in self._outboxes.values())), seconds)
        except TimeoutError:
            log.warning("stopping: the chats' queued messages were not all delivered within %.0f s", seconds)

    async def stop(self) -> None:
        await self._announcer.stop()
        await self._follows.stop()
        await asyncio.gather(*(outbox.close() for outbox in self._outboxes.values()))

    # CommandSink
    async def handle_text(self, chat: ChatRef, text: str) -> list[Reply]:
        return await self._dispatcher.handle_text(chat, text)

    async def handle_call(self, chat: ChatRef, path: tuple[str, ...], args: Mapping[str, object]) -> list[Reply]:
        return await self._dispatcher.handle_call(chat, path, args)

    async def follow(self, chat: ChatRef, task_id: int, *, from_start: bool = False) -> None:
        await self._follows.follow(chat, task_id, from_start=from_start)

    async def unfollow(self, chat: ChatRef, task_id: int) -> bool:
        return await self._follows.unfollow(chat, task_id)

    async def handle_message(self, chat: ChatRef, text: str, *, reply_to: str | None = None) -> list[Reply] | None:
        task_id = await self._messages.task_of(chat, reply_to)
        if task_id is None:
            return None
        return await self._dispatcher.handle_followup(chat, task_id, text)

    async def task_thread(self, chat: ChatRef, task_id: int) -> None:
        await self._messages.own_chat(chat, task_id)
        await self._follows.follow(chat, task_id, from_start=True)

    async def sent_about(self, chat: ChatRef, message_id: str, task_id: int) -> None:
        await self._messages.sent(chat.transport, chat.chat_id, message_id, task_id)

"""Job announcements: when a scheduled job fires, the chats chosen for it hear of the task it created and
follow that task."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from orch.bot import format as fmt
from orch.bot.chat import ChatRef
from orch.bot.follows import Following
from orch.bot.outbox import Outbox
from orch.core.events import EventHub, JobFired
from orch.core.services import Services
from orch.core.stopping import cancel_and_wait


class JobAnnouncer:
    def __init__(self, services: Services, hub: EventHub, outboxes: Mapping[str, Outbox],
                 following: Following) -> None:
        self._services = services
        self._hub = hub
        self._outboxes = outboxes
        self._following = following
        self._chats: list[ChatRef] = []
        self._listener: asyncio.Task[None] | None = None

    def add_chat(self, chat: ChatRef) -> None:
        self._chats.append(chat)

    def start(self) -> None:
        """Listen for fired jobs (only when some chat is to hear of them)."""
        if self._chats:
            self._listener = asyncio.create_task(self._listen(), name="job-announcer")

    async def stop(self) -> None:
        await cancel_and_wait(self._listener)
        self._listener = None

    async def _listen(self) -> None:
        async with self._hub.subscribed(lambda event: isinstance(event, JobFired)) as subscription:
            async for event in subscription:
                assert isinstance(event, JobFired)
                task = await self._services.tasks.get(event.task_id)
                for chat in self._chats:
                    text = f"job {event.job_id} fired: {fmt.created(task)}"
                    await self._outboxes[chat.transport].notice(chat.chat_id, text, task_id=task.id)
                    await self._following.follow(chat, task.id)

"""Chats following tasks: one pump per (chat, task) sends the task's output from the store, in order, then
its status line when it changes.

The store is the source of truth: a pump reads every chunk after the last seq it delivered and records how far
it got (services.follows), so a follow survives a restart of orch serve and continues where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Protocol

from orch.bot import buttons
from orch.bot import format as fmt
from orch.bot.chat import ChatRef, Mention
from orch.bot.outbox import Outbox
from orch.bot.threads import TaskMessages
from orch.core.events import Event, EventHub, OutputChunk, QuestionAsked, TaskChanged
from orch.core.services import Services
from orch.core.tasks.models import Question, TaskStatus

log = logging.getLogger("orch.bot")

# A follow ends when its task can produce nothing more without a person asking again.
_FOLLOW_ENDS = (TaskStatus.DONE, TaskStatus.CANCELLED)

_Key = tuple[str, str, int]  # transport, chat id, task id


def _about(task_id: int) -> Callable[[Event], bool]:
    """Whether an event is about the task: its output, its status, what its agent asks."""

    def accept(event: Event) -> bool:
        if isinstance(event, OutputChunk):
            return event.chunk.task_id == task_id
        if isinstance(event, QuestionAsked):
            return event.question.task_id == task_id
        return isinstance(event, TaskChanged) and event.task.id == task_id

    return accept


class Following(Protocol):
    """Keeping a chat following a task: what commands and job announcements ask of FollowPumps."""

    async def follow(self, chat: ChatRef, task_id: int, *, from_start: bool = False) -> None: ...

    async def unfollow(self, chat: ChatRef, task_id: int) -> bool: ...


class FollowPumps:
    def __init__(self, services: Services, hub: EventHub, outboxes: Mapping[str, Outbox],
                 messages: TaskMessages) -> None:
        """`outboxes`: each attached transport's, by name, read when a pump starts (transports attach later)."""
        self._services = services
        self._hub = hub
        self._outboxes = outboxes
        self._messages = messages
        self._pumps: dict[_Key, asyncio.Task[None]] = {}

    async def resume(self) -> None:
        """Continue every persisted follow of an attached transport from the last seq it delivered."""
        for follow in await self._services.follows.all():
            if follow.transport in self._outboxes:
                self._start(ChatRef(follow.transport, follow.chat_id), follow.task_id, follow.last_seq)

    async def follow(self, chat: ChatRef, task_id: int, *, from_start: bool = False) -> None:
        """Send the task's output to `chat`: from its first line if `from_start`, else what comes from now on."""
        key = (chat.transport, chat.chat_id, task_id)
        if key in self._pumps and not self._pumps[key].done():
            return
        start = 0 if from_start else await self._services.output.last_seq(task_id)
        await self._services.follows.add(chat.transport, chat.chat_id, task_id, start)
        self._start(chat, task_id, start)

    async def unfollow(self, chat: ChatRef, task_id: int) -> bool:
        pump = self._pumps.pop((chat.transport, chat.chat_id, task_id), None)
        if pump is not None:
            pump.cancel()
        removed = await self._services.follows.remove(chat.transport, chat.chat_id, task_id)
        return removed or pump is not None

    async def stop(self) -> None:
        """Stop every pump; their follows stay stored, for the next start to resume."""
        for pump in self._pumps.values():
            pump.cancel()
        for pump in list(self._pumps.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        self._pumps.clear()

    async def _ask(self, chat: ChatRef, outbox: Outbox, question: Question) -> None:
        """What the task's agent asks, with its answers as buttons, addressed to whoever asked for the task."""
        if await self._services.follows.notify_level(chat.transport, chat.chat_id) == "none":
            return
        await outbox.notice(chat.chat_id, fmt.question(question), task_id=question.task_id,
                            buttons=buttons.answers(question), mention=await self._mention(chat, question.task_id))

    async def _mention(self, chat: ChatRef, task_id: int) -> Mention | None:
        """The person who asked for the task, when they asked in this chat or in the one its thread was made in
        (the message they asked with is in that chat, which the transport knows how to reply to)."""
        origin = await self._services.tasks.origin(task_id)
        if origin is None or origin.transport != chat.transport:
            return None
        if origin.chat_id != chat.chat_id and not await self._messages.is_own_chat(chat, task_id):
            return None
        return Mention(origin.user_id, origin.message_id)

    def _start(self, chat: ChatRef, task_id: int, after_seq: int) -> None:
        key = (chat.transport, chat.chat_id, task_id)
        self._pumps[key] = asyncio.create_task(self._pump(chat, task_id, after_seq), name=f"follow-{key}")

    async def _pump(self, chat: ChatRef, task_id: int, after_seq: int) -> None:
        outbox = self._outboxes[chat.transport]
        output, follows = self._services.output, self._services.follows
        last = after_seq

        live = True  # whether the task's agent may be running: its output then carries a Stop button

        async def catch_up() -> None:
            # Any seq not delivered yet is read from the store, in order.
            nonlocal last
            while True:
                chunks = await output.after(task_id, last, 500)
                if not chunks:
                    return
                lines = [line for chunk in chunks for line in chunk.lines]
                await outbox.output(chat.chat_id, task_id, lines, (buttons.stop(task_id),) if live else ())
                last = chunks[-1].seq
                await follows.delivered(chat.transport, chat.chat_id, task_id, last)

        try:
            # Subscribe before reading the backlog, so nothing published meanwhile is missed.
            async with self._hub.subscribed(_about(task_id)) as subscription:
                task = await self._services.tasks.get(task_id)
                live = task.status in buttons.LIVE
                await catch_up()
                if task.status in _FOLLOW_ENDS:
                    await self._announce(chat, outbox, TaskChanged(task, None))
                    return
                async for event in subscription:
                    if isinstance(event, OutputChunk):
                        if event.chunk.seq > last:
                            await catch_up()
                    elif isinstance(event, QuestionAsked):
                        await catch_up()
                        await self._ask(chat, outbox, event.question)
                    elif isinstance(event, TaskChanged):
                        live = event.task.status in buttons.LIVE
                        await catch_up()
                        if await self._announce(chat, outbox, event):
                            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("following task %s in %s failed", task_id, chat)

    async def _announce(self, chat: ChatRef, outbox: Outbox, event: TaskChanged) -> bool:
        """Tell the chat about a status change (as much as its /notify asks); True when the follow has ended."""
        task = event.task
        level = await self._services.follows.notify_level(chat.transport, chat.chat_id)
        needs_a_person = task.status is TaskStatus.NEEDS_REVIEW
        line = fmt.status_line(task, await self._services.tasks.attempts(task.id), event.previous)
        if line and (level == "all" or (level == "errors" and needs_a_person)):
            ended = task.status in (*_FOLLOW_ENDS, TaskStatus.NEEDS_REVIEW)
            await outbox.notice(chat.chat_id, line, task_id=task.id, buttons=buttons.after(task) if ended else (),
                                mention=await self._mention(chat, task.id) if needs_a_person else None)
        if task.status not in _FOLLOW_ENDS:
            return False
        await self._services.follows.remove(chat.transport, chat.chat_id, task.id)
        self._pumps.pop((chat.transport, chat.chat_id, task.id), None)
        return True

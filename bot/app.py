"""The bot: runs commands from every transport and keeps chats following their tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

from orch.bot import format as fmt
from orch.bot.chat import ChatPort, ChatRef, Reply
from orch.bot.commands import COMMANDS, CommandContext
from orch.bot.outbox import LineOutbox, Outbox
from orch.bot.parse import convert, parse_line
from orch.core.errors import UserError
from orch.core.events import Event, EventHub, JobFired, OutputChunk, TaskChanged
from orch.core.services import Services
from orch.core.tasks.models import TaskStatus

log = logging.getLogger("orch.bot")

NOT_ALLOWED = "not allowed: this chat is not on orch's allow-list"
# A follow ends when its task can produce nothing more without a person asking again.
_FOLLOW_ENDS = (TaskStatus.DONE, TaskStatus.CANCELLED)


class EngineStatus(Protocol):
    def status_lines(self) -> list[str]: ...


OutboxFactory = Callable[[ChatPort], Outbox]


class BotApp:
    def __init__(self, services: Services, engine: EngineStatus, hub: EventHub,
                 outbox_factory: OutboxFactory | None = None) -> None:
        self.services = services
        self.engine = engine
        self.hub = hub
        self._outbox_factory = outbox_factory
        self._ports: dict[str, ChatPort] = {}
        self._outboxes: dict[str, Outbox] = {}
        self._pumps: dict[tuple[str, str, int], asyncio.Task[None]] = {}
        self._job_chats: list[ChatRef] = []
        self._job_listener: asyncio.Task[None] | None = None

    def attach(self, port: ChatPort, outbox: Outbox | None = None, *, jobs_chat: str | None = None) -> None:
        """Serve a transport. `jobs_chat`: a chat of it that hears about, and follows, tasks scheduled jobs create."""
        self._ports[port.name] = port
        if outbox is None:
            outbox = self._outbox_factory(port) if self._outbox_factory else LineOutbox(port)
        self._outboxes[port.name] = outbox
        if jobs_chat is not None:
            self._job_chats.append(ChatRef(port.name, jobs_chat))

    async def start(self) -> None:
        """Continue every persisted follow of the attached transports from where it stopped; hear jobs fire."""
        for follow in await self.services.follows.all():
            if follow.transport in self._ports:
                self._start_pump(ChatRef(follow.transport, follow.chat_id), follow.task_id, follow.last_seq)
        if self._job_chats:
            self._job_listener = asyncio.create_task(self._announce_jobs(), name="job-announcer")

    async def _announce_jobs(self) -> None:
        async with self.hub.subscribed(lambda event: isinstance(event, JobFired)) as subscription:
            async for event in subscription:
                assert isinstance(event, JobFired)
                task = await self.services.tasks.get(event.task_id)
                for chat in self._job_chats:
                    await self._outboxes[chat.transport].notice(chat.chat_id, f"job {event.job_id} fired: "
                                                                f"{fmt.created(task)}")
                    await self.follow(chat, task.id)

    async def stop(self) -> None:
        if self._job_listener is not None:
            self._job_listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._job_listener
        for pump in self._pumps.values():
            pump.cancel()
        for pump in list(self._pumps.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        self._pumps.clear()
        for outbox in self._outboxes.values():
            await outbox.close()

    # CommandSink
    async def handle_text(self, chat: ChatRef, text: str) -> list[Reply]:
        return await self._run(chat, lambda: parse_line(text))

    async def handle_call(self, chat: ChatRef, path: tuple[str, ...], args: dict[str, Any]) -> list[Reply]:
        def resolve() -> Any:
            for command in COMMANDS:
                if command.path == path:
                    declared = {param.name: param for param in command.params}
                    unknown = set(args) - set(declared)
                    if unknown:
                        raise UserError(f"unknown option {sorted(unknown)[0]} for /{command.name}")
                    converted: dict[str, Any] = {}
                    for name, value in args.items():
                        if value is None or value == "":
                            continue
                        param = declared[name]
                        if param.repeated:
                            values = value if isinstance(value, list) else [value]
                            converted[name] = [convert(param, item) for item in values]
                        else:
                            converted[name] = convert(param, value)
                    for param in command.params:
                        if param.required and param.name not in converted:
                            raise UserError(f"missing {param.name}: {command.usage}")
                    return command, converted
            raise UserError(f"unknown command /{' '.join(path)} — try /help")

        return await self._run(chat, resolve)

    async def _run(self, chat: ChatRef, resolve: Callable[[], Any]) -> list[Reply]:
        port = self._ports.get(chat.transport)
        if port is None or not port.is_allowed(chat):
            log.warning("refused a command from %s chat %s user %s", chat.transport, chat.chat_id, chat.user_id)
            return [Reply(NOT_ALLOWED)]
        try:
            resolved = resolve()
            command, args = (resolved.command, resolved.args) if hasattr(resolved, "command") else resolved
            return list(await command.handler(CommandContext(self, chat), args))
        except UserError as exc:
            return [Reply(str(exc))]
        except Exception:
            log.exception("command failed: %s", chat)
            return [Reply("internal error: the command failed; see orch.log")]

    # following tasks
    async def follow(self, chat: ChatRef, task_id: int, *, from_start: bool = False) -> None:
        key = (chat.transport, chat.chat_id, task_id)
        if key in self._pumps and not self._pumps[key].done():
            return
        start = 0 if from_start else await self.services.output.last_seq(task_id)
        await self.services.follows.add(chat.transport, chat.chat_id, task_id, start)
        self._start_pump(chat, task_id, start)

    async def unfollow(self, chat: ChatRef, task_id: int) -> bool:
        pump = self._pumps.pop((chat.transport, chat.chat_id, task_id), None)
        if pump is not None:
            pump.cancel()
        return await self.services.follows.remove(chat.transport, chat.chat_id, task_id) or pump is not None

    def _start_pump(self, chat: ChatRef, task_id: int, after_seq: int) -> None:
        key = (chat.transport, chat.chat_id, task_id)
        self._pumps[key] = asyncio.create_task(self._pump(chat, task_id, after_seq), name=f"follow-{key}")

    async def _pump(self, chat: ChatRef, task_id: int, after_seq: int) -> None:
        outbox = self._outboxes[chat.transport]
        output, follows, tasks = self.services.output, self.services.follows, self.services.tasks
        last = after_seq

        def mine(event: Event) -> bool:
            if isinstance(event, OutputChunk):
                return event.chunk.task_id == task_id
            return isinstance(event, TaskChanged) and event.task.id == task_id

        async def catch_up() -> None:
            # The store is the source of truth: any seq we have not delivered is read from it, in order.
            nonlocal last
            while True:
                chunks = await output.after(task_id, last, 500)
                if not chunks:
                    return
                lines = [line for chunk in chunks for line in chunk.lines]
                await outbox.output(chat.chat_id, task_id, lines)
                last = chunks[-1].seq
                await follows.delivered(chat.transport, chat.chat_id, task_id, last)

        try:
            # Subscribe before reading the backlog, so nothing published meanwhile is missed.
            async with self.hub.subscribed(mine) as subscription:
                await catch_up()
                task = await tasks.get(task_id)
                if task.status in _FOLLOW_ENDS:
                    await self._announce(chat, outbox, task_id, TaskChanged(task, None))
                    return
                async for event in subscription:
                    if isinstance(event, OutputChunk):
                        if event.chunk.seq > last:
                            await catch_up()
                    elif isinstance(event, TaskChanged):
                        await catch_up()
                        if await self._announce(chat, outbox, task_id, event):
                            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("following task %s in %s failed", task_id, chat)

    async def _announce(self, chat: ChatRef, outbox: Outbox, task_id: int, event: TaskChanged) -> bool:
        """Tell the chat about a status change; True when the follow has ended with it."""
        attempts = await self.services.tasks.attempts(task_id)
        line = fmt.status_line(event.task, attempts, event.previous)
        if line:
            await outbox.notice(chat.chat_id, line)
        if event.task.status not in _FOLLOW_ENDS:
            return False
        await self.services.follows.remove(chat.transport, chat.chat_id, task_id)
        self._pumps.pop((chat.transport, chat.chat_id, task_id), None)
        return True

"""Running a command for a chat: the allow-list, parsing, the handler, and every failure as one reply line.

A plain message that continues a task's conversation (bot.threads) runs as the command it stands for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from orch.bot.chat import ChatPort, ChatRef, Reply
from orch.bot.declare import CommandSet, Invocation
from orch.bot.follows import Following
from orch.bot.parse import parse_call, parse_line
from orch.bot.refusals import NOT_ALLOWED, refusal_text
from orch.bot.threads import followup
from orch.core.errors import OrchError, UserError, describe
from orch.core.services import Services
from orch.core.text import well_formed

log = logging.getLogger("orch.bot")

__all__ = ["FAILED", "NOT_ALLOWED", "ChatContext", "Dispatcher"]

FAILED = "internal error: the command failed; see orch.log"


@dataclass(frozen=True)
class ChatContext:
    """What a handler gets (bot.declare.CommandContext), for the chat the command came from."""

    services: Services
    chat: ChatRef
    following: Following
    status_lines: Callable[[], list[str]]

    async def follow(self, task_id: int, *, from_start: bool = False) -> None:
        await self.following.follow(self.chat, task_id, from_start=from_start)

    async def unfollow(self, task_id: int) -> bool:
        return await self.following.unfollow(self.chat, task_id)

    def engine_status(self) -> list[str]:
        return self.status_lines()


class Dispatcher:
    def __init__(self, commands: CommandSet, services: Services, following: Following,
                 ports: Mapping[str, ChatPort], status_lines: Callable[[], list[str]]) -> None:
        """`ports`: the attached transports by name, read at each command (transports attach after this);
        `status_lines`: the engine's lines for /status."""
        self._commands = commands
        self._services = services
        self._following = following
        self._ports = ports
        self._status_lines = status_lines

    async def handle_text(self, chat: ChatRef, text: str) -> list[Reply]:
        return await self._run(chat, lambda: parse_line(self._commands, well_formed(text)))

    async def handle_call(self, chat: ChatRef, path: tuple[str, ...], args: Mapping[str, object]) -> list[Reply]:
        return await self._run(chat, lambda: parse_call(self._commands, path, _well_formed_values(args)))

    async def handle_followup(self, chat: ChatRef, task_id: int, text: str) -> list[Reply]:
        """A plain message about the task: `/task reply`, or `/answer` while the task waits for one."""
        if not self._allowed(chat):
            return [self._refusal(chat)]  # before reading the task: a stranger learns nothing of it
        try:
            task = await self._services.tasks.get(task_id)
        except UserError as exc:
            return [Reply(str(exc))]
        path, args = followup(task, text)
        return await self.handle_call(chat, path, args)

    def _allowed(self, chat: ChatRef) -> bool:
        port = self._ports.get(chat.transport)
        if port is None or not port.is_allowed(chat):
            log.warning("refused a command from %s chat %s user %s", chat.transport, chat.chat_id, chat.user_id)
            return False
        return True

    def _refusal(self, chat: ChatRef) -> Reply:
        """NOT_ALLOWED with the chat's ids and the config key to add them to (the transport knows which)."""
        port = self._ports.get(chat.transport)
        return Reply(refusal_text(port.allow_hint(chat) if port is not None else ""))

    async def _run(self, chat: ChatRef, parse: Callable[[], Invocation[Any]]) -> list[Reply]:
        if not self._allowed(chat):
            return [self._refusal(chat)]
        try:
            invocation = parse()
            return await invocation.run(ChatContext(self._services, chat, self._following, self._status_lines))
        except UserError as exc:
            return [Reply(str(exc))]
        except OrchError as exc:
            # Raised on purpose by orch with a message that says what happened (git refused, a delivery failed):
            # that message is the reply; the traceback is for the log, as a warning, not as a bug.
            log.warning("command for %s failed: %s", chat, describe(exc), exc_info=True)
            return [Reply(describe(exc))]
        except Exception:
            log.exception("command failed: %s", chat)
            return [Reply(FAILED)]


def _well_formed_values(args: Mapping[str, object]) -> dict[str, object]:
    """The typed values of a call with lone surrogates replaced in each text (and each text of a list)."""
    def clean(value: object) -> object:
        if isinstance(value, str):
            return well_formed(value)
        if isinstance(value, list | tuple):
            return [clean(item) for item in value]
        return value

    return {well_formed(name): clean(value) for name, value in args.items()}

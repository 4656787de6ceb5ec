"""Which chat messages are about which task, so that a plain message continues the task's conversation.

Every message the outbox sends about a task (its output, status lines and questions, replies about it) is
remembered through services.tasks, and so is a chat made for one task — a Discord thread, a Telegram forum
topic — under the message id OWN_CHAT. A plain message that replies to one of those messages, or is written in
such a chat, is a follow-up for the task: `/task reply ID TEXT`, or `/answer ID TEXT` while the task waits for an
answer (bot.dispatch runs it, allow-list and all).
"""

from __future__ import annotations

from orch.bot.chat import ChatRef
from orch.core.tasks.models import Task, TaskStatus
from orch.core.tasks.service import TaskService

# Not a message id any service uses (Telegram's are numbers, Discord's snowflakes).
OWN_CHAT = "own-chat"
# The commands whose task gets a place of its own where the transport has them (a thread, a forum topic).
THREADED = frozenset({("task", "new")})

Call = tuple[tuple[str, ...], dict[str, object]]  # a command's path and its typed arguments


class TaskMessages:
    def __init__(self, tasks: TaskService) -> None:
        self._tasks = tasks

    async def sent(self, transport: str, chat_id: str, message_id: str, task_id: int) -> None:
        """A message about the task was sent in the chat."""
        await self._tasks.remember_message(transport, chat_id, message_id, task_id)

    async def own_chat(self, chat: ChatRef, task_id: int) -> None:
        """The chat was made for the task: all that is written there is about it."""
        await self._tasks.remember_message(chat.transport, chat.chat_id, OWN_CHAT, task_id)

    async def is_own_chat(self, chat: ChatRef, task_id: int) -> bool:
        return await self._tasks.task_of_message(chat.transport, chat.chat_id, OWN_CHAT) == task_id

    async def task_of(self, chat: ChatRef, reply_to: str | None) -> int | None:
        """The task a plain message in `chat` continues: the one whose message it replies to, else the one the
        chat was made for."""
        if reply_to is not None:
            task_id = await self._tasks.task_of_message(chat.transport, chat.chat_id, reply_to)
            if task_id is not None:
                return task_id
        return await self._tasks.task_of_message(chat.transport, chat.chat_id, OWN_CHAT)


def followup(task: Task, text: str) -> Call:
    """The command a plain message about `task` stands for."""
    if task.status is TaskStatus.WAITING:
        return ("answer",), {"id": task.id, "text": text}
    return ("task", "reply"), {"id": task.id, "text": text}

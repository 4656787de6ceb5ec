"""Reaching a running agent: text typed into its pane as a paste (key names and control characters are not
read), then Enter. Shared by `/say` in chats and `orch task say`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from orch.core.errors import UserError
from orch.core.tasks.models import TaskStatus
from orch.core.tasks.service import TaskService


class TaskControl:
    def __init__(self, tasks: TaskService, type_into: Callable[[int, str], Awaitable[None]]) -> None:
        """`type_into(task_id, text)`: paste into the task's pane, wherever it runs (this host or a worker)."""
        self._tasks = tasks
        self._type_into = type_into

    async def say(self, task_id: int | str, text: str) -> int:
        """Type `text` into the task's running agent; the task's id."""
        task = await self._tasks.get(task_id)
        if task.status is not TaskStatus.IN_PROGRESS:
            raise UserError(f"task {task.id} is {task.status.value}; say needs a running task")
        await self._type_into(task.id, text)
        return task.id

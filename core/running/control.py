"""Reaching a running agent: text typed into its pane as a paste (key names and control characters are not
read), then Enter. Shared by `/say` in chats and `orch task say`."""

from __future__ import annotations

from orch.core.errors import UserError
from orch.core.tasks.models import TaskStatus
from orch.core.tasks.service import TaskService
from orch.core.terminal.tmux import TmuxRunner, session_name


class TaskControl:
    def __init__(self, tasks: TaskService, tmux: TmuxRunner) -> None:
        self._tasks = tasks
        self._tmux = tmux

    async def say(self, task_id: int | str, text: str) -> int:
        """Type `text` into the task's running agent; the task's id."""
        task = await self._tasks.get(task_id)
        if task.status is not TaskStatus.IN_PROGRESS:
            raise UserError(f"task {task.id} is {task.status.value}; say needs a running task")
        await self._tmux.paste(session_name(task.id), text)
        return task.id

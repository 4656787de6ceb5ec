"""The Executor seam: what runs a task once the loop has decided it should run.

LocalExecutor runs each task as an asyncio task of this process (TaskRunner.run). It is the seam where another
executor can hand the task to a worker elsewhere instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable

from orch.core.running.task_run import TaskRunner
from orch.core.tasks.models import Task
from orch.core.terminal.tmux import TmuxRunner, session_name


class Executor(ABC):
    @abstractmethod
    def running(self) -> set[int]:
        """The ids of the tasks being run now."""

    @abstractmethod
    def start(self, task: Task, *, resume: bool, when_done: Callable[[], None]) -> None:
        """Start running `task` (`resume`: re-attach to its attempt after a restart); call `when_done` after."""

    @abstractmethod
    async def cancel(self, task_id: int) -> None:
        """Stop running the task and its agent."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop orch's own work; the agents' tmux sessions go on and are taken up again at the next start."""


class LocalExecutor(Executor):
    def __init__(self, runner: TaskRunner, tmux: TmuxRunner) -> None:
        self._runner = runner
        self._tmux = tmux
        self._running: dict[int, asyncio.Task[None]] = {}

    def running(self) -> set[int]:
        return set(self._running)

    def start(self, task: Task, *, resume: bool, when_done: Callable[[], None]) -> None:
        work = asyncio.create_task(self._runner.run(task, resume=resume), name=f"task-{task.id}")
        self._running[task.id] = work

        def finished(_: asyncio.Task[None]) -> None:
            self._running.pop(task.id, None)
            when_done()

        work.add_done_callback(finished)

    async def cancel(self, task_id: int) -> None:
        work = self._running.get(task_id)
        if work is not None and not work.done():
            work.cancel()
        await self._tmux.kill(session_name(task_id))

    async def stop(self) -> None:
        works = list(self._running.values())
        for work in works:
            work.cancel()
        for work in works:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await work
        self._running.clear()

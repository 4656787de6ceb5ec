"""The Executor seam: what runs a task once the loop has decided it should run.

LocalExecutor runs each task as an asyncio task of this process (TaskRunner.run); ClusterExecutor
(orch.core.cluster.executor) queues it for an `orch worker` on any host instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable

from orch.core.errors import describe
from orch.core.running.task_run import TaskRunner
from orch.core.tasks.models import Task
from orch.core.terminal.tmux import TmuxRunner, session_name

log = logging.getLogger("orch.running")


class Executor(ABC):
    async def open(self) -> None:
        """Get ready before the loop's first pass (an executor over a job queue connects here)."""

    async def refresh(self) -> None:
        """Learn what runs now, at the start of each pass of the loop (an executor whose tasks run elsewhere asks
        there; a local one knows)."""

    @abstractmethod
    def running(self) -> set[int]:
        """The ids of the tasks being run now."""

    @abstractmethod
    def start(self, task: Task, *, resume: bool, when_done: Callable[[], None]) -> None:
        """Start running `task` (`resume`: re-attach to its attempt after a restart); call `when_done` after."""

    @abstractmethod
    def last_failure(self, task_id: int) -> str | None:
        """Why the task's runner stopped without ending the task, if it died of an error."""

    @abstractmethod
    async def interrupt(self, task_id: int) -> None:
        """End the task's current turn (its agent) for a follow-up; the task goes on with the follow-up."""

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
        self._failures: dict[int, str] = {}

    def running(self) -> set[int]:
        return set(self._running)

    def last_failure(self, task_id: int) -> str | None:
        return self._failures.get(task_id)

    def start(self, task: Task, *, resume: bool, when_done: Callable[[], None]) -> None:
        work = asyncio.create_task(self._runner.run(task, resume=resume), name=f"task-{task.id}")
        self._running[task.id] = work
        self._failures.pop(task.id, None)

        def finished(done: asyncio.Task[None]) -> None:
            self._running.pop(task.id, None)
            if not done.cancelled() and done.exception() is not None:
                # The runner ends every task it can; this one it could not (its store failing, say).
                error = done.exception()
                assert error is not None
                log.error("the runner of task %s stopped: %s", task.id, describe(error), exc_info=error)
                self._failures[task.id] = describe(error)
            when_done()

        work.add_done_callback(finished)

    async def interrupt(self, task_id: int) -> None:
        if task_id in self._running:
            self._runner.interrupt(task_id)
            await self._tmux.kill(session_name(task_id))

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

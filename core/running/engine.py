"""The running half of `orch serve`, put together: the capture poller that reads every pane, the executor that
runs tasks (TaskRunner → AttemptRunner, one tmux session each), and the loop that decides what runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from orch.core.events import EventHub
from orch.core.projects.worktrees import Worktrees
from orch.core.running.attempt import AttemptRunner
from orch.core.running.completion import Completion
from orch.core.running.executor import Executor, LocalExecutor
from orch.core.running.housekeeping import Housekeeping
from orch.core.running.launch import AttemptSetup
from orch.core.running.loop import TaskLoop
from orch.core.running.task_run import Cooldowns, TaskRunner
from orch.core.running.turns import Turns
from orch.core.stopping import cancel_and_wait
from orch.core.store.base import Store
from orch.core.terminal.capture import CapturePoller

if TYPE_CHECKING:
    from orch.core.services import Services

log = logging.getLogger("orch.engine")


def build_runner(services: Services, store: Store, hub: EventHub, poller: CapturePoller) -> TaskRunner:
    """What runs one task to its end in this process, its agents in this home's tmux server (serve's, or an
    `orch worker`'s)."""
    config = services.config
    setup = AttemptSetup(services.home, config, store)
    attempts = AttemptRunner(config, store, services.states, hub, services.tmux, poller, setup)
    completion = Completion(config, store, services.states, setup, attempts, services.delivery)
    return TaskRunner(config, store, services.states, services.tasks, services.projects, Worktrees(services.home),
                      lambda: services.router, setup, attempts, completion, Cooldowns())


class Engine:
    def __init__(self, services: Services, store: Store, hub: EventHub, *, poll_interval: float = 0.5,
                 executor: Callable[[TaskRunner], Executor] | None = None) -> None:
        """`executor`: what runs the tasks, given the runner (default: this process, LocalExecutor)."""
        config = services.config
        self._services = services
        self.poller = CapturePoller()
        runner = build_runner(services, store, hub, self.poller)
        self.executor = executor(runner) if executor is not None else LocalExecutor(runner, services.tmux)
        turns = Turns(store, services.states, self.executor, config.workflow)
        self.loop = TaskLoop(services.home, store, services.states, hub, self.executor, turns,
                             max_parallel=config.workflow.max_parallel, poll_interval=poll_interval)
        self._max_parallel = config.workflow.max_parallel
        self.housekeeping = Housekeeping(services.cleanup, config.workflow.worktree_retention_days)
        self._poller_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Routing without a key is round-robin by design: serve's ready line says how tasks are routed, once.
        log.info(self._services.router.status_line())
        self._poller_task = asyncio.create_task(self.poller.run(), name="capture-poller")
        await self.executor.open()
        await self.loop.start()
        self.housekeeping.start()

    async def stop(self) -> None:
        """Stop orch's own work; tmux sessions of running agents go on and are picked up at the next start."""
        await self.housekeeping.stop()
        await self.loop.stop()
        await self.executor.stop()
        await cancel_and_wait(self._poller_task)

    def wake(self) -> None:
        self.loop.wake()

    def status_lines(self) -> list[str]:
        return [f"engine: {self.loop.running_count} running (max {self._max_parallel})",
                self._services.router.status_line()]

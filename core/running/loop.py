"""The loop that decides what runs: new and routed tasks start while there is room, parents wait for their
children, cancelled tasks are stopped, and after a restart the tasks that were running are taken up again.

It runs a pass whenever the hub reports a task created or cancelled in this process, and at least every
`poll_interval` seconds, so changes made by another process (the CLI) act within a second. Running a task is
the executor's job (orch.core.running.executor): the loop only says which and when.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from orch.core.events import Event, EventHub, TaskChanged
from orch.core.home import OrchHome
from orch.core.running.executor import Executor
from orch.core.running.turns import Turns
from orch.core.store.base import Store
from orch.core.tasks.models import Task, TaskStatus
from orch.core.tasks.states import TaskStates

log = logging.getLogger("orch.loop")

# Times the watchdog takes up a task whose runner died before it gives up on it (needs_review with the cause).
MAX_REPAIRS = 3


class TaskLoop:
    def __init__(self, home: OrchHome, store: Store, states: TaskStates, hub: EventHub, executor: Executor,
                 turns: Turns, *, max_parallel: int, poll_interval: float = 0.5) -> None:
        self._home = home
        self._store = store
        self._states = states
        self._hub = hub
        self._executor = executor
        self._turns = turns
        self._max_parallel = max_parallel
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._background: list[asyncio.Task[None]] = []
        self._announced_cancels: set[int] = set()
        self._repairs: dict[int, int] = {}  # task -> times the watchdog had to take it up again

    async def start(self) -> None:
        await self._recover()
        self._background = [
            asyncio.create_task(self._listen(), name="loop-listen"),
            asyncio.create_task(self._run(), name="loop"),
        ]

    async def stop(self) -> None:
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._background.clear()

    def wake(self) -> None:
        self._wake.set()

    @property
    def running_count(self) -> int:
        return len(self._executor.running())

    async def _listen(self) -> None:
        def relevant(event: Event) -> bool:
            return isinstance(event, TaskChanged) and event.task.status in (TaskStatus.NEW, TaskStatus.CANCELLED)

        async with self._hub.subscribed(relevant) as subscription:
            async for event in subscription:
                assert isinstance(event, TaskChanged)
                if event.task.status is TaskStatus.CANCELLED:
                    self._announced_cancels.add(event.task.id)
                self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await self._reconcile()
            except Exception:
                log.exception("a pass of the task loop failed")
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that races the event.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_interval):
                    await self._wake.wait()
            self._wake.clear()

    async def _reconcile(self) -> None:
        await self._executor.refresh()
        await self._watch()
        await self._turns.tend()
        for task_id in sorted(self._executor.running()):
            task = await self._store.get_task(task_id)
            if task is not None and task.status is TaskStatus.CANCELLED:
                await self._executor.cancel(task_id)
                if self._cancelled_elsewhere(task):
                    self._states.announce(task, TaskStatus.IN_PROGRESS)
        for parent in await self._store.list_tasks(status=TaskStatus.BLOCKED):
            await self._states.release_parent(parent.id)
        candidates = [*await self._store.list_tasks(status=TaskStatus.NEW),
                      *await self._store.list_tasks(status=TaskStatus.ROUTED)]
        for task in sorted(candidates, key=lambda t: t.id):
            running = self._executor.running()
            if len(running) >= self._max_parallel:
                break
            if task.id in running:
                continue
            children = await self._store.list_tasks(parent_id=task.id)
            if any(child.status is not TaskStatus.DONE for child in children):
                await self._states.move(task, TaskStatus.BLOCKED, only_from=(task.status,))
                continue
            self._executor.start(task, resume=False, when_done=self._wake.set)

    def _cancelled_elsewhere(self, task: Task) -> bool:
        """True the first time the loop sees a cancel it did not hear on the hub (the CLI is another process)."""
        if task.id in self._announced_cancels:
            self._announced_cancels.discard(task.id)
            return False
        return True

    async def _recover(self) -> None:
        """After a restart: tasks that were running go on (their tmux sessions survived) or are retried; not
        those the executor still runs (elsewhere: on a worker of the cluster)."""
        await self._executor.refresh()
        for task in await self._store.list_tasks(status=TaskStatus.IN_PROGRESS):
            if task.id not in self._executor.running():
                await self._take_up(task)

    async def _watch(self) -> None:
        """The watchdog: a task in progress that nothing runs (its runner died) is taken up again, at most
        MAX_REPAIRS times; then it needs review with the cause."""
        running = self._executor.running()
        for task in await self._store.list_tasks(status=TaskStatus.IN_PROGRESS):
            if task.id in running:
                continue
            repairs = self._repairs[task.id] = self._repairs.get(task.id, 0) + 1
            cause = self._executor.last_failure(task.id) or "its runner stopped"
            if repairs > MAX_REPAIRS:
                log.error("task %s: still in progress with nothing running it; giving up (%s)", task.id, cause)
                await self._states.move(task, TaskStatus.NEEDS_REVIEW, only_from=(TaskStatus.IN_PROGRESS,),
                                        review_reason=f"orch could not keep running it: {cause}")
                continue
            log.warning("task %s: in progress with nothing running it (%s); taking it up again", task.id, cause)
            await self._take_up(task)

    async def _take_up(self, task: Task) -> None:
        """Re-attach to the task's last attempt if its agent may still be running, else start it afresh."""
        history = await self._store.list_attempts(task.id)
        last = history[-1] if history else None
        if last is not None and last.finished_at is None and \
                (self._home.attempt_dir(task.id, last.number) / "nonce").exists():
            log.info("resuming task %s attempt %s", task.id, last.number)
            self._executor.start(task, resume=True, when_done=self._wake.set)
        else:
            await self._states.move(task, TaskStatus.NEW, only_from=(TaskStatus.IN_PROGRESS,))

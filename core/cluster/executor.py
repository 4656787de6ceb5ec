"""ClusterExecutor: `orch serve`'s tasks run on `orch worker`s. Starting a task routes it here (the router and its
key live with serve) and queues a job for its agent; the job's worker runs it. What runs is what has a job queued
or running, or is held by a host that is alive; a task of a dead host has its open attempt closed as `lost`, and
the loop's watchdog starts it again, on any host.

Cancelling aborts the task's job: procrastinate cancels the job's coroutine on the worker, which stops the pane.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import procrastinate
from orch.core.cluster.db import ClusterDb
from orch.core.cluster.queue import defer_run, finish_stale, open_app
from orch.core.cluster.relay import Relay
from orch.core.config import ClusterConfig
from orch.core.events import EventHub
from orch.core.running.executor import Executor
from orch.core.running.task_run import TaskRunner
from orch.core.store.base import Store
from orch.core.tasks.models import Attempt, Task, TaskStatus

log = logging.getLogger("orch.cluster")


class ClusterExecutor(Executor):
    def __init__(self, url: str, config: ClusterConfig, store: Store, hub: EventHub, runner: TaskRunner) -> None:
        self._url = url
        self._config = config
        self._store = store
        self._runner = runner
        self.relay = Relay(url, store, hub)
        self._app: procrastinate.App | None = None
        self._db: ClusterDb | None = None
        self._relay_task: asyncio.Task[None] | None = None
        self._jobs: dict[int, int] = {}  # task -> its queued or running job
        self._held: set[int] = set()  # tasks held by a live host
        self._starting: dict[int, asyncio.Task[None]] = {}
        self._when_done: dict[int, Callable[[], None]] = {}

    async def open(self) -> None:
        self._db = await ClusterDb.open(self._url)
        self._app = await open_app(self._url)
        self._relay_task = asyncio.create_task(self.relay.run(), name="cluster-relay")

    def running(self) -> set[int]:
        return set(self._jobs) | self._held | set(self._starting)

    def last_failure(self, task_id: int) -> str | None:
        return None

    async def refresh(self) -> None:
        assert self._db is not None
        before = self.running()
        self._jobs = await self._db.active_jobs()
        alive_after = time.time() - self._config.host_dead_after_seconds
        self._held = set()
        for host in await self._db.hosts():
            if host.heartbeat_at >= alive_after:
                self._held.update(host.running)
            else:
                for task_id in host.running:
                    await self._lost(task_id, host.name)
        for task_id in before - self.running():
            done = self._when_done.pop(task_id, None)
            if done is not None:
                done()

    async def _lost(self, task_id: int, host: str) -> None:
        """The host of `task_id` is dead: close its open attempt as lost, so that the task runs again."""
        attempts = await self._store.list_attempts(task_id)
        if attempts and attempts[-1].finished_at is None:
            last = attempts[-1]
            log.warning("task %s: its host %s is silent; attempt %s lost", task_id, host, last.number)
            await self._store.finish_attempt(Attempt(
                task_id=task_id, number=last.number, agent=last.agent, model=last.model, started_at=last.started_at,
                finished_at=time.time(), outcome="lost", error=f"its host {host} stopped answering"))
        job = self._jobs.pop(task_id, None)
        if job is not None:
            # Its worker will never finish it, and while it is `doing` its lock keeps the task's next job waiting.
            assert self._app is not None
            await finish_stale(self._app, job)

    def start(self, task: Task, *, resume: bool, when_done: Callable[[], None]) -> None:
        self._when_done[task.id] = when_done
        self._starting[task.id] = asyncio.create_task(self._queue(task), name=f"queue-task-{task.id}")

    async def _queue(self, task: Task) -> None:
        try:
            if task.status is TaskStatus.NEW or await self._store.get_route(task.id) is None:
                routed = await self._runner.route(task)
                if routed is None:
                    return
                task = routed[0]
            assert self._app is not None and task.agent is not None
            job = await defer_run(self._app, task.id, task.agent)
            if job is not None:
                self._jobs[task.id] = job
        except Exception:
            log.exception("task %s could not be queued", task.id)
        finally:
            self._starting.pop(task.id, None)
            if task.id not in self._jobs:
                done = self._when_done.pop(task.id, None)
                if done is not None:
                    done()

    async def interrupt(self, task_id: int) -> None:
        assert self._db is not None
        await self._db.send_control(task_id, "interrupt")

    async def cancel(self, task_id: int) -> None:
        assert self._app is not None
        job = self._jobs.get(task_id)
        if job is not None:
            # A queued job is cancelled; a running one aborted: its worker cancels the run and stops the pane.
            await self._app.job_manager.cancel_job_by_id_async(job, abort=True)

    async def stop(self) -> None:
        for work in [*self._starting.values(), *([self._relay_task] if self._relay_task else [])]:
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await work
        if self._app is not None:
            await self._app.close_async()
        if self._db is not None:
            await self._db.close()

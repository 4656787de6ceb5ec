"""Test helpers that wait on events rather than on time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from orch.core.config import Config, parse_config
from orch.core.events import Event, EventHub, OutputChunk, TaskChanged
from orch.core.home import OrchHome
from orch.core.services import Services
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import TaskStatus


class Recorder:
    """Everything published on a hub, with a way to wait for what a test expects."""

    def __init__(self, hub: EventHub) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Condition()
        self._subscription = hub.subscribe()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for event in self._subscription:
            async with self._changed:
                self.events.append(event)
                self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[list[Event]], bool], timeout: float = 20.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: predicate(self.events)), timeout)

    async def wait_status(self, task_id: int, *statuses: TaskStatus, timeout: float = 20.0) -> None:
        await self.wait_for(lambda events: any(
            isinstance(e, TaskChanged) and e.task.id == task_id and e.task.status in statuses for e in events
        ), timeout)

    def lines(self, task_id: int) -> list[str]:
        return [line for e in self.events if isinstance(e, OutputChunk) and e.chunk.task_id == task_id
                for line in e.chunk.lines]

    def statuses(self, task_id: int) -> list[TaskStatus]:
        return [e.task.status for e in self.events if isinstance(e, TaskChanged) and e.task.id == task_id]

    async def close(self) -> None:
        self._subscription.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def fast_config(**workflow: object) -> Config:
    """Config for tests: two attempts, the shell agent as the fallback, and no review unless a test asks."""
    return parse_config({"workflow": {"max_attempts": 2, "review": False, **workflow},
                         "router": {"fallback_executor": "shell"}})


@asynccontextmanager
async def running_engine(home: OrchHome, store: SqliteStore, config: Config | None = None,
                         hub: EventHub | None = None) -> AsyncIterator[tuple[Services, Recorder]]:
    """A started engine over `store`; yields the Services it shares (tasks, projects, control…) and a Recorder."""
    hub = hub or EventHub()
    services = Services(home, store, config=config or fast_config(), hub=hub)
    engine = services.engine(poll_interval=0.1)
    recorder = Recorder(hub)
    await engine.start()
    try:
        yield services, recorder
    finally:
        await engine.stop()
        await services.router.close()
        await recorder.close()

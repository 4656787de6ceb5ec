"""What happens to tasks, and the in-process hub that carries it: the engine publishes, subscribers filter.

Publishing never blocks the engine: each subscriber has its own unbounded queue and drains it at its own
pace, so a slow chat cannot stall the capture of output.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from orch.core.tasks.models import Chunk, Question, Task, TaskStatus


@dataclass(frozen=True)
class TaskChanged:
    """Published on the hub whenever a task's status changes."""

    task: Task
    previous: TaskStatus | None


@dataclass(frozen=True)
class OutputChunk:
    chunk: Chunk


@dataclass(frozen=True)
class JobFired:
    job_id: int
    task_id: int


@dataclass(frozen=True)
class QuestionAsked:
    """An agent asks the people following its task something (a question, a tool approval)."""

    question: Question


Event = TaskChanged | OutputChunk | JobFired | QuestionAsked

EventFilter = Callable[[Event], bool]


class Subscription:
    def __init__(self, hub: EventHub, accept: EventFilter | None) -> None:
        self._hub = hub
        self._accept = accept
        self.queue: asyncio.Queue[Event] = asyncio.Queue()

    def offer(self, event: Event) -> None:
        if self._accept is None or self._accept(event):
            self.queue.put_nowait(event)

    def close(self) -> None:
        self._hub.unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self.queue.get()


class EventHub:
    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []

    def subscribe(self, accept: EventFilter | None = None) -> Subscription:
        subscription = Subscription(self, accept)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    @asynccontextmanager
    async def subscribed(self, accept: EventFilter | None = None) -> AsyncIterator[Subscription]:
        subscription = self.subscribe(accept)
        try:
            yield subscription
        finally:
            subscription.close()

    def publish(self, event: Event) -> None:
        for subscription in list(self._subscriptions):
            subscription.offer(event)

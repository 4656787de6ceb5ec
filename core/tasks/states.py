"""Status changes of a task: compare-and-set in the store first, then published on the hub.

Storing before publishing means a subscriber that reads the store after subscribing misses nothing. Without a
hub (the CLI is another process) the change is only stored; `orch serve`'s loop notices it within a second.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orch.core.events import EventHub, QuestionAsked, TaskChanged
from orch.core.store.base import Store
from orch.core.tasks.models import Question, Task, TaskStatus


class TaskStates:
    def __init__(self, store: Store, hub: EventHub | None = None) -> None:
        self._store = store
        self._hub = hub
        self._asked: set[int] = set()

    async def move(self, task: Task, to: TaskStatus, *, only_from: Iterable[TaskStatus], **fields: Any) -> Task | None:
        """Move `task` to `to` if its stored status is one of `only_from`; the changed task, or None."""
        changed = await self._store.transition(task.id, to, only_from=tuple(only_from), **fields)
        if changed is not None:
            self.announce(changed, task.status)
        return changed

    def asked(self, question: Question) -> None:
        """Tell the task's followers what its agent asks (stored already); once per question."""
        if self._hub is not None and question.id not in self._asked:
            self._asked.add(question.id)
            self._hub.publish(QuestionAsked(question))

    def announce(self, task: Task, previous: TaskStatus | None) -> None:
        """Tell the hub's subscribers about a change already stored (a new task, a cancel seen late)."""
        if self._hub is not None:
            self._hub.publish(TaskChanged(task, previous))

    async def release_parent(self, parent_id: int) -> bool:
        """Move a blocked parent back to `new` once every child is done (it runs again with their results)."""
        parent = await self._store.get_task(parent_id)
        if parent is None or parent.status is not TaskStatus.BLOCKED:
            return False
        children = await self._store.list_tasks(parent_id=parent.id)
        if not children or any(child.status is not TaskStatus.DONE for child in children):
            return False
        return await self.move(parent, TaskStatus.NEW, only_from=(TaskStatus.BLOCKED,), attempts=0) is not None

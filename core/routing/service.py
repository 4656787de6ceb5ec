"""Routing on request (`/task route`, `orch task route`): decide again for a task that has not started."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from orch.core.errors import NoAgentAvailable, UserError
from orch.core.store.base import Store
from orch.core.tasks.models import RouteDecision, TaskStatus
from orch.core.tasks.service import TaskService

if TYPE_CHECKING:  # the router imports the anthropic SDK (most of a second): only when it routes
    from orch.core.routing.router import Router


class RoutingService:
    def __init__(self, store: Store, tasks: TaskService, router: Callable[[], Router]) -> None:
        self._store = store
        self._tasks = tasks
        self._router = router

    async def reroute(self, task_id: int | str) -> tuple[int, RouteDecision]:
        """Route the task again and store the decision; the task's id and the decision."""
        task = await self._tasks.get(task_id)
        if task.status not in (TaskStatus.NEW, TaskStatus.ROUTED):
            raise UserError(f"task {task.id} is {task.status.value}; only tasks that have not started can be routed")
        try:
            decision = await self._router().route(task)
        except NoAgentAvailable as exc:
            raise UserError(f"no agent available: {exc}") from None
        await self._store.update_task(task.id, agent=decision.agent, model=decision.model,
                                      complexity=decision.complexity, route_reason=decision.reason)
        return task.id, decision

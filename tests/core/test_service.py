"""The rules of unblock, retry and cancel, on a real SQLite store (no engine running)."""

from __future__ import annotations

import pytest
from orch.core.config import Config
from orch.core.errors import NotFound, UserError
from orch.core.home import OrchHome
from orch.core.services import Services
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.labels import label_values
from orch.core.tasks.models import TaskStatus
from orch.core.tasks.service import TaskService


@pytest.fixture
def service(store: SqliteStore, home: OrchHome) -> TaskService:
    return Services(home, store, config=Config()).tasks


async def test_unblock_moves_blocked_and_needs_review_to_new_with_attempts_reset(service: TaskService,
                                                                                 store: SqliteStore) -> None:
    blocked = await service.create("a")
    review = await service.create("b")
    untouched = await service.create("c")
    await store.transition(blocked.id, TaskStatus.BLOCKED, attempts=2)
    await store.transition(review.id, TaskStatus.NEEDS_REVIEW, attempts=3, review_reason="x")
    await store.transition(untouched.id, TaskStatus.DONE)
    assert [t.id for t in await service.unblock("all")] == [blocked.id, review.id]
    for task_id in (blocked.id, review.id):
        task = await service.get(task_id)
        assert (task.status, task.attempts, task.review_reason) == (TaskStatus.NEW, 0, None)
    assert (await service.get(untouched.id)).status is TaskStatus.DONE
    with pytest.raises(UserError, match="no blocked or needs_review tasks to unblock"):
        await service.unblock("all")
    with pytest.raises(UserError, match=f"task {untouched.id} is done; only blocked or needs_review"):
        await service.unblock(untouched.id)


async def test_retry_and_cancel_rules(service: TaskService) -> None:
    task = await service.create("a")
    with pytest.raises(UserError, match="task 1 is new; only needs_review, cancelled or done tasks can be retried"):
        await service.retry(task.id)
    assert (await service.cancel(task.id)).status is TaskStatus.CANCELLED
    with pytest.raises(UserError, match="task 1 is already cancelled"):
        await service.cancel(task.id)
    assert (await service.retry(task.id)).status is TaskStatus.NEW


async def test_bad_ids_and_options_change_nothing(service: TaskService) -> None:
    with pytest.raises(NotFound, match="task 999 not found"):
        await service.get(999)
    with pytest.raises(UserError, match="task id must be a number, not 'abc'"):
        await service.get("abc")
    with pytest.raises(UserError, match="a task needs a title"):
        await service.create("   ")
    with pytest.raises(UserError, match="unknown complexity 'HUGE'"):
        await service.create("x", complexity="HUGE")
    with pytest.raises(NotFound, match="task 5 not found"):
        await service.create("child", parent_id=5)
    assert await service.list_tasks() == []


async def test_labels_carry_agent_and_complexity(service: TaskService) -> None:
    task = await service.create("x", labels=["team:web", "agent:codex"], complexity="simple")
    assert task.labels == ("team:web", "agent:codex", "complexity:simple")
    assert label_values(task.labels, "agent") == ["codex"]

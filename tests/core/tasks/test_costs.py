"""`orch cost`: tokens and USD of every attempt and review, summed by agent, model, project or day."""

from __future__ import annotations

from datetime import datetime

import pytest
from orch.core.errors import UserError
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.costs import CostLine, CostService
from orch.core.tasks.models import Attempt, NewTask

DAY_ONE = datetime(2026, 11, 30, 10, 0).timestamp()
DAY_TWO = datetime(2026, 12, 1, 10, 0).timestamp()


async def attempt(store: SqliteStore, task_id: int, number: int, agent: str, model: str, started: float,
                  cost: float, kind: str = "work") -> None:
    await store.add_attempt(Attempt(task_id, number, agent, model, started, kind=kind))
    await store.finish_attempt(Attempt(task_id, number, agent, model, started, started + 5, 0, "done",
                                       cost_usd=cost, tokens_in=1000, tokens_out=100, kind=kind))


@pytest.fixture
async def costs(store: SqliteStore) -> CostService:
    web = await store.create_task(NewTask("a", project="web"))
    api = await store.create_task(NewTask("b", project="api"))
    await attempt(store, web.id, 1, "claude", "sonnet", DAY_ONE, 0.25)
    await attempt(store, web.id, 2, "codex", "gpt-5.5", DAY_ONE + 60, 0.10, kind="review")
    await attempt(store, api.id, 1, "claude", "opus", DAY_TWO, 1.5)
    return CostService(store)


async def test_by_agent_with_the_total_last(costs: CostService) -> None:
    assert await costs.summary(by="agent") == [
        CostLine("claude", 2, 2000, 200, 1.75), CostLine("codex", 1, 1000, 100, 0.1),
        CostLine("total", 3, 3000, 300, 1.85)]


async def test_by_model_project_and_day(costs: CostService) -> None:
    assert [(line.key, line.cost_usd) for line in await costs.summary(by="model")] == [
        ("opus", 1.5), ("sonnet", 0.25), ("gpt-5.5", 0.1), ("total", 1.85)]
    assert [(line.key, line.cost_usd) for line in await costs.summary(by="project")] == [
        ("api", 1.5), ("web", 0.35), ("total", 1.85)]
    assert [(line.key, line.attempts) for line in await costs.summary(by="day")] == [
        ("2026-12-01", 1), ("2026-11-30", 2), ("total", 3)]


async def test_since_leaves_out_older_attempts(costs: CostService) -> None:
    lines = await costs.summary(since=datetime(2026, 12, 1), by="agent")
    assert lines == [CostLine("claude", 1, 1000, 100, 1.5), CostLine("total", 1, 1000, 100, 1.5)]


async def test_an_unknown_grouping_is_one_line(costs: CostService) -> None:
    with pytest.raises(UserError, match="cost by 'week'\\? one of agent, model, project, day"):
        await costs.summary(by="week")

"""Running one task from its route to an end: its worktree and branch, attempts until one ends it, and what an
attempt's result means (done, sub-tasks, retry, failover to another agent or model, needs_review).

`TaskRunner.run` is the unit of work the loop hands out (orch.core.running.loop): a task routed here, or
already routed elsewhere, is taken through its attempts in this process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from orch.core.agents.base import AgentAdapter, AgentResult
from orch.core.agents.registry import adapter_for, installed_agents
from orch.core.config import Config
from orch.core.errors import NoAgentAvailable, OrchError
from orch.core.projects.registry import ProjectRef, Projects
from orch.core.projects.worktrees import Worktree, Worktrees
from orch.core.routing.router import Router
from orch.core.running.attempt import AttemptRunner
from orch.core.running.launch import AttemptSetup
from orch.core.running.policy import Decision, decide
from orch.core.store.base import Store
from orch.core.tasks.models import Attempt, RouteDecision, Task, TaskStatus
from orch.core.tasks.service import TaskService
from orch.core.tasks.states import TaskStates

log = logging.getLogger("orch.running")

# Another model for the same agent after `model_not_found`: the other tiers' models, nearest tier first.
_NEXT_TIERS = {"simple": ("medium", "complex"), "medium": ("complex", "simple"), "complex": ("medium", "simple")}


@dataclass
class Cooldowns:
    """Agents resting after a rate limit or an overload; shared by every task this process runs."""

    until: dict[str, float] = field(default_factory=dict)

    def rest(self, agent: str, seconds: float) -> None:
        self.until[agent] = time.monotonic() + seconds

    def resting(self) -> list[str]:
        now = time.monotonic()
        return [name for name, until in self.until.items() if until > now]


class TaskRunner:
    def __init__(self, config: Config, store: Store, states: TaskStates, tasks: TaskService, projects: Projects,
                 worktrees: Worktrees, router: Callable[[], Router], setup: AttemptSetup,
                 attempts: AttemptRunner, cooldowns: Cooldowns) -> None:
        self._config = config
        self._store = store
        self._states = states
        self._tasks = tasks
        self._projects = projects
        self._worktrees = worktrees
        self._router = router
        self._setup = setup
        self._attempts = attempts
        self._cooldowns = cooldowns

    async def run(self, task: Task, *, resume: bool) -> None:
        """Take `task` to an end. `resume`: it was in progress when orch stopped; re-attach to its attempt."""
        try:
            await self._run(task, resume=resume)
        except (OrchError, OSError) as exc:
            log.exception("task %s failed", task.id)
            current = await self._store.get_task(task.id)
            if current is not None and not current.status.is_terminal:
                await self._states.move(current, TaskStatus.NEEDS_REVIEW, only_from=(current.status,),
                                        review_reason=f"orch error: {exc}")

    async def _run(self, task: Task, *, resume: bool) -> None:
        if resume:
            decision = await self._stored_decision(task)
        else:
            routed = await self.route(task)
            if routed is None:
                return
            task, decision = routed
        project = await self._projects.resolve(task.project)
        worktree = await self._worktrees.ensure(project, task)
        if not resume:
            started = await self._states.move(task, TaskStatus.IN_PROGRESS, only_from=(TaskStatus.ROUTED,),
                                              project=project.name, branch=worktree.branch,
                                              worktree=str(worktree.path))
            if started is None:
                return
            task = started
        await self._attempt_until_done(task, decision, project, worktree, resume=resume)

    async def route(self, task: Task) -> tuple[Task, RouteDecision] | None:
        """Route a new (or re-route a routed) task and mark it routed; None when it changed meanwhile or no
        agent can run it (then it needs review)."""
        try:
            decision = await self._router().route(task)
        except NoAgentAvailable as exc:
            await self._states.move(task, TaskStatus.NEEDS_REVIEW, only_from=(task.status,),
                                    review_reason=f"no agent available: {exc} (install claude, codex or opencode, "
                                    "or give the task agent:shell)")
            return None
        routed = await self._states.move(
            task, TaskStatus.ROUTED, only_from=(TaskStatus.NEW, TaskStatus.ROUTED), agent=decision.agent,
            model=decision.model, complexity=decision.complexity, route_reason=decision.reason,
        )
        return (routed, decision) if routed is not None else None

    async def _stored_decision(self, task: Task) -> RouteDecision:
        stored = await self._store.get_route(task.id) or {}
        return RouteDecision(
            agent=task.agent or str(stored.get("agent", "shell")), model=task.model,
            complexity=task.complexity or "medium", reason=task.route_reason or "", decided_by="stored",
        )

    async def _attempt_until_done(self, task: Task, decision: RouteDecision, project: ProjectRef,
                                  worktree: Worktree, *, resume: bool) -> None:
        adapter = adapter_for(decision.agent)
        tried_models: set[str | None] = {decision.model}
        while True:
            # `number` names the attempt for good (its folder, its row); task.attempts counts this round's
            # attempts against max_attempts and starts again at 0 when a person unblocks or retries the task.
            history = await self._store.list_attempts(task.id)
            number = history[-1].number if resume and history else len(history) + 1
            if not resume:
                task = await self._store.update_task(task.id, attempts=task.attempts + 1)
            result, cost = await self._one_attempt(task, number, decision, project, worktree, adapter, resume=resume)
            resume = False
            if await self._accepted(task, result, cost):
                return
            step = decide(result, agent=decision.agent, attempt=task.attempts,
                          max_attempts=self._config.workflow.max_attempts,
                          available=installed_agents(self._config, self._config.router.agents),
                          cooldown=self._cooldowns.resting(), next_model=self._next_model(decision, tried_models))
            if step.action == "needs_review":
                await self._states.move(task, TaskStatus.NEEDS_REVIEW, only_from=(TaskStatus.IN_PROGRESS,),
                                        review_reason=step.reason, cost_usd=cost)
                return
            log.info("task %s attempt %s: %s (%s)", task.id, number, step.action, step.reason)
            decision = self._next_decision(decision, step)
            adapter = adapter_for(decision.agent)
            tried_models.add(decision.model)
            task = await self._store.update_task(task.id, cost_usd=cost, agent=decision.agent, model=decision.model)
            if step.delay_seconds:
                await asyncio.sleep(step.delay_seconds)

    async def _one_attempt(self, task: Task, number: int, decision: RouteDecision, project: ProjectRef,
                           worktree: Worktree, adapter: AgentAdapter, *,
                           resume: bool) -> tuple[AgentResult, float | None]:
        """Run attempt `number`, commit what it changed and record how it ended; its result and the task's cost."""
        ctx = await self._setup.context(task, number, decision, project, worktree)
        result, exit_code = await self._attempts.run(ctx, adapter, resume=resume)
        files = await self._worktrees.commit(worktree.path, f"orch: task {task.id}: {task.title}\n\n"
                                             f"Attempt {number} by {decision.agent}.")
        if files:
            (ctx.attempt_dir / "files_changed.txt").write_text("\n".join(files) + "\n", encoding="utf-8")
        await self._store.finish_attempt(Attempt(
            task_id=task.id, number=number, agent=decision.agent, model=decision.model, started_at=0.0,
            finished_at=time.time(), exit_code=exit_code, outcome=result.error_kind or result.status,
            error=result.error, summary=result.summary, cost_usd=result.cost_usd, tokens_in=result.tokens_in,
            tokens_out=result.tokens_out,
        ))
        cost = (task.cost_usd or 0.0) + result.cost_usd if result.cost_usd is not None else task.cost_usd
        return result, cost

    async def _accepted(self, task: Task, result: AgentResult, cost: float | None) -> bool:
        """End the task when the attempt finished it (done, or blocked on the sub-tasks it asked for)."""
        if result.status == "done":
            done = await self._states.move(task, TaskStatus.DONE, only_from=(TaskStatus.IN_PROGRESS,),
                                           summary=result.summary, cost_usd=cost)
            if done is not None and done.parent_id is not None:
                await self._states.release_parent(done.parent_id)
            return True
        if result.status == "blocked" and result.delegations:
            await self._delegate(task, result, cost)
            return True
        return False

    def _next_decision(self, decision: RouteDecision, step: Decision) -> RouteDecision:
        if step.action == "failover" and step.agent is not None:
            self._cooldowns.rest(decision.agent, step.cooldown_seconds)
            return replace(decision, agent=step.agent,
                           model=self._config.model_map.model_for(decision.complexity, step.agent),
                           reason=f"failover from {decision.agent}: {step.reason}")
        if step.action == "next_model" and step.model is not None:
            return replace(decision, model=step.model)
        return decision

    def _next_model(self, decision: RouteDecision, tried: set[str | None]) -> str | None:
        for tier in _NEXT_TIERS.get(decision.complexity, ()):
            model = self._config.model_map.model_for(tier, decision.agent)
            if model is not None and model not in tried:
                return model
        return None

    async def _delegate(self, task: Task, result: AgentResult, cost: float | None) -> None:
        if await self._store.list_tasks(parent_id=task.id):
            await self._states.move(task, TaskStatus.NEEDS_REVIEW, only_from=(TaskStatus.IN_PROGRESS,),
                                    review_reason="asked for sub-tasks again after its sub-tasks were done",
                                    cost_usd=cost)
            return
        for delegation in result.delegations:
            await self._tasks.create(delegation.title, delegation.body, labels=delegation.labels,
                                     project=task.project, parent_id=task.id)
        await self._states.move(task, TaskStatus.BLOCKED, only_from=(TaskStatus.IN_PROGRESS,),
                                summary=result.summary, cost_usd=cost)


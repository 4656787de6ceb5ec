"""Running one task from its route to an end: its worktree and branch, attempts until one ends it, and what an
attempt's result means — done (then review and delivery, orch.core.running.completion), sub-tasks, a retry, a
failover to another agent or model, or needs_review.

`TaskRunner.run` is the unit of work the loop hands out (orch.core.running.loop).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from orch.core.agents.base import AgentAdapter, AgentResult
from orch.core.agents.registry import adapter_for, installed_agents
from orch.core.config import Config
from orch.core.errors import NoAgentAvailable, describe
from orch.core.home import write_private
from orch.core.projects.registry import ProjectRef, Projects
from orch.core.projects.worktrees import Worktree, Worktrees, never_committed
from orch.core.running.attempt import AttemptRunner
from orch.core.running.completion import Completion
from orch.core.running.followups import AgentTurns
from orch.core.running.launch import AttemptSetup
from orch.core.running.policy import Decision, decide
from orch.core.running.review import choose_reviewer, feedback_for_author, review_enabled
from orch.core.store.base import Store
from orch.core.tasks.models import Attempt, FollowUp, RouteDecision, Task, TaskStatus
from orch.core.tasks.service import TaskService
from orch.core.tasks.states import TaskStates

if TYPE_CHECKING:  # the router imports the anthropic SDK: only when a task is routed
    from orch.core.routing.router import Router

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


@dataclass
class _Run:
    """One run of a task, carried from attempt to attempt."""

    task: Task
    decision: RouteDecision
    project: ProjectRef
    worktree: Worktree
    tried_models: set[str | None]
    feedback: str | None = None  # a reviewer's requests, for the next work attempt
    review_rounds: int = 0
    review_errors: int = 0
    last_result: AgentResult | None = None  # the author's last done attempt

    @property
    def adapter(self) -> AgentAdapter:
        return adapter_for(self.decision.agent)


def stored_decision(task: Task, stored: dict[str, object]) -> RouteDecision:
    """The route a task was given, as the store keeps it (a task taken up again is not routed anew)."""
    return RouteDecision(
        agent=task.agent or str(stored.get("agent", "shell")), model=task.model,
        complexity=task.complexity or "medium", reason=task.route_reason or "", decided_by="stored",
    )


class TaskRunner:
    def __init__(self, config: Config, store: Store, states: TaskStates, tasks: TaskService, projects: Projects,
                 worktrees: Worktrees, router: Callable[[], Router], setup: AttemptSetup,
                 attempts: AttemptRunner, completion: Completion, cooldowns: Cooldowns) -> None:
        self._config = config
        self._store = store
        self._states = states
        self._tasks = tasks
        self._projects = projects
        self._worktrees = worktrees
        self._router = router
        self._setup = setup
        self._attempts = attempts
        self._completion = completion
        self._cooldowns = cooldowns
        self._interrupted: set[int] = set()
        self._turns = AgentTurns(store, states)

    async def run(self, task: Task, *, resume: bool) -> None:
        """Take `task` to an end. `resume`: it was in progress when orch stopped; re-attach to its attempt."""
        self._interrupted.discard(task.id)  # a --now that came too late for an earlier run is not for this one
        try:
            await self._run(task, resume=resume)
        except Exception as exc:
            # Anything unforeseen ends the task visibly with its real cause; were the store itself failing, the
            # task stays in_progress and the loop's watchdog takes it up again once the store works.
            log.exception("task %s failed", task.id)
            current = await self._store.get_task(task.id)
            if current is not None and not current.status.is_terminal:
                await self._states.move(current, TaskStatus.NEEDS_REVIEW, only_from=(current.status,),
                                        review_reason=f"orch error: {describe(exc)}")

    async def _run(self, task: Task, *, resume: bool) -> None:
        stored = await self._store.get_route(task.id)
        if resume or (task.status is TaskStatus.ROUTED and stored is not None):
            decision = stored_decision(task, stored or {})
        else:
            routed = await self.route(task)
            if routed is None:
                return
            task, decision = routed
        project = await self._projects.resolve(task.project)
        worktree = await self._worktrees.ensure(project, task)
        if worktree.created:
            self._setup.setup_marker(task.id).unlink(missing_ok=True)
        if not resume:
            started = await self._states.move(task, TaskStatus.IN_PROGRESS, only_from=(TaskStatus.ROUTED,),
                                              project=project.name, branch=worktree.branch,
                                              worktree=str(worktree.path), base_branch=worktree.base_branch,
                                              base_commit=worktree.base_commit)
            if started is None:
                return
            task = started
        await self._work(_Run(task, decision, project, worktree, {decision.model}), resume=resume)

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

    async def _work(self, run: _Run, *, resume: bool) -> None:
        """Attempts until one ends the task. The first may be a review asked for, or one to re-attach to."""
        history = await self._store.list_attempts(run.task.id)
        if resume and history and history[-1].kind == "review":
            if await self._review(run, history[-1].number, history[-1].agent, resume=True):
                return
            resume = False
        elif run.task.next_step == "review":
            run.task = await self._store.update_task(run.task.id, next_step=None)
            if await self._review(run):
                return
        while True:
            if await self._over_budget(run.task):
                return
            # `number` names the attempt for good (its folder, its row); task.attempts counts this round's
            # attempts against max_attempts and starts again at 0 when a person unblocks or retries the task.
            history = await self._store.list_attempts(run.task.id)
            number = history[-1].number if resume and history else len(history) + 1
            followup = None if resume else await self._turns.next_followup(run.task)
            if not resume:
                run.task = await self._store.update_task(run.task.id, attempts=run.task.attempts + 1)
            result, files = await self._work_attempt(run, number, resume=resume, followup=followup)
            resume = False
            if run.task.id in self._interrupted:
                # A person asked to stop this turn for their follow-up (`--now`): it is the next attempt's prompt.
                self._interrupted.discard(run.task.id)
                continue
            if result.status == "done":
                run.last_result = result
                if await self._store.pending_followups(run.task.id):
                    continue  # more turns asked for meanwhile: they come before the review
                if files and review_enabled(self._config, run.decision.agent):
                    if await self._review(run):
                        return
                    continue
                await self._completion.finish(run.task, result, run.project)
                return
            if result.error_kind == "waiting_for_input" and result.question:
                await self._turns.wait_for_answer(run.task, result)
                return
            if result.status == "blocked" and result.delegations:
                await self._delegate(run.task, result)
                return
            if not await self._next_step(run, result, number):
                return

    def interrupt(self, task_id: int) -> None:
        """End the task's current turn for a follow-up: its attempt stops without counting as a failure."""
        self._interrupted.add(task_id)

    async def _work_attempt(self, run: _Run, number: int, *, resume: bool,
                            followup: FollowUp | None = None) -> tuple[AgentResult, list[str]]:
        """Run work attempt `number` (a person's `followup` its prompt, if given), commit what it changed and record
        how it ended; its result and files."""
        task, decision = run.task, run.decision
        if followup is not None:
            session = await self._turns.session_of(task, decision.agent)
            ctx = await self._setup.followup_context(task, number, decision, run.project, run.worktree, followup,
                                                     session)
        else:
            ctx = await self._setup.context(task, number, decision, run.project, run.worktree, run.feedback)
            run.feedback = None
        result, exit_code = await self._attempts.run(ctx, run.adapter, resume=resume,
                                                     setup=self._setup.setup_command(ctx, run.project))
        files = await self._worktrees.commit(run.worktree.path, f"orch: task {task.id}: {task.title}\n\n"
                                             f"Attempt {number} by {decision.agent}.", never_committed(run.project))
        if files:
            write_private(ctx.attempt_dir / "files_changed.txt", "\n".join(files) + "\n")
        unpushed = await self._worktrees.push(run.project, run.worktree.branch)  # on a worker: serve gets it
        await self._store.finish_attempt(Attempt(
            task_id=task.id, number=number, agent=decision.agent, model=decision.model, started_at=0.0,
            finished_at=time.time(), exit_code=exit_code, outcome=result.error_kind or result.status,
            error="; ".join(text for text in (result.error, unpushed) if text) or None, summary=result.summary,
            cost_usd=result.cost_usd, tokens_in=result.tokens_in, tokens_out=result.tokens_out,
            session_id=result.session_id,
        ))
        cost = (task.cost_usd or 0.0) + result.cost_usd if result.cost_usd is not None else task.cost_usd
        fields: dict[str, object] = {"cost_usd": cost}
        if result.status == "done":
            fields["summary"] = result.summary  # what the reviewer reads as the author's account
        run.task = await self._store.update_task(task.id, **fields)
        return result, files

    async def _review(self, run: _Run, number: int | None = None, reviewer: str | None = None, *,
                      resume: bool = False) -> bool:
        """Have the change reviewed; True when the task has ended (approved and delivered, or needs review),
        False when the author is to make another attempt with the reviewer's requests."""
        task = run.task
        reviewer = reviewer or choose_reviewer(self._config, run.decision.agent)
        if reviewer is None:
            log.warning("task %s: no installed agent can review; delivering without a review", task.id)
            return await self._finish(run)
        if number is None:
            number = len(await self._store.list_attempts(task.id)) + 1
        run.task, answer = await self._completion.review(task, reviewer, number, run.project, run.worktree,
                                                         resume=resume)
        run.review_rounds += 1
        if answer.decision == "approve":
            return await self._finish(run)
        if answer.decision == "reject":
            return await self._needs_review(run, f"the review by {reviewer} rejected it: {answer.notes}")
        if answer.decision == "error":
            run.review_errors += 1
            if run.review_errors > 1:
                return await self._needs_review(run, f"the review failed again: {answer.notes}")
        rounds = self._config.workflow.max_review_rounds
        if run.review_rounds >= rounds:
            return await self._needs_review(run, f"not approved after {run.review_rounds} review round(s); last "
                                                 f"review by {reviewer}: {answer.notes}")
        run.feedback = feedback_for_author(answer, reviewer)
        return False

    async def _finish(self, run: _Run) -> bool:
        await self._completion.finish(run.task, run.last_result or AgentResult(status="done"), run.project)
        return True

    async def _needs_review(self, run: _Run, reason: str) -> bool:
        await self._states.move(run.task, TaskStatus.NEEDS_REVIEW, only_from=(TaskStatus.IN_PROGRESS,),
                                review_reason=reason)
        return True

    async def _over_budget(self, task: Task) -> bool:
        limit = self._config.workflow.max_cost_per_task
        if limit is None or (task.cost_usd or 0.0) <= limit:
            return False
        await self._states.move(task, TaskStatus.NEEDS_REVIEW, only_from=(TaskStatus.IN_PROGRESS,),
                                review_reason=f"its attempts cost ${task.cost_usd:.4f}, over "
                                              f"workflow.max_cost_per_task (${limit:.4f})")
        return True

    async def _next_step(self, run: _Run, result: AgentResult, number: int) -> bool:
        """After a failed attempt: False when the task went to needs_review, else ready for the next attempt."""
        step = decide(result, agent=run.decision.agent, attempt=run.task.attempts,
                      max_attempts=self._config.workflow.max_attempts,
                      available=installed_agents(self._config, self._config.router.agents),
                      cooldown=self._cooldowns.resting(), next_model=self._next_model(run.decision, run.tried_models))
        if step.action == "needs_review":
            await self._needs_review(run, step.reason)
            return False
        log.info("task %s attempt %s: %s (%s)", run.task.id, number, step.action, step.reason)
        run.decision = self._next_decision(run.decision, step)
        run.tried_models.add(run.decision.model)
        run.task = await self._store.update_task(run.task.id, agent=run.decision.agent, model=run.decision.model)
        if step.delay_seconds:
            await asyncio.sleep(step.delay_seconds)
        return True

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

    async def _delegate(self, task: Task, result: AgentResult) -> None:
        if await self._store.list_tasks(parent_id=task.id):
            await self._states.move(task, TaskStatus.NEEDS_REVIEW, only_from=(TaskStatus.IN_PROGRESS,),
                                    review_reason="asked for sub-tasks again after its sub-tasks were done")
            return
        for delegation in result.delegations:
            await self._tasks.create(delegation.title, delegation.body, labels=delegation.labels,
                                     project=task.project, parent_id=task.id)
        await self._states.move(task, TaskStatus.BLOCKED, only_from=(TaskStatus.IN_PROGRESS,),
                                summary=result.summary)

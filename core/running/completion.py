"""After an attempt ends `done`: the review by a second agent, then delivery, then the task is done.

`review` runs one read-only review attempt in the task's worktree and stores its Review; `finish` delivers the
branch as the project (or a `deliver:` label) says, measures the change for the status line and moves the task
to `done` — or to `needs_review` with the reason when delivery fails (nothing half-done: see
orch.core.delivery).
"""

from __future__ import annotations

import asyncio
import logging
import time

from orch.core.agents.base import AgentResult
from orch.core.agents.registry import adapter_for
from orch.core.config import Config
from orch.core.delivery.gitops import DeliveryError, diff_stat, patch
from orch.core.delivery.service import DeliveryService
from orch.core.projects.git import git
from orch.core.projects.registry import ProjectRef
from orch.core.projects.worktrees import Worktree
from orch.core.running.attempt import AttemptRunner
from orch.core.running.launch import AttemptSetup
from orch.core.running.review import ReviewAnswer, read_answer, review_prompt, review_system_prompt
from orch.core.store.base import Store
from orch.core.tasks.models import Attempt, Review, Task, TaskStatus
from orch.core.tasks.states import TaskStates

log = logging.getLogger("orch.running")

REVIEW_PREFIX = "[review] "


class Completion:
    def __init__(self, config: Config, store: Store, states: TaskStates, setup: AttemptSetup,
                 attempts: AttemptRunner, delivery: DeliveryService) -> None:
        self._config = config
        self._store = store
        self._states = states
        self._setup = setup
        self._attempts = attempts
        self._delivery = delivery

    async def review(self, task: Task, reviewer: str, number: int, project: ProjectRef, worktree: Worktree, *,
                     resume: bool = False) -> tuple[Task, ReviewAnswer]:
        """Run review attempt `number` with `reviewer`; the task (its cost updated) and the verdict."""
        model = self._config.model_map.model_for("review", reviewer)
        base = task.base_commit or worktree.base_commit
        stat = await asyncio.to_thread(diff_stat, project.path, base, worktree.branch)
        diff = await asyncio.to_thread(patch, project.path, base, worktree.branch)
        prompt = review_prompt(task, task.summary or "", stat.stat, diff, task.base_branch or worktree.base_branch,
                               self._config.workflow.review_diff_max_chars)
        system = review_system_prompt(task, str(worktree.path), str(project.path))
        ctx = self._setup.review_context(task, number, reviewer, model, project, worktree, prompt, system)
        result, exit_code = await self._attempts.run(ctx, adapter_for(reviewer), resume=resume, kind="review",
                                                     prefix=REVIEW_PREFIX)
        await asyncio.to_thread(_keep_aside, worktree, task.id)
        answer = _verdict(result)
        await self._store.finish_attempt(Attempt(
            task_id=task.id, number=number, agent=reviewer, model=model, started_at=0.0, finished_at=time.time(),
            exit_code=exit_code, outcome=f"review: {answer.decision}", error=result.error, summary=answer.notes,
            cost_usd=result.cost_usd, tokens_in=result.tokens_in, tokens_out=result.tokens_out, kind="review",
            session_id=result.session_id,
        ))
        await self._store.add_review(Review(task.id, number, reviewer, model, answer.decision, answer.notes,
                                            answer.comments, time.time()))
        cost = (task.cost_usd or 0.0) + result.cost_usd if result.cost_usd is not None else task.cost_usd
        task = await self._store.update_task(task.id, review_decision=answer.decision, cost_usd=cost)
        log.info("task %s reviewed by %s: %s", task.id, reviewer, answer.decision)
        return task, answer

    async def finish(self, task: Task, result: AgentResult, project: ProjectRef) -> Task | None:
        """Deliver and end the task `done`; on a delivery failure it ends `needs_review` with the reason."""
        task = await self._delivery.measure(task, project)
        mode = self._delivery.mode_for(task, project)
        summary = result.summary or task.summary
        if mode != "branch" and not task.diff_files:
            log.info("task %s: nothing changed against its base, nothing to %s", task.id, mode)
        elif mode != "branch":
            try:
                task = await self._delivery.deliver(task, project, mode)
            except DeliveryError as exc:
                return await self._states.move(task, TaskStatus.NEEDS_REVIEW, only_from=(TaskStatus.IN_PROGRESS,),
                                               review_reason=f"{mode} failed: {exc}", summary=summary)
        done = await self._states.move(task, TaskStatus.DONE, only_from=(TaskStatus.IN_PROGRESS,), summary=summary)
        if done is not None and done.parent_id is not None:
            await self._states.release_parent(done.parent_id)
        return done


def _verdict(result: AgentResult) -> ReviewAnswer:
    if result.status == "failed":
        return ReviewAnswer("error", f"the reviewer failed: {result.error or result.error_kind or 'no reason given'}")
    return read_answer(result.final_text or result.summary)


def _keep_aside(worktree: Worktree, task_id: int) -> None:
    """A reviewer must not change the branch; anything it changed anyway is stashed, not lost and not shipped."""
    if git(worktree.path, "status", "--porcelain"):
        log.warning("task %s: the reviewer changed files; they are kept in `git stash` of %s", task_id,
                    worktree.path)
        git(worktree.path, "stash", "push", "--include-untracked", "-m", f"orch: changes made while reviewing task "
            f"{task_id}")

"""Seeing and shipping a task's change: its diff against the base, and delivery as the project (or a
`deliver:` label, or a person's `/task push|pr|merge`) asks.

- `branch`: the commit stays on the task's branch (nothing to do).
- `push`: the branch goes to the project's `origin`.
- `pr`: pushed, then a pull request on GitHub, with the task's review posted on it.
- `merge`: merged into the branch the task started from, the project's default branch unless a `base:` label
  said otherwise (see orch.core.delivery.gitops for how nobody's working tree
  is touched); a clone orch made pushes the merged branch to the remote it mirrors first.

A failure raises DeliveryError with the reason and leaves everything as it was (no ref moved, no branch deleted).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from orch.core.config import DELIVER_MODES, DeliverMode
from orch.core.delivery import gitops
from orch.core.delivery.gitops import DeliveryError, DiffStat
from orch.core.errors import OrchError, UserError, describe
from orch.core.projects.registry import ProjectRef, Projects
from orch.core.redact import Redactor
from orch.core.store.base import Store
from orch.core.tasks.labels import label_values
from orch.core.tasks.models import Review, Task, TaskStatus
from orch.core.tasks.service import TaskService

# The task names an issue it resolves: "#12" or ".../issues/12" in its title or body, or a label `issue:12`.
_ISSUE = re.compile(r"(?:(?<![\w/])#|/issues/)(\d+)\b")
_DELIVERABLE = (TaskStatus.DONE, TaskStatus.NEEDS_REVIEW)


@dataclass(frozen=True)
class TaskDiff:
    task_id: int
    branch: str
    base: str
    stat: DiffStat
    patch: str  # secrets redacted as in the stream


class DeliveryService:
    def __init__(self, store: Store, tasks: TaskService, projects: Projects, redact_patterns: list[str]) -> None:
        self._store = store
        self._tasks = tasks
        self._projects = projects
        self._redact_patterns = redact_patterns

    def mode_for(self, task: Task, project: ProjectRef) -> DeliverMode:
        """A `deliver:` label wins over the project's `deliver` setting."""
        for value in label_values(task.labels, "deliver"):
            if value in DELIVER_MODES:
                return value
        return project.settings.deliver

    async def diff(self, task_id: int | str) -> TaskDiff:
        task = await self._tasks.get(task_id)
        if not task.branch:
            raise UserError(f"task {task.id} has no branch yet ({task.status.value})")
        project = await self._projects.resolve(task.project)
        base = task.base_commit or project.default_branch
        await self._check_branch(task, project)
        try:
            stat = await asyncio.to_thread(gitops.diff_stat, project.path, base, task.branch)
            raw = await asyncio.to_thread(gitops.patch, project.path, base, task.branch)
        except OrchError as exc:
            raise UserError(f"task {task.id}: cannot show its diff: {describe(exc)}") from None
        redacted = "\n".join(Redactor(self._redact_patterns).redact_lines(raw.split("\n")))
        return TaskDiff(task.id, task.branch, base, stat, redacted)

    async def measure(self, task: Task, project: ProjectRef) -> Task:
        """Store how big the task's change is (files, +/- lines) for its status line."""
        if not task.branch:
            return task
        stat = await asyncio.to_thread(gitops.diff_stat, project.path, task.base_commit or project.default_branch,
                                       task.branch)
        return await self._store.update_task(task.id, diff_files=stat.files, diff_added=stat.added,
                                             diff_removed=stat.removed)

    async def deliver_now(self, task_id: int | str, mode: DeliverMode) -> Task:
        """A person's `/task push|pr|merge ID`: deliver a finished task whatever its project says."""
        task = await self._tasks.get(task_id)
        if task.status not in _DELIVERABLE or not task.branch:
            raise UserError(f"task {task.id} is {task.status.value}; only a done or needs_review task with a branch "
                            "can be delivered")
        project = await self._projects.resolve(task.project)
        await self._check_branch(task, project)
        try:
            return await self.deliver(task, project, mode)
        except OrchError as exc:  # DeliveryError, or git refusing something on the way
            raise UserError(f"task {task.id}: {mode} failed: {describe(exc)}") from None

    @staticmethod
    async def _check_branch(task: Task, project: ProjectRef) -> None:
        """A branch deleted since the task ran (by hand, or by a clean-up) is named, not left to git's words."""
        assert task.branch is not None
        if not await asyncio.to_thread(gitops.rev, project.path, f"refs/heads/{task.branch}"):
            raise UserError(f"task {task.id}: its branch {task.branch} no longer exists in project {project.name}")

    async def deliver(self, task: Task, project: ProjectRef, mode: DeliverMode) -> Task:
        """Deliver `task`'s branch; the task with what was done recorded. Raises DeliveryError."""
        assert task.branch is not None
        if mode == "branch":
            return task
        if mode == "push":
            await asyncio.to_thread(gitops.push_branch, project.path, task.branch)
            return await self._store.update_task(task.id, delivered="push")
        if mode == "pr":
            url = await self._pull_request(task, project)
            return await self._store.update_task(task.id, delivered="pr", pr_url=url)
        message = f"Merge {task.branch}: task {task.id}: {task.title}"
        # A clone orch made mirrors its source (origin; a worker's, maybe serve's checkout): the merge must reach it
        # or the next fetch undoes it.
        source = project.source
        push_to = source if project.managed and await asyncio.to_thread(gitops.has_remote, project.path, source) \
            else None
        merged = await asyncio.to_thread(gitops.merge_into, project.path, task.branch, self._target(task, project),
                                         message, push_to=push_to)
        return await self._store.update_task(task.id, delivered="merge", merge_commit=merged.commit)

    @staticmethod
    def _target(task: Task, project: ProjectRef) -> str:
        """Where the change goes: the branch the task started from."""
        return task.base_branch or project.default_branch

    async def _pull_request(self, task: Task, project: ProjectRef) -> str:
        from orch.core.delivery.github import GitHub, owner_repo, token_from_env

        assert task.branch is not None
        token = token_from_env()
        if token is None:
            raise DeliveryError("no GitHub token: set GITHUB_TOKEN or GH_TOKEN")
        remote = await asyncio.to_thread(gitops.remote_url, project.path)
        repo = project.settings.github or (owner_repo(remote) if remote else None)
        if repo is None:
            raise DeliveryError(f"cannot tell the GitHub repository of project {project.name}: set "
                                f"projects.{project.name}.github to owner/repo")
        await asyncio.to_thread(gitops.push_branch, project.path, task.branch)
        reviews = await self._store.list_reviews(task.id)
        github = GitHub(token)
        try:
            pull = await github.open_pull_request(repo, head=task.branch, base=self._target(task, project),
                                                  title=task.title, body=await self._pr_body(task, project, reviews))
            if reviews:
                await github.post_review(repo, pull.number, reviews[-1])
        finally:
            await github.close()
        return pull.url

    async def _pr_body(self, task: Task, project: ProjectRef, reviews: list[Review]) -> str:
        assert task.branch is not None
        stat = await asyncio.to_thread(gitops.diff_stat, project.path, task.base_commit or project.default_branch,
                                       task.branch)
        parts = [task.summary or task.title, f"Files changed:\n```\n{stat.stat}\n```"]
        if reviews:
            last = reviews[-1]
            parts.append(f"Review by {last.reviewer} ({last.decision}): {last.notes}".strip())
        issues = sorted({*label_values(task.labels, "issue"), *_ISSUE.findall(f"{task.title}\n{task.body}")},
                        key=lambda number: int(number) if number.isdigit() else 0)
        parts += [f"Closes #{number}" for number in issues if number.isdigit()]
        parts.append(f"Made by orch, task {task.id}.")
        return "\n\n".join(parts)


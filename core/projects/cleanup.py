"""Removing the worktrees of tasks that have ended (`orch task clean`, `workflow.worktree_retention_days`).

Only the folder goes: the task's branch and every commit on it stay in the project's repository, and a later
follow-up re-creates the worktree from the branch. A worktree with anything uncommitted (changed, staged or
untracked files) is never removed; it is listed with the reason instead.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

from orch.core.errors import OrchError, UserError
from orch.core.projects.git import git, run_git
from orch.core.projects.registry import Projects
from orch.core.store.base import Store
from orch.core.tasks.models import TaskStatus

ENDED = (TaskStatus.DONE, TaskStatus.NEEDS_REVIEW, TaskStatus.CANCELLED)
DAY = 86_400.0


@dataclass(frozen=True)
class Kept:
    task_id: int
    path: Path
    why: str


@dataclass
class Cleaned:
    removed: list[tuple[int, Path]] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)


class WorktreeCleanup:
    def __init__(self, store: Store, projects: Projects, *, only_under: Path | None = None) -> None:
        """`only_under`: clean only the worktrees in this folder (an `orch worker`'s own: a store shared by many
        hosts names worktrees of theirs too)."""
        self._store = store
        self._projects = projects
        self._only_under = only_under

    async def clean(self, older_than_days: float | None = None) -> Cleaned:
        """Remove the worktrees of ended tasks last changed more than `older_than_days` ago (all when None)."""
        if older_than_days is not None and older_than_days < 0:
            raise UserError("--older takes a number of days, 0 or more")
        cutoff = time.time() - (older_than_days or 0.0) * DAY
        cleaned = Cleaned()
        for status in ENDED:
            for task in await self._store.list_tasks(status=status):
                path = Path(task.worktree) if task.worktree else None
                if path is None or not path.exists() or task.updated_at > cutoff or not self._mine(path):
                    continue
                try:
                    repo = (await self._projects.resolve(task.project)).path
                except UserError as exc:
                    cleaned.kept.append(Kept(task.id, path, f"its project is gone: {exc}"))
                    continue
                why = await asyncio.to_thread(_remove, repo, path)
                if why is None:
                    cleaned.removed.append((task.id, path))
                else:
                    cleaned.kept.append(Kept(task.id, path, why))
        return cleaned


    def _mine(self, path: Path) -> bool:
        return self._only_under is None or path.resolve().is_relative_to(self._only_under.resolve())


def _remove(repo: Path, path: Path) -> str | None:
    """Remove one worktree; why not, when it holds work that exists nowhere else."""
    try:
        changes = git(path, "status", "--porcelain", "--untracked-files=all")
    except OrchError as exc:
        return f"cannot tell whether it holds uncommitted work: {exc}"
    if changes:
        count = len(changes.splitlines())
        return f"{count} uncommitted change{'s' if count != 1 else ''} (commit or discard them, then clean again)"
    # Without --force git itself refuses a worktree that is dirty or locked: a second guard.
    result = run_git(repo, "worktree", "remove", str(path))
    if result.returncode != 0:
        return f"git refused to remove it: {result.stderr.strip()}"
    return None

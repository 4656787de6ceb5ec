"""One git worktree per task, on its own branch, and the commit of what the agent changed."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

from core.gitutil import git
from core.home import OrchHome
from core.models import Task
from core.projects import ProjectRef


@dataclass(frozen=True)
class Worktree:
    path: Path
    branch: str


def branch_name(task: Task) -> str:
    slug = "-".join(re.findall(r"[a-z0-9]+", task.title.lower()))[:40].strip("-") or "task"
    return f"orch/{task.id}-{slug}"


class Worktrees:
    def __init__(self, home: OrchHome) -> None:
        self._home = home

    async def ensure(self, project: ProjectRef, task: Task) -> Worktree:
        return await asyncio.to_thread(self._ensure, project, task)

    def _ensure(self, project: ProjectRef, task: Task) -> Worktree:
        branch = task.branch or branch_name(task)
        path = Path(task.worktree) if task.worktree else self._home.worktrees_dir / project.name / branch
        if (path / ".git").exists():
            return Worktree(path, branch)
        path.parent.mkdir(parents=True, exist_ok=True)
        git(project.path, "worktree", "prune")
        exists = bool(git(project.path, "branch", "--list", branch))
        if exists:
            git(project.path, "worktree", "add", str(path), branch)
        else:
            git(project.path, "worktree", "add", "-b", branch, str(path), project.default_branch)
        return Worktree(path, branch)

    async def commit(self, worktree: Path, message: str) -> list[str]:
        """Commit every change in the worktree; returns the files changed (empty when nothing changed)."""
        return await asyncio.to_thread(self._commit, worktree, message)

    def _commit(self, worktree: Path, message: str) -> list[str]:
        git(worktree, "add", "-A")
        changed = git(worktree, "diff", "--cached", "--name-only")
        if not changed:
            return []
        git(worktree, "commit", "-q", "-m", message)
        return changed.splitlines()

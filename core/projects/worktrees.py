"""One git worktree per task, on its own branch, and the commit of what the agent changed."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from orch.core.errors import OrchError
from orch.core.home import OrchHome
from orch.core.projects.git import git
from orch.core.projects.registry import NO_PROMPT, ProjectRef
from orch.core.tasks.models import Task

log = logging.getLogger("orch.worktrees")
# Long enough for a big fetch, short enough that a black-holed network does not hold a task for minutes.
FETCH_TIMEOUT_SECONDS = 120.0


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
        self._locks: dict[Path, asyncio.Lock] = {}

    async def ensure(self, project: ProjectRef, task: Task) -> Worktree:
        # One at a time per repository: concurrent fetches and `worktree add`s contend for the same git locks.
        async with self._locks.setdefault(project.path, asyncio.Lock()):
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
            if project.managed:
                self._fetch(project)
            git(project.path, "worktree", "add", "-b", branch, str(path), project.default_branch)
        return Worktree(path, branch)

    def _fetch(self, project: ProjectRef) -> None:
        """Bring the clone's default branch up to origin's, so a new task starts from the latest code."""
        try:
            git(project.path, "fetch", "--quiet", "origin", env=NO_PROMPT, timeout=FETCH_TIMEOUT_SECONDS)
        except OrchError as exc:
            log.warning("project %s: fetch failed, the task starts from what the clone has: %s", project.name, exc)

    async def commit(self, worktree: Path, message: str) -> list[str]:
        """Commit every change in the worktree; returns the files changed (empty when nothing changed)."""
        return await asyncio.to_thread(self._commit, worktree, message)

    def _commit(self, worktree: Path, message: str) -> list[str]:
        git(worktree, "add", "-A")
        # -z: names as they are (without it git quotes any name with a non-ASCII letter: "caf\303\251.md");
        # --no-renames: a moved file is its old name gone and its new one added, so both are listed.
        changed = [name for name in git(worktree, "diff", "--cached", "--name-only", "--no-renames", "-z").split("\0")
                   if name]
        if not changed:
            return []
        git(worktree, "commit", "-q", "-m", message)
        return changed

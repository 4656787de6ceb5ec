"""One git worktree per task, on its own branch, and the commit of what the agent changed.

A new worktree starts from the task's base (a `base:BRANCH` label, else the project's default branch); its
base commit is remembered so the task's diff is always against where it started. Files named by the project's
`copy_files` (a `.env` that git does not track, say) are copied in from the project's checkout and are never
committed. A worktree that was removed is re-created from its branch, so the branch's commits are never lost.

On a worker the project has a remote (serve's copy, see placement): a task's branch is pushed there after each
attempt, and a task that starts on a host after another pushed its branch goes on from that branch.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from orch.core.errors import OrchError, UserError
from orch.core.home import OrchHome
from orch.core.projects.git import NO_PROMPT, git
from orch.core.projects.placement import SERVE_REMOTE
from orch.core.projects.registry import ProjectRef
from orch.core.tasks.labels import label_values
from orch.core.tasks.models import Task

log = logging.getLogger("orch.worktrees")
# Long enough for a big fetch, short enough that a black-holed network does not hold a task for minutes.
FETCH_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class Worktree:
    path: Path
    branch: str
    base_branch: str
    base_commit: str
    created: bool = False  # made just now (so the project's setup has not run in it yet)


def branch_name(task: Task) -> str:
    slug = "-".join(re.findall(r"[a-z0-9]+", task.title.lower()))[:40].strip("-") or "task"
    return f"orch/{task.id}-{slug}"


def base_branch(task: Task, project: ProjectRef) -> str:
    """Where a task's branch starts: its `base:BRANCH` label, else the project's default branch."""
    return task.base_branch or next(iter(label_values(task.labels, "base")), None) or project.default_branch


def never_committed(project: ProjectRef) -> tuple[str, ...]:
    """Pathspecs that keep the files `copy_files` brings in out of every commit."""
    return tuple(f":(exclude,glob){pattern}" for pattern in project.settings.copy_files)


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
        base = base_branch(task, project)
        path = Path(task.worktree) if task.worktree else self._home.worktrees_dir / project.name / branch
        if (path / ".git").exists():
            return Worktree(path, branch, base, task.base_commit or self._merge_base(project, base, branch))
        path.parent.mkdir(parents=True, exist_ok=True)
        git(project.path, "worktree", "prune")
        if project.remote is not None:
            self._fetch(project)
            self._take_pushed(project, branch)
        if git(project.path, "branch", "--list", branch):
            git(project.path, "worktree", "add", str(path), branch)
            base_commit = task.base_commit or self._merge_base(project, base, branch)
        else:
            if project.managed and project.remote is None:
                self._fetch(project)
            base_commit = git(project.path, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}", check=False)
            if not base_commit:
                raise UserError(f"task {task.id}: base branch {base!r} does not exist in project {project.name}")
            git(project.path, "worktree", "add", "-b", branch, str(path), base_commit)
        self._copy_files(project, path)
        return Worktree(path, branch, base, base_commit, created=True)

    def _merge_base(self, project: ProjectRef, base: str, branch: str) -> str:
        return git(project.path, "merge-base", base, branch, check=False) or base

    def _fetch(self, project: ProjectRef) -> None:
        """Bring the clone's default branch up to its source's, so a new task starts from the latest code."""
        try:
            git(project.path, "fetch", "--quiet", project.source, env=NO_PROMPT, timeout=FETCH_TIMEOUT_SECONDS)
        except OrchError as exc:
            log.warning("project %s: fetch failed, the task starts from what the clone has: %s", project.name, exc)

    def _take_pushed(self, project: ProjectRef, branch: str) -> None:
        """The task's branch as another host pushed it, if one did: the task goes on from there. Fast-forward only:
        commits that exist only here are never dropped (a refusal leaves the branch as it is here, and says so)."""
        if not git(project.path, "ls-remote", "--heads", SERVE_REMOTE, branch, env=NO_PROMPT,
                   timeout=FETCH_TIMEOUT_SECONDS, check=False):
            return
        try:
            git(project.path, "fetch", "--quiet", SERVE_REMOTE, f"refs/heads/{branch}:refs/heads/{branch}",
                env=NO_PROMPT, timeout=FETCH_TIMEOUT_SECONDS)
        except OrchError as exc:
            log.warning("project %s: the pushed %s was not taken, the task goes on from this host's: %s",
                        project.name, branch, exc)

    async def push(self, project: ProjectRef, branch: str) -> str | None:
        """On a worker, push the task's branch to the project's remote (serve's copy), so its commits exist off this
        host: another host can go on from them and serve can deliver them. A failure does not stop the task (the
        commits are safe here): it is logged, and what to tell on the attempt is returned (None: pushed, or the
        project has no remote)."""
        if project.remote is None:
            return None
        try:
            # Not forced: a task that moved started from what was pushed, so its commits always fast-forward it;
            # a refusal means commits on the remote this host never saw, and those must not be overwritten.
            await asyncio.to_thread(git, project.path, "push", "--quiet", SERVE_REMOTE,
                                    f"refs/heads/{branch}:refs/heads/{branch}", env=NO_PROMPT,
                                    timeout=FETCH_TIMEOUT_SECONDS)
        except OrchError as exc:
            log.warning("project %s: %s was not pushed to %s: %s", project.name, branch, project.remote, exc)
            return f"its commits were not pushed to {project.remote}: {exc}"
        return None

    def _copy_files(self, project: ProjectRef, worktree: Path) -> None:
        if not project.settings.copy_files:
            return
        if project.managed:
            log.warning("project %s: copy_files needs a checkout to copy from; a clone orch made has none",
                        project.name)
            return
        for pattern in project.settings.copy_files:
            for source in sorted(project.path.glob(pattern)):
                if not source.is_file() or ".git" in source.relative_to(project.path).parts:
                    continue
                target = worktree / source.relative_to(project.path)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)

    async def commit(self, worktree: Path, message: str, exclude: tuple[str, ...] = ()) -> list[str]:
        """Commit every change in the worktree but what `exclude` names; the files changed ([] when none)."""
        return await asyncio.to_thread(self._commit, worktree, message, exclude)

    def _commit(self, worktree: Path, message: str, exclude: tuple[str, ...]) -> list[str]:
        git(worktree, "add", "-A", "--", ".", *exclude)
        # -z: names as they are (without it git quotes any name with a non-ASCII letter: "caf\303\251.md");
        # --no-renames: a moved file is its old name gone and its new one added, so both are listed.
        changed = [name for name in git(worktree, "diff", "--cached", "--name-only", "--no-renames", "-z").split("\0")
                   if name]
        if not changed:
            return []
        git(worktree, "commit", "-q", "-m", message)
        return changed

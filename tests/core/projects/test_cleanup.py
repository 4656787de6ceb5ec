"""`orch task clean`: worktrees of ended tasks go, their branches and commits stay, and uncommitted work is never
lost — with real git worktrees made by the real engine."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from orch.core.config import parse_config
from orch.core.home import OrchHome
from orch.core.projects.cleanup import WorktreeCleanup
from orch.core.projects.worktrees import Worktrees
from orch.core.services import Services
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import TaskStatus

from tests.conftest import make_repo
from tests.helpers import running_engine


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def services(home: OrchHome, store: SqliteStore, tmp_path: Path) -> Services:
    repo = make_repo(tmp_path / "repo")
    return Services(home, store, config=parse_config({
        "projects": {"app": {"path": str(repo)}}, "router": {"fallback_executor": "shell"},
        "workflow": {"max_attempts": 1, "review": False}}))


async def finished(home: OrchHome, store: SqliteStore, services: Services, *bodies: str) -> list[int]:
    async with running_engine(home, store, services.config) as (orch, events):
        ids = [(await orch.tasks.create(f"task {n}", body, project="app", agent="shell")).id
               for n, body in enumerate(bodies)]
        for task_id in ids:
            await events.wait_status(task_id, TaskStatus.DONE, TaskStatus.NEEDS_REVIEW, timeout=30)
    return ids


async def test_clean_removes_ended_worktrees_and_keeps_their_branches(home: OrchHome, store: SqliteStore,
                                                                      services: Services) -> None:
    [task_id] = await finished(home, store, services, "echo work > result.txt")
    task = await services.tasks.get(task_id)
    worktree = Path(task.worktree or "")
    assert worktree.exists()
    cleaned = await services.cleanup.clean()
    assert cleaned.removed == [(task_id, worktree)] and cleaned.kept == []
    assert not worktree.exists()
    project = await services.projects.resolve("app")
    assert git(project.path, "show", f"{task.branch}:result.txt") == "work", "the commits stay on the branch"
    # A later run of the task gets its worktree back from the branch.
    again = await Worktrees(home).ensure(project, task)
    assert (again.path / "result.txt").read_text() == "work\n"


async def test_a_worker_cleans_only_its_own_worktrees(home: OrchHome, store: SqliteStore, services: Services,
                                                      tmp_path: Path) -> None:
    [task_id] = await finished(home, store, services, "echo work > result.txt")
    worktree = Path((await services.tasks.get(task_id)).worktree or "")
    elsewhere = await WorktreeCleanup(store, services.projects, only_under=tmp_path / "other-home").clean()
    assert (elsewhere.removed, elsewhere.kept, worktree.exists()) == ([], [], True)
    own = await WorktreeCleanup(store, services.projects, only_under=home.worktrees_dir).clean()
    assert own.removed == [(task_id, worktree)] and not worktree.exists()


async def test_a_worktree_with_uncommitted_work_is_never_removed(home: OrchHome, store: SqliteStore,
                                                                 services: Services) -> None:
    [task_id] = await finished(home, store, services, "echo committed > a.txt")
    worktree = Path((await services.tasks.get(task_id)).worktree or "")
    (worktree / "notes.txt").write_text("only here\n")
    (worktree / "a.txt").write_text("edited by hand\n")
    cleaned = await WorktreeCleanup(store, services.projects).clean()
    [kept] = cleaned.kept
    assert (kept.task_id, kept.path) == (task_id, worktree) and cleaned.removed == []
    assert kept.why.startswith("2 uncommitted changes")
    assert (worktree / "notes.txt").read_text() == "only here\n"
    assert (worktree / "a.txt").read_text() == "edited by hand\n"


async def test_older_keeps_recent_worktrees_and_running_tasks_are_never_touched(
    home: OrchHome, store: SqliteStore, services: Services
) -> None:
    [task_id] = await finished(home, store, services, "echo x > x.txt")
    assert (await services.cleanup.clean(older_than_days=1)).removed == []
    running = await services.tasks.create("running", "true", project="app", agent="shell")
    await store.transition(running.id, TaskStatus.IN_PROGRESS, worktree=str((await services.tasks.get(task_id))
                                                                             .worktree))
    cleaned = await services.cleanup.clean()
    assert [task for task, _ in cleaned.removed] == [task_id]
    with pytest.raises(Exception, match="--older takes a number of days"):
        await services.cleanup.clean(older_than_days=-1)

"""Code placement with real git repositories and two homes standing for two hosts: each clones serve's copy of a
project on first use, pushes a task's branch back to it, and a task that starts on the other host goes on from
the pushed branch; a push refused is told, and commits that exist only on a host are never dropped."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from orch.core.home import OrchHome
from orch.core.projects.placement import placed_clone, source_remote
from orch.core.projects.registry import ProjectRef
from orch.core.projects.worktrees import Worktrees
from orch.core.store.records import Project
from orch.core.tasks.models import Task, TaskStatus

from tests.conftest import make_repo

TASK = Task(7, "Move me", "", TaskStatus.IN_PROGRESS)


def git(path: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=path, check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture
def serve_copy(tmp_path: Path) -> Path:
    """Serve's checkout of the project."""
    return make_repo(tmp_path / "serve" / "app")


def host(tmp_path: Path, name: str, serve_copy: Path) -> tuple[Worktrees, ProjectRef]:
    home = OrchHome(tmp_path / name)
    home.ensure()
    stored = Project("app", str(serve_copy), None, False, url="https://forge.invalid/me/app.git")
    clone = placed_clone(home, stored, str(serve_copy))
    return Worktrees(home), ProjectRef("app", clone, "main", managed=True, remote=str(serve_copy),
                                       source=source_remote(stored))


def test_a_host_clones_the_project_on_first_use_and_keeps_its_own_origin(tmp_path: Path, serve_copy: Path) -> None:
    _, project = host(tmp_path, "a", serve_copy)
    assert project.path == tmp_path / "a" / "projects" / "placed" / "app.git"
    assert git(project.path, "config", "remote.serve.url") == str(serve_copy)
    assert git(project.path, "config", "remote.origin.url") == "https://forge.invalid/me/app.git"
    git(project.path, "config", "test.mark", "kept")
    again = placed_clone(OrchHome(tmp_path / "a"), Project("app", str(serve_copy), None, False), str(serve_copy))
    assert again == project.path and git(again, "config", "test.mark") == "kept"  # not cloned a second time


async def test_a_task_goes_on_on_another_host_from_the_branch_the_first_pushed(
    tmp_path: Path, serve_copy: Path
) -> None:
    first, first_project = host(tmp_path, "a", serve_copy)
    second, second_project = host(tmp_path, "b", serve_copy)  # cloned before the push: it fetches the branch
    worktree = await first.ensure(first_project, TASK)
    (worktree.path / "done.txt").write_text("half\n")
    assert await first.commit(worktree.path, "first host's attempt") == ["done.txt"]
    assert await first.push(first_project, worktree.branch) is None
    pushed = git(serve_copy, "rev-parse", worktree.branch)

    moved = await second.ensure(second_project, TASK)
    assert moved.path.is_relative_to(tmp_path / "b")
    assert (moved.path / "done.txt").read_text() == "half\n"
    assert git(moved.path, "rev-parse", "HEAD") == pushed
    assert moved.base_commit == git(serve_copy, "rev-parse", "main")


async def test_a_refused_push_is_told_and_the_commits_stay_here(tmp_path: Path, serve_copy: Path) -> None:
    worktrees, project = host(tmp_path, "a", serve_copy)
    hook = serve_copy / ".git" / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho no pushes today >&2\nexit 1\n")
    hook.chmod(0o755)
    worktree = await worktrees.ensure(project, TASK)
    (worktree.path / "done.txt").write_text("mine\n")
    await worktrees.commit(worktree.path, "work")
    told = await worktrees.push(project, worktree.branch)
    assert told is not None and "no pushes today" in told and str(serve_copy) in told
    assert git(project.path, "log", "-1", "--format=%s", worktree.branch) == "work"


async def test_commits_that_exist_only_on_this_host_are_not_dropped_for_the_pushed_branch(
    tmp_path: Path, serve_copy: Path
) -> None:
    first, first_project = host(tmp_path, "a", serve_copy)
    second, second_project = host(tmp_path, "b", serve_copy)
    here = await second.ensure(second_project, TASK)
    (here.path / "b.txt").write_text("only on b\n")
    await second.commit(here.path, "b's unpushed work")
    await second.push(second_project, here.branch)
    git(second_project.path, "worktree", "remove", "--force", str(here.path))
    # Meanwhile the branch on serve's copy went another way (b's push is not in it: it was reset).
    git(serve_copy, "branch", "-f", here.branch, "main")
    elsewhere = await first.ensure(first_project, TASK)
    (elsewhere.path / "a.txt").write_text("a\n")
    await first.commit(elsewhere.path, "a's work")
    assert await first.push(first_project, elsewhere.branch) is None

    again = await second.ensure(second_project, TASK)
    assert git(again.path, "log", "-1", "--format=%s") == "b's unpushed work"


async def test_a_clone_projects_task_starts_from_its_origins_latest_not_serves_stale_copy(tmp_path: Path) -> None:
    upstream = make_repo(tmp_path / "forge" / "app")
    serve_clone = tmp_path / "serve" / "app.git"
    git(tmp_path, "clone", "-q", "--bare", str(upstream), str(serve_clone))
    home = OrchHome(tmp_path / "a")
    home.ensure()
    stored = Project("app", str(serve_clone), "main", True, url=str(upstream))
    clone = placed_clone(home, stored, str(serve_clone))
    (upstream / "new.txt").write_text("new\n")
    git(upstream, "add", "new.txt")
    git(upstream, "commit", "-q", "-m", "after serve cloned")
    project = ProjectRef("app", clone, "main", managed=True, remote=str(serve_clone), source=source_remote(stored))
    worktree = await Worktrees(home).ensure(project, TASK)
    assert worktree.base_commit == git(upstream, "rev-parse", "main")
    assert (worktree.path / "new.txt").exists()

"""Worktrees with real git repositories: `ensure` gives a task its branch `orch/N-slug` and a worktree (new from
the project's default branch, on a branch that exists already, re-created when its folder is gone), and `commit`
commits every change the agent made and says which files those were."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest
from orch.core.home import OrchHome
from orch.core.projects.registry import ProjectRef
from orch.core.projects.worktrees import Worktree, Worktrees, branch_name
from orch.core.tasks.models import Task, TaskStatus

from tests.conftest import make_repo


def git(path: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=path, check=True,
                          capture_output=True, text=True).stdout.strip()


def task(task_id: int = 5, title: str = "Fix the flaky login test", *, branch: str | None = None,
         worktree: str | None = None) -> Task:
    return Task(task_id, title, "", TaskStatus.IN_PROGRESS, branch=branch, worktree=worktree)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose `develop` is one commit ahead of `main`."""
    path = make_repo(tmp_path / "repo", {"README.md": "hello\n", "app.py": "print('main')\n"})
    git(path, "checkout", "-q", "-b", "develop")
    (path / "app.py").write_text("print('develop')\n")
    git(path, "commit", "-q", "-am", "develop's change")
    git(path, "checkout", "-q", "main")
    return path


@pytest.fixture
def project(repo: Path) -> ProjectRef:
    return ProjectRef("demo", repo, "develop")


@pytest.fixture
def worktrees(home: OrchHome) -> Worktrees:
    return Worktrees(home)


@pytest.mark.parametrize(("title", "expected"), [
    ("Fix the flaky login test", "orch/5-fix-the-flaky-login-test"),
    ("Rename `User.id` → UUID (see #12)!", "orch/5-rename-user-id-uuid-see-12"),
    ("a " * 30, "orch/5-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a-a"),
    ("修复 login bug", "orch/5-login-bug"),
    ("!!!", "orch/5-task"),
])
def test_branch_names_are_the_id_and_a_slug_of_the_title(title: str, expected: str) -> None:
    assert branch_name(task(title=title)) == expected


async def test_a_new_task_gets_a_branch_and_worktree_from_the_default_branch(
    home: OrchHome, repo: Path, project: ProjectRef, worktrees: Worktrees
) -> None:
    worktree = await worktrees.ensure(project, task())
    assert worktree == Worktree(home.worktrees_dir / "demo" / "orch/5-fix-the-flaky-login-test",
                                "orch/5-fix-the-flaky-login-test", "develop", git(repo, "rev-parse", "develop"),
                                created=True)
    assert git(worktree.path, "rev-parse", "--abbrev-ref", "HEAD") == worktree.branch
    assert git(worktree.path, "rev-parse", "HEAD") == git(repo, "rev-parse", "develop")
    assert (worktree.path / "app.py").read_text() == "print('develop')\n"
    # The user's checkout stays on its branch.
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"


async def test_the_worktree_base_can_be_moved(
    home: OrchHome, project: ProjectRef, worktrees: Worktrees, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCH_WORKTREES", str(tmp_path / "elsewhere"))
    worktree = await worktrees.ensure(project, task())
    assert worktree.path == tmp_path / "elsewhere" / "demo" / "orch/5-fix-the-flaky-login-test"
    assert (worktree.path / "README.md").exists()


async def test_an_existing_branch_is_checked_out_as_it_is(
    repo: Path, project: ProjectRef, worktrees: Worktrees
) -> None:
    # An earlier run left its branch, with work on it, and no worktree.
    git(repo, "branch", "orch/5-fix-the-flaky-login-test", "main")
    git(repo, "checkout", "-q", "orch/5-fix-the-flaky-login-test")
    (repo / "notes.txt").write_text("earlier work\n")
    git(repo, "add", "notes.txt")
    git(repo, "commit", "-q", "-m", "earlier work")
    earlier = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")

    worktree = await worktrees.ensure(project, task())
    assert git(worktree.path, "rev-parse", "HEAD") == earlier
    assert (worktree.path / "notes.txt").read_text() == "earlier work\n"
    assert (worktree.path / "app.py").read_text() == "print('main')\n"


async def test_a_missing_worktree_is_made_again_from_its_branch(
    project: ProjectRef, worktrees: Worktrees
) -> None:
    first = await worktrees.ensure(project, task())
    (first.path / "result.txt").write_text("done\n")
    assert await worktrees.commit(first.path, "the agent's work") == ["result.txt"]
    shutil.rmtree(first.path)

    again = await worktrees.ensure(project, task(branch=first.branch, worktree=str(first.path)))
    assert again == first
    assert (again.path / "result.txt").read_text() == "done\n"
    assert git(again.path, "log", "-1", "--format=%s") == "the agent's work"


async def test_an_existing_worktree_is_used_as_it_is(project: ProjectRef, worktrees: Worktrees) -> None:
    first = await worktrees.ensure(project, task())
    (first.path / "scratch.txt").write_text("not committed yet\n")
    again = await worktrees.ensure(project, task(branch=first.branch, worktree=str(first.path)))
    assert (again.path, again.branch, again.base_commit, again.created) == (first.path, first.branch,
                                                                            first.base_commit, False)
    assert (first.path / "scratch.txt").read_text() == "not committed yet\n"


async def test_the_task_keeps_the_branch_and_folder_it_was_given(
    repo: Path, project: ProjectRef, worktrees: Worktrees, tmp_path: Path
) -> None:
    # Renaming a task does not move its work: the stored branch and folder win over the title.
    given = task(title="A new title", branch="orch/5-old-title", worktree=str(tmp_path / "old-folder"))
    worktree = await worktrees.ensure(project, given)
    assert worktree == Worktree(tmp_path / "old-folder", "orch/5-old-title", "develop",
                                git(repo, "rev-parse", "develop"), created=True)
    assert git(worktree.path, "rev-parse", "HEAD") == git(repo, "rev-parse", "develop")


async def test_two_tasks_of_one_project_at_once(project: ProjectRef, worktrees: Worktrees) -> None:
    first, second = await asyncio.gather(worktrees.ensure(project, task(1, "first")),
                                         worktrees.ensure(project, task(2, "second")))
    assert (first.branch, second.branch) == ("orch/1-first", "orch/2-second")
    assert (first.path / "README.md").exists() and (second.path / "README.md").exists()


async def test_commit_takes_new_changed_deleted_and_moved_files(project: ProjectRef, worktrees: Worktrees) -> None:
    worktree = await worktrees.ensure(project, task())
    base = git(worktree.path, "rev-parse", "HEAD")
    (worktree.path / "app.py").write_text("print('changed')\n")
    (worktree.path / "README.md").unlink()
    (worktree.path / "src" / "pkg").mkdir(parents=True)
    (worktree.path / "src" / "pkg" / "new.py").write_text("x = 1\n")
    (worktree.path / "with space.txt").write_text("spaced\n")
    (worktree.path / "café.md").write_text("accents\n")

    files = await worktrees.commit(worktree.path, "orch: task 5\n\nAttempt 1 by shell.")
    assert sorted(files) == ["README.md", "app.py", "café.md", "src/pkg/new.py", "with space.txt"]
    assert git(worktree.path, "status", "--porcelain") == ""
    assert git(worktree.path, "log", "-1", "--format=%B") == "orch: task 5\n\nAttempt 1 by shell."
    assert git(worktree.path, "rev-parse", "HEAD~1") == base
    assert git(worktree.path, "rev-parse", "--abbrev-ref", "HEAD") == worktree.branch

    # A move is a file gone and a file new: both are listed.
    git(worktree.path, "mv", "src/pkg/new.py", "src/pkg/renamed.py")
    assert sorted(await worktrees.commit(worktree.path, "move")) == ["src/pkg/new.py", "src/pkg/renamed.py"]


async def test_commit_with_nothing_changed_makes_no_commit(project: ProjectRef, worktrees: Worktrees) -> None:
    worktree = await worktrees.ensure(project, task())
    head = git(worktree.path, "rev-parse", "HEAD")
    assert await worktrees.commit(worktree.path, "nothing") == []
    # An ignored file is no change either.
    (worktree.path / ".gitignore").write_text("*.log\n")
    assert await worktrees.commit(worktree.path, "ignore logs") == [".gitignore"]
    (worktree.path / "run.log").write_text("noise\n")
    after = git(worktree.path, "rev-parse", "HEAD")
    assert await worktrees.commit(worktree.path, "nothing again") == []
    assert git(worktree.path, "rev-parse", "HEAD") == after != head

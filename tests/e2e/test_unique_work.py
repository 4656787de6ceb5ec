"""No command of orch deletes a branch or a worktree holding commits or changes that exist nowhere else.

The commands that delete (found by grepping for rmtree, unlink, `worktree remove`, `branch -D`): `orch project
remove` (a clone and its task worktrees), `orch task clean` and the retention that runs it on a schedule
(worktrees of ended tasks), `orch job remove` (an entry of jobs.yml); and `task retry`/`task cancel`, which must
leave the worktree as it is. Each is run here over a clone holding a task branch with a commit found nowhere else
and a worktree with an uncommitted file, and a checkout holding the same; after each, the work is still there or
the command refused with a line saying why. Only `orch project remove NAME --force` goes through.
"""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass
from pathlib import Path

from orch.core.config import Config
from orch.core.home import OrchHome
from orch.core.projects.registry import Projects
from orch.core.projects.worktrees import Worktrees
from orch.core.running.housekeeping import Housekeeping
from orch.core.services import Services
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import TaskStatus

from tests.conftest import make_repo
from tests.e2e.test_cli_projects import orch


@dataclass(frozen=True)
class Work:
    """One commit only a task branch has, and one file only a worktree has."""

    repo: Path
    commit: str
    uncommitted: Path

    def survives(self) -> bool:
        kept = subprocess.run(["git", "-C", str(self.repo), "cat-file", "-e", f"{self.commit}^{{commit}}"],
                              capture_output=True)
        return kept.returncode == 0 and self.uncommitted.read_text() == "only here\n"


async def _make_work(home: OrchHome, project: str, committed_title: str, dirty_title: str) -> Work:
    """Two ended tasks of `project`, as the engine leaves them: one with a commit on its branch (its worktree
    clean), one whose worktree has a file never committed."""
    store = await SqliteStore.open(home.db_file)
    try:
        services = Services(home, store, config=Config())
        ref = await Projects(store, Config(), home).resolve(project)
        commit, uncommitted = "", Path()
        for title in (committed_title, dirty_title):
            task = await services.tasks.create(title, project=project, agent="shell")
            tree = await Worktrees(home).ensure(ref, task)
            (tree.path / "notes.txt").write_text("only here\n")
            if title == committed_title:
                subprocess.run(["git", "-C", str(tree.path), "add", "notes.txt"], check=True)
                subprocess.run(["git", "-C", str(tree.path), "-c", "user.name=t", "-c", "user.email=t@t", "commit",
                                "-qm", "unique"], check=True)
                commit = subprocess.run(["git", "-C", str(tree.path), "rev-parse", "HEAD"], capture_output=True,
                                        text=True, check=True).stdout.strip()
            else:
                uncommitted = tree.path / "notes.txt"
            await store.transition(task.id, TaskStatus.DONE, branch=tree.branch, worktree=str(tree.path),
                                   base_commit=tree.base_commit)
        return Work(ref.path, commit, uncommitted)
    finally:
        await store.close()


async def _retention(home: OrchHome) -> None:
    """The scheduled clean-up of `workflow.worktree_retention_days`, one pass."""
    store = await SqliteStore.open(home.db_file)
    try:
        services = Services(home, store, config=Config())
        await Housekeeping(services.cleanup, 0.0).tidy()
    finally:
        await store.close()


def test_every_deleting_command_keeps_work_that_exists_nowhere_else(tmp_path: Path) -> None:
    home = OrchHome(tmp_path / "home")
    assert orch("project", "add", str(make_repo(tmp_path / "acme" / "app")), cwd=tmp_path).returncode == 0
    checkout = make_repo(tmp_path / "mine")
    assert orch("init", cwd=checkout).returncode == 0
    works = [asyncio.run(_make_work(home, "app", "clone commit", "clone dirty")),
             asyncio.run(_make_work(home, "mine", "checkout commit", "checkout dirty"))]
    assert all(work.survives() for work in works)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = orch(*args, cwd=tmp_path)
        assert all(work.survives() for work in works), (args, result.stdout, result.stderr)
        return result

    for args in (("task", "clean"), ("task", "clean", "--older", "0"), ("task", "retry", "1"),
                 ("task", "cancel", "1"), ("job", "add", "@daily", "tick", "--project", "app"),
                 ("job", "remove", "1")):
        assert run(*args).returncode == 0, args
    cleaned = run("task", "clean")
    assert "uncommitted" in cleaned.stdout, cleaned.stdout
    asyncio.run(_retention(home))
    assert all(work.survives() for work in works)

    refused = run("project", "remove", "app")
    clone_work = works[0]
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == (
        "orch: project 'app' holds work that exists nowhere else: branch orch/1-clone-commit (1 commit on no other "
        f"branch); worktree {clone_work.uncommitted.parent} (1 uncommitted change); deliver or copy it first "
        "(`orch task push ID`), or `orch project remove app --force` to delete it anyway\n")
    # Pushed, the branch's commit is safe on origin; the uncommitted file still holds the clone back.
    branch = "orch/1-clone-commit"
    assert subprocess.run(["git", "-C", str(clone_work.repo), "push", "-q", "origin", branch]).returncode == 0
    refused = run("project", "remove", "app")
    assert (refused.returncode, refused.stderr) == (1, (
        f"orch: project 'app' holds work that exists nowhere else: worktree {clone_work.uncommitted.parent} "
        "(1 uncommitted change); deliver or copy it first (`orch task push ID`), or `orch project remove app "
        "--force` to delete it anyway\n"))
    unregistered = run("project", "remove", "mine")  # a checkout is only unregistered, its branches stay
    assert unregistered.returncode == 0, unregistered.stderr

    forced = orch("project", "remove", "app", "--force", cwd=tmp_path)
    assert (forced.returncode, forced.stdout) == (0, f"project app removed; deleted {clone_work.repo}\n")
    assert not clone_work.repo.exists() and works[1].survives()

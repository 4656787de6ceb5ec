"""Code placement: a project that lives only in serve's home (a clone `orch project add` made there) runs on workers
that clone it on first use and push each task commit back to it, so a task that loses its host goes on elsewhere
from what was pushed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cluster.harness import Worker, query, running_cluster
from tests.cluster.test_cluster import serve_env, worker_of
from tests.cluster.test_failures import output_lines
from tests.conftest import make_repo
from tests.e2e.test_serve_stdout import ORCH, Serve

# First attempt: leave a file, mark this host's clone (the worktree's git folder is in it) and fail, so the
# attempt is committed and pushed and a second one runs; on the same host the second waits to be killed; on
# another host (no mark in its clone) it says what it found and ends.
MOVING = ("if [ -f a.txt ]; then if [ -f $(git rev-parse --git-dir)/seen ]; then echo waiting; sleep 600; "
          "else echo continued from $(cat a.txt); fi; "
          "else echo first > a.txt; touch $(git rev-parse --git-dir)/seen; echo wrote; exit 1; fi")


def git_out(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
async def placed(tmp_path: Path, postgres_database: str) -> AsyncIterator[tuple[Serve, list[Worker], Path]]:
    """serve, two workers, and project `app` cloned into serve's home only (its clone's path)."""
    make_repo(tmp_path / "src" / "app")
    async with running_cluster(tmp_path, postgres_database) as (serve, workers):
        added = await asyncio.to_thread(
            subprocess.run, [ORCH, "project", "add", str(tmp_path / "src" / "app")], capture_output=True, text=True,
            timeout=60, env=serve_env(tmp_path, postgres_database))
        assert added.returncode == 0, added.stderr
        [(path,)] = await query(postgres_database, "SELECT path FROM projects WHERE name = 'app'")
        assert Path(path).is_relative_to(tmp_path / "serve")
        yield serve, workers, Path(path)


async def test_a_worker_clones_the_project_on_first_use_and_pushes_the_task_commit(
    placed: tuple[Serve, list[Worker], Path], postgres_database: str
) -> None:
    serve, workers, remote = placed
    assert not any((worker.home.projects_dir / "placed").exists() for worker in workers)
    await serve.send('/task new write project:app agent:shell body:"echo made > made.txt; echo made it"')
    assert "made it" in await output_lines(serve, 1)
    ran = await worker_of(postgres_database, 1, workers)
    clone = ran.home.projects_dir / "placed" / "app.git"
    # Its origin is the project's own (from the registry): delivering from the worker goes where serve's would.
    [(url,)] = await query(postgres_database, "SELECT url FROM projects WHERE name = 'app'")
    assert url.endswith("/src/app") and git_out(clone, "config", "remote.origin.url") == url
    [(branch,)] = await query(postgres_database, "SELECT branch FROM tasks WHERE id = 1")
    # The commit is on serve's clone: serve can deliver it, another host can go on from it.
    assert git_out(remote, "show", f"{branch}:made.txt") == "made"


async def test_a_task_whose_host_dies_goes_on_elsewhere_from_the_pushed_commit(
    placed: tuple[Serve, list[Worker], Path], postgres_database: str
) -> None:
    serve, workers, remote = placed
    await serve.send(f'/task new move project:app agent:shell body:"{MOVING}"')
    await serve.read_until(r"\[1\] waiting", 60)
    first = await worker_of(postgres_database, 1, workers)
    [(branch,)] = await query(postgres_database, "SELECT branch FROM tasks WHERE id = 1")
    pushed = git_out(remote, "rev-parse", branch)
    assert git_out(remote, "show", f"{branch}:a.txt") == "first"
    await first.stop(signal.SIGKILL)
    first.kill_tmux()
    assert await output_lines(serve, 1) == ["continued from first"]
    second = await worker_of(postgres_database, 1, workers)
    assert second is not first
    [(worktree,)] = await query(postgres_database, "SELECT worktree FROM tasks WHERE id = 1")
    assert Path(worktree).is_relative_to(second.home.root)
    assert pushed in git_out(Path(worktree), "log", "--format=%H").splitlines()
    attempts = await query(postgres_database, "SELECT number, outcome FROM attempts ORDER BY number")
    assert attempts == [(1, "exit_code"), (2, "lost"), (3, "done")]
    # The dead host's clone and worktree are where it left them: orch deletes nothing that only a worker has.
    assert (first.home.worktrees_dir / "app").is_dir()
    assert os.path.isdir(first.home.projects_dir / "placed" / "app.git")

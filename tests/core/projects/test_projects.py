"""Managed projects: where `orch project add` files a clone, and tasks that run in one through the real engine."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from orch.core.errors import UserError
from orch.core.home import OrchHome
from orch.core.projects.registry import Source, parse_source
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import TaskStatus

from tests.conftest import make_repo
from tests.helpers import running_engine

DONE = TaskStatus.DONE
REVIEW = TaskStatus.NEEDS_REVIEW


def git(path: str | Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=path, capture_output=True, text=True, check=True,
                          env=env).stdout.strip()


@pytest.mark.parametrize(("text", "expected"), [
    ("https://example.com/acme/app.git", Source("https://example.com/acme/app.git", "acme", "app")),
    ("https://example.com/acme/app", Source("https://example.com/acme/app", "acme", "app")),
    ("ssh://git@example.com:2222/acme/app.git", Source("ssh://git@example.com:2222/acme/app.git", "acme", "app")),
    ("git@example.com:acme/app.git", Source("git@example.com:acme/app.git", "acme", "app")),
    ("acme/app", Source("https://github.com/acme/app.git", "acme", "app")),
    ("acme/app.git", Source("https://github.com/acme/app.git", "acme", "app")),
    # One path segment: the host stands in for the owner.
    ("https://example.com/app.git", Source("https://example.com/app.git", "example.com", "app")),
])
def test_urls_name_their_owner_and_repo(text: str, expected: Source, tmp_path: Path) -> None:
    assert parse_source(text, tmp_path) == expected


def test_a_local_path_is_filed_under_its_parent_folder(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "work" / "app")
    expected = Source(str(repo), "work", "app")
    assert parse_source(str(repo), tmp_path) == expected
    # An existing path wins over the owner/repo shorthand it looks like.
    assert parse_source("work/app", tmp_path) == expected
    bare = tmp_path / "srv" / "lib.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    assert parse_source(str(bare), tmp_path) == Source(str(bare), "srv", "lib")


@pytest.mark.parametrize(("text", "message"), [
    ("just-a-word", "'just-a-word' is not a git URL, owner/repo or an existing path"),
    ("a/b/c", "'a/b/c' is not a git URL, owner/repo or an existing path"),
    ("https://example.com/", "cannot tell owner/repo from 'https://example.com/'"),
    ("acme/..", "cannot tell owner/repo from 'acme/..'"),
])
def test_what_is_no_source_says_so(text: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(UserError) as raised:
        parse_source(text, tmp_path)
    assert str(raised.value) == message


def test_a_folder_that_is_no_repository_root_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    inside = make_repo(tmp_path / "repo") / "sub"
    inside.mkdir()
    for path in (plain, inside):
        with pytest.raises(UserError) as raised:
            parse_source(str(path), tmp_path)
        assert str(raised.value) == f"{path} is not a git repository"


async def test_tasks_run_in_a_managed_clone_and_start_from_origins_latest(
    home: OrchHome, store: SqliteStore, tmp_path: Path
) -> None:
    upstream = make_repo(tmp_path / "acme" / "app")
    async with running_engine(home, store) as (orch, events):
        project = await orch.projects.add_clone(str(upstream), None, tmp_path)
        clone = home.projects_dir / "acme" / "app.git"
        assert (project.name, project.path, project.default_branch, project.managed) == ("app", str(clone), "main",
                                                                                         True)
        assert project.url == str(upstream)  # what a worker's clone of it delivers to
        assert git(clone, "rev-parse", "--is-bare-repository") == "true"

        first = await orch.tasks.create("first", "echo one > one.txt", agent="shell", project="app")
        await events.wait_status(first.id, DONE, REVIEW)
        assert git(clone, "log", "-1", "--format=%s", "orch/1-first") == "orch: task 1: first"
        assert git(clone, "show", "--name-only", "--format=", "orch/1-first") == "one.txt"
        task_commit = git(clone, "rev-parse", "orch/1-first")

        # Upstream moves on, and happens to have a branch named like task 1's: the fetch takes the first and
        # leaves task 1's branch, which only the clone has, alone.
        (upstream / "upstream.txt").write_text("new\n")
        git(upstream, "add", "upstream.txt")
        git(upstream, "commit", "-q", "-m", "upstream change")
        git(upstream, "branch", "orch/1-first", "main~1")
        second = await orch.tasks.create("second", "test -f upstream.txt && echo seen upstream",
                                             agent="shell", project="app")
        await events.wait_status(second.id, DONE, REVIEW)
    assert [(await store.get_task(t.id)).status for t in (first, second)] == [DONE, DONE]  # type: ignore[union-attr]
    assert events.lines(second.id) == ["seen upstream"]
    assert git(clone, "rev-parse", "main") == git(upstream, "rev-parse", "main")
    assert git(clone, "rev-parse", "orch/1-first") == task_commit


async def test_a_failed_fetch_is_a_warning_and_the_task_runs_on_what_the_clone_has(
    home: OrchHome, store: SqliteStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    upstream = make_repo(tmp_path / "acme" / "app")
    async with running_engine(home, store) as (orch, events):
        await orch.projects.add_clone(str(upstream), None, tmp_path)
        shutil.rmtree(upstream)  # as unreachable as a remote is offline
        with caplog.at_level(logging.WARNING, logger="orch.worktrees"):
            task = await orch.tasks.create("offline", "cat README.md", agent="shell", project="app")
            await events.wait_status(task.id, DONE, REVIEW)
    assert (await store.get_task(task.id)).status is DONE  # type: ignore[union-attr]
    assert events.lines(task.id) == ["hello"]
    [warning] = [record.getMessage() for record in caplog.records if record.name == "orch.worktrees"]
    assert warning.startswith("project app: fetch failed, the task starts from what the clone has: git fetch")

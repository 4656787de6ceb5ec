"""Delivery of a finished task — push, pull request, merge — with real git (an `origin` that is a bare
repository on disk) and a fake GitHub REST API; the shell agent does the work, through the real engine."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from orch.core.config import Config, parse_config
from orch.core.errors import UserError
from orch.core.home import OrchHome
from orch.core.services import Services
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import Review, ReviewComment, Task, TaskStatus

from tests.conftest import make_repo
from tests.fakes.github_api import GITHUB_TOKEN, FakeGitHub
from tests.helpers import running_engine

DONE = TaskStatus.DONE
REVIEW = TaskStatus.NEEDS_REVIEW


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The user's checkout, on main, with an `origin` that is a bare repository next to it."""
    checkout = make_repo(tmp_path / "repo", {"README.md": "hello\n"})
    git(tmp_path, "clone", "-q", "--bare", str(checkout), str(tmp_path / "origin.git"))
    git(checkout, "remote", "add", "origin", str(tmp_path / "origin.git"))
    return checkout


def config(repo: Path, deliver: str = "branch", **project: Any) -> Config:
    return parse_config({
        "projects": {"app": {"path": str(repo), "deliver": deliver, **project}},
        "router": {"fallback_executor": "shell"},
        "workflow": {"max_attempts": 1, "review": False},
    })


async def run(home: OrchHome, store: SqliteStore, cfg: Config, body: str, title: str = "add a greeting",
              labels: tuple[str, ...] = ()) -> Task:
    async with running_engine(home, store, cfg) as (orch, events):
        task = await orch.tasks.create(title, body, project="app", agent="shell", labels=labels)
        await events.wait_status(task.id, DONE, REVIEW, timeout=30)
    final = await store.get_task(task.id)
    assert final is not None
    return final


async def test_push_sends_the_branch_to_origin(home: OrchHome, store: SqliteStore, repo: Path, tmp_path: Path) -> None:
    task = await run(home, store, config(repo, "push"), "echo hi > greeting.txt")
    assert task.status is DONE and task.delivered == "push"
    assert git(tmp_path / "origin.git", "show", f"{task.branch}:greeting.txt") == "hi"
    assert (task.diff_files, task.diff_added, task.diff_removed) == (1, 1, 0)


async def test_a_label_chooses_the_delivery_over_the_project(home: OrchHome, store: SqliteStore, repo: Path,
                                                             tmp_path: Path) -> None:
    task = await run(home, store, config(repo, "branch"), "echo hi > greeting.txt", labels=("deliver:push",))
    assert task.delivered == "push"
    assert git(tmp_path / "origin.git", "branch", "--list", task.branch or "") != ""


async def test_a_rejected_push_needs_review_with_gits_reason(home: OrchHome, store: SqliteStore, repo: Path,
                                                             tmp_path: Path) -> None:
    # origin already has a different branch of the same name: the push is not a fast-forward.
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(other))
    git(other, "checkout", "-q", "-b", "orch/1-add-a-greeting")
    git(other, "commit", "-q", "--allow-empty", "-m", "someone else's work")
    git(other, "push", "-q", "origin", "orch/1-add-a-greeting")
    task = await run(home, store, config(repo, "push"), "echo hi > greeting.txt")
    assert task.status is REVIEW
    assert task.review_reason is not None and task.review_reason.startswith("push failed: push to origin was rejected")
    assert "non-fast-forward" in task.review_reason or "fetch first" in task.review_reason
    assert task.delivered is None


async def test_merge_fast_forwards_a_clean_checkout_on_main(home: OrchHome, store: SqliteStore, repo: Path) -> None:
    task = await run(home, store, config(repo, "merge"), "echo hi > greeting.txt")
    assert task.status is DONE and task.delivered == "merge"
    assert git(repo, "rev-parse", "main") == task.merge_commit == git(repo, "rev-parse", task.branch or "")
    assert (repo / "greeting.txt").read_text() == "hi\n", "the clean checkout follows its branch"
    assert git(repo, "status", "--porcelain") == ""


async def test_merge_makes_a_merge_commit_when_main_moved(home: OrchHome, store: SqliteStore, repo: Path) -> None:
    # While the task works, someone commits on main.
    body = f"echo hi > greeting.txt; git -C {repo} -c user.name=x -c user.email=x@x commit -q --allow-empty -m moved"
    task = await run(home, store, config(repo, "merge"), body)
    assert task.status is DONE, task.review_reason
    parents = git(repo, "log", "-1", "--format=%P", "main").split()
    assert len(parents) == 2 and git(repo, "rev-parse", task.branch or "") in parents
    assert git(repo, "log", "-1", "--format=%s", "main") == "Merge orch/1-add-a-greeting: task 1: add a greeting"
    assert (repo / "greeting.txt").exists() and git(repo, "status", "--porcelain") == ""


async def test_merge_never_touches_uncommitted_work(home: OrchHome, store: SqliteStore, repo: Path) -> None:
    before = git(repo, "rev-parse", "main")
    (repo / "README.md").write_text("my unsaved edit\n")
    task = await run(home, store, config(repo, "merge"), "echo hi > greeting.txt")
    assert task.status is REVIEW
    assert task.review_reason is not None and "main is checked out in" in task.review_reason
    assert "uncommitted changes" in task.review_reason
    assert git(repo, "rev-parse", "main") == before
    assert (repo / "README.md").read_text() == "my unsaved edit\n"
    assert git(repo, "branch", "--list", task.branch or ""), "the task's branch is kept"


async def test_merge_updates_only_the_ref_when_main_is_not_checked_out(home: OrchHome, store: SqliteStore,
                                                                       repo: Path) -> None:
    # The task starts from main; meanwhile the user switches to a branch of theirs and starts a file.
    body = (f"git -C {repo} checkout -q -b my-feature; echo 'untracked work' > {repo}/scratch.txt; "
            "echo hi > greeting.txt")
    task = await run(home, store, config(repo, "merge"), body)
    assert task.status is DONE, task.review_reason
    assert git(repo, "rev-parse", "main") == task.merge_commit
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "my-feature"
    assert not (repo / "greeting.txt").exists() and (repo / "scratch.txt").exists()


async def test_a_merge_conflict_needs_review_and_moves_nothing(home: OrchHome, store: SqliteStore,
                                                               repo: Path) -> None:
    body = (f"echo theirs > README.md; echo ours > {repo}/README.md; "
            f"git -C {repo} -c user.name=x -c user.email=x@x commit -qam 'main changes README'")
    before_task = git(repo, "rev-parse", "main")
    task = await run(home, store, config(repo, "merge"), body)
    assert task.status is REVIEW
    assert task.review_reason == "merge failed: merge conflict in README.md"
    assert git(repo, "rev-parse", "main") != before_task  # only the user's own commit moved it
    assert git(repo, "log", "-1", "--format=%s", "main") == "main changes README"
    assert git(repo, "show", f"{task.branch}:README.md") == "theirs"


async def test_merge_into_a_clone_orch_made_reaches_its_origin(home: OrchHome, store: SqliteStore,
                                                               tmp_path: Path) -> None:
    upstream = make_repo(tmp_path / "upstream", {"README.md": "hello\n"})
    origin = tmp_path / "shared.git"
    git(tmp_path, "clone", "-q", "--bare", str(upstream), str(origin))
    cfg = parse_config({"router": {"fallback_executor": "shell"}, "workflow": {"max_attempts": 1, "review": False},
                        "projects": {"shared": {"deliver": "merge"}}})
    async with running_engine(home, store, cfg) as (orch, events):
        await orch.projects.add_clone(str(origin), None, tmp_path)
        task = await orch.tasks.create("add a greeting", "echo hi > greeting.txt", project="shared", agent="shell")
        await events.wait_status(task.id, DONE, REVIEW, timeout=30)
    done = await store.get_task(task.id)
    assert done is not None and done.status is DONE, done and done.review_reason
    assert git(origin, "rev-parse", "main") == done.merge_commit
    assert git(origin, "show", "main:greeting.txt") == "hi"


@pytest.fixture
async def github(monkeypatch: pytest.MonkeyPatch, repo: Path, tmp_path: Path) -> AsyncIterator[FakeGitHub]:
    fake = FakeGitHub()
    await fake.start()
    monkeypatch.setenv("GITHUB_API_URL", fake.api_url)
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    # A remote that looks like GitHub but pushes to the bare repository on disk.
    git(repo, "remote", "set-url", "origin", "https://github.com/acme/demo.git")
    git(repo, "config", f"url.{tmp_path / 'origin.git'}.insteadOf", "https://github.com/acme/demo.git")
    yield fake
    await fake.close()


async def test_pr_pushes_and_opens_a_pull_request(home: OrchHome, store: SqliteStore, repo: Path, tmp_path: Path,
                                                  github: FakeGitHub) -> None:
    task = await run(home, store, config(repo, "pr"), "echo hi > greeting.txt; echo 'Added a greeting file.'",
                     title="add a greeting (fixes #12)")
    assert task.status is DONE, task.review_reason
    assert task.delivered == "pr" and task.pr_url == "https://github.com/acme/demo/pull/1"
    assert git(tmp_path / "origin.git", "show", f"{task.branch}:greeting.txt") == "hi"
    [pull] = github.pulls["acme/demo"]
    assert (pull["title"], pull["head"]["ref"], pull["base"]["ref"]) == ("add a greeting (fixes #12)", task.branch,
                                                                         "main")
    assert "Added a greeting file." in pull["body"] and "greeting.txt | 1 +" in pull["body"]
    assert "Closes #12" in pull["body"]
    assert all(r.authorization == f"Bearer {GITHUB_TOKEN}" for r in github.requests)


async def test_the_review_is_posted_on_the_pull_request(home: OrchHome, store: SqliteStore, repo: Path,
                                                        github: FakeGitHub) -> None:
    task = await run(home, store, config(repo, "branch"), "echo hi > greeting.txt")
    await store.add_review(Review(task.id, 2, "claude", "sonnet", "approve", "Looks good.",
                                  (ReviewComment("greeting.txt", 1, "fine"),), 0.0))
    github.refuse_own_approval = True  # the bot opened the PR, so GitHub refuses its approval: a comment it is
    services = Services(home, store, config=config(repo))
    delivered = await services.delivery.deliver_now(task.id, "pr")
    assert delivered.pr_url == "https://github.com/acme/demo/pull/1"
    [posted] = github.reviews[("acme/demo", 1)]
    assert posted["event"] == "COMMENT" and "Looks good." in posted["body"]
    assert posted["comments"] == [{"path": "greeting.txt", "line": 1, "body": "fine"}]
    # Asked again, the open pull request is reused, not duplicated.
    again = await services.delivery.deliver_now(task.id, "pr")
    assert again.pr_url == delivered.pr_url and len(github.pulls["acme/demo"]) == 1


@pytest.mark.parametrize(("status", "message", "reason"), [
    (401, "Bad credentials", "pr failed: GitHub API POST /repos/acme/demo/pulls: HTTP 401: Bad credentials"),
    (422, "Validation Failed", "pr failed: GitHub refused the pull request: HTTP 422: Validation Failed"),
    (500, "Server Error", "pr failed: GitHub API POST /repos/acme/demo/pulls: HTTP 500: Server Error"),
])
async def test_api_errors_need_review_with_status_and_message(home: OrchHome, store: SqliteStore, repo: Path,
                                                              github: FakeGitHub, status: int, message: str,
                                                              reason: str) -> None:
    github.failures = [(status, message), (200, "[]")] if status == 422 else [(status, message)]
    task = await run(home, store, config(repo, "pr"), "echo hi > greeting.txt")
    assert task.status is REVIEW and task.review_reason == reason
    assert task.pr_url is None and git(repo, "branch", "--list", task.branch or "")


async def test_no_token_says_which_variable(home: OrchHome, store: SqliteStore, repo: Path, github: FakeGitHub,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    task = await run(home, store, config(repo, "pr"), "echo hi > greeting.txt")
    assert task.review_reason == "pr failed: no GitHub token: set GITHUB_TOKEN or GH_TOKEN"
    assert github.requests == []


async def test_on_demand_delivery_refuses_an_unfinished_task(home: OrchHome, store: SqliteStore, repo: Path) -> None:
    services = Services(home, store, config=config(repo))
    task = await services.tasks.create("later", "true", project="app", agent="shell")
    with pytest.raises(Exception, match="task 1 is new; only a done or needs_review task with a branch"):
        await services.delivery.deliver_now(task.id, "merge")


async def test_a_branch_deleted_by_hand_is_named_by_diff_and_delivery(home: OrchHome, store: SqliteStore,
                                                                      repo: Path) -> None:
    task = await run(home, store, config(repo), "echo hi > greeting.txt")
    assert task.branch is not None and task.worktree is not None
    git(repo, "worktree", "remove", "--force", task.worktree)
    git(repo, "branch", "-q", "-D", task.branch)
    services = Services(home, store, config=config(repo))
    gone = f"task 1: its branch {task.branch} no longer exists in project app"
    with pytest.raises(UserError) as diff_error:
        await services.delivery.diff(task.id)
    assert str(diff_error.value) == gone
    for mode in ("push", "pr", "merge"):
        with pytest.raises(UserError) as deliver_error:
            await services.delivery.deliver_now(task.id, mode)
        assert str(deliver_error.value) == gone


async def test_diff_shows_the_change_against_the_base_with_secrets_redacted(home: OrchHome, store: SqliteStore,
                                                                             repo: Path) -> None:
    key = "sk-ant-api03-" + "Z" * 40
    body = f"echo 'ANTHROPIC_API_KEY={key}' > settings.env; echo hi >> README.md"
    task = await run(home, store, config(repo), body)
    diff = await Services(home, store, config=config(repo)).delivery.diff(task.id)
    assert (diff.stat.files, diff.stat.added, diff.stat.removed) == (2, 2, 0)
    assert "README.md" in diff.stat.stat and "settings.env" in diff.stat.stat
    assert "+hi" in diff.patch and key not in diff.patch and "+ANTHROPIC_API_KEY=[REDACTED]" in diff.patch


async def test_copy_files_are_copied_in_and_never_committed(home: OrchHome, store: SqliteStore, repo: Path) -> None:
    (repo / ".env").write_text("SECRET=1\n")
    (repo / "config").mkdir()
    (repo / "config" / "local.json").write_text("{}\n")
    task = await run(home, store, config(repo, copy_files=[".env", "config/*.json"]),
                     "test -f .env && test -f config/local.json && echo SECRET=2 >> .env && echo hi > greeting.txt")
    assert task.status is DONE, task.review_reason
    committed = git(repo, "show", "--name-only", "--format=", task.branch or "")
    assert committed == "greeting.txt"


async def test_setup_runs_before_the_agent_and_its_output_streams(home: OrchHome, store: SqliteStore,
                                                                  repo: Path) -> None:
    cfg = config(repo, setup="echo installing deps; touch .deps-installed")
    async with running_engine(home, store, cfg) as (orch, events):
        task = await orch.tasks.create("use deps", "test -f .deps-installed && echo deps are there", project="app",
                                       agent="shell")
        await events.wait_status(task.id, DONE, REVIEW, timeout=30)
    assert events.lines(task.id) == ["$ echo installing deps; touch .deps-installed", "installing deps",
                                     "deps are there"]


async def test_a_failing_setup_is_a_failed_attempt_with_its_output(home: OrchHome, store: SqliteStore,
                                                                   repo: Path) -> None:
    task = await run(home, store, config(repo, setup="echo 'npm ERR! missing lockfile'; exit 3"), "echo never")
    assert task.status is REVIEW
    assert task.review_reason is not None and task.review_reason.startswith(
        "the project's setup command failed: the project's setup command failed (exit 3)")
    assert "npm ERR! missing lockfile" in task.review_reason


async def test_a_task_can_start_from_another_base_branch(home: OrchHome, store: SqliteStore, repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "develop")
    (repo / "dev.txt").write_text("dev only\n")
    git(repo, "add", "dev.txt")
    git(repo, "commit", "-q", "-m", "develop work")
    git(repo, "checkout", "-q", "main")
    task = await run(home, store, config(repo), "test -f dev.txt && echo on develop", labels=("base:develop",))
    assert task.status is DONE and task.base_branch == "develop"
    assert task.base_commit == git(repo, "rev-parse", "develop")

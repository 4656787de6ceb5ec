"""A second agent reviews a task's change: the real claude (or codex) CLI as the reviewer against a fake model API,
the shell agent as the author, through the real engine, tmux and git.

Run inside a loopback-only namespace (the agent CLIs are skipped elsewhere):
    unshare -n sh -c 'ip link set lo up && PATH=$PWD/.npm-cli/node_modules/.bin:$PATH \
        python -m pytest tests/core/running'
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from orch.core.config import Config, parse_config
from orch.core.home import OrchHome
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import Task, TaskStatus

from tests.conftest import make_repo
from tests.core.agents.conftest import CLI_TIMEOUT, home_env, require_cli
from tests.fakes.anthropic_api import FakeAnthropicAPI
from tests.fakes.openai_responses import FakeResponsesAPI, codex_provider_args
from tests.helpers import Recorder, running_engine

DONE = TaskStatus.DONE
REVIEW = TaskStatus.NEEDS_REVIEW
# The author: a script that changes a file, and says which attempt it is, so a test can tell the rounds apart.
BODY = 'echo "hello from attempt $ORCH_ATTEMPT" > hello.txt; echo wrote hello.txt'


def verdict(decision: str, notes: str, comments: list[dict[str, Any]] | None = None) -> str:
    return "Here is my review.\n\n" + json.dumps({"decision": decision, "notes": notes, "comments": comments or []})


@pytest.fixture
async def anthropic() -> AsyncIterator[FakeAnthropicAPI]:
    fake = FakeAnthropicAPI()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {"README.md": "project\n"})


def config_with(repo: Path, tmp_path: Path, reviewer: str, agent: dict[str, Any], **workflow: Any) -> Config:
    return parse_config({
        "projects": {"app": {"path": str(repo)}},
        "router": {"mode": "round_robin", "agents": [reviewer], "fallback_executor": "shell"},
        "model_map": {"review": {reviewer: "sonnet" if reviewer == "claude" else "gpt-5.5"}},
        "workflow": {"max_attempts": 3, "timeout_seconds": CLI_TIMEOUT, "idle_timeout_seconds": CLI_TIMEOUT,
                     "review": True, **workflow},
        "agents": {reviewer: agent},
    })


def claude_reviewer(tmp_path: Path, fake: FakeAnthropicAPI) -> dict[str, Any]:
    agent_home = tmp_path / "agent-home"
    agent_home.mkdir(exist_ok=True)
    return {"command": require_cli("claude"), "env": {
        **home_env(agent_home), "ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": fake.base_url,
        "CLAUDE_CODE_MAX_RETRIES": "0"}}


async def run(home: OrchHome, store: SqliteStore, config: Config, *end: TaskStatus) -> tuple[Task, Recorder]:
    async with running_engine(home, store, config) as (orch, events):
        task = await orch.tasks.create("write hello", BODY, project="app", agent="shell")
        await events.wait_status(task.id, *(end or (DONE, REVIEW)), timeout=CLI_TIMEOUT * 2)
    final = await store.get_task(task.id)
    assert final is not None
    return final, events


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


async def test_an_approved_change_is_done_with_its_review_stored(
    home: OrchHome, store: SqliteStore, repo: Path, tmp_path: Path, anthropic: FakeAnthropicAPI
) -> None:
    anthropic.queue_text(verdict("approve", "The file has the right greeting.",
                                 [{"path": "hello.txt", "line": 1, "body": "nice"}]))
    config = config_with(repo, tmp_path, "claude", claude_reviewer(tmp_path, anthropic))
    task, events = await run(home, store, config)

    assert task.status is DONE, task.review_reason
    assert (task.review_decision, task.diff_files, task.diff_added, task.diff_removed) == ("approve", 1, 1, 0)
    [review] = await store.list_reviews(task.id)
    assert (review.reviewer, review.model, review.decision, review.notes) == (
        "claude", "sonnet", "approve", "The file has the right greeting.")
    assert [(c.path, c.line, c.body) for c in review.comments] == [("hello.txt", 1, "nice")]
    work, check = await store.list_attempts(task.id)
    assert (work.kind, check.kind, check.agent, check.outcome) == ("work", "review", "claude", "review: approve")
    assert check.session_id and check.tokens_in and check.cost_usd is not None
    assert task.cost_usd == check.cost_usd, "the review's cost is the task's"
    # The reviewer saw the task, the author's summary and the diff; it was told it cannot edit.
    [request] = anthropic.requests
    assert "write hello" in request.prompt and "+hello from attempt 1" in request.prompt
    assert "wrote hello.txt" in request.prompt, "the author's summary is in the prompt"
    argv = shlex.split((home.attempt_dir(task.id, 2) / "command.txt").read_text())
    assert {"Edit", "Write", "MultiEdit"} <= set(argv[argv.index("--disallowedTools") + 1:])
    # The review streamed like any attempt, each line saying it is the review's.
    review_lines = [line for line in events.lines(task.id) if line.startswith("[review] ")]
    assert review_lines and "wrote hello.txt" in events.lines(task.id)
    assert git(Path(task.worktree or ""), "status", "--porcelain") == ""


async def test_changes_requested_go_back_to_the_author_then_approve(
    home: OrchHome, store: SqliteStore, repo: Path, tmp_path: Path, anthropic: FakeAnthropicAPI
) -> None:
    anthropic.queue_text(verdict("request_changes", "Say which attempt wrote it.",
                                 [{"path": "hello.txt", "line": 1, "body": "mention the attempt"}]))
    anthropic.queue_text(verdict("approve", "Good now."))
    config = config_with(repo, tmp_path, "claude", claude_reviewer(tmp_path, anthropic))
    task, _ = await run(home, store, config)

    assert task.status is DONE, task.review_reason
    kinds = [(a.number, a.kind) for a in await store.list_attempts(task.id)]
    assert kinds == [(1, "work"), (2, "review"), (3, "work"), (4, "review")]
    second_prompt = (home.attempt_dir(task.id, 3) / "prompt.md").read_text()
    assert "Say which attempt wrote it." in second_prompt and "hello.txt:1: mention the attempt" in second_prompt
    assert [r.decision for r in await store.list_reviews(task.id)] == ["request_changes", "approve"]
    assert git(repo, "show", f"{task.branch}:hello.txt") == "hello from attempt 3"


async def test_a_rejected_change_needs_review_with_the_notes(
    home: OrchHome, store: SqliteStore, repo: Path, tmp_path: Path, anthropic: FakeAnthropicAPI
) -> None:
    anthropic.queue_text(verdict("reject", "Greetings belong in the README, not a new file."))
    config = config_with(repo, tmp_path, "claude", claude_reviewer(tmp_path, anthropic))
    task, _ = await run(home, store, config)

    assert task.status is REVIEW
    assert task.review_reason == ("the review by claude rejected it: Greetings belong in the README, not a new "
                                  "file.")
    assert task.review_decision == "reject"


async def test_not_approved_after_the_rounds_needs_review(
    home: OrchHome, store: SqliteStore, repo: Path, tmp_path: Path, anthropic: FakeAnthropicAPI
) -> None:
    anthropic.queue_text(verdict("request_changes", "First remark."))
    anthropic.queue_text(verdict("request_changes", "Still not right."))
    config = config_with(repo, tmp_path, "claude", claude_reviewer(tmp_path, anthropic), max_review_rounds=2)
    task, _ = await run(home, store, config)

    assert task.status is REVIEW
    assert task.review_reason == "not approved after 2 review round(s); last review by claude: Still not right."


async def test_an_unreadable_review_counts_once_then_needs_review_and_never_approves(
    home: OrchHome, store: SqliteStore, repo: Path, tmp_path: Path, anthropic: FakeAnthropicAPI
) -> None:
    anthropic.queue_text("LGTM!")
    anthropic.queue_text('{"decision": "ship it"}')
    config = config_with(repo, tmp_path, "claude", claude_reviewer(tmp_path, anthropic), max_review_rounds=5)
    task, _ = await run(home, store, config)

    assert task.status is REVIEW
    reviews = await store.list_reviews(task.id)
    assert [r.decision for r in reviews] == ["error", "error"]
    assert "could not be read" in reviews[0].notes and "no decision of approve" in reviews[1].notes
    assert task.review_reason is not None and task.review_reason.startswith("the review failed again: ")
    assert len([a for a in await store.list_attempts(task.id) if a.kind == "work"]) == 2


async def test_a_reviewer_that_fails_never_approves(
    home: OrchHome, store: SqliteStore, repo: Path, tmp_path: Path, anthropic: FakeAnthropicAPI
) -> None:
    for _ in range(2):
        anthropic.queue_error(401, "authentication_error", "invalid x-api-key")
    config = config_with(repo, tmp_path, "claude", claude_reviewer(tmp_path, anthropic))
    task, _ = await run(home, store, config)

    assert task.status is REVIEW
    assert [r.decision for r in await store.list_reviews(task.id)] == ["error", "error"]
    assert "the reviewer failed" in (task.review_reason or "")


async def test_codex_reviews_read_only(home: OrchHome, store: SqliteStore, repo: Path, tmp_path: Path) -> None:
    fake = FakeResponsesAPI()
    await fake.start()
    try:
        fake.queue_text(verdict("approve", "Fine."))
        codex_home = tmp_path / "agent-home" / ".codex"
        codex_home.mkdir(parents=True)
        agent = {"command": require_cli("codex"), "args": codex_provider_args(fake.base_url),
                 "env": {**home_env(tmp_path / "agent-home"), "CODEX_HOME": str(codex_home), "FAKE_API_KEY": "sk"}}
        task, _ = await run(home, store, config_with(repo, tmp_path, "codex", agent))
    finally:
        await fake.stop()
    assert task.status is DONE, task.review_reason
    argv = shlex.split((home.attempt_dir(task.id, 2) / "command.txt").read_text())
    assert argv[argv.index("-s") + 1] == "read-only"
    assert [r.reviewer for r in await store.list_reviews(task.id)] == ["codex"]


async def test_a_review_on_demand_runs_on_a_finished_task(
    home: OrchHome, store: SqliteStore, repo: Path, tmp_path: Path, anthropic: FakeAnthropicAPI
) -> None:
    config = config_with(repo, tmp_path, "claude", claude_reviewer(tmp_path, anthropic), review=False)
    async with running_engine(home, store, config) as (orch, events):
        task = await orch.tasks.create("write hello", BODY, project="app", agent="shell")
        await events.wait_status(task.id, DONE, REVIEW, timeout=CLI_TIMEOUT)
        assert await store.list_reviews(task.id) == []
        anthropic.queue_text(verdict("approve", "Fine on a second look."))
        asked = await orch.tasks.request_review(task.id)
        assert (asked.status, asked.next_step) == (TaskStatus.ROUTED, "review")
        await events.wait_for(lambda _: events.statuses(task.id).count(DONE) == 2, timeout=CLI_TIMEOUT)
    reviewed = await store.get_task(task.id)
    assert reviewed is not None and (reviewed.review_decision, reviewed.next_step) == ("approve", None)
    assert [a.kind for a in await store.list_attempts(task.id)] == ["work", "review"]
    with pytest.raises(Exception, match="task 2 not found"):
        await orch.tasks.request_review(2)


async def test_a_task_over_its_budget_needs_review_before_its_next_attempt(
    home: OrchHome, store: SqliteStore, repo: Path, tmp_path: Path, anthropic: FakeAnthropicAPI
) -> None:
    anthropic.queue_text(verdict("request_changes", "Again, please."), input_tokens=50_000)
    config = config_with(repo, tmp_path, "claude", claude_reviewer(tmp_path, anthropic), max_cost_per_task=0.01)
    task, _ = await run(home, store, config)

    assert task.status is REVIEW and task.cost_usd is not None and task.cost_usd > 0.01
    assert task.review_reason == f"its attempts cost ${task.cost_usd:.4f}, over workflow.max_cost_per_task ($0.0100)"
    assert [a.kind for a in await store.list_attempts(task.id)] == ["work", "review"], "no further attempt"

"""The whole agent path through the engine: a real Engine routes a task of a registered project, starts the real
agent CLI in the task's tmux session inside its git worktree, streams the rendered pane lines on the hub, parses
the raw output, commits what the agent changed on the task branch and applies the retry/failover policy.

The model behind each CLI is a local fake that scripts a file edit and a shell call printing the ORCH_* variables;
what the CLI sent back to the fake shows what reached the agent's environment. Run as the other live tests:
    unshare -n sh -c 'ip link set lo up && NO_PROXY=127.0.0.1,localhost \
        PATH=$PWD/.npm-cli/node_modules/.bin:$PATH python -m pytest tests/core/agents/test_engine_agents.py -q'
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from orch.core.agents.claude import deny_rules
from orch.core.config import Config
from orch.core.store.sqlite import SqliteStore
from orch.core.tasks.models import Task, TaskStatus

from tests.core.agents.conftest import CLI_TIMEOUT, REPO_ROOT
from tests.core.agents.live import (
    MODELS,
    OPENCODE_MODEL,
    TITLE,
    Setup,
    claude_agent,
    codex_agent,
    make_config,
    opencode_agent,
)
from tests.fakes.anthropic_api import FakeAnthropicAPI
from tests.fakes.openai_responses import FakeResponsesAPI
from tests.helpers import Recorder, running_engine

DONE = TaskStatus.DONE
REVIEW = TaskStatus.NEEDS_REVIEW
BODY = "Create hello.txt containing hello."
ENV_COMMAND = "env | grep ^ORCH_ | sort"
RESULT = 'Done.\n\n```orch-result\n{"status": "done", "summary": "Created hello.txt."}\n```'


@pytest.fixture
def anthropic_fake(titled_fake: FakeAnthropicAPI) -> FakeAnthropicAPI:
    return titled_fake


@pytest.fixture(autouse=True)
def _pane_imports_this_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pane runs `python -m orch.core.agents.render`; the tmux server (started by this process, whose environment
    it passes on) must import `core` from the checkout under test, not from wherever the venv points."""
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))


# -- helpers ---------------------------------------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


async def run_task(setup: Setup, store: SqliteStore, config: Config, agent: str,
                   *end: TaskStatus) -> tuple[Task, Recorder]:
    async with running_engine(setup.home, store, config) as (orch, events):
        task = await orch.tasks.create(TITLE, BODY, project="app", agent=agent)
        await events.wait_status(task.id, *(end or (DONE, REVIEW)), timeout=CLI_TIMEOUT)
    final = await store.get_task(task.id)
    assert final is not None
    return final, events


def command_line(setup: Setup, task_id: int, number: int) -> tuple[list[str], list[str]]:
    """The recorded command.txt split into orch's render wrapper and the CLI's own argv."""
    attempt_dir = setup.home.attempt_dir(task_id, number)
    argv = shlex.split((attempt_dir / "command.txt").read_text())
    split = argv.index("--")
    return argv[:split], argv[split + 1:]


def assert_committed(setup: Setup, task: Task, number: int, agent: str) -> None:
    worktree = Path(task.worktree or "")
    assert worktree == setup.worktree(task.id) and task.branch == f"orch/{task.id}-create-hello-txt"
    assert git(worktree, "log", "-1", "--format=%B") == f"orch: task {task.id}: {TITLE}\n\nAttempt {number} by {agent}."
    assert git(worktree, "show", "--name-only", "--format=", "HEAD") == "hello.txt"
    assert git(setup.repo, "show", f"{task.branch}:hello.txt") == "hello"
    assert git(worktree, "status", "--porcelain") == ""
    assert not (setup.repo / "hello.txt").exists(), "the main checkout is untouched"
    files = setup.home.attempt_dir(task.id, number) / "files_changed.txt"
    assert files.read_text() == "hello.txt\n"


def assert_readable(lines: list[str]) -> None:
    """Rendered lines: neither the CLI's JSON events nor the JSON of the agent's orch-result block."""
    assert lines, "the pane's lines reached the hub"
    assert not [line for line in lines if line.lstrip().startswith(("{", "```"))], f"raw JSON on the hub: {lines}"
    assert "⚑ done: Created hello.txt." in lines


def tool_result_text(block: dict[str, Any]) -> str:
    """An Anthropic tool_result's content, given as a string or as text blocks."""
    content = block.get("content")
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


def assert_env_reached_agent(output: str, task: Task, agent: str) -> None:
    for line in (f"ORCH_TASK_ID={task.id}", f"ORCH_AGENT={agent}", f"ORCH_MODEL={MODELS[agent]}", "ORCH_ATTEMPT=1"):
        assert line in output.splitlines(), f"{line} not in the agent's environment: {output!r}"


# -- one task per agent, start to commit ----------------------------------------------------------------------------


async def test_claude_task_through_the_engine(setup: Setup, store: SqliteStore,
                                              anthropic_fake: FakeAnthropicAPI) -> None:
    config = make_config(setup, {"claude": claude_agent(setup, anthropic_fake)})
    target = setup.worktree() / "hello.txt"
    anthropic_fake.queue_tool_use("Write", {"file_path": str(target), "content": "hello\n"}, text="Creating the file.")
    anthropic_fake.queue_tool_use("Bash", {"command": ENV_COMMAND, "description": "show orch's variables"})
    anthropic_fake.queue_text(RESULT, input_tokens=1000, output_tokens=100)

    task, events = await run_task(setup, store, config, "claude")

    assert task.status is DONE, task.review_reason
    assert (task.agent, task.model, task.attempts, task.summary) == ("claude", "sonnet", 1, "Created hello.txt.")
    assert task.cost_usd is not None and task.cost_usd > 0
    assert_committed(setup, task, 1, "claude")
    [attempt] = await store.list_attempts(task.id)
    assert (attempt.agent, attempt.model, attempt.exit_code, attempt.outcome) == ("claude", "sonnet", 0, "done")
    assert (attempt.tokens_in, attempt.tokens_out, attempt.summary) == (1200, 140, "Created hello.txt.")
    assert attempt.cost_usd == pytest.approx(task.cost_usd)

    lines = events.lines(task.id)
    assert_readable(lines)
    assert lines[0].startswith("● claude ")
    assert "Creating the file." in lines and f"✎ Write {target}" in lines and f"$ {ENV_COMMAND}" in lines
    assert "Done." in lines and lines[-1].startswith("✓ done (1200 in / 140 out tokens, $")

    wrapper, argv = command_line(setup, task.id, 1)
    attempt_dir = setup.home.attempt_dir(task.id, 1)
    assert wrapper == [sys.executable, "-m", "orch.core.agents.render", "claude", str(attempt_dir / "raw.jsonl"),
                       "--stdin", str(attempt_dir / "prompt.md")]
    assert argv[0] == config.agents.claude.command
    assert argv[argv.index("--model") + 1] == "sonnet"
    assert "--dangerously-skip-permissions" in argv
    rules = argv[argv.index("--disallowedTools") + 1: argv.index("--model")]
    assert rules == deny_rules(setup.repo) and f"Write(/{setup.repo.resolve()}/**)" in rules
    assert '"type":"result"' in (attempt_dir / "raw.jsonl").read_text()

    first = anthropic_fake.requests[0]
    assert first.json["model"].startswith("claude-sonnet")
    assert f"Task {task.id}: {TITLE}" in json.dumps(first.json["messages"][0])
    assert str(setup.repo) in first.system_text, "the system prompt names the main checkout"
    [env_result] = anthropic_fake.requests[2].tool_results()
    assert_env_reached_agent(tool_result_text(env_result), task, "claude")


async def test_codex_task_through_the_engine(setup: Setup, store: SqliteStore,
                                             responses_fake: FakeResponsesAPI) -> None:
    config = make_config(setup, {"codex": codex_agent(setup, responses_fake)})
    responses_fake.queue_apply_patch("*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n",
                                     input_tokens=500, output_tokens=50)
    responses_fake.queue_shell(ENV_COMMAND)
    responses_fake.queue_text(RESULT)

    task, events = await run_task(setup, store, config, "codex")

    assert task.status is DONE, task.review_reason
    assert (task.agent, task.model, task.attempts, task.summary) == ("codex", "gpt-5.5", 1, "Created hello.txt.")
    assert_committed(setup, task, 1, "codex")
    [attempt] = await store.list_attempts(task.id)
    assert (attempt.agent, attempt.model, attempt.exit_code, attempt.outcome) == ("codex", "gpt-5.5", 0, "done")
    assert (attempt.tokens_in, attempt.tokens_out, attempt.cost_usd) == (700, 90, None)

    worktree = setup.worktree()
    lines = events.lines(task.id)
    assert_readable(lines)
    # (codex also warns on stderr, which reaches the pane as is, that it makes no helpers in a CODEX_HOME in /tmp)
    assert "● codex session started" in lines
    assert f"✎ add {worktree / 'hello.txt'}" in lines and f"$ {ENV_COMMAND}" in lines
    assert "Done." in lines and lines[-1] == "✓ done (700 in / 90 out tokens)"

    _, argv = command_line(setup, task.id, 1)
    assert argv[:3] == [config.agents.codex.command, "exec", "--json"]
    assert argv[argv.index("-s") + 1] == "workspace-write"
    assert argv[argv.index("-C") + 1] == str(worktree)
    assert argv[argv.index("-m") + 1] == "gpt-5.5" and argv[-1] == "-"
    assert "model_provider=fake" in argv

    first = responses_fake.requests[0]
    assert first.json["model"] == "gpt-5.5"
    assert first.input_texts("user")[-1].startswith(f"Task {task.id}: {TITLE}")
    assert any(str(setup.repo) in text for text in first.input_texts("developer"))
    # codex sends the whole conversation each time: the shell call's output is the last tool output.
    env_output = responses_fake.requests[2].function_call_outputs()[-1]
    assert_env_reached_agent(str(env_output["output"]), task, "codex")


async def test_opencode_task_through_the_engine(setup: Setup, store: SqliteStore,
                                                anthropic_fake: FakeAnthropicAPI) -> None:
    config = make_config(setup, {"opencode": opencode_agent(setup, anthropic_fake)})
    target = setup.worktree() / "hello.txt"
    anthropic_fake.queue_tool_use("write", {"filePath": str(target), "content": "hello\n"}, text="Writing.",
                                  input_tokens=1000, output_tokens=100)
    anthropic_fake.queue_tool_use("bash", {"command": ENV_COMMAND, "description": "show orch's variables"})
    anthropic_fake.queue_text(RESULT)

    task, events = await run_task(setup, store, config, "opencode")

    assert task.status is DONE, task.review_reason
    assert (task.agent, task.model, task.attempts, task.summary) == ("opencode", OPENCODE_MODEL, 1,
                                                                     "Created hello.txt.")
    assert_committed(setup, task, 1, "opencode")
    [attempt] = await store.list_attempts(task.id)
    assert (attempt.agent, attempt.exit_code, attempt.outcome) == ("opencode", 0, "done")
    assert (attempt.tokens_in, attempt.tokens_out) == (1200, 140)
    assert attempt.cost_usd == pytest.approx((1200 * 3 + 140 * 15) / 1_000_000)

    lines = events.lines(task.id)
    assert_readable(lines)
    assert lines[:2] == ["Writing.", f"✎ write {target}"]
    assert f"$ {ENV_COMMAND}" in lines and "Done." in lines and lines[-1].startswith("✓ done (")

    _, argv = command_line(setup, task.id, 1)
    assert argv == [config.agents.opencode.command, "run", "--format", "json", "--dir", str(setup.worktree()),
                    "-m", OPENCODE_MODEL]

    work = [request for request in anthropic_fake.requests if request.tool_names]
    assert f"Task {task.id}: {TITLE}" in json.dumps(work[0].json["messages"][0])
    assert str(setup.repo) in work[0].system_text, "orch's instructions reached opencode"
    [env_result] = work[2].tool_results()
    assert_env_reached_agent(tool_result_text(env_result), task, "opencode")


# -- errors through the engine --------------------------------------------------------------------------------------


async def test_auth_error_needs_review_after_one_attempt(setup: Setup, store: SqliteStore,
                                                         anthropic_fake: FakeAnthropicAPI) -> None:
    config = make_config(setup, {"claude": claude_agent(setup, anthropic_fake)})
    anthropic_fake.queue_error(401, "authentication_error", "invalid x-api-key", times=2)

    task, events = await run_task(setup, store, config, "claude", REVIEW, DONE)

    assert task.status is REVIEW and task.attempts == 1
    assert (task.review_reason or "").startswith("the agent could not authenticate: ")
    [attempt] = await store.list_attempts(task.id)
    assert (attempt.agent, attempt.outcome, attempt.exit_code) == ("claude", "auth", 1)
    assert events.lines(task.id)[-1].startswith("✗ ")
    assert git(Path(task.worktree or ""), "log", "-1", "--format=%s") == "initial", "nothing to commit"


async def test_rate_limit_fails_over_to_the_other_agent(setup: Setup, store: SqliteStore,
                                                        anthropic_fake: FakeAnthropicAPI,
                                                        responses_fake: FakeResponsesAPI) -> None:
    config = make_config(setup, {"claude": claude_agent(setup, anthropic_fake),
                                 "codex": codex_agent(setup, responses_fake)})
    anthropic_fake.queue_error(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate "
                               "limit", headers={"retry-after": "0"}, times=2)
    responses_fake.queue_apply_patch("*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n")
    responses_fake.queue_text(RESULT)

    task, events = await run_task(setup, store, config, "claude", DONE, REVIEW)

    assert task.status is DONE, task.review_reason
    assert (task.agent, task.model, task.attempts, task.summary) == ("codex", "gpt-5.5", 2, "Created hello.txt.")
    attempts = await store.list_attempts(task.id)
    assert [(a.number, a.agent, a.model, a.outcome) for a in attempts] == [
        (1, "claude", "sonnet", "rate_limit"), (2, "codex", "gpt-5.5", "done")]
    assert_committed(setup, task, 2, "codex")
    assert command_line(setup, task.id, 1)[1][0] == config.agents.claude.command
    assert command_line(setup, task.id, 2)[1][0] == config.agents.codex.command
    lines = events.lines(task.id)
    assert_readable(lines)
    assert any(line.startswith("✗ ") for line in lines[:lines.index("● codex session started")])
    assert lines[-1].startswith("✓ done (")
    assert responses_fake.requests[0].json["model"] == "gpt-5.5"

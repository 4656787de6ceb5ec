"""The claude adapter: its command line, and the real CLI against the fake Anthropic API."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from orch.core.agents.base import AttemptContext
from orch.core.agents.claude import ClaudeAgent, deny_rules
from orch.core.config import AgentConfig

from tests.core.agents.conftest import (
    CLI_TIMEOUT,
    DATA,
    Checkout,
    home_env,
    make_context,
    render_output,
    require_cli,
    run_render,
    start_render,
)
from tests.fakes.anthropic_api import FakeAnthropicAPI

ADAPTER = ClaudeAgent()
REC_WORKTREE = Path("/tmp/orch-rec/wt")


def claude_context(checkout: Checkout, fake: FakeAnthropicAPI, command: str = "claude", *,
                   sandbox: bool = True) -> AttemptContext:
    env = {**home_env(checkout.home), "ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": fake.base_url,
           # claude retries API errors up to 10 times with backoff; one answer is enough to classify.
           "CLAUDE_CODE_MAX_RETRIES": "0"}
    return make_context("claude", checkout, AgentConfig(command=command, env=env), model="sonnet", sandbox=sandbox)


def test_launch_command_line_and_env(checkout: Checkout) -> None:
    config = AgentConfig(env={"ANTHROPIC_API_KEY": "sk-x", "DISABLE_TELEMETRY": "0"})
    ctx = make_context("claude", checkout, config, model="opus")
    launch = ADAPTER.build_launch(ctx)
    argv = launch.argv
    assert argv[:6] == ["claude", "-p", "--output-format", "stream-json", "--verbose",
                        "--dangerously-skip-permissions"]
    assert argv[argv.index("--model") + 1] == "opus"
    assert argv[argv.index("--append-system-prompt") + 1] == ctx.system_prompt
    main = str(checkout.main.resolve())
    rules = argv[argv.index("--disallowedTools") + 1: argv.index("--model")]
    assert rules == [f"Read(/{main}/**)", f"Edit(/{main}/**)", f"Write(/{main}/**)", f"Bash(*{main}*)"]
    assert launch.stdin_file == ctx.prompt_file
    assert launch.env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    assert launch.env["DISABLE_AUTOUPDATER"] == "1"
    assert launch.env["DISABLE_TELEMETRY"] == "0", "agents.claude.env overrides orch's defaults"
    assert launch.env["ANTHROPIC_API_KEY"] == "sk-x"


def test_launch_without_sandbox_or_with_own_permission_mode(checkout: Checkout) -> None:
    ctx = make_context("claude", checkout, AgentConfig(args=["--permission-mode", "acceptEdits"]), model=None,
                       sandbox=False)
    argv = ADAPTER.build_launch(ctx).argv
    assert "--disallowedTools" not in argv and "--model" not in argv
    assert "--dangerously-skip-permissions" not in argv
    assert argv[1:3] == ["--permission-mode", "acceptEdits"]


def test_deny_rules_use_claude_absolute_path_syntax() -> None:
    assert deny_rules(Path("/srv/app")) == ["Read(//srv/app/**)", "Edit(//srv/app/**)", "Write(//srv/app/**)",
                                            "Bash(*/srv/app*)"]


def _recorded(name: str) -> str:
    return (DATA / f"claude-{name}.jsonl").read_text(encoding="utf-8")


def test_render_recorded_run() -> None:
    pane = render_output(ADAPTER, _recorded("write"))
    assert pane[0] == "● claude 2.1.197 · claude-sonnet-5"
    assert "I'll write it." in pane
    assert "✎ Write /tmp/orch-rec/wt/hello.txt" in pane
    assert "$ ls -la" in pane
    assert pane[-1] == "✓ done (300 in / 60 out tokens, $0.0018)"
    assert not any(line.startswith('{"type"') for line in pane)


def test_render_tool_errors_and_non_json() -> None:
    pane = render_output(ADAPTER, _recorded("denied"))
    assert "✗ Permission to use Bash with command cat /tmp/orch-rec/main/secret.txt has been denied." in pane
    assert "✗ Exit code 1 … cat: secret.txt: No such file or directory" in pane
    assert render_output(ADAPTER, "warning: not json") == ["warning: not json"]


def test_parse_recorded_success(checkout: Checkout) -> None:
    ctx = make_context("claude", checkout, AgentConfig(), model="sonnet")
    ctx = AttemptContext(**{**ctx.__dict__, "worktree": REC_WORKTREE})
    result = ADAPTER.parse_result(ctx, 0, _recorded("write"))
    assert (result.status, result.summary, result.files_changed) == ("done", "wrote hello", ("hello.txt",))
    assert (result.tokens_in, result.tokens_out) == (300, 60)
    assert result.cost_usd == pytest.approx(0.0018)


@pytest.mark.parametrize(("name", "kind"), [
    ("429", "rate_limit"), ("529", "overloaded"), ("401", "auth"), ("404", "model_not_found"),
    ("ctx", "context_too_long"),
])
def test_parse_recorded_errors(checkout: Checkout, name: str, kind: str) -> None:
    ctx = make_context("claude", checkout, AgentConfig(), model="sonnet")
    result = ADAPTER.parse_result(ctx, 1, _recorded(name))
    assert (result.status, result.error_kind) == ("failed", kind)
    assert result.error


def test_parse_recorded_question_and_denials(checkout: Checkout) -> None:
    ctx = make_context("claude", checkout, AgentConfig(), model="sonnet")
    asked = ADAPTER.parse_result(ctx, 0, _recorded("ask"))
    assert (asked.status, asked.error_kind, asked.error) == ("needs_review", "waiting_for_input",
                                                             "the agent asks: Which database?")
    denied = ADAPTER.parse_result(ctx, 0, _recorded("denied"))
    assert (denied.status, denied.error_kind) == ("needs_review", "permission_denied")


def test_a_question_keeps_its_options_and_reads_as_one(checkout: Checkout) -> None:
    ctx = make_context("claude", checkout, AgentConfig(), model="sonnet")
    result = ADAPTER.parse_result(ctx, 0, _recorded("ask"))
    assert (result.question, result.options) == ("Which database?", ("sqlite", "postgres"))
    assert result.session_id == "cfc9cce2-712a-4429-b820-7467184d6dfd"
    assert "? Which database? [sqlite | postgres]" in render_output(ADAPTER, _recorded("ask"))


def test_parse_without_result_event(checkout: Checkout) -> None:
    ctx = make_context("claude", checkout, AgentConfig(), model="sonnet")
    assert ADAPTER.parse_result(ctx, 0, "").error_kind == "unparseable"
    assert ADAPTER.parse_result(ctx, 127, "").error_kind == "tool_missing"
    assert ADAPTER.parse_result(ctx, 143, _recorded("write").splitlines()[0]).error_kind == "exit_code"


# -- the real CLI ------------------------------------------------------------------------------------------------


async def test_real_claude_writes_a_file(checkout: Checkout, anthropic_fake: FakeAnthropicAPI) -> None:
    command = require_cli("claude")
    target = checkout.worktree / "hello.txt"
    anthropic_fake.queue_tool_use("Write", {"file_path": str(target), "content": "hello\n"},
                                  text="Creating the file.")
    anthropic_fake.queue_tool_use("Bash", {"command": "cat hello.txt", "description": "show it"})
    anthropic_fake.queue_text('Done.\n\n```orch-result\n{"status": "done", "summary": "Created hello.txt.", '
                              '"delegations": [{"title": "Add a test", "labels": ["agent:codex"]}]}\n```',
                              input_tokens=1000, output_tokens=100)
    ctx = claude_context(checkout, anthropic_fake, command)
    launch = ADAPTER.build_launch(ctx)
    run = await run_render(ctx, launch)

    assert run.exit_code == 0
    assert target.read_text() == "hello\n"
    assert checkout.status() == "?? hello.txt\n"
    assert not (checkout.main / "hello.txt").exists()
    assert run.pane[0].startswith("● claude ")
    assert "Creating the file." in run.pane
    assert f"✎ Write {target}" in run.pane
    assert "$ cat hello.txt" in run.pane
    assert run.pane[-1].startswith("✓ done (1200 in / 140 out tokens, $")
    result = ADAPTER.parse_result(ctx, run.exit_code, run.raw)
    assert result.status == "blocked"
    assert result.summary == "Created hello.txt."
    assert result.files_changed == ("hello.txt",)
    assert [(d.title, d.labels) for d in result.delegations] == [("Add a test", ("agent:codex",))]
    assert (result.tokens_in, result.tokens_out) == (1200, 140)
    assert result.cost_usd is not None and result.cost_usd > 0
    assert result.session_id and result.session_id in run.raw.splitlines()[0]

    first = anthropic_fake.requests[0]
    assert first.query == {"beta": "true"}
    assert first.json["model"].startswith("claude-sonnet")
    assert f"Never read, write, run or `cd` into anything in the project's main checkout `{checkout.main}`" \
        in first.system_text
    assert "Task 1: Create hello.txt" in str(first.json["messages"][0])
    assert anthropic_fake.requests[1].tool_results()[0].get("is_error") is not True
    assert len(anthropic_fake.requests) == 3, "no side requests (title, telemetry) with the quiet env"


async def test_real_claude_sandbox_keeps_out_of_main_checkout(checkout: Checkout,
                                                              anthropic_fake: FakeAnthropicAPI) -> None:
    command = require_cli("claude")
    anthropic_fake.queue_tool_use("Read", {"file_path": str(checkout.main / "secret.txt")})
    anthropic_fake.queue_tool_use("Write", {"file_path": str(checkout.main / "evil.txt"), "content": "x"})
    anthropic_fake.queue_tool_use("Bash", {"command": f"cat {checkout.main}/secret.txt", "description": "x"})
    anthropic_fake.queue_text("I could not read it.")
    ctx = claude_context(checkout, anthropic_fake, command)
    run = await run_render(ctx, ADAPTER.build_launch(ctx))

    assert run.exit_code == 0
    assert not (checkout.main / "evil.txt").exists()
    outputs = [str(request.tool_results()) for request in anthropic_fake.requests[1:]]
    assert all("main checkout secret" not in output for output in outputs)
    assert all("denied" in output for output in outputs)
    result = ADAPTER.parse_result(ctx, run.exit_code, run.raw)
    assert (result.status, result.error_kind) == ("needs_review", "permission_denied")


@pytest.mark.parametrize(("status", "error_type", "message", "kind"), [
    (429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit", "rate_limit"),
    (529, "overloaded_error", "Overloaded", "overloaded"),
    (401, "authentication_error", "invalid x-api-key", "auth"),
    (404, "not_found_error", "model: claude-sonnet-5", "model_not_found"),
    (400, "invalid_request_error", "prompt is too long: 250000 tokens > 200000 maximum", "context_too_long"),
])
async def test_real_claude_api_errors(checkout: Checkout, anthropic_fake: FakeAnthropicAPI, status: int,
                                      error_type: str, message: str, kind: str) -> None:
    command = require_cli("claude")
    # claude re-asks once after a 404 (it checks the model), whatever the retry setting.
    anthropic_fake.queue_error(status, error_type, message, headers={"retry-after": "0"}, times=2)
    ctx = claude_context(checkout, anthropic_fake, command)
    run = await run_render(ctx, ADAPTER.build_launch(ctx))
    assert run.exit_code == 1
    result = ADAPTER.parse_result(ctx, run.exit_code, run.raw)
    assert (result.status, result.error_kind) == ("failed", kind)
    assert run.pane[-1].startswith("✗ ")


async def test_real_claude_question_is_waiting_for_input(checkout: Checkout,
                                                         anthropic_fake: FakeAnthropicAPI) -> None:
    command = require_cli("claude")
    anthropic_fake.queue_tool_use("AskUserQuestion", {"questions": [{
        "question": "Which database?", "header": "DB", "multiSelect": False,
        "options": [{"label": "sqlite", "description": "a file"}, {"label": "postgres", "description": "a server"}],
    }]})
    anthropic_fake.queue_text("Which database should I use?")
    ctx = claude_context(checkout, anthropic_fake, command)
    run = await run_render(ctx, ADAPTER.build_launch(ctx))
    result = ADAPTER.parse_result(ctx, run.exit_code, run.raw)
    assert (result.status, result.error_kind) == ("needs_review", "waiting_for_input")
    assert result.error == "the agent asks: Which database?"
    assert (result.question, result.options) == ("Which database?", ("sqlite", "postgres"))


async def test_real_claude_hang_is_stopped_by_sigterm(checkout: Checkout, anthropic_fake: FakeAnthropicAPI) -> None:
    command = require_cli("claude")
    anthropic_fake.queue_hang()
    ctx = claude_context(checkout, anthropic_fake, command)
    process = await start_render(ctx, ADAPTER.build_launch(ctx))
    await anthropic_fake.wait_for_requests(1, within=CLI_TIMEOUT)
    process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(process.communicate(), CLI_TIMEOUT)
    assert process.returncode != 0
    raw = ctx.raw_output_file.read_text() if ctx.raw_output_file.exists() else ""
    assert ADAPTER.parse_result(ctx, process.returncode or 0, raw).status == "failed"

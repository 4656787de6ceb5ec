"""The opencode adapter: its command line, and the real CLI against the fake Anthropic API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from orch.core.agents.base import AttemptContext
from orch.core.agents.opencode import OpencodeAgent
from orch.core.config import AgentConfig

from tests.core.agents.conftest import (
    DATA,
    Checkout,
    cli_version,
    home_env,
    make_context,
    prepare_opencode_home,
    render_output,
    require_cli,
    run_render,
)
from tests.fakes.anthropic_api import FakeAnthropicAPI

ADAPTER = OpencodeAgent()
MODEL = "fake/fake-model"


def opencode_context(checkout: Checkout, fake: FakeAnthropicAPI, command: str) -> AttemptContext:
    prepare_opencode_home(checkout.home, cli_version(command))
    # The provider config lives outside the worktree, as a user's own OPENCODE_CONFIG would.
    provider_config = checkout.home / "opencode-provider.json"
    provider_config.write_text(json.dumps({
        "provider": {"fake": {
            "npm": "@ai-sdk/anthropic",
            "options": {"baseURL": f"{fake.base_url}/v1", "apiKey": "sk-ant-test"},
            "models": {"fake-model": {"tool_call": True, "limit": {"context": 200000, "output": 8192},
                                      "cost": {"input": 3, "output": 15}}},
        }},
        "model": MODEL, "small_model": MODEL,
    }))
    env = {**home_env(checkout.home), "OPENCODE_CONFIG": str(provider_config)}
    return make_context("opencode", checkout, AgentConfig(command=command, env=env), model=MODEL)


def test_launch_command_line_and_config(checkout: Checkout) -> None:
    config = AgentConfig(env={"OPENCODE_CONFIG_CONTENT": '{"permission": {"webfetch": "deny"}}', "X": "1"})
    ctx = make_context("opencode", checkout, config, model="anthropic/claude-sonnet-4-5")
    launch = ADAPTER.build_launch(ctx)
    assert launch.argv == ["opencode", "run", "--format", "json", "--dir", str(checkout.worktree),
                           "-m", "anthropic/claude-sonnet-4-5"]
    assert launch.stdin_file == ctx.prompt_file
    assert launch.env["X"] == "1"
    for name in ("MODELS_FETCH", "AUTOUPDATE", "SHARE", "LSP_DOWNLOAD"):
        assert launch.env[f"OPENCODE_DISABLE_{name}"] == "1"
    content = json.loads(launch.env["OPENCODE_CONFIG_CONTENT"])
    instructions = Path(content["instructions"][0])
    assert instructions.parent == ctx.attempt_dir and instructions.read_text() == ctx.system_prompt
    assert content["permission"] == {"webfetch": "deny", "external_directory": "deny",
                                     "bash": {f"*{checkout.main.resolve()}*": "deny"}}
    assert not any(path.name.startswith(".opencode") or path.name == "opencode.json"
                   for path in checkout.worktree.iterdir()), "nothing of orch's in the worktree"


def test_launch_without_sandbox(checkout: Checkout) -> None:
    launch = ADAPTER.build_launch(make_context("opencode", checkout, AgentConfig(), model=None, sandbox=False))
    assert "-m" not in launch.argv
    assert json.loads(launch.env["OPENCODE_CONFIG_CONTENT"])["permission"] == {"external_directory": "allow"}


def _recorded(name: str) -> str:
    return (DATA / f"opencode-{name}.jsonl").read_text(encoding="utf-8")


def test_render_recorded_run() -> None:
    pane = render_output(ADAPTER, _recorded("write"))
    assert pane[:3] == ["I'll write it.", "✎ write /tmp/orch-rec/wt/hello.txt", "$ ls"]
    assert pane[-1] == "✓ done (100 in / 20 out tokens)"


def test_render_recorded_refusals() -> None:
    pane = render_output(ADAPTER, _recorded("denied"))
    assert pane[:2] == ["→ read /tmp/orch-rec/main/secret.txt",
                        "✗ The user has specified a rule which prevents you from using this specific tool call."]


def test_parse_recorded_success(checkout: Checkout) -> None:
    ctx = make_context("opencode", checkout, AgentConfig(), model=MODEL)
    ctx = AttemptContext(**{**ctx.__dict__, "worktree": Path("/tmp/orch-rec/wt")})
    result = ADAPTER.parse_result(ctx, 0, _recorded("write"))
    assert (result.status, result.summary, result.files_changed) == ("done", "wrote hello", ("hello.txt",))
    assert (result.tokens_in, result.tokens_out) == (300, 60)


@pytest.mark.parametrize(("name", "kind"), [
    ("429", "rate_limit"), ("529", "overloaded"), ("401", "auth"), ("404", "model_not_found"),
    ("ctx", "context_too_long"), ("unknown-model", "exit_code"),
])
def test_parse_recorded_errors(checkout: Checkout, name: str, kind: str) -> None:
    ctx = make_context("opencode", checkout, AgentConfig(), model=MODEL)
    result = ADAPTER.parse_result(ctx, 1, _recorded(name))
    assert (result.status, result.error_kind) == ("failed", kind)


def test_parse_recorded_refusals(checkout: Checkout) -> None:
    ctx = make_context("opencode", checkout, AgentConfig(), model=MODEL)
    result = ADAPTER.parse_result(ctx, 0, _recorded("denied"))
    assert (result.status, result.error_kind) == ("needs_review", "permission_denied")


def test_an_answer_counts_only_with_exit_0(checkout: Checkout) -> None:
    ctx = make_context("opencode", checkout, AgentConfig(), model=MODEL)
    result = ADAPTER.parse_result(ctx, 1, _recorded("write"))
    assert (result.status, result.error_kind, result.error) == ("failed", "exit_code", "opencode exited 1")
    assert result.session_id == "ses_dee02d247ffeUVryHnjirJZYXz"


def test_an_error_ends_the_run_whatever_follows(checkout: Checkout) -> None:
    # After a context overflow opencode compacts the conversation and goes on; its steps after it are no answer.
    ctx = make_context("opencode", checkout, AgentConfig(), model=MODEL)
    assert ADAPTER.parse_result(ctx, 0, _recorded("ctx")).error_kind == "context_too_long"
    assert not any(line.startswith("✓ done") for line in render_output(ADAPTER, _recorded("ctx")))


def test_parse_run_that_stopped_after_a_rejected_tool(checkout: Checkout) -> None:
    ctx = make_context("opencode", checkout, AgentConfig(), model=MODEL)
    lines = [json.dumps({"type": "step_start", "part": {}}),
             json.dumps({"type": "tool_use", "part": {"tool": "write", "state": {
                 "status": "error", "input": {"filePath": "/x"},
                 "error": "The user rejected permission to use this specific tool call."}}}),
             json.dumps({"type": "step_finish", "part": {"reason": "tool-calls", "tokens": {"input": 5, "output": 1}}})]
    result = ADAPTER.parse_result(ctx, 0, "\n".join(lines))
    assert (result.status, result.error_kind, result.error) == ("needs_review", "permission_denied",
                                                                "permission denied for: ✎ write /x")


# -- the real CLI ------------------------------------------------------------------------------------------------


async def test_real_opencode_writes_a_file(checkout: Checkout) -> None:
    command = require_cli("opencode")
    # opencode first asks for a session title, without tools; answer that outside the script.
    fake = FakeAnthropicAPI(toolless_reply="Create hello")
    await fake.start()
    try:
        target = checkout.worktree / "hello.txt"
        fake.queue_tool_use("write", {"filePath": str(target), "content": "hello\n"}, text="Writing.",
                            input_tokens=1000, output_tokens=100)
        fake.queue_tool_use("read", {"filePath": str(checkout.main / "secret.txt")})
        fake.queue_text('Done.\n\n```orch-result\n{"status": "done", "summary": "Created hello.txt."}\n```')
        ctx = opencode_context(checkout, fake, command)
        run = await run_render(ctx, ADAPTER.build_launch(ctx))
    finally:
        await fake.stop()

    assert run.exit_code == 0
    assert target.read_text() == "hello\n"
    assert checkout.status() == "?? hello.txt\n"
    assert run.pane[:2] == ["Writing.", f"✎ write {target}"]
    assert f"→ read {checkout.main / 'secret.txt'}" in run.pane
    assert run.pane[-1].startswith("✓ done (")
    result = ADAPTER.parse_result(ctx, run.exit_code, run.raw)
    assert (result.status, result.summary, result.files_changed) == ("done", "Created hello.txt.", ("hello.txt",))
    assert (result.tokens_in, result.tokens_out) == (1200, 140)
    assert result.session_id and result.session_id.startswith("ses_")
    assert result.cost_usd == pytest.approx((1200 * 3 + 140 * 15) / 1_000_000)

    work = [request for request in fake.requests if request.tool_names]
    assert "write" in work[0].tool_names
    assert ctx.system_prompt.strip() in work[0].system_text
    assert "Task 1: Create hello.txt" in json.dumps(work[0].json["messages"][0])
    refused = json.dumps(work[2].tool_results())
    assert "main checkout secret" not in refused and "prevents you from using" in refused


@pytest.mark.parametrize(("status", "error_type", "message", "kind"), [
    (429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit", "rate_limit"),
    (401, "authentication_error", "invalid x-api-key", "auth"),
    (404, "not_found_error", "model: fake-model", "model_not_found"),
])
async def test_real_opencode_api_errors(checkout: Checkout, status: int, error_type: str, message: str,
                                        kind: str) -> None:
    command = require_cli("opencode")
    fake = FakeAnthropicAPI(toolless_reply="Title")
    await fake.start()
    try:
        # opencode retries a 429 five times, waiting as long as retry-after-ms says.
        fake.queue_error(status, error_type, message, headers={"retry-after-ms": "1"}, times=6)
        ctx = opencode_context(checkout, fake, command)
        run = await run_render(ctx, ADAPTER.build_launch(ctx))
    finally:
        await fake.stop()
    assert run.exit_code == 1
    result = ADAPTER.parse_result(ctx, run.exit_code, run.raw)
    assert (result.status, result.error_kind) == ("failed", kind)
    assert run.pane[-1].startswith(f"✗ APIError {status}: ")

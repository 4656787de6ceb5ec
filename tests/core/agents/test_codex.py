"""The codex adapter: its command line, and the real CLI against the fake OpenAI Responses API."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from orch.core.agents.base import AttemptContext
from orch.core.agents.codex import QUIET_ARGS, CodexAgent, classify_error, unwrap_shell
from orch.core.config import AgentConfig
from orch.core.errors import ConfigError

from tests.core.agents.conftest import DATA, Checkout, home_env, make_context, render_output, require_cli, run_render
from tests.fakes.openai_responses import FakeResponsesAPI, codex_provider_args

ADAPTER = CodexAgent()


def codex_context(checkout: Checkout, fake: FakeResponsesAPI, command: str) -> AttemptContext:
    codex_home = checkout.home / ".codex"
    codex_home.mkdir(exist_ok=True)
    env = {**home_env(checkout.home), "CODEX_HOME": str(codex_home), "FAKE_API_KEY": "sk-test"}
    config = AgentConfig(command=command, env=env, args=codex_provider_args(fake.base_url),
                         sandbox="workspace-write")
    return make_context("codex", checkout, config, model="gpt-5.5")


def test_launch_command_line(checkout: Checkout, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODEX_SANDBOX", raising=False)
    ctx = make_context("codex", checkout, AgentConfig(args=["-c", "x=1"], env={"A": "b"}, sandbox="full-auto"),
                       model="gpt-5.5")
    launch = ADAPTER.build_launch(ctx)
    argv = launch.argv
    assert argv[:4] == ["codex", "exec", "--json", "--skip-git-repo-check"]
    assert " ".join(QUIET_ARGS) in " ".join(argv)
    assert argv[argv.index("-s") + 1] == "workspace-write"
    assert argv[argv.index("-C") + 1] == str(checkout.worktree)
    assert argv[argv.index("-m") + 1] == "gpt-5.5"
    assert argv[-3:] == ["-m", "gpt-5.5", "-"], "the prompt comes from stdin"
    assert argv[argv.index("-c", argv.index("-C")) + 1].startswith("developer_instructions=")
    # the test's main checkout lies under /tmp, which workspace-write would leave writable
    assert "sandbox_workspace_write.exclude_slash_tmp=true" in argv
    assert "x=1" in argv
    assert launch.stdin_file == ctx.prompt_file
    assert launch.env == {"A": "b"}
    developer = argv[argv.index("-C") + 3]
    assert tomllib.loads(developer)["developer_instructions"] == ctx.system_prompt


@pytest.mark.parametrize(("configured", "override", "flags"), [
    (None, None, ["-s", "workspace-write"]),
    ("danger-full-access", None, ["-s", "danger-full-access"]),
    ("workspace-write", "none", ["--dangerously-bypass-approvals-and-sandbox"]),
    ("none", "danger-full-access", ["-s", "danger-full-access"]),
])
def test_sandbox_modes(checkout: Checkout, monkeypatch: pytest.MonkeyPatch, configured: str | None,
                       override: str | None, flags: list[str]) -> None:
    if override is None:
        monkeypatch.delenv("CODEX_SANDBOX", raising=False)
    else:
        monkeypatch.setenv("CODEX_SANDBOX", override)
    argv = ADAPTER.build_launch(make_context("codex", checkout, AgentConfig(sandbox=configured),
                                             model=None)).argv
    sandbox_args = [arg for arg in argv if arg in ("-s", "--dangerously-bypass-approvals-and-sandbox")
                    or arg in ("workspace-write", "danger-full-access", "read-only")]
    assert sandbox_args == flags
    assert "--full-auto" not in argv


def test_unknown_sandbox_override_is_a_config_error(checkout: Checkout, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEX_SANDBOX", "yolo")
    with pytest.raises(ConfigError, match="CODEX_SANDBOX"):
        ADAPTER.build_launch(make_context("codex", checkout, AgentConfig(), model=None))


def test_unwrap_shell() -> None:
    assert unwrap_shell('/bin/bash -lc "pytest -q"') == "pytest -q"
    assert unwrap_shell("ls -la") == "ls -la"
    assert unwrap_shell('/bin/bash -lc "unterminated') == '/bin/bash -lc "unterminated'


def test_classify_error_reads_codex_messages_not_prompts() -> None:
    assert classify_error("exceeded retry limit, last status: 429 Too Many Requests") == "rate_limit"
    assert classify_error("unexpected status 401 Unauthorized: Incorrect API key provided") == "auth"
    assert classify_error("something else entirely") == "exit_code"


def _recorded(name: str) -> str:
    return (DATA / f"codex-{name}.jsonl").read_text(encoding="utf-8")


def test_render_recorded_run() -> None:
    pane = render_output(ADAPTER, _recorded("write"))
    assert pane[0] == "● codex session started"
    assert "$ printf 'hi\\n' > shell.txt && ls" in pane
    assert "✎ add /tmp/orch-rec/wt/hello.txt" in pane
    assert "Wrote hello.txt." in pane
    assert pane[-1] == "✓ done (300 in / 60 out tokens)"


def test_parse_recorded_success(checkout: Checkout) -> None:
    ctx = make_context("codex", checkout, AgentConfig(), model="gpt-5.5")
    ctx = AttemptContext(**{**ctx.__dict__, "worktree": Path("/tmp/orch-rec/wt")})
    result = ADAPTER.parse_result(ctx, 0, _recorded("write"))
    assert (result.status, result.summary, result.files_changed) == ("done", "wrote hello", ("hello.txt",))
    assert (result.tokens_in, result.tokens_out, result.cost_usd) == (300, 60, None)


@pytest.mark.parametrize(("name", "kind"), [
    ("429", "rate_limit"), ("quota", "rate_limit"), ("500", "overloaded"), ("503", "overloaded"),
    ("401", "auth"), ("404", "model_not_found"), ("ctx", "context_too_long"),
])
def test_parse_recorded_errors(checkout: Checkout, name: str, kind: str) -> None:
    ctx = make_context("codex", checkout, AgentConfig(), model="gpt-5.5")
    result = ADAPTER.parse_result(ctx, 1, _recorded(name))
    assert (result.status, result.error_kind) == ("failed", kind)


def test_an_error_codex_recovers_from_does_not_fail_the_run(checkout: Checkout) -> None:
    lines = _recorded("write").splitlines()
    retry = json.dumps({"type": "error", "message": "Reconnecting... 1/5 (stream disconnected before completion)"})
    output = "\n".join([*lines[:2], retry, *lines[2:]])
    ctx = make_context("codex", checkout, AgentConfig(), model="gpt-5.5")
    result = ADAPTER.parse_result(ctx, 0, output)
    assert (result.status, result.summary, result.error_kind) == ("done", "wrote hello", None)
    assert result.session_id == "01a211fa-6739-7e02-9ea2-13cd0440bd77"
    assert "✗ Reconnecting... 1/5 (stream disconnected before completion)" in render_output(ADAPTER, output)


# -- the real CLI ------------------------------------------------------------------------------------------------


async def test_real_codex_writes_files(checkout: Checkout, responses_fake: FakeResponsesAPI) -> None:
    command = require_cli("codex")
    responses_fake.queue_shell("printf 'from shell\\n' > shell.txt")
    responses_fake.queue_apply_patch("*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n",
                                     input_tokens=500, output_tokens=50)
    responses_fake.queue_text('Done.\n\n```orch-result\n{"summary": "Created hello.txt."}\n```')
    ctx = codex_context(checkout, responses_fake, command)
    run = await run_render(ctx, ADAPTER.build_launch(ctx))

    assert run.exit_code == 0
    assert (checkout.worktree / "hello.txt").read_text() == "hello\n"
    assert (checkout.worktree / "shell.txt").read_text() == "from shell\n"
    assert sorted(checkout.status().splitlines()) == ["?? hello.txt", "?? shell.txt"]
    assert "$ printf 'from shell\\n' > shell.txt" in run.pane
    assert f"✎ add {checkout.worktree / 'hello.txt'}" in run.pane
    assert "Done." in run.pane
    assert run.pane[-1] == "✓ done (700 in / 90 out tokens)"
    result = ADAPTER.parse_result(ctx, run.exit_code, run.raw)
    assert (result.status, result.summary, result.files_changed) == ("done", "Created hello.txt.", ("hello.txt",))
    assert (result.tokens_in, result.tokens_out) == (700, 90)
    assert result.session_id and result.session_id in run.raw.splitlines()[0]

    first = responses_fake.requests[0]
    assert first.json["model"] == "gpt-5.5"
    assert ctx.system_prompt in first.input_texts("developer")
    assert first.input_texts("user")[-1].startswith("Task 1: Create hello.txt")
    assert "from shell" not in json.dumps(first.json)
    assert responses_fake.requests[1].function_call_outputs()[0]["call_id"]


async def test_real_codex_sandbox_blocks_writes_to_main_checkout(checkout: Checkout,
                                                                 responses_fake: FakeResponsesAPI) -> None:
    command = require_cli("codex")
    responses_fake.queue_shell(f"echo x > {checkout.main}/evil.txt")
    responses_fake.queue_text("Could not write.")
    ctx = codex_context(checkout, responses_fake, command)
    run = await run_render(ctx, ADAPTER.build_launch(ctx))
    assert run.exit_code == 0
    assert not (checkout.main / "evil.txt").exists()
    assert "Read-only file system" in responses_fake.requests[1].function_call_outputs()[0]["output"]


@pytest.mark.parametrize(("status", "code", "message", "kind"), [
    (429, "rate_limit_exceeded", "Rate limit reached for gpt-5.5", "rate_limit"),
    (503, "server_is_overloaded", "Service overloaded", "overloaded"),
    (401, "invalid_api_key", "Incorrect API key provided", "auth"),
    (404, "model_not_found", "The model `gpt-5.5` does not exist", "model_not_found"),
])
async def test_real_codex_api_errors(checkout: Checkout, responses_fake: FakeResponsesAPI, status: int, code: str,
                                     message: str, kind: str) -> None:
    command = require_cli("codex")
    responses_fake.queue_error(status, code, message, times=2)
    ctx = codex_context(checkout, responses_fake, command)
    run = await run_render(ctx, ADAPTER.build_launch(ctx))
    assert run.exit_code == 1
    result = ADAPTER.parse_result(ctx, run.exit_code, run.raw)
    assert (result.status, result.error_kind) == ("failed", kind)
    assert run.pane[-1].startswith("✗ failed: ")


async def test_real_codex_context_overflow(checkout: Checkout, responses_fake: FakeResponsesAPI) -> None:
    command = require_cli("codex")
    responses_fake.queue_failed("context_length_exceeded", "Your input exceeds the context window of this model.")
    ctx = codex_context(checkout, responses_fake, command)
    run = await run_render(ctx, ADAPTER.build_launch(ctx))
    assert ADAPTER.parse_result(ctx, run.exit_code, run.raw).error_kind == "context_too_long"


async def test_real_codex_needs_input(checkout: Checkout, responses_fake: FakeResponsesAPI) -> None:
    command = require_cli("codex")
    responses_fake.queue_text('```orch-result\n{"status": "needs_input", "question": "Which database?"}\n```')
    ctx = codex_context(checkout, responses_fake, command)
    run = await run_render(ctx, ADAPTER.build_launch(ctx))
    result = ADAPTER.parse_result(ctx, run.exit_code, run.raw)
    assert (result.status, result.error_kind, result.error) == ("needs_review", "waiting_for_input",
                                                                "the agent asks: Which database?")

"""The `opencode` agent: `opencode run --format json`.

The task prompt goes in on stdin. orch's settings (the system prompt as an `instructions` file, permissions)
travel in OPENCODE_CONFIG_CONTENT, which opencode merges over every config file, so nothing is written into the
worktree and a user's own OPENCODE_CONFIG (agents.opencode.env) keeps working. `--dir` is given because opencode
takes its project directory from $PWD, which a parent process may have left pointing elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orch.core.agents.base import AgentAdapter, AgentResult, AttemptContext, Launch
from orch.core.agents.common import (
    describe_tool,
    exit_failure,
    final_answer,
    first_line,
    json_events,
    parse_json_line,
    relative_to,
    status_error_kind,
    text_lines,
)

_EDIT_TOOLS = ("write", "edit", "multiedit", "patch")
_QUIET_ENV = {"OPENCODE_DISABLE_MODELS_FETCH": "1", "OPENCODE_DISABLE_AUTOUPDATE": "1",
              "OPENCODE_DISABLE_SHARE": "1", "OPENCODE_DISABLE_LSP_DOWNLOAD": "1"}
_ERROR_NAMES = {"ContextOverflowError": "context_too_long", "ProviderAuthError": "auth"}
# How opencode words a tool call it refused: an `ask` auto-rejected by `run`, or a `deny` rule.
_REFUSALS = ("rejected permission", "prevents you from using")


def permissions(sandbox: bool, main_checkout: Path) -> dict[str, Any]:
    """opencode permission rules; `run` rejects whatever would `ask`, so every rule is allow or deny."""
    if not sandbox:
        return {"external_directory": "allow"}
    return {"external_directory": "deny", "bash": {f"*{main_checkout.resolve()}*": "deny"}}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(
            merged.get(key), dict) else value
    return merged


class OpencodeAgent(AgentAdapter):
    name = "opencode"
    default_command = "opencode"
    structured_output = True

    def build_launch(self, ctx: AttemptContext) -> Launch:
        config = ctx.agent_config
        instructions = ctx.attempt_dir / "system.md"
        instructions.write_text(ctx.system_prompt, encoding="utf-8")
        ours = {"instructions": [str(instructions)], "permission": permissions(ctx.workflow.sandbox,
                                                                                 ctx.main_checkout)}
        env = {**_QUIET_ENV, **config.env}
        theirs = json.loads(env["OPENCODE_CONFIG_CONTENT"]) if env.get("OPENCODE_CONFIG_CONTENT") else {}
        env["OPENCODE_CONFIG_CONTENT"] = json.dumps(_merge(theirs, ours))
        argv = [self.executable(config), "run", "--format", "json", "--dir", str(ctx.worktree), *config.args]
        if ctx.model:
            argv += ["-m", ctx.model]
        return Launch(argv=argv, env=env, stdin_file=ctx.prompt_file)

    def render_line(self, line: str) -> list[str]:
        event = parse_json_line(line)
        if event is None:
            return [line] if line.strip() else []
        kind = event.get("type")
        part = event.get("part") or {}
        if kind == "text":
            return text_lines(str(part.get("text", "")))
        if kind == "tool_use":
            state = part.get("state") or {}
            lines = [describe_tool(str(part.get("tool")), state.get("input") or {})]
            if state.get("status") == "error":
                # A refusal goes on to dump every permission rule; the sentence before is what a person needs.
                error = str(state.get("error", "")).split(" Here are some of the relevant rules")[0]
                lines.append(f"✗ {first_line(error)}")
            return lines
        if kind == "step_finish" and part.get("reason") == "stop":
            tokens = part.get("tokens") or {}
            cost = part.get("cost")
            numbers = f"{tokens.get('input', 0)} in / {tokens.get('output', 0)} out tokens"
            if isinstance(cost, int | float) and cost:
                numbers += f", ${cost:.4f}"
            return [f"✓ done ({numbers})"]
        if kind == "error":
            return [f"✗ {_error_text(event.get('error') or {})}"]
        return []

    def parse_result(self, ctx: AttemptContext, exit_code: int, output: str) -> AgentResult:
        step_text: list[str] = []
        last_reason: str | None = None
        files: list[str] = []
        denied: list[str] = []
        errors: list[dict[str, Any]] = []
        tokens_in = tokens_out = 0
        cost = 0.0
        for event in json_events(output):
            kind = event.get("type")
            part: dict[str, Any] = event.get("part") or {}
            if kind == "step_start":
                step_text = []
            elif kind == "text":
                step_text.append(str(part.get("text", "")))
            elif kind == "tool_use":
                state = part.get("state") or {}
                tool = str(part.get("tool"))
                tool_input = state.get("input") or {}
                if state.get("status") == "completed" and tool in _EDIT_TOOLS and tool_input.get("filePath"):
                    path = relative_to(ctx.worktree, str(tool_input["filePath"]))
                    if path not in files:
                        files.append(path)
                elif state.get("status") == "error" and any(
                        refusal in str(state.get("error")) for refusal in _REFUSALS):
                    denied.append(describe_tool(tool, tool_input))
            elif kind == "step_finish":
                last_reason = part.get("reason")
                tokens = part.get("tokens") or {}
                cache = tokens.get("cache") or {}
                tokens_in += int(tokens.get("input") or 0) + int(cache.get("read") or 0) + int(cache.get("write") or 0)
                tokens_out += int(tokens.get("output") or 0)
                cost += float(part.get("cost") or 0)
            elif kind == "error":
                errors.append(event.get("error") or {})
        measured: dict[str, Any] = {"files_changed": tuple(files), "tokens_in": tokens_in, "tokens_out": tokens_out,
                                    "cost_usd": cost}
        if errors:
            # opencode may go on after a specific error (compacting after a context overflow) and then fail
            # vaguely; the specific one says what went wrong.
            error = next((item for item in errors if _error_kind(item) != "exit_code"), errors[-1])
            return AgentResult(status="failed", error_kind=_error_kind(error), error=_error_text(error), **measured)
        if last_reason is None:
            return exit_failure(exit_code, "opencode ended without finishing a step")
        if exit_code != 0:
            return AgentResult(status="failed", error_kind="exit_code", error=f"opencode exited {exit_code}",
                               **measured)
        if last_reason != "stop":
            if denied:
                return AgentResult(status="needs_review", error_kind="permission_denied",
                                   error="permission denied for: " + "; ".join(denied), **measured)
            return AgentResult(status="failed", error_kind="unparseable",
                               error=f"opencode stopped without a final answer (last step: {last_reason})",
                               **measured)
        return final_answer("".join(step_text), denied=tuple(denied), **measured)


def _error_kind(error: dict[str, Any]) -> str:
    data = error.get("data") or {}
    status = data.get("statusCode")
    return (_ERROR_NAMES.get(str(error.get("name")))
            or status_error_kind(status if isinstance(status, int) else None)
            or "exit_code")


def _error_text(error: dict[str, Any]) -> str:
    data = error.get("data") or {}
    status = data.get("statusCode")
    return f"{error.get('name', 'error')}" + (f" {status}" if status else "") + f": {data.get('message', '')}"

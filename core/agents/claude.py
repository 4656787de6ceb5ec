"""The `claude` agent: Claude Code headless (`claude -p --output-format stream-json --verbose`).

The task prompt goes in on stdin, the system prompt by content (`--append-system-prompt`). Headless runs cannot
approve anything, so permissions are skipped (`--dangerously-skip-permissions`; as root claude refuses that
unless IS_SANDBOX=1) and, with workflow.sandbox, deny rules keep its tools out of the main checkout.
"""

from __future__ import annotations

import os
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

_EDIT_TOOLS = ("Write", "Edit", "MultiEdit", "NotebookEdit")
# claude's own names for the API error behind a synthetic assistant message.
_API_ERRORS = {
    "rate_limit": "rate_limit",
    "authentication_failed": "auth",
    "billing_error": "auth",
    "model_not_found": "model_not_found",
    "overloaded": "overloaded",
    "server_error": "overloaded",
}


def deny_rules(main_checkout: Path) -> list[str]:
    """Permission rules that keep claude's file and shell tools away from the main checkout.

    In claude's rule syntax `//abs/path` is an absolute path (a single `/` is relative to the settings file).
    """
    path = str(main_checkout.resolve()).rstrip("/")
    absolute = "/" + path
    return [f"Read({absolute}/**)", f"Edit({absolute}/**)", f"Write({absolute}/**)", f"Bash(*{path}*)"]


class ClaudeAgent(AgentAdapter):
    name = "claude"
    default_command = "claude"
    structured_output = True

    def build_launch(self, ctx: AttemptContext) -> Launch:
        config = ctx.agent_config
        argv = [self.executable(config), *config.args, "-p", "--output-format", "stream-json", "--verbose"]
        if "--permission-mode" not in config.args:
            argv.append("--dangerously-skip-permissions")
        if ctx.workflow.sandbox:
            # --disallowedTools takes several values; the next option ends the list.
            argv += ["--disallowedTools", *deny_rules(ctx.main_checkout)]
        if ctx.model:
            argv += ["--model", ctx.model]
        argv += ["--append-system-prompt", ctx.system_prompt]
        env = {"DISABLE_TELEMETRY": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1"}
        if os.geteuid() == 0:
            env["IS_SANDBOX"] = "1"
        env.update(config.env)
        return Launch(argv=argv, env=env, stdin_file=ctx.prompt_file)

    def render_line(self, line: str) -> list[str]:
        event = parse_json_line(line)
        if event is None:
            return [line] if line.strip() else []
        kind = event.get("type")
        if kind == "system":
            if event.get("subtype") == "init":
                return [f"● claude {event.get('claude_code_version', '')} · {event.get('model', '')}"]
            if event.get("subtype") == "api_retry":
                return [f"↻ API retry {event.get('attempt')}/{event.get('max_retries')}: "
                        f"{event.get('error')} ({event.get('error_status')})"]
            return []
        if kind == "assistant":
            lines: list[str] = []
            for block in event.get("message", {}).get("content", ()):
                if block.get("type") == "text":
                    lines += text_lines(str(block.get("text", "")))
                elif block.get("type") == "tool_use":
                    lines.append(describe_tool(str(block.get("name")), block.get("input") or {}))
            return lines
        if kind == "user":
            return [_tool_error_line(_tool_result_text(block))
                    for block in _content(event) if block.get("type") == "tool_result" and block.get("is_error")]
        if kind == "result":
            return [_result_line(event)]
        return []

    def parse_result(self, ctx: AttemptContext, exit_code: int, output: str) -> AgentResult:
        result: dict[str, Any] | None = None
        api_error: str | None = None
        pending_edits: dict[str, str] = {}
        files: list[str] = []
        question: str | None = None
        for event in json_events(output):
            kind = event.get("type")
            if kind == "assistant":
                api_error = event.get("error") or api_error
                for block in _content(event):
                    if block.get("type") != "tool_use":
                        continue
                    tool_input = block.get("input") or {}
                    if block.get("name") in _EDIT_TOOLS:
                        path = tool_input.get("file_path") or tool_input.get("notebook_path")
                        if path:
                            pending_edits[str(block.get("id"))] = str(path)
                    elif block.get("name") == "AskUserQuestion":
                        asked = [str(item.get("question")) for item in tool_input.get("questions", ())]
                        question = " / ".join(asked) or "(a question)"
            elif kind == "user":
                for block in _content(event):
                    path = pending_edits.pop(str(block.get("tool_use_id")), None)
                    if block.get("type") == "tool_result" and path and not block.get("is_error"):
                        relative = relative_to(ctx.worktree, path)
                        if relative not in files:
                            files.append(relative)
            elif kind == "result":
                result = event
        if result is None:
            return exit_failure(exit_code, "claude ended without a result event")
        usage = result.get("usage") or {}
        tokens_in = sum(int(usage.get(key) or 0) for key in
                        ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))
        measured: dict[str, Any] = {"files_changed": tuple(files), "tokens_in": tokens_in,
                                    "tokens_out": int(usage.get("output_tokens") or 0),
                                    "cost_usd": result.get("total_cost_usd")}
        text = str(result.get("result") or "")
        if result.get("subtype") == "error_max_budget_usd":
            return AgentResult(status="needs_review", error="the attempt reached its budget (--max-budget-usd)",
                               **measured)
        if result.get("is_error") or result.get("subtype") != "success":
            error_kind = _error_kind(result, api_error)
            detail = first_line(text, 500) or str(result.get("subtype"))
            return AgentResult(status="failed", error_kind=error_kind, error=detail, **measured)
        denied = tuple(describe_tool(str(item.get("tool_name")), item.get("tool_input") or {})
                       for item in result.get("permission_denials") or ())
        return final_answer(text, question=question, denied=denied, **measured)


def _content(event: dict[str, Any]) -> list[dict[str, Any]]:
    content = event.get("message", {}).get("content")
    return [block for block in content if isinstance(block, dict)] if isinstance(content, list) else []


def _tool_result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, list):
        content = " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "").replace("<tool_use_error>", "").replace("</tool_use_error>", "")


def _tool_error_line(text: str) -> str:
    """`✗ Exit code 1 … cat: x: No such file`: the first line says what failed, the last one usually why."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > 1:
        return f"✗ {first_line(lines[0], 100)} … {first_line(lines[-1], 200)}"
    return f"✗ {first_line(text)}"


def _error_kind(result: dict[str, Any], api_error: str | None) -> str:
    if result.get("terminal_reason") == "prompt_too_long":
        return "context_too_long"
    status = result.get("api_error_status")
    by_status = status_error_kind(status if isinstance(status, int) else None)
    if by_status is not None:
        return by_status
    return _API_ERRORS.get(api_error or "", "exit_code")


def _result_line(event: dict[str, Any]) -> str:
    usage = event.get("usage") or {}
    cost = event.get("total_cost_usd")
    numbers = f"{usage.get('input_tokens', 0)} in / {usage.get('output_tokens', 0)} out tokens"
    if isinstance(cost, int | float):
        numbers += f", ${cost:.4f}"
    if event.get("is_error") or event.get("subtype") != "success":
        return f"✗ {first_line(str(event.get('result') or event.get('subtype')), 300)} ({numbers})"
    return f"✓ done ({numbers})"

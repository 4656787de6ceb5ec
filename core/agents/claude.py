"""The `claude` agent: Claude Code headless (`claude -p --output-format stream-json --verbose`).

The task prompt goes in on stdin, the system prompt by content (`--append-system-prompt`). Headless runs cannot
approve anything, so permissions are skipped (`--dangerously-skip-permissions`; as root claude refuses that
unless IS_SANDBOX=1) and, with workflow.sandbox, deny rules keep its tools out of the main checkout.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from orch.core.agents.approvals import PROMPT_TOOL
from orch.core.agents.base import AttemptContext, Launch
from orch.core.agents.decoding import Decoder, as_dict, describe_tool, dicts, status_error_kind
from orch.core.agents.events import (
    ErrorKind,
    Event,
    Failed,
    FileChanged,
    Final,
    PermissionDenied,
    Question,
    Retrying,
    SessionId,
    Started,
    Text,
    ToolCall,
    ToolFailed,
    Usage,
)
from orch.core.agents.structured import StructuredAgent
from orch.core.agents.text import first_line

EDIT_TOOLS = ("Write", "Edit", "MultiEdit", "NotebookEdit")
# claude's own names for the API error behind a synthetic assistant message.
_API_ERRORS: dict[str, ErrorKind] = {
    "rate_limit": "rate_limit",
    "authentication_failed": "auth",
    "billing_error": "auth",
    "model_not_found": "model_not_found",
    "overloaded": "overloaded",
    "server_error": "overloaded",
}


def approval_args(ctx: AttemptContext) -> list[str]:
    """claude asks orch's approval server (orch.core.agents.approvals) for each tool call needing permission."""
    config = ctx.attempt_dir / "mcp.json"
    server = {"type": "stdio", "command": sys.executable,
              "args": ["-m", "orch.core.agents.approvals", "--task", str(ctx.task.id),
                       "--timeout", f"{ctx.workflow.approval_timeout_seconds:g}"]}
    config.write_text(json.dumps({"mcpServers": {"orch": server}}), encoding="utf-8")
    # --mcp-config takes several values: the option after it ends the list.
    return ["--mcp-config", str(config), "--permission-prompt-tool", PROMPT_TOOL]


def deny_rules(main_checkout: Path) -> list[str]:
    """Permission rules that keep claude's file and shell tools away from the main checkout.

    In claude's rule syntax `//abs/path` is an absolute path (a single `/` is relative to the settings file).
    """
    path = str(main_checkout.resolve()).rstrip("/")
    absolute = "/" + path
    return [f"Read({absolute}/**)", f"Edit({absolute}/**)", f"Write({absolute}/**)", f"Bash(*{path}*)"]


class ClaudeAgent(StructuredAgent):
    name = "claude"
    default_command = "claude"

    def build_launch(self, ctx: AttemptContext) -> Launch:
        config = ctx.agent_config
        argv = [self.executable(config), *config.args, "-p", "--output-format", "stream-json", "--verbose"]
        if config.permissions == "ask" and not ctx.read_only:
            argv += approval_args(ctx)
        elif "--permission-mode" not in config.args:
            argv.append("--dangerously-skip-permissions")
        denied = [*deny_rules(ctx.main_checkout)] if ctx.workflow.sandbox else []
        if ctx.read_only:
            denied += list(EDIT_TOOLS)  # a reviewer reads; whatever its shell commands leave is set aside after
        if denied:
            # --disallowedTools takes several values; the next option ends the list.
            argv += ["--disallowedTools", *denied]
        if ctx.model:
            argv += ["--model", ctx.model]
        if ctx.resume_session:
            argv += ["--resume", ctx.resume_session]
        argv += ["--append-system-prompt", ctx.system_prompt]
        env = {"DISABLE_TELEMETRY": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1"}
        if os.geteuid() == 0:
            env["IS_SANDBOX"] = "1"
        env.update(config.env)
        return Launch(argv=argv, env=env, stdin_file=ctx.prompt_file)

    def decoder(self) -> ClaudeDecoder:
        return ClaudeDecoder()


class ClaudeDecoder(Decoder):
    """claude's stream-json events. An edit counts once its tool_result comes back without error; the API error
    named by a synthetic assistant message explains the error result that follows it."""

    def __init__(self) -> None:
        self._edits: dict[str, str] = {}  # tool_use id -> the file that call edits, until its result comes
        self._api_error: str | None = None

    def decode_event(self, event: dict[str, Any]) -> list[Event] | None:
        kind = event.get("type")
        if kind == "system":
            return _system(event)
        if kind == "assistant":
            if event.get("error"):
                self._api_error = str(event["error"])
            return [decoded for block in _content(event) for decoded in self._block(block)]
        if kind == "user":
            return [decoded for block in _content(event) if block.get("type") == "tool_result"
                    for decoded in self._tool_result(block)]
        if kind == "result":
            return self._result(event)
        return None

    def _block(self, block: dict[str, Any]) -> list[Event]:
        if block.get("type") == "text":
            return [Text(str(block.get("text", "")))]
        if block.get("type") != "tool_use":
            return []  # thinking: not for the pane
        name = str(block.get("name"))
        tool_input = as_dict(block.get("input"))
        if name == "AskUserQuestion":
            return [_question(tool_input)]
        path = tool_input.get("file_path") or tool_input.get("notebook_path")
        if name in EDIT_TOOLS and path:
            self._edits[str(block.get("id"))] = str(path)
        return [ToolCall(name, describe_tool(name, tool_input))]

    def _tool_result(self, block: dict[str, Any]) -> list[Event]:
        path = self._edits.pop(str(block.get("tool_use_id")), None)
        if block.get("is_error"):
            return [ToolFailed(_tool_result_text(block))]
        return [FileChanged(path)] if path else []

    def _result(self, event: dict[str, Any]) -> list[Event]:
        usage = as_dict(event.get("usage"))
        cost = event.get("total_cost_usd")
        events: list[Event] = [Usage(
            tokens_in=sum(int(usage.get(key) or 0)
                          for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")),
            tokens_out=int(usage.get("output_tokens") or 0),
            cost_usd=float(cost) if isinstance(cost, int | float) else None)]
        text = str(event.get("result") or "")
        subtype = event.get("subtype")
        if subtype == "error_max_budget_usd":
            return [*events, Failed("budget_exceeded", "the attempt reached its budget (--max-budget-usd)")]
        if event.get("is_error") or subtype != "success":
            return [*events, Failed(self._error_kind(event), first_line(text, 500) or str(subtype))]
        events += [PermissionDenied(describe_tool(str(item.get("tool_name")), as_dict(item.get("tool_input"))))
                   for item in dicts(event.get("permission_denials"))]
        return [*events, Final(text)]

    def _error_kind(self, result: dict[str, Any]) -> ErrorKind:
        if result.get("terminal_reason") == "prompt_too_long":
            return "context_too_long"
        status = result.get("api_error_status")
        by_status = status_error_kind(status if isinstance(status, int) else None)
        if by_status is not None:
            return by_status
        return _API_ERRORS.get(self._api_error or "", "exit_code")


def _system(event: dict[str, Any]) -> list[Event] | None:
    subtype = event.get("subtype")
    if subtype == "init":
        model, version = event.get("model"), event.get("claude_code_version")
        started: list[Event] = [Started(str(model) if model else None, str(version) if version else None)]
        session = event.get("session_id")
        return [*started, SessionId(str(session))] if session else started
    if subtype == "api_retry":
        return [Retrying(f"API retry {event.get('attempt')}/{event.get('max_retries')}: "
                         f"{event.get('error')} ({event.get('error_status')})")]
    return None


def _question(tool_input: dict[str, Any]) -> Question:
    """AskUserQuestion's questions as one; the options are offered when it asks just one."""
    questions = dicts(tool_input.get("questions"))
    text = " / ".join(str(item.get("question")) for item in questions) or "(a question)"
    options = dicts(questions[0].get("options")) if len(questions) == 1 else []
    return Question(text, tuple(str(option.get("label")) for option in options))


def _content(event: dict[str, Any]) -> list[dict[str, Any]]:
    return dicts(as_dict(event.get("message")).get("content"))


def _tool_result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, list):
        content = " ".join(str(part.get("text", "")) for part in dicts(content))
    return str(content or "").replace("<tool_use_error>", "").replace("</tool_use_error>", "")

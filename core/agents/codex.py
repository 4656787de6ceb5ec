"""The `codex` agent: `codex exec --json` (OpenAI Codex CLI 0.169).

The task prompt goes in on stdin (`-` as the prompt argument), the system prompt by content as
`developer_instructions`. Features that call out on their own (plugin sync, apps, analytics, metrics) are
always switched off. The sandbox mode comes from agents.codex.sandbox, or CODEX_SANDBOX for one run.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

from orch.core.agents.base import AttemptContext, Launch
from orch.core.agents.decoding import Decoder, as_dict, describe_tool, dicts
from orch.core.agents.events import (
    Error,
    ErrorKind,
    Event,
    Failed,
    FileChanged,
    Final,
    Notice,
    SessionId,
    Started,
    Text,
    ToolCall,
    ToolFailed,
    Usage,
)
from orch.core.agents.structured import StructuredAgent
from orch.core.errors import ConfigError

QUIET_ARGS = ("--disable", "plugins", "--disable", "remote_plugin", "--disable", "apps",
              "-c", "analytics.enabled=false", "-c", "otel.metrics_exporter=none")

# orch's sandbox names (the CLI's older vocabulary, kept in config) onto codex 0.169 flags;
# `--full-auto` is gone, its sandbox half is `-s workspace-write` and exec never asks for approval.
SANDBOX_FLAGS: dict[str, tuple[str, ...]] = {
    "full-auto": ("-s", "workspace-write"),
    "workspace-write": ("-s", "workspace-write"),
    "danger-full-access": ("-s", "danger-full-access"),
    "none": ("--dangerously-bypass-approvals-and-sandbox",),
}
DEFAULT_SANDBOX = "workspace-write"

# codex reports API failures only as message text in its `error`/`turn.failed` events; these are its own
# message templates (and the API's error codes it passes through), never text from the task.
_ERROR_PATTERNS: tuple[tuple[ErrorKind, re.Pattern[str]], ...] = (
    ("context_too_long", re.compile(r"context window|context_length_exceeded", re.I)),
    ("rate_limit", re.compile(r"status:? 429|429 Too Many Requests|Quota exceeded|usage limit|out of credits|"
                              r"spend cap|rate_limit_exceeded|insufficient_quota", re.I)),
    ("auth", re.compile(r"status:? 40[13]|401 Unauthorized|403 Forbidden|invalid_api_key|Incorrect API key|"
                        r"Missing environment variable|not logged in|ChatGPT auth", re.I)),
    ("model_not_found", re.compile(r"status:? 404|model_not_found|model `?[^ ]+`? does not exist|"
                                   r"model .* (is not supported|not found)", re.I)),
    ("overloaded", re.compile(r"status:? 5\d\d|at capacity|high demand|high load|overloaded|"
                              r"capacity is unavailable", re.I)),
)


def sandbox_mode(configured: str | None) -> str:
    mode = os.environ.get("CODEX_SANDBOX") or configured or DEFAULT_SANDBOX
    if mode not in SANDBOX_FLAGS:
        raise ConfigError(f"codex sandbox {mode!r} is not one of {', '.join(SANDBOX_FLAGS)} "
                          "(agents.codex.sandbox or CODEX_SANDBOX)")
    return mode


def tmp_exclusions(sandbox: bool, mode: str, main_checkout: Path) -> list[str]:
    """`-c` settings that take /tmp and $TMPDIR out of workspace-write's writable roots, when the main checkout
    lies under one of them (codex makes both writable by default, which would open the main checkout)."""
    if not sandbox or SANDBOX_FLAGS[mode] != ("-s", "workspace-write"):
        return []
    checkout = main_checkout.resolve()
    settings = {"exclude_slash_tmp": Path("/tmp"), "exclude_tmpdir_env_var": Path(os.environ.get("TMPDIR") or "/tmp")}
    return [arg for key, root in settings.items() if checkout.is_relative_to(root.resolve())
            for arg in ("-c", f"sandbox_workspace_write.{key}=true")]


def toml_string(text: str) -> str:
    """`text` as a TOML basic string; JSON's string escapes are all valid TOML."""
    return json.dumps(text, ensure_ascii=False)


def classify_error(message: str) -> ErrorKind:
    """The error kind one of codex's error messages means."""
    for kind, pattern in _ERROR_PATTERNS:
        if pattern.search(message):
            return kind
    return "exit_code"


def unwrap_shell(command: str) -> str:
    """`/bin/bash -lc "pytest -q"` -> `pytest -q`: codex reports commands wrapped in the shell it ran."""
    try:
        parts = shlex.split(command)
    except ValueError:
        return command
    if len(parts) == 3 and parts[0].rsplit("/", 1)[-1] in ("bash", "sh", "zsh") and parts[1] in ("-lc", "-c"):
        return parts[2]
    return command


class CodexAgent(StructuredAgent):
    name = "codex"
    default_command = "codex"

    def build_launch(self, ctx: AttemptContext) -> Launch:
        config = ctx.agent_config
        mode = sandbox_mode(config.sandbox)
        # A reviewer reads only, whatever the configured mode lets the author do.
        sandbox = ("-s", "read-only") if ctx.read_only else (
            *SANDBOX_FLAGS[mode], *tmp_exclusions(ctx.workflow.sandbox, mode, ctx.main_checkout))
        argv = [self.executable(config), "exec", "--json", "--skip-git-repo-check", *QUIET_ARGS, *sandbox,
                "-C", str(ctx.worktree),
                "-c", f"developer_instructions={toml_string(ctx.system_prompt)}",
                *config.args]
        if ctx.model:
            argv += ["-m", ctx.model]
        if ctx.resume_session:
            argv += ["resume", ctx.resume_session]  # exec's own options above still apply to the resumed turn
        argv.append("-")
        return Launch(argv=argv, env=dict(config.env), stdin_file=ctx.prompt_file)

    def decoder(self) -> CodexDecoder:
        return CodexDecoder()


class CodexDecoder(Decoder):
    """`codex exec --json` events. Its answer is the last agent message of the turn; its API errors are text only,
    classified by `classify_error`, and an `error` it reports may still be retried and end in turn.completed."""

    def __init__(self) -> None:
        self._last_message = ""

    def decode_event(self, event: dict[str, Any]) -> list[Event] | None:
        kind = event.get("type")
        if kind == "thread.started":
            thread = event.get("thread_id")
            return [Started(), SessionId(str(thread))] if thread else [Started()]
        if kind in ("turn.started", "item.updated"):
            return []
        if kind == "item.started":
            item = as_dict(event.get("item"))
            if item.get("type") != "command_execution":
                return []
            command = unwrap_shell(str(item.get("command", "")))
            return [ToolCall("exec_command", describe_tool("bash", {"command": command}))]
        if kind == "item.completed":
            return self._completed(as_dict(event.get("item")))
        if kind == "turn.completed":
            usage = as_dict(event.get("usage"))
            return [Usage(int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)),
                    Final(self._last_message)]
        if kind == "turn.failed":
            message = str(as_dict(event.get("error")).get("message", "")) or "the turn failed"
            return [Failed(classify_error(message), message)]
        if kind == "error":
            message = str(event.get("message", ""))
            return [Error(classify_error(message), message)]
        return None

    def _completed(self, item: dict[str, Any]) -> list[Event] | None:
        item_type = item.get("type")
        if item_type == "command_execution":
            if item.get("exit_code") in (0, None):
                return []
            output = str(item.get("aggregated_output") or "").strip().splitlines()
            return [ToolFailed(f"exit {item.get('exit_code')}" + (f": {output[-1]}" if output else ""))]
        if item_type == "file_change":
            events: list[Event] = []
            for change in dicts(item.get("changes")):
                path = str(change.get("path"))
                events.append(ToolCall("apply_patch", describe_tool(str(change.get("kind", "edit")),
                                                                    {"file_path": path})))
                if item.get("status") == "completed":
                    events.append(FileChanged(path))
            return events
        if item_type == "agent_message":
            self._last_message = str(item.get("text", ""))
            return [Text(self._last_message)]
        if item_type == "error":
            return [Notice(str(item.get("message", "")))]
        if item_type == "web_search":
            return [ToolCall("web_search", describe_tool("web_search", {"query": item.get("query") or ""}))]
        if item_type == "mcp_tool_call":
            tool = str(item.get("tool"))
            return [ToolCall(tool, describe_tool(tool, as_dict(item.get("arguments"))))]
        if item_type in ("reasoning", "todo_list", "collab_tool_call"):
            return []  # the model's notes and plans: not for the pane
        return None

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

from orch.core.agents.base import AgentAdapter, AgentResult, AttemptContext, Launch
from orch.core.agents.common import (
    exit_failure,
    final_answer,
    first_line,
    json_events,
    parse_json_line,
    relative_to,
    text_lines,
)
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
_ERROR_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
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


def classify_error(message: str) -> str:
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


class CodexAgent(AgentAdapter):
    name = "codex"
    default_command = "codex"
    structured_output = True

    def build_launch(self, ctx: AttemptContext) -> Launch:
        config = ctx.agent_config
        mode = sandbox_mode(config.sandbox)
        argv = [self.executable(config), "exec", "--json", "--skip-git-repo-check", *QUIET_ARGS,
                *SANDBOX_FLAGS[mode], *tmp_exclusions(ctx.workflow.sandbox, mode, ctx.main_checkout),
                "-C", str(ctx.worktree),
                "-c", f"developer_instructions={toml_string(ctx.system_prompt)}",
                *config.args]
        if ctx.model:
            argv += ["-m", ctx.model]
        argv.append("-")
        return Launch(argv=argv, env=dict(config.env), stdin_file=ctx.prompt_file)

    def render_line(self, line: str) -> list[str]:
        event = parse_json_line(line)
        if event is None:
            return [line] if line.strip() else []
        kind = event.get("type")
        item = event.get("item") or {}
        item_type = item.get("type")
        if kind == "thread.started":
            return ["● codex session started"]
        if kind == "item.started" and item_type == "command_execution":
            return ["$ " + first_line(unwrap_shell(str(item.get("command", ""))), 300)]
        if kind == "item.completed":
            if item_type == "command_execution" and item.get("exit_code") not in (0, None):
                output = str(item.get("aggregated_output") or "").strip().splitlines()
                return [f"✗ exit {item.get('exit_code')}" + (f": {output[-1]}" if output else "")]
            if item_type == "file_change":
                return [f"✎ {change.get('kind', 'edit')} {change.get('path')}" for change in item.get("changes", ())]
            if item_type == "agent_message":
                return text_lines(str(item.get("text", "")))
            if item_type == "error":
                return [f"! {item.get('message', '')}"]
            if item_type in ("web_search", "mcp_tool_call"):
                return [f"• {item_type} {item.get('query') or item.get('tool') or ''}".rstrip()]
            return []
        if kind == "error":
            return [f"✗ {event.get('message', '')}"]
        if kind == "turn.failed":
            return [f"✗ failed: {(event.get('error') or {}).get('message', '')}"]
        if kind == "turn.completed":
            usage = event.get("usage") or {}
            return [f"✓ done ({usage.get('input_tokens', 0)} in / {usage.get('output_tokens', 0)} out tokens)"]
        return []

    def parse_result(self, ctx: AttemptContext, exit_code: int, output: str) -> AgentResult:
        final_text = ""
        files: list[str] = []
        errors: list[str] = []
        failed: str | None = None
        completed = False
        tokens_in = tokens_out = 0
        for event in json_events(output):
            kind = event.get("type")
            item: dict[str, Any] = event.get("item") or {}
            if kind == "item.completed" and item.get("type") == "agent_message":
                final_text = str(item.get("text", ""))
            elif kind == "item.completed" and item.get("type") == "file_change" \
                    and item.get("status") == "completed":
                for change in item.get("changes", ()):
                    path = relative_to(ctx.worktree, str(change.get("path")))
                    if path not in files:
                        files.append(path)
            elif kind == "error":
                errors.append(str(event.get("message", "")))
            elif kind == "turn.failed":
                failed = str((event.get("error") or {}).get("message", "")) or "the turn failed"
            elif kind == "turn.completed":
                completed = True
                usage = event.get("usage") or {}
                tokens_in += int(usage.get("input_tokens") or 0)
                tokens_out += int(usage.get("output_tokens") or 0)
        measured: dict[str, Any] = {"files_changed": tuple(files), "tokens_in": tokens_in, "tokens_out": tokens_out}
        if failed is not None or (errors and not completed):
            message = failed if failed is not None else errors[-1]
            return AgentResult(status="failed", error_kind=classify_error(message), error=message, **measured)
        if not completed:
            return exit_failure(exit_code, "codex ended without turn.completed")
        return final_answer(final_text, **measured)

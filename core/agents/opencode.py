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

from orch.core.agents.base import AttemptContext, Launch
from orch.core.agents.decoding import Decoder, as_dict, describe_tool, status_error_kind
from orch.core.agents.events import (
    Error,
    ErrorKind,
    Event,
    FileChanged,
    Final,
    PermissionDenied,
    SessionId,
    Text,
    ToolCall,
    ToolFailed,
    Usage,
)
from orch.core.agents.structured import StructuredAgent
from orch.core.home import write_private

_EDIT_TOOLS = ("write", "edit", "multiedit", "patch")
_QUIET_ENV = {"OPENCODE_DISABLE_MODELS_FETCH": "1", "OPENCODE_DISABLE_AUTOUPDATE": "1",
              "OPENCODE_DISABLE_SHARE": "1", "OPENCODE_DISABLE_LSP_DOWNLOAD": "1"}
_ERROR_NAMES: dict[str, ErrorKind] = {"ContextOverflowError": "context_too_long", "ProviderAuthError": "auth"}
# How opencode words a tool call it refused: an `ask` auto-rejected by `run`, or a `deny` rule.
_REFUSALS = ("rejected permission", "prevents you from using")


def permissions(sandbox: bool, main_checkout: Path, read_only: bool = False) -> dict[str, Any]:
    """opencode permission rules; `run` rejects whatever would `ask`, so every rule is allow or deny. A reviewer
    (`read_only`) may not edit at all."""
    rules: dict[str, Any] = {"edit": "deny"} if read_only else {}
    if not sandbox:
        return {**rules, "external_directory": "allow"}
    return {**rules, "external_directory": "deny", "bash": {f"*{main_checkout.resolve()}*": "deny"}}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(
            merged.get(key), dict) else value
    return merged


class OpencodeAgent(StructuredAgent):
    name = "opencode"
    default_command = "opencode"

    def build_launch(self, ctx: AttemptContext) -> Launch:
        config = ctx.agent_config
        instructions = ctx.attempt_dir / "system.md"
        write_private(instructions, ctx.system_prompt)
        ours = {"instructions": [str(instructions)],
                "permission": permissions(ctx.workflow.sandbox, ctx.main_checkout, ctx.read_only)}
        env = {**_QUIET_ENV, **config.env}
        theirs = json.loads(env["OPENCODE_CONFIG_CONTENT"]) if env.get("OPENCODE_CONFIG_CONTENT") else {}
        env["OPENCODE_CONFIG_CONTENT"] = json.dumps(_merge(theirs, ours))
        argv = [self.executable(config), "run", "--format", "json", "--dir", str(ctx.worktree), *config.args]
        if ctx.model:
            argv += ["-m", ctx.model]
        if ctx.resume_session:
            argv += ["--session", ctx.resume_session]
        return Launch(argv=argv, env=env, stdin_file=ctx.prompt_file)

    def decoder(self) -> OpencodeDecoder:
        return OpencodeDecoder()


class OpencodeDecoder(Decoder):
    """`opencode run --format json` events. opencode has no event that ends a run: its answer is the text of a step
    that finished with reason `stop`, and only if opencode then exits 0. An error ends the run, whatever follows
    (it may compact the conversation after a context overflow and go on, then fail again)."""

    def __init__(self) -> None:
        self._session_id: str | None = None
        self._step_text: list[str] = []
        self._step_finished = False
        self._failed = False

    def decode_event(self, event: dict[str, Any]) -> list[Event] | None:
        session = event.get("sessionID")
        events: list[Event] = []
        if session and session != self._session_id:
            self._session_id = str(session)
            events.append(SessionId(self._session_id))
        decoded = self._part(event.get("type"), as_dict(event.get("part")), event)
        if decoded is None:
            return events or None
        return events + decoded

    def _part(self, kind: Any, part: dict[str, Any], event: dict[str, Any]) -> list[Event] | None:
        if kind == "step_start":
            self._step_text = []
            return []
        if kind == "text":
            self._step_text.append(str(part.get("text", "")))
            return [Text(str(part.get("text", "")))]
        if kind == "tool_use":
            return _tool_use(part)
        if kind == "step_finish":
            self._step_finished = True
            tokens = as_dict(part.get("tokens"))
            cache = as_dict(tokens.get("cache"))
            usage = Usage(int(tokens.get("input") or 0) + int(cache.get("read") or 0) + int(cache.get("write") or 0),
                          int(tokens.get("output") or 0), float(part.get("cost") or 0))
            done = part.get("reason") == "stop" and not self._failed
            return [usage, Final("".join(self._step_text))] if done else [usage]
        if kind == "error":
            self._failed = True
            error = as_dict(event.get("error"))
            return [Error(_error_kind(error), _error_text(error))]
        return None

    def finish(self, exit_code: int) -> list[Event]:
        if exit_code != 0 and self._step_finished and not self._failed:
            return [Error("exit_code", f"opencode exited {exit_code}")]
        return []


def _tool_use(part: dict[str, Any]) -> list[Event]:
    state = as_dict(part.get("state"))
    tool = str(part.get("tool"))
    tool_input = as_dict(state.get("input"))
    summary = describe_tool(tool, tool_input)
    events: list[Event] = [ToolCall(tool, summary)]
    if state.get("status") == "completed" and tool in _EDIT_TOOLS and tool_input.get("filePath"):
        events.append(FileChanged(str(tool_input["filePath"])))
    elif state.get("status") == "error":
        error = str(state.get("error", ""))
        # A refusal goes on to dump every permission rule; the sentence before is what a person needs.
        events.append(ToolFailed(error.split(" Here are some of the relevant rules")[0]))
        if any(refusal in error for refusal in _REFUSALS):
            events.append(PermissionDenied(summary))
    return events


def _error_kind(error: dict[str, Any]) -> ErrorKind:
    data = as_dict(error.get("data"))
    status = data.get("statusCode")
    return (_ERROR_NAMES.get(str(error.get("name")))
            or status_error_kind(status if isinstance(status, int) else None)
            or "exit_code")


def _error_text(error: dict[str, Any]) -> str:
    data = as_dict(error.get("data"))
    status = data.get("statusCode")
    return f"{error.get('name', 'error')}" + (f" {status}" if status else "") + f": {data.get('message', '')}"

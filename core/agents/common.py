"""What the LLM adapters share: reading JSON-lines output, the orch-result contract, error classification.

The contract (also stated in prompts/agent_system.md): the agent ends its final message with one fenced block

    ```orch-result
    {"status": "done", "summary": "...", "delegations": [{"title": "...", "body": "...", "labels": []}]}
    ```

`status` is `done` (the default), `needs_input` (with `question`) or `failed` (with `reason`). Delegations make
the task `blocked` until its children are done. A final message without the block counts as `done` with the
message as summary; a block that is present but malformed is `unparseable`, never `done`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from orch.core.agents.base import AgentResult
from orch.core.tasks.models import Delegation

RESULT_FENCE = "orch-result"
_BLOCK = re.compile(r"```" + RESULT_FENCE + r"[ \t]*\r?\n(.*?)\r?\n[ \t]*```", re.DOTALL)
SUMMARY_LIMIT = 2000


def json_events(output: str) -> Iterator[dict[str, Any]]:
    """The JSON objects among the output's lines; anything else (a stray warning) is skipped."""
    for line in output.splitlines():
        event = parse_json_line(line)
        if event is not None:
            yield event


def parse_json_line(line: str) -> dict[str, Any] | None:
    """The JSON object on this line, or None for any other line."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def relative_to(worktree: Path, path: str) -> str:
    """`path` relative to the worktree when it lies inside it, else unchanged."""
    candidate = Path(path)
    if not candidate.is_absolute():
        return path
    for base in (worktree, worktree.resolve()):
        if candidate.is_relative_to(base):
            return str(candidate.relative_to(base))
    return path


def first_line(text: str, limit: int = 200) -> str:
    for line in text.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""


def status_error_kind(status: int | None) -> str | None:
    """The error kind an HTTP status of the model API means, if it means one."""
    if status is None:
        return None
    if status == 429:
        return "rate_limit"
    if status in (401, 402, 403):
        return "auth"
    if status == 404:
        return "model_not_found"
    if status == 413:
        return "context_too_long"
    if status == 529 or 500 <= status <= 599:
        return "overloaded"
    return None


def exit_failure(exit_code: int, what: str) -> AgentResult:
    """The result when the CLI printed nothing orch can read: the exit code is all there is."""
    if exit_code in (126, 127):
        return AgentResult(status="failed", error_kind="tool_missing",
                           error=f"the agent command could not be started (exit {exit_code})")
    if exit_code != 0:
        return AgentResult(status="failed", error_kind="exit_code", error=f"{what} (exit code {exit_code})")
    return AgentResult(status="failed", error_kind="unparseable", error=what)


def final_answer(text: str, *, files_changed: tuple[str, ...] = (), tokens_in: int | None = None,
                 tokens_out: int | None = None, cost_usd: float | None = None,
                 question: str | None = None, denied: tuple[str, ...] = ()) -> AgentResult:
    """The result of a run that ended normally, from its final message and the orch-result contract.

    `question`: the agent tried to ask the user through a tool the headless CLI does not offer.
    `denied`: tool calls the CLI refused for lack of permission. Both mean a person should look, unless the
    agent's orch-result block says it finished anyway.
    """
    usage: dict[str, Any] = {"files_changed": files_changed, "tokens_in": tokens_in, "tokens_out": tokens_out,
                             "cost_usd": cost_usd}
    matches = _BLOCK.findall(text)
    prose = _BLOCK.sub("", text).strip()
    if not matches:
        if question:
            return AgentResult(status="needs_review", summary=_cap(prose), error_kind="waiting_for_input",
                               error=f"the agent asks: {question}", **usage)
        if denied:
            return AgentResult(status="needs_review", summary=_cap(prose), error_kind="permission_denied",
                               error="permission denied for: " + "; ".join(denied), **usage)
        if not prose:
            return AgentResult(status="failed", error_kind="unparseable", error="the agent gave no final message",
                               **usage)
        return AgentResult(status="done", summary=_cap(prose), **usage)
    try:
        block = _read_block(matches[-1])
    except ValueError as exc:
        return AgentResult(status="failed", summary=_cap(prose), error_kind="unparseable",
                           error=f"the {RESULT_FENCE} block is not valid: {exc}", **usage)
    summary = _cap(block.get("summary") or prose)
    status = block.get("status", "done")
    if status == "needs_input":
        asked = block.get("question") or question or summary
        return AgentResult(status="needs_review", summary=summary, error_kind="waiting_for_input",
                           error=f"the agent asks: {asked}", **usage)
    if status == "failed":
        reason = block.get("reason") or summary or "the agent reported failure"
        kind = "permission_denied" if denied else None
        return AgentResult(status="needs_review", summary=summary, error_kind=kind,
                           error=f"the agent could not finish: {reason}", **usage)
    delegations = block["delegations"]
    if delegations:
        return AgentResult(status="blocked", summary=summary, delegations=delegations, **usage)
    return AgentResult(status="done", summary=summary, **usage)


def _cap(text: str) -> str:
    text = text.strip()
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1] + "…"


def _read_block(raw: str) -> dict[str, Any]:
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("it must be a JSON object")
    status = data.get("status", "done")
    if status not in ("done", "needs_input", "failed"):
        raise ValueError(f"status {status!r} is not one of done, needs_input, failed")
    for key in ("summary", "question", "reason"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ValueError(f"{key} must be a string")
    items = data.get("delegations") or []
    if not isinstance(items, list):
        raise ValueError("delegations must be a list")
    delegations: list[Delegation] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("title"), str) or not item["title"].strip():
            raise ValueError("each delegation needs a non-empty string title")
        labels = item.get("labels") or []
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            raise ValueError("delegation labels must be a list of strings")
        body = item.get("body") or ""
        if not isinstance(body, str):
            raise ValueError("delegation body must be a string")
        delegations.append(Delegation(title=item["title"].strip(), body=body, labels=tuple(labels)))
    return {**data, "status": status, "delegations": tuple(delegations)}


def text_lines(text: str) -> list[str]:
    """Pane lines for a message of the agent. Its orch-result block is JSON for orch, not for a person: a valid
    one is shown as one line (`⚑ done: summary`) plus one per sub-task; a malformed one stays as written, so a
    person sees what orch could not read."""
    return _BLOCK.sub(_describe_block, text).splitlines()


def _describe_block(match: re.Match[str]) -> str:
    try:
        block = _read_block(match.group(1))
    except ValueError:
        return match.group(0)
    status = block["status"]
    detail = {"needs_input": block.get("question"), "failed": block.get("reason")}.get(status) or block.get("summary")
    lines = [f"⚑ {status}" + (f": {first_line(str(detail), 300)}" if detail else "")]
    for delegation in block["delegations"]:
        labels = f" [{', '.join(delegation.labels)}]" if delegation.labels else ""
        lines.append(f"⇢ sub-task: {delegation.title}{labels}")
    return "\n".join(lines)


def describe_tool(name: str, tool_input: dict[str, Any]) -> str:
    """One pane line for a tool call, e.g. `✎ Write src/app.py` or `$ pytest -q`."""
    key = name.lower()
    path = tool_input.get("file_path") or tool_input.get("filePath") or tool_input.get("notebook_path")
    if key == "bash":
        return "$ " + first_line(str(tool_input.get("command", "")), 300)
    if key in ("write", "edit", "multiedit", "notebookedit", "patch") and path:
        return f"✎ {name} {path}"
    if key == "read" and path:
        return f"→ {name} {path}"
    if key in ("glob", "grep"):
        pattern = tool_input.get("pattern", "")
        where = tool_input.get("path")
        return f"⌕ {name} {pattern}" + (f" in {where}" if where else "")
    if key in ("webfetch", "websearch"):
        return f"⇣ {name} {tool_input.get('url') or tool_input.get('query') or ''}".rstrip()
    if key in ("task", "agent"):
        return f"⇢ {name} {first_line(str(tool_input.get('description') or tool_input.get('prompt') or ''))}".rstrip()
    summary = json.dumps(tool_input, ensure_ascii=False)
    return f"• {name} {summary if len(summary) <= 120 else summary[:119] + '…'}"

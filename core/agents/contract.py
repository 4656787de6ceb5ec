"""The orch-result contract: how an agent's final answer says how the task ended.

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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from orch.core.agents.base import AgentResult
from orch.core.agents.events import Question
from orch.core.tasks.models import Delegation

RESULT_FENCE = "orch-result"
RESULT_BLOCK = re.compile(r"```" + RESULT_FENCE + r"[ \t]*\r?\n(.*?)\r?\n[ \t]*```", re.DOTALL)
SUMMARY_LIMIT = 2000


@dataclass(frozen=True)
class ResultBlock:
    """One valid orch-result block."""

    status: Literal["done", "needs_input", "failed"]
    summary: str | None = None
    question: str | None = None
    reason: str | None = None
    delegations: tuple[Delegation, ...] = ()


def final_answer(text: str, *, question: Question | None = None, denied: Sequence[str] = ()) -> AgentResult:
    """The result of a run that ended normally, from its final message and the orch-result contract.

    `question`: the agent tried to ask the user through a tool the headless CLI does not offer.
    `denied`: tool calls the CLI refused for lack of permission. Both mean a person should look, unless the
    agent's orch-result block says it finished anyway. The result carries no usage: the caller adds it.
    """
    matches = RESULT_BLOCK.findall(text)
    prose = RESULT_BLOCK.sub("", text).strip()
    if not matches:
        if question:
            return _asks(_cap(prose), question.text, question.options)
        if denied:
            return AgentResult(status="needs_review", summary=_cap(prose), error_kind="permission_denied",
                               error="permission denied for: " + "; ".join(denied))
        if not prose:
            return AgentResult(status="failed", error_kind="unparseable", error="the agent gave no final message")
        return AgentResult(status="done", summary=_cap(prose))
    try:
        block = read_block(matches[-1])
    except ValueError as exc:
        return AgentResult(status="failed", summary=_cap(prose), error_kind="unparseable",
                           error=f"the {RESULT_FENCE} block is not valid: {exc}")
    summary = _cap(block.summary or prose)
    if block.status == "needs_input":
        if block.question or question is None:
            return _asks(summary, block.question or summary, ())
        return _asks(summary, question.text, question.options)
    if block.status == "failed":
        reason = block.reason or summary or "the agent reported failure"
        return AgentResult(status="needs_review", summary=summary, error_kind="permission_denied" if denied else None,
                           error=f"the agent could not finish: {reason}")
    if block.delegations:
        return AgentResult(status="blocked", summary=summary, delegations=block.delegations)
    return AgentResult(status="done", summary=summary)


def read_block(raw: str) -> ResultBlock:
    """The block whose JSON is `raw`; ValueError says what is wrong with it."""
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("it must be a JSON object")
    status = data.get("status", "done")
    if status not in ("done", "needs_input", "failed"):
        raise ValueError(f"status {status!r} is not one of done, needs_input, failed")
    texts: dict[str, str | None] = {}
    for key in ("summary", "question", "reason"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ValueError(f"{key} must be a string")
        texts[key] = data.get(key)
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
    return ResultBlock(status=status, summary=texts["summary"], question=texts["question"], reason=texts["reason"],
                       delegations=tuple(delegations))


def _asks(summary: str, question: str, options: tuple[str, ...]) -> AgentResult:
    return AgentResult(status="needs_review", summary=summary, error_kind="waiting_for_input",
                       error=f"the agent asks: {question}", question=question, options=options)


def _cap(text: str) -> str:
    text = text.strip()
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1] + "…"

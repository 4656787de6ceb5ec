"""The pane's readable lines, rendered from events the same way for every agent CLI.

`● claude 2.1.197 · sonnet` opens the run, the agent's messages follow as written (an orch-result block shown as
`⚑ done: summary`), a tool call is one line (`$ pytest -q`, `✎ Write app.py`) and its failure another (`✗ …`),
and the run closes with `✓ done (1200 in / 140 out tokens, $0.0123)` or `✗ failed: …`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from orch.core.agents.contract import RESULT_BLOCK, read_block
from orch.core.agents.events import (
    Error,
    Event,
    Failed,
    Final,
    Notice,
    Question,
    Retrying,
    Started,
    Text,
    ToolCall,
    ToolFailed,
    Unknown,
    Usage,
)
from orch.core.agents.text import first_line


def pane_lines(events: Iterable[Event], agent: str) -> list[str]:
    """The pane lines for the events of one output line of `agent`'s CLI.

    The closing line shows the usage reported with it (on the same output line): the tokens of the run, or of the
    step that ended it.
    """
    lines: list[str] = []
    usage: Usage | None = None
    for event in events:
        if isinstance(event, Started):
            lines.append(_header(agent, event))
        elif isinstance(event, Text):
            lines += text_lines(event.text)
        elif isinstance(event, ToolCall):
            lines.append(event.summary)
        elif isinstance(event, ToolFailed):
            lines.append(_tool_failure(event.text))
        elif isinstance(event, Question):
            lines.append(f"? {event.text}" + (f" [{' | '.join(event.options)}]" if event.options else ""))
        elif isinstance(event, Retrying):
            lines.append(f"↻ {event.text}")
        elif isinstance(event, Notice):
            lines.append(f"! {event.text}")
        elif isinstance(event, Error):
            lines.append(f"✗ {first_line(event.message, 300)}")
        elif isinstance(event, Usage):
            usage = event
        elif isinstance(event, Final):
            lines.append("✓ done" + _numbers(usage))
        elif isinstance(event, Failed):
            lines.append(f"✗ failed: {first_line(event.message, 300)}" + _numbers(usage))
        elif isinstance(event, Unknown) and not event.is_json:
            lines.append(event.raw)  # something the CLI printed as plain text: a person may need it
    return lines


def text_lines(text: str) -> list[str]:
    """Pane lines for a message of the agent. Its orch-result block is JSON for orch, not for a person: a valid
    one is shown as one line (`⚑ done: summary`) plus one per sub-task; a malformed one stays as written, so a
    person sees what orch could not read."""
    return RESULT_BLOCK.sub(_describe_block, text).splitlines()


def _describe_block(match: re.Match[str]) -> str:
    try:
        block = read_block(match.group(1))
    except ValueError:
        return match.group(0)
    detail = {"needs_input": block.question, "failed": block.reason}.get(block.status) or block.summary
    lines = [f"⚑ {block.status}" + (f": {first_line(detail, 300)}" if detail else "")]
    for delegation in block.delegations:
        labels = f" [{', '.join(delegation.labels)}]" if delegation.labels else ""
        lines.append(f"⇢ sub-task: {delegation.title}{labels}")
    return "\n".join(lines)


def _header(agent: str, started: Started) -> str:
    if started.version is None and started.model is None:
        return f"● {agent} session started"
    return f"● {agent}" + (f" {started.version}" if started.version else "") + (
        f" · {started.model}" if started.model else "")


def _tool_failure(text: str) -> str:
    """`✗ Exit code 1 … cat: x: No such file`: the first line says what failed, the last one usually why."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > 1:
        return f"✗ {first_line(lines[0], 100)} … {first_line(lines[-1], 200)}"
    return f"✗ {first_line(text)}"


def _numbers(usage: Usage | None) -> str:
    if usage is None:
        return ""
    cost = f", ${usage.cost_usd:.4f}" if usage.cost_usd else ""
    return f" ({usage.tokens_in} in / {usage.tokens_out} out tokens{cost})"

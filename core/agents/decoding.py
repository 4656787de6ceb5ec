"""How a CLI's output lines become events: the Decoder seam, and what the adapters' decoders share.

A decoder is made for one attempt (it may pair a tool call with its result, or remember the last message) and is
given every line the CLI printed, in order. `decode` never raises: a line that is not JSON, or JSON of a shape the
decoder does not know, becomes Unknown.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any

from orch.core.agents.events import ErrorKind, Event, Unknown
from orch.core.agents.text import first_line


class Decoder(ABC):
    """Turns one attempt's JSON-lines output, line by line, into events: each line one JSON object, which
    `decode_event` understands or leaves Unknown."""

    @abstractmethod
    def decode_event(self, event: dict[str, Any]) -> list[Event] | None:
        """The events one JSON object of the CLI means; None when this decoder does not know it."""

    def decode(self, line: str) -> list[Event]:
        """The events one output line means (none for a blank line)."""
        if not line.strip():
            return []
        event = parse_json_line(line)
        if event is None:
            return [Unknown(line)]
        try:
            events = self.decode_event(event)
        except (AttributeError, TypeError, ValueError, KeyError):
            # A field of another type than the CLI prints (a newer version, a truncated line): this line is not
            # understood, and the lines after it still are.
            events = None
        return [Unknown(line, is_json=True)] if events is None else events

    def finish(self, exit_code: int) -> list[Event]:
        """Events that how the CLI exited means, after its last line (opencode: an error exit after its answer)."""
        return []

    def decode_all(self, output: str, exit_code: int) -> list[Event]:
        """Every event of a whole run: its output's lines, then how it exited."""
        events = [event for line in output.splitlines() for event in self.decode(line)]
        return events + self.finish(exit_code)


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


def as_dict(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one: CLIs leave out or null the fields they have nothing for."""
    return value if isinstance(value, dict) else {}


def dicts(value: Any) -> list[dict[str, Any]]:
    """The JSON objects in `value` if it is a list (content blocks, changes), skipping anything else."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def status_error_kind(status: int | None) -> ErrorKind | None:
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


# Tool names (lower case, without `_`) whose input names the file they change; codex names its changes by kind.
_EDIT_TOOLS = ("write", "edit", "multiedit", "notebookedit", "patch", "add", "update", "delete")


def describe_tool(name: str, tool_input: dict[str, Any]) -> str:
    """One pane line for a tool call, e.g. `✎ Write src/app.py` or `$ pytest -q`."""
    key = name.lower().replace("_", "")
    path = tool_input.get("file_path") or tool_input.get("filePath") or tool_input.get("notebook_path")
    if key == "bash":
        return "$ " + first_line(str(tool_input.get("command", "")), 300)
    if key in _EDIT_TOOLS and path:
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

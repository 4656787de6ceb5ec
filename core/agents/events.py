"""The one event vocabulary every agent CLI's output is decoded into.

Each adapter's decoder turns one line of its CLI's JSON output into a list of these events; the pane is rendered
from them (`pane.py`) and the attempt's AgentResult is folded from them (`fold.py`), the same way for every CLI.
What differs between CLIs (which event ends a run, how an API error is worded) is settled by the decoders, so that
the events mean the same thing whoever emitted them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# What went wrong, as far as an adapter can tell; the engine decides retry, failover or needs_review from it.
ErrorKind = Literal[
    "rate_limit",
    "overloaded",
    "auth",
    "model_not_found",
    "context_too_long",
    "tool_missing",
    "waiting_for_input",
    "permission_denied",
    "budget_exceeded",
    "exit_code",
    "unparseable",
]


@dataclass(frozen=True)
class Started:
    """The CLI announced its start (claude's init, codex's thread.started); shown as the pane's first line."""

    model: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class SessionId:
    """The CLI's own id for this conversation, which a later run can resume."""

    session_id: str


@dataclass(frozen=True)
class Text:
    """A message of the agent to the user (the last one is usually its answer)."""

    text: str


@dataclass(frozen=True)
class ToolCall:
    """The agent used a tool; `summary` is its one readable line from `describe_tool` (`$ pytest -q`)."""

    tool: str
    summary: str


@dataclass(frozen=True)
class ToolFailed:
    """A tool call came back with an error (a refused permission, a command that exited non-zero)."""

    text: str


@dataclass(frozen=True)
class FileChanged:
    """A tool call changed this file (absolute, or relative to the worktree) and succeeded."""

    path: str


@dataclass(frozen=True)
class Usage:
    """Tokens and cost of a part of the run (a turn, a step, or all of it); a run's usage is the sum of its Usages."""

    tokens_in: int
    tokens_out: int
    cost_usd: float | None = None


@dataclass(frozen=True)
class Question:
    """The agent asked the user something through a tool the headless CLI cannot answer, offering `options`."""

    text: str
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class PermissionDenied:
    """The CLI refused a tool call for lack of permission; `what` is the call's readable line."""

    what: str


@dataclass(frozen=True)
class Retrying:
    """The CLI is retrying a failed request by itself."""

    text: str


@dataclass(frozen=True)
class Notice:
    """A warning of the CLI that does not end the run."""

    text: str


@dataclass(frozen=True)
class Error:
    """The CLI reported an error. It ends the run unless a Final follows (codex reports errors it then retries)."""

    kind: ErrorKind
    message: str


@dataclass(frozen=True)
class Failed:
    """The CLI ended the run as failed (claude's error result, codex's turn.failed)."""

    kind: ErrorKind
    message: str


@dataclass(frozen=True)
class Final:
    """The CLI ended the run normally; `text` is the agent's final answer, which holds the orch-result block."""

    text: str


@dataclass(frozen=True)
class Unknown:
    """A line the decoder does not understand: plain text the CLI printed, or JSON of a shape it does not know."""

    raw: str
    is_json: bool = False


Event = (Started | SessionId | Text | ToolCall | ToolFailed | FileChanged | Usage | Question | PermissionDenied
         | Retrying | Notice | Error | Failed | Final | Unknown)
